/* Lua binding of the container fields of a spawn spec (csrc/container.c; planned by
 * lua/purple/oci/config.lua): root, root_readonly, joins, sysctls, set_ids, groups, umask,
 * oom_score_adj and cap_sets. */
#include <sched.h>
#include <string.h>

#include "lspawn.h"

static uint64_t cap_mask(lua_State *L, int t, const char *k)
{
	uint64_t m = 0;

	if (lua_getfield(L, t, k) == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	luaL_checktype(L, -1, LUA_TTABLE);
	for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
		const char *name = lua_tostring(L, -1);
		int v = name ? cap_by_name(name) : -1;

		if (v < 0)
			luaL_error(L, "cap_sets.%s: unknown capability '%s'", k, name ? name : "?");
		m |= (uint64_t)1 << v;
		lua_pop(L, 1);
	}
	lua_pop(L, 2);
	return m;
}

static void joins_parse(lua_State *L, int t, struct spawn_cfg *c)
{
	if (lua_getfield(L, t, "joins") == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	luaL_checktype(L, -1, LUA_TTABLE);
	for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
		int e = lua_gettop(L);
		const char *type = pl_field_str(L, e, "type", ""), *path = pl_field_str(L, e, "path", NULL);
		int flag = strcmp(type, "net") == 0 ? CLONE_NEWNET : strcmp(type, "ipc") == 0 ? CLONE_NEWIPC
			 : strcmp(type, "uts") == 0 ? CLONE_NEWUTS : 0;

		if (!flag)
			luaL_error(L, "joins: type must be net, ipc or uts");
		if (!path)
			luaL_error(L, "joins: a join needs a path");
		if (c->ns_flags & flag)
			luaL_error(L, "joins: the %s namespace is both joined and new", type);
		if (c->njoins == MAX_JOINS)
			luaL_error(L, "joins: too many");
		c->joins[c->njoins].type = flag;
		c->joins[c->njoins].path = path; /* the string stays in the spec table */
		c->njoins++;
		lua_pop(L, 1);
	}
	lua_pop(L, 2);
}

/* Parses the container fields; the sysctls array is left on the stack (kept until spawn returns). */
void container_parse(lua_State *L, int t, struct spawn_cfg *c)
{
	c->root = pl_field_str(L, t, "root", NULL);
	c->root_fd = -1;
	c->root_rw = !pl_field_bool(L, t, "root_readonly", 1);
	joins_parse(L, t, c);
	c->set_ids = pl_field_bool(L, t, "set_ids", 0);
	c->umask = (int)pl_field_int(L, t, "umask", -1);
	c->set_umask = c->umask >= 0;
	if (lua_getfield(L, t, "oom_score_adj") != LUA_TNIL) {
		c->oom_score_adj = (int)luaL_checkinteger(L, -1);
		c->set_oom = 1;
	}
	lua_pop(L, 1);
	if (lua_getfield(L, t, "groups") != LUA_TNIL) {
		luaL_checktype(L, -1, LUA_TTABLE);
		c->set_groups = 1;
		for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
			if (c->ngroups == MAX_GROUPS)
				luaL_error(L, "groups: too many (at most %d)", MAX_GROUPS);
			c->groups[c->ngroups++] = (gid_t)luaL_checkinteger(L, -1);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	if (lua_getfield(L, t, "cap_sets") != LUA_TNIL) {
		int s = lua_gettop(L);

		luaL_checktype(L, s, LUA_TTABLE);
		c->cap_sets = 1;
		c->cap_bounding = cap_mask(L, s, "bounding");
		c->cap_effective = cap_mask(L, s, "effective");
		c->cap_permitted = cap_mask(L, s, "permitted");
		c->cap_inheritable = cap_mask(L, s, "inheritable");
		c->cap_ambient = cap_mask(L, s, "ambient");
	}
	lua_pop(L, 1);
}
