/* The session wire protocol: `purple exec` (client) <-> supervisor (unix stream socket in the
 * runtime directory), and supervisor <-> session agent (a stream socketpair into the sandbox).
 * Every frame is a fixed header followed by len payload bytes; fds ride on the header (SCM_RIGHTS).
 * Sizes are bounded: a frame over SESSION_MAX_FRAME, a bad magic/version or type closes that
 * connection (the session keeps running). docs/sessions.md describes the frames. */
#ifndef PURPLE_SESSION_PROTO_H
#define PURPLE_SESSION_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SESSION_MAGIC 0x70727032u /* "ppr2": protocol version 2 (1 had no usage in STATUS and RESULT) */
#define SESSION_MAX_FRAME (4u << 20) /* more than any execve can take (ARG_MAX is stack/4) */
#define SESSION_MAX_STRINGS (1u << 21) /* each at least its NUL: the frame bound binds first */

struct session_hdr {
	uint32_t magic;
	uint32_t type;
	uint32_t len; /* payload bytes after the header */
	uint32_t id;  /* command number within the session (supervisor <-> agent); 0 from the client */
};

enum session_type {
	/* client -> supervisor -> agent: struct session_exec + strings, fds 0,1,2 attached */
	SESSION_EXEC = 1,
	/* client -> supervisor -> agent: uint32_t signal number for the command's process group */
	SESSION_SIGNAL,
	/* agent -> supervisor: struct session_status */
	SESSION_STATUS,
	/* supervisor -> client: struct session_result + message text */
	SESSION_RESULT,
};

#define SESSION_EXEC_TTY 1u /* fds are a pty slave: new session, controlling terminal */

struct session_exec {
	uint32_t flags;
	uint32_t timeout_ms; /* 0 = none; enforced by the supervisor */
	uint32_t argc, envc;
	/* then NUL-terminated strings: cwd ("" = the session's), argv[argc], env[envc] (K=V) */
};

enum session_status_kind {
	SESSION_ST_EXITED = 1, /* value = wait status */
	SESSION_ST_EXEC_ERROR, /* value = errno of execve: 127 when ENOENT, else 126 */
	SESSION_ST_CWD_ERROR,  /* value = errno of chdir: 125 */
	SESSION_ST_REFUSED,    /* value = errno: the agent could not start it (125) */
};

/* What one command used, as the agent's wait4 reports it for the command's process: its CPU time
 * and that of the descendants it waited for (not of those it left running, or that were reaped by
 * the session's init), and the largest RSS among them (for a process started with vfork, as
 * commands are and as shells start theirs, at least its parent's RSS at the fork: the kernel
 * counts the address space the child had before execve). Wall time is the agent's, from the fork
 * to the reap. */
struct session_usage {
	uint64_t wall_us;
	uint64_t user_us, sys_us; /* ru_utime, ru_stime */
	uint64_t maxrss_kib;      /* ru_maxrss */
};

struct session_status {
	uint32_t kind;
	int32_t value;
	struct session_usage usage; /* kind SESSION_ST_EXITED; zero otherwise */
};

#define SESSION_RESULT_USAGE 1u /* usage is set: the command ran and was reaped */

struct session_result {
	int32_t status; /* the exit status `purple exec` returns */
	int32_t err;
	uint32_t command; /* the command's number in the session (0: none was started) */
	uint32_t flags;
	struct session_usage usage;
	/* then message text (may be empty), printed by the client as one line */
};

/* Decoding, as pure functions over bytes already received (session_proto.c; fuzzed by
 * spec/fuzz/fuzz_session_proto.c). */

/* A frame header: 0, -EPROTO for a bad magic (another protocol version), -E2BIG over SESSION_MAX_FRAME. */
int session_hdr_check(const struct session_hdr *h);

/* An EXEC payload's fixed part into *ex: 0, or -EINVAL when it is short, argc is 0 or a count is
 * over SESSION_MAX_STRINGS. */
int session_exec_header(const char *p, size_t len, struct session_exec *ex);

/* The NUL-terminated string at *off of p[0..len) into *s, *off moved past its NUL: 0, or -EINVAL
 * when no NUL ends it within len. */
int session_exec_next(const char *p, size_t len, size_t *off, const char **s);

/* A complete EXEC payload as the supervisor accepts it: the header valid, no unknown flag, every
 * string within bounds and nothing after the last, cwd absolute or empty, argv[0] not empty, env
 * entries K=V. 0 with argv[0] copied to argv0 (n bytes, truncated), or -EINVAL. */
int session_exec_check(const char *p, size_t len, char *argv0, size_t n);

/* A RESULT frame in buf[0..got): 1 when complete (*status, msg of mn bytes set), 0 when more is
 * needed, -1 when it is not a RESULT frame of at most cap bytes in all. */
int session_result_decode(const char *buf, size_t got, size_t cap, int *status, char *msg, size_t mn);

#endif
