/* Network calls the supervisor performs for a rootless sandbox whose policy allows UDP
 * ("supervised mode", docs/network.md).
 *
 * Without root there is no kernel filter for UDP (Landlock filters TCP only, cgroup BPF needs
 * root). So every connect, bind, sendto, sendmsg and sendmmsg of the sandbox stops in a seccomp
 * notification and the supervisor performs the call itself: on its own duplicate of the socket
 * (pidfd_getfd), with its own copy of the address, the data and the control messages, after
 * checking the destination port. Whatever a thread inside rewrites after the check (the address,
 * the fd table) cannot change what is performed; "continue" is never the answer to these calls.
 *
 * Unix socket paths are resolved in the sandbox's root (RESOLVE_IN_ROOT; relative ones from the
 * calling thread's working directory), then reached through /proc/self/fd/N. Abstract addresses
 * are refused for connect and send (EPERM): the supervisor is not inside the sandbox's Landlock
 * scope that keeps the host's abstract sockets out.
 *
 * A call that can block (a stream connect, a send on a blocking socket that would block) runs on a
 * worker thread that answers the notification itself, so the supervisor keeps serving other calls,
 * signals and the session timeout meanwhile. Closing the sandbox shuts the workers' sockets down. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sched.h>

#include "net_perform.h"
#include "notify.h"

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* What one call, and all workers together, may make the supervisor hold: the sandbox's limits do
 * not apply to the supervisor, so these bound what a sandbox can make it allocate. */
#define MAX_STREAM_SEND (256u << 10) /* a stream send may be short: the rest is the caller's to retry */
#define MAX_MESSAGE (1u << 20)       /* above the largest datagram or unix message the kernel sends */
#define MAX_CONTROL (64u << 10)
#define MAX_OP_BYTES ((2u << 20) + MAX_CONTROL) /* a sendmmsg stops taking messages beyond this */
#define MAX_MMSG 1024                /* UIO_MAXIOV, the kernel's own cap on sendmmsg's vlen */
#define MAX_FDS 253                  /* SCM_MAX_FD: fds one call may pass */
#define MAX_WORKERS 64
#define MAX_WORKER_FDS 512
#define MAX_WORKER_BYTES (32u << 20)

enum op_kind { OP_CONNECT, OP_BIND, OP_LISTEN, OP_SEND };

/* One message to send (or, for connect and bind, just the address). */
struct msg {
	struct sockaddr_storage name;
	socklen_t namelen;
	int pathfd;            /* O_PATH fd a unix path was resolved to, -1 */
	char *data;
	size_t len;
	char *control;
	size_t controllen;
	int *fds;              /* SCM_RIGHTS fds duplicated from the sandbox, closed after the send */
	size_t nfds;
};

struct op {
	enum op_kind kind;
	const void *owner;     /* the sandbox handle, for cancellation */
	pid_t pid;             /* calling thread, supervisor's pid namespace */
	int pidfd;             /* of that thread: what is taken by pid is checked against it */
	int memfd;             /* sendmmsg: /proc/PID/mem, to write msg_len back, -1 */
	uint64_t id;           /* notification id */
	int listener;          /* worker's own duplicate of the listener */
	int sock, domain, type, protocol;
	int flags;             /* send flags as the sandbox gave them; listen: the backlog */
	uint64_t mmsg;         /* sendmmsg: the sandbox's array, for msg_len */
	struct msg *msgs;
	size_t nmsgs;          /* to send; nalloc were read and are freed */
	size_t nalloc;
	size_t bytes, fds;     /* data + control held; fds held (SCM_RIGHTS, unix paths, memfd) */
	struct op *next;       /* in-flight list */
};

static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static struct op *inflight;
static size_t inflight_n, inflight_fds, inflight_bytes;

