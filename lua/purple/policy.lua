-- The policy model: validation against lua/purple/schema.lua, normalisation, and composition.
--
-- A normalised policy has every section, sizes and rates in bytes, paths absolute, ports and
-- capability names canonical, lists as lists (see docs/policy.md). Loading is three steps:
--   check     one document → a partial policy (only what it sets), every error collected
--   merge     the inherited policy (extends) + the partial one, by the composition rules
--   finalize  defaults filled in, checks across fields
-- Errors are lines "file:line: path: message" (file and line when known).
local schema = require "purple.schema"
local units = require "purple.units"

local M = {}

-- In a document, null (YAML ~ or purple.null in Lua) resets an inherited value to its default.
M.NULL = setmetatable({}, { __name = "purple.null", __tostring = function() return "purple.null" end })

local function copy(t)
  if type(t) ~= "table" or t == M.NULL then return t end
  local r = {}
  for k, v in pairs(t) do r[k] = copy(v) end
  return r
end
M.copy = copy

local function is_sequence(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local function describe(v)
  if v == M.NULL then return "null" end
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) == "table" then return is_sequence(v) and next(v) and "a list" or "a mapping" end
  return tostring(v)
end

local function whole(v)
  if type(v) ~= "number" then return nil end
  return math.tointeger(v)
end

local function is_syscall_group(name)
  return require("purple.syscalls").is_group(name) -- without building a composite group's list
end

