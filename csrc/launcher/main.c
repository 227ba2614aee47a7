/* bin/purple: a small static executable without a C library (x86-64; Makefile). Starting a process
 * costs about its page faults and system calls, and a C library's start alone is ~25 faults
 * (bench/README.md, Sessions); this one touches a few pages. It does two things:
 *
 * - `purple exec [--timeout S] [--cwd DIR] [--env K=V]... NAME [--] CMD...`, the common form of a
 *   command exec'd into a session, runs here: the request, the signals to forward, the result
 *   and its exit status, as csrc/launcher/exec_client.c does it (same protocol, session_proto.h;
 *   same runtime directory; same lines on stderr). Anything else (-t, a malformed option, a session
 *   that cannot be reached, a request that cannot be sent) is handed, untouched, to the launcher,
 *   whose exec_client.c does the whole of it and says what is wrong. Nothing has reached the
 *   session then: the supervisor starts a command only once its request has arrived whole.
 * - Every other command is the launcher, bin/purple-lua beside it (csrc/launcher/launcher.c),
 *   exec'd with the same argv and environment: it runs as purple or purple-lua by argv[0]'s name.
 *   Where it is comes from /proc/self/exe only, and it is exec'd only while it is owned by root or
 *   the invoking user and writable by no one else (it then checks its Lua tree itself).
 *
 * Built with -ffreestanding -nostdlib: the C library's headers give types and constants only. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "../session_proto.h"

#if !defined(__x86_64__)
#error "csrc/launcher/main.c: x86-64 only (the Makefile links bin/purple to the launcher elsewhere)"
#endif

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define sys(n, a, b, c) sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)

static _Noreturn void sys_exit(int status)
{
	for (;;)
		sys(SYS_exit_group, status, 0, 0);
}

/* The compiler may call these for struct copies and initialisers. */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n)
{
	char *p = d;
	const char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}
void *memset(void *d, int c, size_t n)
{
	char *p = d;

	while (n--)
		*p++ = (char)c;
	return d;
}

static size_t slen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static int seq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static int has_prefix(const char *s, const char *p)
{
	while (*p && *s == *p)
		s++, p++;
	return !*p;
}

/* A bounded string builder: a line for stderr, a path. Overflow is remembered, never written. */
struct buf {
	char *p;
	size_t n, cap;
	int over;
};

static void put(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (b->n + 1 >= b->cap) {
			b->over = 1;
			return;
		}
		b->p[b->n++] = *s;
		b->p[b->n] = 0;
	}
}

static void put_num(struct buf *b, unsigned long v, unsigned base, int width)
{
	char d[24], *e = d + sizeof d;

	*--e = 0;
	do {
		*--e = (char)('0' + v % base);
		v /= base;
		width--;
	} while (v || width > 0);
	put(b, e);
}

