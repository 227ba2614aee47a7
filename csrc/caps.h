/* Capability names and the child's capability steps (caps.c, libcap). */
#ifndef PURPLE_CAPS_H
#define PURPLE_CAPS_H

#include <stddef.h>

/* "CAP_NET_BIND_SERVICE" or "net_bind_service" → number, or -1. */
int cap_by_name(const char *name);

/* Raises the effective set to the permitted one (after the uid change). 0 or -errno with what. */
int caps_raise_effective(char *what, size_t n);

#endif
