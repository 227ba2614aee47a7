/* Lua binding of oci_io.c (purple-oci's lifecycle): core.oci_fifo(path) -> fd, core.oci_start(path)
 * -> true, core.oci_console_send(path, fd) -> true, core.oci_close(fd); OS failures return nil, "op path: why", errno. */
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

static int l_console_send(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int r = oci_console_send(path, (int)luaL_checkinteger(L, 2));

	if (r < 0)
		return pl_fail(L, -r, "console socket %s", path);
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
		{ "oci_fifo", l_fifo }, { "oci_start", l_start }, 
		{ "oci_console_send", l_console_send }, { "oci_close", l_close },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
