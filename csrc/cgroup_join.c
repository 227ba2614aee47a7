/* Joining the sandbox's cgroups without stalling the spawn.
 *
 * Writing another process's pid to cgroup.procs takes the kernel's cgroup_threadgroup_rwsem for
 * writing, which waits for an RCU grace period: 8-16 ms on this class of machine, the largest
 * single cost of a sandbox start. Two ways in avoid that lock:
 *   v2: clone3 with CLONE_INTO_CGROUP puts init into the cgroup as it is created;
 *   v1: a single thread that moves itself (writes "0" to the cgroup's tasks file) skips the
 *       global lock; init does so before it changes its ids or starts anything.
 * Whatever is left (a second v2 cgroup, a filesystem that is neither) is written by the parent as
 * before. Every way completes before init builds the sandbox or starts anything, and a failed join
 * stops the run (125), so nothing runs outside its cgroups. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "cgroup_join.h"

/* The directory of ".../cgroup.procs" into buf; 0 or -1 when it does not fit. */
static int dir_of(const char *procs, char *buf, size_t n)
{
	const char *slash = strrchr(procs, '/');
	size_t len = slash ? (size_t)(slash - procs) : 0;

	if (!slash || len == 0 || len >= n)
		return -1;
	memcpy(buf, procs, len);
	buf[len] = 0;
	return 0;
}

void cgroup_join_plan(const struct spawn_cfg *c, struct cgroup_join *j)
{
	j->clone_fd = -1;
	for (size_t i = 0; i < c->ncgroup_procs && i < CGROUP_JOIN_MAX; i++) {
		char dir[4096];
		struct statfs fs;
		const char *base = strrchr(c->cgroup_procs[i], '/');

		j->how[i] = CG_JOIN_PARENT;
		if (!base || strcmp(base, "/cgroup.procs") != 0 || dir_of(c->cgroup_procs[i], dir, sizeof dir) < 0 ||
		    statfs(dir, &fs) < 0)
			continue;
		if (fs.f_type == CGROUP_SUPER_MAGIC) {
			j->how[i] = CG_JOIN_SELF;
		} else if (fs.f_type == CGROUP2_SUPER_MAGIC && j->clone_fd < 0) {
			j->clone_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (j->clone_fd >= 0)
				j->how[i] = CG_JOIN_CLONE;
		}
	}
}

void cgroup_join_no_clone(const struct spawn_cfg *c, struct cgroup_join *j)
{
	for (size_t i = 0; i < c->ncgroup_procs && i < CGROUP_JOIN_MAX; i++)
		if (j->how[i] == CG_JOIN_CLONE)
			j->how[i] = CG_JOIN_PARENT;
	cgroup_join_close(j);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		r = -errno;
	close(fd);
	return r;
}

int cgroup_join_parent(const struct spawn_cfg *c, const struct cgroup_join *j, pid_t pid, char *what, size_t n)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%ld", (long)pid);
	for (size_t i = 0; i < c->ncgroup_procs; i++) {
		int r;

		if (i < CGROUP_JOIN_MAX && j->how[i] != CG_JOIN_PARENT)
			continue;
		if ((r = write_str(c->cgroup_procs[i], buf)) < 0) {
			snprintf(what, n, "join cgroup %s", c->cgroup_procs[i]);
			return r;
		}
	}
	return 0;
}

int cgroup_join_self(const struct spawn_cfg *c, const struct cgroup_join *j, char *what, size_t n)
{
	for (size_t i = 0; i < c->ncgroup_procs && i < CGROUP_JOIN_MAX; i++) {
		char tasks[4096 + 8];
		int r;

		if (j->how[i] != CG_JOIN_SELF)
			continue;
		if (dir_of(c->cgroup_procs[i], tasks, sizeof tasks - 8) < 0) {
			errno = ENAMETOOLONG;
			snprintf(what, n, "join cgroup %s", c->cgroup_procs[i]);
			return -ENAMETOOLONG;
		}
		strcat(tasks, "/tasks");
		if ((r = write_str(tasks, "0")) < 0) {
			snprintf(what, n, "join cgroup %s", c->cgroup_procs[i]);
			return r;
		}
	}
	return 0;
}

void cgroup_join_close(struct cgroup_join *j)
{
	if (j->clone_fd >= 0)
		close(j->clone_fd);
	j->clone_fd = -1;
}
