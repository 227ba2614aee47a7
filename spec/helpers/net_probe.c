/* net_probe: network attacks run inside a sandbox by spec/network_spec.lua.
 * Prints one line: "ok" (and what it got) or the errno name of the failure; exit 0 on ok, 1 otherwise.
 *
 *   net_probe connect tcp|udp|udplite|mptcp ADDR PORT   connect (udp, udplite: and send "probe");
 *                                               prints the answer
 *   net_probe sendto ADDR PORT                  unconnected UDP sendto
 *   net_probe sendmsg ADDR PORT                 unconnected UDP sendmsg
 *   net_probe fastopen ADDR PORT                TCP sendto(MSG_FASTOPEN) without connect
 *   net_probe bind tcp|udp ADDR PORT            bind (tcp: and listen)
 *   net_probe listen0                           listen on an unbound TCP socket (kernel picks a port)
 *   net_probe selfconnect PORT MS               listen on 127.0.0.1:PORT (0: without bind) and connect to
 *                                               it; "ok" once accepted, ETIMEDOUT after MS milliseconds
 *   net_probe abstract NAME                     connect to the abstract unix socket "\0NAME"
 *   net_probe socket KIND                       create a socket: raw, packet, sctp, mptcp, udplite, udp
 *                                               (IPv4, protocol 0), udp-proto (IPv6, IPPROTO_UDP), or
 *                                               io_uring (an io_uring instance)
 *   net_probe race ADDR ALLOWED DENIED N        N connects to ALLOWED while 2 threads flip the
 *                                               shared sockaddr's port to DENIED; prints
 *                                               "ok allowed=A denied=D" (D must be 0)
 *   net_probe race-udp ADDR ALLOWED DENIED N    the same with N sendto() on one UDP socket; prints
 *                                               "ok sent=S denied=D" (D: EPERM/EACCES failures); the
 *                                               receiver on DENIED must get nothing
 *   net_probe race-udp-connect ADDR ALLOWED DENIED N   the same with connect() + send() on a fresh
 *                                               UDP socket each time
 *   net_probe swap ADDR TCPALLOWED UDPDENIED N  N TCP connects to TCPALLOWED on fd 100 while one
 *                                               thread dup2()s a UDP socket (and the TCP socket in
 *                                               between) onto fd 100 and another
 *                                               flips the port to UDPDENIED; a datagram is sent on
 *                                               fd 100 after each; prints "ok connected=C denied=D"
 *                                               (the receiver on UDPDENIED must get nothing)
 *   net_probe sendmmsg ADDR PORT                connected UDP socket, sendmmsg() of 2 messages
 *                                               ("mmsg1", "mmsg2") without msg_name; prints "ok 2"
 *   net_probe sendmmsg ADDR ALLOWED DENIED      unconnected UDP socket, sendmmsg() of "mmsg1" to ALLOWED
 *                                               and "mmsg2" to DENIED; prints "ok N" (N messages sent)
 *   net_probe odd sendto|connect v4on6 ADDR PORT   UDP: an AF_INET address on an AF_INET6 socket
 *   net_probe odd sendto unspec ADDR PORT       UDP: sa_family AF_UNSPEC on an AF_INET socket (the kernel
 *                                               reads it as AF_INET)
 *   net_probe odd bind unspec tcp|udp PORT      bind AF_UNSPEC + INADDR_ANY (read as AF_INET)
 *   net_probe ping ADDR                         ICMP echo on a ping socket; "ok reply" once answered
 *   net_probe stall N ADDR PORT                 N threads block in sendmsg() on a full unix socket while
 *                                               the main thread sends a UDP datagram to ADDR:PORT every
 *                                               0.1 s: prints "started N", then "sent" per datagram;
 *                                               runs until killed
 *   net_probe unix-connect PATH                 connect to the unix stream socket PATH; prints the answer
 *                                               (for the unix-* commands "@NAME" is the abstract "\0NAME")
 *   net_probe unix-listen PATH                  bind and listen on PATH, connect to it, exchange a byte
 *   net_probe unix-dgram PATH                   sendto() the unix datagram socket PATH ("probe")
 *   net_probe scm-rights                        pass the fd of an open file over a socketpair
 *                                               (SCM_RIGHTS) and read the file through the received fd
 *   net_probe scm-odd                           the same over a unix datagram socketpair, with control
 *                                               messages a libc walker stops short of: a 16-byte
 *                                               SOL_IP header, then SCM_RIGHTS with cmsg_len 20
 *                                               (msg_controllen 36), once for each fd number 3..40 the
 *                                               file is dup2()ed to; each received fd must be the file
 *                                               (same inode, reads its content): "ok N" (N tried)
 *   net_probe unix-bind PATH                    bind a unix stream socket to PATH ("dir/" too); prints
 *                                               "ok" or the errno name, then what getsockname() shows:
 *                                               "unbound", "abstract" or "path"
 *   net_probe bind-flip FLIPDIR BINDDIR N VICTIM   N unix binds of BINDDIR/bI (more, up to 10N, until
 *                                               some succeeded and some failed with EACCES) while a
 *                                               thread flips the mode of FLIPDIR and BINDDIR between
 *                                               0 and 0755; then plants BINDDIR/report.json and
 *                                               /tmp/report.json -> VICTIM: "ok binds=B eacces=E
 *                                               other=O"
 *   net_probe fdx PATH N ADDR PORT              a unix datagram receiver at PATH, filled; N threads
 *                                               block in sendmmsg() of 1024 datagrams to it (one
 *                                               resolved path each); then one UDP "fdx" to ADDR:PORT:
 *                                               prints "started N", then "udp ok" or "udp ERRNO"
 *   net_probe notes N PORT                      N UDP sendto() to PORT on N distinct addresses
 *                                               127.1.0.0 + i: "ok sent=S denied=D"
 *
 * net_probe --sync DIR COMMAND...: bind-flip, fdx and notes then create DIR/ready and wait (up to
 * 120 s) for DIR/go before they return, so that the spec can look at the supervisor meanwhile
 * (fdx: while its threads are still blocked).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif
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

/* Reads the server's first line from fd and prints "ok LINE". */
static int print_greeting(int fd)
{
	char buf[256] = "";
	ssize_t n = read(fd, buf, sizeof buf - 1);

	if (n < 0)
		return fail("read");
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	printf("ok %s\n", buf);
	return 0;
}

