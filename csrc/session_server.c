/* The session relay (session_server.h): one thread, one poll loop. Client connections are
 * non-blocking and buffered, so a slow, truncated or hostile client holds only its own slot; a
 * frame that breaks the protocol closes that connection with a log line on stderr (the session's
 * log). Writes to the agent block: it is purple's own code and reads every frame whole. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "fdpass.h"
#include "session_events.h"
#include "session_proto.h"
#include "session_server.h"

#define MAX_CONNS 128
#define REQUEST_TIMEOUT_NS (10LL * 1000000000LL) /* a request must arrive whole within this */

enum conn_state { C_FREE, C_READING, C_RUNNING };

struct conn {
	enum conn_state state;
	int fd;
	uid_t uid;
	pid_t pid;
	uint32_t id;
	struct session_hdr h;
	size_t got;       /* bytes of header + payload received */
	char *payload;
	int fds[3], nfds;
	long long deadline; /* reading: the request's; running: the command's timeout, 0 = none */
	int timed_out;
	char argv0[64];
};

struct session_server {
	struct session_server_cfg cfg;
	char name[128], path[108];
	int listen_fd, agent_fd, wake[2];
	pthread_t thread;
	pthread_mutex_t lock; /* served, running: read by session_server_counts */
	unsigned long served;
	unsigned running;
	uint32_t next_id;
	struct session_hdr ah; /* agent frame being read */
	char abuf[sizeof(struct session_status)];
	size_t agot;
	struct conn conns[MAX_CONNS];
	int timed_out;
	struct stat pidns; /* the supervisor's own pid namespace (/proc/self/ns/pid), read at start */
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int session_over(struct session_server *s);

/* Command events (session_events.h): the start with its argv, the end with the status sent. */
static void ev_start(struct session_server *s, const struct conn *c, const char *payload, uint32_t len)
{
	struct session_event *e;
	struct session_exec ex;
	const char *p = payload + sizeof ex, *end = payload + len;

	if (!s->cfg.events || !(e = calloc(1, sizeof *e)))
		return;
	memcpy(&ex, payload, sizeof ex);
	*e = (struct session_event){ .kind = SESSION_EV_START, .id = c->id, .uid = c->uid, .pid = c->pid,
				     .mono_ns = now_ns(), .flags = ex.flags, .timeout_ms = ex.timeout_ms,
				     .argc = ex.argc };
	p += strnlen(p, (size_t)(end - p)) + 1; /* cwd (exec_valid checked every string) */
	for (uint32_t i = 0; i < ex.argc && p < end; i++) {
		size_t l = strnlen(p, (size_t)(end - p)) + 1;

		if (e->argv_len + l > sizeof e->argv) {
			e->truncated = 1;
			break;
		}
		memcpy(e->argv + e->argv_len, p, l);
		e->argv_len += l;
		p += l;
	}
	session_events_push(s->cfg.events, e);
	free(e);
}

static void ev_end(struct session_server *s, const struct conn *c, int status, int err,
		   const struct session_usage *u)
{
	struct session_event e = { .kind = SESSION_EV_END, .id = c->id, .uid = c->uid, .pid = c->pid,
				   .mono_ns = now_ns(), .status = status, .err = err,
				   .timed_out = status == 124 && (c->timed_out || session_over(s)),
				   .has_usage = u != NULL };

	if (u)
		e.usage = *u;

	if (s->cfg.events && c->id) /* a command was started for it */
		session_events_push(s->cfg.events, &e);
}

static void slog(struct session_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slog(struct session_server *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "purple: session %s: ", s->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static void conn_close(struct session_server *s, struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	for (int i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	free(c->payload);
	if (c->state == C_RUNNING) {
		pthread_mutex_lock(&s->lock);
		s->running--;
		pthread_mutex_unlock(&s->lock);
	}
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->state = C_FREE;
}

/* The RESULT frame: the status, and for a command that ran its number and usage (u). */
static void send_result(struct conn *c, int status, int err, const char *msg, const struct session_usage *u)
{
	struct {
		struct session_hdr h;
		struct session_result r;
		char text[256];
	} m;
	size_t tl = msg ? strnlen(msg, sizeof m.text) : 0;

	m.h = (struct session_hdr){ SESSION_MAGIC, SESSION_RESULT, (uint32_t)(sizeof m.r + tl), c->id };
	m.r = (struct session_result){ status, err, c->id, u ? SESSION_RESULT_USAGE : 0, { 0 } };
	if (u)
		m.r.usage = *u;
	if (tl)
		memcpy(m.text, msg, tl);
	/* a small frame on an idle socket: a client that does not read loses its result */
	(void)!send(c->fd, &m, sizeof m.h + sizeof m.r + tl, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The frame's header (with the fds) and payload in one sendmsg: the agent, woken by it, reads both
 * without waiting for a second write. */
static int agent_send(struct session_server *s, uint32_t type, uint32_t id, const void *p, uint32_t len,
		      const int *fds, int nfds)
{
	struct session_hdr h = { SESSION_MAGIC, type, len, id };
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)p, len } };
	const char *q = p;
	ssize_t r;

	if (s->agent_fd < 0)
		return -EPIPE;
	if ((r = fdpass_sendv(s->agent_fd, iov, len ? 2 : 1, fds, nfds)) < 0)
		return (int)r;
	if ((size_t)r < sizeof h)
		return -EIO; /* a blocking stream socket in a thread that takes no signal sends it whole */
	q += (size_t)r - sizeof h;
	len -= (uint32_t)((size_t)r - sizeof h);
	while (len > 0) {
		ssize_t w = send(s->agent_fd, q, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		q += w;
		len -= (uint32_t)w;
	}
	return 0;
}

static const int allowed_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

static void frame_done(struct session_server *s, struct conn *c)
{
	if (c->state == C_READING && c->h.type == SESSION_EXEC) {
		struct session_exec ex;
		int r;

		if (c->nfds != 3 || session_exec_check(c->payload, c->h.len, c->argv0, sizeof c->argv0) < 0) {
			slog(s, "malformed exec request from pid %ld: connection closed", (long)c->pid);
			send_result(c, 125, EINVAL, "malformed exec request", NULL);
			conn_close(s, c);
			return;
		}
		memcpy(&ex, c->payload, sizeof ex);
		c->id = ++s->next_id ? s->next_id : ++s->next_id;
		ev_start(s, c, c->payload, c->h.len);
		r = agent_send(s, SESSION_EXEC, c->id, c->payload, c->h.len, c->fds, 3);
		for (int i = 0; i < c->nfds; i++)
			close(c->fds[i]);
		c->nfds = 0;
		free(c->payload);
		c->payload = NULL;
		if (r < 0) {
			send_result(c, 125, -r, "the session has ended", NULL);
			ev_end(s, c, 125, -r, NULL);
			conn_close(s, c);
			return;
		}
		c->state = C_RUNNING;
		c->deadline = ex.timeout_ms ? now_ns() + (long long)ex.timeout_ms * 1000000LL : 0;
		pthread_mutex_lock(&s->lock);
		s->served++;
		s->running++;
		pthread_mutex_unlock(&s->lock);
	} else if (c->state == C_RUNNING && c->h.type == SESSION_SIGNAL && c->h.len == sizeof(uint32_t)) {
		uint32_t sig;
		int ok = 0;

		memcpy(&sig, c->payload, sizeof sig);
		for (size_t i = 0; i < sizeof allowed_signals / sizeof *allowed_signals; i++)
			ok |= (int)sig == allowed_signals[i];
		if (ok)
			agent_send(s, SESSION_SIGNAL, c->id, &sig, sizeof sig, NULL, 0);
		free(c->payload);
		c->payload = NULL;
	} else {
		slog(s, "unexpected frame type %u from pid %ld: connection closed", c->h.type, (long)c->pid);
		if (c->state == C_RUNNING) {
			uint32_t k = SIGKILL;

			agent_send(s, SESSION_SIGNAL, c->id, &k, sizeof k, NULL, 0);
		}
		ev_end(s, c, -1, 0, NULL);
		conn_close(s, c);
		return;
	}
	c->got = 0;
}

/* The client went away or broke the protocol: a command it started is killed. */
static void conn_drop(struct session_server *s, struct conn *c, const char *why)
{
	if (why)
		slog(s, "%s from pid %ld: connection closed", why, (long)c->pid);
	if (c->state == C_RUNNING) {
		uint32_t k = SIGKILL;

		agent_send(s, SESSION_SIGNAL, c->id, &k, sizeof k, NULL, 0);
	}
	ev_end(s, c, -1, 0, NULL);
	conn_close(s, c);
}

static void conn_read(struct session_server *s, struct conn *c)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof u.buf };
		ssize_t r;
		int extra;

		if (c->got < sizeof c->h) {
			iov.iov_base = (char *)&c->h + c->got;
			iov.iov_len = sizeof c->h - c->got;
		} else {
			iov.iov_base = c->payload + (c->got - sizeof c->h);
			iov.iov_len = c->h.len - (c->got - sizeof c->h);
		}
		r = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0) {
			conn_drop(s, c, "receive error");
			return;
		}
		if (mh.msg_flags & MSG_CTRUNC) {
			conn_drop(s, c, "too many fds");
			return;
		}
		/* at most the caller's three stdio fds, and only with the request */
		c->nfds += fdpass_take(&mh, c->fds + c->nfds, c->state == C_READING ? 3 - c->nfds : 0, &extra);
		if (extra) {
			conn_drop(s, c, "unexpected fds");
			return;
		}
		if (r == 0) {
			conn_drop(s, c, c->got ? "truncated frame" : NULL);
			return;
		}
		c->got += (size_t)r;
		if (c->got == sizeof c->h) {
			int bad = session_hdr_check(&c->h);

			if (bad == -EPROTO) {
				send_result(c, 125, EPROTO, "unsupported protocol version", NULL);
				conn_drop(s, c, "bad magic or protocol version");
				return;
			}
			if (bad == -E2BIG) {
				send_result(c, 125, E2BIG, "request too large", NULL);
				conn_drop(s, c, "oversized frame");
				return;
			}
			if (c->h.len && !(c->payload = malloc(c->h.len))) {
				conn_drop(s, c, "out of memory");
				return;
			}
		}
		if (c->got >= sizeof c->h && c->got == sizeof c->h + c->h.len) {
			frame_done(s, c);
			if (c->state == C_FREE)
				return;
		}
	}
}

