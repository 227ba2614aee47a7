/* Supervisor-side helpers for the network enforcer's seccomp notification handlers (rootless).
 *
 * The sockaddr reader only feeds the audit log of the TCP-only mode, where the kernel (Landlock)
 * decides on its own copy; calls the supervisor decides are performed in net_perform.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "purple.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

/* The number after key (e.g. "Tgid:", or "Umask:" in base 8) on its line of /proc/PID/status;
 * 0, or -1 when there is no such line or file. */
int pl_proc_status(pid_t pid, const char *key, int base, int *out)
{
	char path[48], line[128];
	size_t klen = strlen(key);
	FILE *f;
	int r = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (r < 0 && fgets(line, sizeof line, f))
		if (strncmp(line, key, klen) == 0) {
			*out = (int)strtol(line + klen, NULL, base);
			r = 0;
		}
	fclose(f);
	return r;
}

/* A pidfd for thread tid, or -errno. A notification names the calling thread, which need not lead
 * its group: pidfd_open of such a tid needs PIDFD_THREAD (Linux 6.9); before that, the pidfd of
 * its thread group leader (the same fd table, unless the thread unshared it). */
int pl_pidfd_thread(pid_t tid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD), tgid;

	if (pidfd < 0 && errno == EINVAL)
		pidfd = (int)syscall(SYS_pidfd_open, tid, 0);
	if (pidfd < 0 && (errno == EINVAL || errno == ENOENT) && pl_proc_status(tid, "Tgid:", 10, &tgid) == 0)
		pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
	return pidfd < 0 ? -errno : pidfd;
}

/* Fills addr/port from a sockaddr; returns the family name or NULL for a family without ports. */
const char *pl_sockaddr_describe(const struct sockaddr_storage *ss, char *addr, size_t n, int *port)
{
	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, addr, (socklen_t)n);
		*port = ntohs(a->sin_port);
		return "inet";
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, addr, (socklen_t)n);
		*port = ntohs(a->sin6_port);
		return "inet6";
	}
	return NULL;
}

/* A copy of the sockaddr (at most sizeof *ss bytes of len) that a notified call of pid passed at ptr,
 * as it was when read. 0 or -errno. */
int pl_peek_sockaddr(pid_t pid, unsigned long long ptr, size_t len, struct sockaddr_storage *ss)
{
	struct iovec local, remote;

	memset(ss, 0, sizeof *ss);
	if (len > sizeof *ss)
		len = sizeof *ss;
	local = (struct iovec){ ss, len };
	remote = (struct iovec){ (void *)(uintptr_t)ptr, len };
	if (ptr == 0 || len < sizeof(sa_family_t))
		return -EINVAL;
	if (process_vm_readv(pid, &local, 1, &remote, 1, 0) < 0)
		return -errno;
	return 0;
}
