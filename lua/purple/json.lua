-- purple.json: the one place that picks the JSON library. Debian's lua-dkjson (decoding through
-- lua-lpeg).
--
-- Not lua-cjson, although Debian ships it: its 2.1.0 (Debian 12) decodes every number as a float
-- under Lua 5.4 (an exit status 3 reads back as 3.0), prints integers through a double with at most
-- 14 digits (byte counters above 10^14 become 1.2e+14), encodes an empty list as {} (the audit
-- schema wants []) and writes "/" as "\/". dkjson keeps integers, writes [] for an empty table
-- unless it is marked an object, and orders keys on request (keyorder).
--
--   encode(v) -> text        keys sorted, so equal tables encode alike (policy_sha256, reports,
--                            `purple profile show --format json`); NaN and infinities as null
--   decode(text) -> value | nil, "json: why"   never raises, whatever the text; objects carry
--                            object_mt (an empty one encodes back as {}), JSON null is null
--   object([t]) -> t         a table that encodes as an object even when empty
--
-- dkjson itself is loaded on the first encode or decode: `purple profile show` and the policy code
-- use null and object without ever writing JSON.
local dkjson_loaded

local function dkjson()
  dkjson_loaded = dkjson_loaded or require "dkjson"
  return dkjson_loaded
end

local M = {}

M.object_mt = { __jsontype = "object" }
-- as dkjson.null is made: dkjson writes a value with __tojson as what that returns
M.null = setmetatable({}, { __tojson = function() return "null" end })

function M.object(t) return setmetatable(t or {}, M.object_mt) end

-- Every string key in v, sorted: as dkjson's keyorder, every object's keys come out sorted.
local function sorted_keys(v, seen, keys)
  for k, x in pairs(v) do
    if type(k) == "string" and not seen[k] then
      seen[k] = true
      keys[#keys + 1] = k
    end
    if type(x) == "table" then sorted_keys(x, seen, keys) end
  end
  return keys
end

function M.encode(v)
  local order
  if type(v) == "table" then
    order = sorted_keys(v, {}, {})
    table.sort(order)
  end
  local text, err = dkjson().encode(v, { keyorder = order })
  if not text then error("json: " .. tostring(err), 2) end
  return text
end

-- lpeg (lua-lpeg) makes decoding several times faster: `purple log` reads whole audit logs. Set
-- up on the first decode: a run only encodes, and loading lpeg costs ~0.5 ms of every start.
local decoder

function M.decode(text)
  decoder = decoder or dkjson().use_lpeg()
  -- lpeg recurses once per nesting level and raises when the C stack runs out ("[[[[..." of a few
  -- thousand levels): that is bad input like any other, not an error of purple's
  local ok, v, pos, err = pcall(decoder.decode, text, 1, M.null, M.object_mt)
  if not ok then
    if tostring(v):find("stack overflow", 1, true) then return nil, "json: nested too deeply" end
    error(v, 0)
  end
  if err then return nil, "json: " .. err end
  if pos and pos <= #text and text:find("%S", pos) then
    return nil, ("json: trailing characters at byte %d"):format(pos)
  end
  return v
end

return M
