/* Network calls the supervisor performs for a rootless sandbox (net_perform.c, supervised mode). */
#ifndef PURPLE_NET_PERFORM_H
#define PURPLE_NET_PERFORM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "purple.h"

enum net_call { NET_CONNECT, NET_BIND, NET_LISTEN, NET_SENDTO, NET_SENDMSG, NET_SENDMMSG };

/* Allowed ports from..to for proto (IPPROTO_TCP, IPPROTO_UDP; 0 any; -1 none). */
struct net_range {
	long long from, to;
	int proto;
};
struct net_ranges {
	const struct net_range *r;
	size_t n;
};

/* The audit note of one internet destination; addr may be NULL, port < 0 when there is none. */
struct net_note {
	const char *op, *proto, *addr;
	int port;
	int allowed;
};
typedef void net_note_fn(void *arg, const struct net_note *n);

/* One notified call of thread pid (supervisor's pid namespace) and the rules it is checked against. */
struct net_perform_call {
	enum net_call call;
	pid_t pid;
	uint64_t id;
	uint64_t args[6];
	struct net_ranges outgoing, incoming;
	net_note_fn *note;  /* called for each note, during the call */
	void *arg;
};

enum net_answer {
	NET_VALUE,     /* answer the call with *val */
	NET_ERROR,     /* answer the call with errno *val */
	NET_ANSWERED,  /* a worker thread answers later */
	NET_GONE,      /* the caller no longer waits: nothing was performed; drop the notes */
	NET_NOMEM,     /* nothing was done (the supervisor is out of memory) */
};

/* Checks and performs call c for the sandbox whose listener and owner key are given. */
enum net_answer net_perform(int listener, const void *owner, const struct net_perform_call *c, long *val);

/* Wakes every worker of owner: its socket is shut down, so its blocked call returns. */
void net_perform_cancel(const void *owner);

#endif
