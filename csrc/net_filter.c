/* Port filter on the host network: cgroup sock_addr BPF programs (root only).
 *
 * The kernel runs these programs on its own copy of the address, inside connect(), bind() and
 * sendmsg(), so a thread rewriting the caller's sockaddr cannot race them. Each program checks the
 * socket's protocol (TCP or UDP; other protocols are denied) and the destination or bind port
 * against a list of ranges, and returns 1 (allow) or 0 (the syscall fails with EPERM).
 *
 *   connect4/6 + sendmsg4/6   "outgoing" rules: TCP and UDP connect, unconnected UDP sendto/sendmsg
 *   bind4/6                   "incoming" rules
 *   ingress (cgroup skb)      "incoming" rules for packets to listening sockets (listen without bind)
 *   sock_create               only TCP and UDP internet sockets may be created (not counted)
 *
 * Every decision is also counted in a hash map (audit_key → count) that the supervisor reads
 * after the run for the audit log (filter:events()).
 *
 * Programs are attached with BPF_F_ALLOW_MULTI, so filters of parent cgroups still apply. They
 * live as long as the cgroup: the supervisor removes the cgroup when the sandbox ends. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <sys/syscall.h>

#include "bpf_prog.h"
#include "net_filter.h"

#define MAX_INSNS (64 + NET_MAX_RANGES * 4)
#define AUDIT_ENTRIES 4096

/* The hooks, in the order of their index in an audit key. */
static const struct hook {
	enum bpf_attach_type type;
	int family;      /* of the address the program sees; 0: the listen (ingress) program, -1: sock_create */
	int incoming;    /* checks the "incoming" list */
	const char *name, *op;
} hooks[] = {
	{ BPF_CGROUP_INET4_CONNECT, 4, 0, "connect4", "connect" },
	{ BPF_CGROUP_INET6_CONNECT, 6, 0, "connect6", "connect" },
	{ BPF_CGROUP_UDP4_SENDMSG, 4, 0, "sendmsg4", "send" },
	{ BPF_CGROUP_UDP6_SENDMSG, 6, 0, "sendmsg6", "send" },
	{ BPF_CGROUP_INET4_BIND, 4, 1, "bind4", "bind" },
	{ BPF_CGROUP_INET6_BIND, 6, 1, "bind6", "bind" },
	{ BPF_CGROUP_INET_INGRESS, 0, 1, "ingress", "incoming" },
};

/* Audit map entry: one per distinct (hook, verdict, protocol, port, address), counting. */
struct audit_key {
	uint32_t hook, allowed, proto, port;
	uint8_t addr[16];
};

struct prog {
	struct bpf_insn i[MAX_INSNS];
	size_t n;
	size_t fix[NET_MAX_RANGES + 8]; /* jumps to patch: index of insn */
	int label[NET_MAX_RANGES + 8];  /* and the label each one targets */
	size_t nfix;
	size_t at[5];               /* label positions */
};

enum { L_DENY, L_ALLOW, L_RECORD, L_PASS, L_INSERT };

static void emit(struct prog *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	p->i[p->n++] = (struct bpf_insn){ .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm };
}

/* A conditional (or, with code BPF_JA, unconditional) jump to a label placed later. */
static void jump(struct prog *p, uint8_t code, uint8_t dst, int32_t imm, int label)
{
	p->fix[p->nfix] = p->n;
	p->label[p->nfix++] = label;
	emit(p, BPF_JMP | code | (code == BPF_JA ? 0 : BPF_K), dst, 0, 0, imm);
}

static void place(struct prog *p, int label)
{
	p->at[label] = p->n;
}

static void load_map(struct prog *p, int map)
{
	emit(p, BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map);
	emit(p, 0, 0, 0, 0, 0);
}

/* r6 = context, r8 = protocol, r9 = port in host order, r7 = verdict (0 deny, 1 allow).
 * Every decision is counted in the audit map under its key, then returned.
 * The listen (cgroup skb ingress) program looks at packets to a listening socket of the sandbox:
 * a listen() without bind() gets a port from the kernel without passing any bind hook, so its
 * SYNs are dropped here unless the port is allowed. Other packets pass uncounted. */
