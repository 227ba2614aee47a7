-- purple.oci.devices: a container's device rules (linux.resources.devices) for both cgroup versions.
--
--   writes(list, extra, null) -> writes | nil, "config.json: PROP: why"
--       list = linux.resources.devices; extra = the "c 1:3 rwm" rules of linux.devices nodes
--       (plan.cgroup.device_rules). writes = { { file = "devices.allow"|"devices.deny",
--       text = "c 1:3 rwm", prop = "linux.resources.devices[0]" } ... }: "deny all" (runc's start),
--       the config's list, then runc's default allow list, then the nodes: what cgroup v1's devices
--       controller is given.
--   program(writes) -> rules       the same as cgroup v2's device program takes them
--       (core.cgroup_device_filter: the last matching rule decides, none: deny)
--
-- v2 must keep exactly what v1 keeps, so program() runs the writes through the v1 controller's own
-- rules (security/device_cgroup.c) instead of reading the list as "last match wins": v1 starts from
-- its parent's "allow all"; "a" clears the exceptions and sets the default; a rule for the default's
-- own side removes access from an exception of the same type, major and minor, one for the other
-- side adds it (merged into an equal one). The result is a default and a list of exceptions; the
-- program is that default then the exceptions (all of the other verdict, so their order is moot).
local M = {}

-- The devices every container may use (runc's default allow list) after linux.resources.devices.
local DEFAULT_ALLOW = { "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
  "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm" }

local function fail(path, why)
  return nil, ("config.json: %s: %s"):format(path, why)
end

function M.writes(list, extra, null)
  local function v(x) if x == null then return nil end return x end
  -- from "deny all", as runc's rules start whatever the list: a list that does not begin with it
  -- (or none at all) must not leave the parent group's "allow all" in place
  local out = { { file = "devices.deny", text = "a", prop = "linux.resources.devices" } }
  for i, d in ipairs(list) do
    local p = ("linux.resources.devices[%d]"):format(i - 1)
    local typ = v(d.type) or "a"
    if typ ~= "a" and typ ~= "c" and typ ~= "b" then return fail(p .. ".type", "must be a, c or b") end
    local access = v(d.access) or "rwm"
    if not access:match("^[rwm]+$") then return fail(p .. ".access", "must be letters of rwm") end
    if typ == "a" and ((v(d.major) or -1) ~= -1 or (v(d.minor) or -1) ~= -1 or access ~= "rwm") then
      -- the v1 controller takes "a" only for all devices and all access
      return fail(p, "type a (all devices) must come without major, minor and with access rwm")
    end
    local num = {}
    for _, k in ipairs({ "major", "minor" }) do
      -- -1 is "any" as with runc, as is leaving it out
      local x = v(d[k])
      if x and x < -1 then return fail(p .. "." .. k, "must be 0 or more, or -1 for any") end
      num[k] = (not x or x == -1) and "*" or tostring(x)
    end
    local rule = typ == "a" and "a" or ("%s %s:%s %s"):format(typ, num.major, num.minor, access)
    out[#out + 1] = { file = d.allow and "devices.allow" or "devices.deny", text = rule, prop = p }
  end
  for _, rule in ipairs(DEFAULT_ALLOW) do
    out[#out + 1] = { file = "devices.allow", text = rule, prop = "linux.resources.devices" }
  end
  for _, rule in ipairs(extra) do
    out[#out + 1] = { file = "devices.allow", text = rule, prop = "linux.devices" }
  end
  return out
end

local function parse(text)
  if text == "a" then return { type = "a" } end
  local typ, major, minor, access = text:match("^([bc]) (%S+):(%S+) ([rwm]+)$")
  local bits = {}
  for ch in access:gmatch(".") do bits[ch] = true end
  return { type = typ, major = major == "*" and -1 or tonumber(major), minor = minor == "*" and -1 or tonumber(minor),
    bits = bits }
end

function M.program(writes)
  local default_allow, exceptions = true, {}
  local function same(a, b) return a.type == b.type and a.major == b.major and a.minor == b.minor end
  for _, wr in ipairs(writes) do
    local r, allow = parse(wr.text), wr.file == "devices.allow"
    if r.type == "a" then
      default_allow, exceptions = allow, {}
    elseif allow == default_allow then
      -- toward the default: take the access away from the equal exception
      for i = #exceptions, 1, -1 do
        local ex = exceptions[i]
        if same(ex, r) then
          for ch in pairs(r.bits) do ex.bits[ch] = nil end
          if next(ex.bits) == nil then table.remove(exceptions, i) end
        end
      end
    else
      local merged = false
      for _, ex in ipairs(exceptions) do
        if same(ex, r) then
          for ch in pairs(r.bits) do ex.bits[ch] = true end
          merged = true
        end
      end
      if not merged then exceptions[#exceptions + 1] = r end
    end
  end
  local rules = {}
  if default_allow then rules[1] = { allow = true, type = "a", access = "rwm" } end
  for _, ex in ipairs(exceptions) do
    local access = (ex.bits.r and "r" or "") .. (ex.bits.w and "w" or "") .. (ex.bits.m and "m" or "")
    rules[#rules + 1] = { allow = not default_allow, type = ex.type, major = ex.major, minor = ex.minor,
      access = access }
  end
  return rules
end

return M