static int do_connect(const char *kind, const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(host, port, &ss);
	int udp = strcmp(kind, "udp") == 0 || strcmp(kind, "udplite") == 0;
	int proto = strcmp(kind, "mptcp") == 0 ? IPPROTO_MPTCP : strcmp(kind, "udplite") == 0 ? IPPROTO_UDPLITE : 0;
	int fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, proto);

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
	return print_greeting(fd);
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
	else if (strcmp(kind, "mptcp") == 0)
		fd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
	else if (strcmp(kind, "udplite") == 0)
		fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	else if (strcmp(kind, "udp") == 0)
		fd = socket(AF_INET, SOCK_DGRAM, 0);
	else if (strcmp(kind, "udp-proto") == 0)
		fd = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP);
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

static volatile uint16_t *port_of(struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? &((struct sockaddr_in6 *)ss)->sin6_port : &((struct sockaddr_in *)ss)->sin_port;
}

/* The UDP race: like do_race, with sendto() on one socket (or connect() + send() on a fresh socket
 * each time). A success cannot tell where the datagram went: the spec asks the receivers. Goes on
 * (up to 10n) until both outcomes were seen, so the flippers really won some and lost some. */
static int do_race_udp(const char *host, int allowed, int denied, int n, int use_connect)
{
	socklen_t len = addr(host, allowed, &race_addr);
	volatile uint16_t *port = port_of(&race_addr);
	pthread_t t[2];
	int sent = 0, refused = 0, fd = -1;

	if (!use_connect && (fd = socket(race_addr.ss_family, SOCK_DGRAM, 0)) < 0)
		return fail("socket");
	race_denied = htons((uint16_t)denied);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, flipper, (void *)port);
	for (int i = 0; i < n || ((sent == 0 || refused == 0) && i < 10 * n); i++) {
		int r;

		if (use_connect) {
			int c = socket(race_addr.ss_family, SOCK_DGRAM, 0);

			if (c < 0)
				return fail("socket");
			*port = htons((uint16_t)allowed);
			r = connect(c, (struct sockaddr *)&race_addr, len);
			if (r == 0 && send(c, "race", 4, 0) < 0)
				return fail("send");
			close(c);
		} else {
			*port = htons((uint16_t)allowed);
			r = (int)sendto(fd, "race", 4, 0, (struct sockaddr *)&race_addr, len);
		}
		if (r >= 0)
			sent++;
		else if (errno == EPERM || errno == EACCES)
			refused++;
		else
			return fail(use_connect ? "connect" : "sendto");
	}
	atomic_store(&race_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("ok sent=%d denied=%d\n", sent, refused);
	return 0;
}

