-- purple doctor [--json]: which kernel features purple can use here, as the invoking user, what each
-- one is needed for, and the exact fix for what is missing. Every check asks the running kernel
-- (a real unshare, seccomp and Landlock query, the cgroup mounts). Exit status 0 when purple can
-- run a sandbox (the required checks pass), 1 otherwise.
local core = require "purple.core"
local json = require "purple.json"
local args = require "purple.cli.args"

local M = {}

local read = require("purple.files").read

local function trim(s) return s and (s:gsub("%s+$", "")) end

local SECCOMP_FIX = "purple runs under a seccomp filter (a container or another sandbox) that forbids "
  .. "unshare/clone with namespace flags: run purple outside it, or allow those calls there"

-- The fix when unsharing a user namespace fails, from the sysctls that commonly forbid it.
local function userns_fix()
  if core.probe_seccomp().mode == 2 then return SECCOMP_FIX end
  local fixes = {}
  local max = tonumber(trim(read("/proc/sys/user/max_user_namespaces")))
  if max == 0 then fixes[#fixes + 1] = "sysctl -w user.max_user_namespaces=15000" end
  if trim(read("/proc/sys/kernel/unprivileged_userns_clone")) == "0" then
    fixes[#fixes + 1] = "sysctl -w kernel.unprivileged_userns_clone=1"
  end
  if trim(read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")) == "1" then
    fixes[#fixes + 1] = "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile "
      .. "allowing userns for purple)"
  end
  if #fixes == 0 then
    return "a kernel built with CONFIG_USER_NS=y; inside a container, allow unshare(CLONE_NEWUSER) "
      .. "(seccomp profile) or run purple on the host"
  end
  return table.concat(fixes, "; ") .. " (persist it in /etc/sysctl.d/)"
end

local NAMESPACES = {
  { "pid", "pid", "every run: the sandbox's own process tree (its init is pid 1)", "CONFIG_PID_NS=y" },
  { "mount", "mount", "every run: filesystem.* (the sandbox's own mount tree)", "CONFIG_NAMESPACES=y" },
  { "net", "net", "network.isolated, network.allow_outgoing/allow_incoming (a network namespace)",
    "CONFIG_NET_NS=y" },
  { "ipc", "ipc", "every run: private System V IPC and POSIX message queues", "CONFIG_IPC_NS=y" },
  { "uts", "uts", "every run: the sandbox's hostname", "CONFIG_UTS_NS=y" },
  { "cgroup", "cgroup", "every run: the sandbox sees only its own cgroup", "CONFIG_CGROUPS=y" },
}

local CGROUP_FIELDS = {
  cpu = "resources.cpu_shares", memory = "resources.memory_limit_bytes", pids = "resources.pids_limit",
  io = "resources.block_io_limit",
}

local function checks()
  local uid = core.ids()
  local list = {}
  local function add(c) list[#list + 1] = c end

  local rel = trim(read("/proc/sys/kernel/osrelease")) or "?"
  local major, minor = rel:match("^(%d+)%.(%d+)")
  local new_enough = major and (tonumber(major) > 5 or (tonumber(major) == 5 and tonumber(minor) >= 12))
  add({ name = "kernel", ok = new_enough == true, required = true, detail = "Linux " .. rel,
    needed_for = "every run (the new mount API with mount_setattr, pidfd, openat2, close_range: Linux 5.12)",
    fix = "run purple on Linux 5.12 or later" })

  local ok, err = core.probe_unshare("user")
  add({ name = "user namespace", ok = ok == true, required = true, detail = ok and "unshare works" or err,
    needed_for = "every run: the sandbox's ids (user.uid/gid) and unprivileged mounts", fix = userns_fix() })
  for _, ns in ipairs(NAMESPACES) do
    local nok, nerr = core.probe_unshare("user," .. ns[2])
    -- Each probe includes a user namespace, as purple's clone does: without one, fix that first.
    add({ name = ns[1] .. " namespace", ok = nok == true, required = true, detail = nok and "unshare works" or nerr,
      needed_for = ns[3], fix = ok and ("a kernel built with " .. ns[4]) or "fix the user namespace first (above)" })
  end
  if uid == 0 then
    local uok, uerr = core.probe_unshare("user", 65534)
    add({ name = "unprivileged user namespaces", ok = uok == true, required = false,
      detail = uok and "uid 65534 can unshare a user namespace" or uerr,
      needed_for = "purple run by users other than root", fix = userns_fix() })
  end

  local sc = core.probe_seccomp()
  add({ name = "seccomp filter", ok = sc.filter, required = false,
    detail = sc.filter and "SECCOMP_RET_KILL_PROCESS available" or "seccomp(2) filters unavailable",
    needed_for = "syscalls.allow / syscalls.deny / syscalls.default_deny",
    fix = "a kernel built with CONFIG_SECCOMP=y and CONFIG_SECCOMP_FILTER=y" })
  add({ name = "seccomp user notification", ok = sc.user_notif, required = false,
    detail = sc.user_notif and "SECCOMP_RET_USER_NOTIF available" or "SECCOMP_RET_USER_NOTIF unavailable",
    needed_for = "syscall_violation audit records (which syscall a denied call was)",
    fix = "Linux 5.0 or later with CONFIG_SECCOMP_FILTER=y" })

  local abi, lerr = core.probe_landlock()
  add({ name = "landlock", ok = (abi or 0) >= 6, required = false,
    detail = abi and ("ABI " .. abi) or lerr,
    needed_for = "network.allow_outgoing / network.allow_incoming port rules (TCP rules: ABI 4, "
      .. "scoping: ABI 6)",
    fix = abi and "Linux 6.12 or later for Landlock ABI 6"
      or "a kernel built with CONFIG_SECURITY_LANDLOCK=y and \"landlock\" in the lsm= boot parameter" })

  local has_cg, cgroup = pcall(require, "purple.cgroup")
  if has_cg and cgroup.describe then
    local d = cgroup.describe()
    add({ name = "cgroups", ok = d.mode ~= nil and d.mode ~= "none", required = false,
      detail = ("mode %s%s"):format(tostring(d.mode), d.v2 and (", v2 at " .. d.v2) or ""),
      needed_for = "resources.* limits and purple ps usage",
      fix = "mount cgroup2 at /sys/fs/cgroup (systemd.unified_cgroup_hierarchy=1)" })
    for _, c in ipairs(cgroup.CONTROLLERS or { "cpu", "memory", "pids", "io" }) do
      local i = d.controllers[c] or {}
      add({ name = c .. " controller", ok = i.usable == true, required = false,
        detail = i.usable and ("%s, under %s"):format(tostring(i.hierarchy), tostring(i.parent)) or tostring(i.why),
        needed_for = CGROUP_FIELDS[c] or ("resources (" .. c .. ")"), fix = i.fix or "" })
    end
  else
    add({ name = "cgroups", ok = false, required = false, detail = "purple.cgroup is not available in this build",
      needed_for = "resources.* limits", fix = "install purple's cgroup module" })
  end
  return list
end

function M.parser()
  local p = args.parser("purple doctor", "Checks the kernel features purple needs, as the invoking user: what "
    .. "each is for and the fix for what is missing. Exit status 0 when purple can run a sandbox here, 1 "
    .. "otherwise.")
  p:flag("--json", "Print the checks as JSON.")
  return p
end

function M.run(opts)
  local as_json = opts.json
  local list = checks()
  local can_run = true
  for _, c in ipairs(list) do
    if c.required and not c.ok then can_run = false end
  end
  if as_json then
    io.stdout:write(json.encode({ can_run = can_run, uid = (core.ids()), checks = list }), "\n")
  else
    io.stdout:write(("purple doctor (uid %d)\n"):format((core.ids())))
    for _, c in ipairs(list) do
      local mark = c.ok and "ok  " or (c.required and "FAIL" or "warn")
      io.stdout:write(("  %s  %-30s %s\n"):format(mark, c.name, c.detail))
      io.stdout:write(("        for: %s\n"):format(c.needed_for))
      if not c.ok then io.stdout:write(("        fix: %s\n"):format(c.fix)) end
    end
    io.stdout:write(can_run and "purple can run sandboxes here\n"
      or "purple cannot run sandboxes here: fix the FAIL lines above\n")
  end
  return can_run and 0 or 1
end

return M
