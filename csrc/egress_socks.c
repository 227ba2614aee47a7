/* egress_socks: the SOCKS5 greeting and request (RFC 1928) the egress proxy accepts: no
 * authentication, CONNECT, an address given as a name (socks5h: the proxy resolves it after the
 * name check) or as an IPv4/IPv6 literal (egress.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "egress.h"

int egress_socks_greeting(const unsigned char *buf, size_t len, size_t *used)
{
	if (len < 2)
		return len && buf[0] != 5 ? -EINVAL : -EAGAIN;
	if (buf[0] != 5 || buf[1] == 0)
		return -EINVAL;
	if (len < 2 + (size_t)buf[1])
		return -EAGAIN;
	*used = 2 + (size_t)buf[1];
	return memchr(buf + 2, 0, buf[1]) ? 0 : -EACCES;
}

int egress_socks_request(const unsigned char *buf, size_t len, struct egress_socks_req *r)
{
	size_t alen, off = 4;

	memset(r, 0, sizeof *r);
	if (len < 5)
		return len && buf[0] != 5 ? -EINVAL : -EAGAIN;
	if (buf[0] != 5 || buf[2] != 0)
		return -EINVAL;
	r->cmd = buf[1];
	r->atyp = buf[3];
	switch (buf[3]) {
	case 1: alen = 4; break;
	case 4: alen = 16; break;
	case 3: alen = buf[4]; off = 5; break;
	default: return -EAFNOSUPPORT;
	}
	if (len < off + alen + 2)
		return -EAGAIN;
	if (buf[3] == 3) {
		if (egress_name_valid((const char *)buf + 5, alen) < 0) {
			/* a literal given as a name ("127.0.0.1" or "::1") is checked as one */
			if (alen == 0 || alen > INET6_ADDRSTRLEN)
				return -EINVAL;
			for (size_t i = 0; i < alen; i++)
				if (!buf[5 + i] || !strchr("0123456789abcdefABCDEF:.", buf[5 + i]))
					return -EINVAL;
		}
		for (size_t i = 0; i < alen; i++)
			r->host[i] = (char)(buf[5 + i] >= 'A' && buf[5 + i] <= 'Z' ? buf[5 + i] + 32 : buf[5 + i]);
		r->host[alen] = 0;
	} else if (!inet_ntop(buf[3] == 1 ? AF_INET : AF_INET6, buf + 4, r->host, sizeof r->host)) {
		return -EINVAL;
	}
	r->port = (unsigned)buf[off + alen] << 8 | buf[off + alen + 1];
	r->used = off + alen + 2;
	if (r->cmd != 1)
		return -ENOTSUP;
	if (r->port == 0)
		return -EINVAL;
	return 0;
}
