-- purple.oci.hooks: runs one phase of config.json's hooks (prestart, createRuntime,
-- createContainer, startContainer, poststart, poststop) as the runtime-spec says: in order, each
-- with the container's state JSON on stdin, its env only (none given: an empty environment), its
-- args with args[0] as argv[0], killed after its timeout (seconds). A hook that fails or times out
-- fails the phase: run() returns nil, "hooks.PHASE[i]: PATH: why" and the caller stops (create,
-- start) or only reports it (poststart, poststop), as runc does.
--
-- run() runs a phase in the runtime's namespaces (prestart, createRuntime, poststart, poststop);
-- createContainer and startContainer run in the container's, from its init (csrc/oci_hooks.c), with
-- the same messages: M.for_init() checks them and gives their spawn spec form.
local core = require "purple.core"

local M = {}

M.PHASES = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" }
M.IN_CONTAINER = { createContainer = true, startContainer = true }

-- What is wrong with hook i (0-based) of phase before it runs: "hooks.PHASE[i]: PATH: why", or nil.
local function invalid(h, phase, i)
  local where = ("hooks.%s[%d]: %s"):format(phase, i, h.path)
  if h.path:sub(1, 1) ~= "/" then return where .. ": path must be absolute" end
  if h.timeout and h.timeout <= 0 then return where .. ": timeout must be above 0" end
  if h.timeout and h.timeout > 86400 then return where .. ": timeout must be at most 86400 (a day)" end
end

-- The hooks of phase (createContainer, startContainer) as the spawn spec takes them (create_hooks,
-- start_hooks): list, or nil, why. Whether the path is an executable file is init's to check: it
-- resolves where the hook runs.
function M.for_init(hooks, phase)
  local out = {}
  for i, h in ipairs(hooks and hooks[phase] or {}) do
    local bad = invalid(h, phase, i - 1)
    if bad then return nil, bad end
    out[i] = { path = h.path, args = h.args, env = h.env, timeout = h.timeout }
  end
  return out
end

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- run(hooks, phase, state_json) -> true | nil, err
function M.run(hooks, phase, state_json)
  local list = hooks and hooks[phase] or {}
  for i, h in ipairs(list) do
    local where = ("hooks.%s[%d]: %s"):format(phase, i - 1, h.path)
    local bad = invalid(h, phase, i - 1)
    if bad then return nil, bad end
    if not core.access(h.path, "x") then return nil, where .. ": not an executable file" end
    local state = os.tmpname()
    local f = assert(io.open(state, "w"))
    f:write(state_json)
    f:close()
    local args = h.args or { h.path }
    local words = { "exec" }
    if h.timeout then words[#words + 1] = "timeout -s KILL " .. h.timeout end
    words[#words + 1] = "env -i"
    for _, e in ipairs(h.env or {}) do words[#words + 1] = q(e) end
    -- bash's exec -a keeps the hook's args[0] as its argv[0]
    words[#words + 1] = "/bin/bash -c 'exec -a \"$0\" \"$@\"'"
    words[#words + 1] = q(args[1] or h.path)
    words[#words + 1] = q(h.path)
    for j = 2, #args do words[#words + 1] = q(args[j]) end
    words[#words + 1] = "<" .. q(state)
    local started = core.monotonic()
    local ok, how, code = os.execute(table.concat(words, " "))
    os.remove(state)
    if not ok then
      -- timeout(1) kills the hook with SIGKILL and then itself with the same signal
      if h.timeout and how == "signal" and code == 9 and core.monotonic() - started >= h.timeout then
        return nil, ("%s: timed out after %ds"):format(where, h.timeout)
      end
      return nil, ("%s: %s %d"):format(where, how == "signal" and "killed by signal" or "exit status", code)
    end
  end
  return true
end

return M
