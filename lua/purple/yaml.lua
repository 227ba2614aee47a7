-- YAML policies through lyaml. lyaml.load gives the values; a second pass over libyaml's event
-- stream gives each key's line (for error messages) and finds duplicate keys, which lyaml would
-- silently let the last one win.
local lyaml = require "lyaml"
local yaml_events = require "yaml"

local M = {}

-- Stands for YAML null while the document is checked for cycles, when the caller wants nulls absent.
local NONE = {}
local function strip_none(v)
  if type(v) == "table" then
    for k, x in pairs(v) do
      if x == NONE then v[k] = nil else strip_none(x) end
    end
  end
  return v
end

-- Lines of every key and list item, by path ("resources.pids_limit", "syscalls.allow[3]").
-- Returns lines, duplicates ({ {path=, line=} }).
local function key_lines(text)
  local lines, dups = {}, {}
  local next_event = yaml_events.parser(text)
  -- Stack of open collections: { kind = "map"|"seq", path, n (seq items), key (pending map key), seen }
  local stack = {}
  local function child_path(top, key)
    if top.kind == "seq" then return ("%s[%d]"):format(top.path, top.n) end
    if top.path == "" then return key end
    return top.path .. "." .. key
  end
  -- Called for each node start; returns the node's path (nil when it is a map key).
  local function node(ev)
    local top = stack[#stack]
    if not top then return "" end
    if top.kind == "seq" then
      top.n = top.n + 1
      local p = child_path(top)
      lines[p] = ev.start_mark.line + 1
      return p
    end
    if top.key == nil then
      -- This node is a key.
      local k = ev.type == "SCALAR" and ev.value or "?"
      top.key = k
      local p = child_path(top, k)
      if top.seen[k] then
        dups[#dups + 1] = { path = p, line = ev.start_mark.line + 1 }
      end
      top.seen[k] = true
      lines[p] = ev.start_mark.line + 1
      return nil
    end
    local p = child_path(top, top.key)
    top.key = nil
    return p
  end
  while true do
    local ev = next_event()
    if not ev or ev.type == "STREAM_END" then break end
    local t = ev.type
    if t == "SCALAR" or t == "ALIAS" then
      node(ev)
    elseif t == "MAPPING_START" or t == "SEQUENCE_START" then
      local p = node(ev) or "?"
      stack[#stack + 1] = { kind = t == "MAPPING_START" and "map" or "seq", path = p, n = 0, seen = {} }
    elseif t == "MAPPING_END" or t == "SEQUENCE_END" then
      stack[#stack] = nil
    end
  end
  return lines, dups
end

-- Replaces lyaml.null by null (a sentinel the caller gives) throughout v. Returns nil when an
-- alias makes v contain itself (lyaml builds that as a cyclic table).
local function nulls(v, null, open)
  if v == lyaml.null then return null end
  if type(v) == "table" then
    if open[v] then return nil end
    open[v] = true
    for k, x in pairs(v) do
      local r = nulls(x, null, open)
      if r == nil then return nil end
      v[k] = r
    end
    open[v] = nil
  end
  return v
end

-- decode(text, name [, null]) -> value, lines | nil, "name:line:column: message"
-- One document, which must be a mapping. YAML nulls become `null` (default: nil, i.e. absent).
function M.decode(text, name, null)
  local ok, docs = pcall(lyaml.load, text, { all = true })
  if not ok then
    -- lyaml reports the position of the last good event; libyaml's own error has the real one.
    local next_event = yaml_events.parser(text)
    while true do
      local eok, ev = pcall(next_event)
      if not eok then
        local what, line, col = tostring(ev):match("^(.-) at document: %d+, line: (%d+), column: (%d+)")
        if what then return nil, ("%s:%s:%s: %s"):format(name, line, col, what) end
        break
      end
      if not ev or ev.type == "STREAM_END" then break end
    end
    local msg = tostring(docs):gsub("^.-:%d+: ", "", 1)
    local line, col, rest = tostring(docs):match("(%d+):(%d+): (.*)$")
    if line then return nil, ("%s:%s:%s: %s"):format(name, line, col, rest) end
    return nil, ("%s: %s"):format(name, msg)
  end
  if #docs == 0 then return nil, ("%s: empty document (expected a mapping of policy sections)"):format(name) end
  if #docs > 1 then return nil, ("%s: %d YAML documents; a policy file holds one"):format(name, #docs) end
  local doc = docs[1]
  if type(doc) ~= "table" or doc[1] ~= nil then
    return nil, ("%s:1: the document must be a mapping of policy sections (name:, filesystem:, ...)"):format(name)
  end
  local lok, lines, dups = pcall(key_lines, text)
  if not lok then lines, dups = {}, {} end
  if #dups > 0 then
    local errs = {}
    for _, d in ipairs(dups) do errs[#errs + 1] = ("%s:%d: %s: duplicate key"):format(name, d.line, d.path) end
    return nil, table.concat(errs, "\n")
  end
  if nulls(doc, null or NONE, {}) == nil then
    return nil, ("%s: a YAML alias is used inside its own anchor"):format(name)
  end
  return strip_none(doc), lines
end

-- load_file(path [, null]) -> value, lines | nil, message
function M.load_file(path, null)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return M.decode(text, path, null)
end

return M
