/* The session protocol's decoders (csrc/session_proto.c) on any bytes: the input is a frame (a
 * header, then its payload) as the supervisor reads it from a client, the agent from the
 * supervisor, and the client reads a RESULT.
 *
 * Checked beyond no crash: a payload the supervisor accepts (session_exec_check) is one the
 * agent splits the same way (session_exec_header + session_exec_next over every string, nothing
 * left over), with argv[0] the one the supervisor reported, cwd absolute or empty, every env entry
 * K=V; and the RESULT decoder never reports a frame longer than what it was given. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_proto.h"

#define CHECK(c)                                                                         \
	do {                                                                             \
		if (!(c)) {                                                              \
			fprintf(stderr, "%s:%d: %s does not hold\n", __FILE__, __LINE__, #c); \
			abort();                                                         \
		}                                                                        \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session_hdr h;
	struct session_exec ex;
	char argv0[64] = "", msg[160];
	const char *p;
	size_t len, off;
	int status = 0, r, ok;
	char *copy;

	/* RESULT as the client reads it, from a 4096-byte buffer */
	if (size <= 4096) {
		r = session_result_decode((const char *)data, size, 4096, &status, msg, sizeof msg);
		CHECK(r == -1 || r == 0 || r == 1);
		if (r == 1) {
			memcpy(&h, data, sizeof h);
			CHECK(sizeof h + h.len <= size && strlen(msg) < sizeof msg);
		}
	}
	if (size < sizeof h)
		return 0;
	memcpy(&h, data, sizeof h);
	r = session_hdr_check(&h);
	CHECK(r == 0 || r == -EPROTO || r == -E2BIG);
	CHECK((r == 0) == (h.magic == SESSION_MAGIC && h.len <= SESSION_MAX_FRAME));
	/* the payload: what follows the header (a short one is what a truncated frame leaves) */
	len = size - sizeof h;
	copy = malloc(len ? len : 1); /* exact size: a read past the payload is ASan's to see */
	memcpy(copy, data + sizeof h, len);
	p = copy;
	ok = session_exec_check(p, len, argv0, sizeof argv0) == 0;
	if (session_exec_header(p, len, &ex) < 0) {
		CHECK(!ok);
		free(copy);
		return 0;
	}
	off = sizeof ex;
	for (size_t i = 0; i < 1 + (size_t)ex.argc + ex.envc; i++) {
		const char *s;
		size_t before = off;

		if (session_exec_next(p, len, &off, &s) < 0) {
			CHECK(!ok);
			free(copy);
			return 0;
		}
		CHECK(s == p + before && off > before && off <= len && p[off - 1] == '\0');
		if (ok && i == 0)
			CHECK(s[0] == '\0' || s[0] == '/');
		if (ok && i == 1)
			CHECK(s[0] != '\0' && strncmp(s, argv0, sizeof argv0 - 1) == 0);
		if (ok && i > ex.argc)
			CHECK(s[0] != '=' && strchr(s, '='));
	}
	if (ok)
		CHECK(off == len && (ex.flags & ~SESSION_EXEC_TTY) == 0);
	free(copy);
	return 0;
}
