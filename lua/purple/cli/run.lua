-- purple run --profile NAME|PATH [OPTIONS] -- CMD [ARG...]: CMD in a sandbox built from the profile,
-- by the calls the Lua API exposes (purple.profile, purple.exec). Everything after "--" is the
-- command: cli.lua splits it off before any parsing.
-- purple.cli.args (argparse) only when the parser is built: not for the usual form (quick_parse)
local args = setmetatable({}, { __index = function(_, k) return require("purple.cli.args")[k] end })
local log = require "purple.log"
local status = require "purple.status"

local M = {}

function M.parser()
  local p = args.parser("purple run", "Runs CMD in a sandbox built from the profile. Everything after -- is "
    .. "the command; it runs as uid 65534 when purple is started by root, as the invoking user otherwise.")
  p:usage("Usage: purple run --profile PROFILE [--timeout SECONDS] [--report FILE] [--allow-unenforced]\n"
    .. "                  [--learn OUT] -- CMD [ARG...]")
  p:option("-p --profile", "The profile: a NAME from the profile search path (purple profile list), or "
    .. "the PATH of a .lua/.yaml file.")
    :argname("PROFILE")
  p:option("--timeout", "End the command after SECONDS (overrides resources.session_timeout_seconds); "
    .. "exit status 124.")
    :argname("SECONDS"):convert(args.seconds("--timeout"))
  p:option("--report", "Write the result (status, usage, warnings) to FILE as JSON.")
    :argname("FILE")
  p:flag("--allow-unenforced", "Run even when a resource limit cannot be enforced here (a warning instead of "
    .. "exit 125).")
  p:option("--learn", "Observe syscalls instead of enforcing them; write the allow list the run needed to "
    .. "OUT.yaml and OUT.lua.")
    :argname("OUT")
  p:epilog("Exit status: the command's own; 128+N killed by signal N; 124 timeout; 125 purple, policy or "
    .. "setup error; 126 not executable; 127 not found (see purple --help).")
  return p
end

-- quick_parse(args) -> the options args.parse(M.parser(), args) gives, for the one form nearly every
-- run has ("--profile NAME" or "-p NAME", NAME not an option), or nil for argparse to parse. Loading
-- argparse and building the parser is ~1.1M instructions, 7% of a `purple run` (bench/README.md);
-- spec/cli_spec.lua checks that both give the same options.
function M.quick_parse(list)
  local flag, name = list[1], list[2]
  if #list == 2 and (flag == "--profile" or flag == "-p") and name ~= "" and name:sub(1, 1) ~= "-" then
    return { profile = name }
  end
  return nil
end

-- The profile context of a run: the command and the agent ($PURPLE_AGENT or its basename).
function M.context(command)
  return require("purple.profiles").context({ argv = command or {} })
end

local function die(msg)
  io.stderr:write("purple: ", (tostring(msg):gsub("\n", "\npurple: ")), "\n")
  return status.SETUP
end

-- The exit status of a result, after its error and (with -l info) its usage line.
function M.finish(result)
  if result.error then io.stderr:write(result.error, "\n") end
  if log.enabled("info") then
    log.info("session %s: status %d%s in %.3fs%s", result.session or "-", result.status,
      result.signal and (" (signal " .. result.signal .. ")") or "", result.duration or 0,
      require("purple.cli.usage").summary(result))
  end
  return result.status
end

local function write_report(f, result)
  local ok, err = f:write(require("purple.json").encode(result), "\n")
  if ok then ok, err = f:close() end
  return ok, err
end

-- run(opts, command) -> exit status; opts as parsed by M.parser().
function M.run(opts, command)
  if not opts.profile then return args.usage_error(M.parser(), "--profile NAME|PATH is required") end
  if opts.report == "" then return args.usage_error(M.parser(), "--report: expected a file name") end
  if opts.learn == "" then
    return args.usage_error(M.parser(), "--learn: expected an output file name (e.g. learned.yaml)")
  end
  if not command or #command == 0 or command[1] == "" then return die("command: empty (give the command after --)") end
  local purple = require "purple"
  local policy, err = purple.profile(opts.profile, M.context(command))
  if not policy then return die(err) end
  log.debug("profile %s from %s", policy.name, policy.source or "?")
  -- Opened now, before the sandbox runs: a link it might plant at the path is never followed.
  local report_file, learn_files
  if opts.report then
    report_file, err = require("purple.core").create_file(opts.report)
    if not report_file then return die("--report: " .. err) end
  end
  if opts.learn then
    learn_files, err = require("purple.cli.learn").open(opts.learn)
    if not learn_files then
      if report_file then report_file:close() end
      return die(err)
    end
  end
  local result = purple.exec(policy, command, { timeout = opts.timeout, allow_unenforced = opts.allow_unenforced,
    learn = opts.learn and true or nil })
  -- the library names the policy field; on this command line the option does the same
  if result.error then
    result.error = result.error:gsub("resources%.allow_unenforced = true to run without it",
      "resources.allow_unenforced = true (--allow-unenforced) to run without it")
  end
  if learn_files then
    local learn = require "purple.cli.learn"
    if result.learned then
      local names = result.learned.syscalls
      local y, l = learn.write(learn_files, names, command, policy.name,
        { reached = result.egress_names, refused = result.egress_refused })
      if y then
        result.learned.yaml, result.learned.lua, result.learned.count = y, l, #names
        log.info("learned %d syscalls: %s, %s", #names, y, l)
      else
        log.error("%s", l)
        result.status = status.SETUP
      end
    else
      learn.close(learn_files)
    end
  end
  if report_file then
    local ok, rerr = write_report(report_file, result)
    if not ok then log.error("--report: %s", rerr) end
  end
  return M.finish(result)
end

return M
