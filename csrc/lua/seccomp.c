/* Lua binding of seccomp.c and seccomp_emit.c: the rule table lua/purple/seccomp.lua builds from a
 * policy → struct pl_seccomp_rule, and the program bytes (core.spawn's spec.seccomp) back;
 * core.seccomp_eval runs a program over one call (i386, x32: calls the kernel cannot make here). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include "lpurple.h"
#include "seccomp_filter.h"

/* An action: "allow", "kill" (the whole process, SIGSYS), "notify" (the supervisor decides),
 * "log", or an integer errno. */
static uint32_t check_action(lua_State *L, int idx, const char *what)
{
	if (lua_type(L, idx) == LUA_TNUMBER) {
		lua_Integer e = luaL_checkinteger(L, idx);

		if (e < 0 || e > 4095)
			luaL_error(L, "%s: errno %d out of range", what, (int)e);
		return SCMP_ACT_ERRNO((uint32_t)e);
	}
	const char *s = lua_tostring(L, idx);

	if (s && strcmp(s, "allow") == 0)
		return SCMP_ACT_ALLOW;
	if (s && strcmp(s, "kill") == 0)
		return SCMP_ACT_KILL_PROCESS;
	if (s && strcmp(s, "notify") == 0)
		return SCMP_ACT_NOTIFY;
	if (s && strcmp(s, "log") == 0)
		return SCMP_ACT_LOG;
	return (uint32_t)luaL_error(L, "%s: unknown action '%s' (allow, kill, notify, log or an errno number)", what,
				    s ? s : luaL_typename(L, idx));
}

