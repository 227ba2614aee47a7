/* Lua binding of sessions: the agent's socketpair, the supervisor's relay (session_server.c) and the
 * daemon start of `purple session start`. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "lpurple.h"
#include "session_client.h"
#include "session_events.h"
#include "session_proto.h"
#include "session_server.h"

#define SERVER_MT "purple.session_server"
#define EVENTS_MT "purple.session_events"

/* core.session_pair() -> agent_fd, relay_fd (a stream socketpair, close-on-exec) */
static int l_pair(lua_State *L)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return pl_fail(L, errno, "session socketpair");
	lua_pushinteger(L, sv[0]);
	lua_pushinteger(L, sv[1]);
	return 2;
}

/* core.session_close_fd(fd) */
static int l_close_fd(lua_State *L)
{
	close((int)luaL_checkinteger(L, 1));
	return 0;
}

/* core.session_serve{ name, path, relay_fd, owner, deadline } -> server | nil, err, errno.
 * deadline: core.monotonic() time at which the session times out (its commands then end with 124). */
static int l_serve(lua_State *L)
{
	static const char *const fields[] = { "name", "path", "relay_fd", "owner", "deadline", "events", NULL };
	struct session_server_cfg cfg = { 0 };
	struct session_server **ud;
	char what[256] = "";
	double deadline;
	int r;

	luaL_checktype(L, 1, LUA_TTABLE);
	pl_check_fields(L, 1, fields, "session_serve");
	cfg.name = pl_field_str(L, 1, "name", "?");
	cfg.path = pl_field_str(L, 1, "path", NULL);
	cfg.agent_fd = (int)pl_field_int(L, 1, "relay_fd", -1);
	cfg.owner = (uid_t)pl_field_int(L, 1, "owner", (lua_Integer)getuid());
	if (!cfg.path || cfg.agent_fd < 0)
		luaL_error(L, "session_serve: path and relay_fd are required");
	lua_getfield(L, 1, "deadline");
	deadline = luaL_optnumber(L, -1, 0);
	lua_pop(L, 1);
	/* a deadline past what a long long of ns holds (292 years of uptime) never comes: none */
	if (deadline > 0 && deadline < 9e9)
		cfg.deadline_ns = (long long)(deadline * 1e9);
	lua_getfield(L, 1, "events");
	if (!lua_isnil(L, -1))
		cfg.events = luaL_checkudata(L, -1, EVENTS_MT); /* the caller keeps it alive past server:stop */
	lua_pop(L, 1);
	ud = lua_newuserdatauv(L, sizeof *ud, 0);
	*ud = NULL;
	luaL_setmetatable(L, SERVER_MT);
	r = session_server_start(ud, &cfg, what, sizeof what);
	if (r < 0)
		return pl_fail(L, -r, "%s", what);
	return 1;
}

/* server:stop([timed_out]): commands still waiting end with 124 (timed out) or 125. */
static int l_stop(lua_State *L)
{
	struct session_server **ud = luaL_checkudata(L, 1, SERVER_MT);

	session_server_stop(*ud, lua_toboolean(L, 2));
	*ud = NULL;
	return 0;
}

/* server:counts() -> served, running */
static int l_counts(lua_State *L)
{
	struct session_server **ud = luaL_checkudata(L, 1, SERVER_MT);
	unsigned long served = 0;
	unsigned running = 0;

	if (*ud)
		session_server_counts(*ud, &served, &running);
	lua_pushinteger(L, (lua_Integer)served);
	lua_pushinteger(L, running);
	return 2;
}

/* core.session_events() -> queue | nil, err, errno: command events of a session_serve (events = queue). */
static int l_events(lua_State *L)
{
	struct session_events *q = lua_newuserdatauv(L, sizeof *q, 0);
	int r = session_events_init(q);

	if (r < 0)
		return pl_fail(L, -r, "session events pipe");
	luaL_setmetatable(L, EVENTS_MT);
	return 1;
}

static int l_events_gc(lua_State *L)
{
	struct session_events *q = luaL_checkudata(L, 1, EVENTS_MT);

	if (q->fd[0] >= 0)
		session_events_free(q);
	q->fd[0] = q->fd[1] = -1;
	return 0;
}

/* queue:fd() -> the fd that is readable while events are queued (for sandbox:watch) */
static int l_events_fd(lua_State *L)
{
	lua_pushinteger(L, ((struct session_events *)luaL_checkudata(L, 1, EVENTS_MT))->fd[0]);
	return 1;
}

