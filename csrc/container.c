/* The steps an OCI container adds to spawn (lua/purple/oci/config.lua plans them): namespaced
 * sysctls, oom_score_adj and namespaces joined by path (network, IPC, UTS, pid, cgroup). Its mount
 * kinds (filesystems with options, masked and read-only paths, device nodes) are in mounts.c. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "spawn.h"

#define FAIL(fmt, ...) do { int e_ = errno; snprintf(what, n, fmt, __VA_ARGS__); return -e_; } while (0)

/* Writes each "key=value" to /proc/sys/<key with dots as slashes>. Runs in init after its
 * namespaces exist and before the new root, through the host's /proc: a net.* or ipc sysctl file
 * shows the namespace of the process that opens it. */
int container_sysctls(const struct spawn_cfg *c, char *what, size_t n)
{
	for (size_t i = 0; i < c->nsysctls; i++) {
		const char *kv = c->sysctls[i], *eq = strchr(kv, '=');
		char path[256];
		size_t len, vlen;
		int fd;

		if (!eq || eq == kv || (size_t)(eq - kv) + sizeof "/proc/sys/" >= sizeof path) {
			errno = EINVAL;
			FAIL("sysctl %s", kv);
		}
		/* A name is dot-separated words: no other character, no empty word, so the path built from
		 * it stays under /proc/sys (a "net.//.." key would otherwise climb out of it). */
		for (const char *q = kv; q < eq; q++)
			if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
			      *q == '_' || *q == '-' || (*q == '.' && q > kv && q[-1] != '.' && q + 1 < eq))) {
				errno = EINVAL;
				FAIL("sysctl %.*s: not a sysctl name", (int)(eq - kv), kv);
			}
		len = (size_t)snprintf(path, sizeof path, "/proc/sys/%.*s", (int)(eq - kv), kv);
		for (size_t k = sizeof "/proc/sys/" - 1; k < len; k++)
			if (path[k] == '.')
				path[k] = '/';
		fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		vlen = strlen(eq + 1);
		if (fd < 0 || write(fd, eq + 1, vlen) != (ssize_t)vlen) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			errno = e;
			FAIL("sysctl %.*s", (int)(eq - kv), kv);
		}
		close(fd);
	}
	return 0;
}

int container_oom_score(const struct spawn_cfg *c, char *what, size_t n)
{
	char v[16];
	int fd, len;

	if (!c->set_oom)
		return 0;
	len = snprintf(v, sizeof v, "%d", c->oom_score_adj);
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, v, (size_t)len) != len) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		errno = e;
		FAIL("oom_score_adj %d", c->oom_score_adj);
	}
	close(fd);
	return 0;
}

static const char *ns_file(int type)
{
	switch (type) {
	case CLONE_NEWNET: return "net";
	case CLONE_NEWIPC: return "ipc";
	case CLONE_NEWUTS: return "uts";
	case CLONE_NEWPID: return "pid";
	case CLONE_NEWCGROUP: return "cgroup";
	case CLONE_NEWNS: return "mount";
	case CLONE_NEWUSER: return "user";
	default: return "time";
	}
}

/* Refuses fd unless it is a namespace of the join's type and, for pid and cgroup, another one than
 * the supervisor's own: in purple-oci's own pid namespace (the host's) the container would see and
 * signal every process; in its cgroup namespace it would see the whole cgroup tree. A network, IPC
 * or UTS namespace of the supervisor's is what a config that lists no such namespace gets: allowed,
 * as runc allows it. 0, or -errno with what a whole message. */
static int join_check(const struct ns_join *j, int fd, char *what, size_t n)
{
	const char *f = j->field ? j->field : "joins", *name = ns_file(j->type);
	int t = ioctl(fd, NS_GET_NSTYPE);
	char self[64];
	struct stat a, b;

	if (t < 0) {
		snprintf(what, n, "config.json: %s: %s is not a namespace (a /proc/PID/ns/%s link or a bind mount of one)", f,
			 j->path, name);
		return -EINVAL;
	}
	if (t != j->type) {
		snprintf(what, n, "config.json: %s: %s is a %s namespace, not a %s one", f, j->path, ns_file(t), name);
		return -EINVAL;
	}
	if (j->type != CLONE_NEWPID && j->type != CLONE_NEWCGROUP)
		return 0;
	snprintf(self, sizeof self, "/proc/self/ns/%s", name);
	if (fstat(fd, &a) < 0 || stat(self, &b) < 0) {
		int e = errno;

		snprintf(what, n, "config.json: %s: stat %s: %s", f, j->path, strerror(e));
		return -e;
	}
	if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		return 0;
	if (j->type == CLONE_NEWPID)
		snprintf(what, n, "config.json: %s: %s is purple-oci's own pid namespace (the host's), where the container "
			 "would see and signal every process; join another container's, or leave the path out for a new one",
			 f, j->path);
	else
		snprintf(what, n, "config.json: %s: %s is purple-oci's own cgroup namespace (the host's), where the "
			 "container would see the whole cgroup tree; join another container's, or leave the path out for a "
			 "new one", f, j->path);
	return -EPERM;
}

/* The supervisor's thread joins each namespace before clone (the child is born in them; a child
 * in a new user namespace could not join namespaces owned by the host's), saving its own. A pid
 * namespace joined so is the one the thread's children are born in (pid_for_children): the thread
 * itself stays where it is. */
int container_join(const struct spawn_cfg *c, int saved[MAX_JOINS], char *what, size_t n, int *whole)
{
	*whole = 0;
	for (size_t i = 0; i < MAX_JOINS; i++)
		saved[i] = -1;
	for (size_t i = 0; i < c->njoins; i++) {
		const struct ns_join *j = &c->joins[i];
		char self[64];
		int fd, err;

		snprintf(self, sizeof self, "/proc/thread-self/ns/%s", j->type == CLONE_NEWPID ? "pid_for_children"
			 : ns_file(j->type));
		fd = open(j->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;

			container_unjoin(c, saved, what, n);
			errno = e;
			FAIL("join %s namespace %s", ns_file(j->type), j->path);
		}
		if ((err = join_check(j, fd, what, n)) < 0) {
			char scratch[128]; /* what keeps the check's message */

			close(fd);
			container_unjoin(c, saved, scratch, sizeof scratch);
			*whole = 1;
			return err;
		}
		saved[i] = open(self, O_RDONLY | O_CLOEXEC);
		if (saved[i] < 0 || setns(fd, j->type) < 0) {
			int e = errno, opened = saved[i] >= 0;

			close(fd);
			container_unjoin(c, saved, what, n);
			errno = e;
			if (!opened)
				FAIL("open %s", self);
			FAIL("join %s namespace %s", ns_file(j->type), j->path);
		}
		close(fd);
	}
	return 0;
}

/* Back to the supervisor's own namespaces, in reverse order. */
int container_unjoin(const struct spawn_cfg *c, int saved[MAX_JOINS], char *what, size_t n)
{
	int err = 0;

	for (size_t i = MAX_JOINS; i-- > 0;) {
		if (saved[i] < 0)
			continue;
		if (setns(saved[i], c->joins[i].type) < 0 && !err) {
			err = -errno;
			snprintf(what, n, "return to the supervisor's %s namespace", ns_file(c->joins[i].type));
		}
		close(saved[i]);
		saved[i] = -1;
	}
	return err;
}
