-- purple mcp --profile NAME --workspace DIR [--max-output BYTES] [--timeout SECONDS]
--   [--session-timeout SECONDS] [--max-message BYTES]
-- A Model Context Protocol server on stdin/stdout whose tools run inside one purple session
-- (lua/purple/mcp/, docs/mcp.md). The profile is loaded as for purple run, with PURPLE_WORKSPACE
-- and the current directory of its context set to the workspace; it must then bind the workspace.
local args = require "purple.cli.args"

local M = {}

local function bytes(option)
  return function(s)
    local n = math.tointeger(tonumber(s))
    if n and n > 0 then return n end
    return nil, ("%s: expected a positive number of bytes"):format(option)
  end
end

function M.parser()
  local p = args.parser("purple mcp", "A Model Context Protocol server (stdio) giving an agent a shell and files "
    .. "inside one purple session (docs/mcp.md).")
  p:option("-p --profile", "The profile: a name or a file."):argname("NAME"):count(1)
  p:option("-w --workspace", "The project directory the profile binds (its PURPLE_WORKSPACE)."):argname("DIR")
    :count(1)
  p:option("--max-output", "Bytes of stdout and of stderr a command result keeps.")
    :argname("BYTES"):convert(bytes("--max-output")):default("262144")
  p:option("--timeout", "Default timeout of a command (the run tool's timeout overrides it).")
    :argname("SECONDS"):convert(args.seconds("--timeout", false, 4000000)):default("600")
  p:option("--session-timeout", "Override resources.session_timeout_seconds of the session.")
    :argname("SECONDS"):convert(args.seconds("--session-timeout"))
  p:option("--max-message", "Bytes of one JSON-RPC message.")
    :argname("BYTES"):convert(bytes("--max-message")):default("8388608")
  return p
end

local function die(msg)
  io.stderr:write("purple: mcp: ", msg, "\n")
  return 125
end

-- The host paths a policy binds, for the check that the workspace is one of them.
local function binds(policy, path)
  local fs = policy.filesystem or {}
  for _, list in ipairs({ fs.output_paths or {}, fs.immutable_paths or {} }) do
    for _, b in ipairs(list) do
      if b.host_path == path then return b.sandbox_path or b.host_path end
    end
  end
end

function M.run(opts)
  local core = require "purple.core"
  local ws = opts.workspace
  if ws:sub(1, 1) ~= "/" then ws = (core.realpath(".") or "") .. "/" .. ws end
  local real = core.realpath(ws)
  if not real then return die(("--workspace %s: no such directory"):format(opts.workspace)) end
  local st = core.stat(real)
  if not st or st.type ~= "directory" then return die(("--workspace %s: not a directory"):format(opts.workspace)) end
  local env = require("purple.enforce.environment").host_environment()
  env.PURPLE_WORKSPACE = real
  local purple = require "purple"
  local policy, err = purple.profile(opts.profile, purple.context({ cwd = real, env = env }))
  if not policy then return die(err) end
  local at = binds(policy, real)
  if not at then
    return die(("--workspace %s: the profile %s does not bind it (it takes its workspace from PURPLE_WORKSPACE or "
      .. "the current directory); use a profile that does"):format(real, policy.name or opts.profile))
  end
  local profile = policy.name or opts.profile
  local sandbox = require("purple.mcp.sandbox").new(policy, { timeout = opts.session_timeout })
  return require("purple.mcp.server").serve(sandbox, {
    profile = profile, max_output = opts.max_output, timeout = opts.timeout, max_message = opts.max_message,
    instructions = ("Tools run inside a purple sandbox (profile %s). The workspace is %s inside the sandbox; "
      .. "other paths follow the policy (read-only system, scratch /tmp). Files persist until reset.")
      :format(profile, at),
  })
end

return M