/* A command's usage (session_proto.h) as { wall_seconds, user_seconds, system_seconds, maxrss_bytes }. */
static void push_usage(lua_State *L, const struct session_usage *u)
{
	lua_createtable(L, 0, 4);
	lua_pushnumber(L, (lua_Number)u->wall_us / 1e6);
	lua_setfield(L, -2, "wall_seconds");
	lua_pushnumber(L, (lua_Number)u->user_us / 1e6);
	lua_setfield(L, -2, "user_seconds");
	lua_pushnumber(L, (lua_Number)u->sys_us / 1e6);
	lua_setfield(L, -2, "system_seconds");
	lua_pushinteger(L, (lua_Integer)u->maxrss_kib * 1024);
	lua_setfield(L, -2, "maxrss_bytes");
}

/* queue:pop() -> event | nil. start{id, uid, pid, time (core.monotonic), argv, argc, truncated, tty,
 * timeout}; end{id, uid, pid, time, status (-1: the client went away), errno, timed_out, usage (push_usage;
 * when the agent reaped the command)}. dropped: events lost so far. */
static int l_events_pop(lua_State *L)
{
	struct session_events *q = luaL_checkudata(L, 1, EVENTS_MT);
	struct session_event e;

	if (q->fd[0] < 0 || !session_events_pop(q, &e))
		return 0;
	lua_createtable(L, 0, 10);
	lua_pushstring(L, e.kind == SESSION_EV_START ? "start" : "end");
	lua_setfield(L, -2, "kind");
	lua_pushinteger(L, e.id);
	lua_setfield(L, -2, "id");
	lua_pushinteger(L, e.uid);
	lua_setfield(L, -2, "uid");
	lua_pushinteger(L, e.pid);
	lua_setfield(L, -2, "pid");
	lua_pushnumber(L, (lua_Number)e.mono_ns / 1e9);
	lua_setfield(L, -2, "time");
	pthread_mutex_lock(&q->lock);
	lua_pushinteger(L, (lua_Integer)q->dropped);
	pthread_mutex_unlock(&q->lock);
	lua_setfield(L, -2, "dropped");
	if (e.kind == SESSION_EV_START) {
		lua_createtable(L, (int)e.argc, 0);
		for (size_t off = 0, i = 1; off < e.argv_len; i++) {
			size_t l = strnlen(e.argv + off, e.argv_len - off);

			lua_pushlstring(L, e.argv + off, l);
			lua_rawseti(L, -2, (lua_Integer)i);
			off += l + 1;
		}
		lua_setfield(L, -2, "argv");
		lua_pushinteger(L, e.argc);
		lua_setfield(L, -2, "argc");
		lua_pushboolean(L, e.truncated);
		lua_setfield(L, -2, "truncated");
		lua_pushboolean(L, e.flags & SESSION_EXEC_TTY);
		lua_setfield(L, -2, "tty");
		lua_pushnumber(L, e.timeout_ms / 1000.0);
		lua_setfield(L, -2, "timeout");
	} else {
		lua_pushinteger(L, e.status);
		lua_setfield(L, -2, "status");
		lua_pushinteger(L, e.err);
		lua_setfield(L, -2, "errno");
		lua_pushboolean(L, e.timed_out);
		lua_setfield(L, -2, "timed_out");
		if (e.has_usage) {
			push_usage(L, &e.usage);
			lua_setfield(L, -2, "usage");
		}
	}
	return 1;
}

/* core.session_daemonize(log_path) -> "child", ready_fd | "parent", report, child_pid.
 * The child is a new session with stdin and stdout on /dev/null and stderr on log_path (the
 * session's log); the parent waits until the child writes its report on ready_fd
 * (core.session_ready, one line) or exits, and returns what it wrote ("" when it died first). */
static int l_daemonize(lua_State *L)
{
	const char *log = luaL_checkstring(L, 1);
	int p[2], logfd;
	pid_t pid;

	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (logfd < 0)
		return pl_fail(L, errno, "session log %s", log);
	if (pipe2(p, O_CLOEXEC) < 0) {
		int e = errno;

		close(logfd);
		return pl_fail(L, e, "session pipe");
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(logfd);
		close(p[0]);
		close(p[1]);
		return pl_fail(L, e, "fork");
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		close(p[0]);
		setsid();
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			close(null);
		}
		dup2(logfd, 2);
		close(logfd);
		lua_pushliteral(L, "child");
		lua_pushinteger(L, p[1]);
		return 2;
	}
	close(logfd);
	close(p[1]);
	{
		luaL_Buffer b;
		char buf[256];
		ssize_t n;

		lua_pushliteral(L, "parent");
		luaL_buffinit(L, &b);
		while ((n = read(p[0], buf, sizeof buf)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			luaL_addlstring(&b, buf, (size_t)n);
			if (buf[n - 1] == '\n')
				break; /* one line: init holds a copy of the write end for the session's life */
		}
		close(p[0]);
		luaL_pushresult(&b);
		lua_pushinteger(L, pid);
		return 3;
	}
}

