-- purple.oci.state: purple-oci's state directory, one subdirectory per container.
--
-- Root: --root DIR, else /run/purple-oci for root, else $XDG_RUNTIME_DIR/purple-oci, else
-- /tmp/purple-oci-<uid>; created mode 0700 and refused unless a directory owned by the caller.
-- <root>/<id>/state.json: id, bundle, pid (the container's init, in the caller's pid namespace),
-- pid_start (its start time in clock ticks, to tell a reused pid apart), created (RFC 3339),
-- annotations, cgroups (directories to remove at delete), freezer (the freezer cgroup, or none),
-- profile, monitors (the violation monitors of create and of each exec: { pid, start }, ended by
-- delete), pid_joined (true: its pid namespace was joined by path, its processes are its cgroup's).
-- <root>/<id>/lock: held while a purple-oci changes state.json (M.update). <root>/<id>/start: the FIFO
-- init waits on until `start` (present = created, not started).
local core = require "purple.core"
local files = require "purple.files"
local json = require "purple.json"
local runtime = require "purple.runtime"

local M = {}

-- As runc: root of a user namespace that is not the real root's (a rootless engine runs its runtime
-- as uid 0 of one, $USER still the user's) keeps its state in XDG_RUNTIME_DIR, not in /run.
function M.default_root()
  local uid = core.ids()
  if runtime.uses_run(uid) then return "/run/purple-oci" end
  local xdg = os.getenv("XDG_RUNTIME_DIR")
  if xdg == "" then xdg = nil end
  if xdg then return xdg .. "/purple-oci" end
  return ("/tmp/purple-oci-%d"):format(uid)
end

-- Creates root if needed; root, or nil, "state directory ROOT: why".
function M.ensure(root)
  local uid = core.ids()
  local at = root:find("/", 2, true)
  while at do -- the parents, as runc makes them (containerd's shim passes <runc root>/<namespace>)
    core.mkdir(root:sub(1, at - 1), 448)
    at = root:find("/", at + 1, true)
  end
  core.mkdir(root, 448) -- 0700
  local st, err = core.stat(root, false)
  if not st then return nil, ("state directory %s: %s"):format(root, err) end
  if st.type ~= "directory" or st.uid ~= uid then
    return nil, ("state directory %s: not a directory owned by uid %d"):format(root, uid)
  end
  return root
end

-- Container ids as runc takes them: letters, digits, _ . - + and no path tricks.
function M.valid_id(id)
  return type(id) == "string" and #id > 0 and #id <= 1024 and id:match("^[%w][%w_.+-]*$") ~= nil
end

function M.dir(root, id) return root .. "/" .. id end

function M.read(root, id)
  local f = io.open(M.dir(root, id) .. "/state.json")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  local st = json.decode(s)
  if type(st) ~= "table" then return nil end
  return st
end

-- Writes state.json atomically. true | nil, why
function M.write(root, st)
  local path = M.dir(root, st.id) .. "/state.json"
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then return nil, err end
  f:write(json.encode(st), "\n")
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then os.remove(tmp) return nil, rerr end
  return true
end

-- Changes the container's state.json under <root>/<id>/lock: two `exec`s adding their monitors at
-- once would otherwise each write back what it read and lose the other's. fn(st) changes st in
-- place. st | nil, why
function M.update(root, id, fn)
  local fd, err = core.oci_lock(M.dir(root, id) .. "/lock")
  if not fd then return nil, err end
  local st, ok, why = M.read(root, id), nil, nil
  if not st then
    why = ("container %s does not exist"):format(id)
  else
    ok, why = pcall(fn, st)
    if ok then ok, why = M.write(root, st) end
  end
  core.oci_close(fd)
  if not ok then return nil, tostring(why) end
  return st
end

-- Is the container's init still the process we started?
function M.alive(st)
  if math.type(st.pid) ~= "integer" or st.pid <= 0 then return false end
  local t = runtime.start_ticks(st.pid)
  return t ~= nil and t == st.pid_start
end

-- Is the freezer cgroup dir frozen (or freezing)? v1: freezer.state; v2: cgroup.freeze, the state
-- asked for (cgroup.events says when it is reached: lifecycle.freeze waits for that).
function M.frozen(dir)
  local v1 = files.read(dir .. "/freezer.state")
  if v1 then
    local v = v1:match("^[^\n]*")
    return v == "FROZEN" or v == "FREEZING"
  end
  return (files.read(dir .. "/cgroup.freeze") or ""):match("^[^\n]*") == "1"
end

-- The runtime-spec status: creating, created, running, paused or stopped.
function M.status(root, st)
  if not st.pid then return "creating" end
  if not M.alive(st) then return "stopped" end
  if core.stat(M.dir(root, st.id) .. "/start", false) then return "created" end
  if st.freezer and M.frozen(st.freezer) then return "paused" end
  return "running"
end

-- The runtime-spec state JSON object of a container.
function M.oci_state(root, st)
  return {
    ociVersion = "1.0.2", id = st.id, status = M.status(root, st), pid = M.alive(st) and st.pid or 0,
    bundle = st.bundle, annotations = json.object(st.annotations or {}),
  }
end

return M
