/* spawn: one normalised spec table in, a sandboxed process out.
 *
 * Processes:   supervisor (the Lua caller)
 *                └─ init    pid 1 of the new pid namespace: builds the sandbox, then reaps
 *                     └─ payload  installs seccomp last and execs the command
 *
 * Parent: open the bind sources when root (mounts.c) → clone with the namespace flags (into the v2
 *         cgroup) → join the other cgroups → uid/gid maps → release the child.
 * Init:   hide purple's command line → join its v1 cgroups itself (cgroup_join.c) → private mounts and
 *         the bind sources the parent did not open → ids → new root → pivot_root →
 *         hostname → loopback → rlimits → setsid → drop capabilities → no_new_privs → fork the payload
 *         (vfork, shared fd table) → report (step, errno) or "started" to the supervisor → reap until
 *         the payload exits.
 * Payload: landlock → seccomp (last, so setup syscalls need not be allowed) → execve.
 *
 * The payload shares its fd table and memory with init until execve (CLONE_VM | CLONE_VFORK, as
 * posix_spawn does: init is suspended meanwhile, and no copy of init's address space is made and
 * torn down again), so a seccomp listener it creates stays behind in init, which hands it to the
 * supervisor; the payload makes no syscall between the filter and execve, so no policy can
 * deadlock it. Its result travels through init's memory. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "spawn.h"
#include "cgroup_join.h"
#include "control.h"
#include "session_agent.h"

#define HANDLE_MT "purple.sandbox"

/* Signals the supervisor forwards to the command. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

struct sandbox {
	pid_t pid;        /* init, in the supervisor's pid namespace */
	int pidfd;
	int ctl;          /* control socket to init */
	int sigfd;        /* signalfd of forwarded signals, -1 when not forwarding */
	int listener;     /* seccomp listener handed over by init, -1 until then */
	sigset_t oldmask;
	int reaped;
	int started;
	int status;       /* wait status of init once reaped */
};

/* ---------------------------------------------------------------- child side */

struct payload_result {
	int stage;   /* 0 = not reached, 1 = filter installed, 2 = exec failed */
	int err;
	int listener;
	char what[96];
};

struct payload_arg {
	const struct spawn_cfg *cfg;
	const sigset_t *mask;
	struct payload_result *res; /* in init's memory: the payload writes it without a syscall */
};

static volatile pid_t payload_pid;

static void forward_to_payload(int sig)
{
	if (payload_pid > 0)
		kill(payload_pid, sig);
}

static void terminate_all(int sig)
{
	(void)sig;
	kill(-1, SIGTERM); /* from pid 1: every other process of the namespace */
}

