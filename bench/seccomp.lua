-- The seccomp filter's costs: compiling it (purple.seccomp's plan in Lua, then purple's emitter or
-- libseccomp) and the
-- time it adds to every system call. Rerun when lua/purple/seccomp.lua or the hardening changes;
-- bench/README.md and docs/privileges.md record the results.
-- Usage: purple-lua bench/seccomp.lua [ROUNDS]   (default 15; `make bench-seccomp`)
-- BASELINE=/other/tree (environment): that tree's `purple run` (its emitter) is timed per call too,
-- in the same rounds, for a before/after of an emitter change.
local core = require "purple.core"
local seccomp = require "purple.seccomp"
local syscalls = require "purple.syscalls"
local here = debug.getinfo(1, "S").source:match("^@(.*)/") or "."
local stats = dofile(here .. "/stats.lua")
local tree = core.realpath and core.realpath(here .. "/..") or (here .. "/..")

local rounds = tonumber((...) or "15")
local baseline = os.getenv("BASELINE")
local loop = tree .. "/build/bench/syscall_loop"
assert(io.open(loop), loop .. " missing: run make bench-seccomp")

-- Allow lists: @system-service (ai-strict's), and 100 and 300 names (not hardening names, which an
-- explicit allow would lift).
local hardened = {}
for _, h in ipairs(syscalls.hardening) do hardened[h.name] = true end
-- What syscall_loop itself makes (ld.so, libc start, the loop) comes first.
local NEEDED = { "execve", "exit_group", "brk", "mmap", "munmap", "mprotect", "openat", "read", "write",
  "close", "fstat", "newfstatat", "pread64", "access", "arch_prctl", "set_tid_address",
  "set_robust_list", "rseq", "prlimit64", "getrandom", "getppid", "ioctl" }
