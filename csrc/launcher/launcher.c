/* The purple and purple-lua commands: a Lua 5.4 interpreter that runs purple's own Lua code and
 * nothing else under purple's name, then runs purple.cli inside lua_pcall with a traceback handler
 * and exits with the status it returns.
 *
 * Where the code comes from is decided by the executable's own path (/proc/self/exe), never by the
 * current directory or by another copy of purple: in a source tree (<tree>/bin/purple beside
 * <tree>/lua/purple.lua) from <tree>/lua and its precompiled <tree>/build/luac; installed
 * (<prefix>/bin/purple) from <prefix>/share/lua/5.4. A `purple` or `purple.*` module is looked up
 * there only; other modules (lyaml, argparse) come from the absolute entries of the usual path
 * ($LUA_PATH or the built-in default: the system's Lua directories), never the current directory.
 * Before any of it runs, those directories, every directory above them and the profiles shipped
 * with them must be owned by root or the invoking user and writable by no one else (setup,
 * check_path); so must each directory below them that a module or its bytecode is loaded from
 * (check_dirs, once a run) and each module file when it is loaded; else purple stops with 125.
 * Precompiled bytecode (build/luac) is run only while its source has the stamp recorded
 * (load_bytecode).
 *
 * purple.core is linked in (package.preload); with `make STATIC_LIBS=1` liblua, libseccomp and
 * libcap are too, so a start maps no shared object but libc, libm and ld.so (Makefile; bench/README.md,
 * Memory). The Lua C API is exported, as lua5.4 does, for C modules loaded by require (lyaml).
 *
 * This is bin/purple-lua. On x86-64 bin/purple is a small static program (main.c) that runs the
 * common form of `purple exec` itself and execs this one, with the same argv, for everything else;
 * argv[0] still names purple or purple-lua. `purple exec` is here too (exec_client.c), for -t and
 * what main.c leaves to it, and where bin/purple is a link to this program (Makefile). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#define LUA_VDIR LUA_VERSION_MAJOR "." LUA_VERSION_MINOR
#define LUAC_MAGIC "purple-luac 2 "

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (!msg)
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* The whole of an open file as a userdata buffer on the stack (one read; the size is known from
 * stat): its length, or -1 when it is not `size` bytes long any more. Closes fd. */
static ssize_t read_all(lua_State *L, int fd, size_t size, char **buf)
{
	ssize_t got;

	*buf = lua_newuserdatauv(L, size + 1, 0);
	got = read(fd, *buf, size + 1);
	close(fd);
	return got == (ssize_t)size ? got : -1;
}

static uid_t me; /* the invoking user (getuid), set by setup */
static uid_t outsider = (uid_t)-1; /* set by setup: the uid unmapped owners show in a user namespace */

/* In a user namespace (a rootless engine runs its runtime in one), a file whose owner is not mapped
 * shows the overflow uid (/proc/sys/kernel/overflowuid), so the host's root-owned installation of
 * purple looks owned by "nobody". Such an owner is outside the namespace, where the namespace's
 * processes cannot act as it, and is accepted as root is; the mode is checked as always. The
 * overflow uid can also be mapped (subordinate ids covering it), to a subordinate id of the user
 * who made the namespace: theirs either way. In the initial namespace every uid is mapped and the
 * overflow uid is a user like any other. */