static void child_report(int ctl, int kind, int err, const char *what, int passfd)
{
	struct ctl_msg m = { .kind = kind, .err = err };
	struct iovec iov = { &m, sizeof m };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (what)
		snprintf(m.what, sizeof m.what, "%s", what);
	if (passfd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof u);
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof u.buf;
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
	}
	while (sendmsg(ctl, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static _Noreturn void child_fail(int ctl, int err, const char *what)
{
	child_report(ctl, CTL_SETUP_ERROR, err, what, -1);
	_exit(125);
}

static void reset_signals(const sigset_t *mask)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };

	for (int s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and reserved ones */
	sigprocmask(SIG_SETMASK, mask, NULL);
}

/* execve with argv[0] searched in path (default /usr/bin:/bin) as execvp does; returns its errno. */
int spawn_exec_path(const char *path, char *const argv[], char *const envp[])
{
	const char *cmd = argv[0];
	char buf[PATH_MAX];
	int saw_eacces = 0, err;
	const char *p;

	if (strchr(cmd, '/')) {
		execve(cmd, argv, envp);
		return errno;
	}
	p = path ? path : "/usr/bin:/bin";
	err = ENOENT;
	while (*p) {
		size_t n = strcspn(p, ":");

		if (n > 0 && n + 1 + strlen(cmd) < sizeof buf) {
			memcpy(buf, p, n);
			buf[n] = '/';
			strcpy(buf + n + 1, cmd);
			execve(buf, argv, envp);
			if (errno == EACCES)
				saw_eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR)
				err = errno;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	if (saw_eacces && err == ENOENT)
		err = EACCES;
	return err;
}

static void exec_in_path(const struct spawn_cfg *c, struct payload_result *r)
{
	r->err = spawn_exec_path(c->path, (char *const *)c->argv, (char *const *)c->envp);
}

/* Landlock, then the seccomp filter (the last step before exec: setup calls need not be allowed).
 * 0 or -errno with what filled; *listener is the filter's listener or -1. */
int spawn_enforce(const struct spawn_cfg *c, int *listener, char *what, size_t n)
{
	int err;

	*listener = -1;
	if (c->landlock && (err = landlock_apply(c, what, n)) < 0)
		return err;
	if (c->seccomp.len) {
		unsigned flags = c->seccomp_listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
		long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &c->seccomp);

		if (fd < 0) {
			snprintf(what, n, "seccomp filter");
			return -errno;
		}
		*listener = c->seccomp_listener ? (int)fd : -1;
	}
	return 0;
}

/* The payload: from here on only the filter install and execve are allowed to run. */
static int payload_main(void *arg)
{
	const struct payload_arg *a = arg;
	const struct spawn_cfg *c = a->cfg;
	struct payload_result *r = a->res;
	char what[96] = "";
	int err;

	reset_signals(a->mask);
	if ((err = spawn_enforce(c, &r->listener, what, sizeof what)) < 0) {
		r->stage = 2;
		r->err = -err;
		snprintf(r->what, sizeof r->what, "%s", what);
		_exit(125);
	}
	if (c->seccomp.len)
		r->stage = 1;
	exec_in_path(c, r);
	r->stage = 2;
	snprintf(r->what, sizeof r->what, "exec %s", c->argv[0]);
	_exit(r->err == ENOENT ? 127 : 126);
}

/* A session's payload is its agent (session_agent.c), reported as a command would be. */
static int run_agent(const struct spawn_cfg *c, int ctl, const sigset_t *mask)
{
	char what[96] = "";
	int listener, err;
	pid_t pid = session_agent_fork(c, mask, &listener, &err, what, sizeof what);

	if (pid < 0)
		return pid;
	payload_pid = pid;
	if (err)
		child_report(ctl, CTL_SETUP_ERROR, err, what, -1);
	else
		child_report(ctl, CTL_STARTED, 0, NULL, listener);
	if (listener >= 0)
		close(listener);
	return 0;
}

static int run_payload(const struct spawn_cfg *c, int ctl, const sigset_t *mask)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	static struct payload_result r;
	struct payload_arg arg;
	pid_t pid;

	if (c->session_fd >= 0)
		return run_agent(c, ctl, mask);
	memset(&r, 0, sizeof r);
	r.listener = -1;
	arg.cfg = c;
	arg.mask = mask;
	arg.res = &r;

	/* Mark every fd above 2 close-on-exec: the command inherits only stdin, stdout, stderr. */
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return -errno;
	/* The payload runs on its own stack in init's memory; CLONE_VFORK holds init until execve (or
	 * _exit), so the two never run at once and r is complete when clone returns. */
	pid = clone(payload_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &arg);
	if (pid < 0)
		return -errno;
	payload_pid = pid;
	if (r.stage == 2) {
		/* exec failed: the payload has exited (or is exiting) with 125/126/127 */
		child_report(ctl, CTL_EXEC_ERROR, r.err, r.what, -1);
		return 0;
	}
	child_report(ctl, CTL_STARTED, 0, NULL, r.listener);
	if (r.listener >= 0)
		close(r.listener);
	return 0;
}

static int set_rlimits(const struct spawn_cfg *c, char *what, size_t n)
{
	for (size_t i = 0; i < c->nrlimits; i++)
		if (setrlimit(c->rlimits[i].resource, &c->rlimits[i].lim) < 0) {
			snprintf(what, n, "setrlimit %d", c->rlimits[i].resource);
			return -errno;
		}
	return 0;
}

