-- purple.session: a sandbox that stays up and runs many commands (docs/sessions.md).
--
-- The session is one purple.exec run whose payload is the session agent (csrc/session_agent.c)
-- instead of a command: the whole pipeline (identity, filesystem, environment, resources,
-- network, privileges, audit, runtime) applies once, and the agent, under the policy's Landlock
-- domain and seccomp filter, forks and execs every command inside. This process, the supervisor,
-- relays requests from the session's socket <runtime dir>/<name>.sock (csrc/session_server.c).
local core = require "purple.core"
local runtime = require "purple.runtime"

local M = {}

-- Session names: also file names in the runtime directory.
function M.valid_name(name)
  return type(name) == "string" and #name <= 64 and name:match("^[%w][%w_.-]*$") ~= nil
end

function M.paths(dir, name)
  return { socket = dir .. "/" .. name .. ".sock", log = dir .. "/" .. name .. ".log" }
end

-- command_end's reason from a relay end event (csrc/session_events.h).
function M.end_reason(ev)
  if ev.status < 0 then return "client_gone" end -- its purple exec went away: the command was killed
  if ev.timed_out then return "timeout" end
  if ev.errno ~= 0 then
    if ev.status == 126 or ev.status == 127 then return "exec_error" end
    return "error"
  end
  if ev.status > 128 then return "signal" end
  return "exit"
end

-- Runs the session in this process until it ends (stop, session timeout, agent gone): returns the
-- purple.exec result. opts: name, on_ready(run) (the socket accepts commands), exec options.
function M.serve(policy, opts)
  local dir, derr = runtime.ensure()
  if not dir then return { status = 125, error = "purple: " .. derr } end
  local paths = M.paths(dir, opts.name)
  local agent_fd, relay_fd = core.session_pair()
  if not agent_fd then return { status = 125, error = "purple: " .. relay_fd } end
  local server, events, starts = nil, nil, {}
  -- Command events of the relay (csrc/session_events.c) become the audit log's command_start and
  -- command_end records; read only when the policy's log is enabled (no wake-up per command otherwise).
  local function drain(run)
    local audit = require "purple.audit"
    while true do
      local ev = events:pop()
      if not ev then break end
      run.command_events_dropped = ev.dropped > 0 and ev.dropped or nil
      local client = { uid = ev.uid, pid = ev.pid }
      if ev.kind == "start" then
        starts[ev.id] = ev.time
        audit.record(run, "command_start", { command = ev.id, argv = ev.argv, argv_truncated = ev.truncated or nil,
          tty = ev.tty, timeout_seconds = ev.timeout > 0 and ev.timeout or nil, client = client })
      else
        local t0 = starts[ev.id]
        starts[ev.id] = nil
        audit.record(run, "command_end", { command = ev.id, status = ev.status >= 0 and ev.status or nil,
          reason = M.end_reason(ev), duration = t0 and math.max(0, ev.time - t0) or nil, usage = ev.usage,
          client = client })
      end
    end
  end
  local enforcer = {
    prepare = function(run)
      run.spec.session_fd = agent_fd
      run.kind, run.socket = "session", paths.socket
      return true
    end,
    started = function(run)
      -- init and the agent hold their copies of the agent's end now
      core.session_close_fd(agent_fd)
      agent_fd = nil
      if run.audit then events = core.session_events() end
      local s, err = core.session_serve({ name = opts.name, path = paths.socket, relay_fd = relay_fd,
        owner = run.uid, deadline = run.deadline, events = events })
      relay_fd = nil
      if not s then
        io.stderr:write("purple: ", err, "\n")
        run.sandbox:terminate()
        return
      end
      server = s
      if events then run.sandbox:watch(events:fd()) end
      if opts.on_ready then opts.on_ready(run) end
      core.session_compact() -- idle from here: the garbage of the setup goes back to the kernel
    end,
    event = function(run, ev)
      if ev.event ~= "watch" then return false end
      if events then drain(run) end
      return true
    end,
    finish = function(run, result)
      if server then
        result.commands = server:counts()
        server:stop(result.timed_out)
        if events then drain(run) end -- the ends of the commands the stop ended
        result.command_events_dropped = run.command_events_dropped
      end
      if agent_fd then core.session_close_fd(agent_fd) end
      if relay_fd then core.session_close_fd(relay_fd) end
    end,
  }
  local eopts = {}
  for k, v in pairs(opts.exec or {}) do eopts[k] = v end
  eopts.session = opts.name
  eopts.enforcers = { enforcer }
  return require("purple.exec").exec(policy, { "purple-session", opts.name }, eopts)
