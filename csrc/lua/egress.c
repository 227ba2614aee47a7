/* Bindings of the egress proxy (csrc/egress_proxy.c) and its name and CIDR checks, for
 * lua/purple/enforce/egress.lua. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "egress.h"
#include "lspawn.h"

#define PROXY_MT "purple.egress"

struct proxy_ud {
	struct egress_proxy *p;
};

/* core.egress_valid_pattern(s) -> true | false: a name or "*.name" (network.allow_domains) */
static int l_valid_pattern(lua_State *L)
{
	lua_pushboolean(L, egress_pattern_valid(luaL_checkstring(L, 1)) == 0);
	return 1;
}

/* core.egress_valid_cidr(s) -> true | false (network.allow_internal) */
static int l_valid_cidr(lua_State *L)
{
	struct egress_cidr c;

	lua_pushboolean(L, egress_cidr_parse(luaL_checkstring(L, 1), &c) == 0);
	return 1;
}

static size_t list_len(lua_State *L, int t, const char *k)
{
	size_t n;

	if (lua_getfield(L, t, k) != LUA_TTABLE)
		luaL_error(L, "egress_start: %s must be a list", k);
	n = lua_rawlen(L, -1);
	lua_pop(L, 1);
	return n;
}

static const char *const start_fields[] = {
	"domains", "ports", "internal", "hosts_file", "handshake_ms", "idle_ms", "max_conns", NULL,
};

/* core.egress_start(sandbox, { domains, ports, internal, hosts_file?, handshake_ms, idle_ms,
 * max_conns }) -> proxy | nil, "egress proxy: why", errno. Takes the sandbox's egress listeners. */
