/* Tree snapshots and file digests that never follow a symbolic link (file_tree.c). */
#ifndef PURPLE_FILE_TREE_H
#define PURPLE_FILE_TREE_H

#include <sys/stat.h>

#include "purple.h"

/* Which step failed, for the caller's message. */
enum tree_step { TREE_OPEN, TREE_STAT, TREE_OPEN_FILE, TREE_NOT_REGULAR, TREE_READ };

/* Called for each entry (rel: path under the root) of a walk. */
typedef void tree_entry_fn(void *arg, const char *rel, const struct stat *st);

/* Walks dir on its filesystem, at most max entries and 64 levels (*truncated says when more were
 * left out); symbolic links are listed, never followed. 0 or -errno with *step. */
int tree_walk(const char *dir, long long max, tree_entry_fn *each, void *arg, int *truncated,
	      enum tree_step *step);

/* SHA-256 of the regular file rel beneath dir, opened without following any symbolic link
 * (openat2(2)). 0 or -errno with *step. */
int file_sha256_beneath(const char *dir, const char *rel, char hex[65], enum tree_step *step);

#endif