/* The fd swap: the fd number a TCP connect() uses is replaced by a UDP socket (dup2) while the port
 * flips to a denied UDP port; a checker that looked at one socket and address and let the kernel go
 * on would connect the UDP socket to the denied port, and the send() after it would get through. */
#define SWAP_FD 100
static atomic_int swap_udp = -1, swap_tcp = -1;

/* Puts the UDP socket on SWAP_FD, and the connect's own TCP socket back in between, so that some
 * connects see the TCP socket and the race runs both ways. */
static void *swapper(void *arg)
{
	(void)arg;
	while (!atomic_load(&race_stop)) {
		dup2(atomic_load(&swap_udp), SWAP_FD);
		for (volatile int i = 0; i < 50; i++)
			;
		int t = atomic_load(&swap_tcp);
		if (t >= 0)
			dup2(t, SWAP_FD);
		for (volatile int i = 0; i < 50; i++)
			;
	}
	return NULL;
}

static int do_swap(const char *host, int tcp_allowed, int udp_denied, int n)
{
	socklen_t len = addr(host, tcp_allowed, &race_addr);
	volatile uint16_t *port = port_of(&race_addr);
	pthread_t flip, swap;
	int connected = 0, refused = 0, u = socket(race_addr.ss_family, SOCK_DGRAM, 0);

	if (u < 0)
		return fail("socket");
	atomic_store(&swap_udp, u);
	race_denied = htons((uint16_t)udp_denied);
	pthread_create(&flip, NULL, flipper, (void *)port);
	pthread_create(&swap, NULL, swapper, NULL);
	for (int i = 0; i < n || (connected == 0 && i < 10 * n); i++) {
		int t = socket(race_addr.ss_family, SOCK_STREAM, 0);

		if (t < 0)
			return fail("socket");
		dup2(t, SWAP_FD);
		atomic_store(&swap_tcp, t);
		*port = htons((uint16_t)tcp_allowed);
		if (connect(SWAP_FD, (struct sockaddr *)&race_addr, len) == 0)
			connected++;
		else if (errno == EPERM || errno == EACCES)
			refused++;
		else if (errno != ECONNREFUSED && errno != EISCONN)
			return fail("connect");
		send(SWAP_FD, "swap", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
		atomic_store(&swap_tcp, -1);
		close(t);
	}
	atomic_store(&race_stop, 1);
	pthread_join(flip, NULL);
	pthread_join(swap, NULL);
	printf("ok connected=%d denied=%d\n", connected, refused);
	return 0;
}

/* One sendmmsg() of "mmsg1" and "mmsg2" on fd, to names[0] and names[1] (each len long), or without
 * msg_name when names is NULL; prints "ok N" with the count the kernel (or supervisor) returned. */
static int send_pair(int fd, struct sockaddr_storage *names, socklen_t len)
{
	struct iovec iov[2] = { { "mmsg1", 5 }, { "mmsg2", 5 } };
	struct mmsghdr m[2];
	int r;

	memset(m, 0, sizeof m);
	for (int i = 0; i < 2; i++) {
		if (names) {
			m[i].msg_hdr.msg_name = &names[i];
			m[i].msg_hdr.msg_namelen = len;
		}
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	r = sendmmsg(fd, m, 2, 0);
	if (r < 0)
		return fail("sendmmsg");
	printf("ok %d\n", r);
	return 0;
}

/* What glibc's resolver does: a connected UDP socket and sendmmsg() of 2 messages without msg_name. */
static int do_sendmmsg(const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(host, port, &ss);
	int fd = socket(ss.ss_family, SOCK_DGRAM, 0);

	if (fd < 0)
		return fail("socket");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		return fail("connect");
	return send_pair(fd, NULL, 0);
}

/* Fills a from a pathname (absolute or relative; "@NAME": the abstract name "\0NAME"); returns its
 * length. */
static socklen_t unix_addr(const char *path, struct sockaddr_un *a)
{
	size_t n = strlen(path);

	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (n + 1 > sizeof a->sun_path)
		exit(2);
	memcpy(a->sun_path, path, n);
	if (path[0] == '@') {
		a->sun_path[0] = 0;
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

static int do_unix_connect(const char *path)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(path, &a);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		return fail("socket");
	if (connect(fd, (struct sockaddr *)&a, len) < 0)
		return fail("connect");
	return print_greeting(fd);
}

/* bind + listen on path, then connect to it (queued in the backlog, so one thread does it all). */
static int do_unix_listen(const char *path)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(path, &a);
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0), s;
	char b = 0;

	if (l < 0 || c < 0)
		return fail("socket");
	if (bind(l, (struct sockaddr *)&a, len) < 0)
		return fail("bind");
	if (listen(l, 1) < 0)
		return fail("listen");
	if (connect(c, (struct sockaddr *)&a, len) < 0)
		return fail("connect");
	if ((s = accept(l, NULL, NULL)) < 0)
		return fail("accept");
	if (write(c, "x", 1) != 1 || read(s, &b, 1) != 1 || b != 'x')
		return fail("exchange");
	if (write(s, "y", 1) != 1 || read(c, &b, 1) != 1 || b != 'y')
		return fail("exchange");
	printf("ok\n");
	return 0;
}

static int do_unix_dgram(const char *path)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(path, &a);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	if (fd < 0)
		return fail("socket");
	if (sendto(fd, "probe", 5, 0, (struct sockaddr *)&a, len) < 0)
		return fail("sendto");
	printf("ok\n");
	return 0;
}

