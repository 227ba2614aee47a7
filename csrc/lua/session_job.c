/* Lua binding of session_job.c: commands sent to a session without waiting for them, and the wait
 * that moves them on while watching other fds (purple mcp reads its client meanwhile); the signal
 * plumbing of a process that owns a session this way (stop signals, its supervisor's parent death). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>

#include "lpurple.h"
#include "session_client.h"
#include "session_job.h"
#include "session_proto.h"

#define JOB_MT "purple.session_job"
#define WAIT_MAX_FDS 256

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

/* core.catch_stop_signals(): SIGTERM, SIGINT and SIGHUP are noted for core.session_jobs_wait
 * (which returns them) instead of ending the process; SIGPIPE is ignored (a client that closed its
 * end is seen as a write error). Children reset both (spawn.c, session_agent.c). */
static int l_catch(lua_State *L)
{
	struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESTART };
	struct sigaction ign = { .sa_handler = SIG_IGN };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &ign, NULL);
	return 0;
}

/* core.session_parent_death(sig, parent_pid): this process (a session's supervisor started by purple
 * mcp) gets sig when the process that started it dies, even by SIGKILL (PR_SET_PDEATHSIG); at once
 * when that happened already (it is then no longer the parent). */
static int l_parent_death(lua_State *L)
{
	int sig = (int)luaL_checkinteger(L, 1);
	pid_t parent = (pid_t)luaL_checkinteger(L, 2);

	if (prctl(PR_SET_PDEATHSIG, sig) < 0)
		return pl_fail(L, errno, "prctl PR_SET_PDEATHSIG");
	if (getppid() != parent)
		kill(getpid(), sig);
	lua_pushboolean(L, 1);
	return 1;
}

/* core.session_job(socket, argv, { env = {"K=V"...}, cwd, timeout, stdin = string, max_output = bytes })
 * -> job | nil, err, errno */
static int l_job(lua_State *L)
{
	static const char *const fields[] = { "env", "cwd", "timeout", "stdin", "max_output", NULL };
	const char *path = luaL_checkstring(L, 1), *cwd, *in = NULL;
	const char **argv, **env = NULL;
	size_t argc, envc = 0, inlen = 0;
	lua_Integer max;
	double timeout;
	struct session_job *j;
	int r;

	argv = pl_string_array(L, 2, "session job: argv", &argc);
	if (argc == 0 || !argv[0][0])
		luaL_error(L, "session job: argv must not be empty");
	if (lua_isnoneornil(L, 3))
		lua_newtable(L), lua_replace(L, 3);
	luaL_checktype(L, 3, LUA_TTABLE);
	pl_check_fields(L, 3, fields, "session job options");
	if (lua_getfield(L, 3, "env") != LUA_TNIL)
		env = pl_string_array(L, lua_absindex(L, -1), "session job: env", &envc);
	cwd = pl_field_str(L, 3, "cwd", "");
	lua_getfield(L, 3, "timeout");
	timeout = luaL_optnumber(L, -1, 0);
	if (lua_getfield(L, 3, "stdin") != LUA_TNIL)
		in = luaL_checklstring(L, -1, &inlen);
	max = pl_field_int(L, 3, "max_output", 1 << 20);
	luaL_argcheck(L, max >= 0, 3, "max_output must be >= 0");
	luaL_argcheck(L, timeout >= 0 && timeout < 4e6, 3, "timeout out of range");

	j = lua_newuserdatauv(L, sizeof *j, 0);
	memset(j, 0, sizeof *j);
	j->sock = j->in = j->out[0] = j->out[1] = -1;
	j->done = 1; /* until started: nothing to close twice */
	r = session_job_start(j, path, timeout > 0 ? (uint32_t)(timeout * 1000 + 0.5) : 0, cwd, (char *const *)argv,
			      argc, (char *const *)env, envc, in, inlen, (size_t)max);
	if (r < 0)
		return pl_fail(L, -r, "session %s", path);
	luaL_setmetatable(L, JOB_MT);
	return 1;
}

static struct session_job *check_job(lua_State *L, int i)
{
	return luaL_checkudata(L, i, JOB_MT);
}

/* job:result() -> nil while running | { status, message, stdout, stderr, stdout_bytes, stderr_bytes
 * [, usage] } (the *_bytes: all the command wrote; stdout and stderr keep at most max_output bytes
 * each; usage { wall_seconds, user_seconds, system_seconds, maxrss_bytes } where the session's
 * protocol reports it) */
