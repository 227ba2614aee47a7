-- purple-lua SCRIPT [ARG...] [-- CMD [ARG...]]: runs a Lua script with purple preloaded as the
-- global `purple`. The script gets what `purple run --profile SCRIPT -- CMD` gives a profile
-- script, the profile context, as `...` (its ARGs follow it), and purple.yaml / purple.extend
-- load with that context too; so a profile script runs the same way under both. A script that
-- returns a policy and ran nothing itself has CMD run under that policy.
local log = require "purple.log"
local run = require "purple.cli.run"
local status = require "purple.status"

local M = {}

local function die(msg)
  io.stderr:write("purple: ", (tostring(msg):gsub("\n", "\npurple: ")), "\n")
  return status.SETUP
end

-- arg as lua.c builds it: arg[0] the script, arg[1..] its ARGs, the launcher and its options at
-- negative indices. launcher_arg is the launcher's arg; the script is its element at.
local function script_arg(launcher_arg, at, script_args)
  local t = {}
  for i = 0, at do t[i - at] = launcher_arg[i] end
  for i, a in ipairs(script_args) do t[i] = a end
  return t
end

-- run(script, script_args, command, launcher_arg, at) -> exit status
function M.run(script, script_args, command, launcher_arg, at)
  local purple = require "purple"
  purple.command = command
  _G.purple = purple
  _G.arg = script_arg(launcher_arg, at, script_args)
  local chunk, lerr = loadfile(script)
  if not chunk then return die(lerr) end
  local ctx = run.context(command)
  local ran = false
  local real_exec = purple.exec
  purple.exec = function(...)
    ran = true
    return real_exec(...)
  end
  -- the traceback only with -l debug: an error is one line, as from a profile script
  local handler = log.enabled("debug") and debug.traceback or function(e) return e end
  local ok, ret = require("purple.profiles").with_context(ctx, script, xpcall, chunk, handler, ctx,
    table.unpack(script_args))
  if not ok then return die(tostring(ret)) end
  if math.type(ret) == "integer" then return ret end
  if type(ret) == "table" and ret.status and ret.argv then return ret.status end
  if type(ret) == "table" and not ran then
    if not command or #command == 0 or command[1] == "" then return die("command: empty (give the command after --)") end
    local policy, perr = require("purple.profiles").from_table(ret, script, ctx)
    if not policy then return die(perr) end
    return run.finish(real_exec(policy, command))
  end
  return 0
end

return M
