/* Lua binding of the container fields of a spawn spec (csrc/container.c; planned by
 * lua/purple/oci/config.lua): root, root_readonly, joins, sysctls, set_ids, groups, umask,
 * oom_score_adj, cap_sets, and the hooks init runs (create_hooks, start_hooks, hooks_sync,
 * start_result_fd). */
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
	static const struct { const char *name; int flag; } types[] = {
		{ "net", CLONE_NEWNET }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS }, { "pid", CLONE_NEWPID },
		{ "cgroup", CLONE_NEWCGROUP },
	};

	if (lua_getfield(L, t, "joins") == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	luaL_checktype(L, -1, LUA_TTABLE);
	for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
		int e = lua_gettop(L), flag = 0;
		const char *type = pl_field_str(L, e, "type", ""), *path = pl_field_str(L, e, "path", NULL);

		for (size_t k = 0; k < PL_ARRAY_LEN(types); k++)
			if (strcmp(type, types[k].name) == 0)
				flag = types[k].flag;
		if (!flag)
			luaL_error(L, "joins: type must be net, ipc, uts, pid or cgroup");
		if (!path)
			luaL_error(L, "joins: a join needs a path");
		/* a new cgroup namespace is unshared by init (cgroupns), not made at clone */
		if ((c->ns_flags & flag) || (flag == CLONE_NEWCGROUP && c->cgroupns))
			luaL_error(L, "joins: the %s namespace is both joined and new", type);
		for (size_t k = 0; k < c->njoins; k++)
			if (c->joins[k].type == flag)
				luaL_error(L, "joins: the %s namespace is joined twice", type);
		if (c->njoins == MAX_JOINS)
			luaL_error(L, "joins: too many");
		c->joins[c->njoins].type = flag;
		c->joins[c->njoins].path = path; /* the strings stay in the spec table */
		c->joins[c->njoins].field = pl_field_str(L, e, "field", NULL);
		if (flag == CLONE_NEWPID)
			c->pid_joined = 1;
		c->njoins++;
		lua_pop(L, 1);
	}
	lua_pop(L, 2);
}

/* A NULL-terminated copy of the strings of the list at idx (NULL when it is nil), anchored in the
 * table at a; the strings stay in the spec table. */
static const char **hook_strings(lua_State *L, int idx, int a, const char *what)
{
	const char **v;
	size_t len;

	if (lua_isnil(L, idx))
		return NULL;
	if (!lua_istable(L, idx))
		luaL_error(L, "%s must be a list of strings", what);
	v = pl_string_array(L, idx, what, &len);
	lua_rawseti(L, a, (lua_Integer)lua_rawlen(L, a) + 1);
	return v;
}

/* t[k]: a list of { path, args, env, timeout } (the OCI hook, args[0] included) into *list, its
 * arrays anchored in the table at a. */
static void hooks_parse(lua_State *L, int t, int a, const char *k, struct oci_hook_list *list)
{
	static const char *const fields[] = { "path", "args", "env", "timeout", NULL };
	struct oci_hook *v;
	size_t len;
	int l;

	if (lua_getfield(L, t, k) == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	luaL_checktype(L, -1, LUA_TTABLE);
	l = lua_gettop(L);
	len = lua_rawlen(L, l);
	v = lua_newuserdatauv(L, (len ? len : 1) * sizeof *v, 0);
	lua_rawseti(L, a, (lua_Integer)lua_rawlen(L, a) + 1);
	for (size_t i = 0; i < len; i++) {
		int h = (lua_rawgeti(L, l, (lua_Integer)i + 1), lua_gettop(L));
		lua_Integer timeout;

		luaL_checktype(L, h, LUA_TTABLE);
		pl_check_fields(L, h, fields, k);
		v[i].path = pl_field_str(L, h, "path", NULL);
		if (!v[i].path || v[i].path[0] != '/')
			luaL_error(L, "spawn spec: %s: each hook needs an absolute path", k);
		lua_getfield(L, h, "args");
		v[i].argv = hook_strings(L, lua_gettop(L), a, "spawn spec: hook args");
		lua_pop(L, 1);
		lua_getfield(L, h, "env");
		v[i].envp = hook_strings(L, lua_gettop(L), a, "spawn spec: hook env");
		lua_pop(L, 1);
		if (!v[i].argv || !v[i].argv[0]) {
			const char **argv = lua_newuserdatauv(L, 2 * sizeof *argv, 0);

			argv[0] = v[i].path;
			argv[1] = NULL;
			lua_rawseti(L, a, (lua_Integer)lua_rawlen(L, a) + 1);
			v[i].argv = argv;
		}
		if (!v[i].envp) {
			static const char *const none[] = { NULL };

			v[i].envp = none;
		}
		timeout = pl_field_int(L, h, "timeout", 0);
		if (timeout < 0 || timeout > 86400)
			luaL_error(L, "spawn spec: %s: timeout must be 0 (none) to 86400 seconds", k);
		v[i].timeout = (int)timeout;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	list->v = v;
	list->n = len;
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
	c->hooks_sync = pl_field_bool(L, t, "hooks_sync", 0);
	c->start_result_fd = (int)pl_field_int(L, t, "start_result_fd", 0);
	if (c->start_result_fd < 0)
		luaL_error(L, "spawn spec: start_result_fd must be an fd above 0");
	{
		int has = lua_getfield(L, t, "create_hooks") != LUA_TNIL;

		has |= lua_getfield(L, t, "start_hooks") != LUA_TNIL;
		lua_pop(L, 2);
		if (has) {
			int a;

			lua_newtable(L); /* anchors the hooks' arrays: left on the stack until spawn returns */
			a = lua_gettop(L);
			hooks_parse(L, t, a, "create_hooks", &c->create_hooks);
			hooks_parse(L, t, a, "start_hooks", &c->start_hooks);
		}
	}
}
