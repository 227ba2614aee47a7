-- Network: an isolated network namespace with only loopback. Port allowlists on the host's
-- network (isolated = false) arrive with the network issue; until then they fail closed.
local M = {}

function M.prepare(run)
  local n = run.policy.network or {}
  if n.isolated == false then
    return nil, "network.isolated: false (host network with port filtering) is not enforced by this build; "
      .. "set isolated: true"
  end
  run.spec.namespaces = run.spec.namespaces .. ",net"
  return true
end

return M