/* sendmsg() with an SCM_RIGHTS control message over a socketpair: the received fd reads the file. */
static int do_scm_rights(void)
{
	char name[] = "/tmp/net_probe_scm.XXXXXX", buf[32] = "";
	int sv[2], w = mkstemp(name), r, got;
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
	struct iovec iov = { "f", 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b };
	struct cmsghdr *c;
	char byte;

	if (w < 0)
		return fail("mkstemp");
	if (write(w, "scm-rights\n", 11) != 11 || (r = open(name, O_RDONLY)) < 0)
		return fail("file");
	close(w);
	unlink(name);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return fail("socketpair");
	memset(&ctl, 0, sizeof ctl);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &r, sizeof r);
	if (sendmsg(sv[0], &mh, 0) != 1)
		return fail("sendmsg");
	close(r);
	memset(&ctl, 0, sizeof ctl);
	iov = (struct iovec){ &byte, 1 };
	mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b };
	if (recvmsg(sv[1], &mh, 0) != 1)
		return fail("recvmsg");
	c = CMSG_FIRSTHDR(&mh);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
		errno = EBADMSG;
		return fail("recvmsg");
	}
	memcpy(&got, CMSG_DATA(c), sizeof got);
	if (read(got, buf, sizeof buf - 1) != 11 || strcmp(buf, "scm-rights\n") != 0) {
		errno = EBADMSG;
		return fail("read");
	}
	printf("ok\n");
	return 0;
}

