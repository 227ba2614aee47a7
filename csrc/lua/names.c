/* Name lookups used by policy validation: syscall names (libseccomp, native arch) and
 * capability names (libcap). */
#include <stdlib.h>
#include <seccomp.h>
#include <sys/capability.h>

#include "caps.h"
#include "lpurple.h"

/* core.syscall_number(name) -> number | nil */
static int l_syscall_number(lua_State *L)
{
	int nr = seccomp_syscall_resolve_name(luaL_checkstring(L, 1));

	if (nr == __NR_SCMP_ERROR || nr < 0)
		luaL_pushfail(L);
	else
		lua_pushinteger(L, nr);
	return 1;
}

/* core.syscall_name(number) -> name | nil */
static int l_syscall_name(lua_State *L)
{
	char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)luaL_checkinteger(L, 1));

	if (!name) {
		luaL_pushfail(L);
		return 1;
	}
	lua_pushstring(L, name);
	free(name);
	return 1;
}

/* core.cap_number(name) -> number | nil; accepts "CAP_NET_ADMIN" and "net_admin" */
static int l_cap_number(lua_State *L)
{
	int v = cap_by_name(luaL_checkstring(L, 1));

	if (v < 0 || v >= (int)cap_max_bits())
		luaL_pushfail(L);
	else
		lua_pushinteger(L, v);
	return 1;
}

/* core.cap_name(number) -> "CAP_NET_ADMIN" | nil */
static int l_cap_name(lua_State *L)
{
	lua_Integer v = luaL_checkinteger(L, 1);
	char *s;

	if (v < 0 || v >= (lua_Integer)cap_max_bits() || !(s = cap_to_name((cap_value_t)v))) {
		luaL_pushfail(L);
		return 1;
	}
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (char *p = s; *p; p++)
		luaL_addchar(&b, (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p));
	luaL_pushresult(&b);
	cap_free(s);
	return 1;
}

void pl_open_names(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "syscall_number", l_syscall_number }, { "syscall_name", l_syscall_name },
		{ "cap_number", l_cap_number },         { "cap_name", l_cap_name },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
