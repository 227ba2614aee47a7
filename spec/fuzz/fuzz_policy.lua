-- The policy loader as purple runs it on a YAML file (spec/fuzz/fuzz_policy.c calls the function
-- this returns once per input): YAML import (purple.yaml), schema validation and composition
-- (purple.policy; `extends` of a shipped profile through purple.profiles; purple.extend of a shipped
-- base), then the seccomp plan the policy would run under.
--
-- A bad policy must come back as nil and a message; anything raised from inside the library is a
-- finding (the C side aborts with it). For a policy that loads, what it states must be what runs:
--   * validating it again gives the same policy (a loaded policy is a fixed point);
--   * the compiled filter never allows a syscall the policy denies, nor (default_deny) one it does
--     not allow; a plan that cannot be built is refused (purple exits 125), never run weaker.
local yaml = require "purple.yaml"
local policy = require "purple.policy"
local profiles = require "purple.profiles"
local seccomp = require "purple.seccomp"
local core = require "purple.core"

local ALLOW = 0x7fff0000
local ctx = profiles.context({ argv = { "agent" }, env = {}, cwd = "/tmp", hostname = "fuzz", uid = 1000,
  time = 0, cpus = 2, memory_bytes = 1 << 30 })

-- `extends` names only shipped profiles here: a path could name any script on this machine.
local function load_base(ref, source, c)
  if type(ref) ~= "string" or ref:find("[/.]") then
    return nil, "extends: fuzz loads shipped profiles only"
  end
  return profiles.load_base(ref, source, c)
end

local function same(a, b, path)
  if type(a) ~= type(b) then return false, path end
  if type(a) ~= "table" then
    if a == b or (a ~= a and b ~= b) then return true end
    return false, path
  end
  for k, v in pairs(a) do
    local ok, where = same(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, where end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) end
  end
  return true
end

local function clean_error(what, msg)
  if type(msg) ~= "string" or msg == "" then
    error(("%s failed without a message (%s)"):format(what, tostring(msg)), 0)
  end
end

-- What the plan's program answers for nr with zero arguments.
local function decision(plan, nr)
  return core.seccomp_eval(plan.program, { nr = nr, arch = "x86_64", args = { 0, 0, 0, 0, 0, 0 } })
end

local function enforced(p)
  local plan, err = seccomp.plan(p.syscalls)
  if not plan then return clean_error("seccomp.plan", err) end
  local always = {}
  for _, name in ipairs(seccomp.ALWAYS) do always[seccomp.number(name)] = true end
  for nr in pairs(plan.deny) do
    if decision(plan, nr) == ALLOW then
      error(("syscall %d is denied by the policy but the filter allows it"):format(nr), 0)
    end
  end
  if plan.default_deny then
    for nr = 0, 460 do
      if not plan.allow[nr] and not always[nr] and core.syscall_name(nr) and decision(plan, nr) == ALLOW then
        error(("syscall %d is not allowed by a default_deny policy but the filter allows it"):format(nr), 0)
      end
    end
  end
end

local function loaded(p, lines)
  -- fixed point: the loaded policy validated again is itself
  local again, err = policy.normalize(policy.copy(p), { source = p.source, lines = lines, load_base = load_base })
  if not again then error("a loaded policy fails its own validation: " .. tostring(err), 0) end
  local ok, where = same(p, again, "policy")
  if not ok then error("a loaded policy changes when validated again at " .. where, 0) end
  enforced(p)
end

return function(text)
  local doc, lines = yaml.decode(text, "fuzz.yaml", policy.NULL)
  if doc == nil then return clean_error("yaml.decode", lines) end
  local p, err = policy.normalize(doc, { source = "fuzz.yaml", lines = lines, ctx = ctx, load_base = load_base })
  if not p then return clean_error("policy.normalize", err) end
  loaded(p, lines)
  -- composition: the document as overrides of a shipped base (purple.extend)
  if doc.extends == nil then
    local base = assert(load_base("ai-strict", nil, ctx))
    local q, qerr = policy.extend(base, doc, { source = "fuzz.yaml", lines = lines, ctx = ctx })
    if not q then return clean_error("policy.extend", qerr) end
    loaded(q, lines)
  end
end
