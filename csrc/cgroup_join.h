/* How the sandbox's init joins the cgroups of spawn's cgroup_procs (see cgroup_join.c). */
#ifndef PURPLE_CGROUP_JOIN_H
#define PURPLE_CGROUP_JOIN_H

#include <stddef.h>
#include <sys/types.h>

#include "spawn.h"

#define CGROUP_JOIN_MAX 16

enum cgroup_join_how { CG_JOIN_PARENT, CG_JOIN_SELF, CG_JOIN_CLONE };

struct cgroup_join {
	enum cgroup_join_how how[CGROUP_JOIN_MAX];
	int clone_fd;  /* the v2 cgroup to clone into (CLONE_INTO_CGROUP), -1 for none */
};

/* Parent, before clone: decide per cgroup; opens clone_fd. */
void cgroup_join_plan(const struct spawn_cfg *c, struct cgroup_join *j);
/* The clone into clone_fd failed: join that cgroup from the parent instead. */
void cgroup_join_no_clone(const struct spawn_cfg *c, struct cgroup_join *j);
/* Parent, after clone: the cgroups left to it (written as pid). */
int cgroup_join_parent(const struct spawn_cfg *c, const struct cgroup_join *j, pid_t pid, char *what, size_t n);
/* Init, before it changes ids or forks: moves itself into the v1 cgroups. */
int cgroup_join_self(const struct spawn_cfg *c, const struct cgroup_join *j, char *what, size_t n);
void cgroup_join_close(struct cgroup_join *j);

#endif
