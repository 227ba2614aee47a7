-- purple log [FILE...] [--session ID] [--event TYPE] [--follow] [--json]
-- A readable view of audit logs (default: every *.log in /var/log/purple). --json prints the
-- matching records as they are; --follow keeps reading as records arrive, across rotations.
local core = require "purple.core"
local json = require "purple.json"
local args = require "purple.cli.args"
local human_size = require("purple.cli.usage").bytes

local DEFAULT_DIR = "/var/log/purple"

local M = {}

function M.parser()
  local p = args.parser("purple log", "Shows audit logs readably, one record a line (default: every *.log in "
    .. DEFAULT_DIR .. ").")
  p:argument("FILE", "An audit log."):args("*"):target("files")
  p:option("--session", "Only the records of the session ID (or a prefix of it).")
    :argname("ID")
  p:option("--event", "Only the records of one event type (session_start, syscall_violation, session_end, ...).")
    :argname("TYPE")
  p:flag("-f --follow", "Keep reading as records arrive, across log rotations, until interrupted.")
  p:flag("--json", "Print the matching records as they are (JSON lines).")
  return p
end

local function die(msg)
  io.stderr:write("purple: ", msg, "\n")
  return 125
end

local function short(ts)
  return (ts or "?"):gsub("(%.%d%d%d)%d*Z$", "%1Z")
end

local function scalars(rec, skip)
  local keys, out = {}, {}
  for k, v in pairs(rec) do
    if not skip[k] and type(v) ~= "table" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do out[#out + 1] = ("%s=%s"):format(k, tostring(rec[k])) end
  return table.concat(out, " ")
end

local COMMON = { ts = true, session = true, event = true, profile = true, pid = true }

local function describe(rec)
  local e = rec.event
  if e == "session_start" then
    local k = type(rec.kernel) == "table" and rec.kernel or {}
    return ("uid=%s policy=%s cmd=%s seccomp=%s landlock=%s cgroup=%s"):format(tostring(rec.uid),
      tostring(rec.policy_sha256):sub(1, 12), table.concat(type(rec.argv) == "table" and rec.argv or {}, " "),
      tostring(k.seccomp), tostring(k.landlock_abi), tostring(k.cgroup_mode))
  elseif e == "mounts" then
    local parts = {}
    for _, m in ipairs(type(rec.mounts) == "table" and rec.mounts or {}) do
      if m.type == "bind" then
        parts[#parts + 1] = ("%s %s%s"):format(m.target, m.source, m.readonly and " (ro)" or " (rw)")
      elseif m.type ~= "symlink" and m.type ~= "file" then
        parts[#parts + 1] = ("%s %s"):format(m.target, m.type)
      end
    end
    return table.concat(parts, ", ")
  elseif e == "files" then
    local lines = { ("%s (%s): %d created, %d modified, %d deleted%s"):format(tostring(rec.path),
      tostring(rec.sandbox_path), #(rec.created or {}), #(rec.modified or {}), #(rec.deleted or {}),
      rec.truncated and " (list truncated)" or "") }
    for _, kind in ipairs({ { "created", "+" }, { "modified", "~" }, { "deleted", "-" } }) do
      for _, f in ipairs(rec[kind[1]] or {}) do
        lines[#lines + 1] = ("      %s %s %s%s"):format(kind[2], f.path, human_size(f.size),
          f.sha256 and ("  sha256:" .. f.sha256) or "")
      end
    end
    return table.concat(lines, "\n")
  elseif e == "resource_summary" then
    local u = type(rec.usage) == "table" and rec.usage or {}
    return ("cpu=%.3fs user+system, memory peak %s, pids peak %s, wall %.3fs"):format(
      (u.user_seconds or 0) + (u.system_seconds or 0), human_size(u.memory_peak_bytes),
      tostring(u.pids_peak or "?"), u.wall_seconds or 0)
  elseif e == "session_end" then
    local how = rec.signal and (", signal " .. tostring(rec.signal)) or rec.code and (", code " .. tostring(rec.code))
      or ""
    return ("status=%s (%s%s) after %.3fs%s"):format(tostring(rec.status), tostring(rec.reason), how,
      tonumber(rec.duration) or 0, rec.error and ("  " .. tostring(rec.error)) or "")
  end
  return scalars(rec, COMMON)
end

-- A copy of rec whose strings have no control characters: file names, comm and exe come from the
-- sandboxed command, and an escape sequence or newline in them must not reach the reader's terminal.
local function printable(v)
  if type(v) == "string" then return (v:gsub("%c", "?")) end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = printable(x) end
  return out
end

local function show(rec, opts, raw)
  if opts.session and not (type(rec.session) == "string" and rec.session:sub(1, #opts.session) == opts.session) then
    return
  end
  if opts.event and rec.event ~= opts.event then return end
  if opts.json then
    io.stdout:write(raw, "\n")
  else
    rec = printable(rec)
    io.stdout:write(("%s  %s  %-12s %-17s %s\n"):format(short(rec.ts), tostring(rec.session):sub(1, 8),
      tostring(rec.profile), tostring(rec.event), describe(rec)))
  end
  io.stdout:flush()
end

-- A log being read: the open file, its identity (to notice rotation) and any partial last line.
local function open_source(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local st = core.stat(path)
  return { path = path, f = f, ino = st and st.ino, dev = st and st.dev, partial = "", line = 0 }
end

local function drain(src, opts, complete_only)
  while true do
    local chunk = src.f:read(65536)
    if not chunk then break end
    src.partial = src.partial .. chunk
  end
  while true do
    local nl = src.partial:find("\n", 1, true)
    if not nl then break end
    local raw = src.partial:sub(1, nl - 1)
    src.partial = src.partial:sub(nl + 1)
    src.line = src.line + 1
    if raw ~= "" then
      local rec = json.decode(raw)
      if type(rec) == "table" and rec.event then
        show(rec, opts, raw)
      else
        io.stderr:write(("purple: %s:%d: not an audit record\n"):format(src.path, src.line))
      end
    end
  end
  if not complete_only and src.partial ~= "" then
    io.stderr:write(("purple: %s:%d: incomplete last record\n"):format(src.path, src.line + 1))
    src.partial = ""
  end
end

function M.run(opts)
  local files = opts.files
  if opts.event and not require("purple.audit").EVENTS[opts.event] then
    return args.usage_error(M.parser(), ("--event: unknown event '%s'"):format(opts.event))
  end
  if #files == 0 then
    local names = core.readdir(DEFAULT_DIR)
    for _, n in ipairs(names or {}) do
      if n:match("%.log$") then files[#files + 1] = DEFAULT_DIR .. "/" .. n end
    end
    table.sort(files)
    if #files == 0 then return die(("log: no FILE given and no *.log in %s"):format(DEFAULT_DIR)) end
  end
  local sources = {}
  for _, p in ipairs(files) do
    local src, err = open_source(p)
    if not src then return die("log: " .. err) end
    sources[#sources + 1] = src
  end
  for _, src in ipairs(sources) do drain(src, opts, opts.follow) end
  if not opts.follow then return 0 end
  while true do
    core.sleep(0.25)
    for _, src in ipairs(sources) do
      drain(src, opts, true)
      -- Rotated (renamed and recreated): finish the old file, then read the new one from its start.
      local st = core.stat(src.path)
      if st and (st.ino ~= src.ino or st.dev ~= src.dev) then
        local new = open_source(src.path)
        if new then
          src.f:close()
          src.f, src.ino, src.dev, src.line, src.partial = new.f, new.ino, new.dev, 0, ""
        end
      end
    end
  end
end

return M
