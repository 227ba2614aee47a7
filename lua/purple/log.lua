-- Diagnostics on stderr, one line each, prefixed "purple: ". Level set by -l/--log-level.
local M = { level = 2 }
local levels = { error = 1, warn = 2, info = 3, debug = 4 }
M.levels = levels

function M.set_level(name)
  local l = levels[name]
  if not l then return nil, ("log level: unknown '%s' (error, warn, info, debug)"):format(tostring(name)) end
  M.level = l
  return true
end

local function emit(l, fmt, ...)
  if l <= M.level then
    local ok, msg = pcall(string.format, fmt, ...)
    io.stderr:write("purple: ", ok and msg or fmt, "\n")
  end
end

function M.error(fmt, ...) emit(1, fmt, ...) end
function M.warn(fmt, ...) emit(2, fmt, ...) end
function M.info(fmt, ...) emit(3, fmt, ...) end
function M.debug(fmt, ...) emit(4, fmt, ...) end
function M.enabled(name) return levels[name] <= M.level end

return M
