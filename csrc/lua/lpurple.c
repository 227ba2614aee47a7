/* The binding layer's shared helpers (lpurple.h): the fail triple, option-table fields, namespace
 * names and wait statuses. Every binding calls down into these; they call no binding. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/wait.h>

#include "lpurple.h"

int pl_fail(lua_State *L, int err, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	luaL_pushfail(L);
	lua_pushfstring(L, "%s: %s", what, strerror(err));
	lua_pushinteger(L, err);
	return 3;
}

int pl_ok(lua_State *L, int r, int err, const char *what)
{
	if (r < 0)
		return pl_fail(L, err, "%s", what);
	lua_pushboolean(L, 1);
	return 1;
}

const char *pl_field_str(lua_State *L, int t, const char *k, const char *def)
{
	const char *s = def;

	if (lua_getfield(L, t, k) != LUA_TNIL) {
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "field '%s' must be a string", k);
		s = lua_tostring(L, -1);
	}
	lua_pop(L, 1); /* the string stays alive: it is still referenced by the table */
	return s;
}

lua_Integer pl_field_int(lua_State *L, int t, const char *k, lua_Integer def)
{
	lua_Integer v = def;
	int isnum;

	if (lua_getfield(L, t, k) != LUA_TNIL) {
		v = lua_tointegerx(L, -1, &isnum);
		if (!isnum)
			luaL_error(L, "field '%s' must be an integer", k);
	}
	lua_pop(L, 1);
	return v;
}

int pl_field_bool(lua_State *L, int t, const char *k, int def)
{
	int v = def;

	if (lua_getfield(L, t, k) != LUA_TNIL) {
		if (lua_type(L, -1) != LUA_TBOOLEAN)
			luaL_error(L, "field '%s' must be a boolean", k);
		v = lua_toboolean(L, -1);
	}
	lua_pop(L, 1);
	return v;
}

/* Reject unknown field names so that a typo fails loudly (luaposix checkfieldnames). */
void pl_check_fields(lua_State *L, int t, const char *const names[], const char *what)
{
	t = lua_absindex(L, t);
	lua_pushnil(L);
	while (lua_next(L, t)) {
		const char *k;
		int found = 0;

		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "%s: field names must be strings", what);
		k = lua_tostring(L, -1);
		for (int i = 0; names[i]; i++)
			if (strcmp(names[i], k) == 0)
				found = 1;
		if (!found)
			luaL_error(L, "%s: unknown field '%s'", what, k);
	}
}

static const struct {
	const char *name;
	int flag;
} ns_names[] = {
	{ "user", CLONE_NEWUSER }, { "mount", CLONE_NEWNS }, { "pid", CLONE_NEWPID },
	{ "ipc", CLONE_NEWIPC },   { "uts", CLONE_NEWUTS },  { "net", CLONE_NEWNET },
	{ "cgroup", CLONE_NEWCGROUP },
};

int pl_ns_flags(lua_State *L, const char *spec, int *out)
{
	int flags = 0;
	const char *p = spec;

	while (*p) {
		size_t n = strcspn(p, ",");
		size_t i;

		for (i = 0; i < PL_ARRAY_LEN(ns_names); i++)
			if (strlen(ns_names[i].name) == n && strncmp(ns_names[i].name, p, n) == 0)
				break;
		if (i == PL_ARRAY_LEN(ns_names))
			return luaL_error(L, "unknown namespace '%s' (known: user, mount, pid, ipc, uts, net, cgroup)",
					  lua_pushlstring(L, p, n));
		flags |= ns_names[i].flag;
		p += n;
		if (*p == ',')
			p++;
	}
	*out = flags;
	return 0;
}

/* Sets code, or signal and core_dumped, of a wait status in the table on top of the stack. */
void pl_push_wait_status(lua_State *L, int status)
{
	if (WIFEXITED(status)) {
		lua_pushinteger(L, WEXITSTATUS(status));
		lua_setfield(L, -2, "code");
	} else {
		lua_pushinteger(L, WTERMSIG(status));
		lua_setfield(L, -2, "signal");
		lua_pushboolean(L, WCOREDUMP(status));
		lua_setfield(L, -2, "core_dumped");
	}
}

const char **pl_string_array(lua_State *L, int t, const char *what, size_t *n)
{
	const char **v;

	luaL_checktype(L, t, LUA_TTABLE);
	*n = lua_rawlen(L, t);
	v = lua_newuserdatauv(L, (*n + 1) * sizeof *v, 0);
	for (size_t i = 0; i < *n; i++) {
		if (lua_rawgeti(L, t, (lua_Integer)i + 1) != LUA_TSTRING)
			luaL_error(L, "%s must be a list of strings", what);
		v[i] = lua_tostring(L, -1);
		lua_pop(L, 1);
	}
	v[*n] = NULL;
	return v;
}
