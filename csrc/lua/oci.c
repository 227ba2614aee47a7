/* Lua binding of oci_io.c (purple-oci's lifecycle): core.oci_fifo(path) -> fd, core.oci_start(path)
 * -> true, core.oci_pty(rows, cols) -> master, slave, core.oci_console_send(path, fd) -> true,
 * core.oci_stdio(fd) -> true, core.oci_close(fd); OS failures return nil, "op path: why", errno. */
#include <unistd.h>

#include "oci_io.h"
#include "lpurple.h"

static int l_fifo(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int fd = oci_fifo_open(path);

	if (fd < 0)
		return pl_fail(L, -fd, "mkfifo %s", path);
	lua_pushinteger(L, fd);
	return 1;
}

static int l_start(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int r = oci_fifo_signal(path);

	if (r < 0)
		return pl_fail(L, -r, "start %s", path);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_pty(lua_State *L)
{
	int m, s, r = oci_pty_open(&m, &s, (unsigned)luaL_optinteger(L, 1, 0), (unsigned)luaL_optinteger(L, 2, 0));

	if (r < 0)
		return pl_fail(L, -r, "open pty %s", "/dev/ptmx");
	lua_pushinteger(L, m);
	lua_pushinteger(L, s);
	return 2;
}

static int l_console_send(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int r = oci_console_send(path, (int)luaL_checkinteger(L, 2));

	if (r < 0)
		return pl_fail(L, -r, "console socket %s", path);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_stdio(lua_State *L)
{
	int r = oci_stdio_to((int)luaL_checkinteger(L, 1));

	if (r < 0)
		return pl_fail(L, -r, "dup2 %s", "stdio");
	lua_pushboolean(L, 1);
	return 1;
}

static int l_close(lua_State *L)
{
	close((int)luaL_checkinteger(L, 1));
	return 0;
}

void pl_open_oci(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "oci_fifo", l_fifo }, { "oci_start", l_start }, { "oci_pty", l_pty },
		{ "oci_console_send", l_console_send }, { "oci_stdio", l_stdio }, { "oci_close", l_close },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
