-- make bench-soak: COUNT consecutive sandboxes (default 10,000) through `purple run`, then COUNT through
-- purple.exec in one Lua process; reports the time trend (median per WINDOW runs) and anything left
-- behind: processes (the runner is a child subreaper, so every orphan is counted), the server's fds
-- and memory, and cgroups, host mounts and network namespaces that appeared and stayed.
-- Session mode: COUNT `purple exec -- /bin/true` into one session, then COUNT/10 cycles of `purple
-- session start` + `purple session stop`, each with its own runtime directory; checked for the same
-- leaks plus the supervisor's and the agent's fds and RSS, processes still carrying that runtime directory in their
-- environment, and files left in it (sockets, records, logs).
-- Environment: COUNT (10000), WINDOW (1000), PROFILE (ai-strict), MODES (all; "run", "sessions"),
-- RUNNER, PURPLE_ROOT, OUT.
local stats = dofile((arg[0]:match("^(.*)/") or ".") .. "/stats.lua")

local ROOT = os.getenv("PURPLE_ROOT") or "."
local RUNNER = os.getenv("RUNNER") or (ROOT .. "/build/bench/runner")
local OUT = os.getenv("OUT") or (ROOT .. "/build/bench")
local COUNT = tonumber(os.getenv("COUNT") or "10000")
local WINDOW = tonumber(os.getenv("WINDOW") or "1000")
local PROFILE = os.getenv("PROFILE") or "ai-strict"
local MODES = os.getenv("MODES") or "all"

