/* Sending a buffer with file descriptors attached (SCM_RIGHTS), for every place purple hands fds
 * over a unix socket: init's report to the supervisor, the session agent's ready message, the
 * session client's and the relay's EXEC frames. */
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

#endif
