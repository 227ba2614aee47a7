-- purple.oci.audit: a container's records in its purple profile's audit log (docs/audit-schema.json),
-- when the profile enables audit. The session of every record is the container's id (`purple log
-- --session ID`). create writes session_start (an audit log that cannot be opened stops create:
-- 125); each exec writes command_start (its number in the container, argv, tty, the purple-oci exec
-- that asked: client). There is no supervisor while the container runs: the container's exit status
-- is the engine's to record (conmon, the shim), so no session_end is written.
local core = require "purple.core"
local json = require "purple.json"
local audit = require "purple.audit"

local M = {}

local function open(st, profile)
  if not profile or not profile.audit or not profile.audit.enabled then return nil end
  local uid, gid = core.ids()
  local run = { policy = profile, session = st.id, warnings = {}, uid = uid, gid = gid }
  local ok, err = audit.open(run)
  if not ok then return nil, err end
  return run
end

-- session_start at create: true, or nil, "audit.log_path: why".
function M.created(st, profile, sp)
  local run, err = open(st, profile)
  if not run then
    if err then return nil, err end
    return true
  end
  local ns = {}
  for n in (sp.namespaces or ""):gmatch("[^,]+") do ns[#ns + 1] = n end
  audit.record(run, "session_start", {
    argv = st.argv, profile_name = profile.name, policy_sha256 = core.sha256(json.encode(profile)),
    uid = run.uid, gid = run.gid, version = require "purple.version", init_pid = st.pid,
    kernel = { namespaces = ns, cgroup_mode = require("purple.cgroup").layout().mode,
      landlock_abi = sp.landlock and (core.landlock_abi() or 0) or 0,
      seccomp = sp.seccomp_listener and "filter+notify" or sp.seccomp and "filter" or "none" },
  })
  audit.close(run)
  return true
end

-- command_start for an exec: true, or nil, why.
function M.exec(st, profile, number, argv, tty)
  local run, err = open(st, profile)
  if not run then
    if err then return nil, err end
    return true
  end
  audit.record(run, "command_start", { command = number, argv = argv, tty = tty and true or false,
    client = { uid = run.uid, pid = core.getpid() } })
  audit.close(run)
  return true
end

return M
