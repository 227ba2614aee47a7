-- TEMPORARY (h-oci-run): the smallest config.json translation the lifecycle needs until
-- purple.oci.config (h-oci-config) lands; deleted then. Same interface: load(bundle), plan(spec, opts).
local core = require "purple.core"
local json = require "purple.json"

local M = {}

function M.load(bundle)
  local f, err = io.open(bundle .. "/config.json")
  if not f then return nil, "config.json: " .. err end
  local text = f:read("a")
  f:close()
  local spec, jerr = json.decode(text)
  if type(spec) ~= "table" then return nil, "config.json: " .. tostring(jerr or "not an object") end
  if type(spec.ociVersion) ~= "string" then return nil, "config.json: ociVersion: missing" end
  spec.bundle = bundle
  return spec
end

local NS = { pid = "pid", network = "net", ipc = "ipc", uts = "uts", mount = "mount", user = "user", cgroup = "cgroup" }

function M.plan(spec, opts)
  if opts and opts.profile then return nil, "annotations.purple.profile: not supported yet" end
  local p = spec.process or {}
  local root = spec.root.path
  if root:sub(1, 1) ~= "/" then root = spec.bundle .. "/" .. root end
  local ns = {}
  for _, n in ipairs(spec.linux and spec.linux.namespaces or {}) do
    if n.path then return nil, "config.json: linux.namespaces: path not supported yet" end
    ns[#ns + 1] = NS[n.type]
  end
  if not spec.linux.uidMappings then
    ns[#ns + 1] = "user" -- purple drops capabilities inside a user namespace (root here lacks some)
  end
  local mounts = {}
  for _, name in ipairs(core.readdir(root) or {}) do
    if name ~= "proc" and name ~= "dev" and name ~= "sys" and name ~= "tmp" then
      mounts[#mounts + 1] = { type = "bind", source = root .. "/" .. name, target = "/" .. name,
        readonly = spec.root.readonly or false }
    end
  end
  mounts[#mounts + 1] = { type = "proc", target = "/proc" }
  mounts[#mounts + 1] = { type = "dev", target = "/dev" }
  mounts[#mounts + 1] = { type = "tmpfs", target = "/tmp" }
  local function map(list, default)
    if not list then return default end
    local out = {}
    for _, m in ipairs(list) do out[#out + 1] = ("%d %d %d"):format(m.containerID, m.hostID, m.size) end
    return table.concat(out, "\n")
  end
  local s = {
    argv = p.args, env = p.env, cwd = p.cwd, namespaces = table.concat(ns, ","),
    uid = p.user and p.user.uid or 0, gid = p.user and p.user.gid or 0,
    hostname = spec.hostname, mounts = mounts, drop_caps = false, no_new_privs = p.noNewPrivileges or false,
    setgroups = spec.linux.uidMappings and "deny" or "clear", uid_map = map(spec.linux.uidMappings, "0 0 4294967295"), gid_map = map(spec.linux.gidMappings, "0 0 4294967295"),
  }
  return { spec = s, terminal = p.terminal or false,
    console_size = p.consoleSize, annotations = spec.annotations or {} }
end

return M
