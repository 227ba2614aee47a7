/* The Lua binding layer of purple.core: the only headers (with the files of csrc/lua/) that see the Lua API.
 * Each binding file converts a Lua table into the C structs of one core part (its header in csrc/) and its
 * results back; the core never calls up into this layer. */
#ifndef PURPLE_LPURPLE_H
#define PURPLE_LPURPLE_H

#include <lua.h>
#include <lauxlib.h>

#include "purple.h"

/* Helpers (lpurple.c). Lua results: OS failures give the fail triple nil, "op path: strerror", errno. */
int pl_fail(lua_State *L, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int pl_ok(lua_State *L, int r, int err, const char *what);

/* Table field readers for option tables; each raises on a wrong type. */
const char *pl_field_str(lua_State *L, int t, const char *k, const char *def);
lua_Integer pl_field_int(lua_State *L, int t, const char *k, lua_Integer def);
int pl_field_bool(lua_State *L, int t, const char *k, int def);
void pl_check_fields(lua_State *L, int t, const char *const names[], const char *what);
/* The strings of the list at index t as a NULL-terminated array (a userdata left on the stack; the strings
 * stay referenced by the table); raises "WHAT must be a list of strings". */
const char **pl_string_array(lua_State *L, int t, const char *what, size_t *n);

/* code, or signal and core_dumped, of a wait status into the table on top of the stack */
void pl_push_wait_status(lua_State *L, int status);

/* Flags given as readable strings, e.g. "user,mount,pid"; raises on an unknown name. */
int pl_ns_flags(lua_State *L, const char *spec, int *out);

/* Registration of each binding's Lua functions into the module table (csrc/lua/core.c). */
void pl_open_spawn(lua_State *L);
void pl_open_primitives(lua_State *L);
void pl_open_names(lua_State *L);
void pl_open_seccomp(lua_State *L);
void pl_open_cgroupfs(lua_State *L);
void pl_open_cgroup_device_bpf(lua_State *L);
void pl_open_audit_log(lua_State *L);
void pl_open_file_tree(lua_State *L);
void pl_open_probe(lua_State *L);
void pl_open_net(lua_State *L);
void pl_open_ns_primitives(lua_State *L);
void pl_open_session(lua_State *L);
void pl_open_net_notify(lua_State *L);
void pl_open_net_perform(lua_State *L);
void pl_open_egress(lua_State *L);
void pl_open_session_job(lua_State *L);
void pl_open_oci(lua_State *L);

#endif
