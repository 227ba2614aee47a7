-- purple.cli.args: every purple command parses its arguments with Debian's lua-argparse, set up here
-- the same way for all of them: -h/--help prints that command's help on stdout (status 0); a usage
-- error is one line, "purple: CMD: what (see purple CMD --help)" (status 125). argparse's own help
-- and error paths call os.exit; these return the status instead, which cli.main hands to the
-- launcher as the exit status.
local argparse = require "argparse"
local status = require "purple.status"

local M = {}

local help_seen -- set by -h/--help while a parse runs (it still fails later on what is missing)
-- What argparse keeps to itself: parser -> its subcommands by name; parser -> { prog = "purple
-- profile show", prefix = "profile show: " } for its usage errors.
local commands, names = setmetatable({}, { __mode = "k" }), setmetatable({}, { __mode = "k" })

local function setup(p)
  p:add_help(false)
  p:help_max_width(100)
  p:help_description_margin(28)
  p:flag("-h --help", "Show this help and exit."):action(function() help_seen = true end)
  return p
end

-- parser(name, description) -> an argparse parser for the command `name`: "purple", "purple-lua",
-- "purple run".
function M.parser(name, description)
  local p = argparse(name, description)
  local sub = name:match("^%S+ (.*)$")
  names[p] = { prog = name, prefix = sub and (sub .. ": ") or "" }
  return setup(p)
end

-- command(parent, name, summary [, description]) -> a subcommand of parent (purple profile show).
function M.command(parent, name, summary, description)
  local c = parent:command(name, description or summary):summary(summary)
  commands[parent] = commands[parent] or {}
  commands[parent][name] = c
  table.insert(commands[parent], name)
  local prog = names[parent].prog .. " " .. name
  names[c] = { prog = prog, prefix = prog:match("^%S+ (.*)$") .. ": " }
  return setup(c)
end

-- The parser of the (sub)command args name: argparse reports neither which one failed nor which
-- one's help was asked for. A group has subcommands only, so its first match is the subcommand.
function M.subcommand(p, args)
  for _, a in ipairs(args) do
    local sub = commands[p] and commands[p][a]
    if sub then p = sub end
  end
  return p
end

-- usage_error(p, message) -> 125, after the one line on stderr.
function M.usage_error(p, message)
  local name = names[p]
  -- argparse puts its "Did you mean" tip on a second line
  message = message:gsub("\n(%u)", function(c) return "; " .. c:lower() end)
  io.stderr:write(("purple: %s%s (see %s --help)\n"):format(name.prefix, message, name.prog))
  return status.SETUP
end

-- help(p) -> 0, after p's help on stdout.
function M.help(p)
  io.stdout:write(p:get_help(), "\n")
  return 0
end

-- argparse takes "-1" for an option even as an option's value: "--timeout -1" is given to it as
-- "--timeout=-1", so the value gets its own check (the next argument is the value, as getopt has it).
local function join_negative_values(list)
  local out = {}
  for i, a in ipairs(list) do
    if a == "--" then return table.move(list, i, #list, #out + 1, out) end
    local prev = out[#out]
    if tonumber(a) and a:sub(1, 1) == "-" and prev and prev:match("^%-%-[^=]+$") then
      out[#out] = prev .. "=" .. a
    else
      out[#out + 1] = a
    end
  end
  return out
end

-- parse(p, args) -> the options table | nil, status (the help was printed, or the usage error).
function M.parse(p, args)
  help_seen = false
  local ok, result = p:pparse(join_negative_values(args))
  local sub = M.subcommand(p, args)
  if help_seen then return nil, M.help(sub) end
  if not ok then
    -- a group without its subcommand: name them
    if result == "a command is required" and commands[sub] then
      result = "expected a command: " .. table.concat(commands[sub], ", ")
    end
    return nil, M.usage_error(sub, result)
  end
  return result
end

-- seconds(option [, zero_ok [, below]]) -> a converter for :convert(): a finite number of seconds,
-- > 0 (>= 0 with zero_ok), less than below when given.
function M.seconds(option, zero_ok, below)
  return function(s)
    local n = tonumber(s)
    if n and (n > 0 or zero_ok and n == 0) and n ~= math.huge and (not below or n < below) then return n end
    return nil, ("%s: expected a %snumber of seconds%s"):format(option, zero_ok and "" or "positive ",
      below and (" below %d"):format(below) or "")
  end
end

return M
