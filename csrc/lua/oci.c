/* Lua binding of oci_io.c and oci_monitor.c (purple-oci's lifecycle): core.oci_fifo(path) -> fd,
 * core.oci_lock(path) -> fd (closed by core.oci_close),
 * core.oci_start(path [, result]) -> true [, text], core.oci_console_send(path, fd) -> true, core.oci_close(fd),
 * core.oci_monitor(sandbox, opts) -> pid; OS failures return nil, "op path: why", errno. */
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>

#include "control.h"
#include "fdpass.h"
#include "oci_io.h"
#include "oci_monitor.h"
#include "lspawn.h"

static int l_fifo(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int fd = oci_fifo_open(path);

	if (fd < 0)
		return pl_fail(L, -fd, "mkfifo %s", path);
	lua_pushinteger(L, fd);
	return 1;
}

static int l_lock(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int fd = oci_lock(path);

	if (fd < 0)
		return pl_fail(L, -fd, "lock %s", path);
	lua_pushinteger(L, fd);
	return 1;
}

/* core.oci_start(fifo [, result]) -> true [, what init said on result: "0", a line, or ""] */
static int l_start(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1), *result = luaL_optstring(L, 2, NULL);
	int fd = -1, r;
	char said[512];
	ssize_t n;

	if (result && (fd = oci_fifo_result_open(result)) < 0)
		return pl_fail(L, -fd, "open %s", result);
	if ((r = oci_fifo_signal(path)) < 0) {
		if (fd >= 0)
			close(fd);
		return pl_fail(L, -r, "start %s", path);
	}
	lua_pushboolean(L, 1);
	if (fd < 0)
		return 1;
	if ((n = oci_fifo_result_read(fd, said, sizeof said)) < 0)
		return pl_fail(L, (int)-n, "read %s", result);
	lua_pushlstring(L, said, (size_t)n);
	return 2;
}

static int l_console_send(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int r = oci_console_send(path, (int)luaL_checkinteger(L, 2));

	if (r < 0)
		return pl_fail(L, -r, "console socket %s", path);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_close(lua_State *L)
{
	close((int)luaL_checkinteger(L, 1));
	return 0;
}

/* core.oci_monitor(sandbox | nil, { session, profile, log, log_json, audit, errno, calls = { [nr] =
 * "name\thint\treason" } }) -> pid [, fd]: the container's violation monitor (oci_monitor.h). It takes
 * the sandbox's listener when the handle holds one, else waits for it on init's control socket
 * (create, before start; the handle keeps its socket). Without a sandbox (an exec, forked before the
 * exec enters the container's namespaces, so that it stays in purple-oci's) it waits on a socket
 * whose other end is returned as fd: core.oci_monitor_hand(fd, sandbox) gives it the listener. */
static int l_monitor(lua_State *L)
{
	static const char *const fields[] = { "session", "profile", "log", "log_json", "audit", "errno", "calls", NULL };
	struct sandbox *s = lua_isnil(L, 1) ? NULL : sandbox_handle(L, 1);
	struct oci_monitor_cfg c = { .ctl = -1, .listener = -1 };
	int sv[2] = { -1, -1 };
	lua_Integer max = -1;
	const char **calls;
	pid_t pid;

	luaL_checktype(L, 2, LUA_TTABLE);
	pl_check_fields(L, 2, fields, "oci_monitor");
	c.session = pl_field_str(L, 2, "session", NULL);
	c.profile = pl_field_str(L, 2, "profile", NULL);
	c.log_path = pl_field_str(L, 2, "log", NULL);
	c.log_json = pl_field_bool(L, 2, "log_json", 0);
	c.audit_path = pl_field_str(L, 2, "audit", NULL);
	c.answer_errno = (int)pl_field_int(L, 2, "errno", 1);
	if (!c.session || !c.profile)
		return luaL_error(L, "oci_monitor: session and profile are required");
	if (lua_getfield(L, 2, "calls") != LUA_TTABLE)
		return luaL_error(L, "oci_monitor: calls must be a table");
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_Integer nr = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : -1;

		if (nr < 0 || nr > 4095 || lua_type(L, -1) != LUA_TSTRING)
			return luaL_error(L, "oci_monitor: calls: a string for each syscall number 0-4095");
		if (nr > max)
			max = nr;
		lua_pop(L, 1);
	}
	calls = lua_newuserdatauv(L, sizeof(char *) * (size_t)(max + 1) + 1, 0);
	for (lua_Integer i = 0; i <= max; i++) { /* the strings stay referenced by the table */
		calls[i] = lua_rawgeti(L, -2, i) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		lua_pop(L, 1);
	}
	c.calls = calls;
	c.ncalls = (size_t)(max + 1);
	if (!s) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return pl_fail(L, errno, "start the violation monitor: socketpair");
		c.ctl = sv[0];
	} else if (s->listener >= 0) {
		c.listener = s->listener;
	} else if ((c.ctl = s->ctl) < 0) {
		return luaL_error(L, "oci_monitor: the sandbox has no listener and no control socket (closed or detached)");
	}
	pid = oci_monitor_start(&c);
	if (sv[0] >= 0)
		close(sv[0]); /* the monitor has its copy */
	if (pid < 0) {
		if (sv[1] >= 0)
			close(sv[1]);
		return pl_fail(L, (int)-pid, "start the violation monitor");
	}
	if (c.listener >= 0) { /* the monitor answers: this process keeps no copy */
		close(s->listener);
		s->listener = -1;
	}
	lua_pushinteger(L, pid);
	if (sv[1] < 0)
		return 1;
	lua_pushinteger(L, sv[1]);
	return 2;
}

/* core.oci_monitor_hand(fd, sandbox) -> true: sends the sandbox's seccomp listener to the monitor
 * waiting on fd (as init's CTL_STARTED) and closes this process's copies of both. */
static int l_monitor_hand(lua_State *L)
{
	int fd = (int)luaL_checkinteger(L, 1);
	struct sandbox *s = sandbox_handle(L, 2);
	struct ctl_msg msg = { .kind = CTL_STARTED };
	ssize_t r;

	if (s->listener < 0)
		return luaL_error(L, "oci_monitor_hand: the sandbox holds no listener");
	r = fdpass_send(fd, &msg, sizeof msg, &s->listener, 1);
	close(fd);
	if (r < 0)
		return pl_fail(L, (int)-r, "hand the listener to the violation monitor");
	close(s->listener);
	s->listener = -1;
	lua_pushboolean(L, 1);
	return 1;
}

void pl_open_oci(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "oci_fifo", l_fifo }, { "oci_lock", l_lock }, { "oci_start", l_start },
		{ "oci_console_send", l_console_send }, { "oci_close", l_close },
		{ "oci_monitor", l_monitor }, { "oci_monitor_hand", l_monitor_hand },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
