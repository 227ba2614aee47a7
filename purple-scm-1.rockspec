package = "purple"
version = "scm-1"
source = { url = "git+file:///dev/null" }
description = {
  summary = "A Lua-scriptable Linux sandbox for AI agents",
  detailed = "purple runs commands in user, mount, pid, ipc, uts and network namespaces with seccomp, "
    .. "capabilities, cgroup limits and an audit log, driven by Lua or YAML policies.",
  license = "MIT",
}
-- lyaml comes from Debian (lua-yaml); build with: luarocks --lua-version 5.4 make --deps-mode=none
dependencies = { "lua >= 5.4, < 5.5" }
external_dependencies = {
  LIBSECCOMP = { header = "seccomp.h" },
  LIBCAP = { header = "sys/capability.h" },
}
build = {
  type = "make",
  build_variables = {
    LUA_INCDIR = "$(LUA_INCDIR)",
    CFLAGS = "$(CFLAGS)",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_LIBDIR = "$(LIBDIR)",
    LUA_SHAREDIR = "$(LUADIR)",
    BINDIR = "$(BINDIR)",
    -- the rock's own conf dir: a rock install writes nothing to the host's /etc
    SYSCONFDIR = "$(CONFDIR)",
    UNITDIR = "$(PREFIX)/lib/systemd/system",
  },
}
