/* egress_proxy: the relay behind network.allow_domains (docs/network.md, "Egress by domain name").
 *
 * Why our own relay and not Debian's tinyproxy or squid: neither checks a TLS ClientHello's SNI
 * against the CONNECT name, refuses a name's resolved address by range on the address it then
 * connects to, and speaks SOCKS5 with names, all together; each check is a few lines here. One
 * thread of the supervisor runs it: it lives exactly as long as the run or session (nothing to
 * reap, no process a sandbox could outlive) and shares no memory with Lua.
 *
 * Event-driven (epoll, non-blocking sockets), bounded: a request head, SOCKS request or ClientHello
 * must arrive whole within EGRESS_HEAD_MAX bytes and handshake_ms (a client that dribbles bytes is
 * cut, however slowly it sends); an established tunnel idle for idle_ms is closed; at most max_conns
 * connections at once (further ones are accepted and closed at once).
 *
 * Per connection: accept on a listener inside the sandbox's network namespace → parse the request →
 * check the name (never resolved unless allowed) and the port → resolve on the host → check the
 * address against the forbidden ranges and allow_internal → connect to that very address → for a
 * tunnel, read the ClientHello and compare its SNI (for plain HTTP, the Host header) with the
 * checked name → relay. Plain HTTP carries one request per connection ("Connection: close"), so a
 * second request cannot name another Host on a connection the first one opened. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "egress.h"

#define RELAY_BUF 65536
#define MAX_EVENTS 4096 /* records kept until drained; more are counted as dropped */
#define WHY_MAX 1024

enum kind { K_HTTP, K_SOCKS };
enum { R_IN = 1, R_OUT = 2 };
/* A tunnel's two sockets are watched edge-triggered, for everything, from the start of the relay
 * on: no epoll_ctl per chunk; each side is read and written until EAGAIN (struct conn's ready). */
#define RELAY_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
/* Chunks a tunnel moves each way in one turn; one with more to move waits on the proxy's "more"
 * list for the next turn, after the other connections' events (no event would come for it). */
#define RELAY_TURN 16
enum state { S_HEAD, S_GREET, S_SOCKS_REQ, S_RESOLVING, S_CONNECTING, S_FIRST, S_RELAY, S_DONE };

#define MAX_LOOKUPS 64 /* getaddrinfo threads at once; a further request is refused (502) */
#define LOOKUP_ADDRS 16

struct conn;

/* One getaddrinfo on a thread of its own, so a slow lookup stalls only the connection that asked.
 * The thread touches only name, addrs, n, err and fd; c belongs to the relay thread (NULL once the
 * connection is gone). The finished job travels back as a pointer over lookup_sock. */
struct lookup {
	struct conn *c;
	int fd;                 /* this job's own duplicate of the socket's sending end */
	char name[EGRESS_NAME_MAX + 3];
	struct sockaddr_storage addrs[LOOKUP_ADDRS];
	int n, err;
};
struct end {
	struct conn *c;
	int side; /* 0 client (sandbox), 1 upstream (server); 2 = a listener, 3 = the stop eventfd */
};

struct conn {
	struct end ends[2];
	int fd[2];
	enum kind kind;
	enum state state;
	struct conn *prev, *next;
	unsigned char *in;     /* handshake bytes from the client */
	size_t inlen;
	unsigned char *buf[2]; /* buf[0]: client → server, buf[1]: server → client */
	size_t len[2], off[2];
	int eof[2];            /* side s sent EOF */
	unsigned ev_mask[2];
	unsigned ready[2];     /* S_RELAY: R_IN, R_OUT as last seen (edge-triggered: until EAGAIN) */
	int queued;            /* on the proxy's more list */
	struct conn *more_next;
	int plain;             /* one plain HTTP request: client bytes beyond it end the connection */
	long long body_left;
	int plain_pending;     /* origin-form head still to be checked (SOCKS to port 80) */
	int registered[2];
	long long deadline, started;
	unsigned long long up, down;
	char name[EGRESS_NAME_MAX + 3];
	unsigned port;
	char addr[48];
	char via[8];
	int literal;           /* name is an address literal */
	struct lookup *job;    /* S_RESOLVING: its lookup */
};

