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

-- Runs the session in this process until it ends (stop, session timeout, agent gone): returns the
-- purple.exec result. opts: name, on_ready(run) (the socket accepts commands), exec options.
function M.serve(policy, opts)
  local dir, derr = runtime.ensure()
  if not dir then return { status = 125, error = "purple: " .. derr } end
  local paths = M.paths(dir, opts.name)
  local agent_fd, relay_fd = core.session_pair()
  if not agent_fd then return { status = 125, error = "purple: " .. relay_fd } end
  local server
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
      local s, err = core.session_serve({ name = opts.name, path = paths.socket, relay_fd = relay_fd,
        owner = run.uid, deadline = run.deadline })
      relay_fd = nil
      if not s then
        io.stderr:write("purple: ", err, "\n")
        run.sandbox:terminate()
        return
      end
      server = s
      if opts.on_ready then opts.on_ready(run) end
    end,
    finish = function(_, result)
      if server then server:stop(result.timed_out) end
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

return M
