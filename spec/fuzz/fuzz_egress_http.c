/* The egress proxy's request-head parser and rewriter (csrc/egress_http.c) on any bytes.
 *
 * Checked beyond no crash: a head that parses ends within the input and the bound; its path lies in
 * it; a target host is non-empty with a port; the rewritten head fits, starts with the method and
 * ends with "Connection: close" and the empty line, and parses again as one origin-form head with a
 * Host (the target's when the request had none). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	static char out[EGRESS_HEAD_MAX + 64];
	struct egress_http_req r, again;
	const char *buf = (const char *)data;
	int e = egress_http_parse(buf, size, &r);
	long n;

	CHECK(e == 0 || e == -EAGAIN || e == -E2BIG || e == -EINVAL || e == -ENOTSUP);
	if (e == -EAGAIN)
		CHECK(size < EGRESS_HEAD_MAX);
	if (e)
		return 0;
	CHECK(r.head_len <= size && r.head_len <= EGRESS_HEAD_MAX);
	CHECK(r.path_off + r.path_len <= r.head_len);
	if (r.connect || r.absolute)
		CHECK(r.host[0] && r.port > 0 && r.port <= 65535);
	n = egress_http_rewrite(buf, &r, out, sizeof out);
	if (n == -E2BIG)
		return 0;
	CHECK(n > 0 && (size_t)n <= sizeof out);
	CHECK(memcmp(out, buf, r.method_len) == 0);
	CHECK(n >= 21 && memcmp(out + n - 21, "Connection: close\r\n\r\n", 21) == 0);
	if (!r.connect) {
		/* what the server gets is one origin-form head, with a Host: the checked one when the
		 * request had none */
		CHECK(egress_http_parse(out, (size_t)n, &again) == 0);
		CHECK(again.head_len == (size_t)n && again.has_host && !again.absolute && !again.connect);
		if (!r.has_host)
			CHECK(strcmp(again.host_header, r.host) == 0 &&
			      (again.host_header_port ? again.host_header_port : 80) == r.port);
	}
	return 0;
}
