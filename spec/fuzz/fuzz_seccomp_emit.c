/* Differential fuzzing of purple's seccomp emitter (csrc/seccomp_emit.c) against libseccomp's
 * compile of the same rule table (csrc/seccomp.c: pl_seccomp_compile): both programs are run by
 * pl_bpf_run over syscalls (architecture, number, arguments) drawn from the input and from the
 * rules' own numbers and values. The emitter's action must be libseccomp's for the architecture
 * and x32 checks, and the table's own (stated(), 64-bit arithmetic) for a native call.
 *
 * The tables are what purple's are (seccomp_emit.c's header): a syscall's rules share one action,
 * so their order cannot matter; libseccomp refusing a table (a repeated argument, an operator it
 * does not take) skips the case, and the emitter may refuse only by size (E2BIG). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/audit.h>

#include "seccomp_filter.h"
#include "fuzz_input.h"

#define MAX_RULES 64
#define MAX_PROBES 64

static const uint32_t actions[] = {
	SCMP_ACT_ALLOW, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_NOTIFY, SCMP_ACT_LOG,
	SCMP_ACT_ERRNO(1), SCMP_ACT_ERRNO(38), SCMP_ACT_ERRNO(13), SCMP_ACT_TRAP, SCMP_ACT_TRACE(7),
};
#define NACT (sizeof actions / sizeof *actions)

static int syscall_nr(struct fuzz_in *in)
{
	uint8_t k = fin_u8(in);

	/* mostly small numbers, so tables share syscalls and runs; sometimes any up to 1023 */
	return k < 192 ? k % 48 : fin_u16(in) % 1024;
}

static void arg_cmp(struct fuzz_in *in, struct scmp_arg_cmp *c)
{
	static const enum scmp_compare ops[] = { SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ,
						 SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ };
	uint8_t b = fin_u8(in);

	c->arg = b % 6;
	c->op = ops[(b >> 3) % 7];
	/* small values, 32-bit edges or any 64 bits */
	c->datum_a = (b & 0x80) ? fin_u64(in) : (fin_u8(in) & 1) ? 0xffffffffu + (uint64_t)(fin_u8(in) % 3) : fin_u8(in);
	c->datum_b = c->op == SCMP_CMP_MASKED_EQ ? ((fin_u8(in) & 1) ? fin_u64(in) : fin_u8(in)) : 0;
	if (c->op == SCMP_CMP_MASKED_EQ) {
		c->datum_a = (fin_u8(in) & 1) ? fin_u64(in) : fin_u8(in); /* the mask */
		/* a value within its mask, as purple's tables state them (syscalls.lua): libseccomp
		 * compares against value & mask, the emitter against the value as given, so a value
		 * with bits outside the mask never matches in purple's program but may in libseccomp's */
		c->datum_b &= c->datum_a;
	}
}

static uint64_t probe_arg(struct fuzz_in *in, const struct pl_seccomp_rule *rules, size_t n)
{
	uint8_t k = fin_u8(in);

	if (n && k < 160) { /* near a rule's own value: where the comparisons flip */
		const struct pl_seccomp_rule *r = &rules[fin_u8(in) % n];

		if (r->nargs) {
			const struct scmp_arg_cmp *c = &r->args[fin_u8(in) % r->nargs];
			uint64_t v = c->op == SCMP_CMP_MASKED_EQ ? c->datum_b : c->datum_a;

			return v + (uint64_t)(int64_t)((int8_t)fin_u8(in) % 3) ^ ((k & 1) ? (uint64_t)1 << 32 : 0);
		}
	}
	return k < 200 ? fin_u8(in) : fin_u64(in);
}

/* The table, for the report of a difference. */
static void dump(uint32_t def, const struct pl_seccomp_rule *rules, size_t n)
{
	fprintf(stderr, "default %#x\n", def);
	for (size_t i = 0; i < n; i++) {
		fprintf(stderr, "  nr %d action %#x:", rules[i].nr, rules[i].action);
		for (unsigned k = 0; k < rules[i].nargs; k++)
			fprintf(stderr, " arg%u op%d %#llx %#llx", rules[i].args[k].arg, (int)rules[i].args[k].op,
				(unsigned long long)rules[i].args[k].datum_a, (unsigned long long)rules[i].args[k].datum_b);
		fprintf(stderr, "\n");
	}
}

/* The decision the table states for a native call (the kernel's 64-bit arithmetic): the action of
 * the syscall's rules when one holds entirely, else the default. */