static void find_outsider(void)
{
	char buf[256];
	unsigned long in, out, count, overflow;
	int fd;
	ssize_t n;
	FILE *f;

	if ((fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	if (sscanf(buf, "%lu %lu %lu", &in, &out, &count) == 3 && in == 0 && out == 0 && count == 4294967295UL)
		return; /* the initial namespace */
	if (!(f = fopen("/proc/sys/kernel/overflowuid", "re")))
		return;
	if (fscanf(f, "%lu", &overflow) == 1)
		outsider = (uid_t)overflow;
	fclose(f);
}

/* Refuses what another user could change: path must be owned by root or the invoking user and, unless it
 * is a sticky ancestor directory (/tmp), writable by no group or other. `top` is the directory the
 * fix names (chmod -R when it was walked). Prints one line and returns -1, or returns 0. */
static int check_owner_mode(const char *path, const struct stat *st, int ancestor, const char *top, int walked)
{
	if (st->st_uid != 0 && st->st_uid != me && st->st_uid != outsider) {
		fprintf(stderr, "purple: %s is owned by uid %u, neither root nor you (uid %u), so that user could "
			"change the code purple runs; fix: chown%s %u %s, or use a copy of purple you own\n",
			path, (unsigned)st->st_uid, (unsigned)me, walked ? " -R" : "", (unsigned)me, top);
		return -1;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(ancestor && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))) {
		fprintf(stderr, "purple: %s is writable by group or others (mode %04o), so another user could change "
			"the code purple runs; fix: chmod%s go-w %s\n",
			path, (unsigned)(st->st_mode & 07777), walked ? " -R" : "", top);
		return -1;
	}
	return 0;
}

static int cannot_check(const char *path, int err)
{
	fprintf(stderr, "purple: cannot check %s: %s\n", path, strerror(err));
	return -1;
}

/* A module file or its bytecode that another user could change (check_dirs checks the directories
 * it is in): purple stops here, with the same line, whenever the module is loaded. */
static void check_loaded(lua_State *L, const char *path, const struct stat *st, int dir_upvalue)
{
	const char *dir = lua_tostring(L, lua_upvalueindex(dir_upvalue));

	if (check_owner_mode(path, st, 0, lua_pushlstring(L, dir, strlen(dir) - 1), 1) < 0)
		exit(125);
	lua_pop(L, 1);
}

/* What check_path looks at. */
enum {
	CHECK_ABOVE = 1, /* every directory above the path (sticky ones may be writable) */
	CHECK_WALK = 2,  /* every directory under it */
	CHECK_FILES = 4, /* and every file under it (the profiles: the modules are checked when loaded) */
	CHECK_LINK = 8,  /* where a symbolic link points: an absent target is refused (it could appear) */
};

static int check_path(const char *path, int how, int hops);

/* The directories between base (which setup checked) and the file base+rel, each checked once a run
 * (owner and mode; a symbolic link where it leads, with every directory above that) before
 * anything is loaded from them: purple stops here when another user could change one. `top` is the
 * directory the fix names. A directory that is absent holds nothing to load: not checked, not
 * remembered. Checking only what is used spares walking every directory at each start. */
static void check_dirs(lua_State *L, const char *base, const char *rel, const char *top)
{
	char p[PATH_MAX];
	size_t n = strlen(base);
	const char *slash;

	if (n + strlen(rel) >= sizeof p)
		return; /* nothing can be loaded from such a path */
	memcpy(p, base, n);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, "purple.checked_dirs");
	for (const char *r = rel; (slash = strchr(r, '/')); r = slash + 1) {
		struct stat st;
		size_t len = n + (size_t)(slash - rel);

		memcpy(p + n, rel, (size_t)(slash - rel));
		p[len] = 0;
		if (lua_getfield(L, -1, p) != LUA_TNIL) {
			lua_pop(L, 1);
			continue;
		}
		lua_pop(L, 1);
		if (lstat(p, &st) < 0) {
			if (errno == ENOENT)
				break;
			cannot_check(p, errno);
			exit(125);
		}
		if (S_ISLNK(st.st_mode) ? check_path(p, CHECK_ABOVE | CHECK_LINK, 1) < 0
					: check_owner_mode(p, &st, 0, top, 1) < 0)
			exit(125);
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, p);
	}
	lua_pop(L, 1);
}

/* "<dev> <ino> <size> <mtime> <ctime>" of a source file, as csrc/launcher/precompile.lua records it
 * (stat -c '%d %i %s %.9Y %.9Z'), into buf. */
