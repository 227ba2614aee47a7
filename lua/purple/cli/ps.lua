-- purple ps [--watch [SECONDS]] [--json]: the running sessions of the runtime directory (see
-- purple.runtime) with uptime, CPU time, memory and process count, read from the session's cgroups
-- when it has any, else summed over the sandbox's processes in /proc; for a session (purple session
-- start), also the commands running in it (M.commands; purple session list shows the same).
local core = require "purple.core"
local json = require "purple.json"
local runtime = require "purple.runtime"
local usage_fmt = require "purple.cli.usage"
local args = require "purple.cli.args"

local M = {}

local USER_HZ, PAGE = 100, 4096 -- /proc units: clock ticks (USER_HZ is 100 on Linux) and pages

local read = require("purple.files").read

local function num(path) return tonumber((read(path) or ""):match("^%s*(%d+)")) end

-- Usage from the cgroup directories: v2 files where present, else v1 ones.
local function cgroup_usage(dirs)
  local u = {}
  for _, d in ipairs(dirs) do
    local cpu = (read(d .. "/cpu.stat") or ""):match("usage_usec (%d+)")
    if cpu and not u.cpu_seconds then u.cpu_seconds = tonumber(cpu) / 1e6 end
    local acct = num(d .. "/cpuacct.usage")
    if acct and not u.cpu_seconds then u.cpu_seconds = acct / 1e9 end
    u.memory_bytes = u.memory_bytes or num(d .. "/memory.current") or num(d .. "/memory.usage_in_bytes")
    u.pids = u.pids or num(d .. "/pids.current")
  end
  return u
end

-- init and every descendant, through /proc/PID/task/TID/children.
local function descendants(pid, out)
  out[#out + 1] = pid
  for _, tid in ipairs(core.readdir(("/proc/%d/task"):format(pid)) or {}) do
    for child in (read(("/proc/%d/task/%s/children"):format(pid, tid)) or ""):gmatch("%d+") do
      descendants(tonumber(child), out)
    end
  end
  return out
end

local function proc_usage(init_pid, u)
  local ticks, pages = 0, 0
  local pids = descendants(init_pid, {})
  for _, p in ipairs(pids) do
    local rest = (read(("/proc/%d/stat"):format(p)) or ""):match("%) (.*)$")
    if rest then
      local f, i = {}, 2
      for w in rest:gmatch("%S+") do
        i = i + 1
        f[i] = w
        if i >= 15 then break end
      end
      ticks = ticks + (tonumber(f[14]) or 0) + (tonumber(f[15]) or 0)
    end
    pages = pages + (tonumber((read(("/proc/%d/statm"):format(p)) or ""):match("^%d+ (%d+)")) or 0)
  end
  u.cpu_seconds = u.cpu_seconds or ticks / USER_HZ
  u.memory_bytes = u.memory_bytes or pages * PAGE
  u.pids = u.pids or #pids
  return u
end

-- The commands running in a session: the children of its agent (init's child named purple-session),
-- as { pid, argv } in pid order, read from /proc (pids of the supervisor's pid namespace).
function M.commands(rec)
  local list = {}
  if rec.kind ~= "session" or math.type(rec.init_pid) ~= "integer" then return list end
  local function children(pid)
    local out = {}
    for _, tid in ipairs(core.readdir(("/proc/%d/task"):format(pid)) or {}) do
      for child in (read(("/proc/%d/task/%s/children"):format(pid, tid)) or ""):gmatch("%d+") do
        out[#out + 1] = tonumber(child)
      end
    end
    return out
  end
  for _, agent in ipairs(children(rec.init_pid)) do
    -- init's other children are orphans of earlier commands, not the agent
    local comm = (read(("/proc/%d/comm"):format(agent)) or ""):gsub("\n$", "")
    for _, pid in ipairs(comm == "purple-session" and children(agent) or {}) do
      local argv = {}
      for a in (read(("/proc/%d/cmdline"):format(pid)) or ""):gmatch("([^%z]*)%z") do argv[#argv + 1] = a end
      if #argv > 0 then list[#list + 1] = { pid = pid, argv = argv } end -- else it exited meanwhile
    end
  end
  table.sort(list, function(a, b) return a.pid < b.pid end)
  return list
end

function M.usage(rec)
  local u = cgroup_usage(rec.cgroups or {})
  if not (u.cpu_seconds and u.memory_bytes and u.pids) and math.type(rec.init_pid) == "integer" then
    proc_usage(rec.init_pid, u)
  end
  return u
end

local function uptime(sec)
  sec = math.max(0, math.floor(sec))
  return ("%d:%02d:%02d"):format(sec // 3600, sec // 60 % 60, sec % 60)
end

local function sessions()
  local now = core.realtime()
  local list = runtime.list(true)
  for _, rec in ipairs(list) do
    rec.uptime_seconds = now - (rec.started_epoch or now)
    rec.usage = json.object(M.usage(rec))
    if rec.kind == "session" then rec.commands = M.commands(rec) end
  end
  return list
end

local function print_table(list)
  io.stdout:write(("%-16s  %-14s %7s %7s %9s %8s %8s %5s  %s\n"):format("ID", "PROFILE", "PID", "INIT", "UPTIME",
    "CPU", "MEM", "PIDS", "COMMAND"))
  for _, r in ipairs(list) do
    local u = r.usage
    local mem = u.memory_bytes and usage_fmt.bytes(u.memory_bytes) or "-"
    io.stdout:write(("%-16s  %-14s %7d %7d %9s %8s %8s %5s  %s\n"):format(r.id, tostring(r.profile),
      r.supervisor_pid, r.init_pid or 0, uptime(r.uptime_seconds),
      u.cpu_seconds and ("%.2fs"):format(u.cpu_seconds) or "-", mem,
      tostring(u.pids or "-"), table.concat(r.argv or {}, " ")))
    for _, c in ipairs(r.commands or {}) do
      io.stdout:write(("  %7d  %s\n"):format(c.pid, table.concat(c.argv, " ")))
    end
  end
end

function M.parser()
  local p = args.parser("purple ps", "Lists the running sessions of purple's runtime directory (this user's; "
    .. "$PURPLE_RUNTIME_DIR): id, profile, supervisor and init pid, uptime, CPU time, memory, process count "
    .. "and command; under a session (purple session start), the pid and command line of each command "
    .. "running in it.")
  p:option("-w --watch", "Redraw the list every SECONDS (default 2) until interrupted.")
    :args("?"):argname("SECONDS"):convert(args.seconds("--watch"))
  p:flag("--json", "Print the sessions as a JSON array.")
  return p
end

function M.run(opts)
  local watch, as_json = opts.watch and (opts.watch[1] or 2), opts.json
  repeat
    local list = sessions()
    if watch then io.stdout:write("\27[H\27[2J", runtime.dir(), "  ", os.date("%H:%M:%S"), "\n") end
    if as_json then
      io.stdout:write(json.encode(list), "\n")
    else
      print_table(list)
    end
    io.stdout:flush()
    if watch then core.sleep(watch) end
  until not watch
  return 0
end

return M
