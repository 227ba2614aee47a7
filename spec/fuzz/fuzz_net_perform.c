/* The supervised network's message handling (csrc/net_perform.c, net_notify.c) on calls whose
 * memory the input lays out: the address of any family and length, the iovec array, the control
 * messages (SCM_RIGHTS with any fd numbers), sendmmsg's array of msghdr, and pointers into and
 * out of mapped memory. The "sandbox" is this process's own thread (process_vm_readv and
 * pidfd_getfd of itself); the listener is -1, so every call is read, checked and noted, then
 * dropped as the answer to a caller no longer waiting (NET_GONE): nothing is sent or bound.
 *
 * Checked: no crash or sanitizer report; every audit note is well formed (a known op, a tcp/udp
 * protocol, a port 0..65535, an address that is a C string); no fd is leaked; and a note that
 * says allowed names a port of the rules. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "net_perform.h"
#include "fuzz_input.h"

#define ARENA 65536

static char arena[ARENA] __attribute__((aligned(64)));
static int socks[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static const int sock_kind[8][3] = {
	{ AF_INET, SOCK_STREAM, 0 }, { AF_INET, SOCK_DGRAM, 0 }, { AF_INET6, SOCK_STREAM, 0 },
	{ AF_INET6, SOCK_DGRAM, 0 }, { AF_UNIX, SOCK_STREAM, 0 }, { AF_UNIX, SOCK_DGRAM, 0 },
	{ AF_UNIX, SOCK_SEQPACKET, 0 }, { AF_NETLINK, SOCK_RAW, 0 },
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static const struct net_range rules[] = { { 80, 80, IPPROTO_TCP }, { 53, 53, IPPROTO_UDP }, { 1000, 2000, 0 } };

static void note(void *arg, const struct net_note *n)
{
	static const char *const ops[] = { "connect", "bind", "send", "listen", "fastopen" };
	int known = 0;

	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		known |= strcmp(n->op, ops[i]) == 0;
	if (!known || !n->proto || (strcmp(n->proto, "tcp") != 0 && strcmp(n->proto, "udp") != 0) || n->port > 65535
	    || (n->addr && strnlen(n->addr, 64) >= 64)) {
		fprintf(stderr, "malformed note: op %s proto %s port %d\n", n->op, n->proto ? n->proto : "-", n->port);
		abort();
	}
	if (n->allowed) {
		int ok = 0;

		for (size_t i = 0; i < sizeof rules / sizeof *rules; i++)
			ok |= n->port >= rules[i].from && n->port <= rules[i].to;
		if (!ok) {
			fprintf(stderr, "note allows port %d, which no rule holds\n", n->port);
			abort();
		}
	}
	(*(int *)arg)++;
}

/* A pointer the input picks: into the arena (at an offset it names), NULL, or unmapped/odd. */
static uint64_t pick_ptr(struct fuzz_in *in)
{
	uint8_t k = fin_u8(in);

	if (k < 224)
		return (uint64_t)(uintptr_t)(arena + fin_u16(in) % ARENA);
	if (k < 240)
		return 0;
	return k & 1 ? fin_u64(in) : (uint64_t)(uintptr_t)(arena + ARENA - (fin_u8(in) % 16));
}

/* A length: mostly small, sometimes anything. */
static uint64_t pick_len(struct fuzz_in *in)
{
	uint8_t k = fin_u8(in);

	return k < 200 ? fin_u8(in) : k < 240 ? fin_u16(in) : fin_u64(in);
}

