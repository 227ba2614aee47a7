-- What the supervisor's peak RSS is made of: glibc alone, each shared library purple used to link, the Lua
-- state with purple's modules, lyaml, and a whole `purple run`. Two figures per row, medians of ROUNDS runs:
-- wait4's ru_maxrss (what `make bench` reports elsewhere) and the exact peak (`rss_probe --peak`: the largest
-- smaps_rollup Rss before any unmap and at exit; bench/rss_probe.c says why ru_maxrss is not exact). Then the
-- exact peak of `purple run ai-strict` split by mapping. Then host PSS per idle session (sessions_pss below).
-- Usage: lua5.4 bench/memory.lua  (make bench runs it); MEM_ONLY=sessions for the session part alone,
-- MEM_SESSIONS=N sessions (default 100, 0 skips them).
local stats = dofile((arg[0]:match("^(.*)/") or ".") .. "/stats.lua")
local ROOT = os.getenv("PURPLE_ROOT") or "."
local RUNNER = os.getenv("RUNNER") or (ROOT .. "/build/bench/runner")
local PROBE = ROOT .. "/build/bench/rss_probe"
local OUT = os.getenv("OUT") or (ROOT .. "/build/bench")
local ROUNDS = tonumber(os.getenv("MEM_ROUNDS") or "20")
local LIB = "/lib/x86_64-linux-gnu/"
local function lib(name)
  local p = io.popen("ldconfig -p 2>/dev/null")
  for l in p:lines() do
    local path = l:match("^%s*" .. name:gsub("%.", "%%.") .. " %(.-%) => (%S+)")
    if path then p:close() return path end
  end
  p:close()
  return LIB .. name
end
local lua, seccomp, cap = lib("liblua5.4.so.0"), lib("libseccomp.so.2"), lib("libcap.so.2")
local script = OUT .. "/memory-empty.lua"
local f = assert(io.open(script, "w")) f:write("return 0\n") f:close()

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local RUN = "purple run ai-strict -- /bin/true"
if os.getenv("MEM_ONLY") ~= "sessions" then
local rows = {
  { "glibc only (empty C program)", { PROBE } },
  { "+ liblua5.4", { PROBE, lua } },
  { "+ libseccomp", { PROBE, seccomp } },
  { "+ libcap", { PROBE, cap } },
  { "+ liblua5.4 + libseccomp + libcap", { PROBE, lua, seccomp, cap } },
  { "lua5.4 interpreter, empty chunk", { "/usr/bin/lua5.4", "-e", ";" } },
  { "lua5.4 + require 'lyaml'", { "/usr/bin/lua5.4", "-e", "require('lyaml')" } },
  { "purple --version (launcher, cli.lua)", { ROOT .. "/bin/purple", "--version" } },
  { "purple-lua empty script (+ purple.exec)", { ROOT .. "/bin/purple-lua", script } },
  { RUN, { ROOT .. "/bin/purple", "run", "--profile", "ai-strict", "--", "/bin/true" } },
  { "purple run minimal -- /bin/true",
    { ROOT .. "/bin/purple", "run", "--profile", ROOT .. "/bench/profiles/minimal.lua", "--", "/bin/true" } },
}
local spec = OUT .. "/memory.tsv"
f = assert(io.open(spec, "w"))
for _, r in ipairs(rows) do f:write(r[1], "\t", table.concat(r[2], "\t"), "\n") end
f:close()
local p = io.popen(("%s alt %d 2 %s"):format(RUNNER, ROUNDS, spec))
local kib = {}
for l in p:lines() do
  local label, k = l:match("^%d+\t([^\t]+)\t%d+\t(%d+)\t")
  if label then
    kib[label] = kib[label] or {}
    table.insert(kib[label], tonumber(k))
  end
end
p:close()

