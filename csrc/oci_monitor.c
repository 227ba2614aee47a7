/* The violation monitor of a purple-oci container: the supervisor side of the profile's supervised
 * ("notify") seccomp decisions while the container runs, and nothing else.
 *
 * `purple-oci create` exits once the container is set up, so no purple supervisor is left to answer
 * SECCOMP_RET_USER_NOTIF. The monitor is forked from create (or from an exec) before that process
 * exits: outside the container's namespaces and cgroup (those of the engine that ran purple-oci, as
 * conmon is), adopted with init by the engine's subreaper. It holds init's control socket until the
 * seccomp listener arrives with CTL_STARTED (spawn.c: the payload creates it with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER at `start`, init passes it on and keeps no copy), then answers every
 * notification with the errno the kernel-only layer gave before (EPERM) and writes, once per call and
 * process, a line to purple-oci's --log (text or json) and a syscall_violation record to the profile's
 * audit log. It ends when the listener reports POLLHUP (no process uses the filter any more), when
 * init is gone before handing one over, or when `purple-oci delete` kills it by the pid in the state.
 * Killed early, it takes the listener with it: the kernel then fails every notified call with ENOSYS,
 * still denied.
 *
 * A C loop rather than the launcher's Lua: a Lua loop would keep the Lua state (most of a MiB of heap
 * per container, copied page by page as its collector runs) and every fd the Lua side left open. The
 * C loop copies what it needs (names, hints, paths: a few KiB) into one mapping, closes every other fd,
 * gives /dev/null as stdin, stdout and stderr (never the engine's pipes, which it must not hold open),
 * and unmaps the heap it inherited (inherited_heap.h); its state is two fds, two log fds and a
 * 64-entry ring of the calls already reported. From there on it must not allocate. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "control.h"
#include "fdpass.h"
#include "inherited_heap.h"
#include "notify.h"
#include "oci_monitor.h"
#include "purple.h"

#define SEEN 64

struct mon {
	int ctl, listener, log_fd, log_json, answer;
	struct logfile audit; /* fd -1: no audit */
	const char *session, *profile;
	char **calls;
	size_t ncalls;
	pid_t self;
	struct {
		int nr;
		pid_t pid;
	} seen[SEEN];
	unsigned next;
	unsigned char notif[512]; /* struct seccomp_notif (notify_buf_size) */
};

/* An output line built without allocating; text past the end is cut. */
struct line {
	char b[8192];
	size_t n;
};

static void add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (l->n >= sizeof l->b - 1)
		return;
	va_start(ap, fmt);
	r = vsnprintf(l->b + l->n, sizeof l->b - l->n, fmt, ap);
	va_end(ap);
	if (r > 0)
		l->n += (size_t)r < sizeof l->b - l->n ? (size_t)r : sizeof l->b - 1 - l->n;
}

