/* Lua binding of net_notify.c: the sockaddr of a notified call, for the audit log of the TCP-only
 * network mode. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "lpurple.h"

/* core.net_peek_sockaddr(pid, ptr, len) -> { family, addr, port } | nil, "why", errno
 * A copy of the sockaddr a notified call passed, as it was when read (for the audit log only). */
static int l_net_peek_sockaddr(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	uint64_t ptr = (uint64_t)luaL_checkinteger(L, 2);
	size_t len = (size_t)luaL_checkinteger(L, 3);
	struct sockaddr_storage ss;
	char addr[INET6_ADDRSTRLEN] = "";
	const char *family;
	int port, r = pl_peek_sockaddr(pid, ptr, len, &ss);

	if (r < 0)
		return pl_fail(L, -r, "read sockaddr of pid %d", (int)pid);
	family = pl_sockaddr_describe(&ss, addr, sizeof addr, &port);
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
	lua_pushcfunction(L, l_net_peek_sockaddr);
	lua_setfield(L, -2, "net_peek_sockaddr");
}
