/* Kernel feature probes for `purple doctor` and the audit log's session_start: each asks the
 * running kernel directly (a real unshare, seccomp and Landlock query) instead of reading its config. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <sched.h>
#include <unistd.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "lpurple.h"

/* core.probe_unshare(namespaces [, uid]) -> true | nil, "unshare NAMESPACES: why", errno.
 * A forked child calls unshare(2) with the flags (after switching to uid, when given, to see what an
 * unprivileged user may do) and reports the result in its exit status. */
static int l_probe_unshare(lua_State *L)
{
	const char *spec = luaL_checkstring(L, 1);
	lua_Integer uid = luaL_optinteger(L, 2, -1);
	int flags, status;
	pid_t pid;

	pl_ns_flags(L, spec, &flags);
	pid = fork();
	if (pid < 0)
		return pl_fail(L, errno, "fork");
	if (pid == 0) {
		if (uid >= 0 && (setgroups(0, NULL) < 0 || setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) < 0 ||
				 setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0))
			_exit(200);
		_exit(unshare(flags) < 0 ? (errno & 0xff) : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return pl_fail(L, errno, "waitpid");
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		return pl_fail(L, EPERM, "unshare %s: killed by SIGSYS (a seccomp filter forbids it)", spec);
	if (!WIFEXITED(status))
		return pl_fail(L, EINTR, "unshare %s: probe killed by signal %d", spec, WTERMSIG(status));
	if (WEXITSTATUS(status) == 200)
		return pl_fail(L, EPERM, "unshare %s: cannot switch to uid %d for the probe", spec, (int)uid);
	if (WEXITSTATUS(status))
		return pl_fail(L, WEXITSTATUS(status), "unshare %s", spec);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.probe_seccomp() -> { mode = PR_GET_SECCOMP, filter = bool, user_notif = bool } */
static int l_probe_seccomp(lua_State *L)
{
	uint32_t kill = SECCOMP_RET_KILL_PROCESS, notif = SECCOMP_RET_USER_NOTIF;
	int mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);

	lua_createtable(L, 0, 3);
	lua_pushinteger(L, mode);
	lua_setfield(L, -2, "mode");
	lua_pushboolean(L, syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &kill) == 0);
	lua_setfield(L, -2, "filter");
	lua_pushboolean(L, syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &notif) == 0);
	lua_setfield(L, -2, "user_notif");
	return 1;
}

/* core.probe_landlock() -> ABI version | nil, "landlock: why", errno (for doctor: says why not)
 * (landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)) */
static int l_probe_landlock(lua_State *L)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	if (abi < 0)
		return pl_fail(L, errno, "landlock");
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
