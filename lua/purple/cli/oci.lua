-- The purple-oci command: an OCI runtime with the command line runc's callers use (podman through
-- conmon, containerd's runc shim, ctr --runc-binary). docs/oci.md and man/purple-oci.1 describe it;
-- purple.oci.lifecycle does the work. Errors: one line on stderr ("purple-oci: why"), also appended
-- to --log FILE in --log-format (text or json: {"level":"error","msg":...,"time":...}, which conmon
-- and the shim read back); exit status 125.
local core = require "purple.core"
local json = require "purple.json"
local lifecycle = require "purple.oci.lifecycle"
local state = require "purple.oci.state"

local M = {}

M.USAGE = [==[
Usage: purple-oci [GLOBAL OPTIONS] COMMAND [OPTIONS] ID

Commands (as runc):
  create --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot] ID
  start ID               run the container's process (created by create)
  state ID               the runtime-spec state JSON
  kill [--all] ID [SIGNAL]
  delete [--force] ID
  exec --process FILE [--detach] [--pid-file F] [--console-socket S] [--tty] ID
  pause ID | resume ID   freeze / thaw the container's cgroup
  ps [--format table|json] ID
  list [--format table|json]
  features               what this runtime supports (JSON)
  update --resources FILE|- ID   new limits (linux.resources JSON) for a running container

Global options:
  --root DIR             state directory (default /run/purple-oci; $XDG_RUNTIME_DIR/purple-oci for a user)
  --log FILE             append errors to FILE
  --log-format text|json
  --systemd-cgroup       refused: purple-oci manages cgroupfs paths only
  -v, --version          purple-oci's version
  -h, --help             this text

A container's purple profile: the annotation purple.profile=NAME, or the one the runtime's
configuration imposes ($PURPLE_OCI_CONFIG, else /etc/purple/<command name>.json). See purple-oci(1).
]==]

local NAME = "purple-oci"

-- Each command's options: name -> "value" | "flag"; short aliases map to the long name.
local OPTIONS = {
  create = { bundle = "value", ["pid-file"] = "value", ["console-socket"] = "value", ["no-pivot"] = "flag",
    ["no-new-keyring"] = "flag", ["preserve-fds"] = "value", b = "bundle" },
  run = false,
  start = {}, state = {}, pause = {}, resume = {}, features = {},
  kill = { all = "flag", a = "all" },
  delete = { force = "flag", f = "force" },
  exec = { process = "value", detach = "flag", ["pid-file"] = "value", ["console-socket"] = "value",
    tty = "flag", cwd = "value", env = "list", ["preserve-fds"] = "value", p = "process", d = "detach",
    t = "tty", e = "env" },
  ps = { format = "value", f = "format" },
  list = { format = "value", f = "format", quiet = "flag", q = "quiet" },
  update = { resources = "value", r = "resources" },
}
local GLOBAL = { root = "value", log = "value", ["log-format"] = "value", ["systemd-cgroup"] = "flag",
  debug = "flag", version = "flag", help = "flag", v = "version", h = "help", criu = "value", rootless = "value" }

-- Parses options of `spec` from list[i..]: opts, next index | nil, why. Stops at the first operand
-- (or after "--"); --name=value and -x value both work.
local function parse(list, i, spec, opts)
  while list[i] do
    local a = list[i]
    if a == "--" then return opts, i + 1 end
    if a:sub(1, 1) ~= "-" or a == "-" then return opts, i end
    local name, value = a:match("^%-%-?([^=]+)=(.*)$")
    name = name or a:match("^%-%-?(.+)$")
    local kind = spec[name]
    if type(kind) == "string" and spec[kind] then name, kind = kind, spec[kind] end
    if not kind then return nil, ("unknown option '%s'"):format(a) end
    local key = name:gsub("-", "_")
    if kind == "flag" then
      if value and value ~= "true" and value ~= "false" then return nil, ("%s takes no value"):format(a) end
      opts[key] = value ~= "false"
      i = i + 1
    else
      if not value then
        value = list[i + 1]
        if value == nil then return nil, ("%s needs a value"):format(a) end
        i = i + 2
      else
        i = i + 1
      end
      if kind == "list" then
        opts[key] = opts[key] or {}
        table.insert(opts[key], value)
      else
        opts[key] = value
      end
    end
  end
  return opts, i
end

local g = { log_format = "text" }

local function log_line(level, msg)
  if g.log_format == "json" then
    return json.encode({ level = level, msg = msg, time = os.date("!%Y-%m-%dT%H:%M:%SZ") })
  end
  return ("%s %s: %s"):format(os.date("!%Y-%m-%dT%H:%M:%SZ"), level, msg)
end

-- Reports an error: stderr (in the log format when there is no --log file) and the --log file.
local function err(msg)
  msg = tostring(msg)
  if g.log then
    local f = io.open(g.log, "a")
    if f then
      f:write(log_line("error", msg), "\n")
      f:close()
    end
    io.stderr:write(NAME, ": ", msg, "\n")
  elseif g.log_format == "json" then
    io.stderr:write(log_line("error", msg), "\n")
  else
    io.stderr:write(NAME, ": ", msg, "\n")
  end
  return 125
end