/* Address family confusions the kernel accepts: AF_UNSPEC read as AF_INET (sendto on an AF_INET UDP
 * socket; bind to INADDR_ANY), an AF_INET address on an AF_INET6 UDP socket (sendto, connect). */
static int do_odd(const char *op, const char *form, const char *arg, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int v6 = strcmp(form, "v4on6") == 0, bind_op = strcmp(op, "bind") == 0;
	int udp = !bind_op || strcmp(arg, "udp") == 0, fd;

	if (!v6 && (strcmp(form, "unspec") != 0 || strcmp(op, "connect") == 0))
		exit(2);
	if (!v6)
		a.sin_family = AF_UNSPEC;
	if (bind_op)
		a.sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, arg, &a.sin_addr) != 1)
		exit(2);
	if ((fd = socket(v6 ? AF_INET6 : AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0)) < 0)
		return fail("socket");
	if (strcmp(op, "sendto") == 0) {
		if (sendto(fd, "probe", 5, 0, (struct sockaddr *)&a, sizeof a) < 0)
			return fail("sendto");
	} else if (strcmp(op, "connect") == 0) {
		if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
			return fail("connect");
		if (send(fd, "probe", 5, 0) < 0)
			return fail("send");
	} else if (bind_op) {
		if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
			return fail("bind");
	} else {
		exit(2);
	}
	printf("ok\n");
	return 0;
}

/* One sendmmsg() on an unconnected UDP socket: "mmsg1" to ALLOWED, then "mmsg2" to DENIED. */
static int do_sendmmsg_mixed(const char *host, int allowed, int denied)
{
	struct sockaddr_storage ss[2];
	socklen_t len = addr(host, allowed, &ss[0]);
	int fd = socket(ss[0].ss_family, SOCK_DGRAM, 0);

	addr(host, denied, &ss[1]);
	if (fd < 0)
		return fail("socket");
	return send_pair(fd, ss, len);
}

/* Many threads block in sendmsg() on a full unix stream socket (without root each waits in the
 * supervisor, on a worker or refused with EAGAIN once the workers are busy) while the main thread
 * keeps sending UDP datagrams to ADDR:PORT: prints "started N" once every thread made its call,
 * then "sent" after each datagram, until the session ends it. */
/* Starts n detached threads running fn, each counting itself in *started before it blocks, and
 * waits until all have. 0, or -1 when a thread could not be made. */
static int start_blockers(int n, void *(*fn)(void *), atomic_int *started)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, &attr, fn, NULL) != 0)
			return -1;
	}
	while (atomic_load(started) < n)
		usleep(1000);
	return 0;
}

static atomic_int stall_started;
static int stall_fd;

static void *staller(void *arg)
{
	struct iovec iov = { "s", 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	(void)arg;
	atomic_fetch_add(&stall_started, 1);
	sendmsg(stall_fd, &mh, 0);
	return NULL;
}

static int do_stall(int n, const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(host, port, &ss);
	int sv[2], u = socket(ss.ss_family, SOCK_DGRAM, 0), small = 4096;
	char buf[4096] = { 0 };

	if (u < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return fail("socket");
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	while (send(sv[0], buf, sizeof buf, MSG_DONTWAIT) > 0)
		;
	stall_fd = sv[0];
	if (start_blockers(n, staller, &stall_started) < 0)
		return fail("pthread_create");
	usleep(100000);
	printf("started %d\n", n);
	for (;;) {
		if (sendto(u, "stall", 5, 0, (struct sockaddr *)&ss, len) < 0)
			return fail("sendto");
		printf("sent\n");
		usleep(100000);
	}
}

/* An ICMP echo request on a ping socket (SOCK_DGRAM, IPPROTO_ICMP or ICMPV6; needs the netns's
 * net.ipv4.ping_group_range to cover the caller's gid): prints "ok reply" once the reply came. */
static int do_ping(const char *host)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(host, 0, &ss);
	int v6 = ss.ss_family == AF_INET6;
	int fd = socket(ss.ss_family, SOCK_DGRAM, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	unsigned char pkt[13] = { v6 ? 128 : 8, 0, 0, 0, 0, 0, 0, 1, 'p', 'r', 'o', 'b', 'e' }, buf[64];
	struct timeval tv = { .tv_sec = 2 };

	if (fd < 0)
		return fail("socket");
	if (sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&ss, len) < 0)
		return fail("sendto");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (recv(fd, buf, sizeof buf, 0) < 0)
		return fail("recv");
	printf("ok reply\n");
	return 0;
}

/* --sync DIR: a point where the spec looks at the supervisor while the sandbox waits. */
static const char *sync_dir;

static void sync_point(void)
{
	char p[4096];
	int fd;

	if (!sync_dir)
		return;
	snprintf(p, sizeof p, "%s/ready", sync_dir);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0)
		exit(3);
	close(fd);
	snprintf(p, sizeof p, "%s/go", sync_dir);
	for (int i = 0; i < 12000 && access(p, F_OK) != 0; i++)
		usleep(10000);
}