static void build_program(struct prog *p, size_t hook, const struct port_range *r, size_t nr, int map)
{
	const struct hook *h = &hooks[hook];

	p->n = p->nfix = 0;
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
	if (!h->family) {
		emit(p, BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, sk), 0);
		jump(p, BPF_JEQ, BPF_REG_1, 0, L_PASS);
		emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, offsetof(struct bpf_sock, state), 0);
		jump(p, BPF_JNE, BPF_REG_2, 10 /* BPF_TCP_LISTEN */, L_PASS);
		emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_9, BPF_REG_1, offsetof(struct bpf_sock, src_port), 0);
		emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_8, 0, 0, IPPROTO_TCP);
	} else {
		emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_8, BPF_REG_6, offsetof(struct bpf_sock_addr, protocol), 0);
		emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_9, BPF_REG_6, offsetof(struct bpf_sock_addr, user_port), 0);
		emit(p, BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_9, 0, 0, 16); /* network to host order */
	}
	/* only TCP and UDP; anything else is denied. With no rules everything is, and an allow
	 * block would be unreachable code, which the verifier rejects. */
	if (nr) {
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_8, 0, 1, IPPROTO_TCP);
		jump(p, BPF_JNE, BPF_REG_8, IPPROTO_UDP, L_DENY);
	}
	for (size_t k = 0; k < nr; k++) {
		int16_t skip = 2; /* past the JGT and the jump to allow */

		if (r[k].proto)
			emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_8, 0, skip + 1, r[k].proto);
		emit(p, BPF_JMP | BPF_JLT | BPF_K, BPF_REG_9, 0, skip, (int32_t)r[k].from);
		emit(p, BPF_JMP | BPF_JGT | BPF_K, BPF_REG_9, 0, 1, (int32_t)r[k].to);
		jump(p, BPF_JA, 0, 0, L_ALLOW);
	}
	place(p, L_DENY);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_7, 0, 0, 0);
	jump(p, BPF_JA, 0, 0, L_RECORD);
	if (nr) {
		place(p, L_ALLOW);
		emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_7, 0, 0, 1);
	}
	place(p, L_RECORD);
	emit(p, BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -32, (int32_t)hook);
	emit(p, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_7, -28, 0);
	emit(p, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_8, -24, 0);
	emit(p, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_9, -20, 0);
	for (int w = 0; w < 4; w++) {
		if (h->family == 6 || (h->family == 4 && w == 0)) {
			int16_t off = h->family == 4 ? (int16_t)offsetof(struct bpf_sock_addr, user_ip4)
						     : (int16_t)(offsetof(struct bpf_sock_addr, user_ip6) + 4 * w);

			emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_1, BPF_REG_6, off, 0);
			emit(p, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_1, (int16_t)(-16 + 4 * w), 0);
		} else {
			emit(p, BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, (int16_t)(-16 + 4 * w), 0);
		}
	}
	load_map(p, map);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	emit(p, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -32);
	emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
	jump(p, BPF_JEQ, BPF_REG_0, 0, L_INSERT);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1);
	emit(p, BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_7, 0, 0);
	emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	place(p, L_INSERT);
	emit(p, BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, -40, 1);
	load_map(p, map);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	emit(p, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -32);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_10, 0, 0);
	emit(p, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_3, 0, 0, -40);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, BPF_NOEXIST);
	emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_update_elem);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_7, 0, 0);
	emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	if (!h->family) {
		place(p, L_PASS);
		emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
		emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	}
	for (size_t k = 0; k < p->nfix; k++)
		p->i[p->fix[k]].off = (int16_t)(p->at[p->label[k]] - (p->fix[k] + 1));
}

/* The sock_create program: an internet socket may only be TCP (stream) or UDP (datagram). The
 * sock_addr hooks do not run for every protocol (UDP-Lite has no connect hook, ping sockets no
 * sendmsg hook, MPTCP is checked on its first subflow only), so the others must not exist. */
static void build_socket_program(struct prog *p)
{
	p->n = p->nfix = 0;
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, offsetof(struct bpf_sock, type), 0);
	emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1, offsetof(struct bpf_sock, protocol), 0);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
	emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 2, SOCK_STREAM);
	emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, 3, IPPROTO_TCP);
	emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 1, SOCK_DGRAM);
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_3, 0, 1, IPPROTO_UDP);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

static const struct hook socket_hook = { BPF_CGROUP_INET_SOCK_CREATE, -1, 0, "sock_create", "socket" };

