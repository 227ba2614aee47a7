-- purple.mcp.tools: the tools of `purple mcp` (docs/mcp.md): their JSON Schemas, the check of a
-- call's arguments against them, the command each call runs inside the session, and its result.
-- read_file, write_file and list_dir are small fixed commands run in the session like any other
-- (cat, sh, find), so the policy (Landlock, mounts, identity, seccomp) decides what they may touch,
-- exactly as it does for run; paths are the sandbox's, relative ones from its working directory.
local json = require "purple.json"

local M = {}

local obj = json.object

local function schema(props, required)
  return obj({ type = "object", properties = obj(props), required = required, additionalProperties = false })
end

local STR, INT, BOOL = { type = "string" }, { type = "integer" }, { type = "boolean" }
local function d(t, text)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  c.description = text
  return c
end

-- run's result, also the structured part of the file tools' failures
local RUN_OUT = schema({
  exit_status = d(INT, "The command's exit status: its own, 128+N when killed by signal N, 124 on timeout, "
    .. "125 when purple could not run it, 126 not executable, 127 not found."),
  stdout = STR, stderr = STR,
  stdout_bytes = d(INT, "Bytes the command wrote to stdout (stdout keeps at most the output cap)."),
  stderr_bytes = d(INT, "Bytes the command wrote to stderr."),
  truncated = d(BOOL, "stdout or stderr was cut at the output cap."),
  timed_out = BOOL,
  duration_seconds = { type = "number" },
  violations = d({ type = "array", items = STR }, "What the policy blocked while the command ran."),
  message = d(STR, "purple's own note on the command (why it could not run, ...)."),
  usage = d(schema({ wall_seconds = { type = "number" }, user_seconds = { type = "number" },
    system_seconds = { type = "number" }, maxrss_bytes = INT }), "What the command used, where the session measures it."),
}, { "exit_status", "stdout", "stderr", "stdout_bytes", "stderr_bytes", "truncated", "timed_out",
  "duration_seconds", "violations" })

M.LIST = {
  {
    name = "run",
    title = "Run a command in the sandbox",
    description = "Runs a shell command (`command`, through /bin/sh -c) or an argument vector (`argv`) inside "
      .. "the purple sandbox session. Files written persist between calls until `reset`. Returns the exit "
      .. "status, stdout and stderr (each cut at the output cap, with a note), the duration and what the "
      .. "policy blocked. Runs with no network or privileges unless the policy grants them.",
    inputSchema = schema({
      command = d(STR, "A shell command line, run with /bin/sh -c."),
      argv = d({ type = "array", items = STR, minItems = 1 }, "The program and its arguments (instead of command)."),
      cwd = d(STR, "Working directory: an absolute path inside the sandbox (default: the policy's working_dir)."),
      -- below 4000000 s (46 days), the most a session's command timer takes (core.session_job)
      timeout = d({ type = "number", exclusiveMinimum = 0, exclusiveMaximum = 4000000 },
        "Seconds before the command is killed (exit status 124)."),
      stdin = d(STR, "Text given to the command on stdin (default: empty)."),
    }),
    outputSchema = RUN_OUT,
  },
  {
    name = "read_file",
    title = "Read a file in the sandbox",
    description = "Reads a UTF-8 text file inside the sandbox, with the sandbox's permissions. Paths are "
      .. "sandbox paths; a relative one starts at the policy's working directory.",
    inputSchema = schema({ path = STR }, { "path" }),
    outputSchema = schema({ path = STR, content = STR, bytes = INT, truncated = BOOL }, { "path", "content", "bytes",
      "truncated" }),
  },
  {
    name = "write_file",
    title = "Write a file in the sandbox",
    description = "Creates or replaces (or with append, extends) a text file inside the sandbox, with the "
      .. "sandbox's permissions. The directory must exist.",
    inputSchema = schema({ path = STR, content = STR, append = BOOL }, { "path", "content" }),
    outputSchema = schema({ path = STR, bytes = INT }, { "path", "bytes" }),
  },
  {
    name = "list_dir",
    title = "List a directory in the sandbox",
    description = "Lists the entries of a directory inside the sandbox: name, type (file, directory, symlink, "
      .. "other) and size in bytes.",
    inputSchema = schema({ path = STR }, { "path" }),
    outputSchema = schema({
      path = STR,
      entries = { type = "array", items = schema({ name = STR, type = STR, size = INT }, { "name", "type", "size" }) },
    }, { "path", "entries" }),
  },
  {
    name = "reset",
    title = "Reset the sandbox",
    description = "Ends the sandbox session (every process in it, its scratch files) and starts a fresh one "
      .. "on the next call. Files in the workspace stay.",
    inputSchema = schema({}),
    outputSchema = schema({ reset = BOOL }, { "reset" }),
  },
}
M.BY_NAME = {}
for _, t in ipairs(M.LIST) do M.BY_NAME[t.name] = t end

