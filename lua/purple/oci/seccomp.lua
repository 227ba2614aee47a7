-- purple.oci.seccomp: the OCI config's linux.seccomp (libseccomp's JSON profile as runc reads it)
-- → purple's rule table { default = ACTION, rules = { { nr, action, args } } } (purple.seccomp.compile).
--
--   defaultAction, syscalls[].action   SCMP_ACT_ALLOW → allow; SCMP_ACT_ERRNO → errnoRet (else
--                                      defaultErrnoRet, else EPERM); SCMP_ACT_KILL_PROCESS, and
--                                      SCMP_ACT_KILL / KILL_THREAD (the whole process: stricter) →
--                                      kill; SCMP_ACT_LOG → log. TRAP, TRACE and NOTIFY are refused.
--   syscalls[].names                   names this architecture lacks are skipped (as runc does)
--   syscalls[].args                    all must hold, except several on one argument index: then
--                                      each is a rule of its own (runc's rule, an OR)
--   architectures                      the filter checks the native architecture only and kills a
--                                      call from any other (x32, int 0x80 included): stricter
--   flags                              SECCOMP_FILTER_FLAG_TSYNC (the payload is single-threaded);
--                                      the others are refused
-- Rules of one syscall keep the profile's order and the first that matches decides.
local seccomp = require "purple.seccomp"

local M = {}

local EPERM = 1
local OPS = { SCMP_CMP_NE = "ne", SCMP_CMP_LT = "lt", SCMP_CMP_LE = "le", SCMP_CMP_EQ = "eq", SCMP_CMP_GE = "ge",
  SCMP_CMP_GT = "gt", SCMP_CMP_MASKED_EQ = "masked_eq" }
local FLAGS = { SECCOMP_FILTER_FLAG_TSYNC = true }

local function action(name, errno_ret, default_errno, path)
  if errno_ret ~= nil and name ~= "SCMP_ACT_ERRNO" then
    return nil, ("%s: errnoRet is only for SCMP_ACT_ERRNO"):format(path)
  end
  if name == "SCMP_ACT_ALLOW" then return "allow" end
  if name == "SCMP_ACT_ERRNO" then
    local e = errno_ret or default_errno or EPERM
    if e < 0 or e > 4095 then return nil, ("%s: errno %d out of range 0..4095"):format(path, e) end
    return e
  end
  if name == "SCMP_ACT_KILL" or name == "SCMP_ACT_KILL_THREAD" or name == "SCMP_ACT_KILL_PROCESS" then return "kill" end
  if name == "SCMP_ACT_LOG" then return "log" end
  if name == "SCMP_ACT_TRAP" or name == "SCMP_ACT_TRACE" or name == "SCMP_ACT_NOTIFY" then
    return nil, ("%s: %s is not supported by purple-oci"):format(path, name)
  end
  return nil, ("%s: unknown action %q"):format(path, tostring(name))
end

local function comparisons(args, path)
  local list, count = {}, {}
  for i, a in ipairs(args or {}) do
    local p = ("%s[%d]"):format(path, i - 1)
    local op = OPS[a.op]
    if not op then return nil, ("%s.op: unknown operator %q"):format(p, tostring(a.op)) end
    if a.index < 0 or a.index > 5 then return nil, p .. ".index: must be 0 to 5" end
    if op == "masked_eq" then
      list[#list + 1] = { a.index, op, a.valueTwo or 0, a.value }
    else
      list[#list + 1] = { a.index, op, a.value }
    end
    count[a.index] = (count[a.index] or 0) + 1
  end
  for _, n in pairs(count) do
    if n > 1 then
      local alternatives = {}
      for i, c in ipairs(list) do alternatives[i] = { c } end
      return alternatives
    end
  end
  return { list }
end

-- rules(sc) -> { default, rules } | nil, "linux.seccomp...: why"
function M.rules(sc, null)
  local function v(x) if x == null then return nil end return x end
  local def_errno = v(sc.defaultErrnoRet)
  local default, err = action(sc.defaultAction, nil, def_errno, "linux.seccomp.defaultAction")
  if not default then return nil, err end
  for i, f in ipairs(v(sc.flags) or {}) do
    if not FLAGS[f] then
      return nil, ("linux.seccomp.flags[%d]: %s is not supported by purple-oci"):format(i - 1, f)
    end
  end
  local rules = {}
  for i, entry in ipairs(v(sc.syscalls) or {}) do
    local p = ("linux.seccomp.syscalls[%d]"):format(i - 1)
    local act
    act, err = action(entry.action, v(entry.errnoRet), def_errno, p .. ".action")
    if not act then return nil, err end
    local alts
    alts, err = comparisons(v(entry.args), p .. ".args")
    if not alts then return nil, err end
    for _, name in ipairs(entry.names) do
      local nr = seccomp.number(name)
      if nr then
        for _, args in ipairs(alts) do
          rules[#rules + 1] = { nr = nr, action = act, args = #args > 0 and args or nil }
        end
      end
    end
  end
  return { default = default, rules = rules }
end

function M.compile(t)
  return seccomp.compile(t)
end

return M