static int prog_load(const struct prog *p, const struct hook *h, char *log, size_t loglen)
{
	enum bpf_prog_type type = h->family < 0 ? BPF_PROG_TYPE_CGROUP_SOCK
				  : h->family ? BPF_PROG_TYPE_CGROUP_SOCK_ADDR : BPF_PROG_TYPE_CGROUP_SKB;
	int fd = bpf_prog_load(type, h->type, p->i, p->n, log, loglen);

	log[strcspn(log, "\n")] = 0;
	return fd;
}

static int map_create(void)
{
	union bpf_attr a;

	memset(&a, 0, sizeof a);
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = sizeof(struct audit_key);
	a.value_size = sizeof(uint64_t);
	a.max_entries = AUDIT_ENTRIES;
	a.map_flags = 0;
	return (int)syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a);
}

/* Loads prog for hook h and attaches it to the cgroup cg (the attachment then holds it). 0, or an
 * errno with msg naming the program and the verifier's first line. */
static int load_attach(int cg, const struct prog *prog, const struct hook *h, const char *dir, char *msg,
		       size_t n)
{
	char log[1024] = "";
	int fd = prog_load(prog, h, log, sizeof log), err;

	if (fd < 0) {
		err = -fd;
		snprintf(msg, n, "load BPF %s program%s%s", h->name, log[0] ? ": " : "", log);
		return err;
	}
	err = -bpf_prog_attach_cgroup(cg, fd, h->type);
	if (err)
		snprintf(msg, n, "attach BPF %s program to %s", h->name, dir);
	close(fd);
	return err;
}

int net_filter_attach(const char *dir, const struct port_range *out, size_t nout, const struct port_range *in,
		      size_t nin, int *map, char *msg, size_t n)
{
	struct prog *prog = malloc(sizeof *prog); /* too large for the C stack */
	int cg, err = 0;

	*map = -1;
	if (!prog) {
		snprintf(msg, n, "net filter");
		return -ENOMEM;
	}
	*map = map_create();
	if (*map < 0) {
		err = errno;
		snprintf(msg, n, "create BPF audit map");
		free(prog);
		return -err;
	}
	cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		err = errno;
		snprintf(msg, n, "open cgroup %s", dir);
	}
	for (size_t i = 0; cg >= 0 && i < PL_ARRAY_LEN(hooks) && !err; i++) {
		build_program(prog, i, hooks[i].incoming ? in : out, hooks[i].incoming ? nin : nout, *map);
		err = load_attach(cg, prog, &hooks[i], dir, msg, n);
	}
	if (cg >= 0 && !err) {
		build_socket_program(prog);
		err = load_attach(cg, prog, &socket_hook, dir, msg, n);
	}
	free(prog);
	if (cg >= 0)
		close(cg);
	if (err) {
		close(*map);
		*map = -1;
	}
	return -err;
}

int net_filter_events(int map, net_filter_event_fn *each, void *arg)
{
	struct audit_key key, next;
	union bpf_attr a;
	int first = 1;

	for (;;) {
		struct net_filter_event e = { 0 };

		memset(&a, 0, sizeof a);
		a.map_fd = (uint32_t)map;
		a.key = first ? 0 : (uint64_t)(uintptr_t)&key;
		a.next_key = (uint64_t)(uintptr_t)&next;
		if (syscall(SYS_bpf, BPF_MAP_GET_NEXT_KEY, &a, sizeof a) < 0)
			return errno == ENOENT ? 0 : -errno;
		first = 0;
		key = next;
		memset(&a, 0, sizeof a);
		a.map_fd = (uint32_t)map;
		a.key = (uint64_t)(uintptr_t)&key;
		a.value = (uint64_t)(uintptr_t)&e.count;
		if (syscall(SYS_bpf, BPF_MAP_LOOKUP_ELEM, &a, sizeof a) < 0 || key.hook >= PL_ARRAY_LEN(hooks))
			continue;
		e.op = hooks[key.hook].op;
		e.allowed = key.allowed != 0;
		e.proto = key.proto;
		e.port = key.port;
		e.has_addr = hooks[key.hook].family &&
			     inet_ntop(hooks[key.hook].family == 4 ? AF_INET : AF_INET6, key.addr, e.addr, sizeof e.addr);
		each(arg, &e);
	}
}
