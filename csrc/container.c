/* The steps an OCI container adds to spawn (lua/purple/oci/config.lua plans them): namespaced
 * sysctls, oom_score_adj and namespaces joined by path. Its mount kinds (filesystems with options,
 * masked and read-only paths, device nodes) are in mounts.c. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
	return type == CLONE_NEWNET ? "net" : type == CLONE_NEWIPC ? "ipc" : "uts";
}

/* The supervisor's thread joins each namespace before clone (the child is born in them; a child
 * in a new user namespace could not join namespaces owned by the host's), saving its own. */
int container_join(const struct spawn_cfg *c, int saved[MAX_JOINS], char *what, size_t n)
{
	for (size_t i = 0; i < MAX_JOINS; i++)
		saved[i] = -1;
	for (size_t i = 0; i < c->njoins; i++) {
		char self[64];
		int fd;

		snprintf(self, sizeof self, "/proc/thread-self/ns/%s", ns_file(c->joins[i].type));
		saved[i] = open(self, O_RDONLY | O_CLOEXEC);
		if (saved[i] < 0) {
			int e = errno;
			container_unjoin(c, saved, what, n);
			errno = e;
			FAIL("open %s", self);
		}
		fd = open(c->joins[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, c->joins[i].type) < 0) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			container_unjoin(c, saved, what, n);
			errno = e;
			FAIL("join %s namespace %s", ns_file(c->joins[i].type), c->joins[i].path);
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