/* Same pid namespace as the supervisor: a process inside any sandbox is refused even when its uid
 * maps to the owner's. */
static int same_pidns(const struct session_server *s, pid_t pid)
{
	char p[64];
	struct stat a;

	snprintf(p, sizeof p, "/proc/%d/ns/pid", (int)pid);
	if (stat(p, &a) < 0 || !s->pidns.st_ino)
		return 0;
	return a.st_ino == s->pidns.st_ino && a.st_dev == s->pidns.st_dev;
}

static void do_accept(struct session_server *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct ucred cr;
	socklen_t cl = sizeof cr;
	struct conn *c = NULL;

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CONNS && !c; i++)
		if (s->conns[i].state == C_FREE)
			c = &s->conns[i];
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0) {
		close(fd);
		return;
	}
	if ((cr.uid != s->cfg.owner && cr.uid != 0) || !same_pidns(s, cr.pid)) {
		struct conn tmp = { .fd = fd };

		slog(s, "refused a connection from uid %ld pid %ld: not the session's owner, or inside a sandbox",
		     (long)cr.uid, (long)cr.pid);
		send_result(&tmp, 125, EACCES, "permission denied (not the session's owner)", NULL);
		close(fd);
		return;
	}
	if (!c) {
		struct conn tmp = { .fd = fd };

		send_result(&tmp, 125, EAGAIN, "too many connections", NULL);
		close(fd);
		return;
	}
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->state = C_READING;
	c->uid = cr.uid;
	c->pid = cr.pid;
	c->deadline = now_ns() + REQUEST_TIMEOUT_NS;
	conn_read(s, c); /* the request usually follows the connect at once: no poll round first */
}

