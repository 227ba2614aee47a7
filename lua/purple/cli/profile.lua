-- purple profile list | show NAME [--format yaml|lua|json] | check FILE...
local status = require "purple.status"

local USAGE = "profile: expected list, show NAME [--format yaml|lua|json] or check FILE..."

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

local function show(args, first)
  local name, format
  local i = first
  while i <= #args do
    local a = args[i]
    if a == "--format" or a == "-f" then
      format = args[i + 1]
      if not format then return fail("profile show: --format needs yaml, lua or json") end
      i = i + 2
    elseif a:match("^%-%-format=") then
      format = a:match("=(.*)"); i = i + 1
    elseif a:sub(1, 1) == "-" then
      return fail(("profile show: unknown option '%s'"):format(a))
    elseif name then
      return fail("profile show: one profile at a time")
    else
      name = a; i = i + 1
    end
  end
  if not name then return fail("profile show: NAME is required") end
  local show_mod = require "purple.show"
  format = format or "yaml"
  if not show_mod[format] or format == "FORMATS" then
    return fail(("profile show: --format %s: expected yaml, lua or json"):format(format))
  end
  local profiles = require "purple.profiles"
  local policy, err = profiles.load(name, profiles.context({ argv = {} }))
  if not policy then return fail(err) end
  io.stdout:write(show_mod[format](policy))
  return 0
end

-- Every file is checked; every error printed (without the "purple: " prefix: these are reports,
-- not failures of purple). Exit 0 when all are valid, 1 otherwise.
local function check(args, first)
  if not args[first] then return fail("profile check: FILE... is required") end
  local profiles = require "purple.profiles"
  local bad = 0
  for i = first, #args do
    local p, err = profiles.load(args[i], profiles.context({ argv = {} }))
    if p then
      io.stdout:write(("%s: ok (%s)\n"):format(args[i], p.name))
    else
      bad = bad + 1
      io.stderr:write(err, "\n")
    end
  end
  return bad == 0 and 0 or 1
end

return function(args, first)
  local sub = args[first]
  if sub == "list" then return list() end
  if sub == "show" then return show(args, first + 1) end
  if sub == "check" then return check(args, first + 1) end
  return fail(sub and ("profile: unknown subcommand '%s' (list, show, check)"):format(sub) or USAGE)
end
