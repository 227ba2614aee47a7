/* cgroupfs: the one cgroup operation Lua's buffered io cannot do right. A cgroup control file
 * takes each value in a single write(2) and reports a rejected value as that write's errno,
 * which stdio would split, buffer or lose. Everything else (mkdir, rmdir, reading) uses the
 * primitives and plain Lua io. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "purple.h"

/* core.cgroup_write(path, text) -> true | nil, "write path: strerror", errno */
static int l_cgroup_write(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	size_t len;
	const char *text = luaL_checklstring(L, 2, &len);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return pl_fail(L, errno, "write %s", path);
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	err = errno;
	close(fd);
	if (n < 0)
		return pl_fail(L, err, "write %s", path);
	if ((size_t)n != len)
		return pl_fail(L, EIO, "write %s (short write)", path);
	lua_pushboolean(L, 1);
	return 1;
}

void pl_open_cgroupfs(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "cgroup_write", l_cgroup_write },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, f, 0);
}
