/* Kernel feature probes for `purple doctor` and the audit log's session_start: each asks the
 * running kernel directly (a real unshare, seccomp and Landlock query) instead of reading its config. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <sched.h>
#include <unistd.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "probe.h"

enum probe_unshare_result probe_unshare(int flags, long long uid, int *err)
{
	int status;
	pid_t pid = fork();

	*err = 0;
	if (pid < 0) {
		*err = errno;
		return PROBE_FORK;
	}
	if (pid == 0) {
		if (uid >= 0 && (setgroups(0, NULL) < 0 || setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) < 0 ||
				 setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0))
			_exit(200);
		_exit(unshare(flags) < 0 ? (errno & 0xff) : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			*err = errno;
			return PROBE_WAIT;
		}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		return PROBE_SIGSYS;
	if (!WIFEXITED(status)) {
		*err = WTERMSIG(status);
		return PROBE_KILLED;
	}
	if (WEXITSTATUS(status) == 200)
		return PROBE_NO_UID;
	*err = WEXITSTATUS(status);
	return *err ? PROBE_FAILED : PROBE_OK;
}

void probe_seccomp(struct probe_seccomp *p)
{
	uint32_t kill = SECCOMP_RET_KILL_PROCESS, notif = SECCOMP_RET_USER_NOTIF;

	p->mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
	p->filter = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &kill) == 0;
	p->user_notif = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &notif) == 0;
}

int probe_landlock(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? -errno : (int)abi;
}
