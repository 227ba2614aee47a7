-- purple.cli.show: a normalised policy as YAML, Lua or JSON, in schema order (purple profile show). The
-- YAML and Lua forms load again as profiles and give the same policy (spec/yaml_spec.lua: round trip).
local schema = require "purple.schema"
local json = require "purple.json"

local M = {}

M.FORMATS = { "yaml", "lua", "json" }

local function number(v)
  if math.type(v) == "integer" then return tostring(v) end
  local s = ("%.14g"):format(v)
  if tonumber(s) ~= v then s = ("%.17g"):format(v) end
  if not s:find("[.eEn]") then s = s .. ".0" end
  return s
end

-- A double-quoted string; the escapes used are valid in both YAML and Lua.
local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" }
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or ("\\x%02x"):format(c:byte())
  end) .. '"'
end

local function scalar(v)
  if type(v) == "string" then return quote(v) end
  if type(v) == "number" then return number(v) end
  return tostring(v)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- Visits the present fields of map node in schema order: f(key, typ, value).
local function each_field(node, v, f)
  for _, field in ipairs(node.fields) do
    if v[field[1]] ~= nil then f(field[1], field[2], v[field[1]]) end
  end
end

---------------------------------------------------------------------------------------------------
-- YAML

local yaml_value

local function yaml_map(node, v, indent, out)
  local pad = ("  "):rep(indent)
  each_field(node, v, function(k, typ, x) yaml_value(typ, x, indent, out, pad .. k .. ":") end)
end

function yaml_value(typ, v, indent, out, head)
  local pad = ("  "):rep(indent)
  if type(typ) ~= "table" or typ.kind == "enum" then
    out[#out + 1] = head .. " " .. scalar(v)
  elseif typ.kind == "map" then
    if next(v) == nil then out[#out + 1] = head .. " {}" return end
    out[#out + 1] = head
    yaml_map(typ, v, indent + 1, out)
  elseif typ.kind == "dict" then
    if next(v) == nil then out[#out + 1] = head .. " {}" return end
    out[#out + 1] = head
    for _, k in ipairs(sorted_keys(v)) do out[#out + 1] = pad .. "  " .. quote(k) .. ": " .. scalar(v[k]) end
  elseif typ.kind == "list" then
    if #v == 0 then out[#out + 1] = head .. " []" return end
    out[#out + 1] = head
    for _, item in ipairs(v) do
      if type(item) == "table" then
        local lines = {}
        yaml_map(typ.item, item, indent + 2, lines)
        lines[1] = pad .. "  - " .. lines[1]:gsub("^%s+", "")
        for _, l in ipairs(lines) do out[#out + 1] = l end
      else
        out[#out + 1] = pad .. "  - " .. scalar(item)
      end
    end
  end
end

function M.yaml(p)
  local out = { ("# %s: the effective policy%s"):format(p.name or "?",
    p.source and (" (from " .. p.source .. ")") or "") }
  each_field(schema.root, p, function(k, typ, x)
    if type(typ) == "table" and typ.kind == "map" then out[#out + 1] = "" end
    yaml_value(typ, x, 0, out, k .. ":")
  end)
  return table.concat(out, "\n") .. "\n"
end

---------------------------------------------------------------------------------------------------
-- Lua

local function lua_key(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return k end
  return "[" .. scalar(k) .. "]"
end

local function lua_value(typ, v, indent)
  local pad = ("  "):rep(indent)
  if type(typ) ~= "table" or typ.kind == "enum" then return scalar(v) end
  local parts = {}
  if typ.kind == "map" then
    each_field(typ, v, function(k, t, x) parts[#parts + 1] = lua_key(k) .. " = " .. lua_value(t, x, indent + 1) end)
  elseif typ.kind == "dict" then
    for _, k in ipairs(sorted_keys(v)) do parts[#parts + 1] = lua_key(k) .. " = " .. scalar(v[k]) end
  else
    for _, item in ipairs(v) do parts[#parts + 1] = lua_value(typ.item, item, indent + 1) end
  end
  if #parts == 0 then return "{}" end
  local one = "{ " .. table.concat(parts, ", ") .. " }"
  if #one + #pad < 90 and not one:find("\n") then return one end
  return "{\n" .. pad .. "  " .. table.concat(parts, ",\n" .. pad .. "  ") .. ",\n" .. pad .. "}"
end

function M.lua(p)
  return ("-- %s: the effective policy%s\nreturn %s\n"):format(p.name or "?",
    p.source and (" (from " .. p.source .. ")") or "", lua_value(schema.root, p, 0))
end

---------------------------------------------------------------------------------------------------
-- JSON (maps stay objects when empty)

local function json_tree(typ, v)
  if type(typ) ~= "table" or typ.kind == "enum" then return v end
  if typ.kind == "map" then
    local r = json.object()
    each_field(typ, v, function(k, t, x) r[k] = json_tree(t, x) end)
    return r
  elseif typ.kind == "dict" then
    local r = json.object()
    for k, x in pairs(v) do r[k] = x end
    return r
  end
  local r = {}
  for i, item in ipairs(v) do r[i] = json_tree(typ.item, item) end
  return r
end

function M.json(p)
  local t = json_tree(schema.root, p)
  t.source = p.source
  return json.encode(t) .. "\n"
end

return M
