/* Seccomp programs from a rule table: libseccomp's compile (seccomp.c), purple's emitter
 * (seccomp_emit.h), and an evaluator of the result. */
#ifndef PURPLE_SECCOMP_FILTER_H
#define PURPLE_SECCOMP_FILTER_H

#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "seccomp_emit.h"

/* libseccomp's program for rules (native architecture; any other, and x32, kills the process) in
 * a new buffer *bpf of *len bytes (free it). 0 or -errno with the failing step in what. Rules are
 * added in order; libseccomp orders the generated checks itself. */
int pl_seccomp_compile(uint32_t def, const struct pl_seccomp_rule *rules, size_t n, void **bpf, size_t *len,
		       char *what, size_t wn);

/* Runs the classic BPF program f of n instructions over d: 0 with the return value in *out, or
 * -EINVAL for an instruction seccomp programs do not use or for falling off the end. */
int pl_bpf_run(const struct sock_filter *f, size_t n, const struct seccomp_data *d, uint32_t *out);

#endif
