-- purple.runtime: one JSON file per running session, read by `purple ps` and `purple stop`.
--
-- Directory: $PURPLE_RUNTIME_DIR, else /run/purple for root, else $XDG_RUNTIME_DIR/purple, else
-- /tmp/purple-<uid>; created mode 0700 and refused unless it is a directory owned by the caller.
-- File <dir>/<session>.json: id, profile, supervisor_pid, supervisor_start (clock ticks since
-- boot, to tell a reused pid apart), init_pid, argv, started (RFC 3339), started_epoch, uid,
-- cgroups (directories), audit_log; for a session (purple.session) kind = "session" and socket. Written when the command has started, removed at the end.
local core = require "purple.core"
local files = require "purple.files"

local M = {}

-- purple.json is loaded by the readers (ps, stop) only: every run writes its record with
-- encode_record below, which writes what purple.json would (keys sorted) for the record's shape.
local json_module
local function json()
  json_module = json_module or require "purple.json"
  return json_module
end

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
  ["\r"] = "\\r", ["\t"] = "\\t" }
local function escape(c) return ESCAPES[c] or ("\\u%04x"):format(c:byte()) end
local function jstring(s) return '"' .. s:gsub('[%c"\\]', escape) .. '"' end

-- The keys of a record, sorted as purple.json sorts them.
local RECORD_KEYS = { "argv", "audit_log", "cgroups", "id", "init_pid", "kind", "profile", "socket", "started",
  "started_epoch", "supervisor_pid", "supervisor_start", "uid" }