static void source_stamp(char *buf, size_t size, const struct stat *st)
{
	snprintf(buf, size, "%ju %ju %jd %jd.%09ld %jd.%09ld", (uintmax_t)st->st_dev, (uintmax_t)st->st_ino,
		 (intmax_t)st->st_size, (intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
		 (intmax_t)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

/* Loads the bytecode `make` precompiled for the source file src (csrc/launcher/precompile.lua):
 * "purple-luac 2 <stamp>\n", then the dump of the chunk named "@<source path>". The stamp is the
 * source's device, inode, size, mtime and ctime taken before it was read; the dump is used only
 * while src has that very stamp now and the chunk's name is src, so a stale, moved or planted
 * .luac is never run: the caller then loads the source. Any write, rename or chmod of src changes
 * its ctime, which no user can set back (touch sets mtime only); a copied tree has other inodes.
 * The one thing that defeats the stamp, moving the clock back, needs root, and the owner/mode
 * checks already exclude everyone but root and the invoking user from the tree. A stat replaces
 * reading every source again at each start (~80 syscalls and ~0.5 MB of reads a run).
 * Leaves the function on the stack and returns 1, or leaves the stack as it was and returns 0. */
static int load_bytecode(lua_State *L, const char *bc, const char *src, const struct stat *ss, int named)
{
	int top = lua_gettop(L), fd;
	struct stat bs;
	char *b, *nl, stamp[128];
	ssize_t blen;
	size_t hlen;
	lua_Debug ar;

	/* bc is upvalue 2 ("<tree>/build/luac/") followed by its relative path; a symbolic link is not
	 * followed (the source is loaded instead) */
	luaL_checkstack(L, 4, NULL);
	check_dirs(L, lua_tostring(L, lua_upvalueindex(2)), bc + lua_rawlen(L, lua_upvalueindex(2)),
		   lua_pushlstring(L, lua_tostring(L, lua_upvalueindex(2)), lua_rawlen(L, lua_upvalueindex(2)) - 1));
	lua_pop(L, 1);
	fd = open(bc, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (fstat(fd, &bs) < 0 || !S_ISREG(bs.st_mode)) {
		close(fd);
		return 0;
	}
	check_loaded(L, bc, &bs, 2);
	blen = read_all(L, fd, (size_t)bs.st_size, &b);
	if (blen < (ssize_t)sizeof LUAC_MAGIC || memcmp(b, LUAC_MAGIC, sizeof LUAC_MAGIC - 1) != 0)
		goto stale;
	b[blen] = 0;
	nl = memchr(b, '\n', (size_t)blen);
	source_stamp(stamp, sizeof stamp, ss);
	hlen = sizeof LUAC_MAGIC - 1 + strlen(stamp);
	if (!nl || (size_t)(nl - b) != hlen || memcmp(b + sizeof LUAC_MAGIC - 1, stamp, strlen(stamp)) != 0)
		goto stale;
	nl++;
	if (luaL_loadbufferx(L, nl, (size_t)(b + blen - nl), src, "b") != LUA_OK)
		goto stale; /* from another Lua */
	lua_pushvalue(L, -1);
	lua_getinfo(L, ">S", &ar);
	if (named && (ar.source[0] != '@' || strcmp(ar.source + 1, src) != 0))
		goto stale; /* made from the same bytes at another path (a copied tree) */
	lua_replace(L, top + 1);
	lua_settop(L, top + 1);
	return 1;
stale:
	lua_settop(L, top);
	return 0;
}

/* In a tree, Debian's Lua modules that every start needs (argparse: ~1.5 ms to compile each time)
 * run from bytecode that `make` precompiled into <tree>/build/luac/_sys/NAME.luac, under the same
 * rule as purple's own: only while the file that package.path finds now has the stamp recorded
 * (a Debian update of the module replaces the file: its source is loaded). The first entry of
 * package.path whose file exists is that file, as package.searchpath finds it, found here by
 * stat instead of an open of each entry. The bytecode is stripped of debug information, so its
 * chunk name is not compared. Otherwise the path searchers load the module as usual.
 * Upvalue 2: "<tree>/build/luac/", nil when installed. */
static int system_bytecode(lua_State *L, const char *name)
{
	const char *rel, *path, *e, *bc, *src = NULL;
	struct stat ss;

	if (!lua_isstring(L, lua_upvalueindex(2)) || strchr(name, '/'))
		return 0;
	rel = luaL_gsub(L, name, ".", "/");
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "path");
	path = lua_tostring(L, -1);
	for (; path && *path && !src; path = *e ? e + 1 : e) {
		e = strchrnul(path, ';');
		lua_pushlstring(L, path, (size_t)(e - path));
		src = luaL_gsub(L, lua_tostring(L, -1), "?", rel);
		if (stat(src, &ss) < 0)
			src = NULL;
	}
	if (!src || src[0] != '/' || !S_ISREG(ss.st_mode))
		return 0;
	bc = lua_pushfstring(L, "%s_sys/%s.luac", lua_tostring(L, lua_upvalueindex(2)), name);
	if (!load_bytecode(L, bc, src, &ss, 0))
		return 0;
	lua_pushstring(L, src);
	return 2;
}

/* The package searcher for `purple` and `purple.*` (and `purple/...`): such a module is loaded from
 * upvalue 1 ("<tree>/lua/" or "<prefix>/share/lua/5.4/") or not at all, preferring a valid
 * precompiled copy under upvalue 2 ("<tree>/build/luac/", nil when installed). The source is found
 * by stat alone, as package.path would name it there. Other modules: not found here. */
static int purple_searcher(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1), *dir = lua_tostring(L, lua_upvalueindex(1));
	const char *rel, *src = NULL;
	struct stat ss;

	if (strcmp(name, "purple") != 0 && strncmp(name, "purple.", 7) != 0 && strncmp(name, "purple/", 7) != 0)
		return system_bytecode(L, name);
	rel = luaL_gsub(L, name, ".", "/");
	for (int i = 0; i < 2 && !src; i++) {
		const char *p = lua_pushfstring(L, "%s%s%s", dir, rel, i ? "/init.lua" : ".lua");

		/* lstat: a symbolic link is checked where it leads, with every directory above that */
		int found = lstat(p, &ss) == 0;

		if (found && S_ISLNK(ss.st_mode)) {
			if (check_path(p, CHECK_ABOVE | CHECK_LINK, 1) < 0)
				exit(125);
			found = stat(p, &ss) == 0;
		}
		if (found && S_ISREG(ss.st_mode))
			src = p;
		else
			lua_pop(L, 1);
	}
	if (src) {
		check_dirs(L, dir, src + strlen(dir), lua_tostring(L, lua_upvalueindex(3)));
		check_loaded(L, src, &ss, 1);
	} else {
		lua_pushlstring(L, dir, strlen(dir) - 1); /* without the trailing "/" */
		return luaL_error(L, "module '%s' not found in %s (purple loads its own modules from there only)",
				  name, lua_tostring(L, -1));
	}
	if (lua_isstring(L, lua_upvalueindex(2))) {
		const char *bc = lua_pushfstring(L, "%s%sc", lua_tostring(L, lua_upvalueindex(2)), src + strlen(dir));

		if (load_bytecode(L, bc, src, &ss, 1)) {
			lua_pushstring(L, src); /* the loader gets the source's file name, as from the source searcher */
			return 2;
		}
	}
	if (luaL_loadfilex(L, src, "t") != LUA_OK)
		return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, src, lua_tostring(L, -1));
	lua_pushstring(L, src);
	return 2;
}

/* paths.load_profile(path, env) in a tree: the chunk of a shipped profile, <tree>/profiles/NAME.lua,
 * from the bytecode `make` precompiled into <tree>/build/luac/profiles/NAME.luac under the rule of
 * load_bytecode, with env as its _ENV as loadfile gives it; nil for any other path or when the
 * bytecode is not valid (lua/purple/profiles.lua then loads the source). Compiling ai-strict.lua
 * is ~0.4M instructions a run. The profiles are checked at the start (setup: CHECK_FILES).
 * Upvalues: 1 "<tree>/profiles/", 2 "<tree>/build/luac/". */
static int load_profile(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1), *dir = lua_tostring(L, lua_upvalueindex(1));
	size_t n = strlen(dir), len = strlen(path);
	struct stat ss;

	luaL_checktype(L, 2, LUA_TTABLE);
	if (strncmp(path, dir, n) != 0 || strchr(path + n, '/') || len < n + 5 || strcmp(path + len - 4, ".lua") != 0 ||
	    stat(path, &ss) < 0 || !S_ISREG(ss.st_mode))
		return 0;
	if (!load_bytecode(L, lua_pushfstring(L, "%sprofiles/%sc", lua_tostring(L, lua_upvalueindex(2)), path + n),
			   path, &ss, 1))
		return 0;
	lua_pushvalue(L, 2);
	if (!lua_setupvalue(L, -2, 1))
		lua_pop(L, 1);
	return 1;
}