static void msg_free(struct msg *m)
{
	if (m->pathfd >= 0)
		close(m->pathfd);
	for (size_t i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	free(m->fds);
	free(m->data);
	free(m->control);
}

static void op_free(struct op *o)
{
	for (size_t i = 0; i < o->nalloc; i++)
		msg_free(&o->msgs[i]);
	free(o->msgs);
	if (o->sock >= 0)
		close(o->sock);
	if (o->listener >= 0)
		close(o->listener);
	if (o->pidfd >= 0)
		close(o->pidfd);
	if (o->memfd >= 0)
		close(o->memfd);
	free(o);
}

/* ------------------------------------------------------------ reading the sandbox's memory */

static int read_mem(pid_t pid, uint64_t remote, void *local, size_t len)
{
	struct iovec l = { local, len }, r = { (void *)(uintptr_t)remote, len };
	ssize_t n;

	if (len == 0)
		return 0;
	n = process_vm_readv(pid, &l, 1, &r, 1, 0);
	if (n < 0)
		return errno == ESRCH ? -ESRCH : -EFAULT;
	return (size_t)n == len ? 0 : -EFAULT;
}

/* The address a call names, copied once; namelen 0 when there is none. */
static int read_name(pid_t pid, uint64_t ptr, uint64_t len, struct msg *m)
{
	if (ptr == 0 || len == 0)
		return 0;
	if (len > sizeof m->name)
		return -EINVAL;
	m->namelen = (socklen_t)len;
	return read_mem(pid, ptr, &m->name, (size_t)len);
}

/* The data of iov[0..n) as one buffer (a socket sees the concatenation either way), at most cap
 * bytes; *total is the full length the caller asked to send. */
static int read_iov(pid_t pid, uint64_t iov_ptr, uint64_t n, size_t cap, struct msg *m, size_t *total)
{
	struct iovec *iov;
	size_t want = 0, got = 0;
	int r = 0;

	*total = 0;
	if (n == 0)
		return 0;
	if (n > MAX_MMSG)
		return -EMSGSIZE;
	iov = calloc((size_t)n, sizeof *iov);
	if (!iov)
		return -ENOMEM;
	r = read_mem(pid, iov_ptr, iov, (size_t)n * sizeof *iov);
	for (uint64_t i = 0; r == 0 && i < n; i++) {
		if (iov[i].iov_len > SSIZE_MAX - want)
			r = -EINVAL;
		else
			want += iov[i].iov_len;
	}
	*total = want;
	if (r == 0 && want > cap)
		want = cap;
	if (r == 0 && want > 0 && !(m->data = malloc(want)))
		r = -ENOMEM;
	for (uint64_t i = 0; r == 0 && i < n && got < want; i++) {
		size_t k = iov[i].iov_len < want - got ? iov[i].iov_len : want - got;

		r = read_mem(pid, (uint64_t)(uintptr_t)iov[i].iov_base, m->data + got, k);
		got += k;
	}
	m->len = got;
	free(iov);
	return r;
}

/* Control messages, walked as the kernel walks them (its CMSG_OK and __cmsg_nxthdr, not libc's) and
 * rebuilt into a fresh buffer holding only the headers walked, with SCM_RIGHTS fds replaced by the
 * supervisor's duplicates of the sandbox's: the kernel then reads exactly what was checked, and no
 * number the sandbox wrote can name one of the supervisor's own fds. */
static int read_control(pid_t pid, int pidfd, uint64_t ptr, uint64_t len, struct msg *m)
{
	char *in;
	size_t at = 0, out = 0;
	int r;

	if (ptr == 0 || len == 0)
		return 0;
	if (len > MAX_CONTROL)
		return -ENOBUFS;
	if (!(in = malloc((size_t)len)))
		return -ENOMEM;
	if (!(m->control = calloc(1, (size_t)len))) {
		free(in);
		return -ENOMEM;
	}
	r = read_mem(pid, ptr, in, (size_t)len);
	while (r == 0 && at + sizeof(struct cmsghdr) <= len) {
		struct cmsghdr c;
		size_t n;

		memcpy(&c, in + at, sizeof c);
		if (c.cmsg_len < sizeof c || c.cmsg_len > len - at) {
			r = -EINVAL; /* !CMSG_OK: the kernel refuses the call */
			break;
		}
		memcpy(m->control + out, in + at, c.cmsg_len);
		if (c.cmsg_level == SOL_SOCKET && c.cmsg_type == SCM_RIGHTS) {
			n = (c.cmsg_len - CMSG_LEN(0)) / sizeof(int);
			if (n > MAX_FDS - m->nfds) {
				r = -EINVAL; /* as the kernel answers more than SCM_MAX_FD */
				break;
			}
			int *grown = realloc(m->fds, (m->nfds + n) * sizeof(int));
			if (!grown) {
				r = -ENOMEM;
				break;
			}
			m->fds = grown;
			for (size_t i = 0; i < n; i++) {
				int fd, d;

				memcpy(&fd, in + at + CMSG_LEN(0) + i * sizeof fd, sizeof fd);
				d = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
				if (d < 0) {
					r = errno == ESRCH ? -ESRCH : -EBADF;
					break;
				}
				m->fds[m->nfds++] = d;
				memcpy(m->control + out + CMSG_LEN(0) + i * sizeof d, &d, sizeof d);
			}
		}
		out += CMSG_ALIGN(c.cmsg_len);
		at += CMSG_ALIGN(c.cmsg_len);
	}
	m->controllen = out < len ? out : len;
	free(in);
	return r;
}

/* One struct msghdr of the sandbox at ptr: name, data and control. */
static int read_msghdr(pid_t pid, int pidfd, uint64_t ptr, size_t cap, struct msg *m, size_t *total)
{
	struct msghdr mh;
	int r = read_mem(pid, ptr, &mh, sizeof mh);

	if (r == 0)
		r = read_name(pid, (uint64_t)(uintptr_t)mh.msg_name, mh.msg_namelen, m);
	if (r == 0)
		r = read_iov(pid, (uint64_t)(uintptr_t)mh.msg_iov, mh.msg_iovlen, cap, m, total);
	if (r == 0)
		r = read_control(pid, pidfd, (uint64_t)(uintptr_t)mh.msg_control, mh.msg_controllen, m);
	return r;
}

/* ------------------------------------------------------------------------- unix addresses */

/* An O_PATH fd of path as the sandbox's thread pid sees it: resolved in its root, a relative path
 * from its working directory. The directory's path inside the sandbox is what /proc/PID/cwd reads
 * (d_path stops at the sandbox's own root); a directory without such a path (deleted) resolves
 * relative paths beneath itself only. */
static int open_in_sandbox(pid_t pid, const char *path, int directory)
{
	char base[48], full[PATH_MAX + sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
	int b, fd, in_root = 1;
	ssize_t n = 0;
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC | (directory ? O_DIRECTORY : 0),
		.resolve = RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT,
	};

	if (path[0] != '/') {
		snprintf(base, sizeof base, "/proc/%d/cwd", (int)pid);
		n = readlink(base, full, PATH_MAX);
		if (n <= 0 || full[0] != '/' || (n >= 10 && memcmp(full + n - 10, " (deleted)", 10) == 0)) {
			in_root = 0;
			how.resolve = RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
		} else {
			full[n] = '\0';
			strcat(full, "/");
			strcat(full, path);
			path = full;
		}
	}
	snprintf(base, sizeof base, "/proc/%d/%s", (int)pid, in_root ? "root" : "cwd");
	b = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (b < 0)
		return -errno;
	fd = (int)syscall(SYS_openat2, b, path, &how, sizeof how);
	if (fd < 0)
		fd = -errno;
	close(b);
	return fd;
}

/* Rewrites a unix pathname address to reach the same inode from the supervisor: the socket itself
 * through /proc/self/fd/N (connect, send), or for bind its directory's fd with the last component,
 * which perform() binds from inside that directory (so the name the socket keeps is that
 * component). Abstract and unnamed addresses stay as they are; *abstract is set for an abstract one. */
static int resolve_unix(pid_t pid, struct msg *m, int for_bind, int *abstract)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&m->name;
	size_t plen = m->namelen > offsetof(struct sockaddr_un, sun_path)
			      ? m->namelen - offsetof(struct sockaddr_un, sun_path) : 0;
	char path[sizeof un->sun_path + 1], *slash;
	const char *base = NULL;
	int fd, n;

	*abstract = 0;
	if (m->namelen < sizeof(sa_family_t) || un->sun_family != AF_UNIX || plen == 0)
		return 0;
	if (un->sun_path[0] == '\0') {
		*abstract = 1;
		return 0;
	}
	if (plen > sizeof un->sun_path)
		plen = sizeof un->sun_path;
	memcpy(path, un->sun_path, plen);
	path[plen] = '\0';
	if (for_bind) {
		slash = strrchr(path, '/');
		if (slash && slash[1] == '\0') {
			/* "dir/": an existing directory, as the kernel answers; never an empty name,
			 * which would bind an abstract address instead */
			fd = open_in_sandbox(pid, path, 1);
			if (fd >= 0)
				close(fd);
			return fd < 0 ? fd : -EADDRINUSE;
		}
		if (slash) {
			*slash = '\0';
			base = slash + 1;
			fd = open_in_sandbox(pid, slash == path ? "/" : path, 1);
		} else {
			base = path;
			fd = open_in_sandbox(pid, ".", 1);
		}
	} else {
		fd = open_in_sandbox(pid, path, 0);
	}
	if (fd < 0)
		return fd;
	m->pathfd = fd;
	memset(un->sun_path, 0, sizeof un->sun_path);
	n = base ? snprintf(un->sun_path, sizeof un->sun_path, "%s", base)
		 : snprintf(un->sun_path, sizeof un->sun_path, "/proc/self/fd/%d", fd);
	if (n < 0 || (size_t)n >= sizeof un->sun_path)
		return -ENAMETOOLONG;
	m->namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}

