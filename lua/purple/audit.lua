-- purple.audit: the append-only JSON-lines audit log (schema: docs/audit-schema.json).
--
-- The supervisor opens the log before the sandbox starts (core.log_open: O_APPEND, close-on-exec,
-- mode 0640) and keeps it outside the sandbox's mount tree. Every record is one line written with
-- one write(2), so any number of sessions can share one file without interleaving.
--
--   audit.record(run, event, fields)   the API other enforcers call; a no-op when the run's log is
--                                      closed or the event's detail level is not selected
--   audit.record(run, { event = ..., ... })  the same, with the event name inside the table
--
-- Every record has ts (RFC 3339, UTC, microseconds), session, event, profile and pid (the
-- supervisor's); event fields must not use those names.
local core = require "purple.core"
local json = require "purple.json"
local log = require "purple.log"

local M = {}

-- Event → detail level ("always": written whenever the log is enabled).
M.EVENTS = {
  session_start = "always",
  session_end = "always",
  mounts = "filesystem",
  files = "filesystem",
  syscall_violation = "syscall",
  net_connect = "network",
  net_denied = "network",
  net_egress = "network",         -- a connection through the egress proxy (enforce/egress.lua)
  net_egress_refused = "network", -- a request the egress proxy refused
  resource_summary = "resource",
  resource_unenforced = "resource",
  oom = "resource",
  timeout = "resource",
  command_start = "always", -- a command of a session (purple exec): its number, argv, client
  command_end = "always",
}
M.DETAIL_LEVELS = require("purple.schema").DETAIL_LEVELS -- the values audit.detail_level accepts
local COMMON = { ts = true, session = true, event = true, profile = true, pid = true }

-- RFC 3339 timestamp, UTC, with microseconds.
function M.timestamp()
  local sec, usec = core.realtime()
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. (".%06dZ"):format(usec)
end

-- The detail levels a policy selects: absent or empty means all of them.
function M.levels(audit_policy)
  local list = audit_policy.detail_level or {}
  local set = {}
  if #list == 0 then list = M.DETAIL_LEVELS end
  for _, l in ipairs(list) do set[l] = true end
  return set
end

-- Opens the policy's log for a run: true, or nil, "audit.log_path: why" (the run then stops with 125).
function M.open(run)
  local a = run.policy.audit
  if not a.log_path then
    return nil, "audit.log_path: required when audit.enabled is true (e.g. /var/log/purple/agent.log)"
  end
  local file, err, errno = core.log_open(a.log_path)
  if not file then
    local hint = "(create the directory and make it writable by the user running purple)"
    if errno == 13 then
      hint = "(make the file and its directory writable by the user running purple)"
    elseif errno == 40 then
      hint = "(log_path is a symbolic link: give the real path)"
    elseif errno == 21 or errno == 22 then
      hint = "(point log_path at a regular file)"
    end
    return nil, ("audit.log_path: %s %s"):format(err, hint)
  end
  run.audit = { file = file, path = a.log_path, levels = M.levels(a), pid = core.getpid() }
  return true
end

function M.enabled(run, event)
  local au = run.audit
  if not au then return false end
  local level = M.EVENTS[event]
  if not level then error(("purple.audit: unknown event '%s'"):format(tostring(event)), 3) end
  return level == "always" or au.levels[level] == true
end

function M.record(run, event, fields)
  if type(event) == "table" then fields, event = event, event.event end
  if not M.enabled(run, event) then return false end
  local au = run.audit
  local rec = {}
  for k, v in pairs(fields or {}) do
    if COMMON[k] and not (k == "event" and v == event) then
      error(("purple.audit: field '%s' of event '%s' is reserved"):format(k, event), 2)
    end
    rec[k] = v
  end
  rec.ts = M.timestamp()
  rec.session = run.session
  rec.event = event
  rec.profile = run.policy.name
  rec.pid = au.pid
  local ok, err = au.file:write(json.encode(rec) .. "\n")
  if not ok then
    -- The command is already running: keep it supervised, but say once that its log is incomplete.
    if not au.write_failed then
      au.write_failed = true
      log.error("audit log: %s (records of session %s are missing)", err, run.session)
      run.warnings[#run.warnings + 1] = "audit log: " .. err
    end
    return false
  end
  return true
end

-- The log must stay invisible inside the sandbox: a bind mount of its file or of a directory above
-- it would let the command read other sessions' records or, as the same host user, forge its own.
-- true, or nil, "audit.log_path: why" (the run then stops with 125).
function M.check_hidden(run)
  if not run.audit then return true end
  local log_real = core.realpath(run.audit.path)
  if not log_real then return true end -- gone since it was opened: nothing of it is bound
  for _, m in ipairs(run.spec.mounts or {}) do
    local src = m.type == "bind" and m.source and core.realpath(m.source)
    if src and (log_real == src or log_real:sub(1, #src + 1) == src .. "/" or src == "/") then
      return nil, ("audit.log_path: %s is inside %s, which the sandbox sees at %s (keep the log outside "
        .. "every path the sandbox mounts, e.g. in /var/log/purple)"):format(run.audit.path, m.source, m.target)
    end
  end
  return true
end

-- SIGHUP (logrotate): reopen the log under its path.
function M.reopen(run)
  if not run.audit then return false end
  local ok, err = run.audit.file:reopen()
  if not ok then
    log.error("audit log: %s (still writing to the old file)", err)
    return false
  end
  return true
end

function M.close(run)
  if run.audit then
    run.audit.file:close()
    run.audit = nil
  end
end

return M
