/* The sandbox's building blocks one by one, for Lua scripts that build a sandbox step by step
 * (core.spawn runs the same steps in C in one go). The mount steps are those of mounts.c.
 *
 * Typical use, from a forked child:
 *   core.unshare("user,mount,pid"); core.set_id_maps("self", {uid = "0 1000 1", gid = "0 1000 1"})
 *   core.propagation("/", "private"); core.tmpfs("/tmp", {size = 1 << 20}); core.bind("/usr", "/tmp/usr")
 *   core.pivot_root("/tmp"); core.exec({"sh", "-c", "..."})
 * Every function returns true (or a value) on success and the fail triple on an OS error. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "process.h"
#include "lspawn.h"

/* Every target is resolved under the current root, without following symlinks. */
static int open_root(void)
{
	return open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void check_abs(lua_State *L, int arg)
{
	luaL_argcheck(L, luaL_checkstring(L, arg)[0] == '/', arg, "an absolute path expected");
}

/* core.unshare(flags) -> true | fail   (unshare(2)); flags: "user,mount,pid,ipc,uts,net,cgroup" */
static int l_unshare(lua_State *L)
{
	const char *spec = luaL_checkstring(L, 1);
	int flags;

	pl_ns_flags(L, spec, &flags);
	if (unshare(flags) < 0)
		return pl_fail(L, errno, "unshare %s", spec);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.clone(flags) -> pid (0 in the child) | fail   (clone(2) with new namespaces, like fork) */
static int l_clone(lua_State *L)
{
	const char *spec = luaL_optstring(L, 1, "");
	int flags;
	long pid;

	pl_ns_flags(L, spec, &flags);
	fflush(NULL);
	pid = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return pl_fail(L, errno, "clone %s", spec);
	lua_pushinteger(L, pid);
	return 1;
}

/* core.fork() -> pid (0 in the child) | fail   (fork(2)); stdio is flushed first */
static int l_fork(lua_State *L)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return pl_fail(L, errno, "fork");
	lua_pushinteger(L, pid);
	return 1;
}

/* core._exit(code)   (_exit(2)): leaves a forked child without running the parent's cleanups */
static int l_exit(lua_State *L)
{
	int code = (int)luaL_optinteger(L, 1, 0);

	fflush(NULL);
	_exit(code);
}

/* core.wait(pid) -> {pid=, code=} | {pid=, signal=, core_dumped=} | fail   (waitpid(2)) */
static int l_wait(lua_State *L)
{
	pid_t pid = (pid_t)luaL_optinteger(L, 1, -1);
	int status;
	pid_t r;

	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return pl_fail(L, errno, "wait %d", (int)pid);
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, r);
	lua_setfield(L, -2, "pid");
	pl_push_wait_status(L, status);
	return 1;
}

/* core.set_id_maps(pid|"self", {uid = "IN OUT N\n...", gid = ..., setgroups = "deny"|"allow"})
 *   -> true | fail   (user_namespaces(7)); setgroups is written first, as an unprivileged gid_map needs */
