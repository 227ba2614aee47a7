/* Seccomp user notifications: the supervisor side of SECCOMP_RET_USER_NOTIF. sandbox:poll() turns
 * each notification into a "notify" event; sandbox:respond() answers it. The listener fd never
 * reaches the sandbox (the kernel creates it close-on-exec and init hands it over before exiting
 * its copy), so nothing inside can answer its own calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include "spawn.h"

/* The kernel's structure may grow: receive into a buffer of the size it reports. */
static size_t notif_size(void)
{
	static size_t size;

	if (!size) {
		struct seccomp_notif_sizes sz = { 0 };

		size = sizeof(struct seccomp_notif);
		if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) == 0 && sz.seccomp_notif > size)
			size = sz.seccomp_notif;
	}
	return size;
}

/* Receives one notification and pushes { event = "notify", id, pid, nr, arch, name, args = {6} }.
 * Returns 1 with the table pushed, 0 when the caller should poll again (the task went away),
 * -errno on a listener failure. pid is in the supervisor's pid namespace. */
int notify_recv(lua_State *L, int fd)
{
	size_t size = notif_size();
	struct seccomp_notif *n = calloc(1, size);
	char *name;

	if (!n)
		return -ENOMEM;
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, n) < 0) {
		int err = errno;

		free(n);
		return err == ENOENT || err == EINTR ? 0 : -err;
	}
	lua_createtable(L, 0, 8);
	lua_pushliteral(L, "notify");
	lua_setfield(L, -2, "event");
	lua_pushinteger(L, (lua_Integer)n->id);
	lua_setfield(L, -2, "id");
	lua_pushinteger(L, n->pid);
	lua_setfield(L, -2, "pid");
	lua_pushinteger(L, n->data.nr);
	lua_setfield(L, -2, "nr");
	lua_pushinteger(L, n->data.arch);
	lua_setfield(L, -2, "arch");
	name = seccomp_syscall_resolve_num_arch(n->data.arch, n->data.nr);
	if (name) {
		lua_pushstring(L, name);
		lua_setfield(L, -2, "name");
		free(name);
	}
	lua_createtable(L, 6, 0);
	for (int i = 0; i < 6; i++) {
		lua_pushinteger(L, (lua_Integer)n->data.args[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setfield(L, -2, "args");
	free(n);
	return 1;
}

/* Answers notification id: continue the call (the kernel runs it), or fail it with err, or
 * return val. 0 or -errno (ENOENT: the task is gone or was interrupted — nothing to answer). */
int notify_respond(int fd, uint64_t id, int cont, int err, long long val)
{
	struct seccomp_notif_resp r = { .id = id };

	if (cont)
		r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	else if (err)
		r.error = -err;
	else
		r.val = val;
	return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &r) < 0 ? -errno : 0;
}

/* 1 while the notification's task is still waiting in the call (its pid cannot have been reused). */
int notify_valid(int fd, uint64_t id)
{
	return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}
