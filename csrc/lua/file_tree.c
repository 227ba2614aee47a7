/* Lua binding of file_tree.c: core.readdir (the runtime directory of `purple ps`),
 * core.tree_snapshot and core.file_sha256. */
#include <dirent.h>
#include <errno.h>
#include <string.h>

#include "file_tree.h"
#include "lpurple.h"

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

struct snapshot {
	lua_State *L;
	int table;          /* stack index of the result */
};

static void add_entry(void *arg, const char *rel, const struct stat *st)
{
	struct snapshot *w = arg;
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

/* core.tree_snapshot(dir [, max_entries=100000]) -> { [relpath] = {type, size, mode, ino, mtime_ns,
 * ctime_ns} }, truncated | fail. Symbolic links are listed, never followed. */
static int l_tree_snapshot(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	struct snapshot w = { .L = L };
	lua_Integer max = luaL_optinteger(L, 2, 100000);
	enum tree_step step;
	int truncated = 0, r;

	lua_newtable(L);
	w.table = lua_gettop(L);
	r = tree_walk(dir, max, add_entry, &w, &truncated, &step);
	if (r < 0)
		return pl_fail(L, -r, "%s %s", step == TREE_STAT ? "stat" : "open", dir);
	lua_pushboolean(L, truncated);
	return 2;
}

/* core.file_sha256(dir, relpath) -> hex | fail. Opens relpath beneath dir without following any
 * symbolic link (openat2(2)); only regular files are hashed. */
static int l_file_sha256(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	const char *rel = luaL_checkstring(L, 2);
	enum tree_step step;
	char hex[65];
	int r = file_sha256_beneath(dir, rel, hex, &step);

	if (r < 0) {
		if (step == TREE_OPEN)
			return pl_fail(L, -r, "open %s", dir);
		if (step == TREE_OPEN_FILE)
			return pl_fail(L, -r, "open %s/%s", dir, rel);
		if (step == TREE_NOT_REGULAR)
			return pl_fail(L, EINVAL, "hash %s/%s: not a regular file", dir, rel);
		return pl_fail(L, -r, "read %s/%s", dir, rel);
	}
	lua_pushstring(L, hex);
	return 1;
}

/* core.sha256(string) -> 64 hex digits */
static int l_sha256(lua_State *L)
{
	size_t n;
	const char *p = luaL_checklstring(L, 1, &n);
	struct pl_sha256 s;
	char hex[65];

	pl_sha256_init(&s);
	pl_sha256_update(&s, p, n);
	pl_sha256_hex(&s, hex);
	lua_pushstring(L, hex);
	return 1;
}

void pl_open_file_tree(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "readdir", l_readdir }, { "tree_snapshot", l_tree_snapshot }, { "file_sha256", l_file_sha256 },
		{ "sha256", l_sha256 },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
