-- ai-strict: for running an untrusted agent. No network, a read-only system, writable /output
-- (on the host: $PURPLE_OUTPUT or /var/output/ai-strict) and private /tmp.
--
-- The directory purple is run from is visible read-only at the same path and is the working
-- directory, so `purple run --profile ai-strict -- python3 agent.py` finds agent.py -- unless it
-- lies under or above your home directory, /home, /root, /tmp, /usr, /etc, /dev or /proc (that
-- could hand the agent ~/.ssh, other users' files in /tmp and the rest): then nothing of it is
-- visible, the working directory is /tmp, and purple says so on stderr. To show such a directory,
-- name it: PURPLE_WORKSPACE=DIR is shown read-only at the same path and is the working directory
-- (it must not be / or hold your home directory, /home or /root).
-- ai-strict.yaml is this profile as seen from a hidden directory without PURPLE_WORKSPACE.
local purple = require "purple"
local ctx = ... or purple.context()

local function contains(dir, path)
  return dir == "/" or path == dir or path:sub(1, #dir + 1) == dir .. "/"
end

local immutable = {
  { host_path = "/usr", sandbox_path = "/usr" },
  { host_path = "/etc/alternatives", sandbox_path = "/etc/alternatives", optional = true },
  { host_path = "/etc/ld.so.cache", sandbox_path = "/etc/ld.so.cache", optional = true },
  { host_path = "/etc/localtime", sandbox_path = "/etc/localtime", optional = true },
}
local home = ctx.env.HOME
local working_dir = "/tmp"
local workspace = ctx.env.PURPLE_WORKSPACE
if workspace and workspace ~= "" then
  if workspace:sub(1, 1) ~= "/" then
    error(("workspace: %s: PURPLE_WORKSPACE must be an absolute path"):format(workspace), 0)
  end
  local real = purple.realpath(workspace)
  if not real then
    error(("workspace: PURPLE_WORKSPACE=%s: no such directory"):format(workspace), 0)
  end
  for _, danger in ipairs({ "/", home, "/home", "/root" }) do
    if danger and danger ~= "" and contains(real, danger) then
      error(("workspace: PURPLE_WORKSPACE=%s holds %s; name a project directory"):format(workspace, danger), 0)
    end
  end
  immutable[#immutable + 1] = { host_path = real, sandbox_path = real }
  working_dir = real
else
  local cwd = ctx.cwd
  local hidden_by
  for _, danger in ipairs({ "/", home, "/home", "/root", "/usr", "/etc", "/tmp", "/dev", "/proc" }) do
    if cwd and danger and danger ~= "" and not hidden_by
      and (contains(cwd, danger) or contains(danger, cwd) and danger ~= "/") then
      hidden_by = danger
    end
  end
  if cwd and not hidden_by then
    immutable[#immutable + 1] = { host_path = cwd, sandbox_path = cwd }
    working_dir = cwd
  elseif cwd and #ctx.argv > 0 then -- a run, not `purple profile show`
    local where = cwd == hidden_by and "is " .. hidden_by
      or contains(cwd, hidden_by) and "holds " .. hidden_by or "is under " .. hidden_by
    local fix = "run from a project directory"
    if not contains(cwd, home or "/") and not contains(cwd, "/home") and not contains(cwd, "/root") then
      fix = "to show it read-only, run with PURPLE_WORKSPACE=" .. cwd
    end
    purple.warn("ai-strict: the current directory %s is not visible in the sandbox (it %s) and the "
      .. "working directory is /tmp; %s", cwd, where, fix)
  end
end

return {
  name = "ai-strict",
  description = "Untrusted agents: no network, read-only system, writable /output and /tmp",
  filesystem = {
    immutable_paths = immutable,
    scratch_paths = { "/tmp" },
    output_paths = {
      { host_path = os.getenv("PURPLE_OUTPUT") or "/var/output/ai-strict", sandbox_path = "/output" },
    },
    working_dir = working_dir,
  },
  -- Everything a service process needs, nothing that administers the machine (purple syscalls
  -- @system-service lists it); other calls fail with EPERM and are reported.
  syscalls = { default_deny = true, allow = { "@system-service" } },
  -- A fork bomb stops at 4096 processes and no file grows past 4 GiB, with or without root (rlimits
  -- count per sandbox: each has its own user namespace). Memory and process limits need a cgroup:
  -- enforced as root or in a delegated cgroup; elsewhere (an ordinary user without delegation)
  -- purple warns on stderr, in the result and the audit log, and runs without them. A run ends
  -- after an hour (status 124).
  resources = {
    memory_limit_bytes = "2G",
    pids_limit = 1024,
    session_timeout_seconds = 3600,
    allow_unenforced = true,
    rlimits = { nproc = 4096, fsize = "4G" },
  },
  network = { isolated = true },
  capabilities = { default_drop = true, add = {} },
}
