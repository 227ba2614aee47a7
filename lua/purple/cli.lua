-- The purple and purple-lua commands: the global options, then the subcommand, whose module
-- lua/purple/cli/<name>.lua parses the rest (purple.cli.args: lua-argparse) and calls what the Lua
-- API exposes (purple.profile, purple.exec). Only the chosen subcommand's module is loaded.
-- purple.cli.args, which loads argparse, only once a parser is needed (not for purple --version)
local args = setmetatable({}, { __index = function(_, k) return require("purple.cli.args")[k] end })
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
  exec [-t] [--timeout S] [--cwd DIR] [--env K=V]... [-l LEVEL] NAME -- CMD [ARG...]
                       run CMD inside the running session NAME (docs/sessions.md); -l info:
                       then its usage (time, CPU, max RSS) in one line
  log [FILE...] [--session ID] [--event TYPE] [--follow] [--json]
                       show audit logs (default: /var/log/purple/*.log)
  doctor [--json]      check the kernel features purple needs; exit 1 when it cannot run
  syscalls [GROUP | --hardening]
                       list the syscall groups (@name), the members of one group, or the
                       hardening every profile gets
  mcp --profile NAME|PATH --workspace DIR [--max-output BYTES] [--timeout SECONDS]
                       a Model Context Protocol server on stdio: run, read_file, write_file,
                       list_dir and reset inside one session (docs/mcp.md)
  help [COMMAND]       this text, or the options of one command (as purple COMMAND --help)

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

Runs the Lua 5.4 SCRIPT with purple preloaded as the global 'purple'. The script gets what a
profile script gets, the profile context, as ... (then its ARGs); its ARGs are also in arg, and
the command after -- is purple.command. If it returns a policy table and did not run anything
itself, purple-lua runs the command under that policy, as purple run --profile SCRIPT would.

Options:
  -l, --log-level LEVEL  error, warn (default), info or debug
  -h, --help             this text
  -V, --version          purple's version

Exit status as purple(1); a script that returns an integer exits with it.
]==]

-- The launcher starts with the collector stopped while the modules load (csrc/launcher/launcher.c,
-- pmain); it runs again from here, before the command's own work.
local function restart_gc()
  collectgarbage("restart")
end

-- The subcommands, each lua/purple/cli/<name>.lua: { parser = function() -> argparse parser,
-- run = function(opts, command) -> status }. Only run takes a command after "--".
local COMMANDS = { run = true, profile = true, ps = true, stop = true, log = true, doctor = true, syscalls = true,
  session = true, mcp = true }

local LEVELS = { error = true, warn = true, info = true, debug = true }

-- The options before the subcommand (or script), for purple and purple-lua alike.
local function global_parser(name, usage)
  local p = args.parser(name)
  p:help((usage:gsub("\n$", "")))
  p:option("-l --log-level"):convert(function(l)
    if LEVELS[l] then return l end
    return nil, ("-l: unknown log level '%s': expected error, warn, info or debug"):format(l)
  end)
  p:flag("-V --version")
  return p
end

-- Splits args at the first "--": before, after (nil when there is no "--").
local function split_command(list, first)
  local before, after = {}, nil
  for i = first, #list do
    if after then
      after[#after + 1] = list[i]
    elseif list[i] == "--" then
      after = {}
    else
      before[#before + 1] = list[i]
    end
  end
  return before, after
end

-- The index of the subcommand (or script): the first argument that is not a global option or
-- -l's value. A "--" ends the global options too: what follows it is never one.
local function operand_index(list)
  local i = 1
  while list[i] do
    local a = list[i]
    if a == "--" then return i + 1 end
    if a == "-" or a:sub(1, 1) ~= "-" then return i end
    i = i + ((a == "-l" or a == "--log-level") and 2 or 1)
  end
  return i
end

-- Parses the global options args[1 .. at-1]: true | nil, status (help, version or usage error).
local function global_options(p, list, at)
  local opts, code = args.parse(p, table.move(list, 1, at - 1, 1, {}))
  if not opts then return nil, code end
  if opts.version then
    io.stdout:write("purple ", require("purple.version"), "\n")
    return nil, 0
  end
  if opts.log_level then assert(log.set_level(opts.log_level)) end
  return true
end

-- purple help [COMMAND [SUBCOMMAND]]
local function help(top, list)
  local hp = args.parser("purple help", "Prints the usage of purple, or of one command.")
  hp:argument("COMMAND", "A command (run, profile, ps, stop, log, doctor, syscalls, session, mcp, help) and its subcommand.")
    :args("*"):target("command")
  local opts, code = args.parse(hp, list)
  if not opts then return code end
  local name = opts.command[1]
  if not name then return args.help(top) end
  if name == "help" and not opts.command[2] then return args.help(hp) end
  if not COMMANDS[name] then return args.usage_error(hp, ("unknown command '%s'"):format(name)) end
  local p = require("purple.cli." .. name).parser()
  local sub = args.subcommand(p, { table.unpack(opts.command, 2) })
  if #opts.command > 2 or (opts.command[2] and sub == p) then
    return args.usage_error(hp, ("%s: no subcommand '%s'"):format(name, table.concat(opts.command, " ", 2)))
  end
  return args.help(sub)
end

-- The global options before the command: none (the usual case) costs no parser at all; "-V" or
-- "--version" alone prints the version as the parser would, without building it (argparse is
-- then not even loaded: purple --version is as cheap as it was before argparse).
local function main_purple(list)
  local at = operand_index(list)
  if at == 2 and (list[1] == "-V" or list[1] == "--version") then
    io.stdout:write("purple ", require("purple.version"), "\n")
    return 0
  end
  local top = nil
  local function top_parser()
    top = top or global_parser("purple", M.USAGE)
    return top
  end
  if at > 1 then
    local ok, code = global_options(top_parser(), list, at)
    if not ok then return code end
  end
  local name = list[at]
  if name == nil then
    io.stderr:write(M.USAGE)
    return status.SETUP
  end
  local rest = table.move(list, at + 1, #list, 1, {})
  if name == "help" then return help(top_parser(), rest) end
  if not COMMANDS[name] then return args.usage_error(top_parser(), ("unknown command '%s'"):format(name)) end
  local cmd = require("purple.cli." .. name)
  local command
  if name == "run" then rest, command = split_command(rest, 1) end
  local opts, code = cmd.quick_parse and cmd.quick_parse(rest)
  if not opts then opts, code = args.parse(cmd.parser(), rest) end
  if not opts then return code end
  restart_gc()
  return cmd.run(opts, command)
end

-- purple-lua [-l LEVEL] SCRIPT [ARG...] [-- CMD [ARG...]]
local function main_lua(list)
  local at = operand_index(list)
  if at > 1 then
    local ok, code = global_options(global_parser("purple-lua", M.LUA_USAGE), list, at)
    if not ok then return code end
  end
  local script = list[at]
  if not script then
    io.stderr:write(M.LUA_USAGE)
    return status.SETUP
  end
  local script_args, command = split_command(list, at + 1)
  restart_gc()
  return require("purple.cli.script").run(script, script_args, command, list, at)
end

function M.main(mode, list)
  if mode == "purple-lua" then return main_lua(list) end
  return main_purple(list)
end

return M
