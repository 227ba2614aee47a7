/* Capability names and the child's capability drop (caps.c, libcap). */
#ifndef PURPLE_CAPS_H
#define PURPLE_CAPS_H

/* "CAP_NET_BIND_SERVICE" or "net_bind_service" → number, or -1. */
int cap_by_name(const char *name);

#endif
