-- Named syscall groups and purple's fixed seccomp hardening, as data.
--
-- Groups (in the spirit of systemd's @system-service) are written "@name" in syscalls.allow and
-- syscalls.deny. Members are x86_64/aarch64 names; a member the running architecture does not have
-- is skipped (groups are shared across architectures), while a name written directly in a policy
-- must exist (policy.lua). `purple syscalls [GROUP]` lists them.
local M = {}

-- Members are literal lists, not parsed text: this module is loaded by every run that has a
-- syscalls section, and building the lists from strings cost ~0.25 ms of each start.
local function G(doc, names)
  names.doc = doc
  return names
end

M.groups = {
  ["default"] = G("what every program needs: exit, time, ids, futexes, signal return", {
    "arch_prctl", "clock_getres", "clock_gettime", "clock_nanosleep", "execve", "exit",
    "exit_group", "futex", "futex_waitv", "get_robust_list", "get_thread_area", "getegid",
    "geteuid", "getgid", "getgroups", "getpgid", "getpgrp", "getpid", "getppid", "getrandom",
    "getresgid", "getresuid", "getrlimit", "getsid", "gettid", "gettimeofday", "getuid",
    "membarrier", "nanosleep", "pause", "prlimit64", "restart_syscall", "rseq", "rt_sigreturn",
    "sched_getaffinity", "sched_yield", "set_robust_list", "set_thread_area", "set_tid_address",
    "time", "uname",
  }),
  ["basic-io"] = G("reading and writing open file descriptors", {
    "close", "close_range", "dup", "dup2", "dup3", "lseek", "pread64", "preadv", "preadv2",
    "pwrite64", "pwritev", "pwritev2", "read", "readv", "write", "writev",
  }),
  ["file-system"] = G("files and directories by path or descriptor", {
    "access", "chdir", "chmod", "creat", "faccessat", "faccessat2", "fadvise64", "fallocate",
    "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "chown", "lchown", "fcntl",
    "fgetxattr", "flistxattr", "flock", "fremovexattr", "fsetxattr", "fstat", "fstatfs",
    "ftruncate", "futimesat", "getcwd", "getdents", "getdents64", "getxattr", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "lgetxattr", "link", "linkat", "listxattr",
    "llistxattr", "lremovexattr", "lsetxattr", "lstat", "mkdir", "mkdirat", "mknod", "mknodat",
    "newfstatat", "open", "openat", "openat2", "readahead", "readlink", "readlinkat", "removexattr",
    "rename", "renameat", "renameat2", "rmdir", "setxattr", "stat", "statfs", "statx", "symlink",
    "symlinkat", "truncate", "umask", "unlink", "unlinkat", "utime", "utimensat", "utimes",
    "copy_file_range", "sendfile", "splice", "tee", "fanotify_mark", "name_to_handle_at",
  }),
  ["io-event"] = G("waiting for descriptors: poll, select, epoll, eventfd", {
    "_newselect", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2",
    "epoll_wait", "eventfd", "eventfd2", "poll", "ppoll", "pselect6", "select",
  }),
  ["ipc"] = G("pipes, SysV and POSIX IPC, memfd", {
    "ipc", "memfd_create", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedsend", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "pipe", "pipe2",
    "process_madvise", "semctl", "semget", "semop", "semtimedop", "shmat", "shmctl", "shmdt",
    "shmget",
  }),
  ["memory"] = G("mapping and managing memory", {
    "brk", "get_mempolicy", "madvise", "mbind", "mincore", "mlock", "mlock2", "mlockall", "mmap",
    "mprotect", "mremap", "msync", "munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "set_mempolicy",
  }),
  ["process"] = G("creating, signalling and waiting for processes and threads", {
    "capget", "clone", "clone3", "execveat", "fork", "getrusage", "kill", "pidfd_open",
    "pidfd_send_signal", "prctl", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "tgkill", "tkill",
    "vfork", "wait4", "waitid", "getpriority", "setpriority", "setpgid", "setsid", "sysinfo",
    "times",
  }),
  ["signal"] = G("signal handlers, masks and signalfd", {
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigsuspend", "rt_sigtimedwait",
    "sigaltstack", "signalfd", "signalfd4",
  }),
  ["network-io"] = G("sockets (families are limited by the hardening)", {
    "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
    "recvfrom", "recvmmsg", "recvmsg", "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown",
    "socket", "socketpair",
  }),
  ["timer"] = G("timers and alarms", {
    "alarm", "getitimer", "setitimer", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime",
  }),
  ["sync"] = G("flushing data to storage", {
    "fdatasync", "fsync", "msync", "sync", "sync_file_range", "syncfs",
  }),
  ["scheduler"] = G("reading and setting scheduling parameters", {
    "sched_get_priority_max", "sched_get_priority_min", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "getcpu", "ioprio_get", "ioprio_set",
  }),
  ["ioctl"] = G("ioctl (TIOCSTI and TIOCLINUX stay blocked by the hardening)", {
    "ioctl",
  }),
  ["setuid"] = G("changing user and group ids (within the sandbox's own ids)", {
    "setfsgid", "setfsuid", "setgid", "setgroups", "setregid", "setresgid", "setresuid", "setreuid",
    "setuid",
  }),
  -- Groups mostly useful in syscalls.deny.
  ["mount"] = G("mounting file systems (also in the hardening)", {
    "chroot", "fsconfig", "fsmount", "fsopen", "fspick", "mount", "mount_setattr", "move_mount",
    "open_tree", "pivot_root", "umount2",
  }),
  ["module"] = G("loading kernel modules (also in the hardening)", {
    "delete_module", "finit_module", "init_module",
  }),
  ["reboot"] = G("rebooting and kexec (kexec also in the hardening)", {
    "kexec_file_load", "kexec_load", "reboot",
  }),
  ["swap"] = G("swap devices", {
    "swapoff", "swapon",
  }),
  ["clock"] = G("setting the system clock", {
    "adjtimex", "clock_adjtime", "clock_settime", "settimeofday",
  }),
  ["raw-io"] = G("raw port and device access", {
    "ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write",
  }),
  ["debug"] = G("tracing other processes (also in the hardening)", {
    "kcmp", "pidfd_getfd", "process_vm_readv", "process_vm_writev", "ptrace", "perf_event_open",
  }),
  ["privileged"] = G("calls that need real privilege on the host", {
    "acct", "bpf", "lookup_dcookie", "nfsservctl", "quotactl", "quotactl_fd", "sethostname",
    "setdomainname", "vhangup", "keyctl", "add_key", "request_key", "userfaultfd",
    "open_by_handle_at",
  }),
}

-- Composite groups: unions of other groups plus single calls. The union's name list is built on
-- first use (listing, `purple syscalls`): the seccomp plan expands M.composite's parts directly, so
-- a run does not pay for it.
M.composite = {
  ["system-service"] = {
    doc = "a general program: files, processes, signals, memory, IPC, sockets, timers",
    "@default", "@basic-io", "@file-system", "@io-event", "@ipc", "@memory", "@process", "@signal",
    "@network-io", "@timer", "@sync", "@scheduler", "@ioctl", "@setuid",
  },
}

local function union(parts)
  local seen, list = {}, {}
  for _, p in ipairs(parts) do
    local members = p:sub(1, 1) == "@" and M.groups[p:sub(2)] or { p }
    for _, n in ipairs(members) do
      if not seen[n] then seen[n] = true; list[#list + 1] = n end
    end
  end
  list.doc = parts.doc
  return list
end

local function materialize(t)
  for name, parts in pairs(M.composite) do
    if rawget(t, name) == nil then rawset(t, name, union(parts)) end
  end
end

-- M.groups behaves as one complete table to indexing and pairs().
setmetatable(M.groups, {
  __index = function(t, name)
    local parts = M.composite[name]
    if not parts then return nil end
    local list = union(parts)
    rawset(t, name, list)
    return list
  end,
  __pairs = function(t)
    materialize(t)
    return next, t, nil
  end,
})

-- Is name ("system-service", without "@") a group?
function M.is_group(name)
  return rawget(M.groups, name) ~= nil or M.composite[name] ~= nil
end

-- The hardening every policy gets unless syscalls.hardening is false. Each entry:
--   name      the syscall
--   args      argument comparisons { index, op, value [, mask] } (as core.seccomp_compile); the
--             entry applies when all match. Entries with args are lifted only by hardening: false.
--   action    "kill" (reported, the process dies of SIGSYS) or an errno name, answered by the kernel
--             silently, or by the supervisor after reporting it when report is true
--   why       the reason shown in the violation line
--   allow_when for an entry with args: the comparisons under which a policy that allows the syscall
--             allows it — a list of alternatives, each a list of comparisons (default: the same
--             argument compared >= 0, i.e. every value). Where the filter's default is notify
--             (default_deny, learn), the entry's own rule has the default action and is dropped
--             (libseccomp refuses it), so allow_when must be the exact complement of the entry's
--             values, or those values are allowed.
-- An entry without args is also lifted by naming its syscall in syscalls.allow (not via a group).
local CLONE_NEW = {
  { "CLONE_NEWNS", 0x00020000 }, { "CLONE_NEWCGROUP", 0x02000000 }, { "CLONE_NEWUTS", 0x04000000 },
  { "CLONE_NEWIPC", 0x08000000 }, { "CLONE_NEWUSER", 0x10000000 }, { "CLONE_NEWPID", 0x20000000 },
  { "CLONE_NEWNET", 0x40000000 },
}
M.CLONE_NEW_MASK = 0
for _, f in ipairs(CLONE_NEW) do M.CLONE_NEW_MASK = M.CLONE_NEW_MASK | f[2] end

M.TIOCSTI, M.TIOCLINUX = 0x5412, 0x541C

-- Alternatives (one masked_eq each) that together match exactly the values of argument index whose
-- low 32 bits are none of values: the kernel compares ioctl commands on the low 32 bits only.
-- The set of values still matching a prefix is a bit set over their indexes (no table per step).
local function low32_none_of(index, values)
  local out = {}
  local function split(bit, prefix, mask, set)
    if set == 0 then out[#out + 1] = { { index, "masked_eq", prefix, mask } } return end
    if bit < 0 then return end
    local b = 1 << bit
    local with = 0
    for i = 1, #values do
      if set & (1 << i) ~= 0 and values[i] & b ~= 0 then with = with | (1 << i) end
    end
    split(bit - 1, prefix, mask | b, set & ~with)
    split(bit - 1, prefix | b, mask | b, with)
  end
  assert(#values < 63, "low32_none_of: too many values")
  split(31, 0, 0, ((1 << #values) - 1) << 1)
  return out
end
M.low32_none_of = low32_none_of
M.SOCKET_FAMILIES = { [1] = "AF_UNIX", [2] = "AF_INET", [10] = "AF_INET6" }

-- ~80 entries, built when the module loads (~0.1 ms): every run's seccomp plan needs them, and
-- building them lazily inside the plan measured slower (the collector then works on a bigger heap).
-- Entries with the same comparisons share their tables: read-only, like the rest of this module.
local function hardening()
  local h, n = {}, 0
  local function add(action, why, ...)
    for i = 1, select("#", ...) do
      n = n + 1
      h[n] = { name = (select(i, ...)), action = action, why = why }
    end
  end
  add("kill", "new namespaces", "unshare", "setns")
  add("kill", "mounting", "mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree",
    "move_mount", "mount_setattr")
  add("kill", "chroot", "chroot")
  add("kill", "tracing other processes", "ptrace", "process_vm_readv", "process_vm_writev")
  add("kill", "a kernel attack surface", "bpf", "perf_event_open", "userfaultfd")
  add("kill", "the kernel keyring", "keyctl", "add_key", "request_key")
  add("kill", "io_uring", "io_uring_enter", "io_uring_register")
  add("kill", "kernel loading", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module")
  add("kill", "opening files by handle", "open_by_handle_at")
  -- Answered quietly: runtimes probe these and fall back.
  h[n + 1] = { name = "clone3", action = "ENOSYS", fixed = true,
    why = "clone3's flags cannot be inspected; libc falls back to clone" }
  h[n + 2] = { name = "io_uring_setup", action = "ENOSYS", why = "io_uring" }
  local no_new_ns = { { { 0, "masked_eq", 0, M.CLONE_NEW_MASK } } }
  for _, f in ipairs(CLONE_NEW) do
    h[#h + 1] = { name = "clone", args = { { 0, "masked_eq", f[2], f[2] } }, action = "kill",
      allow_when = no_new_ns, why = "new namespaces (" .. f[1] .. ")" }
  end
  h[#h + 1] = { name = "personality", args = { { 0, "ne", 0xffffffff } }, action = "kill",
    allow_when = { { { 0, "eq", 0xffffffff } } },
    why = "changing the personality (only the query 0xffffffff is allowed)" }
  local other_ioctls = low32_none_of(1, { M.TIOCSTI, M.TIOCLINUX })
  h[#h + 1] = { name = "ioctl", args = { { 1, "masked_eq", M.TIOCSTI, 0xffffffff } }, action = "EPERM", report = true,
    allow_when = other_ioctls, why = "TIOCSTI (typing into the terminal)" }
  h[#h + 1] = { name = "ioctl", args = { { 1, "masked_eq", M.TIOCLINUX, 0xffffffff } }, action = "EPERM", report = true,
    allow_when = other_ioctls, why = "TIOCLINUX" }
  -- Set-user-ID and set-group-ID bits (as systemd's RestrictSUIDSGID=): nosuid holds only inside
  -- the sandbox, and a file left in an output path would be a set-uid program of the sandbox user
  -- on the host. Modes are checked where they are set; openat2's is in memory, so it is ENOSYS.
  local S_ISUID, S_ISGID, SUID_BITS = 0x800, 0x400, 0xc00
  local SUID_WHY = "set-user-ID and set-group-ID bits (they would hold on the host)"
  local by_mode_arg = {} -- mode_arg -> { args for S_ISUID, args for S_ISGID, allow_when }
  local function mode_rules(mode_arg)
    local r = by_mode_arg[mode_arg]
    if not r then
      r = { { { mode_arg, "masked_eq", S_ISUID, S_ISUID } }, { { mode_arg, "masked_eq", S_ISGID, S_ISGID } },
        { { { mode_arg, "masked_eq", 0, SUID_BITS } } } }
      by_mode_arg[mode_arg] = r
    end
    return r
  end
  local function no_suid(name, mode_arg, flags_arg)
    local r = mode_rules(mode_arg)
    if not flags_arg then
      h[#h + 1] = { name = name, args = r[1], action = "EPERM", report = true, allow_when = r[3], why = SUID_WHY }
      h[#h + 1] = { name = name, args = r[2], action = "EPERM", report = true, allow_when = r[3], why = SUID_WHY }
      return
    end
    -- Only a file being created takes the mode: O_CREAT or O_TMPFILE (without O_DIRECTORY's bit).
    local O_CREAT, O_TMPFILE = 0x40, 0x400000
    local creating = O_CREAT | O_TMPFILE
    local no_suid_mode = r[3][1][1]
    local allow_when = { { { flags_arg, "masked_eq", 0, creating } } }
    for _, f in ipairs({ O_CREAT, O_TMPFILE, creating }) do
      allow_when[#allow_when + 1] = { { flags_arg, "masked_eq", f, creating }, no_suid_mode }
    end
    for _, f in ipairs({ O_CREAT, O_TMPFILE, creating }) do
      local flags = { flags_arg, "masked_eq", f, creating }
      h[#h + 1] = { name = name, args = { flags, r[1][1] }, action = "EPERM", report = true,
        allow_when = allow_when, why = SUID_WHY }
      h[#h + 1] = { name = name, args = { flags, r[2][1] }, action = "EPERM", report = true,
        allow_when = allow_when, why = SUID_WHY }
    end
  end
  no_suid("chmod", 1); no_suid("fchmod", 1); no_suid("fchmodat", 2); no_suid("fchmodat2", 2)
  no_suid("creat", 1); no_suid("mkdir", 1); no_suid("mkdirat", 2); no_suid("mknod", 1); no_suid("mknodat", 2)
  no_suid("open", 2, 1); no_suid("openat", 3, 2)
  h[#h + 1] = { name = "openat2", action = "ENOSYS", fixed = true,
    why = "openat2's mode cannot be inspected; libc's open uses openat" }
  -- Socket families other than unix, inet and inet6: below, between and above the three.
  local families = { { { 0, "eq", 1 } }, { { 0, "eq", 2 } }, { { 0, "eq", 10 } } }
  h[#h + 1] = { name = "socket", args = { { 0, "eq", 0 } }, action = "EAFNOSUPPORT", allow_when = families,
    why = "socket family" }
  for fam = 3, 9 do
    h[#h + 1] = { name = "socket", args = { { 0, "eq", fam } }, action = "EAFNOSUPPORT", allow_when = families,
      why = "socket family" }
  end
  h[#h + 1] = { name = "socket", args = { { 0, "gt", 10 } }, action = "EAFNOSUPPORT", allow_when = families,
    why = "socket family" }
  return h
end

M.hardening = hardening()

-- Members of a group, only those the running architecture has, sorted. nil for an unknown group.
function M.members(group, number_of)
  local g = M.groups[group]
  if not g then return nil end
  local out = {}
  for _, n in ipairs(g) do
    if number_of(n) then out[#out + 1] = n end
  end
  table.sort(out)
  return out
end

return M