/* s as a JSON string. */
static void add_json(struct line *l, const char *s)
{
	add(l, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			add(l, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			add(l, "\\u%04x", *p);
		else
			add(l, "%c", *p);
	}
	add(l, "\"");
}

/* The time now, UTC: 2026-12-04T09:45:17Z, or with microseconds (the audit log's ts). */
static void add_time(struct line *l, int micro)
{
	struct timespec ts;
	long long days, secs, era, y;
	unsigned doe, yoe, doy, mp, d, m;

	clock_gettime(CLOCK_REALTIME, &ts);
	days = ts.tv_sec / 86400;
	secs = ts.tv_sec % 86400;
	/* days since 1970-01-01 to the civil date (H. Hinnant's days_from_civil, inverted) */
	days += 719468;
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = (unsigned)(days - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (long long)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	add(l, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", y, m, d, secs / 3600, secs / 60 % 60, secs % 60);
	if (micro)
		add(l, ".%06ldZ", ts.tv_nsec / 1000);
	else
		add(l, "Z");
}

/* What the monitor reads of a notified task: its process id, its pid in the container, name, program. */
struct task {
	pid_t tgid, nspid;
	char comm[64], exe[1024];
};

static ssize_t read_text(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, n - 1);
	close(fd);
	buf[r > 0 ? r : 0] = 0;
	return r;
}

/* The last number of the /proc/PID/status line key ("NStgid:" lists one a pid namespace, innermost last). */
static pid_t status_last(const char *status, const char *key)
{
	const char *p = strstr(status, key);
	long v = 0;

	if (!p)
		return 0;
	for (p += strlen(key); *p && *p != '\n'; ) {
		if (*p >= '0' && *p <= '9') {
			v = 0;
			for (; *p >= '0' && *p <= '9'; p++)
				v = v * 10 + (*p - '0');
		} else {
			p++;
		}
	}
	return (pid_t)v;
}

static void task_info(pid_t pid, struct task *t)
{
	char path[64], status[4096];
	ssize_t n;

	memset(t, 0, sizeof *t);
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	read_text(path, status, sizeof status);
	t->tgid = status_last(status, "\nTgid:");
	t->nspid = status_last(status, "\nNStgid:");
	if (!t->tgid)
		t->tgid = pid;
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	if (read_text(path, t->comm, sizeof t->comm) <= 0)
		snprintf(t->comm, sizeof t->comm, "?");
	t->comm[strcspn(t->comm, "\n")] = 0;
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	n = readlink(path, t->exe, sizeof t->exe - 1);
	t->exe[n > 0 ? n : 0] = 0;
}

/* Was (nr, pid) reported? Remembers it if not. */
static int seen(struct mon *m, int nr, pid_t pid)
{
	for (unsigned i = 0; i < SEEN; i++)
		if (m->seen[i].pid == pid && m->seen[i].nr == nr)
			return 1;
	m->seen[m->next].nr = nr;
	m->seen[m->next].pid = pid;
	m->next = (m->next + 1) % SEEN;
	return 0;
}

static void write_all(int fd, const struct line *l)
{
	ssize_t w;

	do
		w = write(fd, l->b, l->n);
	while (w < 0 && errno == EINTR);
}

/* The --log line and the audit record of one violation. */
static void report(struct mon *m, const struct notify_event *ev, const struct task *t)
{
	const char *spec = (size_t)ev->nr < m->ncalls ? m->calls[ev->nr] : NULL;
	char name[64], hint[512], reason[256], comm[64], msg[1024];
	struct line l;

	snprintf(name, sizeof name, "syscall %d", ev->nr);
	hint[0] = 0;
	snprintf(reason, sizeof reason, "not allowed");
	if (spec) {
		const char *h = strchr(spec, '\t'), *r = h ? strchr(h + 1, '\t') : NULL;

		if (h && r) {
			snprintf(name, sizeof name, "%.*s", (int)(h - spec), spec);
			snprintf(hint, sizeof hint, "; %.*s", (int)(r - h - 1), h + 1);
			snprintf(reason, sizeof reason, "%s", r + 1);
		}
	}
	/* comm is the process's to choose (PR_SET_NAME): no control character reaches a log line */
	snprintf(comm, sizeof comm, "%s", t->comm);
	for (char *p = comm; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	snprintf(msg, sizeof msg, "blocked syscall %s (%d) in pid %d (%s) of container %s%s", name, ev->nr,
		 (int)(t->nspid ? t->nspid : ev->pid), comm, m->session, hint);
	if (m->log_fd >= 0) {
		l.n = 0;
		if (m->log_json) {
			add(&l, "{\"level\":\"warning\",\"msg\":");
			add_json(&l, msg);
			add(&l, ",\"time\":\"");
			add_time(&l, 0);
			add(&l, "\"}\n");
		} else {
			add_time(&l, 0);
			add(&l, " warning: %s\n", msg);
		}
		write_all(m->log_fd, &l);
	}
	if (m->audit.fd < 0)
		return;
	/* purple.audit's record (keys sorted as purple.json writes them) */
	l.n = 0;
	add(&l, "{\"action\":\"errno\",\"args\":[");
	for (int i = 0; i < 6; i++)
		add(&l, "%s%lld", i ? "," : "", (long long)ev->args[i]);
	add(&l, "],\"comm\":");
	add_json(&l, t->comm);
	add(&l, ",\"event\":\"syscall_violation\"");
	if (t->exe[0]) {
		add(&l, ",\"exe\":");
		add_json(&l, t->exe);
	}
	add(&l, ",\"host_pid\":%d,\"nr\":%d,\"pid\":%d,\"profile\":", (int)ev->pid, ev->nr, (int)m->self);
	add_json(&l, m->profile);
	add(&l, ",\"reason\":");
	add_json(&l, reason);
	if (t->nspid)
		add(&l, ",\"sandbox_pid\":%d", (int)t->nspid);
	add(&l, ",\"session\":");
	add_json(&l, m->session);
	add(&l, ",\"syscall\":");
	add_json(&l, name);
	add(&l, ",\"ts\":\"");
	add_time(&l, 1);
	add(&l, "\"}\n");
	if (l.b[l.n - 1] == '\n') /* a record cut short is not written: it would not be JSON */
		(void)logfile_write(&m->audit, l.b, l.n);
}

/* One notification: answered, and reported unless this call of this process was. */
static void handle(struct mon *m, const struct notify_event *ev)
{
	struct task t;

	if (seen(m, ev->nr, ev->pid)) { /* this thread's call was reported: nothing from /proc */
		notify_respond(m->listener, ev->id, 0, m->answer, 0);
		return;
	}
	task_info(ev->pid, &t);
	/* what was read of /proc is the caller's only while its call waits */
	if (!notify_valid(m->listener, ev->id))
		return;
	notify_respond(m->listener, ev->id, 0, m->answer, 0);
	if (t.tgid == ev->pid || !seen(m, ev->nr, t.tgid))
		report(m, ev, &t);
}

/* A message from init: the listener rides on CTL_STARTED; end of file: init is gone. */
static void read_ctl(struct mon *m)
{
	struct ctl_msg msg = { 0 };
	int fd[2];
	ssize_t n = fdpass_recv(m->ctl, &msg, sizeof msg, fd, 2, MSG_DONTWAIT);

	if (n == -EAGAIN)
		return;
	if (n > 0 && msg.kind == CTL_STARTED && fd[0] >= 0 && m->listener < 0) {
		m->listener = fd[0];
		fd[0] = -1;
	}
	for (int i = 0; i < 2; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	if (n <= 0 || m->listener >= 0) { /* nothing more to wait for from init */
		close(m->ctl);
		m->ctl = -1;
	}
}

static _Noreturn void monitor_loop(struct mon *m)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = m->ctl, .events = POLLIN }, { .fd = m->listener, .events = POLLIN } };

		if (m->ctl < 0 && m->listener < 0)
			_exit(0);
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (p[1].revents & POLLIN) {
			struct notify_event ev;
			int r = notify_receive_buf(m->listener, m->notif, sizeof m->notif, &ev);

			if (r > 0)
				handle(m, &ev);
			else if (r < 0)
				_exit(1);
		} else if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			_exit(0); /* no process uses the filter any more */
		}
		if (p[0].revents)
			read_ctl(m);
	}
}