/* SCM_RIGHTS behind a header libc's CMSG_NXTHDR does not step over (16 + CMSG_ALIGN(20) > 36) but
 * the kernel does (16 + 20 <= 36): a supervisor that walks the control data with libc passes the
 * fd number untranslated, and the kernel reads it in the supervisor's fd table. */
static int do_scm_odd(void)
{
	char name[] = "/tmp/net_probe_odd.XXXXXX";
	int sv[2], w = mkstemp(name), f, tried = 0;
	struct stat want;

	if (w < 0)
		return fail("mkstemp");
	if (write(w, "scm-odd\n", 8) != 8 || (f = open(name, O_RDONLY)) < 0 || fstat(f, &want) < 0)
		return fail("file");
	close(w);
	unlink(name);
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
		return fail("socketpair");
	for (int n = 3; n <= 40; n++) {
		unsigned char ctl[36] __attribute__((aligned(8)));
		struct cmsghdr c1 = { .cmsg_len = 16, .cmsg_level = SOL_IP, .cmsg_type = 0 };
		struct cmsghdr c2 = { .cmsg_len = 20, .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS };
		struct iovec iov = { "o", 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = 36 };
		union { struct cmsghdr h; char b[256]; } in;
		struct cmsghdr *c;
		struct stat st;
		char byte, buf[32] = "";
		int got;

		if (n == sv[0] || n == sv[1] || n == f)
			continue;
		if (dup2(f, n) != n)
			return fail("dup2");
		memset(ctl, 0, sizeof ctl);
		memcpy(ctl, &c1, sizeof c1);
		memcpy(ctl + 16, &c2, sizeof c2);
		memcpy(ctl + 32, &n, sizeof n);
		if (sendmsg(sv[0], &mh, 0) != 1)
			return fail("sendmsg");
		close(n);
		memset(&in, 0, sizeof in);
		iov = (struct iovec){ &byte, 1 };
		mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = in.b, .msg_controllen = sizeof in.b };
		if (recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC) != 1)
			return fail("recvmsg");
		c = CMSG_FIRSTHDR(&mh);
		if ((mh.msg_flags & MSG_CTRUNC) || !c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS
		    || c->cmsg_len != CMSG_LEN(sizeof(int)) || CMSG_NXTHDR(&mh, c)) {
			printf("EBADMSG fd %d: not one SCM_RIGHTS fd\n", n);
			return 1;
		}
		memcpy(&got, CMSG_DATA(c), sizeof got);
		if (fstat(got, &st) < 0 || st.st_dev != want.st_dev || st.st_ino != want.st_ino
		    || pread(got, buf, sizeof buf - 1, 0) != 8 || strcmp(buf, "scm-odd\n") != 0) {
			char p[64], t[256] = "";
			ssize_t k;

			snprintf(p, sizeof p, "/proc/self/fd/%d", got);
			k = readlink(p, t, sizeof t - 1);
			t[k > 0 ? k : 0] = 0;
			printf("EBADMSG fd %d: received %s\n", n, t);
			return 1;
		}
		close(got);
		tried++;
	}
	printf("ok %d\n", tried);
	return 0;
}

