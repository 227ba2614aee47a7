/* Landlock rules applied by the payload before its seccomp filter.
 *
 * The spawn spec carries the ruleset as text, one directive per line, so that Lua can build it
 * and the child can apply it without allocating:
 *
 *   net                    handle TCP bind and connect: both are denied unless a rule allows them
 *   bind FROM TO           allow binding TCP ports FROM..TO (inclusive)
 *   connect FROM TO        allow connecting to TCP ports FROM..TO
 *   scope abstract_unix    deny connecting to abstract unix sockets made outside the sandbox (ABI 6)
 *   scope signal           deny signals to processes outside the sandbox (ABI 6)
 *
 * The parent validates the text with landlock_check (from spec_parse, csrc/lua/spawn.c), so the
 * child only meets errors of the kernel. The kernel headers of older distributions lack the network and scope parts of
 * the ABI, so they are declared here. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "spawn.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;             /* ABI 6 */
};

struct ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_NET_PORT 2
#define LL_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LL_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

int landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);

	return v < 0 ? 0 : (int)v;
}

/* One directive of the text; ports are only meaningful for bind and connect. */
struct ll_line {
	enum { LINE_NET, LINE_BIND, LINE_CONNECT, LINE_SCOPE_UNIX, LINE_SCOPE_SIGNAL } kind;
	unsigned from, to;
};

/* Parses the line starting at *p (ending at end) and advances *p past it. 0 or -EINVAL. */
static int ll_next(const char **p, const char *end, struct ll_line *l)
{
	const char *s = *p, *e = memchr(s, '\n', (size_t)(end - s));
	char buf[64], *q;
	size_t n;

	if (!e)
		e = end;
	n = (size_t)(e - s);
	*p = e < end ? e + 1 : end;
	if (n >= sizeof buf)
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (strcmp(buf, "net") == 0) {
		l->kind = LINE_NET;
		return 0;
	}
	if (strcmp(buf, "scope abstract_unix") == 0) {
		l->kind = LINE_SCOPE_UNIX;
		return 0;
	}
	if (strcmp(buf, "scope signal") == 0) {
		l->kind = LINE_SCOPE_SIGNAL;
		return 0;
	}
	if (strncmp(buf, "bind ", 5) == 0)
		l->kind = LINE_BIND, q = buf + 5;
	else if (strncmp(buf, "connect ", 8) == 0)
		l->kind = LINE_CONNECT, q = buf + 8;
	else
		return -EINVAL;
	if (*q < '0' || *q > '9')
		return -EINVAL;
	l->from = (unsigned)strtoul(q, &q, 10);
	if (*q != ' ' || q[1] < '0' || q[1] > '9')
		return -EINVAL;
	l->to = (unsigned)strtoul(q + 1, &q, 10);
	if (*q || l->from > l->to || l->to > 65535)
		return -EINVAL;
	return 0;
}

/* The ABI the text needs, or -EINVAL naming the bad line in what. */
int landlock_check(const char *text, size_t len, char *what, size_t n)
{
	const char *p = text, *end = text + len;
	int need = 1, net = 0;

	while (p < end) {
		const char *start = p;
		struct ll_line l;

		if (ll_next(&p, end, &l) < 0) {
			snprintf(what, n, "landlock: bad line '%.*s'", (int)strcspn(start, "\n"), start);
			return -EINVAL;
		}
		if (l.kind == LINE_NET)
			net = 1;
		if ((l.kind == LINE_BIND || l.kind == LINE_CONNECT) && !net) {
			snprintf(what, n, "landlock: '%.*s' before 'net'", (int)strcspn(start, "\n"), start);
			return -EINVAL;
		}
		if (l.kind <= LINE_CONNECT && need < 4)
			need = 4;
		if (l.kind >= LINE_SCOPE_UNIX)
			need = 6;
	}
	return need;
}

int landlock_apply(const struct spawn_cfg *c, char *what, size_t n)
{
	const char *p = c->landlock, *end = c->landlock + c->landlock_len;
	struct ll_ruleset_attr attr = { 0 };
	struct ll_line l;
	int fd, r = 0;

	while (p < end) {
		if (ll_next(&p, end, &l) < 0)
			return snprintf(what, n, "landlock ruleset"), -EINVAL;
		if (l.kind == LINE_NET)
			attr.handled_access_net = LL_ACCESS_NET_BIND_TCP | LL_ACCESS_NET_CONNECT_TCP;
		else if (l.kind == LINE_SCOPE_UNIX)
			attr.scoped |= LL_SCOPE_ABSTRACT_UNIX_SOCKET;
		else if (l.kind == LINE_SCOPE_SIGNAL)
			attr.scoped |= LL_SCOPE_SIGNAL;
	}
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (fd < 0) {
		snprintf(what, n, "landlock create ruleset");
		return -errno;
	}
	for (p = c->landlock; p < end && !r;) {
		ll_next(&p, end, &l);
		if (l.kind != LINE_BIND && l.kind != LINE_CONNECT)
			continue;
		for (unsigned port = l.from; port <= l.to; port++) {
			struct ll_net_port_attr pa = {
				.allowed_access = l.kind == LINE_BIND ? LL_ACCESS_NET_BIND_TCP : LL_ACCESS_NET_CONNECT_TCP,
				.port = port,
			};

			if (syscall(SYS_landlock_add_rule, fd, LL_RULE_NET_PORT, &pa, 0) < 0) {
				r = -errno;
				snprintf(what, n, "landlock %s rule port %u", l.kind == LINE_BIND ? "bind" : "connect", port);
				break;
			}
		}
	}
	/* restrict_self needs no_new_privs (set by init) or CAP_SYS_ADMIN in the namespace */
	if (!r && syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
		r = -errno;
		snprintf(what, n, "landlock restrict self");
	}
	close(fd);
	return r;
}
