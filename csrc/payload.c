/* The last steps of every command, for spawn's payload and the session agent's commands alike:
 * Landlock, then the seccomp filter (last: the setup calls before it need not be allowed), then
 * execve with argv[0] searched in PATH. A file of its own so that spawn.c and session_agent.c
 * both call down into it and neither calls the other back. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include "payload.h"
#include "spawn.h"

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

