-- Seccomp: the policy's syscalls section and purple's hardening, attacked from inside real sandboxes
-- with raw system calls (spec/helpers/rawsys.c), plus the compiled filter itself for the calls the
-- kernel cannot make here. Runs as root and as uid 65534 (spec/run.sh).
local H = require "spec_helper"
local core = require "purple.core"
local seccomp = require "purple.seccomp"

local NR = setmetatable({}, { __index = function(_, name) return assert(core.syscall_number(name), name) end })
local SIGSYS_STATUS = 128 + 31

-- A profile with /usr and the helpers read-only, /tmp scratch; extra is more Lua table fields.
-- out: a host directory mounted writable at /output.
local function profile(extra, name, out)
  return H.profile(([[
return {
  name = %q,
  filesystem = {
    immutable_paths = {
      { host_path = "/usr", sandbox_path = "/usr" },
      { host_path = %q, sandbox_path = "/h" },
    },
    scratch_paths = { "/tmp" },
    %s
    working_dir = "/tmp",
  },
  %s
}]]):format(name or "seccomp-spec", H.helpers,
    out and ('output_paths = { { host_path = %q, sandbox_path = "/output" } },'):format(out) or "", extra or ""))
end

local function sh(p, script, opts)
  return H.run(p, { "sh", "-c", script }, opts)
end

