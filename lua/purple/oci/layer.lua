-- purple.oci.layer: purple's profile on top of an OCI config (annotation purple.profile, or the
-- runtime's default profile). Where both speak the stricter wins; nothing of the profile widens
-- what the container's config gives.
--
--   syscalls       the two filters intersect: for every call and argument values, the stricter
--                  decision of the config's filter and the profile's (kill > errno > notify > log >
--                  allow). The profile's supervised decisions (purple's "notify") stay
--                  SECCOMP_RET_USER_NOTIF: the container's violation monitor (csrc/oci_monitor.c)
--                  answers each with EPERM, the errno the profile's action gives, and reports it by
--                  name (plan.violations: what it needs). With syscalls.action kill they become a
--                  kernel kill instead, unreported.
--   capabilities   each of the five sets ∩ the profile's capabilities.add (all, with
--                  default_drop false); no_new_privs is always set, as purple does
--   resources      memory_limit_bytes and pids_limit: the minimum of both (a cgroup is made for
--                  them if the config has none); rlimits: the minimum of soft and of hard
--   filesystem     the profile's host paths (immutable, output, ...) are NOT mounted: they would
--                  widen the image's view; the root becomes read-only and the profile's
--                  scratch_paths are private tmpfs mounts
--   network        isolated: the container must have a new network namespace of its own (no
--                  joined one, no host network); allow_outgoing/allow_incoming need purple's
--                  supervisor and are refused
local core = require "purple.core"
local seccomp = require "purple.seccomp"

local M = {}

local EPERM = 1

-- Strictness of a rule action: kill > errno > notify > log > allow (two errnos: the first given
-- wins). notify is answered with EPERM by the monitor: a config's own errno stays the config's.
local function rank(a)
  if a == "kill" then return 5 end
  if type(a) == "number" then return 4 end
  if a == "notify" then return 3 end
  if a == "log" then return 2 end
  return 1
end
local function stricter(a, b)
  if rank(b) > rank(a) then return b end
  return a
end
M.stricter = stricter

