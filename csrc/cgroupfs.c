/* cgroupfs: the one cgroup operation Lua's buffered io cannot do right. A cgroup control file
 * takes each value in a single write(2) and reports a rejected value as that write's errno,
 * which stdio would split, buffer or lose. Everything else (mkdir, rmdir, reading) uses the
 * primitives and plain Lua io. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "purple.h"

ssize_t cgroup_write(const char *path, const void *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	err = errno;
	close(fd);
	return n < 0 ? -err : n;
}
