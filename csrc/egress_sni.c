/* egress_sni: the server name of a TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3), so the egress
 * proxy can refuse a tunnel whose TLS names another host than the CONNECT did (domain fronting
 * through an allowed CDN). The handshake message may be split over several records and reads; it
 * is reassembled into a bounded buffer (egress.h). */
#include <errno.h>
#include <string.h>

#include "egress.h"

static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

/* The ClientHello body hs[0..n) (after the 4-byte handshake header): its host_name. */
static int client_hello(const unsigned char *hs, size_t n, char *name, size_t size)
{
	size_t o = 34, l; /* legacy_version, random */

	if (n < o + 1)
		return -EINVAL;
	o += 1 + hs[o]; /* session id */
	if (o + 2 > n)
		return -EINVAL;
	o += 2 + be16(hs + o); /* cipher suites */
	if (o + 1 > n)
		return -EINVAL;
	o += 1 + hs[o]; /* compression methods */
	if (o == n)
		return -ENOENT; /* no extensions */
	if (o + 2 > n)
		return -EINVAL;
	l = be16(hs + o);
	o += 2;
	if (o + l != n)
		return -EINVAL;
	while (o + 4 <= n) {
		unsigned type = be16(hs + o);
		size_t el = be16(hs + o + 2), e = o + 4, ll;

		o = e + el;
		if (o > n)
			return -EINVAL;
		if (type != 0)
			continue;
		/* server_name: a list of (type, name); the one host_name counts */
		if (el < 2 || (ll = be16(hs + e)) != el - 2)
			return -EINVAL;
		for (size_t i = e + 2; i + 3 <= e + el;) {
			size_t nl = be16(hs + i + 1);

			if (i + 3 + nl > e + el)
				return -EINVAL;
			if (hs[i] == 0) {
				if (nl == 0 || nl >= size || egress_name_valid((const char *)hs + i + 3, nl) < 0)
					return -EINVAL;
				for (size_t k = 0; k < nl; k++) {
					unsigned char c = hs[i + 3 + k];

					name[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
				}
				name[nl] = 0;
				return 0;
			}
			i += 3 + nl;
		}
		return -EINVAL;
	}
	return o == n ? -ENOENT : -EINVAL;
}

int egress_sni_parse(const unsigned char *buf, size_t len, char *name, size_t size)
{
	static _Thread_local unsigned char hs[EGRESS_HEAD_MAX + 4];
	size_t have = 0, need = 0, o = 0;

	while (1) {
		size_t rl, take;

		if (len - o < 5)
			return len >= EGRESS_HEAD_MAX + 5 ? -E2BIG : -EAGAIN;
		if (buf[o] != 22 || buf[o + 1] != 3)
			return -EINVAL; /* not a handshake record */
		rl = be16(buf + o + 3);
		if (rl == 0 || rl > 16384)
			return -EINVAL;
		if (len - o - 5 < rl) /* wait for the whole record */
			return o + 5 + rl > EGRESS_HEAD_MAX + 5 + 16384 ? -E2BIG : -EAGAIN;
		take = rl;
		if (have + take > sizeof hs)
			return -E2BIG;
		memcpy(hs + have, buf + o + 5, take);
		have += take;
		o += 5 + rl;
		if (!need && have >= 4) {
			if (hs[0] != 1)
				return -EINVAL; /* not a ClientHello */
			need = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
			if (need > sizeof hs)
				return -E2BIG;
		}
		if (need && have >= need)
			return client_hello(hs + 4, need - 4, name, size);
	}
}
