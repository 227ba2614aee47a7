/* Entering a running container's namespaces (purple-oci exec): the pid namespace around clone by
 * the caller, the others by the new process itself. */
#ifndef PURPLE_NS_ENTER_H
#define PURPLE_NS_ENTER_H

#include <sys/types.h>

/* Makes the caller's next children start in target's pid namespace. *saved: an fd of the caller's
 * own (to give to ns_leave_pid), or -1 when they are the same or cannot be returned to. An
 * unprivileged caller (no CAP_SYS_ADMIN in its own user namespace) first joins target's user
 * namespace, which it owns, and stays in it (*user set): its later children are in the container's
 * pid namespace too, which purple-oci exec accepts: it forks nothing after the command (its violation
 * monitor is forked before). 0 or -errno with what. */
int ns_enter_pid(pid_t target, int *saved, int *user, char *what, size_t n);
/* Back to the caller's own pid namespace for its children; closes saved. A caller that may not go
 * back (EPERM: root of a user namespace that does not own the pid namespace it came from, as a
 * rootless engine's runtime is) stays, as above. 0 or -errno with what. */
int ns_leave_pid(int saved, char *what, size_t n);
/* Joins target's user (first: it grants the rights for the rest), mount, network, IPC, UTS and
 * cgroup namespaces, each one that differs from the caller's; the mount namespace's root becomes
 * the caller's root and working directory. *user: set when a user namespace was joined. 0 or -errno with what. */
int ns_enter_rest(pid_t target, int *user, char *what, size_t n);

#endif
