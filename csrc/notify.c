/* Seccomp user notifications: the supervisor side of SECCOMP_RET_USER_NOTIF. sandbox:poll() turns
 * each notification into a "notify" event; sandbox:respond() answers it. The listener fd never
 * reaches the sandbox (the kernel creates it close-on-exec and init hands it over before exiting
 * its copy), so nothing inside can answer its own calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "notify.h"

/* The kernel's structure may grow: receive into a buffer of the size it reports. */
size_t notify_buf_size(void)
{
	static size_t size;

	if (!size) {
		struct seccomp_notif_sizes sz = { 0 };

		size = sizeof(struct seccomp_notif);
		if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) == 0 && sz.seccomp_notif > size)
			size = sz.seccomp_notif;
	}
	return size;
}

int notify_receive_buf(int fd, void *buf, size_t size, struct notify_event *ev)
{
	struct seccomp_notif *n = buf;

	if (size < notify_buf_size())
		return -EINVAL;
	memset(buf, 0, size);
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, n) < 0)
		return errno == ENOENT || errno == EINTR ? 0 : -errno;
	ev->id = n->id;
	ev->pid = (pid_t)n->pid;
	ev->nr = n->data.nr;
	ev->arch = n->data.arch;
	for (int i = 0; i < 6; i++)
		ev->args[i] = n->data.args[i];
	return 1;
}

int notify_receive(int fd, struct notify_event *ev)
{
	size_t size = notify_buf_size();
	void *n = malloc(size);
	int r;

	if (!n)
		return -ENOMEM;
	r = notify_receive_buf(fd, n, size, ev);
	free(n);
	return r;
}

int notify_respond(int fd, uint64_t id, int cont, int err, long long val)
{
	struct seccomp_notif_resp r = { .id = id };

	if (cont)
		r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	else if (err)
		r.error = -err;
	else
		r.val = val;
	return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &r) < 0 ? -errno : 0;
}

int notify_valid(int fd, uint64_t id)
{
	return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}