struct egress_proxy {
	struct egress_config cfg;
	char **domains;
	unsigned *ports;
	struct egress_cidr *internal;
	char *hosts_file;
	int ep, stopfd;
	struct end lend[2], stopend, lookupend;
	int lookup_sock[2];     /* lookups' results: [1] sends job pointers, [0] is watched */
	int lookups;            /* in flight */
	pthread_t thread;
	int running;
	struct conn *conns;
	struct conn *dead;      /* closed during this batch of events: freed after it */
	struct conn *more;      /* tunnels that used up their turn with bytes still to move */
	int nconns;
	pthread_mutex_t lock;  /* guards events, nevents, dropped, nconns_seen */
	struct egress_event *events;
	size_t nevents;
	unsigned long long dropped;
	int open_seen;
	long long next_sweep;
	long long paused_until; /* accept failed for want of fds or memory: listeners off until then */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void record(struct egress_proxy *p, const struct conn *c, int allowed, const char *reason)
{
	struct egress_event *e;

	pthread_mutex_lock(&p->lock);
	if (p->nevents >= MAX_EVENTS) {
		p->dropped++;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	e = &p->events[p->nevents++];
	memset(e, 0, sizeof *e);
	e->allowed = allowed;
	snprintf(e->via, sizeof e->via, "%s", c->via);
	snprintf(e->name, sizeof e->name, "%s", c->name);
	snprintf(e->addr, sizeof e->addr, "%s", c->addr);
	e->port = c->port;
	if (reason)
		snprintf(e->reason, sizeof e->reason, "%s", reason);
	e->up = c->up;
	e->down = c->down;
	e->duration_us = now_us() - c->started;
	pthread_mutex_unlock(&p->lock);
}

/* --------------------------------------------------------------- epoll bookkeeping */

static void want(struct egress_proxy *p, struct conn *c, int side, unsigned mask)
{
	struct epoll_event ev = { .events = mask, .data.ptr = &c->ends[side] };

	if (c->fd[side] < 0 || (c->registered[side] && c->ev_mask[side] == mask))
		return;
	if (!c->registered[side]) {
		epoll_ctl(p->ep, EPOLL_CTL_ADD, c->fd[side], &ev);
		c->registered[side] = 1;
	} else {
		epoll_ctl(p->ep, EPOLL_CTL_MOD, c->fd[side], &ev);
	}
	c->ev_mask[side] = mask;
}

static void conn_free(struct egress_proxy *p, struct conn *c)
{
	if (c->job)
		c->job->c = NULL; /* the lookup's result is dropped when it arrives */
	for (int s = 0; s < 2; s++) {
		if (c->fd[s] >= 0)
			close(c->fd[s]); /* also leaves the epoll set */
		free(c->buf[s]);
	}
	free(c->in);
	if (c->queued) {
		struct conn **q = &p->more;

		while (*q != c)
			q = &(*q)->more_next;
		*q = c->more_next;
		c->queued = 0;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	__atomic_sub_fetch(&p->nconns, 1, __ATOMIC_RELAXED);
	/* freed after the current batch of epoll events, which may still name it */
	c->state = S_DONE;
	c->next = p->dead;
	p->dead = c;
}

/* Ends c; an established connection is recorded as allowed with its byte counts. */
static void conn_close(struct egress_proxy *p, struct conn *c)
{
	if (c->state == S_RELAY || c->state == S_FIRST)
		record(p, c, 1, NULL);
	conn_free(p, c);
}

/* A refusal: the answer to the client (best effort: a few bytes into an empty socket buffer), the
 * record, the end. */
static void refuse(struct egress_proxy *p, struct conn *c, int http_status, int socks_code, const char *reason)
{
	char msg[WHY_MAX + 200];
	int n = 0;

	if (c->kind == K_HTTP && c->state != S_FIRST && c->state != S_RELAY) {
		char body[WHY_MAX + 16];
		int bl = snprintf(body, sizeof body, "purple: %s\n", reason);
		const char *text = http_status == 403 ? "Forbidden" : http_status == 502 ? "Bad Gateway" :
				   http_status == 431 ? "Request Header Fields Too Large" :
				   http_status == 501 ? "Not Implemented" : http_status == 408 ? "Request Timeout" :
				   "Bad Request";

		n = snprintf(msg, sizeof msg, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nConnection: close\r\n"
			     "Content-Length: %d\r\n\r\n%s", http_status, text, bl, body);
	} else if (c->kind == K_SOCKS && (c->state == S_SOCKS_REQ || c->state == S_RESOLVING ||
					   c->state == S_CONNECTING)) {
		unsigned char r[10] = { 5, (unsigned char)socks_code, 0, 1 };

		memcpy(msg, r, sizeof r);
		n = sizeof r;
	}
	if (n > 0 && (size_t)n < sizeof msg)
		(void)send(c->fd[0], msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	record(p, c, 0, reason);
	conn_free(p, c);
}

/* --------------------------------------------------------------- checks and resolution */

static int port_allowed(const struct egress_proxy *p, unsigned port)
{
	for (size_t i = 0; i < p->cfg.pol.nports; i++)
		if (p->ports[i] == port)
			return 1;
	return 0;
}

static int internal_allowed(const struct egress_proxy *p, const struct sockaddr *sa)
{
	for (size_t i = 0; i < p->cfg.pol.ninternal; i++)
		if (egress_cidr_contains(&p->internal[i], sa))
			return 1;
	return 0;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
	const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr :
			(const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

	if (!inet_ntop(sa->sa_family, a, out, (socklen_t)n))
		snprintf(out, n, "?");
}

/* An address the name may be reached at: NULL (and *ss) when one passes the range check, else why. */
static const char *address_check(const struct egress_proxy *p, const struct sockaddr *sa, char *why, size_t n,
				 const char *name)
{
	const char *bad = egress_addr_forbidden(sa);
	char text[48];

	if (!bad || internal_allowed(p, sa))
		return NULL;
	addr_text(sa, text, sizeof text);
	snprintf(why, n, "network.allow_internal: %s resolves to %s (%s), which no allow_internal entry covers",
		 name, text, bad);
	return why;
}

/* Resolves an allowed name from the test-only hosts file (start_lookup does getaddrinfo). The
 * first address that passes address_check goes to *ss; 0, or -1 with why. */
static int resolve(struct egress_proxy *p, struct conn *c, struct sockaddr_storage *ss, char *why, size_t n)
{
	int found = 0;
	char first_why[WHY_MAX] = "";

	{
		FILE *f = fopen(p->hosts_file, "re");
		char line[512];

		if (!f) {
			snprintf(why, n, "egress hosts file %s: %s", p->hosts_file, strerror(errno));
			return -1;
		}
		while (!found && fgets(line, sizeof line, f)) {
			char *save, *addr = strtok_r(line, " \t\r\n", &save), *w;
			struct sockaddr_storage cand;

			if (!addr || addr[0] == '#' || !egress_ip_literal(addr, &cand))
				continue;
			while ((w = strtok_r(NULL, " \t\r\n", &save))) {
				if (strcasecmp(w, c->name) != 0)
					continue;
				if (!address_check(p, (struct sockaddr *)&cand, why, n, c->name)) {
					*ss = cand;
					found = 1;
				} else if (!first_why[0]) {
					snprintf(first_why, sizeof first_why, "%s", why);
				}
				break;
			}
		}
		fclose(f);
	}
	if (found)
		return 0;
	if (first_why[0])
		snprintf(why, n, "%s", first_why);
	else
		snprintf(why, n, "resolving %s: no address", c->name);
	return -1;
}

static int connect_to(struct egress_proxy *p, struct conn *c, struct sockaddr_storage *ss);

static void *lookup_main(void *arg)
{
	struct lookup *j = arg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;

	j->err = getaddrinfo(j->name, NULL, &hints, &res);
	if (!j->err) {
		for (ai = res; ai && j->n < LOOKUP_ADDRS; ai = ai->ai_next)
			if (ai->ai_addrlen <= sizeof j->addrs[0])
				memcpy(&j->addrs[j->n++], ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(res);
	}
	if (send(j->fd, &j, sizeof j, MSG_NOSIGNAL) != sizeof j) {
		close(j->fd); /* the proxy is gone */
		free(j);
		return NULL;
	}
	close(j->fd);
	return NULL;
}

/* Resolves c->name on a thread of its own; the connection waits in S_RESOLVING. */
static int start_lookup(struct egress_proxy *p, struct conn *c)
{
	struct lookup *j;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (p->lookups >= MAX_LOOKUPS) {
		refuse(p, c, 502, 1, "too many name lookups at once");
		return -1;
	}
	if (!(j = calloc(1, sizeof *j))) {
		refuse(p, c, 502, 1, "out of memory");
		return -1;
	}
	j->c = c;
	snprintf(j->name, sizeof j->name, "%s", c->name);
	if ((j->fd = fcntl(p->lookup_sock[1], F_DUPFD_CLOEXEC, 0)) < 0) {
		free(j);
		refuse(p, c, 502, 1, "name lookup: no file descriptor left");
		return -1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	r = pthread_create(&t, &attr, lookup_main, j);
	pthread_attr_destroy(&attr);
	if (r) {
		close(j->fd);
		free(j);
		refuse(p, c, 502, 1, "name lookup: cannot start a thread");
		return -1;
	}
	p->lookups++;
	c->job = j;
	c->state = S_RESOLVING;
	want(p, c, 0, 0);
	return 0;
}

/* A finished lookup: the address check, then the connect. */
static void lookup_done(struct egress_proxy *p, struct lookup *j)
{
	struct conn *c = j->c;
	char why[WHY_MAX], first[WHY_MAX] = "";

	p->lookups--;
	if (!c) {
		free(j);
		return;
	}
	c->job = NULL;
	if (j->err) {
		snprintf(why, sizeof why, "resolving %s: %s", c->name, gai_strerror(j->err));
		free(j);
		refuse(p, c, 502, 4, why);
		return;
	}
	for (int i = 0; i < j->n; i++) {
		if (!address_check(p, (struct sockaddr *)&j->addrs[i], why, sizeof why, c->name)) {
			struct sockaddr_storage ss = j->addrs[i];

			free(j);
			connect_to(p, c, &ss);
			return;
		}
		if (!first[0])
			snprintf(first, sizeof first, "%s", why);
	}
	free(j);
	if (first[0])
		refuse(p, c, 403, 2, first);
	else
		refuse(p, c, 502, 4, "name lookup: no address");
}

/* Name and port checks, resolution, address check, then a non-blocking connect. 0 when the connect
 * (or the lookup) is under way; -1 after refusing. */
static int open_upstream(struct egress_proxy *p, struct conn *c)
{
	char why[WHY_MAX];
	struct sockaddr_storage ss;
	int allowed = 0;

	if (!port_allowed(p, c->port)) {
		snprintf(why, sizeof why, "network.allow_ports: port %u of %s is not allowed", c->port, c->name);
		refuse(p, c, 403, 2, why);
		return -1;
	}
	if (egress_ip_literal(c->name, &ss)) {
		c->literal = 1;
		if (!internal_allowed(p, (struct sockaddr *)&ss)) {
			snprintf(why, sizeof why, "network.allow_domains: %s is an IP address; only names are allowed "
				 "(or an allow_internal entry covering it)", c->name);
			refuse(p, c, 403, 2, why);
			return -1;
		}
		allowed = 1;
	} else {
		for (size_t i = 0; i < p->cfg.pol.ndomains && !allowed; i++)
			allowed = egress_pattern_match(p->domains[i], c->name);
		if (!allowed) {
			snprintf(why, sizeof why, "network.allow_domains: %s is not allowed", c->name);
			refuse(p, c, 403, 2, why);
			return -1;
		}
		if (!p->hosts_file)
			return start_lookup(p, c);
		if (resolve(p, c, &ss, why, sizeof why) < 0) {
			refuse(p, c, strstr(why, "allow_internal") ? 403 : 502, strstr(why, "allow_internal") ? 2 : 4, why);
			return -1;
		}
	}
	return connect_to(p, c, &ss);
}

/* A non-blocking connect to the checked address ss. */
static int connect_to(struct egress_proxy *p, struct conn *c, struct sockaddr_storage *ss0)
{
	struct sockaddr_storage ss = *ss0;
	char why[WHY_MAX];
	int fd;

	if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&ss)->sin6_addr)) {
		/* checked as the IPv4 address it is: connect to that (no IPv6 socket needed) */
		struct sockaddr_in v4 = { .sin_family = AF_INET };

		memcpy(&v4.sin_addr, ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr + 12, 4);
		memset(&ss, 0, sizeof ss);
		memcpy(&ss, &v4, sizeof v4);
	}
	addr_text((struct sockaddr *)&ss, c->addr, sizeof c->addr);
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)c->port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)c->port);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&ss, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
			       sizeof(struct sockaddr_in6)) < 0 && errno != EINPROGRESS)) {
		snprintf(why, sizeof why, "connect to %s port %u: %s", c->addr, c->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		refuse(p, c, 502, 5, why);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	c->fd[1] = fd;
	c->state = S_CONNECTING;
	want(p, c, 0, 0);
	want(p, c, 1, EPOLLOUT);
	return 0;
}

/* --------------------------------------------------------------- relay */

static int relay_buffers(struct conn *c)
{
	for (int s = 0; s < 2; s++)
		if (!c->buf[s] && !(c->buf[s] = malloc(RELAY_BUF)))
			return -1;
	return 0;
}

static int relay_pump(struct egress_proxy *p, struct conn *c);

/* Queues bytes for the server (the checked head, or the ClientHello) before relaying. */
static void queue_up(struct conn *c, const void *b, size_t n)
{
	memcpy(c->buf[0] + c->len[0], b, n);
	c->len[0] += n;
}

static void start_relay(struct egress_proxy *p, struct conn *c, const unsigned char *extra, size_t n)
{
	c->state = S_RELAY;
	if (n)
		queue_up(c, extra, n);
	c->deadline = now_ms() + p->cfg.idle_ms;
	for (int s = 0; s < 2; s++) {
		c->ready[s] = R_IN | R_OUT; /* unknown yet: tried, and cleared by EAGAIN */
		want(p, c, s, RELAY_EVENTS);
	}
	(void)relay_pump(p, c);
}

/* The first client bytes on a tunnel: a ClientHello whose SNI is the checked name, or (SOCKS only)
 * a plain HTTP request whose Host is. */
static void first_bytes(struct egress_proxy *p, struct conn *c)
{
	char sni[EGRESS_NAME_MAX + 3], why[WHY_MAX];
	int r;

	if (c->inlen && c->in[0] == 22) {
		r = egress_sni_parse(c->in, c->inlen, sni, sizeof sni);
		if (r == -EAGAIN && c->inlen < EGRESS_HEAD_MAX + 5)
			return;
		if (r == -ENOENT && c->literal) {
			start_relay(p, c, c->in, c->inlen);
			return;
		}
		if (r < 0) {
			snprintf(why, sizeof why, "TLS ClientHello for %s: %s", c->name,
				 r == -ENOENT ? "no server name (SNI)" : r == -E2BIG || r == -EAGAIN ? "too large" : "malformed");
			refuse(p, c, 403, 2, why);
			return;
		}
		if (!c->literal && strcmp(sni, c->name) != 0) {
			snprintf(why, sizeof why, "network.allow_domains: TLS server name %s does not match %s", sni, c->name);
			refuse(p, c, 403, 2, why);
			return;
		}
		start_relay(p, c, c->in, c->inlen);
		return;
	}
	if (c->kind == K_SOCKS) {
		struct egress_http_req req;
		long n;

		r = egress_http_parse((const char *)c->in, c->inlen, &req);
		if (r == -EAGAIN)
			return;
		if (r == 0 && (req.connect || req.absolute))
			r = -EINVAL;
		if (r == 0 && (req.chunked || strcmp(req.host_header, c->name) != 0 ||
			       (req.host_header_port && req.host_header_port != c->port))) {
			snprintf(why, sizeof why, req.chunked ? "plain HTTP to %s: chunked request bodies are not "
				 "supported (use https)" : "network.allow_domains: Host %s does not match %s",
				 req.chunked ? c->name : req.host_header, c->name);
			refuse(p, c, 403, 2, why);
			return;
		}
		if (r < 0) {
			snprintf(why, sizeof why, "first bytes to %s port %u: neither a TLS ClientHello nor an HTTP "
				 "request%s", c->name, c->port, r == -E2BIG ? " (head too large)" : "");
			refuse(p, c, 403, 2, why);
			return;
		}
		n = egress_http_rewrite((const char *)c->in, &req, (char *)c->buf[0], RELAY_BUF);
		if (n < 0) {
			refuse(p, c, 431, 2, "request head too large");
			return;
		}
		c->len[0] = (size_t)n;
		c->plain = 1;
		c->body_left = req.content_length > 0 ? req.content_length : 0;
		{
			size_t rest = c->inlen - req.head_len;

			if ((long long)rest > c->body_left)
				rest = (size_t)c->body_left;
			if (c->len[0] + rest > RELAY_BUF) {
				refuse(p, c, 431, 2, "request head too large");
				return;
			}
			c->body_left -= (long long)rest;
			start_relay(p, c, c->in + req.head_len, rest);
		}
		return;
	}
	snprintf(why, sizeof why, "CONNECT %s: the first bytes are not a TLS ClientHello", c->name);
	refuse(p, c, 403, 2, why);
}

/* The upstream connect finished. */
static void connected(struct egress_proxy *p, struct conn *c)
{
	int err = 0;
	socklen_t l = sizeof err;
	char why[WHY_MAX];

	if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		err = errno;
	if (err) {
		snprintf(why, sizeof why, "connect to %s port %u: %s", c->addr, c->port, strerror(err));
		refuse(p, c, 502, err == ECONNREFUSED ? 5 : 4, why);
		return;
	}
	if (relay_buffers(c) < 0) {
		refuse(p, c, 502, 1, "out of memory");
		return;
	}
	if (c->kind == K_SOCKS || !c->plain) {
		static const unsigned char ok_socks[10] = { 5, 0, 0, 1 };
		static const char ok_http[] = "HTTP/1.1 200 Connection established\r\n\r\n";

		if (c->kind == K_SOCKS)
			(void)send(c->fd[0], ok_socks, sizeof ok_socks, MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			(void)send(c->fd[0], ok_http, sizeof ok_http - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		c->state = S_FIRST;
		want(p, c, 1, 0);
		want(p, c, 0, EPOLLIN);
		if (c->inlen)
			first_bytes(p, c);
		return;
	}
	/* absolute-form plain HTTP: the checked head and the body bytes already read */
	{
		struct egress_http_req req;
		long n;
		size_t rest;

		(void)egress_http_parse((const char *)c->in, c->inlen, &req);
		n = egress_http_rewrite((const char *)c->in, &req, (char *)c->buf[0], RELAY_BUF);
		if (n < 0) {
			refuse(p, c, 431, 0, "request head too large");
			return;
		}
		c->len[0] = (size_t)n;
		rest = c->inlen - req.head_len;
		if ((long long)rest > c->body_left)
			rest = (size_t)c->body_left;
		c->body_left -= (long long)rest;
		start_relay(p, c, c->in + req.head_len, rest);
	}
}

/* --------------------------------------------------------------- handshakes */

static void on_http_head(struct egress_proxy *p, struct conn *c)
{
	struct egress_http_req req;
	char why[WHY_MAX];
	int r = egress_http_parse((const char *)c->in, c->inlen, &req);

	if (r == -EAGAIN)
		return;
	if (r == -E2BIG) {
		refuse(p, c, 431, 0, "request head larger than 16 KiB");
		return;
	}
	if (r == 0 && !req.connect && !req.absolute)
		r = -EINVAL; /* a proxy request names its target */
	if (r < 0) {
		snprintf(why, sizeof why, "malformed proxy request%s", r == -ENOTSUP ? " (only http:// URIs and "
			 "CONNECT are proxied)" : "");
		refuse(p, c, 400, 0, why);
		return;
	}
	snprintf(c->name, sizeof c->name, "%s", req.host);
	c->port = req.port;
	snprintf(c->via, sizeof c->via, "%s", req.connect ? "connect" : "http");
	if (!req.connect) {
		if (req.chunked) {
			snprintf(why, sizeof why, "plain HTTP to %s: chunked request bodies are not supported "
				 "(use https)", c->name);
			refuse(p, c, 501, 0, why);
			return;
		}
		if (req.has_host && (strcmp(req.host_header, req.host) != 0 ||
				     (req.host_header_port ? req.host_header_port : 80) != req.port)) {
			snprintf(why, sizeof why, "network.allow_domains: Host %s does not match the request's %s",
				 req.host_header, req.host);
			refuse(p, c, 403, 0, why);
			return;
		}
		c->plain = 1;
		c->body_left = req.content_length > 0 ? req.content_length : 0;
	} else {
		/* a client may send its ClientHello before the 200: kept as the tunnel's first bytes */
		memmove(c->in, c->in + req.head_len, c->inlen - req.head_len);
		c->inlen -= req.head_len;
	}
	open_upstream(p, c);
}

static void on_socks(struct egress_proxy *p, struct conn *c)
{
	size_t used;
	int r;

	if (c->state == S_GREET) {
		r = egress_socks_greeting(c->in, c->inlen, &used);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			static const unsigned char no[2] = { 5, 0xff };

			snprintf(c->via, sizeof c->via, "socks");
			if (r == -EACCES)
				(void)send(c->fd[0], no, 2, MSG_NOSIGNAL | MSG_DONTWAIT);
			refuse(p, c, 0, 1, r == -EACCES ? "SOCKS5: the client offers no method without authentication" :
			       "SOCKS5: malformed greeting");
			return;
		}
		(void)send(c->fd[0], "\x05\x00", 2, MSG_NOSIGNAL | MSG_DONTWAIT);
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
		c->state = S_SOCKS_REQ;
	}
	{
		struct egress_socks_req req;

		r = egress_socks_request(c->in, c->inlen, &req);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			refuse(p, c, 0, r == -ENOTSUP ? 7 : r == -EAFNOSUPPORT ? 8 : 1,
			       r == -ENOTSUP ? "SOCKS5: only CONNECT is supported" : "SOCKS5: malformed request");
			return;
		}
		/* optimistic data (sent before the reply) is kept as the tunnel's first bytes */
		memmove(c->in, c->in + req.used, c->inlen - req.used);
		c->inlen -= req.used;
		snprintf(c->name, sizeof c->name, "%s", req.host);
		c->port = req.port;
		open_upstream(p, c);
	}
}

/* --------------------------------------------------------------- I/O */

static void read_handshake(struct egress_proxy *p, struct conn *c)
{
	size_t cap = EGRESS_HEAD_MAX + 5;
	ssize_t n;

	if (c->inlen >= cap) {
		refuse(p, c, 431, 1, "request larger than 16 KiB");
		return;
	}
	n = recv(c->fd[0], c->in + c->inlen, cap - c->inlen, 0);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* the client left before finishing its request: nothing was reached */
		conn_free(p, c);
		return;
	}
	c->inlen += (size_t)n;
	if (c->state == S_HEAD)
		on_http_head(p, c);
	else if (c->state == S_FIRST)
		first_bytes(p, c);
	else
		on_socks(p, c);
}

