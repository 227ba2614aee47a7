/* The purple and purple-lua commands: a Lua 5.4 interpreter that finds purple's Lua code next to
 * its own executable (in-tree: ../lua; installed: ../share/lua/5.4 and ../lib/lua/5.4), then runs
 * purple.cli inside lua_pcall with a traceback handler and exits with the status it returns.
 * purple.core is linked in (package.preload); with `make STATIC_LIBS=1` liblua, libseccomp and
 * libcap are too, so a start maps no shared object but libc, libm and ld.so (Makefile; bench/README.md,
 * Memory). The Lua C API is exported, as lua5.4 does, for C modules loaded by require (lyaml). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (!msg)
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* In-tree only: a package searcher that loads the bytecode `make` precompiled into
 * build/luac/<module path>c (luac5.4, debug info kept) instead of compiling the source again, which
 * was ~3 ms of every start. The source decides: a .luac older than its .lua is ignored, so an
 * edited module is always loaded from source. Upvalue 1: "<prefix>/lua/"; 2: "<prefix>/build/luac/". */
static int bytecode_searcher(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1), *rel, *src = NULL, *bc;
	struct stat ss, bs;
	char *buf;
	int fd, r, src_at = 0;
	ssize_t got;

	/* <prefix>/lua/a/b.lua or <prefix>/lua/a/b/init.lua, as package.path has them first in-tree:
	 * found by stat alone (no open of the source, as package.searchpath would do) */
	rel = luaL_gsub(L, name, ".", "/");
	for (int i = 0; i < 2 && !src; i++) {
		const char *p = lua_pushfstring(L, "%s%s%s", lua_tostring(L, lua_upvalueindex(1)), rel,
						i ? "/init.lua" : ".lua");

		if (stat(p, &ss) == 0 && S_ISREG(ss.st_mode)) {
			src = p;
			src_at = lua_gettop(L);
		} else
			lua_pop(L, 1);
	}
	if (!src)
		return 0;
	bc = lua_pushfstring(L, "%s%sc", lua_tostring(L, lua_upvalueindex(2)),
			     src + strlen(lua_tostring(L, lua_upvalueindex(1))));
	if (stat(bc, &bs) < 0 || !S_ISREG(bs.st_mode) || bs.st_mtim.tv_sec < ss.st_mtim.tv_sec ||
	    (bs.st_mtim.tv_sec == ss.st_mtim.tv_sec && bs.st_mtim.tv_nsec < ss.st_mtim.tv_nsec))
		return 0;
	/* one open and one read of the whole file: luaL_loadfilex would reopen it in binary mode and
	 * read it in stdio-sized pieces */
	fd = open(bc, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	buf = lua_newuserdatauv(L, (size_t)bs.st_size + 1, 0);
	got = read(fd, buf, (size_t)bs.st_size + 1);
	close(fd);
	if (got != (ssize_t)bs.st_size)
		return 0; /* changed under us: the source searcher follows */
	r = luaL_loadbufferx(L, buf, (size_t)got, lua_pushfstring(L, "@%s", src), "b");
	if (r != LUA_OK)
		return 0; /* from another Lua: the source searcher follows */
	lua_pushvalue(L, src_at); /* the loader gets the source's file name, as from the source searcher */
	return 2;
}

static void add_bytecode_searcher(lua_State *L, const char *prefix)
{
	lua_getglobal(L, "table");
	lua_getfield(L, -1, "insert");
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchers");
	lua_remove(L, -2);
	lua_pushinteger(L, 2); /* after package.preload, before the source searcher */
	lua_pushfstring(L, "%s/lua/", prefix);
	lua_pushfstring(L, "%s/build/luac/", prefix);
	lua_pushcclosure(L, bytecode_searcher, 2);
	lua_call(L, 3, 0);
	lua_pop(L, 1);
}

static void add_paths(lua_State *L)
{
	char exe[PATH_MAX], probe[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	const char *prefix;

	if (n <= 0)
		return;
	exe[n] = 0;
	prefix = dirname(dirname(exe)); /* <prefix>/bin/purple → <prefix> */
	snprintf(probe, sizeof probe, "%s/lua/purple.lua", prefix);
	lua_getglobal(L, "package");
	if (access(probe, R_OK) == 0) {
		lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;", prefix, prefix);
		lua_getfield(L, -2, "path");
		lua_concat(L, 2);
		lua_setfield(L, -2, "path");
		lua_pushfstring(L, "%s/lua/?.so;", prefix);
		add_bytecode_searcher(L, prefix);
	} else {
		lua_pushfstring(L, "%s/share/lua/" LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "/?.lua;%s/share/lua/"
				LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "/?/init.lua;", prefix, prefix);
		lua_getfield(L, -2, "path");
		lua_concat(L, 2);
		lua_setfield(L, -2, "path");
		lua_pushfstring(L, "%s/lib/lua/" LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "/?.so;", prefix);
	}
	lua_getfield(L, -2, "cpath");
	lua_concat(L, 2);
	lua_setfield(L, -2, "cpath");
	lua_pop(L, 1);
}

int luaopen_purple_core(lua_State *L); /* csrc/core.c, linked in */
int purple_exec_main(int argc, char **argv); /* exec_client.c: `purple exec`, no Lua */

static int pmain(lua_State *L)
{
	int argc = (int)lua_tointeger(L, 1);
	char **argv = lua_touserdata(L, 2);
	const char *name = strrchr(argv[0], '/');

	name = name ? name + 1 : argv[0];
	luaL_openlibs(L);
	add_paths(L);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_purple_core);
	lua_setfield(L, -2, "purple.core");
	lua_pop(L, 1);
	lua_createtable(L, argc, 1);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_setglobal(L, "arg");
	lua_getglobal(L, "require");
	lua_pushstring(L, "purple.cli");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "main");
	lua_pushstring(L, strncmp(name, "purple-lua", 10) == 0 ? "purple-lua" : "purple");
	lua_getglobal(L, "arg");
	lua_call(L, 2, 1);
	return 1;
}

int main(int argc, char **argv)
{
	lua_State *L;
	int status;

	const char *base = strrchr(argv[0], '/');

	if (argc > 1 && strcmp(argv[1], "exec") == 0 && strncmp(base ? base + 1 : argv[0], "purple-lua", 10) != 0)
		return purple_exec_main(argc - 1, argv + 1);
	L = luaL_newstate();
	if (!L) {
		fputs("purple: cannot create the Lua state: out of memory\n", stderr);
		return 125;
	}
	lua_pushcfunction(L, traceback);
	lua_pushcfunction(L, pmain);
	lua_pushinteger(L, argc);
	lua_pushlightuserdata(L, argv);
	if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
		fprintf(stderr, "purple: internal error: %s\n", lua_tostring(L, -1));
		lua_close(L);
		return 125;
	}
	status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
	fflush(stdout);
	lua_close(L);
	return status;
}
