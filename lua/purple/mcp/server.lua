-- purple.mcp.server: the MCP lifecycle and methods over stdio (docs/mcp.md): initialize (version
-- negotiation), ping, tools/list, tools/call, notifications/initialized and notifications/cancelled,
-- progress notifications for long commands. One loop waits on stdin and on the running commands
-- together (core.session_jobs_wait), so pings and cancellations are answered while commands run.
-- stdout carries protocol messages only; diagnostics go to stderr (purple.log).
local core = require "purple.core"
local json = require "purple.json"
local log = require "purple.log"
local rpc = require "purple.mcp.jsonrpc"
local tools = require "purple.mcp.tools"

local M = {}

-- Newest first: the client's version when it is one of these, else the newest.
M.VERSIONS = { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05" }
M.MAX_MESSAGE = 8 * 1024 * 1024 -- bytes of one JSON-RPC line (write_file's content rides in one)
M.PROGRESS_SECONDS = 1          -- a progress notification per second while a command runs (on request)
M.MAX_CALLS = 32                -- tools/call running at once (each holds 4 fds in the wait)
local STRUCTURED_SINCE = "2025-06-18" -- structuredContent and outputSchema

local READ_CHUNK = 65536

-- serve(sandbox, opts) -> exit status. opts: profile (its name, for violation messages),
-- max_output (bytes of stdout and of stderr kept per command), timeout (default seconds per command),
-- max_message, instructions.
function M.serve(sandbox, opts)
  local max_message = opts.max_message or M.MAX_MESSAGE
  local reader = rpc.reader(max_message)
  local state = "new" -- "new" -> "ready" (initialize answered)
  local version
  local calls = {} -- running tools/call: { id, job, tool, args, started, progress_token, next_progress }
  local out_broken = false

  local function send(line)
    if out_broken then return end
    local ok = io.stdout:write(line, "\n")
    ok = ok and io.stdout:flush()
    if not ok then
      out_broken = true -- the client closed its end: as stdin's end
      log.info("mcp: stdout closed by the client")
    end
  end

  local function reply(id, result) send(rpc.result(id, result)) end
  local function fail(id, code, message) send(rpc.error(id, code, message)) end

  local function structured() return version >= STRUCTURED_SINCE end

  local function start_call(id, params)
    if type(params) ~= "table" or getmetatable(params) ~= json.object_mt or type(params.name) ~= "string" then
      return fail(id, rpc.INVALID_PARAMS, "invalid params: tools/call needs {name, arguments}")
    end
    local tool = tools.BY_NAME[params.name]
    if not tool then
      return fail(id, rpc.INVALID_PARAMS, ("unknown tool '%s'"):format(params.name))
    end
    local args = params.arguments
    if args == nil then args = json.object() end
    local ok, why = tools.check(tool, args)
    if not ok then return reply(id, tools.tool_error(tool.name .. ": " .. why)) end
    for _, c in ipairs(calls) do
      if c.id == id then return fail(id, rpc.INVALID_REQUEST, "invalid request: id already in use") end
    end
    if tool.name == "reset" then
      for _, c in ipairs(calls) do
        c.job:close()
        reply(c.id, tools.tool_error("the sandbox was reset while the command ran; it was killed"))
      end
      calls = {}
      sandbox:stop()
      local res = { content = { { type = "text", text = "the sandbox was reset: a fresh session starts with the next call" } },
        isError = false, structuredContent = structured() and { reset = true } or nil }
      return reply(id, res)
    end
    if #calls >= M.MAX_CALLS then
      return reply(id, tools.tool_error(("%d commands are running already (the most purple mcp runs at once); "
        .. "wait for one to end"):format(M.MAX_CALLS)))
    end
    local socket, serr = sandbox:ensure()
    if not socket then return reply(id, tools.tool_error("the sandbox could not start: " .. serr)) end
    local argv, o = tools.command(tool, args)
    local timeout = o.timeout or opts.timeout
    local jopts = { cwd = o.cwd, timeout = timeout, stdin = o.stdin, max_output = opts.max_output }
    local job, jerr = core.session_job(socket, argv, jopts)
    if not job and sandbox:ended(5) then -- it was ending by itself: a fresh one
      socket, serr = sandbox:ensure()
      if not socket then return reply(id, tools.tool_error("the sandbox could not start: " .. serr)) end
      job, jerr = core.session_job(socket, argv, jopts)
    end
    if not job then return reply(id, tools.tool_error("the sandbox could not run the command: " .. jerr)) end
    local meta = params._meta
    local token = type(meta) == "table" and meta.progressToken or nil
    if token ~= nil and type(token) ~= "string" and math.type(token) ~= "integer" then token = nil end
    local now = core.monotonic()
    calls[#calls + 1] = { id = id, job = job, tool = tool, args = args, started = now, timeout = timeout,
      token = token, next_progress = token ~= nil and now + M.PROGRESS_SECONDS or nil }
  end

  local function finish(c, r)
    r.duration = core.monotonic() - c.started
    r.timeout = c.timeout
    r.violations = sandbox:violations()
    reply(c.id, tools.result(c.tool, c.args, r, { profile = opts.profile, structured = structured() }))
  end

  local function cancel(params)
    if type(params) ~= "table" then return end
    local rid = params.requestId
    for i, c in ipairs(calls) do
      if c.id == rid then
        c.job:close() -- the session kills the command's process group
        table.remove(calls, i)
        log.info("mcp: request %s cancelled%s", tostring(rid),
          type(params.reason) == "string" and (": " .. params.reason) or "")
        return
      end
    end
  end

  local function handle(msg)
    if msg.kind == "response" then return end -- we send no requests
    if msg.kind == "notification" then
      if msg.method == "notifications/cancelled" then cancel(msg.params)
      elseif msg.method == "notifications/initialized" then log.debug("mcp: client initialized") end
      return -- others are ignored, as JSON-RPC has it
    end
    local id, method, params = msg.id, msg.method, msg.params
    if method == "ping" then return reply(id, json.object()) end
    if method == "initialize" then
      if state ~= "new" then return fail(id, rpc.INVALID_REQUEST, "invalid request: already initialized") end
      if type(params) ~= "table" or type(params.protocolVersion) ~= "string" then
        return fail(id, rpc.INVALID_PARAMS, "invalid params: initialize needs protocolVersion")
      end
      version = M.VERSIONS[1]
      for _, v in ipairs(M.VERSIONS) do
        if v == params.protocolVersion then version = v end
      end
      state = "ready"
      local ci = type(params.clientInfo) == "table" and params.clientInfo or {}
      log.info("mcp: client %s %s, protocol %s", tostring(ci.name), tostring(ci.version), version)
      return reply(id, {
        protocolVersion = version,
        capabilities = { tools = { listChanged = false } },
        serverInfo = { name = "purple", title = "purple sandbox", version = require("purple.version") },
        instructions = opts.instructions,
      })
    end
    if state ~= "ready" then
      return fail(id, rpc.INVALID_REQUEST, "invalid request: not initialized; send initialize first")
    end
    if method == "tools/list" then
      if params ~= nil and getmetatable(params) ~= json.object_mt then
        return fail(id, rpc.INVALID_PARAMS, "invalid params: tools/list takes an object")
      end
      return reply(id, { tools = tools.list(structured()) })
    end
    if method == "tools/call" then return start_call(id, params) end
    return fail(id, rpc.METHOD_NOT_FOUND, ("method not found: %s"):format(method))
  end

  local function on_line(item)
    if item.oversized then
      return fail(nil, rpc.INVALID_REQUEST, ("invalid request: message over %d bytes"):format(max_message))
    end
    local msg, code, message, id = rpc.classify(item.line)
    if not msg then return fail(id, code, message) end
    local ok, err = pcall(handle, msg)
    if not ok then
      log.error("mcp: internal error: %s", tostring(err))
      if msg.kind == "request" then fail(msg.id, rpc.INTERNAL_ERROR, "internal error") end
    end
  end

  core.catch_stop_signals()
  local stdin_open, why = true, "end of input"
  while stdin_open and not out_broken do
    local jobs, wake = {}, nil
    for i, c in ipairs(calls) do
      jobs[i] = c.job
      if c.next_progress and (not wake or c.next_progress < wake) then wake = c.next_progress end
    end
    local timeout_ms = wake and math.max(0, math.ceil((wake - core.monotonic()) * 1000)) or -1
    local ready, sig = core.session_jobs_wait(jobs, { 0 }, timeout_ms)
    if sig then
      why = "signal " .. sig
      break
    end
    -- finished commands first: a cancellation read below cannot be for one answered already
    local keep, now = {}, core.monotonic()
    for _, c in ipairs(calls) do
      local r = c.job:result()
      if r then
        c.job:close()
        finish(c, r)
      else
        keep[#keep + 1] = c
        if c.next_progress and now >= c.next_progress then
          local secs = math.floor(now - c.started + 0.5)
          send(rpc.notification("notifications/progress", { progressToken = c.token, progress = secs,
            message = ("%s running for %ds"):format(c.tool.name, secs) }))
          c.next_progress = now + M.PROGRESS_SECONDS
        end
      end
    end
    calls = keep
    if ready and ready[0] then
      local data, rerr = core.read_fd(0, READ_CHUNK)
      if not data or data == "" then
        stdin_open = false
        if rerr then why = rerr end
      else
        for _, item in ipairs(reader:feed(data)) do on_line(item) end
      end
    end
  end
  if out_broken then why = "stdout closed" end
  log.info("mcp: stopping (%s)", why)
  for _, c in ipairs(calls) do c.job:close() end
  sandbox:stop()
  return 0
end

return M
