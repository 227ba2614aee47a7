/* A command sent to a session without waiting for it (session_job.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session_client.h"
#include "session_job.h"

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int session_job_start(struct session_job *j, const char *path, uint32_t timeout_ms, const char *cwd,
		      char *const argv[], size_t argc, char *const env[], size_t envc, const char *input, size_t inlen,
		      size_t max)
{
	int theirs[3] = { -1, -1, -1 }, r = 0;

	memset(j, 0, sizeof *j);
	j->sock = j->in = j->out[0] = j->out[1] = -1;
	j->max = max;
	if (inlen) {
		j->input = malloc(inlen);
		if (!j->input)
			return -ENOMEM;
		memcpy(j->input, input, inlen);
		j->inlen = inlen;
	}
	for (int i = 0; i < 3 && !r; i++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0) {
			r = -errno;
			break;
		}
		theirs[i] = i == 0 ? p[0] : p[1];
		if (i == 0)
			j->in = p[1];
		else
			j->out[i - 1] = p[0];
		fcntl(i == 0 ? p[1] : p[0], F_SETFL, O_NONBLOCK);
	}
	if (!r) {
		j->sock = session_connect(path);
		if (j->sock < 0)
			r = j->sock;
	}
	if (!r)
		r = session_send_exec(j->sock, 0, timeout_ms, cwd, argv, argc, env, envc, theirs);
	for (int i = 0; i < 3; i++)
		close_fd(&theirs[i]);
	if (!r && !j->inlen)
		close_fd(&j->in); /* stdin: EOF at once */
	if (r)
		session_job_close(j);
	return r;
}

size_t session_job_pollfds(const struct session_job *j, struct pollfd *pf)
{
	size_t n = 0;

	if (j->done)
		return 0;
	if (j->sock >= 0)
		pf[n++] = (struct pollfd){ .fd = j->sock, .events = POLLIN };
	if (j->in >= 0)
		pf[n++] = (struct pollfd){ .fd = j->in, .events = POLLOUT };
	for (int i = 0; i < 2; i++)
		if (j->out[i] >= 0)
			pf[n++] = (struct pollfd){ .fd = j->out[i], .events = POLLIN };
	return n;
}

/* Reads what is in the pipe now, keeping at most max bytes: 0 at EOF or error, 1 while open. */
static int drain(int fd, struct session_job_out *b, size_t max)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);

		if (n > 0) {
			size_t keep = b->n < max ? max - b->n : 0;

			if (keep > (size_t)n)
				keep = (size_t)n;
			if (keep) {
				char *q = realloc(b->p, b->n + keep);

				if (!q)
					return 0;
				b->p = q;
				memcpy(b->p + b->n, buf, keep);
				b->n += keep;
			}
			b->total += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && errno == EAGAIN;
	}
}

int session_job_step(struct session_job *j)
{
	if (j->done)
		return 1;
	if (j->in >= 0) {
		ssize_t w = write(j->in, j->input + j->inoff, j->inlen - j->inoff);

		if (w > 0)
			j->inoff += (size_t)w;
		if (j->inoff >= j->inlen || (w < 0 && errno != EAGAIN && errno != EINTR))
			close_fd(&j->in); /* all written, or the command closed its stdin */
	}
	for (int i = 0; i < 2; i++)
		if (j->out[i] >= 0 && !drain(j->out[i], &j->buf[i], j->max))
			close_fd(&j->out[i]);
	if (j->sock >= 0) {
		int got = session_read_result(j->sock, j->rbuf, &j->rgot, &j->status, j->msg, sizeof j->msg);

		if (got < 0) {
			j->status = 125;
			snprintf(j->msg, sizeof j->msg, "the session ended before the command's status was reported");
		}
		if (got) {
			j->done = 1;
			j->status_read = got > 0;
			close_fd(&j->sock);
			close_fd(&j->in);
			/* what the command wrote before it exited is in the pipes already; a process it left
			 * running may hold them open: not waited for */
			for (int i = 0; i < 2; i++) {
				if (j->out[i] >= 0)
					drain(j->out[i], &j->buf[i], j->max);
				close_fd(&j->out[i]);
			}
		}
	}
	return j->done;
}

void session_job_signal(struct session_job *j, int sig)
{
	if (j->sock >= 0)
		session_send_signal(j->sock, sig);
}

void session_job_close(struct session_job *j)
{
	close_fd(&j->sock);
	close_fd(&j->in);
	for (int i = 0; i < 2; i++) {
		close_fd(&j->out[i]);
		free(j->buf[i].p);
		j->buf[i].p = NULL;
	}
	free(j->input);
	j->input = NULL;
}
