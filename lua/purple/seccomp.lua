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

-- The numbers of a group's members on this architecture (a composite group through its parts; a
-- number may repeat), or nil for an unknown group. Computed once per process.
local group_nrs = {}
local function group_numbers(group)
  local nrs = group_nrs[group]
  if nrs then return nrs end
  local parts = syscalls.composite[group]
  nrs = {}
  if parts then
    for _, p in ipairs(parts) do
      if p:sub(1, 1) == "@" then
        local sub = group_numbers(p:sub(2))
        if not sub then error("purple.syscalls: composite group @" .. group .. ": unknown part " .. p) end
        table.move(sub, 1, #sub, #nrs + 1, nrs)
      else
        nrs[#nrs + 1] = number(p)
      end
    end
  else
    local members = rawget(syscalls.groups, group)
    if not members then return nil end
    -- straight from libseccomp: caching ~280 member names in `numbers` cost more than it saves
    local resolve = core.syscall_number
    for _, n in ipairs(members) do nrs[#nrs + 1] = numbers[n] or resolve(n) or nil end -- skips names this arch lacks
  end
  group_nrs[group] = nrs
  return nrs
end

-- Expands a list of names and "@group"s into { nr = source entry }. The list comes from a
-- normalised policy: purple.policy checked every name and group and replaced the guide's aliases
-- (schema.SYSCALL_ALIASES) by the syscall they mean. The entry tables are read-only (one is shared
-- by the members of a group).
local function expand(list)
  local out = {}
  for _, entry in ipairs(list or {}) do
    if entry:sub(1, 1) == "@" then
      local nrs = group_numbers(entry:sub(2)) or error("purple.seccomp: unknown group " .. entry)
      local e = { entry = entry, group = true }
      for j = 1, #nrs do
        local nr = nrs[j]
        if out[nr] == nil then out[nr] = e end
      end
    else
      local nr = number(entry) or error("purple.seccomp: unknown syscall " .. entry)
      out[nr] = { entry = entry, name = entry }
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

-- The finished parts of plans already made in this process, by plan_key (a second purple.exec of
-- the same profile reuses its filter: ~1 ms of Lua). Only successful plans are kept.
local plans, nplans = {}, 0
M.reuse = true -- false: build every plan from scratch (bench/seccomp.lua times the whole build)

-- The key of everything a plan's shared parts depend on: the section's content, learn mode, the
-- names handlers are registered for (not the functions) and the compiler. nil when the section
-- holds something other than strings in its lists (plan() then reports it, uncached). Strings
-- are length-prefixed, so no two different sections share a key.
local function plan_key(sc, learn, handlers)
  local parts = { M.compiler, learn and "L" or "-", sc.default_deny == true and "D" or "-",
    sc.hardening ~= false and "H" or "-", tostring(sc.action or "errno") }
  for _, field in ipairs({ "allow", "deny" }) do
    local list = sc[field]
    parts[#parts + 1] = field
    if list ~= nil then
      if type(list) ~= "table" then return nil end
      for _, e in ipairs(list) do
        if type(e) ~= "string" then return nil end
        parts[#parts + 1] = #e .. ":" .. e
      end
    end
  end
  if handlers and next(handlers) ~= nil then
    local names = {}
    for name in pairs(handlers) do
      if type(name) ~= "string" then return nil end
      names[#names + 1] = #name .. ":" .. name
    end
    table.sort(names)
    parts[#parts + 1] = "handlers"
    table.move(names, 1, #names, #parts + 1, parts)
  end
  return table.concat(parts, "\n")
end

-- The per-run plan around the shared parts: handlers (functions), learned and profile are the run's.
local function instance(shared, opts, handlers)
  return {
    default_deny = shared.default_deny, allow = shared.allow, deny = shared.deny, action = shared.action,
    learn = shared.learn, profile = opts.profile or "the policy", hardening = shared.hardening,
    handlers = handlers, learned = {}, spec = shared.spec, program = shared.program, listener = true,
  }
end

-- plan(syscalls_section, opts) -> plan | nil, "syscalls...: why"
-- opts: learn (bool), handlers ({ name = function } from run.seccomp_notify), profile (name).
-- allow, deny, hardening, spec and program of the plan are shared with other plans of the same
-- section in this process: read-only.
function M.plan(sc, opts)
  opts = opts or {}
  sc = sc or {}
  local learn = opts.learn == true
  local execve = number("execve")
  local handlers = {}
  for name, fn in pairs(opts.handlers or {}) do
    local nr = number(name)
    if not nr then return nil, ("seccomp handler for unknown syscall %q"):format(tostring(name)) end
    if nr == execve then return nil, "seccomp handler: execve cannot be routed to the supervisor" end
    handlers[nr] = fn
  end
  local key = M.reuse and plan_key(sc, learn, opts.handlers)
  local shared = key and plans[key]
  if shared then return instance(shared, opts, handlers) end

  local allow, deny = expand(sc.allow), expand(sc.deny)
  local action = sc.action or "errno"
  local default_deny = sc.default_deny == true

  if deny[execve] then
    return nil, ("syscalls.deny: %q denies execve, which purple starts the command with; remove it")
      :format(deny[execve].entry)
  end
  if default_deny and not allow[execve] and not learn then
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
  local hardening = {}
  if sc.hardening ~= false then
    for _, h in ipairs(syscalls.hardening) do
      local nr = number(h.name)
      local lifted = not h.args and not h.fixed and allow[nr] and not allow[nr].group
      if nr and not lifted then
        local list = hardening[nr]
        if list then list[#list + 1] = h else hardening[nr] = { h } end
      end
    end
  end

  -- The filter. Rules of one syscall keep their order; the order between syscalls does not matter
  -- (both compilers sort by number), so the policy's numbers are not sorted here.
  local rules, n = {}, 0
  local default = (learn or default_deny) and "notify" or "allow"
  local function add(nr, act, args)
    n = n + 1
    rules[n] = { nr = nr, action = act, args = args }
  end
  -- What the policy says about nr: M.allowed, and a handler routes an allowed call to the supervisor.
  local function policy_action(nr)
    if learn or deny[nr] or (default_deny and allow[nr] == nil) or handlers[nr] then return "notify" end
    return "allow"
  end
  -- execve when allowed (checked above); exit and exit_group always: a payload whose execve failed
  -- exits before the supervisor holds the listener, and a process must be able to end.
  local always = {}
  for _, name in ipairs(M.ALWAYS) do
    local nr = number(name)
    add(nr, "allow")
    always[nr] = true
  end
  for nr, entries in pairs(hardening) do
    local rest
    for _, h in ipairs(entries) do
      local act = (h.action == "kill" or h.report) and "notify" or ERRNO[h.action]
      add(nr, act, h.args)
      if h.args then rest = h.allow_when or { { { h.args[1][1], "ge", 0 } } } end
    end
    -- One rule per alternative; see allow_when in purple.syscalls for why they must not overlap.
    if rest then
      local act = policy_action(nr)
      for _, args in ipairs(rest) do add(nr, act, args) end
    end
  end
  -- Every other number the policy names, once.
  for nr in pairs(allow) do
    if not hardening[nr] and not always[nr] then add(nr, policy_action(nr)) end
  end
  for nr in pairs(deny) do
    if not hardening[nr] and not always[nr] and not allow[nr] then add(nr, policy_action(nr)) end
  end
  for nr in pairs(handlers) do
    if not hardening[nr] and not always[nr] and not allow[nr] and not deny[nr] then add(nr, policy_action(nr)) end
  end
  local spec = { default = default, rules = rules }
  local program
  program, err = M.compile(spec)
  if not program then return nil, "syscalls: " .. err end
  shared = { default_deny = default_deny, allow = allow, deny = deny, action = action, learn = learn,
    hardening = hardening, spec = spec, program = program }
  if key then
    if nplans >= 64 then plans, nplans = {}, 0 end -- a bound for long-lived scripts with many policies
    plans[key], nplans = shared, nplans + 1
  end
  return instance(shared, opts, handlers)
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

-- Why call nr was blocked: the hardening entry's reason, else the policy's.
function M.reason(plan, nr, hardening_entry)
  return hardening_entry and hardening_entry.why or (plan.deny[nr] and "denied" or "not allowed")
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
