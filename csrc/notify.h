/* Supervisor side of seccomp user notifications (notify.c). */
#ifndef PURPLE_NOTIFY_H
#define PURPLE_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One notification: the task (pid in the supervisor's pid namespace) stopped in call nr. */
struct notify_event {
	uint64_t id;
	pid_t pid;
	int nr;
	uint32_t arch;
	uint64_t args[6];
};

/* Receives one notification into *ev: 1, or 0 when the caller should poll again (the task went
 * away), or -errno on a listener failure. */
int notify_receive(int fd, struct notify_event *ev);
/* The same into the caller's buffer of size bytes (at least notify_buf_size(); -EINVAL if smaller),
 * without allocating: for a process that has given up its heap (oci_monitor.c). */
int notify_receive_buf(int fd, void *buf, size_t size, struct notify_event *ev);
size_t notify_buf_size(void);
/* Answers notification id: continue the call (the kernel runs it), or fail it with err, or
 * return val. 0 or -errno (ENOENT: the task is gone or was interrupted — nothing to answer). */
int notify_respond(int fd, uint64_t id, int cont, int err, long long val);
/* 1 while the notification's task is still waiting in the call (its pid cannot have been reused). */
int notify_valid(int fd, uint64_t id);

#endif
