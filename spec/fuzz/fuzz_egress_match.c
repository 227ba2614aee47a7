/* The egress proxy's name, pattern and CIDR checks (csrc/egress_match.c) on any text: the input is
 * split at its first NUL into a pattern and a name (or a CIDR and an address).
 *
 * Checked beyond no crash: a pattern only matches valid names of at least its own length; "*.x"
 * never matches x itself; a CIDR contains its own network address; an address inside
 * 127.0.0.0/8 or fc00::/7 is always reported as forbidden. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
	char a[300], b[300];
	const uint8_t *nul = memchr(data, 0, size);
	size_t la = nul ? (size_t)(nul - data) : size, lb = nul ? size - la - 1 : 0;
	struct egress_cidr c;
	struct sockaddr_storage ss;

	if (la >= sizeof a || lb >= sizeof b)
		return 0;
	memcpy(a, data, la);
	a[la] = 0;
	if (nul)
		memcpy(b, nul + 1, lb);
	b[lb] = 0;
	if (memchr(b, 0, lb))
		return 0;
	if (egress_pattern_valid(a) == 0 && egress_name_valid(b, strlen(b)) == 0 && egress_pattern_match(a, b)) {
		if (a[0] == '*')
			CHECK(strlen(b) > strlen(a) - 1 && strcasecmp(a + 2, b) != 0);
		else
			CHECK(strcasecmp(a, b) == 0);
	}
	if (egress_cidr_parse(a, &c) == 0) {
		struct sockaddr_storage net = { .ss_family = (sa_family_t)c.family };

		if (c.family == AF_INET)
			memcpy(&((struct sockaddr_in *)&net)->sin_addr, c.addr, 4);
		else
			memcpy(&((struct sockaddr_in6 *)&net)->sin6_addr, c.addr, 16);
		CHECK(egress_cidr_contains(&c, (struct sockaddr *)&net));
	}
	if (egress_ip_literal(b, &ss)) {
		struct egress_cidr lo, ula;

		egress_cidr_parse("127.0.0.0/8", &lo);
		egress_cidr_parse("fc00::/7", &ula);
		if (egress_cidr_contains(&lo, (struct sockaddr *)&ss) || egress_cidr_contains(&ula, (struct sockaddr *)&ss))
			CHECK(egress_addr_forbidden((struct sockaddr *)&ss) != NULL);
	}
	return 0;
}
