/* Kernel feature probes (probe.c): each asks the running kernel directly. */
#ifndef PURPLE_PROBE_H
#define PURPLE_PROBE_H

/* How a probe of unshare(2) ended. */
enum probe_unshare_result {
	PROBE_OK,
	PROBE_FAILED,       /* unshare failed: *err is its errno */
	PROBE_SIGSYS,       /* killed by SIGSYS: a seccomp filter forbids it */
	PROBE_KILLED,       /* killed by signal *err */
	PROBE_NO_UID,       /* the child could not switch to uid */
	PROBE_FORK,         /* fork failed: *err */
	PROBE_WAIT,         /* waitpid failed: *err */
};

/* A forked child calls unshare(flags), after switching to uid when uid >= 0 (to see what an
 * unprivileged user may do), and reports the result in its exit status. */
enum probe_unshare_result probe_unshare(int flags, long long uid, int *err);

struct probe_seccomp {
	int mode;        /* PR_GET_SECCOMP of this process */
	int filter;      /* SECCOMP_RET_KILL_PROCESS is available */
	int user_notif;  /* SECCOMP_RET_USER_NOTIF is available */
};
void probe_seccomp(struct probe_seccomp *p);

/* The kernel's Landlock ABI version, or -errno saying why there is none. */
int probe_landlock(void);

#endif
