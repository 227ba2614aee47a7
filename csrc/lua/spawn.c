/* Lua binding of spawn.c: core.spawn(spec) parses one normalised spec table into a struct
 * spawn_cfg (mounts: lua/mounts.c, caps: lua/caps.c) and returns the sandbox handle, whose poll()
 * turns each struct sandbox_event into an event table. */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include "control.h"
#include "process.h"
#include "lspawn.h"

#define HANDLE_MT "purple.sandbox"

/* A NULL-terminated array of the strings in t[k]. The array stays on the Lua stack (and the strings in
 * the spec table) until spawn returns, which is as long as the child needs them. */
static const char **string_list(lua_State *L, int t, const char *k, size_t *n)
{
	char what[64];
	const char **v;

	*n = 0;
	if (lua_getfield(L, t, k) == LUA_TNIL) {
		lua_pop(L, 1);
		return NULL;
	}
	snprintf(what, sizeof what, "spawn spec: field '%s'", k);
	if (!lua_istable(L, -1))
		luaL_error(L, "%s must be a list of strings", what);
	v = pl_string_array(L, lua_gettop(L), what, n);
	lua_remove(L, -2); /* leaves the array userdata on the stack */
	return v;
}

static void rlimits_parse(lua_State *L, int t, struct spawn_cfg *c)
{
	if (lua_getfield(L, t, "rlimits") == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	luaL_checktype(L, -1, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		const char *k = lua_tostring(L, -2);
		int res = rlimit_by_name(k), isnum;
		lua_Integer v;

		if (res < 0)
			luaL_error(L, "rlimits: unknown limit '%s'", k ? k : "?");
		if (c->nrlimits == MAX_RLIMITS)
			luaL_error(L, "rlimits: too many");
		c->rlimits[c->nrlimits].resource = res;
		if (lua_istable(L, -1)) {
			/* { soft = n, hard = n } (an OCI rlimit); as unsigned 64-bit: -1 is RLIM_INFINITY */
			lua_Integer soft = (lua_getfield(L, -1, "soft"), lua_tointegerx(L, -1, &isnum));
			int hard_ok;
			lua_Integer hard = (lua_getfield(L, -2, "hard"), lua_tointegerx(L, -1, &hard_ok));

			lua_pop(L, 2);
			if (!isnum || !hard_ok)
				luaL_error(L, "rlimits.%s: soft and hard must be integers", k);
			c->rlimits[c->nrlimits].lim.rlim_cur = (rlim_t)soft;
			c->rlimits[c->nrlimits].lim.rlim_max = (rlim_t)hard;
			c->nrlimits++;
			lua_pop(L, 1);
			continue;
		}
		v = lua_tointegerx(L, -1, &isnum);
		if (!isnum || v < 0)
			luaL_error(L, "rlimits.%s must be a non-negative integer", k);
		c->rlimits[c->nrlimits].lim.rlim_cur = (rlim_t)v;
		c->rlimits[c->nrlimits].lim.rlim_max = (rlim_t)v;
		c->nrlimits++;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static const char *const spec_fields[] = {
	"argv", "env", "path", "cwd", "namespaces", "uid", "gid", "uid_map", "gid_map", "setgroups",
	"hostname", "mounts", "rlimits", "caps", "drop_caps", "no_new_privs", "new_session",
	"die_with_parent", "loopback", "cgroup_procs", "cgroupns", "seccomp", "seccomp_listener",
	"landlock", "forward_signals", "session_fd", "egress_ports", "root", "root_readonly", "joins", "sysctls",
	"set_ids", "groups", "umask", "oom_score_adj", "cap_sets", "start_fd", "pty", "pty_rows", "pty_cols", "join_pid",
	"new_keyring", "hooks_sync", "create_hooks", "start_hooks", "start_result_fd", NULL,
};

static void spec_parse(lua_State *L, int t, struct spawn_cfg *c)
{
	const char *ns, *sg;
	size_t n;

	pl_check_fields(L, t, spec_fields, "spawn spec");
	memset(c, 0, sizeof *c);
	c->argv = string_list(L, t, "argv", &n);
	if (!c->argv || n == 0)
		luaL_error(L, "spawn spec: argv must be a non-empty list");
	c->envp = string_list(L, t, "env", &n);
	if (!c->envp) {
		static const char *const empty[] = { NULL };
		c->envp = empty;
	}
	c->path = pl_field_str(L, t, "path", NULL);
	c->cwd = pl_field_str(L, t, "cwd", NULL);
	ns = pl_field_str(L, t, "namespaces", "");
	pl_ns_flags(L, ns, &c->ns_flags);
	c->ns_names = ns;
	if (c->ns_flags & CLONE_NEWCGROUP) {
		/* The cgroup namespace is rooted at the sandbox's cgroup: unshared after joining it. */
		c->ns_flags &= ~CLONE_NEWCGROUP;
		c->cgroupns = 1;
	}
	c->uid = (uid_t)pl_field_int(L, t, "uid", 0);
	c->gid = (gid_t)pl_field_int(L, t, "gid", 0);
	c->uid_map = pl_field_str(L, t, "uid_map", NULL);
	c->gid_map = pl_field_str(L, t, "gid_map", NULL);
	sg = pl_field_str(L, t, "setgroups", "deny");
	if (strcmp(sg, "deny") == 0)
		c->deny_setgroups = 1;
	else if (strcmp(sg, "clear") == 0)
		c->clear_groups = 1;
	else
		luaL_error(L, "spawn spec: setgroups must be 'deny' or 'clear'");
	c->hostname = pl_field_str(L, t, "hostname", NULL);
	mounts_parse(L, t, c);
	rlimits_parse(L, t, c);
	caps_parse(L, t, c);
	c->drop_caps = pl_field_bool(L, t, "drop_caps", 1);
	c->no_new_privs = pl_field_bool(L, t, "no_new_privs", 1);
	c->new_session = pl_field_bool(L, t, "new_session", 1);
	c->die_with_parent = pl_field_bool(L, t, "die_with_parent", 1);
	c->loopback = pl_field_bool(L, t, "loopback", (c->ns_flags & CLONE_NEWNET) != 0);
	c->cgroup_procs = string_list(L, t, "cgroup_procs", &c->ncgroup_procs);
	if (lua_getfield(L, t, "seccomp") != LUA_TNIL) {
		size_t len;
		const char *prog = luaL_checklstring(L, -1, &len);

		if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > 0xffff)
			luaL_error(L, "spawn spec: seccomp must be a BPF program (a multiple of 8 bytes)");
		c->seccomp.len = (unsigned short)(len / sizeof(struct sock_filter));
		c->seccomp.filter = (struct sock_filter *)(uintptr_t)prog;
	}
	lua_pop(L, 1);
	c->seccomp_listener = pl_field_bool(L, t, "seccomp_listener", 0);
	if (c->seccomp_listener && !c->seccomp.len)
		luaL_error(L, "spawn spec: seccomp_listener needs a seccomp program");
	if (lua_getfield(L, t, "landlock") != LUA_TNIL) {
		char what[128];

		c->landlock = luaL_checklstring(L, -1, &c->landlock_len);
		if (landlock_check(c->landlock, c->landlock_len, what, sizeof what) < 0)
			luaL_error(L, "spawn spec: %s", what);
	}
	lua_pop(L, 1);
	container_parse(L, t, c);
	c->sysctls = string_list(L, t, "sysctls", &c->nsysctls);
	c->session_fd = (int)pl_field_int(L, t, "session_fd", 0);
	if (c->session_fd < 0)
		luaL_error(L, "spawn spec: session_fd must be an fd above 0");
	if (lua_getfield(L, t, "egress_ports") != LUA_TNIL) {
		luaL_checktype(L, -1, LUA_TTABLE);
		for (int i = 0; i < 2; i++) {
			lua_Integer port = (lua_rawgeti(L, -1, i + 1), lua_tointeger(L, -1));

			if (port < 1 || port > 65535)
				luaL_error(L, "spawn spec: egress_ports must be two ports (HTTP, SOCKS)");
			c->egress_ports[i] = (unsigned short)port;
			lua_pop(L, 1);
		}
		if (!(c->ns_flags & CLONE_NEWNET))
			luaL_error(L, "spawn spec: egress_ports needs a network namespace");
	}
	lua_pop(L, 1);
	c->start_fd = (int)pl_field_int(L, t, "start_fd", 0);
	if (c->start_fd < 0)
		luaL_error(L, "spawn spec: start_fd must be an fd above 0");
	c->pty = pl_field_bool(L, t, "pty", 0);
	c->join_pid = (pid_t)pl_field_int(L, t, "join_pid", 0);
	c->new_keyring = pl_field_bool(L, t, "new_keyring", 0);
	c->pty_rows = (unsigned short)pl_field_int(L, t, "pty_rows", 0);
	c->pty_cols = (unsigned short)pl_field_int(L, t, "pty_cols", 0);
	if ((c->create_hooks.n || c->start_hooks.n) && !c->hooks_sync)
		luaL_error(L, "spawn spec: create_hooks and start_hooks need hooks_sync (their state JSON)");
	if ((c->start_hooks.n || c->start_result_fd) && c->start_fd <= 0)
		luaL_error(L, "spawn spec: start_hooks and start_result_fd need start_fd");
}

/* core.spawn(spec) -> sandbox | nil, "spawn ...: why", errno */
static int l_spawn(lua_State *L)
{
	struct spawn_cfg cfg;
	struct sandbox *s;
	char what[1024] = "";
	int forward, whole, r;

	luaL_checktype(L, 1, LUA_TTABLE);
	spec_parse(L, 1, &cfg);
	forward = pl_field_bool(L, 1, "forward_signals", 1);

	s = lua_newuserdatauv(L, sizeof *s, 0);
	memset(s, 0, sizeof *s);
	s->pidfd = s->ctl = s->sigfd = s->listener = s->watch_fd = -1;
	luaL_setmetatable(L, HANDLE_MT);
	r = sandbox_start(s, &cfg, forward, what, sizeof what, &whole);
	if (r < 0 && whole) {
		luaL_pushfail(L);
		lua_pushstring(L, what);
		lua_pushinteger(L, -r);
		return 3;
	}
	if (r < 0)
		return pl_fail(L, -r, "%s", what);
	return 1;
}

struct sandbox *sandbox_handle(lua_State *L, int idx)
{
	struct sandbox *s = luaL_checkudata(L, idx, HANDLE_MT);

	if (s->pidfd < 0 && !s->reaped)
		luaL_error(L, "attempt to use a closed sandbox");
	return s;
}

static struct sandbox *check_sandbox(lua_State *L)
{
	return sandbox_handle(L, 1);
}

/* The seccomp listener of the sandbox handle at idx (-1 before init hands it over), for net_perform,
 * whose workers answer notifications on their own; the handle is their owner for cancellation. */
int sandbox_listener(lua_State *L, int idx, void **owner)
{
	struct sandbox *s = luaL_checkudata(L, idx, HANDLE_MT);

	*owner = s;
	return s->listener;
}

/* Moves the egress listeners init handed over (spawn spec egress_ports) to the caller: 1 with both
 * fds, 0 when there are none (yet). */
int sandbox_take_egress(lua_State *L, int idx, int fds[2])
{
	struct sandbox *s = luaL_checkudata(L, idx, HANDLE_MT);

	if (s->egress_fd[0] < 0 || s->egress_fd[1] < 0)
		return 0;
	fds[0] = s->egress_fd[0];
	fds[1] = s->egress_fd[1];
	s->egress_fd[0] = s->egress_fd[1] = -1;
	return 1;
}

static void event(lua_State *L, const char *name)
{
	lua_newtable(L);
	lua_pushstring(L, name);
	lua_setfield(L, -2, "event");
}

/* sandbox:poll([timeout_ms]) -> event table | nil on timeout.
 * Events: setup_error{what, errno, message}, exec_error{what, errno}, ready (start_fd), pty{fd} (the pty's master: the caller closes it), started, exit{code|signal},
 * hooks (hooks_sync: answer with sandbox:resume(state_json)),
 * signal{signal} (already forwarded), watch (sandbox:watch's fd is readable), stop{sender_pid, sender_uid} (purple stop, not forwarded),
 * notify{id, pid, nr, arch, name, args} (a seccomp user notification: answer it with sandbox:respond). */
static int l_poll(lua_State *L)
{
	struct sandbox *s = check_sandbox(L);
	int timeout = (int)luaL_optinteger(L, 2, -1);
	struct sandbox_event ev;
	int r = sandbox_poll(s, timeout, &ev);

	if (r < 0)
		return pl_fail(L, -r, "%s", ev.what);
	if (r == 0) {
		luaL_pushfail(L);
		return 1;
	}
	switch (ev.kind) {
	case SB_NOTIFY:
		pl_push_notify(L, &ev.notify);
		break;
	case SB_STOP:
		event(L, "stop");
		lua_pushinteger(L, (lua_Integer)ev.sender_pid);
		lua_setfield(L, -2, "sender_pid");
		lua_pushinteger(L, (lua_Integer)ev.sender_uid);
		lua_setfield(L, -2, "sender_uid");
		break;
	case SB_SIGNAL:
		event(L, "signal");
		lua_pushinteger(L, ev.signal);
		lua_setfield(L, -2, "signal");
		break;
	case SB_SETUP_ERROR:
	case SB_EXEC_ERROR:
		event(L, ev.kind == SB_SETUP_ERROR ? "setup_error" : "exec_error");
		lua_pushstring(L, ev.what);
		lua_setfield(L, -2, "what");
		lua_pushinteger(L, ev.err);
		lua_setfield(L, -2, "errno");
		if (ev.err)
			lua_pushfstring(L, "%s: %s", ev.what, strerror(ev.err));
		else
			lua_pushstring(L, ev.what); /* the whole message (a hook's) */
		lua_setfield(L, -2, "message");
		break;
	case SB_STARTED:
		event(L, "started");
		break;
	case SB_READY:
		event(L, "ready");
		break;
	case SB_HOOKS:
		event(L, "hooks");
		break;
	case SB_PTY:
		event(L, "pty");
		lua_pushinteger(L, ev.fd);
		lua_setfield(L, -2, "fd");
		break;
	case SB_WATCH:
		event(L, "watch");
		break;
	case SB_EXIT:
		event(L, "exit");
		pl_push_wait_status(L, ev.status);
		if (ev.init) {
			lua_pushboolean(L, 1);
			lua_setfield(L, -2, "init");
		}
		break;
	}
	return 1;
}

/* sandbox:watch(fd | nil): poll also returns a "watch" event while fd is readable (the caller
 * reads it; purple.session's command events). */
static int l_watch(lua_State *L)
{
	struct sandbox *s = check_sandbox(L);

	sandbox_watch(s, (int)luaL_optinteger(L, 2, -1));
	return 0;
}

/* sandbox:respond(id, { error = errno } | { val = n } | { continue = true }) -> true | nil, err, errno.
 * Answers a "notify" event. ENOENT means the task is gone or its call was interrupted. */
static int l_respond(lua_State *L)
{
	struct sandbox *s = check_sandbox(L);
	lua_Integer id = luaL_checkinteger(L, 2);
	int cont, err, r;
	long long val;

	luaL_checktype(L, 3, LUA_TTABLE);
	cont = pl_field_bool(L, 3, "continue", 0);
	err = (int)pl_field_int(L, 3, "error", 0);
	val = (long long)pl_field_int(L, 3, "val", 0);
	if (err < 0 || err > 4095 || (cont && (err || val)))
		luaL_error(L, "respond: give one of error (an errno), val or continue");
	if (s->listener < 0)
		return pl_fail(L, ENOENT, "seccomp respond");
	r = notify_respond(s->listener, (uint64_t)id, cont, err, val);
	if (r < 0)
		return pl_fail(L, -r, "seccomp respond");
	lua_pushboolean(L, 1);
	return 1;
}

/* sandbox:notify_valid(id) -> true while the notified task still waits in its call. */
static int l_notify_valid(lua_State *L)
{
	struct sandbox *s = check_sandbox(L);

	lua_pushboolean(L, s->listener >= 0 && notify_valid(s->listener, (uint64_t)luaL_checkinteger(L, 2)));
	return 1;
}

/* sandbox:resume(state_json) -> true | nil, err, errno: answers a "hooks" event; init runs its
 * createContainer hooks with state_json on stdin (and its startContainer hooks, at start). */
static int l_resume(lua_State *L)
{
	struct sandbox *s = check_sandbox(L);
	size_t len;
	const char *state = luaL_checklstring(L, 2, &len);
	int r;

	if (len == 0)
		luaL_argerror(L, 2, "the state JSON is empty");
	if ((r = sandbox_resume(s, state, len)) < 0)
		return pl_fail(L, -r, "resume sandbox %d", (int)s->pid);
	lua_pushboolean(L, 1);
	return 1;
}

/* sandbox:kill(sig): sends sig to init, which forwards it to the command. */
static int l_kill(lua_State *L)
{
	struct sandbox *s = check_sandbox(L);
	int r = sandbox_kill(s, (int)luaL_checkinteger(L, 2));

	if (r < 0)
		return pl_fail(L, -r, "kill sandbox %d", (int)s->pid);
	lua_pushboolean(L, 1);
	return 1;
}

/* sandbox:terminate(): SIGTERM to every process of the sandbox (setsid or not). */
static int l_terminate(lua_State *L)
{
	lua_settop(L, 1);
	lua_pushinteger(L, PL_SIG_TERMINATE_ALL);
	return l_kill(L);
}

static int l_close(lua_State *L)
{
	struct sandbox *s = luaL_checkudata(L, 1, HANDLE_MT);

	sandbox_release(s);
	return 0;
}
/* sandbox:detach(): closes the handle but leaves init running, to be adopted by a subreaper. */
static int l_detach(lua_State *L)
{
	sandbox_detach(check_sandbox(L));
	return 0;
}

static int l_index(lua_State *L)
{
	struct sandbox *s = luaL_checkudata(L, 1, HANDLE_MT);
	const char *k = luaL_checkstring(L, 2);

	if (strcmp(k, "pid") == 0)
		lua_pushinteger(L, s->pid);
	else if (strcmp(k, "pidfd") == 0)
		lua_pushinteger(L, s->pidfd);
	else if (strcmp(k, "listener") == 0)
		lua_pushinteger(L, s->listener);
	else if (strcmp(k, "started") == 0)
		lua_pushboolean(L, s->started);
	else {
		luaL_getmetatable(L, HANDLE_MT);
		lua_getfield(L, -1, "methods");
		lua_getfield(L, -1, k);
	}
	return 1;
}

void pl_open_spawn(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "poll", l_poll }, { "watch", l_watch }, { "respond", l_respond }, { "notify_valid", l_notify_valid },
		{ "kill", l_kill }, { "terminate", l_terminate }, { "close", l_close },
		{ "detach", l_detach }, { "resume", l_resume },
		{ NULL, NULL },
	};

	luaL_newmetatable(L, HANDLE_MT);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "methods");
	lua_pushcfunction(L, l_index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, l_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);

	lua_pushcfunction(L, l_spawn);
	lua_setfield(L, -2, "spawn");
	lua_pushinteger(L, PL_SIG_TERMINATE_ALL);
	lua_setfield(L, -2, "SIG_TERMINATE_ALL");
	lua_pushinteger(L, PL_SIG_STOP);
	lua_setfield(L, -2, "SIG_STOP");
}