/* bind() of a unix stream socket to path as given (a trailing slash kept), then getsockname(). */
static int do_unix_bind(const char *path)
{
	struct sockaddr_un a, g;
	socklen_t len = unix_addr(path, &a), glen = sizeof g;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), r, err;
	const char *name, *kind;

	if (fd < 0)
		return fail("socket");
	r = bind(fd, (struct sockaddr *)&a, len);
	err = errno;
	memset(&g, 0, sizeof g);
	if (getsockname(fd, (struct sockaddr *)&g, &glen) < 0)
		return fail("getsockname");
	kind = glen <= offsetof(struct sockaddr_un, sun_path) ? "unbound" : g.sun_path[0] == 0 ? "abstract" : "path";
	name = r == 0 ? "ok" : strerrorname_np(err);
	printf("%s %s\n", name ? name : "EUNKNOWN", kind);
	return r == 0 ? 0 : 1;
}

/* The reviewer's lostcwd2: binds while the modes flip. A supervisor that binds from inside the
 * directory on its own main thread and cannot get back (its directory is mode 0 at that moment)
 * stays in the sandbox's directory, where the links planted afterwards wait for relative writes. */
static const char *flip_dirs[2];

static void *mode_flipper(void *arg)
{
	(void)arg;
	while (!atomic_load(&race_stop)) {
		for (int i = 0; i < 2; i++)
			chmod(flip_dirs[i], 0);
		for (int i = 0; i < 2; i++)
			chmod(flip_dirs[i], 0755);
	}
	return NULL;
}

static int do_bind_flip(const char *flipdir, const char *binddir, int n, const char *victim)
{
	pthread_t t;
	int binds = 0, eacces = 0, other = 0;
	char p[256];

	if (mkdir(binddir, 0755) < 0 && errno != EEXIST)
		return fail("mkdir");
	flip_dirs[0] = flipdir;
	flip_dirs[1] = binddir;
	pthread_create(&t, NULL, mode_flipper, NULL);
	/* at least n binds, and on (up to 10n) until some met a directory of mode 0 and some did not */
	for (int i = 0; i < n || ((binds == 0 || eacces == 0) && i < 10 * n); i++) {
		struct sockaddr_un a;
		socklen_t len;
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		if (fd < 0)
			return fail("socket");
		snprintf(p, sizeof p, "%s/b%d", binddir, i);
		len = unix_addr(p, &a);
		if (bind(fd, (struct sockaddr *)&a, len) == 0)
			binds++;
		else if (errno == EACCES)
			eacces++;
		else
			other++;
		close(fd);
	}
	atomic_store(&race_stop, 1);
	pthread_join(t, NULL);
	chmod(flipdir, 0755);
	chmod(binddir, 0755);
	snprintf(p, sizeof p, "%s/report.json", binddir);
	if (symlink(victim, p) < 0 || symlink(victim, "/tmp/report.json") < 0)
		return fail("symlink");
	printf("ok binds=%d eacces=%d other=%d\n", binds, eacces, other);
	sync_point();
	return 0;
}

/* The reviewer's fdx: every datagram of a blocked sendmmsg() names a path the supervisor resolved,
 * and each resolved path is an fd it holds until the call ends. */
#define FDX_VLEN 1024
static struct sockaddr_un fdx_addr;
static socklen_t fdx_len;
static atomic_int fdx_started;

static void *fdx_blocker(void *arg)
{
	static struct iovec iov = { "x", 1 };
	struct mmsghdr *m = calloc(FDX_VLEN, sizeof *m);
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);

	(void)arg;
	for (int i = 0; m && i < FDX_VLEN; i++) {
		m[i].msg_hdr.msg_name = &fdx_addr;
		m[i].msg_hdr.msg_namelen = fdx_len;
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	atomic_fetch_add(&fdx_started, 1);
	if (m && s >= 0)
		sendmmsg(s, m, FDX_VLEN, 0);
	return NULL;
}

