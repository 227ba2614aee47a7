-- A scripted MCP client for spec/mcp_spec.lua: `purple mcp` runs in the background with its stdin and
-- stdout on fifos; every line it writes on stdout must be one JSON-RPC 2.0 message. The server runs
-- under timeout(1) so a case that goes wrong ends (its stdout closes) instead of hanging.
local core = require "purple.core"
local json = require "purple.json"
local H = require "spec_helper"
local S = require "helpers.sessions"

local C = {}
C.__index = C

-- start(profile, workspace, runtime_dir [, extra argument words]) -> client
function C.start(profile, ws, rt, extra)
  local d = H.tmpdir()
  assert(os.execute(("mkfifo %s/in %s/out"):format(H.q(d), H.q(d))))
  local words = { "PURPLE_RUNTIME_DIR=" .. H.q(rt), "timeout 120", H.q(H.purple), "mcp", "--profile", H.q(profile),
    "--workspace", H.q(ws) }
  for _, w in ipairs(extra or {}) do words[#words + 1] = H.q(w) end
  local script = ("(%s <%s/in >%s/out 2>%s/err & echo $! >%s/pid; wait $!; echo $? >%s/status.tmp; "
    .. "mv %s/status.tmp %s/status) </dev/null >/dev/null 2>&1 &")
    :format(table.concat(words, " "), d, d, d, d, d, d, d)
  assert(os.execute(script))
  local c = setmetatable({ dir = d, next_id = 0, notes = {} }, C)
  c.pid = assert(S.wait_for(function() return tonumber(H.read(d .. "/pid") or "") end, 10))
  c.w = assert(io.open(d .. "/in", "w"))
  c.r = assert(io.open(d .. "/out", "r"))
  return c
end

function C:send(msg)
  local line = type(msg) == "string" and msg or json.encode(msg)
  self.w:write(line, "\n")
  self.w:flush()
end

-- recv() -> the next message (every line must be one JSON-RPC 2.0 object) | nil at the end
function C:recv()
  local line = self.r:read("l")
  if not line then return nil end
  local m, err = json.decode(line)
  assert(type(m) == "table" and m.jsonrpc == "2.0", "not a JSON-RPC message on stdout: " .. line:sub(1, 300)
    .. " " .. tostring(err))
  return m
end

-- response(id) -> the response to id; notifications read meanwhile go to self.notes
function C:response(id)
  while true do
    local m = self:recv()
    assert(m, "the server ended before answering " .. tostring(id) .. ": " .. tostring(H.read(self.dir .. "/err")))
    if m.method then
      self.notes[#self.notes + 1] = m
    else
      assert(m.id == id, ("expected the response to %s, got %s"):format(tostring(id), json.encode(m)))
      return m
    end
  end
end

function C:request(method, params, meta)
  self.next_id = self.next_id + 1
  if meta then
    params = params or {}
    params._meta = meta
  end
  self:send({ jsonrpc = "2.0", id = self.next_id, method = method, params = params })
  return self.next_id
end

function C:call(method, params)
  return self:response(self:request(method, params))
end

function C:initialize(version)
  local r = self:call("initialize", { protocolVersion = version or "2025-06-18", capabilities = json.object(),
    clientInfo = { name = "spec", version = "1" } })
  self:send({ jsonrpc = "2.0", method = "notifications/initialized" })
  return r
end

-- tool(name, args) -> the tools/call result
function C:tool(name, args)
  local r = self:call("tools/call", { name = name, arguments = json.object(args or {}) })
  assert(r.result, "tools/call " .. name .. ": " .. json.encode(r))
  return r.result
end

-- close() -> exit status, stderr: stdin closed (the client went away), the server's end awaited
function C:close()
  if self.w then self.w:close() end
  self.w = nil
  local st = S.wait_for(function() return H.read(self.dir .. "/status") end, 60)
  if self.r then
    self.extra = self.r:read("a")
    self.r:close()
    self.r = nil
  end
  return st and tonumber(st), H.read(self.dir .. "/err")
end

-- kill(): ends what a failed case left (timeout(1) passes SIGTERM on to purple mcp, which stops
-- its session)
function C:kill()
  if not H.read(self.dir .. "/status") then
    core.kill(self.pid, core.signal_number("TERM"))
    S.wait_for(function() return H.read(self.dir .. "/status") end, 60)
  end
  if self.w then self.w:close() self.w = nil end
  if self.r then self.r:close() self.r = nil end
end

-- The pid of purple mcp itself (the child of timeout(1)).
function C:server_pid()
  local kids = H.read(("/proc/%d/task/%d/children"):format(self.pid, self.pid)) or ""
  return tonumber(kids:match("%d+"))
end

-- Pids of processes whose command line is exactly argv (read from /proc).
function C.pids(argv)
  local want, out = table.concat(argv, "\0") .. "\0", {}
  for _, e in ipairs(core.readdir("/proc") or {}) do
    local name = type(e) == "table" and e.name or e
    if name:match("^%d+$") then
      local cl = H.read("/proc/" .. name .. "/cmdline")
      if cl == want then out[#out + 1] = tonumber(name) end
    end
  end
  return out
end

return C
