/* Device rules on cgroup v2. The v2 hierarchy has no devices controller: the kernel asks an eBPF
 * program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the group (and those attached above it)
 * about every open and mknod of a device node. The program is assembled here by hand from struct
 * bpf_insn and loaded with bpf(2) itself, as runc and crun do: no Debian library would do it
 * without clang or libbpf at run time, and the program is a few instructions a rule.
 *
 * The program, for ctx = struct bpf_cgroup_dev_ctx:
 *   w2 = type (low 16 bits of access_type), w3 = access (high 16), w4 = major, w5 = minor
 *   for each rule, last first: skip it unless type, major and minor match and its access covers
 *   the request (allow: every requested bit; deny: any of them); else return the rule's verdict
 *   return 0 (deny)
 * The attachment (BPF_F_ALLOW_MULTI, so a group above keeps its own program) holds the program
 * alive; the group's removal ends it. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "bpf_prog.h"
#include "cgroup_device_bpf.h"

/* per rule: type, major, minor tests, 3 for the access test, 2 for the verdict */
#define INSNS_PER_RULE 8
#define PROLOGUE 6
#define LOG_SIZE (16 * 1024)

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn i;

	memset(&i, 0, sizeof i);
	i.code = code;
	i.dst_reg = dst & 0xf;
	i.src_reg = src & 0xf;
	i.off = off;
	i.imm = imm;
	return i;
}

static int rule_valid(const struct cgroup_device_rule *r)
{
	return (r->type == 'a' || r->type == 'b' || r->type == 'c') && r->major >= -1 && r->major <= UINT32_MAX &&
	       r->minor >= -1 && r->minor <= UINT32_MAX && r->access != 0 &&
	       (r->access & ~(CGROUP_DEVICE_MKNOD | CGROUP_DEVICE_READ | CGROUP_DEVICE_WRITE)) == 0;
}

/* The offset of a jump at k to the end of a block of len instructions (the next rule's start). */
static int16_t to_end(size_t len, size_t k)
{
	return (int16_t)(len - k - 1);
}

/* One rule's block into p; returns its length. Every jump goes to the block's end (the next rule). */
static size_t emit_rule(struct bpf_insn *p, const struct cgroup_device_rule *r)
{
	size_t len = 5 + (r->type != 'a') + (r->major >= 0) + (r->minor >= 0), k = 0;
	if (r->type != 'a') {
		p[k] = insn(BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_2, 0, to_end(len, k),
			    r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
		k++;
	}
	if (r->major >= 0) {
		p[k] = insn(BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_4, 0, to_end(len, k), (int32_t)(uint32_t)r->major);
		k++;
	}
	if (r->minor >= 0) {
		p[k] = insn(BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_5, 0, to_end(len, k), (int32_t)(uint32_t)r->minor);
		k++;
	}
	p[k++] = insn(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
	if (r->allow) {
		/* a requested bit the rule lacks: not this rule */
		p[k++] = insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, (int32_t)(0xffffu & ~r->access));
		p[k] = insn(BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_1, 0, to_end(len, k), 0);
	} else {
		/* no requested bit in the rule: not this rule */
		p[k++] = insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, (int32_t)r->access);
		p[k] = insn(BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, to_end(len, k), 0);
	}
	k++;
	p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, r->allow ? 1 : 0);
	p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return k;
}

static size_t emit(struct bpf_insn *p, const struct cgroup_device_rule *rules, size_t n)
{
	size_t k = 0;

	p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0); /* access_type */
	p[k++] = insn(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0);
	p[k++] = insn(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
	p[k++] = insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
	p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0); /* major */
	p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0); /* minor */
	for (size_t i = n; i-- > 0;)
		k += emit_rule(p + k, &rules[i]);
	p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return k;
}

/* The verifier's last line in log (the reason; a refusal leaves it there). */
static void last_line(char *log, size_t logn, const char *text)
{
	size_t len = strlen(text);
	const char *end, *start;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	end = text + len;
	for (start = end; start > text && start[-1] != '\n'; start--)
		;
	snprintf(log, logn, "%.*s", (int)(end - start), start);
}

int cgroup_device_filter(const char *dir, const struct cgroup_device_rule *rules, size_t n, char *what, size_t wn)
{
	char log[160] = "", *verifier;
	struct bpf_insn *p;
	int prog, dfd, r = 0;
	size_t len;

	snprintf(what, wn, "bpf device program %s", dir);
	if (n > CGROUP_DEVICE_RULES_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (!rule_valid(&rules[i]))
			return -EINVAL;
	if (!(p = calloc(PROLOGUE + 2 + n * INSNS_PER_RULE, sizeof *p)))
		return -ENOMEM;
	len = emit(p, rules, n);
	verifier = calloc(1, LOG_SIZE);
	prog = bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, p, len, verifier,
			     verifier ? LOG_SIZE : 0);
	free(p);
	if (prog < 0 && verifier && verifier[0]) {
		last_line(log, sizeof log, verifier);
		snprintf(what, wn, "bpf device program %s (verifier: %s)", dir, log);
	}
	free(verifier);
	if (prog < 0)
		return prog;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		close(prog);
		return r;
	}
	r = bpf_prog_attach_cgroup(dfd, prog, BPF_CGROUP_DEVICE);
	close(dfd);
	close(prog);
	return r;
}
