-- Environment: a safe default (PATH, HOME, TERM, LANG) plus the policy's keep and set lists.
-- Nothing else of the caller's environment passes, so secrets such as AWS_SECRET_ACCESS_KEY or
-- SSH_AUTH_SOCK stay out unless a policy keeps them by name.
local M = {}

M.DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

local function glob_match(pattern, name)
  local lua_pat = "^" .. pattern:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
  return name:match(lua_pat) ~= nil
end

-- The caller's environment as a name → value table (Lua has no environ(): read our own).
function M.host_environment()
  local env = {}
  local f = io.open("/proc/self/environ", "rb")
  if f then
    local data = f:read("a")
    f:close()
    for entry in data:gmatch("([^%z]+)") do
      local k, v = entry:match("^([^=]+)=(.*)$")
      if k then env[k] = v end
    end
  end
  return env
end

function M.build(policy, host)
  local envp = policy.environment or {}
  local fs = policy.filesystem or {}
  local env = {
    PATH = M.DEFAULT_PATH,
    HOME = fs.working_dir or "/",
    TERM = host.TERM,
    LANG = host.LANG or "C.UTF-8",
  }
  for _, pattern in ipairs(envp.keep or {}) do
    for k, v in pairs(host) do
      if glob_match(pattern, k) then env[k] = v end
    end
  end
  for k, v in pairs(envp.set or {}) do env[k] = tostring(v) end
  return env
end

function M.prepare(run)
  local env = M.build(run.policy, M.host_environment())
  local list = {}
  for k, v in pairs(env) do list[#list + 1] = k .. "=" .. v end
  table.sort(list)
  run.spec.env = list
  run.spec.path = env.PATH
  run.env = env
  return true
end

return M
