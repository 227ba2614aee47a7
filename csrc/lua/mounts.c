/* Lua binding of mounts.c: the spec's mounts list → struct mount_op array of struct spawn_cfg. */
#include <string.h>
#include <sys/stat.h>
#include <linux/mount.h>

#include "lspawn.h"

static const char *const mount_types[] = { "bind", "tmpfs", "proc", "dev", "symlink", "dir", "file", "sysnet",
					   "fs", "mask", "ropath", "node", NULL };
static const char *const mount_fields[] = { "type", "source", "target", "readonly", "optional", "size",
					    "mode", "link", "contents", "idmap", "field", "nosuid", "nodev",
					    "noexec", "recursive", "fstype", "data", "dev_type", "major", "minor",
					    "uid", "gid", "copyup", NULL };

/* The container fields of one mount (lua/purple/oci/config.lua): attributes, fs type and options,
 * device numbers. The data list stays on the stack below the mounts list until spawn returns. */
static void container_fields(lua_State *L, int e, struct mount_op *m, int i, int list)
{
	const char *dt;

	m->attrs = (pl_field_bool(L, e, "nosuid", 0) ? MOUNT_ATTR_NOSUID : 0) |
		   (pl_field_bool(L, e, "nodev", 0) ? MOUNT_ATTR_NODEV : 0) |
		   (pl_field_bool(L, e, "noexec", 0) ? MOUNT_ATTR_NOEXEC : 0);
	m->norecursive = !pl_field_bool(L, e, "recursive", 1);
	m->copyup = pl_field_bool(L, e, "copyup", 0);
	m->fstype = pl_field_str(L, e, "fstype", NULL);
	if (m->type == MT_FS && !m->fstype)
		luaL_error(L, "mount %d: fs needs an fstype", i);
	m->data = NULL;
	if (lua_getfield(L, e, "data") == LUA_TTABLE) {
		size_t len = lua_rawlen(L, -1);
		const char **d = lua_newuserdatauv(L, (len + 1) * sizeof *d, 0);

		for (size_t k = 0; k < len; k++) {
			if (lua_rawgeti(L, -2, (lua_Integer)k + 1) != LUA_TSTRING)
				luaL_error(L, "mount %d: data must be a list of strings", i);
			d[k] = lua_tostring(L, -1);
			lua_pop(L, 1);
		}
		d[len] = NULL;
		m->data = d;
		/* kept alive by the mounts array's user value (a table) */
		lua_getiuservalue(L, list, 1);
		lua_insert(L, -2);
		lua_rawseti(L, -2, i);
		lua_pop(L, 2);
	} else if (!lua_isnil(L, -1)) {
		luaL_error(L, "mount %d: data must be a list of strings", i);
	} else {
		lua_pop(L, 1);
	}
	dt = pl_field_str(L, e, "dev_type", "c");
	m->dev_type = strcmp(dt, "c") == 0 || strcmp(dt, "u") == 0 ? S_IFCHR : strcmp(dt, "b") == 0 ? S_IFBLK
		    : strcmp(dt, "p") == 0 ? S_IFIFO : -1;
	if (m->dev_type < 0)
		luaL_error(L, "mount %d: dev_type must be c, b or p", i);
	m->major = (unsigned)pl_field_int(L, e, "major", 0);
	m->minor = (unsigned)pl_field_int(L, e, "minor", 0);
	m->uid = pl_field_int(L, e, "uid", -1);
	m->gid = pl_field_int(L, e, "gid", -1);
}

void mounts_parse(lua_State *L, int t, struct spawn_cfg *c)
{
	size_t len;

	c->nmounts = 0;
	c->mounts = NULL;
	if (lua_getfield(L, t, "mounts") == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	luaL_checktype(L, -1, LUA_TTABLE);
	len = lua_rawlen(L, -1);
	c->mounts = lua_newuserdatauv(L, (len ? len : 1) * sizeof *c->mounts, 1);
	lua_newtable(L);
	lua_setiuservalue(L, -2, 1);
	lua_insert(L, -2); /* the array stays on the stack below the list until spawn returns */
	for (size_t i = 0; i < len; i++) {
		struct mount_op *m = &c->mounts[i];
		const char *type;
		int e = lua_gettop(L) + 1;

		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		luaL_checktype(L, e, LUA_TTABLE);
		pl_check_fields(L, e, mount_fields, "mount");
		memset(m, 0, sizeof *m);
		type = pl_field_str(L, e, "type", NULL);
		if (!type)
			luaL_error(L, "mount %d: missing type", (int)i + 1);
		m->type = MT_BIND;
		for (int k = 0; mount_types[k]; k++)
			if (strcmp(mount_types[k], type) == 0)
				m->type = (enum mount_type)k;
		if (strcmp(mount_types[m->type], type) != 0)
			luaL_error(L, "mount %d: unknown type '%s'", (int)i + 1, type);
		m->source = pl_field_str(L, e, "source", NULL);
		m->target = pl_field_str(L, e, "target", NULL);
		if (!m->target || m->target[0] != '/')
			luaL_error(L, "mount %d: target must be an absolute path", (int)i + 1);
		if (m->type == MT_BIND && !m->source)
			luaL_error(L, "mount %d: bind needs a source", (int)i + 1);
		m->readonly = pl_field_bool(L, e, "readonly", 1);
		m->optional = pl_field_bool(L, e, "optional", 0);
		m->idmap = pl_field_bool(L, e, "idmap", 0);
		m->field = pl_field_str(L, e, "field", NULL);
		if (m->idmap && m->type != MT_BIND)
			luaL_error(L, "mount %d: idmap is for binds", (int)i + 1);
		m->size = pl_field_int(L, e, "size", 0);
		m->mode = (int)pl_field_int(L, e, "mode", -1);
		m->link = pl_field_str(L, e, "link", NULL);
		if (m->type == MT_FILE)
			m->link = pl_field_str(L, e, "contents", "");
		if (m->type == MT_SYMLINK && !m->link)
			luaL_error(L, "mount %d: symlink needs a link", (int)i + 1);
		m->src_fd = -1;
		container_fields(L, e, m, (int)i + 1, e - 2);
		c->nmounts++;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}
