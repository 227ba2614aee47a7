/* Shared declarations of the purple.core C module. */
#ifndef PURPLE_H
#define PURPLE_H

#include <stddef.h>
#include <sys/types.h>
#include <lua.h>
#include <lauxlib.h>

/* Lua results: OS failures give the fail triple nil, "op path: strerror", errno. */
int pl_fail(lua_State *L, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int pl_ok(lua_State *L, int r, int err, const char *what);

/* Table field readers for option tables; each raises on a wrong type. */
const char *pl_field_str(lua_State *L, int t, const char *k, const char *def);
lua_Integer pl_field_int(lua_State *L, int t, const char *k, lua_Integer def);
int pl_field_bool(lua_State *L, int t, const char *k, int def);
void pl_check_fields(lua_State *L, int t, const char *const names[], const char *what);

/* code, or signal and core_dumped, of a wait status into the table on top of the stack */
void pl_push_wait_status(lua_State *L, int status);

/* Flags given as readable strings, e.g. "user,mount,pid". */
int pl_ns_flags(lua_State *L, const char *spec, int *out);

/* Small helpers that only the child after clone uses: they never allocate. */
int write_file_at(int dirfd, const char *path, const char *data, size_t len);

/* Registration of each concern's Lua functions into the module table. */
void pl_open_spawn(lua_State *L);
void pl_open_primitives(lua_State *L);
void pl_open_names(lua_State *L);
void pl_open_seccomp(lua_State *L);
void pl_open_cgroupfs(lua_State *L);
void pl_open_sha256(lua_State *L);
void pl_open_audit_log(lua_State *L);
void pl_open_file_tree(lua_State *L);
void pl_open_probe(lua_State *L);
void pl_open_net(lua_State *L);
void pl_open_ns_primitives(lua_State *L);
void pl_open_net_notify(lua_State *L);
void pl_open_session(lua_State *L); /* csrc/lua/session.c */

/* Network notification helpers (net_notify.c): a field of /proc/PID/status, a pidfd of thread tid
 * (-errno on failure), and a sockaddr's family name ("inet", "inet6"; NULL for other families)
 * with its address text and port. */
struct sockaddr_storage;
int pl_proc_status(pid_t pid, const char *key, int base, int *out);
int pl_pidfd_thread(pid_t tid);
const char *pl_sockaddr_describe(const struct sockaddr_storage *ss, char *addr, size_t n, int *port);
void pl_open_net_perform(lua_State *L);

/* SHA-256 (sha256.c): the audit log's digests of policies and produced files. */
struct pl_sha256 {
	unsigned int h[8];
	unsigned long long len;
	unsigned char buf[64];
	size_t used;
};
void pl_sha256_init(struct pl_sha256 *s);
void pl_sha256_update(struct pl_sha256 *s, const void *data, size_t n);
void pl_sha256_hex(struct pl_sha256 *s, char out[65]);
int pl_sha256_fd(int fd, char out[65]);

#define PL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
