-- The policy model: defaults and normalisation. (Full validation: see the policy issue.)
-- A normalised policy has every section, sizes in bytes, paths absolute, lists as lists.
local M = {}

local function copy(t)
  if type(t) ~= "table" then return t end
  local r = {}
  for k, v in pairs(t) do r[k] = copy(v) end
  return r
end
M.copy = copy

function M.defaults()
  return {
    name = "unnamed",
    description = "",
    filesystem = { immutable_paths = {}, scratch_paths = {}, output_paths = {} },
    syscalls = { default_deny = false, allow = {}, deny = {} },
    resources = { rlimits = {} },
    capabilities = { default_drop = true, add = {} },
    network = { isolated = true, allow_outgoing = {}, allow_incoming = {} },
    audit = { enabled = false, detail_level = {} },
    environment = { keep = {}, set = {} },
  }
end

local UNITS = { K = 1024, M = 1024 ^ 2, G = 1024 ^ 3, T = 1024 ^ 4 }

function M.size(v)
  if math.type(v) == "integer" then return v end
  if type(v) ~= "string" then return nil end
  local n, u = v:match("^%s*(%d+)%s*([KMGT]?)i?B?%s*$")
  if not n then return nil end
  return math.tointeger(tonumber(n) * (UNITS[u] or 1))
end

function M.normalize(p)
  local r = M.defaults()
  for k, v in pairs(p) do
    if type(v) == "table" and type(r[k]) == "table" then
      for k2, v2 in pairs(v) do r[k][k2] = copy(v2) end
    else
      r[k] = copy(v)
    end
  end
  local scratch = {}
  for _, s in ipairs(r.filesystem.scratch_paths) do
    if type(s) == "string" then s = { path = s } end
    scratch[#scratch + 1] = { path = s.path, size = M.size(s.size or "256M"), mode = s.mode }
  end
  r.filesystem.scratch_paths = scratch
  return r
end

return M
