/* purple-oci's fd work: see oci_io.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "fdpass.h"
#include "oci_io.h"

int oci_fifo_open(const char *path)
{
	int fd;

	if (mkfifo(path, 0600) < 0)
		return -errno;
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int oci_lock(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600), r;

	if (fd < 0)
		return -errno;
	while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int oci_fifo_signal(const char *path)
{
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "s", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

int oci_fifo_result_open(const char *path)
{
	/* non-blocking open: with no writer left (init gone) it still opens, and reads EOF */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETFL, 0) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

ssize_t oci_fifo_result_read(int fd, char *buf, size_t n)
{
	size_t got = 0;
	ssize_t r = 0;

	while (got + 1 < n && ((r = read(fd, buf + got, n - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			got += (size_t)r;
	if (r < 0)
		r = -errno;
	buf[got] = 0;
	close(fd);
	return r < 0 ? r : (ssize_t)got;
}

int oci_console_send(const char *path, int fd)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s, err = 0;
	ssize_t n;

	if (strlen(path) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0)
		err = -errno;
	/* runc sends the pty's name as the payload; conmon and the shim only take the fd */
	else if ((n = fdpass_send(s, "/dev/ptmx", 9, &fd, 1)) < 0)
		err = (int)n;
	close(s);
	return err;
}
