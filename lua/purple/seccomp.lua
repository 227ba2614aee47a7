-- purple.seccomp: a policy's syscalls section → a seccomp plan: the BPF program for core.spawn and
-- the classification the supervisor applies to each user notification.
--
-- What the compiled filter does with a call (first match):
--   1. another architecture, x32, int 0x80            kill (the kernel, SIGSYS; the arch check)
--   2. execve, exit, exit_group                        allow — purple starts the command with execve
--      before the supervisor holds the listener, so these must never wait for it (a policy must
--      allow execve and may not deny any of them)
--   3. a hardening entry (purple.syscalls.hardening)   kill → notify (reported, then SIGSYS),
--                                                       errno → answered by the kernel, silently,
--                                                       or notify (reported, then the errno)
--   4. a call the policy allows                        allow, or notify when an enforcer registered a
--                                                       handler for it (run.seccomp_notify)
--   5. anything else                                   notify: reported, then answered per
--                                                       syscalls.action (errno EPERM, kill, log)
-- In learn mode step 4 and 5 become "notify and continue", recording each call once.
local core = require "purple.core"
local syscalls = require "purple.syscalls"

local M = {}

local ERRNO = { EPERM = 1, ENOSYS = 38, EAFNOSUPPORT = 97 }
M.ERRNO = ERRNO
M.ALWAYS = { "execve", "exit", "exit_group" }

local ALIASES = { unmount = "umount2", umount = "umount2" }

-- libseccomp's name lookup is slow enough to matter for 300 names: remember each answer.
local numbers = {}
local function number(name)
  local nr = numbers[name]
  if nr == nil then
    nr = core.syscall_number(name) or false
    numbers[name] = nr
  end
  return nr or nil
end
M.number = number

-- Expands a list of names and "@group"s into { nr = source entry }; nil, error for an unknown name.
local function expand(list, field)
  local out = {}
  for i, entry in ipairs(list or {}) do
    if type(entry) ~= "string" then
      return nil, ("syscalls.%s[%d]: expected a syscall name or @group"):format(field, i)
    end
    if entry:sub(1, 1) == "@" then
      local members = syscalls.members(entry:sub(2), number)
      if not members then
        return nil, ("syscalls.%s: unknown syscall group %q (see purple syscalls)"):format(field, entry)
      end
      for _, n in ipairs(members) do
        local nr = number(n)
        out[nr] = out[nr] or { entry = entry, group = true }
      end
    else
      local name = ALIASES[entry] or entry
      local nr = number(name)
      if not nr then
        return nil, ("syscalls.%s: unknown syscall %q on this architecture"):format(field, entry)
      end
      out[nr] = { entry = entry, name = name }
    end
  end
  return out
end

-- Unsigned 64-bit comparison of one argument, as the filter does it.
local function arg_matches(args, cmp)
  local v, op, want, mask = args[cmp[1] + 1] or 0, cmp[2], cmp[3], cmp[4]
  if op == "masked_eq" then return (v & mask) == want end
  if op == "eq" then return v == want end
  if op == "ne" then return v ~= want end
  if op == "lt" then return math.ult(v, want) end
  if op == "le" then return v == want or math.ult(v, want) end
  if op == "gt" then return math.ult(want, v) end
  if op == "ge" then return v == want or math.ult(want, v) end
  error("unknown comparison " .. tostring(op))
end
M.arg_matches = arg_matches

local cache = {}
local EOPNOTSUPP = 95

-- Who compiles the BPF program: "purple" (core.seccomp_emit, ~0.05 ms for 300 names; x86_64 only,
-- elsewhere libseccomp) or "libseccomp" (core.seccomp_compile, ~1.5–2.5 ms). Both make the same
-- decisions (spec/seccomp_emit_spec.lua); libseccomp still resolves names either way.
M.compiler = "purple"

