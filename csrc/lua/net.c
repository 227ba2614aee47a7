/* Lua binding of net_filter.c (core.net_filter_attach and its handle) and of landlock_abi. */
#include <netinet/in.h>
#include <unistd.h>

#include "net_filter.h"
#include "lspawn.h"

#define NET_FILTER_MT "purple.net_filter"

struct net_filter {
	int map; /* the audit map, -1 once closed */
};

/* Reads t[k] = { {from=, to=, proto="tcp"|"udp"|"any"}, ... } into r. */
static size_t ranges_parse(lua_State *L, int t, const char *k, struct port_range *r)
{
	size_t n = 0, len;

	if (lua_getfield(L, t, k) != LUA_TTABLE)
		luaL_error(L, "net_filter: field '%s' must be a list of port ranges", k);
	len = lua_rawlen(L, -1);
	if (len > NET_MAX_RANGES)
		luaL_error(L, "net_filter: at most %d ranges in '%s'", NET_MAX_RANGES, k);
	for (size_t i = 1; i <= len; i++, n++) {
		static const char *const protos[] = { "any", "tcp", "udp", NULL };
		static const int proto_num[] = { 0, IPPROTO_TCP, IPPROTO_UDP };
		int e;
		lua_Integer from, to;

		lua_rawgeti(L, -1, (lua_Integer)i);
		e = lua_gettop(L);
		luaL_checktype(L, e, LUA_TTABLE);
		from = pl_field_int(L, e, "from", -1);
		to = pl_field_int(L, e, "to", from);
		if (from < 0 || to < from || to > 65535)
			luaL_error(L, "net_filter: %s[%d]: bad port range", k, (int)i);
		lua_getfield(L, e, "proto");
		r[n].proto = proto_num[luaL_checkoption(L, -1, "any", protos)];
		r[n].from = (unsigned)from;
		r[n].to = (unsigned)to;
		lua_pop(L, 2);
	}
	lua_pop(L, 1);
	return n;
}

/* core.net_filter_attach(cgroup_dir, {outgoing = ranges, incoming = ranges}) -> filter | nil, msg, errno
 * The programs stay attached as long as the cgroup exists; the filter handle reads the audit map. */
static int l_net_filter_attach(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	struct port_range out[NET_MAX_RANGES], in[NET_MAX_RANGES];
	size_t nout, nin;
	struct net_filter *f;
	char msg[1200] = "";
	int r;

	luaL_checktype(L, 2, LUA_TTABLE);
	nout = ranges_parse(L, 2, "outgoing", out);
	nin = ranges_parse(L, 2, "incoming", in);
	f = lua_newuserdatauv(L, sizeof *f, 0);
	f->map = -1;
	luaL_setmetatable(L, NET_FILTER_MT);
	r = net_filter_attach(dir, out, nout, in, nin, &f->map, msg, sizeof msg);
	if (r < 0)
		return pl_fail(L, -r, "%s", msg);
	return 1;
}

struct events {
	lua_State *L;
	int n;
};

static void push_event(void *arg, const struct net_filter_event *e)
{
	struct events *ev = arg;
	lua_State *L = ev->L;

	lua_createtable(L, 0, 6);
	lua_pushstring(L, e->op);
	lua_setfield(L, -2, "op");
	lua_pushboolean(L, e->allowed);
	lua_setfield(L, -2, "allowed");
	if (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP)
		lua_pushstring(L, e->proto == IPPROTO_TCP ? "tcp" : "udp");
	else
		lua_pushinteger(L, e->proto);
	lua_setfield(L, -2, "proto");
	if (e->has_addr) {
		lua_pushstring(L, e->addr);
		lua_setfield(L, -2, "addr");
	}
	lua_pushinteger(L, e->port);
	lua_setfield(L, -2, "port");
	lua_pushinteger(L, (lua_Integer)e->count);
	lua_setfield(L, -2, "count");
	lua_rawseti(L, -2, ++ev->n);
}

/* filter:events() -> { {op, allowed, proto, addr, port, count}, ... } | nil, msg, errno */
static int l_net_filter_events(lua_State *L)
{
	struct net_filter *f = luaL_checkudata(L, 1, NET_FILTER_MT);
	struct events ev = { L, 0 };
	int r;

	if (f->map < 0)
		return luaL_error(L, "attempt to use a closed net filter");
	lua_newtable(L);
	r = net_filter_events(f->map, push_event, &ev);
	if (r < 0)
		return pl_fail(L, -r, "read BPF audit map");
	return 1;
}

static int l_net_filter_close(lua_State *L)
{
	struct net_filter *f = luaL_checkudata(L, 1, NET_FILTER_MT);

	if (f->map >= 0)
		close(f->map);
	f->map = -1;
	return 0;
}

/* core.landlock_abi() -> the kernel's Landlock ABI version, 0 when unavailable */
static int l_landlock_abi(lua_State *L)
{
	lua_pushinteger(L, landlock_abi());
	return 1;
}

void pl_open_net(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "events", l_net_filter_events }, { "close", l_net_filter_close }, { NULL, NULL },
	};

	luaL_newmetatable(L, NET_FILTER_MT);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_net_filter_close);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, l_net_filter_close);
	lua_setfield(L, -2, "__close");
	lua_pop(L, 1);

	lua_pushcfunction(L, l_net_filter_attach);
	lua_setfield(L, -2, "net_filter_attach");
	lua_pushcfunction(L, l_landlock_abi);
	lua_setfield(L, -2, "landlock_abi");
}
