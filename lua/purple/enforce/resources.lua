-- Resources: rlimits now; cgroup limits (cpu, memory, pids, block io) arrive with the resources
-- issue. Until then a policy that sets one fails closed instead of running unlimited.
local M = {}

local CGROUP_FIELDS = { "cpu_shares", "memory_limit_bytes", "pids_limit", "block_io_limit" }

function M.prepare(run)
  local r = run.policy.resources or {}
  for _, f in ipairs(CGROUP_FIELDS) do
    if r[f] ~= nil then
      return nil, ("resources.%s: cgroup limits are not enforced by this build; remove the field"):format(f)
    end
  end
  local rl = { core = 0 }
  for k, v in pairs(r.rlimits or {}) do rl[k] = v end
  run.spec.rlimits = rl
  return true
end

return M
