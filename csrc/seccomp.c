/* Seccomp filter compilation (libseccomp). Filled in by the privilege issue. */
#include "purple.h"

void pl_open_seccomp(lua_State *L)
{
	(void)L;
}