/* Reads side s into buf[s] while it has room and the socket has bytes: 1 when something changed
 * (bytes or an EOF), 0 when nothing can move now, -1 when c was closed. */
static int relay_fill(struct egress_proxy *p, struct conn *c, int s)
{
	size_t room = RELAY_BUF - c->len[s];
	ssize_t n;

	if (c->eof[s] || !(c->ready[s] & R_IN) || room == 0)
		return 0;
	if (s == 0 && c->plain) {
		if (c->body_left == 0) {
			char x;

			/* bytes beyond the one checked request (a second, unchecked one) */
			n = recv(c->fd[0], &x, 1, MSG_PEEK);
			if (n > 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(p, c);
				return -1;
			}
			if (n == 0) {
				c->eof[0] = 1; /* passed on once the request is out */
				return 1;
			}
			if (errno == EINTR)
				return 1; /* again */
			c->ready[0] &= ~(unsigned)R_IN;
			return 0;
		}
		if ((long long)room > c->body_left)
			room = (size_t)c->body_left;
	}
	n = recv(c->fd[s], c->buf[s] + c->len[s], room, 0);
	if (n > 0) {
		c->len[s] += (size_t)n;
		if (s == 0 && c->plain)
			c->body_left -= n;
		return 1;
	}
	if (n < 0 && errno == EAGAIN) {
		c->ready[s] &= ~(unsigned)R_IN;
		return 0;
	}
	if (n < 0 && errno == EINTR)
		return 1;
	c->eof[s] = 1;
	if (n < 0)
		c->eof[1 - s] = 1; /* reset: drop what the other way still holds */
	return 1;
}

