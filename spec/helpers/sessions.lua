-- Helpers of the audit and ops specs: purple runs in the background, bounded polling, audit logs.
local core = require "purple.core"
local json = require "purple.json"
local H = require "spec_helper"

local S = {}

-- Polls fn() every 50 ms until it returns a true value, for at most `seconds`; returns that value.
function S.wait_for(fn, seconds)
  local deadline = core.monotonic() + (seconds or 10)
  repeat
    local v = fn()
    if v then return v end
    core.sleep(0.05)
  until core.monotonic() > deadline
  return nil
end

-- Starts `purple run --profile PROFILE -- argv` in the background with the given environment
-- words (e.g. "PURPLE_RUNTIME_DIR=/x"). Returns a handle: { dir, pid (of purple) }. Pass it to
-- S.kill in a finally() so that a failed case leaves nothing running.
function S.start(profile, argv, env)
  local d = H.tmpdir()
  local words = { H.purple, "run", "--profile", H.q(profile), "--" }
  for _, w in ipairs(argv) do words[#words + 1] = H.q(w) end
  local script = ("(%s %s </dev/null >%s/out 2>%s/err & echo $! >%s/pid; wait $!; echo $? >%s/status.tmp; "
    .. "mv %s/status.tmp %s/status) </dev/null >/dev/null 2>&1 &")
    :format(env or "", table.concat(words, " "), d, d, d, d, d, d)
  assert(os.execute(script))
  local pid = S.wait_for(function() return tonumber(H.read(d .. "/pid") or "") end, 10)
  return { dir = d, pid = assert(pid, "purple did not start") }
end

-- SIGKILLs a background purple that is still running (its sandbox dies with it).
function S.kill(h)
  if h and not H.read(h.dir .. "/status") then core.kill(h.pid, 9) end
end

-- Waits for a background run to end; returns its exit status, stdout, stderr.
function S.finish(h, seconds)
  local st = S.wait_for(function() return H.read(h.dir .. "/status") end, seconds or 30)
  return st and tonumber(st), H.read(h.dir .. "/out"), H.read(h.dir .. "/err")
end

-- The records of an audit log, decoded; raises on a line that is not one JSON object.
function S.records(path)
  local recs = {}
  local text = H.read(path) or ""
  assert(text == "" or text:sub(-1) == "\n", path .. ": last line not complete")
  local n = 0
  for line in text:gmatch("([^\n]*)\n") do
    n = n + 1
    local r, err = json.decode(line)
    assert(type(r) == "table", ("%s:%d: %s: %s"):format(path, n, tostring(err), line:sub(1, 200)))
    recs[#recs + 1] = r
  end
  return recs
end

function S.by_event(recs)
  local t = {}
  for _, r in ipairs(recs) do
    t[r.event] = t[r.event] or {}
    table.insert(t[r.event], r)
  end
  return t
end

local schema_mod = dofile(H.tree .. "/spec/helpers/json_schema.lua")
S.schema = schema_mod.load(H.tree .. "/docs/audit-schema.json")

-- Asserts that every record is valid against docs/audit-schema.json.
function S.assert_valid(recs)
  for i, r in ipairs(recs) do
    local ok, err = schema_mod.validate(S.schema, r)
    assert(ok, ("record %d (%s): %s"):format(i, tostring(r.event), tostring(err)))
  end
end

-- A profile with an audit log and one output path; extra is more Lua table fields.
function S.audit_profile(log_path, out_dir, extra, audit_extra)
  return H.profile(([[
return {
  name = "audit-spec",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
    scratch_paths = { "/tmp" },
    output_paths = { { host_path = %q, sandbox_path = "/output" } },
    working_dir = "/tmp",
  },
  audit = { enabled = true, log_path = %q, %s },
  %s
}]]):format(out_dir, log_path, audit_extra or "", extra or ""))
end

-- The runtime-directory records of `purple ps --json` with PURPLE_RUNTIME_DIR=dir.
function S.ps(dir)
  local out, err, code = H.sh(("PURPLE_RUNTIME_DIR=%s %s ps --json"):format(H.q(dir), H.purple))
  assert(code == 0, err)
  return assert(json.decode(out))
end

return S
