-- purple.oci.lifecycle: what each purple-oci command does to a container (docs/oci.md).
--
-- create clones the container's init (csrc/spawn.c) with everything of config.json (and of the
-- purple.profile) set up, and init waits on the FIFO <state>/<id>/start; create writes the pid
-- file and exits, so init is adopted by the engine's subreaper (conmon, containerd's shim), which
-- waits for it. The pid in the pid file is that init's: pid 1 of the container's pid namespace
-- (or, in a pid namespace joined by path, a subreaper whose command dies with it: csrc/spawn.c)
-- (its namespaces are the container's: podman's `--network container:X` joins /proc/PID/ns/net),
-- and it exits with the container's status (the command's own, 128+N on signal N). start writes a
-- byte to the FIFO. With hooks, init stops before pivot_root ("hooks" event) while create runs
-- createRuntime and prestart, then runs createContainer itself, and startContainer at start, telling
-- start the result on the FIFO <state>/<id>/started (docs/oci.md, Hooks). With a purple profile
-- whose filter supervises calls, create also leaves the container's violation monitor running
-- (M.monitor). Every function returns its result, or nil, "why" (one line).
local core = require "purple.core"
local files = require "purple.files"
local json = require "purple.json"
local runtime = require "purple.runtime"
local state = require "purple.oci.state"
local config = require "purple.oci.config"
local cgroup = require "purple.oci.cgroup"
local hooks = require "purple.oci.hooks"
local oci_audit = require "purple.oci.audit"

local M = { config = config }

local function fail(fmt, ...) return nil, fmt:format(...) end

-- The container, or nil, why.
local function find(root, id)
  if not state.valid_id(id) then return fail("container id '%s': not a valid id", tostring(id)) end
  local st = state.read(root, id)
  if not st then return fail("container %s does not exist", id) end
  return st
end

M.find = find

-- The purple profile named name (false: none): policy | false, or nil, why.
function M.load_profile(name)
  if not name then return false end
  local p, e = require("purple.profiles").load(name)
  if not p then return fail("profile %s: %s", name, e) end
  return p
end

-- A warning: stderr, and the --log file (set by purple.cli.oci).
function M.warn(g, msg)
  if g.warn then return g.warn(msg) end
  io.stderr:write("purple-oci: warning: ", msg, "\n")
end

-- The runtime's own configuration: $PURPLE_OCI_CONFIG, else /etc/purple/<command name>.json (a
-- RuntimeClass handler whose binary is a symlink named purple-oci-strict reads purple-oci-strict.json).
-- { profile = NAME (imposed on every container), allow_annotation = bool }. {} when absent.
function M.runtime_config(cmd_name)
  local path = os.getenv("PURPLE_OCI_CONFIG")
  if not path or path == "" then path = "/etc/purple/" .. cmd_name .. ".json" end
  local f = io.open(path)
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local c, err = json.decode(text)
  if type(c) ~= "table" then return fail("%s: %s", path, tostring(err or "not an object")) end
  for k in pairs(c) do
    if k ~= "profile" and k ~= "allow_annotation" then return fail("%s: %s: unknown key", path, tostring(k)) end
  end
  if c.profile ~= nil and type(c.profile) ~= "string" then return fail("%s: profile: must be a string", path) end
  c.path = path
  return c
end

-- The purple profile for this container: the annotation purple.profile, the runtime's imposed one,
-- or none. name | false, or nil, why.
local function profile_name(annotations, rc)
  local ann = annotations["purple.profile"]
  -- a name from purple's profile directories only: an annotation is the container owner's to set,
  -- and a path could name a Lua profile (code purple-oci would run) anywhere, even in the image
  if ann ~= nil and (type(ann) ~= "string" or not ann:match("^%w[%w_-]*$")) then
    return fail("config.json: annotations.purple.profile: %q is not a profile name (letters, digits, _ and -; "
      .. "see purple profile list)", tostring(ann))
  end
  if rc.profile and ann and ann ~= rc.profile and not rc.allow_annotation then
    return fail("annotation purple.profile=%s: %s imposes profile %s (set allow_annotation to let a container choose)",
      ann, rc.path, rc.profile)
  end
  return ann or rc.profile or false
end

local function write_file(path, text)
  local tmp = path .. ".purple-oci.tmp"
  local f, err = io.open(tmp, "w")
  if not f then return nil, err end
  f:write(text)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then os.remove(tmp) return nil, rerr end
  return true
