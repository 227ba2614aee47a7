/* Sending a buffer with file descriptors attached (SCM_RIGHTS), for every place purple hands fds
 * over a unix socket: init's report to the supervisor, the session agent's ready message, the
 * session client's and the relay's EXEC frames; and receiving one (the supervisor's and the
 * container monitor's side of init's reports). */
#ifndef PURPLE_FDPASS_H
#define PURPLE_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#define FDPASS_MAX 8

/* One sendmsg of buf[0..len) with fds[0..nfds) attached (none when nfds is 0; at most FDPASS_MAX),
 * MSG_NOSIGNAL, retried on EINTR. No allocation: safe in the child after clone. The bytes sent, or
 * -errno. */
ssize_t fdpass_send(int sock, const void *buf, size_t len, const int *fds, int nfds);

struct iovec;
/* The same for niov buffers in one sendmsg (the relay sends a frame's header and payload together). */
ssize_t fdpass_sendv(int sock, const struct iovec *iov, int niov, const int *fds, int nfds);

/* One recvmsg into buf[0..len) (flags added to MSG_CMSG_CLOEXEC, e.g. MSG_DONTWAIT), retried on
 * EINTR: the first maxfds fds that came along go to fds (the others -1), any more are closed. No
 * allocation. The bytes received (0: end of file), or -errno. */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fds, int maxfds, int flags);

struct msghdr;
/* The SCM_RIGHTS fds of a message recvmsg filled: the first max go to fds, any more are closed
 * (*closed counts them). How many went to fds. */
int fdpass_take(const struct msghdr *mh, int *fds, int max, int *closed);

#endif