/* Writes buf[s] (bytes from side s) to the other side: 1 when bytes went, 0 when none can now, -1
 * when c was closed. */
static int relay_flush(struct egress_proxy *p, struct conn *c, int s)
{
	int o = 1 - s;
	ssize_t n;

	if (c->len[s] == c->off[s] || !(c->ready[o] & R_OUT))
		return 0;
	n = send(c->fd[o], c->buf[s] + c->off[s], c->len[s] - c->off[s], MSG_NOSIGNAL);
	if (n > 0) {
		if (o == 1)
			c->up += (unsigned long long)n; /* bytes delivered, each way */
		else
			c->down += (unsigned long long)n;
		c->off[s] += (size_t)n;
		if (c->off[s] == c->len[s])
			c->off[s] = c->len[s] = 0;
		return 1;
	}
	if (n < 0 && errno == EAGAIN) {
		c->ready[o] &= ~(unsigned)R_OUT;
		return 0;
	}
	if (n < 0 && errno == EINTR)
		return 1;
	conn_close(p, c);
	return -1;
}

/* Moves bytes both ways until neither can move, passes each side's EOF on once its bytes are out,
 * and ends the tunnel when both are done; -1 when c was closed. */
static int relay_pump(struct egress_proxy *p, struct conn *c)
{
	int moved, turn = 0;

	do {
		if (++turn > RELAY_TURN) {
			if (!c->queued) {
				c->queued = 1;
				c->more_next = p->more;
				p->more = c;
			}
			break;
		}
		moved = 0;
		for (int s = 0; s < 2; s++) {
			int r = relay_fill(p, c, s);

			if (r < 0)
				return -1;
			moved |= r;
			if ((r = relay_flush(p, c, s)) < 0)
				return -1;
			moved |= r;
		}
	} while (moved);
	/* the data of side k is all out: pass its EOF on */
	for (int k = 0; k < 2; k++)
		if (c->eof[k] == 1 && c->len[k] == 0) {
			shutdown(c->fd[1 - k], SHUT_WR);
			c->eof[k] = 2;
		}
	if (c->eof[0] == 2 && c->eof[1] == 2) {
		conn_close(p, c);
		return -1;
	}
	c->deadline = now_ms() + p->cfg.idle_ms;
	return 0;
}

