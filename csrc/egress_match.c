/* egress_match: which names and addresses the egress proxy may reach (egress.h). Pure functions:
 * the proxy checks a name before resolving it and the resolved address before connecting to it,
 * so a name that resolves into the host's own or a cloud's private space (DNS rebinding) is refused
 * unless network.allow_internal covers that address. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "egress.h"

int egress_name_valid(const char *name, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > EGRESS_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? name[i] : '.';

		if (ch == '.') {
			if (label == 0 || label > 63 || name[i - 1] == '-' || name[i - label] == '-')
				return -EINVAL;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			   ch == '-' || ch == '_') {
			label++;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

int egress_pattern_valid(const char *p)
{
	if (p[0] == '*' && p[1] == '.')
		p += 2;
	return egress_name_valid(p, strlen(p));
}

int egress_pattern_match(const char *pattern, const char *name)
{
	size_t pl, nl = strlen(name);

	if (pattern[0] == '*' && pattern[1] == '.') {
		pattern += 1; /* ".example.com": a proper suffix after at least one label */
		pl = strlen(pattern);
		return nl > pl && strcasecmp(name + nl - pl, pattern) == 0;
	}
	return strcasecmp(pattern, name) == 0;
}

int egress_ip_literal(const char *name, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, name, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, name, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		return 1;
	}
	return 0;
}

/* The first 12 bytes of a v4-mapped IPv6 address (::ffff:a.b.c.d). */
static const unsigned char v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int egress_cidr_parse(const char *s, struct egress_cidr *c)
{
	char text[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	int max, bits;

	memset(c, 0, sizeof *c);
	if (alen == 0 || alen >= INET6_ADDRSTRLEN)
		return -EINVAL;
	memcpy(text, s, alen);
	text[alen] = 0;
	if (inet_pton(AF_INET, text, c->addr) == 1)
		c->family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, text, c->addr) == 1)
		c->family = AF_INET6, max = 128;
	else
		return -EINVAL;
	bits = max;
	if (slash) {
		const char *d = slash + 1;

		if (!*d || strlen(d) > 3)
			return -EINVAL;
		bits = 0;
		for (; *d; d++) {
			if (*d < '0' || *d > '9')
				return -EINVAL;
			bits = bits * 10 + (*d - '0');
		}
		if (bits > max || (slash[1] == '0' && slash[2]))
			return -EINVAL;
	}
	c->bits = bits;
	for (int i = 0; i < 16; i++) {
		int keep = bits - i * 8;

		c->addr[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
	/* A v4-mapped network (::ffff:a.b.c.d, /96 and longer) is the IPv4 one: a v4-mapped address is
	 * compared as IPv4 (addr_bytes), so as IPv6 it would contain nothing. */
	if (c->family == AF_INET6 && c->bits >= 96 && memcmp(c->addr, v4_mapped, 12) == 0) {
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->family = AF_INET;
		c->bits -= 96;
	}
	return 0;
}

/* The address as family + bytes, a v4-mapped IPv6 address as IPv4. */
static int addr_bytes(const struct sockaddr *sa, unsigned char out[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (memcmp(a, v4_mapped, 12) == 0) {
			memcpy(out, a + 12, 4);
			return AF_INET;
		}
		memcpy(out, a, 16);
		return AF_INET6;
	}
	return 0;
}

static int prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole))
		return 0;
	return rest == 0 || ((a[whole] ^ b[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

int egress_cidr_contains(const struct egress_cidr *c, const struct sockaddr *sa)
{
	unsigned char a[16];

	return addr_bytes(sa, a) == c->family && prefix_eq(a, c->addr, c->bits);
}

struct range {
	const char *cidr, *why;
};

/* Checked in order: the first match names the reason. Metadata endpoints come before the ranges
 * that hold them. */
static const struct range forbidden4[] = {
	{ "169.254.169.254/32", "metadata" }, { "100.100.100.200/32", "metadata" },
	{ "0.0.0.0/8", "unspecified" }, { "10.0.0.0/8", "private" }, { "100.64.0.0/10", "CGNAT" },
	{ "127.0.0.0/8", "loopback" }, { "169.254.0.0/16", "link-local" }, { "172.16.0.0/12", "private" },
	{ "192.0.0.0/24", "reserved" }, { "192.0.2.0/24", "reserved" }, { "192.88.99.0/24", "reserved" },
	{ "192.168.0.0/16", "private" }, { "198.18.0.0/15", "reserved" }, { "198.51.100.0/24", "reserved" },
	{ "203.0.113.0/24", "reserved" }, { "224.0.0.0/4", "multicast" }, { "240.0.0.0/4", "reserved" },
};
static const struct range forbidden6[] = {
	{ "fd00:ec2::254/128", "metadata" }, { "::/128", "unspecified" }, { "::1/128", "loopback" },
	{ "::/96", "reserved" }, { "64:ff9b::/96", "NAT64" }, { "64:ff9b:1::/48", "NAT64" },
	{ "100::/64", "reserved" }, { "2001:db8::/32", "reserved" }, { "2002::/16", "6to4" },
	{ "fc00::/7", "private" }, { "fe80::/10", "link-local" }, { "fec0::/10", "site-local" },
	{ "ff00::/8", "multicast" },
};

const char *egress_addr_forbidden(const struct sockaddr *sa)
{
	unsigned char a[16];
	int fam = addr_bytes(sa, a);
	const struct range *r = fam == AF_INET ? forbidden4 : forbidden6;
	size_t n = fam == AF_INET ? sizeof forbidden4 / sizeof *r : sizeof forbidden6 / sizeof *r;

	if (!fam)
		return "not an internet address";
	for (size_t i = 0; i < n; i++) {
		struct egress_cidr c;

		if (egress_cidr_parse(r[i].cidr, &c) == 0 && c.family == fam && prefix_eq(a, c.addr, c.bits))
			return r[i].why;
	}
	return NULL;
}