static int set_ids(const struct spawn_cfg *c, char *what, size_t n)
{
	if (c->clear_groups && setgroups(0, NULL) < 0) {
		snprintf(what, n, "setgroups");
		return -errno;
	}
	/* Keep the namespace capabilities across the uid change: the mounts still need them. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
	    setresuid(c->uid, c->uid, c->uid) < 0) {
		snprintf(what, n, "set ids %u:%u", (unsigned)c->uid, (unsigned)c->gid);
		return -errno;
	}
	return 0;
}

static int raise_effective(char *what, size_t n);

/* Init is a copy of the supervisor: without this, /proc/1/cmdline and environ inside the sandbox
 * show purple's host command line and environment. Both areas are zeroed in this copy and init is
 * named purple-init. Raw reads and no allocation (see init_main's caller). */
static void hide_cmdline(void)
{
	char buf[1024];
	unsigned long v[4] = { 0 };
	ssize_t len;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), field = 2;
	char *p;

	prctl(PR_SET_NAME, "purple-init", 0, 0, 0);
	if (fd < 0)
		return;
	len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len <= 0)
		return;
	buf[len] = 0;
	p = strrchr(buf, ')'); /* field 2, the name, may hold spaces and parentheses */
	if (!p)
		return;
	/* fields 48-51: arg_start arg_end env_start env_end (proc(5)) */
	for (p++; *p && field < 51; ) {
		while (*p == ' ')
			p++;
		field++;
		if (field >= 48) {
			unsigned long x = 0;

			for (; *p >= '0' && *p <= '9'; p++)
				x = x * 10 + (unsigned long)(*p - '0');
			v[field - 48] = x;
		}
		while (*p && *p != ' ')
			p++;
	}
	if (field < 51 || v[0] >= v[1] || v[2] > v[3] || v[1] - v[0] < sizeof "purple-init")
		return;
	memset((void *)v[0], 0, v[1] - v[0]);
	memset((void *)v[2], 0, v[3] - v[2]);
	memcpy((void *)v[0], "purple-init", sizeof "purple-init");
	/* A non-NUL last byte makes the kernel read the title up to its first NUL (as after
	 * setproctitle), so cmdline is "purple-init" alone rather than followed by the zeroed rest. */
	if (v[1] - v[0] > sizeof "purple-init")
		*(char *)(v[1] - 1) = ' ';
}

