/* cgroup v2 device rules as an eBPF program (cgroup_device_bpf.c). */
#ifndef PURPLE_CGROUP_DEVICE_BPF_H
#define PURPLE_CGROUP_DEVICE_BPF_H

#include <stddef.h>

/* access bits, as the kernel's BPF_DEVCG_ACC_* */
#define CGROUP_DEVICE_MKNOD 1u
#define CGROUP_DEVICE_READ  2u
#define CGROUP_DEVICE_WRITE 4u

/* The most rules one program takes (at most 8 instructions each, far below the verifier's limit). */
#define CGROUP_DEVICE_RULES_MAX 4096

struct cgroup_device_rule {
	int allow;           /* 1 allow, 0 deny */
	char type;           /* 'a' (any), 'b' or 'c' */
	long long major;     /* 0..UINT32_MAX, or -1 for any */
	long long minor;     /* likewise */
	unsigned access;     /* CGROUP_DEVICE_* bits, not 0 */
};

/* Loads the program for rules[0..n) and attaches it to the cgroup v2 directory dir
 * (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI: the programs of the groups above still apply). A rule
 * matches a request when its type, major and minor match and, for an allow rule, its access holds
 * every requested bit, for a deny rule any of them; the last matching rule decides, and a request
 * no rule matches is denied. 0 or -errno with what filled (the verifier's last line on a refused
 * load); -EINVAL for a malformed rule. */
int cgroup_device_filter(const char *dir, const struct cgroup_device_rule *rules, size_t n, char *what, size_t wn);

#endif
