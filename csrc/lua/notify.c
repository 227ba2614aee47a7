/* Lua binding of notify.c: a seccomp notification as sandbox:poll()'s "notify" event. */
#include <stdlib.h>
#include <seccomp.h>

#include "notify.h"
#include "lspawn.h"

/* Pushes { event = "notify", id, pid, nr, arch, name, args = {6} } for notification n (pid is in the
 * supervisor's pid namespace). */
void pl_push_notify(lua_State *L, const struct notify_event *n)
{
	char *name;

	lua_createtable(L, 0, 8);
	lua_pushliteral(L, "notify");
	lua_setfield(L, -2, "event");
	lua_pushinteger(L, (lua_Integer)n->id);
	lua_setfield(L, -2, "id");
	lua_pushinteger(L, n->pid);
	lua_setfield(L, -2, "pid");
	lua_pushinteger(L, n->nr);
	lua_setfield(L, -2, "nr");
	lua_pushinteger(L, n->arch);
	lua_setfield(L, -2, "arch");
	name = seccomp_syscall_resolve_num_arch(n->arch, n->nr);
	if (name) {
		lua_pushstring(L, name);
		lua_setfield(L, -2, "name");
		free(name);
	}
	lua_createtable(L, 6, 0);
	for (int i = 0; i < 6; i++) {
		lua_pushinteger(L, (lua_Integer)n->args[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "args");
}
