/* The spawn configuration (filled by the caller, e.g. csrc/lua/spawn.c from a Lua spec table; used by
 * the child after clone), the sandbox handle and its events. */
#ifndef PURPLE_SPAWN_H
#define PURPLE_SPAWN_H

#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "purple.h"
#include "caps.h"
#include "notify.h"
#include "oci_hooks.h"

/* MT_FS: a new instance of fstype (sysfs, devpts, mqueue, cgroup2, tmpfs ...) with data options;
 * MT_MASK: hide an existing path (a directory under an empty read-only tmpfs, anything else under
 * /dev/null); MT_ROPATH: an existing path bound read-only onto itself; MT_NODE: a device node (mknod,
 * or the host's node of the same path bound when mknod is not permitted). The last three are the
 * OCI config's maskedPaths, readonlyPaths and linux.devices (the end of mounts.c). */
enum mount_type { MT_BIND, MT_TMPFS, MT_PROC, MT_DEV, MT_SYMLINK, MT_DIR, MT_FILE, MT_SYSNET, MT_FS, MT_MASK,
		  MT_ROPATH, MT_NODE };

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
	int norecursive;      /* bind: the source mount alone, not the mounts below it */
	unsigned attrs;       /* bind, fs: more MOUNT_ATTR_* flags (nosuid, nodev, noexec, rdonly) */
	const char *fstype;   /* fs: the filesystem type */
	const char *const *data; /* fs: "key=value" / "flag" options for fsconfig, NULL-terminated */
	int copyup;           /* fs: copy what the target directory held into the new tmpfs (tmpcopyup) */
	int dev_type;         /* node: S_IFCHR, S_IFBLK or S_IFIFO */
	unsigned major, minor;
	long long uid, gid;   /* node: owner inside the sandbox, -1 = unchanged */
};

#define MAX_JOINS 5
#define MAX_GROUPS 64

/* A namespace joined by path (setns) instead of created: the supervisor joins it around clone (a pid
 * namespace: the one its children are born in). */
struct ns_join {
	int type;             /* CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWPID or CLONE_NEWCGROUP */
	const char *path;
	const char *field;    /* the config field it comes from, for messages ("linux.namespaces[2].path"); may be NULL */
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
	const char *ns_names;     /* the namespaces as text, for messages ("user,mount,pid"); may be NULL */
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
	int session_fd;           /* > 0: the payload is the session agent on this socket (session_agent.c) */
	unsigned short egress_ports[2]; /* > 0: init listens on 127.0.0.1 at these ports (HTTP, SOCKS) in the
	                                 * new network namespace and hands both sockets to the supervisor,
	                                 * whose egress proxy serves them (egress_proxy.c) */
	/* Containers (the OCI runtime, lua/purple/oci/config.lua): */
	const char *root;         /* host directory that becomes / (the bundle's rootfs); NULL = a new tmpfs */
	int root_fd;              /* its detached tree, opened with the bind sources */
	int root_rw;              /* leave / writable (root.readonly false) */
	struct ns_join joins[MAX_JOINS]; size_t njoins;
	int pid_joined;           /* one of the joins is a pid namespace: init is not its pid 1 (spawn.c) */
	const char *const *sysctls; size_t nsysctls; /* "key=value", written in the sandbox's namespaces */
	int set_ids;              /* set uid/gid/groups even without a user namespace */
	gid_t groups[MAX_GROUPS]; size_t ngroups; int set_groups; /* supplementary groups */
	int umask, set_umask;     /* the command's umask when set_umask */
	int oom_score_adj; int set_oom;
	int cap_sets;             /* the five sets below replace caps/drop_caps; no securebits */
	uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
	int start_fd;             /* > 0: once set up, init reports ready and waits for one byte on it (OCI start) */
	int pty;                  /* init opens a pty in the new /dev/pts, makes its slave stdin, stdout, stderr and
	                           * controlling terminal, and hands the master over (SB_PTY; OCI process.terminal) */
	unsigned short pty_rows, pty_cols; /* its size, when both are > 0 */
	pid_t join_pid;           /* > 0: enter this process's namespaces instead of creating any (OCI exec) */
	int new_keyring;          /* a new anonymous session keyring, not the caller's (OCI, as runc) */
	int hooks_sync;           /* OCI hooks: with the mounts made, before pivot_root, init reports CTL_HOOKS and
	                           * waits for the container's state JSON (sandbox_resume), which its hooks get */
	struct oci_hook_list create_hooks, start_hooks; /* createContainer, startContainer (oci_hooks.c) */
	int start_result_fd;      /* > 0 (with start_fd): init writes `start`'s result here once the process is
	                           * about to run ("0"), or the line saying why it will not (a FIFO) */
};

/* Container steps (container.c; the mount kinds in mounts.c), each 0 or -errno with what filled. */
int container_sysctls(const struct spawn_cfg *c, char *what, size_t n);
int container_oom_score(const struct spawn_cfg *c, char *what, size_t n);
/* supervisor, before clone; *whole: what is a complete message (a path that is the wrong type of namespace, or
 * the supervisor's own pid or cgroup namespace, which a container must not share) */
