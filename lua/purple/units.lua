-- Units in policies: sizes ("2G", "512M", "100K", bytes), rates ("100MBps"), ports ("443",
-- "53/udp", "8000-8100/tcp"). Each parser returns the value or nil, "why".
-- Multipliers are binary: K = 1024, M = 1024^2, G = 1024^3, T = 1024^4 ("2G", "2GB", "2GiB" alike).
local M = {}

M.MULTIPLIERS = { [""] = 1, K = 1024, M = 1024 ^ 2, G = 1024 ^ 3, T = 1024 ^ 4 }

local MAX = math.maxinteger

-- Number and unit letter of "1.5 GiB"; nil when the text is not of that shape.
local function split(s)
  local num, unit, rest = s:match("^%s*(%d+%.?%d*)%s*([KkMmGgTt]?)(.-)%s*$")
  if not num then return nil end
  return tonumber(num), unit:upper(), rest
end

local function scale(n, unit)
  local v = n * M.MULTIPLIERS[unit]
  if v >= MAX then return nil end
  return math.tointeger(math.floor(v))
end

-- size(v) -> bytes | nil, why.  Integers are bytes.
function M.size(v)
  if math.type(v) == "integer" then
    if v < 0 then return nil, "must not be negative" end
    return v
  end
  if math.type(v) == "float" then
    local i = math.tointeger(v)
    if i and i >= 0 then return i end
    return nil, "expected a whole number of bytes or a size like \"512M\""
  end
  if type(v) ~= "string" then return nil, "expected a size like \"2G\", \"512M\", \"100K\" or a number of bytes" end
  local n, unit, rest = split(v)
  if not n or not (rest == "" or rest == "B" or (rest == "iB" and unit ~= "")) then
    return nil, ("bad size %q: expected a number with K, M, G or T (\"2G\", \"512M\", \"100K\") or bytes"):format(v)
  end
  local bytes = scale(n, unit)
  if not bytes then return nil, ("bad size %q: too large"):format(v) end
  return bytes
end

-- rate(v) -> bytes per second | nil, why.  "100MBps", "100MB/s", "100M/s"; integers are bytes/s.
function M.rate(v)
  if type(v) == "number" then return M.size(v) end
  if type(v) ~= "string" then return nil, "expected a rate like \"100MBps\" or a number of bytes per second" end
  local n, unit, rest = split(v)
  if n and (rest == "bps" or rest == "b/s" or rest == "ibps") then
    return nil, ("bad rate %q: bits per second are not accepted; give bytes per second with a capital B (\"%s%sBps\")")
      :format(v, v:match("^%s*([%d.]+)"), unit)
  end
  local per_second = rest == "Bps" or rest == "B/s" or rest == "/s" or rest == "iBps" or rest == "iB/s"
  if not n or not per_second then
    return nil, ("bad rate %q: expected bytes per second like \"100MBps\", \"10KB/s\" or a number"):format(v)
  end
  local bps = scale(n, unit)
  if not bps then return nil, ("bad rate %q: too large"):format(v) end
  return bps
end

-- parse_port(s) -> { from =, to =, proto = "tcp"|"udp"|"any" } | nil, why.
-- "443", "53/udp", "8000-8100/tcp"; a bare integer is a port number.
function M.parse_port(s)
  if math.type(s) == "integer" then s = tostring(s) end
  if type(s) ~= "string" then return nil, "expected a port like \"443\", \"53/udp\" or \"8000-8100/tcp\"" end
  local spec, proto = s:match("^%s*([^/]-)%s*/%s*(%a+)%s*$")
  if not spec then spec, proto = s:match("^%s*(.-)%s*$"), "any" end
  proto = proto:lower()
  if proto ~= "tcp" and proto ~= "udp" and proto ~= "any" then
    return nil, ("bad port %q: protocol must be tcp, udp or any"):format(s)
  end
  local a, b = spec:match("^(%d+)%s*%-%s*(%d+)$")
  if not a then a = spec:match("^(%d+)$") b = a end
  if not a then
    return nil, ("bad port %q: expected a port like \"443\", \"53/udp\" or \"8000-8100/tcp\""):format(s)
  end
  local from, to = tonumber(a), tonumber(b)
  if from < 1 or from > 65535 or to < 1 or to > 65535 then
    return nil, ("bad port %q: ports are 1-65535"):format(s)
  end
  if from > to then return nil, ("bad port %q: range start is above its end"):format(s) end
  return { from = math.tointeger(from), to = math.tointeger(to), proto = proto }
end

-- The canonical text of a parsed port: "443", "53/udp", "8000-8100/tcp".
function M.port_string(p)
  local s = p.from == p.to and tostring(p.from) or ("%d-%d"):format(p.from, p.to)
  if p.proto ~= "any" then s = s .. "/" .. p.proto end
  return s
end

return M
