/* egress_http: the head of a request to the egress proxy (egress.h). Strict on purpose: a head the
 * proxy and the server could read differently (folded lines, a space before the colon, two Host or
 * Content-Length headers, bare LF) is refused, so the Host the proxy checked is the one the server
 * sees. Bounded: the head must end within EGRESS_HEAD_MAX bytes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "egress.h"

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* host[:port] or [v6]:port into host (lower-case) and *port (0 when absent); -EINVAL. */
static int split_authority(const char *s, size_t n, char *host, size_t hsize, unsigned *port)
{
	size_t hl = n, i;
	const char *h = s;

	*port = 0;
	if (n && s[0] == '[') {
		const char *end = memchr(s, ']', n);

		if (!end)
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(end - h);
		i = (size_t)(end - s) + 1;
		if (i < n && s[i] != ':')
			return -EINVAL;
	} else {
		const char *colon = memchr(s, ':', n);

		if (colon)
			hl = (size_t)(colon - s);
		i = hl;
	}
	if (hl == 0 || hl >= hsize)
		return -EINVAL;
	/* inside brackets an IPv6 literal (hex digits, ':', '.' of an embedded IPv4; no zone), which
	 * must have a ':'; outside them no bracket at all ("[[]" is neither a name nor an address) */
	if (h != s && (strspn(h, "0123456789abcdefABCDEF:.") < hl || !memchr(h, ':', hl)))
		return -EINVAL;
	for (size_t k = 0; k < hl; k++) {
		if ((unsigned char)h[k] <= ' ' || h[k] == '/' || h[k] == '@' || h[k] == '\\' || h[k] == '[' ||
		    h[k] == ']')
			return -EINVAL;
		host[k] = (char)lower(h[k]);
	}
	host[hl] = 0;
	if (i < n) { /* ":port" */
		unsigned long v = 0;

		if (++i == n || n - i > 5)
			return -EINVAL;
		for (; i < n; i++) {
			if (s[i] < '0' || s[i] > '9')
				return -EINVAL;
			v = v * 10 + (unsigned long)(s[i] - '0');
		}
		if (v == 0 || v > 65535)
			return -EINVAL;
		*port = (unsigned)v;
	}
	return 0;
}