static void on_event(struct egress_proxy *p, struct end *e, unsigned events)
{
	struct conn *c = e->c;

	if (c->state == S_RESOLVING) {
		if (events & (EPOLLHUP | EPOLLERR))
			conn_free(p, c);
		return;
	}
	if (c->state == S_CONNECTING) {
		if (e->side == 1)
			connected(p, c);
		else if (events & (EPOLLHUP | EPOLLERR))
			conn_free(p, c); /* the client left (its side is watched for nothing else now) */
		return;
	}
	if (c->state == S_RELAY) {
		if (events & EPOLLERR) {
			conn_close(p, c); /* broken */
			return;
		}
		/* a hang-up makes reads see the EOF and writes the error */
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
			c->ready[e->side] |= R_IN;
		if (events & (EPOLLOUT | EPOLLHUP))
			c->ready[e->side] |= R_OUT;
		(void)relay_pump(p, c);
		return;
	}
	if (e->side == 0)
		read_handshake(p, c);
	else if (events & (EPOLLHUP | EPOLLERR))
		conn_close(p, c); /* the server left before the client's first bytes */
}

static void on_accept(struct egress_proxy *p, int side)
{
	int fd = accept4(side == 0 ? p->cfg.http_fd : p->cfg.socks_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct conn *c;

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* the listener stays readable: stop watching it for a moment instead of spinning */
			epoll_ctl(p->ep, EPOLL_CTL_MOD, p->cfg.http_fd, &(struct epoll_event){ .events = 0, .data.ptr = &p->lend[0] });
			epoll_ctl(p->ep, EPOLL_CTL_MOD, p->cfg.socks_fd, &(struct epoll_event){ .events = 0, .data.ptr = &p->lend[1] });
			p->paused_until = now_ms() + 100;
		}
		return;
	}
	if (p->nconns >= p->cfg.max_conns) {
		close(fd); /* over the cap: the client sees the connection closed at once */
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c || !(c->in = malloc(EGRESS_HEAD_MAX + 5))) {
		free(c);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	c->fd[0] = fd;
	c->fd[1] = -1;
	c->ends[0] = (struct end){ c, 0 };
	c->ends[1] = (struct end){ c, 1 };
	c->kind = side == 0 ? K_HTTP : K_SOCKS;
	c->state = side == 0 ? S_HEAD : S_GREET;
	snprintf(c->via, sizeof c->via, "%s", side == 0 ? "http" : "socks");
	c->started = now_us();
	c->deadline = now_ms() + p->cfg.handshake_ms;
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	__atomic_add_fetch(&p->nconns, 1, __ATOMIC_RELAXED);
	if (p->nconns > p->open_seen)
		p->open_seen = p->nconns;
	want(p, c, 0, EPOLLIN);
}

