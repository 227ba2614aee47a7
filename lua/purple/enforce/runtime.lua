-- Runtime: the session's file in the runtime directory (purple.runtime) while its command runs,
-- so `purple ps` lists it and `purple stop` finds its supervisor. Removed when the run ends.
local log = require "purple.log"
local runtime = require "purple.runtime"

local M = {}

function M.started(run)
  local ok, err = runtime.register(run)
  if not ok then
    -- The sandbox itself is intact; only ps/stop cannot see this session.
    log.warn("%s (purple ps will not list session %s)", err, run.session)
    run.warnings[#run.warnings + 1] = tostring(err)
  end
end

function M.finish(run)
  runtime.unregister(run)
end

return M
