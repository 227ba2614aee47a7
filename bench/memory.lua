-- What the supervisor's peak RSS is made of: glibc alone, each shared library purple links, the Lua
-- state with purple's modules, lyaml, and a whole `purple run`. Peak RSS is wait4's ru_maxrss of
-- the direct child (median of ROUNDS runs). Usage: lua5.4 bench/memory.lua  (make bench runs it)
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
  { "purple run ai-strict -- /bin/true", { ROOT .. "/bin/purple", "run", "--profile", "ai-strict", "--", "/bin/true" } },
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
local base = stats.median(kib[rows[1][1]])
io.stdout:write("\nmemory: peak RSS (wait4 ru_maxrss, median)\n")
for _, r in ipairs(rows) do
  local m = stats.median(kib[r[1]])
  io.stdout:write(("  %-44s %6d KiB  %+6d KiB over glibc\n"):format(r[1], m, m - base))
end
