/* The last steps of a command inside the sandbox (payload.c), shared by spawn's payload and the
 * session agent. */
#ifndef PURPLE_PAYLOAD_H
#define PURPLE_PAYLOAD_H

#include <stddef.h>

struct spawn_cfg;

/* Landlock, then the seccomp filter. 0 or -errno with what filled; *listener is the filter's
 * listener or -1. */
int spawn_enforce(const struct spawn_cfg *c, int *listener, char *what, size_t n);

/* execve with argv[0] searched in path (default /usr/bin:/bin) as execvp does; returns its errno. */
int spawn_exec_path(const char *path, char *const argv[], char *const envp[]);

#endif
