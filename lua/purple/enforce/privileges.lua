-- Privileges: seccomp (policy syscalls section + purple's hardening), capabilities and no_new_privs.
--
-- Capabilities: the bounding, permitted, effective, inheritable and ambient sets are cleared except
-- capabilities.add, which reach a non-root command through the ambient set (csrc/caps.c); securebits
-- are locked; no_new_privs is always set.
--
-- Seccomp: see lua/purple/seccomp.lua for what the filter does. Every call the supervisor must see
-- is routed to SECCOMP_RET_USER_NOTIF; the listener lives in the supervisor only, so nothing in the
-- sandbox can answer its own calls. Violations print one line on stderr (once per syscall and
-- process) and go to the audit log:
--   purple: blocked syscall mount (165) in pid 7 (python3); to permit it add "mount" to syscalls.allow in ai-strict
-- The pid is the one the command sees (the sandbox's pid namespace).
--
-- GENERIC NOTIFY API for other enforcers (e.g. network checks of connect/sendto without privilege):
-- an enforcer whose prepare() runs before this one registers
--     run.seccomp_notify = run.seccomp_notify or {}
--     run.seccomp_notify["connect"] = function(run, ev) ... return { error = errno } | { val = n } | { continue = true }
--       | { answered = true } (answered already, e.g. by a core.net_perform worker) end
-- The filter then routes that syscall to the supervisor (unless the policy denies it outright, in
-- which case it is a violation and the handler is not called), and this enforcer's event() calls
-- the handler with the notify event { id, pid (supervisor's namespace), nr, name, arch, args = {6} }.
-- The handler must not block. Pointer arguments may change after it read them (TOCTOU): answer
-- { continue = true } only for decisions on register values or where the kernel re-checks.
-- A handler that raises, or returns nothing usable, makes the call fail with EPERM.
--
-- VIOLATION HOOK for the audit enforcer and others: functions in run.on_violation (a list) are
-- called with (run, record); record is the audit record below. purple.audit.record(run,
-- "syscall_violation", record) is called too when the run keeps an audit log:
--   { syscall = name, nr, args = {6}, sandbox_pid, host_pid, comm, exe, action = "errno"|"kill"|"log", reason }
local core = require "purple.core"
local log = require "purple.log"
local seccomp = require "purple.seccomp"

local M = {}

local SIGSYS, SIGKILL = 31, 9

local read = require("purple.files").read

-- What the supervisor can learn about a notified task: its pid inside the sandbox, process id,
-- name, executable and whether it catches or ignores SIGSYS.
local function task_info(pid)
  local info = { host_pid = pid }
  local status = read(("/proc/%d/status"):format(pid)) or ""
  -- the process (not thread) id, innermost namespace last
  local nspid = status:match("\nNStgid:%s*([^\n]*)")
  if nspid then
    local last
    for n in nspid:gmatch("%d+") do last = tonumber(n) end
    info.sandbox_pid = last
  end
  info.tgid = tonumber(status:match("\nTgid:%s*(%d+)")) or pid
  local function has_sigsys(field)
    local hex = status:match("\n" .. field .. ":%s*(%x+)")
    if not hex then return false end
    return ((tonumber(hex:sub(-8), 16) or 0) >> (SIGSYS - 1)) & 1 == 1
  end
  info.sigsys_handled = has_sigsys("SigCgt") or has_sigsys("SigIgn") or has_sigsys("SigBlk")
  info.comm = (read(("/proc/%d/comm"):format(pid)) or "?"):gsub("\n$", "")
  info.exe = core.readlink(("/proc/%d/exe"):format(pid))
  return info
end

local function audit_record(run, rec)
  for _, fn in ipairs(run.on_violation or {}) do
    local ok, err = pcall(fn, run, rec)
    if not ok then log.error("on_violation hook: %s", tostring(err)) end
  end
  if run.audit then require("purple.audit").record(run, "syscall_violation", rec) end
end

-- Reports a blocked (or, with action log, allowed) call and answers it.
local function violation(run, ev, entry)
  local plan = run.seccomp
  local sandbox = run.sandbox
  local name = ev.name or ("syscall " .. ev.nr)
  local action = plan.action
  if entry then action = entry.action == "kill" and "kill" or "errno" end
  local errno = entry and seccomp.ERRNO[entry.action] or seccomp.ERRNO.EPERM
  run.seccomp_reported = run.seccomp_reported or {}
  local reported = run.seccomp_reported
  -- Fast path: this thread's call was reported before; errno and log need nothing from /proc.
  if action ~= "kill" and reported[ev.nr .. "/t" .. ev.pid] then
    sandbox:respond(ev.id, action == "log" and { continue = true } or { error = errno })
    return
  end
  local info = task_info(ev.pid)
  -- The pid read above is still the caller's only while its call waits for us.
  if not sandbox:notify_valid(ev.id) then return end
  local key = ev.nr .. "/" .. tostring(info.tgid)
  reported[ev.nr .. "/t" .. ev.pid] = true
  local result = run.result
  result.syscall_violations = result.syscall_violations or {}
  if not reported[key] then
    reported[key] = true
    local verb = action == "log" and "logged" or "blocked"
    -- comm is the command's to choose (prctl PR_SET_NAME): no escape sequence reaches the terminal.
    io.stderr:write(("purple: %s syscall %s (%d) in pid %d (%s); %s\n"):format(verb, name, ev.nr,
      info.sandbox_pid or ev.pid, (info.comm:gsub("%c", "?")), seccomp.hint(plan, ev.nr, name, entry)))
    local rec = {
      syscall = name, nr = ev.nr, args = ev.args, sandbox_pid = info.sandbox_pid, host_pid = ev.pid,
      comm = info.comm, exe = info.exe or nil, action = action,
      reason = seccomp.reason(plan, ev.nr, entry),
    }
    result.syscall_violations[#result.syscall_violations + 1] = rec
    audit_record(run, rec)
  end
  if action == "log" then
    sandbox:respond(ev.id, { continue = true })
  elseif action == "kill" then
    -- SIGSYS as the kernel's own seccomp kill would, unless the process catches, ignores or (in
    -- this thread) blocks it: then SIGKILL. The call is not answered: the fatal signal ends the wait,
    -- and no thread of the process returns to user space.
    if not core.kill(info.tgid, info.sigsys_handled and SIGKILL or SIGSYS) then
      sandbox:respond(ev.id, { error = seccomp.ERRNO.EPERM })
    end
  else
    sandbox:respond(ev.id, { error = errno })
  end
end

function M.prepare(run)
  local p = run.policy
  local caps = p.capabilities -- names checked and canonical (purple.policy)
  run.spec.drop_caps = caps.default_drop
  run.spec.caps = caps.add
  run.spec.no_new_privs = true

  -- opts.learn: observe instead of enforcing; result.learned is the allow list (the caller writes it)
  local learn = run.opts.learn
  if learn ~= nil and type(learn) ~= "boolean" then
    -- not raised: the enforcers before this one have set up what their finish undoes
    return nil, ("opts.learn: expected a boolean, got %s"):format(type(learn))
  end
  local plan, err = seccomp.plan(p.syscalls, {
    learn = learn == true, handlers = run.seccomp_notify, profile = p.name,
  })
  if not plan then return nil, err end
  run.seccomp = plan
  run.spec.seccomp = plan.program
  run.spec.seccomp_listener = plan.listener
  return true
end

function M.event(run, ev)
  if ev.event ~= "notify" or not run.seccomp then return false end
  local plan, sandbox = run.seccomp, run.sandbox
  local kind, x = seccomp.classify(plan, ev.nr, ev.args)
  if kind == "learn" then
    plan.learned[ev.nr] = true
  end
  if kind == "learn" and not x then
    sandbox:respond(ev.id, { continue = true })
  elseif kind == "handler" or kind == "learn" then
    local ok, answer = pcall(x, run, ev)
    if not ok or type(answer) ~= "table" then
      log.error("seccomp handler for %s: %s", ev.name or ev.nr, ok and "no answer" or tostring(answer))
      answer = { error = seccomp.ERRNO.EPERM }
    end
    -- answered: the handler handed the call to a worker that answers it (core.net_perform)
    if not answer.answered then
      local rok, rerr = sandbox:respond(ev.id, answer)
      if not rok then log.debug("seccomp respond: %s", rerr) end
    end
  else
    violation(run, ev, kind == "hardening" and x or nil)
  end
  return true
end

-- Learn mode: the smallest allow list the run needed, sorted (the calls every run makes included).
local function learned(run)
  local names = {}
  for nr in pairs(run.seccomp.learned) do names[#names + 1] = core.syscall_name(nr) or tostring(nr) end
  for _, n in ipairs(seccomp.ALWAYS) do names[#names + 1] = n end
  table.sort(names)
  local uniq = {}
  for _, n in ipairs(names) do if uniq[#uniq] ~= n then uniq[#uniq + 1] = n end end
  return uniq
end

function M.finish(run, result)
  if run.opts.learn and run.seccomp and result.started then
    result.learned = { syscalls = learned(run) }
  end
end

return M
