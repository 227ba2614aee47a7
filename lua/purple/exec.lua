-- purple.exec: run one command under one validated policy and return its result.
--
-- The run is a pipeline of enforcers (lua/purple/enforce/*.lua). Each one may define
--   prepare(run)        add to run.spec before the sandbox starts; return nil, "field: why" to stop (125)
--   spawned(run)        the sandbox's init is setting it up (run.sandbox): work that need not delay it
--   started(run)        the command is running (run.sandbox)
--   event(run, ev)      an event from sandbox:poll() that the core did not handle itself
--   signal(run, signo)  the supervisor received signo (already forwarded to the command)
--   kill(run)           the grace period after the session timeout is over: kill everything left
--   finish(run, result) always called, in reverse order, also after a failure: tear down, add to result
-- run = { policy, argv, opts, spec, session, privileged, log, warnings, deadline, ... }
local core = require "purple.core"
local log = require "purple.log"
local status = require "purple.status"

local M = {}

-- Enforcers in the order their prepare() runs. Later issues add theirs here.
M.enforcers = {
  "purple.enforce.audit", -- first: its finish runs last and records the complete result
  "purple.enforce.identity",
  "purple.enforce.filesystem",
  "purple.enforce.environment",
  "purple.enforce.resources",
  "purple.enforce.network",
  "purple.enforce.egress", -- network.allow_domains: the proxy in the sandbox's namespace
  "purple.enforce.privileges",
  "purple.enforce.audit_hidden", -- after every mount is planned: the log stays outside them
  "purple.enforce.runtime",
}

-- opts.enforcers: more enforcer tables after the standard ones (purple.session adds its own).
local function load_enforcers(extra)
  local list = {}
  for i, name in ipairs(M.enforcers) do list[i] = require(name) end
  for _, e in ipairs(extra or {}) do list[#list + 1] = e end
  return list
end

local function fail(result, code, message)
  result.status = code
  result.error = message
  return result
end

-- Runs the event loop until the command (and with it the sandbox) has exited.
local function supervise(run, result, enforcers)
  local sandbox = run.sandbox
  local term_at, kill_at
  for _, e in ipairs(enforcers) do
    if e.spawned then e.spawned(run) end
  end
  while true do
    local now = core.monotonic()
    local wait = -1
    if run.deadline and not term_at then
      wait = math.max(0, math.ceil((run.deadline - now) * 1000))
    elseif kill_at then
      wait = math.max(0, math.ceil((kill_at - now) * 1000))
    end
    -- poll takes an int of ms (24.8 days): a longer timeout (any finite number of seconds is one)
    -- wakes the loop then and waits again
    if wait > 0x7fffffff then wait = 0x7fffffff end
    local ev, err = sandbox:poll(wait)
    if ev == nil and err then
      return fail(result, status.SETUP, "purple: " .. err)
    end
    now = core.monotonic()
    if not ev then
      if run.deadline and not term_at and now >= run.deadline then
        -- Session timeout: SIGTERM to every process of the sandbox, then SIGKILL after the grace period.
        result.timed_out = true
        log.info("session timeout after %gs: terminating the sandbox", run.timeout)
        sandbox:terminate()
        term_at = now
        kill_at = now + (run.grace or 2)
      elseif kill_at and now >= kill_at then
        log.info("grace period over: killing the sandbox")
        sandbox:kill(9)
        -- enforcers may kill more directly (resources: cgroup.kill)
        for _, e in ipairs(enforcers) do
          if e.kill then e.kill(run) end
        end
        kill_at = nil
      end
    elseif ev.event == "started" then
      result.started = true
      for _, e in ipairs(enforcers) do
        if e.started then e.started(run) end
      end
    elseif ev.event == "setup_error" then
      result.setup_error = ev
      return fail(result, status.SETUP, "purple: " .. ev.message)
    elseif ev.event == "exec_error" then
      result.exec_error = ev
      local code = ev.errno == status.ENOENT and status.NOT_FOUND or status.NOT_EXECUTABLE
      local msg = "purple: " .. ev.message
      if code == status.NOT_FOUND then
        msg = msg .. " (not found in the sandbox's PATH or filesystem)"
      end
      return fail(result, code, msg)
    elseif ev.event == "exit" then
      result.code, result.signal, result.core_dumped = ev.code, ev.signal, ev.core_dumped
      return result
    elseif ev.event == "signal" then
      log.debug("forwarded signal %d to the sandbox", ev.signal)
      for _, e in ipairs(enforcers) do
        if e.signal then e.signal(run, ev.signal) end
      end
    elseif ev.event == "stop" then
      -- `purple stop ID`: the same teardown as a session timeout (SIGTERM to all, grace, SIGKILL).
      if not term_at then
        result.stopped = { by_pid = ev.sender_pid, by_uid = ev.sender_uid }
        log.info("stop requested by pid %d (uid %d): terminating the sandbox", ev.sender_pid, ev.sender_uid)
        sandbox:terminate()
        term_at = now
        kill_at = now + (run.grace or 2)
      end
    else
      local handled = false
      for _, e in ipairs(enforcers) do
        if e.event and e.event(run, ev) then handled = true break end
      end
      if not handled then log.debug("unhandled sandbox event %s", ev.event) end
    end
  end
end

-- purple.exec(policy, argv [, opts]) -> result
-- opts: timeout (seconds, overrides the policy), log (level), load_base (purple.profiles' loader,
-- for a policy table with extends: purple.exec passes it); stdin/out/err are inherited.
function M.exec(policy, argv, opts)
  opts = opts or {}
  local t0 = core.monotonic()
  local result = { policy = policy.name, argv = argv, started = false, timed_out = false, warnings = {} }
  if type(argv) ~= "table" or #argv == 0 or argv[1] == "" then
    return fail(result, status.SETUP, "purple: command: empty (argv[1] must name the program)")
  end
  -- A policy changed or built in Lua after loading is checked again (normalising is idempotent):
  -- an unknown key or a bad value must stop the run, not be ignored by the enforcers. One that
  -- is as purple loaded it is only copied (policy.check).
  local valid, invalid = require("purple.policy").check(policy, { load_base = opts.load_base })
  if not valid then return fail(result, status.SETUP, "purple: " .. invalid:gsub("\n", "\npurple: ")) end
  valid.source = policy.source
  policy = valid
  local uid, gid = core.ids()
  local run = {
    policy = policy, argv = argv, opts = opts, result = result, warnings = result.warnings,
    uid = uid, gid = gid, privileged = uid == 0,
    session = opts.session or core.random_hex(8),
    spec = { argv = argv, mounts = {}, namespaces = "user,mount,pid,ipc,uts,cgroup" },
  }
  result.session = run.session
  local enforcers = load_enforcers(opts.enforcers)
  local prepared = {}
  local ok, perr = true, nil
  for _, e in ipairs(enforcers) do
    prepared[#prepared + 1] = e
    if e.prepare then
      local r, err = e.prepare(run)
      if not r then ok, perr = false, err break end
    end
  end
  if ok then
    local sandbox, err = core.spawn(run.spec)
    if not sandbox then
      fail(result, status.SETUP, "purple: " .. err)
    else
      run.sandbox = sandbox
      local timeout = opts.timeout or policy.resources.session_timeout_seconds
      if timeout and timeout > 0 then
        run.timeout = timeout
        run.deadline = t0 + timeout
      end
      run.grace = policy.resources.grace_seconds
      local sok, serr = pcall(supervise, run, result, enforcers)
      sandbox:close()
      if not sok then fail(result, status.SETUP, "purple: internal error: " .. tostring(serr)) end
    end
  else
    fail(result, status.SETUP, "purple: " .. perr)
  end
  for i = #prepared, 1, -1 do
    local e = prepared[i]
    if e.finish then
      local fok, ferr = pcall(e.finish, run, result)
      if not fok then
        log.error("teardown: %s", tostring(ferr))
        result.warnings[#result.warnings + 1] = "teardown: " .. tostring(ferr)
      end
    end
  end
  result.duration = core.monotonic() - t0
  if not result.status then
    if result.timed_out then
      result.status = status.TIMEOUT
    elseif result.signal then
      result.status = 128 + result.signal
    else
      result.status = result.code
    end
  end
  return result
end

return M
