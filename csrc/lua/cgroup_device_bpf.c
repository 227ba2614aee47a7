/* Lua binding of cgroup_device_bpf.c. */
#include <errno.h>
#include <string.h>

#include "cgroup_device_bpf.h"
#include "lpurple.h"

/* rules[i] = { allow = bool, type = "a"|"b"|"c", major = n|-1, minor = n|-1, access = "rwm" subset };
 * a malformed rule raises (a programming error: purple.oci.cgroup checked the config) */
static void rule_of(lua_State *L, int t, size_t i, struct cgroup_device_rule *r)
{
	static const char *const fields[] = { "allow", "type", "major", "minor", "access", NULL };
	const char *access, *type;

	if (lua_type(L, t) != LUA_TTABLE)
		luaL_error(L, "cgroup_device_filter: rules[%d] must be a table", (int)i);
	pl_check_fields(L, t, fields, lua_pushfstring(L, "cgroup_device_filter: rules[%d]", (int)i));
	lua_pop(L, 1);
	lua_getfield(L, t, "allow");
	if (lua_type(L, -1) != LUA_TBOOLEAN)
		luaL_error(L, "cgroup_device_filter: rules[%d].allow must be a boolean", (int)i);
	r->allow = lua_toboolean(L, -1);
	lua_pop(L, 1);
	lua_getfield(L, t, "type");
	type = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
	if (strcmp(type, "a") != 0 && strcmp(type, "b") != 0 && strcmp(type, "c") != 0)
		luaL_error(L, "cgroup_device_filter: rules[%d].type must be a, b or c", (int)i);
	r->type = type[0];
	lua_pop(L, 1);
	r->major = pl_field_int(L, t, "major", -1);
	r->minor = pl_field_int(L, t, "minor", -1);
	if (r->major < -1 || r->major > 0xffffffffLL || r->minor < -1 || r->minor > 0xffffffffLL)
		luaL_error(L, "cgroup_device_filter: rules[%d]: major and minor must be 0-4294967295 or -1 (any)", (int)i);
	access = pl_field_str(L, t, "access", NULL);
	if (!access || !access[0] || strspn(access, "rwm") != strlen(access))
		luaL_error(L, "cgroup_device_filter: rules[%d].access must be letters of rwm", (int)i);
	r->access = (strchr(access, 'm') ? CGROUP_DEVICE_MKNOD : 0) | (strchr(access, 'r') ? CGROUP_DEVICE_READ : 0) |
		    (strchr(access, 'w') ? CGROUP_DEVICE_WRITE : 0);
}

/* core.cgroup_device_filter(dir, rules) -> true | nil, "bpf device program DIR: strerror", errno
 * Loads the device program of rules (the last matching rule decides; none: deny) and attaches it to
 * the cgroup v2 directory dir (bpf(2) BPF_PROG_LOAD, BPF_PROG_ATTACH BPF_CGROUP_DEVICE). */
static int l_cgroup_device_filter(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	struct cgroup_device_rule *rules;
	char what[512];
	size_t n;
	int r;

	luaL_checktype(L, 2, LUA_TTABLE);
	n = lua_rawlen(L, 2);
	if (n > CGROUP_DEVICE_RULES_MAX)
		luaL_error(L, "cgroup_device_filter: at most %d rules", CGROUP_DEVICE_RULES_MAX);
	rules = lua_newuserdatauv(L, (n ? n : 1) * sizeof *rules, 0);
	for (size_t i = 1; i <= n; i++) {
		lua_rawgeti(L, 2, (lua_Integer)i);
		rule_of(L, lua_gettop(L), i, &rules[i - 1]);
		lua_pop(L, 1);
	}
	r = cgroup_device_filter(dir, rules, n, what, sizeof what);
	if (r < 0)
		return pl_fail(L, -r, "%s", what);
	lua_pushboolean(L, 1);
	return 1;
}

void pl_open_cgroup_device_bpf(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "cgroup_device_filter", l_cgroup_device_filter },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
