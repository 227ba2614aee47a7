/* Egress by domain name (issue 15): the pure parsers and checks of the filtering proxy and the proxy
 * itself. Parsers take a buffer and its length and fill a struct: 0, or -EAGAIN (more bytes needed),
 * -E2BIG (over the bound), -EINVAL (malformed), -ENOTSUP / -ENOENT where said. */
#ifndef PURPLE_EGRESS_H
#define PURPLE_EGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define EGRESS_NAME_MAX 253     /* a DNS name without the final dot */
#define EGRESS_HEAD_MAX 16384   /* request head, SOCKS request, TLS ClientHello */

/* --- egress_match.c: names, patterns, CIDRs, forbidden address ranges */

struct egress_cidr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network byte order, host bits cleared */
	int bits;
};

/* 0 when name[0..len) is a DNS name (labels of letters, digits, - and _; 1..63 each; at most 253),
 * -EINVAL otherwise. */
int egress_name_valid(const char *name, size_t len);
/* 0 when pattern is a name or "*.name" (any subdomain, not the apex), -EINVAL otherwise. */
int egress_pattern_valid(const char *pattern);
/* 1 when name matches pattern (ASCII case-insensitive), else 0. */
int egress_pattern_match(const char *pattern, const char *name);
/* "10.0.0.0/8", "fd00::/8" or a single address: 0 and *c, or -EINVAL. */
int egress_cidr_parse(const char *s, struct egress_cidr *c);
/* 1 when the address sa (a v4-mapped IPv6 address counts as IPv4) lies in c. */
int egress_cidr_contains(const struct egress_cidr *c, const struct sockaddr *sa);
/* Why sa may not be reached without an allow_internal rule ("loopback", "private", "metadata", ...),
 * or NULL for a public address. */
const char *egress_addr_forbidden(const struct sockaddr *sa);
/* 1 and *ss filled when name is an IPv4 or IPv6 literal (no brackets), else 0. */
int egress_ip_literal(const char *name, struct sockaddr_storage *ss);

/* --- egress_http.c: a proxy request head */

struct egress_http_req {
	int connect;              /* CONNECT host:port (else absolute-form, or origin-form with Host) */
	int absolute;             /* http://host[:port]/path */
	char host[EGRESS_NAME_MAX + 3]; /* the target's host, lower-case, IPv6 without brackets */
	unsigned port;
	size_t method_len;        /* buf[0..method_len) */
	size_t path_off, path_len;/* origin-form target inside buf ("/" when the URI had none: path_len 0) */
	int has_host;             /* a Host header was seen */
	char host_header[EGRESS_NAME_MAX + 3];
	unsigned host_header_port; /* 0 when the Host header names no port */
	long long content_length; /* -1 when absent */
	int chunked;              /* Transfer-Encoding present */
	size_t head_len;          /* bytes up to and including the empty line */
};
/* Parses the request head in buf[0..len): 0, -EAGAIN (no empty line yet, len < EGRESS_HEAD_MAX),
 * -E2BIG, -EINVAL, -ENOTSUP (a scheme other than http://). */
int egress_http_parse(const char *buf, size_t len, struct egress_http_req *r);
/* The head to send upstream: origin-form request line, the headers without Proxy-*, Connection and
 * Keep-Alive, a Host header naming the target when the request had none, plus "Connection: close". Its length, or -E2BIG when it does not fit out[0..n). */
long egress_http_rewrite(const char *buf, const struct egress_http_req *r, char *out, size_t n);

/* --- egress_socks.c: SOCKS5 (RFC 1928), no authentication, CONNECT only */

/* The greeting: 0 with *used when "no authentication" is offered, -EACCES when it is not, -EAGAIN,
 * -EINVAL (not SOCKS5). */
int egress_socks_greeting(const unsigned char *buf, size_t len, size_t *used);
struct egress_socks_req {
	int cmd, atyp;            /* the request's command and address type */
	char host[EGRESS_NAME_MAX + 3]; /* domain (lower-case) or address as text */
	unsigned port;
	size_t used;
};
/* The request: 0, -EAGAIN, -EINVAL, -ENOTSUP (a command other than CONNECT: r->cmd says which),
 * -EAFNOSUPPORT (unknown address type). */
int egress_socks_request(const unsigned char *buf, size_t len, struct egress_socks_req *r);

/* --- egress_sni.c: the server name of a TLS ClientHello */

/* The host_name of the ClientHello at the start of buf[0..len) (records may split it): 0 with name
 * (lower-case), -EAGAIN, -E2BIG, -EINVAL (not a ClientHello), -ENOENT (no server_name). */
int egress_sni_parse(const unsigned char *buf, size_t len, char *name, size_t n);

/* --- egress_proxy.c: the relay */

struct egress_policy {
	const char *const *domains; size_t ndomains;   /* validated patterns */
	const unsigned *ports; size_t nports;
	const struct egress_cidr *internal; size_t ninternal;
};

struct egress_config {
	struct egress_policy pol;
	int http_fd, socks_fd;    /* listening sockets in the sandbox's namespace (taken over) */
	const char *hosts_file;   /* test-only: resolve from this file instead of the system resolver */
	int handshake_ms, idle_ms, max_conns;
};

/* One audit record: a refused request or a finished connection. */
struct egress_event {
	int allowed;
	char via[8];              /* "http", "connect", "socks" */
	char name[EGRESS_NAME_MAX + 3];
	char addr[48];
	unsigned port;
	char reason[320];         /* refused: why */
	unsigned long long up, down; /* bytes sandbox -> server, server -> sandbox */
	long long duration_us;
};

struct egress_proxy;
/* Starts the relay thread; it owns the two listening fds from then on. 0 or -errno. */
int egress_start(const struct egress_config *cfg, struct egress_proxy **out);
/* Moves up to max finished records to ev; *dropped: records lost to the bound since the last call. */
size_t egress_drain(struct egress_proxy *p, struct egress_event *ev, size_t max, unsigned long long *dropped);
/* Connections open now (for measurements). */
int egress_open_count(struct egress_proxy *p);
/* Stops the thread, closes every connection (recorded as finished), frees nothing drain still needs
 * until egress_free. */
void egress_stop(struct egress_proxy *p);
void egress_free(struct egress_proxy *p);

#endif
