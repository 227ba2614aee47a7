/* bpf(2) for the cgroup programs: load (with the verifier's log on refusal) and attach. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "bpf_prog.h"

static int bpf(int cmd, union bpf_attr *a)
{
	long r;

	do
		r = syscall(SYS_bpf, cmd, a, sizeof *a);
	while (r < 0 && (errno == EINTR || errno == EAGAIN));
	return r < 0 ? -errno : (int)r;
}

int bpf_prog_load(enum bpf_prog_type type, enum bpf_attach_type expected, const struct bpf_insn *insns, size_t n,
		  char *log, size_t loglen)
{
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof a);
	a.prog_type = type;
	a.expected_attach_type = expected;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = (uint32_t)n;
	a.license = (uint64_t)(uintptr_t)"GPL";
	if (loglen)
		log[0] = 0;
	fd = bpf(BPF_PROG_LOAD, &a);
	if ((fd == -EINVAL || fd == -EACCES) && loglen > 1) {
		/* again with the log: only after a refusal, as a log too small fails a good program (ENOSPC) */
		int again;

		a.log_buf = (uint64_t)(uintptr_t)log;
		a.log_size = (uint32_t)loglen;
		a.log_level = 1;
		again = bpf(BPF_PROG_LOAD, &a);
		if (again >= 0)
			close(again);
		log[loglen - 1] = 0;
	}
	return fd;
}

int bpf_prog_attach_cgroup(int cgfd, int prog, enum bpf_attach_type type)
{
	union bpf_attr a;

	memset(&a, 0, sizeof a);
	a.target_fd = (uint32_t)cgfd;
	a.attach_bpf_fd = (uint32_t)prog;
	a.attach_type = type;
	a.attach_flags = BPF_F_ALLOW_MULTI;
	return bpf(BPF_PROG_ATTACH, &a);
}
