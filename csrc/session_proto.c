/* Decoding the session protocol's frames (session_proto.h): pure functions over received bytes,
 * shared by the supervisor (session_server.c), the agent (session_agent.c, which may not malloc:
 * nothing here allocates) and the client (session_client.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "session_proto.h"

int session_hdr_check(const struct session_hdr *h)
{
	if (h->magic != SESSION_MAGIC)
		return -EPROTO;
	return h->len > SESSION_MAX_FRAME ? -E2BIG : 0;
}

int session_exec_header(const char *p, size_t len, struct session_exec *ex)
{
	if (len < sizeof *ex)
		return -EINVAL;
	memcpy(ex, p, sizeof *ex);
	if (ex->argc == 0 || ex->argc > SESSION_MAX_STRINGS || ex->envc > SESSION_MAX_STRINGS)
		return -EINVAL;
	return 0;
}

int session_exec_next(const char *p, size_t len, size_t *off, const char **s)
{
	const char *z = *off < len ? memchr(p + *off, 0, len - *off) : NULL;

	if (!z)
		return -EINVAL;
	*s = p + *off;
	*off = (size_t)(z - p) + 1;
	return 0;
}

int session_exec_check(const char *p, size_t len, char *argv0, size_t n)
{
	struct session_exec ex;
	size_t off = sizeof ex;

	if (session_exec_header(p, len, &ex) < 0 || (ex.flags & ~SESSION_EXEC_TTY))
		return -EINVAL;
	for (size_t i = 0; i < 1 + (size_t)ex.argc + ex.envc; i++) {
		const char *s;
		size_t l;

		if (session_exec_next(p, len, &off, &s) < 0)
			return -EINVAL;
		l = (size_t)(p + off - 1 - s);
		if (i == 0 && l > 0 && s[0] != '/')
			return -EINVAL; /* cwd: absolute or empty */
		if (i == 1) {
			if (l == 0)
				return -EINVAL;
			snprintf(argv0, n, "%s", s);
		}
		if (i > ex.argc && (s[0] == '=' || !memchr(s, '=', l)))
			return -EINVAL;
	}
	return off == len ? 0 : -EINVAL;
}

int session_result_decode(const char *buf, size_t got, size_t cap, int *status, char *msg, size_t mn)
{
	struct session_hdr h;
	struct session_result res;

	if (got < sizeof h)
		return 0;
	memcpy(&h, buf, sizeof h);
	if (h.magic != SESSION_MAGIC || h.type != SESSION_RESULT || h.len < sizeof res || h.len > cap - sizeof h)
		return -1;
	if (got < sizeof h + h.len)
		return 0;
	memcpy(&res, buf + sizeof h, sizeof res);
	*status = res.status;
	snprintf(msg, mn, "%.*s", (int)(h.len - sizeof res), buf + sizeof h + sizeof res);
	return 1;
}
