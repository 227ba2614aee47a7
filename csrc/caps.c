/* Capabilities (libcap): the bounding (unless drop_caps is false), inheritable, permitted, effective
 * and ambient sets are cleared except the kept names, which reach a non-root command through the
 * ambient set.
 * Securebits are locked so that nothing inside can regain what was dropped. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <ctype.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <linux/securebits.h>

#include "spawn.h"

int cap_by_name(const char *name)
{
	char buf[64];
	cap_value_t v;
	size_t i;

	if (strncasecmp(name, "CAP_", 4) == 0)
		name += 4;
	for (i = 0; name[i] && i + 5 < sizeof buf; i++)
		buf[i + 4] = (char)tolower((unsigned char)name[i]);
	if (name[i] || i == 0)
		return -1;
	memcpy(buf, "cap_", 4);
	buf[i + 4] = 0;
	if (cap_from_name(buf, &v) < 0 || v < 0 || v >= 64)
		return -1;
	return (int)v;
}

static int kept(const struct spawn_cfg *c, int cap)
{
	for (size_t i = 0; i < c->ncaps; i++)
		if (c->caps[i] == cap)
			return 1;
	return 0;
}

static int set_sets(const struct spawn_cfg *c, int keep_all_permitted)
{
	cap_t caps = cap_init();
	int r;

	if (!caps)
		return -1;
	for (cap_value_t i = 0; i < (cap_value_t)cap_max_bits(); i++) {
		if (kept(c, i) || keep_all_permitted)
			cap_set_flag(caps, CAP_PERMITTED, 1, &i, CAP_SET), cap_set_flag(caps, CAP_EFFECTIVE, 1, &i, CAP_SET);
		if (kept(c, i))
			cap_set_flag(caps, CAP_INHERITABLE, 1, &i, CAP_SET);
	}
	r = cap_set_proc(caps);
	cap_free(caps);
	return r;
}

int caps_drop(const struct spawn_cfg *c, char *what, size_t n)
{
	const unsigned long secbits = SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
				      SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
				      SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

	/* default_drop false keeps the bounding set; the other sets, the ambient capabilities of
	 * capabilities.add and the securebits are the same either way. */
	for (int i = 0; c->drop_caps && i < (int)cap_max_bits(); i++)
		if (!kept(c, i) && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL) {
			snprintf(what, n, "drop bounding capability %d", i);
			return -errno;
		}
	/* Inheritable first: the ambient set can only hold what is permitted and inheritable. */
	if (set_sets(c, 1) < 0) {
		snprintf(what, n, "set capabilities");
		return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		snprintf(what, n, "clear ambient capabilities");
		return -errno;
	}
	for (size_t i = 0; i < c->ncaps; i++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c->caps[i], 0, 0) < 0) {
			snprintf(what, n, "raise ambient capability %d", c->caps[i]);
			return -errno;
		}
	if (prctl(PR_SET_SECUREBITS, secbits, 0, 0, 0) < 0) {
		snprintf(what, n, "lock securebits");
		return -errno;
	}
	if (set_sets(c, 0) < 0) {
		snprintf(what, n, "drop capabilities");
		return -errno;
	}
	return 0;
}

int caps_raise_effective(char *what, size_t n)
{
	cap_t caps = cap_get_proc();
	int r = 0;

	if (!caps) {
		snprintf(what, n, "cap_get_proc");
		return -errno;
	}
	for (cap_value_t i = 0; i < (cap_value_t)cap_max_bits(); i++) {
		cap_flag_value_t v;

		if (cap_get_flag(caps, i, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
			cap_set_flag(caps, CAP_EFFECTIVE, 1, &i, CAP_SET);
	}
	if (cap_set_proc(caps) < 0) {
		r = -errno;
		snprintf(what, n, "raise capabilities after set ids");
	}
	cap_free(caps);
	return r;
}

/* An OCI process's five capability sets as given (no securebits: a root command gets what execve
 * grants root from the bounding set, as under runc). Runs where caps_drop would. */
int caps_apply_sets(const struct spawn_cfg *c, char *what, size_t n)
{
	cap_t caps;
	int r;

	for (int i = 0; i < (int)cap_max_bits(); i++)
		if (!(c->cap_bounding >> i & 1) && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL) {
			snprintf(what, n, "drop bounding capability %d", i);
			return -errno;
		}
	caps = cap_init();
	if (!caps) {
		snprintf(what, n, "cap_init");
		return -errno;
	}
	for (cap_value_t i = 0; i < (cap_value_t)cap_max_bits(); i++) {
		if (c->cap_permitted >> i & 1)
			cap_set_flag(caps, CAP_PERMITTED, 1, &i, CAP_SET);
		if ((c->cap_effective & c->cap_permitted) >> i & 1)
			cap_set_flag(caps, CAP_EFFECTIVE, 1, &i, CAP_SET);
		if (c->cap_inheritable >> i & 1)
			cap_set_flag(caps, CAP_INHERITABLE, 1, &i, CAP_SET);
	}
	r = cap_set_proc(caps);
	cap_free(caps);
	if (r < 0) {
		snprintf(what, n, "set capabilities");
		return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		snprintf(what, n, "clear ambient capabilities");
		return -errno;
	}
	for (int i = 0; i < (int)cap_max_bits(); i++)
		if ((c->cap_ambient >> i & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0) {
			snprintf(what, n, "raise ambient capability %d", i);
			return -errno;
		}
	return 0;
}