static struct conn *by_id(struct session_server *s, uint32_t id)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i].state == C_RUNNING && s->conns[i].id == id)
			return &s->conns[i];
	return NULL;
}

static int session_over(struct session_server *s)
{
	return s->timed_out || (s->cfg.deadline_ns && now_ns() >= s->cfg.deadline_ns);
}

static void agent_status(struct session_server *s, uint32_t id, const struct session_status *st)
{
	struct conn *c = by_id(s, id);
	const struct session_usage *u;
	char msg[160] = "";
	int code;

	if (!c)
		return; /* its client went away */
	switch (st->kind) {
	case SESSION_ST_EXITED:
		if (c->timed_out || session_over(s))
			code = 124;
		else if (WIFSIGNALED(st->value))
			code = 128 + WTERMSIG(st->value);
		else
			code = WEXITSTATUS(st->value);
		break;
	case SESSION_ST_EXEC_ERROR:
		code = st->value == ENOENT ? 127 : 126;
		snprintf(msg, sizeof msg, "exec %s: %s%s", c->argv0, strerror(st->value),
			 code == 127 ? " (not found in the sandbox's PATH or filesystem)" : "");
		break;
	case SESSION_ST_CWD_ERROR:
		code = 125;
		snprintf(msg, sizeof msg, "--cwd: %s", strerror(st->value));
		break;
	default:
		code = 125;
		snprintf(msg, sizeof msg, "the session agent could not start the command: %s", strerror(st->value));
	}
	u = st->kind == SESSION_ST_EXITED ? &st->usage : NULL;
	send_result(c, code, u ? 0 : st->value, msg, u);
	ev_end(s, c, code, u ? 0 : st->value, u);
	conn_close(s, c);
}