end

-- Removes the container's state directory.
local function remove_dir(root, id)
  local d = state.dir(root, id)
  for _, n in ipairs(core.readdir(d) or {}) do os.remove(d .. "/" .. n) end
  core.rmdir(d)
end

-- The directory pause/resume writes: cgroup v1's freezer, else the v2 group (cgroup.freeze).
local function freezer_of(group)
  return group.dirs.freezer or group.dirs.unified
end

-- Starts a violation monitor (csrc/oci_monitor.c) on the sandbox's seccomp listener: the one init
-- hands over at start (create), or the one the handle holds (exec). It answers the profile's
-- supervised calls with EPERM and reports each once per call and process: a line in --log (in
-- --log-format) and, when the profile's audit records syscall_violation, an audit record with
-- session = the container id. { pid, start } (its start time: a reused pid is not taken for it),
-- or nil, why. Without a sandbox (an exec, before its spawn) it waits for the listener on a socket:
-- { pid, start }, fd for core.oci_monitor_hand.
function M.monitor(g, st, profile, violations, sandbox)
  local a = profile and profile.audit
  local audit_path
  if a and a.enabled and a.log_path and require("purple.audit").levels(a).syscall then audit_path = a.log_path end
  -- without a sandbox the second value is the socket to hand the listener on (else the error)
  local pid, hand = core.oci_monitor(sandbox, { session = st.id, profile = violations.profile, log = g.log,
    log_json = g.log_format == "json", audit = audit_path, errno = violations.errno, calls = violations.calls })
  if not pid then return nil, hand end
  return { pid = pid, start = runtime.start_ticks(pid) }, hand
end

local function monitor_alive(m)
  return m.start ~= nil and runtime.start_ticks(m.pid) == m.start
end
M.monitor_alive = monitor_alive

-- Ends the container's monitors (by the pids in its state) and waits until each is gone (reaped by
-- its parent, the engine's subreaper, or a zombie).
local function end_monitors(st)
  for _, m in ipairs(st.monitors or {}) do
    if monitor_alive(m) then core.kill(m.pid, 9) end
  end
  -- SIGKILL always ends it, but on a loaded machine that can take seconds: up to 30 s in all
  local deadline = core.monotonic() + 30
  for _, m in ipairs(st.monitors or {}) do
    while monitor_alive(m) and core.monotonic() < deadline do core.sleep(0.01) end
  end
end

-- Runs a hook phase with the container's state on stdin: true, or nil, why.
local function run_hooks(root, st, phase)
  if not st.hooks or not st.hooks[phase] then return true end
  return hooks.run(st.hooks, phase, json.encode(state.oci_state(root, st)))
end

