/* The sandbox's mount tree, built in the child with the new mount API (open_tree, fsmount,
 * mount_setattr, move_mount): every mount is attached through an fd opened component by component
 * with O_NOFOLLOW, so a symlink planted inside the tree can never redirect a mount to the host.
 *
 * Order: clone the host sources with the invoker's credentials (a root parent before clone, idmapped
 * where asked; else the child before it changes ids) → make every mount private → an empty tmpfs
 * root staged on /tmp → binds, tmpfs, proc, dev, symlinks, dirs, files → pivot_root → detach the
 * old root → remount the root read-only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>

#include "spawn.h"
#include "process.h"

#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

static int sys_open_tree(int dfd, const char *path, unsigned flags)
{
	return (int)syscall(SYS_open_tree, dfd, path, flags);
}

static int sys_move_mount(int from, const char *fpath, int to, const char *tpath, unsigned flags)
{
	return (int)syscall(SYS_move_mount, from, fpath, to, tpath, flags);
}

static int sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *a)
{
	return (int)syscall(SYS_mount_setattr, dfd, path, flags, a, sizeof *a);
}

static int sys_fsopen(const char *fs)
{
	return (int)syscall(SYS_fsopen, fs, FSOPEN_CLOEXEC);
}

static int sys_fsconfig(int fd, unsigned cmd, const char *key, const char *val)
{
	return (int)syscall(SYS_fsconfig, fd, cmd, key, val, 0);
}

static int sys_fsmount(int fd, unsigned attrs)
{
	return (int)syscall(SYS_fsmount, fd, FSMOUNT_CLOEXEC, attrs);
}

#define FAIL(fmt, ...) do { int e_ = errno; snprintf(what, n, fmt, __VA_ARGS__); return -e_; } while (0)

/* A detached copy of the host tree at path (its top mount alone when norec), with the given
 * attributes set on every mount in it. */
static int clone_tree_rec(const char *path, unsigned attrs, int norec)
{
	struct mount_attr a = { .attr_set = attrs, .propagation = MS_PRIVATE };
	int fd = sys_open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (norec ? 0 : AT_RECURSIVE));

	if (fd < 0)
		return -1;
	if (sys_mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int clone_tree(const char *path, unsigned attrs)
{
	return clone_tree_rec(path, attrs, 0);
}

/* clone_tree for a read-write bind: the path is opened with openat2(RESOLVE_NO_SYMLINKS), so a link
 * that the command of an earlier run planted in its output can never turn the bind to another host
 * directory, even when planted after purple checked the path (ELOOP). */
static int clone_tree_nofollow(const char *path, unsigned attrs, int norec)
{
	struct mount_attr a = { .attr_set = attrs, .propagation = MS_PRIVATE };
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, /* a directory or a file (an OCI bind of /etc/hosts) */
				.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	int dfd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how), fd, e;

	if (dfd < 0)
		return -1;
	fd = sys_open_tree(dfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (norec ? 0 : AT_RECURSIVE) | AT_EMPTY_PATH);
	e = errno;
	close(dfd);
	if (fd >= 0 && sys_mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a) < 0) {
		e = errno;
		close(fd);
		fd = -1;
	}
	errno = e;
	return fd;
}

/* 1 when this process may clone mounts of its own mount namespace (root on the host): it then
 * opens the bind sources itself, with its own credentials, before the sandbox exists. */