/* Cuts handshakes past their deadline and idle tunnels. */
static void sweep(struct egress_proxy *p)
{
	long long t = now_ms();
	struct conn *c = p->conns, *next;

	if (p->paused_until && t >= p->paused_until) {
		epoll_ctl(p->ep, EPOLL_CTL_MOD, p->cfg.http_fd, &(struct epoll_event){ .events = EPOLLIN, .data.ptr = &p->lend[0] });
		epoll_ctl(p->ep, EPOLL_CTL_MOD, p->cfg.socks_fd, &(struct epoll_event){ .events = EPOLLIN, .data.ptr = &p->lend[1] });
		p->paused_until = 0;
	}
	for (; c; c = next) {
		next = c->next;
		if (t < c->deadline)
			continue;
		if (c->state == S_RELAY)
			conn_close(p, c);
		else
			refuse(p, c, 408, 1, c->state == S_CONNECTING ? "connect timed out" :
			       c->state == S_RESOLVING ? "name lookup timed out" :
			       "the client did not finish its request in time");
	}
}

static void reap_dead(struct egress_proxy *p)
{
	while (p->dead) {
		struct conn *c = p->dead;

		p->dead = c->next;
		free(c);
	}
}

static void *run(void *arg)
{
	struct egress_proxy *p = arg;
	struct epoll_event evs[64];

	for (;;) {
		int n = epoll_wait(p->ep, evs, 64, p->more ? 0 : 250);
		struct conn *more;

		for (int i = 0; i < n; i++) {
			struct end *e = evs[i].data.ptr;

			if (e->side == 3)
				goto out;
			if (e->side == 4) {
				struct lookup *j;

				while (recv(p->lookup_sock[0], &j, sizeof j, MSG_DONTWAIT) == sizeof j)
					lookup_done(p, j);
				continue;
			}
			if (e->side == 2) {
				on_accept(p, e == &p->lend[0] ? 0 : 1);
				continue;
			}
			if (e->c->state == S_DONE)
				continue; /* closed by an earlier event of this batch */
			on_event(p, e, evs[i].events);
		}
		/* the next turn of the tunnels that had more to move (closing one unlinks only itself) */
		more = p->more;
		p->more = NULL;
		while (more) {
			struct conn *c = more;

			more = c->more_next;
			c->queued = 0;
			(void)relay_pump(p, c);
		}
		reap_dead(p);
		if (now_ms() >= p->next_sweep) {
			sweep(p);
			p->next_sweep = now_ms() + 100;
		}
	}
out:
	while (p->conns)
		conn_close(p, p->conns);
	reap_dead(p);
	return NULL;
}