-- Exact peaks, alternating like the runner; the breakdown is the ai-strict run with the median peak.
local exact, runs = {}, {}
for _ = 1, ROUNDS do
  for _, r in ipairs(rows) do
    local argv = {}
    for i, a in ipairs(r[2]) do argv[i] = q(a) end
    local h = io.popen(("%s --peak %s 2>/dev/null </dev/null"):format(q(PROBE), table.concat(argv, " ")))
    local total, groups = nil, {}
    for l in h:lines() do
      if not total then total = tonumber(l)
      else
        local name, k = l:match("^(.-) (%d+)$")
        if name then groups[#groups + 1] = { name, tonumber(k) } end
      end
    end
    h:close()
    if total and total > 0 then
      exact[r[1]] = exact[r[1]] or {}
      table.insert(exact[r[1]], total)
      if r[1] == RUN then runs[#runs + 1] = { total = total, groups = groups } end
    end
  end
end

local base = stats.median(kib[rows[1][1]])
local ebase = stats.median(exact[rows[1][1]] or {}) or 0
io.stdout:write("\nmemory: peak RSS, median KiB: wait4 ru_maxrss | exact (rss_probe --peak)\n")
for _, r in ipairs(rows) do
  local m, e = stats.median(kib[r[1]]) or 0, stats.median(exact[r[1]] or {}) or 0
  io.stdout:write(("  %-44s %6d %+6d | %6d %+6d over glibc\n"):format(r[1], m, m - base, e, e - ebase))
end
if #runs > 0 then
  table.sort(runs, function(a, b) return a.total < b.total end)
  local mid = runs[(#runs + 1) // 2]
  table.sort(mid.groups, function(a, b) return a[2] > b[2] end)
  io.stdout:write(("\nmemory: %s, exact peak %d KiB by mapping (run with the median peak)\n"):format(RUN, mid.total))
  for _, g in ipairs(mid.groups) do io.stdout:write(("  %-32s %6d KiB\n"):format(g[1], g[2])) end
end
end

-- Host PSS per idle session: MEM_SESSIONS ai-strict sessions started one after the other in a
-- runtime directory of their own, then, for each, the Pss of its supervisor, init and agent
-- (/proc/PID/smaps_rollup: shared pages count in part, so the sum over the sessions is what they
-- cost the host together), and the biggest contributors by mapping, summed over all of them.
local function sessions_pss(n)
  local function sh(cmd)
    local h = io.popen(cmd)
    local out = h:read("a")
    local ok, _, code = h:close()
    return out, ok and 0 or code
  end
  local function read(path)
    local h = io.open(path)
    if not h then return nil end
    local t = h:read("a")
    h:close()
    return t
  end
  local rt = sh("mktemp -d /tmp/purple-bench-mem.XXXXXX"):gsub("%s+$", "")
  local env = "PURPLE_RUNTIME_DIR=" .. q(rt) .. " "
  local names = {}
  local function stop_all()
    for i = 1, #names, 50 do
      sh(env .. q(ROOT .. "/bin/purple") .. " session stop " .. table.concat(names, " ", i, math.min(i + 49, #names))
        .. " >/dev/null 2>&1")
    end
    sh("rm -rf " .. q(rt))
  end
  for i = 1, n do
    local name = ("mem%03d"):format(i)
    local _, code = sh(env .. q(ROOT .. "/bin/purple") .. " session start --profile ai-strict --name " .. name
      .. " </dev/null >/dev/null 2>" .. q(rt .. "/start.err"))
    if code ~= 0 then
      io.stdout:write(("\nmemory: session %d of %d did not start: %s"):format(i, n, read(rt .. "/start.err") or "?"))
      stop_all()
      return
    end
    names[#names + 1] = name
  end
  os.execute("sleep 1") -- idle: each supervisor and agent waits in poll
  local function children(pid)
    local out = {}
    for c in (read(("/proc/%d/task/%d/children"):format(pid, pid)) or ""):gmatch("%d+") do out[#out + 1] = tonumber(c) end
    return out
  end
  local function pss(pid)
    return tonumber((read(("/proc/%d/smaps_rollup"):format(pid)) or ""):match("\nPss:%s+(%d+)")) or 0
  end
  local by_role, by_map, total, counted = { supervisor = 0, init = 0, agent = 0 }, {}, 0, 0
  local function maps(pid, role)
    local name
    for l in (read(("/proc/%d/smaps"):format(pid)) or ""):gmatch("[^\n]+") do
      local path = l:match("^%x+%-%x+ %S+ %x+ %S+ %d+%s*(.*)$")
      if path then
        name = path == "" and "[anon]" or path:match("[^/]+$")
      else
        local k = l:match("^Pss:%s+(%d+)")
        if k and name then
          local key = role .. " " .. name
          by_map[key] = (by_map[key] or 0) + tonumber(k)
        end
      end
    end
  end
  for _, name in ipairs(names) do
    local rec = read(rt .. "/" .. name .. ".json") or ""
    local sup, init = tonumber(rec:match('"supervisor_pid":(%d+)')), tonumber(rec:match('"init_pid":(%d+)'))
    if sup and init then
      local pids = { { sup, "supervisor" }, { init, "init" } }
      for _, c in ipairs(children(init)) do pids[#pids + 1] = { c, "agent" } end
      for _, pr in ipairs(pids) do
        local k = pss(pr[1])
        by_role[pr[2]] = by_role[pr[2]] + k
        total = total + k
        maps(pr[1], pr[2])
      end
      counted = counted + 1
    end
  end
  stop_all()
  if counted == 0 then return end
  io.stdout:write(("\nmemory: host PSS per idle ai-strict session with %d sessions running: %d KiB "
    .. "(target <= 1536 KiB)\n"):format(counted, total // counted))
  for _, role in ipairs({ "supervisor", "init", "agent" }) do
    io.stdout:write(("  %-32s %6d KiB\n"):format(role, by_role[role] // counted))
  end
  local list = {}
  for k, v in pairs(by_map) do list[#list + 1] = { k, v } end
  table.sort(list, function(a, b) return a[2] > b[2] end)
  io.stdout:write("  biggest contributors (per session, by process and mapping):\n")
  for i = 1, math.min(12, #list) do
    io.stdout:write(("    %-40s %6d KiB\n"):format(list[i][1], list[i][2] // counted))
  end
end

local SESSIONS = tonumber(os.getenv("MEM_SESSIONS") or "100")
if SESSIONS > 0 then sessions_pss(SESSIONS) end
