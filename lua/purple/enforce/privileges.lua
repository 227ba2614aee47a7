-- Privileges: capabilities (bounding, permitted, effective, inheritable and ambient sets cleared
-- except capabilities.add) and no_new_privs, always. Seccomp arrives with the privilege issue;
-- until then a policy with syscall rules fails closed.
local M = {}

function M.prepare(run)
  local p = run.policy
  local sc = p.syscalls or {}
  if sc.default_deny or (sc.allow and #sc.allow > 0) or (sc.deny and #sc.deny > 0) then
    return nil, "syscalls: seccomp filtering is not enforced by this build; remove the syscalls section"
  end
  local caps = p.capabilities or {}
  run.spec.drop_caps = caps.default_drop ~= false
  run.spec.caps = caps.add or {}
  run.spec.no_new_privs = true
  return true
end

return M
