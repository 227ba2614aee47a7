-- What the supervisor's peak RSS is made of: glibc alone, each shared library purple used to link, the Lua
-- state with purple's modules, lyaml, and a whole `purple run`. Two figures per row, medians of ROUNDS runs:
-- wait4's ru_maxrss (what `make bench` reports elsewhere) and the exact peak (`rss_probe --peak`: the largest
-- smaps_rollup Rss before any unmap and at exit; bench/rss_probe.c says why ru_maxrss is not exact). Then the
-- exact peak of `purple run ai-strict` split by mapping. Usage: lua5.4 bench/memory.lua  (make bench runs it)
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

local RUN = "purple run ai-strict -- /bin/true"
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
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
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