/* ----------------------------------------------------------------------------- the policy */

static const char *proto_name(int protocol)
{
	return protocol == IPPROTO_TCP ? "tcp" : protocol == IPPROTO_UDP ? "udp" : NULL;
}

/* 1 when ranges hold port for proto; port 0 (the kernel's pick) never is. */
static int rule_allows(const struct net_ranges *ranges, int proto, int port)
{
	for (size_t i = 0; port > 0 && i < ranges->n; i++) {
		const struct net_range *e = &ranges->r[i];

		if (port >= e->from && port <= e->to && (e->proto == 0 || e->proto == proto))
			return 1;
	}
	return 0;
}

/* Hands one audit note to the caller; addr may be NULL, port < 0 leaves it out. */
static void note(const struct net_perform_call *c, const char *op, const char *proto, const char *addr,
		 int port, int allowed)
{
	struct net_note n = { .op = op, .proto = proto, .addr = addr && addr[0] ? addr : NULL, .port = port,
			      .allowed = allowed };

	c->note(c->arg, &n);
}

/* listen() on an internet socket: it must be bound to an allowed port, since listening on an
 * unbound one takes a port from the kernel that no bind check saw. */
static int check_listen(const struct net_perform_call *c, struct op *o)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char addr[INET6_ADDRSTRLEN];
	int port = 0, ok;

	memset(&ss, 0, sizeof ss);
	if (getsockname(o->sock, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	pl_sockaddr_describe(&ss, addr, sizeof addr, &port);
	if (o->type != SOCK_STREAM || !proto_name(o->protocol))
		return 0; /* the kernel refuses listen() on these itself */
	ok = rule_allows(&c->incoming, o->protocol, port);
	note(c, "listen", proto_name(o->protocol), NULL, port, ok);
	return ok ? 0 : -EACCES;
}

/* Checks message m of o against the rules; 0, -EACCES or -EPERM. Internet destinations get an
 * audit note. */
static int check(const struct net_perform_call *c, struct op *o, struct msg *m)
{
	const struct net_ranges *list = o->kind == OP_BIND ? &c->incoming : &c->outgoing;
	const char *proto;
	const char *op = o->kind == OP_BIND ? "bind" : o->kind == OP_CONNECT ? "connect" : "send";
	char addr[INET6_ADDRSTRLEN] = "";
	int port, ok, abstract, r, ignored;

	if (o->kind == OP_LISTEN)
		return o->domain == AF_INET || o->domain == AF_INET6 ? check_listen(c, o) : 0;
	if (o->domain == AF_UNIX) {
		r = resolve_unix(o->pid, m, o->kind == OP_BIND, &abstract);
		if (r == 0 && abstract && o->kind != OP_BIND)
			return -EPERM;
		return r;
	}
	if (o->domain != AF_INET && o->domain != AF_INET6)
		return 0; /* netlink and the like: socket() decides which families exist */
	if (m->namelen == 0)
		return 0; /* the connected destination, checked when it was connected */
	if (o->kind == OP_CONNECT && m->name.ss_family == AF_UNSPEC)
		return 0; /* dissolves the association */
	proto = proto_name(o->protocol);
	if (!proto)
		return -EACCES; /* socket() lets no other protocol exist */
	/* sin_port and sin6_port share their offset; IPv4's sendto reads it even for AF_UNSPEC */
	port = m->namelen >= 4 ? ntohs(((const struct sockaddr_in *)&m->name)->sin_port) : 0;
	ok = rule_allows(list, o->protocol, port);
	pl_sockaddr_describe(&m->name, addr, sizeof addr, &ignored);
	note(c, op, proto, addr, port, ok);
	return ok ? 0 : -EACCES;
}

/* --------------------------------------------------------------------------- performing */

struct bind_job {
	struct op *o;
	int mask;
	int r;
};

/* On its own thread with its own working directory and umask (unshare CLONE_FS): a unix name is
 * created from inside its directory with the sandbox's umask, and the supervisor's directory and
 * umask are never touched. */
static void *bind_thread(void *arg)
{
	struct bind_job *j = arg;
	struct msg *m = &j->o->msgs[0];

	if (unshare(CLONE_FS) < 0 || fchdir(m->pathfd) < 0) {
		j->r = -errno;
		return NULL;
	}
	if (j->mask >= 0)
		umask((mode_t)j->mask);
	j->r = bind(j->o->sock, (struct sockaddr *)&m->name, m->namelen) < 0 ? -errno : 0;
	return NULL;
}

static int bind_in_dir(struct op *o)
{
	struct bind_job j = { o, -1, -EIO };
	sigset_t all, old;
	pthread_t t;
	int r;

	if (pl_proc_status(o->pid, "Umask:", 8, &j.mask) < 0)
		j.mask = -1;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, NULL, bind_thread, &j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return -r;
	pthread_join(t, NULL);
	return j.r;
}

/* Performs o from message *done on; the result the call returns (>= 0) or -errno. Without
 * blocking, -EWOULDBLOCK means "hand it to a worker" when the sandbox's call would have waited. */
static long perform(struct op *o, size_t *done, int may_block)
{
	long r = 0;

	if (o->kind == OP_LISTEN)
		return listen(o->sock, o->flags) < 0 ? -errno : 0;
	if (o->kind == OP_CONNECT)
		return connect(o->sock, (struct sockaddr *)&o->msgs[0].name, o->msgs[0].namelen) < 0 ? -errno : 0;
	if (o->kind == OP_BIND)
		return o->msgs[0].pathfd >= 0 ? bind_in_dir(o) : bind(o->sock, (struct sockaddr *)&o->msgs[0].name,
									 o->msgs[0].namelen) < 0 ? -errno : 0;
	for (; *done < o->nmsgs; (*done)++) {
		struct msg *m = &o->msgs[*done];
		struct iovec iov = { m->data, m->len };
		struct msghdr mh = {
			.msg_name = m->namelen ? &m->name : NULL, .msg_namelen = m->namelen,
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = m->control, .msg_controllen = m->controllen,
		};
		/* never SIGPIPE the supervisor: the sandbox gets it below, as the kernel would have; never
		 * zero-copy, which would send the supervisor's buffer after it is freed and reused */
		int flags = ((o->flags & ~MSG_ZEROCOPY) | MSG_NOSIGNAL) | (may_block ? 0 : MSG_DONTWAIT);
		ssize_t n = sendmsg(o->sock, &mh, flags);

		if (n < 0) {
			int err = errno;

			if (err == EPIPE && !(o->flags & MSG_NOSIGNAL))
				syscall(SYS_pidfd_send_signal, o->pidfd, SIGPIPE, NULL, 0);
			if ((err == EAGAIN || err == EWOULDBLOCK) && !may_block && !(o->flags & MSG_DONTWAIT)
			    && !(fcntl(o->sock, F_GETFL) & O_NONBLOCK))
				return -EWOULDBLOCK;
			return *done > 0 ? (long)*done : -err;
		}
		if (o->memfd >= 0) {
			unsigned len = (unsigned)n;
			uint64_t at = o->mmsg + *done * sizeof(struct mmsghdr) + offsetof(struct mmsghdr, msg_len);

			/* the mm opened before the call was checked valid, never a reused pid's */
			if (pwrite(o->memfd, &len, sizeof len, (off_t)at) != (ssize_t)sizeof len)
				return *done > 0 ? (long)*done : -EFAULT;
		}
		r = n;
	}
	return o->mmsg ? (long)*done : r;
}

static void answer(int listener, uint64_t id, long r)
{
	notify_respond(listener, id, 0, r < 0 ? (int)-r : 0, r < 0 ? 0 : r);
}

/* Takes o off the in-flight list. */
static void forget(struct op *o)
{
	pthread_mutex_lock(&inflight_lock);
	for (struct op **p = &inflight; *p; p = &(*p)->next)
		if (*p == o) {
			*p = o->next;
			inflight_n--;
			inflight_fds -= o->fds + 3;
			inflight_bytes -= o->bytes;
			break;
		}
	pthread_mutex_unlock(&inflight_lock);
}

static void *worker(void *arg)
{
	struct op *o = arg;
	size_t done = 0; /* handed over before any message went (l_net_perform) */
	long r = perform(o, &done, 1);

	answer(o->listener, o->id, r);
	forget(o);
	op_free(o);
	return NULL;
}

/* Runs o on a worker thread that answers for it. 0 or -errno (then o is still the caller's). */
static int hand_over(struct op *o, int listener)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int r;

	pthread_mutex_lock(&inflight_lock);
	if (inflight_n >= MAX_WORKERS || inflight_fds + o->fds + 3 > MAX_WORKER_FDS
	    || inflight_bytes + o->bytes > MAX_WORKER_BYTES) {
		pthread_mutex_unlock(&inflight_lock);
		return -EAGAIN; /* the sandbox has enough calls waiting already */
	}
	o->listener = fcntl(listener, F_DUPFD_CLOEXEC, 3);
	if (o->listener < 0) {
		pthread_mutex_unlock(&inflight_lock);
		return -errno;
	}
	o->next = inflight;
	inflight = o;
	inflight_n++;
	inflight_fds += o->fds + 3;
	inflight_bytes += o->bytes;
	pthread_mutex_unlock(&inflight_lock);
	/* the worker takes no signal: they are the supervisor's (forwarding, timeout) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 << 10);
	r = pthread_create(&t, &attr, worker, o);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		forget(o);
		close(o->listener);
		o->listener = -1;
		return -r;
	}
	return 0;
}

/* Wakes every worker of owner: its socket is shut down, so its blocked call returns. */
void net_perform_cancel(const void *owner)
{
	pthread_mutex_lock(&inflight_lock);
	for (struct op *o = inflight; o; o = o->next)
		if (o->owner == owner)
			shutdown(o->sock, SHUT_RDWR);
	pthread_mutex_unlock(&inflight_lock);
}

/* ---------------------------------------------------------------------------------- entry */

static int sockopt(int s, int opt)
{
	int v = -1;
	socklen_t len = sizeof v;

	return getsockopt(s, SOL_SOCKET, opt, &v, &len) < 0 ? -errno : v;
}

#define arg(c, i) ((c)->args[(i) - 1])

/* Reads what call c of o's thread asks for into o->msgs. 0 or -errno. */
static int load(const struct net_perform_call *c, struct op *o)
{
	size_t cap = o->type == SOCK_STREAM ? MAX_STREAM_SEND : MAX_MESSAGE, total;
	enum net_call name = c->call;
	int r;

	o->kind = name == NET_LISTEN ? OP_LISTEN : name == NET_CONNECT ? OP_CONNECT
		: name == NET_BIND ? OP_BIND : OP_SEND;
	o->nmsgs = 1;
	if (name == NET_SENDMMSG) {
		uint64_t vlen = arg(c, 3) & 0xffffffffu;

		o->mmsg = arg(c, 2);
		o->flags = (int)arg(c, 4);
		if (o->mmsg == 0)
			return -EFAULT;
		o->nmsgs = vlen > MAX_MMSG ? MAX_MMSG : (size_t)vlen;
		if (o->nmsgs == 0)
			return 0;
	}
	o->msgs = calloc(o->nmsgs, sizeof *o->msgs);
	if (!o->msgs)
		return -ENOMEM;
	o->nalloc = o->nmsgs;
	for (size_t i = 0; i < o->nmsgs; i++)
		o->msgs[i].pathfd = -1;
	if (o->kind == OP_LISTEN) {
		o->flags = (int)(arg(c, 2) & 0xffffffffu);
		return 0;
	}
	if (o->kind == OP_CONNECT || o->kind == OP_BIND) {
		r = read_name(o->pid, arg(c, 2), arg(c, 3) & 0xffffffffu, &o->msgs[0]);
		if (r == 0 && o->msgs[0].namelen == 0)
			r = -EINVAL;
		return r;
	}
	if (name == NET_SENDTO) {
		struct msg *m = &o->msgs[0];
		uint64_t len = arg(c, 3);

		o->flags = (int)arg(c, 4);
		r = read_name(o->pid, arg(c, 5), arg(c, 6) & 0xffffffffu, m);
		if (r == 0 && len > SSIZE_MAX)
			r = -EINVAL;
		m->len = len < cap ? (size_t)len : cap;
		if (r == 0 && o->type != SOCK_STREAM && len > cap)
			r = -EMSGSIZE;
		if (r == 0 && m->len && !(m->data = malloc(m->len)))
			r = -ENOMEM;
		if (r == 0)
			r = read_mem(o->pid, arg(c, 2), m->data, m->len);
		o->bytes = m->len;
		return r;
	}
	if (name == NET_SENDMSG) {
		o->flags = (int)arg(c, 3);
		r = read_msghdr(o->pid, o->pidfd, arg(c, 2), cap, &o->msgs[0], &total);
		if (r == 0 && o->type != SOCK_STREAM && total > cap)
			r = -EMSGSIZE;
		o->bytes = o->msgs[0].len + o->msgs[0].controllen;
		o->fds = o->msgs[0].nfds;
		return r;
	}
	for (size_t i = 0; i < o->nmsgs; i++) {
		struct msg *m = &o->msgs[i];

		r = read_msghdr(o->pid, o->pidfd, o->mmsg + i * sizeof(struct mmsghdr), cap, m, &total);
		if (r == 0 && o->type != SOCK_STREAM && total > cap)
			r = -EMSGSIZE;
		if (r == 0 && i > 0 && (o->bytes + m->len + m->controllen > MAX_OP_BYTES || o->fds + m->nfds > MAX_FDS)) {
			o->nmsgs = i; /* over this call's budget: the rest is the caller's to send again */
			break;
		}
		if (r < 0) {
			if (i == 0)
				return r;
			o->nmsgs = i; /* the kernel, too, sends what precedes a bad entry */
			break;
		}
		o->bytes += m->len + m->controllen;
		o->fds += m->nfds;
	}
	return 0;
}

enum net_answer net_perform(int listener, const void *owner, const struct net_perform_call *c, long *val)
{
	struct op *o = calloc(1, sizeof *o);
	size_t done = 0;
	long r;
	int fd;

	if (!o) {
		*val = ENOMEM;
		return NET_NOMEM;
	}
	o->owner = owner;
	o->listener = o->sock = o->memfd = -1;
	o->pid = c->pid;
	o->id = c->id;
	fd = (int)(arg(c, 1) & 0xffffffffu);
	o->pidfd = pl_pidfd_thread(o->pid);
	if (o->pidfd < 0) {
		r = o->pidfd;
		goto out;
	}
	o->sock = (int)syscall(SYS_pidfd_getfd, o->pidfd, fd, 0);
	if (o->sock < 0) {
		r = errno == ESRCH ? -ESRCH : -EBADF;
		goto out;
	}
	o->domain = sockopt(o->sock, SO_DOMAIN);
	o->type = sockopt(o->sock, SO_TYPE);
	o->protocol = sockopt(o->sock, SO_PROTOCOL);
	if (o->domain < 0 || o->type < 0) {
		r = -ENOTSOCK;
		goto out;
	}
	r = load(c, o);
	if (r == 0 && o->kind == OP_SEND && (o->flags & MSG_FASTOPEN)) {
		/* a connect inside a send: refused, as in the TCP-only mode */
		note(c, "fastopen", "tcp", NULL, -1, 0);
		r = -EACCES;
	}
	if (r == 0 && o->mmsg) {
		char mem[48];

		snprintf(mem, sizeof mem, "/proc/%d/mem", (int)o->pid);
		if ((o->memfd = open(mem, O_WRONLY | O_CLOEXEC)) < 0)
			r = -errno;
	}
	for (size_t i = 0; r == 0 && i < (o->kind == OP_LISTEN ? 1 : o->nmsgs); i++) {
		r = check(c, o, o->kind == OP_LISTEN ? NULL : &o->msgs[i]);
		if (r == 0 && o->kind != OP_LISTEN && o->msgs[i].pathfd >= 0) {
			/* each resolved unix path holds an fd too: a sendmmsg stops at the fd budget */
			if (i > 0 && o->fds + 1 > MAX_FDS) {
				o->nmsgs = i;
				break;
			}
			o->fds++;
		}
		if (r < 0 && i > 0) {
			o->nmsgs = i; /* send what precedes the refused message */
			r = 0;
		}
	}
	if (o->memfd >= 0)
		o->fds++;
	/* Everything above was taken by pid (memory, /proc/PID/root, cwd, umask): it belonged to the
	 * caller only if the caller still waits now, after it was all taken (a pid is not reused while
	 * its task lives). Otherwise nothing is performed and nothing is noted. */
	if (listener < 0 || !notify_valid(listener, o->id)) {
		op_free(o);
		return NET_GONE;
	}
	if (r < 0)
		goto out;
	if (o->kind == OP_SEND && o->nmsgs == 0)
		goto out; /* sendmmsg of nothing */
	/* a stream connect may wait long; a datagram one never does */
	if (o->kind == OP_CONNECT && o->type != SOCK_DGRAM)
		r = -EWOULDBLOCK;
	else
		r = perform(o, &done, 0);
	if (r == -EWOULDBLOCK) {
		if (done > 0)
			r = (long)done; /* some of a sendmmsg went: report those, as the kernel would */
		else if ((r = hand_over(o, listener)) == 0)
			return NET_ANSWERED;
	}
out:
	op_free(o);
	*val = r < 0 ? -r : r;
	return r < 0 ? NET_ERROR : NET_VALUE;
}
