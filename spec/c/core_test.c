/* The C core without an interpreter: this program links the core objects (csrc/, not csrc/lua/) only (no liblua;
 * `make check-c`) and drives real sandboxes and the seccomp emitter through their C API. It proves
 * that the core is plain C and that its structs alone start, watch and end a sandbox.
 * Prints one line per failed case and "N passed, M failed"; exits 1 on any failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/seccomp.h>

#include "spawn.h"
#include "seccomp_filter.h"
#include "oci_io.h"
#include "egress.h"

static int passed, failed;

#define CHECK(cond, ...)                                                                          \
	do {                                                                                      \
		if (cond) {                                                                       \
			passed++;                                                                 \
		} else {                                                                          \
			failed++;                                                                 \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                               \
			printf(__VA_ARGS__);                                                      \
			putchar('\n');                                                            \
		}                                                                                 \
	} while (0)

static const char *const no_env[] = { NULL };

/* A minimal sandbox: new user, mount, pid and uts namespaces, the caller's ids mapped to 0 inside,
 * the host's file system (no mounts), every capability dropped. */
static void minimal(struct spawn_cfg *c, const char *const *argv, char *uid_map, char *gid_map)
{
	memset(c, 0, sizeof *c);
	snprintf(uid_map, 32, "0 %d 1", (int)getuid());
	snprintf(gid_map, 32, "0 %d 1", (int)getgid());
	c->argv = argv;
	c->envp = no_env;
	c->ns_flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS;
	c->uid_map = uid_map;
	c->gid_map = gid_map;
	c->deny_setgroups = 1;
	c->drop_caps = c->no_new_privs = c->new_session = c->die_with_parent = 1;
}

/* Starts c and collects its events until the exit; returns the number of events (at most max). */
static int run(struct spawn_cfg *c, struct sandbox_event *ev, int max, int *start_err)
{
	struct sandbox s;
	char what[1024] = "";
	int n = 0, r, whole;

	*start_err = sandbox_start(&s, c, 0, what, sizeof what, &whole);
	if (*start_err < 0)
		return 0;
	while (n < max && (r = sandbox_poll(&s, -1, &ev[n])) > 0)
		if (ev[n++].kind == SB_EXIT)
			break;
	sandbox_release(&s);
	return n;
}

static void test_true_and_false(void)
{
	static const char *const t[] = { "/bin/true", NULL }, *const f[] = { "/bin/false", NULL };
	struct spawn_cfg c;
	struct sandbox_event ev[4];
	char um[32], gm[32];
	int err, n;

	minimal(&c, t, um, gm);
	n = run(&c, ev, 4, &err);
	CHECK(err == 0, "start /bin/true: %s", strerror(-err));
	CHECK(n == 2 && ev[0].kind == SB_STARTED, "/bin/true: %d events, first %d", n, n ? (int)ev[0].kind : -1);
	CHECK(n == 2 && ev[1].kind == SB_EXIT && WIFEXITED(ev[1].status) && WEXITSTATUS(ev[1].status) == 0,
	      "/bin/true: exit status %#x", n == 2 ? ev[1].status : -1);

	minimal(&c, f, um, gm);
	n = run(&c, ev, 4, &err);
	CHECK(err == 0 && n == 2 && ev[1].kind == SB_EXIT && WIFEXITED(ev[1].status) && WEXITSTATUS(ev[1].status) == 1,
	      "/bin/false: exit code 1 expected (%d events)", n);
}

static void test_exec_error(void)
{
	static const char *const argv[] = { "/nonexistent/command", NULL };
	struct spawn_cfg c;
	struct sandbox_event ev[4];
	char um[32], gm[32];
	int err, n;

	minimal(&c, argv, um, gm);
	n = run(&c, ev, 4, &err);
	CHECK(err == 0 && n >= 1 && ev[0].kind == SB_EXEC_ERROR && ev[0].err == ENOENT &&
		      strcmp(ev[0].what, "exec /nonexistent/command") == 0,
	      "missing command: exec_error ENOENT expected (%d events, first %d)", n, n ? (int)ev[0].kind : -1);
	CHECK(n >= 2 && ev[n - 1].kind == SB_EXIT && WIFEXITED(ev[n - 1].status) && WEXITSTATUS(ev[n - 1].status) == 127,
	      "missing command: exit 127 expected");
}

/* A step that fails inside init stops the sandbox before the command: a hostname longer than the
 * kernel's 64 bytes. */
static void test_setup_error(void)
{
	static const char *const argv[] = { "/bin/true", NULL };
	struct spawn_cfg c;
	struct sandbox_event ev[4];
	char um[32], gm[32], name[100];
	int err, n;

	minimal(&c, argv, um, gm);
	memset(name, 'h', sizeof name - 1);
	name[sizeof name - 1] = 0;
	c.hostname = name;
	n = run(&c, ev, 4, &err);
	CHECK(err == 0 && n >= 1 && ev[0].kind == SB_SETUP_ERROR && ev[0].err == EINVAL,
	      "long hostname: setup_error EINVAL expected (%d events, first %d)", n, n ? (int)ev[0].kind : -1);
	for (int i = 0; i < n; i++)
		CHECK(ev[i].kind != SB_STARTED, "long hostname: the command started");
}