static void write_err(const struct buf *b)
{
	size_t off = 0;

	while (off < b->n) {
		long w = sys(SYS_write, 2, b->p + off, b->n - off);

		if (w == -EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static const char *getenv_(char **envp, const char *name)
{
	size_t n = slen(name);

	for (; *envp; envp++)
		if (has_prefix(*envp, name) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

static const char *errno_text(long e)
{
	switch (e) {
	case ENOENT: return "No such file or directory";
	case EACCES: return "Permission denied";
	case ENOEXEC: return "Exec format error";
	case ENAMETOOLONG: return "File name too long";
	default: return NULL;
	}
}

static _Noreturn void fail(struct buf *b, const char *what, long err)
{
	const char *t = errno_text(err);

	put(b, what);
	if (t)
		put(b, t);
	else {
		put(b, "errno ");
		put_num(b, (unsigned long)err, 10, 0);
	}
	put(b, " (reinstall purple)\n");
	write_err(b);
	sys_exit(125);
}

/* path's contents (at most n - 1 bytes, NUL-terminated) into buf: the length, or -1. */
static long read_small(const char *path, char *buf, size_t n)
{
	long fd = sys(SYS_open, path, O_RDONLY | O_CLOEXEC, 0), got;

	if (fd < 0)
		return -1;
	got = sys(SYS_read, fd, buf, n - 1);
	sys(SYS_close, fd, 0, 0);
	if (got <= 0)
		return -1;
	buf[got] = 0;
	return got;
}

/* The next decimal of *p (spaces skipped), advancing *p; -1 when none. */
static long next_num(const char **p)
{
	long v = -1;

	while (**p == ' ' || **p == '\n')
		(*p)++;
	for (; **p >= '0' && **p <= '9'; (*p)++)
		v = (v < 0 ? 0 : v * 10) + (**p - '0');
	return v;
}

/* As the launcher's find_outsider: inside a user namespace, the overflow uid that unmapped owners
 * (the host's root) show is taken as root is; in the initial namespace ("0 0 4294967295") not. */
static int outsider(unsigned long owner)
{
	char buf[128];
	const char *p = buf;

	if (read_small("/proc/self/uid_map", buf, sizeof buf) < 0)
		return 0;
	if (next_num(&p) == 0 && next_num(&p) == 0 && next_num(&p) == 4294967295L)
		return 0;
	p = buf;
	return read_small("/proc/sys/kernel/overflowuid", buf, sizeof buf) > 0 && next_num(&p) == (long)owner;
}

/* Execs the launcher beside this executable with this process's argv and environment. */
static _Noreturn void launcher(char **argv, char **envp)
{
	static char path[4200], line[9000];
	struct buf b = { line, 0, sizeof line, 0 };
	struct stat st;
	long n = sys(SYS_readlink, "/proc/self/exe", path, 4096 - 16), uid, i;

	line[0] = 0;
	if (n <= 0) {
		put(&b, "purple: cannot find its own executable: readlink /proc/self/exe: ");
		fail(&b, "", n < 0 ? -n : ENOENT);
	}
	path[n] = 0;
	for (i = n; i > 0 && path[i - 1] != '/'; i--)
		;
	memcpy(path + i, "purple-lua", sizeof "purple-lua");
	n = sys(SYS_stat, path, &st, 0);
	if (n < 0) {
		put(&b, "purple: cannot run its launcher ");
		put(&b, path);
		fail(&b, ": ", -n);
	}
	uid = sys(SYS_getuid, 0, 0, 0);
	/* worded as the launcher's check_owner_mode */
	if (st.st_uid != 0 && st.st_uid != (uid_t)uid && !outsider(st.st_uid)) {
		put(&b, "purple: ");
		put(&b, path);
		put(&b, " is owned by uid ");
		put_num(&b, st.st_uid, 10, 0);
		put(&b, ", neither root nor you (uid ");
		put_num(&b, (unsigned long)uid, 10, 0);
		put(&b, "), so that user could change the code purple runs; fix: chown ");
		put_num(&b, (unsigned long)uid, 10, 0);
		put(&b, " ");
		put(&b, path);
		put(&b, ", or use a copy of purple you own\n");
		write_err(&b);
		sys_exit(125);
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		put(&b, "purple: ");
		put(&b, path);
		put(&b, " is writable by group or others (mode ");
		put_num(&b, st.st_mode & 07777, 8, 4);
		put(&b, "), so another user could change the code purple runs; fix: chmod go-w ");
		put(&b, path);
		put(&b, "\n");
		write_err(&b);
		sys_exit(125);
	}
	n = sys(SYS_execve, path, argv, envp);
	put(&b, "purple: cannot run its launcher ");
	put(&b, path);
	fail(&b, ": ", -n);
}

/* As exec_client.c's valid_name. */
static int valid_name(const char *s)
{
	size_t n = slen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '.' || *s == '-'))
			return 0;
	return 1;
}

/* --timeout: DIGITS[.DIGITS], positive, at most 4000000 s, in ms as exec_client.c rounds it; 0 when
 * it is anything else (the launcher then says what is wrong). */
static unsigned long timeout_ms(const char *s)
{
	unsigned long ms = 0, scale = 1000;
	int digits = 0, below = -1, frac = 0; /* below: the first digit under a millisecond */

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		if (ms > 4000000000UL)
			return 0;
		ms = ms * 10 + (unsigned long)(*s - '0') * 1000;
	}
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
			scale /= 10;
			if (scale)
				ms += (unsigned long)(*s - '0') * scale;
			else {
				if (below < 0)
					below = *s - '0';
				frac |= *s != '0';
			}
		}
	if (*s || !digits || ms > 4000000000UL || (ms == 4000000000UL && frac))
		return 0;
	if (below >= 5)
		ms++;
	return ms ? ms : (unsigned long)frac;
}

static long send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		long w = sys6(SYS_sendto, fd, (long)p, (long)n, MSG_NOSIGNAL, 0, 0);

		if (w == -EINTR)
			continue;
		if (w < 0)
			return w;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The request as session_client.c's session_send_exec frames it: the header with fds 0, 1, 2 and
 * the payload, in one sendmsg (the relay reads it whole when it wakes). 0, or <0 when it could not
 * be sent whole. */
static long send_exec(int fd, uint32_t tmo, const char *cwd, char **argv, size_t argc, char **env, size_t envc,
		      char *payload, size_t cap)
{
	struct session_exec ex = { 0, tmo, (uint32_t)argc, (uint32_t)envc };
	struct session_hdr h = { SESSION_MAGIC, SESSION_EXEC, 0, 0 };
	union {
		char b[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov[2] = { { &h, sizeof h }, { payload, 0 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = u.b, .msg_controllen = sizeof u.b };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	int fds[3] = { 0, 1, 2 };
	size_t len = sizeof ex;
	long r;

	memcpy(payload, &ex, sizeof ex);
#define ADD(s)                                                                                              \
	do {                                                                                                \
		size_t l_ = slen(s) + 1;                                                                    \
		if (l_ > cap - len)                                                                         \
			return -E2BIG;                                                                      \
		memcpy(payload + len, (s), l_);                                                             \
		len += l_;                                                                                  \
	} while (0)
	ADD(cwd);
	for (size_t k = 0; k < argc; k++)
		ADD(argv[k]);
	for (size_t k = 0; k < envc; k++)
		ADD(env[k]);
#undef ADD
	h.len = (uint32_t)len;
	iov[1].iov_len = len;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(cm), fds, sizeof fds);
	do
		r = sys(SYS_sendmsg, fd, &mh, MSG_NOSIGNAL);
	while (r == -EINTR);
	if (r < (long)sizeof h)
		return r < 0 ? r : -EIO;
	return send_all(fd, payload + (r - (long)sizeof h), len - (size_t)(r - (long)sizeof h));
}

static int run_exec(int argc, char **argv, char **envp)
{
	static char dir[4096], payload[SESSION_MAX_FRAME], rbuf[4096], line[600];
	struct buf d = { dir, 0, sizeof dir, 0 }, b = { line, 0, sizeof line, 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned long tmo = 0;
	const char *cwd = "", *name, *x;
	static char *env[256]; /* more --env entries: the launcher's client takes them */
	size_t nenv = 0, got = 0, plen;
	int i, fd, sfd;
	uint64_t sigs = 0;
	long r;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (seq(a, "--timeout") && i + 1 < argc) {
			if (!(tmo = timeout_ms(argv[++i])))
				return -1;
		} else if (seq(a, "--cwd") && i + 1 < argc) {
			cwd = argv[++i];
			if (cwd[0] != '/')
				return -1;
		} else if (seq(a, "--env") && i + 1 < argc) {
			const char *e = argv[++i], *q = e;

			while (*q && *q != '=')
				q++;
			if (e[0] == '=' || !*q || nenv == sizeof env / sizeof *env)
				return -1;
			env[nenv++] = (char *)e;
		} else if (a[0] == '-') /* -t, --tty, --, unknown options */
			return -1;
		else
			break;
	}
	if (i >= argc)
		return -1;
	name = argv[i++];
	if (i < argc && seq(argv[i], "--"))
		i++;
	if (i >= argc || !argv[i][0] || !valid_name(name))
		return -1;

	/* the runtime directory, as lua/purple/runtime.lua chooses it */
	if ((x = getenv_(envp, "PURPLE_RUNTIME_DIR")) && *x)
		put(&d, x);
	else if (sys(SYS_geteuid, 0, 0, 0) == 0)
		put(&d, "/run/purple");
	else if ((x = getenv_(envp, "XDG_RUNTIME_DIR")) && *x) {
		put(&d, x);
		put(&d, "/purple");
	} else {
		put(&d, "/tmp/purple-");
		put_num(&d, (unsigned long)sys(SYS_geteuid, 0, 0, 0), 10, 0);
	}
	plen = d.n + 1 + slen(name) + 5;
	if (d.over || plen >= sizeof sa.sun_path)
		return -1;
	memcpy(sa.sun_path, dir, d.n);
	sa.sun_path[d.n] = '/';
	memcpy(sa.sun_path + d.n + 1, name, slen(name));
	memcpy(sa.sun_path + d.n + 1 + slen(name), ".sock", 6);

	fd = (int)sys(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (sys(SYS_connect, fd, &sa, sizeof sa) < 0) {
		sys(SYS_close, fd, 0, 0);
		return -1;
	}

	/* signals to forward are read from a signalfd (a kernel sigset: one bit per signal) */
	static const int fwd[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

	for (size_t s = 0; s < sizeof fwd / sizeof *fwd; s++)
		sigs |= 1ULL << (fwd[s] - 1);
	sys6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&sigs, 0, 8, 0, 0);
	sfd = (int)sys6(SYS_signalfd4, -1, (long)&sigs, 8, SFD_CLOEXEC, 0, 0);

	r = send_exec(fd, (uint32_t)tmo, cwd, argv + i, (size_t)(argc - i), env, nenv, payload, SESSION_MAX_FRAME);
	if (r < 0) {
		sys(SYS_close, fd, 0, 0);
		if (sfd >= 0)
			sys(SYS_close, sfd, 0, 0);
		sys6(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&sigs, 0, 8, 0, 0);
		return -1; /* nothing reached the session whole: the launcher does it again, or says why */
	}

	for (;;) {
		struct pollfd pf[2] = { { .fd = fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		struct session_hdr h;
		struct session_result res;

		r = sys6(SYS_ppoll, (long)pf, sfd >= 0 ? 2 : 1, 0, 0, 8, 0);
		if (r == -EINTR)
			continue;
		if (r < 0)
			break;
		if (sfd >= 0 && pf[1].revents) {
			struct signalfd_siginfo si;

			if (sys(SYS_read, sfd, &si, sizeof si) == (long)sizeof si && si.ssi_signo != SIGWINCH) {
				struct {
					struct session_hdr h;
					uint32_t sig;
				} m = { { SESSION_MAGIC, SESSION_SIGNAL, sizeof(uint32_t), 0 }, si.ssi_signo };

				sys6(SYS_sendto, fd, (long)&m, sizeof m, MSG_NOSIGNAL, 0, 0);
			}
		}
		if (!pf[0].revents)
			continue;
		r = sys6(SYS_recvfrom, fd, (long)(rbuf + got), (long)(sizeof rbuf - got), MSG_DONTWAIT, 0, 0);
		if (r == -EAGAIN || r == -EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got < sizeof h)
			continue;
		memcpy(&h, rbuf, sizeof h);
		if (h.magic != SESSION_MAGIC || h.type != SESSION_RESULT || h.len < sizeof res ||
		    h.len > sizeof rbuf - sizeof h)
			break;
		if (got < sizeof h + h.len)
			continue;
		memcpy(&res, rbuf + sizeof h, sizeof res);
		if (h.len > sizeof res) {
			size_t n = h.len - sizeof res;

			if (n > 299)
				n = 299; /* as exec_client.c's message buffer */
			rbuf[sizeof h + sizeof res + n] = 0;
			put(&b, "purple: ");
			put(&b, rbuf + sizeof h + sizeof res);
			put(&b, "\n");
			write_err(&b);
		}
		return res.status & 0xff;
	}
	put(&b, "purple: session ");
	put(&b, name);
	put(&b, ": ended before the command's status was reported\n");
	write_err(&b);
	return 125;
}

_Noreturn void start_main(long *sp); /* called by _start below */
__attribute__((used)) _Noreturn void start_main(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
	const char *base = argv[0] ? argv[0] : "";

	for (const char *p = base; *p; p++)
		if (*p == '/')
			base = p + 1;
	/* purple-lua and purple-oci (links to the launcher) never reach here; a copy so named still must not */
	if (argc > 2 && seq(argv[1], "exec") && !has_prefix(base, "purple-lua") && !has_prefix(base, "purple-oci")) {
		int status = run_exec(argc - 1, argv + 1, envp);

		if (status >= 0)
			sys_exit(status);
	}
	launcher(argv, envp);
}

__asm__(".text\n.global _start\n_start:\n\txor %rbp, %rbp\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall start_main\n\thlt\n");
