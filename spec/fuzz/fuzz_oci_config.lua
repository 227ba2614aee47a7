-- purple-oci's config.json reader as `create` runs it (spec/fuzz/fuzz_oci_config.c calls the
-- function this returns once per input): JSON and schema validation (purple.oci.config.decode),
-- then the plan for the core (purple.oci.config.plan) as root and as an unprivileged owner, and
-- with purple's ai-strict profile layered on top (purple.oci.layer).
--
-- A bad config must come back as nil and one line ("config.json: ...", or "purple.profile NAME: ..."
-- for a conflict with the profile); anything raised from
-- inside the library is a finding (the C side aborts with it). For a config that plans under the
-- profile, the plan must be no wider than the profile: no capability it does not add, no_new_privs,
-- a read-only root, its own network namespace, limits at most the profile's, and a filter that
-- never allows a call the profile denies (nor, with default_deny, one it does not allow).
local config = require "purple.oci.config"
local profiles = require "purple.profiles"
local seccomp = require "purple.seccomp"
local core = require "purple.core"

local ALLOW = 0x7fff0000
local BUNDLE = "/nonexistent/fuzz-bundle" -- nothing is read from it: plan only builds paths
local profile = assert(profiles.load("ai-strict"))
local profile_plan = assert(seccomp.plan(profile.syscalls))
local always = {}
for _, name in ipairs(seccomp.ALWAYS) do always[seccomp.number(name)] = true end

local function clean_error(what, msg)
  if type(msg) ~= "string" or msg:find("\n")
      or not (msg:find("^config%.json: .") or msg:find("^purple%.profile ai%-strict: .")) then
    error(("%s failed without one line naming config.json or the profile (%s)"):format(what, tostring(msg)), 0)
  end
end

-- What a program answers for nr with zero arguments.
local function decision(program, nr)
  return core.seccomp_eval(program, { nr = nr, arch = "x86_64", args = { 0, 0, 0, 0, 0, 0 } })
end

local function no_wider(plan)
  local s = plan.spec
  local added = {}
  for _, c in ipairs((profile.capabilities or {}).add or {}) do
    added[(("CAP_" .. c:upper()):gsub("^CAP_CAP_", "CAP_"))] = true
  end
  for set, list in pairs(s.cap_sets) do
    for _, c in ipairs(list) do
      if not added[c] then error(("capability %s in the %s set; the profile adds none such"):format(c, set), 0) end
    end
  end
  if not s.no_new_privs then error("no_new_privs is off under the profile", 0) end
  if not s.root_readonly then error("the root is writable under the profile", 0) end
  if (profile.network or {}).isolated then
    if not ("," .. s.namespaces .. ","):find(",net,", 1, true) then
      error("no network namespace of its own under an isolated profile: " .. s.namespaces, 0)
    end
    for _, j in ipairs(s.joins or {}) do
      if j.type == "net" then error("joins a network namespace under an isolated profile", 0) end
    end
  end
  local res, limits = profile.resources or {}, plan.cgroup and plan.cgroup.resources or {}
  for field, key in pairs({ memory_limit_bytes = "memory", pids_limit = "pids" }) do
    if res[field] then
      local l = limits[key] and limits[key].limit
      if not l or l <= 0 or l > res[field] then
        error(("%s limit %s is above the profile's %d"):format(key, tostring(l), res[field]), 0)
      end
    end
  end
  if not s.seccomp then error("no seccomp filter under the profile", 0) end
  for nr in pairs(profile_plan.deny) do
    if decision(s.seccomp, nr) == ALLOW then
      error(("syscall %d is denied by the profile but the container's filter allows it"):format(nr), 0)
    end
  end
  if profile_plan.default_deny then
    for nr = 0, 460 do
      if not profile_plan.allow[nr] and not always[nr] and core.syscall_name(nr)
          and decision(s.seccomp, nr) == ALLOW then
        error(("syscall %d is not allowed by the default_deny profile but the container's filter allows it")
          :format(nr), 0)
      end
    end
  end
end

return function(text)
  for _, case in ipairs({ { uid = 0 }, { uid = 1000 }, { uid = 0, profile = profile } }) do
    -- decoded afresh for each plan: a plan keeps (and the layer changes) parts of the document
    local doc, err = config.decode(text, BUNDLE)
    if not doc then return clean_error("config.decode", err) end
    local plan
    plan, err = config.plan(doc, { bundle = BUNDLE, uid = case.uid, profile = case.profile })
    if not plan then
      clean_error("config.plan", err)
    elseif case.profile then
      no_wider(plan)
    end
  end
end
