/* Process-level steps shared by spawn.c and the primitives (process.c). */
#ifndef PURPLE_PROCESS_H
#define PURPLE_PROCESS_H

#include <sys/types.h>

#include "purple.h"

/* Writes data to /proc/PID/FILE (/proc/self/FILE when pid <= 0): id maps, setgroups. 0 or -errno. */
int write_proc(pid_t pid, const char *file, const char *data);

/* RLIMIT_* of a resources.rlimits name ("nofile"), or -1. */
int rlimit_by_name(const char *name);

#endif