static _Noreturn void init_main(struct spawn_cfg *c, const struct cgroup_join *cj, int ctl, const sigset_t *mask)
{
	char what[256] = "";
	char go;
	int err, status;
	struct sigaction sa = { 0 };

	if (c->die_with_parent)
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	hide_cmdline();
	/* Wait for the parent: cgroups joined and id maps written. EOF means it died. */
	if (read(ctl, &go, 1) != 1)
		_exit(125);
	if ((err = cgroup_join_self(c, cj, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Bind sources the parent did not open are opened now, with the invoker's credentials: after
	 * set_ids the walk to them would be the sandbox user's. */
	if ((err = mounts_open_sources(c, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if (c->ns_flags & CLONE_NEWUSER) {
		if ((err = set_ids(c, what, sizeof what)) < 0 || (err = raise_effective(what, sizeof what)) < 0)
			child_fail(ctl, -err, what);
	}
	if (c->cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		child_fail(ctl, errno, "unshare cgroup namespace");
	if ((err = mounts_build_root(c, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if (c->hostname && (c->ns_flags & CLONE_NEWUTS) && sethostname(c->hostname, strlen(c->hostname)) < 0)
		child_fail(ctl, errno, "sethostname");
	if (c->loopback && (err = net_loopback_up(what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if ((err = set_rlimits(c, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if (c->new_session && setsid() < 0)
		child_fail(ctl, errno, "setsid");
	if (c->cwd && chdir(c->cwd) < 0) {
		snprintf(what, sizeof what, "working_dir %s", c->cwd);
		child_fail(ctl, errno, what);
	}
	if ((err = caps_drop(c, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(ctl, errno, "no_new_privs");
	/* The id and capability changes above cleared the parent-death signal: arm it again. A
	 * supervisor that died in between has closed its end of the control socket. */
	if (c->die_with_parent) {
		struct pollfd pf = { .fd = ctl, .events = POLLIN };

		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLHUP | POLLERR)))
			_exit(125);
	}

	/* Forward signals to the payload; a "terminate all" request signals the whole namespace. */
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = forward_to_payload;
	for (size_t i = 0; i < PL_ARRAY_LEN(forwarded); i++)
		sigaction(forwarded[i], &sa, NULL);
	sa.sa_handler = terminate_all;
	sigaction(PL_SIG_TERMINATE_ALL, &sa, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);

	if ((err = run_payload(c, ctl, mask)) < 0)
		child_fail(ctl, -err, "start command");

	for (;;) {
		pid_t p = waitpid(-1, &status, 0);

		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			_exit(125);
		if (p == payload_pid) {
			struct ctl_msg m = { .kind = CTL_EXITED, .err = status };

			(void)!write(ctl, &m, sizeof m);
			/* Returning from pid 1 kills every process left in the namespace. */
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		}
	}
}

/* ---------------------------------------------------------------- parent side */

/* Writes data to /proc/PID/FILE (/proc/self/FILE when pid <= 0): id maps, setgroups. 0 or -errno. */
int write_proc(pid_t pid, const char *file, const char *data)
{
	char path[64];
	int fd, r = 0;

	if (pid > 0)
		snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	else
		snprintf(path, sizeof path, "/proc/self/%s", file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, data, strlen(data)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* A NULL-terminated array of the strings in t[k]. The array stays on the Lua stack (and the strings in
 * the spec table) until spawn returns, which is as long as the child needs them. */
static const char **string_list(lua_State *L, int t, const char *k, size_t *n)
{
	const char **v;
	size_t len;
	int list;

	*n = 0;
	if (lua_getfield(L, t, k) == LUA_TNIL) {
		lua_pop(L, 1);
		return NULL;
	}
	if (!lua_istable(L, -1))
		luaL_error(L, "spawn spec: field '%s' must be a list of strings", k);
	list = lua_gettop(L);
	len = lua_rawlen(L, list);
	v = lua_newuserdatauv(L, (len + 1) * sizeof *v, 0);
	for (size_t i = 0; i < len; i++) {
		if (lua_rawgeti(L, list, (lua_Integer)i + 1) != LUA_TSTRING)
			luaL_error(L, "spawn spec: field '%s' must be a list of strings", k);
		v[i] = lua_tostring(L, -1);
		lua_pop(L, 1);
	}
	v[len] = NULL;
	*n = len;
	lua_remove(L, list); /* leaves the array userdata on the stack */
	return v;
}

static const struct {
	const char *name;
	int res;
} rlimit_names[] = {
	{ "as", RLIMIT_AS },       { "core", RLIMIT_CORE },     { "cpu", RLIMIT_CPU },
	{ "data", RLIMIT_DATA },   { "fsize", RLIMIT_FSIZE },   { "memlock", RLIMIT_MEMLOCK },
	{ "nofile", RLIMIT_NOFILE }, { "nproc", RLIMIT_NPROC }, { "stack", RLIMIT_STACK },
	{ "msgqueue", RLIMIT_MSGQUEUE }, { "sigpending", RLIMIT_SIGPENDING },
};

int rlimit_by_name(const char *name)
{
	for (size_t i = 0; i < PL_ARRAY_LEN(rlimit_names); i++)
		if (name && strcmp(name, rlimit_names[i].name) == 0)
			return rlimit_names[i].res;
	return -1;
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
		size_t i;
		int isnum;
		lua_Integer v;

		for (i = 0; i < PL_ARRAY_LEN(rlimit_names); i++)
			if (k && strcmp(k, rlimit_names[i].name) == 0)
				break;
		if (i == PL_ARRAY_LEN(rlimit_names))
			luaL_error(L, "rlimits: unknown limit '%s'", k ? k : "?");
		v = lua_tointegerx(L, -1, &isnum);
		if (!isnum || v < 0)
			luaL_error(L, "rlimits.%s must be a non-negative integer", k);
		if (c->nrlimits == MAX_RLIMITS)
			luaL_error(L, "rlimits: too many");
		c->rlimits[c->nrlimits].resource = rlimit_names[i].res;
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
	"landlock", "forward_signals", "session_fd", NULL,
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
	c->session_fd = (int)pl_field_int(L, t, "session_fd", -1);
}

static void sandbox_release(struct sandbox *s)
{
	net_perform_cancel(s);
	if (s->pidfd >= 0 && !s->reaped) {
		siginfo_t si;

		syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
		if (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED) == 0)
			s->reaped = 1;
	}
	if (s->pidfd >= 0)
		close(s->pidfd);
	if (s->ctl >= 0)
		close(s->ctl);
	if (s->listener >= 0)
		close(s->listener);
	if (s->sigfd >= 0) {
		close(s->sigfd);
		sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
	}
	s->pidfd = s->ctl = s->listener = s->sigfd = -1;
}

/* core.spawn(spec) -> sandbox | nil, "spawn ...: why", errno */
static int l_spawn(lua_State *L)
{
	struct spawn_cfg cfg;
	struct cgroup_join cj;
	struct clone_args ca = { .exit_signal = SIGCHLD };
	struct sandbox *s;
	int sv[2], err = 0, pidfd = -1;
	sigset_t block, oldmask;
	long pid;
	char what[1024] = "";

	luaL_checktype(L, 1, LUA_TTABLE);
	spec_parse(L, 1, &cfg);
	if (cfg.nmounts && mounts_privileged()) {
		int whole, r = mounts_open_binds(&cfg, what, sizeof what, &whole);

		if (r < 0 && whole) {
			luaL_pushfail(L);
			lua_pushstring(L, what);
			lua_pushinteger(L, -r);
			return 3;
		}
		/* Reported by the child, at the step where an unprivileged run reports it. */
		if (r < 0) {
			cfg.open_err = -r;
			snprintf(cfg.open_what, sizeof cfg.open_what, "%s", what);
		}
		cfg.binds_open = 1;
	}

	s = lua_newuserdatauv(L, sizeof *s, 0);
	memset(s, 0, sizeof *s);
	s->pidfd = s->ctl = s->sigfd = s->listener = -1;
	luaL_setmetatable(L, HANDLE_MT);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = errno;
		mounts_close_binds(&cfg);
		return pl_fail(L, err, "spawn socketpair");
	}

	/* Block the forwarded signals before clone: the child resets its mask after setup. */
	sigemptyset(&block);
	for (size_t i = 0; i < PL_ARRAY_LEN(forwarded); i++)
		sigaddset(&block, forwarded[i]);
	sigaddset(&block, PL_SIG_STOP);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &oldmask);

	cgroup_join_plan(&cfg, &cj);
	ca.flags = (unsigned long long)cfg.ns_flags | CLONE_PIDFD;
	ca.pidfd = (unsigned long long)(uintptr_t)&pidfd;
	if (cj.clone_fd >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (unsigned long long)cj.clone_fd;
	}
	pid = syscall(SYS_clone3, &ca, sizeof ca);
	if (pid < 0 && cj.clone_fd >= 0) {
		/* not joinable at clone: let the parent write it, which reports why precisely */
		cgroup_join_no_clone(&cfg, &cj);
		ca.flags &= ~(unsigned long long)CLONE_INTO_CGROUP;
		ca.cgroup = 0;
		pid = syscall(SYS_clone3, &ca, sizeof ca);
	}
	if (pid == 0) {
		sigset_t childmask = oldmask;

		close(sv[0]);
		sigdelset(&childmask, SIGCHLD);
		init_main(&cfg, &cj, sv[1], &childmask);
	}
	cgroup_join_close(&cj);
	close(sv[1]);
	mounts_close_binds(&cfg); /* the child has its copies */
	if (pid < 0) {
		err = errno;
		close(sv[0]);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		return pl_fail(L, err, "clone %s", pl_field_str(L, 1, "namespaces", ""));
	}
	s->pid = (pid_t)pid;
	s->pidfd = pidfd;
	s->ctl = sv[0];
	s->oldmask = oldmask;
	if (pl_field_bool(L, 1, "forward_signals", 1)) {
		sigset_t fw;

		sigemptyset(&fw);
		for (size_t i = 0; i < PL_ARRAY_LEN(forwarded); i++)
			sigaddset(&fw, forwarded[i]);
		sigaddset(&fw, PL_SIG_STOP);
		s->sigfd = signalfd(-1, &fw, SFD_CLOEXEC | SFD_NONBLOCK);
		if (s->sigfd < 0)
			err = errno, snprintf(what, sizeof what, "signalfd");
		/* keep the forwarded signals blocked; SIGCHLD goes back to what it was */
		sigset_t chld;
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		if (!sigismember(&oldmask, SIGCHLD))
			sigprocmask(SIG_UNBLOCK, &chld, NULL);
	} else {
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	}

	if (!err) {
		int r = cgroup_join_parent(&cfg, &cj, (pid_t)pid, what, sizeof what);

		err = -r;
	}
	if (!err && (cfg.ns_flags & CLONE_NEWUSER)) {
		int r = 0;

		if (cfg.deny_setgroups)
			r = write_proc(s->pid, "setgroups", "deny");
		if (!r && cfg.uid_map && (r = write_proc(s->pid, "uid_map", cfg.uid_map)) < 0)
			snprintf(what, sizeof what, "write uid_map '%s'", cfg.uid_map);
		else if (!r && cfg.gid_map && (r = write_proc(s->pid, "gid_map", cfg.gid_map)) < 0)
			snprintf(what, sizeof what, "write gid_map '%s'", cfg.gid_map);
		else if (r)
			snprintf(what, sizeof what, "write setgroups");
		err = -r;
	}
	if (!err && write(s->ctl, "g", 1) != 1)
		err = errno, snprintf(what, sizeof what, "release sandbox");
	if (err) {
		sandbox_release(s);
		return pl_fail(L, err, "%s", what);
	}
	return 1;
}

static struct sandbox *check_sandbox(lua_State *L)
{
	struct sandbox *s = luaL_checkudata(L, 1, HANDLE_MT);

	if (s->pidfd < 0 && !s->reaped)
		luaL_error(L, "attempt to use a closed sandbox");
	return s;
}

/* The seccomp listener of the sandbox handle at idx (-1 before init hands it over), for net_perform.c,
 * whose workers answer notifications on their own; the handle is their owner for cancellation. */
int sandbox_listener(lua_State *L, int idx, void **owner)
{
	struct sandbox *s = luaL_checkudata(L, idx, HANDLE_MT);

	*owner = s;
	return s->listener;
}

static int reap(struct sandbox *s)
{
	siginfo_t si = { 0 };

	if (s->reaped)
		return 1;
	if (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return 0;
	s->reaped = 1;
	s->status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8 : si.si_status & 0x7f;
	return 1;
}

/* Sets code, or signal and core_dumped, of a wait status in the table on top of the stack. */
void pl_push_wait_status(lua_State *L, int status)
{
	if (WIFEXITED(status)) {
		lua_pushinteger(L, WEXITSTATUS(status));
		lua_setfield(L, -2, "code");
	} else {
		lua_pushinteger(L, WTERMSIG(status));
		lua_setfield(L, -2, "signal");
		lua_pushboolean(L, WCOREDUMP(status));
		lua_setfield(L, -2, "core_dumped");
	}
}

/* Reads one control message from init, with an fd if one was passed. */
static int read_ctl(struct sandbox *s, struct ctl_msg *m, int *fd)
{
	struct iovec iov = { m, sizeof *m };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf };
	ssize_t n;

	*fd = -1;
	memset(m, 0, sizeof *m);
	n = recvmsg(s->ctl, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n <= 0)
		return (int)n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return (int)n;
}

static void event(lua_State *L, const char *name)
{
	lua_newtable(L);
	lua_pushstring(L, name);
	lua_setfield(L, -2, "event");
}

/* sandbox:poll([timeout_ms]) -> event table | nil on timeout.
 * Events: setup_error{what, errno, message}, exec_error{what, errno}, started, exit{code|signal},
 * signal{signal} (already forwarded), stop{sender_pid, sender_uid} (purple stop, not forwarded),
 * notify{id, pid, nr, arch, name, args} (a seccomp user notification: answer it with sandbox:respond). */
static int l_poll(lua_State *L)
{
	struct sandbox *s = check_sandbox(L);
	int timeout = (int)luaL_optinteger(L, 2, -1);
	struct pollfd p[4];
	int np = 0, r;

	for (;;) {
		np = 0;
		p[np++] = (struct pollfd){ .fd = s->ctl, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = s->reaped ? -1 : s->pidfd, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = s->sigfd, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = s->listener, .events = POLLIN };
		if (s->ctl < 0 && s->reaped) {
			event(L, "exit");
			pl_push_wait_status(L, s->status);
			return 1;
		}
		r = poll(p, (nfds_t)np, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return pl_fail(L, errno, "poll sandbox");
		if (r == 0) {
			luaL_pushfail(L);
			return 1;
		}
		if (p[3].revents & POLLIN) {
			int n = notify_recv(L, s->listener);

			if (n > 0)
				return 1;
			if (n < 0)
				return pl_fail(L, -n, "seccomp notification");
		} else if (p[3].revents & (POLLHUP | POLLERR)) {
			/* every process under the filter has exited */
			close(s->listener);
			s->listener = -1;
		}
		if (p[2].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if ((int)si.ssi_signo == PL_SIG_STOP) {
					event(L, "stop");
					lua_pushinteger(L, (lua_Integer)si.ssi_pid);
					lua_setfield(L, -2, "sender_pid");
					lua_pushinteger(L, (lua_Integer)si.ssi_uid);
					lua_setfield(L, -2, "sender_uid");
					return 1;
				}
				if (!s->reaped)
					syscall(SYS_pidfd_send_signal, s->pidfd, (int)si.ssi_signo, NULL, 0);
				event(L, "signal");
				lua_pushinteger(L, (lua_Integer)si.ssi_signo);
				lua_setfield(L, -2, "signal");
				return 1;
			}
		}
		if (p[0].revents) {
			struct ctl_msg m;
			int fd;
			int n = read_ctl(s, &m, &fd);

			if (n > 0) {
				switch (m.kind) {
				case CTL_SETUP_ERROR:
				case CTL_EXEC_ERROR:
					event(L, m.kind == CTL_SETUP_ERROR ? "setup_error" : "exec_error");
					m.what[sizeof m.what - 1] = 0;
					lua_pushstring(L, m.what);
					lua_setfield(L, -2, "what");
					lua_pushinteger(L, m.err);
					lua_setfield(L, -2, "errno");
					lua_pushfstring(L, "%s: %s", m.what, strerror(m.err));
					lua_setfield(L, -2, "message");
					return 1;
				case CTL_STARTED:
					s->started = 1;
					if (fd >= 0)
						s->listener = fd;
					event(L, "started");
					return 1;
				case CTL_EXITED:
					event(L, "exit");
					pl_push_wait_status(L, m.err);
					/* init exits right after; reap it so nothing is left */
					while (!reap(s)) {
						struct pollfd w = { .fd = s->pidfd, .events = POLLIN };
						poll(&w, 1, -1);
					}
					close(s->ctl);
					s->ctl = -1;
					return 1;
				default:
					break;
				}
			} else if (n == 0 || (n < 0 && errno != EAGAIN)) {
				/* init is gone without a report: killed, or died in setup */
				close(s->ctl);
				s->ctl = -1;
			}
		}
		if (s->ctl < 0) {
			/* init is gone: its exit is imminent once the control socket closed */
			if (!reap(s)) {
				struct pollfd w = { .fd = s->pidfd, .events = POLLIN };
				poll(&w, 1, -1);
				continue;
			}
			event(L, "exit");
			pl_push_wait_status(L, s->status);
			lua_pushboolean(L, 1);
			lua_setfield(L, -2, "init");
			return 1;
		}
	}
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

/* sandbox:kill(sig): sends sig to init, which forwards it to the command. */
static int l_kill(lua_State *L)
{
	struct sandbox *s = check_sandbox(L);
	int sig = (int)luaL_checkinteger(L, 2);

	if (s->reaped)
		return pl_fail(L, ESRCH, "kill sandbox %d", (int)s->pid);
	if (syscall(SYS_pidfd_send_signal, s->pidfd, sig, NULL, 0) < 0)
		return pl_fail(L, errno, "kill sandbox %d", (int)s->pid);
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
		{ "poll", l_poll }, { "respond", l_respond }, { "notify_valid", l_notify_valid },
		{ "kill", l_kill }, { "terminate", l_terminate }, { "close", l_close },
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

/* Raise the effective set to the permitted one after the uid change (needs the capability API). */
#include <sys/capability.h>
static int raise_effective(char *what, size_t n)
{
	cap_t caps = cap_get_proc();
	int r = 0;

	if (!caps) {
		snprintf(what, n, "cap_get_proc");
		return -errno;
	}
	for (cap_value_t i = 0; i < (cap_value_t)cap_max_bits(); i++) {
		cap_flag_value_t v;

		if (cap_get_flag(caps, i, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
			cap_set_flag(caps, CAP_EFFECTIVE, 1, &i, CAP_SET);
	}
	if (cap_set_proc(caps) < 0) {
		r = -errno;
		snprintf(what, n, "raise capabilities after set ids");
	}
	cap_free(caps);
	return r;
}