-- Warnings: the --log file when there is one (conmon and the shim keep it), else stderr.
g.warn = function(msg)
  if g.log then
    local f = io.open(g.log, "a")
    if f then
      f:write(log_line("warning", msg), "\n")
      f:close()
      return
    end
  end
  io.stderr:write(NAME, ": warning: ", msg, "\n")
end

local function out(v)
  io.stdout:write(json.encode(v), "\n")
  return 0
end

local function features()
  return {
    ociVersionMin = "1.0.0", ociVersionMax = "1.1.0",
    hooks = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" },
    mountOptions = { "ro", "rw", "nosuid", "nodev", "noexec", "bind", "rbind" },
    linux = { namespaces = { "cgroup", "ipc", "mount", "network", "pid", "user", "uts" },
      cgroup = { v1 = true, v2 = true, systemd = false, systemdUser = false } },
    annotations = json.object({ ["org.purple.profile.annotation"] = "purple.profile" }),
  }
end

local function run(cmd, o, operands)
  o.id = operands[1]
  if cmd ~= "features" and cmd ~= "list" and not o.id then return err(cmd .. ": container id missing") end
  if cmd == "create" then
    if o.preserve_fds and o.preserve_fds ~= "0" then return err("create: --preserve-fds is not supported") end
    local st, e = lifecycle.create(g, o)
    if not st then return err(e) end
    return 0
  elseif cmd == "start" or cmd == "delete" or cmd == "pause" or cmd == "resume" then
    local ok, e
    if cmd == "pause" or cmd == "resume" then
      ok, e = lifecycle.pause(g, o, cmd == "pause")
    else
      ok, e = lifecycle[cmd](g, o)
    end
    if not ok then return err(e) end
    return 0
  elseif cmd == "kill" then
    o.signal = operands[2]
    local ok, e = lifecycle.kill(g, o)
    if not ok then return err(e) end
    return 0
  elseif cmd == "state" then
    local s, e = lifecycle.state(g, o)
    if not s then return err(e) end
    return out(s)
  elseif cmd == "ps" then
    local pids, e = lifecycle.ps(g, o)
    if not pids then return err(e) end
    if o.format == "json" then return out(pids) end
    io.stdout:write("PID\n")
    for _, p in ipairs(pids) do io.stdout:write(p, "\n") end
    return 0
  elseif cmd == "list" then
    local rows = {}
    for _, n in ipairs(core.readdir(g.root) or {}) do
      local st = state.read(g.root, n)
      if st then rows[#rows + 1] = state.oci_state(g.root, st) end
    end
    table.sort(rows, function(a, b) return a.id < b.id end)
    if o.format == "json" then return out(rows) end
    for _, r in ipairs(rows) do io.stdout:write(("%s\t%d\t%s\t%s\n"):format(r.id, r.pid, r.status, r.bundle)) end
    return 0
  elseif cmd == "features" then
    return out(features())
  elseif cmd == "exec" then
    if o.preserve_fds and o.preserve_fds ~= "0" then return err("exec: --preserve-fds is not supported") end
    local ok, e = require("purple.oci.exec").exec(g, o, operands)
    if not ok then return err(e) end
    return ok == true and 0 or ok
  elseif cmd == "update" then
    local ok, e = lifecycle.update(g, o)
    if not ok then return err(e) end
    return 0
  end
end

function M.main(list)
  g.cmd_name = (arg and arg[0] or NAME):match("[^/]*$")
  local opts, i = parse(list, 1, GLOBAL, {})
  if not opts then return err(i) end
  for k, v in pairs(opts) do g[k] = v end
  if g.log_format ~= "text" and g.log_format ~= "json" then
    local bad = g.log_format
    g.log_format = "text"
    return err(("--log-format: unknown format '%s': expected text or json"):format(bad))
  end
  if opts.version then
    io.stdout:write(NAME, " version ", require("purple.version"), "\nspec: 1.0.2\n")
    return 0
  end
  if opts.help then
    io.stdout:write(M.USAGE)
    return 0
  end
  if opts.systemd_cgroup then
    return err("--systemd-cgroup: not supported (purple-oci manages cgroupfs paths); fix: use the cgroupfs "
      .. "cgroup manager (podman: cgroup_manager = \"cgroupfs\"; containerd: SystemdCgroup = false)")
  end
  g.root = g.root or state.default_root()
  local cmd = list[i]
  if not cmd then
    io.stderr:write(M.USAGE)
    return 125
  end
  if not OPTIONS[cmd] then return err(("unknown command '%s'"):format(cmd)) end
  local o, j = parse(list, i + 1, OPTIONS[cmd], {})
  if not o then return err(cmd .. ": " .. j) end
  local operands = table.move(list, j, #list, 1, {})
  -- runc also takes options after the id (kill ID --all is not, but `delete ID --force` is seen)
  local rest = {}
  local k = 1
  while operands[k] do
    local a = operands[k]
    if a:sub(1, 1) == "-" and a ~= "-" and not (cmd == "exec" and #rest > 0) then
      local o2, nk = parse(operands, k, OPTIONS[cmd], o)
      if not o2 then return err(cmd .. ": " .. nk) end
      k = nk
    else
      rest[#rest + 1] = a
      k = k + 1
    end
  end
  collectgarbage("restart")
  return run(cmd, o, rest)
end

return M
