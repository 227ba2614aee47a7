/* net_probe: network attacks run inside a sandbox by spec/network_spec.lua.
 * Prints one line: "ok" (and what it got) or the errno name of the failure; exit 0 on ok, 1 otherwise.
 *
 *   net_probe connect tcp|udp|mptcp ADDR PORT   connect (udp: and send "probe"); prints the answer
 *   net_probe sendto ADDR PORT                  unconnected UDP sendto
 *   net_probe sendmsg ADDR PORT                 unconnected UDP sendmsg
 *   net_probe fastopen ADDR PORT                TCP sendto(MSG_FASTOPEN) without connect
 *   net_probe bind tcp|udp ADDR PORT            bind (tcp: and listen)
 *   net_probe listen0                           listen on an unbound TCP socket (kernel picks a port)
 *   net_probe selfconnect PORT MS               listen on 127.0.0.1:PORT (0: without bind) and connect to
 *                                               it; "ok" once accepted, ETIMEDOUT after MS milliseconds
 *   net_probe abstract NAME                     connect to the abstract unix socket "\0NAME"
 *   net_probe socket raw|packet|sctp|io_uring   create such a socket (io_uring: an io_uring instance)
 *   net_probe race ADDR ALLOWED DENIED N        N connects to ALLOWED while 2 threads flip the
 *                                               shared sockaddr's port to DENIED; prints
 *                                               "ok allowed=A denied=D" (D must be 0)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static int fail(const char *what)
{
	const char *name = strerrorname_np(errno);

	printf("%s\n", name ? name : "EUNKNOWN");
	(void)what;
	return 1;
}

/* Fills ss from a numeric address; returns its length. */
static socklen_t addr(const char *host, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			exit(2);
		return sizeof *a;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		exit(2);
	return sizeof *a;
}

static int do_connect(const char *kind, const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(host, port, &ss);
	int udp = strcmp(kind, "udp") == 0;
	int proto = strcmp(kind, "mptcp") == 0 ? IPPROTO_MPTCP : 0;
	int fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, proto);
	char buf[64] = "";

	if (fd < 0)
		return fail("socket");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		return fail("connect");
	if (udp) {
		struct timeval tv = { .tv_sec = 2 };

		if (send(fd, "probe", 5, 0) < 0)
			return fail("send");
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n < 0)
		return fail("read");
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	printf("ok %s\n", buf);
	return 0;
}

static int do_sendto(const char *host, int port, int use_msg)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(host, port, &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM, 0);

	if (fd < 0)
		return fail("socket");
	if (use_msg) {
		struct iovec iov = { "probe", 5 };
		struct msghdr mh = { .msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };

		if (sendmsg(fd, &mh, 0) < 0)
			return fail("sendmsg");
	} else if (sendto(fd, "probe", 5, 0, (struct sockaddr *)&ss, len) < 0) {
		return fail("sendto");
	}
	printf("ok\n");
	return 0;
}

static int do_fastopen(const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(host, port, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	char buf[64];

	if (fd < 0)
		return fail("socket");
	if (sendto(fd, "probe", 5, MSG_FASTOPEN, (struct sockaddr *)&ss, len) < 0)
		return fail("sendto");
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n < 0)
		return fail("read");
	printf("ok\n");
	return 0;
}

static int do_bind(const char *kind, const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(host, port, &ss);
	int udp = strcmp(kind, "udp") == 0;
	int fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);

	if (fd < 0)
		return fail("socket");
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return fail("bind");
	if (!udp && listen(fd, 1) < 0)
		return fail("listen");
	printf("ok\n");
	return 0;
}

static int do_listen0(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return fail("socket");
	if (listen(fd, 1) < 0)
		return fail("listen");
	getsockname(fd, (struct sockaddr *)&a, &len);
	printf("ok %d\n", ntohs(a.sin_port));
	return 0;
}

static int do_selfconnect(int port, int ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct pollfd p;

	if (l < 0 || c < 0)
		return fail("socket");
	a.sin_port = htons((uint16_t)port);
	if (port && bind(l, (struct sockaddr *)&a, sizeof a) < 0)
		return fail("bind");
	if (listen(l, 1) < 0)
		return fail("listen");
	getsockname(l, (struct sockaddr *)&a, &len);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
		return fail("connect");
	p = (struct pollfd){ .fd = l, .events = POLLIN };
	if (poll(&p, 1, ms) != 1) {
		errno = ETIMEDOUT;
		return fail("accept");
	}
	printf("ok\n");
	return 0;
}