local function names(n)
  local list, seen = {}, {}
  for _, name in ipairs(NEEDED) do list[#list + 1] = name; seen[name] = true end
  for _, name in ipairs(syscalls.members("system-service", seccomp.number)) do
    if #list < n and not seen[name] then list[#list + 1] = name; seen[name] = true end
  end
  for _, name in ipairs(core.syscall_names()) do
    if #list < n and not seen[name] and not hardened[name] then list[#list + 1] = name; seen[name] = true end
  end
  return list
end
local filters = {
  { "hardening only (no syscalls section)", {} },
  { "100 names, default_deny", { default_deny = true, allow = names(100) } },
  { "@system-service, default_deny (ai-strict)", { default_deny = true, allow = { "@system-service" } } },
  { "300 names, default_deny", { default_deny = true, allow = names(300) } },
}

local function ms_since(t0) return (core.monotonic() - t0) * 1e3 end

print("## Compiling (median of " .. rounds * 20 .. ", in one process)\n")
print("| filter | names | rules | BPF insns purple / libseccomp | plan ms (Lua + emit) | of which emit ms | libseccomp compile ms | libseccomp, ascending order ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for _, f in ipairs(filters) do
  local plan = assert(seccomp.plan(f[2], {}))
  -- libseccomp gets the rules highest number first (as purple.seccomp hands them) or ascending
  local asc, desc = {}, {}
  for i, r in ipairs(plan.spec.rules) do
    asc[i] = { nr = r.nr, action = r.action, args = r.args, order = i }
    desc[i] = asc[i]
  end
  table.sort(asc, function(a, b) if a.nr ~= b.nr then return a.nr < b.nr end return a.order < b.order end)
  table.sort(desc, function(a, b) if a.nr ~= b.nr then return a.nr > b.nr end return a.order < b.order end)
  local ascending = { default = plan.spec.default, rules = asc }
  local descending = { default = plan.spec.default, rules = desc }
  local t_plan, t_emit, t_compile, t_asc = {}, {}, {}, {}
  for _ = 1, rounds * 20 do
    local t0 = core.monotonic()
    assert(seccomp.plan(f[2], {})) -- the Lua part and purple's emitter
    t_plan[#t_plan + 1] = ms_since(t0)
    t0 = core.monotonic()
    assert(core.seccomp_emit(plan.spec))
    t_emit[#t_emit + 1] = ms_since(t0)
    t0 = core.monotonic()
    assert(core.seccomp_compile(descending))
    t_compile[#t_compile + 1] = ms_since(t0)
    t0 = core.monotonic()
    assert(core.seccomp_compile(ascending))
    t_asc[#t_asc + 1] = ms_since(t0)
  end
  local n = 0
  for _ in pairs(plan.allow) do n = n + 1 end
  print(("| %s | %d | %d | %d / %d | %.3f | %.3f | %.3f | %.3f |"):format(f[1], n, #plan.spec.rules,
    #core.seccomp_emit(plan.spec) // 8, #core.seccomp_compile(plan.spec) // 8,
    stats.median(t_plan), stats.median(t_emit), stats.median(t_compile), stats.median(t_asc)))
end

-- Per call: syscall_loop on the host (no filter) and in a sandbox per filter, alternating.
local dir = os.tmpname()
os.remove(dir)
assert(core.mkdir and core.mkdir(dir, 448) or os.execute("mkdir -m 700 " .. dir))
local function quote_list(list)
  local q = {}
  for i, n in ipairs(list or {}) do q[i] = ("%q"):format(n) end
  return table.concat(q, ", ")
end
local function profile_file(i, sc)
  local path = ("%s/p%d.lua"):format(dir, i)
  local fh = assert(io.open(path, "w"))
  fh:write(([[
return {
  name = "bench-seccomp",
  filesystem = { immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" },
    { host_path = %q, sandbox_path = "/b" } } },
  syscalls = { default_deny = %s, allow = { %s }, deny = { %s } },
}]]):format(tree .. "/build/bench", tostring(sc.default_deny == true), quote_list(sc.allow), quote_list(sc.deny)))
  fh:close()
  return path
end

local NR = { getppid = seccomp.number("getppid"), ioctl = seccomp.number("ioctl") }
local calls = {
  { "getppid", { NR.getppid, 200000 } },
  { "ioctl(-1, FIONREAD)", { NR.ioctl, 200000, -1, 0x541B, 0 } },
}
local configs = { { "host, no filter" } }
for i, f in ipairs(filters) do
  configs[#configs + 1] = { f[1], profile_file(i, f[2]) }
  configs[#configs + 1] = { f[1] .. ", libseccomp's program", profile_file(i, f[2]), libseccomp = true }
  if baseline then
    configs[#configs + 1] = { f[1] .. ", BASELINE's purple", profile_file(i, f[2]), purple = baseline .. "/bin/purple" }
  end
end
-- a denied call, answered by the supervisor with EPERM (the line is printed once)
configs[#configs + 1] = { "denied: notify round trip to the supervisor", profile_file(9, { deny = { "getppid" } }),
  only = "getppid", count = 5000 }

local function run(cfg, call)
  local args = { table.unpack(call[2]) }
  if cfg.count then args[2] = cfg.count end
  for i, a in ipairs(args) do args[i] = tostring(math.tointeger(a) or a) end
  local cmd
  if cfg[2] then
    local purple = cfg.libseccomp and ("%s/bin/purple-lua %s/bench/libseccomp_run.lua"):format(tree, tree)
      or cfg.purple or tree .. "/bin/purple"
    cmd = ("%s run --profile %s %s /b/syscall_loop %s 2>%s/err"):format(purple, cfg[2],
      cfg.libseccomp and "++" or "--", table.concat(args, " "), dir)
  else
    cmd = ("%s %s 2>%s/err"):format(loop, table.concat(args, " "), dir)
  end
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  local fh = io.open(dir .. "/err")
  local err = fh and fh:read("a") or ""
  if fh then fh:close() end
  -- a blocked call would be timed as a supervisor round trip: only the denied row may have one
  if err ~= "" and not cfg.count then error(cfg[1] .. ": " .. err) end
  return tonumber(out)
end

local samples = {}
for _ = 1, rounds do
  for ci, cfg in ipairs(configs) do
    for ki, call in ipairs(calls) do
      if not cfg.only or cfg.only == call[1] then
        local key = ci .. "/" .. ki
        samples[key] = samples[key] or {}
        local ns = run(cfg, call)
        if ns then table.insert(samples[key], ns) end
      end
    end
  end
end
print(("\n## Per call (median of %d runs, ns per call; +ns over the host)\n"):format(rounds))
print("| filter | getppid | ioctl(-1, FIONREAD) |")
print("|---|---:|---:|")
local function cell(ci, ki)
  local s = samples[ci .. "/" .. ki]
  if not s or #s == 0 then return "—" end
  local m = stats.median(s)
  local base = stats.median(samples["1/" .. ki])
  if ci == 1 or not base then return ("%.0f"):format(m) end
  return ("%.0f (%+.0f)"):format(m, m - base)
end
for ci, cfg in ipairs(configs) do
  print(("| %s | %s | %s |"):format(cfg[1], cell(ci, 1), cell(ci, 2)))
end
os.execute("rm -rf " .. dir)
