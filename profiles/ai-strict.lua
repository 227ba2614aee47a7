-- ai-strict: for running an untrusted agent. No network, a read-only system, writable /output
-- (on the host: $PURPLE_OUTPUT or /var/output/ai-strict) and private /tmp.
--
-- The directory purple is run from is visible read-only at the same path and is the working
-- directory, so `purple run --profile ai-strict -- python3 agent.py` finds agent.py -- unless it
-- is /, your home directory, /home, /root or one of their ancestors (that would hand the agent
-- ~/.ssh and the rest): then nothing of it is visible and the working directory is /tmp.
-- ai-strict.yaml is this profile as seen from such a directory.
local core = require "purple.core"

local function contains(dir, path)
  return dir == "/" or path == dir or path:sub(1, #dir + 1) == dir .. "/"
end

local immutable = {
  { host_path = "/usr", sandbox_path = "/usr" },
  { host_path = "/etc/alternatives", sandbox_path = "/etc/alternatives", optional = true },
  { host_path = "/etc/ld.so.cache", sandbox_path = "/etc/ld.so.cache", optional = true },
  { host_path = "/etc/localtime", sandbox_path = "/etc/localtime", optional = true },
}
local working_dir = "/tmp"
local cwd = core.realpath(".")
local safe = cwd ~= nil
for _, danger in ipairs({ "/", os.getenv("HOME"), "/home", "/root", "/usr", "/etc", "/tmp", "/dev", "/proc" }) do
  if cwd and danger and danger ~= "" and (contains(cwd, danger) or contains(danger, cwd) and danger ~= "/") then
    safe = false
  end
end
if safe then
  immutable[#immutable + 1] = { host_path = cwd, sandbox_path = cwd }
  working_dir = cwd
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