/* core.session_ready(fd, text): the daemon's report to the waiting `purple session start`. */
static int l_ready(lua_State *L)
{
	int fd = (int)luaL_checkinteger(L, 1);
	size_t n;
	const char *s = luaL_checklstring(L, 2, &n);

	(void)!write(fd, s, n);
	close(fd);
	return 0;
}

/* core.session_reap(pid) -> wait status code or nil: the start command collects a daemon that died. */
static int l_reap(lua_State *L)
{
	int st;
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);

	if (waitpid(pid, &st, WNOHANG) == pid) {
		lua_newtable(L);
		pl_push_wait_status(L, st);
		return 1;
	}
	return 0;
}

struct capture {
	char *p;
	size_t n, cap;
};

/* Reads what is in fd now (non-blocking) into b; 0 at EOF or error, 1 while open. */
static int drain(int fd, struct capture *b)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);

		if (n > 0) {
			if (b->n + (size_t)n > b->cap) {
				size_t cap = (b->cap ? b->cap * 2 : 8192) + (size_t)n;
				char *q = realloc(b->p, cap);

				if (!q)
					return 0;
				b->p = q;
				b->cap = cap;
			}
			memcpy(b->p + b->n, buf, (size_t)n);
			b->n += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && errno == EAGAIN;
	}
}

/* core.session_exec(socket, argv, { env = {"K=V"...}, cwd, timeout, stdin = string, stdout = "capture",
 * stderr = "capture" }) -> { status, stdout, stderr, message, command, usage } | nil, err, errno.
 * command: its number in the session; usage (push_usage): when it ran and was reaped.
 * Without stdin, stdout or stderr the caller's own fd is the command's. */
