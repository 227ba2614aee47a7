/* Directory listings and tree snapshots for the supervisor: the runtime directory of `purple ps`
 * and the audit log's `files` event (what changed under each output path).
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

#include "purple.h"

#define MAX_DEPTH 64

/* core.readdir(path) -> { name, ... } (without . and ..) | fail  (readdir(3)) */
static int l_readdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	DIR *d = opendir(path);
	struct dirent *e;
	lua_Integer n = 0;

	if (!d)
		return pl_fail(L, errno, "opendir %s", path);
	lua_newtable(L);
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		lua_pushstring(L, e->d_name);
		lua_rawseti(L, -2, ++n);
	}
	closedir(d);
	return 1;
}

static const char *type_name(mode_t m)
{
	if (S_ISREG(m)) return "file";
	if (S_ISDIR(m)) return "directory";
	if (S_ISLNK(m)) return "link";
	if (S_ISFIFO(m)) return "fifo";
	if (S_ISSOCK(m)) return "socket";
	if (S_ISCHR(m)) return "char";
	if (S_ISBLK(m)) return "block";
	return "other";
}

struct walk {
	lua_State *L;
	int table;          /* stack index of the result */
	lua_Integer left;   /* entries still allowed */
	dev_t dev;
	int truncated;
};

static void add_entry(struct walk *w, const char *rel, const struct stat *st)
{
	lua_State *L = w->L;

	lua_createtable(L, 0, 6);
	lua_pushstring(L, type_name(st->st_mode)); lua_setfield(L, -2, "type");
	lua_pushinteger(L, st->st_size); lua_setfield(L, -2, "size");
	lua_pushinteger(L, st->st_mode & 07777); lua_setfield(L, -2, "mode");
	lua_pushinteger(L, (lua_Integer)st->st_ino); lua_setfield(L, -2, "ino");
	lua_pushinteger(L, (lua_Integer)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec);
	lua_setfield(L, -2, "mtime_ns");
	lua_pushinteger(L, (lua_Integer)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec);
	lua_setfield(L, -2, "ctime_ns");
	lua_setfield(L, w->table, rel);
}

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
		add_entry(w, rel, &st);
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

/* core.tree_snapshot(dir [, max_entries=100000]) -> { [relpath] = {type, size, mode, ino, mtime_ns,
 * ctime_ns} }, truncated | fail. Symbolic links are listed, never followed. */
static int l_tree_snapshot(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	struct walk w = { .L = L, .left = luaL_optinteger(L, 2, 100000) };
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return pl_fail(L, errno, "open %s", dir);
	if (fstat(fd, &st) < 0) {
		int err = errno;

		close(fd);
		return pl_fail(L, err, "stat %s", dir);
	}
	w.dev = st.st_dev;
	lua_newtable(L);
	w.table = lua_gettop(L);
	walk_dir(&w, fd, "", 0);
	lua_pushboolean(L, w.truncated);
	return 2;
}

/* core.file_sha256(dir, relpath) -> hex | fail. Opens relpath beneath dir without following any
 * symbolic link (openat2(2)); only regular files are hashed. */
static int l_file_sha256(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	const char *rel = luaL_checkstring(L, 2);
	struct open_how how = {
		.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	char hex[65];
	struct stat st;
	int dfd, fd, r, err;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return pl_fail(L, errno, "open %s", dir);
	fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof how);
	err = errno;
	close(dfd);
	if (fd < 0)
		return pl_fail(L, err, "open %s/%s", dir, rel);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pl_fail(L, EINVAL, "hash %s/%s: not a regular file", dir, rel);
	}
	r = pl_sha256_fd(fd, hex);
	close(fd);
	if (r < 0)
		return pl_fail(L, -r, "read %s/%s", dir, rel);
	lua_pushstring(L, hex);
	return 1;
}

void pl_open_file_tree(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "readdir", l_readdir }, { "tree_snapshot", l_tree_snapshot }, { "file_sha256", l_file_sha256 },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