int mounts_privileged(void)
{
	int fd = sys_open_tree(AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* The id that id maps to outside through map ("inside outside count" lines), or -1. */
static long long map_out(const char *map, unsigned long id)
{
	while (map && *map) {
		char *end;
		unsigned long in = strtoul(map, &end, 10), out = strtoul(end, &end, 10), cnt = strtoul(end, &end, 10);

		if (end == map)
			break;
		if (id >= in && id - in < cnt)
			return (long long)(out + (id - in));
		map = end + strspn(end, " \t\n");
	}
	return -1;
}

/* A user namespace whose only ids are owner → to (uid and gid): made by a short-lived child that
 * the parent maps, opens through /proc and then kills. The fd, or -1 with errno. */
static int idmap_userns(uid_t owner, long long to, gid_t gowner, long long gto)
{
	struct clone_args ca = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
	char map[64], path[64];
	int fd = -1, r, e;
	pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);

	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		for (;;)
			pause();
	}
	snprintf(map, sizeof map, "%u %lld 1", (unsigned)owner, to);
	r = write_proc(pid, "uid_map", map);
	snprintf(map, sizeof map, "%u %lld 1", (unsigned)gowner, gto);
	if (!r)
		r = write_proc(pid, "setgroups", "deny");
	if (!r)
		r = write_proc(pid, "gid_map", map);
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
	if (!r && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		r = -errno;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	e = -r;
	errno = e;
	return r ? -1 : fd;
}

/* Idmaps the detached tree of m: its owner on the host appears as the sandbox's user. */
static int idmap_tree(const struct spawn_cfg *c, struct mount_op *m, char *what, size_t n, int *whole)
{
	struct stat st;
	long long to = map_out(c->uid_map, c->uid), gto = map_out(c->gid_map, c->gid);
	struct mount_attr a = { .attr_set = MOUNT_ATTR_IDMAP };
	const char *field = m->field ? m->field : "mount";
	int ufd, r, e;

	if (!(c->ns_flags & CLONE_NEWUSER))
		to = c->uid, gto = c->gid;
	if (to < 0 || gto < 0) {
		snprintf(what, n, "%s.idmap: %s: the sandbox's ids %u:%u are not in its id maps", field, m->source,
			 (unsigned)c->uid, (unsigned)c->gid);
		*whole = 1;
		return -EINVAL;
	}
	if (fstat(m->src_fd, &st) < 0)
		FAIL("bind %s", m->source);
	ufd = idmap_userns(st.st_uid, to, st.st_gid, gto);
	if (ufd < 0)
		FAIL("%s.idmap: user namespace for %s", field, m->source);
	a.userns_fd = (unsigned)ufd;
	r = sys_mount_setattr(m->src_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a);
	e = errno;
	close(ufd);
	if (r == 0)
		return 0;
	if (e == EINVAL || e == EOPNOTSUPP) {
		snprintf(what, n, "%s.idmap: %s: the file system cannot be idmapped (%s); remove idmap, or give "
			 "an output path on a file system that can (ext4, xfs, btrfs, tmpfs)", field, m->source,
			 strerror(e));
		*whole = 1;
		return -e;
	}
	errno = e;
	FAIL("%s.idmap: %s", field, m->source);
}

int mounts_open_binds(struct spawn_cfg *c, char *what, size_t n, int *whole)
{
	*whole = 0;
	/* A container's root: nodev (its devices come from linux.devices), setuid files as in the image. */
	if (c->root && (c->root_fd = clone_tree_rec(c->root, MOUNT_ATTR_NODEV, 0)) < 0)
		FAIL("root %s", c->root);
	for (size_t i = 0; i < c->nmounts; i++) {
		struct mount_op *m = &c->mounts[i];
		unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | m->attrs | (m->readonly ? MOUNT_ATTR_RDONLY : 0);
		int r;

		if (m->type != MT_BIND)
			continue;
		m->src_fd = m->readonly ? clone_tree_rec(m->source, attrs, m->norecursive)
					: clone_tree_nofollow(m->source, attrs, m->norecursive);
		if (m->src_fd < 0 && errno == ENOENT && m->optional)
			continue;
		if (m->src_fd < 0) {
			int e = errno;
			mounts_close_binds(c);
			errno = e;
			FAIL("bind %s", m->source);
		}
		if (m->idmap && (r = idmap_tree(c, m, what, n, whole)) < 0) {
			mounts_close_binds(c);
			return r;
		}
	}
	return 0;
}

void mounts_close_binds(struct spawn_cfg *c)
{
	if (c->root && c->root_fd >= 0) {
		close(c->root_fd);
		c->root_fd = -1;
	}
	for (size_t i = 0; i < c->nmounts; i++)
		if (c->mounts[i].src_fd >= 0) {
			close(c->mounts[i].src_fd);
			c->mounts[i].src_fd = -1;
		}
}

/* In the child: make its mounts private, and open the bind sources unless the parent did. */
int mounts_open_sources(struct spawn_cfg *c, char *what, size_t n)
{
	int whole;

	if (!c->nmounts && !c->root)
		return 0;
	if (c->open_err) {
		errno = c->open_err;
		FAIL("%s", c->open_what);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		FAIL("%s", "make mounts private");
	if (c->binds_open)
		return 0;
	for (size_t i = 0; i < c->nmounts; i++)
		if (c->mounts[i].idmap) {
			snprintf(what, n, "%s.idmap", c->mounts[i].field ? c->mounts[i].field : "mount");
			return -EPERM;
		}
	return mounts_open_binds(c, what, n, &whole);
}

/* Opens the directory that will hold path's last component, creating missing directories on the
 * way without following any symlink. Returns the fd and points *base at the last component. */
static int open_parent(int rootfd, const char *path, const char **base, char *what, size_t n)
{
	char comp[256];
	const char *p = path;
	int dfd = dup(rootfd);

	if (dfd < 0)
		FAIL("open %s", path);
	while (*p == '/')
		p++;
	for (;;) {
		size_t len = strcspn(p, "/");
		const char *next = p + len;
		int fd;

		while (*next == '/')
			next++;
		if (*next == 0) {
			*base = p;
			return dfd;
		}
		if (len == 0 || len >= sizeof comp) {
			close(dfd);
			errno = EINVAL;
			FAIL("path %s", path);
		}
		memcpy(comp, p, len);
		comp[len] = 0;
		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
			close(dfd);
			errno = EINVAL;
			FAIL("path %s", path);
		}
		if (mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			close(dfd);
			errno = e;
			FAIL("mkdir %s", path);
		}
		fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dfd);
		if (fd < 0)
			FAIL("open %s", path);
		dfd = fd;
		p = next;
	}
}