/* --------------------------------------------------------------- API */

int egress_start(const struct egress_config *cfg, struct egress_proxy **out)
{
	struct egress_proxy *p = calloc(1, sizeof *p);
	const struct egress_policy *pol = &cfg->pol;
	int err = -ENOMEM;

	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	{
		/* two fds a connection: raise the soft limit to the hard one (the sandbox, cloned before,
		 * keeps its own) and hold the cap below what fits */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			if (rl.rlim_cur < rl.rlim_max) {
				rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
				setrlimit(RLIMIT_NOFILE, &rl);
				getrlimit(RLIMIT_NOFILE, &rl);
			}
			if (rl.rlim_cur != RLIM_INFINITY && (long long)p->cfg.max_conns > ((long long)rl.rlim_cur - 64) / 2)
				p->cfg.max_conns = rl.rlim_cur > 128 ? (int)((rl.rlim_cur - 64) / 2) : 32;
		}
	}
	p->ep = p->stopfd = p->lookup_sock[0] = p->lookup_sock[1] = -1;
	pthread_mutex_init(&p->lock, NULL);
	p->domains = calloc(pol->ndomains + 1, sizeof *p->domains);
	p->ports = calloc(pol->nports + 1, sizeof *p->ports);
	p->internal = calloc(pol->ninternal + 1, sizeof *p->internal);
	p->events = calloc(MAX_EVENTS, sizeof *p->events);
	if (!p->domains || !p->ports || !p->internal || !p->events)
		goto fail;
	for (size_t i = 0; i < pol->ndomains; i++)
		if (!(p->domains[i] = strdup(pol->domains[i])))
			goto fail;
	memcpy(p->ports, pol->ports, pol->nports * sizeof *p->ports);
	memcpy(p->internal, pol->internal, pol->ninternal * sizeof *p->internal);
	if (cfg->hosts_file && !(p->hosts_file = strdup(cfg->hosts_file)))
		goto fail;
	p->cfg.hosts_file = NULL;
	if ((p->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || (p->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p->lookup_sock) < 0) {
		err = -errno;
		goto fail;
	}
	p->lend[0] = (struct end){ NULL, 2 };
	p->lend[1] = (struct end){ NULL, 2 };
	p->stopend = (struct end){ NULL, 3 };
	p->lookupend = (struct end){ NULL, 4 };
	{
		struct epoll_event e0 = { .events = EPOLLIN, .data.ptr = &p->lend[0] };
		struct epoll_event e1 = { .events = EPOLLIN, .data.ptr = &p->lend[1] };
		struct epoll_event es = { .events = EPOLLIN, .data.ptr = &p->stopend };
		struct epoll_event el = { .events = EPOLLIN, .data.ptr = &p->lookupend };

		fcntl(cfg->http_fd, F_SETFL, fcntl(cfg->http_fd, F_GETFL) | O_NONBLOCK);
		fcntl(cfg->socks_fd, F_SETFL, fcntl(cfg->socks_fd, F_GETFL) | O_NONBLOCK);
		if (epoll_ctl(p->ep, EPOLL_CTL_ADD, cfg->http_fd, &e0) < 0 ||
		    epoll_ctl(p->ep, EPOLL_CTL_ADD, cfg->socks_fd, &e1) < 0 ||
		    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->stopfd, &es) < 0 ||
		    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->lookup_sock[0], &el) < 0) {
			err = -errno;
			goto fail;
		}
	}
	{
		/* every signal blocked in the relay (and in its lookup threads, which inherit the mask):
		 * the supervisor takes its signals through its signalfd, which a thread with a signal
		 * unblocked would steal them from */
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		err = -pthread_create(&p->thread, NULL, run, p);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (err < 0)
			goto fail;
	}
	p->running = 1;
	*out = p;
	return 0;
