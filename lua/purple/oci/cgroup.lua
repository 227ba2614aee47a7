-- purple.oci.cgroup: a container's cgroup at linux.cgroupsPath with linux.resources written into it.
--
--   create(cg, id) -> group | nil, "config.json: linux.resources...: why"
--       cg = plan.cgroup ({ path, resources }); id names the group when cgroupsPath is empty
--       group = { path, dirs = { controller = dir }, procs = { ".../cgroup.procs" } (spawn's
--                 cgroup_procs), warnings = {}, remove = function }
--   open(path) -> group       the directories of an existing container's cgroup (delete, pause)
--   update(path, resources) -> true | nil, err   new limits (purple-oci update --resources; a devices
--                             list is refused: the rules stay as created)
--   remove(group) -> true | nil, err
--
-- Every v1 hierarchy (cpu, cpuacct, memory, pids, blkio, devices, freezer; cpuset when asked for) and
-- the v2 hierarchy get the same relative path, as runc's cgroupfs driver does. On a v1 or hybrid
-- host the limits go to the v1 controllers; on a pure v2 host to the unified group. A limit that
-- cannot be written is an error naming its property: nothing is run unenforced.
local cgroup = require "purple.cgroup"
local core = require "purple.core"
local devices = require "purple.oci.devices"
local files = require "purple.files"
local json = require "purple.json"
local runtime = require "purple.runtime"

local M = {}

local V1 = { "cpu", "cpuacct", "memory", "pids", "blkio", "devices", "freezer", "cpuset" }

local function hierarchies()
  return cgroup.mounts(V1)
end

local function fail(path, why)
  return nil, ("config.json: %s: %s"):format(path, why)
end

-- Without cgroupsPath: <parent>/purple-oci/<id>, where parent is PURPLE_CGROUP_PARENT, else for an
-- ordinary user (or uid 0 of a user namespace: a rootless engine's runtime) the highest v2 cgroup
-- above its own that it owns (systemd's Delegate=yes, found as purple run finds it:
-- purple.cgroup.layout), on a hybrid host without one the v1 memory cgroup so found, else the root.
local function rel_path(path, id)
  if not path or path == "" then
    local parent = os.getenv("PURPLE_CGROUP_PARENT") or ""
    if parent == "" and (core.ids() ~= 0 or runtime.in_user_namespace()) then
      -- layout's parent is <delegated>/purple (purple run's sessions); containers go beside it. A
      -- hybrid host delegates (if at all) its v1 hierarchies: memory's then
      local L = cgroup.layout()
      local p = L.hierarchies.v2 and L.hierarchies.v2.parent or L.controllers.memory.parent
      parent = p and p:match("^(.*)/purple$") or ""
    end
    if parent ~= "" and parent:sub(1, 1) ~= "/" then parent = "/" .. parent end
    path = parent:gsub("/$", "") .. "/purple-oci/" .. id
  end
  if path:sub(1, 1) ~= "/" then path = "/" .. path end
  if path:find("/%.%.?/") or path:find("/%.%.?$") then return nil end
  return path
end

-- The directories of path in every hierarchy (existing or not).
local function dirs_of(path)
  local v2, v1 = hierarchies()
  local dirs = {}
  for c, mount in pairs(v1) do dirs[c] = mount .. path end
  local v2_ctrls = v2 and files.read(v2 .. "/cgroup.controllers") or ""
  if v2 then dirs.unified = v2 .. path end
  return dirs, v2_ctrls:match("%S") ~= nil and next(v1) == nil
end

-- The v2 controllers a container's group gets (cpuset only when the config sets cpus or mems).
local V2_CTRLS = { "cpu", "io", "memory", "pids" }

local function words(s)
  local set = {}
  for x in (s or ""):gmatch("%S+") do set[x] = true end
  return set
end

-- v2: a controller is in a group only when every parent enables it in cgroup.subtree_control (as
-- runc does). Those the parent offers and does not enable yet are enabled; one that cannot be (a
-- parent holding processes, not ours to write) is missing in the group, and the limit that needs it
-- then fails naming the controller (w).
local function enable_v2(parent, ctrls)
  local offered, enabled = words(files.read(parent .. "/cgroup.controllers")), words(files.read(parent
    .. "/cgroup.subtree_control"))
  for _, c in ipairs(ctrls) do
    if offered[c] and not enabled[c] then core.cgroup_write(parent .. "/cgroup.subtree_control", "+" .. c) end
  end
end

