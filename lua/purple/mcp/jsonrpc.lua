-- purple.mcp.jsonrpc: JSON-RPC 2.0 over newline-delimited JSON (the MCP stdio transport): a
-- bounded line reader and the checks and encoders of messages. Messages are objects, one per line,
-- never containing a newline; a line over the bound is refused, then skipped up to its newline.
local json = require "purple.json"

local M = {}

M.PARSE_ERROR, M.INVALID_REQUEST, M.METHOD_NOT_FOUND, M.INVALID_PARAMS, M.INTERNAL_ERROR =
  -32700, -32600, -32601, -32602, -32603

-- reader(max) -> r: r:feed(bytes) -> list of { line = text } | { oversized = bytes } in order.
-- A line longer than max bytes (without its newline) is reported once and discarded.
function M.reader(max)
  local r = { buf = {}, len = 0, skipping = false }
  function r:feed(data)
    local out, pos = {}, 1
    while pos <= #data do
      local nl = data:find("\n", pos, true)
      local piece = data:sub(pos, (nl or #data + 1) - 1)
      if not self.skipping then
        if self.len + #piece > max then
          out[#out + 1] = { oversized = self.len + #piece }
          self.buf, self.len, self.skipping = {}, 0, true
        else
          self.buf[#self.buf + 1] = piece
          self.len = self.len + #piece
        end
      end
      if not nl then break end
      if self.skipping then
        self.skipping = false
      else
        local line = table.concat(self.buf):gsub("\r$", "")
        if line:find("%S") then out[#out + 1] = { line = line } end
      end
      self.buf, self.len = {}, 0
      pos = nl + 1
    end
    return out
  end
  return r
end

local function is_object(v) return type(v) == "table" and getmetatable(v) == json.object_mt end
M.is_object = is_object

local function valid_id(id)
  return type(id) == "string" or math.type(id) == "integer" or math.type(id) == "float"
end

-- classify(line) -> msg | nil, code, message, id. msg: { kind = "request" | "notification" |
-- "response", id, method, params }.
function M.classify(line)
  local v, err = json.decode(line)
  if v == nil then return nil, M.PARSE_ERROR, "parse error: " .. tostring(err):gsub("^json: ", "") end
  if type(v) == "table" and not is_object(v) then
    return nil, M.INVALID_REQUEST, "invalid request: batches are not supported; send one message per line"
  end
  if not is_object(v) then return nil, M.INVALID_REQUEST, "invalid request: a message is a JSON object" end
  local id = v.id
  if id ~= nil and id ~= json.null and not valid_id(id) then
    return nil, M.INVALID_REQUEST, "invalid request: id must be a string or a number"
  end
  local rid = valid_id(id) and id or nil
  if v.jsonrpc ~= "2.0" then return nil, M.INVALID_REQUEST, 'invalid request: jsonrpc must be "2.0"', rid end
  if v.method == nil and (v.result ~= nil or v.error ~= nil) then
    return { kind = "response", id = rid }
  end
  if type(v.method) ~= "string" then return nil, M.INVALID_REQUEST, "invalid request: method must be a string", rid end
  if v.params ~= nil and type(v.params) ~= "table" then
    return nil, M.INVALID_REQUEST, "invalid request: params must be an object or an array", rid
  end
  if id == nil then return { kind = "notification", method = v.method, params = v.params } end
  if id == json.null then return nil, M.INVALID_REQUEST, "invalid request: id must not be null" end
  return { kind = "request", id = id, method = v.method, params = v.params }
end

function M.result(id, result)
  return json.encode({ jsonrpc = "2.0", id = id, result = result })
end

function M.error(id, code, message, data)
  return json.encode({ jsonrpc = "2.0", id = id == nil and json.null or id,
    error = { code = code, message = message, data = data } })
end

function M.notification(method, params)
  return json.encode({ jsonrpc = "2.0", method = method, params = params })
end

return M