/* Creates (if missing) and opens the mount point for path: a directory, or a file when is_file. */
int open_target(int rootfd, const char *path, int is_file, char *what, size_t n)
{
	const char *base;
	char name[256];
	int dfd = open_parent(rootfd, path, &base, what, n), fd;
	size_t len;

	if (dfd < 0)
		return dfd;
	len = strcspn(base, "/");
	if (len == 0) { /* the root itself */
		return dfd;
	}
	if (len >= sizeof name) {
		close(dfd);
		errno = ENAMETOOLONG;
		FAIL("path %s", path);
	}
	memcpy(name, base, len);
	name[len] = 0;
	if (is_file) {
		fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0444);
		if (fd >= 0)
			close(fd);
		else if (errno != EEXIST) {
			int e = errno;
			close(dfd);
			errno = e;
			FAIL("create %s", path);
		}
		fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	} else {
		if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			close(dfd);
			errno = e;
			FAIL("mkdir %s", path);
		}
		fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	close(dfd);
	if (fd < 0)
		FAIL("open %s", path);
	return fd;
}

int attach(int mfd, int tfd)
{
	return sys_move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

/* A new filesystem instance as a detached mount. opts: "key=value" pairs, "flag" alone. */
int new_fs(const char *fstype, const char *const *opts, unsigned attrs)
{
	int fs = sys_fsopen(fstype), m;

	if (fs < 0)
		return -1;
	for (; opts && *opts; opts++) {
		char key[64];
		const char *eq = strchr(*opts, '=');
		size_t kl = eq ? (size_t)(eq - *opts) : strlen(*opts);

		if (kl >= sizeof key)
			kl = sizeof key - 1;
		memcpy(key, *opts, kl);
		key[kl] = 0;
		if ((eq ? sys_fsconfig(fs, FSCONFIG_SET_STRING, key, eq + 1)
			: sys_fsconfig(fs, FSCONFIG_SET_FLAG, key, NULL)) < 0)
			goto fail;
	}
	if (sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL) < 0)
		goto fail;
	m = sys_fsmount(fs, attrs);
	if (m < 0)
		goto fail;
	close(fs);
	return m;
fail:;
	int e = errno;
	close(fs);
	errno = e;
	return -1;
}

/* A new tmpfs attached at target; returns the fd of the attached mount (its root directory). */
static int tmpfs_at(int rootfd, const char *target, long long size, int mode, unsigned attrs, char *what, size_t n)
{
	char sz[32], md[32];
	const char *opts[3] = { sz, md, NULL };
	int tfd, mfd;

	snprintf(sz, sizeof sz, "size=%lld", size > 0 ? size : 64LL << 20);
	snprintf(md, sizeof md, "mode=%o", mode >= 0 ? mode : 01777);
	tfd = open_target(rootfd, target, 0, what, n);
	if (tfd < 0)
		return tfd;
	mfd = new_fs("tmpfs", opts, attrs);
	if (mfd < 0 || attach(mfd, tfd) < 0) {
		int e = errno;

		if (mfd >= 0)
			close(mfd);
		close(tfd);
		errno = e;
		FAIL("tmpfs %s", target);
	}
	close(tfd);
	return mfd;
}

int mount_tmpfs(int rootfd, const char *target, long long size, int mode, unsigned attrs, char *what,
		       size_t n)
{
	int mfd = tmpfs_at(rootfd, target, size, mode, attrs, what, n);

	if (mfd < 0)
		return mfd;
	close(mfd);
	return 0;
}

