-- The policy schema: every field a policy may have, in ONE data table. policy.lua validates and
-- normalises against it, show.lua prints in its order, docs/policy.md and purple-policy(5) describe it.
--
-- A field is { "key", TYPE, default = value, min = number, required = true, default_from = "key" }
-- (default_from: in a list entry, the default is the value of that other key), where TYPE is
--   a scalar type name checked by policy.TYPES ("string", "boolean", "path", "size", "rate", "cpu",
--     "count", "seconds", "seconds0", "port", "syscall", "capability", "hostname", "env_pattern",
--     "env_value", "id", "mode", "rlimit")
--   { kind = "map", fields = { field... } }          a section; unknown keys are errors
--   { kind = "list", item = TYPE, identity = "key" }  a list; identity names the key that identifies
--                                                     a map entry when profiles are merged
--   { kind = "dict", key = TYPE, value = TYPE }      free keys of one type (environment.set)
--   { kind = "enum", values = { ... } }              one of a fixed set of strings
-- A map node with `from_string = "key"` also accepts a bare string, meaning { key = that string }.
-- Other engineers add their fields here with one line each (and document them in docs/policy.md).
local M = {}

local function map(fields, from_string) return { kind = "map", fields = fields, from_string = from_string } end
local function list(item, identity) return { kind = "list", item = item, identity = identity } end

M.DETAIL_LEVELS = { "syscall", "filesystem", "resource", "network" }

-- Names of the guide's example that are not syscalls, mapped to the syscall they mean.
M.SYSCALL_ALIASES = { unmount = "umount2", umount = "umount2" }

M.root = map {
  { "name", "string", default = "unnamed" },
  { "description", "string", default = "" },
  { "hostname", "hostname", default = "purple" },
  { "filesystem", map {
    { "immutable_paths", list(map {
      { "host_path", "path", required = true },
      { "sandbox_path", "path", default_from = "host_path" },
      { "optional", "boolean", default = false },
    }, "sandbox_path") },
    { "scratch_paths", list(map({
      { "path", "path", required = true },
      { "size", "size", default = 256 * 1024 * 1024, min = 4096 },
      { "mode", "mode" },
    }, "path"), "path") },
    { "output_paths", list(map {
      { "host_path", "path", required = true },
      { "sandbox_path", "path", default_from = "host_path" },
      { "idmap", "boolean" }, -- absent = false: the host path's owner appears as the sandbox's user
    }, "sandbox_path") },
    { "working_dir", "path" },
  } },
  { "syscalls", map {
    { "default_deny", "boolean", default = false },
    { "allow", list("syscall") },
    { "deny", list("syscall") },
    { "action", { kind = "enum", values = { "errno", "kill", "log" } }, default = "errno" }, -- docs/privileges.md
    { "hardening", "boolean", default = true },
  } },
  { "resources", map {
    { "cpu_shares", "cpu" },
    { "memory_limit_bytes", "size", min = 1024 * 1024 },
    { "pids_limit", "count" },
    { "block_io_limit", "rate", min = 1 },
    { "session_timeout_seconds", "seconds" },
    { "grace_seconds", "seconds0", default = 2 },
    { "rlimits", map {
      { "as", "size" }, { "core", "size" }, { "cpu", "rlimit" }, { "data", "size" },
      { "fsize", "size" }, { "memlock", "size" }, { "nofile", "rlimit" }, { "nproc", "rlimit" },
      { "stack", "size" }, { "msgqueue", "size" }, { "sigpending", "rlimit" },
    } },
    { "allow_unenforced", "boolean", default = false },
  } },
  { "capabilities", map {
    { "default_drop", "boolean", default = true },
    { "add", list("capability") },
  } },
  { "network", map {
    { "isolated", "boolean", default = true },
    { "allow_outgoing", list("port") },
    { "allow_incoming", list("port") },
    { "allow_domains", list("domain") },   -- egress through purple's proxy (docs/network.md)
    { "allow_ports", list("tcp_port") },   -- ports the proxy may connect to; empty = 443 and 80
    { "allow_internal", list("cidr") },    -- private/loopback/metadata space allowed names may resolve to
  } },
  { "audit", map {
    { "enabled", "boolean", default = false },
    { "log_path", "path" },
    { "detail_level", list({ kind = "enum", values = M.DETAIL_LEVELS }) },
  } },
  { "environment", map {
    { "keep", list("env_pattern") },
    { "set", { kind = "dict", key = "env_name", value = "env_value" } },
  } },
  { "user", map {
    { "uid", "id", default = 65534 },
    { "gid", "id", default = 65534 },
  } },
}

-- Keys a profile may have that are not part of the normalised policy.
M.DIRECTIVES = { extends = true, source = true }

-- The field entry for key in a map node, or nil.
function M.field(node, key)
  if not node.index then
    node.index = {}
    for _, f in ipairs(node.fields) do node.index[f[1]] = f end
  end
  return node.index[key]
end

return M
