/* Lua binding of probe.c: core.probe_unshare, core.probe_seccomp, core.probe_landlock. */
#include <errno.h>

#include "probe.h"
#include "lpurple.h"

/* core.probe_unshare(namespaces [, uid]) -> true | nil, "unshare NAMESPACES: why", errno.
 * A forked child calls unshare(2) with the flags (after switching to uid, when given, to see what an
 * unprivileged user may do) and reports the result in its exit status. */
static int l_probe_unshare(lua_State *L)
{
	const char *spec = luaL_checkstring(L, 1);
	lua_Integer uid = luaL_optinteger(L, 2, -1);
	int flags, err;

	pl_ns_flags(L, spec, &flags);
	switch (probe_unshare(flags, uid, &err)) {
	case PROBE_FORK:
		return pl_fail(L, err, "fork");
	case PROBE_WAIT:
		return pl_fail(L, err, "waitpid");
	case PROBE_SIGSYS:
		return pl_fail(L, EPERM, "unshare %s: killed by SIGSYS (a seccomp filter forbids it)", spec);
	case PROBE_KILLED:
		return pl_fail(L, EINTR, "unshare %s: probe killed by signal %d", spec, err);
	case PROBE_NO_UID:
		return pl_fail(L, EPERM, "unshare %s: cannot switch to uid %d for the probe", spec, (int)uid);
	case PROBE_FAILED:
		return pl_fail(L, err, "unshare %s", spec);
	case PROBE_OK:
		break;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* core.probe_seccomp() -> { mode = PR_GET_SECCOMP, filter = bool, user_notif = bool } */
static int l_probe_seccomp(lua_State *L)
{
	struct probe_seccomp p;

	probe_seccomp(&p);
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, p.mode);
	lua_setfield(L, -2, "mode");
	lua_pushboolean(L, p.filter);
	lua_setfield(L, -2, "filter");
	lua_pushboolean(L, p.user_notif);
	lua_setfield(L, -2, "user_notif");
	return 1;
}

/* core.probe_landlock() -> ABI version | nil, "landlock: why", errno (for doctor: says why not)
 * (landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)) */
static int l_probe_landlock(lua_State *L)
{
	int abi = probe_landlock();

	if (abi < 0)
		return pl_fail(L, -abi, "landlock");
	lua_pushinteger(L, abi);
	return 1;
}

void pl_open_probe(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "probe_unshare", l_probe_unshare }, { "probe_seccomp", l_probe_seccomp },
		{ "probe_landlock", l_probe_landlock }, { NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
