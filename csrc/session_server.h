/* The supervisor's side of a session: a thread that listens on the session's unix socket, checks
 * every peer (owner or root, and not inside a pid namespace below ours), reads bounded requests
 * (session_proto.h) and relays them, with the caller's stdio, to the agent inside the sandbox. */
#ifndef PURPLE_SESSION_SERVER_H
#define PURPLE_SESSION_SERVER_H

#include <sys/types.h>

struct session_server;

struct session_server_cfg {
	const char *name;    /* for log lines */
	const char *path;    /* the socket to create (mode 0600) */
	int agent_fd;        /* stream socket to the agent; the server owns it from now on */
	uid_t owner;
	long long deadline_ns; /* CLOCK_MONOTONIC end of the session, 0 = none: commands then end with 124 */
	struct session_events *events; /* command start/end events for the audit log, or NULL */
};

/* 0 or -errno (with what filled). */
int session_server_start(struct session_server **out, const struct session_server_cfg *cfg, char *what,
			 size_t n);
/* Commands still waiting get 124 when the session timed out, else 125; the socket is removed. */
void session_server_stop(struct session_server *s, int timed_out);
/* Requests served so far and commands running now. */
void session_server_counts(struct session_server *s, unsigned long *served, unsigned *running);

#endif