/* Under the directory `dir`, walked from `top`: a symbolic link is checked where it leads. The file
 * type from readdir spares a stat of each file when only the directories are checked. */
static int check_walk(const char *dir, const char *top, int how, int hops)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = 0;

	if (!d)
		return cannot_check(dir, errno);
	while (r == 0 && (e = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    (e->d_type == DT_REG && !(how & CHECK_FILES)))
			continue;
		if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p)
			r = cannot_check(dir, ENAMETOOLONG);
		else if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			r = cannot_check(p, errno);
		else if (S_ISLNK(st.st_mode))
			r = check_path(p, how | CHECK_ABOVE | CHECK_LINK, hops + 1);
		else if (S_ISDIR(st.st_mode) || (how & CHECK_FILES)) {
			r = check_owner_mode(p, &st, 0, top, 1);
			if (r == 0 && S_ISDIR(st.st_mode))
				r = check_walk(p, top, how, hops);
		}
	}
	closedir(d);
	return r;
}

/* path itself and what `how` says. An absent path has nothing to load: fine. A path that is a
 * symbolic link is checked where it leads. */
static int check_path(const char *path, int how, int hops)
{
	char real[PATH_MAX], up[PATH_MAX];
	struct stat st;

	if (hops > 8)
		return cannot_check(path, ELOOP);
	if (lstat(path, &st) < 0)
		return errno == ENOENT && !(how & CHECK_LINK) ? 0 : cannot_check(path, errno);
	if (S_ISLNK(st.st_mode)) {
		if (!realpath(path, real))
			return cannot_check(path, errno);
		return check_path(real, how | CHECK_ABOVE, hops + 1);
	}
	for (size_t i = 0; (how & CHECK_ABOVE) && path[i]; i++) {
		struct stat ust;

		if (path[i] != '/')
			continue;
		memcpy(up, path, i ? i : 1);
		up[i ? i : 1] = 0;
		if (stat(up, &ust) < 0)
			return cannot_check(up, errno);
		if (check_owner_mode(up, &ust, 1, up, 0) < 0)
			return -1;
	}
	if (!(how & CHECK_WALK) || !S_ISDIR(st.st_mode))
		return check_owner_mode(path, &st, 0, path, 0);
	if (check_owner_mode(path, &st, 0, path, 1) < 0)
		return -1;
	return check_walk(path, path, how, hops);
}