/* Writes a struct msghdr at dst whose parts the input lays out in the arena. */
static void make_msghdr(struct fuzz_in *in, struct msghdr *dst)
{
	struct msghdr mh = { 0 };

	mh.msg_name = (void *)(uintptr_t)pick_ptr(in);
	mh.msg_namelen = (socklen_t)pick_len(in);
	mh.msg_iov = (void *)(uintptr_t)pick_ptr(in);
	mh.msg_iovlen = (size_t)(fin_u8(in) < 240 ? fin_u8(in) % 8 : pick_len(in));
	mh.msg_control = (void *)(uintptr_t)pick_ptr(in);
	mh.msg_controllen = (size_t)pick_len(in);
	mh.msg_flags = (int)fin_u32(in);
	memcpy(dst, &mh, sizeof mh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size, 0 };
	uint8_t k = fin_u8(&in), call = fin_u8(&in);
	struct net_perform_call c = { 0 };
	int before, notes = 0, idx = k % 8;
	long val = 0;
	enum net_answer a;
	size_t nwrites;

	if (socks[idx] < 0) {
		socks[idx] = socket(sock_kind[idx][0], sock_kind[idx][1] | SOCK_CLOEXEC, sock_kind[idx][2]);
		if (socks[idx] < 0)
			return 0; /* a family this host lacks */
	}
	before = count_fds();
	/* the arena: the input's raw bytes, then structures written over them at offsets it names */
	memset(arena, 0, sizeof arena);
	fin_copy(&in, arena, fin_u16(&in) % 4096);
	nwrites = fin_u8(&in) % 24;
	for (size_t i = 0; i < nwrites; i++) {
		uint8_t what = fin_u8(&in);
		size_t at = fin_u16(&in) % (ARENA - sizeof(struct mmsghdr));

		at &= ~(size_t)7;
		if (what % 4 == 0) {
			struct iovec v = { (void *)(uintptr_t)pick_ptr(&in), (size_t)pick_len(&in) };

			memcpy(arena + at, &v, sizeof v);
		} else if (what % 4 == 1) {
			make_msghdr(&in, (struct msghdr *)(arena + at));
		} else if (what % 4 == 2) {
			/* a control message header: length, level, type, then fds */
			struct cmsghdr h = { .cmsg_len = (size_t)(fin_u8(&in) < 200 ? CMSG_LEN(4 * (fin_u8(&in) % 8))
									       : pick_len(&in)),
					     .cmsg_level = fin_u8(&in) & 1 ? SOL_SOCKET : (int)fin_u32(&in),
					     .cmsg_type = fin_u8(&in) & 1 ? SCM_RIGHTS : (int)fin_u8(&in) };

			memcpy(arena + at, &h, sizeof h);
			for (int f = 0; f < 8 && at + sizeof h + (f + 1) * 4 <= ARENA; f++) {
				int fd = fin_u8(&in) < 200 ? (int)(fin_u8(&in) % 8) : (int)fin_u32(&in);

				memcpy(arena + at + CMSG_LEN(0) + f * 4, &fd, 4);
			}
		} else {
			/* an address: family, then bytes (a unix path, an internet port and address) */
			uint16_t fam = fin_u8(&in) < 200 ? (uint16_t)(AF_UNIX + fin_u8(&in) % 10) : fin_u16(&in);
			size_t room = ARENA - at - sizeof fam, want = fin_u8(&in) % 120;

			memcpy(arena + at, &fam, sizeof fam);
			/* near the arena's end the address is cut short (the harness once wrote past it) */
			fin_copy(&in, arena + at + sizeof fam, want < room ? want : room);
		}
	}
	c.call = (enum net_call)(call % 6);
	c.pid = (pid_t)syscall(SYS_gettid);
	c.id = 1;
	c.args[0] = (uint64_t)socks[idx];
	for (int i = 1; i < 6; i++)
		c.args[i] = fin_u8(&in) & 1 ? pick_ptr(&in) : pick_len(&in);
	c.outgoing = (struct net_ranges){ rules, sizeof rules / sizeof *rules };
	c.incoming = (struct net_ranges){ rules, fin_u8(&in) % 4 };
	c.note = note;
	c.arg = &notes;
	a = net_perform(-1, &c, &c, &val);
	if (a != NET_GONE && a != NET_ERROR) {
		fprintf(stderr, "net_perform with no listener answered %d (val %ld)\n", (int)a, val);
		abort();
	}
	if (count_fds() != before) {
		fprintf(stderr, "fd leak: %d open before, %d after\n", before, count_fds());
		abort();
	}
	/* the one-address reader the TCP-only mode uses */
	{
		struct sockaddr_storage ss;
		char addr[64];
		int port;

		if (pl_peek_sockaddr(getpid(), pick_ptr(&in), (size_t)pick_len(&in), &ss) == 0)
			pl_sockaddr_describe(&ss, addr, sizeof addr, &port);
	}
	return 0;
}
