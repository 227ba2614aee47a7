-- A JSON Schema validator for the subset docs/audit-schema.json uses: type, enum, const,
-- properties, required, additionalProperties (boolean), items, minItems, minimum, maximum,
-- minLength, pattern (anchored character classes and literals with {n}), format "date-time",
-- $ref to "#/$defs/NAME", oneOf, and the boolean schema true. Anything else in a schema raises, so
-- the schema cannot silently use a keyword this validator ignores.
-- validate(schema, value) -> true | nil, "path: why"
local json = require "purple.json"

local M = {}

local KNOWN = {
  ["$schema"] = true, ["$id"] = true, title = true, description = true, ["$defs"] = true,
  type = true, enum = true, const = true, properties = true, required = true, additionalProperties = true,
  items = true, minItems = true, minimum = true, maximum = true, minLength = true, pattern = true,
  format = true, ["$ref"] = true, oneOf = true,
}

local function is_object(v) return type(v) == "table" and getmetatable(v) == json.object_mt end
local function is_array(v) return type(v) == "table" and getmetatable(v) ~= json.object_mt and v ~= json.null end

local function type_ok(t, v)
  if t == "object" then return is_object(v) end
  if t == "array" then return is_array(v) end
  if t == "string" then return type(v) == "string" end
  if t == "integer" then return math.type(v) == "integer" end
  if t == "number" then return type(v) == "number" end
  if t == "boolean" then return type(v) == "boolean" end
  if t == "null" then return v == json.null end
  error("schema: unknown type " .. tostring(t))
end

-- ECMA pattern subset → Lua pattern: ^ $ [classes] literals, each optionally followed by {n}.
local function lua_pattern(p)
  local out, i = {}, 1
  while i <= #p do
    local c = p:sub(i, i)
    local atom
    if c == "^" or c == "$" then
      out[#out + 1] = c
      i = i + 1
    else
      if c == "[" then
        local j = p:find("]", i + 1, true)
        atom = p:sub(i, j)
        i = j + 1
      elseif c:match("[%w_]") then
        atom = c
        i = i + 1
      else
        error("schema: pattern construct not supported: " .. p)
      end
      local n = p:match("^{(%d+)}", i)
      if n then
        atom = atom:rep(tonumber(n))
        i = i + #n + 2
      end
      out[#out + 1] = atom
    end
  end
  return table.concat(out)
end

local function validate(root, s, v, path)
  if s == true then return true end
  for k in pairs(s) do
    if not KNOWN[k] then error("schema: keyword not supported by this validator: " .. k) end
  end
  if s["$ref"] then
    local name = s["$ref"]:match("^#/%$defs/(.+)$")
    local target = name and root["$defs"][name]
    if not target then error("schema: bad $ref " .. s["$ref"]) end
    local ok, err = validate(root, target, v, path)
    if not ok then return nil, err end
  end
  if s.type then
    local types = type(s.type) == "table" and s.type or { s.type }
    local ok = false
    for _, t in ipairs(types) do if type_ok(t, v) then ok = true end end
    if not ok then return nil, ("%s: expected %s"):format(path, table.concat(types, " or ")) end
  end
  if s.const ~= nil and v ~= s.const then return nil, ("%s: expected %s"):format(path, tostring(s.const)) end
  if s.enum then
    local ok = false
    for _, e in ipairs(s.enum) do if e == v then ok = true end end
    if not ok then return nil, ("%s: %s is not one of the allowed values"):format(path, tostring(v)) end
  end
  if type(v) == "number" then
    if s.minimum and v < s.minimum then return nil, ("%s: %s < %s"):format(path, v, s.minimum) end
    if s.maximum and v > s.maximum then return nil, ("%s: %s > %s"):format(path, v, s.maximum) end
  end
  if type(v) == "string" then
    if s.minLength and #v < s.minLength then return nil, path .. ": too short" end
    if s.pattern and not v:match(lua_pattern(s.pattern)) then
      return nil, ("%s: %q does not match %s"):format(path, v, s.pattern)
    end
    if s.format == "date-time" and not v:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%dZ$") then
      return nil, ("%s: %q is not RFC 3339 with microseconds"):format(path, v)
    end
  end
  if is_object(v) then
    for _, r in ipairs(s.required or {}) do
      if v[r] == nil then return nil, ("%s: required field '%s' missing"):format(path, r) end
    end
    for k, val in pairs(v) do
      local ps = s.properties and s.properties[k]
      if ps then
        local ok, err = validate(root, ps, val, path .. "." .. k)
        if not ok then return nil, err end
      elseif s.additionalProperties == false then
        return nil, ("%s: field '%s' is not in the schema"):format(path, k)
      end
    end
  end
  if is_array(v) then
    if s.minItems and #v < s.minItems then return nil, path .. ": too few items" end
    if s.items then
      for i, item in ipairs(v) do
        local ok, err = validate(root, s.items, item, ("%s[%d]"):format(path, i))
        if not ok then return nil, err end
      end
    end
  end
  if s.oneOf then
    local matched, errs = 0, {}
    for _, sub in ipairs(s.oneOf) do
      local ok, err = validate(root, sub, v, path)
      if ok then matched = matched + 1 else errs[#errs + 1] = err end
    end
    if matched ~= 1 then
      return nil, ("%s: matches %d of oneOf (%s)"):format(path, matched, table.concat(errs, "; "))
    end
  end
  return true
end

function M.validate(schema, value)
  return validate(schema, schema, value, "$")
end

function M.load(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return assert(json.decode(s))
end

return M