/* package.path or package.cpath: `own` first, then the absolute entries of what luaL_openlibs set
 * ($LUA_PATH or the built-in default), without "./?.lua" and the other entries relative to the
 * current directory, which may be anyone's. */
static void set_search_path(lua_State *L, const char *field, const char *own)
{
	luaL_Buffer b;
	const char *p, *e;

	lua_getglobal(L, "package");
	lua_getfield(L, -1, field);
	p = lua_tostring(L, -1);
	luaL_buffinit(L, &b);
	luaL_addstring(&b, own);
	for (; p && *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ';');
		if (*p == '/') {
			luaL_addchar(&b, ';');
			luaL_addlstring(&b, p, (size_t)(e - p));
		}
	}
	luaL_pushresult(&b);
	lua_setfield(L, -3, field);
	lua_pop(L, 2);
}

static void add_purple_searcher(lua_State *L, const char *luadir, const char *bcdir, const char *top)
{
	lua_getglobal(L, "table");
	lua_getfield(L, -1, "insert");
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchers");
	lua_remove(L, -2);
	lua_pushinteger(L, 2); /* after package.preload (purple.core), before the path searchers */
	lua_pushstring(L, luadir);
	if (bcdir)
		lua_pushstring(L, bcdir);
	else
		lua_pushnil(L);
	lua_pushstring(L, top);
	lua_pushcclosure(L, purple_searcher, 3);
	lua_call(L, 3, 0);
	lua_pop(L, 1);
}

