/* Loading an eBPF program and attaching it to a cgroup (bpf_prog.c): the two bpf(2) calls the
 * cgroup programs (net_filter.c, cgroup_device_bpf.c) share. */
#ifndef PURPLE_BPF_PROG_H
#define PURPLE_BPF_PROG_H

#include <stddef.h>
#include <linux/bpf.h>

/* The program's fd, or -errno. A program the verifier refuses (EINVAL, EACCES) is loaded again
 * with its log into log (loglen bytes, NUL-terminated), only to say why. */
int bpf_prog_load(enum bpf_prog_type type, enum bpf_attach_type expected, const struct bpf_insn *insns, size_t n,
		  char *log, size_t loglen);
/* Attaches prog to the cgroup directory fd cgfd with BPF_F_ALLOW_MULTI (the programs of the groups
 * above still apply); the attachment holds the program. 0 or -errno. */
int bpf_prog_attach_cgroup(int cgfd, int prog, enum bpf_attach_type type);

#endif
