-- Environment: a safe default (PATH, HOME, TERM, LANG) plus the policy's keep and set lists.
-- Nothing else of the caller's environment passes, so secrets such as AWS_SECRET_ACCESS_KEY or
-- SSH_AUTH_SOCK stay out unless a policy keeps them by name.
local M = {}

M.DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

local function glob_match(pattern, name)
  local lua_pat = "^" .. pattern:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
  return name:match(lua_pat) ~= nil
end

-- The caller's environment as a name → value table (Lua has no environ(): read our own), a new
-- table each time. /proc/self/environ is the environment the process started with, which nothing
-- in Lua can change: it is read and parsed once per process (the profile's context and prepare
-- both need it).
local host_env
function M.host_environment()
  if not host_env then
    local f = io.open("/proc/self/environ", "rb")
    if not f then return {} end
    local data = f:read("a")
    f:close()
    host_env = {}
    for entry in data:gmatch("([^%z]+)") do
      local k, v = entry:match("^([^=]+)=(.*)$")
      if k then host_env[k] = v end
    end
  end
  local env = {}
  for k, v in pairs(host_env) do env[k] = v end
  return env
end

function M.build(policy, host)
  local envp, fs = policy.environment, policy.filesystem -- normalised: every section is there
  local env = {
    PATH = M.DEFAULT_PATH,
    HOME = fs.working_dir or "/",
    TERM = host.TERM,
    LANG = host.LANG or "C.UTF-8",
  }
  for _, pattern in ipairs(envp.keep) do
    for k, v in pairs(host) do
      if glob_match(pattern, k) then env[k] = v end
    end
  end
  for k, v in pairs(envp.set) do env[k] = v end -- strings (schema type env_value)
  return env
end

-- What build() reads of the caller's environment: TERM, LANG and the keep list. Without a "*" in
-- the list these are a few getenv calls; reading and parsing /proc/self/environ (~0.3 ms the first
-- time) is left to a pattern, which must see every name.
local function host_for(policy)
  local keep = policy.environment.keep
  for _, pattern in ipairs(keep) do
    if pattern:find("*", 1, true) then return M.host_environment() end
  end
  local host = { TERM = os.getenv("TERM"), LANG = os.getenv("LANG") }
  for _, name in ipairs(keep) do host[name] = os.getenv(name) end
  return host
end

function M.prepare(run)
  local env = M.build(run.policy, host_for(run.policy))
  local list = {}
  for k, v in pairs(env) do list[#list + 1] = k .. "=" .. v end
  table.sort(list)
  run.spec.env = list
  run.spec.path = env.PATH
  run.env = env
  return true
end

return M
