-- purple.oci.hooks: runs one phase of config.json's hooks (prestart, createRuntime,
-- createContainer, startContainer, poststart, poststop) as the runtime-spec says: in order, each
-- with the container's state JSON on stdin, its env only (none given: an empty environment), its
-- args with args[0] as argv[0], killed after its timeout (seconds). A hook that fails or times out
-- fails the phase: run() returns nil, "hooks.PHASE[i]: PATH: why" and the caller stops (create,
-- start) or only reports it (poststart, poststop), as runc does.
--
-- Which namespace a hook runs in is the caller's part: every phase runs in the runtime's
-- namespaces here (createContainer and startContainer run in the container's under runc;
-- purple-oci documents the difference).
local core = require "purple.core"

local M = {}

M.PHASES = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" }

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- run(hooks, phase, state_json) -> true | nil, err
function M.run(hooks, phase, state_json)
  local list = hooks and hooks[phase] or {}
  for i, h in ipairs(list) do
    local where = ("hooks.%s[%d]: %s"):format(phase, i - 1, h.path)
    if h.path:sub(1, 1) ~= "/" then return nil, where .. ": path must be absolute" end
    if not core.access(h.path, "x") then return nil, where .. ": not an executable file" end
    local state = os.tmpname()
    local f = assert(io.open(state, "w"))
    f:write(state_json)
    f:close()
    local args = h.args or { h.path }
    local words = { "exec" }
    if h.timeout then
      if h.timeout <= 0 then os.remove(state) return nil, where .. ": timeout must be above 0" end
      words[#words + 1] = "timeout -s KILL " .. h.timeout
    end
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
