/* Entering a running container's namespaces: see ns_enter.h. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "ns_enter.h"

/* Opens /proc/target/ns/name when it is another namespace than the caller's: fd, 0 when the same,
 * or -errno. */
static int open_other(pid_t target, const char *name, const char *self_name)
{
	char p[64];
	struct stat a, b;
	int fd;

	snprintf(p, sizeof p, "/proc/%d/ns/%s", (int)target, name);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(p, sizeof p, "/proc/self/ns/%s", self_name);
	if (fstat(fd, &a) == 0 && stat(p, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
		close(fd);
		return 0;
	}
	return fd;
}

int ns_enter_pid(pid_t target, int *saved, int *user, char *what, size_t n)
{
	int fd = open_other(target, "pid", "pid_for_children"), err;

	*saved = -1;
	*user = 0;
	if (fd < 0) {
		snprintf(what, n, "open /proc/%d/ns/pid", (int)target);
		return fd;
	}
	if (fd == 0)
		return 0;
	*saved = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (*saved < 0)
		goto fail;
	if (setns(fd, CLONE_NEWPID) == 0) {
		close(fd);
		return 0;
	}
	if (errno == EPERM) {
		int ufd = open_other(target, "user", "user");

		if (ufd > 0) {
			err = setns(ufd, CLONE_NEWUSER) < 0 ? errno : 0;
			close(ufd);
			if (err) {
				errno = err;
				goto fail;
			}
			*user = 1;
			close(*saved); /* no way back to a pid namespace of the parent user namespace */
			*saved = -1;
			if (setns(fd, CLONE_NEWPID) == 0) {
				close(fd);
				return 0;
			}
		}
	}
fail:
	err = errno;
	close(fd);
	if (*saved >= 0)
		close(*saved);
	*saved = -1;
	snprintf(what, n, "join the pid namespace of %d", (int)target);
	return -err;
}

int ns_leave_pid(int saved, char *what, size_t n)
{
	int err = 0;

	if (saved < 0)
		return 0;
	/* EPERM: root of a user namespace that does not own the pid namespace it came from (a rootless
	 * engine's runtime) may enter the container's but not go back; it stays, as an unprivileged
	 * caller does (ns_enter.h) */
	if (setns(saved, CLONE_NEWPID) < 0 && errno != EPERM) {
		err = -errno;
		snprintf(what, n, "return to purple-oci's pid namespace");
	}
	close(saved);
	return err;
}

int ns_enter_rest(pid_t target, int *user, char *what, size_t n)
{
	static const struct { const char *name; int type; } ns[] = {
		{ "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS }, { "net", CLONE_NEWNET }, { "ipc", CLONE_NEWIPC },
		{ "uts", CLONE_NEWUTS }, { "cgroup", CLONE_NEWCGROUP },
	};
	int fds[6];

	*user = 0;
	/* all opened first: /proc is the container's once its mount namespace is joined */
	for (size_t i = 0; i < 6; i++) {
		fds[i] = open_other(target, ns[i].name, ns[i].name);
		if (fds[i] < 0) {
			int err = fds[i];

			snprintf(what, n, "open /proc/%d/ns/%s", (int)target, ns[i].name);
			for (size_t j = 0; j < i; j++)
				if (fds[j] > 0)
					close(fds[j]);
			return err;
		}
	}
	for (size_t i = 0; i < 6; i++) {
		if (!fds[i])
			continue;
		if (setns(fds[i], ns[i].type) < 0) {
			int err = errno;

			for (size_t j = i; j < 6; j++)
				if (fds[j] > 0)
					close(fds[j]);
			snprintf(what, n, "join the %s namespace of %d", ns[i].name, (int)target);
			return -err;
		}
		close(fds[i]);
		if (ns[i].type == CLONE_NEWUSER)
			*user = 1;
	}
	return 0;
}
