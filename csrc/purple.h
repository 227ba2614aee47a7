/* Shared declarations of purple's C core: plain C11, no Lua. Functions return 0 or -errno unless
 * said otherwise. The Lua binding layer (csrc/lua/) builds on these; nothing here calls up into it. */
#ifndef PURPLE_H
#define PURPLE_H

#include <stddef.h>
#include <sys/types.h>

#define PL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Network notification helpers (net_notify.c): a field of /proc/PID/status, a pidfd of thread tid
 * (-errno on failure), and a sockaddr's family name ("inet", "inet6"; NULL for other families)
 * with its address text and port. */
struct sockaddr_storage;
int pl_proc_status(pid_t pid, const char *key, int base, int *out);
int pl_pidfd_thread(pid_t tid);
const char *pl_sockaddr_describe(const struct sockaddr_storage *ss, char *addr, size_t n, int *port);
/* A copy of the sockaddr (len bytes, at most sizeof *ss) a notified call of pid passed at ptr. */
int pl_peek_sockaddr(pid_t pid, unsigned long long ptr, size_t len, struct sockaddr_storage *ss);

/* SHA-256 (sha256.c): the audit log's digests of policies and produced files. */
struct pl_sha256 {
	unsigned int h[8];
	unsigned long long len;
	unsigned char buf[64];
	size_t used;
};
void pl_sha256_init(struct pl_sha256 *s);
void pl_sha256_update(struct pl_sha256 *s, const void *data, size_t n);
void pl_sha256_hex(struct pl_sha256 *s, char out[65]);
int pl_sha256_fd(int fd, char out[65]);

/* The audit log file (audit_log.c): opened O_APPEND, close-on-exec, regular files only (-EINVAL
 * for anything else). logfile_write reopens the path first when logrotate moved it away; it
 * returns the bytes written or -errno. */
struct logfile {
	int fd;
	char *path;
};
int logfile_open(struct logfile *f, const char *path);
int logfile_reopen(struct logfile *f);
ssize_t logfile_write(struct logfile *f, const void *rec, size_t n);
void logfile_close(struct logfile *f);

/* One write(2) of a cgroup control file (cgroupfs.c): bytes written or -errno. */
ssize_t cgroup_write(const char *path, const void *text, size_t len);

#endif