static int token_char(int c)
{
	return c > ' ' && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

static int header_is(const char *name, size_t nl, const char *want)
{
	return nl == strlen(want) && strncasecmp(name, want, nl) == 0;
}

int egress_http_parse(const char *buf, size_t len, struct egress_http_req *r)
{
	const char *end = NULL, *p, *line_end, *sp1, *sp2;
	size_t tl;
	const char *t;

	memset(r, 0, sizeof *r);
	r->content_length = -1;
	for (size_t i = 0; i + 3 < len && i + 4 <= EGRESS_HEAD_MAX; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
			end = buf + i + 4;
			break;
		}
	if (!end) {
		for (size_t i = 0; i < len; i++) /* bare LF or a NUL: not worth waiting for the rest */
			if (buf[i] == 0 || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')))
				return -EINVAL;
		return len >= EGRESS_HEAD_MAX ? -E2BIG : -EAGAIN;
	}
	r->head_len = (size_t)(end - buf);
	/* request line: METHOD SP target SP HTTP/1.x */
	line_end = memchr(buf, '\r', r->head_len);
	if (line_end[1] != '\n')
		return -EINVAL;
	sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
	if (!sp1 || sp1 == buf || sp1 - buf > 15)
		return -EINVAL;
	for (p = buf; p < sp1; p++)
		if (!token_char((unsigned char)*p))
			return -EINVAL;
	r->method_len = (size_t)(sp1 - buf);
	sp2 = memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1));
	if (!sp2 || (size_t)(line_end - sp2) != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return -EINVAL;
	t = sp1 + 1;
	tl = (size_t)(sp2 - t);
	for (size_t k = 0; k < tl; k++)
		if ((unsigned char)t[k] <= ' ' || t[k] == 127)
			return -EINVAL;
	if (r->method_len == 7 && memcmp(buf, "CONNECT", 7) == 0) {
		r->connect = 1;
		if (split_authority(t, tl, r->host, sizeof r->host, &r->port) < 0 || r->port == 0)
			return -EINVAL;
	} else if (tl >= 7 && strncasecmp(t, "http://", 7) == 0) {
		const char *auth = t + 7, *slash;
		size_t al;

		r->absolute = 1;
		slash = memchr(auth, '/', tl - 7);
		al = slash ? (size_t)(slash - auth) : tl - 7;
		{ /* '?' or '#' may end the authority too */
			const char *q = memchr(auth, '?', al);

			if (q)
				return -EINVAL; /* "http://host?x": no path; clients always send one */
		}
		if (split_authority(auth, al, r->host, sizeof r->host, &r->port) < 0)
			return -EINVAL;
		if (r->port == 0)
			r->port = 80;
		r->path_off = slash ? (size_t)(slash - buf) : 0;
		r->path_len = slash ? tl - 7 - al : 0;
	} else if (tl && t[0] == '/') {
		r->path_off = (size_t)(t - buf);
		r->path_len = tl;
	} else if (memchr(t, ':', tl)) {
		return -ENOTSUP; /* https://, ftp://, ... */
	} else {
		return -EINVAL;
	}
	/* header lines */
	for (p = line_end + 2; p < end - 2; p = line_end + 2) {
		const char *colon, *v, *ve;
		size_t nl;

		line_end = memchr(p, '\r', (size_t)(end - p));
		if (!line_end || line_end[1] != '\n')
			return -EINVAL;
		colon = memchr(p, ':', (size_t)(line_end - p));
		if (!colon || colon == p)
			return -EINVAL;
		nl = (size_t)(colon - p);
		for (size_t k = 0; k < nl; k++)
			if (!token_char((unsigned char)p[k]))
				return -EINVAL; /* folded line, space before the colon, ... */
		for (v = colon + 1; v < line_end && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = line_end; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		for (const char *k = v; k < ve; k++)
			if (*k == 0 || *k == '\n' || *k == 127)
				return -EINVAL;
		if (header_is(p, nl, "Host")) {
			if (r->has_host++ ||
			    split_authority(v, (size_t)(ve - v), r->host_header, sizeof r->host_header,
					    &r->host_header_port) < 0)
				return -EINVAL;
		} else if (header_is(p, nl, "Content-Length")) {
			long long cl = 0;

			if (ve == v || ve - v > 15)
				return -EINVAL;
			for (const char *k = v; k < ve; k++) {
				if (*k < '0' || *k > '9')
					return -EINVAL;
				cl = cl * 10 + (*k - '0');
			}
			if (r->content_length >= 0 && r->content_length != cl)
				return -EINVAL;
			r->content_length = cl;
		} else if (header_is(p, nl, "Transfer-Encoding")) {
			r->chunked = 1;
		}
	}
	if (r->chunked && r->content_length >= 0)
		return -EINVAL;
	if (!r->connect && !r->absolute && !r->has_host)
		return -EINVAL; /* origin-form (through SOCKS) needs a Host */
	return 0;
}

static int dropped_header(const char *p, size_t nl)
{
	return (nl >= 6 && strncasecmp(p, "Proxy-", 6) == 0) || header_is(p, nl, "Connection") ||
	       header_is(p, nl, "Keep-Alive");
}

long egress_http_rewrite(const char *buf, const struct egress_http_req *r, char *out, size_t n)
{
	const char *line_end = memchr(buf, '\r', r->head_len);
	const char *end = buf + r->head_len, *p;
	size_t o = 0;

#define PUT(s, l) do { size_t l_ = (l); if (o + l_ > n) return -E2BIG; memcpy(out + o, (s), l_); o += l_; } while (0)
	PUT(buf, r->method_len + 1);
	if (r->path_len)
		PUT(buf + r->path_off, r->path_len);
	else
		PUT("/", 1);
	PUT(line_end - 9, 11); /* " HTTP/1.x\r\n" */
	for (p = line_end + 2; p < end - 2; p = line_end + 2) {
		const char *colon;

		line_end = memchr(p, '\r', (size_t)(end - p));
		colon = memchr(p, ':', (size_t)(line_end - p));
		if (!dropped_header(p, (size_t)(colon - p)))
			PUT(p, (size_t)(line_end + 2 - p));
	}
	if (!r->has_host) { /* HTTP/1.0 without Host: name the checked host, not the server's default */
		char h[EGRESS_NAME_MAX + 24];
		int hl = snprintf(h, sizeof h, strchr(r->host, ':') ? "Host: [%s]" : "Host: %s", r->host);

		if (r->port != 80)
			hl += snprintf(h + hl, sizeof h - (size_t)hl, ":%u", r->port);
		PUT(h, (size_t)hl);
		PUT("\r\n", 2);
	}
	PUT("Connection: close\r\n\r\n", 21);
#undef PUT
	return (long)o;
}