-- libseccomp, reusing the program of an identical table (purple-lua scripts that run many sandboxes
-- under one policy compile once; building the key costs ~0.25 ms, more than purple's emitter).
local function libseccomp_compile(spec)
  local parts = { tostring(spec.default) }
  for _, r in ipairs(spec.rules) do
    parts[#parts + 1] = r.nr .. ":" .. tostring(r.action)
    for _, a in ipairs(r.args or {}) do
      parts[#parts + 1] = table.concat({ a[1], a[2], a[3], a[4] or "" }, ",")
    end
  end
  local key = table.concat(parts, ";")
  local prog = cache[key]
  if prog then return prog end
  -- libseccomp keeps its syscalls in a list sorted by number and walks it on every insertion:
  -- highest number first makes each insertion O(1) (same program; a syscall's rules keep their order).
  local rules = {}
  for i, r in ipairs(spec.rules) do rules[i] = { nr = r.nr, action = r.action, args = r.args, order = i } end
  table.sort(rules, function(x, y)
    if x.nr ~= y.nr then return x.nr > y.nr end
    return x.order < y.order
  end)
  local err
  prog, err = core.seccomp_compile({ default = spec.default, rules = rules })
  if not prog then return nil, err end
  if #cache >= 64 then cache = {} end -- a bound for long-lived scripts with many policies
  cache[key] = prog
  cache[#cache + 1] = key
  return prog
end

-- Compiles a rule table { default =, rules = } (see core.seccomp_compile) into a BPF program.
function M.compile(spec)
  if M.compiler == "purple" then
    local prog, err, errno = core.seccomp_emit(spec)
    if prog or errno ~= EOPNOTSUPP then return prog, err end
  end
  return libseccomp_compile(spec)
end

-- plan(syscalls_section, opts) -> plan | nil, "syscalls...: why"
-- opts: learn (bool), handlers ({ name = function } from run.seccomp_notify), profile (name).
function M.plan(sc, opts)
  opts = opts or {}
  sc = sc or {}
  local allow, err = expand(sc.allow, "allow")
  if not allow then return nil, err end
  local deny
  deny, err = expand(sc.deny, "deny")
  if not deny then return nil, err end
  local action = sc.action or "errno"
  if action ~= "errno" and action ~= "kill" and action ~= "log" then
    return nil, ("syscalls.action: unknown action %q (errno, kill or log)"):format(tostring(action))
  end
  local plan = {
    default_deny = sc.default_deny == true, allow = allow, deny = deny, action = action,
    learn = opts.learn == true, profile = opts.profile or "the policy",
    hardening = {}, handlers = {}, learned = {},
  }

  local execve = number("execve")
  if deny[execve] then
    return nil, ("syscalls.deny: %q denies execve, which purple starts the command with; remove it")
      :format(deny[execve].entry)
  end
  if plan.default_deny and not allow[execve] and not plan.learn then
    return nil, "syscalls.allow: add \"execve\": purple starts the command with it"
  end
  for _, name in ipairs({ "exit", "exit_group" }) do
    local d = deny[number(name)]
    if d then
      return nil, ("syscalls.deny: %q denies %s, which every process ends with; remove it"):format(d.entry, name)
    end
  end

  -- Active hardening entries by number (lifted by hardening: false or, without args, by an
  -- explicit allow of the name).
  if sc.hardening ~= false then
    for _, h in ipairs(syscalls.hardening) do
      local nr = number(h.name)
      local lifted = not h.args and not h.fixed and allow[nr] and not allow[nr].group
      if nr and not lifted then
        plan.hardening[nr] = plan.hardening[nr] or {}
        table.insert(plan.hardening[nr], h)
      end
    end
  end
  for name, fn in pairs(opts.handlers or {}) do
    local nr = number(name)
    if not nr then return nil, ("seccomp handler for unknown syscall %q"):format(tostring(name)) end
    if nr == execve then return nil, "seccomp handler: execve cannot be routed to the supervisor" end
    plan.handlers[nr] = fn
  end

  -- The filter.
  local rules = {}
  local default = (plan.learn or plan.default_deny) and "notify" or "allow"
  local function add(nr, act, args) rules[#rules + 1] = { nr = nr, action = act, args = args } end
  local function policy_action(nr)
    if plan.learn then return "notify" end
    if not M.allowed(plan, nr) then return "notify" end
    return plan.handlers[nr] and "notify" or "allow"
  end
  -- execve when allowed (checked above); exit and exit_group always: a payload whose execve failed
  -- exits before the supervisor holds the listener, and a process must be able to end.
  for _, name in ipairs(M.ALWAYS) do add(number(name), "allow") end
  local done = {}
  for _, name in ipairs(M.ALWAYS) do done[number(name)] = true end
  for nr, entries in pairs(plan.hardening) do
    local rest
    for _, h in ipairs(entries) do
      local act = (h.action == "kill" or h.report) and "notify" or ERRNO[h.action]
      add(nr, act, h.args)
      if h.args then rest = h.allow_when or { { { h.args[1][1], "ge", 0 } } } end
    end
    -- One rule per alternative; see allow_when in purple.syscalls for why they must not overlap.
    for _, args in ipairs(rest or {}) do add(nr, policy_action(nr), args) end
    done[nr] = true
  end
  local nrs = {}
  for nr in pairs(allow) do nrs[nr] = true end
  for nr in pairs(deny) do nrs[nr] = true end
  for nr in pairs(plan.handlers) do nrs[nr] = true end
  local sorted = {}
  for nr in pairs(nrs) do if not done[nr] then sorted[#sorted + 1] = nr end end
  table.sort(sorted)
  for _, nr in ipairs(sorted) do add(nr, policy_action(nr)) end
  plan.spec = { default = default, rules = rules }
  plan.program, err = M.compile(plan.spec)
  if not plan.program then return nil, "syscalls: " .. err end
  plan.listener = true -- every plan notifies something (violations, hardening kills, learning)
  return plan
end

-- Does the policy (ignoring the hardening) allow call nr?
function M.allowed(plan, nr)
  if plan.deny[nr] then return false end
  if plan.default_deny then return plan.allow[nr] ~= nil end
  return true
end

-- What a notification means: "hardening", entry | "learn"[, handler] | "violation" | "handler", fn.
function M.classify(plan, nr, args)
  for _, h in ipairs(plan.hardening[nr] or {}) do
    local all = true
    for _, cmp in ipairs(h.args or {}) do
      if not arg_matches(args, cmp) then all = false break end
    end
    if all and (h.action == "kill" or h.report) then return "hardening", h end
  end
  -- Learn mode still lets the other enforcers decide their calls (network checks stay enforced).
  if plan.learn then return "learn", plan.handlers[nr] end
  if not M.allowed(plan, nr) then return "violation" end
  if plan.handlers[nr] then return "handler", plan.handlers[nr] end
  return "violation" -- the filter only notifies what the rules above explain: fail closed
end

-- The hint at the end of a violation line.
function M.hint(plan, nr, name, hardening_entry)
  local where = " in " .. plan.profile
  if plan.deny[nr] then
    return ("to permit it remove %q from syscalls.deny%s"):format(plan.deny[nr].entry, where)
  end
  if hardening_entry and (hardening_entry.args or hardening_entry.fixed) then
    return ("%s is blocked by purple's hardening; to permit it set syscalls.hardening: false%s")
      :format(hardening_entry.why, where)
  end
  return ("to permit it add %q to syscalls.allow%s"):format(name, where)
end

return M
