-- purple.oci.exec: `purple-oci exec`: one more process in a running container.
--
-- The process (--process FILE, the runtime-spec process object; or the container's own process with
-- the command line's args) is translated as the container's was (config.plan, with the container's
-- purple profile), so it gets the same identity, capabilities, rlimits, no_new_privs, seccomp filter
-- and Landlock domain; instead of new namespaces and a new root it enters the container's (the
-- pid namespace around clone, the others from inside: csrc/ns_enter.c) and joins its cgroups. The
-- pid in --pid-file is the exec's init, in the container's pid namespace, which exits with the
-- process's status (so conmon and the shim, subreapers, wait for it as for the container's).
local core = require "purple.core"
local json = require "purple.json"
local state = require "purple.oci.state"
local lifecycle = require "purple.oci.lifecycle"

local M = {}

-- What builds a container rather than starts a process in one: left out of an exec's spawn spec.
local BUILD_ONLY = { "mounts", "root", "root_readonly", "hostname", "namespaces", "uid_map", "gid_map", "loopback", "cgroupns",
  "joins", "ns_joins", "sysctls", "oom_score_adj", "cgroup_procs", "start_fd", "pty", "pty_rows", "pty_cols" }

local function read_process(path)
  local f, err = io.open(path)
  if not f then return nil, "--process: " .. err end
  local text = f:read("a")
  f:close()
  local p, jerr = json.decode(text)
  if type(p) ~= "table" then return nil, ("--process %s: %s"):format(path, tostring(jerr or "not an object")) end
  return p
end

function M.exec(g, o, operands)
  local st, err = lifecycle.find(g.root, o.id)
  if not st then return nil, err end
  local status = state.status(g.root, st)
  if status ~= "running" then return nil, ("container %s is %s, not running"):format(o.id, status) end
  local spec, lerr = lifecycle.config.load(st.bundle)
  if not spec then return nil, lerr end
  if o.process then
    local p, perr = read_process(o.process)
    if not p then return nil, perr end
    spec.process = p
  else
    if #operands < 2 then return nil, "exec: --process FILE or a command after the id is needed" end
    spec.process.args = table.move(operands, 2, #operands, 1, {})
    spec.process.terminal = o.tty or false
    if o.cwd then spec.process.cwd = o.cwd end
    for _, e in ipairs(o.env or {}) do table.insert(spec.process.env, e) end
  end
  local profile, prerr = lifecycle.load_profile(st.profile)
  if profile == nil then return nil, prerr end
  local plan, plerr = lifecycle.config.plan(spec, { profile = profile or nil, bundle = st.bundle })
  if not plan then return nil, plerr end
  local sp = plan.spec
  for _, k in ipairs(BUILD_ONLY) do sp[k] = nil end
  sp.new_keyring = true
  sp.join_pid = lifecycle.ns_pid(st)
  if not sp.join_pid then return nil, ("container %s: its namespaces cannot be opened (/proc/%d/ns)"):format(o.id, st.pid) end
  sp.cgroup_procs = {}
  for _, d in ipairs(st.cgroups or {}) do sp.cgroup_procs[#sp.cgroup_procs + 1] = d .. "/cgroup.procs" end
  sp.die_with_parent = false
  sp.forward_signals = not o.detach
  if plan.terminal then
    if not o.console_socket then return nil, "process.terminal is true: --console-socket is needed" end
    local size = plan.console_size or {}
    sp.pty, sp.pty_rows, sp.pty_cols = true, size.height, size.width
  end
  -- numbered in the container (audit's command_start); state.json keeps the count
  local nst, uerr = state.update(g.root, o.id, function(cur) cur.execs = (cur.execs or 0) + 1 end)
  if not nst then return nil, "exec: " .. uerr end
  st.execs = nst.execs
  local aok, aerr = require("purple.oci.audit").exec(st, profile or nil, st.execs, sp.argv, plan.terminal)
  if not aok then return nil, aerr end
  -- the profile's supervised calls get a monitor of their own, forked now, in purple-oci's own
  -- namespaces: the spawn enters the container's pid namespace, for good where purple-oci may not
  -- come back (an unprivileged or rootless runtime), and whatever this process forks after it is
  -- in there, where the container's processes could signal it or take its listener
  local mon, hand
  if plan.violations then
    mon, hand = lifecycle.monitor(g, st, profile, plan.violations, nil)
    if not mon then return nil, "exec: " .. hand end
  end
  local function give_up(sandbox, why)
    if hand then core.oci_close(hand) end -- the monitor sees the end and exits
    if sandbox then sandbox:close() end
    return nil, why
  end
  local sandbox, serr = core.spawn(sp)
  if not sandbox then return give_up(nil, serr) end
  while true do
    local ev, perr2 = sandbox:poll(-1)
    if not ev then return give_up(sandbox, perr2 or "exec: the process ended before it started") end
    if ev.event == "pty" then
      local sok, cerr = core.oci_console_send(o.console_socket, ev.fd)
      core.oci_close(ev.fd)
      if not sok then return give_up(sandbox, cerr) end
    elseif ev.event == "setup_error" or ev.event == "exec_error" then
      return give_up(sandbox, "exec: " .. ev.message)
    elseif ev.event == "exit" then
      return give_up(sandbox, "exec: the process ended before it started")
    elseif ev.event == "started" then
      break
    end
  end
  if mon then -- kept in the state, for delete
    local hok, herr = core.oci_monitor_hand(hand, sandbox)
    hand = nil
    if not hok then return give_up(sandbox, "exec: " .. herr) end
    local ok, uerr = state.update(g.root, o.id, function(cur)
      local list = {} -- create's first, then the execs' still running, this one last
      for _, m in ipairs(cur.monitors or {}) do
        if lifecycle.monitor_alive(m) then list[#list + 1] = m end
      end
      list[#list + 1] = mon
      cur.monitors = list
    end)
    if not ok then
      core.kill(mon.pid, 9) -- a monitor delete would not know of
      sandbox:close()
      return nil, "exec: " .. uerr
    end
  end
  if o.pid_file then
    local f, ferr = io.open(o.pid_file .. ".tmp", "w")
    if not f then sandbox:close() return nil, ferr end
    f:write(tostring(sandbox.pid))
    f:close()
    os.rename(o.pid_file .. ".tmp", o.pid_file)
  end
  if o.detach then
    sandbox:detach()
    return true
  end
  while true do
    local ev = sandbox:poll(-1)
    if not ev or ev.event == "exit" then
      sandbox:close()
      if not ev then return 125 end
      return ev.signal and 128 + ev.signal or ev.code
    end
  end
end

return M
