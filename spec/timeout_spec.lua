-- The session timeout ends the whole sandbox: SIGTERM to every process, a grace period, then SIGKILL
-- for all, so that processes that setsid, double-fork or ignore SIGTERM die too (status 124). Nothing
-- outlives a run, also when the supervisor itself is SIGKILLed; its cgroups go with the next run.
-- Leftovers are looked up by a marker unique to each case, in every process's command line.
local H = require "spec_helper"
local core = require "purple.core"

local function profile(resources)
  return H.profile(([[
return {
  name = "spec-timeout",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
    scratch_paths = { "/tmp" },
    working_dir = "/tmp",
  },
  resources = { %s },
}]]):format(resources or ""))
end

local function marker()
  return "purple-spec-marker-" .. core.random_hex(6)
end

-- Host pids of the processes whose command line contains `mark`.
local function with_marker(mark)
  local pids = {}
  local me = core.getpid()
  local h = io.popen("ls /proc")
  for name in h:lines() do
    local pid = tonumber(name)
    if pid and pid ~= me then
      local cmd = H.read("/proc/" .. pid .. "/cmdline")
      if cmd and cmd:find(mark, 1, true) then pids[#pids + 1] = pid end
    end
  end
  h:close()
  return pids
end

local function sleep(s) os.execute("sleep " .. s) end

-- Waits (up to `limit` seconds) until fn() is true; returns its last value.
local function wait_for(fn, limit)
  local v
  for _ = 1, math.floor((limit or 10) / 0.05) do
    v = fn()
    if v then return v end
    sleep(0.05)
  end
  return fn()
end

-- Starts purple in the background; returns a handle with the supervisor's pid and a status file.
local function start(resources, argv, args)
  local d = H.tmpdir()
  local words = { H.purple, "run", "--profile", profile(resources) }
  for _, a in ipairs(args or {}) do words[#words + 1] = a end
  words[#words + 1] = "--"
  for _, a in ipairs(argv) do words[#words + 1] = a end
  for i, w in ipairs(words) do words[i] = H.q(w) end
  -- the supervisor runs in the background with its own pid in $!; a watcher records its status
  -- (from a script file, so that only the sandbox's processes carry the marker in their argv)
  H.write(d .. "/run.sh", ("%s >%s/out 2>%s/err </dev/null & echo $! >%s/pid; wait $!; echo $? >%s/status\n")
    :format(table.concat(words, " "), d, d, d, d))
  os.execute(("sh %s/run.sh >/dev/null 2>&1 &"):format(d))
  local pid = wait_for(function() return tonumber(H.read(d .. "/pid") or "") end)
  return { dir = d, pid = pid }
end

local function finished(p)
  return wait_for(function() return tonumber(H.read(p.dir .. "/status") or "") end, 30)
end

local function gone(pids)
  for _, pid in ipairs(pids) do
    if core.kill(pid, 0) then return false end
  end
  return true
end

-- A process tree that ignores SIGTERM: the command, a setsid'd daemon, and a double-forked orphan.
local function stubborn(mark)
  return { "sh", "-c", [[
trap '' TERM
setsid sh -c 'trap "" TERM; while :; do sleep 1; done' "$0" &
(sh -c 'trap "" TERM; while :; do sleep 1; done' "$0" &) &
while :; do sleep 1; done]], mark }
end

describe("session timeout", function()
  after_each(H.cleanup)

  it("ends a command that sleeps with status 124", function()
    local out, err, code = H.run(profile(), { "sleep", "1000" }, { args = { "--timeout", "1" } })
    assert.are.equal(124, code, err)
    assert.are.equal("", out)
  end)

  it("sends SIGTERM first: a command that exits on it still gives 124", function()
    local out, err, code = H.run(profile("session_timeout_seconds = 1"),
      { "sh", "-c", "trap 'echo got TERM; exit 3' TERM; while :; do sleep 0.1; done" })
    assert.are.equal(124, code, err)
    assert.are.equal("got TERM\n", out)
  end)

  it("sends the SIGTERM to every process, also a setsid'd daemon of a command that ignores it", function()
    local out, err, code = H.run(profile("session_timeout_seconds = 1, grace_seconds = 1"), { "sh", "-c", [[
setsid sh -c 'trap "echo daemon got TERM; exit 0" TERM; while :; do sleep 0.1; done' &
trap '' TERM
while :; do sleep 0.1; done]] })
    assert.are.equal(124, code, err)
    assert.are.equal("daemon got TERM\n", out)
  end)

  it("kills setsid, double-forked and SIGTERM-ignoring processes after the grace period: nothing left", function()
    local mark = marker()
    local p = start("session_timeout_seconds = 2, grace_seconds = 1", stubborn(mark))
    -- the supervisor, the command, the daemon, the orphan (and its parent subshell, briefly); init
    -- shows only purple-init
    local seen = wait_for(function()
      local pids = with_marker(mark)
      return #pids >= 4 and pids
    end)
    assert.truthy(seen, "the sandbox's processes did not all start")
    assert.are.equal(124, finished(p), H.read(p.dir .. "/err"))
    assert.are.same({}, with_marker(mark))
    assert.is_true(gone(seen))
    -- and no cgroup of this run is left (named <session>-<supervisor pid>)
    assert.are.equal("", (H.sh("find /sys/fs/cgroup -maxdepth 7 -type d -name '*-" .. p.pid .. "' 2>/dev/null")))
  end)

  it("reports the timeout in the result, distinct from an OOM kill", function()
    local d = H.tmpdir()
    local _, err, code = H.run(profile("session_timeout_seconds = 1, grace_seconds = 0"),
      { "sh", "-c", "trap '' TERM; sleep 1000" }, { args = { "--report", d .. "/r.json" } })
    assert.are.equal(124, code, err)
    local r = require("lyaml").load(H.read(d .. "/r.json"))
    assert.is_true(r.timed_out)
    assert.is_false(r.oom_killed)
    assert.are.equal(124, r.status)
  end)

  it("--timeout overrides the policy's session_timeout_seconds", function()
    local _, err, code = H.run(profile("session_timeout_seconds = 3600"), { "sleep", "1000" },
      { args = { "--timeout", "0.5" } })
    assert.are.equal(124, code, err)
  end)

  it("takes any finite timeout: one longer than poll's int of ms runs the command (no internal error)", function()
    local out, err, code = H.run(profile("session_timeout_seconds = 1e300"), { "echo", "ran" })
    assert.are.same({ "ran\n", "", 0 }, { out, err, code })
    out, err, code = H.run(profile(), { "echo", "ran" }, { args = { "--timeout", "3000000" } })
    assert.are.same({ "ran\n", "", 0 }, { out, err, code })
  end)
end)

describe("a supervisor killed with SIGKILL", function()
  after_each(H.cleanup)

  it("takes the whole sandbox with it, and the next run removes its cgroups", function()
    local mark = marker()
    -- with a CPU quota where it can have one: the next run has none, yet sweeps the cpu cgroup too
    local cpu = require("purple.cgroup").describe().controllers.cpu.usable and "cpu_shares = 4" or ""
    local p = start(cpu, stubborn(mark))
    local seen = wait_for(function()
      local pids = with_marker(mark)
      return #pids >= 4 and pids
    end)
    assert.truthy(seen, "the sandbox's processes did not all start")
    local find = "find /sys/fs/cgroup -maxdepth 7 -type d -name '*-" .. p.pid .. "' 2>/dev/null"
    if require("purple.cgroup").describe().controllers.memory.usable then
      assert.are_not.equal("", (H.sh(find)), "the run has no cgroups")
    end
    assert.truthy(core.kill(p.pid, 9))
    -- init has the parent-death signal: the pid namespace dies with it
    assert.truthy(wait_for(function() return #with_marker(mark) == 0 end), "processes outlived the supervisor")
    assert.is_true(wait_for(function() return gone(seen) end))
    -- its cgroups are stale now (empty, owner gone): the next run removes them
    local left = H.sh(find)
    local _, err, code = H.run(profile(), { "true" })
    assert.are.equal(0, code, err)
    assert.are.equal("", (H.sh(find)), "stale cgroups of the killed supervisor: " .. left)
  end)
end)
