/* The OCI config.json reader: spec/fuzz/fuzz_oci_config.lua runs each input as a bundle's
 * config.json through purple.oci.config (JSON, schema validation, the plan for the core, with and
 * without purple's profile layer). */
#define FUZZ_LUA_NAME "fuzz_oci_config"
#include "lua_harness.h"
