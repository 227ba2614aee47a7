-- The purple and purple-lua commands: argument parsing only; the work is done by the
-- same calls the Lua API exposes (purple.profile, purple.exec).
local log = require "purple.log"
local status = require "purple.status"

local M = {}

M.USAGE = [==[
Usage: purple [-l LEVEL] COMMAND ...

Commands:
  run --profile NAME|PATH [--timeout SECONDS] [--report FILE] [--allow-unenforced] -- CMD [ARG...]
                       run CMD in a sandbox built from the profile
      --learn OUT      observe instead of enforcing syscalls; write the allow list the run
                       needed to OUT.yaml and OUT.lua
  profile list         list the profiles purple can find
  profile show NAME [--format yaml|lua|json]
                       print the effective policy of a profile
  profile check FILE...  validate policy files, report every error
  ps [--json] [--watch [SECONDS]]
                       list running sessions: id, profile, pid, uptime, CPU, memory, pids
  stop [--wait SECONDS] ID...
                       end a session like a timeout (SIGTERM, grace period, SIGKILL)
  session start --profile NAME|PATH [--name NAME] [--timeout SECONDS]
                       start a sandbox that stays up; prints its name once ready
  session list | session stop NAME...
                       list running sessions; end one (as stop)
  exec [-t] [--timeout S] [--cwd DIR] [--env K=V]... NAME -- CMD [ARG...]
                       run CMD inside the running session NAME (docs/sessions.md)
  log [FILE...] [--session ID] [--event TYPE] [--follow] [--json]
                       show audit logs (default: /var/log/purple/*.log)
  doctor [--json]      check the kernel features purple needs; exit 1 when it cannot run
  syscalls [GROUP | --hardening]
                       list the syscall groups (@name), the members of one group, or the
                       hardening every profile gets

Options:
  -l, --log-level LEVEL  error, warn (default), info or debug
  -h, --help             this text
  -V, --version          purple's version

Exit status:
  the command's own exit status, or
  128+N  the command was killed by signal N
  124    the session timeout ended the command
  125    purple, policy or setup error (the command did not run)
  126    the command was found but could not be executed
  127    the command was not found inside the sandbox
]==]

M.LUA_USAGE = [==[
Usage: purple-lua [-l LEVEL] SCRIPT [ARG...] [-- CMD [ARG...]]

Runs the Lua 5.4 SCRIPT with purple preloaded as the global 'purple'. The script sees its ARGs
as ... and arg, and the command after -- as purple.command. If it returns a policy table and did
not run anything itself, purple-lua runs the command under that policy. Exit status as purple(1).
]==]

local function die(msg)
  -- A policy with several errors gives one line each.
  io.stderr:write("purple: ", (tostring(msg):gsub("\n", "\npurple: ")), "\n")
  return status.SETUP
end

-- Splits args at the first "--": before, after (nil when there is no "--").
local function split_command(args, first)
  local before, after = {}, nil
  for i = first, #args do
    if after then
      after[#after + 1] = args[i]
    elseif args[i] == "--" then
      after = {}
    else
      before[#before + 1] = args[i]
    end
  end
  return before, after
end

-- Global options before the subcommand. Returns the index of the first other argument.
local function global_options(args, usage)
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-l" or a == "--log-level" then
      local ok, err = log.set_level(args[i + 1])
      if not ok then return nil, err end
      i = i + 2
    elseif a:match("^%-%-log%-level=") then
      local ok, err = log.set_level(a:match("=(.*)"))
      if not ok then return nil, err end
      i = i + 1
    elseif a == "-h" or a == "--help" then
      io.stdout:write(usage)
      return nil, nil, 0
    elseif a == "-V" or a == "--version" then
      io.stdout:write("purple ", require("purple").version, "\n")
      return nil, nil, 0
    else
      break
    end
  end
  return i
end

local function write_report(f, result)
  local json = require "purple.json"
  local ok, err = f:write(json.encode(result), "\n")
  if ok then ok, err = f:close() end
  return ok, err
end

local function profile_context(command)
  return { argv = command or {}, agent = os.getenv("PURPLE_AGENT") }
end

function M.finish(result)
  if result.error then io.stderr:write(result.error, "\n") end
  if log.enabled("info") then
    log.info("session %s: status %d%s in %.3fs%s", result.session or "-", result.status,
      result.signal and (" (signal " .. result.signal .. ")") or "", result.duration or 0,
      require("purple.usage").summary(result))
  end
  return result.status
end

local function cmd_run(args, first)
  local before, command = split_command(args, first)
  local profile, timeout, report, allow_unenforced, learn
  local i = 1
  while i <= #before do
    local a = before[i]
    if a == "--profile" or a == "-p" then
      profile = before[i + 1]; i = i + 2
    elseif a:match("^%-%-profile=") then
      profile = a:match("=(.*)"); i = i + 1
    elseif a == "--timeout" then
      timeout = tonumber(before[i + 1]); i = i + 2
      if not timeout or timeout <= 0 then return die("--timeout: expected a positive number of seconds") end
    elseif a == "--report" then
      report = before[i + 1]; i = i + 2
      if not report then return die("--report: expected a file name") end
    elseif a == "--allow-unenforced" then
      allow_unenforced = true; i = i + 1
    elseif a == "--learn" then
      learn = before[i + 1]; i = i + 2
      if not learn or learn == "" then return die("--learn: expected an output file name (e.g. learned.yaml)") end
    else
      return die(("run: unknown option '%s' (see purple --help)"):format(a))
    end
  end
  if not profile then return die("run: --profile NAME is required") end
  if not command or #command == 0 then return die("command: empty (give the command after --)") end
  local purple = require "purple"
  local policy, err = purple.profile(profile, profile_context(command))
  if not policy then return die(err) end
  log.debug("profile %s from %s", policy.name, policy.source or "?")
  -- Opened now, before the sandbox runs: a link it might plant at the path is never followed.
  local report_file
  if report then
    report_file, err = require("purple.core").create_file(report)
    if not report_file then return die("--report: " .. err) end
  end
  local result = purple.exec(policy, command, { timeout = timeout, allow_unenforced = allow_unenforced,
    learn = learn })
  if report_file then
    local ok, rerr = write_report(report_file, result)
    if not ok then log.error("--report: %s", rerr) end
  end
  return M.finish(result)
end

local function main_purple(args)
  local i, err, code = global_options(args, M.USAGE)
  if not i then
    if err then return die(err) end
    return code
  end
  local cmd = args[i]
  if cmd == "run" then return cmd_run(args, i + 1) end
  if cmd == nil then
    io.stderr:write(M.USAGE)
    return status.SETUP
  end
  if cmd:sub(1, 1) == "-" then return die(("unknown option '%s' (see purple --help)"):format(cmd)) end
  -- Other commands live in lua/purple/cli/<name>.lua: return function(args, first) -> status
  if cmd:match("^[%w-]+$") and package.searchpath("purple.cli." .. cmd, package.path) then
    return require("purple.cli." .. cmd)(args, i + 1)
  end
  return die(("unknown command '%s' (see purple --help)"):format(cmd))
end

local function main_lua(args)
  local i, err, code = global_options(args, M.LUA_USAGE)
  if not i then
    if err then return die(err) end
    return code
  end
  local script = args[i]
  if not script then
    io.stderr:write(M.LUA_USAGE)
    return status.SETUP
  end
  if script:match("^%-.") then return die(("unknown option '%s' (see purple-lua --help)"):format(script)) end
  local script_args, command = split_command(args, i + 1)
  local purple = require "purple"
  purple.command = command
  _G.purple = purple
  local chunk, lerr = loadfile(script)
  if not chunk then return die(lerr) end
  local ran = false
  local real_exec = purple.exec
  purple.exec = function(...)
    ran = true
    return real_exec(...)
  end
  local ok, ret = xpcall(chunk, debug.traceback, table.unpack(script_args))
  if not ok then return die(tostring(ret)) end
  if math.type(ret) == "integer" then return ret end
  if type(ret) == "table" and ret.status and ret.argv then return ret.status end
  if type(ret) == "table" and not ran then
    if not command or #command == 0 then return die("command: empty (give the command after --)") end
    local policy, perr = require("purple.profiles").from_table(ret, script, profile_context(command))
    if not policy then return die(perr) end
    return M.finish(real_exec(policy, command))
  end
  return 0
end

function M.main(mode, args)
  if mode == "purple-lua" then return main_lua(args) end
  return main_purple(args)
end

return M
