/* spawn: one struct spawn_cfg in, a sandboxed process out, its events (struct sandbox_event) back.
 *
 * Processes:   supervisor (the Lua caller)
 *                └─ init    pid 1 of the new pid namespace: builds the sandbox, then reaps
 *                     └─ payload  installs seccomp last and execs the command
 *
 * In a pid namespace that already exists (an OCI container joining another's by path, or purple-oci
 * exec) init is not its pid 1: it becomes a child subreaper, so the orphans of its payload stay its to
 * reap; the payload gets SIGKILL as its parent-death signal, so killing init ends the command as it
 * does in a namespace of its own; and "terminate all" signals init's process group, never kill(-1),
 * which would reach every process of the shared namespace. Whatever outlives init there (a process that
 * left the group and survived) is ended by its cgroup (purple-oci delete, kill --all).
 *
 * Parent: open the bind sources when root (mounts.c) → clone with the namespace flags (into the v2
 *         cgroup) → join the other cgroups → uid/gid maps → release the child.
 * Init:   hide purple's command line → join its v1 cgroups itself (cgroup_join.c) → private mounts and
 *         the bind sources the parent did not open → ids → new root → (OCI: the state JSON from the
 *         supervisor, which ran createRuntime and prestart hooks; createContainer hooks) → pivot_root →
 *         hostname → loopback → rlimits → setsid → drop capabilities → no_new_privs → (OCI: ready,
 *         wait for start, startContainer hooks under the process's Landlock and seccomp) →
 *         fork the payload (vfork, shared fd table) → report (step, errno) or "started" to the
 *         supervisor → unmap the supervisor's heap it inherited (inherited_heap.h) → reap until the
 *         payload exits.
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
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "spawn.h"
#include "caps.h"
#include "cgroup_join.h"
#include "control.h"
#include "net_perform.h"
#include "ns_enter.h"
#include "notify.h"
#include "process.h"
#include "fdpass.h"
#include "inherited_heap.h"
#include "payload.h"
#include "session_agent.h"

/* Signals the supervisor forwards to the command. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

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

/* Is init pid 1 of its pid namespace (see the top of the file)? Its pid there. */
static int init_is_pid1;
static pid_t init_self;

static void terminate_all(int sig)
{
	(void)sig;
	if (init_is_pid1)
		kill(-1, SIGTERM); /* from pid 1: every other process of the namespace */
	else
		kill(0, SIGTERM); /* init's process group (init forwards its own SIGTERM to the payload) */
}

static void child_report(int ctl, int kind, int err, const char *what, int passfd)
{
	struct ctl_msg m = { .kind = kind, .err = err };

	if (what)
		snprintf(m.what, sizeof m.what, "%s", what);
	(void)fdpass_send(ctl, &m, sizeof m, &passfd, passfd >= 0);
}

/* OCI start with startContainer hooks: where `start` reads why the process will not run (spawn_cfg
 * start_result_fd), once init has taken its byte; -1 otherwise. */
static int start_result = -1;

static void start_report(const char *line)
{
	if (start_result < 0)
		return;
	(void)!write(start_result, line, strlen(line));
	close(start_result);
	start_result = -1;
}

/* err 0: what is the whole message */
static _Noreturn void child_fail(int ctl, int err, const char *what)
{
	char line[320];

	child_report(ctl, CTL_SETUP_ERROR, err, what, -1);
	if (err)
		snprintf(line, sizeof line, "%s: %s", what, strerror(err));
	else
		snprintf(line, sizeof line, "%s", what);
	start_report(line);
	_exit(125);
}

static void reset_signals(const sigset_t *mask)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };

	for (int s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL); /* fails harmlessly for SIGKILL, SIGSTOP and reserved ones */
	sigprocmask(SIG_SETMASK, mask, NULL);
}