static int l_set_id_maps(lua_State *L)
{
	static const char *const fields[] = { "uid", "gid", "setgroups", NULL };
	pid_t pid = 0;
	const char *uid, *gid, *sg;
	int r;

	if (!(lua_type(L, 1) == LUA_TSTRING && strcmp(lua_tostring(L, 1), "self") == 0))
		pid = (pid_t)luaL_checkinteger(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	pl_check_fields(L, 2, fields, "set_id_maps");
	uid = pl_field_str(L, 2, "uid", NULL);
	gid = pl_field_str(L, 2, "gid", NULL);
	sg = pl_field_str(L, 2, "setgroups", gid ? "deny" : NULL);
	if (sg && strcmp(sg, "deny") != 0 && strcmp(sg, "allow") != 0)
		return luaL_error(L, "set_id_maps: setgroups must be 'deny' or 'allow'");
	if (sg && (r = write_proc(pid, "setgroups", sg)) < 0)
		return pl_fail(L, -r, "write setgroups '%s'", sg);
	if (uid && (r = write_proc(pid, "uid_map", uid)) < 0)
		return pl_fail(L, -r, "write uid_map '%s'", uid);
	if (gid && (r = write_proc(pid, "gid_map", gid)) < 0)
		return pl_fail(L, -r, "write gid_map '%s'", gid);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.bind(source, target [, {readonly = true, nosuid = true, nodev = true}]) -> true | fail
 *   A recursive bind of the host path source (open_tree(2)) onto target, created if missing. */
static int l_bind(lua_State *L)
{
	static const char *const fields[] = { "readonly", "nosuid", "nodev", NULL };
	const char *src = luaL_checkstring(L, 1), *dst = luaL_checkstring(L, 2);
	unsigned attrs = 0;
	char what[300] = "";
	int root, mfd, tfd, r = 0, e;
	struct stat st;

	check_abs(L, 2);
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		pl_check_fields(L, 3, fields, "bind");
	} else {
		lua_settop(L, 2);
		lua_newtable(L); /* the defaults */
	}
	attrs |= pl_field_bool(L, 3, "readonly", 1) ? MOUNT_ATTR_RDONLY : 0;
	attrs |= pl_field_bool(L, 3, "nosuid", 1) ? MOUNT_ATTR_NOSUID : 0;
	attrs |= pl_field_bool(L, 3, "nodev", 1) ? MOUNT_ATTR_NODEV : 0;
	mfd = clone_tree(src, attrs);
	if (mfd < 0)
		return pl_fail(L, errno, "bind %s", src);
	if (fstat(mfd, &st) < 0 || (root = open_root()) < 0) {
		e = errno;
		close(mfd);
		return pl_fail(L, e, "bind %s", src);
	}
	tfd = open_target(root, dst, !S_ISDIR(st.st_mode), what, sizeof what);
	close(root);
	if (tfd < 0) {
		close(mfd);
		return pl_fail(L, -tfd, "%s", what);
	}
	if (attach(mfd, tfd) < 0)
		r = -errno;
	close(tfd);
	close(mfd);
	if (r < 0)
		return pl_fail(L, -r, "bind %s on %s", src, dst);
	lua_pushboolean(L, 1);
	return 1;
}

/* Runs one mounts.c step that takes (rootfd, target, what, n) on the current root. */
static int mount_step(lua_State *L, int (*step)(int, const char *, char *, size_t))
{
	const char *target = luaL_checkstring(L, 1);
	char what[300] = "";
	int root, r;

	check_abs(L, 1);
	root = open_root();
	if (root < 0)
		return pl_fail(L, errno, "open /");
	r = step(root, target, what, sizeof what);
	close(root);
	if (r < 0)
		return pl_fail(L, -r, "%s", what);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.tmpfs(target [, {size = bytes, mode = 0755}]) -> true | fail   a nosuid, nodev tmpfs; default
 * size 64 MiB, mode 01777 */
static int l_tmpfs(lua_State *L)
{
	static const char *const fields[] = { "size", "mode", NULL };
	const char *target = luaL_checkstring(L, 1);
	long long size = 0;
	int mode = -1, root, r;
	char what[300] = "";

	check_abs(L, 1);
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		pl_check_fields(L, 2, fields, "tmpfs");
		size = pl_field_int(L, 2, "size", 0);
		mode = (int)pl_field_int(L, 2, "mode", -1);
		if (size < 0 || mode < -1 || mode > 07777)
			return luaL_error(L, "tmpfs: size must be >= 0 and mode within 0..07777");
	}
	root = open_root();
	if (root < 0)
		return pl_fail(L, errno, "open /");
	r = mount_tmpfs(root, target, size, mode, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, what, sizeof what);
	close(root);
	if (r < 0)
		return pl_fail(L, -r, "%s", what);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.mount_proc(target) -> true | fail   /proc of the caller's pid namespace, host knobs read-only */
static int l_mount_proc(lua_State *L)
{
	return mount_step(L, mount_proc);
}

/* core.mount_dev(target) -> true | fail   a minimal /dev: null zero full random urandom tty, pts, shm */
static int l_mount_dev(lua_State *L)
{
	return mount_step(L, mount_dev);
}

/* core.pivot_root(new_root) -> true | fail   (pivot_root(2)); the old root is detached */
static int l_pivot_root(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char what[300] = "";
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return pl_fail(L, errno, "pivot_root %s", path);
	r = mounts_pivot(fd, what, sizeof what);
	close(fd);
	if (r < 0)
		return pl_fail(L, -r, "%s", what);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.propagation(path, "private"|"slave"|"shared"|"unbindable" [, recursive = true]) -> true | fail
 *   (mount_namespaces(7)) */
static int l_propagation(lua_State *L)
{
	static const char *const names[] = { "private", "slave", "shared", "unbindable", NULL };
	static const unsigned long flags[] = { MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_UNBINDABLE };
	const char *path = luaL_checkstring(L, 1);
	int which = luaL_checkoption(L, 2, NULL, names);
	int rec = lua_isnone(L, 3) ? 1 : lua_toboolean(L, 3);

	if (mount(NULL, path, NULL, flags[which] | (rec ? MS_REC : 0), NULL) < 0)
		return pl_fail(L, errno, "make %s %s", path, names[which]);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.sethostname(name) -> true | fail   (sethostname(2)) */
static int l_sethostname(lua_State *L)
{
	size_t len;
	const char *name = luaL_checklstring(L, 1, &len);

	if (sethostname(name, len) < 0)
		return pl_fail(L, errno, "sethostname %s", name);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.setsid() -> sid | fail   (setsid(2)) */
static int l_setsid(lua_State *L)
{
	pid_t sid = setsid();

	if (sid < 0)
		return pl_fail(L, errno, "setsid");
	lua_pushinteger(L, sid);
	return 1;
}

/* core.close_fds([first = 3]) -> true | fail   closes every fd >= first (close_range(2)) */
static int l_close_fds(lua_State *L)
{
	lua_Integer first = luaL_optinteger(L, 1, 3);

	luaL_argcheck(L, first >= 0 && first <= 0x7fffffff, 1, "a file descriptor number expected");
	if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) < 0)
		return pl_fail(L, errno, "close fds from %d", (int)first);
	lua_pushboolean(L, 1);
	return 1;
}

static int check_rlimit(lua_State *L, int arg)
{
	const char *name = luaL_checkstring(L, arg);
	int res = rlimit_by_name(name);

	if (res < 0)
		return luaL_error(L, "unknown rlimit '%s' (as core cpu data fsize memlock nofile nproc stack msgqueue "
				  "sigpending locks nice rtprio rttime rss)", name);
	return res;
}

/* core.setrlimit(name, soft [, hard = soft]) -> true | fail   (setrlimit(2)); -1 means unlimited */
static int l_setrlimit(lua_State *L)
{
	int res = check_rlimit(L, 1);
	lua_Integer soft = luaL_checkinteger(L, 2), hard = luaL_optinteger(L, 3, soft);
	struct rlimit rl = { soft < 0 ? RLIM_INFINITY : (rlim_t)soft, hard < 0 ? RLIM_INFINITY : (rlim_t)hard };

	if (setrlimit(res, &rl) < 0)
		return pl_fail(L, errno, "setrlimit %s", lua_tostring(L, 1));
	lua_pushboolean(L, 1);
	return 1;
}

/* core.getrlimit(name) -> soft, hard   (getrlimit(2)); -1 means unlimited */
static int l_getrlimit(lua_State *L)
{
	int res = check_rlimit(L, 1);
	struct rlimit rl;

	if (getrlimit(res, &rl) < 0)
		return pl_fail(L, errno, "getrlimit %s", lua_tostring(L, 1));
	lua_pushinteger(L, rl.rlim_cur == RLIM_INFINITY ? -1 : (lua_Integer)rl.rlim_cur);
	lua_pushinteger(L, rl.rlim_max == RLIM_INFINITY ? -1 : (lua_Integer)rl.rlim_max);
	return 2;
}

/* A NULL-terminated copy of the list of strings at arg, in a userdata left on the stack. */
static char **string_array(lua_State *L, int arg, const char *what)
{
	size_t len = lua_rawlen(L, arg);
	char **v = lua_newuserdatauv(L, (len + 1) * sizeof *v, 0);

	for (size_t i = 0; i < len; i++) {
		if (lua_rawgeti(L, arg, (lua_Integer)i + 1) != LUA_TSTRING)
			luaL_error(L, "exec: %s must be a list of strings", what);
		v[i] = (char *)lua_tostring(L, -1); /* still referenced by the table */
		lua_pop(L, 1);
	}
	v[len] = NULL;
	return v;
}

extern char **environ;

/* core.exec(argv [, env]) -> fail   (execvpe(3)): replaces the process; PATH is searched for argv[1];
 * env is a list of "NAME=value" (default: the current environment), whose PATH is searched */
static int l_exec(lua_State *L)
{
	char **argv, **envp = environ;

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argcheck(L, lua_rawlen(L, 1) > 0, 1, "a non-empty argv expected");
	argv = string_array(L, 1, "argv");
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		envp = string_array(L, 2, "env");
		/* execvpe searches the PATH of the current environment: use the new one's */
		for (char **e = envp; *e; e++)
			if (strncmp(*e, "PATH=", 5) == 0)
				setenv("PATH", *e + 5, 1);
	}
	fflush(NULL);
	execvpe(argv[0], argv, envp);
	return pl_fail(L, errno, "exec %s", argv[0]);
}

void pl_open_ns_primitives(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "unshare", l_unshare }, { "clone", l_clone }, { "fork", l_fork }, { "_exit", l_exit },
		{ "wait", l_wait }, { "set_id_maps", l_set_id_maps }, { "bind", l_bind }, { "tmpfs", l_tmpfs },
		{ "mount_proc", l_mount_proc }, { "mount_dev", l_mount_dev }, { "pivot_root", l_pivot_root },
		{ "propagation", l_propagation }, { "sethostname", l_sethostname }, { "setsid", l_setsid },
		{ "close_fds", l_close_fds }, { "setrlimit", l_setrlimit }, { "getrlimit", l_getrlimit },
		{ "exec", l_exec }, { NULL, NULL },
	};

	luaL_setfuncs(L, fns, 0);
}
