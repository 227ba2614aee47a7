/* The session agent: the payload of a session's sandbox (spawn spec session_fd). Forked by init, it
 * takes the same enforcement as a command (Landlock, seccomp, last), then starts each command the
 * supervisor sends (session_proto.h) with fork + exec inside the sandbox and reports its status. */
#ifndef PURPLE_SESSION_AGENT_H
#define PURPLE_SESSION_AGENT_H

#include <signal.h>
#include <sys/types.h>

struct spawn_cfg;

/* In init: forks the agent and waits until it is under enforcement. Returns its pid, or -errno
 * when it could not be forked. *err is 0, or the errno of the agent's failed step named in what
 * (it has then exited); *listener is its seccomp listener or -1. */
pid_t session_agent_fork(const struct spawn_cfg *c, const sigset_t *mask, int *listener, int *err,
			 char *what, size_t n);

#endif
