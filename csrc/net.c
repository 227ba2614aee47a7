/* Network namespace setup: bring up loopback, the only interface of an isolated sandbox. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "spawn.h"

/* The egress proxy's listeners on 127.0.0.1 inside the new namespace (the supervisor accepts on
 * them from outside it). The backlog holds a burst of clients while the proxy is busy. */
int net_egress_listen(const unsigned short ports[2], int fds[2], char *what, size_t n)
{
	fds[0] = fds[1] = -1;
	for (int i = 0; i < 2; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ports[i]),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0) {
			int err = -errno;

			snprintf(what, n, "egress proxy listener 127.0.0.1:%u", ports[i]);
			if (fd >= 0)
				close(fd);
			if (i)
				close(fds[0]);
			return err;
		}
		fds[i] = fd;
	}
	return 0;
}

int net_loopback_up(char *what, size_t n)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (fd < 0) {
		snprintf(what, n, "loopback socket");
		return -errno;
	}
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		r = -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (!r && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		r = -errno;
	if (r)
		snprintf(what, n, "bring up loopback");
	close(fd);
	return r;
}
