/* `purple exec [-t] [--timeout S] [--cwd DIR] [--env K=V]... NAME -- CMD...`: runs CMD in the
 * running session NAME. Plain C, no Lua interpreter: the launcher calls purple_exec_main before
 * it creates one. The request (session_proto.h) carries argv, the --env entries, --cwd and the
 * caller's stdin, stdout and stderr (or, with -t, a new pty's slave, relayed here to the caller's
 * terminal); the supervisor answers with the exit status, which this process exits with. INT,
 * TERM, HUP, QUIT, USR1 and USR2 received here are sent on to the command's process group.
 * bin/purple (main.c) does the same for the common form without a C library and hands everything
 * else here: a change to the protocol, the messages or the options is made in both. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../session_client.h"
#include "../session_proto.h"

#define USAGE "usage: purple exec [-t] [--timeout SECONDS] [--cwd DIR] [--env K=V]... [-l LEVEL] NAME -- COMMAND..."

int purple_exec_main(int argc, char **argv);

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
	va_list ap;

	fputs("purple: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 125;
}

/* The runtime directory, as lua/purple/runtime.lua chooses it. */
static void runtime_dir(char *out, size_t n)
{
	const char *d = getenv("PURPLE_RUNTIME_DIR"), *x = getenv("XDG_RUNTIME_DIR");

	if (d && *d)
		snprintf(out, n, "%s", d);
	else if (geteuid() == 0)
		snprintf(out, n, "/run/purple");
	else if (x && *x)
		snprintf(out, n, "%s/purple", x);
	else
		snprintf(out, n, "/tmp/purple-%u", (unsigned)geteuid());
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '.' || *s == '-'))
			return 0;
	return 1;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *q = p;

	while (n > 0) {
		ssize_t w = write(fd, q, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

/* -l info: "purple: session NAME command N: status S in 0.012s; cpu 0.01s user + 0.00s sys, max RSS 3.4M"
 * (the format of purple -l info run's line; lua/purple/cli/usage.lua). */
static void usage_line(const char *name, const char *rbuf, int status)
{
	struct session_usage u;
	uint32_t command;
	double rss;
	const char *unit = "KMGT";

	if (!session_result_usage(rbuf, &command, &u)) {
		if (command)
			fprintf(stderr, "purple: session %s command %u: status %d\n", name, command, status);
		return;
	}
	rss = (double)u.maxrss_kib;
	while (rss >= 1024 && unit[1]) {
		rss /= 1024;
		unit++;
	}
	fprintf(stderr, "purple: session %s command %u: status %d in %.3fs; cpu %.2fs user + %.2fs sys, max RSS %.1f%c\n",
		name, command, status, (double)u.wall_us / 1e6, (double)u.user_us / 1e6, (double)u.sys_us / 1e6, rss,
		*unit);
}

static struct termios saved_tio;
static int tio_saved;

static void restore_tty(void)
{
	if (tio_saved)
		tcsetattr(0, TCSAFLUSH, &saved_tio);
}

int purple_exec_main(int argc, char **argv)
{
	int tty = 0, i, fd, sfd, master = -1, status = 125, stdin_open = 1, nenv = 0, size_fd = -1, info = 0;
	unsigned long timeout_ms = 0;
	const char *cwd = "", *name;
	char **env = calloc((size_t)argc + 1, sizeof *env);
	char dir[PATH_MAX], path[PATH_MAX + 80], msg[300], rbuf[4096];
	size_t rgot = 0;
	int fds[3] = { 0, 1, 2 };
	sigset_t sigs;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-t") == 0 || strcmp(a, "--tty") == 0)
			tty = 1;
		else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
			char *end;
			double t = strtod(argv[++i], &end);

			if (*end || !(t > 0) || t > 4000000)
				return die("--timeout: expected a positive number of seconds");
			timeout_ms = (unsigned long)(t * 1000 + 0.5);
			if (!timeout_ms)
				timeout_ms = 1;
		} else if (strcmp(a, "--cwd") == 0 && i + 1 < argc) {
			cwd = argv[++i];
			if (cwd[0] != '/')
				return die("--cwd: expected an absolute path inside the sandbox, got '%s'", cwd);
		} else if (strcmp(a, "--env") == 0 && i + 1 < argc) {
			const char *e = argv[++i];

			if (e[0] == '=' || !strchr(e, '='))
				return die("--env: expected NAME=VALUE, got '%s'", e);
			env[nenv++] = (char *)e;
		} else if ((strcmp(a, "-l") == 0 || strcmp(a, "--log-level") == 0) && i + 1 < argc) {
			const char *l = argv[++i];

			if (strcmp(l, "error") && strcmp(l, "warn") && strcmp(l, "info") && strcmp(l, "debug"))
				return die("-l: unknown log level '%s': expected error, warn, info or debug", l);
			info = strcmp(l, "info") == 0 || strcmp(l, "debug") == 0;
		} else if (a[0] == '-' && strcmp(a, "--") != 0)
			return die("exec: unknown option or missing value '%s' (" USAGE ")", a);
		else
			break;
	}
	if (i >= argc || strcmp(argv[i], "--") == 0)
		return die("exec: the session NAME is required (" USAGE ")");
	name = argv[i++];
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc || !argv[i][0])
		return die("exec: command: empty (give the command after --; " USAGE ")");
	if (!valid_name(name))
		return die("session %s: not a session name", name);

	runtime_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/%s.sock", dir, name);
	if (strlen(path) >= sizeof ((struct sockaddr_un *)0)->sun_path)
		return die("session %s: runtime directory path too long", name);
	fd = session_connect(path);
	if (fd < 0) {
		int e = -fd;

		fprintf(stderr, "purple: session %s: %s\n", name,
			e == ENOENT ? "no such running session (see purple session list)"
			: e == ECONNREFUSED ? "not running (its supervisor is gone; purple session list cleans up)"
			: e == EACCES ? "permission denied (the session belongs to another user)" : strerror(e));
		return 125;
	}

	if (tty) {
		int slave;

		master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
		    (slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
			return die("exec -t: cannot open a pty: %s", strerror(errno));
		/* the window size of the caller's terminal: stdin's, else stdout's or stderr's */
		for (int k = 0; k < 3 && size_fd < 0; k++)
			if (isatty(k))
				size_fd = k;
		if (size_fd >= 0) {
			struct winsize ws;

			if (ioctl(size_fd, TIOCGWINSZ, &ws) == 0)
				ioctl(master, TIOCSWINSZ, &ws);
		}
		if (isatty(0)) {
			struct termios raw;

			if (tcgetattr(0, &saved_tio) == 0) {
				raw = saved_tio;
				cfmakeraw(&raw);
				tio_saved = tcsetattr(0, TCSAFLUSH, &raw) == 0;
				atexit(restore_tty);
			}
		}
		fds[0] = fds[1] = fds[2] = slave;
	}

	/* signals to forward are read from a signalfd; WINCH resizes the pty (the kernel signals the command) */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	sigaddset(&sigs, SIGWINCH);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	{
		int r = session_send_exec(fd, tty ? SESSION_EXEC_TTY : 0, (uint32_t)timeout_ms, cwd, argv + i,
					  (size_t)(argc - i), env, (size_t)nenv, fds);

		if (r == -E2BIG)
			return die("exec: the command line is too long for a session request (at most 4 MiB)");
		if (r < 0) {
			struct pollfd pr = { .fd = fd, .events = POLLIN };

			/* refused (not the owner, too many connections): the supervisor's answer is waiting */
			if (poll(&pr, 1, 1000) > 0 && session_read_result(fd, rbuf, &rgot, &status, msg, sizeof msg) > 0) {
				fprintf(stderr, "purple: %s\n", msg);
				return status;
			}
			fprintf(stderr, "purple: session %s: send request: %s\n", name, strerror(-r));
			return 125;
		}
	}
	if (tty)
		close(fds[0]);

	for (;;) {
		struct pollfd pf[4] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = master, .events = POLLIN },
			{ .fd = master >= 0 && stdin_open ? 0 : -1, .events = POLLIN },
		};
		int r;

		if (poll(pf, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[2].revents) {
			char b[4096];
			ssize_t n = read(master, b, sizeof b);

			if (n > 0)
				write_all(1, b, (size_t)n);
			else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				close(master); /* EIO: every holder of the slave has closed it */
				master = -1;
			}
		}
		if (pf[3].revents) {
			char b[4096];
			ssize_t n = read(0, b, sizeof b);

			if (n > 0)
				write_all(master, b, (size_t)n);
			else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				stdin_open = 0;
		}
		if (pf[1].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGWINCH) {
					struct winsize ws;

					if (master >= 0 && size_fd >= 0 && ioctl(size_fd, TIOCGWINSZ, &ws) == 0)
						ioctl(master, TIOCSWINSZ, &ws);
				} else
					session_send_signal(fd, (int)si.ssi_signo);
			}
		}
		if (pf[0].revents) {
			r = session_read_result(fd, rbuf, &rgot, &status, msg, sizeof msg);
			if (r < 0) {
				fprintf(stderr, "purple: session %s: ended before the command's status was reported\n", name);
				return 125;
			}
			if (r > 0)
				break;
		}
	}
	/* the command's last output may still be in the pty */
	while (master >= 0) {
		char b[4096];
		struct pollfd pm = { .fd = master, .events = POLLIN };
		ssize_t n;

		if (poll(&pm, 1, 0) <= 0)
			break;
		n = read(master, b, sizeof b);
		if (n <= 0)
			break;
		write_all(1, b, (size_t)n);
	}
	restore_tty();
	tio_saved = 0;
	if (msg[0])
		fprintf(stderr, "purple: %s\n", msg);
	if (info)
		usage_line(name, rbuf, status);
	return status;
}
