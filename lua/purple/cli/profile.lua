-- purple profile list | show NAME [--format yaml|lua|json] | check FILE...
local args = require "purple.cli.args"
local status = require "purple.status"

local M = {}

function M.parser()
  local p = args.parser("purple profile", "Lists, prints and checks profiles. A NAME is looked up in the profile "
    .. "search path (profiles/ of the source tree, ~/.config/purple/profiles, /etc/purple/profiles, "
    .. "$(PREFIX)/share/purple/profiles); a name with / or a .lua/.yaml suffix is a file.")
  p:command_target("subcommand")
  args.command(p, "list", "List the profiles purple can find: name, description, file.")
  local show = args.command(p, "show", "Print the effective policy of a profile.")
  show:argument("NAME", "The profile: a name or a file."):target("name")
  show:option("-f --format", "yaml (default), lua or json; the yaml and lua forms load again as profiles.")
    :argname("FORMAT")
  local check = args.command(p, "check", "Validate policy files and report every error, one line each; "
    .. "exit 1 when any is invalid.")
  check:argument("FILE", "A policy file or profile name."):args("+"):target("files")
  return p
end

local function fail(msg)
  io.stderr:write("purple: ", (msg:gsub("\n", "\npurple: ")), "\n")
  return status.SETUP
end

local function list()
  for _, p in ipairs(require("purple.profiles").list()) do
    io.stdout:write(("%-20s %-60s %s\n"):format(p.name, p.description or "", p.path))
  end
  return 0
end

local function show(opts)
  local show_mod = require "purple.cli.show"
  local format = opts.format or "yaml"
  if not show_mod[format] or format == "FORMATS" then
    return args.usage_error(args.subcommand(M.parser(), { "show" }),
      ("--format %s: expected yaml, lua or json"):format(format))
  end
  local profiles = require "purple.profiles"
  local policy, err = profiles.load(opts.name, profiles.context({ argv = {} }))
  if not policy then return fail(err) end
  io.stdout:write(show_mod[format](policy))
  return 0
end

-- Every file is checked; every error printed (without the "purple: " prefix: these are reports,
-- not failures of purple). Exit 0 when all are valid, 1 otherwise.
local function check(files)
  local profiles = require "purple.profiles"
  local bad = 0
  for _, f in ipairs(files) do
    local p, err = profiles.load(f, profiles.context({ argv = {} }))
    if p then
      io.stdout:write(("%s: ok (%s)\n"):format(f, p.name))
    else
      bad = bad + 1
      io.stderr:write(err, "\n")
    end
  end
  return bad == 0 and 0 or 1
end

function M.run(opts)
  if opts.subcommand == "list" then return list() end
  if opts.subcommand == "show" then return show(opts) end
  return check(opts.files)
end

return M