/* Sets up where purple's code comes from (see the top of this file) and checks it; the profiles
 * are found through package.loaded["purple.paths"] (lua/purple/paths.lua): set here in a tree,
 * written by `make install` when installed. Returns 0, or -1 after one line on stderr. */
static int setup(lua_State *L)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	const char *root, *luadir;
	int in_tree;
	struct stat st;

	if (n <= 0) {
		fprintf(stderr, "purple: cannot find its own executable: readlink /proc/self/exe: %s\n",
			strerror(n < 0 ? errno : ENOENT));
		return -1;
	}
	exe[n] = 0;
	me = getuid();
	find_outsider();
	for (int i = 0; i < 2; i++) { /* <root>/bin/purple → <root> */
		slash = strrchr(exe, '/');
		if (slash && slash != exe)
			*slash = 0;
		else
			strcpy(exe, "/");
	}
	root = strcmp(exe, "/") == 0 ? "" : exe;
	in_tree = stat(lua_pushfstring(L, "%s/lua/purple.lua", root), &st) == 0;
	lua_pop(L, 1);
	if (in_tree) {
		luadir = lua_pushfstring(L, "%s/lua/", root);
		lua_pushfstring(L, "%s?.lua;%s?/init.lua", luadir, luadir);
		set_search_path(L, "path", lua_tostring(L, -1));
		lua_pushfstring(L, "%s?.so", luadir);
		set_search_path(L, "cpath", lua_tostring(L, -1));
		add_purple_searcher(L, luadir, lua_pushfstring(L, "%s/build/luac/", root),
				    lua_pushfstring(L, "%s/lua", root));
		/* root is canonical (/proc/self/exe): the directories above it are checked once; those
		 * below lua/ and build/luac/ when a module is loaded from them (check_dirs) */
		if (check_path(*root ? root : "/", CHECK_ABOVE, 0) < 0 ||
		    check_path(lua_pushfstring(L, "%s/lua", root), 0, 0) < 0 ||
		    check_path(lua_pushfstring(L, "%s/build", root), 0, 0) < 0 ||
		    check_path(lua_pushfstring(L, "%s/build/luac", root), 0, 0) < 0 ||
		    check_path(lua_pushfstring(L, "%s/profiles", root), CHECK_WALK | CHECK_FILES, 0) < 0)
			return -1;
		lua_createtable(L, 0, 3);
		lua_pushstring(L, *root ? root : "/");
		lua_setfield(L, -2, "tree");
		lua_pushfstring(L, "%s/profiles/", root);
		lua_pushfstring(L, "%s/build/luac/", root);
		lua_pushcclosure(L, load_profile, 2);
		lua_setfield(L, -2, "load_profile");
		lua_pushliteral(L, "/etc");
		lua_setfield(L, -2, "sysconfdir");
		luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
		lua_insert(L, -2);
		lua_setfield(L, -2, "purple.paths");
	} else {
		luadir = lua_pushfstring(L, "%s/share/lua/" LUA_VDIR "/", root);
		lua_pushfstring(L, "%s?.lua;%s?/init.lua", luadir, luadir);
		set_search_path(L, "path", lua_tostring(L, -1));
		lua_pushfstring(L, "%s/lib/lua/" LUA_VDIR "/?.so", root);
		set_search_path(L, "cpath", lua_tostring(L, -1));
		add_purple_searcher(L, luadir, NULL, lua_pushfstring(L, "%spurple", luadir));
		if (check_path(lua_pushfstring(L, "%s/share/lua/" LUA_VDIR, root), CHECK_ABOVE, 0) < 0 ||
		    check_path(lua_pushfstring(L, "%spurple", luadir), 0, 0) < 0)
			return -1;
		lua_getglobal(L, "require");
		lua_pushliteral(L, "purple.paths");
		lua_call(L, 1, 1);
		lua_getfield(L, -1, "datadir");
		if (lua_isstring(L, -1) && check_path(lua_pushfstring(L, "%s/profiles", lua_tostring(L, -1)),
						      CHECK_ABOVE | CHECK_WALK | CHECK_FILES, 0) < 0)
			return -1;
		lua_pop(L, 2);
	}
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_getfield(L, -1, "purple.paths");
	lua_getfield(L, -1, "sysconfdir");
	if (lua_isstring(L, -1) && check_path(lua_pushfstring(L, "%s/purple/profiles", lua_tostring(L, -1)),
					      CHECK_ABOVE | CHECK_WALK | CHECK_FILES, 0) < 0)
		return -1;
	return 0;
}

