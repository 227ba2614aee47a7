-- Finding and loading profiles. Search order: in-tree profiles/, $XDG_CONFIG_HOME/purple/profiles,
-- /etc/purple/profiles, $(PREFIX)/share/purple/profiles. A name containing "/" or ending in
-- .lua/.yaml/.yml is a path.
local policy = require "purple.policy"

local M = {}

function M.dirs()
  local dirs = {}
  local here = debug.getinfo(1, "S").source:match("^@(.*)/lua/purple/profiles%.lua$")
  if here then dirs[#dirs + 1] = here .. "/profiles" end
  local xdg = os.getenv("XDG_CONFIG_HOME") or ((os.getenv("HOME") or "/nonexistent") .. "/.config")
  dirs[#dirs + 1] = xdg .. "/purple/profiles"
  dirs[#dirs + 1] = "/etc/purple/profiles"
  dirs[#dirs + 1] = (os.getenv("PURPLE_DATADIR") or "/usr/local/share/purple") .. "/profiles"
  return dirs
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

function M.find(name)
  if name:find("/") or name:match("%.lua$") or name:match("%.ya?ml$") then
    if exists(name) then return name end
    return nil, ("profile %s: no such file"):format(name)
  end
  for _, d in ipairs(M.dirs()) do
    for _, ext in ipairs({ ".lua", ".yaml", ".yml" }) do
      local p = d .. "/" .. name .. ext
      if exists(p) then return p end
    end
  end
  return nil, ("profile %s: not found in %s"):format(name, table.concat(M.dirs(), ", "))
end

function M.from_table(p, source, ctx)
  local n = policy.normalize(p)
  n.source = source
  return n
end

function M.list()
  local seen, out = {}, {}
  for _, d in ipairs(M.dirs()) do
    local h = io.popen(("ls -1 %q 2>/dev/null"):format(d))
    for f in h:lines() do
      local name = f:match("^(.-)%.lua$") or f:match("^(.-)%.ya?ml$")
      if name and not seen[name] then
        seen[name] = true
        local p = M.load(d .. "/" .. f, {})
        out[#out + 1] = { name = name, description = p and p.description or "(invalid)", path = d .. "/" .. f }
      end
    end
    h:close()
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

function M.load(name, ctx)
  local path, err = M.find(name)
  if not path then return nil, err end
  local chunk, lerr = loadfile(path)
  if not chunk then return nil, lerr end
  local ok, p = pcall(chunk, ctx)
  if not ok then return nil, ("%s: %s"):format(path, tostring(p)) end
  if type(p) ~= "table" then return nil, ("%s: a profile must return a policy table"):format(path) end
  local n = policy.normalize(p)
  n.source = path
  return n
end

return M
