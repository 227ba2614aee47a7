-- purple.oci.config: an OCI bundle's config.json → the spawn spec purple's core runs.
--
--   load(bundle_dir) -> spec | nil, "config.json: <json path>: why"
--       reads and validates config.json (purple.oci.schema); spec.warnings lists ignored extension
--       properties.
--   decode(text, bundle_dir) -> the same, from config.json's text (load's parser; fuzz_oci_config)
--   plan(spec, { profile = <normalised purple policy> | nil, bundle = dir, uid = invoker uid })
--       -> plan | nil, "config.json: <json path>: why"
--     plan = { spec = <table for core.spawn>, terminal = bool, console_size = {height, width} | nil,
--              timeout = the profile's session_timeout_seconds | nil,
--              cgroup = { path, resources } | nil (purple.oci.cgroup applies it),
--              hooks = { prestart = {...}, ... } (purple.oci.hooks runs them), annotations = {},
--              warnings = { ... } }
--
-- What a property becomes is written beside its translation below; docs/oci-config.md has the table.
local core = require "purple.core"
local files = require "purple.files"
local runtime = require "purple.runtime"
local json = require "purple.json"
local schema = require "purple.oci.schema"
local oci_seccomp = require "purple.oci.seccomp"
local layer = require "purple.oci.layer"

local M = {}

local function fail(path, why)
  return nil, ("config.json: %s: %s"):format(path, why)
end

function M.load(bundle)
  local path = bundle .. "/config.json"
  local f, err = io.open(path, "rb")
  if not f then return nil, ("config.json: cannot read %s: %s"):format(path, err) end
  local text = f:read("a")
  f:close()
  return M.decode(text, bundle)
end

function M.decode(text, bundle)
  local doc, jerr = json.decode(text)
  if not doc then return nil, "config.json: " .. jerr end
  local warnings, verr = schema.validate(doc, json.null)
  if not warnings then return nil, "config.json: " .. verr end
  -- JSON null reads as absent (the runtime-spec has no property whose null means something)
  local function strip(t)
    for k, x in pairs(t) do
      if x == json.null then t[k] = nil elseif type(x) == "table" then strip(x) end
    end
  end
  strip(doc)
  doc.warnings = warnings
  doc.bundle = bundle
  return doc
end

-- JSON null reads as absent.
local function v(x)
  if x == json.null then return nil end
  return x
end

-- OCI namespace type → purple's name.
local NS = { pid = "pid", network = "net", mount = "mount", ipc = "ipc", uts = "uts", user = "user",
  cgroup = "cgroup" }
local JOINABLE = { network = "net", ipc = "ipc", uts = "uts", pid = "pid", cgroup = "cgroup" }

-- Does this process hold capability number bit (effective) in its own user namespace?
local function has_cap(bit)
  local f = io.open("/proc/self/status")
  if not f then return false end
  local text = f:read("a")
  f:close()
  local eff = text:match("\nCapEff:%s*(%x+)")
  return eff ~= nil and ((tonumber(eff:sub(-8), 16) or 0) >> bit) & 1 == 1
end
local CAP_SYS_ADMIN, CAP_SYS_RESOURCE = 21, 24

