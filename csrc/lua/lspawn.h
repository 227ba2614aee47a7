/* Bindings of the spawn part: the spec table → struct spawn_cfg parsers of each core part, and the
 * sandbox handle's helpers that other bindings use. */
#ifndef PURPLE_LSPAWN_H
#define PURPLE_LSPAWN_H

#include "spawn.h"
#include "lpurple.h"

/* Spec parsers (raise on a malformed field): mounts (lua/mounts.c), caps (lua/caps.c). */
void mounts_parse(lua_State *L, int t, struct spawn_cfg *c);
void caps_parse(lua_State *L, int t, struct spawn_cfg *c);
void container_parse(lua_State *L, int t, struct spawn_cfg *c); /* lua/container.c */

/* Pushes the "notify" event table of one seccomp notification (lua/notify.c). */
void pl_push_notify(lua_State *L, const struct notify_event *n);

/* The sandbox handle at idx; raises "attempt to use a closed sandbox" (lua/spawn.c). */
struct sandbox *sandbox_handle(lua_State *L, int idx);

/* The seccomp listener of the sandbox handle at idx and its owner key (net_perform's cancel). */
int sandbox_listener(lua_State *L, int idx, void **owner);

/* The egress listeners of the sandbox handle at idx, moved to fds (lua/spawn.c): 1, or 0 if none. */
int sandbox_take_egress(lua_State *L, int idx, int fds[2]);

#endif
