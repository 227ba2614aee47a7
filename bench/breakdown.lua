-- Where one purple run's time goes, measured from inside one Lua process with purple's own
-- monotonic clock. It wraps (does not copy) the pipeline's pieces: every enforcer's prepare and
-- finish, core.spawn, and the sandbox's poll, so it follows exec.lua as that changes.
-- Usage: purple-lua bench/breakdown.lua [PROFILE [RUNS]]   (default ai-strict, 200)
local core = require "purple.core"
local stats = dofile((debug.getinfo(1, "S").source:match("^@(.*)/") or ".") .. "/stats.lua")

local _, profile, runs = ... -- purple-lua gives the profile context first, then the arguments
profile = profile or "ai-strict"
runs = tonumber(runs or "200")

local samples, order = {}, {}
local function add(name, dt)
  if not samples[name] then
    samples[name] = {}
    order[#order + 1] = name
  end
  local s = samples[name]
  s[#s + 1] = dt * 1000
end

local function timed(name, f)
  return function(...)
    local t0 = core.monotonic()
    local r = table.pack(f(...))
    add(name, core.monotonic() - t0)
    return table.unpack(r, 1, r.n)
  end
end

local exec = require "purple.exec" -- purple-lua has loaded it already
local t0 = core.monotonic()
local policy = assert(purple.profile(profile, { argv = { "/bin/true" } }))
add("load profile " .. profile, core.monotonic() - t0)

for _, name in ipairs(exec.enforcers) do
  t0 = core.monotonic()
  local e = require(name)
  add("require " .. name, core.monotonic() - t0)
  local short = name:match("[^.]+$")
  if e.prepare then e.prepare = timed("prepare " .. short, e.prepare) end
  if e.spawned then e.spawned = timed("  spawned " .. short .. " (overlaps init's setup)", e.spawned) end
  if e.finish then e.finish = timed("finish " .. short, e.finish) end
end

-- The sandbox handle is userdata; a proxy times its poll and passes everything else through.
local real_spawn = core.spawn
local phase
core.spawn = function(spec)
  local ts = core.monotonic()
  local sb, err, errno = real_spawn(spec)
  add("core.spawn (clone, id maps, cgroup join)", core.monotonic() - ts)
  if not sb then return sb, err, errno end
  phase = core.monotonic()
  local proxy = setmetatable({}, {
    __index = function(_, k)
      local v = sb[k]
      if type(v) ~= "function" then return v end
      if k == "poll" then
        return function(_, ...)
          local ev, perr = sb:poll(...)
          local now = core.monotonic()
          if ev and ev.event == "started" then
            add("  sandbox setup in init, until the command is exec'd", now - phase)
          elseif ev and ev.event == "exit" then
            add("  command runs and exits, init reaped", now - phase)
          end
          phase = now
          return ev, perr
        end
      end
      return function(_, ...) return v(sb, ...) end
    end,
  })
  local real_close = sb.close
  rawset(proxy, "close", function()
    local tc = core.monotonic()
    real_close(sb)
    add("  sandbox:close", core.monotonic() - tc)
  end)
  return proxy
end

local cold = {}
for i = 1, runs do
  t0 = core.monotonic()
  local r = exec.exec(policy, { "/bin/true" })
  add("purple.exec total", core.monotonic() - t0)
  if r.status ~= 0 then
    io.stderr:write("breakdown: run failed: ", tostring(r.error or r.status), "\n")
    return 125
  end
  if i == 1 then
    for _, n in ipairs(order) do cold[n] = samples[n][#samples[n]] end
  end
end

io.stdout:write(("%-56s %10s %10s\n"):format("step (" .. profile .. ", /bin/true)", "first ms", "median ms"))
for _, n in ipairs(order) do
  local s = samples[n]
  io.stdout:write(("%-56s %10.3f %10s\n"):format(n, cold[n] or s[1], #s > 1 and ("%.3f"):format(stats.median(s)) or "-"))
end
return 0