static int l_start(lua_State *L)
{
	struct egress_config cfg;
	size_t nd, np, ni;
	const char **domains;
	unsigned *ports;
	struct egress_cidr *cidrs;
	struct proxy_ud *u;
	int fds[2], r;

	luaL_checktype(L, 2, LUA_TTABLE);
	pl_check_fields(L, 2, start_fields, "egress_start");
	memset(&cfg, 0, sizeof cfg);
	nd = list_len(L, 2, "domains");
	np = list_len(L, 2, "ports");
	ni = list_len(L, 2, "internal");
	domains = lua_newuserdatauv(L, (nd + 1) * sizeof *domains, 0); /* freed by Lua's GC */
	ports = lua_newuserdatauv(L, (np + 1) * sizeof *ports, 0);
	cidrs = lua_newuserdatauv(L, (ni + 1) * sizeof *cidrs, 0);
	lua_getfield(L, 2, "domains");
	for (size_t i = 0; i < nd; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		domains[i] = luaL_checkstring(L, -1);
		if (egress_pattern_valid(domains[i]) < 0)
			luaL_error(L, "egress_start: bad domain pattern %s", domains[i]);
		lua_pop(L, 1); /* the string stays referenced by the table */
	}
	lua_pop(L, 1);
	lua_getfield(L, 2, "ports");
	for (size_t i = 0; i < np; i++) {
		lua_Integer v = (lua_rawgeti(L, -1, (lua_Integer)i + 1), luaL_checkinteger(L, -1));

		if (v < 1 || v > 65535)
			luaL_error(L, "egress_start: bad port");
		ports[i] = (unsigned)v;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	lua_getfield(L, 2, "internal");
	for (size_t i = 0; i < ni; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		if (egress_cidr_parse(luaL_checkstring(L, -1), &cidrs[i]) < 0)
			luaL_error(L, "egress_start: bad CIDR %s", lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	cfg.pol = (struct egress_policy){ domains, nd, ports, np, cidrs, ni };
	cfg.hosts_file = pl_field_str(L, 2, "hosts_file", NULL);
	cfg.handshake_ms = (int)pl_field_int(L, 2, "handshake_ms", 10000);
	cfg.idle_ms = (int)pl_field_int(L, 2, "idle_ms", 300000);
	cfg.max_conns = (int)pl_field_int(L, 2, "max_conns", 1000);
	if (cfg.handshake_ms < 1 || cfg.idle_ms < 1 || cfg.max_conns < 1)
		luaL_error(L, "egress_start: handshake_ms, idle_ms and max_conns must be above 0");
	if (!sandbox_take_egress(L, 1, fds))
		return pl_fail(L, ENOENT, "egress proxy: the sandbox has no egress listeners");
	cfg.http_fd = fds[0];
	cfg.socks_fd = fds[1];
	u = lua_newuserdatauv(L, sizeof *u, 0);
	u->p = NULL;
	luaL_setmetatable(L, PROXY_MT);
	if ((r = egress_start(&cfg, &u->p)) < 0) {
		close(fds[0]);
		close(fds[1]);
		return pl_fail(L, -r, "egress proxy: start");
	}
	return 1;
}

static struct proxy_ud *check_open(lua_State *L)
{
	struct proxy_ud *u = luaL_checkudata(L, 1, PROXY_MT);

	if (!u->p)
		luaL_error(L, "attempt to use a closed egress proxy");
	return u;
}

/* proxy:events() -> { {allowed, via, name, addr, port, reason, up, down, duration}... }, dropped */
static int l_events(lua_State *L)
{
	struct proxy_ud *u = check_open(L);
	struct egress_event ev[64];
	unsigned long long dropped, total = 0;
	size_t n;
	lua_Integer k = 0;

	lua_newtable(L);
	do {
		n = egress_drain(u->p, ev, 64, &dropped);
		total += dropped;
		for (size_t i = 0; i < n; i++) {
			const struct egress_event *e = &ev[i];

			lua_createtable(L, 0, 9);
			lua_pushboolean(L, e->allowed);
			lua_setfield(L, -2, "allowed");
			lua_pushstring(L, e->via);
			lua_setfield(L, -2, "via");
			lua_pushstring(L, e->name);
			lua_setfield(L, -2, "name");
			if (e->addr[0]) {
				lua_pushstring(L, e->addr);
				lua_setfield(L, -2, "addr");
			}
			lua_pushinteger(L, e->port);
			lua_setfield(L, -2, "port");
			if (e->reason[0]) {
				lua_pushstring(L, e->reason);
				lua_setfield(L, -2, "reason");
			}
			lua_pushinteger(L, (lua_Integer)e->up);
			lua_setfield(L, -2, "bytes_out");
			lua_pushinteger(L, (lua_Integer)e->down);
			lua_setfield(L, -2, "bytes_in");
			lua_pushnumber(L, (lua_Number)e->duration_us / 1e6);
			lua_setfield(L, -2, "duration");
			lua_rawseti(L, -2, ++k);
		}
	} while (n == 64);
	lua_pushinteger(L, (lua_Integer)total);
	return 2;
}

/* proxy:open() -> connections open now */
static int l_open(lua_State *L)
{
	lua_pushinteger(L, egress_open_count(check_open(L)->p));
	return 1;
}

/* proxy:close(): stops the relay thread and closes every connection (recorded; read them with
 * events() before). Safe to call twice; also __gc and __close. */
static int l_close(lua_State *L)
{
	struct proxy_ud *u = luaL_checkudata(L, 1, PROXY_MT);

	if (u->p) {
		egress_stop(u->p);
	}
	return 0;
}

static int l_gc(lua_State *L)
{
	struct proxy_ud *u = luaL_checkudata(L, 1, PROXY_MT);

	if (u->p) {
		egress_free(u->p);
		u->p = NULL;
	}
	return 0;
}

/* proxy:stop() then events still readable; proxy:free() releases it. */
void pl_open_egress(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "events", l_events }, { "open", l_open }, { "stop", l_close }, { "close", l_gc }, { NULL, NULL },
	};
	static const luaL_Reg funcs[] = {
		{ "egress_start", l_start }, { "egress_valid_pattern", l_valid_pattern },
		{ "egress_valid_cidr", l_valid_cidr }, { NULL, NULL },
	};

	if (luaL_newmetatable(L, PROXY_MT)) {
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_gc);
		lua_setfield(L, -2, "__close");
	}
	lua_pop(L, 1);
	luaL_setfuncs(L, funcs, 0);
}
