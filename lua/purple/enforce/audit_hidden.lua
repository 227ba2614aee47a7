-- Audit, second step: after every other enforcer has planned its mounts, refuse a run whose
-- sandbox would see the audit log (purple.audit.check_hidden). Separate from purple.enforce.audit,
-- which must come first so that its finish records the complete result.
local audit = require "purple.audit"

local M = {}

function M.prepare(run)
  return audit.check_hidden(run)
end

return M