int container_join(const struct spawn_cfg *c, int saved[MAX_JOINS], char *what, size_t n, int *whole);
int container_unjoin(const struct spawn_cfg *c, int saved[MAX_JOINS], char *what, size_t n); /* after clone */
int mount_mask(int rootfd, const struct mount_op *m, char *what, size_t n);
int mount_ropath(int rootfd, const struct mount_op *m, char *what, size_t n);
int mount_node(int rootfd, const struct mount_op *m, char *what, size_t n);
int mount_fs(int rootfd, const struct mount_op *m, char *what, size_t n);
int caps_apply_sets(const struct spawn_cfg *c, char *what, size_t n);

/* Bind sources: opened by the parent before clone when it may clone mounts in its own namespace
 * (root: any path it can reach, idmaps allowed), else by the child before it changes ids (the
 * invoker's credentials). 0 or -errno with *what filled; *whole is set when *what is a complete
 * message (no strerror to append). */
int mounts_privileged(void);
int mounts_open_binds(struct spawn_cfg *c, char *what, size_t n, int *whole);
void mounts_close_binds(struct spawn_cfg *c);

/* Child-side steps. Each returns 0 or -errno and fills *what with the failing step. */
int mounts_open_sources(struct spawn_cfg *c, char *what, size_t n);
/* The new root with every mount, staged on /tmp: *staged is its fd (-1: no new root), which
 * mounts_enter_root then pivots into (and closes); between the two the OCI createContainer hooks run. */
int mounts_build_root(struct spawn_cfg *c, int *staged, char *what, size_t n);
int mounts_enter_root(const struct spawn_cfg *c, int rootfd, char *what, size_t n);

/* Mount steps of mounts.c, also exposed one by one to Lua (csrc/lua/ns_primitives.c). Targets are resolved
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
int caps_drop(const struct spawn_cfg *c, char *what, size_t n);
int new_fs(const char *fstype, const char *const *opts, unsigned attrs); /* detached mount fd or -1 */
int open_in_root(int rootfd, const char *path); /* O_PATH fd of path under rootfd, no symlinks; -1 */
int net_loopback_up(char *what, size_t n);
int net_egress_listen(const unsigned short ports[2], int fds[2], char *what, size_t n);
int landlock_apply(const struct spawn_cfg *c, char *what, size_t n);
int landlock_check(const char *text, size_t len, char *what, size_t n); /* needed ABI or -EINVAL */
int landlock_abi(void); /* 0 when Landlock is unavailable */

/* A started sandbox (spawn.c). */
struct sandbox {
	pid_t pid;        /* init, in the supervisor's pid namespace */
	int pidfd;
	int ctl;          /* control socket to init */
	int sigfd;        /* signalfd of forwarded signals, -1 when not forwarding */
	int listener;     /* seccomp listener handed over by init, -1 until then */
	int watch_fd;     /* sandbox_watch: a caller's fd reported readable as SB_WATCH, -1 = none */
	int egress_fd[2]; /* the egress listeners init made (spawn_cfg.egress_ports), -1 until then */
	sigset_t oldmask;
	int reaped;
	int started;
	int status;       /* wait status of init once reaped */
};

enum sandbox_event_kind { SB_SETUP_ERROR, SB_EXEC_ERROR, SB_STARTED, SB_EXIT, SB_SIGNAL, SB_STOP, SB_NOTIFY, SB_WATCH,
	SB_READY, SB_PTY, SB_HOOKS };

struct sandbox_event {
	enum sandbox_event_kind kind;
	char what[240];           /* setup_error, exec_error: the step; a poll failure: what failed */
	int err;                  /* setup_error, exec_error: errno (setup_error 0: what is the whole message) */
	int status;               /* exit: wait status */
	int init;                 /* exit: init went away without reporting the command's exit */
	int signal;               /* signal: forwarded to the command */
	pid_t sender_pid;         /* stop: who sent purple stop's signal */
	uid_t sender_uid;
	struct notify_event notify; /* notify: answer it with notify_respond(s->listener, ...) */
	int fd;                   /* pty: the master, now the caller's to close */
};

/* Clones init with cfg, joins its cgroups, writes its id maps and releases it; forward_signals:
 * the supervisor's SIGINT, SIGTERM, ... reach the command (their signalfd is polled). 0, or -errno
 * with the failing step in what (*whole: what is a complete message, no strerror to add); s is then
 * released. */
int sandbox_start(struct sandbox *s, struct spawn_cfg *cfg, int forward_signals, char *what, size_t n, int *whole);
/* Waits up to timeout ms (-1: no limit) for the next event: 1 with *ev, 0 on timeout, -errno with
 * ev->what. Once init is reaped, a further poll reports init's own exit. */
int sandbox_poll(struct sandbox *s, int timeout, struct sandbox_event *ev);
/* Also report fd readable (SB_WATCH, not read) from sandbox_poll; -1 stops. The caller drains it. */
void sandbox_watch(struct sandbox *s, int fd);
/* hooks_sync: answers SB_HOOKS with the container's state JSON, which releases init. 0 or -errno. */
int sandbox_resume(struct sandbox *s, const char *state, size_t len);
/* Sends sig to init (which forwards it to the command); -ESRCH once init is reaped. */
int sandbox_kill(struct sandbox *s, int sig);
/* Kills and reaps init if needed, closes every fd; the signal mask is restored. */
void sandbox_release(struct sandbox *s);
/* Closes every fd and restores the signal mask but leaves init running: the caller exits and init is
 * adopted by the nearest subreaper (purple-oci create: conmon or containerd's shim waits for it). */
void sandbox_detach(struct sandbox *s);

#endif
