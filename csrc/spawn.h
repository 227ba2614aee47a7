/* The spawn configuration: parsed from one Lua spec table by the parent, used by the child after clone. */
#ifndef PURPLE_SPAWN_H
#define PURPLE_SPAWN_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "purple.h"

enum mount_type { MT_BIND, MT_TMPFS, MT_PROC, MT_DEV, MT_SYMLINK, MT_DIR, MT_FILE, MT_SYSNET };

struct mount_op {
	enum mount_type type;
	const char *source;   /* bind: host path */
	const char *target;   /* absolute path inside the sandbox */
	const char *link;     /* symlink: link text; file: contents */
	int readonly, optional;
	int idmap;            /* bind: the source's owner appears as the sandbox's user (privileged only) */
	const char *field;    /* the policy field the mount comes from, for messages; may be NULL */
	long long size;       /* tmpfs: bytes, 0 = kernel default */
	int mode;             /* tmpfs, dir, file: permission bits, -1 = default */
	int src_fd;           /* bind: detached tree opened before the new root hides the host */
};

struct rlimit_op {
	int resource;
	struct rlimit lim;
};

#define MAX_CAPS 64
#define MAX_RLIMITS 16

struct spawn_cfg {
	const char *const *argv;
	const char *const *envp;
	const char *path;         /* PATH searched for argv[0] inside the sandbox */
	const char *cwd;
	int ns_flags;
	int cgroupns;             /* unshare a cgroup namespace after joining the cgroups */
	uid_t uid; gid_t gid;     /* ids inside the sandbox */
	const char *uid_map, *gid_map;
	int deny_setgroups;       /* unprivileged: setgroups must be denied before gid_map */
	int clear_groups;         /* privileged: drop supplementary groups in the child */
	const char *hostname;
	struct mount_op *mounts; size_t nmounts;
	struct rlimit_op rlimits[MAX_RLIMITS]; size_t nrlimits;
	int caps[MAX_CAPS]; size_t ncaps; /* capabilities kept (ambient for a non-root uid) */
	int drop_caps;
	int no_new_privs;
	int new_session;
	int die_with_parent;
	int loopback;
	const char *const *cgroup_procs; size_t ncgroup_procs;
	struct sock_fprog seccomp;
	int seccomp_listener;
	const char *landlock;     /* serialized ruleset, see landlock.c; NULL = none */
	size_t landlock_len;
	int binds_open;           /* the bind sources were opened by the (privileged) parent */
	int open_err;             /* ... which failed so: the child reports it as its setup step */
	char open_what[256];
	int session_fd;           /* >= 0: the payload is the session agent on this socket (session_agent.c) */
};

/* Bind sources: opened by the parent before clone when it may clone mounts in its own namespace
 * (root: any path it can reach, idmaps allowed), else by the child before it changes ids (the
 * invoker's credentials). 0 or -errno with *what filled; *whole is set when *what is a complete
 * message (no strerror to append). */
int mounts_privileged(void);
int mounts_open_binds(struct spawn_cfg *c, char *what, size_t n, int *whole);
void mounts_close_binds(struct spawn_cfg *c);

/* Child-side steps. Each returns 0 or -errno and fills *what with the failing step. */
int mounts_open_sources(struct spawn_cfg *c, char *what, size_t n);
int mounts_build_root(struct spawn_cfg *c, char *what, size_t n);

/* Mount steps of mounts.c, also exposed one by one to Lua (ns_primitives.c). Targets are resolved
 * under the directory rootfd without following symlinks; -errno / -1 with errno on failure. */
int clone_tree(const char *path, unsigned attrs);  /* detached copy of a host tree; fd or -1 */
int open_target(int rootfd, const char *path, int is_file, char *what, size_t n);
int attach(int mfd, int tfd);                       /* move_mount a detached mount onto tfd */
int mount_tmpfs(int rootfd, const char *target, long long size, int mode, unsigned attrs, char *what,
		size_t n);
int mount_proc(int rootfd, const char *target, char *what, size_t n);
int mount_dev(int rootfd, const char *target, char *what, size_t n);
int mount_sysnet(int rootfd, const char *target, char *what, size_t n);
int mounts_pivot(int rootfd, char *what, size_t n);
int rlimit_by_name(const char *name);               /* RLIMIT_* or -1 (spawn.c) */
int caps_drop(const struct spawn_cfg *c, char *what, size_t n);
int net_loopback_up(char *what, size_t n);
int landlock_apply(const struct spawn_cfg *c, char *what, size_t n);
int landlock_check(const char *text, size_t len, char *what, size_t n); /* needed ABI or -EINVAL */
int landlock_abi(void); /* 0 when Landlock is unavailable */

/* Supervisor side of seccomp user notifications (notify.c). */
int notify_recv(lua_State *L, int fd);
int notify_respond(int fd, uint64_t id, int cont, int err, long long val);
int notify_valid(int fd, uint64_t id);

/* net_perform.c: calls performed for the sandbox by worker threads; cancel ends those of owner. */
int sandbox_listener(lua_State *L, int idx, void **owner);
void net_perform_cancel(const void *owner);

/* Writes data to /proc/PID/FILE (/proc/self/FILE when pid <= 0). 0 or -errno. */
int write_proc(pid_t pid, const char *file, const char *data);

/* Parent-side parsing helpers. */
void mounts_parse(lua_State *L, int t, struct spawn_cfg *c);
void caps_parse(lua_State *L, int t, struct spawn_cfg *c);
int cap_by_name(const char *name);

#endif