local function lines_of(cmd)
  local p = io.popen(cmd)
  local r = {}
  for l in p:lines() do r[#r + 1] = l end
  p:close()
  return r
end

-- What a leak would leave on the host. Other engineers' tests may run at the same time, so a leak
-- is an object that is new after the soak and still there after a pause.
local function snapshot()
  local s = { cgroups = {}, mounts = {}, netns = {} }
  for _, d in ipairs(lines_of("find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -name '*purple*' 2>/dev/null")) do
    s.cgroups[d] = true
  end
  for l in io.lines("/proc/self/mountinfo") do
    local id, rest = l:match("^(%d+) %d+ %S+ %S+ (%S+)")
    if id then s.mounts[id .. " " .. rest] = true end
  end
  -- a network namespace counts when one of its processes runs this tree's purple (a sandbox's init
  -- does while the sandbox lives): the sandboxes of other trees' runs on the machine are not ours
  local root = io.popen("readlink -f " .. ROOT):read("l") or ROOT
  for _, l in ipairs(lines_of("for p in /proc/[0-9]*; do n=$(readlink $p/ns/net) && e=$(readlink $p/exe) && "
    .. "echo \"$n $e\"; done 2>/dev/null")) do
    local ns, exe = l:match("^(%S+) (.*)$")
    if ns and exe:sub(1, #root + 1) == root .. "/" then s.netns[ns] = true end
  end
  for l in io.lines("/proc/self/mountinfo") do
    local ns = l:match(" nsfs nsfs ") and l:match("net:%[%d+%]")
    if ns then s.netns[ns] = true end
  end
  return s
end

local function new_since(before, after, after2)
  local r = {}
  for k in pairs(after) do
    if not before[k] and after2[k] then r[#r + 1] = k end
  end
  table.sort(r)
  return r
end

os.execute("mkdir -p " .. OUT)
local modes = {
  { name = "purple run", mode = "spawn",
    argv = { ROOT .. "/bin/purple", "run", "--profile", PROFILE, "--", "/bin/true" } },
  { name = "purple.exec", mode = "server",
    argv = { ROOT .. "/bin/purple-lua", ROOT .. "/bench/exec_server.lua", PROFILE, "--", "/bin/true" } },
}

-- Stop at once when purple itself does not work (a half-built tree), instead of failing every run.
do
  local probe = table.concat({ ROOT .. "/bin/purple", "run", "--profile", PROFILE, "--", "/bin/true" }, " ")
  if not os.execute(probe .. " >/dev/null") then
    io.stderr:write("bench: '", probe, "' fails; build the tree first (make)\n")
    os.exit(125)
  end
end

io.stdout:write(("purple soak: %d runs of /bin/true under %s, per mode; %s\n"):format(COUNT, PROFILE,
  os.date("!%Y-%m-%d %H:%M UTC")))
local before = snapshot()
local leaks = 0

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs the runner over argv COUNT times (env: words before it) and prints the trend; returns the
-- number of problems. expect_orphans: processes each run hands to the runner by design (a session's
-- supervisor daemon, reaped after its stop), not counted as leaks.
local function soak_mode(m, count, env, expect_orphans, window)
  window = window or WINDOW
  io.stdout:flush()
  local raw = ("%s/soak-%s.tsv"):format(OUT, m.mode)
  local words = {}
  for i, a in ipairs(m.argv) do words[i] = q(a) end
  assert(os.execute(("%s%s seq %d %s %s > %s"):format(env or "", RUNNER, count, m.mode == "server" and "server"
    or "spawn", table.concat(words, " "), raw)), "runner failed")
  local ms, orphans, failed, server = {}, 0, 0, nil
  for line in io.lines(raw) do
    local i, ns, _, st, orph = line:match("^(%d+)\t(%d+)\t(%d+)\t(%d+)\t(%d+)$")
    if i then
      ms[#ms + 1] = tonumber(ns) / 1e6
      if st ~= "0" then failed = failed + 1 end
      orphans = orphans + tonumber(orph)
    else
      local f0, f1, r0, r1 = line:match("^server\t(%-?%d+)\t(%-?%d+)\t(%-?%d+)\t(%-?%d+)$")
      if f0 then server = { fds0 = tonumber(f0), fds1 = tonumber(f1), rss0 = tonumber(r0), rss1 = tonumber(r1) } end
    end
  end
  if expect_orphans then
    io.stdout:write(("\n%s: %d runs, %d failed, %d supervisors reaped\n"):format(m.name, #ms, failed, orphans))
    orphans = 0
  else
    io.stdout:write(("\n%s: %d runs, %d failed, %d leaked processes\n"):format(m.name, #ms, failed, orphans))
  end
  local w, lo, first, last = {}, {}, nil, nil
  for s = 1, #ms, window do
    local win = { table.unpack(ms, s, math.min(s + window - 1, #ms)) }
    local med = stats.median(win)
    first = first or med
    last = med
    w[#w + 1] = ("%.2f"):format(med)
    lo[#lo + 1] = ("%.2f"):format(math.min(table.unpack(win)))
  end
  io.stdout:write(("  median ms per %d-run window: %s\n"):format(window, table.concat(w, " ")))
  -- the fastest run of each window moves least with other jobs' load on a shared machine
  io.stdout:write(("  fastest ms per window: %s\n"):format(table.concat(lo, " ")))
  io.stdout:write(("  trend: last window / first window = %.2f\n"):format(last / first))
  if server then
    io.stdout:write(("  server fds %d -> %d, RSS %d -> %d KiB\n"):format(server.fds0, server.fds1, server.rss0,
      server.rss1))
    if server.fds1 ~= server.fds0 then failed = failed + 1 end
  end
  return orphans + failed
end

if MODES == "all" or MODES == "run" then
  for _, m in ipairs(modes) do leaks = leaks + soak_mode(m, COUNT) end
end

-- Processes whose environment names the runtime directory rt (supervisors, clients): none may stay.
local function holders(rt)
  local n = {}
  for _, pid in ipairs(lines_of("ls /proc | grep -E '^[0-9]+$'")) do
    local f = io.open("/proc/" .. pid .. "/environ")
    local env = f and f:read("a") or ""
    if f then f:close() end
    if env:find("PURPLE_RUNTIME_DIR=" .. rt .. "\0", 1, true) then n[#n + 1] = pid end
  end
  return n
end

local function session_leaks(rt, what)
  local problems = 0
  local left = lines_of("ls -A " .. q(rt) .. " 2>/dev/null")
  local procs = holders(rt)
  io.stdout:write(("  %s: files left in the runtime directory %d%s, processes left %d%s\n"):format(what, #left,
    #left > 0 and (" (" .. table.concat(left, " ") .. ")") or "", #procs,
    #procs > 0 and (" (pids " .. table.concat(procs, " ") .. ")") or ""))
  return #left + #procs
end

if MODES == "all" or MODES == "sessions" then
  local purple = ROOT .. "/bin/purple"
  -- COUNT execs into one session
  local rt = lines_of("mktemp -d /tmp/purple-soak-rt.XXXXXX")[1]
  local env = "PURPLE_RUNTIME_DIR=" .. q(rt) .. " "
  assert(os.execute(env .. q(purple) .. " session start --profile " .. q(PROFILE) .. " --name soak </dev/null >/dev/null"),
    "purple session start failed")
  local rec = io.open(rt .. "/soak.json"):read("a")
  local sup, init = tonumber(rec:match('"supervisor_pid":(%d+)')), tonumber(rec:match('"init_pid":(%d+)'))
  local function fds(pid) return #lines_of("ls /proc/" .. pid .. "/fd 2>/dev/null") end
  local function rss(pid)
    local f = io.open("/proc/" .. pid .. "/status")
    local t = f and f:read("a") or ""
    if f then f:close() end
    return tonumber(t:match("VmRSS:%s+(%d+)")) or -1
  end
  local function tasks(pid) return #lines_of("cat /proc/" .. pid .. "/task/*/children 2>/dev/null | tr ' ' '\\n' | grep .") end
  os.execute(env .. q(purple) .. " exec soak -- /bin/true") -- warm up
  local agent = tonumber(lines_of("cat /proc/" .. init .. "/task/" .. init .. "/children")[1]:match("%d+"))
  local f0, r0, c0 = fds(sup), rss(sup), tasks(init)
  local af0, ar0 = fds(agent), rss(agent)
  local ok, n = pcall(soak_mode, { name = "purple exec into one session", mode = "session-exec",
    argv = { purple, "exec", "soak", "--", "/bin/true" } }, COUNT, env)
  if not ok then
    os.execute(env .. q(purple) .. " session stop soak >/dev/null")
    error(n, 0)
  end
  leaks = leaks + n
  local f1, r1, c1 = fds(sup), rss(sup), tasks(init)
  local af1, ar1 = fds(agent), rss(agent)
  io.stdout:write(("  supervisor fds %d -> %d, RSS %d -> %d KiB; processes under init %d -> %d\n"):format(f0, f1,
    r0, r1, c0, c1))
  io.stdout:write(("  agent fds %d -> %d, RSS %d -> %d KiB\n"):format(af0, af1, ar0, ar1))
  if f1 ~= f0 or c1 ~= c0 or af1 ~= af0 then leaks = leaks + 1 end
  os.execute(env .. q(purple) .. " session stop soak >/dev/null")
  leaks = leaks + session_leaks(rt, "after stop")
  os.execute("rmdir " .. q(rt))
  -- COUNT/10 start/stop cycles
  rt = lines_of("mktemp -d /tmp/purple-soak-rt.XXXXXX")[1]
  env = "PURPLE_RUNTIME_DIR=" .. q(rt) .. " "
  local cycle = ("%s session start --profile %s --name cyc </dev/null >/dev/null && %s session stop cyc >/dev/null")
    :format(q(purple), q(PROFILE), q(purple))
  leaks = leaks + soak_mode({ name = "purple session start + stop", mode = "session-cycle",
    argv = { "/bin/sh", "-c", cycle } }, math.max(1, COUNT // 10), env, true, math.max(1, WINDOW // 10))
  leaks = leaks + session_leaks(rt, "after the cycles")
  os.execute("rmdir " .. q(rt))
end

local after = snapshot()
os.execute("sleep 2")
local after2 = snapshot()
io.stdout:write("\nleft on the host (new since the start and still there 2s later)\n")
for _, kind in ipairs({ "cgroups", "mounts", "netns" }) do
  local n = new_since(before[kind], after[kind], after2[kind])
  io.stdout:write(("  %-8s %d%s\n"):format(kind, #n, #n > 0 and (": " .. table.concat(n, ", ")) or ""))
  leaks = leaks + #n
end
io.stdout:write(leaks == 0 and "\nsoak: no leaks\n" or ("\nsoak: %d problems (see above)\n"):format(leaks))
os.exit(leaks == 0 and 0 or 1)
