/* A command sent to a session without waiting for it (session_client.h underneath): the caller
 * polls the job's fds with its own (purple mcp reads its client while commands run), then steps
 * the job. stdin is a pipe fed from a buffer (or empty), stdout and stderr are pipes captured up
 * to a bound each (the rest is read and counted, not kept), so the command never holds the
 * caller's own stdio. Closing a job before its result closes its connection: the session kills
 * the command's process group (docs/sessions.md). */
#ifndef PURPLE_SESSION_JOB_H
#define PURPLE_SESSION_JOB_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_JOB_POLLFDS 4

struct session_job_out {
	char *p;
	size_t n, total; /* n bytes kept (at most max), total read */
};

struct session_job {
	int sock, in, out[2]; /* -1 once closed */
	char *input;
	size_t inlen, inoff, max;
	struct session_job_out buf[2]; /* stdout, stderr */
	char rbuf[4096];
	size_t rgot;
	int done, status, status_read; /* status_read: rbuf holds the complete RESULT frame */
	char msg[300];
};

/* Connects to the session's socket at path and sends the command: 0 or -errno. input (inlen bytes,
 * copied) is the command's stdin; max the bytes kept of each of stdout and stderr. */
int session_job_start(struct session_job *j, const char *path, uint32_t timeout_ms, const char *cwd,
		      char *const argv[], size_t argc, char *const env[], size_t envc, const char *input, size_t inlen,
		      size_t max);

/* The fds to poll while the job runs (at most SESSION_JOB_POLLFDS): n written into pf. */
size_t session_job_pollfds(const struct session_job *j, struct pollfd *pf);

/* Moves the job on without blocking (after a poll): 1 once its result is in (j->status, j->msg). */
int session_job_step(struct session_job *j);

/* The command's process group gets sig. */
void session_job_signal(struct session_job *j, int sig);

/* Closes what is open (a command still running is killed by the session) and frees the buffers. */
void session_job_close(struct session_job *j);

#endif