-- The record as JSON: strings, integers and lists of strings; anything else (an argv handed to
-- purple.exec with other values in it) is left to purple.json.
local function encode_record(rec)
  local out = {}
  for _, k in ipairs(RECORD_KEYS) do
    local v = rec[k]
    if v ~= nil then
      local enc
      if type(v) == "string" then
        enc = jstring(v)
      elseif math.type(v) == "integer" then
        enc = tostring(v)
      elseif type(v) == "table" and getmetatable(v) == nil then
        local items, n = {}, 0
        for _ in next, v do n = n + 1 end
        if n ~= #v then return json().encode(rec) end -- not a plain list
        for i = 1, n do
          if type(v[i]) ~= "string" then return json().encode(rec) end
          items[i] = jstring(v[i])
        end
        enc = "[" .. table.concat(items, ",") .. "]"
      else
        return json().encode(rec)
      end
      out[#out + 1] = '"' .. k .. '":' .. enc
    end
  end
  return "{" .. table.concat(out, ",") .. "}"
end
M.encode_record = encode_record

-- Is this process in a user namespace other than the initial one? Its uid 0 (a rootless engine
-- runs its runtime so) is then not the host's root: the host's /run and cgroups are not its.
function M.in_user_namespace()
  local map = files.read("/proc/self/uid_map")
  return map ~= nil and not map:match("^%s*0%s+0%s+4294967295%s*$")
end

-- Does this process keep its runtime files in /run? uid 0 does, except uid 0 of a user namespace
-- whose $USER is not root and that has XDG_RUNTIME_DIR (a rootless engine's runtime: as runc decides
-- for its state).
function M.uses_run(uid)
  if uid ~= 0 then return false end
  local xdg = os.getenv("XDG_RUNTIME_DIR")
  return not (xdg and xdg ~= "" and os.getenv("USER") ~= "root" and M.in_user_namespace())
end

function M.dir()
  local uid = core.ids()
  local d = os.getenv("PURPLE_RUNTIME_DIR")
  if d and d ~= "" then return d end
  if M.uses_run(uid) then return "/run/purple" end
  local xdg = os.getenv("XDG_RUNTIME_DIR")
  if xdg and xdg ~= "" then return xdg .. "/purple" end
  return ("/tmp/purple-%d"):format(uid)
end

-- Creates the directory if needed; returns it, or nil, "runtime directory DIR: why".
function M.ensure()
  local d = M.dir()
  local uid = core.ids()
  core.mkdir(d, 448) -- 0700
  local st, err = core.stat(d, false)
  if not st then return nil, ("runtime directory %s: %s"):format(d, err) end
  if st.type ~= "directory" or st.uid ~= uid then
    return nil, ("runtime directory %s: not a directory owned by uid %d"):format(d, uid)
  end
  return d
end

-- Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot; nil once it ended.
function M.start_ticks(pid)
  local f = io.open(("/proc/%d/stat"):format(pid))
  if not f then return nil end
  local s = f:read("a") -- nil (ESRCH) when the process is reaped between the open and the read
  f:close()
  local rest = s and s:match("%) (.*)$")
  if not rest or rest:match("^[ZX]") then return nil end -- a zombie has ended already
  local i = 2 -- the field after ") " is field 3
  for w in rest:gmatch("%S+") do
    i = i + 1
    if i == 22 then return tonumber(w) end
  end
end

local function path_of(dir, id) return dir .. "/" .. id .. ".json" end

function M.register(run)
  local d, err = M.ensure()
  if not d then return nil, err end
  local sec = core.realtime()
  local cgroups = {}
  for _, p in ipairs(run.spec.cgroup_procs or {}) do cgroups[#cgroups + 1] = (p:gsub("/cgroup%.procs$", "")) end
  local me = core.getpid()
  local rec = {
    id = run.session, profile = run.policy.name, supervisor_pid = me, supervisor_start = M.start_ticks(me),
    init_pid = run.sandbox.pid, argv = run.argv, uid = run.uid,
    started = os.date("!%Y-%m-%dT%H:%M:%SZ", sec), started_epoch = sec,
    cgroups = cgroups, audit_log = run.audit and run.audit.path or nil,
    kind = run.kind, socket = run.socket, -- a session (purple.session): its control socket
  }
  local path = path_of(d, run.session)
  local tmp = path .. ".tmp"
  local f, ferr = io.open(tmp, "w")
  if not f then return nil, ferr end
  f:write(encode_record(rec), "\n")
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then
    os.remove(tmp)
    return nil, rerr
  end
  run.runtime_file = path
  return true
end

function M.unregister(run)
  if run.runtime_file then
    os.remove(run.runtime_file)
    run.runtime_file = nil
  end
end

-- True when the supervisor that wrote rec is still running (same pid, same start time).
function M.alive(rec)
  if math.type(rec.supervisor_pid) ~= "integer" then return false end
  local t = M.start_ticks(rec.supervisor_pid)
  return t ~= nil and (rec.supervisor_start == nil or t == rec.supervisor_start)
end

function M.read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  local rec = json().decode(s)
  if type(rec) ~= "table" or type(rec.id) ~= "string" then return nil end
  return rec
end

-- Running sessions, sorted by start time. Files of supervisors that died are skipped (and removed
-- when clean is true).
function M.list(clean)
  local d = M.dir()
  local names = core.readdir(d) or {}
  local out = {}
  for _, n in ipairs(names) do
    if n:match("^[%w_.-]+%.json$") then
      local p = d .. "/" .. n
      local rec = M.read(p)
      if rec and M.alive(rec) then
        out[#out + 1] = rec
      elseif rec and clean then
        os.remove(p)
        -- a session's socket and log (its supervisor was killed before removing them)
        if rec.kind == "session" then
          os.remove(d .. "/" .. rec.id .. ".sock")
          os.remove(d .. "/" .. rec.id .. ".log")
        end
      end
    end
  end
  table.sort(out, function(a, b)
    if a.started_epoch ~= b.started_epoch then return (a.started_epoch or 0) < (b.started_epoch or 0) end
    return a.id < b.id
  end)
  return out
end

-- The running session with this id (or a unique prefix of it), or nil, why.
function M.find(id)
  local found
  for _, rec in ipairs(M.list()) do
    if rec.id == id then return rec end
    if rec.id:sub(1, #id) == id then
      if found then return nil, ("session %s: ambiguous (several sessions start with it)"):format(id) end
      found = rec
    end
  end
  if not found then return nil, ("session %s: no such running session (see purple ps)"):format(id) end
  return found
end

return M
