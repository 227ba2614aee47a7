/* purple.core: Linux sandbox primitives for Lua 5.4. luaopen_purple_core registers each binding
 * (csrc/lua/, one per core part) into one module table; nothing calls back into this file. */
#include "lpurple.h"

int luaopen_purple_core(lua_State *L);
int luaopen_purple_core(lua_State *L)
{
	lua_newtable(L);
	pl_open_spawn(L);
	pl_open_primitives(L);
	pl_open_names(L);
	pl_open_seccomp(L);
	pl_open_cgroupfs(L);
	pl_open_cgroup_device_bpf(L);
	pl_open_audit_log(L);
	pl_open_file_tree(L);
	pl_open_probe(L);
	pl_open_net(L);
	pl_open_ns_primitives(L);
	pl_open_net_notify(L);
	pl_open_net_perform(L);
	pl_open_egress(L);
	pl_open_session(L);
	pl_open_session_job(L);
	pl_open_oci(L);
	return 1;
}
