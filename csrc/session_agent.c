/* The session agent (session_agent.h). It runs inside the sandbox under the policy's seccomp
 * filter and Landlock domain, so it makes only ordinary calls (read, sendmsg, clone without
 * namespace flags, setpgid/setsid, dup2, chdir, execve, wait4, kill, signalfd, mmap, munmap, and
 * clock_gettime where the vDSO cannot answer) and no
 * malloc: it is a copy of init, itself a copy of a supervisor that may have had threads. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "spawn.h"
#include "fdpass.h"
#include "inherited_heap.h"
#include "payload.h"
#include "session_agent.h"
#include "session_proto.h"

#define MAX_COMMANDS 1024

struct agent_ready {
	int err;
	char what[96];
};

struct command {
	pid_t pid; /* 0 = free slot */
	uint32_t id;
	uint64_t start_us; /* CLOCK_MONOTONIC before the fork: the usage's wall time */
};

static struct command commands[MAX_COMMANDS];
static int running;

/* What the agent uses of the session's cfg for every command, PATH and the environment, copied out
 * of the supervisor's heap it inherited, which it then unmaps (inherited_heap.h). */
static struct spawn_cfg kept;

static int keep_cfg(const struct spawn_cfg *c)
{
	size_t n = 0, bytes = c->path ? strlen(c->path) + 1 : 0;
	char **v, *s;
	void *mem;

	for (const char *const *e = c->envp; e && *e; e++, n++)
		bytes += strlen(*e) + 1;
	mem = mmap(NULL, (n + 1) * sizeof(char *) + bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	v = mem;
	s = (char *)(v + n + 1);
	for (size_t i = 0; i < n; i++) {
		v[i] = s;
		s = stpcpy(s, c->envp[i]) + 1;
	}
	v[n] = NULL;
	kept.envp = (const char *const *)v;
	kept.path = c->path ? strcpy(s, c->path) : NULL;
	return 0;
}

static uint64_t mono_us(void)
{
	struct timespec ts = { 0, 0 }; /* a policy may deny the syscall where the vDSO cannot answer */

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t tv_us(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static pid_t raw_fork(void)
{
	/* no atfork handlers, no malloc locks (see the file comment) */
	return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

static int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void send_status(int ctl, uint32_t id, uint32_t kind, int32_t value, const struct session_usage *u)
{
	struct {
		struct session_hdr h;
		struct session_status s;
	} m = { { SESSION_MAGIC, SESSION_STATUS, sizeof(struct session_status), id }, { kind, value, { 0 } } };

	if (u)
		m.s.usage = *u;

	while (send(ctl, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* Closes every fd from 3 up except keep1 and keep2. */
static void close_others(int keep1, int keep2)
{
	int a = keep1 < keep2 ? keep1 : keep2, b = keep1 < keep2 ? keep2 : keep1;

	if (a > 3)
		syscall(SYS_close_range, 3, a - 1, 0);
	if (b > a + 1)
		syscall(SYS_close_range, a + 1, b - 1, 0);
	syscall(SYS_close_range, b + 1, ~0U, 0);
}

/* The environment of a command: the session's (the policy's) with the request's K=V over it. */
static size_t merge_env(const struct spawn_cfg *c, char **req, uint32_t n, char **out)
{
	size_t k = 0;

	for (const char *const *e = c->envp; *e; e++) {
		size_t klen = strcspn(*e, "=");
		int over = 0;

		for (uint32_t i = 0; i < n && !over; i++)
			over = strncmp(req[i], *e, klen + 1) == 0;
		if (!over)
			out[k++] = (char *)*e;
	}
	for (uint32_t i = 0; i < n; i++)
		out[k++] = req[i];
	out[k] = NULL;
	return k;
}

struct command_arg {
	const struct spawn_cfg *c;
	const sigset_t *mask;
	int tty;
	const int *fds;
	const char *cwd;
	char **argv, **envp;
	struct session_status st; /* written by the child when it fails, in the agent's memory */
};

/* The command's process until execve. It shares the agent's memory (CLONE_VM | CLONE_VFORK, as
 * posix_spawn does: no copy of the agent's address space, a copy of the supervisor's) and the
 * agent waits until it has exec'd or failed, so a failure lands in a->st without a pipe. */
static int command_main(void *p)
{
	struct command_arg *a = p;

	if (a->tty ? setsid() < 0 : setpgid(0, 0) < 0)
		goto refused;
	for (int i = 0; i < 3; i++)
		if (dup2(a->fds[i], i) < 0)
			goto refused;
	if (a->tty)
		(void)ioctl(0, TIOCSCTTY, 0);
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	sigprocmask(SIG_SETMASK, a->mask, NULL);
	if (*a->cwd && chdir(a->cwd) < 0) {
		a->st = (struct session_status){ .kind = SESSION_ST_CWD_ERROR, .value = errno };
		_exit(125);
	}
	a->st.value = spawn_exec_path(a->c->path, a->argv, a->envp);
	a->st.kind = SESSION_ST_EXEC_ERROR;
	_exit(a->st.value == ENOENT ? 127 : 126);
refused:
	a->st = (struct session_status){ .kind = SESSION_ST_REFUSED, .value = errno };
	_exit(125);
}

/* One SESSION_EXEC request: payload p of len bytes (checked by the supervisor, checked again). */
static void start_command(const struct spawn_cfg *c, const sigset_t *mask, int ctl, uint32_t id, char *p,
			  size_t len, int fds[3])
{
	struct session_exec ex;
	size_t nbase = 0, need, off;
	char **vec, *cwd;
	void *mem;
	int slot = -1;
	pid_t pid;
	struct session_status st;
	uint64_t t0;

	if (session_exec_header(p, len, &ex) < 0) {
		send_status(ctl, id, SESSION_ST_REFUSED, EINVAL, NULL);
		return;
	}
	for (int i = 0; i < MAX_COMMANDS && slot < 0; i++)
		if (!commands[i].pid)
			slot = i;
	if (slot < 0) {
		send_status(ctl, id, SESSION_ST_REFUSED, EAGAIN, NULL);
		return;
	}
	for (const char *const *e = c->envp; *e; e++)
		nbase++;
	need = (ex.argc + 1 + nbase + ex.envc + 1 + ex.envc) * sizeof(char *);
	mem = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		send_status(ctl, id, SESSION_ST_REFUSED, errno, NULL);
		return;
	}
	vec = mem;
	/* strings: cwd, argv..., env... (each NUL-terminated within the payload) */
	off = sizeof ex;
	cwd = p + off;
	for (size_t i = 0; i < 1 + (size_t)ex.argc + ex.envc; i++) {
		const char *cs;
		char *s;

		if (session_exec_next(p, len, &off, &cs) < 0) {
			munmap(mem, need);
			send_status(ctl, id, SESSION_ST_REFUSED, EINVAL, NULL);
			return;
		}
		s = p + (cs - p); /* the payload is the agent's own writable copy */
		if (i >= 1 && i <= ex.argc)
			vec[i - 1] = s;
		else if (i > ex.argc)
			vec[ex.argc + 1 + nbase + ex.envc + 1 + (i - 1 - ex.argc)] = s; /* request env, scratch */
	}
	vec[ex.argc] = NULL;
	merge_env(c, vec + ex.argc + 1 + nbase + ex.envc + 1, ex.envc, vec + ex.argc + 1);
	{
		static char stack[64 * 1024] __attribute__((aligned(16)));
		struct command_arg arg = { c, mask, (ex.flags & SESSION_EXEC_TTY) != 0, fds, cwd, vec,
					   vec + ex.argc + 1, { 0, 0, { 0, 0, 0, 0 } } };

		t0 = mono_us();
		pid = clone(command_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &arg);
		st = arg.st;
	}
	munmap(mem, need);
	if (pid < 0) {
		send_status(ctl, id, SESSION_ST_REFUSED, errno, NULL);
		return;
	}
	commands[slot] = (struct command){ pid, id, t0 };
	running++;
	if (st.kind) {
		/* not started: report why now; its exit is reaped without a second report */
		send_status(ctl, id, st.kind, st.value, NULL);
		commands[slot].id = 0;
	}
}

static void reap(int ctl)
{
	struct rusage ru;
	int status;
	pid_t p;

	while ((p = wait4(-1, &status, WNOHANG, &ru)) > 0)
		for (int i = 0; i < MAX_COMMANDS; i++)
			if (commands[i].pid == p) {
				struct session_usage u = { mono_us() - commands[i].start_us, tv_us(ru.ru_utime),
							   tv_us(ru.ru_stime), (uint64_t)ru.ru_maxrss };

				if (commands[i].id)
					send_status(ctl, commands[i].id, SESSION_ST_EXITED, status, &u);
				commands[i].pid = 0;
				running--;
				break;
			}
}

static void signal_command(uint32_t id, int sig)
{
	for (int i = 0; i < MAX_COMMANDS; i++)
		if (commands[i].pid && commands[i].id == id) {
			kill(-commands[i].pid, sig);
			return;
		}
}

/* Reads one frame from the supervisor; handles it. -1 on EOF or a broken frame. */
static int handle_frame(const struct spawn_cfg *c, const sigset_t *mask, int ctl)
{
	struct session_hdr h;
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &h, sizeof h };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf };
	int fds[3] = { -1, -1, -1 }, nfds = 0, ret = 0;
	ssize_t n;
	char *p = NULL;

	do
		n = recvmsg(ctl, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof h)
		return -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			for (int i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
				if (nfds < 3)
					fds[nfds++] = fd;
				else
					close(fd);
			}
		}
	if (session_hdr_check(&h) < 0) {
		ret = -1;
		goto out;
	}
	if (h.len) {
		p = mmap(NULL, h.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || read_full(ctl, p, h.len) < 0) {
			ret = -1;
			goto out;
		}
	}
	if (h.type == SESSION_EXEC && nfds == 3)
		start_command(c, mask, ctl, h.id, p, h.len, fds);
	else if (h.type == SESSION_EXEC)
		send_status(ctl, h.id, SESSION_ST_REFUSED, EBADF, NULL);
	else if (h.type == SESSION_SIGNAL && h.len == sizeof(uint32_t)) {
		uint32_t sig;

		memcpy(&sig, p, sizeof sig);
		signal_command(h.id, (int)sig);
	}
out:
	if (p && p != MAP_FAILED)
		munmap(p, h.len);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return ret;
}

static _Noreturn void agent_main(const struct spawn_cfg *c, const sigset_t *mask, int ready)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	struct agent_ready r = { 0 };
	int ctl = c->session_fd, listener = -1, sfd, terminating = 0;
	unsigned long heap_end = inherited_heap_end(); /* before the filter, which may deny brk */
	sigset_t watch;

	prctl(PR_SET_NAME, "purple-session", 0, 0, 0);
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&watch);
	sigaddset(&watch, SIGCHLD);
	sigaddset(&watch, SIGTERM);
	sigprocmask(SIG_SETMASK, &watch, NULL);
	close_others(ctl, ready);
	sfd = signalfd(-1, &watch, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		r.err = errno;
		snprintf(r.what, sizeof r.what, "session agent signalfd");
	} else if ((r.err = -keep_cfg(c)) != 0) {
		snprintf(r.what, sizeof r.what, "session agent mmap");
	} else {
		int e = spawn_enforce(c, &listener, r.what, sizeof r.what);

		r.err = -e;
	}
	(void)fdpass_send(ready, &r, sizeof r, &listener, listener >= 0);
	if (r.err)
		_exit(125);
	close(ready);
	if (listener >= 0)
		close(listener);
	c = &kept; /* the rest of c was for spawn_enforce */
	inherited_heap_drop(heap_end);

	for (;;) {
		struct pollfd p[2] = { { .fd = terminating ? -1 : ctl, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(125);
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
				if (si.ssi_signo == SIGTERM)
					terminating = 1; /* the session ends: report the commands' ends, then go */
			reap(ctl);
		}
		if (p[0].revents && handle_frame(c, mask, ctl) < 0)
			terminating = 1;
		if (terminating && running == 0)
			_exit(0);
	}
}

pid_t session_agent_fork(const struct spawn_cfg *c, const sigset_t *mask, int *listener, int *err,
			 char *what, size_t n)
{
	struct agent_ready r = { 0 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &r, sizeof r };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf };
	int sp[2];
	pid_t pid;
	ssize_t got;

	*listener = -1;
	*err = 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	pid = raw_fork();
	if (pid < 0) {
		int e = errno;

		close(sp[0]);
		close(sp[1]);
		return -e;
	}
	if (pid == 0) {
		close(sp[0]);
		agent_main(c, mask, sp[1]);
	}
	close(sp[1]);
	close(c->session_fd); /* the agent's end: init keeps no copy */
	do
		got = recvmsg(sp[0], &mh, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	close(sp[0]);
	if (got != (ssize_t)sizeof r) {
		*err = ECHILD;
		snprintf(what, n, "session agent start");
		return pid;
	}
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(listener, CMSG_DATA(cm), sizeof(int));
	if (r.err) {
		*err = r.err;
		r.what[sizeof r.what - 1] = 0;
		snprintf(what, n, "%s", r.what);
	}
	return pid;
}