end

-- A session opened from Lua: purple.session(policy [, {name, timeout}]) -> session | nil, err.
local Session = {}
Session.__index = Session

-- session:exec(argv [, {timeout, cwd, env = {K = V} or {"K=V"}, stdin = string, stdout = "capture",
-- stderr = "capture"}]) -> { status, stdout, stderr, message, command, usage } | nil, err, errno
-- command: its number in the session; usage: { wall_seconds, user_seconds, system_seconds, maxrss_bytes }
-- of the command's process as the agent reaped it (docs/sessions.md, Usage), absent when it did not run
function Session:exec(argv, o)
  if self.closed then error("purple.session: exec on a closed session", 2) end
  o = o or {}
  local env
  if o.env then
    env = {}
    for k, v in pairs(o.env) do
      if math.type(k) == "integer" then env[#env + 1] = v else env[#env + 1] = k .. "=" .. tostring(v) end
    end
    table.sort(env)
  end
  return core.session_exec(self.socket, argv, { env = env, cwd = o.cwd, timeout = o.timeout, stdin = o.stdin,
    stdout = o.stdout, stderr = o.stderr })
end

-- session:close([wait]): ends the session as purple stop does and waits (default 30 s) for its end.
function Session:close(wait)
  if self.closed then return true end
  self.closed = true
  core.kill(self.pid, core.SIG_STOP)
  local deadline = core.monotonic() + (wait or 30)
  while core.monotonic() < deadline do
    if core.session_reap(self.pid) then return true end
    core.sleep(0.02)
  end
  return nil, ("session %s: still running after %gs (supervisor pid %d)"):format(self.name, wait or 30, self.pid)
end
Session.__close = Session.close
Session.__gc = Session.close

function M.open(policy, opts)
  opts = opts or {}
  local name = opts.name or core.random_hex(6)
  if not M.valid_name(name) then
    error("purple.session: name: letters, digits, '_', '.', '-' (at most 64, not starting with '.' or '-')", 2)
  end
  local dir, derr = runtime.ensure()
  if not dir then return nil, derr end
  for _, rec in ipairs(runtime.list(true)) do
    if rec.id == name then return nil, ("session %s: already running (pid %d)"):format(name, rec.supervisor_pid) end
  end
  local paths = M.paths(dir, name)
  os.remove(paths.log)
  local who, a, b = core.session_daemonize(paths.log)
  if not who then return nil, a end
  if who == "child" then
    -- the supervisor: runs the session, then exits without returning to the caller's script
    local ready = false
    local ok, result = pcall(M.serve, policy, { name = name, exec = { timeout = opts.timeout, load_base = opts.load_base },
      on_ready = function() ready = true core.session_ready(a, "ok\n") end })
    if not ok then result = { status = 125, error = "purple: internal error: " .. tostring(result) } end
    if result.error then io.stderr:write(result.error, "\n") end
    if ready then os.remove(paths.log) end
    io.stderr:flush()
    core.session_exit(result.status or 125)
  end
  if a ~= "ok\n" then
    local text = require("purple.files").read(paths.log) or ""
    os.remove(paths.log)
    while not core.session_reap(b) do core.sleep(0.01) end
    text = text:gsub("^purple: ", ""):gsub("\n$", "")
    return nil, text ~= "" and text or ("session %s: the supervisor ended before the session started"):format(name)
  end
  return setmetatable({ name = name, socket = paths.socket, pid = b }, Session)
end

return M