-- Scalar types: value -> normalised value | nil, why.
M.TYPES = {
  string = function(v)
    if type(v) ~= "string" then return nil, "expected a string, got " .. describe(v) end
    return v
  end,
  boolean = function(v)
    if type(v) ~= "boolean" then return nil, "expected true or false, got " .. describe(v) end
    return v
  end,
  path = function(v)
    if type(v) ~= "string" then return nil, "expected an absolute path, got " .. describe(v) end
    if v:byte(1) ~= 47 then return nil, ("%q is not an absolute path (start it with /)"):format(v) end
    if v:find("%z") then return nil, "a path must not contain a NUL byte" end
    -- every component follows a "/": a component . or .. is "/." or "/.." before a "/" or the end
    if v:find("/%.%.?/") or v:find("/%.%.?$") then
      return nil, ("%q: . and .. are not allowed in paths; write the path out"):format(v)
    end
    if not v:find("//", 1, true) and (#v == 1 or v:byte(-1) ~= 47) then return v end -- already normal
    local norm = v:gsub("//+", "/")
    if #norm > 1 then norm = norm:gsub("/$", "") end
    return norm
  end,
  size = units.size,
  rate = units.rate,
  cpu = function(v)
    if type(v) ~= "number" or v ~= v then
      return nil, "expected a fraction of one CPU (0.5 = half a CPU, 2 = two CPUs), got " .. describe(v)
    end
    if v < 0.01 or v > 256 then
      return nil, ("%s is out of range: cpu_shares is a fraction of one CPU from 0.01 to 256 "
        .. "(0.5 = half a CPU), not cgroup v1 shares"):format(tostring(v))
    end
    return v
  end,
  count = function(v)
    local i = whole(v)
    if not i or i < 1 then return nil, "expected a whole number of at least 1, got " .. describe(v) end
    return i
  end,
  rlimit = function(v)
    local i = whole(v)
    if not i or i < 0 then return nil, "expected a whole number of at least 0, got " .. describe(v) end
    return i
  end,
  seconds = function(v)
    if type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge then
      return nil, "expected a number of seconds above 0, got " .. describe(v)
    end
    return v
  end,
  seconds0 = function(v)
    if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
      return nil, "expected a number of seconds (0 or more), got " .. describe(v)
    end
    return v
  end,
  id = function(v)
    local i = whole(v)
    if not i or i < 0 or i > 4294967294 then return nil, "expected a numeric id, got " .. describe(v) end
    if i == 0 then
      return nil, "0 would run the command as the host's root; use an unprivileged id (default 65534)"
    end
    return i
  end,
  mode = function(v)
    local i = whole(v)
    if type(v) == "string" and v:match("^0?[0-7]+$") then i = tonumber(v, 8) end
    if not i or i < 0 or i > 4095 then
      return nil, "expected a file mode like \"1777\" (octal text) or a number up to 4095, got " .. describe(v)
    end
    return i
  end,
  port = function(v)
    local p, why = units.parse_port(v)
    if not p then return nil, why end
    return units.port_string(p)
  end,
  syscall = function(v)
    if type(v) ~= "string" then return nil, "expected a syscall name, got " .. describe(v) end
    if v:sub(1, 1) == "@" then
      if not is_syscall_group(v:sub(2)) then
        return nil, ("unknown syscall group %q (see purple syscalls)"):format(v)
      end
      return v
    end
    local name = schema.SYSCALL_ALIASES[v] or v
    if not require("purple.core").syscall_number(name) then
      return nil, ("unknown syscall %q on this architecture"):format(v)
    end
    return name
  end,
  capability = function(v)
    if type(v) ~= "string" then return nil, "expected a capability name like \"CAP_NET_BIND_SERVICE\", got " .. describe(v) end
    local name = v:upper()
    if name:sub(1, 4) ~= "CAP_" then name = "CAP_" .. name end
    if not name:match("^CAP_[%u%d_]+$") or not require("purple.core").cap_number(name) then
      return nil, ("unknown capability %q"):format(v)
    end
    return name
  end,
  hostname = function(v)
    if type(v) ~= "string" or #v < 1 or #v > 64 then
      return nil, "expected a host name of 1 to 64 characters, got " .. describe(v)
    end
    for label in (v .. "."):gmatch("([^.]*)%.") do
      if not label:match("^%w[%w-]*$") or label:sub(-1) == "-" then
        return nil, ("%q is not a valid host name (letters, digits, - and . only)"):format(v)
      end
    end
    return v
  end,
  domain = function(v)
    if type(v) ~= "string" or not require("purple.core").egress_valid_pattern(v) then
      return nil, ("%s is not a domain name or \"*.domain\" pattern (letters, digits, - and _ in "
        .. "labels of 1 to 63, no trailing dot, no other wildcard)"):format(describe(v))
    end
    return v:lower()
  end,
  tcp_port = function(v)
    local i = whole(v)
    if type(v) == "string" and v:match("^%d+$") then i = tonumber(v) end
    if not i or i < 1 or i > 65535 then return nil, "expected a TCP port from 1 to 65535, got " .. describe(v) end
    return i
  end,
  cidr = function(v)
    if type(v) ~= "string" or not require("purple.core").egress_valid_cidr(v) then
      return nil, ("%s is not an address or CIDR like \"10.0.0.0/8\" or \"fd00::/8\""):format(describe(v))
    end
    return v:lower()
  end,
  env_name = function(v)
    if type(v) ~= "string" or not v:match("^[%a_][%w_]*$") then
      return nil, ("bad variable name %s: letters, digits and _ only"):format(describe(v))
    end
    return v
  end,
  env_pattern = function(v)
    if type(v) ~= "string" or not v:match("^[%w_*]+$") then
      return nil, ("bad variable name or pattern %s: letters, digits, _ and * only"):format(describe(v))
    end
    return v
  end,
  env_value = function(v)
    if type(v) == "number" then return tostring(v) end
    if type(v) ~= "string" then return nil, "expected a string, got " .. describe(v) end
    if v:find("%z") then return nil, "a value must not contain a NUL byte" end
    return v
  end,
}

---------------------------------------------------------------------------------------------------
-- Errors: a collector that knows where each path comes from.

-- E = { list = {}, source = "file"|nil, lines = { path = line } | nil }
local function where(E, path)
  if not E.source then return nil end
  local lines = E.lines
  if lines then
    local p = path
    while p and p ~= "" do
      if lines[p] then return ("%s:%d"):format(E.source, lines[p]), lines[p] end
      p = p:match("^(.*)%[%d+%]$") or p:match("^(.*)%.[^.%[]+$")
    end
  end
  return E.source
end

local function add_error(E, path, msg)
  local at, line = where(E, path)
  local text = path ~= "" and (path .. ": " .. msg) or msg
  if at then text = at .. ": " .. text end
  E.list[#E.list + 1] = { text = text, line = line or 0, n = #E.list + 1 }
end

local function join(path, key)
  if path == "" then return key end
  return path .. "." .. key
end

---------------------------------------------------------------------------------------------------
-- check: one document → a partial policy.

local check

-- The keys of a map document in schema order, then unknown keys sorted.
local function ordered_keys(node, v)
  local keys, n, fields = {}, 0, node.fields
  for i = 1, #fields do
    local key = fields[i][1]
    if v[key] ~= nil then n = n + 1; keys[n] = key end
  end
  -- Usually every key is a schema field: then there is nothing to sort. A table with a metatable
  -- could show other keys to pairs than to indexing, so it takes the long way.
  if getmetatable(v) == nil then
    local total = 0
    for _ in next, v do total = total + 1 end
    if total == n then return keys end
  end
  local seen = {}
  for i = 1, n do seen[keys[i]] = true end
  local rest = {}
  for k in pairs(v) do
    if not seen[k] then rest[#rest + 1] = k end
  end
  table.sort(rest, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  return keys
end

local function check_scalar(field, typ, v, path, E)
  local f = M.TYPES[typ]
  if not f then error("schema: unknown type " .. tostring(typ)) end
  local r, why = f(v)
  if r == nil then add_error(E, path, why) return nil end
  if field and field.min and type(r) == "number" and r < field.min then
    add_error(E, path, ("%s is below the minimum of %s"):format(describe(v), tostring(field.min)))
    return nil
  end
  return r
end

-- entry: a list item (complete: required keys and defaults apply now) rather than a section.
local function check_map(node, v, path, E, entry)
  if type(v) == "string" and node.from_string then v = { [node.from_string] = v } end
  if type(v) ~= "table" or (next(v) ~= nil and is_sequence(v)) then
    add_error(E, path, "expected a mapping, got " .. describe(v))
    return nil
  end
  local r = {}
  for _, k in ipairs(ordered_keys(node, v)) do
    local kpath = type(k) == "string" and join(path, k) or path
    local field = type(k) == "string" and schema.field(node, k)
    if type(k) ~= "string" then
      add_error(E, path, ("key %s: keys must be names"):format(describe(k)))
    elseif path == "" and schema.DIRECTIVES[k] then
      -- handled by the caller
    elseif not field then
      add_error(E, kpath, "unknown key")
    elseif v[k] == M.NULL then
      if entry then add_error(E, kpath, "null is not allowed in a list entry") else r[k] = M.NULL end
    else
      r[k] = check(field, field[2], v[k], kpath, E)
    end
  end
  if entry then
    for _, f in ipairs(node.fields) do
      if r[f[1]] == nil and v[f[1]] == nil then
        if f.required then
          add_error(E, join(path, f[1]), "required")
        elseif f.default_from then
          r[f[1]] = r[f.default_from]
        elseif f.default ~= nil then
          r[f[1]] = copy(f.default)
        end
      end
    end
  end
  return r
end

local DIRECTIVE_KEYS = { replace = true, append = true, remove = true }

local function identity(node, item)
  if type(item) == "table" and node.identity then return item[node.identity] end
  return item
end

local function check_items(node, v, path, E)
  local items = {}
  for i = 1, #v do
    local r = check(nil, node.item, v[i], path .. "[" .. i .. "]", E)
    if r ~= nil then items[#items + 1] = r end
  end
  return items
end

local function check_list(node, v, path, E)
  if type(v) ~= "table" then
    add_error(E, path, "expected a list, got " .. describe(v))
    return nil
  end
  if is_sequence(v) then return check_items(node, v, path, E) end
  -- A composition directive: { replace = {...}, append = {...}, remove = {...} }.
  local d = { directive = true }
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local x = v[k]
    if not DIRECTIVE_KEYS[k] then
      add_error(E, type(k) == "string" and join(path, k) or path,
        "unknown key (a list, or a mapping with replace, append and remove lists)")
    elseif type(x) ~= "table" or not is_sequence(x) then
      add_error(E, join(path, k), "expected a list, got " .. describe(x))
    elseif k == "remove" then
      d.remove = {}
      for i = 1, #x do
        local ipath = ("%s.remove[%d]"):format(path, i)
        local r
        if node.identity then
          r = check_scalar(nil, "path", x[i], ipath, E)
        else
          r = check(nil, node.item, x[i], ipath, E)
        end
        if r ~= nil then d.remove[#d.remove + 1] = r end
      end
    else
      d[k] = check_items(node, x, join(path, k), E)
    end
  end
  return d
end

local function check_dict(node, v, path, E)
  if type(v) ~= "table" or (next(v) ~= nil and is_sequence(v)) then
    add_error(E, path, "expected a mapping, got " .. describe(v))
    return nil
  end
  local r = {}
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local kpath = join(path, tostring(k))
    local key = check_scalar(nil, node.key, k, kpath, E)
    if key ~= nil then
      if v[k] == M.NULL then r[key] = M.NULL else r[key] = check_scalar(nil, node.value, v[k], kpath, E) end
    end
  end
  return r
end

function check(field, typ, v, path, E)
  if type(typ) == "string" then return check_scalar(field, typ, v, path, E) end
  if typ.kind == "map" then return check_map(typ, v, path, E, field == nil) end
  if typ.kind == "list" then return check_list(typ, v, path, E) end
  if typ.kind == "dict" then return check_dict(typ, v, path, E) end
  if typ.kind == "enum" then
    for _, x in ipairs(typ.values) do
      if v == x then return v end
    end
    add_error(E, path, ("%s is not one of %s"):format(describe(v), table.concat(typ.values, ", ")))
    return nil
  end
  error("schema: bad node at " .. path)
end

---------------------------------------------------------------------------------------------------
-- merge: inherited policy + partial policy (composition rules, see docs/policy.md).

local merge

-- merge and merge_list own both arguments: base is the caller's copy of the inherited policy and
-- child comes fresh from check(), so their tables are reused in the result, not copied again.
local function merge_list(node, base, child, path, E)
  if base == nil and not child.directive then return child end
  local result = base or {}
  local items = child
  if child.directive then
    if child.replace then result = child.replace end
    for i, gone in ipairs(child.remove or {}) do
      local found
      for j, item in ipairs(result) do
        if identity(node, item) == gone then found = j break end
      end
      if found then
        table.remove(result, found)
      else
        add_error(E, ("%s.remove[%d]"):format(path, i), ("%s is not in the inherited list"):format(describe(gone)))
      end
    end
    items = child.append or {}
  end
  -- Only inherited entries are replaced; the document's own duplicates stay for the enforcers to see.
  local inherited = child.replace and 0 or #result
  for _, item in ipairs(items) do
    local id, found = identity(node, item), nil
    for j = 1, inherited do
      if identity(node, result[j]) == id then found = j break end
    end
    if found then result[found] = item else result[#result + 1] = item end
  end
  return result
end

function merge(node, base, child, path, E)
  if node.kind == "map" or node.kind == "dict" then
    local r = base or {}
    for k, cv in pairs(child) do
      local field = node.kind == "map" and schema.field(node, k)
      local ftyp = field and field[2] or node.value
      if cv == M.NULL then
        r[k] = nil
      elseif type(ftyp) == "table" and (ftyp.kind == "map" or ftyp.kind == "dict") then
        r[k] = merge(ftyp, r[k], cv, join(path, k), E)
      elseif type(ftyp) == "table" and ftyp.kind == "list" then
        r[k] = merge_list(ftyp, r[k], cv, join(path, k), E)
      else
        r[k] = cv -- a scalar
      end
    end
    return r
  end
  error("merge: not a section at " .. path)
end

---------------------------------------------------------------------------------------------------
-- finalize: defaults and checks across fields.

local function fill(node, v)
  for _, f in ipairs(node.fields) do
    local key, typ = f[1], f[2]
    if v[key] == nil then
      if type(typ) == "table" and typ.kind == "map" then v[key] = fill(typ, {})
      elseif type(typ) == "table" and (typ.kind == "list" or typ.kind == "dict") then v[key] = {}
      elseif f.default ~= nil then v[key] = copy(f.default) end
    elseif type(typ) == "table" and typ.kind == "map" then
      fill(typ, v[key])
    end
  end
  return v
end

local function cross_checks(p, E)
  local allowed = {}
  for _, s in ipairs(p.syscalls.allow) do allowed[s] = true end
  for i, s in ipairs(p.syscalls.deny) do
    if allowed[s] then
      add_error(E, ("syscalls.deny[%d]"):format(i), ("%s is also in syscalls.allow; keep it in one list"):format(s))
    end
  end
  if p.network.isolated then
    for _, k in ipairs({ "allow_outgoing", "allow_incoming" }) do
      if #p.network[k] > 0 then
        add_error(E, "network." .. k, "has no effect while network.isolated is true; "
          .. "set isolated: false or remove the list")
      end
    end
  elseif #p.network.allow_domains > 0 then
    add_error(E, "network.allow_domains", "needs network.isolated: true (the proxy serves the sandbox's own "
      .. "network namespace); set isolated: true or remove the list")
  end
  if #p.network.allow_domains == 0 then
    for _, k in ipairs({ "allow_ports", "allow_internal" }) do
      if #p.network[k] > 0 then
        add_error(E, "network." .. k, "has no effect without network.allow_domains; add the names or remove the list")
      end
    end
  end
end

---------------------------------------------------------------------------------------------------
-- The public functions.

local function result(E, value)
  if #E.list == 0 then return value end
  table.sort(E.list, function(a, b)
    if a.line ~= b.line then return a.line < b.line end
    return a.n < b.n
  end)
  local lines = {}
  for i, e in ipairs(E.list) do lines[i] = e.text end
  return nil, table.concat(lines, "\n"), lines
end

-- Every policy normalize() returned, with a private deep copy of it as returned: check() skips the
-- validation of a policy that still equals its copy. Weak keys: a dropped policy takes its copy along.
local validated = setmetatable({}, { __mode = "k" })

-- Does a (anyone's table) hold exactly what b (a private copy) holds? Raw access only, numbers
-- compared with their subtype; a table with a metatable never matches (its contents could change
-- on every read), so it is validated again.
local function same(a, b)
  local ta = type(a)
  if ta ~= "table" then
    if ta == "number" then return type(b) == "number" and math.type(a) == math.type(b) and a == b end
    return a == b
  end
  if type(b) ~= "table" or getmetatable(a) ~= nil then return false end
  local n = 0
  for k, v in next, a do
    local w = rawget(b, k)
    if w == nil or not same(v, w) then return false end
    n = n + 1
  end
  for _ in next, b do n = n - 1 end
  return n == 0
end

-- normalize(doc [, opts]) -> policy | nil, message (one error per line), { lines }
-- opts: source (file name for messages and policy.source), lines (YAML key lines),
--       base (an already normalised policy to extend), load_base (function(ref, source, ctx) ->
--       policy | nil, message: loads what doc.extends names; purple.profiles passes its loader, so
--       this module never requires it), ctx (the profile context for extends).
function M.normalize(doc, opts)
  opts = opts or {}
  local E = { list = {}, source = opts.source, lines = opts.lines }
  if type(doc) ~= "table" then
    add_error(E, "", "a policy must be a table (mapping of sections), got " .. describe(doc))
    return result(E)
  end
  local partial = check_map(schema.root, doc, "", E, false)
  local base = opts.base
  if base ~= nil and doc.extends ~= nil then
    add_error(E, "extends", "the overrides of purple.extend cannot extend another profile; extend the base instead")
  elseif doc.extends ~= nil then
    if type(doc.extends) ~= "string" or doc.extends == "" then
      add_error(E, "extends", "expected a profile name or path, got " .. describe(doc.extends))
    else
      local err
      if opts.load_base then
        base, err = opts.load_base(doc.extends, opts.source, opts.ctx)
      else
        err = "extends: a policy table that extends a profile must be loaded through purple.policy or "
          .. "purple.profile, which load the profile it names"
      end
      if not base then
        E.list[#E.list + 1] = { text = err, line = (opts.lines and opts.lines.extends) or 0, n = #E.list + 1 }
      end
    end
  end
  if #E.list > 0 then return result(E) end
  local merged = merge(schema.root, copy(base) or {}, partial, "", E)
  local p = fill(schema.root, merged)
  if opts.source then p.source = opts.source end
  cross_checks(p, E)
  if #E.list == 0 then validated[p] = copy(p) end
  return result(E, p)
end

-- check(policy [, opts]) -> a new normalised policy | nil, message, lines: what purple.exec runs.
-- A policy normalize() returned and nobody changed since is copied (0.07 ms instead of 0.35 for
-- ai-strict); anything else, e.g. a loaded policy changed in Lua, is normalised (validated) again,
-- with opts as normalize's (load_base: for a table that extends a profile).
function M.check(policy, opts)
  local snapshot = validated[policy]
  if snapshot and same(policy, snapshot) then return copy(snapshot) end
  return M.normalize(policy, opts)
end

-- extend(base, overrides [, opts]) -> policy | nil, message, lines.  base: a normalised policy.
function M.extend(base, doc, opts)
  opts = opts or {}
  return M.normalize(doc, { source = opts.source, lines = opts.lines, base = base, ctx = opts.ctx,
    load_base = opts.load_base })
end

-- defaults() -> the policy of an empty document.
function M.defaults()
  return assert(M.normalize({}))
end

return M
