/* A seccomp rule table as core.seccomp_compile and core.seccomp_emit read it. */
#ifndef PURPLE_SECCOMP_EMIT_H
#define PURPLE_SECCOMP_EMIT_H
#include <stddef.h>
#include <stdint.h>
#include <linux/filter.h>
#include <seccomp.h>

struct pl_seccomp_rule {
	int nr;
	uint32_t action; /* a SECCOMP_RET_* value (libseccomp's SCMP_ACT_* are the same numbers) */
	unsigned nargs;
	struct scmp_arg_cmp args[6]; /* all must hold */
};

/* Emits the filter for rules (native architecture only) into a new array *prog of *len
 * instructions (free it). Returns 0 or -errno. */
int pl_seccomp_emit(uint32_t def, const struct pl_seccomp_rule *rules, size_t n, struct sock_filter **prog,
		    size_t *len);
#endif
