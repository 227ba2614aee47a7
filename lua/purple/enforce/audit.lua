-- Audit: the session's records in the policy's audit log (purple.audit, docs/audit-schema.json).
-- First in the pipeline, so its finish runs last, after every other enforcer has filled the result:
--   prepare   opens the log (failure stops the run: 125) and snapshots each output path
--   started   session_start and mounts
--   signal    SIGHUP reopens the log (logrotate)
--   finish    files, resource_summary / oom / timeout, session_end; closes the log
-- A run that never started still gets session_start and session_end (with the error).
local core = require "purple.core"

-- Loaded by the first run whose policy enables audit (most runs never need them).
local json, audit
local function load_modules()
  json = json or require "purple.json"
  audit = audit or require "purple.audit"
end

local M = {}

local MAX_LISTED = 10000 -- entries per list in one files record
-- Bytes hashed per run: the command makes a 1 TiB sparse file for free, and hashing it would keep
-- the supervisor busy for many minutes after the run. Files past the budget are listed without sha256.
local MAX_HASHED = 1 << 30

local function seccomp_mode(spec)
  if not spec.seccomp then return "none" end
  return spec.seccomp_listener and "filter+notify" or "filter"
end

local function kernel_features(run)
  local ns = {}
  for n in (run.spec.namespaces or ""):gmatch("[^,]+") do ns[#ns + 1] = n end
  local cgroup_mode = "none"
  if run.cgroup and run.spec.cgroup_procs and #run.spec.cgroup_procs > 0 then
    cgroup_mode = require("purple.cgroup").layout().mode
  end
  local abi = 0
  if run.spec.landlock then abi = core.landlock_abi() or 0 end
  return { namespaces = ns, cgroup_mode = cgroup_mode, landlock_abi = abi, seccomp = seccomp_mode(run.spec) }
end

local function session_start(run)
  if run.audit_started then return end
  run.audit_started = true
  audit.record(run, "session_start", {
    argv = run.argv,
    profile_name = run.policy.name,
    policy_sha256 = core.sha256(json.encode(run.policy)),
    uid = run.uid,
    gid = run.gid,
    sandbox_uid = run.sandbox_uid,
    version = require "purple.version",
    init_pid = run.sandbox and run.sandbox.pid or nil,
    kernel = kernel_features(run),
  })
end

local MOUNT_FIELDS = { "type", "target", "source", "readonly", "optional", "size", "mode", "link" }

local function mount_plan(run)
  local plan = {}
  for _, m in ipairs(run.spec.mounts or {}) do
    local e = {}
    for _, k in ipairs(MOUNT_FIELDS) do e[k] = m[k] end
    plan[#plan + 1] = e
  end
  return plan
end

-- Snapshot of one output path; a missing directory is an empty one.
local function snapshot(dir)
  local entries, truncated = core.tree_snapshot(dir)
  if not entries then return {}, false end
  return entries, truncated
end

local function same(a, b)
  return a.type == b.type and a.size == b.size and a.mtime_ns == b.mtime_ns and a.ctime_ns == b.ctime_ns
    and a.ino == b.ino and a.mode == b.mode
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- What changed under one output path between the two snapshots.
local function diff(out, before, after, budget)
  local rec = { path = out.host_path, sandbox_path = out.sandbox_path, created = {}, modified = {}, deleted = {} }
  local function add(list, rel, e, hash)
    if #list >= MAX_LISTED then
      rec.truncated = true
      return
    end
    local item = { path = rel, type = e.type, size = e.size }
    if hash and e.type == "file" and e.size <= budget.left then
      budget.left = budget.left - e.size
      item.sha256 = core.file_sha256(out.host_path, rel) or nil
    end
    list[#list + 1] = item
  end
  for _, rel in ipairs(sorted_keys(after)) do
    local a, b = after[rel], before[rel]
    if not b then
      add(rec.created, rel, a, true)
    elseif not same(a, b) and a.type ~= "directory" then
      add(rec.modified, rel, a, true)
    end
  end
  for _, rel in ipairs(sorted_keys(before)) do
    if not after[rel] then add(rec.deleted, rel, before[rel], false) end
  end
  return rec
end

local function exit_status(result)
  if result.status then return result.status end
  if result.timed_out then return 124 end
  if result.signal then return 128 + result.signal end
  return result.code
end

local function end_reason(result)
  if result.exec_error then return "exec_error" end
  if result.setup_error or (result.error and not result.started) then return "setup_error" end
  if result.timed_out then return "timeout" end
  if result.stopped then return "stopped" end
  if result.signal then return "signal" end
  if result.error then return "error" end
  return "exit"
end

function M.prepare(run)
  local a = run.policy.audit
  if not a.enabled then return true end
  load_modules()
  local ok, err = audit.open(run)
  if not ok then return nil, err end
  run.audit_t0 = core.monotonic()
  if run.audit.levels.filesystem then
    run.audit_before = {}
    for i, o in ipairs(run.policy.filesystem.output_paths or {}) do
      run.audit_before[i] = snapshot(o.host_path)
    end
  end
  return true
end

local function mounts(run)
  if run.audit_mounts then return end
  run.audit_mounts = true
  audit.record(run, "mounts", { mounts = mount_plan(run) })
end

function M.started(run)
  if not run.audit then return end
  load_modules()
  session_start(run)
  mounts(run)
end

function M.signal(run, signo)
  if signo == 1 and run.audit then
    load_modules()
    audit.reopen(run)
  end
end

function M.finish(run, result)
  if not run.audit then return end
  load_modules()
  session_start(run)
  if run.sandbox then mounts(run) end -- built, even if the command could not be executed
  if run.audit_before and result.started then
    local budget = { left = MAX_HASHED }
    for i, o in ipairs(run.policy.filesystem.output_paths or {}) do
      local after, truncated = snapshot(o.host_path)
      local rec = diff(o, run.audit_before[i] or {}, after, budget)
      if truncated then rec.truncated = true end
      audit.record(run, "files", rec)
    end
  end
  if result.started then
    if result.usage then
      audit.record(run, "resource_summary", { usage = json.object(result.usage),
        limits = result.limits and json.object(result.limits) or nil })
    end
    if result.oom_killed then
      audit.record(run, "oom", { oom_kills = math.max(1, result.usage and result.usage.oom_kills or 1) })
    end
    if result.timed_out then
      audit.record(run, "timeout", { timeout_seconds = run.timeout, grace_seconds = run.grace or 2 })
    end
  end
  local code = exit_status(result)
  audit.record(run, "session_end", {
    status = code,
    reason = end_reason(result),
    code = result.code,
    signal = result.signal,
    duration = core.monotonic() - run.audit_t0,
    error = result.error,
    stopped_by = result.stopped and { pid = result.stopped.by_pid, uid = result.stopped.by_uid } or nil,
    warnings = #result.warnings > 0 and result.warnings or nil,
    commands = result.commands, -- a session (purple session start): commands it ran
    command_events_dropped = result.command_events_dropped,
  })
  audit.close(run)
end

return M
