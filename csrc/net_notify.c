/* Supervisor-side helpers for the network enforcer's seccomp notification handlers (rootless).
 *
 * A notified call's pointer arguments and fd table may change after the supervisor looked at them,
 * so a decision that depends on them is never answered "continue": listen() is performed here, on
 * the supervisor's own duplicate of the socket (pidfd_getfd), after checking that very socket.
 * The sockaddr reader only feeds the audit log; the kernel (Landlock) makes the decision. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "purple.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

/* The supervisor's duplicate of fd in the fd table of thread pid (the notification names the
 * calling thread, which need not lead its group: pidfd_open of such a tid needs PIDFD_THREAD,
 * Linux 6.9; older kernels fall back to a plain pidfd), or -errno. */
static int steal_fd(pid_t pid, int fd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, PIDFD_THREAD), dup, err;

	if (pidfd < 0 && errno == EINVAL)
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pidfd < 0)
		return -errno;
	dup = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	err = errno;
	close(pidfd);
	return dup < 0 ? -err : dup;
}

/* Fills addr/port from a sockaddr; returns the family name or NULL for a family without ports. */
static const char *describe(const struct sockaddr_storage *ss, char *addr, size_t n, int *port)
{
	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, addr, (socklen_t)n);
		*port = ntohs(a->sin_port);
		return "inet";
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, addr, (socklen_t)n);
		*port = ntohs(a->sin6_port);
		return "inet6";
	}
	return NULL;
}

static int in_ranges(lua_State *L, int t, int port)
{
	size_t len = lua_rawlen(L, t);

	for (size_t i = 1; i <= len; i++) {
		int e;
		lua_Integer from, to;

		lua_rawgeti(L, t, (lua_Integer)i);
		e = lua_gettop(L);
		from = pl_field_int(L, e, "from", -1);
		to = pl_field_int(L, e, "to", from);
		lua_pop(L, 1);
		if (port >= from && port <= to)
			return 1;
	}
	return 0;
}

/* core.net_listen_for(pid, fd, backlog, ports) -> port | nil, "why", errno
 * Performs listen(fd, backlog) for process pid on a duplicate of its socket. An internet socket
 * must be bound to a port in ports ({ {from, to}, ... }): an unbound one would get a port from the
 * kernel (EACCES). Other families are listened on as they are. */
static int l_net_listen_for(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	int fd = (int)luaL_checkinteger(L, 2), backlog = (int)luaL_checkinteger(L, 3);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char addr[INET6_ADDRSTRLEN] = "";
	int s, port = 0, err = 0;

	luaL_checktype(L, 4, LUA_TTABLE);
	s = steal_fd(pid, fd);
	if (s < 0)
		return pl_fail(L, -s, "listen: socket %d of pid %d", fd, (int)pid);
	memset(&ss, 0, sizeof ss);
	if (getsockname(s, (struct sockaddr *)&ss, &len) < 0)
		err = errno;
	else if (describe(&ss, addr, sizeof addr, &port) && (port == 0 || !in_ranges(L, 4, port)))
		err = EACCES;
	else if (listen(s, backlog) < 0)
		err = errno;
	close(s);
	if (err)
		return pl_fail(L, err, "listen port %d", port);
	lua_pushinteger(L, port);
	return 1;
}

/* core.net_peek_sockaddr(pid, ptr, len) -> { family, addr, port } | nil, "why", errno
 * A copy of the sockaddr a notified call passed, as it was when read (for the audit log only). */
static int l_net_peek_sockaddr(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	uint64_t ptr = (uint64_t)luaL_checkinteger(L, 2);
	size_t len = (size_t)luaL_checkinteger(L, 3);
	struct sockaddr_storage ss;
	struct iovec local, remote;
	char addr[INET6_ADDRSTRLEN] = "";
	const char *family;
	int port;

	memset(&ss, 0, sizeof ss);
	if (len > sizeof ss)
		len = sizeof ss;
	local = (struct iovec){ &ss, len };
	remote = (struct iovec){ (void *)(uintptr_t)ptr, len };
	if (ptr == 0 || len < sizeof(sa_family_t))
		return pl_fail(L, EINVAL, "read sockaddr of pid %d", (int)pid);
	if (process_vm_readv(pid, &local, 1, &remote, 1, 0) < 0)
		return pl_fail(L, errno, "read sockaddr of pid %d", (int)pid);
	family = describe(&ss, addr, sizeof addr, &port);
	lua_createtable(L, 0, 3);
	if (family) {
		lua_pushstring(L, family);
		lua_setfield(L, -2, "family");
		lua_pushstring(L, addr);
		lua_setfield(L, -2, "addr");
		lua_pushinteger(L, port);
		lua_setfield(L, -2, "port");
	} else {
		lua_pushinteger(L, ss.ss_family);
		lua_setfield(L, -2, "family");
	}
	return 1;
}

void pl_open_net_notify(lua_State *L)
{
	lua_pushcfunction(L, l_net_listen_for);
	lua_setfield(L, -2, "net_listen_for");
	lua_pushcfunction(L, l_net_peek_sockaddr);
	lua_setfield(L, -2, "net_peek_sockaddr");
}
