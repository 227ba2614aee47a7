/* Lua binding of caps.c: the spec's caps list → struct spawn_cfg. */
#include "lspawn.h"

void caps_parse(lua_State *L, int t, struct spawn_cfg *c)
{
	c->ncaps = 0;
	if (lua_getfield(L, t, "caps") == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	luaL_checktype(L, -1, LUA_TTABLE);
	for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
		const char *name = lua_tostring(L, -1);
		int v = name ? cap_by_name(name) : -1;

		if (v < 0)
			luaL_error(L, "caps: unknown capability '%s'", name ? name : "?");
		if (c->ncaps == MAX_CAPS)
			luaL_error(L, "caps: too many");
		c->caps[c->ncaps++] = v;
		lua_pop(L, 1);
	}
	lua_pop(L, 2);
}
