/* Runs the container's createContainer and startContainer hooks from its init (oci_hooks.h). Each
 * hook is a plain fork + execve (init is single-threaded). A createContainer hook runs as the
 * container's root before anything of the process is applied, as under runc; a startContainer hook,
 * whose file comes from the image, runs with everything the process gets (init has taken its ids,
 * capabilities and no_new_privs; the hook takes its Landlock domain and seccomp filter here), as
 * runc runs it after the process's credentials, no_new_privs and filter. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/close_range.h>

#include "oci_hooks.h"
#include "payload.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static _Noreturn void hook_child(const struct oci_hook *h, int in, int as_root, const struct spawn_cfg *enforce)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	/* init's blocked and ignored signals must not be the hook's */
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in, 0) < 0)
		_exit(126);
	/* the hook gets stdin, stdout and stderr only: not init's control socket or start FIFO */
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (as_root && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		_exit(126);
	if (enforce) {
		/* the filter's listener, if it makes one, closes at execve: supervised calls then fail
		 * with ENOSYS (denied, not reported) */
		int listener;
		char what[128];

		if (spawn_enforce(enforce, &listener, what, sizeof what) < 0)
			_exit(126);
	}
	execve(h->path, (char *const *)h->argv, (char *const *)h->envp);
	_exit(127);
}

/* Feeds state to the hook and waits for it, up to its timeout. 0 with *status, or -1 with why. */
static int feed_and_wait(const struct oci_hook *h, pid_t pid, int out, const char *state, size_t len, int *status,
			 char *why, size_t n)
{
	long long deadline = h->timeout > 0 ? now_ms() + (long long)h->timeout * 1000 : -1;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	size_t done = 0;

	if (pidfd < 0) {
		snprintf(why, n, "pidfd_open: %s", strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, status, 0);
		return -1;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = out, .events = POLLOUT } };
		int timeout = -1, r;

		if (deadline >= 0) {
			long long left = deadline - now_ms();

			timeout = left > 0 ? (int)left : 0;
		}
		r = poll(p, out >= 0 ? 2 : 1, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 || r < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			close(pidfd);
			if (r == 0)
				snprintf(why, n, "timed out after %ds", h->timeout);
			else
				snprintf(why, n, "poll: %s", strerror(errno));
			return -1;
		}
		if (p[0].revents)
			break;
		if (out >= 0 && p[1].revents) {
			ssize_t w = send(out, state + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);

			/* a hook that does not read its stdin (or closed it) is not an error */
			if (w > 0)
				done += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || done == len) {
				close(out);
				out = -1;
			}
		}
	}
	if (out >= 0)
		close(out);
	close(pidfd);
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR) {
			snprintf(why, n, "waitpid: %s", strerror(errno));
			return -1;
		}
	return 0;
}

int oci_hooks_run(const char *phase, const struct oci_hook_list *list, const char *state, size_t len, int as_root,
		  const struct spawn_cfg *enforce, char *what, size_t n)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct oci_hook *h = &list->v[i];
		char why[128] = "";
		int sv[2], status = 0;
		pid_t pid;

		if (access(h->path, X_OK) < 0) {
			snprintf(why, sizeof why, "not an executable file");
		} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			snprintf(why, sizeof why, "socketpair: %s", strerror(errno));
		} else if ((pid = fork()) < 0) {
			snprintf(why, sizeof why, "fork: %s", strerror(errno));
			close(sv[0]);
			close(sv[1]);
		} else {
			if (pid == 0)
				hook_child(h, sv[1], as_root, enforce);
			close(sv[1]);
			if (feed_and_wait(h, pid, sv[0], state, len, &status, why, sizeof why) == 0) {
				if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
					continue;
				if (WIFEXITED(status))
					snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
				else
					snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(status));
			}
		}
		snprintf(what, n, "hooks.%s[%zu]: %s: %s", phase, i, h->path, why);
		return -1;
	}
	return 0;
}