static int l_result(lua_State *L)
{
	struct session_job *j = check_job(L, 1);

	if (!j->done)
		return 0;
	lua_newtable(L);
	lua_pushinteger(L, j->status);
	lua_setfield(L, -2, "status");
	if (j->msg[0]) {
		lua_pushstring(L, j->msg);
		lua_setfield(L, -2, "message");
	}
#ifdef SESSION_RESULT_USAGE
	{
		/* sessions whose agent reports per-command usage (protocol version 2): as session:exec has it */
		struct session_usage u;
		uint32_t command;

		if (j->status_read && session_result_usage(j->rbuf, &command, &u)) {
			lua_createtable(L, 0, 4);
			lua_pushnumber(L, (lua_Number)u.wall_us / 1e6);
			lua_setfield(L, -2, "wall_seconds");
			lua_pushnumber(L, (lua_Number)u.user_us / 1e6);
			lua_setfield(L, -2, "user_seconds");
			lua_pushnumber(L, (lua_Number)u.sys_us / 1e6);
			lua_setfield(L, -2, "system_seconds");
			lua_pushinteger(L, (lua_Integer)u.maxrss_kib * 1024);
			lua_setfield(L, -2, "maxrss_bytes");
			lua_setfield(L, -2, "usage");
		}
	}
#endif
	for (int i = 0; i < 2; i++) {
		lua_pushlstring(L, j->buf[i].p ? j->buf[i].p : "", j->buf[i].n);
		lua_setfield(L, -2, i ? "stderr" : "stdout");
		lua_pushinteger(L, (lua_Integer)j->buf[i].total);
		lua_setfield(L, -2, i ? "stderr_bytes" : "stdout_bytes");
	}
	return 1;
}

/* job:signal(sig): to the command's process group */
static int l_signal(lua_State *L)
{
	session_job_signal(check_job(L, 1), (int)luaL_checkinteger(L, 2));
	return 0;
}

/* job:close(): a command still running is killed by the session (its connection is gone) */
static int l_close(lua_State *L)
{
	session_job_close(check_job(L, 1));
	return 0;
}

/* core.session_jobs_wait(jobs, fds, timeout_ms) -> ready, stop_signal: polls every running job of the
 * list and the fds (readable), moves the jobs on, and returns the set of readable fds ({[fd] =
 * true}) and the number of a stop signal caught since the last call (core.catch_stop_signals), or
 * nil. timeout_ms < 0 waits until something happens. */
static int l_wait(lua_State *L)
{
	struct pollfd pf[WAIT_MAX_FDS];
	size_t n = 0, nfds, njobs;
	int timeout = (int)luaL_optinteger(L, 3, -1), r;
	sigset_t block, old;

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checktype(L, 2, LUA_TTABLE);
	nfds = lua_rawlen(L, 2);
	njobs = lua_rawlen(L, 1);
	if (nfds + njobs * SESSION_JOB_POLLFDS > WAIT_MAX_FDS)
		luaL_error(L, "session_jobs_wait: more than %d fds", WAIT_MAX_FDS);
	for (size_t i = 0; i < nfds; i++) {
		lua_rawgeti(L, 2, (lua_Integer)i + 1);
		pf[n++] = (struct pollfd){ .fd = (int)luaL_checkinteger(L, -1), .events = POLLIN };
		lua_pop(L, 1);
	}
	for (size_t i = 0; i < njobs; i++) {
		lua_rawgeti(L, 1, (lua_Integer)i + 1);
		n += session_job_pollfds(check_job(L, -1), pf + n);
		lua_pop(L, 1);
	}
	/* the stop signals are let in only inside ppoll: one caught before it is not slept through */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (stop_signal) {
		r = 0;
	} else {
		struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };
		sigset_t during = old;

		sigdelset(&during, SIGTERM);
		sigdelset(&during, SIGINT);
		sigdelset(&during, SIGHUP);
		r = ppoll(pf, n, timeout < 0 ? NULL : &ts, &during);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r < 0 && errno != EINTR)
		return pl_fail(L, errno, "poll");
	for (size_t i = 0; i < njobs; i++) {
		lua_rawgeti(L, 1, (lua_Integer)i + 1);
		session_job_step(check_job(L, -1));
		lua_pop(L, 1);
	}
	lua_newtable(L);
	for (size_t i = 0; r > 0 && i < nfds; i++) {
		if (pf[i].revents) {
			lua_pushboolean(L, 1);
			lua_rawseti(L, -2, pf[i].fd);
		}
	}
	if (stop_signal) {
		lua_pushinteger(L, stop_signal);
		stop_signal = 0;
		return 2;
	}
	return 1;
}

/* core.read_fd(fd, max) -> up to max bytes ("" at end of file) | nil, err, errno. Blocks until
 * something can be read (after core.session_jobs_wait said fd is readable, it does not). */
static int l_read_fd(lua_State *L)
{
	int fd = (int)luaL_checkinteger(L, 1);
	lua_Integer max = luaL_checkinteger(L, 2);
	luaL_Buffer b;
	ssize_t n;
	char *p;

	luaL_argcheck(L, max > 0 && max <= (1 << 24), 2, "max out of range");
	p = luaL_buffinitsize(L, &b, (size_t)max);
	do
		n = read(fd, p, (size_t)max);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return pl_fail(L, errno, "read fd %d", fd);
	luaL_pushresultsize(&b, (size_t)n);
	return 1;
}

void pl_open_session_job(lua_State *L)
{
	static const luaL_Reg methods[] = { { "result", l_result }, { "signal", l_signal }, { "close", l_close },
					    { NULL, NULL } };
	static const luaL_Reg funcs[] = {
		{ "session_job", l_job }, { "session_jobs_wait", l_wait }, { "read_fd", l_read_fd },
		{ "catch_stop_signals", l_catch }, { "session_parent_death", l_parent_death }, { NULL, NULL },
	};

	luaL_newmetatable(L, JOB_MT);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, l_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);
	luaL_setfuncs(L, funcs, 0);
}
