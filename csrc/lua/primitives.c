/* Host-side helpers the Lua layer needs before and after a run: identities, paths, clocks,
 * randomness and resource usage. Each returns the fail triple on an OS error. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "lpurple.h"

/* core.ids() -> uid, gid, euid, egid  (getuid(2)) */
static int l_ids(lua_State *L)
{
	lua_pushinteger(L, getuid());
	lua_pushinteger(L, getgid());
	lua_pushinteger(L, geteuid());
	lua_pushinteger(L, getegid());
	return 4;
}

/* core.getpid() -> pid */
static int l_getpid(lua_State *L)
{
	lua_pushinteger(L, getpid());
	return 1;
}

/* core.mkdir(path [, mode]) -> true | fail  (mkdir(2)); an existing directory is not an error */
static int l_mkdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	mode_t mode = (mode_t)luaL_optinteger(L, 2, 0755);
	struct stat st;

	if (mkdir(path, mode) < 0 && !(errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
		return pl_fail(L, errno, "mkdir %s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.rmdir(path) -> true | fail  (rmdir(2)) */
static int l_rmdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);

	if (rmdir(path) < 0)
		return pl_fail(L, errno, "rmdir %s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.chown(path, uid, gid) -> true | fail  (lchown(2)) */
static int l_chown(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);

	if (lchown(path, (uid_t)luaL_checkinteger(L, 2), (gid_t)luaL_checkinteger(L, 3)) < 0)
		return pl_fail(L, errno, "chown %s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.stat(path [, follow=true]) -> {type=, mode=, uid=, gid=, size=, mtime=, ino=, dev=} | fail */
static int l_stat(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int follow = lua_isnone(L, 2) ? 1 : lua_toboolean(L, 2);
	struct stat st;
	const char *type = "other";

	if ((follow ? stat(path, &st) : lstat(path, &st)) < 0)
		return pl_fail(L, errno, "stat %s", path);
	if (S_ISDIR(st.st_mode)) type = "directory";
	else if (S_ISREG(st.st_mode)) type = "file";
	else if (S_ISLNK(st.st_mode)) type = "link";
	else if (S_ISCHR(st.st_mode)) type = "char";
	else if (S_ISBLK(st.st_mode)) type = "block";
	else if (S_ISFIFO(st.st_mode)) type = "fifo";
	else if (S_ISSOCK(st.st_mode)) type = "socket";
	lua_createtable(L, 0, 8);
	lua_pushstring(L, type); lua_setfield(L, -2, "type");
	lua_pushinteger(L, st.st_mode & 07777); lua_setfield(L, -2, "mode");
	lua_pushinteger(L, st.st_uid); lua_setfield(L, -2, "uid");
	lua_pushinteger(L, st.st_gid); lua_setfield(L, -2, "gid");
	lua_pushinteger(L, st.st_size); lua_setfield(L, -2, "size");
	lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9); lua_setfield(L, -2, "mtime");
	lua_pushinteger(L, (lua_Integer)st.st_ino); lua_setfield(L, -2, "ino");
	lua_pushinteger(L, (lua_Integer)st.st_dev); lua_setfield(L, -2, "dev");
	lua_pushinteger(L, (lua_Integer)major(st.st_dev)); lua_setfield(L, -2, "dev_major");
	lua_pushinteger(L, (lua_Integer)minor(st.st_dev)); lua_setfield(L, -2, "dev_minor");
	return 1;
}

/* core.realpath(path) -> resolved | fail  (realpath(3)) */
static int l_realpath(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char buf[PATH_MAX];

	if (!realpath(path, buf))
		return pl_fail(L, errno, "realpath %s", path);
	lua_pushstring(L, buf);
	return 1;
}

/* core.readlink(path) -> text | fail  (readlink(2)) */
static int l_readlink(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof buf - 1);

	if (n < 0)
		return pl_fail(L, errno, "readlink %s", path);
	lua_pushlstring(L, buf, (size_t)n);
	return 1;
}

/* core.access(path, "rwx") -> true | fail  (access(2) with the real ids) */
static int l_access(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *m = luaL_optstring(L, 2, "");
	int mode = F_OK;

	if (strchr(m, 'r')) mode |= R_OK;
	if (strchr(m, 'w')) mode |= W_OK;
	if (strchr(m, 'x')) mode |= X_OK;
	if (access(path, mode) < 0)
		return pl_fail(L, errno, "access %s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.monotonic() -> seconds (CLOCK_MONOTONIC);  core.realtime() -> seconds, microseconds */
static int l_monotonic(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
	return 1;
}

static int l_realtime(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	lua_pushinteger(L, ts.tv_sec);
	lua_pushinteger(L, ts.tv_nsec / 1000);
	return 2;
}

/* core.random_hex(nbytes) -> hex string  (getrandom(2)) */
static int l_random_hex(lua_State *L)
{
	unsigned char buf[64];
	char hex[129];
	lua_Integer n = luaL_checkinteger(L, 1);

	luaL_argcheck(L, n > 0 && n <= 64, 1, "1..64 bytes");
	if (getrandom(buf, (size_t)n & 63 ? (size_t)n & 63 : 64, 0) != n)
		return pl_fail(L, errno, "getrandom");
	for (lua_Integer i = 0; i < n; i++) {
		hex[2 * i] = "0123456789abcdef"[buf[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[buf[i] & 15];
	}
	lua_pushlstring(L, hex, (size_t)(2 * n));
	return 1;
}

/* core.rusage_children() -> {utime=, stime=, maxrss_kb=, inblock=, oublock=}  (getrusage(2) RUSAGE_CHILDREN) */
static int l_rusage_children(lua_State *L)
{
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	lua_createtable(L, 0, 3);
	lua_pushnumber(L, (lua_Number)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6);
	lua_setfield(L, -2, "utime");
	lua_pushnumber(L, (lua_Number)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	lua_setfield(L, -2, "stime");
	lua_pushinteger(L, ru.ru_maxrss);
	lua_setfield(L, -2, "maxrss_kb");
	/* storage I/O in 512-byte blocks, counted when pages are read or dirtied (any cgroup mode) */
	lua_pushinteger(L, ru.ru_inblock);
	lua_setfield(L, -2, "inblock");
	lua_pushinteger(L, ru.ru_oublock);
	lua_setfield(L, -2, "oublock");
	return 1;
}

/* core.kill(pid, sig) -> true | fail  (kill(2)) */
static int l_kill(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	int sig = (int)luaL_checkinteger(L, 2);

	if (kill(pid, sig) < 0)
		return pl_fail(L, errno, "kill %d", (int)pid);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.strerror(errno) -> text */
static int l_strerror(lua_State *L)
{
	lua_pushstring(L, strerror((int)luaL_checkinteger(L, 1)));
	return 1;
}

/* core.signal_number("TERM") -> 15 | nil */
static int l_signal_number(lua_State *L)
{
	static const struct { const char *n; int s; } sigs[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL }, { "TRAP", SIGTRAP },
		{ "ABRT", SIGABRT }, { "BUS", SIGBUS }, { "FPE", SIGFPE }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 },
		{ "SEGV", SIGSEGV }, { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
		{ "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "XCPU", SIGXCPU },
		{ "XFSZ", SIGXFSZ }, { "SYS", SIGSYS }, { "WINCH", SIGWINCH },
	};
	const char *n = luaL_checkstring(L, 1);

	if (strncmp(n, "SIG", 3) == 0)
		n += 3;
	for (size_t i = 0; i < PL_ARRAY_LEN(sigs); i++)
		if (strcmp(sigs[i].n, n) == 0) {
			lua_pushinteger(L, sigs[i].s);
			return 1;
		}
	luaL_pushfail(L);
	return 1;
}

/* core.sleep(seconds): waits, for polling loops such as purple log --follow (nanosleep(2)) */
static int l_sleep(lua_State *L)
{
	lua_Number t = luaL_checknumber(L, 1);
	struct timespec ts = { .tv_sec = (time_t)t, .tv_nsec = (long)((t - (lua_Number)(time_t)t) * 1e9) };

	luaL_argcheck(L, t >= 0, 1, "a non-negative number of seconds");
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

static int stream_close(lua_State *L)
{
	luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
	int ok = fclose(p->f) == 0;

	return luaL_fileresult(L, ok, NULL);
}

/* core.create_file(path [, truncate = true]) -> file | nil, "create PATH: why", errno
 * A Lua file handle for writing a result the supervisor produces after the sandbox ran (--report,
 * --learn): opened before the sandbox starts, so nothing the sandbox plants at the path later
 * (a symbolic link into the user's files) is followed; a link or a non-regular file already there
 * is refused. */
static int l_create_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int truncate = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
	luaL_Stream *p;
	struct stat st;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0644), err;

	if (fd < 0 && errno == ELOOP) {
		luaL_pushfail(L);
		lua_pushfstring(L, "create %s: a symbolic link, which purple does not follow (remove it or give "
				"another path)", path);
		lua_pushinteger(L, ELOOP);
		return 3;
	}
	if (fd < 0)
		return pl_fail(L, errno, "create %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (truncate && ftruncate(fd, 0) < 0)) {
		err = S_ISREG(st.st_mode) ? errno : EINVAL;
		close(fd);
		return pl_fail(L, err, "create %s%s", path, err == EINVAL ? " (not a regular file)" : "");
	}
	p = lua_newuserdatauv(L, sizeof *p, 0);
	p->closef = NULL;
	luaL_setmetatable(L, LUA_FILEHANDLE);
	p->f = fdopen(fd, "w");
	if (!p->f) {
		err = errno;
		close(fd);
		return pl_fail(L, err, "create %s", path);
	}
	p->closef = stream_close;
	return 1;
}

void pl_open_primitives(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "ids", l_ids }, { "getpid", l_getpid }, { "mkdir", l_mkdir }, { "rmdir", l_rmdir },
		{ "chown", l_chown }, { "stat", l_stat }, { "realpath", l_realpath }, { "readlink", l_readlink },
		{ "access", l_access }, { "monotonic", l_monotonic }, { "realtime", l_realtime },
		{ "random_hex", l_random_hex }, { "rusage_children", l_rusage_children }, { "kill", l_kill },
		{ "strerror", l_strerror }, { "signal_number", l_signal_number }, { "sleep", l_sleep },
		{ "create_file", l_create_file }, { NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
