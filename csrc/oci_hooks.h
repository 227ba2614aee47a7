/* The OCI hooks that run inside the container (runtime-spec config.md, "POSIX-platform Hooks"):
 * createContainer (init, after the mounts, before pivot_root: the path resolves in purple-oci's
 * mount namespace) and startContainer (init, after `start`, before the process: the path resolves
 * in the container's root). spawn.c calls them at those points; lua/purple/oci/hooks.lua runs the
 * other phases in purple-oci's namespaces. */
#ifndef PURPLE_OCI_HOOKS_H
#define PURPLE_OCI_HOOKS_H

#include <stddef.h>

struct spawn_cfg;

struct oci_hook {
	const char *path;
	const char *const *argv;  /* args, args[0] the hook's argv[0]; NULL-terminated */
	const char *const *envp;  /* env only; NULL-terminated */
	int timeout;              /* seconds; 0 = none */
};

struct oci_hook_list {
	const struct oci_hook *v;
	size_t n;
};

/* Runs each hook of list in order, as a child of the caller with state (the container's state JSON)
 * on stdin; as_root: the caller is in a user namespace with another uid, and the hook runs as its
 * root (the container's mapped root), as runc's init is until it takes the process's ids; enforce
 * (or NULL): the hook takes the process's Landlock domain and seccomp filter before its execve
 * (payload.h's spawn_enforce), as the process will. 0, or -1 with what filled with the whole message
 * "hooks.PHASE[i]: PATH: why" (the first hook that failed, timed out or could not start; nothing
 * after it ran). */
int oci_hooks_run(const char *phase, const struct oci_hook_list *list, const char *state, size_t len, int as_root,
		  const struct spawn_cfg *enforce, char *what, size_t n);

#endif