static int do_fdx(const char *path, int n, const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(host, port, &ss);
	int r = socket(AF_UNIX, SOCK_DGRAM, 0), f = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0), u;

	fdx_len = unix_addr(path, &fdx_addr);
	if (r < 0 || f < 0)
		return fail("socket");
	if (bind(r, (struct sockaddr *)&fdx_addr, fdx_len) < 0)
		return fail("bind");
	for (int i = 0; i < 100000; i++)
		if (sendto(f, "y", 1, 0, (struct sockaddr *)&fdx_addr, fdx_len) != 1)
			break;
	if (errno != EAGAIN)
		return fail("sendto");
	if (start_blockers(n, fdx_blocker, &fdx_started) < 0)
		return fail("pthread_create");
	usleep(300000);
	printf("started %d\n", n);
	if ((u = socket(ss.ss_family, SOCK_DGRAM, 0)) < 0)
		return fail("socket");
	if (sendto(u, "fdx", 3, 0, (struct sockaddr *)&ss, len) == 3) {
		printf("udp ok\n");
	} else {
		const char *e = strerrorname_np(errno);

		printf("udp %s\n", e ? e : "EUNKNOWN");
	}
	sync_point();
	return 0;
}

/* n sends to as many distinct loopback addresses: each a destination of its own to count. */
static int do_notes(int n, int port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), sent = 0, denied = 0;

	if (fd < 0)
		return fail("socket");
	for (int i = 0; i < n; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(0x7f010000u + (uint32_t)i) };

		if (sendto(fd, "n", 1, 0, (struct sockaddr *)&a, sizeof a) == 1)
			sent++;
		else if (errno == EACCES || errno == EPERM)
			denied++;
		else
			return fail("sendto");
	}
	printf("ok sent=%d denied=%d\n", sent, denied);
	sync_point();
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 3 && strcmp(argv[1], "--sync") == 0) {
		sync_dir = argv[2];
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
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
	if (argc == 6 && strcmp(argv[1], "race-udp") == 0)
		return do_race_udp(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), 0);
	if (argc == 6 && strcmp(argv[1], "race-udp-connect") == 0)
		return do_race_udp(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), 1);
	if (argc == 6 && strcmp(argv[1], "swap") == 0)
		return do_swap(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	if (argc == 4 && strcmp(argv[1], "sendmmsg") == 0)
		return do_sendmmsg(argv[2], atoi(argv[3]));
	if (argc == 5 && strcmp(argv[1], "sendmmsg") == 0)
		return do_sendmmsg_mixed(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 6 && strcmp(argv[1], "odd") == 0)
		return do_odd(argv[2], argv[3], argv[4], atoi(argv[5]));
	if (argc == 5 && strcmp(argv[1], "stall") == 0)
		return do_stall(atoi(argv[2]), argv[3], atoi(argv[4]));
	if (argc == 3 && strcmp(argv[1], "ping") == 0)
		return do_ping(argv[2]);
	if (argc == 3 && strcmp(argv[1], "unix-connect") == 0)
		return do_unix_connect(argv[2]);
	if (argc == 3 && strcmp(argv[1], "unix-listen") == 0)
		return do_unix_listen(argv[2]);
	if (argc == 3 && strcmp(argv[1], "unix-dgram") == 0)
		return do_unix_dgram(argv[2]);
	if (argc == 2 && strcmp(argv[1], "scm-rights") == 0)
		return do_scm_rights();
	if (argc == 2 && strcmp(argv[1], "scm-odd") == 0)
		return do_scm_odd();
	if (argc == 3 && strcmp(argv[1], "unix-bind") == 0)
		return do_unix_bind(argv[2]);
	if (argc == 6 && strcmp(argv[1], "bind-flip") == 0)
		return do_bind_flip(argv[2], argv[3], atoi(argv[4]), argv[5]);
	if (argc == 6 && strcmp(argv[1], "fdx") == 0)
		return do_fdx(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]));
	if (argc == 4 && strcmp(argv[1], "notes") == 0)
		return do_notes(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "usage: see the comment at the top of net_probe.c\n");
	return 2;
}
