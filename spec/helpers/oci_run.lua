-- Runs an OCI bundle through purple.oci.config (load, plan) and purple's spawn, in the foreground:
--   bin/purple-lua spec/helpers/oci_run.lua BUNDLE [PROFILE]
-- Exit status: the command's (128+N on a signal); 125 and one line on stderr when load, plan or
-- the sandbox setup fails. For spec/oci_config_spec.lua; purple-oci's create/start live elsewhere.
-- The profile's supervised calls are answered by a violation monitor (core.oci_monitor, as purple-oci
-- exec starts one) that logs to $OCI_RUN_LOG when set.
local core = require "purple.core"
local config = require "purple.oci.config"
local cgroup = require "purple.oci.cgroup"

local bundle, profile_name = arg[1], arg[2]
local function die(msg)
  io.stderr:write(msg, "\n")
  os.exit(125)
end
local spec, err = config.load(bundle)
if not spec then die(err) end
local profile
if profile_name then
  local profiles = require "purple.profiles"
  profile, err = profiles.load(profile_name)
  if not profile then die(tostring(err)) end
end
local plan
plan, err = config.plan(spec, { profile = profile })
if not plan then die(err) end
local group
if plan.cgroup then
  group, err = cgroup.create(plan.cgroup, "oci-run-" .. core.getpid(), plan.spec)
  if not group then die(err) end
end
local sb
sb, err = core.spawn(plan.spec)
if not sb then
  if group then group:remove() end
  die(err)
end
local code = 125
while true do
  local ev = sb:poll()
  if not ev then break end
  if ev.event == "setup_error" or ev.event == "exec_error" then
    io.stderr:write("purple-oci: ", ev.message, "\n")
    code = ev.event == "setup_error" and 125 or (ev.errno == 2 and 127 or 126)
  elseif ev.event == "started" and plan.violations then
    local v = plan.violations
    assert(core.oci_monitor(sb, { session = "oci-run", profile = v.profile, errno = v.errno, calls = v.calls,
      log = os.getenv("OCI_RUN_LOG") }))
  elseif ev.event == "exit" then
    if code == 125 and not ev.init then code = ev.code or 128 + (ev.signal or 0) end
    if ev.init and code == 125 then code = ev.code or 128 + (ev.signal or 0) end
    break
  end
end
sb:close()
if group then group:remove() end
os.exit(code)
