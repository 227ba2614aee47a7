/* Lua binding of net_perform.c: core.net_perform(sandbox, name, ev, rules). */
#include <string.h>
#include <netinet/in.h>

#include "net_perform.h"
#include "lspawn.h"

/* rules[k] = { { from, to, proto = "tcp"|"udp"|"any" }, ... } → ranges (in a userdata left on the
 * stack, freed with it); no list allows nothing. */
static struct net_ranges ranges_parse(lua_State *L, int rules, const char *k)
{
	struct net_ranges out = { NULL, 0 };
	struct net_range *r;
	size_t len;
	int t;

	lua_getfield(L, rules, k);
	if (!lua_istable(L, -1)) {
		lua_pop(L, 1);
		return out;
	}
	t = lua_gettop(L);
	len = lua_rawlen(L, t);
	r = lua_newuserdatauv(L, (len ? len : 1) * sizeof *r, 0);
	lua_insert(L, t); /* below the list, which is popped below */
	t++;
	for (size_t i = 1; i <= len; i++) {
		const char *p;
		int e;

		lua_rawgeti(L, t, (lua_Integer)i);
		e = lua_gettop(L);
		r[i - 1].from = pl_field_int(L, e, "from", -1);
		r[i - 1].to = pl_field_int(L, e, "to", r[i - 1].from);
		p = pl_field_str(L, e, "proto", "any");
		r[i - 1].proto = strcmp(p, "any") == 0 ? 0 : strcmp(p, "tcp") == 0 ? IPPROTO_TCP
			       : strcmp(p, "udp") == 0 ? IPPROTO_UDP : -1;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	out.r = r;
	out.n = len;
	return out;
}

struct notes {
	lua_State *L;
	int t;
};

/* Appends { op, proto, addr, port, allowed } to the notes list. */
static void push_note(void *arg, const struct net_note *n)
{
	struct notes *ns = arg;
	lua_State *L = ns->L;

	lua_createtable(L, 0, 5);
	lua_pushstring(L, n->op);
	lua_setfield(L, -2, "op");
	lua_pushstring(L, n->proto);
	lua_setfield(L, -2, "proto");
	if (n->addr) {
		lua_pushstring(L, n->addr);
		lua_setfield(L, -2, "addr");
	}
	if (n->port >= 0) {
		lua_pushinteger(L, n->port);
		lua_setfield(L, -2, "port");
	}
	lua_pushboolean(L, n->allowed);
	lua_setfield(L, -2, "allowed");
	lua_rawseti(L, ns->t, (lua_Integer)lua_rawlen(L, ns->t) + 1);
}

static int push_answer(lua_State *L, const char *key, long v)
{
	lua_createtable(L, 0, 1);
	if (key) {
		lua_pushinteger(L, v);
		lua_setfield(L, -2, key);
	} else {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "answered");
	}
	return 1;
}

/* core.net_perform(sandbox, name, ev, rules) -> answer, notes
 * Performs notified call `name` ("connect", "bind", "listen", "sendto", "sendmsg" or "sendmmsg") of
 * event ev ({ id, pid, args }) after checking it against rules ({ outgoing = ranges, incoming =
 * ranges }, ranges = { { from, to, proto = "tcp"|"udp"|"any" }, ... }).
 * answer: { val = n } | { error = errno } | { answered = true } (a worker thread answers later, or
 * the caller is gone). notes: { op, proto, addr, port, allowed } for each internet destination. */
static int l_net_perform(lua_State *L)
{
	void *owner;
	int listener = sandbox_listener(L, 1, &owner);
	static const char *const calls[] = { "connect", "bind", "listen", "sendto", "sendmsg", "sendmmsg", NULL };
	static const enum net_call kinds[] = { NET_CONNECT, NET_BIND, NET_LISTEN, NET_SENDTO, NET_SENDMSG,
					       NET_SENDMMSG };
	struct net_perform_call c = { .call = kinds[luaL_checkoption(L, 2, NULL, calls)] };
	struct notes notes = { L, 0 };
	long val = 0;

	luaL_checktype(L, 3, LUA_TTABLE);
	luaL_checktype(L, 4, LUA_TTABLE);
	c.pid = (pid_t)pl_field_int(L, 3, "pid", 0);
	c.id = (uint64_t)pl_field_int(L, 3, "id", 0);
	lua_getfield(L, 3, "args");
	luaL_checktype(L, -1, LUA_TTABLE);
	for (int i = 0; i < 6; i++) {
		lua_rawgeti(L, -1, i + 1);
		c.args[i] = (uint64_t)luaL_optinteger(L, -1, 0);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	c.outgoing = ranges_parse(L, 4, "outgoing");
	c.incoming = ranges_parse(L, 4, "incoming");
	lua_newtable(L);
	notes.t = lua_gettop(L);
	c.note = push_note;
	c.arg = &notes;
	switch (net_perform(listener, owner, &c, &val)) {
	case NET_NOMEM:
		return luaL_error(L, "net_perform: out of memory");
	case NET_GONE:
		lua_newtable(L);
		lua_replace(L, notes.t);
		/* fall through */
	case NET_ANSWERED:
		push_answer(L, NULL, 0);
		break;
	case NET_ERROR:
		push_answer(L, "error", val);
		break;
	case NET_VALUE:
		push_answer(L, "val", val);
		break;
	}
	lua_pushvalue(L, notes.t);
	return 2;
}

void pl_open_net_perform(lua_State *L)
{
	lua_pushcfunction(L, l_net_perform);
	lua_setfield(L, -2, "net_perform");
}