static uint32_t stated(uint32_t def, const struct pl_seccomp_rule *rules, size_t n, const struct seccomp_data *d)
{
	for (size_t i = 0; i < n; i++) {
		const struct pl_seccomp_rule *r = &rules[i];
		int all = 1;

		if (r->nr != d->nr || r->action == def)
			continue;
		for (unsigned k = 0; k < r->nargs && all; k++) {
			uint64_t a = d->args[r->args[k].arg], v = r->args[k].datum_a;

			switch (r->args[k].op) {
			case SCMP_CMP_NE: all = a != v; break;
			case SCMP_CMP_LT: all = a < v; break;
			case SCMP_CMP_LE: all = a <= v; break;
			case SCMP_CMP_EQ: all = a == v; break;
			case SCMP_CMP_GE: all = a >= v; break;
			case SCMP_CMP_GT: all = a > v; break;
			case SCMP_CMP_MASKED_EQ: all = (a & v) == r->args[k].datum_b; break;
			default: abort();
			}
		}
		if (all)
			return r->action;
	}
	return def;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size, 0 };
	struct pl_seccomp_rule rules[MAX_RULES];
	uint32_t sys_action[1024];
	uint8_t have[1024] = { 0 }, arg_rules[1024] = { 0 }, plain[1024] = { 0 }, ne_rule[1024] = { 0 };
	uint32_t def = actions[fin_u8(&in) % NACT];
	size_t n = fin_u8(&in) % MAX_RULES, elen = 0, llen = 0;
	struct sock_filter *emitted = NULL;
	void *lib = NULL;
	char what[128];
	int re, rl;

	{
		size_t want = n;

		n = 0;
		for (size_t i = 0; i < want; i++) {
			struct pl_seccomp_rule *r = &rules[n];

			r->nr = syscall_nr(&in);
			if (!have[r->nr]) {
				have[r->nr] = 1;
				sys_action[r->nr] = actions[fin_u8(&in) % NACT];
			}
			r->action = sys_action[r->nr];
			r->nargs = fin_u8(&in) % 4;
			for (unsigned k = 0; k < r->nargs; k++)
				arg_cmp(&in, &r->args[k]);
			/* A syscall's rules are one unconditional rule or conditional ones only, at
			 * most 3 comparisons in all: as purple's tables are (plan() in seccomp.lua;
			 * socket has more, one comparison each). libseccomp 2.5 takes minutes, growing
			 * exponentially, on 2 rules of 2 comparisons (64-bit gt) or on an unconditional rule after
			 * conditional ones (spec/fuzz/regress/fuzz_seccomp_emit/libseccomp-*). */
			int ne = 0;

			for (unsigned k = 0; k < r->nargs; k++)
				ne |= r->args[k].op == SCMP_CMP_NE;
			/* ... and a rule with "ne" (personality's) alone: two such rules of one
			 * syscall never finish in libseccomp */
			if (arg_rules[r->nr] + r->nargs > 3 || (r->nargs == 0 && (plain[r->nr] || arg_rules[r->nr]))
			    || (r->nargs > 0 && plain[r->nr]) || (ne_rule[r->nr]) || (ne && arg_rules[r->nr]))
				continue;
			ne_rule[r->nr] |= ne;
			arg_rules[r->nr] += (uint8_t)r->nargs;
			plain[r->nr] |= r->nargs == 0;
			n++;
		}
	}
	if (getenv("FUZZ_DUMP"))
		dump(def, rules, n);
	rl = pl_seccomp_compile(def, rules, n, &lib, &llen, what, sizeof what);
	if (rl < 0)
		return 0; /* a table libseccomp refuses: nothing to compare against */
	re = pl_seccomp_emit(def, rules, n, &emitted, &elen);
	if (re == -E2BIG) {
		free(lib);
		return 0;
	}
	if (re < 0) {
		fprintf(stderr, "emitter refused a table libseccomp compiles: %d\n", re);
		abort();
	}
	for (int p = 0; p < MAX_PROBES && (p < 4 || fin_left(&in) > 0); p++) {
		struct seccomp_data d = { 0 };
		uint8_t k = fin_u8(&in);
		uint32_t a = 0, b = 0;
		int ra, rb;

		d.arch = k < 240 ? AUDIT_ARCH_X86_64 : (k & 1) ? AUDIT_ARCH_I386 : fin_u32(&in);
		if (n && (k & 3))
			d.nr = rules[fin_u8(&in) % n].nr;
		else
			d.nr = (int)((k & 4) ? fin_u32(&in) : syscall_nr(&in));
		if (k & 8)
			d.nr = (int)((uint32_t)d.nr | 0x40000000u); /* x32 */
		if ((k & 0x30) == 0x30)
			d.nr = -1;
		for (int i = 0; i < 6; i++)
			d.args[i] = probe_arg(&in, rules, n);
		ra = pl_bpf_run(emitted, elen, &d, &a);
		rb = pl_bpf_run(lib, llen / sizeof(struct sock_filter), &d, &b);
		/* a native call is judged by the table's own semantics: libseccomp 2.5 decides some
		 * 64-bit lt/le/gt/ge comparisons wrongly (fixed in 2.6), e.g. regress/fuzz_seccomp_emit/
		 * libseccomp-64bit-le; the architecture and x32 checks by libseccomp's program */
		if (rb == 0 && d.arch == AUDIT_ARCH_X86_64 && d.nr >= 0 && !((uint32_t)d.nr & 0x40000000u))
			b = stated(def, rules, n, &d);
		if (ra != 0 || rb != 0 || a != b) {
			fprintf(stderr, "decision differs: arch %#x nr %d args %#llx %#llx %#llx %#llx %#llx %#llx: "
					"purple %d/%#x, libseccomp %d/%#x\n",
				d.arch, d.nr, (unsigned long long)d.args[0], (unsigned long long)d.args[1],
				(unsigned long long)d.args[2], (unsigned long long)d.args[3],
				(unsigned long long)d.args[4], (unsigned long long)d.args[5], ra, a, rb, b);
			dump(def, rules, n);
			abort();
		}
	}
	free(emitted);
	free(lib);
	return 0;
}
