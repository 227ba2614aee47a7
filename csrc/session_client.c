/* Client side of the session protocol (session_client.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "fdpass.h"
#include "session_client.h"
#include "session_proto.h"

int session_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *q = p;

	while (n > 0) {
		ssize_t w = send(fd, q, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

int session_send_exec(int fd, uint32_t flags, uint32_t timeout_ms, const char *cwd, char *const argv[], size_t argc,
		      char *const env[], size_t envc, const int fds[3])
{
	struct session_exec ex = { flags, timeout_ms, (uint32_t)argc, (uint32_t)envc };
	struct session_hdr h = { SESSION_MAGIC, SESSION_EXEC, 0, 0 };
	size_t len = sizeof ex + strlen(cwd) + 1;
	char *payload, *p;
	ssize_t r;

	for (size_t k = 0; k < argc; k++)
		len += strlen(argv[k]) + 1;
	for (size_t k = 0; k < envc; k++)
		len += strlen(env[k]) + 1;
	if (len > SESSION_MAX_FRAME)
		return -E2BIG;
	payload = p = malloc(len);
	if (!payload)
		return -ENOMEM;
	memcpy(p, &ex, sizeof ex);
	p += sizeof ex;
	p = stpcpy(p, cwd) + 1;
	for (size_t k = 0; k < argc; k++)
		p = stpcpy(p, argv[k]) + 1;
	for (size_t k = 0; k < envc; k++)
		p = stpcpy(p, env[k]) + 1;
	h.len = (uint32_t)len;
	{
		/* header and payload in one sendmsg: the relay reads the request whole when it wakes */
		struct iovec iov[2] = { { &h, sizeof h }, { payload, len } };

		r = fdpass_sendv(fd, iov, 2, fds, 3);
	}
	if (r >= (ssize_t)sizeof h)
		r = write_all(fd, payload + (r - (ssize_t)sizeof h), len - (size_t)(r - (ssize_t)sizeof h));
	else if (r >= 0)
		r = -EIO;
	free(payload);
	return (int)r;
}

void session_send_signal(int fd, int sig)
{
	struct {
		struct session_hdr h;
		uint32_t sig;
	} m = { { SESSION_MAGIC, SESSION_SIGNAL, sizeof(uint32_t), 0 }, (uint32_t)sig };

	(void)!send(fd, &m, sizeof m, MSG_NOSIGNAL);
}

int session_read_result(int fd, char *buf, size_t *got, int *status, char *msg, size_t mn)
{
	ssize_t r = recv(fd, buf + *got, 4096 - *got, MSG_DONTWAIT);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0)
		return -1;
	*got += (size_t)r;
	return session_result_decode(buf, *got, 4096, status, msg, mn);
}

int session_result_usage(const char *buf, uint32_t *command, struct session_usage *u)
{
	struct session_result res;

	memcpy(&res, buf + sizeof(struct session_hdr), sizeof res);
	*command = res.command;
	*u = res.usage;
	return (res.flags & SESSION_RESULT_USAGE) != 0;
}
