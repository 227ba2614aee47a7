-- Small file helpers shared by the supervisor-side modules.
local M = {}

-- The whole content of path, or nil when it cannot be opened (missing, no permission).
function M.read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

return M
