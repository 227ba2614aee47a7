/* The egress proxy's ClientHello server-name parser (csrc/egress_sni.c) on any bytes, whole and
 * split: a parse of the first k bytes that asks for more (-EAGAIN) must not contradict the parse
 * of all of them (records split across reads).
 *
 * Checked beyond no crash: a name found is a valid DNS name in lower case; a prefix never yields a
 * different answer than "need more" or the final one. */
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
	char name[EGRESS_NAME_MAX + 3], part[EGRESS_NAME_MAX + 3];
	int e = egress_sni_parse(data, size, name, sizeof name);

	CHECK(e == 0 || e == -EAGAIN || e == -E2BIG || e == -EINVAL || e == -ENOENT);
	if (e == 0) {
		CHECK(egress_name_valid(name, strlen(name)) == 0);
		for (const char *p = name; *p; p++)
			CHECK(!(*p >= 'A' && *p <= 'Z'));
	}
	if (size > 1) {
		int pe = egress_sni_parse(data, size / 2, part, sizeof part);

		CHECK(pe == -EAGAIN || pe == e || (pe == -EINVAL && e == -EINVAL) || pe == -E2BIG);
		if (pe == 0)
			CHECK(strcmp(part, name) == 0);
	}
	return 0;
}