fail:
	p->cfg.http_fd = p->cfg.socks_fd = -1; /* still the caller's */
	egress_free(p);
	return err;
}

size_t egress_drain(struct egress_proxy *p, struct egress_event *ev, size_t max, unsigned long long *dropped)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->nevents < max ? p->nevents : max;
	memcpy(ev, p->events, n * sizeof *ev);
	memmove(p->events, p->events + n, (p->nevents - n) * sizeof *ev);
	p->nevents -= n;
	*dropped = p->dropped;
	p->dropped = 0;
	pthread_mutex_unlock(&p->lock);
	return n;
}

int egress_open_count(struct egress_proxy *p)
{
	return __atomic_load_n(&p->nconns, __ATOMIC_RELAXED);
}

void egress_stop(struct egress_proxy *p)
{
	if (!p->running)
		return;
	(void)!write(p->stopfd, &(uint64_t){ 1 }, 8);
	pthread_join(p->thread, NULL);
	p->running = 0;
}

void egress_free(struct egress_proxy *p)
{
	if (!p)
		return;
	egress_stop(p);
	if (p->domains)
		for (size_t i = 0; i < p->cfg.pol.ndomains; i++)
			free(p->domains[i]);
	free(p->domains);
	free(p->ports);
	free(p->internal);
	free(p->events);
	free(p->hosts_file);
	if (p->cfg.http_fd >= 0)
		close(p->cfg.http_fd);
	if (p->cfg.socks_fd >= 0)
		close(p->cfg.socks_fd);
	if (p->ep >= 0)
		close(p->ep);
	if (p->stopfd >= 0)
		close(p->stopfd);
	if (p->lookup_sock[1] >= 0)
		close(p->lookup_sock[1]);
	if (p->lookup_sock[0] >= 0) {
		struct lookup *j;

		/* results that arrived after the relay stopped (their connections are closed); lookups
		 * still running find the socket closed and free their job themselves */
		while (recv(p->lookup_sock[0], &j, sizeof j, MSG_DONTWAIT) == sizeof j)
			free(j);
		close(p->lookup_sock[0]);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}