static void agent_read(struct session_server *s)
{
	for (;;) {
		char *dst = s->agot < sizeof s->ah ? (char *)&s->ah + s->agot : s->abuf + (s->agot - sizeof s->ah);
		size_t want = s->agot < sizeof s->ah ? sizeof s->ah - s->agot : sizeof s->ah + sizeof s->abuf - s->agot;
		ssize_t r = recv(s->agent_fd, dst, want, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0 || (s->agot + (size_t)r >= sizeof s->ah &&
			       (s->ah.magic != SESSION_MAGIC || s->ah.type != SESSION_STATUS ||
				s->ah.len != sizeof(struct session_status)))) {
			close(s->agent_fd);
			s->agent_fd = -1;
			return;
		}
		s->agot += (size_t)r;
		if (s->agot == sizeof s->ah + sizeof s->abuf) {
			struct session_status st;

			memcpy(&st, s->abuf, sizeof st);
			agent_status(s, s->ah.id, &st);
			s->agot = 0;
		}
	}
}

/* The agent is gone (the session ended): commands still waiting end with 124 or 125. */
static void end_all(struct session_server *s)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &s->conns[i];

		if (c->state == C_FREE)
			continue;
		if (session_over(s)) {
			send_result(c, 124, ETIMEDOUT, "session timeout", NULL);
			ev_end(s, c, 124, ETIMEDOUT, NULL);
		} else {
			send_result(c, 125, EPIPE, "the session has ended", NULL);
			ev_end(s, c, 125, EPIPE, NULL);
		}
		conn_close(s, c);
	}
}