-- list(structured) -> the tools/list entries (outputSchema only from protocol 2025-06-18 on)
function M.list(structured)
  local out = {}
  for _, t in ipairs(M.LIST) do
    out[#out + 1] = { name = t.name, title = structured and t.title or nil, description = t.description,
      inputSchema = t.inputSchema, outputSchema = structured and t.outputSchema or nil }
  end
  return out
end

local function type_ok(spec, v)
  if spec.type == "string" then return type(v) == "string" end
  if spec.type == "integer" then return math.type(v) == "integer" end
  if spec.type == "number" then
    return type(v) == "number" and v == v and (not spec.exclusiveMinimum or v > spec.exclusiveMinimum)
      and (not spec.exclusiveMaximum or v < spec.exclusiveMaximum)
  end
  if spec.type == "boolean" then return type(v) == "boolean" end
  if spec.type == "array" then
    if type(v) ~= "table" or getmetatable(v) == json.object_mt or #v < (spec.minItems or 0) then return false end
    for i, x in pairs(v) do
      if math.type(i) ~= "integer" or not type_ok(spec.items, x) then return false end
    end
    return true
  end
  return false
end

-- check(tool, args) -> true | nil, message: args against the tool's inputSchema (our schemas use
-- only these keywords).
function M.check(tool, args)
  if type(args) ~= "table" or getmetatable(args) ~= json.object_mt then
    return nil, "arguments must be an object"
  end
  local s = tool.inputSchema
  for k, v in pairs(args) do
    local p = s.properties[k]
    if not p then return nil, ("unknown argument '%s'"):format(tostring(k)) end
    if not type_ok(p, v) then
      return nil, ("argument '%s': expected %s"):format(k, p.exclusiveMinimum
        and ("a number > %s and < %s"):format(p.exclusiveMinimum, p.exclusiveMaximum)
        or p.type == "array" and "a non-empty array of strings" or ("a" .. (p.type == "integer" and "n " or " ")
        .. p.type))
    end
  end
  for _, k in ipairs(s.required or {}) do
    if args[k] == nil then return nil, ("missing argument '%s'"):format(k) end
  end
  if tool.name == "run" and (args.command == nil) == (args.argv == nil) then
    return nil, "give either 'command' (a shell command line) or 'argv' (an array of strings), not both"
  end
  if tool.name == "run" and args.cwd and args.cwd:sub(1, 1) ~= "/" then
    return nil, "argument 'cwd': an absolute path inside the sandbox"
  end
  -- the command line goes to the sandbox as C strings: a NUL would cut it short silently
  for _, w in ipairs(args.argv or { args.command }) do
    if w:find("%z") then return nil, ("argument '%s': must not contain NUL bytes"):format(args.argv and "argv" or "command") end
  end
  for _, k in ipairs({ "path", "cwd" }) do
    if args[k] == "" or (args[k] and args[k]:find("%z")) then return nil, ("argument '%s': a non-empty path"):format(k) end
  end
  return true
end

