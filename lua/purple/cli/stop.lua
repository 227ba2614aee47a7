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

local USAGE = "usage: purple stop [--wait SECONDS] ID..."

local function err(msg)
  io.stderr:write("purple: ", msg, "\n")
end

return function(args, first)
  local wait, ids = 30, {}
  local i = first
  while i <= #args do
    local a = args[i]
    if a == "--wait" then
      wait = tonumber(args[i + 1])
      if not wait or wait < 0 then
        err("--wait: expected a number of seconds")
        return 125
      end
      i = i + 2
    elseif a:sub(1, 1) == "-" then
      err(("stop: unknown option '%s' (%s)"):format(a, USAGE))
      return 125
    else
      ids[#ids + 1] = a
      i = i + 1
    end
  end
  if #ids == 0 then
    err("stop: ID is required (" .. USAGE .. "; see purple ps)")
    return 125
  end
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