static void *serve(void *arg)
{
	struct session_server *s = arg;
	struct pollfd p[3 + MAX_CONNS];

	for (;;) {
		long long now = now_ns(), next = 0;
		int np = 0, timeout = -1, nconn = 0;

		p[np++] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = s->agent_fd, .events = POLLIN };
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &s->conns[i];

			if (c->state == C_FREE) {
				p[np++] = (struct pollfd){ .fd = -1 };
				continue;
			}
			nconn++;
			if (c->deadline && !c->timed_out && c->deadline <= now) {
				if (c->state == C_READING) {
					conn_drop(s, c, "incomplete request after 10 s");
					p[np++] = (struct pollfd){ .fd = -1 };
					continue;
				}
				uint32_t k = SIGKILL;

				c->timed_out = 1; /* --timeout: this command only */
				agent_send(s, SESSION_SIGNAL, c->id, &k, sizeof k, NULL, 0);
			}
			if (c->deadline && !c->timed_out && (!next || c->deadline < next))
				next = c->deadline;
			p[np++] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		}
		p[np++] = (struct pollfd){ .fd = s->agent_fd >= 0 ? s->listen_fd : -1, .events = POLLIN };
		if (next)
			timeout = (int)((next - now) / 1000000LL) + 1;
		if (poll(p, (nfds_t)np, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents) {
			agent_read(s);
			if (s->agent_fd < 0) {
				end_all(s);
				/* no more commands: refuse new connections by removing the socket */
				unlink(s->path);
			}
		}
		for (int i = 0; i < MAX_CONNS; i++)
			if (p[2 + i].revents && s->conns[i].state != C_FREE)
				conn_read(s, &s->conns[i]);
		if (p[np - 1].revents & POLLIN)
			do_accept(s);
		(void)nconn;
	}
	return NULL;
}

int session_server_start(struct session_server **out, const struct session_server_cfg *cfg, char *what,
			 size_t n)
{
	struct session_server *s = calloc(1, sizeof *s);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	sigset_t all, old;
	mode_t um;
	int r;

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	snprintf(s->name, sizeof s->name, "%s", cfg->name);
	s->agent_fd = cfg->agent_fd;
	s->wake[0] = s->wake[1] = -1;
	if (stat("/proc/self/ns/pid", &s->pidns) < 0)
		memset(&s->pidns, 0, sizeof s->pidns); /* every peer is refused (same_pidns) */
	for (int i = 0; i < MAX_CONNS; i++)
		s->conns[i].fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	if (strlen(cfg->path) >= sizeof sa.sun_path) {
		snprintf(what, n, "session socket %s: path too long", cfg->path);
		free(s);
		return -ENAMETOOLONG;
	}
	snprintf(s->path, sizeof s->path, "%s", cfg->path);
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0 || pipe2(s->wake, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(what, n, "session socket");
		goto fail;
	}
	unlink(s->path); /* a stale socket of a session of this name that died */
	um = umask(0177);
	r = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof sa);
	umask(um);
	if (r < 0 || listen(s->listen_fd, 64) < 0) {
		r = -errno;
		snprintf(what, n, "session socket %s", s->path);
		goto fail;
	}
	/* the thread takes no signal: the supervisor's main thread handles them (signalfd) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&s->thread, NULL, serve, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		snprintf(what, n, "session thread");
		unlink(s->path);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->wake[0] >= 0) {
		close(s->wake[0]);
		close(s->wake[1]);
	}
	free(s);
	return r;
}

void session_server_stop(struct session_server *s, int timed_out)
{
	if (!s)
		return;
	(void)!write(s->wake[1], "x", 1);
	pthread_join(s->thread, NULL);
	s->timed_out = timed_out;
	end_all(s);
	unlink(s->path);
	close(s->listen_fd);
	if (s->agent_fd >= 0)
		close(s->agent_fd);
	close(s->wake[0]);
	close(s->wake[1]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void session_server_counts(struct session_server *s, unsigned long *served, unsigned *running)
{
	pthread_mutex_lock(&s->lock);
	*served = s->served;
	*running = s->running;
	pthread_mutex_unlock(&s->lock);
}
