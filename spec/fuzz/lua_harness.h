/* A harness whose checks are a Lua script: liblua 5.4 runs purple's Lua library from this tree
 * (lua/, the built lua/purple/core.so) and spec/fuzz/FUZZ_LUA_NAME.lua, which returns the function
 * called once per input. It returns normally for input handled as it should be (a clean error
 * included); anything it raises is a finding, reported here as a crash. The tree is found from this
 * executable's path (build/fuzz/{bin,replay}/NAME), so a copy of the tree replays in place.
 * A harness file defines FUZZ_LUA_NAME and includes this; fuzz_policy.c and fuzz_oci_config.c do. */
#ifndef FUZZ_LUA_NAME
#error "define FUZZ_LUA_NAME (the script spec/fuzz/NAME.lua) before including lua_harness.h"
#endif
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static lua_State *L;

/* Lua line coverage as libFuzzer's extra counters: liblua is not instrumented, so without these
 * the fuzzer would see only the C it calls, not which lines of purple's Lua library an input ran. */
#define COUNTERS 65536
__attribute__((section("__libfuzzer_extra_counters"), used)) static unsigned char counters[COUNTERS];

static void line_hook(lua_State *l, lua_Debug *ar)
{
	uintptr_t h;

	if (!lua_getinfo(l, "S", ar))
		return;
	h = ((uintptr_t)ar->source >> 4) * 2654435761u ^ (uintptr_t)ar->currentline * 40503u;
	counters[h % COUNTERS]++;
}
static int fn_ref = LUA_NOREF;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char exe[PATH_MAX], tree[PATH_MAX + 64], code[4 * PATH_MAX + 512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	if (n < 0) {
		perror("/proc/self/exe");
		exit(2);
	}
	exe[n] = '\0';
	/* build/fuzz/bin/NAME -> the tree */
	snprintf(tree, sizeof tree, "%s", dirname(dirname(dirname(dirname(exe)))));
	L = luaL_newstate();
	luaL_openlibs(L);
	snprintf(code, sizeof code,
		 "package.path = '%s/lua/?.lua;%s/lua/?/init.lua;' .. package.path\n"
		 "package.cpath = '%s/lua/?.so;' .. package.cpath\n"
		 "return dofile('%s/spec/fuzz/" FUZZ_LUA_NAME ".lua')",
		 tree, tree, tree, tree);
	if (luaL_dostring(L, code) != LUA_OK || !lua_isfunction(L, -1)) {
		fprintf(stderr, FUZZ_LUA_NAME ": %s\n", lua_tostring(L, -1));
		exit(2);
	}
	fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_sethook(L, line_hook, LUA_MASKLINE, 0);
	return 0;
}

static int traceback(lua_State *l)
{
	luaL_traceback(l, l, luaL_tolstring(l, 1, NULL), 1);
	return 1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	int top = lua_gettop(L);

	lua_pushcfunction(L, traceback);
	lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
	lua_pushlstring(L, (const char *)data, size);
	if (lua_pcall(L, 1, 0, top + 1) != LUA_OK) {
		fprintf(stderr, FUZZ_LUA_NAME ": raised: %s\n", lua_tostring(L, -1));
		abort();
	}
	lua_settop(L, top);
	/* a full collection now and then keeps the heap (and ASan's view of it) small */
	if (lua_gc(L, LUA_GCCOUNT, 0) > 64 * 1024)
		lua_gc(L, LUA_GCCOLLECT, 0);
	return 0;
}