-- command(tool, args) -> argv, { cwd, timeout, stdin }: what the call runs in the session
-- (find's -printf gives one NUL-ended record per entry: names may hold any byte but "/" and NUL).
function M.command(tool, args)
  local n = tool.name
  if n == "run" then
    local argv = args.argv or { "/bin/sh", "-c", args.command }
    return argv, { cwd = args.cwd, timeout = args.timeout, stdin = args.stdin }
  elseif n == "read_file" then
    return { "cat", "--", args.path }, {}
  elseif n == "write_file" then
    return { "/bin/sh", "-c", args.append and 'cat >> "$1"' or 'cat > "$1"', "write_file", args.path },
      { stdin = args.content }
  elseif n == "list_dir" then
    -- find takes a leading "-" for an expression ("-delete"): such a path is given as ./-x
    local path = args.path:sub(1, 1) == "-" and ("./" .. args.path) or args.path
    return { "find", path, "-mindepth", "1", "-maxdepth", "1", "-printf", "%y %s %f\\0" }, {}
  end
end

-- Text safe to put in JSON: invalid UTF-8 bytes become U+FFFD.
function M.utf8_clean(s)
  if utf8.len(s) then return s end
  local out, i = {}, 1
  while i <= #s do
    local ok, bad = utf8.len(s, i)
    if ok then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = "\u{FFFD}"
    i = bad + 1
  end
  return table.concat(out)
end

-- "blocked syscall ptrace (101) in pid 7 (strace); to permit it ... in ai-dev-safe" ->
-- "blocked syscall ptrace in pid 7 (strace); the policy ai-dev-safe does not allow it (to permit it ...)"
function M.violation_text(line, profile)
  local what, nr, rest = line:match("^(%a+ syscall %S+) %((%d+)%)(.*)$")
  if not what then return line end
  local where, hint = rest:match("^( in pid %d+ %b())(.*)$")
  if not where then where, hint = "", rest end
  hint = hint:gsub("^; ", "")
  if what:match("^logged") then return what .. where .. " (logged, allowed)" end
  return ("%s%s; the policy %s does not allow it%s"):format(what, where, profile,
    hint ~= "" and (" (" .. hint .. ")") or "")
end

local TYPES = { f = "file", d = "directory", l = "symlink" }

-- status line of a command's result for the text content
local function status_line(r)
  if r.timed_out then return ("timed out after %.1fs (exit status 124)"):format(r.duration_seconds) end
  local s = r.exit_status
  if s > 128 and s < 160 then return ("killed by signal %d (exit status %d)"):format(s - 128, s) end
  return ("exit status %d"):format(s)
end

local function text(t) return { type = "text", text = t } end

-- result(tool, args, r, ctx) -> a CallToolResult. r: the job's result plus duration, violations;
-- ctx: { profile, max_output, structured }.
function M.result(tool, args, r, ctx)
  local vio = {}
  for i, v in ipairs(r.violations or {}) do vio[i] = M.violation_text(v, ctx.profile) end
  local run = {
    exit_status = r.status,
    stdout = M.utf8_clean(r.stdout or ""), stderr = M.utf8_clean(r.stderr or ""),
    stdout_bytes = r.stdout_bytes or 0, stderr_bytes = r.stderr_bytes or 0,
    -- the session reports a timeout as 124 without a note: a 124 at the timeout is taken for one
    timed_out = r.status == 124 and r.timeout ~= nil and r.duration >= r.timeout * 0.99,
    duration_seconds = math.floor(r.duration * 1000 + 0.5) / 1000,
    violations = vio, message = r.message and r.message:gsub("^%-%-cwd: ", "cwd: ") or nil,
    usage = r.usage,
  }
  run.truncated = run.stdout_bytes > #(r.stdout or "") or run.stderr_bytes > #(r.stderr or "")
  local failed = r.status ~= 0 or #vio > 0
  local function note(which)
    local kept, total = #(r[which] or ""), run[which .. "_bytes"]
    if total > kept then
      return ("\n[%s truncated: the first %d of %d bytes are shown (cap: --max-output)]"):format(which, kept, total)
    end
    return ""
  end
  local function failure()
    local lines = {}
    for _, v in ipairs(vio) do lines[#lines + 1] = v end
    if run.message then lines[#lines + 1] = run.message end
    lines[#lines + 1] = status_line(run)
    if run.stderr ~= "" then lines[#lines + 1] = run.stderr:gsub("\n$", "") .. note("stderr") end
    return table.concat(lines, "\n")
  end
  local n = tool.name
  local res
  if n == "run" then
    local parts = { status_line(run) }
    if r.usage then
      parts[1] = parts[1] .. ("; %.2fs user, %.2fs system CPU, %d KiB max RSS"):format(r.usage.user_seconds,
        r.usage.system_seconds, r.usage.maxrss_bytes // 1024)
    end
    for _, v in ipairs(vio) do parts[#parts + 1] = v end
    if run.message then parts[#parts + 1] = "purple: " .. run.message end
    parts[#parts + 1] = "--- stdout ---\n" .. run.stdout .. note("stdout")
    parts[#parts + 1] = "--- stderr ---\n" .. run.stderr .. note("stderr")
    res = { content = { text(table.concat(parts, "\n")) }, structuredContent = run, isError = failed }
  elseif failed then
    return { content = { text(failure()) }, isError = true }
  elseif n == "read_file" then
    local raw = r.stdout or ""
    if not utf8.len(raw) and run.stdout_bytes == #raw then
      return { content = { text(("%s is not UTF-8 text (%d bytes); read it with run, e.g. base64 -- %s")
        :format(args.path, #raw, args.path)) }, isError = true }
    end
    local content = run.stdout .. note("stdout")
    res = { content = { text(content) }, isError = false,
      structuredContent = { path = args.path, content = run.stdout, bytes = run.stdout_bytes, truncated = run.truncated } }
  elseif n == "write_file" then
    res = { content = { text(("wrote %d bytes to %s"):format(#args.content, args.path)) }, isError = false,
      structuredContent = { path = args.path, bytes = #args.content } }
  elseif n == "list_dir" then
    local entries, lines = {}, {}
    for rec in (r.stdout or ""):gmatch("([^%z]*)%z") do
      local y, size, name = rec:match("^(%S+) (%d+) (.*)$")
      if y then
        local e = { name = M.utf8_clean(name), type = TYPES[y] or "other", size = math.tointeger(tonumber(size)) or 0 }
        entries[#entries + 1] = e
      end
    end
    table.sort(entries, function(a, b) return a.name < b.name end)
    for _, e in ipairs(entries) do
      lines[#lines + 1] = ("%s%s  %d"):format(e.name, e.type == "directory" and "/" or e.type == "symlink" and "@" or "",
        e.size)
    end
    res = { content = { text(#lines > 0 and table.concat(lines, "\n") .. note("stdout") or "(empty)") }, isError = false,
      structuredContent = { path = args.path, entries = entries } }
  end
  if not ctx.structured then res.structuredContent = nil end
  return res
end

-- tool_error(message) -> a CallToolResult with isError (invalid arguments, a session that failed
-- to start): the model reads it and can adapt; no structuredContent.
function M.tool_error(message)
  return { content = { text(message) }, isError = true }
end

return M
