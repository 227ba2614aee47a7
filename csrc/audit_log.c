/* The audit log file, held by the supervisor: opened before the sandbox starts, append-only,
 * close-on-exec (the command never inherits it) and never mounted into the sandbox.
 *
 * Each record goes out in one write(2) on an O_APPEND descriptor, so records of many sessions sharing
 * one file never interleave. Before each record the path is compared with the open file: when
 * logrotate has renamed it away (or removed it) the log is reopened, so rotation needs no signal;
 * logfile_reopen() does the same on request (SIGHUP). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "purple.h"

static int open_log(const char *path, int *fd_out)
{
	struct stat st = { .st_mode = S_IFREG };
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0640);

	if (fd < 0)
		return -errno;
	/* O_NONBLOCK: a FIFO planted at the path must not hang the supervisor before it is refused. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int err = S_ISREG(st.st_mode) ? errno : EINVAL;

		close(fd);
		return -err;
	}
	*fd_out = fd;
	return 0;
}

int logfile_open(struct logfile *f, const char *path)
{
	int fd, r = open_log(path, &fd);

	f->fd = -1;
	f->path = NULL;
	if (r < 0)
		return r;
	f->path = strdup(path);
	if (!f->path) {
		close(fd);
		return -ENOMEM;
	}
	f->fd = fd;
	return 0;
}

int logfile_reopen(struct logfile *f)
{
	int fd, r = open_log(f->path, &fd);

	if (r < 0)
		return r;
	close(f->fd);
	f->fd = fd;
	return 0;
}

/* True when the path no longer names the open file (renamed away or removed). */
static int rotated(const struct logfile *f)
{
	struct stat a, b;

	if (fstat(f->fd, &a) < 0)
		return 0;
	if (lstat(f->path, &b) < 0)
		return errno == ENOENT;
	return a.st_dev != b.st_dev || a.st_ino != b.st_ino;
}

ssize_t logfile_write(struct logfile *f, const void *rec, size_t n)
{
	ssize_t w;

	if (rotated(f))
		logfile_reopen(f); /* on failure keep writing to the old file rather than lose the record */
	do
		w = write(f->fd, rec, n);
	while (w < 0 && errno == EINTR);
	return w < 0 ? -errno : w;
}

void logfile_close(struct logfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->path);
	f->path = NULL;
}
