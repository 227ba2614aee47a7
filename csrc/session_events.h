/* Command events of a session (start and end of each command), queued by the relay thread
 * (session_server.c) and drained by the supervisor's Lua side (the audit log's command_start and
 * command_end records). A bounded ring: when the reader falls behind, the oldest events are dropped
 * and counted. The reader waits on fd (readable while events are queued). */
#ifndef PURPLE_SESSION_EVENTS_H
#define PURPLE_SESSION_EVENTS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "session_proto.h"

#define SESSION_EVENTS_MAX 256
#define SESSION_EVENT_ARGV 1024 /* argv bytes kept per command (NUL-separated); more is truncated */

enum session_event_kind { SESSION_EV_START = 1, SESSION_EV_END };

struct session_event {
	int kind;
	uint32_t id;          /* the command's number within the session (1, 2, ...) */
	uid_t uid;            /* the client (purple exec): peer credentials */
	pid_t pid;
	long long mono_ns;    /* CLOCK_MONOTONIC of the event */
	/* start */
	uint32_t flags, timeout_ms, argc;
	int truncated;        /* argv did not fit in SESSION_EVENT_ARGV */
	size_t argv_len;
	char argv[SESSION_EVENT_ARGV];
	/* end: the status `purple exec` got (-1: none, its client went away and the command was killed) */
	int status;
	int err;
	int timed_out;        /* --timeout or the session timeout ended it (status 124) */
	int has_usage;        /* the agent reaped it: usage is set */
	struct session_usage usage;
};

struct session_events {
	pthread_mutex_t lock;
	int fd[2]; /* a byte in fd[0] while events are queued */
	unsigned head, count;
	unsigned long dropped;
	struct session_event ring[SESSION_EVENTS_MAX];
};

int session_events_init(struct session_events *q); /* 0 or -errno */
void session_events_free(struct session_events *q);
/* Called by the relay thread; q may be NULL (nobody reads events). */
void session_events_push(struct session_events *q, const struct session_event *ev);
/* Takes the oldest event: 1, or 0 when none is queued. */
int session_events_pop(struct session_events *q, struct session_event *out);

#endif
