-- purple stop [--wait SECONDS] ID...: ends running sessions the way a session timeout does.
--
-- The request is the signal core.SIG_STOP (SIGRTMIN+3) sent to the session's supervisor, the
-- `purple run` process named in the runtime directory. The supervisor watches it through its
-- signalfd and never forwards it: it sends SIGTERM to every process of the sandbox, waits the
-- policy's grace period (resources.grace_seconds, default 2 s), then kills what is left, writes
-- session_end (reason "stopped") to the audit log and exits with the command's status.
-- kill(2)'s permission rule is the access control: root, or the user who started the session.
local core = require "purple.core"
local runtime = require "purple.runtime"
local args = require "purple.cli.args"

local M = {}

function M.parser()
  local p = args.parser("purple stop", "Ends running sessions the way a session timeout does: SIGTERM to every "
    .. "process of the sandbox, then, after the policy's grace period, SIGKILL to what is left. Root, or the "
    .. "user who started a session, may stop it.")
  p:argument("ID", "A session id or a unique prefix of one (purple ps lists them)."):args("+"):target("ids")
  p:option("--wait", "Wait up to SECONDS for the sessions to end (default 30; 0: do not wait).")
    :argname("SECONDS"):convert(args.seconds("--wait", true)):default("30")
  return p
end

local function err(msg)
  io.stderr:write("purple: ", msg, "\n")
end

function M.run(opts)
  local wait, ids = opts.wait, opts.ids
  local status, pending = 0, {}
  for _, id in ipairs(ids) do
    local rec, ferr = runtime.find(id)
    if not rec then
      err(ferr)
      status = 1
    else
      local ok, kerr, errno = core.kill(rec.supervisor_pid, core.SIG_STOP)
      if not ok then
        local hint = errno == 1 and " (the session belongs to another user: run as root or as that user)" or ""
        err(("stop %s: %s%s"):format(rec.id, kerr, hint))
        status = 1
      else
        pending[#pending + 1] = rec
      end
    end
  end
  if wait == 0 then return status end
  -- Wait for the supervisors to finish their teardown.
  local deadline = core.monotonic() + wait
  while #pending > 0 and core.monotonic() < deadline do
    core.sleep(0.05)
    for j = #pending, 1, -1 do
      if not runtime.alive(pending[j]) then
        io.stdout:write(pending[j].id, " stopped\n")
        table.remove(pending, j)
      end
    end
  end
  for _, rec in ipairs(pending) do
    err(("stop %s: still running after %gs (supervisor pid %d)"):format(rec.id, wait, rec.supervisor_pid))
    status = 1
  end
  return status
end

return M