/* sandbox_kill reaches the command through init: a SIGTERM ends sleep, reported as its signal. */
static void test_kill(void)
{
	static const char *const argv[] = { "/bin/sleep", "100", NULL };
	struct spawn_cfg c;
	struct sandbox s;
	struct sandbox_event ev;
	char um[32], gm[32], what[1024];
	int whole, r;

	minimal(&c, argv, um, gm);
	r = sandbox_start(&s, &c, 0, what, sizeof what, &whole);
	CHECK(r == 0, "start sleep: %s", what);
	if (r < 0)
		return;
	r = sandbox_poll(&s, -1, &ev);
	CHECK(r == 1 && ev.kind == SB_STARTED, "sleep: started expected (%d, kind %d)", r, (int)ev.kind);
	CHECK(sandbox_kill(&s, SIGTERM) == 0, "kill sleep");
	while ((r = sandbox_poll(&s, -1, &ev)) == 1 && ev.kind != SB_EXIT)
		;
	CHECK(r == 1 && ev.kind == SB_EXIT && WIFSIGNALED(ev.status) && WTERMSIG(ev.status) == SIGTERM && !ev.init,
	      "sleep: exit by SIGTERM expected (status %#x, init %d)", ev.status, ev.init);
	sandbox_release(&s);
	CHECK(sandbox_kill(&s, SIGTERM) == -ESRCH, "kill after the end: -ESRCH expected");
}

/* The emitter's program, run by the evaluator: one rule, the default for the rest. */
static void test_seccomp_emit(void)
{
	struct pl_seccomp_rule rule = { .nr = 39, .action = SECCOMP_RET_ERRNO | 1 };
	struct sock_filter *prog;
	struct seccomp_data d = { .arch = 0xc000003e /* AUDIT_ARCH_X86_64 */ };
	size_t len;
	uint32_t ret = 0;
	int r = pl_seccomp_emit(SECCOMP_RET_ALLOW, &rule, 1, &prog, &len);

	CHECK(r == 0 && len > 0, "seccomp emit: %d", r);
	if (r < 0)
		return;
	d.nr = 39;
	CHECK(pl_bpf_run(prog, len, &d, &ret) == 0 && ret == (SECCOMP_RET_ERRNO | 1), "nr 39: %#x", ret);
	d.nr = 0;
	CHECK(pl_bpf_run(prog, len, &d, &ret) == 0 && ret == SECCOMP_RET_ALLOW, "nr 0: %#x", ret);
	free(prog);
}

static void test_sha256(void)
{
	struct pl_sha256 s;
	char hex[65];

	pl_sha256_init(&s);
	pl_sha256_update(&s, "abc", 3);
	pl_sha256_hex(&s, hex);
	CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "sha256: %s", hex);
}

/* OCI mounts (maskedPaths, readonlyPaths) resolve their paths inside the container's root: a symlink
 * or ".." in the image can never lead them to the host's files. */
static void test_open_in_root(void)
{
	char dir[] = "/tmp/core-test-root.XXXXXX", path[64];
	int rootfd, fd;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof path, "%s/etc", dir);
	CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
	snprintf(path, sizeof path, "%s/esc", dir);
	CHECK(symlink("/etc", path) == 0, "symlink %s", path);
	rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fd = open_in_root(rootfd, "/etc");
	CHECK(fd >= 0, "open_in_root /etc: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	fd = open_in_root(rootfd, "/esc/passwd");
	CHECK(fd < 0 && errno == ELOOP, "open_in_root through a symlink: fd %d (%s)", fd, strerror(errno));
	fd = open_in_root(rootfd, "/../../etc/passwd");
	CHECK(fd < 0 && errno == ENOENT, "open_in_root above the root: fd %d (%s)", fd, strerror(errno));
	if (fd >= 0)
		close(fd);
	close(rootfd);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	CHECK(system(path) == 0, "%s", path);
}

/* OCI create/start: with start_fd, init reports ready and the command waits until a byte arrives on
 * the FIFO (oci_io.c); a FIFO nobody waits on refuses the byte (ENXIO). */