static int do_abstract(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	size_t n = strlen(name);

	if (fd < 0)
		return fail("socket");
	if (n + 1 > sizeof a.sun_path)
		exit(2);
	memcpy(a.sun_path + 1, name, n);
	if (connect(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0)
		return fail("connect");
	printf("ok\n");
	return 0;
}

static int do_socket(const char *kind)
{
	int fd;

	if (strcmp(kind, "raw") == 0)
		fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	else if (strcmp(kind, "packet") == 0)
		fd = socket(AF_PACKET, SOCK_RAW, 0);
	else if (strcmp(kind, "sctp") == 0)
		fd = socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
	else if (strcmp(kind, "io_uring") == 0) {
		struct { uint32_t w[30]; } params = { { 0 } }; /* struct io_uring_params: 120 bytes */

		fd = (int)syscall(SYS_io_uring_setup, 4, &params);
	}
	else
		exit(2);
	if (fd < 0)
		return fail("socket");
	printf("ok\n");
	return 0;
}

/* The race: one sockaddr shared by all threads; the flippers keep writing the denied port into
 * it while the main thread connects with it and, between connects, writes the allowed one back. */
static struct sockaddr_storage race_addr;
static atomic_int race_stop;
static uint16_t race_denied;

static void *flipper(void *arg)
{
	volatile uint16_t *port = arg;

	while (!atomic_load(&race_stop)) {
		*port = race_denied;
		for (volatile int i = 0; i < 50; i++)
			;
	}
	return NULL;
}

static int do_race(const char *host, int allowed, int denied, int n)
{
	socklen_t len = addr(host, allowed, &race_addr);
	volatile uint16_t *port = race_addr.ss_family == AF_INET6 ? &((struct sockaddr_in6 *)&race_addr)->sin6_port
								   : &((struct sockaddr_in *)&race_addr)->sin_port;
	pthread_t t[2];
	int ok_allowed = 0, ok_denied = 0, refused = 0;

	race_denied = htons((uint16_t)denied);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, flipper, (void *)port);
	/* At least n attempts; on a loaded machine the flippers may win every one of them, so go on
	 * (up to 10n) until one allowed connect shows the race was really run both ways. */
	for (int i = 0; i < n || (ok_allowed == 0 && i < 10 * n); i++) {
		int fd = socket(race_addr.ss_family, SOCK_STREAM, 0);
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;

		if (fd < 0)
			return fail("socket");
		*port = htons((uint16_t)allowed);
		if (connect(fd, (struct sockaddr *)&race_addr, len) == 0) {
			getpeername(fd, (struct sockaddr *)&peer, &plen);
			uint16_t p = peer.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&peer)->sin6_port
								: ((struct sockaddr_in *)&peer)->sin_port;
			if (ntohs(p) == denied)
				ok_denied++;
			else
				ok_allowed++;
		} else {
			refused++;
		}
		close(fd);
	}
	atomic_store(&race_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("ok allowed=%d denied=%d refused=%d\n", ok_allowed, ok_denied, refused);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && strcmp(argv[1], "connect") == 0)
		return do_connect(argv[2], argv[3], atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "sendto") == 0)
		return do_sendto(argv[2], atoi(argv[3]), 0);
	if (argc == 4 && strcmp(argv[1], "sendmsg") == 0)
		return do_sendto(argv[2], atoi(argv[3]), 1);
	if (argc == 4 && strcmp(argv[1], "fastopen") == 0)
		return do_fastopen(argv[2], atoi(argv[3]));
	if (argc == 5 && strcmp(argv[1], "bind") == 0)
		return do_bind(argv[2], argv[3], atoi(argv[4]));
	if (argc == 2 && strcmp(argv[1], "listen0") == 0)
		return do_listen0();
	if (argc == 4 && strcmp(argv[1], "selfconnect") == 0)
		return do_selfconnect(atoi(argv[2]), atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "abstract") == 0)
		return do_abstract(argv[2]);
	if (argc == 3 && strcmp(argv[1], "socket") == 0)
		return do_socket(argv[2]);
	if (argc == 6 && strcmp(argv[1], "race") == 0)
		return do_race(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	fprintf(stderr, "usage: see the comment at the top of net_probe.c\n");
	return 2;
}
