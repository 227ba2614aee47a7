-- ai-dev-safe: for an agent that develops software. python3, node, git, sh, make and gcc work;
-- there is no network; the system is read-only; one workspace is writable.
--
-- The workspace is $PURPLE_WORKSPACE, else the current directory, bound read-write at /workspace
-- (the command's working directory). It must not be /, your home directory or one of its
-- ancestors: those would hand the agent ~/.ssh and everything else. HOME is a private, empty
-- /home/agent (scratch, like /tmp), so tools' caches and dotfiles vanish after the run.
--
-- Identity: run by root, the command runs as the workspace's owner when that is not root (so it
-- can write there), else as 65534 through an idmapped bind (filesystem.output_paths[].idmap): the
-- root-owned workspace appears as the sandbox user's, and what it creates there belongs to root on
-- the host. A missing workspace is created for 65534. Run by an ordinary user, it runs as that user.
local purple = require "purple"
local ctx = ... or purple.context()

local workspace = ctx.env.PURPLE_WORKSPACE
if not workspace or workspace == "" then workspace = ctx.cwd end
if workspace:sub(1, 1) ~= "/" then
  error(("workspace: %s: PURPLE_WORKSPACE must be an absolute path"):format(workspace), 0)
end
workspace = purple.realpath(workspace) or workspace -- a missing one is created by purple

local function contains(dir, path)
  return dir == "/" or path == dir or path:sub(1, #dir + 1) == dir .. "/"
end
local home = ctx.env.HOME
for _, danger in ipairs({ "/", home, "/root", "/home" }) do
  if danger and danger ~= "" and contains(workspace, danger) then
    error(("workspace: %s contains %s; run from a project directory or set PURPLE_WORKSPACE"):format(
      workspace, danger), 0)
  end
end

local user, idmap
local st = purple.stat(workspace)
if st and st.uid ~= 0 then user = { uid = st.uid, gid = st.gid } end
if st and st.uid == 0 and ctx.uid == 0 then idmap = true end

-- /etc pieces the tools read: the loader cache, the alternatives links (cc, awk, editor, ...),
-- timezone, TLS roots (pip, git and npm verify even offline), and git's system config.
local etc = { "alternatives", "ld.so.cache", "localtime", "ssl", "ca-certificates", "gitconfig", "nsswitch.conf",
  "mime.types", "python3", "python3.11", "perl" }
local immutable = { { host_path = "/usr", sandbox_path = "/usr" } }
for _, e in ipairs(etc) do
  immutable[#immutable + 1] = { host_path = "/etc/" .. e, sandbox_path = "/etc/" .. e, optional = true }
end

return {
  name = "ai-dev-safe",
  description = "Coding agents: python3, node, git, sh, make, gcc; no network; writable /workspace",
  user = user,
  filesystem = {
    immutable_paths = immutable,
    scratch_paths = { "/tmp", { path = "/home/agent", mode = "0700" } },
    output_paths = { { host_path = workspace, sandbox_path = "/workspace", idmap = idmap } },
    working_dir = "/workspace",
  },
  environment = {
    keep = { "TERM", "LANG", "LC_*", "TZ" },
    set = { HOME = "/home/agent", TMPDIR = "/tmp", PYTHONDONTWRITEBYTECODE = "1" },
  },
  -- Ordinary development needs almost every call; what administers the machine is denied.
  syscalls = {
    default_deny = false,
    deny = { "@clock", "@swap", "@reboot", "@raw-io", "@module", "@privileged", "@debug", "@mount" },
  },
  -- A fork bomb stops at 4096 processes and no file grows past 4 GiB, with or without root (rlimits
  -- count per sandbox: each has its own user namespace). Memory needs a cgroup: add
  -- resources.memory_limit_bytes when running as root or in a delegated cgroup.
  resources = { rlimits = { nproc = 4096, fsize = "4G" } },
  network = { isolated = true },
  capabilities = { default_drop = true, add = {} },
}
