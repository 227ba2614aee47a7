/* Port filter on the host network: cgroup sock_addr BPF programs (net_filter.c, root only). */
#ifndef PURPLE_NET_FILTER_H
#define PURPLE_NET_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "purple.h"

#define NET_MAX_RANGES 256

struct port_range {
	unsigned from, to;
	int proto; /* IPPROTO_TCP, IPPROTO_UDP or 0 for both */
};

/* Attaches the programs for the outgoing and incoming ranges to the cgroup dir; they stay attached
 * as long as the cgroup exists. 0 with *map the audit map (close it), or -errno with msg naming the
 * step (and the verifier's first line). */
int net_filter_attach(const char *dir, const struct port_range *out, size_t nout, const struct port_range *in,
		      size_t nin, int *map, char *msg, size_t n);

/* One entry of the audit map: a distinct (op, verdict, protocol, port, address) and its count. */
struct net_filter_event {
	const char *op;   /* "connect", "send", "bind", "incoming" */
	int allowed;
	unsigned proto;   /* IPPROTO_TCP, IPPROTO_UDP or another number */
	unsigned port;
	int has_addr;
	char addr[46];    /* INET6_ADDRSTRLEN */
	uint64_t count;
};
typedef void net_filter_event_fn(void *arg, const struct net_filter_event *e);

/* Calls each for every entry of the audit map. 0 or -errno. */
int net_filter_events(int map, net_filter_event_fn *each, void *arg);

#endif