local function namespaces(linux, plan)
  local names, seen = {}, {}
  for i, ns in ipairs(v(linux.namespaces) or {}) do
    local p = ("linux.namespaces[%d]"):format(i - 1)
    if ns.type == "time" then return fail(p .. ".type", "time namespaces are not supported by purple-oci") end
    if not NS[ns.type] then return fail(p .. ".type", ("unknown namespace type %q"):format(ns.type)) end
    if seen[ns.type] then return fail(p .. ".type", ("%s is listed twice"):format(ns.type)) end
    seen[ns.type] = true
    local path = v(ns.path)
    if path and path ~= "" then
      -- a user namespace join would need its id mappings worked out (whose ids the container's are)
      if not JOINABLE[ns.type] then
        return fail(p .. ".path", ("joining a %s namespace is not supported by purple-oci (network, ipc, uts, "
          .. "pid and cgroup can be joined)"):format(ns.type))
      end
      -- the namespace's type and that it is not purple-oci's own pid or cgroup namespace are checked on the
      -- opened file, just before the join (csrc/container.c)
      plan.joins[#plan.joins + 1] = { type = JOINABLE[ns.type], path = path, field = p .. ".path" }
    else
      names[#names + 1] = NS[ns.type]
    end
  end
  -- purple's init is pid 1 of the container (or a subreaper in a pid namespace joined by path, never the
  -- runtime's own) and builds its root in a private mount namespace
  if not seen.pid then
    return fail("linux.namespaces", "purple-oci needs a pid namespace other than its own (its init is the "
      .. 'container\'s pid 1); add {"type": "pid"}')
  end
  if not seen.mount then
    return fail("linux.namespaces", 'purple-oci needs a new mount namespace; add {"type": "mount"}')
  end
  return names
end

local function id_map(list)
  local lines = {}
  for _, m in ipairs(list or {}) do
    lines[#lines + 1] = ("%d %d %d"):format(m.containerID, m.hostID, m.size)
  end
  return #lines > 0 and table.concat(lines, "\n") .. "\n" or nil
end

-- Mount options purple's mounts honour, and what each sets.
local FLAG = {
  ro = { readonly = true }, rw = { readonly = false },
  nosuid = { nosuid = true }, suid = { nosuid = false },
  nodev = { nodev = true }, dev = { nodev = false },
  noexec = { noexec = true }, exec = { noexec = false },
  bind = { bind = "bind" }, rbind = { bind = "rbind" },
  -- propagation: purple's mounts are private, which receives nothing from the host
  private = {}, rprivate = {}, slave = {}, rslave = {}, unbindable = {}, runbindable = {},
  -- access times change timestamps only: accepted, the kernel's default (relatime) applies
  relatime = {}, norelatime = {}, strictatime = {}, nostrictatime = {}, noatime = {}, atime = {},
  nodiratime = {}, diratime = {}, lazytime = {}, nolazytime = {},
  defaults = {}, async = {}, sync = { unsupported = true }, dirsync = { unsupported = true },
  remount = { unsupported = true }, mand = { unsupported = true }, nomand = {},
  shared = { unsupported = true }, rshared = { unsupported = true },
  idmap = { unsupported = true }, ridmap = { unsupported = true }, recursive = {},
  nosymfollow = { unsupported = true }, symfollow = {},
  ["rro"] = { unsupported = true }, ["rrw"] = {},
  tmpcopyup = { copyup = true }, -- a tmpfs starts with a copy of the directory it covers (podman --read-only)
}
-- Filesystems mounted as new instances, and the data options each takes (key=value or a flag).
local FS = { tmpfs = true, sysfs = true, devpts = true, mqueue = true, cgroup = true, cgroup2 = true }

local function mount_ops(spec, bundle)
  local out = {}
  local dev_tmpfs, devpts = false, false
  for i, m in ipairs(v(spec.mounts) or {}) do
    local p = ("mounts[%d]"):format(i - 1)
    local dest = m.destination
    if dest:sub(1, 1) ~= "/" then return fail(p .. ".destination", "must be an absolute path") end
    local o = { data = {} }
    for j, opt in ipairs(v(m.options) or {}) do
      local f = FLAG[opt]
      if f then
        if f.unsupported then
          return fail(("%s.options[%d]"):format(p, j - 1), ("%q is not supported by purple-oci"):format(opt))
        end
        for k, x in pairs(f) do o[k] = x end
      else
        o.data[#o.data + 1] = opt
      end
    end
    local typ = v(m.type) or (o.bind and "bind") or ""
    local op
    if typ == "bind" or o.bind then
      if #o.data > 0 or o.copyup then
        return fail(p .. ".options", ("%q is not supported by purple-oci for a bind mount"):format(
          o.data[1] or "tmpcopyup"))
      end
      local src = v(m.source)
      if not src or src == "" then return fail(p .. ".source", "a bind mount needs a source") end
      if src:sub(1, 1) ~= "/" then src = bundle .. "/" .. src end
      -- purple binds are nosuid and nodev always (stricter than asked)
      op = { type = "bind", source = src, target = dest, readonly = o.readonly == true, noexec = o.noexec,
        recursive = o.bind ~= "bind", field = p }
    elseif typ == "proc" then
      -- purple's proc: nosuid, nodev, noexec, with /proc/sys, sysrq-trigger ... read-only and
      -- kcore, keys ... masked (more than asked; maskedPaths/readonlyPaths add to it)
      op = { type = "proc", target = dest, field = p }
    elseif FS[typ] then
      if typ == "devpts" or typ == "mqueue" or typ == "sysfs" or typ == "cgroup" or typ == "cgroup2" then
        o.nosuid, o.noexec = o.nosuid ~= false, o.noexec ~= false
      end
      if o.copyup and typ ~= "tmpfs" then return fail(p .. ".options", '"tmpcopyup" is for a tmpfs') end
      op = { type = "fs", fstype = (typ == "cgroup") and "cgroup2" or typ, target = dest,
        readonly = o.readonly == true, nosuid = o.nosuid, nodev = o.nodev, noexec = o.noexec,
        data = o.data, copyup = o.copyup, field = p }
      if typ == "tmpfs" and dest == "/dev" then dev_tmpfs = true end
      if typ == "devpts" and dest == "/dev/pts" then devpts = true end
    else
      return fail(p .. ".type", ("%q is not supported by purple-oci (bind, proc, tmpfs, sysfs, devpts, mqueue, "
        .. "cgroup)"):format(typ))
    end
    out[#out + 1] = op
  end
  return out, dev_tmpfs, devpts
end

-- The devices runc always makes in a container's /dev (runtime-spec "Default Devices").
local DEFAULT_DEVICES = {
  { path = "/dev/null", major = 1, minor = 3 }, { path = "/dev/zero", major = 1, minor = 5 },
  { path = "/dev/full", major = 1, minor = 7 }, { path = "/dev/random", major = 1, minor = 8 },
  { path = "/dev/urandom", major = 1, minor = 9 }, { path = "/dev/tty", major = 5, minor = 0 },
}
local DEV_LINKS = { { "/dev/fd", "/proc/self/fd" }, { "/dev/stdin", "/proc/self/fd/0" },
  { "/dev/stdout", "/proc/self/fd/1" }, { "/dev/stderr", "/proc/self/fd/2" } }

local function devices(linux, mounts, dev_tmpfs, devpts)
  local listed = {}
  for i, d in ipairs(v(linux.devices) or {}) do
    local p = ("linux.devices[%d]"):format(i - 1)
    if d.type ~= "c" and d.type ~= "b" and d.type ~= "u" and d.type ~= "p" then
      return fail(p .. ".type", "must be c, b, u or p")
    end
    if d.path:sub(1, 5) ~= "/dev/" then return fail(p .. ".path", "must be under /dev") end
    if d.type ~= "p" and (v(d.major) == nil or v(d.minor) == nil) then
      return fail(p, "major and minor are required for a c, b or u device")
    end
    listed[d.path] = true
    mounts[#mounts + 1] = { type = "node", target = d.path, dev_type = d.type, major = v(d.major) or 0,
      minor = v(d.minor) or 0, mode = v(d.fileMode) and (d.fileMode & 4095) or nil, uid = v(d.uid),
      gid = v(d.gid), field = p }
  end
  if dev_tmpfs then
    for _, d in ipairs(DEFAULT_DEVICES) do
      if not listed[d.path] then
        mounts[#mounts + 1] = { type = "node", target = d.path, dev_type = "c", major = d.major, minor = d.minor,
          mode = 438, uid = 0, gid = 0, field = "default device " .. d.path }
      end
    end
    for _, l in ipairs(DEV_LINKS) do mounts[#mounts + 1] = { type = "symlink", target = l[1], link = l[2] } end
    if devpts then mounts[#mounts + 1] = { type = "symlink", target = "/dev/ptmx", link = "pts/ptmx" } end
  end
  return true
end

-- Sysctls a container may set: those of the namespaces it owns (runtime-spec config-linux).
local function sysctl_allowed(key, names)
  local has = {}
  for _, n in ipairs(names) do has[n] = true end
  if key:match("^kernel%.shm") or key:match("^kernel%.msg") or key == "kernel.sem" or key:match("^fs%.mqueue%.") then
    return has.ipc, "ipc"
  end
  if key:match("^net%.") then return has.net, "network" end
  if key == "kernel.hostname" or key == "kernel.domainname" then return has.uts, "uts" end
  return nil
end

local CAP_SETS = { "bounding", "effective", "permitted", "inheritable", "ambient" }

-- Does this process hold CAP_SYS_RESOURCE (effective) in the host's user namespace?
local function sys_resource()
  local uid_map = io.open("/proc/self/uid_map")
  local map = uid_map and uid_map:read("a") or ""
  if uid_map then uid_map:close() end
  return map:match("^%s*0%s+0%s+4294967295") ~= nil and has_cap(CAP_SYS_RESOURCE)
end

function M.plan(spec, opts)
  opts = opts or {}
  local bundle = opts.bundle or spec.bundle or "."
  local process = v(spec.process)
  if not process then return fail("process", "required to run a container") end
  local linux = v(spec.linux) or {}
  local root = v(spec.root)
  if not root then return fail("root", "required") end
  local uid = opts.uid or core.ids()
  local plan = { joins = {}, warnings = spec.warnings or {}, annotations = v(spec.annotations) or {} }
  local s = { die_with_parent = false, new_session = true, forward_signals = true }
  plan.spec = s

  -- process
  local args = v(process.args)
  if not args or #args == 0 then return fail("process.args", "required: the command to run") end
  s.argv = args
  s.env = v(process.env) or {}
  for _, e in ipairs(s.env) do
    local path = e:match("^PATH=(.*)$")
    if path then s.path = path end
  end
  if process.cwd:sub(1, 1) ~= "/" then return fail("process.cwd", "must be an absolute path") end
  s.cwd = process.cwd
  local user = v(process.user) or { uid = 0, gid = 0 }
  s.uid, s.gid = user.uid, user.gid
  s.umask = v(user.umask) or 18 -- 0022, as runc
  if s.umask < 0 or s.umask > 511 then return fail("process.user.umask", "must be 0 to 0777") end
  plan.terminal = v(process.terminal) == true
  plan.console_size = v(process.consoleSize)
  s.no_new_privs = v(process.noNewPrivileges) == true
  s.oom_score_adj = v(process.oomScoreAdj)
  if s.oom_score_adj and (s.oom_score_adj < -1000 or s.oom_score_adj > 1000) then
    return fail("process.oomScoreAdj", "must be -1000 to 1000")
  end
  s.rlimits = {}
  for i, r in ipairs(v(process.rlimits) or {}) do
    local name = r.type:match("^RLIMIT_(%u+)$")
    local p = ("process.rlimits[%d]"):format(i - 1)
    if not name then return fail(p .. ".type", ("%q is not an RLIMIT_ name"):format(r.type)) end
    name = name:lower()
    if not pcall(core.getrlimit, name) then
      return fail(p .. ".type", ("%s is not supported by purple-oci"):format(r.type))
    end
    if s.rlimits[name] then return fail(p .. ".type", r.type .. " is listed twice") end
    -- 2^64-1 (decoded as a float) is RLIM_INFINITY: -1, which setrlimit reads as unsigned
    local soft = math.type(r.soft) == "float" and -1 or r.soft
    local hard = math.type(r.hard) == "float" and -1 or r.hard
    if hard ~= -1 and (soft == -1 or hard < soft) then return fail(p, "soft is above hard") end
    -- Raising a hard limit needs CAP_SYS_RESOURCE on the host: say so by name before anything runs
    -- (podman as root writes nofile=nproc=1048576 where root's own limit is lower).
    local _, own_hard = core.getrlimit(name)
    if own_hard ~= -1 and (hard == -1 or hard > own_hard) and not sys_resource() then
      return fail(p, ("%s hard %s is above the runtime's own hard limit %d, which only CAP_SYS_RESOURCE may raise "
        .. "(podman: default_ulimits in containers.conf, or --ulimit %s=%d:%d)"):format(r.type,
        hard == -1 and "unlimited" or tostring(hard), own_hard, name, own_hard, own_hard))
    end
    s.rlimits[name] = { soft = soft, hard = hard, field = p }
  end
  local sets = {}
  local caps = v(process.capabilities)
  for _, set in ipairs(CAP_SETS) do
    sets[set] = {}
    for i, name in ipairs(caps and v(caps[set]) or {}) do
      local p = ("process.capabilities.%s[%d]"):format(set, i - 1)
      if not name:match("^CAP_") or not core.cap_number(name) then
        return fail(p, ("%q is not a capability this kernel knows"):format(name))
      end
      sets[set][i] = name
    end
  end
  -- The kernel raises an ambient capability only when it is permitted and inheritable; runc lets
  -- the others go with a warning, and so does purple (granting less than asked).
  local function member(list, x)
    for _, y in ipairs(list) do if y == x then return true end end
    return false
  end
  local ambient = {}
  for _, c in ipairs(sets.ambient) do
    if member(sets.permitted, c) and member(sets.inheritable, c) then
      ambient[#ambient + 1] = c
    else
      plan.warnings[#plan.warnings + 1] = ("process.capabilities.ambient: %s not raised (not both permitted and "
        .. "inheritable)"):format(c)
    end
  end
  sets.ambient = ambient
  s.cap_sets = sets

  -- namespaces, ids
  local names, err = namespaces(linux, plan)
  if not names then return nil, err end
  local userns = false
  for _, n in ipairs(names) do if n == "user" then userns = true end end
  s.uid_map, s.gid_map = id_map(v(linux.uidMappings)), id_map(v(linux.gidMappings))
  if userns and not (s.uid_map and s.gid_map) then
    return fail("linux.uidMappings", "a user namespace needs uidMappings and gidMappings")
  end
  if not userns and (s.uid_map or s.gid_map) then
    return fail("linux.uidMappings", 'mappings need a user namespace ({"type": "user"} in linux.namespaces)')
  end
  local gids = v(user.additionalGids) or {}
  if userns then
    if uid ~= 0 then
      s.setgroups = "deny" -- the kernel requires it before an unprivileged gid_map
      if #gids > 0 then
        return fail("process.user.additionalGids", "needs purple-oci run by root (an unprivileged user namespace "
          .. "denies setgroups)")
      end
    else
      s.setgroups = "clear"
    end
  else
    if uid ~= 0 then
      return fail("linux.namespaces", 'purple-oci run by an unprivileged user needs a user namespace ({"type": '
        .. '"user"} with uidMappings and gidMappings)')
    end
    s.set_ids = true
    s.setgroups = "clear"
    if (files.read("/proc/self/setgroups") or ""):match("^deny") then
      -- the engine's own user namespace forbids setgroups (rootless podman without subordinate ids
      -- maps one id and must deny it): the process keeps the engine's groups, as with runc
      if #gids > 0 then
        return fail("process.user.additionalGids", "cannot be set: this user namespace denies setgroups "
          .. "(/proc/self/setgroups: a rootless engine without subordinate ids); remove them, or give the user "
          .. "subordinate ids (/etc/subuid, /etc/subgid)")
      end
      s.setgroups, gids = "deny", nil
    end
  end
  if gids and (uid == 0 or #gids > 0) then s.groups = gids end
  if #plan.joins > 0 then s.joins = plan.joins end
  plan.joins = nil

  -- hostname, sysctls
  local hostname = v(spec.hostname)
  if hostname and hostname ~= "" then
    local has_uts = false
    for _, n in ipairs(names) do if n == "uts" then has_uts = true end end
    if not has_uts then return fail("hostname", 'needs a new uts namespace ({"type": "uts"})') end
    s.hostname = hostname
  end
  if v(spec.domainname) and spec.domainname ~= "" then
    return fail("domainname", "not supported by purple-oci (setdomainname)")
  end
  local sysctls, keys = {}, {}
  for k in pairs(v(linux.sysctl) or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    -- dot-separated words only: the name becomes a path under /proc/sys
    if not k:match("^[%w_%-]+$") and not k:match("^[%w_%-]+[%w_%-%.]*[%w_%-]$") or k:find("..", 1, true) then
      return fail("linux.sysctl." .. k, "not a sysctl name (dot-separated words)")
    end
    local ok, ns = sysctl_allowed(k, names)
    if not ok then
      return fail("linux.sysctl." .. k, ns and ("needs a new %s namespace"):format(ns)
        or "not a namespaced sysctl (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)")
    end
    sysctls[#sysctls + 1] = k .. "=" .. linux.sysctl[k]
  end
  if #sysctls > 0 then s.sysctls = sysctls end

  -- cgroup namespace is unshared by spawn after joining the container's cgroups
  s.namespaces = table.concat(names, ",")

  -- root and mounts
  local rootfs = root.path
  if rootfs:sub(1, 1) ~= "/" then rootfs = bundle .. "/" .. rootfs end
  s.root = rootfs
  s.root_readonly = v(root.readonly) == true
  local prop = v(linux.rootfsPropagation)
  if prop and prop ~= "" and prop ~= "private" and prop ~= "rprivate" and prop ~= "slave" and prop ~= "rslave" then
    return fail("linux.rootfsPropagation", ("%q is not supported by purple-oci (its mounts are private)"):format(prop))
  end
  local mounts, dev_tmpfs, devpts = mount_ops(spec, bundle)
  if not mounts then return nil, dev_tmpfs end
  -- A cgroup mount shows the cgroup2 hierarchy from the cgroup namespace's root: without a namespace
  -- of its own the container would see the host's whole tree. So a container with a cgroup mount
  -- always gets a cgroup namespace and a cgroup (rooted there: it sees only its own group).
  -- A joined cgroup namespace (never purple-oci's own) is rooted where its owner's cgroup is.
  for _, m in ipairs(mounts) do
    if m.fstype == "cgroup2" then
      local has = false
      for _, n in ipairs(names) do if n == "cgroup" then has = true end end
      for _, j in ipairs(s.joins or {}) do if j.type == "cgroup" then has = true end end
      if not has then
        names[#names + 1] = "cgroup"
        s.namespaces = table.concat(names, ",")
      end
      plan.cgroup_needed = true
    end
  end
  local ok
  ok, err = devices(linux, mounts, dev_tmpfs, devpts)
  if not ok then return nil, err end
  for i, path in ipairs(v(linux.maskedPaths) or {}) do
    if path:sub(1, 1) ~= "/" then return fail(("linux.maskedPaths[%d]"):format(i - 1), "must be an absolute path") end
    mounts[#mounts + 1] = { type = "mask", target = path, field = ("linux.maskedPaths[%d]"):format(i - 1) }
  end
  for i, path in ipairs(v(linux.readonlyPaths) or {}) do
    if path:sub(1, 1) ~= "/" then
      return fail(("linux.readonlyPaths[%d]"):format(i - 1), "must be an absolute path")
    end
    mounts[#mounts + 1] = { type = "ropath", target = path, field = ("linux.readonlyPaths[%d]"):format(i - 1) }
  end
  s.mounts = mounts

  -- seccomp
  local sc = v(linux.seccomp)
  if sc then
    local rules
    rules, err = oci_seccomp.rules(sc, json.null)
    if not rules then return nil, "config.json: " .. err end
    plan.seccomp_rules = rules
  end

  -- resources, hooks
  local resources = v(linux.resources)
  local cg = v(linux.cgroupsPath)
  if cg and cg:find(":") then
    return fail("linux.cgroupsPath", ("%q is a systemd slice:prefix:name path; purple-oci manages cgroupfs paths "
      .. "only (no --systemd-cgroup)"):format(cg))
  end
  do -- every container gets a cgroup (pause, ps, delete) and, where it can be given any, device rules
    -- the nodes of linux.devices are allowed in the devices cgroup, as runc does
    local rules = {}
    for _, d in ipairs(v(linux.devices) or {}) do
      if d.type ~= "p" then
        rules[#rules + 1] = ("%s %d:%d rwm"):format(d.type == "u" and "c" or d.type, d.major, d.minor)
      end
    end
    -- in a user namespace (the config's, or the one a rootless engine runs purple-oci in) the kernel
    -- refuses mknod of devices and the container's files are the user's: no node of the host's
    -- devices but those bound in, which the host's permissions guard
    local in_userns = userns or runtime.in_user_namespace()
    -- on cgroup v2 the rules are an eBPF program only a privileged purple-oci can load: without it
    -- only a container in a user namespace may run (purple.oci.cgroup refuses the others)
    local mknod = false
    for _, c in ipairs(sets.bounding) do if c == "CAP_MKNOD" then mknod = true end end
    -- own: the config asks for a group (limits, a path, a cgroup mount); else only the profile's limits
    -- may (purple.oci.layer), which its allow_unenforced may then let go
    plan.cgroup = { path = cg, resources = resources or {}, device_rules = rules, may_mknod = mknod and not in_userns,
      userns = in_userns, own = (resources or cg or plan.cgroup_needed) and true or false }
  end
  plan.cgroup_needed = nil
  plan.hooks = v(spec.hooks) or {}

  -- purple's layer: a profile makes everything stricter, never wider
  if opts.profile then
    ok, err = layer.apply(plan, opts.profile)
    if not ok then return nil, err end
  end

  -- the seccomp filter is built last (the profile may have narrowed it)
  if plan.seccomp_rules then
    local prog
    prog, err = oci_seccomp.compile(plan.seccomp_rules)
    if not prog then return fail("linux.seccomp", err) end
    s.seccomp = prog
    -- the profile's supervised decisions left after the intersection: the listener goes to the
    -- container's violation monitor (purple.oci.lifecycle, csrc/oci_monitor.c)
    local notify = plan.seccomp_rules.default == "notify"
    for _, r in ipairs(plan.seccomp_rules.rules) do
      if r.action == "notify" then notify = true end
    end
    s.seccomp_listener = notify
    if not notify then plan.violations = nil end
    -- The filter is installed after the capabilities are set: without CAP_SYS_ADMIN the kernel
    -- takes it only under no_new_privs, so purple sets no_new_privs then (stricter than asked).
    local admin = false
    for _, c in ipairs(s.cap_sets.effective) do
      if c == "CAP_SYS_ADMIN" then admin = true end
    end
    if not admin then s.no_new_privs = true end
  end

  -- setns needs CAP_SYS_ADMIN (checked last: a conflict with the profile is named first)
  for _, j in ipairs(s.joins or {}) do
    if not has_cap(CAP_SYS_ADMIN) then
      return fail(j.field, ("joining a namespace needs CAP_SYS_ADMIN, which purple-oci run by uid %d has not (run "
        .. "it as root, or as root of a user namespace that owns %s)"):format((core.ids()), j.path))
    end
  end

  -- rlimits for the binding: { name = { soft, hard } }
  local rl = {}
  for name, r in pairs(s.rlimits) do rl[name] = { soft = r.soft, hard = r.hard } end
  s.rlimits = rl
  return plan
end

return M
