/* Lua binding of audit_log.c: core.log_open() and the logfile userdata (write, reopen, close). */
#include <errno.h>
#include <string.h>

#include "lpurple.h"

#define LOGFILE_MT "purple.logfile"

/* core.log_open(path) -> logfile | nil, "open PATH: why", errno */
static int l_log_open(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct logfile *f = lua_newuserdatauv(L, sizeof *f, 0);
	int r;

	f->fd = -1;
	f->path = NULL;
	luaL_setmetatable(L, LOGFILE_MT);
	if ((r = logfile_open(f, path)) < 0) {
		if (r == -ENOMEM)
			return luaL_error(L, "out of memory");
		if (r == -EINVAL)
			return pl_fail(L, EINVAL, "open %s: not a regular file", path);
		return pl_fail(L, -r, "open %s", path);
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

/* logfile:write(record) -> true | fail. One write(2): the record must end in a newline. */
static int l_log_write(lua_State *L)
{
	struct logfile *f = check_open(L);
	size_t n;
	const char *rec = luaL_checklstring(L, 2, &n);
	ssize_t w;

	luaL_argcheck(L, n > 0 && rec[n - 1] == '\n', 2, "a record ends in a newline");
	w = logfile_write(f, rec, n);
	if (w < 0)
		return pl_fail(L, (int)-w, "write %s", f->path);
	if ((size_t)w != n)
		return pl_fail(L, ENOSPC, "write %s: short write (%zd of %zu bytes)", f->path, w, n);
	lua_pushboolean(L, 1);
	return 1;
}

/* logfile:reopen() -> true | fail (the old file stays open on failure) */
static int l_log_reopen(lua_State *L)
{
	struct logfile *f = check_open(L);
	int r = logfile_reopen(f);

	if (r < 0)
		return pl_fail(L, -r, "reopen %s", f->path);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_log_close(lua_State *L)
{
	struct logfile *f = luaL_checkudata(L, 1, LOGFILE_MT);

	logfile_close(f);
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
