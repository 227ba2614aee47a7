/* The policy loader: spec/fuzz/fuzz_policy.lua runs each input as a YAML policy through purple's
 * Lua library (import, validation, composition, the seccomp plan). */
#define FUZZ_LUA_NAME "fuzz_policy"
#include "lua_harness.h"
