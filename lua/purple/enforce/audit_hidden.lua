-- Audit, second step: after every other enforcer has planned its mounts, refuse a run whose
-- sandbox would see the audit log (purple.audit.check_hidden). Separate from purple.enforce.audit,
-- which must come first so that its finish records the complete result.
local M = {}

function M.prepare(run)
  if not run.audit then return true end -- no log opened (audit.check_hidden says the same)
  return require("purple.audit").check_hidden(run)
end

return M