local function mkdirs(mount_dir, path, cpuset, v2_ctrls)
  -- mount_dir is the hierarchy's mount; path its relative part
  local acc = mount_dir
  for part in path:gmatch("[^/]+") do
    local parent = acc
    acc = acc .. "/" .. part
    if v2_ctrls then enable_v2(parent, v2_ctrls) end
    local ok, err, errno = core.mkdir(acc, 493)
    if not ok and errno ~= 17 then return nil, err end
    if ok and cpuset then
      -- a new v1 cpuset has no cpus or mems: it takes its parent's (cgroup.clone_children is off)
      for _, f in ipairs({ "cpuset.cpus", "cpuset.mems" }) do
        local v = (files.read(parent .. "/" .. f) or ""):gsub("%s+$", "")
        local wok, werr = core.cgroup_write(acc .. "/" .. f, v)
        if not wok then return nil, werr end
      end
    end
  end
  return acc
end

function M.open(path)
  local dirs = dirs_of(path)
  local g = { path = path, dirs = {}, procs = {} }
  for c, d in pairs(dirs) do
    if core.stat(d) then
      g.dirs[c] = d
    end
  end
  g.remove = M.remove
  return g
end

function M.remove(g)
  local err
  -- deepest first: v1 hierarchies may share a directory (cpu,cpuacct)
  local seen = {}
  for _, d in pairs(g.dirs) do
    if not seen[d] then
      seen[d] = true
      for _ = 1, 50 do
        local procs = files.read(d .. "/cgroup.procs") or ""
        for pid in procs:gmatch("%d+") do core.kill(tonumber(pid), 9) end
        local ok, rerr, errno = core.rmdir(d)
        if ok or errno == 2 then err = nil break end
        err = rerr
        core.sleep(0.02)
      end
    end
  end
  if err then return nil, err end
  -- the parent purple made for a container without cgroupsPath goes too once empty
  if g.path:match("/purple%-oci/[^/]+$") then
    for _, d in pairs(g.dirs) do core.rmdir(d:match("^(.*)/[^/]+$")) end
  end
  return true
end

local function w(g, c, file, value, prop)
  local d = g.dirs[c]
  if not d then return fail(prop, ("the host has no %s cgroup controller to enforce it"):format(c)) end
  local ctrl = c == "unified" and file:match("^(%w+)%.")
  if ctrl and ctrl ~= "cgroup" and not words(files.read(d .. "/cgroup.controllers"))[ctrl] then
    return fail(prop, ("the %s controller is not enabled for %s (cgroup.subtree_control of the cgroups above it)")
      :format(ctrl, d))
  end
  local ok, err = core.cgroup_write(d .. "/" .. file, tostring(value))
  if not ok then return fail(prop, ("cannot set %s/%s to %s: %s"):format(d, file, tostring(value), err)) end
  return true
end

local function devices_v1(g, writes)
  for _, wr in ipairs(writes) do
    local ok, err = w(g, "devices", wr.file, wr.text, wr.prop)
    if not ok then return nil, err end
  end
  return true
end

-- No device rules can be given (an unprivileged run: no devices controller to write, no eBPF
-- program to load). In a user namespace the kernel refuses mknod and the container's files are its
-- user's, so a list that only denies holds; a list that allows, or a container outside a user
-- namespace (whose image may hold device nodes, or that may make them), fails closed.
local function without_rules(g, devs, userns, why, short)
  if not userns then
    return fail("linux.resources.devices", ("cannot be enforced %s, and the container is not in a user namespace "
      .. "(its files may be device nodes of the host's devices); run purple-oci as root or add a user namespace")
      :format(why))
  end
  for i, d in ipairs(devs) do
    if d.allow then return fail(("linux.resources.devices[%d]"):format(i - 1), "cannot be enforced " .. why) end
  end
  if #devs > 0 then g.warnings[#g.warnings + 1] = "linux.resources.devices: enforced by the user namespace (" .. short .. ")" end
  return true
end

-- v2: the device program on the container's group (csrc/cgroup_device_bpf.c), attached before any
-- process joins it; without it, as without_rules.
local function devices_v2(g, writes, devs, cg)
  local ok, err
  if g.dirs.unified then
    ok, err = core.cgroup_device_filter(g.dirs.unified, devices.program(writes))
    if ok then return true end
  else
    err = "the container has no cgroup v2 group of its own"
  end
  return without_rules(g, devs, cg.userns, "on cgroup v2 without its eBPF device program (" .. err .. ")", err)
end

