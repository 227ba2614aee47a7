/* Tree snapshots and file digests for the supervisor: the audit log's `files` event (what changed
 * under each output path).
 *
 * The output paths were writable by the sandbox, so nothing here follows a symbolic link: the walk
 * opens every directory relative to its parent with O_NOFOLLOW and stays on one filesystem, and a
 * file is hashed through openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) so a planted link cannot make
 * the supervisor read a host file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "file_tree.h"

#define MAX_DEPTH 64

struct walk {
	tree_entry_fn *each;
	void *arg;
	long long left;   /* entries still allowed */
	dev_t dev;
	int truncated;
};

/* Walks the directory open at dfd (consumed), whose path relative to the root is prefix. */
static int walk_dir(struct walk *w, int dfd, const char *prefix, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	char rel[4096];
	struct stat st;

	if (!d) {
		int err = errno;

		close(dfd);
		return -err;
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (w->left-- <= 0 || snprintf(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "",
					       e->d_name) >= (int)sizeof rel) {
			w->truncated = 1;
			continue;
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished meanwhile */
		w->each(w->arg, rel, &st);
		if (S_ISDIR(st.st_mode) && st.st_dev == w->dev) {
			int sub;

			if (depth >= MAX_DEPTH) {
				w->truncated = 1;
				continue;
			}
			sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				walk_dir(w, sub, rel, depth + 1);
		}
	}
	closedir(d);
	return 0;
}

int tree_walk(const char *dir, long long max, tree_entry_fn *each, void *arg, int *truncated,
	      enum tree_step *step)
{
	struct walk w = { .each = each, .arg = arg, .left = max };
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	*step = TREE_OPEN;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int err = errno;

		close(fd);
		*step = TREE_STAT;
		return -err;
	}
	w.dev = st.st_dev;
	walk_dir(&w, fd, "", 0);
	*truncated = w.truncated;
	return 0;
}

int file_sha256_beneath(const char *dir, const char *rel, char hex[65], enum tree_step *step)
{
	struct open_how how = {
		.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	struct stat st;
	int dfd, fd, r, err;

	*step = TREE_OPEN;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof how);
	err = errno;
	close(dfd);
	*step = TREE_OPEN_FILE;
	if (fd < 0)
		return -err;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*step = TREE_NOT_REGULAR;
		return -EINVAL;
	}
	r = pl_sha256_fd(fd, hex);
	close(fd);
	*step = TREE_READ;
	return r;
}
