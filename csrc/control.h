/* Messages from the sandbox's init to the supervisor, over a SOCK_SEQPACKET pair. */
#ifndef PURPLE_CONTROL_H
#define PURPLE_CONTROL_H

#include <signal.h>

enum ctl_kind {
	CTL_SETUP_ERROR = 1, /* err = errno, what = step (err 0: what is the whole message): nothing of the command ran */
	CTL_EXEC_ERROR,      /* err = errno of execve, what = "exec NAME" */
	CTL_STARTED,         /* the command is running; a seccomp listener may ride along */
	CTL_EXITED,          /* err = the command's wait status */
	CTL_EGRESS,          /* the egress proxy's two listening sockets ride along (before STARTED) */
	CTL_READY,           /* set up; waiting on start_fd before the command starts (OCI create) */
	CTL_PTY,             /* the master of the container's pty rides along */
	CTL_HOOKS,           /* mounts made, before pivot_root: init waits for the state JSON its hooks get */
};

struct ctl_msg {
	int kind;
	int err;
	char what[240];
};

/* Asks init to send SIGTERM to every process of the namespace. */
#define PL_SIG_TERMINATE_ALL (SIGRTMIN + 2)

/* Sent to the supervisor by `purple stop`: end the session as a timeout does. Watched through the
 * supervisor's signalfd (sandbox:poll() reports a "stop" event), never forwarded to the command. */
#define PL_SIG_STOP (SIGRTMIN + 3)

#endif