static const struct {
	const char *name;
	enum scmp_compare op;
} compare_ops[] = {
	{ "eq", SCMP_CMP_EQ }, { "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT },        { "le", SCMP_CMP_LE },
	{ "gt", SCMP_CMP_GT }, { "ge", SCMP_CMP_GE }, { "masked_eq", SCMP_CMP_MASKED_EQ },
};

/* One argument comparison { index, op, value [, mask] } at the top of the stack. */
static struct scmp_arg_cmp check_arg(lua_State *L, int t)
{
	struct scmp_arg_cmp a = { 0 };
	const char *op;
	size_t i;

	luaL_checktype(L, t, LUA_TTABLE);
	lua_rawgeti(L, t, 1);
	lua_rawgeti(L, t, 2);
	lua_rawgeti(L, t, 3);
	lua_rawgeti(L, t, 4);
	a.arg = (unsigned)luaL_checkinteger(L, -4);
	op = luaL_checkstring(L, -3);
	if (a.arg > 5)
		luaL_error(L, "seccomp rule: argument index %d out of range 0..5", (int)a.arg);
	for (i = 0; i < PL_ARRAY_LEN(compare_ops); i++)
		if (strcmp(compare_ops[i].name, op) == 0)
			break;
	if (i == PL_ARRAY_LEN(compare_ops))
		luaL_error(L, "seccomp rule: unknown comparison '%s'", op);
	a.op = compare_ops[i].op;
	if (a.op == SCMP_CMP_MASKED_EQ) {
		a.datum_a = (scmp_datum_t)luaL_checkinteger(L, -1); /* mask */
		a.datum_b = (scmp_datum_t)luaL_checkinteger(L, -2);
	} else {
		a.datum_a = (scmp_datum_t)luaL_checkinteger(L, -2);
	}
	lua_pop(L, 4);
	return a;
}

/* Reads spec (at idx) into *def and a new array of *n rules (free it); raises on a malformed spec. */
static struct pl_seccomp_rule *check_rules(lua_State *L, int idx, uint32_t *def, size_t *n)
{
	struct pl_seccomp_rule *rules = NULL;
	size_t cap = 0;

	*n = 0;
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_getfield(L, idx, "default");
	*def = check_action(L, -1, "seccomp default");
	lua_pop(L, 1);
	lua_getfield(L, idx, "rules");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return NULL;
	}
	/* The array lives in a userdata so that a Lua error frees it; the caller copies nothing out. */
	int rt = lua_gettop(L);

	luaL_checktype(L, rt, LUA_TTABLE);
	cap = lua_rawlen(L, rt);
	rules = lua_newuserdatauv(L, (cap ? cap : 1) * sizeof *rules, 0);
	lua_insert(L, rt); /* keep the userdata below the rules table */
	rt++;
	for (size_t i = 1; i <= cap; i++) {
		struct pl_seccomp_rule *r = &rules[*n];
		int rule;

		lua_rawgeti(L, rt, (lua_Integer)i);
		rule = lua_gettop(L);
		luaL_checktype(L, rule, LUA_TTABLE);
		memset(r, 0, sizeof *r);
		lua_getfield(L, rule, "nr");
		r->nr = (int)luaL_checkinteger(L, -1);
		lua_getfield(L, rule, "action");
		r->action = check_action(L, -1, "seccomp rule");
		lua_getfield(L, rule, "args");
		if (!lua_isnil(L, -1)) {
			int at = lua_gettop(L);

			for (lua_Integer j = 1; lua_rawgeti(L, at, j) != LUA_TNIL; j++) {
				if (r->nargs == 6)
					luaL_error(L, "seccomp rule: more than 6 argument comparisons");
				r->args[r->nargs++] = check_arg(L, lua_gettop(L));
				lua_pop(L, 1);
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 4);
		(*n)++;
	}
	lua_pop(L, 1); /* the rules table; the userdata stays on the stack until the caller returns */
	return rules;
}

/* core.seccomp_compile{ default = ACTION, rules = { { nr = N, action = ACTION, args = { {i, op, v [, mask]} } } } }
 *   -> BPF program bytes (native architecture only; any other architecture, and x32, kills the process).
 * Rules are added in order; libseccomp orders the generated checks itself. */
static int l_seccomp_compile(lua_State *L)
{
	uint32_t def;
	size_t n, len;
	struct pl_seccomp_rule *rules = check_rules(L, 1, &def, &n);
	char what[64];
	void *bpf;
	int r = pl_seccomp_compile(def, rules, n, &bpf, &len, what, sizeof what);

	if (r < 0)
		return pl_fail(L, -r, "%s", what);
	lua_pushlstring(L, bpf, len);
	free(bpf);
	return 1;
}

/* core.seccomp_emit(spec) -> BPF program bytes: the same spec and the same decisions as
 * core.seccomp_compile, emitted by purple (csrc/seccomp_emit.c) in a fraction of the time. */
static int l_seccomp_emit(lua_State *L)
{
	uint32_t def;
	size_t n, len;
	struct pl_seccomp_rule *rules = check_rules(L, 1, &def, &n);
	struct sock_filter *prog;
	int r;

	for (size_t i = 0; i < n; i++)
		if (rules[i].nr < 0)
			luaL_error(L, "seccomp rule: syscall number %d out of range", rules[i].nr);
	r = pl_seccomp_emit(def, rules, n, &prog, &len);
	if (r < 0)
		return pl_fail(L, -r, "seccomp emit");
	lua_pushlstring(L, (const char *)prog, len * sizeof *prog);
	free(prog);
	return 1;
}

/* core.seccomp_eval(program, { nr =, arch = "x86_64"|"i386"|"x32"|AUDIT_ARCH, args = {...} })
 *   -> action ("allow", "kill", "kill_thread", "trap", "notify", "log", "errno", "trace"), data */
static int l_seccomp_eval(lua_State *L)
{
	size_t len;
	const char *prog = luaL_checklstring(L, 1, &len);
	struct seccomp_data d = { 0 };
	uint32_t ret;
	const char *arch;

	luaL_checktype(L, 2, LUA_TTABLE);
	if (len == 0 || len % sizeof(struct sock_filter))
		luaL_argerror(L, 1, "not a BPF program");
	d.nr = (int)pl_field_int(L, 2, "nr", 0);
	arch = pl_field_str(L, 2, "arch", "native");
	if (strcmp(arch, "native") == 0)
		d.arch = (uint32_t)seccomp_arch_native();
	else if (strcmp(arch, "x86_64") == 0 || strcmp(arch, "x32") == 0)
		d.arch = AUDIT_ARCH_X86_64;
	else if (strcmp(arch, "i386") == 0)
		d.arch = AUDIT_ARCH_I386;
	else if (strcmp(arch, "aarch64") == 0)
		d.arch = AUDIT_ARCH_AARCH64;
	else
		luaL_error(L, "seccomp_eval: unknown arch '%s'", arch);
	if (strcmp(arch, "x32") == 0)
		d.nr |= 0x40000000; /* __X32_SYSCALL_BIT */
	if (lua_getfield(L, 2, "args") == LUA_TTABLE)
		for (int i = 0; i < 6; i++) {
			lua_rawgeti(L, -1, i + 1);
			d.args[i] = (uint64_t)luaL_optinteger(L, -1, 0);
			lua_pop(L, 1);
		}
	lua_pop(L, 1);
	if (pl_bpf_run((const struct sock_filter *)(const void *)prog, len / sizeof(struct sock_filter), &d, &ret) < 0)
		return luaL_error(L, "seccomp_eval: invalid program");
	switch (ret & SECCOMP_RET_ACTION_FULL) {
	case SECCOMP_RET_KILL_PROCESS: lua_pushliteral(L, "kill"); break;
	case SECCOMP_RET_KILL_THREAD: lua_pushliteral(L, "kill_thread"); break;
	case SECCOMP_RET_TRAP: lua_pushliteral(L, "trap"); break;
	case SECCOMP_RET_ERRNO: lua_pushliteral(L, "errno"); break;
	case SECCOMP_RET_USER_NOTIF: lua_pushliteral(L, "notify"); break;
	case SECCOMP_RET_TRACE: lua_pushliteral(L, "trace"); break;
	case SECCOMP_RET_LOG: lua_pushliteral(L, "log"); break;
	case SECCOMP_RET_ALLOW: lua_pushliteral(L, "allow"); break;
	default: lua_pushliteral(L, "unknown"); break;
	}
	lua_pushinteger(L, ret & SECCOMP_RET_DATA);
	return 2;
}

/* core.syscall_names() -> { name, ... }: every syscall name libseccomp knows for the native arch. */
static int l_syscall_names(lua_State *L)
{
	uint32_t arch = seccomp_arch_native();
	lua_Integer n = 0;

	lua_newtable(L);
	for (int nr = 0; nr < 1024; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(arch, nr);

		if (name) {
			lua_pushstring(L, name);
			lua_rawseti(L, -2, ++n);
			free(name);
		}
	}
	return 1;
}

void pl_open_seccomp(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "seccomp_compile", l_seccomp_compile },
		{ "seccomp_emit", l_seccomp_emit },
		{ "seccomp_eval", l_seccomp_eval },
		{ "syscall_names", l_syscall_names },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
