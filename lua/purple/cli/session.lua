-- purple session start|list|stop: sessions (lua/purple/session.lua, docs/sessions.md).
--   start --profile P [--name N] [--timeout S]  prints the session's name once it accepts commands
--   list                                        running sessions, their usage and running commands
--   stop [--wait S] NAME...                     as purple stop: SIGTERM, grace, SIGKILL, all removed
-- Commands run in a session with `purple exec` (C, csrc/launcher/exec_client.c).
local core = require "purple.core"
local runtime = require "purple.runtime"
local session = require "purple.session"

local args = require "purple.cli.args"

local M = {}

function M.parser()
  local p = args.parser("purple session", "Sessions: one sandbox that stays up and runs many commands, sent "
    .. "with purple exec (docs/sessions.md).")
  p:command_target("subcommand")
  local st = args.command(p, "start", "Start a session; print its name once it accepts commands.")
  st:option("-p --profile", "The profile: a name or a file."):argname("NAME"):count(1)
  st:option("--name", "The session's name (default: random): letters, digits, '_', '.', '-', at most 64.")
    :argname("NAME")
  st:option("--timeout", "Override resources.session_timeout_seconds."):argname("SECONDS")
    :convert(args.seconds("--timeout"))
  args.command(p, "list", "List running sessions: cgroup usage (CPU, memory, pids) and the commands running in each.")
  local sp = args.command(p, "stop", "End sessions as purple stop does: SIGTERM, grace period, SIGKILL.")
  sp:argument("NAME", "A session name."):args("+"):target("ids")
  sp:option("--wait", "Wait up to SECONDS for the sessions to end (default 30; 0: do not wait).")
    :argname("SECONDS"):convert(args.seconds("--wait", true)):default("30")
  return p
end

local function die(msg)
  io.stderr:write("purple: ", msg, "\n")
  return 125
end

local function start(opts)
  local profile, name, timeout = opts.profile, opts.name, opts.timeout
  if name and not session.valid_name(name) then
    return die("session start: --name: letters, digits, '_', '.', '-' (at most 64, not starting with '.' or '-')")
  end
  local policy, err = require("purple").profile(profile)
  if not policy then return die(err) end
  local dir, derr = runtime.ensure()
  if not dir then return die(derr) end
  name = name or core.random_hex(6)
  for _, rec in ipairs(runtime.list(true)) do
    if rec.id == name then return die(("session %s: already running (pid %d)"):format(name, rec.supervisor_pid)) end
  end
  local paths = session.paths(dir, name)
  os.remove(paths.log)
  local who, a, b = core.session_daemonize(paths.log)
  if not who then return die(a) end
  if who == "parent" then
    if a == "ok\n" then
      io.stdout:write(name, "\n")
      return 0
    end
    -- the supervisor failed: its log has the reason
    local text = require("purple.files").read(paths.log) or ""
    os.remove(paths.log)
    core.session_reap(b)
    if text == "" then text = ("purple: session %s: the supervisor ended before the session started\n"):format(name) end
    io.stderr:write(text)
    return 125
  end
  -- the supervisor (daemon): runs until the session ends
  local ready_fd, ready = a, false
  local result = session.serve(policy, { name = name, exec = { timeout = timeout },
    on_ready = function() ready = true core.session_ready(ready_fd, "ok\n") end })
  if result.error then io.stderr:write(result.error, "\n") end
  if ready then os.remove(paths.log) end -- else `session start` prints it, then removes it
  os.exit(result.status or 125, true)
end

-- One line per session (its cgroup usage as purple ps reads it), then one per running command.
local function list()
  local ps, bytes = require "purple.cli.ps", require("purple.cli.usage").bytes
  local rows = {}
  for _, rec in ipairs(runtime.list(true)) do
    if rec.kind == "session" then rows[#rows + 1] = rec end
  end
  if #rows == 0 then return 0 end
  io.stdout:write(("%-20s %-16s %8s %8s %8s %8s %5s %4s  %s\n"):format("NAME", "PROFILE", "PID", "UID", "CPU", "MEM",
    "PIDS", "CMDS", "STARTED"))
  for _, r in ipairs(rows) do
    local u, cmds = ps.usage(r), ps.commands(r)
    io.stdout:write(("%-20s %-16s %8d %8d %8s %8s %5s %4d  %s\n"):format(r.id, tostring(r.profile), r.supervisor_pid,
      r.uid or -1, u.cpu_seconds and ("%.2fs"):format(u.cpu_seconds) or "-",
      u.memory_bytes and bytes(u.memory_bytes) or "-", tostring(u.pids or "-"), #cmds, tostring(r.started)))
    for _, c in ipairs(cmds) do
      io.stdout:write(("  %7d  %s\n"):format(c.pid, table.concat(c.argv, " ")))
    end
  end
  return 0
end

function M.run(opts)
  if opts.subcommand == "start" then return start(opts) end
  if opts.subcommand == "list" then return list() end
  return require("purple.cli.stop").run(opts)
end

return M
