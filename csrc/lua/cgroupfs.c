/* Lua binding of cgroupfs.c. */
#include <errno.h>

#include "lpurple.h"

/* core.cgroup_write(path, text) -> true | nil, "write path: strerror", errno */
static int l_cgroup_write(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	ssize_t n = cgroup_write(path, text, len);

	if (n < 0)
		return pl_fail(L, (int)-n, "write %s", path);
	if ((size_t)n != len)
		return pl_fail(L, EIO, "write %s (short write)", path);
	lua_pushboolean(L, 1);
	return 1;
}

void pl_open_cgroupfs(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "cgroup_write", l_cgroup_write },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
