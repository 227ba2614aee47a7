-- purple mcp (issue 17): a scripted JSON-RPC client drives the real server over pipes (every method
-- and error path, cancellation, progress, a client that goes away), then the official TypeScript
-- SDK does (pending when the npm registry cannot be reached). As root and as uid 65534.
local core = require "purple.core"
local json = require "purple.json"
local H = require "spec_helper"
local S = require "helpers.sessions"
local C = require "helpers.mcp_client"

local q = H.q

-- The spec's profile: the workspace (PURPLE_WORKSPACE, set by purple mcp) at /workspace, mkdir
-- denied (a violation to report).
local PROFILE = [[
local ctx = ...
return {
  name = "spec-mcp",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
    scratch_paths = { "/tmp" },
    output_paths = { { host_path = ctx.env.PURPLE_WORKSPACE, sandbox_path = "/workspace" } },
    working_dir = "/workspace",
  },
  syscalls = { default_deny = false, deny = { "mkdir" } },
}]]

local function files_in(dir)
  local out = {}
  for _, n in ipairs(core.readdir(dir) or {}) do
    if n ~= "." and n ~= ".." then out[#out + 1] = n end
  end
  return out
end

describe("purple mcp", function()
  local profile, ws, rt, clients

  local function client(extra)
    local c = C.start(profile, ws, rt, extra)
    clients[#clients + 1] = c
    return c
  end

  -- a sleep nobody else runs: its pids are found in /proc by its exact command line
  local function marker() return { "sleep", tostring(800000 + math.random(0, 99999)) } end

  before_each(function()
    local d = H.tmpdir()
    profile = d .. "/spec-mcp.lua"
    H.write(profile, PROFILE)
    ws, rt = d .. "/ws", d .. "/rt"
    assert(core.mkdir(ws, tonumber("755", 8)))
    -- run by root, the command runs as 65534: the workspace is that user's
    if H.is_root() then assert(core.chown(ws, 65534, 65534)) end
    clients = {}
  end)

  after_each(function()
    for _, c in ipairs(clients) do c:kill() end
    H.cleanup()
  end)

  it("negotiates the protocol version, answers ping and lists the tools with their schemas", function()
    local c = client()
    local r = c:initialize("2025-06-18")
    assert.are.equal("2025-06-18", r.result.protocolVersion)
    assert.are.equal("purple", r.result.serverInfo.name)
    assert.is_false(r.result.capabilities.tools.listChanged)
    assert.matches("profile spec%-mcp", r.result.instructions)
    assert.are.same({}, c:call("ping").result)
    local tools = c:call("tools/list").result.tools
    local names = {}
    for _, t in ipairs(tools) do
      names[#names + 1] = t.name
      assert.are.equal("object", t.inputSchema.type)
      assert.are.equal("object", t.outputSchema.type)
    end
    assert.are.same({ "run", "read_file", "write_file", "list_dir", "reset" }, names)
    assert.are.same({ 0, "" }, { c:close() })

    -- an unknown version gets the newest; an older one is kept, without structured results
    c = client()
    assert.are.equal("2025-11-25", c:initialize("1999-01-01").result.protocolVersion)
    c:close()
    c = client()
    assert.are.equal("2024-11-05", c:initialize("2024-11-05").result.protocolVersion)
    for _, t in ipairs(c:call("tools/list").result.tools) do assert.is_nil(t.outputSchema) end
    local res = c:tool("run", { command = "echo old" })
    assert.is_nil(res.structuredContent)
    assert.matches("old", res.content[1].text)
    c:close()
  end)

  it("answers malformed, unknown and invalid messages with JSON-RPC errors and keeps serving", function()
    local c = client({ "--max-message", "4096" })
    local function err_of(line)
      c:send(line)
      local m = c:recv()
      assert.is_table(m.error, json.encode(m))
      return m.error.code, m.error.message, m.id
    end
    -- before initialize only initialize and ping
    assert.are.same({ -32600, "invalid request: not initialized; send initialize first", 7 },
      { err_of('{"jsonrpc":"2.0","id":7,"method":"tools/list"}') })
    assert.are.same({}, c:call("ping").result)
    assert.are.same({ -32602, "invalid params: initialize needs protocolVersion", 8 },
      { err_of('{"jsonrpc":"2.0","id":8,"method":"initialize","params":{}}') })
    c:initialize()
    assert.are.same({ -32600, "invalid request: already initialized", 9 },
      { err_of('{"jsonrpc":"2.0","id":9,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}') })
    local code, msg, id = err_of('{"jsonrpc":"2.0","id":1,"method":')
    assert.are.equal(-32700, code)
    assert.matches("^parse error", msg)
    assert.are.equal(json.null, id)
    assert.are.same({ -32700, "parse error: nested too deeply", json.null },
      { err_of('{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":' .. ("["):rep(1500) .. ("]"):rep(1500) .. '}}') })
    assert.are.same({ -32600, "invalid request: batches are not supported; send one message per line", json.null },
      { err_of('[{"jsonrpc":"2.0","id":1,"method":"ping"}]') })
    assert.are.same({ -32600, "invalid request: a message is a JSON object", json.null }, { err_of('3') })
    assert.are.same({ -32600, 'invalid request: jsonrpc must be "2.0"', 4 }, { err_of('{"id":4,"method":"ping"}') })
    assert.are.same({ -32600, "invalid request: method must be a string", 5 },
      { err_of('{"jsonrpc":"2.0","id":5,"method":5}') })
    assert.are.same({ -32601, "method not found: resources/list", 6 },
      { err_of('{"jsonrpc":"2.0","id":6,"method":"resources/list"}') })
    assert.are.same({ -32602, "unknown tool 'rm'", 10 },
      { err_of('{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"rm","arguments":{}}}') })
    assert.are.same({ -32602, "invalid params: tools/call needs {name, arguments}", 11 },
      { err_of('{"jsonrpc":"2.0","id":11,"method":"tools/call","params":[1]}') })
    -- a line over --max-message: refused, skipped to its newline; the next one is read
    assert.are.same({ -32600, "invalid request: message over 4096 bytes", json.null },
      { err_of('{"jsonrpc":"2.0","id":12,"method":"ping","params":{"x":"' .. ("a"):rep(10000) .. '"}}') })
    -- notifications get no answer, known or not: the next message is the ping's
    c:send('{"jsonrpc":"2.0","method":"notifications/whatever"}')
    c:send('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999}}')
    assert.are.same({}, c:call("ping").result)
    -- invalid arguments: tool errors the model can read
    local function tool_err(name, args)
      local r = c:tool(name, args)
      assert.is_true(r.isError)
      assert.is_nil(r.structuredContent)
      return r.content[1].text
    end
    assert.are.equal("run: unknown argument 'bogus'", tool_err("run", { command = "true", bogus = 1 }))
    assert.are.equal("run: give either 'command' (a shell command line) or 'argv' (an array of strings), not both",
      tool_err("run", {}))
    assert.are.equal("run: argument 'timeout': expected a number > 0 and < 4000000",
      tool_err("run", { command = "true", timeout = -1 }))
    -- above what the session's command timer takes: a tool error, not an internal error of the server
    assert.are.equal("run: argument 'timeout': expected a number > 0 and < 4000000",
      tool_err("run", { command = "true", timeout = 5e6 }))
    assert.are.equal("run: argument 'argv': expected a non-empty array of strings", tool_err("run", { argv = { 1 } }))
    assert.are.equal("run: argument 'cwd': an absolute path inside the sandbox", tool_err("run", { command = "true",
      cwd = "rel" }))
    assert.are.equal("read_file: missing argument 'path'", tool_err("read_file", {}))
    assert.are.equal("run: argument 'argv': must not contain NUL bytes", tool_err("run", { argv = { "a\0b" } }))
    assert.are.equal("write_file: argument 'content': expected a string", tool_err("write_file", { path = "x",
      content = 3 }))
    assert.are.equal("reset: arguments must be an object", (function()
      local r = c:call("tools/call", { name = "reset", arguments = { 1 } })
      return r.result.content[1].text
    end)())
    assert.are.same({ 0, "" }, { c:close() })
    assert.are.equal("", c.extra)
  end)

  it("run: exit status, stdout, stderr, stdin, cwd, timeout and the output cap", function()
    local c = client({ "--max-output", "1000" })
    c:initialize()
    local r = c:tool("run", { command = "echo out; echo err >&2; pwd; exit 3" })
    assert.is_true(r.isError)
    local s = r.structuredContent
    assert.are.same({ 3, "out\n/workspace\n", "err\n", false, false, {} },
      { s.exit_status, s.stdout, s.stderr, s.timed_out, s.truncated, s.violations })
    assert.matches("^exit status 3[;\n]", r.content[1].text) -- then the usage, where the session reports it
    assert.is_number(s.duration_seconds)
    r = c:tool("run", { argv = { "cat" }, stdin = "from stdin", cwd = "/tmp" })
    assert.is_false(r.isError)
    assert.are.equal("from stdin", r.structuredContent.stdout)
    r = c:tool("run", { argv = { "pwd" }, cwd = "/tmp" })
    assert.are.equal("/tmp\n", r.structuredContent.stdout)
    r = c:tool("run", { command = "sleep 30", timeout = 0.3 })
    assert.are.same({ 124, true }, { r.structuredContent.exit_status, r.structuredContent.timed_out })
    assert.matches("^timed out after", r.content[1].text)
    r = c:tool("run", { command = "head -c 5000 /dev/zero | tr '\\0' a; printf '\\377'" })
    s = r.structuredContent
    assert.are.same({ ("a"):rep(1000), 5001, true }, { s.stdout, s.stdout_bytes, s.truncated })
    assert.matches("%[stdout truncated: the first 1000 of 5001 bytes are shown", r.content[1].text)
    -- bytes that are not UTF-8 come back as U+FFFD, the JSON stays valid
    r = c:tool("run", { command = "printf 'a\\377b'" })
    assert.are.equal("a\u{FFFD}b", r.structuredContent.stdout)
    r = c:tool("run", { argv = { "no-such-program" } })
    assert.are.equal(127, r.structuredContent.exit_status)
    assert.matches("not found", r.structuredContent.message)
    r = c:tool("run", { argv = { "true" }, cwd = "/nonexistent" })
    assert.are.same({ 125, "cwd: No such file or directory" }, { r.structuredContent.exit_status,
      r.structuredContent.message })
    c:close()
  end)

  it("read_file, write_file and list_dir act inside the sandbox, as the policy allows", function()
    local c = client()
    c:initialize()
    local r = c:tool("write_file", { path = "notes.txt", content = "hello\n" })
    assert.are.same({ false, { path = "notes.txt", bytes = 6 } }, { r.isError, r.structuredContent })
    assert.are.equal("hello\n", H.read(ws .. "/notes.txt"))
    r = c:tool("write_file", { path = "/workspace/notes.txt", content = "more\n", append = true })
    assert.is_false(r.isError)
    r = c:tool("read_file", { path = "/workspace/notes.txt" })
    assert.are.same({ false, "hello\nmore\n", 11 }, { r.isError, r.structuredContent.content, r.structuredContent.bytes })
    assert.are.equal("hello\nmore\n", r.content[1].text)
    assert.is_false(c:tool("run", { command = "ln -s notes.txt link" }).isError)
    r = c:tool("list_dir", { path = "/workspace" })
    assert.are.same({ { name = "link", type = "symlink", size = 9 }, { name = "notes.txt", type = "file", size = 11 } },
      r.structuredContent.entries)
    -- the policy decides: /usr is read-only, the host's /etc is not there, mkdir is denied
    r = c:tool("write_file", { path = "/usr/x", content = "x" })
    assert.is_true(r.isError)
    assert.matches("Read%-only file system", r.content[1].text)
    r = c:tool("read_file", { path = profile }) -- a host path the policy does not bind
    assert.is_true(r.isError)
    assert.matches("No such file or directory", r.content[1].text)
    r = c:tool("list_dir", { path = "/nonexistent" })
    assert.is_true(r.isError)
    -- a path that looks like an option is a path
    r = c:tool("list_dir", { path = "-delete" })
    assert.is_true(r.isError)
    assert.matches("No such file or directory", r.content[1].text)
    assert.are.equal("hello\nmore\n", H.read(ws .. "/notes.txt"))
    r = c:tool("read_file", { path = "/usr/bin/sh" })
    assert.is_true(r.isError)
    assert.matches("is not UTF%-8 text", r.content[1].text)
    c:close()
  end)

  it("reports a policy violation as a readable tool error", function()
    local c = client()
    c:initialize()
    local r = c:tool("run", { argv = { "mkdir", "/tmp/d" } })
    assert.is_true(r.isError)
    local v = r.structuredContent.violations
    assert.are.equal(1, #v)
    assert.matches('^blocked syscall mkdir in pid %d+ %(mkdir%); the policy spec%-mcp does not allow it %(to permit '
      .. 'it remove "mkdir" from syscalls.deny in spec%-mcp%)$', v[1])
    assert.matches("blocked syscall mkdir in pid", r.content[1].text)
    r = c:tool("write_file", { path = "/tmp/f", content = "x" }) -- no violation, no stale report
    assert.are.same({ false }, { r.isError })
    c:close()
  end)

  it("reset ends the session (scratch files, processes); the workspace stays", function()
    local c = client()
    c:initialize()
    assert.is_false(c:tool("run", { command = "echo s > /tmp/scratch; echo w > /workspace/kept" }).isError)
    local bg = marker()
    assert.is_false(c:tool("run", { command = table.concat(bg, " ") .. " >/dev/null 2>&1 &" }).isError)
    assert.is_truthy(S.wait_for(function() return #C.pids(bg) > 0 end, 10))
    local long = marker()
    local lid = c:request("tools/call", { name = "run", arguments = { argv = long } })
    assert.is_truthy(S.wait_for(function() return #C.pids(long) > 0 end, 10))
    local rid = c:request("tools/call", { name = "reset", arguments = json.object() })
    local killed = c:response(lid).result
    assert.are.same({ true, "the sandbox was reset while the command ran; it was killed" },
      { killed.isError, killed.content[1].text })
    local r = c:response(rid).result
    assert.are.same({ false, { reset = true } }, { r.isError, r.structuredContent })
    assert.are.same({ {}, {} }, { C.pids(bg), C.pids(long) })
    r = c:tool("run", { command = "cat /tmp/scratch; cat /workspace/kept" })
    assert.are.equal("w\n", r.structuredContent.stdout)
    c:close()
  end)

  it("answers ping while a command runs; notifications/cancelled ends the command; progress is reported", function()
    local c = client()
    c:initialize()
    local long = marker()
    local id = c:request("tools/call", { name = "run", arguments = { argv = long } })
    assert.is_truthy(S.wait_for(function() return #C.pids(long) > 0 end, 10))
    assert.are.same({}, c:call("ping").result)
    c:send({ jsonrpc = "2.0", method = "notifications/cancelled", params = { requestId = id, reason = "spec" } })
    assert.is_truthy(S.wait_for(function() return #C.pids(long) == 0 end, 10))
    -- no answer to the cancelled request: the next message is the ping's
    local ping = c:request("ping")
    assert.are.same({}, c:response(ping).result)
    -- progress: notifications with the request's token while the command runs; it ends once the
    -- client has seen two (no timing assumed)
    local pr = c:request("tools/call", { name = "run", arguments = {
      command = "while [ ! -e /workspace/go ]; do sleep 0.05; done; echo went" } }, { progressToken = "p1" })
    local progress = {}
    while #progress < 2 do
      local m = assert(c:recv())
      assert.are.equal("notifications/progress", m.method, json.encode(m))
      assert.are.equal("p1", m.params.progressToken)
      assert.matches("^run running for %d+s$", m.params.message)
      progress[#progress + 1] = m.params.progress
    end
    assert.is_true(progress[2] > progress[1])
    H.write(ws .. "/go", "")
    local res = c:response(pr)
    assert.are.same({ 0, "went\n" }, { res.result.structuredContent.exit_status, res.result.structuredContent.stdout })
    c:close()
  end)

  it("runs commands side by side, at most 32 at once", function()
    local c = client()
    c:initialize()
    local long = marker()
    for _ = 1, 32 do c:request("tools/call", { name = "run", arguments = { argv = long } }) end
    local r = c:call("tools/call", { name = "run", arguments = { command = "true" } })
    assert.are.same({ true, "32 commands are running already (the most purple mcp runs at once); wait for one to end" },
      { r.result.isError, r.result.content[1].text })
    assert.is_truthy(S.wait_for(function() return #C.pids(long) == 32 end, 20), #C.pids(long) .. " running")
    assert.are.same({ 0, "" }, { c:close() })
    assert.are.same({}, C.pids(long))
  end)

  for _, how in ipairs({ "closes its stdin", "sends SIGTERM", "SIGKILLs the server" }) do
    it("a client that " .. how .. " mid-command leaves no process, session or runtime file", function()
      local c = client()
      c:initialize()
      local long = marker()
      c:request("tools/call", { name = "run", arguments = { argv = long } })
      assert.is_truthy(S.wait_for(function() return #C.pids(long) > 0 end, 10))
      assert.is_true(#files_in(rt) > 0) -- the session's socket, record, log
      local status, err
      if how == "closes its stdin" then
        status, err = c:close()
        assert.are.equal("", err)
      else
        -- timeout(1) passes SIGTERM on to purple mcp; SIGKILL goes to purple mcp itself
        local kill = how == "sends SIGTERM" and c.pid or c:server_pid()
        core.kill(kill, core.signal_number(how == "sends SIGTERM" and "TERM" or "KILL"))
        status = tonumber(S.wait_for(function() return H.read(c.dir .. "/status") end, 60))
      end
      assert.are.equal(how == "SIGKILLs the server" and 137 or 0, status)
      -- after a SIGKILL the session's supervisor stops the session by itself (its parent died)
      assert.is_truthy(S.wait_for(function() return #C.pids(long) == 0 and #files_in(rt) == 0 end, 30),
        "left: " .. json.encode({ pids = C.pids(long), files = files_in(rt) }))
    end)
  end

  it("the policy's audit log has the session and each tool's command", function()
    local log = H.tmpdir() .. "/audit.log"
    profile = S.audit_profile(log, ws)
    local c = client()
    c:initialize()
    assert.is_false(c:tool("run", { command = "echo audited" }).isError)
    assert.is_false(c:tool("list_dir", { path = "/output" }).isError)
    assert.are.same({ 0, "" }, { c:close() })
    local ev = S.by_event(S.records(log))
    assert.are.equal(1, #ev.session_start)
    assert.are.equal(1, #ev.session_end)
    assert.are.same({ "/bin/sh", "-c", "echo audited" }, ev.command_start[1].argv)
    assert.are.equal("find", ev.command_start[2].argv[1])
    assert.are.same({ 0, 0 }, { ev.command_end[1].status, ev.command_end[2].status })
  end)

  it("starts a fresh session at the next call when the last one ended by its timeout", function()
    local c = client({ "--session-timeout", "1" })
    c:initialize()
    assert.is_false(c:tool("run", { command = "echo s > /tmp/scratch" }).isError)
    assert.is_truthy(S.wait_for(function() return #files_in(rt) == 0 end, 30))
    local r = c:tool("run", { command = "cat /tmp/scratch 2>/dev/null; echo fresh" })
    assert.are.same({ false, "fresh\n" }, { r.isError, r.structuredContent.stdout })
    assert.are.same({ 0, "" }, { c:close() })
  end)

  it("refuses a workspace the profile does not bind, or that does not exist (125, one line)", function()
    local other = H.profile(H.minimal())
    local _, err, code = H.sh(q(H.purple) .. " mcp --profile " .. q(other) .. " --workspace " .. q(ws) .. " </dev/null")
    assert.are.equal(125, code)
    assert.are.equal(("purple: mcp: --workspace %s: the profile spec-minimal does not bind it (it takes its workspace "
      .. "from PURPLE_WORKSPACE or the current directory); use a profile that does\n"):format(core.realpath(ws)), err)
    local out
    out, err, code = H.sh(q(H.purple) .. " mcp --profile " .. q(profile) .. " --workspace /nonexistent/x </dev/null")
    assert.are.same({ "", "purple: mcp: --workspace /nonexistent/x: no such directory\n", 125 }, { out, err, code })
    -- a default timeout the session's command timer cannot take is refused here, not at every call
    out, err, code = H.sh(q(H.purple) .. " mcp --profile " .. q(profile) .. " --workspace " .. q(ws)
      .. " --timeout 4000000 </dev/null")
    assert.are.same({ "", "purple: mcp: --timeout: expected a positive number of seconds below 4000000 (see purple "
      .. "mcp --help)\n", 125 }, { out, err, code })
  end)

  it("works with the official TypeScript SDK client (@modelcontextprotocol/sdk from npm)", function()
    if select(3, H.sh("command -v node >/dev/null && command -v npm >/dev/null")) ~= 0 then
      return pending("node and npm are not installed")
    end
    local d = H.tmpdir()
    local _, err, code = H.sh(("cd %s && HOME=%s npm_config_cache=%s/cache timeout 180 npm install --no-audit --no-fund "
      .. "--silent @modelcontextprotocol/sdk@1 </dev/null"):format(q(d), q(d), q(d)))
    if code ~= 0 then
      return pending("the npm registry is unreachable (npm install @modelcontextprotocol/sdk: " .. err:sub(1, 200) .. ")")
    end
    H.write(d .. "/client.mjs", [[
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
const [purple, profile, ws, rt] = process.argv.slice(2);
const transport = new StdioClientTransport({ command: purple, args: ["mcp", "--profile", profile, "--workspace", ws],
  env: { ...process.env, PURPLE_RUNTIME_DIR: rt }, stderr: "inherit" });
const client = new Client({ name: "purple-spec", version: "1.0.0" });
await client.connect(transport);
const out = { version: client.getServerVersion(), tools: (await client.listTools()).tools.map((t) => t.name) };
out.write = await client.callTool({ name: "write_file", arguments: { path: "sdk.txt", content: "from the sdk\n" } });
out.read = await client.callTool({ name: "read_file", arguments: { path: "/workspace/sdk.txt" } });
out.run = await client.callTool({ name: "run", arguments: { command: "echo $((6*7))" } });
out.ls = await client.callTool({ name: "list_dir", arguments: { path: "/workspace" } });
await client.ping();
await client.close();
console.log(JSON.stringify(out));
]])
    local out
    out, err, code = H.sh(("cd %s && timeout 120 node client.mjs %s %s %s %s"):format(q(d), q(H.purple), q(profile),
      q(ws), q(rt)))
    assert.are.equal(0, code, err)
    local r = assert(json.decode(out), out)
    assert.are.equal("purple", r.version.name)
    assert.are.same({ "run", "read_file", "write_file", "list_dir", "reset" }, r.tools)
    assert.is_false(r.write.isError)
    assert.are.equal("from the sdk\n", r.read.structuredContent.content)
    assert.are.equal("42\n", r.run.structuredContent.stdout)
    assert.are.equal("sdk.txt", r.ls.structuredContent.entries[1].name)
    assert.are.same({}, files_in(rt))
  end)
end)