-- create --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot] ID
function M.create(g, o)
  local root, err = state.ensure(g.root)
  if not root then return nil, err end
  local id = o.id
  if not state.valid_id(id) then return fail("container id '%s': not a valid id", tostring(id)) end
  local bundle = core.realpath(o.bundle or ".")
  if not bundle then return fail("bundle %s: no such directory", o.bundle or ".") end
  local rc, rerr = M.runtime_config(g.cmd_name)
  if not rc then return nil, rerr end
  local spec, lerr = config.load(bundle)
  if not spec then return nil, lerr end
  local pname, perr = profile_name(spec.annotations or {}, rc)
  if pname == nil then return nil, perr end
  local profile, prerr = M.load_profile(pname)
  if profile == nil then return nil, prerr end
  local plan, plerr = config.plan(spec, { profile = profile or nil, bundle = bundle })
  if not plan then return nil, plerr end
  for _, w in ipairs(plan.warnings or {}) do M.warn(g, w) end
  local sp = plan.spec
  local dir = state.dir(root, id)
  if not core.mkdir(dir, 448) then return fail("container %s already exists", id) end
  local st = { id = id, bundle = bundle, annotations = spec.annotations or {}, profile = pname or nil,
    created = os.date("!%Y-%m-%dT%H:%M:%SZ"), argv = sp.argv, hooks = plan.hooks,
    profile_name = profile and profile.name or nil }
  for _, j in ipairs(sp.joins or {}) do
    if j.type == "pid" then st.pid_joined = true end -- its processes are its cgroup's (kill --all, ps)
  end
  local ok, werr = state.write(root, st)
  if not ok then remove_dir(root, id) return nil, werr end
  local group
  local function undo(msg)
    end_monitors(st)
    if group then group:remove() end
    remove_dir(root, id)
    return nil, msg
  end
  -- every container gets a cgroup (pause, ps, delete's kill), with the config's limits when it has any
  local gerr
  group, gerr = cgroup.create(plan.cgroup or { resources = {} }, id, sp) -- sets sp.cgroup_procs
  if not group then return undo(gerr) end
  for _, w in ipairs(group.warnings or {}) do M.warn(g, w) end
  st.cgroup = group.path
  st.freezer = freezer_of(group)
  st.cgroups = {}
  for _, p in ipairs(group.procs) do st.cgroups[#st.cgroups + 1] = (p:gsub("/cgroup%.procs$", "")) end
  local fifo, ferr = core.oci_fifo(dir .. "/start")
  if not fifo then return undo(ferr) end
  sp.start_fd = fifo
  -- hooks: init stops before pivot_root (the "hooks" event below) for createRuntime and prestart,
  -- then runs createContainer there and startContainer at start (csrc/oci_hooks.c)
  local hk = plan.hooks or {}
  local result_fifo
  local function n(phase) return #(hk[phase] or {}) end
  if n("createRuntime") + n("prestart") + n("createContainer") + n("startContainer") > 0 then
    local herr
    sp.hooks_sync = true
    sp.create_hooks, herr = hooks.for_init(hk, "createContainer")
    if sp.create_hooks then sp.start_hooks, herr = hooks.for_init(hk, "startContainer") end
    if not sp.start_hooks then core.oci_close(fifo) return undo(herr) end
    if #sp.start_hooks > 0 then
      result_fifo, herr = core.oci_fifo(dir .. "/started")
      if not result_fifo then core.oci_close(fifo) return undo(herr) end
      sp.start_result_fd = result_fifo
    end
  end
  sp.new_keyring = not o.no_new_keyring
  sp.die_with_parent = false
  sp.forward_signals = false
  if plan.terminal then
    if not o.console_socket then return undo("process.terminal is true: --console-socket is needed") end
    local size = plan.console_size or {}
    sp.pty, sp.pty_rows, sp.pty_cols = true, size.height, size.width
  end
  local sandbox, serr = core.spawn(sp)
  core.oci_close(fifo)
  if result_fifo then core.oci_close(result_fifo) end
  if not sandbox then return undo(serr) end
  while true do
    local ev, perr2 = sandbox:poll(-1)
    if not ev then sandbox:close() return undo(perr2 or "sandbox ended before it was ready") end
    if ev.event == "ready" then break end
    if ev.event == "pty" then
      local sok, serr2 = core.oci_console_send(o.console_socket, ev.fd)
      core.oci_close(ev.fd)
      if not sok then sandbox:close() return undo(serr2) end
    end
    if ev.event == "setup_error" or ev.event == "exec_error" then
      sandbox:close()
      return undo(ev.message)
    end
    if ev.event == "hooks" then
      -- the container's namespaces and mounts are made, before pivot_root: the runtime's hooks
      -- run here, then init runs createContainer with the same state
      st.pid = sandbox.pid
      st.pid_start = runtime.start_ticks(st.pid)
      for _, phase in ipairs({ "createRuntime", "prestart" }) do
        local hok, herr = run_hooks(root, st, phase)
        if not hok then sandbox:close() return undo(herr) end
      end
      local rok, rerr = sandbox:resume(json.encode(state.oci_state(root, st)))
      if not rok then sandbox:close() return undo(rerr) end
    end
    if ev.event == "exit" then sandbox:close() return undo("the container's init exited during setup") end
  end
  st.pid = sandbox.pid
  st.pid_start = runtime.start_ticks(st.pid)
  local aok, aerr = oci_audit.created(st, profile or nil, sp)
  if not aok then sandbox:close() return undo(aerr) end
  if plan.violations then
    local mon, merr = M.monitor(g, st, profile, plan.violations, sandbox)
    if not mon then sandbox:close() return undo(merr) end
    st.monitors = { mon }
  end
  ok, werr = state.write(root, st)
  if ok and o.pid_file then ok, werr = write_file(o.pid_file, tostring(st.pid)) end
  if not ok then sandbox:close() return undo(werr) end
  M.register(st)
  sandbox:detach()
  return st
end

-- `purple ps` lists the container as it lists sessions (purple.runtime; kind = "container"); the
-- record's supervisor is the container's init.
function M.register(st)
  local d = runtime.ensure()
  if not d then return end
  local sec = core.realtime()
  local rec = { id = st.id, kind = "container", profile = st.profile_name or "oci", supervisor_pid = st.pid,
    supervisor_start = st.pid_start, init_pid = st.pid, argv = st.argv, uid = (core.ids()),
    started = os.date("!%Y-%m-%dT%H:%M:%SZ", sec), started_epoch = sec, cgroups = st.cgroups }
  local f = io.open(d .. "/" .. st.id .. ".json.tmp", "w")
  if not f then return end
  f:write(runtime.encode_record(rec), "\n")
  f:close()
  os.rename(d .. "/" .. st.id .. ".json.tmp", d .. "/" .. st.id .. ".json")
end

local function unregister(id)
  local d = runtime.dir()
  local rec = runtime.read(d .. "/" .. id .. ".json")
  if rec and rec.kind == "container" then os.remove(d .. "/" .. id .. ".json") end
end

function M.start(g, o)
  local st, err = find(g.root, o.id)
  if not st then return nil, err end
  local status = state.status(g.root, st)
  if status ~= "created" then return fail("container %s is %s, not created", o.id, status) end
  local fifo = state.dir(g.root, o.id) .. "/start"
  -- with startContainer hooks init runs them, then says whether the process runs (csrc/spawn.c)
  local result = st.hooks and #(st.hooks.startContainer or {}) > 0 and state.dir(g.root, o.id) .. "/started" or nil
  local ok, said = core.oci_start(fifo, result)
  if not ok then return nil, said end
  os.remove(fifo)
  if result then
    os.remove(result)
    if said ~= "0" then
      if said == "" then said = ("container %s: its init ended before the process started"):format(o.id) end
      return nil, said
    end
  end
  local hok, herr = run_hooks(g.root, st, "poststart")
  if not hok then M.warn(g, herr) end
  return true
end

function M.state(g, o)
  local st, err = find(g.root, o.id)
  if not st then return nil, err end
  return state.oci_state(g.root, st)
end

-- A process whose namespaces are the container's and whose /proc/PID/ns the caller may open: init
-- itself for root; for an unprivileged owner init's child (the container's process), since init is
-- not dumpable and was cloned from outside the container's user namespace, so its ns links are
-- closed to that user while the process exec'd inside that namespace's are not. nil when none.
function M.ns_pid(st)
  if core.readlink(("/proc/%d/ns/pid"):format(st.pid)) then return st.pid end
  for _, n in ipairs(core.readdir("/proc") or {}) do
    local pid = tonumber(n)
    if pid then
      local f = io.open(("/proc/%d/status"):format(pid))
      local text = f and f:read("a") or ""
      if f then f:close() end
      if tonumber(text:match("\nPPid:%s*(%d+)")) == st.pid and core.readlink(("/proc/%d/ns/pid"):format(pid)) then
        return pid
      end
    end
  end
end

-- The container's processes: those of its pid namespace (init's), read from /proc; in a pid namespace
-- it joined (shared with other containers), those of its cgroup, as runc lists them.
local function pids_of(st)
  if st.pid_joined then
    local out = {}
    for _, d in ipairs(st.cgroups or {}) do
      local procs = files.read(d .. "/cgroup.procs")
      if procs then
        for pid in procs:gmatch("%d+") do out[#out + 1] = tonumber(pid) end
        break
      end
    end
    table.sort(out)
    return out
  end
  local via = M.ns_pid(st)
  local ns = via and core.readlink(("/proc/%d/ns/pid"):format(via))
  local out = {}
  if not ns then return out end
  for _, n in ipairs(core.readdir("/proc") or {}) do
    local pid = tonumber(n)
    if pid and (pid == st.pid or core.readlink(("/proc/%d/ns/pid"):format(pid)) == ns) then out[#out + 1] = pid end
  end
  table.sort(out)
  return out
end

function M.signal_number(s)
  if s == nil then return 15 end
  local n = tonumber(s)
  if n and n >= 1 and n <= 64 then return math.tointeger(n) end
  return core.signal_number(tostring(s):upper())
end

-- kill [--all] ID [SIGNAL]
function M.kill(g, o)
  local st, err = find(g.root, o.id)
  if not st then return nil, err end
  local sig = M.signal_number(o.signal)
  if not sig then return fail("kill: unknown signal '%s'", tostring(o.signal)) end
  -- in a joined pid namespace the container's processes may outlive its init (containerd's shim then
  -- sends kill --all ID 9, as to runc)
  if not state.alive(st) and not (o.all and st.pid_joined) then
    return fail("container %s: container not running", o.id)
  end
  if o.all and (sig ~= 9 or st.pid_joined) then
    for _, pid in ipairs(pids_of(st)) do core.kill(pid, sig) end
    if sig == 9 then end_monitors(st) end
    return true
  end
  local ok, kerr = core.kill(st.pid, sig)
  if not ok then return nil, kerr end
  -- kill --all ID KILL: the whole container ends with its init; its monitors too, by their pids
  if o.all and sig == 9 then end_monitors(st) end
  return true
end

-- delete [--force] ID
function M.delete(g, o)
  if not state.valid_id(o.id) then return fail("container id '%s': not a valid id", tostring(o.id)) end
  local st = state.read(g.root, o.id)
  if not st then
    if o.force and core.stat(state.dir(g.root, o.id), false) then remove_dir(g.root, o.id) end
    if o.force then return true end
    return fail("container %s does not exist", o.id)
  end
  local status = state.status(g.root, st)
  if status ~= "stopped" and status ~= "created" and status ~= "creating" and not o.force then
    return fail("container %s is %s: cannot delete it (stop it first, or --force)", o.id, status)
  end
  if state.alive(st) then
    if st.freezer and status == "paused" then M.freeze(st, false) end
    core.kill(st.pid, 9)
    for _ = 1, 500 do -- init is not our child: wait until it is gone (its subreaper reaps it)
      if not state.alive(st) then break end
      core.sleep(0.01)
    end
  end
  end_monitors(st) -- they end by themselves once the container's processes are gone; this is sure
  if st.cgroup then
    local ok, cerr = cgroup.open(st.cgroup):remove()
    if not ok then M.warn(g, "delete: cgroup " .. st.cgroup .. ": " .. tostring(cerr)) end
  end
  local hok, herr = run_hooks(g.root, st, "poststop")
  if not hok then M.warn(g, herr) end
  unregister(o.id)
  remove_dir(g.root, o.id)
  return true
end

-- Freezes or thaws the container's freezer cgroup. true | nil, why
function M.freeze(st, on)
  if not st.freezer then return fail("container %s: no freezer cgroup (pause needs cgroup v1's freezer or cgroup v2)", st.id) end
  local v1 = core.stat(st.freezer .. "/freezer.state", false)
  local path = st.freezer .. (v1 and "/freezer.state" or "/cgroup.freeze")
  local f, err = io.open(path, "w")
  if not f then return nil, err end
  local ok, werr = f:write(v1 and (on and "FROZEN" or "THAWED") or (on and "1" or "0"))
  local cok, cerr = f:close()
  if not ok or not cok then return nil, werr or cerr end
  if v1 then return true end
  -- v2 freezes in the background: pause returns once cgroup.events says every process stopped
  local want = on and "1" or "0"
  for _ = 1, 1000 do
    local events = files.read(st.freezer .. "/cgroup.events") or ""
    if events:match("frozen (%d)") == want then return true end
    core.sleep(0.01)
  end
  return fail("container %s: %s/cgroup.events: not %s after 10 s", st.id, st.freezer, on and "frozen" or "thawed")
end

function M.pause(g, o, on)
  local st, err = find(g.root, o.id)
  if not st then return nil, err end
  local status = state.status(g.root, st)
  if on and status ~= "running" then return fail("container %s is %s, not running", o.id, status) end
  if not on and status ~= "paused" then return fail("container %s is %s, not paused", o.id, status) end
  return M.freeze(st, on)
end

-- update --resources FILE|- ID: new limits for a running container (purple.oci.cgroup.update).
function M.update(g, o)
  local st, err = find(g.root, o.id)
  if not st then return nil, err end
  if not st.cgroup then return fail("container %s: no cgroup", o.id) end
  local text
  if not o.resources or o.resources == "-" then
    text = io.stdin:read("a")
  else
    local f, ferr = io.open(o.resources)
    if not f then return fail("--resources: %s", ferr) end
    text = f:read("a")
    f:close()
  end
  local r, jerr = json.decode(text or "")
  if type(r) ~= "table" then return fail("--resources: %s", tostring(jerr or "not a JSON object")) end
  return cgroup.update(st.cgroup, r)
end

function M.ps(g, o)
  local st, err = find(g.root, o.id)
  if not st then return nil, err end
  if not state.alive(st) then return {} end
  return pids_of(st)
end

return M
