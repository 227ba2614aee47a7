-- purple.mcp.sandbox: the one purple session behind `purple mcp` (lua/purple/session.lua does the
-- run): started on the first tool call, ended by reset, by the end of the server or by its own
-- timeout (then started again by the next call). Unlike purple.session, the supervisor's log is
-- kept while the session runs: its violation lines ("purple: blocked syscall ...") are read after
-- each command and returned with the command's result; other lines go to the server's stderr.
local core = require "purple.core"
local runtime = require "purple.runtime"
local session = require "purple.session"

local M = {}
local Sandbox = {}
Sandbox.__index = Sandbox

-- new(policy, { timeout = session timeout seconds | nil }) -> sandbox (not started)
function M.new(policy, opts)
  return setmetatable({ policy = policy, opts = opts or {}, pid = nil }, Sandbox)
end

-- running() -> true while the session's supervisor is alive (a session that ended by itself is
-- collected here, so the next command starts a new one).
function Sandbox:running()
  if not self.pid then return false end
  if core.session_reap(self.pid) then
    self:forget()
    return false
  end
  return true
end

-- ended(wait) -> true when the supervisor ends within wait seconds (a session whose socket is
-- gone is on its way out: ended by its timeout, its files removed before it exits).
function Sandbox:ended(wait)
  local deadline = core.monotonic() + wait
  repeat
    if not self:running() then return true end
    core.sleep(0.01)
  until core.monotonic() > deadline
  return false
end

function Sandbox:forget()
  if self.log then os.remove(self.log) end
  self.pid, self.socket, self.log, self.log_at = nil, nil, nil, 0
end

-- ensure() -> socket | nil, err: starts the session when it is not running.
function Sandbox:ensure()
  if self:running() then return self.socket end
  local dir, derr = runtime.ensure()
  if not dir then return nil, derr end
  local name = "mcp-" .. core.random_hex(6)
  local paths = session.paths(dir, name)
  os.remove(paths.log)
  io.stdout:flush()
  io.stderr:flush()
  local server_pid = core.getpid()
  local who, a, b = core.session_daemonize(paths.log)
  if not who then return nil, a end
  if who == "child" then
    -- the supervisor: runs the session, then exits without returning to the server's loop. It
    -- stops as `purple stop` stops it when the server dies, even by SIGKILL.
    core.session_parent_death(core.SIG_STOP, server_pid)
    local ready = false
    local ok, result = pcall(session.serve, self.policy, { name = name, exec = { timeout = self.opts.timeout },
      on_ready = function() ready = true core.session_ready(a, "ok\n") end })
    if not ok then result = { status = 125, error = "purple: internal error: " .. tostring(result) } end
    if result.error then io.stderr:write(result.error, "\n") end
    io.stderr:flush()
    -- its log goes with it (the server reads it while the session runs, and may be gone)
    if ready then os.remove(paths.log) end
    core.session_exit(result.status or 125)
  end
  if a ~= "ok\n" then
    local text = require("purple.files").read(paths.log) or ""
    os.remove(paths.log)
    while not core.session_reap(b) do core.sleep(0.01) end
    text = text:gsub("^purple: ", ""):gsub("\n+$", ""):gsub("\npurple: ", "; ")
    return nil, text ~= "" and text or "the session's supervisor ended before the session started"
  end
  self.pid, self.socket, self.log, self.log_at, self.name = b, paths.socket, paths.log, 0, name
  require("purple.log").info("mcp: session %s started (supervisor pid %d)", name, b)
  return self.socket
end

-- violations() -> the violation lines the supervisor wrote since the last call, "purple: " cut
-- off; its other lines are copied to stderr.
function Sandbox:violations()
  local out = {}
  if not self.log then return out end
  local f = io.open(self.log, "rb")
  if not f then return out end
  f:seek("set", self.log_at)
  local data = f:read("a") or ""
  f:close()
  local upto = data:match(".*\n()") -- whole lines only: one being written is read next time
  if not upto then return out end
  self.log_at = self.log_at + upto - 1
  for line in data:sub(1, upto - 1):gmatch("([^\n]*)\n") do
    if line:match("^purple: blocked ") or line:match("^purple: logged ") then
      out[#out + 1] = line:sub(9)
    elseif line ~= "" then
      io.stderr:write(line, "\n")
    end
  end
  return out
end

-- stop([wait]): ends the session as purple stop does (SIGTERM, grace, SIGKILL, all removed) and
-- waits for its supervisor; after wait seconds (default 30) it is killed.
function Sandbox:stop(wait)
  if not self.pid then return end
  local pid = self.pid
  core.kill(pid, core.SIG_STOP)
  local deadline = core.monotonic() + (wait or 30)
  while not core.session_reap(pid) do
    if core.monotonic() > deadline then
      core.kill(pid, core.signal_number("KILL"))
      while not core.session_reap(pid) do core.sleep(0.01) end
      break
    end
    core.sleep(0.01)
  end
  self:violations() -- its last lines to stderr
  self:forget()
end

return M
