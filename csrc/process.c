/* Process-level steps shared by spawn's init and the one-by-one primitives (csrc/lua/ns_primitives.c):
 * writes to /proc/PID files (id maps, setgroups) and the rlimit names of resources.rlimits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "process.h"

int write_proc(pid_t pid, const char *file, const char *data)
{
	char path[64];
	int fd, r = 0;

	if (pid > 0)
		snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	else
		snprintf(path, sizeof path, "/proc/self/%s", file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, data, strlen(data)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static const struct {
	const char *name;
	int res;
} rlimit_names[] = {
	{ "as", RLIMIT_AS },       { "core", RLIMIT_CORE },     { "cpu", RLIMIT_CPU },
	{ "data", RLIMIT_DATA },   { "fsize", RLIMIT_FSIZE },   { "memlock", RLIMIT_MEMLOCK },
	{ "nofile", RLIMIT_NOFILE }, { "nproc", RLIMIT_NPROC }, { "stack", RLIMIT_STACK },
	{ "msgqueue", RLIMIT_MSGQUEUE }, { "sigpending", RLIMIT_SIGPENDING },
	/* the rest of setrlimit(2), for OCI configs (process.rlimits) */
	{ "locks", RLIMIT_LOCKS }, { "nice", RLIMIT_NICE }, { "rtprio", RLIMIT_RTPRIO }, { "rttime", RLIMIT_RTTIME },
	{ "rss", RLIMIT_RSS },
};

int rlimit_by_name(const char *name)
{
	for (size_t i = 0; i < PL_ARRAY_LEN(rlimit_names); i++)
		if (name && strcmp(name, rlimit_names[i].name) == 0)
			return rlimit_names[i].res;
	return -1;
}