static void exec_in_path(const struct spawn_cfg *c, struct payload_result *r)
{
	r->err = spawn_exec_path(c->path, (char *const *)c->argv, (char *const *)c->envp);
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
	/* before the filter: a policy need not allow prctl; an init killed before it was set is not the
	 * parent any more */
	if (!init_is_pid1 && (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != init_self))
		_exit(125);
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

	if (c->session_fd > 0)
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
	if (c->set_groups ? setgroups(c->ngroups, c->groups) < 0 : c->clear_groups && setgroups(0, NULL) < 0) {
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

/* The container's terminal, opened in its own /dev/pts (so ttyname works inside): the slave becomes
 * stdin, stdout and stderr, the master goes to the supervisor. 0 or -errno with what. */
static int open_pty(const struct spawn_cfg *c, int ctl, char *what, size_t n)
{
	char name[64];
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), s, err;

	if (m < 0) {
		snprintf(what, n, "open /dev/ptmx");
		return -errno;
	}
	if (unlockpt(m) < 0 || ptsname_r(m, name, sizeof name) != 0 ||
	    (s = open(name, O_RDWR | O_NOCTTY)) < 0) {
		err = errno;
		close(m);
		snprintf(what, n, "open the pty's slave");
		return -err;
	}
	if (c->pty_rows && c->pty_cols) {
		struct winsize ws = { .ws_row = c->pty_rows, .ws_col = c->pty_cols };

		(void)ioctl(s, TIOCSWINSZ, &ws);
	}
	for (int i = 0; i < 3; i++)
		if (dup2(s, i) < 0) {
			err = errno;
			close(m);
			snprintf(what, n, "dup2 pty");
			return -err;
		}
	if (s > 2)
		close(s);
	child_report(ctl, CTL_PTY, 0, NULL, m);
	close(m);
	return 0;
}

/* exec: the supervisor joined the container's user namespace itself (ns_enter_pid); the child,
 * cloned in it, then only changes its ids there. */
static int parent_joined_user;

/* The container's state JSON for its createContainer and startContainer hooks (hooks_sync), in the
 * heap init inherited (dropped only once the process runs). */
static char *hook_state;
static size_t hook_state_len;

/* hooks_sync: reports CTL_HOOKS and waits for the state JSON (sandbox_resume); EOF: the supervisor
 * gave up (a createRuntime or prestart hook failed) and kills init. */
static void await_hook_state(int ctl)
{
	ssize_t len;

	child_report(ctl, CTL_HOOKS, 0, NULL, -1);
	while ((len = recv(ctl, NULL, 0, MSG_PEEK | MSG_TRUNC)) < 0 && errno == EINTR)
		;
	if (len <= 0)
		_exit(125);
	if (!(hook_state = malloc((size_t)len + 1)))
		child_fail(ctl, ENOMEM, "the container's state for its hooks");
	if ((len = recv(ctl, hook_state, (size_t)len, 0)) <= 0)
		_exit(125);
	hook_state[len] = 0;
	hook_state_len = (size_t)len;
}

/* In a user namespace init has the process's uid by now; the hooks run as its root instead. */
static int hooks_as_root(const struct spawn_cfg *c)
{
	return (c->ns_flags & CLONE_NEWUSER) && getuid() != 0;
}

/* OCI create/start: everything is set up; reports ready and waits for `start`'s byte. Signals but
 * SIGKILL stay blocked (pending) until then. */
static void await_start(const struct spawn_cfg *c, int ctl)
{
	char b;
	ssize_t r;

	child_report(ctl, CTL_READY, 0, NULL, -1);
	while ((r = read(c->start_fd, &b, 1)) < 0 && errno == EINTR)
		;
	if (r != 1)
		_exit(125);
	close(c->start_fd);
	if (c->start_result_fd > 0)
		start_result = c->start_result_fd;
}

static _Noreturn void init_main(struct spawn_cfg *c, const struct cgroup_join *cj, int ctl, const sigset_t *mask)
{
	char what[256] = "";
	char go;
	int err, status, joined_user = parent_joined_user, rootfd;
	struct sigaction sa = { 0 };

	if (c->die_with_parent)
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	init_self = getpid();
	init_is_pid1 = init_self == 1;
	if (!init_is_pid1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		child_fail(ctl, errno, "become the container's subreaper");
	/* /proc/1/cmdline and environ inside the sandbox must not show purple's host command line */
	inherited_heap_retitle("purple-init");
	/* Wait for the parent: cgroups joined and id maps written. EOF means it died. */
	if (read(ctl, &go, 1) != 1)
		_exit(125);
	if ((err = cgroup_join_self(c, cj, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if (c->join_pid > 0) {
		int user = 0;

		if ((err = ns_enter_rest(c->join_pid, &user, what, sizeof what)) < 0)
			child_fail(ctl, -err, what);
		joined_user |= user;
		if (!c->cwd && chdir("/") < 0)
			child_fail(ctl, errno, "chdir /");
	}
	/* While /proc/self still belongs to this process's user (not once it is non-dumpable). */
	if ((err = container_oom_score(c, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Bind sources the parent did not open are opened now, with the invoker's credentials: after
	 * set_ids the walk to them would be the sandbox user's. */
	if ((err = mounts_open_sources(c, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if ((c->ns_flags & CLONE_NEWUSER) || joined_user) {
		if ((err = set_ids(c, what, sizeof what)) < 0 || (err = caps_raise_effective(what, sizeof what)) < 0)
			child_fail(ctl, -err, what);
	}
	if (c->cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		child_fail(ctl, errno, "unshare cgroup namespace");
	if ((err = container_sysctls(c, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if ((err = mounts_build_root(c, &rootfd, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	/* OCI: purple-oci runs createRuntime and prestart now (before pivot_root, as the runtime-spec
	 * says) and sends the state JSON; createContainer hooks then run here, in the container's
	 * namespaces and cgroup with purple-oci's files still at their paths. */
	if (c->hooks_sync) {
		await_hook_state(ctl);
		/* their working directory is the container's root, as under runc */
		if (rootfd >= 0 && fchdir(rootfd) < 0)
			child_fail(ctl, errno, "chdir to the container's root");
		if (oci_hooks_run("createContainer", &c->create_hooks, hook_state, hook_state_len, hooks_as_root(c), NULL,
				  what, sizeof what) < 0)
			child_fail(ctl, 0, what);
	}
	if ((err = mounts_enter_root(c, rootfd, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	/* keys of the caller's session keyring must not be the container's */
	if (c->new_keyring && syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
		child_fail(ctl, errno, "join a new session keyring");
	if (c->pty && (err = open_pty(c, ctl, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if (c->hostname && (c->ns_flags & CLONE_NEWUTS) && sethostname(c->hostname, strlen(c->hostname)) < 0)
		child_fail(ctl, errno, "sethostname");
	if (c->loopback && (err = net_loopback_up(what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if (c->egress_ports[0]) {
		int fds[2];
		struct ctl_msg m = { .kind = CTL_EGRESS };

		if ((err = net_egress_listen(c->egress_ports, fds, what, sizeof what)) < 0)
			child_fail(ctl, -err, what);
		if ((err = (int)fdpass_send(ctl, &m, sizeof m, fds, 2)) < 0)
			child_fail(ctl, -err, "hand over the egress listeners");
		close(fds[0]);
		close(fds[1]);
	}
	if ((err = set_rlimits(c, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if (c->new_session && setsid() < 0)
		child_fail(ctl, errno, "setsid");
	if (c->pty && ioctl(0, TIOCSCTTY, 0) < 0)
		child_fail(ctl, errno, "make the pty the controlling terminal");
	if (c->cwd && chdir(c->cwd) < 0) {
		snprintf(what, sizeof what, "working_dir %s", c->cwd);
		child_fail(ctl, errno, what);
	}
	/* Without a user namespace (a container run by root) the ids change here, after the mounts. */
	if (!(c->ns_flags & CLONE_NEWUSER) && !joined_user && c->set_ids &&
	    ((err = set_ids(c, what, sizeof what)) < 0 || (err = caps_raise_effective(what, sizeof what)) < 0))
		child_fail(ctl, -err, what);
	if ((err = c->cap_sets ? caps_apply_sets(c, what, sizeof what) : caps_drop(c, what, sizeof what)) < 0)
		child_fail(ctl, -err, what);
	if (c->set_umask)
		umask((mode_t)c->umask);
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

	/* OCI create/start: the command starts when `start` writes a byte; its startContainer hooks
	 * first, with the process's ids, capabilities and no_new_privs (init has them now) and its
	 * Landlock domain and seccomp filter (each hook takes them): a hook's file comes from the image. */
	if (c->start_fd > 0) {
		await_start(c, ctl);
		if (c->start_hooks.n && oci_hooks_run("startContainer", &c->start_hooks, hook_state, hook_state_len, 0, c,
						      what, sizeof what) < 0)
			child_fail(ctl, 0, what);
	}
	start_report("0");

	/* Forward signals to the payload; a "terminate all" request signals the whole namespace. */
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = forward_to_payload;
	for (size_t i = 0; i < PL_ARRAY_LEN(forwarded); i++)
		sigaction(forwarded[i], &sa, NULL);
	sa.sa_handler = terminate_all;
	sigaction(PL_SIG_TERMINATE_ALL, &sa, NULL);
	/* An OCI container has no supervisor: `purple stop ID` reaches its init, which ends it so. */
	if (c->start_fd > 0)
		sigaction(PL_SIG_STOP, &sa, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);

	if ((err = run_payload(c, ctl, mask)) < 0)
		child_fail(ctl, -err, "start command");
	/* from here init only reaps: the supervisor's heap it inherited can go (no malloc after) */
	inherited_heap_drop(0);

	for (;;) {
		pid_t p = waitpid(-1, &status, 0);

		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			_exit(125);
		if (p == payload_pid) {
			struct ctl_msg m = { .kind = CTL_EXITED, .err = status };

			(void)!write(ctl, &m, sizeof m);
			/* Returning from pid 1 kills every process left in the namespace (not pid 1: see the top). */
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		}
	}
}

/* ---------------------------------------------------------------- parent side */

/* Signals blocked before clone: the forwarded ones, purple stop's and SIGCHLD. */
static void forwarded_set(sigset_t *set, int chld)
{
	sigemptyset(set);
	for (size_t i = 0; i < PL_ARRAY_LEN(forwarded); i++)
		sigaddset(set, forwarded[i]);
	sigaddset(set, PL_SIG_STOP);
	if (chld)
		sigaddset(set, SIGCHLD);
}

void sandbox_release(struct sandbox *s)
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
	for (int i = 0; i < 2; i++)
		if (s->egress_fd[i] >= 0)
			close(s->egress_fd[i]);
	s->egress_fd[0] = s->egress_fd[1] = -1;
	if (s->sigfd >= 0) {
		close(s->sigfd);
		sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
	}
	s->pidfd = s->ctl = s->listener = s->sigfd = -1;
}

int sandbox_start(struct sandbox *s, struct spawn_cfg *cfg, int forward_signals, char *what, size_t wn, int *whole)
{
	struct cgroup_join cj;
	struct clone_args ca = { .exit_signal = SIGCHLD };
	int sv[2], err = 0, pidfd = -1, saved_ns[MAX_JOINS], unjoin, clone_err, saved_pidns = -1, jwhole = 0;
	sigset_t block, oldmask;
	long pid;

	memset(s, 0, sizeof *s);
	s->pidfd = s->ctl = s->sigfd = s->listener = s->watch_fd = -1;
	s->egress_fd[0] = s->egress_fd[1] = -1;
	*whole = 0;
	if ((cfg->nmounts || cfg->root) && mounts_privileged()) {
		int r = mounts_open_binds(cfg, what, wn, whole);

		if (r < 0 && *whole)
			return r;
		/* Reported by the child, at the step where an unprivileged run reports it. */
		if (r < 0) {
			cfg->open_err = -r;
			snprintf(cfg->open_what, sizeof cfg->open_what, "%s", what);
		}
		cfg->binds_open = 1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = errno;
		mounts_close_binds(cfg);
		snprintf(what, wn, "spawn socketpair");
		return -err;
	}

	/* Block the forwarded signals before clone: the child resets its mask after setup. */
	forwarded_set(&block, 1);
	sigprocmask(SIG_BLOCK, &block, &oldmask);

	if ((err = container_join(cfg, saved_ns, what, wn, &jwhole)) < 0 ||
	    (cfg->join_pid > 0 && (err = ns_enter_pid(cfg->join_pid, &saved_pidns, &parent_joined_user, what, wn)) < 0)) {
		if (cfg->join_pid > 0) /* the joins are undone when the pid namespace could not be entered */
			container_unjoin(cfg, saved_ns, what, wn);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		close(sv[0]);
		close(sv[1]);
		mounts_close_binds(cfg);
		*whole = jwhole;
		return err;
	}
	cgroup_join_plan(cfg, &cj);
	ca.flags = (unsigned long long)cfg->ns_flags | CLONE_PIDFD;
	ca.pidfd = (unsigned long long)(uintptr_t)&pidfd;
	if (cj.clone_fd >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (unsigned long long)cj.clone_fd;
	}
	pid = syscall(SYS_clone3, &ca, sizeof ca);
	if (pid < 0 && cj.clone_fd >= 0) {
		/* not joinable at clone: let the parent write it, which reports why precisely */
		cgroup_join_no_clone(cfg, &cj);
		ca.flags &= ~(unsigned long long)CLONE_INTO_CGROUP;
		ca.cgroup = 0;
		pid = syscall(SYS_clone3, &ca, sizeof ca);
	}
	if (pid == 0) {
		sigset_t childmask = oldmask;

		close(sv[0]);
		sigdelset(&childmask, SIGCHLD);
		init_main(cfg, &cj, sv[1], &childmask);
	}
	clone_err = errno;
	cgroup_join_close(&cj);
	unjoin = container_unjoin(cfg, saved_ns, what, wn); /* else this thread stays in the container's */
	if (saved_pidns >= 0) { /* exec: this process's own pid namespace for its later children */
		int r = ns_leave_pid(saved_pidns, what, wn);

		if (r < 0 && unjoin == 0)
			unjoin = r;
	}
	close(sv[1]);
	mounts_close_binds(cfg); /* the child has its copies */
	if (pid < 0) {
		err = clone_err;
		close(sv[0]);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		if (unjoin < 0)
			return unjoin;
		snprintf(what, wn, "clone %s", cfg->ns_names ? cfg->ns_names : "");
		/* the kernel allocates no pid in a pid namespace whose init has exited */
		for (size_t i = 0; i < cfg->njoins && err == ENOMEM; i++)
			if (cfg->joins[i].type == CLONE_NEWPID) {
				snprintf(what, wn, "config.json: %s: the pid namespace %s has no init any more (its first "
					 "process exited): nothing can start in it", cfg->joins[i].field ? cfg->joins[i].field
					 : "joins", cfg->joins[i].path);
				*whole = 1;
			}
		return -err;
	}
	s->pid = (pid_t)pid;
	s->pidfd = pidfd;
	s->ctl = sv[0];
	s->oldmask = oldmask;
	err = -unjoin;
	if (forward_signals) {
		sigset_t fw, chld;

		forwarded_set(&fw, 0);
		s->sigfd = signalfd(-1, &fw, SFD_CLOEXEC | SFD_NONBLOCK);
		if (s->sigfd < 0)
			err = errno, snprintf(what, wn, "signalfd");
		/* keep the forwarded signals blocked; SIGCHLD goes back to what it was */
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		if (!sigismember(&oldmask, SIGCHLD))
			sigprocmask(SIG_UNBLOCK, &chld, NULL);
	} else {
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	}

	if (!err)
		err = -cgroup_join_parent(cfg, &cj, (pid_t)pid, what, wn);
	if (!err && (cfg->ns_flags & CLONE_NEWUSER)) {
		int r = 0;

		if (cfg->deny_setgroups)
			r = write_proc(s->pid, "setgroups", "deny");
		if (!r && cfg->uid_map && (r = write_proc(s->pid, "uid_map", cfg->uid_map)) < 0)
			snprintf(what, wn, "write uid_map '%s'", cfg->uid_map);
		else if (!r && cfg->gid_map && (r = write_proc(s->pid, "gid_map", cfg->gid_map)) < 0)
			snprintf(what, wn, "write gid_map '%s'", cfg->gid_map);
		else if (r)
			snprintf(what, wn, "write setgroups");
		err = -r;
	}
	if (!err && write(s->ctl, "g", 1) != 1)
		err = errno, snprintf(what, wn, "release sandbox");
	if (err) {
		sandbox_release(s);
		return -err;
	}
	return 0;
}

void sandbox_detach(struct sandbox *s)
{
	s->reaped = 1; /* not ours to reap any more */
	sandbox_release(s);
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

/* Reads one control message from init, with the fds passed along (-1 when none): as recvmsg. */
static int read_ctl(struct sandbox *s, struct ctl_msg *m, int fd[2])
{
	ssize_t n;

	memset(m, 0, sizeof *m);
	n = fdpass_recv(s->ctl, m, sizeof *m, fd, 2, MSG_DONTWAIT);
	if (n < 0) {
		errno = (int)-n;
		return -1;
	}
	return (int)n;
}

static int exit_event(struct sandbox *s, struct sandbox_event *ev, int init)
{
	ev->kind = SB_EXIT;
	ev->status = s->status;
	ev->init = init;
	return 1;
}

int sandbox_poll(struct sandbox *s, int timeout, struct sandbox_event *ev)
{
	struct pollfd p[5];
	int np = 0, r;

	memset(ev, 0, sizeof *ev);
	for (;;) {
		np = 0;
		p[np++] = (struct pollfd){ .fd = s->ctl, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = s->reaped ? -1 : s->pidfd, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = s->sigfd, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = s->listener, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = s->watch_fd, .events = POLLIN };
		if (s->ctl < 0 && s->reaped)
			return exit_event(s, ev, 0);
		r = poll(p, (nfds_t)np, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(ev->what, sizeof ev->what, "poll sandbox");
			return -errno;
		}
		if (r == 0)
			return 0;
		if (p[4].revents) {
			ev->kind = SB_WATCH;
			return 1;
		}
		if (p[3].revents & POLLIN) {
			int n = notify_receive(s->listener, &ev->notify);

			if (n > 0) {
				ev->kind = SB_NOTIFY;
				return 1;
			}
			if (n < 0) {
				snprintf(ev->what, sizeof ev->what, "seccomp notification");
				return n;
			}
		} else if (p[3].revents & (POLLHUP | POLLERR)) {
			/* every process under the filter has exited */
			close(s->listener);
			s->listener = -1;
		}
		if (p[2].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if ((int)si.ssi_signo == PL_SIG_STOP) {
					ev->kind = SB_STOP;
					ev->sender_pid = (pid_t)si.ssi_pid;
					ev->sender_uid = (uid_t)si.ssi_uid;
					return 1;
				}
				if (!s->reaped)
					syscall(SYS_pidfd_send_signal, s->pidfd, (int)si.ssi_signo, NULL, 0);
				ev->kind = SB_SIGNAL;
				ev->signal = (int)si.ssi_signo;
				return 1;
			}
		}
		if (p[0].revents) {
			struct ctl_msg m;
			int fd[2];
			int n = read_ctl(s, &m, fd);

			if (n > 0) {
				switch (m.kind) {
				case CTL_SETUP_ERROR:
				case CTL_EXEC_ERROR:
					ev->kind = m.kind == CTL_SETUP_ERROR ? SB_SETUP_ERROR : SB_EXEC_ERROR;
					m.what[sizeof m.what - 1] = 0;
					snprintf(ev->what, sizeof ev->what, "%s", m.what);
					ev->err = m.err;
					return 1;
				case CTL_STARTED:
					s->started = 1;
					if (fd[0] >= 0)
						s->listener = fd[0];
					ev->kind = SB_STARTED;
					return 1;
				case CTL_READY:
					ev->kind = SB_READY;
					return 1;
				case CTL_PTY:
					ev->kind = SB_PTY;
					ev->fd = fd[0];
					return 1;
				case CTL_HOOKS:
					ev->kind = SB_HOOKS;
					return 1;
				case CTL_EXITED:
					ev->kind = SB_EXIT;
					ev->status = m.err;
					/* init exits right after; reap it so nothing is left */
					while (!reap(s)) {
						struct pollfd w = { .fd = s->pidfd, .events = POLLIN };
						poll(&w, 1, -1);
					}
					close(s->ctl);
					s->ctl = -1;
					return 1;
				case CTL_EGRESS:
					for (int i = 0; i < 2; i++) {
						if (s->egress_fd[i] >= 0)
							close(s->egress_fd[i]);
						s->egress_fd[i] = fd[i];
					}
					break;
				default:
					for (int i = 0; i < 2; i++)
						if (fd[i] >= 0)
							close(fd[i]);
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
			return exit_event(s, ev, 1);
		}
	}
}

void sandbox_watch(struct sandbox *s, int fd)
{
	s->watch_fd = fd;
}

int sandbox_resume(struct sandbox *s, const char *state, size_t len)
{
	if (s->ctl < 0)
		return -EPIPE;
	if (len == 0)
		return -EINVAL;
	return send(s->ctl, state, len, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int sandbox_kill(struct sandbox *s, int sig)
{
	if (s->reaped)
		return -ESRCH;
	return syscall(SYS_pidfd_send_signal, s->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}