/* Host-wide knobs under /proc: read-only, or hidden behind /dev/null. */
static const char *const proc_readonly[] = { "sys", "sysrq-trigger", "irq", "bus", "fs", NULL };
static const char *const proc_masked[] = { "kcore", "keys", "timer_list", "sched_debug", "latency_stats",
					   "kallsyms", NULL };

int mount_proc(int rootfd, const char *target, char *what, size_t n)
{
	int tfd = open_target(rootfd, target, 0, what, n), mfd;

	if (tfd < 0)
		return tfd;
	mfd = new_fs("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mfd < 0 || attach(mfd, tfd) < 0) {
		int e = errno;
		close(tfd);
		errno = e;
		FAIL("mount proc %s", target);
	}
	close(tfd);
	/* mfd now names the attached proc root */
	for (int i = 0; proc_readonly[i]; i++) {
		struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
						     MOUNT_ATTR_NOEXEC };
		int fd = sys_open_tree(mfd, proc_readonly[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		int t;

		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0 || sys_mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a) < 0 ||
		    (t = openat(mfd, proc_readonly[i], O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			int e = errno;
			close(mfd);
			errno = e;
			FAIL("read-only proc/%s", proc_readonly[i]);
		}
		if (attach(fd, t) < 0) {
			int e = errno;
			close(mfd);
			errno = e;
			FAIL("read-only proc/%s", proc_readonly[i]);
		}
		close(t);
		close(fd);
	}
	for (int i = 0; proc_masked[i]; i++) {
		int t = openat(mfd, proc_masked[i], O_PATH | O_NOFOLLOW | O_CLOEXEC), fd;

		if (t < 0)
			continue;
		fd = clone_tree("/dev/null", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
		if (fd < 0 || attach(fd, t) < 0) {
			int e = errno;
			close(t);
			close(mfd);
			errno = e;
			FAIL("mask proc/%s", proc_masked[i]);
		}
		close(fd);
		close(t);
	}
	close(mfd);
	return 0;
}

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty", NULL };
static const char *const dev_links[][2] = {
	{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" },
	{ "stderr", "/proc/self/fd/2" }, { "ptmx", "pts/ptmx" },
};

/* Attaches the detached mount mfd at name in the directory dfd. Only for directories purple has just
 * made itself (a fresh tmpfs): nothing else can have planted a link there, and the last component
 * is not followed anyway (no MOVE_MOUNT_T_SYMLINKS). */
static int attach_at(int mfd, int dfd, const char *name)
{
	return sys_move_mount(mfd, "", dfd, name, MOVE_MOUNT_F_EMPTY_PATH);
}

/* Binds the host's /dev/name on a new empty file name in dfd; a node the host lacks is left out.
 * 0, or -1 with errno. */
static int bind_dev_node(int dfd, const char *name)
{
	char host[64];
	int mfd, r, e;

	snprintf(host, sizeof host, "/dev/%s", name);
	mfd = clone_tree(host, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (mfd < 0)
		return errno == ENOENT ? 0 : -1;
	r = mknodat(dfd, name, S_IFREG | 0444, 0);
	if (r == 0 || errno == EEXIST)
		r = attach_at(mfd, dfd, name);
	e = errno;
	close(mfd);
	errno = e;
	return r;
}

/* A new filesystem on a new directory name in dfd (a fresh tmpfs of purple's). 0, or -1 with errno. */
static int new_fs_at(int dfd, const char *name, const char *fstype, const char *const *opts, unsigned attrs)
{
	int mfd, r, e;

	if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
		return -1;
	mfd = new_fs(fstype, opts, attrs);
	if (mfd < 0)
		return -1;
	r = attach_at(mfd, dfd, name);
	e = errno;
	close(mfd);
	errno = e;
	return r;
}

/* A minimal /dev: a few host device nodes, a private devpts instance and a private /dev/shm. Built
 * inside its own new tmpfs through that mount's fd, so each entry is one or two calls by name. */
int mount_dev(int rootfd, const char *target, char *what, size_t n)
{
	static const char *const pts_opts[] = { "newinstance", "ptmxmode=0666", "mode=0620", NULL };
	static const char *const shm_opts[] = { "size=67108864", "mode=1777", NULL };
	int dfd;

	dfd = tmpfs_at(rootfd, target, 1 << 20, 0755, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, what, n);
	if (dfd < 0)
		return dfd;
	for (int i = 0; dev_nodes[i]; i++)
		if (bind_dev_node(dfd, dev_nodes[i]) < 0) {
			int e = errno;
			close(dfd);
			errno = e;
			FAIL("bind /dev/%s on %s/%s", dev_nodes[i], target, dev_nodes[i]);
		}
	if (new_fs_at(dfd, "pts", "devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC) < 0 ||
	    new_fs_at(dfd, "shm", "tmpfs", shm_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV) < 0) {
		int e = errno;
		close(dfd);
		errno = e;
		FAIL("mount %s/pts and %s/shm", target, target);
	}
	for (size_t i = 0; i < PL_ARRAY_LEN(dev_links); i++)
		if (symlinkat(dev_links[i][1], dfd, dev_links[i][0]) < 0 && errno != EEXIST) {
			int e = errno;
			close(dfd);
			errno = e;
			FAIL("symlink %s/%s", target, dev_links[i][0]);
		}
	/* Populated: the command may use the nodes, pts and shm, but not add entries of its own. */
	{
		struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };

		if (sys_mount_setattr(dfd, "", AT_EMPTY_PATH, &ro) < 0) {
			int e = errno;
			close(dfd);
			errno = e;
			FAIL("read-only %s", target);
		}
	}
	close(dfd);
	return 0;
}

/* Detaches the mount at name in dfd ("" for dfd's own mount) through dfd's /proc/self/fd path. */
static int umount_at(int dfd, const char *name)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/self/fd/%d%s%s", dfd, name[0] ? "/" : "", name);
	return umount2(path, MNT_DETACH);
}

/* /sys with only the sandbox's own network interfaces: a read-only tmpfs holding class/net and
 * devices/virtual/net of a sysfs instance made inside the sandbox's network namespace (sysfs lists
 * the devices of the namespace it is mounted in). The rest of sysfs (hardware, firmware, kernel
 * knobs) is not there. The whole sysfs is attached for a moment under a hidden name to take the
 * two subtrees from it (older kernels cannot clone from a detached mount), then unmounted. */
int mount_sysnet(int rootfd, const char *target, char *what, size_t n)
{
	static const char *const dirs[] = { "class", "class/net", "devices", "devices/virtual",
					    "devices/virtual/net", NULL };
	static const char *const parts[] = { "class/net", "devices/virtual/net", NULL };
	const unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	char whole[64];
	int dfd, e;

	dfd = tmpfs_at(rootfd, target, 1 << 16, 0755, attrs, what, n);
	if (dfd < 0)
		return dfd;
	for (int i = 0; dirs[i]; i++)
		if (mkdirat(dfd, dirs[i], 0755) < 0)
			goto fail;
	if (new_fs_at(dfd, ".sysfs", "sysfs", NULL, attrs | MOUNT_ATTR_RDONLY) < 0) {
		if (errno != EPERM)
			goto fail;
		/* The kernel lets a user namespace mount sysfs only where a fully visible sysfs is mounted
		 * already (not in some containers and initramfs systems): then /sys stays empty, which
		 * shows less, not more. */
		e = umount_at(dfd, "") < 0 ? errno : 0;
		close(dfd);
		errno = e;
		if (e)
			FAIL("unmount %s", target);
		return 0;
	}
	for (int i = 0; parts[i]; i++) {
		int c;

		snprintf(whole, sizeof whole, ".sysfs/%s", parts[i]);
		c = sys_open_tree(dfd, whole, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (c < 0 || attach_at(c, dfd, parts[i]) < 0) {
			e = errno;
			if (c >= 0)
				close(c);
			errno = e;
			goto fail;
		}
		close(c);
	}
	if (umount_at(dfd, ".sysfs") < 0 || unlinkat(dfd, ".sysfs", AT_REMOVEDIR) < 0 ||
	    sys_mount_setattr(dfd, "", AT_EMPTY_PATH, &ro) < 0)
		goto fail;
	close(dfd);
	return 0;
fail:
	e = errno;
	close(dfd);
	errno = e;
	FAIL("sysfs %s/class/net", target);
}

static int make_symlink(int rootfd, const struct mount_op *m, char *what, size_t n)
{
	const char *base;
	int dfd = open_parent(rootfd, m->target, &base, what, n);

	if (dfd < 0)
		return dfd;
	if (symlinkat(m->link, dfd, base) < 0) {
		int e = errno;
		close(dfd);
		errno = e;
		FAIL("symlink %s", m->target);
	}
	close(dfd);
	return 0;
}

static int make_file(int rootfd, const struct mount_op *m, char *what, size_t n)
{
	const char *base;
	int dfd = open_parent(rootfd, m->target, &base, what, n), fd;
	size_t len = m->link ? strlen(m->link) : 0;

	if (dfd < 0)
		return dfd;
	fd = openat(dfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, m->mode >= 0 ? m->mode : 0644);
	close(dfd);
	if (fd < 0 || (len && write(fd, m->link, len) != (ssize_t)len)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		FAIL("create %s", m->target);
	}
	close(fd);
	return 0;
}

/* Makes the directory rootfd the root of this mount namespace and detaches the old root:
 * pivot_root(".", ".") stacks the old root on top of the new one, so one lazy unmount removes it. */
int mounts_pivot(int rootfd, char *what, size_t n)
{
	if (fchdir(rootfd) < 0)
		FAIL("%s", "chdir new root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		FAIL("%s", "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		FAIL("%s", "detach old root");
	if (chdir("/") < 0)
		FAIL("%s", "chdir /");
	return 0;
}

static int move_onto(int mfd, int tfd)
{
	return (int)syscall(SYS_move_mount, mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

int mounts_build_root(struct spawn_cfg *c, int *staged, char *what, size_t n)
{
	static const char *const root_opts[] = { "mode=0755", "size=4m", NULL };
	int rootfd, r = 0;

	*staged = -1;
	if (!c->nmounts && !c->root)
		return 0;
	if (c->root) {
		rootfd = c->root_fd; /* opened by mounts_open_binds */
		c->root_fd = -1;
		if (rootfd < 0) {
			errno = EBADF;
			FAIL("root %s", c->root);
		}
	} else {
		rootfd = new_fs("tmpfs", root_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
		if (rootfd < 0)
			FAIL("%s", "tmpfs root");
	}
	/* pivot_root needs an attached mount: stage it in this (private) namespace, a container's root
	 * over its own path (it hides nothing: the OCI createContainer hooks run before pivot_root and
	 * see every host path), a tmpfs root on /tmp. */
	if (c->root) {
		int tfd = open(c->root, O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (tfd < 0 || move_onto(rootfd, tfd) < 0) {
			int e = errno;

			if (tfd >= 0)
				close(tfd);
			close(rootfd);
			errno = e;
			FAIL("attach root %s", c->root);
		}
		close(tfd);
	} else if (sys_move_mount(rootfd, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		FAIL("%s", "attach tmpfs root on /tmp");
	}

	for (size_t i = 0; r == 0 && i < c->nmounts; i++) {
		struct mount_op *m = &c->mounts[i];
		int tfd;

		switch (m->type) {
		case MT_BIND: {
			struct stat st;

			if (m->src_fd < 0) /* optional and missing */
				break;
			if (fstat(m->src_fd, &st) < 0)
				FAIL("bind %s", m->source);
			tfd = open_target(rootfd, m->target, !S_ISDIR(st.st_mode), what, n);
			if (tfd < 0)
				return tfd;
			if (attach(m->src_fd, tfd) < 0) {
				int e = errno;
				close(tfd);
				errno = e;
				FAIL("bind %s on %s", m->source, m->target);
			}
			close(tfd);
			close(m->src_fd);
			m->src_fd = -1;
			break;
		}
		case MT_TMPFS:
			r = mount_tmpfs(rootfd, m->target, m->size, m->mode, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
					what, n);
			break;
		case MT_PROC:
			r = mount_proc(rootfd, m->target, what, n);
			break;
		case MT_DEV:
			r = mount_dev(rootfd, m->target, what, n);
			break;
		case MT_SYSNET:
			r = mount_sysnet(rootfd, m->target, what, n);
			break;
		case MT_SYMLINK:
			r = make_symlink(rootfd, m, what, n);
			break;
		case MT_DIR:
			tfd = open_target(rootfd, m->target, 0, what, n);
			if (tfd < 0)
				return tfd;
			if (m->mode >= 0) {
				char p[64];
				snprintf(p, sizeof p, "/proc/self/fd/%d", tfd);
				if (chmod(p, (mode_t)m->mode) < 0) {
					int e = errno;
					close(tfd);
					errno = e;
					FAIL("chmod %s", m->target);
				}
			}
			close(tfd);
			break;
		case MT_FILE:
			r = make_file(rootfd, m, what, n);
			break;
		case MT_FS:
			r = mount_fs(rootfd, m, what, n);
			break;
		case MT_MASK:
			r = mount_mask(rootfd, m, what, n);
			break;
		case MT_ROPATH:
			r = mount_ropath(rootfd, m, what, n);
			break;
		case MT_NODE:
			r = mount_node(rootfd, m, what, n);
			break;
		}
	}
	if (r < 0) {
		close(rootfd);
		return r;
	}
	*staged = rootfd;
	return 0;
}

int mounts_enter_root(const struct spawn_cfg *c, int rootfd, char *what, size_t n)
{
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	int r;

	if (rootfd < 0)
		return 0;
	r = mounts_pivot(rootfd, what, n);
	close(rootfd);
	if (r < 0)
		return r;
	if (!c->root_rw && sys_mount_setattr(AT_FDCWD, "/", 0, &ro) < 0)
		FAIL("%s", "read-only root");
	return 0;
}

/* ---------------------------------------------------------------- OCI container mounts
 * (lua/purple/oci/config.lua). Every path inside the root is resolved under the root's fd without
 * following symlinks (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS): the image cannot redirect a
 * mount to the host. */

int open_in_root(int rootfd, const char *path)
{
	struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };

	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* maskedPaths: an existing directory under an empty read-only tmpfs, anything else under the
 * host's /dev/null (read-only); a path the image lacks needs no mask. */
int mount_mask(int rootfd, const struct mount_op *m, char *what, size_t n)
{
	static const char *const opts[] = { "size=0", "mode=0555", NULL };
	struct stat st;
	int tfd = open_in_root(rootfd, m->target), mfd;

	if (tfd < 0 && errno == ENOENT)
		return 0;
	if (tfd < 0 || fstat(tfd, &st) < 0)
		FAIL("mask %s", m->target);
	if (S_ISDIR(st.st_mode))
		mfd = new_fs("tmpfs", opts, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	else
		mfd = clone_tree("/dev/null", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (mfd < 0 || move_onto(mfd, tfd) < 0) {
		int e = errno;

		if (mfd >= 0)
			close(mfd);
		close(tfd);
		errno = e;
		FAIL("mask %s", m->target);
	}
	close(mfd);
	close(tfd);
	return 0;
}

/* readonlyPaths: an existing path bound read-only onto itself (with everything mounted below it). */
int mount_ropath(int rootfd, const struct mount_op *m, char *what, size_t n)
{
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					     MOUNT_ATTR_NOEXEC };
	int tfd = open_in_root(rootfd, m->target), mfd = -1;

	if (tfd < 0 && errno == ENOENT)
		return 0;
	if (tfd < 0)
		FAIL("read-only %s", m->target);
	mfd = (int)syscall(SYS_open_tree, tfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
	if (mfd < 0 || syscall(SYS_mount_setattr, mfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0 ||
	    move_onto(mfd, tfd) < 0) {
		int e = errno;

		if (mfd >= 0)
			close(mfd);
		close(tfd);
		errno = e;
		FAIL("read-only %s", m->target);
	}
	close(mfd);
	close(tfd);
	return 0;
}

/* A new filesystem instance (m->fstype with m->data) on the directory m->target. */
/* Copies the tree in src (a directory fd) into dst: directories, regular files, symlinks and fifos
 * with their modes and owners (tmpcopyup). 0, or -1 with errno; another file type is EINVAL. */
static int copy_tree(int src, int dst, int depth)
{
	int dfd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (dfd < 0)
		return -1;
	if (depth > 32) {
		close(dfd);
		errno = ELOOP;
		return -1;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -1;
	}
	while (r == 0 && (errno = 0, e = readdir(d))) {
		struct stat st;
		const char *name = e->d_name;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -1;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int s2, d2;

			if (mkdirat(dst, name, st.st_mode & 07777) < 0 ||
			    (s2 = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
				r = -1;
				break;
			}
			d2 = openat(dst, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			r = d2 < 0 ? -1 : copy_tree(s2, d2, depth + 1);
			close(s2);
			if (d2 >= 0)
				close(d2);
		} else if (S_ISREG(st.st_mode)) {
			int in = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			int out = in < 0 ? -1 : openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
							st.st_mode & 07777);
			char buf[65536];
			ssize_t k;

			if (in < 0 || out < 0)
				r = -1;
			while (r == 0 && (k = read(in, buf, sizeof buf)) != 0)
				if (k < 0 || write(out, buf, (size_t)k) != k)
					r = -1;
			if (in >= 0)
				close(in);
			if (out >= 0)
				close(out);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t k = readlinkat(dfd, name, target, sizeof target - 1);

			if (k < 0)
				r = -1;
			else {
				target[k] = 0;
				r = symlinkat(target, dst, name);
			}
		} else if (S_ISFIFO(st.st_mode)) {
			r = mknodat(dst, name, S_IFIFO | (st.st_mode & 07777), 0);
		} else {
			errno = EINVAL; /* a device or socket in a tmpcopyup directory */
			r = -1;
		}
		if (r == 0)
			r = fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
	}
	if (r == 0 && errno)
		r = -1;
	{
		int e2 = errno;
		closedir(d);
		errno = e2;
	}
	return r;
}

/* A new filesystem instance (m->fstype with m->data) on the directory m->target; with copyup (a tmpfs
 * of tmpcopyup) it first gets a copy of what the directory held. */
int mount_fs(int rootfd, const struct mount_op *m, char *what, size_t n)
{
	unsigned attrs = m->attrs | (m->readonly ? MOUNT_ATTR_RDONLY : 0);
	int tfd = open_target(rootfd, m->target, 0, what, n), mfd;

	if (tfd < 0)
		return tfd;
	mfd = new_fs(m->fstype, m->data, m->copyup ? attrs & ~(unsigned)MOUNT_ATTR_RDONLY : attrs);
	if (mfd >= 0 && m->copyup) {
		struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
		struct stat sst;

		if (copy_tree(tfd, mfd, 0) < 0 || fstat(tfd, &sst) < 0 ||
		    fchownat(mfd, "", sst.st_uid, sst.st_gid, AT_EMPTY_PATH) < 0 ||
		    (m->readonly && syscall(SYS_mount_setattr, mfd, "", AT_EMPTY_PATH, &ro, sizeof ro) < 0)) {
			int e = errno;

			close(mfd);
			close(tfd);
			errno = e;
			FAIL("tmpcopyup %s", m->target);
		}
	}
	if (mfd < 0 || move_onto(mfd, tfd) < 0) {
		int e = errno;

		if (mfd >= 0)
			close(mfd);
		close(tfd);
		errno = e;
		FAIL("mount %s on %s", m->fstype, m->target);
	}
	close(mfd);
	close(tfd);
	return 0;
}

/* linux.devices: mknod in the sandbox's root; where the kernel refuses it (a user namespace), the
 * host's node of the same path is bound onto an empty file instead (as runc does rootless). */
int mount_node(int rootfd, const struct mount_op *m, char *what, size_t n)
{
	const char *slash = strrchr(m->target, '/');
	char dir[4096];
	int dfd, r;

	if (!slash || slash[1] == 0 || (size_t)(slash - m->target) >= sizeof dir) {
		errno = EINVAL;
		FAIL("device %s", m->target);
	}
	memcpy(dir, m->target, (size_t)(slash - m->target));
	dir[slash - m->target] = 0;
	dfd = open_target(rootfd, dir[0] ? dir : "/", 0, what, n);
	if (dfd < 0)
		return dfd;
	{
		/* an O_PATH fd cannot be used for mknodat: reopen the directory itself */
		char p[64];
		int d;

		snprintf(p, sizeof p, "/proc/self/fd/%d", dfd);
		d = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(dfd);
		if (d < 0)
			FAIL("device %s", m->target);
		dfd = d;
	}
	unlinkat(dfd, slash + 1, 0); /* the image's own file of that name is replaced, as runc does */
	r = mknodat(dfd, slash + 1, (mode_t)m->dev_type | (mode_t)(m->mode >= 0 ? m->mode : 0666),
		    makedev(m->major, m->minor));
	if (r < 0 && errno == EPERM) {
		int src = clone_tree(m->target, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC), t;

		if (src < 0) {
			close(dfd);
			FAIL("device %s (mknod is not permitted here and the host has no such node to bind)",
			     m->target);
		}
		t = openat(dfd, slash + 1, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0444);
		if (t >= 0)
			close(t);
		t = openat(dfd, slash + 1, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		r = t < 0 ? -1 : move_onto(src, t);
		{
			int e = errno;
			if (t >= 0)
				close(t);
			close(src);
			errno = e;
		}
		if (r < 0) {
			int e = errno;
			close(dfd);
			errno = e;
			FAIL("bind device %s", m->target);
		}
		close(dfd);
		return 0;
	}
	if (r < 0 || ((m->uid >= 0 || m->gid >= 0) &&
		      fchownat(dfd, slash + 1, (uid_t)m->uid, (gid_t)m->gid, AT_SYMLINK_NOFOLLOW) < 0)) {
		int e = errno;
		close(dfd);
		errno = e;
		FAIL("device %s", m->target);
	}
	if (m->mode >= 0 && fchmodat(dfd, slash + 1, (mode_t)m->mode, 0) < 0) {
		int e = errno;
		close(dfd);
		errno = e;
		FAIL("device %s", m->target);
	}
	close(dfd);
	return 0;
}