static void test_start_gate(void)
{
	static const char *const t[] = { "/bin/true", NULL };
	char dir[] = "/tmp/purple-core-test.XXXXXX", fifo[64], um[32], gm[32], what[1024];
	struct spawn_cfg c;
	struct sandbox s;
	struct sandbox_event ev;
	int fd, whole, r;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(fifo, sizeof fifo, "%s/start", dir);
	fd = oci_fifo_open(fifo);
	CHECK(fd >= 0, "oci_fifo_open: %s", strerror(fd < 0 ? -fd : 0));
	minimal(&c, t, um, gm);
	c.start_fd = fd;
	r = sandbox_start(&s, &c, 0, what, sizeof what, &whole);
	close(fd);
	CHECK(r == 0, "start: %s: %s", what, strerror(-r));
	if (r == 0) {
		r = sandbox_poll(&s, -1, &ev);
		CHECK(r == 1 && ev.kind == SB_READY, "first event: %d (ready expected)", r == 1 ? (int)ev.kind : -1);
		r = sandbox_poll(&s, 0, &ev); /* nothing queued: the command has not been started */
		CHECK(r == 0, "an event before start: %d", r == 1 ? (int)ev.kind : r);
		CHECK(oci_fifo_signal(fifo) == 0, "oci_fifo_signal");
		r = sandbox_poll(&s, -1, &ev);
		CHECK(r == 1 && ev.kind == SB_STARTED, "after start: %d (started expected)", r == 1 ? (int)ev.kind : -1);
		sandbox_release(&s);
	}
	CHECK(oci_fifo_signal(fifo) == -ENXIO, "a FIFO nobody reads must refuse the byte");
	unlink(fifo);
	rmdir(dir);
}

/* A sysctl name is dot-separated words: one that would climb out of /proc/sys is refused unwritten. */
static void test_sysctl_names(void)
{
	static const char *const bad[] = { "net.//.//.//.tmp.core-test=1", NULL };
	struct spawn_cfg c;
	char what[256] = "";
	int r;

	memset(&c, 0, sizeof c);
	c.sysctls = bad;
	c.nsysctls = 1;
	r = container_sysctls(&c, what, sizeof what);
	CHECK(r == -EINVAL && strcmp(what, "sysctl net.//.//.//.tmp.core-test: not a sysctl name") == 0,
	      "bad sysctl name: %d (%s)", r, what);
	CHECK(access("/tmp/core-test", F_OK) < 0, "/tmp/core-test was written");
}

/* The proxy's request targets in brackets: an IPv6 literal, nothing else (fuzz_egress_http found
 * "[[]" read as the host "["). */
static void test_egress_brackets(void)
{
	static const struct {
		const char *head;
		int err;
		const char *host;
		unsigned port;
	} cases[] = {
		{ "GET http://[::1]:8080/x HTTP/1.1\r\n\r\n", 0, "::1", 8080 },
		{ "CONNECT [FD00::A]:443 HTTP/1.1\r\nHost: [fd00::a]:443\r\n\r\n", 0, "fd00::a", 443 },
		{ "G http://[[] HTTP/1.1\r\n\r\n", -EINVAL, NULL, 0 },
		{ "GET http://[example.com]/ HTTP/1.1\r\n\r\n", -EINVAL, NULL, 0 },
		{ "CONNECT [fe80::1%eth0]:443 HTTP/1.1\r\n\r\n", -EINVAL, NULL, 0 },
		{ "GET http://a[b]/ HTTP/1.1\r\n\r\n", -EINVAL, NULL, 0 },
		{ "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", -EINVAL, NULL, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct egress_http_req r;
		int e = egress_http_parse(cases[i].head, strlen(cases[i].head), &r);

		CHECK(e == cases[i].err, "egress_http_parse(%s): %d, want %d", cases[i].head, e, cases[i].err);
		if (e == 0 && cases[i].host)
			CHECK(strcmp(r.host, cases[i].host) == 0 && r.port == cases[i].port, "%s: host %s port %u",
			      cases[i].head, r.host, r.port);
	}
}

/* allow_internal in v4-mapped form names IPv4 addresses (fuzz_egress_match found
 * "::ffff:127.0.0.1" containing nothing, itself included). */
static void test_egress_v4_mapped_cidr(void)
{
	struct egress_cidr c;
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };

	inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
	CHECK(egress_cidr_parse("::ffff:127.0.0.1", &c) == 0 && c.family == AF_INET && c.bits == 32,
	      "::ffff:127.0.0.1: family %d bits %d", c.family, c.bits);
	CHECK(egress_cidr_contains(&c, (struct sockaddr *)&v4) && egress_cidr_contains(&c, (struct sockaddr *)&v6),
	      "::ffff:127.0.0.1 does not contain 127.0.0.1");
	CHECK(egress_cidr_parse("::ffff:10.0.0.0/104", &c) == 0 && c.family == AF_INET && c.bits == 8,
	      "::ffff:10.0.0.0/104: family %d bits %d", c.family, c.bits);
	CHECK(egress_cidr_parse("fd00::/8", &c) == 0 && c.family == AF_INET6 && c.bits == 8 &&
	      !egress_cidr_contains(&c, (struct sockaddr *)&v6), "fd00::/8");
}

int main(void)
{
	test_sha256();
	test_seccomp_emit();
	test_true_and_false();
	test_exec_error();
	test_setup_error();
	test_kill();
	test_open_in_root();
	test_start_gate();
	test_sysctl_names();
	test_egress_brackets();
	test_egress_v4_mapped_cidr();
	printf("core_test (uid %d): %d passed, %d failed\n", (int)getuid(), passed, failed);
	return failed ? 1 : 0;
}