static char *put(char **at, const char *s)
{
	char *r = *at;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	memcpy(r, s, n);
	*at += n;
	return r;
}

/* Moves fd to target (close-on-exec); fds at or above 64 are scratch. */
static int keep_fd(int fd, int target)
{
	if (fd < 0)
		return -1;
	if (dup3(fd, target, O_CLOEXEC) < 0)
		_exit(1);
	close(fd);
	return target;
}

static _Noreturn void monitor_main(const struct oci_monitor_cfg *c)
{
	static struct mon m;
	size_t size = sizeof(char *) * c->ncalls;
	char *arena, *at, *log_path, *audit_path;
	int ctl = -1, listener = -1, nul;
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;

	/* what the loop needs, out of the heap that goes below */
	size += strlen(c->session) + strlen(c->profile) + 2;
	size += c->log_path ? strlen(c->log_path) + 1 : 0;
	size += c->audit_path ? strlen(c->audit_path) + 1 : 0;
	for (size_t i = 0; i < c->ncalls; i++)
		size += c->calls[i] ? strlen(c->calls[i]) + 1 : 0;
	arena = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED)
		_exit(1);
	m.calls = (char **)(void *)arena;
	at = arena + sizeof(char *) * c->ncalls;
	for (size_t i = 0; i < c->ncalls; i++)
		m.calls[i] = put(&at, c->calls[i]);
	m.ncalls = c->ncalls;
	m.session = put(&at, c->session);
	m.profile = put(&at, c->profile);
	log_path = put(&at, c->log_path);
	audit_path = put(&at, c->audit_path);
	m.answer = c->answer_errno;
	m.log_json = c->log_json;
	m.self = getpid();
	if (notify_buf_size() > sizeof m.notif)
		_exit(1);

	/* fds: the two it was given, /dev/null as 0-2, the logs; nothing else of the caller's */
	if (c->ctl >= 0 && (ctl = fcntl(c->ctl, F_DUPFD_CLOEXEC, 64)) < 0)
		_exit(1);
	if (c->listener >= 0 && (listener = fcntl(c->listener, F_DUPFD_CLOEXEC, 64)) < 0)
		_exit(1);
	syscall(SYS_close_range, 0U, 63U, 0U);
	if ((nul = open("/dev/null", O_RDWR)) != 0 || dup2(nul, 1) != 1 || dup2(nul, 2) != 2)
		_exit(1);
	m.ctl = keep_fd(ctl, 3);
	m.listener = keep_fd(listener, 4);
	syscall(SYS_close_range, 5U, ~0U, 0U);
	m.log_fd = log_path ? open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666) : -1;
	m.audit.fd = -1;
	m.audit.path = audit_path;
	if (audit_path && logfile_reopen(&m.audit) < 0)
		m.audit.fd = -1;
	if (chdir("/") < 0)
		_exit(1);

	/* its own session (an engine's terminal signals are not its), default signals, none blocked */
	setsid();
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	inherited_heap_retitle("purple-monitor");
	inherited_heap_drop(0);
	monitor_loop(&m);
}

pid_t oci_monitor_start(const struct oci_monitor_cfg *c)
{
	pid_t pid;

	if ((c->ctl < 0 && c->listener < 0) || !c->session || !c->profile)
		return -EINVAL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		monitor_main(c);
	return pid;
}
