/* The command-event ring of a session (session_events.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "session_events.h"

int session_events_init(struct session_events *q)
{
	memset(q, 0, sizeof *q);
	if (pipe2(q->fd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	pthread_mutex_init(&q->lock, NULL);
	return 0;
}

void session_events_free(struct session_events *q)
{
	close(q->fd[0]);
	close(q->fd[1]);
	pthread_mutex_destroy(&q->lock);
}

void session_events_push(struct session_events *q, const struct session_event *ev)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	if (q->count == SESSION_EVENTS_MAX) {
		q->head = (q->head + 1) % SESSION_EVENTS_MAX;
		q->count--;
		q->dropped++;
	}
	q->ring[(q->head + q->count) % SESSION_EVENTS_MAX] = *ev;
	if (q->count++ == 0)
		(void)!write(q->fd[1], "e", 1);
	pthread_mutex_unlock(&q->lock);
}

int session_events_pop(struct session_events *q, struct session_event *out)
{
	char b[16];
	int got = 0;

	pthread_mutex_lock(&q->lock);
	if (q->count) {
		*out = q->ring[q->head];
		q->head = (q->head + 1) % SESSION_EVENTS_MAX;
		q->count--;
		got = 1;
	}
	if (!q->count)
		while (read(q->fd[0], b, sizeof b) > 0)
			;
	pthread_mutex_unlock(&q->lock);
	return got;
}
