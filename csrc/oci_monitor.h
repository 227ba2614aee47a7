/* The violation monitor of a purple-oci container (oci_monitor.c; docs/oci.md, Audit). */
#ifndef PURPLE_OCI_MONITOR_H
#define PURPLE_OCI_MONITOR_H

#include <stddef.h>
#include <sys/types.h>

struct oci_monitor_cfg {
	int ctl;                  /* init's control socket: the listener comes with CTL_STARTED (create); -1: none */
	int listener;             /* the seccomp listener, when the caller holds it already (exec); -1: none */
	int answer_errno;         /* what every notified call fails with (EPERM: the kernel-only layer's) */
	const char *session;      /* the container id (the audit records' session) */
	const char *profile;      /* the purple profile's name */
	const char *log_path;     /* purple-oci's --log FILE, or NULL */
	int log_json;             /* --log-format json */
	const char *audit_path;   /* the profile's audit log when it records syscall_violation, or NULL */
	const char *const *calls; /* calls[nr]: "name\thint\treason", NULL for a call never notified */
	size_t ncalls;
};

/* Forks the monitor: it keeps copies of ctl and listener (the caller closes its own), answers every
 * notification with answer_errno and reports it once per call and process; it ends when the listener
 * reports that no process uses the filter any more, or when init is gone before handing one over.
 * Its pid, or -errno. */
pid_t oci_monitor_start(const struct oci_monitor_cfg *c);

#endif