int luaopen_purple_core(lua_State *L); /* csrc/core.c, linked in */
int purple_exec_main(int argc, char **argv); /* exec_client.c: `purple exec`, no Lua */

static int pmain(lua_State *L)
{
	int argc = (int)lua_tointeger(L, 1);
	char **argv = lua_touserdata(L, 2);
	const char *name = strrchr(argv[0], '/');

	name = name ? name + 1 : argv[0];
	/* What is allocated until the command runs is nearly all code and modules, which live to the end:
	 * collecting meanwhile is wasted work (~0.6M instructions a run). purple.cli restarts the
	 * collector before the command's own work (cli.lua, restart_gc). */
	lua_gc(L, LUA_GCSTOP);
	luaL_openlibs(L);
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	lua_pushcfunction(L, luaopen_purple_core);
	lua_setfield(L, -2, "purple.core");
	lua_pop(L, 1);
	if (setup(L) < 0) {
		lua_pushinteger(L, 125);
		return 1;
	}
	lua_settop(L, 2);
	lua_createtable(L, argc, 1);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_setglobal(L, "arg");
	lua_getglobal(L, "require");
	lua_pushstring(L, "purple.cli");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "main");
	/* purple-oci: the OCI runtime command line (lua/purple/cli/oci.lua) */
	lua_pushstring(L, strncmp(name, "purple-lua", 10) == 0 ? "purple-lua"
			  : strncmp(name, "purple-oci", 10) == 0 ? "purple-oci" : "purple");
	lua_getglobal(L, "arg");
	lua_call(L, 2, 1);
	return 1;
}

/* The allocator while lua_close runs at exit: finalizers still run (a sandbox handle kills and reaps
 * what it started, files are flushed), but nothing is given back to malloc one object at a time,
 * which would be a tenth of a start's instructions; the process exits next. */
static void *exit_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	if (nsize == 0)
		return NULL;
	return realloc(ptr, nsize);
}

int main(int argc, char **argv)
{
	lua_State *L;
	int status;

	const char *base = strrchr(argv[0], '/');
	const char *name0 = base ? base + 1 : argv[0];
	int plain_purple = strncmp(name0, "purple-lua", 10) != 0 && strncmp(name0, "purple-oci", 10) != 0;

	if (argc > 3 && (strcmp(argv[1], "-l") == 0 || strcmp(argv[1], "--log-level") == 0) &&
	    strcmp(argv[3], "exec") == 0 && plain_purple) {
		/* purple -l LEVEL exec ...: as purple exec -l LEVEL ... */
		argv[3] = argv[2];
		argv[2] = argv[1];
		argv[1] = "exec";
	}
	if (argc > 1 && strcmp(argv[1], "exec") == 0 && plain_purple)
		return purple_exec_main(argc - 1, argv + 1);
	L = luaL_newstate();
	if (!L) {
		fputs("purple: cannot create the Lua state: out of memory\n", stderr);
		return 125;
	}
	lua_pushcfunction(L, traceback);
	lua_pushcfunction(L, pmain);
	lua_pushinteger(L, argc);
	lua_pushlightuserdata(L, argv);
	if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
		fprintf(stderr, "purple: internal error: %s\n", lua_tostring(L, -1));
		lua_close(L);
		return 125;
	}
	status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
	fflush(stdout);
	lua_setallocf(L, exit_alloc, NULL);
	lua_close(L);
	return status;
}
