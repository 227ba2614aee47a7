/* The egress proxy's SOCKS5 greeting and request parsers (csrc/egress_socks.c) on any bytes: the
 * input is a greeting followed by a request, as a client sends them.
 *
 * Checked beyond no crash: what a parser says it used lies in the input; an accepted request has a
 * port, a non-empty host, and a domain host is a valid name or an address literal. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "egress.h"

#define CHECK(c)                                                                         \
	do {                                                                             \
		if (!(c)) {                                                              \
			fprintf(stderr, "%s:%d: %s does not hold\n", __FILE__, __LINE__, #c); \
			abort();                                                         \
		}                                                                        \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct egress_socks_req r;
	struct sockaddr_storage ss;
	size_t used = 0;
	int e = egress_socks_greeting(data, size, &used);

	CHECK(e == 0 || e == -EAGAIN || e == -EINVAL || e == -EACCES);
	if (e)
		return 0;
	CHECK(used >= 3 && used <= size);
	e = egress_socks_request(data + used, size - used, &r);
	CHECK(e == 0 || e == -EAGAIN || e == -EINVAL || e == -ENOTSUP || e == -EAFNOSUPPORT);
	if (e)
		return 0;
	CHECK(r.used <= size - used && r.port > 0 && r.host[0]);
	if (r.atyp == 3)
		CHECK(egress_name_valid(r.host, strlen(r.host)) == 0 || egress_ip_literal(r.host, &ss) ||
		      strspn(r.host, "0123456789abcdef:.") == strlen(r.host));
	else
		CHECK(egress_ip_literal(r.host, &ss));
	return 0;
}
