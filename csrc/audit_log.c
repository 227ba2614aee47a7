/* The audit log file, held by the supervisor: opened before the sandbox starts, append-only,
 * close-on-exec (the command never inherits it) and never mounted into the sandbox.
 *
 * Each record goes out in one write(2) on an O_APPEND descriptor, so records of many sessions sharing
 * one file never interleave. Before each record the path is compared with the open file: when
 * logrotate has renamed it away (or removed it) the log is reopened, so rotation needs no signal;
 * logfile:reopen() does the same on request (SIGHUP). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "purple.h"

#define LOGFILE_MT "purple.logfile"

struct logfile {
	int fd;
	char *path;
};

static int open_log(const char *path, int *fd_out)
{
	struct stat st = { .st_mode = S_IFREG };
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0640);

	if (fd < 0)
		return -errno;
	/* O_NONBLOCK: a FIFO planted at the path must not hang the supervisor before it is refused. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int err = S_ISREG(st.st_mode) ? errno : EINVAL;

		close(fd);
		return -err;
	}
	*fd_out = fd;
	return 0;
}

/* core.log_open(path) -> logfile | nil, "open PATH: why", errno */
static int l_log_open(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct logfile *f;
	int fd, r;

	if ((r = open_log(path, &fd)) < 0) {
		if (r == -EINVAL)
			return pl_fail(L, EINVAL, "open %s: not a regular file", path);
		return pl_fail(L, -r, "open %s", path);
	}
	f = lua_newuserdatauv(L, sizeof *f, 0);
	f->fd = fd;
	f->path = strdup(path);
	luaL_setmetatable(L, LOGFILE_MT);
	if (!f->path) {
		close(fd);
		f->fd = -1;
		return luaL_error(L, "out of memory");
	}
	return 1;
}

static struct logfile *check_open(lua_State *L)
{
	struct logfile *f = luaL_checkudata(L, 1, LOGFILE_MT);

	if (f->fd < 0)
		luaL_error(L, "attempt to use a closed log file");
	return f;
}

static int reopen(struct logfile *f)
{
	int fd, r = open_log(f->path, &fd);

	if (r < 0)
		return r;
	close(f->fd);
	f->fd = fd;
	return 0;
}

/* True when the path no longer names the open file (renamed away or removed). */
static int rotated(const struct logfile *f)
{
	struct stat a, b;

	if (fstat(f->fd, &a) < 0)
		return 0;
	if (lstat(f->path, &b) < 0)
		return errno == ENOENT;
	return a.st_dev != b.st_dev || a.st_ino != b.st_ino;
}

/* logfile:write(record) -> true | fail. One write(2): the record must end in a newline. */
static int l_log_write(lua_State *L)
{
	struct logfile *f = check_open(L);
	size_t n;
	const char *rec = luaL_checklstring(L, 2, &n);
	ssize_t w;

	luaL_argcheck(L, n > 0 && rec[n - 1] == '\n', 2, "a record ends in a newline");
	if (rotated(f))
		reopen(f); /* on failure keep writing to the old file rather than lose the record */
	do
		w = write(f->fd, rec, n);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return pl_fail(L, errno, "write %s", f->path);
	if ((size_t)w != n)
		return pl_fail(L, ENOSPC, "write %s: short write (%zd of %zu bytes)", f->path, w, n);
	lua_pushboolean(L, 1);
	return 1;
}

/* logfile:reopen() -> true | fail (the old file stays open on failure) */
static int l_log_reopen(lua_State *L)
{
	struct logfile *f = check_open(L);
	int r = reopen(f);

	if (r < 0)
		return pl_fail(L, -r, "reopen %s", f->path);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_log_close(lua_State *L)
{
	struct logfile *f = luaL_checkudata(L, 1, LOGFILE_MT);

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->path);
	f->path = NULL;
	return 0;
}

static int l_log_index(lua_State *L)
{
	struct logfile *f = luaL_checkudata(L, 1, LOGFILE_MT);
	const char *k = luaL_checkstring(L, 2);

	if (strcmp(k, "fd") == 0)
		lua_pushinteger(L, f->fd);
	else if (strcmp(k, "path") == 0)
		lua_pushstring(L, f->path);
	else {
		luaL_getmetatable(L, LOGFILE_MT);
		lua_getfield(L, -1, "methods");
		lua_getfield(L, -1, k);
	}
	return 1;
}

void pl_open_audit_log(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "write", l_log_write }, { "reopen", l_log_reopen }, { "close", l_log_close }, { NULL, NULL },
	};

	luaL_newmetatable(L, LOGFILE_MT);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "methods");
	lua_pushcfunction(L, l_log_index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_log_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, l_log_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);
	lua_pushcfunction(L, l_log_open);
	lua_setfield(L, -2, "log_open");
}