-- Runs rawsys once per call in one sandbox; returns { [label] = "output st=N" }, stderr.
local function attempts(p, calls)
  local script = {}
  for _, c in ipairs(calls) do
    script[#script + 1] = ('r=$(/h/rawsys %s); s=$?; echo "%s|$r|$s"'):format(c[2], c[1])
  end
  local out, err = sh(p, table.concat(script, "\n"))
  local got = {}
  for label, r, st in out:gmatch("([^|\n]+)|([^|\n]*)|(%d+)") do
    got[label] = (r ~= "" and (r .. " ") or "") .. "st=" .. st
  end
  return got, err
end

describe("seccomp hardening", function()
  local p
  setup(function() p = profile() end)
  teardown(H.cleanup)

  it("kills every hardened call with SIGSYS and names it on stderr", function()
    local calls = {}
    local killed = {
      "unshare", "setns", "mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
      "open_tree", "move_mount", "mount_setattr", "chroot", "ptrace", "process_vm_readv",
      "process_vm_writev", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
      "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load", "init_module",
      "finit_module", "delete_module", "open_by_handle_at",
    }
    for _, name in ipairs(killed) do calls[#calls + 1] = { name, tostring(NR[name]) } end
    local got, err = attempts(p, calls)
    for _, name in ipairs(killed) do
      assert.are.equal("st=" .. SIGSYS_STATUS, got[name], name)
      local line = ('purple: blocked syscall %s (%d) in pid PID (rawsys); to permit it add "%s" to syscalls.allow in seccomp-spec\n')
        :format(name, NR[name], name)
      assert.matches(line:gsub("%p", "%%%0"):gsub("PID", "%%d+"), err)
    end
  end)

  it("kills clone with any CLONE_NEW* flag but lets plain clone (fork, threads) work", function()
    local flags = { NEWNS = 0x20000, NEWCGROUP = 0x02000000, NEWUTS = 0x04000000, NEWIPC = 0x08000000,
      NEWUSER = 0x10000000, NEWPID = 0x20000000, NEWNET = 0x40000000 }
    local calls = {}
    for name, f in pairs(flags) do calls[#calls + 1] = { name, ("%d 0x%x 0 0 0 0"):format(NR.clone, f | 17) } end
    local got, err = attempts(p, calls)
    for name in pairs(flags) do
      assert.are.equal("st=" .. SIGSYS_STATUS, got[name], name)
      assert.matches("new namespaces %(CLONE_" .. name .. "%) is blocked by purple's hardening; "
        .. "to permit it set syscalls.hardening: false in seccomp%-spec", err)
    end
    local out, _, code = sh(p, "(echo forked) ; /h/privcheck | grep -c Seccomp")
    assert.are.equal(0, code)
    assert.are.equal("forked\n3\n", out)
  end)

  it("answers clone3 and io_uring_setup with ENOSYS, silently, so that libc and runtimes fall back", function()
    local got, err = attempts(p, { { "clone3", NR.clone3 .. " buf 1" }, { "io_uring_setup", NR.io_uring_setup .. " 1 buf" } })
    assert.are.equal("errno ENOSYS st=0", got.clone3)
    assert.are.equal("errno ENOSYS st=0", got.io_uring_setup)
    assert.are.equal("", err)
  end)

  it("blocks TIOCSTI and TIOCLINUX compared on the low 32 bits (CVE-2019-10063), allows other ioctls", function()
    local got, err = attempts(p, {
      { "sti", ("%d 0 0x%x buf"):format(NR.ioctl, 0x5412) },
      { "sti_high", ("%d 0 0x%x buf"):format(NR.ioctl, 0x100005412) },
      { "linux_high", ("%d 0 0x%x buf"):format(NR.ioctl, 0xdead0000541C) },
    })
    assert.are.equal("errno EPERM st=0", got.sti)
    assert.are.equal("errno EPERM st=0", got.sti_high)
    assert.are.equal("errno EPERM st=0", got.linux_high)
    assert.matches("purple: blocked syscall ioctl %(16%) in pid %d+ %(rawsys%); TIOCSTI %(typing into the terminal%) "
      .. "is blocked by purple's hardening; to permit it set syscalls.hardening: false in seccomp%-spec\n", err)
    assert.matches("TIOCLINUX is blocked by purple's hardening", err)
    -- FIONREAD on a pipe with 3 bytes in it
    local out = sh(p, ("printf abc | /h/rawsys %d 0 0x541B buf"):format(NR.ioctl))
    assert.are.equal("ok 0\n", out)
  end)

  it("allows only the personality query", function()
    local got = attempts(p, { { "query", NR.personality .. " 0xffffffff" }, { "set", NR.personality .. " 0x0008" } })
    assert.matches("^ok %d+ st=0$", got.query)
    assert.are.equal("st=" .. SIGSYS_STATUS, got.set)
  end)

  it("allows unix, inet and inet6 sockets only", function()
    local got, err = attempts(p, {
      { "unix", NR.socket .. " 1 1 0" }, { "inet", NR.socket .. " 2 1 0" }, { "inet6", NR.socket .. " 10 1 0" },
      { "netlink", NR.socket .. " 16 3 0" }, { "packet", NR.socket .. " 17 3 0" }, { "zero", NR.socket .. " 0 1 0" },
      { "bluetooth", NR.socket .. " 31 1 0" }, { "vsock", NR.socket .. " 40 1 0" }, { "high", NR.socket .. " 0x100000002 1 0" },
    })
    for _, ok in ipairs({ "unix", "inet", "inet6" }) do assert.matches("^ok %d+ st=0$", got[ok], ok) end
    for _, bad in ipairs({ "netlink", "packet", "zero", "bluetooth", "vsock", "high" }) do
      assert.are.equal("errno EAFNOSUPPORT st=0", got[bad], bad)
    end
    assert.are.equal("", err)
  end)

  it("keeps the argument-based hardening under a default-deny policy that allows clone, ioctl and socket", function()
    -- here the filter's default is notify: the allow rules alone must leave the hardened values out
    local dd = profile('syscalls = { default_deny = true, allow = { "@system-service" } },', "dd-spec")
    local got, err = attempts(dd, {
      { "newuser", ("%d 0x%x 0 0 0 0"):format(NR.clone, 0x10000011) },
      { "newns", ("%d 0x%x 0 0 0 0"):format(NR.clone, 0x20011) },
      { "sti_high", ("%d 0 0x%x buf"):format(NR.ioctl, 0x100005412) },
      { "linux", ("%d 0 0x%x buf"):format(NR.ioctl, 0x541C) },
      { "netlink", NR.socket .. " 16 3 0" }, { "unix", NR.socket .. " 1 1 0" },
    })
    assert.are.equal("st=" .. SIGSYS_STATUS, got.newuser)
    assert.are.equal("st=" .. SIGSYS_STATUS, got.newns)
    assert.are.equal("errno EPERM st=0", got.sti_high)
    assert.are.equal("errno EPERM st=0", got.linux)
    assert.are.equal("errno EAFNOSUPPORT st=0", got.netlink)
    assert.matches("^ok %d+ st=0$", got.unix)
    assert.matches("new namespaces %(CLONE_NEWUSER%) is blocked by purple's hardening; to permit it set "
      .. "syscalls.hardening: false in dd%-spec", err)
    assert.matches("TIOCSTI %(typing into the terminal%) is blocked by purple's hardening", err)
    local out, _, code = sh(dd, ("(echo forked); printf abc | /h/rawsys %d 0 0x541B buf"):format(NR.ioctl))
    assert.are.equal(0, code)
    assert.are.equal("forked\nok 0\n", out)
  end)

  it("compiles filters whose verdict on clone, ioctl, socket and personality arguments matches the hardening", function()
    local values = { 0, 1, 2, 10, 16, 0x11, 0x541B, 0x5412, 0x541C, 0x5413, 0x5416, 0x1541C, 0x100005412,
      0xdead0000541C, 0xffffffff, 0x100000002, 0x10000011, 0x40000000, 0x7e020000, -1 }
    local policies = {
      {}, { default_deny = true, allow = { "@system-service", "personality" } },
      { deny = { "ioctl", "clone" } }, { default_deny = true, allow = { "execve" } },
    }
    for _, sc in ipairs(policies) do
      local plan = assert(seccomp.plan(sc, {}))
      for _, name in ipairs({ "clone", "ioctl", "socket", "personality" }) do
        for _, v in ipairs(values) do
          for i = 1, 2 do
            local args = { 0, 0, 0, 0, 0, 0 }
            args[i] = v
            local want = seccomp.allowed(plan, NR[name]) and "allow" or "notify"
            for _, h in ipairs(plan.hardening[NR[name]] or {}) do
              local all = true
              for _, cmp in ipairs(h.args) do all = all and seccomp.arg_matches(args, cmp) end
              if all then want = (h.action == "kill" or h.report) and "notify" or "errno" break end
            end
            local got = core.seccomp_eval(plan.program, { nr = NR[name], args = args })
            assert.are.equal(want, got, ("%s arg%d=0x%x default_deny=%s"):format(name, i - 1, v, tostring(sc.default_deny)))
          end
        end
      end
    end
  end)

  it("kills x32 calls in the sandbox, and i386, x32 and foreign-arch calls in the filter itself", function()
    -- the filter sees an x32 call whether or not the kernel has the x32 entry (it would fail with
    -- ENOSYS after the filter there): the kill is purple's, the same call outside is not killed
    local got = attempts(p, { { "x32", "x32 " .. NR.getpid } })
    assert.are.equal("st=" .. SIGSYS_STATUS, got.x32)
    local _, _, host = H.sh(H.q(H.helpers .. "/rawsys") .. " x32 " .. NR.getpid)
    assert.are_not.equal(SIGSYS_STATUS, host)
    local plan = assert(seccomp.plan({ default_deny = false }, {}))
    for _, nr in ipairs({ 0, 1, 20, 39, 59, 165, 231 }) do
      assert.are.equal("kill", (core.seccomp_eval(plan.program, { nr = nr, arch = "i386" })))
      assert.are.equal("kill", (core.seccomp_eval(plan.program, { nr = nr, arch = "x32" })))
      assert.are.equal("kill", (core.seccomp_eval(plan.program, { nr = nr, arch = "aarch64" })))
    end
    assert.are.equal("allow", (core.seccomp_eval(plan.program, { nr = NR.getpid })))
  end)

  it("kills int 0x80 calls where the kernel has the i386 entry", function()
    local has, why = H.host_syscall_entry("int80")
    if not has then pending(why) return end
    local got = attempts(p, { { "int80", "int80 20" } })
    assert.are.equal("st=" .. SIGSYS_STATUS, got.int80)
  end)

  it("where the kernel has no i386 entry, runs normally and int 0x80 fails as it does outside", function()
    local has, _, out, code = H.host_syscall_entry("int80")
    if has then pending("this kernel has the i386 (int 0x80) entry: the kill is shown by the case above") return end
    local got, err = attempts(p, { { "before", tostring(NR.getpid) }, { "int80", "int80 20" }, { "after", tostring(NR.getpid) } })
    assert.matches("^ok %d+ st=0$", got.before)
    assert.are.equal((out ~= "" and (out:gsub("\n$", "") .. " ") or "") .. "st=" .. code, got.int80)
    assert.matches("^ok %d+ st=0$", got.after)
    assert.is_nil(err:find("purple:", 1, true), err) -- the shell may report the signal, purple says nothing
  end)

  it("kills a hardened call made by a second thread, and one whose process catches SIGSYS", function()
    local got = attempts(p, { { "thread", "thread " .. NR.bpf .. " 0 0 0" }, { "caught", "sigsys " .. NR.ptrace .. " 0 0 0 0" } })
    assert.are.equal("st=" .. SIGSYS_STATUS, got.thread)
    assert.are.equal("st=137", got.caught) -- SIGKILL: a caught SIGSYS must not let it continue
  end)

  it("lifts one hardened call named in syscalls.allow, and all of them with hardening: false", function()
    local lifted = profile('syscalls = { allow = { "ptrace" } },')
    local got, err = attempts(lifted, { { "ptrace", NR.ptrace .. " 0 0 0 0" }, { "bpf", NR.bpf .. " 0 0 0" } })
    assert.matches("^ok 0 st=0$", got.ptrace) -- PTRACE_TRACEME
    assert.are.equal("st=" .. SIGSYS_STATUS, got.bpf)
    assert.matches("blocked syscall bpf", err)
    local off = profile("syscalls = { hardening = false },")
    got, err = attempts(off, { { "clone3", NR.clone3 .. " buf 1" }, { "tiocsti", NR.ioctl .. " 0 0x5412 buf" } })
    assert.are.equal("errno EINVAL st=0", got.clone3) -- the kernel's own answer to a too small clone_args
    assert.are_not.equal("st=" .. SIGSYS_STATUS, got.tiocsti)
    assert.are.equal("", err)
  end)
end)

describe("seccomp policy", function()
  teardown(H.cleanup)

  it("denies syscalls.deny with EPERM and names the call, the sandbox pid and the fix", function()
    local p = profile('syscalls = { deny = { "mkdir", "@swap" } },', "deny-spec")
    local out, err, code = H.run(p, { "/h/rawsys", tostring(NR.mkdir), "0", "0" })
    assert.are.equal(0, code)
    assert.are.equal("errno EPERM\n", out)
    assert.are.equal(('purple: blocked syscall mkdir (%d) in pid 2 (rawsys); to permit it remove "mkdir" from '
      .. "syscalls.deny in deny-spec\n"):format(NR.mkdir), err)
    _, err = H.run(p, { "/h/rawsys", tostring(NR.swapon), "0", "0" })
    assert.are.equal(('purple: blocked syscall swapon (%d) in pid 2 (rawsys); to permit it remove "@swap" from '
      .. "syscalls.deny in deny-spec\n"):format(NR.swapon), err)
  end)

  it("with default_deny runs sh, python3 and git on @system-service and blocks the rest", function()
    local p = profile('syscalls = { default_deny = true, allow = { "@system-service" } },', "allow-spec")
    local out, err, code = sh(p, [[
      echo shell; python3 -c 'import json, threading, asyncio, sqlite3, multiprocessing as mp
t = threading.Thread(target=len, args=[()]); t.start(); t.join()
with mp.Pool(2) as p: r = p.map(abs, [-1])
sqlite3.connect(":memory:").execute("create table t(x)")
print(json.dumps(r + [asyncio.run(asyncio.sleep(0, 1))]))'
      cd /tmp && git init -q r && cd r && git -c user.email=a@b -c user.name=n commit -q --allow-empty -m m &&
      git log --format=%s]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("shell\n[1, 1]\nm\n", out)
    out, err = H.run(p, { "/h/rawsys", tostring(NR.syslog), "3", "buf", "10" })
    assert.are.equal("errno EPERM\n", out)
    assert.are.equal(('purple: blocked syscall syslog (%d) in pid 2 (rawsys); to permit it add "syslog" to '
      .. "syscalls.allow in allow-spec\n"):format(NR.syslog), err)
  end)

  it("with default_deny runs node (timers, promises, a child process) on @system-service", function()
    if not io.open("/usr/bin/node") then
      pending("node is not installed (Debian package nodejs)")
      return
    end
    local p = profile('syscalls = { default_deny = true, allow = { "@system-service" } },', "allow-spec")
    local out, err, code = H.run(p, { "node", "-e", [[
      require("fs").writeFileSync("/tmp/x", "hi");
      const sub = require("child_process").execSync("echo sub").toString().trim();
      Promise.resolve().then(() => setTimeout(() => console.log(require("fs").readFileSync("/tmp/x", "utf8"), sub), 5));]] })
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("hi sub\n", out)
  end)

  it("denies a call of an allowed group named in syscalls.deny (deny wins)", function()
    local p = profile('syscalls = { default_deny = true, allow = { "@system-service" }, deny = { "mkdir" } },', "deny-spec")
    local out, err = H.run(p, { "/h/rawsys", tostring(NR.mkdir), "0", "0" })
    assert.are.equal("errno EPERM\n", out)
    assert.are.equal(('purple: blocked syscall mkdir (%d) in pid 2 (rawsys); to permit it remove "mkdir" from '
      .. "syscalls.deny in deny-spec\n"):format(NR.mkdir), err)
  end)

  it("reports a blocked call once per process", function()
    local p = profile('syscalls = { deny = { "getppid" } },', "once-spec")
    local _, err = sh(p, ("/h/rawsys %d; /h/rawsys %d; /h/rawsys thread %d"):format(NR.getppid, NR.getppid, NR.getppid))
    local n = select(2, err:gsub("blocked syscall getppid %(%d+%) in pid %d+ %(rawsys%)", ""))
    assert.are.equal(3, n) -- three processes
    _, err = H.run(p, { "python3", "-c", "import os\nfor i in range(5):\n  try: os.getppid()\n  except OSError: pass" })
    assert.are.equal(1, select(2, err:gsub("blocked syscall getppid", "")))
  end)

  it("kills on violation with action kill, and only logs with action log", function()
    local kill = profile('syscalls = { deny = { "mkdir" }, action = "kill" },')
    local out, err, code = H.run(kill, { "/h/rawsys", tostring(NR.mkdir), "0", "0" })
    assert.are.equal(SIGSYS_STATUS, code)
    assert.are.equal("", out)
    assert.matches("blocked syscall mkdir", err)
    local logp = profile('syscalls = { deny = { "getppid" }, action = "log" },', "log-spec")
    out, err, code = H.run(logp, { "/h/rawsys", tostring(NR.getppid) })
    assert.are.equal(0, code)
    assert.are.equal("ok 1\n", out)
    assert.are.equal(('purple: logged syscall getppid (%d) in pid 2 (rawsys); to permit it remove "getppid" from '
      .. "syscalls.deny in log-spec\n"):format(NR.getppid), err)
  end)

  it("writes a syscall_violation record to the audit log", function()
    local dir = H.tmpdir()
    local p = profile(('syscalls = { deny = { "mkdir" } }, audit = { enabled = true, log_path = %q },')
      :format(dir .. "/audit.log"), "audit-spec")
    H.run(p, { "/h/rawsys", tostring(NR.mkdir), "0x1234", "0x1ff" })
    local rec
    for line in (H.read(dir .. "/audit.log") or ""):gmatch("[^\n]+") do
      if line:find('"event":"syscall_violation"', 1, true) then rec = require("purple.json").decode(line) end
    end
    assert.is_table(rec)
    assert.are.equal("mkdir", rec.syscall)
    assert.are.equal(NR.mkdir, rec.nr)
    assert.are.same({ 0x1234, 0x1ff, 0, 0, 0, 0 }, rec.args)
    assert.are.equal(2, rec.sandbox_pid)
    assert.are.equal("rawsys", rec.comm)
    assert.are.equal("/h/rawsys", rec.exe)
    assert.are.equal("errno", rec.action)
    assert.are.equal("denied", rec.reason)
    assert.are.equal("audit-spec", rec.profile)
  end)

  it("fails closed on unknown names and on a policy that cannot start the command", function()
    local cases = {
      { 'syscalls = { deny = { "frobnicate" } },', 'syscalls.deny[1]: unknown syscall "frobnicate" on this architecture' },
      { 'syscalls = { allow = { "@nosuch" } },', 'syscalls.allow[1]: unknown syscall group "@nosuch" (see purple syscalls)' },
      { 'syscalls = { default_deny = true, allow = { "read" } },', 'syscalls.allow: add "execve": purple starts the command with it' },
      { 'syscalls = { deny = { "execve" } },', 'syscalls.deny: "execve" denies execve, which purple starts the command with; remove it' },
      { 'syscalls = { deny = { "exit_group" } },', 'syscalls.deny: "exit_group" denies exit_group, which every process ends with; remove it' },
    }
    for _, c in ipairs(cases) do
      local p = profile(c[1])
      local out, err, code = H.run(p, { "/h/rawsys", "39" })
      assert.are.equal(125, code)
      assert.are.equal("", out)
      -- names are checked with the policy (the file is named), the rest when the run is prepared
      local prefix = c[2]:find("unknown") and (p .. ": ") or ""
      assert.are.equal("purple: " .. prefix .. c[2] .. "\n", err)
    end
  end)

  it("runs the guide's custom-profile list with /bin/true once the violation lines' calls are added", function()
    local list = [["read", "write", "openat", "close", "fstat", "newfstatat", "mmap", "mprotect", "munmap", "brk",
      "access", "execve", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "getrandom",
      "exit_group", "clone3"]]
    local deny = [["mount", "unmount", "reboot", "kexec_load", "bpf", "unlinkat", "renameat2"]]
    local p = profile(("syscalls = { default_deny = true, allow = { %s }, deny = { %s } },"):format(list, deny),
      "custom-profile")
    local _, err = H.run(p, { "/bin/true" })
    local missing = {}
    for name in err:gmatch('to permit it add "([%w_]+)" to syscalls%.allow in custom%-profile') do
      missing[#missing + 1] = ("%q"):format(name)
    end
    assert.is_true(#missing > 0)
    p = profile(("syscalls = { default_deny = true, allow = { %s, %s }, deny = { %s } },")
      :format(list, table.concat(missing, ", "), deny), "custom-profile")
    local out, err2, code = H.run(p, { "/bin/true" })
    assert.are.equal("", err2)
    assert.are.equal(0, code)
    assert.are.equal("", out)
  end)
end)

describe("seccomp learn mode", function()
  teardown(H.cleanup)

  local function learn_and_rerun(argv, script)
    local dir = H.tmpdir()
    local base = profile(nil, "learn-spec")
    local out, err, code = H.run(base, argv, { args = { "--learn", dir .. "/learned.yaml" } })
    assert.are.equal("", err)
    assert.are.equal(0, code)
    local yaml = assert(H.read(dir .. "/learned.yaml"))
    local lua = assert(H.read(dir .. "/learned.lua"))
    assert.matches("\nsyscalls:\n  default_deny: true\n  allow:\n    %- ", yaml)
    assert.matches('\n    "execve",\n', lua)
    -- the learned list, and nothing else, lets the command run again
    local snippet = lua:gsub("^%-%-[^\n]*\n", "")
    local again = profile(snippet, "learned")
    local out2, err2, code2 = H.run(again, argv)
    assert.are.equal("", err2)
    assert.are.equal(0, code2)
    assert.are.equal(out, out2)
    return yaml, out, script
  end

  it("writes the smallest allow list for python3, which then runs under it", function()
    local yaml, out = learn_and_rerun({ "python3", "-c", "import json; print(json.dumps({'a': 1}))" })
    assert.are.equal('{"a": 1}\n', out)
    assert.matches("\n    %- read\n", yaml)
    assert.is_nil(yaml:find("\n    %- mkdir\n")) -- only what ran
  end)

  it("writes an allow list for git, which then runs under it", function()
    local _, out = learn_and_rerun({ "sh", "-c",
      "cd /tmp && git init -q r && cd r && git -c user.email=a@b -c user.name=n commit -q --allow-empty -m m && git log --format=%s" })
    assert.are.equal("m\n", out)
  end)
end)

describe("seccomp notify API for other enforcers", function()
  teardown(H.cleanup)

  it("routes a registered syscall to its handler and answers with its result", function()
    local exec = require "purple.exec"
    local seen
    package.loaded["spec_notify_enforcer"] = {
      prepare = function(run)
        run.seccomp_notify = run.seccomp_notify or {}
        run.seccomp_notify.getppid = function(_, ev) seen = ev; return { val = 4242 } end
        run.seccomp_notify.getpgrp = function() return { error = 13 } end
        run.seccomp_notify.getuid = function() return { continue = true } end
        return true
      end,
    }
    local saved = exec.enforcers
    local list = {}
    for _, e in ipairs(saved) do
      if e == "purple.enforce.privileges" then list[#list + 1] = "spec_notify_enforcer" end
      list[#list + 1] = e
    end
    exec.enforcers = list
    local dir = H.tmpdir()
    os.execute("chmod 777 " .. H.q(dir))
    local policy = assert(require("purple").profile(profile(nil, "notify-spec", dir)))
    local argv = { "sh", "-c", ("/h/rawsys %d > /output/a; /h/rawsys %d > /output/b; "
      .. "/h/rawsys %d > /output/c"):format(NR.getppid, NR.getpgrp, NR.getuid) }
    local ok, result = pcall(exec.exec, policy, argv)
    local a_run = H.read(dir .. "/a")
    os.remove(dir .. "/a")
    -- learn mode still asks the handlers
    local lok, learned = pcall(exec.exec, policy, argv, { learn = true })
    local a_learn = H.read(dir .. "/a")
    exec.enforcers = saved
    package.loaded["spec_notify_enforcer"] = nil
    assert.is_true(ok, result)
    assert.are.equal(0, result.status)
    assert.are.equal("ok 4242\n", a_run)
    assert.are.equal("errno EACCES\n", H.read(dir .. "/b"))
    assert.matches("^ok %d+\n$", H.read(dir .. "/c"))
    assert.is_table(seen)
    assert.are.equal("getppid", seen.name)
    assert.are.equal(NR.getppid, seen.nr)
    assert.is_nil(result.syscall_violations)
    assert.is_true(lok, learned)
    assert.are.equal(0, learned.status)
    assert.are.equal("ok 4242\n", a_learn)
    assert.is_truthy(table.concat(learned.learned.syscalls, " "):find("%f[%w]getppid%f[^%w]"))
  end)
end)

describe("purple syscalls", function()
  it("lists the groups, one group's members, and the hardening", function()
    local out, err, code = H.sh(H.q(H.purple) .. " syscalls")
    assert.are.equal(0, code, err)
    assert.matches("\n@system%-service +%d+  a general program", "\n" .. out)
    out, err, code = H.sh(H.q(H.purple) .. " syscalls @basic-io")
    assert.are.equal(0, code, err)
    assert.matches("^close\n", out)
    assert.matches("\nwritev\n$", out)
    out = H.sh(H.q(H.purple) .. " syscalls --hardening")
    assert.matches("\nclone3 +ENOSYS ", "\n" .. out)
    out, err, code = H.sh(H.q(H.purple) .. " syscalls @nosuch")
    assert.are.equal(125, code)
    assert.are.equal("", out)
    assert.are.equal("purple: syscalls: unknown group '@nosuch' (see purple syscalls --help)\n", err)
  end)
end)