-- Per-number rule lists of a { default, rules } table.
local function by_nr(t)
  local m = {}
  for _, r in ipairs(t.rules) do
    local l = m[r.nr]
    if not l then l = {} m[r.nr] = l end
    l[#l + 1] = r
  end
  return m
end

-- intersect(a, b) -> { default, rules } | nil, err: for each call, the first matching rule of a
-- and the first of b (their defaults last) give the stricter action. The product keeps that:
-- rules (cond_bi ∧ cond_aj) in the order i, then j, are a first-match table of the result.
function M.intersect(a, b)
  local ma, mb = by_nr(a), by_nr(b)
  local nrs = {}
  for nr in pairs(ma) do nrs[nr] = true end
  for nr in pairs(mb) do nrs[nr] = true end
  local rules = {}
  local sorted = {}
  for nr in pairs(nrs) do sorted[#sorted + 1] = nr end
  table.sort(sorted)
  for _, nr in ipairs(sorted) do
    local la, lb = ma[nr] or {}, mb[nr] or {}
    local alts_a, alts_b = {}, {}
    for _, r in ipairs(la) do alts_a[#alts_a + 1] = r end
    alts_a[#alts_a + 1] = { action = a.default }
    for _, r in ipairs(lb) do alts_b[#alts_b + 1] = r end
    alts_b[#alts_b + 1] = { action = b.default }
    for _, rb in ipairs(alts_b) do
      for _, ra in ipairs(alts_a) do
        local args = {}
        for _, c in ipairs(rb.args or {}) do args[#args + 1] = c end
        for _, c in ipairs(ra.args or {}) do args[#args + 1] = c end
        if #args > 6 then
          return nil, ("syscall %s: more than 6 argument comparisons after intersecting with the profile")
            :format(core.syscall_name(nr) or nr)
        end
        rules[#rules + 1] = { nr = nr, action = stricter(ra.action, rb.action), args = #args > 0 and args or nil }
        if #args == 0 then break end -- nothing after an unconditional rule can match
      end
    end
  end
  return { default = stricter(a.default, b.default), rules = rules }
end

-- What the monitor says of each call the profile's filter may notify: calls[nr] = "name\thint\treason",
-- the hint and reason purple run gives (purple.enforce.privileges). A hardening entry of the call
-- explains it when the policy itself allows the call.
local function violation_texts(plan)
  local calls = {}
  for nr = 0, 1023 do
    local name = core.syscall_name(nr)
    if name then
      local entry
      for _, h in ipairs(plan.hardening[nr] or {}) do
        if h.action == "kill" or h.report then entry = entry or h end
      end
      local allowed = seccomp.allowed(plan, nr)
      if not allowed then entry = nil end
      if entry or not allowed then
        calls[nr] = table.concat({ name, seccomp.hint(plan, nr, name, entry), seccomp.reason(plan, nr, entry) }, "\t")
      end
    end
  end
  return calls
end

-- The profile's filter for a container: supervised ("notify") decisions stay notify (answered with
-- EPERM by the monitor), or become kill with syscalls.action kill. rules, violations | nil, err
local function profile_rules(policy)
  local sc = policy.syscalls or {}
  local plan, err = seccomp.plan(sc, { profile = policy.name })
  if not plan then return nil, err end
  local kill = sc.action == "kill"
  local function map(act)
    if act == "notify" and kill then return "kill" end
    return act
  end
  local rules = {}
  for i, r in ipairs(plan.spec.rules) do
    rules[i] = { nr = r.nr, action = map(r.action), args = r.args }
  end
  local violations = not kill and { profile = policy.name, errno = EPERM, calls = violation_texts(plan) } or nil
  return { default = map(plan.spec.default), rules = rules }, violations
end

local function fail(policy, field, why)
  return nil, ("purple.profile %s: %s: %s"):format(policy.name or "?", field, why)
end

local function min(a, b)
  if a == nil then return b end
  if b == nil then return a end
  if a < 0 then return b end -- -1 = unlimited (rlimits)
  if b < 0 then return a end
  return math.min(a, b)
end

function M.apply(plan, policy)
  local s = plan.spec

  -- syscalls
  local pr, violations = profile_rules(policy)
  if not pr then return fail(policy, "syscalls", violations) end
  plan.violations = violations -- what the monitor needs (config.plan drops it when no notify decision is left)
  if plan.seccomp_rules then
    local both, err = M.intersect(plan.seccomp_rules, pr)
    if not both then return fail(policy, "syscalls", err) end
    plan.seccomp_rules = both
  else
    plan.seccomp_rules = pr
  end

  -- capabilities
  local caps = policy.capabilities or {}
  if caps.default_drop ~= false then
    local allowed = {}
    for _, c in ipairs(caps.add or {}) do
      local name = c:upper()
      if name:sub(1, 4) ~= "CAP_" then name = "CAP_" .. name end
      allowed[name] = true
    end
    for set, list in pairs(s.cap_sets) do
      local kept = {}
      for _, c in ipairs(list) do
        if allowed[c] then kept[#kept + 1] = c end
      end
      s.cap_sets[set] = kept
    end
  end
  s.no_new_privs = true

  -- resources
  local res = policy.resources or {}
  for name, value in pairs(res.rlimits or {}) do
    local cur = s.rlimits[name]
    local _, host_hard = core.getrlimit(name)
    local limit = min(value, host_hard)
    if cur then
      s.rlimits[name] = { soft = min(cur.soft, limit), hard = min(cur.hard, limit), field = cur.field }
    else
      s.rlimits[name] = { soft = limit, hard = limit }
    end
  end
  if res.memory_limit_bytes or res.pids_limit then
    plan.cgroup = plan.cgroup or { resources = {}, device_rules = {} }
    if not plan.cgroup.own then plan.cgroup.allow_unenforced = res.allow_unenforced == true end
    local r = plan.cgroup.resources
    if res.memory_limit_bytes then
      r.memory = r.memory or {}
      r.memory.limit = min(r.memory.limit ~= nil and r.memory.limit > 0 and r.memory.limit or nil,
        res.memory_limit_bytes)
    end
    if res.pids_limit then
      r.pids = r.pids or {}
      r.pids.limit = min(r.pids.limit ~= nil and r.pids.limit > 0 and r.pids.limit or nil, res.pids_limit)
    end
  end
  plan.timeout = res.session_timeout_seconds

  -- network
  local net = policy.network or {}
  if #(net.allow_outgoing or {}) > 0 or #(net.allow_incoming or {}) > 0 then
    return fail(policy, "network.allow_outgoing", "per-destination rules need purple's supervisor; not supported "
      .. "by purple-oci (use a profile with network.isolated)")
  end
  if net.isolated then
    for _, j in ipairs(s.joins or {}) do
      if j.type == "net" then
        return fail(policy, "network.isolated", ("the container joins the network namespace %s; the profile allows "
          .. "no network"):format(j.path))
      end
    end
    local has = false
    for n in s.namespaces:gmatch("[^,]+") do if n == "net" then has = true end end
    if not has then s.namespaces = s.namespaces .. ",net" end
  end

  -- filesystem: nothing of the host; a read-only root with private scratch directories
  s.root_readonly = true
  local fs = policy.filesystem or {}
  for _, p in ipairs(fs.scratch_paths or {}) do
    local path = type(p) == "table" and (p.sandbox_path or p.path) or p
    s.mounts[#s.mounts + 1] = { type = "tmpfs", target = path, readonly = false,
      field = "purple.profile scratch_paths" }
  end
  return true
end

return M