-- v1 limits. Each is written only when the config sets it.
local function limits_v1(g, r, null)
  local function v(x) if x == null then return nil end return x end
  local ops = {}
  local function add(c, file, value, prop) if value ~= nil then ops[#ops + 1] = { c, file, value, prop } end end
  local mem = v(r.memory) or {}
  add("memory", "memory.limit_in_bytes", v(mem.limit), "linux.resources.memory.limit")
  add("memory", "memory.soft_limit_in_bytes", v(mem.reservation), "linux.resources.memory.reservation")
  add("memory", "memory.memsw.limit_in_bytes", v(mem.swap), "linux.resources.memory.swap")
  add("memory", "memory.swappiness", v(mem.swappiness), "linux.resources.memory.swappiness")
  if v(mem.disableOOMKiller) then add("memory", "memory.oom_control", 1, "linux.resources.memory.disableOOMKiller") end
  if v(mem.useHierarchy) == false then
    return fail("linux.resources.memory.useHierarchy", "false is not supported by purple-oci (the kernel's v1 "
      .. "memory controller is always hierarchical)")
  end
  local cpu = v(r.cpu) or {}
  add("cpu", "cpu.shares", v(cpu.shares), "linux.resources.cpu.shares")
  add("cpu", "cpu.cfs_period_us", v(cpu.period), "linux.resources.cpu.period")
  add("cpu", "cpu.cfs_quota_us", v(cpu.quota), "linux.resources.cpu.quota")
  add("cpuset", "cpuset.cpus", v(cpu.cpus) ~= "" and v(cpu.cpus) or nil, "linux.resources.cpu.cpus")
  add("cpuset", "cpuset.mems", v(cpu.mems) ~= "" and v(cpu.mems) or nil, "linux.resources.cpu.mems")
  local pids = v(r.pids)
  if pids then add("pids", "pids.max", pids.limit > 0 and pids.limit or "max", "linux.resources.pids.limit") end
  local bio = v(r.blockIO) or {}
  if v(bio.weight) then
    local file = g.dirs.blkio and core.stat(g.dirs.blkio .. "/blkio.weight") and "blkio.weight" or "blkio.bfq.weight"
    add("blkio", file, bio.weight, "linux.resources.blockIO.weight")
  end
  if v(bio.leafWeight) then add("blkio", "blkio.leaf_weight", bio.leafWeight, "linux.resources.blockIO.leafWeight") end
  for i, d in ipairs(v(bio.weightDevice) or {}) do
    if v(d.weight) then
      add("blkio", "blkio.weight_device", ("%d:%d %d"):format(d.major, d.minor, d.weight),
        ("linux.resources.blockIO.weightDevice[%d]"):format(i - 1))
    end
  end
  for _, t in ipairs({ { "throttleReadBpsDevice", "blkio.throttle.read_bps_device" },
    { "throttleWriteBpsDevice", "blkio.throttle.write_bps_device" },
    { "throttleReadIOPSDevice", "blkio.throttle.read_iops_device" },
    { "throttleWriteIOPSDevice", "blkio.throttle.write_iops_device" } }) do
    for i, d in ipairs(v(bio[t[1]]) or {}) do
      add("blkio", t[2], ("%d:%d %d"):format(d.major, d.minor, d.rate),
        ("linux.resources.blockIO.%s[%d]"):format(t[1], i - 1))
    end
  end
  for _, op in ipairs(ops) do
    local ok, err = w(g, op[1], op[2], op[3], op[4])
    if not ok then return nil, err end
  end
  return true
end

-- v2 limits (pure v2 hosts), as runc converts them. What v2 has no file for is refused by name.
local function limits_v2(g, r, null)
  local function v(x) if x == null then return nil end return x end
  local mem, cpu, pids, bio = v(r.memory) or {}, v(r.cpu) or {}, v(r.pids), v(r.blockIO) or {}
  local function v1_only(prop, what)
    return fail("linux.resources." .. prop, ("%s exists only in cgroup v1; this host has cgroup v2 only (remove it)")
      :format(what))
  end
  if v(mem.swappiness) then return v1_only("memory.swappiness", "memory.swappiness") end
  if v(mem.disableOOMKiller) then return v1_only("memory.disableOOMKiller", "memory.oom_control") end
  if v(bio.leafWeight) then return v1_only("blockIO.leafWeight", "blkio.leaf_weight") end
  local steps = {}
  local function add(file, value, prop) steps[#steps + 1] = { file, value, prop } end
  if v(mem.limit) then add("memory.max", mem.limit > 0 and mem.limit or "max", "memory.limit") end
  if v(mem.reservation) then add("memory.low", mem.reservation > 0 and mem.reservation or 0, "memory.reservation") end
  if v(mem.swap) then
    -- v1's swap is memory+swap; v2's memory.swap.max is swap alone
    local limit = v(mem.limit)
    if mem.swap == -1 then add("memory.swap.max", "max", "memory.swap")
    elseif not limit or limit <= 0 then
      return fail("linux.resources.memory.swap", "needs memory.limit (v1's memory+swap becomes v2's swap alone)")
    elseif mem.swap < limit then
      return fail("linux.resources.memory.swap", ("%d is below memory.limit %d (it counts memory and swap)")
        :format(mem.swap, limit))
    else add("memory.swap.max", mem.swap - limit, "memory.swap") end
  end
  if v(cpu.shares) then add("cpu.weight", 1 + ((cpu.shares - 2) * 9999) // 262142, "cpu.shares") end
  if v(cpu.quota) or v(cpu.period) then
    add("cpu.max", ("%s %d"):format((v(cpu.quota) or -1) > 0 and tostring(cpu.quota) or "max",
      v(cpu.period) or 100000), v(cpu.quota) and "cpu.quota" or "cpu.period")
  end
  if (v(cpu.cpus) or "") ~= "" then add("cpuset.cpus", cpu.cpus, "cpu.cpus") end
  if (v(cpu.mems) or "") ~= "" then add("cpuset.mems", cpu.mems, "cpu.mems") end
  if pids then add("pids.max", pids.limit > 0 and pids.limit or "max", "pids.limit") end
  -- blkio weights 10-1000 become io.weight 1-10000
  local function io_weight(x) return 1 + ((x - 10) * 9999) // 990 end
  if v(bio.weight) then add("io.weight", io_weight(bio.weight), "blockIO.weight") end
  for i, d in ipairs(v(bio.weightDevice) or {}) do
    local p = ("blockIO.weightDevice[%d]"):format(i - 1)
    if v(d.leafWeight) then return v1_only(p .. ".leafWeight", "blkio.leaf_weight_device") end
    if v(d.weight) then add("io.weight", ("%d:%d %d"):format(d.major, d.minor, io_weight(d.weight)), p) end
  end
  for _, t in ipairs({ { "throttleReadBpsDevice", "rbps" }, { "throttleWriteBpsDevice", "wbps" },
    { "throttleReadIOPSDevice", "riops" }, { "throttleWriteIOPSDevice", "wiops" } }) do
    for i, d in ipairs(v(bio[t[1]]) or {}) do
      add("io.max", ("%d:%d %s=%s"):format(d.major, d.minor, t[2], d.rate > 0 and tostring(d.rate) or "max"),
        ("blockIO.%s[%d]"):format(t[1], i - 1))
    end
  end
  for _, st in ipairs(steps) do
    local ok, err = w(g, "unified", st[1], st[2], "linux.resources." .. st[3])
    if not ok then return nil, err end
  end
  return true
end

function M.update(path, resources)
  local devs = resources and resources.devices
  if devs and devs ~= json.null and next(devs) ~= nil then
    -- the rules are kept as created: v1 would pass through "deny all" rewriting them, v2 would need
    -- the attached program found and replaced
    return nil, "devices: not changed by purple-oci update (the container keeps the device rules it was created "
      .. "with); leave it out"
  end
  local g = M.open(path)
  local _, pure_v2 = dirs_of(path)
  if next(g.dirs) == nil then return nil, ("no cgroup at %s"):format(path) end
  if pure_v2 then return limits_v2(g, resources or {}, json.null) end
  return limits_v1(g, resources or {}, json.null)
end

local function create(cg, id)
  local null = json.null
  local function v(x) if x == null then return nil end return x end
  local path = rel_path(v(cg.path), id)
  if not path then return fail("linux.cgroupsPath", "must not contain . or .. components") end
  local r = v(cg.resources) or {}
  local _, pure_v2 = dirs_of(path)
  local g = { path = path, dirs = {}, procs = {}, warnings = {}, remove = M.remove }
  local cpu = v(r.cpu) or {}
  local want_cpuset = (v(cpu.cpus) or "") ~= "" or (v(cpu.mems) or "") ~= ""
  local v2, v1 = hierarchies()
  local made = {}
  local v2_ctrls
  if pure_v2 then
    v2_ctrls = { table.unpack(V2_CTRLS) }
    if want_cpuset then v2_ctrls[#v2_ctrls + 1] = "cpuset" end
  end
  local function make(c, mount)
    local d = mount .. path
    if made[d] then g.dirs[c] = d return true end
    local ok, err = mkdirs(mount, path, c == "cpuset", c == "unified" and v2_ctrls or nil)
    if not ok then return nil, err end
    made[d] = true
    g.dirs[c] = d
    g.procs[#g.procs + 1] = d .. "/cgroup.procs"
    return true
  end
  local problems = {}
  for _, c in ipairs(V1) do
    if v1[c] and (c ~= "cpuset" or want_cpuset) then
      local ok, err = make(c, v1[c])
      if not ok then problems[c] = err end
    end
  end
  if v2 then
    local ok, err = make("unified", v2)
    if not ok then problems.unified = err end
  end
  -- A hierarchy purple could not use matters only where a limit needs it.
  -- limits only the profile asks for, with its allow_unenforced: skipped with a warning, as purple run does
  local unusable = pure_v2 and problems.unified or problems.memory or problems.pids
  if cg.allow_unenforced and unusable then
    M.remove(g)
    -- no group: no device rules either, which only a user namespace makes up for
    local ok, err = without_rules(g, v(r.devices) or {}, cg.userns, "without the container's cgroup ("
      .. tostring(unusable) .. ")", "no cgroup")
    if not ok then return nil, err end
    return { path = path, dirs = {}, procs = {}, remove = M.remove, warnings = {
      ("purple.profile resources: not enforced: cannot create the container's cgroup (%s)"):format(
        tostring(unusable)) } }
  end
  local function need(c, prop)
    if problems[c] then
      return fail(prop, ("cannot create the container's cgroup %s%s: %s"):format(
        c == "unified" and v2 or v1[c], path, problems[c]))
    end
    return true
  end
  -- device rules for every container (runc's "deny all", the list, the defaults, the nodes), also
  -- without a list: its files (an image's device nodes) must not open the host's devices
  local devs = v(r.devices) or {}
  local ok, err
  local writes
  writes, err = devices.writes(devs, cg.device_rules or {}, null)
  if not writes then M.remove(g) return nil, err end
  if not pure_v2 then
    for _, c in ipairs({ "memory", "pids", "cpu", "blkio", "cpuset" }) do
      ok, err = need(c, "linux.resources")
      if not ok then
        -- only fatal when a limit of that controller is set
        local set = (c == "memory" and v(r.memory)) or (c == "pids" and v(r.pids)) or (c == "cpu" and v(r.cpu))
          or (c == "blkio" and v(r.blockIO)) or (c == "cpuset" and want_cpuset)
        if set then M.remove(g) return nil, err end
        g.dirs[c] = nil
      end
    end
    ok, err = limits_v1(g, r, null)
    if not ok then M.remove(g) return nil, err end
    if problems.devices or not g.dirs.devices then
      ok, err = without_rules(g, devs, cg.userns, "without the devices cgroup controller ("
        .. tostring(problems.devices) .. ")", "no devices cgroup")
      if not ok then M.remove(g) return nil, err end
    else
      ok, err = devices_v1(g, writes)
      if not ok then M.remove(g) return nil, err end
    end
  else
    -- without a limit a group is only for pause and delete: a user with no cgroup of its own runs
    -- without one (pause then says so), as on v1
    local limited = v(r.memory) or v(r.pids) or v(r.cpu) or v(r.blockIO) or next(v(r.unified) or {})
    ok, err = need("unified", "linux.resources")
    if not ok and limited then M.remove(g) return nil, err end
    ok, err = devices_v2(g, writes, devs, cg)
    if not ok then M.remove(g) return nil, err end
    ok, err = limits_v2(g, r, null)
    if not ok then M.remove(g) return nil, err end
  end
  local unified = v(r.unified) or {}
  local keys = {}
  for k in pairs(unified) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if k:find("/") or not g.dirs.unified or not core.stat(g.dirs.unified .. "/" .. k) then
      M.remove(g)
      return fail("linux.resources.unified." .. k, "the host's cgroup v2 hierarchy has no such file for the "
        .. "container")
    end
    ok, err = w(g, "unified", k, unified[k], "linux.resources.unified." .. k)
    if not ok then M.remove(g) return nil, err end
  end
  return g
end

-- create(cg, id, spec): with spawn's spec, also sets spec.cgroup_procs, and where the container got
-- no cgroup2 group of its own (an ordinary user without a delegated v2 cgroup) its cgroup mounts
-- become empty read-only tmpfs: a cgroup namespace rooted elsewhere would show others' groups.
function M.create(cg, id, spec)
  local g, err = create(cg, id)
  if g and spec then
    spec.cgroup_procs = g.procs
    if not g.dirs.unified then
      for _, m in ipairs(spec.mounts or {}) do
        if m.fstype == "cgroup2" then
          m.fstype, m.data, m.readonly = "tmpfs", { "size=0", "mode=0555" }, true
          g.warnings[#g.warnings + 1] = m.target .. ": an empty tmpfs (the container has no cgroup2 group of its own)"
        end
      end
    end
  end
  return g, err
end

return M
