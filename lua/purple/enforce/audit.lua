-- Audit: the JSON-lines audit log arrives with the audit issue; until then enabling it fails closed.
local M = {}

function M.prepare(run)
  local a = run.policy.audit or {}
  if a.enabled then
    return nil, "audit.enabled: the audit log is not written by this build; set enabled: false"
  end
  return true
end

return M
