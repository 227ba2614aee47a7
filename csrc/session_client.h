/* The client side of the session protocol (session_proto.h), shared by `purple exec`
 * (csrc/launcher/exec_client.c) and the Lua API (csrc/lua/session.c: session:exec). */
#ifndef PURPLE_SESSION_CLIENT_H
#define PURPLE_SESSION_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "session_proto.h"

/* A connected socket to the session at path, or -errno. */
int session_connect(const char *path);

/* Sends one EXEC request with fds (stdin, stdout, stderr). 0 or -errno (-E2BIG: over the frame bound). */
int session_send_exec(int fd, uint32_t flags, uint32_t timeout_ms, const char *cwd, char *const argv[], size_t argc,
		      char *const env[], size_t envc, const int fds[3]);

/* Sends a signal for the command. */
void session_send_signal(int fd, int sig);

/* Reads the RESULT frame into buf (4096 bytes, *got so far; non-blocking reads): 1 when complete
 * (*status and msg set), 0 for more, -1 when the connection broke. */
int session_read_result(int fd, char *buf, size_t *got, int *status, char *msg, size_t mn);

/* From a complete RESULT frame in buf (session_read_result returned 1): the command's number, and 1
 * with *u set when the command ran and was reaped, else 0. */
int session_result_usage(const char *buf, uint32_t *command, struct session_usage *u);

#endif
