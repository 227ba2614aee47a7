/* Seccomp filters: compiled with libseccomp from a rule table into a classic BPF program (the bytes
 * the child loads), and a small BPF evaluator so that the filter itself can be tested for calls the
 * kernel cannot make here (i386, x32). purple's own emitter is seccomp_emit.c. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/seccomp.h>

#include "seccomp_filter.h"

static int export_bpf(scmp_filter_ctx ctx, void **bpf, size_t *size, char *what, size_t wn)
{
	int fd = memfd_create("purple-seccomp", MFD_CLOEXEC);
	off_t len;
	char *buf;
	int r;

	if (fd < 0) {
		snprintf(what, wn, "seccomp export memfd");
		return -errno;
	}
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0) {
		close(fd);
		snprintf(what, wn, "seccomp export");
		return r;
	}
	len = lseek(fd, 0, SEEK_END);
	buf = len > 0 ? malloc((size_t)len) : NULL;
	if (!buf || pread(fd, buf, (size_t)len, 0) != len) {
		r = buf ? errno : ENOMEM;
		free(buf);
		close(fd);
		snprintf(what, wn, "seccomp export read");
		return -(r ? r : EIO);
	}
	close(fd);
	*bpf = buf;
	*size = (size_t)len;
	return 0;
}

int pl_seccomp_compile(uint32_t def, const struct pl_seccomp_rule *rules, size_t n, void **bpf, size_t *len,
		       char *what, size_t wn)
{
	scmp_filter_ctx ctx = seccomp_init(def);
	int r;

	if (!ctx) {
		snprintf(what, wn, "seccomp init");
		return -EINVAL;
	}
	/* Filters go through core.spawn, which sets no_new_privs itself. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0 ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0 ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0) {
		seccomp_release(ctx);
		snprintf(what, wn, "seccomp attributes");
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		/* libseccomp refuses a rule with the default action; dropping it is right only because a
		 * syscall's rules never overlap (see allow_when in lua/purple/syscalls.lua). */
		r = rules[i].action == def ? 0 :
					     seccomp_rule_add_exact_array(ctx, rules[i].action, rules[i].nr,
									  rules[i].nargs, rules[i].args);
		if (r < 0) {
			seccomp_release(ctx);
			snprintf(what, wn, "seccomp rule for syscall %d", rules[i].nr);
			return r;
		}
	}
	r = export_bpf(ctx, bpf, len, what, wn);
	seccomp_release(ctx);
	return r;
}

/* The classic BPF subset seccomp programs use, run over a struct seccomp_data. */
int pl_bpf_run(const struct sock_filter *f, size_t n, const struct seccomp_data *d, uint32_t *out)
{
	uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = { 0 };
	const unsigned char *data = (const unsigned char *)d;

	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *i = &f[pc];
		uint32_t v = BPF_SRC(i->code) == BPF_X ? X : i->k;

		switch (BPF_CLASS(i->code)) {
		case BPF_LD:
			if (BPF_MODE(i->code) == BPF_ABS && BPF_SIZE(i->code) == BPF_W) {
				if (i->k > sizeof *d - 4 || i->k % 4)
					return -EINVAL;
				memcpy(&A, data + i->k, 4);
			} else if (BPF_MODE(i->code) == BPF_IMM) {
				A = i->k;
			} else if (BPF_MODE(i->code) == BPF_MEM && i->k < BPF_MEMWORDS) {
				A = M[i->k];
			} else if (BPF_MODE(i->code) == BPF_LEN) {
				A = sizeof *d;
			} else {
				return -EINVAL;
			}
			break;
		case BPF_LDX:
			if (BPF_MODE(i->code) == BPF_IMM)
				X = i->k;
			else if (BPF_MODE(i->code) == BPF_MEM && i->k < BPF_MEMWORDS)
				X = M[i->k];
			else if (BPF_MODE(i->code) == BPF_LEN)
				X = sizeof *d;
			else
				return -EINVAL;
			break;
		case BPF_ST:
		case BPF_STX:
			if (i->k >= BPF_MEMWORDS)
				return -EINVAL;
			M[i->k] = BPF_CLASS(i->code) == BPF_ST ? A : X;
			break;
		case BPF_ALU:
			switch (BPF_OP(i->code)) {
			case BPF_ADD: A += v; break;
			case BPF_SUB: A -= v; break;
			case BPF_MUL: A *= v; break;
			case BPF_DIV: if (!v) return -EINVAL; A /= v; break;
			case BPF_MOD: if (!v) return -EINVAL; A %= v; break;
			case BPF_AND: A &= v; break;
			case BPF_OR: A |= v; break;
			case BPF_XOR: A ^= v; break;
			case BPF_LSH: A = v < 32 ? A << v : 0; break;
			case BPF_RSH: A = v < 32 ? A >> v : 0; break;
			case BPF_NEG: A = -A; break;
			default: return -EINVAL;
			}
			break;
		case BPF_JMP: {
			int t;

			if (BPF_OP(i->code) == BPF_JA) {
				pc += i->k;
				continue;
			}
			switch (BPF_OP(i->code)) {
			case BPF_JEQ: t = A == v; break;
			case BPF_JGT: t = A > v; break;
			case BPF_JGE: t = A >= v; break;
			case BPF_JSET: t = (A & v) != 0; break;
			default: return -EINVAL;
			}
			pc += t ? i->jt : i->jf;
			break;
		}
		case BPF_RET:
			*out = BPF_RVAL(i->code) == BPF_A ? A : i->k;
			return 0;
		case BPF_MISC:
			if (BPF_MISCOP(i->code) == BPF_TAX)
				X = A;
			else
				A = X;
			break;
		default:
			return -EINVAL;
		}
	}
	return -EINVAL; /* fell off the end: the kernel rejects such programs */
}

