/* Lua binding of mounts.c: the spec's mounts list → struct mount_op array of struct spawn_cfg. */
#include <string.h>

#include "lspawn.h"

static const char *const mount_types[] = { "bind", "tmpfs", "proc", "dev", "symlink", "dir", "file", "sysnet",
					   NULL };
static const char *const mount_fields[] = { "type", "source", "target", "readonly", "optional", "size",
					    "mode", "link", "contents", "idmap", "field", NULL };

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
	c->mounts = lua_newuserdatauv(L, (len ? len : 1) * sizeof *c->mounts, 0);
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
		c->nmounts++;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}