static int l_exec(lua_State *L)
{
	static const char *const fields[] = { "env", "cwd", "timeout", "stdin", "stdout", "stderr", NULL };
	const char *path = luaL_checkstring(L, 1), *cwd, *in = NULL;
	const char **argv, **env = NULL;
	size_t argc, envc = 0, inlen = 0, inoff = 0, rgot = 0;
	double timeout;
	int fd, r, status = 125, fds[3] = { 0, 1, 2 }, mine[3] = { -1, -1, -1 }, cap[3] = { 0, 0, 0 }, got = 0;
	uint32_t command = 0;
	struct session_usage usage;
	char rbuf[4096], msg[300] = "";
	struct capture out[2] = { { 0 }, { 0 } };

	argv = pl_string_array(L, 2, "session exec: argv", &argc);
	if (argc == 0 || !argv[0][0])
		luaL_error(L, "session exec: argv must not be empty");
	if (lua_isnoneornil(L, 3))
		lua_newtable(L), lua_replace(L, 3);
	luaL_checktype(L, 3, LUA_TTABLE);
	pl_check_fields(L, 3, fields, "session exec options");
	if (lua_getfield(L, 3, "env") != LUA_TNIL)
		env = pl_string_array(L, lua_absindex(L, -1), "session exec: env", &envc);
	cwd = pl_field_str(L, 3, "cwd", "");
	lua_getfield(L, 3, "timeout");
	timeout = luaL_optnumber(L, -1, 0);
	if (lua_getfield(L, 3, "stdin") != LUA_TNIL)
		in = luaL_checklstring(L, -1, &inlen);
	cap[1] = strcmp(pl_field_str(L, 3, "stdout", ""), "capture") == 0;
	cap[2] = strcmp(pl_field_str(L, 3, "stderr", ""), "capture") == 0;

	fd = session_connect(path);
	if (fd < 0)
		return pl_fail(L, -fd, "session %s", path);
	for (int i = 0; i < 3; i++) {
		int p[2];

		if (i == 0 ? !in : !cap[i])
			continue;
		if (pipe2(p, O_CLOEXEC) < 0) {
			int e = errno;

			for (int k = 0; k < 3; k++)
				if (mine[k] >= 0)
					close(mine[k]), close(fds[k]);
			close(fd);
			return pl_fail(L, e, "session exec pipe");
		}
		fds[i] = i == 0 ? p[0] : p[1];
		mine[i] = i == 0 ? p[1] : p[0];
		fcntl(mine[i], F_SETFL, O_NONBLOCK);
	}
	r = session_send_exec(fd, 0, timeout > 0 ? (uint32_t)(timeout * 1000 + 0.5) : 0, cwd, (char *const *)argv, argc,
			      (char *const *)env, envc, fds);
	for (int i = 0; i < 3; i++)
		if (mine[i] >= 0)
			close(fds[i]);
	if (r == 0) {
		for (;;) {
			struct pollfd pf[4] = {
				{ .fd = fd, .events = POLLIN },
				{ .fd = mine[0], .events = POLLOUT },
				{ .fd = mine[1], .events = POLLIN },
				{ .fd = mine[2], .events = POLLIN },
			};
			if (poll(pf, 4, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (pf[1].revents) {
				ssize_t w = inoff < inlen ? write(mine[0], in + inoff, inlen - inoff) : 0;

				if (w > 0)
					inoff += (size_t)w;
				if (inoff >= inlen || (w < 0 && errno != EAGAIN && errno != EINTR)) {
					close(mine[0]);
					mine[0] = -1;
				}
			}
			for (int i = 1; i < 3; i++)
				if (pf[i + 1].revents && !drain(mine[i], &out[i - 1])) {
					close(mine[i]);
					mine[i] = -1;
				}
			if (pf[0].revents) {
				got = session_read_result(fd, rbuf, &rgot, &status, msg, sizeof msg);
				if (got < 0) {
					status = 125;
					snprintf(msg, sizeof msg, "the session ended before the command's status was reported");
				}
				if (got)
					break;
			}
		}
		/* what the command wrote before it exited is in the pipes already */
		for (int i = 1; i < 3; i++)
			if (mine[i] >= 0)
				drain(mine[i], &out[i - 1]);
	}
	for (int i = 0; i < 3; i++)
		if (mine[i] >= 0)
			close(mine[i]);
	close(fd);
	if (r < 0) {
		free(out[0].p);
		free(out[1].p);
		return pl_fail(L, -r, "session %s: send request", path);
	}
	lua_newtable(L);
	for (int i = 0; i < 2; i++) {
		if (cap[i + 1]) {
			lua_pushlstring(L, out[i].p ? out[i].p : "", out[i].n);
			lua_setfield(L, -2, i ? "stderr" : "stdout");
		}
		free(out[i].p);
	}
	lua_pushinteger(L, status);
	lua_setfield(L, -2, "status");
	if (msg[0]) {
		lua_pushstring(L, msg);
		lua_setfield(L, -2, "message");
	}
	if (got > 0) {
		int has = session_result_usage(rbuf, &command, &usage);

		if (command) {
			lua_pushinteger(L, command);
			lua_setfield(L, -2, "command");
		}
		if (has) {
			push_usage(L, &usage);
			lua_setfield(L, -2, "usage");
		}
	}
	return 1;
}

/* core.session_compact(): a supervisor that goes idle (its session is ready) collects all garbage
 * and returns the free pages of its heap to the kernel: the Lua state it built the sandbox with
 * is mostly garbage by then, and an idle session's memory is what a host with many pays for. */
static int l_compact(lua_State *L)
{
	lua_gc(L, LUA_GCCOLLECT);
	malloc_trim(0);
	return 0;
}

/* core.session_exit(status): the supervisor forked from a script ends without running that
 * script's finalizers (its other sessions' __gc would stop them). */
static int l_exit(lua_State *L)
{
	int st = (int)luaL_checkinteger(L, 1);

	fflush(NULL);
	_exit(st);
}

void pl_open_session(lua_State *L)
{
	static const luaL_Reg methods[] = { { "stop", l_stop }, { "counts", l_counts }, { NULL, NULL } };
	static const luaL_Reg funcs[] = {
		{ "session_pair", l_pair }, { "session_close_fd", l_close_fd }, { "session_serve", l_serve },
		{ "session_daemonize", l_daemonize }, { "session_ready", l_ready }, { "session_reap", l_reap },
		{ "session_exec", l_exec }, { "session_exit", l_exit }, { "session_events", l_events },
		{ "session_compact", l_compact },
		{ NULL, NULL },
	};
	static const luaL_Reg ev_methods[] = { { "fd", l_events_fd }, { "pop", l_events_pop }, { NULL, NULL } };

	luaL_newmetatable(L, SERVER_MT);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_stop);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, l_stop);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);
	luaL_newmetatable(L, EVENTS_MT);
	luaL_newlib(L, ev_methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_events_gc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_setfuncs(L, funcs, 0);
}
