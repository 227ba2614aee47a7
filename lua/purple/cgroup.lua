-- purple.cgroup: one cgroup per run, on the cgroup layout the host really has.
--
-- Layouts: "v2" (one unified hierarchy with controllers), "v1" (one hierarchy per controller),
-- "hybrid" (v1 controllers plus a v2 hierarchy, usually without controllers), "none".
-- Each controller is used where the kernel offers it: v2 when the unified hierarchy lists it,
-- else its v1 hierarchy. On hybrid hosts the (controller-less) v2 hierarchy still gives
-- cgroup.kill and cpu.stat, so the run joins a v2 group there too.
--
-- Placement: sessions live in a parent cgroup, the same relative path in every hierarchy:
--   root:              /purple                 (created on demand)
--   PURPLE_CGROUP_PARENT or opts.parent: that path (must exist; e.g. a delegated cgroup)
--   ordinary user:     <highest cgroup above its own that it owns>/purple   (systemd user
--                      delegation, or any cgroup chowned to the user)
-- A session's cgroup is <parent>/<session>-<supervisor pid>; a later run removes one whose
-- supervisor is gone and which holds no process (a supervisor killed with SIGKILL).
local core = require "purple.core"
local log = require "purple.log"
local runtime = require "purple.runtime"

local M = {}

-- Controllers by the name purple uses; v1 names where they differ.
M.CONTROLLERS = { "cpu", "memory", "pids", "io" }
local V1_NAME = { cpu = "cpu", memory = "memory", pids = "pids", io = "blkio", cpuacct = "cpuacct" }

local read = require("purple.files").read
M.read = read

local function words(s)
  local set = {}
  for w in (s or ""):gmatch("%S+") do set[w] = true end
  return set
end

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "/"
end

-- Joins a hierarchy's mount point and a cgroup path ("/a/b").
local function join(mount, rel)
  if rel == "/" or rel == "" then return mount end
  return mount .. rel
end

-- Mounted hierarchies from /proc/self/mountinfo: v2 mount point, v1 mount point by controller, for
-- the v1 controller names in `names` (default: those purple's limits use). purple.oci.cgroup asks for more.
local function mounts(names)
  local v2, v1 = nil, {}
  local f = io.open("/proc/self/mountinfo")
  if not f then return nil, v1 end
  for line in f:lines() do
    local mp, rest = line:match("^%S+ %S+ %S+ %S+ (%S+) .- %- (.*)$")
    if mp then
      local fstype, _, opts = rest:match("^(%S+) (%S+) (%S+)")
      mp = mp:gsub("\\040", " ")
      if fstype == "cgroup2" and not v2 then
        v2 = mp
      elseif fstype == "cgroup" then
        for o in opts:gmatch("[^,]+") do
          for _, name in pairs(names or V1_NAME) do
            if o == name and not v1[name] then v1[name] = mp end
          end
        end
      end
    end
  end
  f:close()
  return v2, v1
end
M.mounts = mounts

-- The calling process's own cgroup paths: v2 path and v1 path by controller.
local function own_paths()
  local v2, v1 = nil, {}
  for line in (read("/proc/self/cgroup") or ""):gmatch("[^\n]+") do
    local id, ctrls, path = line:match("^(%d+):([^:]*):(.*)$")
    if id == "0" and ctrls == "" then
      v2 = path
    elseif ctrls then
      for c in ctrls:gmatch("[^,]+") do v1[c] = path end
    end
  end
  return v2, v1
end

local function owned_by(path, uid)
  local st = core.stat(path)
  local procs = core.stat(path .. "/cgroup.procs")
  return st and procs and st.uid == uid and procs.uid == uid
end

-- Highest cgroup on the way from `own` up to the root that `uid` owns, as a relative path.
local function delegated_root(mount, own, uid)
  local best
  local p = own
  while p and p ~= "" do
    if owned_by(join(mount, p), uid) then best = p end
    if p == "/" then break end
    p = dirname(p)
    if p == "" then p = "/" end
  end
  return best
end

-- Where each controller can be used, and why not. Cached: the layout does not change under us.
-- opts: parent (relative cgroup path), uid.
local cache = {}
function M.layout(opts)
  opts = opts or {}
  local uid = opts.uid or (core.ids())
  local parent_opt = opts.parent or os.getenv("PURPLE_CGROUP_PARENT")
  if parent_opt == "" then parent_opt = nil end
  local key = tostring(uid) .. "\0" .. tostring(parent_opt)
  if cache[key] then return cache[key] end

  local v2, v1 = mounts()
  local own2, own1 = own_paths()
  local L = { v2 = v2, v1 = v1, uid = uid, controllers = {}, hierarchies = {}, parent_opt = parent_opt }
  local v1_any = next(v1) ~= nil
  local v2_root_ctrls = v2 and words(read(v2 .. "/cgroup.controllers")) or {}
  if v2 and next(v2_root_ctrls) and not v1_any then L.mode = "v2"
  elseif v2 and v1_any then L.mode = "hybrid"
  elseif v1_any then L.mode = "v1"
  elseif v2 then L.mode = "v2"
  else L.mode = "none" end

  -- The parent cgroup (relative path) in one hierarchy, or nil, why, fix, code.
  local function parent_in(mount, own)
    if parent_opt then
      local rel = parent_opt:sub(1, 1) == "/" and parent_opt or "/" .. parent_opt
      if not core.stat(join(mount, rel)) then
        return nil, ("cgroup parent %s (PURPLE_CGROUP_PARENT) does not exist"):format(rel),
          "create it (and delegate it to the user) or unset PURPLE_CGROUP_PARENT", "no-parent"
      end
      return rel
    end
    -- uid 0 of a user namespace (a rootless engine's runtime) is the user, whose delegated cgroup it takes
    if uid == 0 and not runtime.in_user_namespace() then return "/purple" end
    local d = own and delegated_root(mount, own, uid)
    if not d then
      return nil, ("uid %d has no delegated cgroup"):format(uid),
        "run as root, run purple inside a delegated cgroup (systemd-run --user --scope -p Delegate=yes) "
        .. "or name one in PURPLE_CGROUP_PARENT", "no-delegation"
    end
    return (d == "/" and "" or d) .. "/purple"
  end

  if v2 then
    local rel, why, fix, code = parent_in(v2, own2)
    L.hierarchies.v2 = { mount = v2, parent = rel, why = why, fix = fix, code = code }
  end
  for _, c in ipairs({ "cpu", "memory", "pids", "io", "cpuacct" }) do
    local info
    local name1 = V1_NAME[c]
    if v2 and v2_root_ctrls[c] then
      local h = L.hierarchies.v2
      info = { hierarchy = "v2", mount = v2 }
      if not h.parent then
        info.why, info.fix, info.code = h.why, h.fix, h.code
      else
        -- Usable when the parent's parent offers it (we enable it further down ourselves).
        local above = parent_opt and h.parent or dirname(h.parent)
        if above == "" then above = "/" end
        local offered = words(read(join(v2, above) .. "/cgroup.controllers"))
        if not offered[c] then
          info.why = ("the %s controller is not delegated to %s"):format(c, join(v2, above))
          info.fix = ("enable it in the cgroup.subtree_control files above %s"):format(join(v2, above))
          info.code = "not-delegated"
        end
      end
    elseif v1[name1] then
      local rel, why, fix, code = parent_in(v1[name1], own1[name1])
      info = { hierarchy = "v1", mount = v1[name1], parent = rel, why = why, fix = fix, code = code }
    else
      info = { why = ("no mounted cgroup hierarchy has the %s controller"):format(c),
        fix = ("mount it (cgroup v2 with %s enabled, or the v1 %s hierarchy)"):format(c, name1),
        code = "missing" }
    end
    info.usable = info.why == nil
    L.controllers[c] = info
  end
  cache[key] = L
  return L
end

-- For purple doctor: { mode, v2 = mount, parent = path, controllers = { name = {usable, hierarchy, why, fix} } }
function M.describe(opts)
  local L = M.layout(opts)
  local out = { mode = L.mode, v2 = L.v2, v1 = L.v1, controllers = {} }
  for _, c in ipairs(M.CONTROLLERS) do
    local i = L.controllers[c]
    out.controllers[c] = { usable = i.usable, hierarchy = i.hierarchy, why = i.why, fix = i.fix, code = i.code,
      parent = i.parent or (i.hierarchy == "v2" and L.hierarchies.v2.parent) or nil }
  end
  return out
end

-- Why a controller cannot be used, as "why; fix", or nil when it can.
function M.unusable(c, opts)
  local i = M.layout(opts).controllers[c]
  if i.usable then return nil end
  return ("%s controller: %s; %s"):format(c, i.why, i.fix), i.code
end

local function mkdir_p(mount, rel)
  -- A run that ends removes its parent when that is empty (nothing of purple's stays behind), so a
  -- concurrent run may lose a parent between two mkdirs: try again then.
  local err
  for _ = 1, 5 do
    local acc, ok = mount, true
    for part in rel:gmatch("[^/]+") do
      acc = acc .. "/" .. part
      ok, err = core.mkdir(acc, 493)
      if not ok then break end
    end
    if ok then return acc end
  end
  return nil, err
end

local function alive(pid)
  if not pid then return false end
  local ok, _, errno = core.kill(pid, 0)
  return ok or errno ~= 3 -- ESRCH
end

local function empty(dir)
  local procs = read(dir .. "/cgroup.procs")
  return procs ~= nil and procs:match("%d") == nil
end

-- Removes cgroups of runs and sessions under parent_dir whose supervisor is gone and which hold no process.
-- live: pid -> alive, shared by the parents of one sweep: every run and session has a group of the
-- same name in each hierarchy, and with many sessions running the checks were most of a create.
local function remove_stale(parent_dir, live)
  for _, name in ipairs(core.readdir(parent_dir) or {}) do
    -- <run id>-<pid>, or <session name>-<pid> (purple session start: letters, digits, _ . -)
    local pid = tonumber(name:match("^[%w][%w_.-]*%-(%d+)$"))
    if pid and live[pid] == nil then live[pid] = alive(pid) end
    if pid and not live[pid] then
      local dir = parent_dir .. "/" .. name
      if empty(dir) and core.rmdir(dir) then log.debug("removed stale cgroup %s", dir) end
    end
  end
end

local Group = {}
Group.__index = Group

-- M.create(name, wanted, opts) -> group | nil, controller, "why; fix"
-- wanted: { controller = "required" | "optional" }. A required controller that cannot be set up
-- fails; an optional one (accounting only) is skipped.
function M.create(name, wanted, opts)
  local L = M.layout(opts)
  local g = setmetatable({ name = name, dirs = {}, ctl = {}, procs = {}, created = {}, parents = {}, stale = {} },
    Group)
  -- purple's own parents ("…/purple", not a configured one) are removed again once empty.
  local function own_parent(dir)
    if not L.parent_opt and dir:match("/purple$") then g.parents[dir] = true end
  end
  local function fail(c, msg)
    g:remove()
    return nil, c, msg
  end
  -- A supervisor killed with SIGKILL leaves cgroups in every v1 hierarchy it used, also in those this
  -- run does not need (cpu, blkio): all of them are swept (g:sweep()), and purple's own parents
  -- there removed once empty.
  local swept = {}
  local function sweep_later(pdir)
    if not swept[pdir] then g.stale[#g.stale + 1] = pdir end
    swept[pdir] = true
  end
  for _, c in ipairs({ "cpu", "memory", "pids", "io", "cpuacct" }) do
    local i = L.controllers[c]
    local pdir = i.hierarchy == "v1" and i.parent and join(i.mount, i.parent)
    if pdir and not swept[pdir] and core.stat(pdir) then
      sweep_later(pdir)
      own_parent(pdir)
    end
  end
  -- Controllers that live in the v2 hierarchy; the v2 group is made first, so that the v1 loop
  -- knows whether it gives cpu.stat.
  local v2_needed = {}
  for _, c in ipairs({ "cpu", "memory", "pids", "io", "cpuacct" }) do
    if wanted[c] and L.controllers[c].usable and L.controllers[c].hierarchy == "v2" then
      v2_needed[#v2_needed + 1] = c
    end
  end
  -- v2: one directory; the controllers are enabled in the parent's subtree_control. On hybrid
  -- hosts the group is made even without controllers, for cgroup.kill and cpu.stat.
  local h = L.hierarchies.v2
  if h and h.parent and (#v2_needed > 0 or L.mode == "hybrid") then
    local pdir = join(h.mount, h.parent)
    local ok, err, mk, merr, merrno
    local dir = pdir .. "/" .. name
    for _ = 1, 5 do -- a concurrent run may remove the empty parent in between: make it again
      ok, err = mkdir_p(h.mount, h.parent)
      if ok then sweep_later(pdir) end
      own_parent(pdir)
      for _, c in ipairs(v2_needed) do
        if not ok then break end
        local above = dirname(pdir)
        if not words(read(pdir .. "/cgroup.controllers"))[c] then
          ok, err = core.cgroup_write(above .. "/cgroup.subtree_control", "+" .. c)
        end
        if ok and not words(read(pdir .. "/cgroup.subtree_control"))[c] then
          ok, err = core.cgroup_write(pdir .. "/cgroup.subtree_control", "+" .. c)
        end
        if not ok then
          if wanted[c] == "required" then
            return fail(c, ("cannot enable the %s controller: %s; %s must hold no processes of its own and its "
              .. "parent must offer the controller"):format(c, err, pdir))
          end
          log.debug("cgroup %s: %s (not measured)", c, err)
          ok = true
        end
      end
      mk, merr, merrno = false, nil, nil
      if ok then mk, merr, merrno = core.mkdir(dir, 493) end
      if mk or merrno ~= 2 then break end
    end
    if mk then
      g.created[#g.created + 1] = dir
      g.procs[#g.procs + 1] = dir .. "/cgroup.procs"
      g.v2 = dir
      local have = #v2_needed > 0 and words(read(dir .. "/cgroup.controllers")) or {}
      for _, c in ipairs(v2_needed) do
        if have[c] then
          g.ctl[c] = { hierarchy = "v2", dir = dir }
        elseif wanted[c] == "required" then
          return fail(c, ("the %s controller is not enabled in %s; enable it in %s/cgroup.subtree_control"):format(
            c, dir, pdir))
        end
      end
    else
      for _, c in ipairs(v2_needed) do
        if wanted[c] == "required" then
          return fail(c, ("cannot create its cgroup: %s; check the permissions of %s"):format(
            tostring(merr or err), pdir))
        end
      end
      log.debug("cgroup v2: %s (not measured)", tostring(merr or err))
    end
  end
  -- v1: one directory per hierarchy; cpu and cpuacct may share one.
  for _, c in ipairs({ "cpu", "memory", "pids", "io", "cpuacct" }) do
    local want = wanted[c]
    local i = L.controllers[c]
    if want and not i.usable then
      if want == "required" then return fail(c, ("%s; %s"):format(i.why, i.fix)) end
    elseif c == "cpuacct" and want == "optional" and g.v2 then
      -- CPU time is measured by the v2 group's cpu.stat (usage()): a v1 cpuacct group would only
      -- cost a mkdir, a join and an rmdir per run.
    elseif want and i.hierarchy == "v1" then
      local dir = join(i.mount, i.parent) .. "/" .. name
      if not g.dirs[dir] then
        local pdir = join(i.mount, i.parent)
        sweep_later(pdir)
        own_parent(pdir)
        local ok, err = mkdir_p(i.mount, i.parent .. "/" .. name)
        if not ok then
          if want == "required" then
            return fail(c, ("cannot create its cgroup: %s; check the permissions of %s"):format(err, pdir))
          end
          log.debug("cgroup %s: %s (not measured)", c, err)
          dir = nil
        else
          g.dirs[dir] = true
          g.created[#g.created + 1] = dir
          g.procs[#g.procs + 1] = dir .. "/cgroup.procs"
        end
      end
      if dir then g.ctl[c] = { hierarchy = "v1", dir = dir } end
    end
  end
  return g
end

-- group:write(controller, file, value) -> true | nil, err
function Group:write(c, file, value)
  local ctl = self.ctl[c]
  if not ctl then return nil, ("the %s controller is not in use"):format(c) end
  return core.cgroup_write(ctl.dir .. "/" .. file, tostring(value))
end

function Group:has(c, file)
  local ctl = self.ctl[c]
  return ctl ~= nil and core.stat(ctl.dir .. "/" .. file) ~= nil
end

function Group:hierarchy(c)
  return self.ctl[c] and self.ctl[c].hierarchy
end

local function file_of(self, c, file)
  local ctl = self.ctl[c]
  return ctl and read(ctl.dir .. "/" .. file)
end

local function keyed(text)
  local t = {}
  for k, v in (text or ""):gmatch("(%S+) (%d+)") do t[k] = tonumber(v) end
  return t
end

-- Usage so far, from whatever the run's cgroups measure. Missing measurements stay nil.
function Group:usage()
  local u = {}
  -- CPU time: v2 cpu.stat exists in every v2 group, with or without the cpu controller.
  local st = self.v2 and keyed(read(self.v2 .. "/cpu.stat"))
  if st and st.usage_usec then
    u.user_seconds, u.system_seconds = st.user_usec / 1e6, st.system_usec / 1e6
  elseif self.ctl.cpuacct then
    local user, sys = tonumber(file_of(self, "cpuacct", "cpuacct.usage_user")),
      tonumber(file_of(self, "cpuacct", "cpuacct.usage_sys"))
    if user and sys then u.user_seconds, u.system_seconds = user / 1e9, sys / 1e9 end
  end
  -- Enforcement periods of the CPU quota: usage / (periods × period) is the share the quota allowed.
  if self.ctl.cpu then
    local cs = keyed(file_of(self, "cpu", "cpu.stat"))
    u.cpu_periods, u.cpu_throttled_periods = cs.nr_periods, cs.nr_throttled
  end
  if self.ctl.memory then
    if self.ctl.memory.hierarchy == "v2" then
      u.memory_peak_bytes = tonumber(file_of(self, "memory", "memory.peak"))
      u.oom_kills = keyed(file_of(self, "memory", "memory.events")).oom_kill
    else
      u.memory_peak_bytes = tonumber(file_of(self, "memory", "memory.max_usage_in_bytes"))
      u.oom_kills = keyed(file_of(self, "memory", "memory.oom_control")).oom_kill
    end
  end
  if self.ctl.pids then u.pids_peak = tonumber(file_of(self, "pids", "pids.peak")) end
  if self.ctl.io then
    local r, w = 0, 0
    if self.ctl.io.hierarchy == "v2" then
      for line in (file_of(self, "io", "io.stat") or ""):gmatch("[^\n]+") do
        r = r + (tonumber(line:match("rbytes=(%d+)")) or 0)
        w = w + (tonumber(line:match("wbytes=(%d+)")) or 0)
      end
      u.read_bytes, u.write_bytes = r, w
    end
    -- v1 blkio sees only direct I/O (writeback is not charged to the cgroup): rusage is better there.
  end
  return u
end

-- Kills every process in the run's cgroups: cgroup.kill on v2, else SIGKILL to each listed pid.
function Group:kill()
  if self.v2 and core.stat(self.v2 .. "/cgroup.kill") then
    core.cgroup_write(self.v2 .. "/cgroup.kill", "1")
    return
  end
  for _, p in ipairs(self.procs) do
    for pid in (read(p) or ""):gmatch("%d+") do core.kill(tonumber(pid), 9) end
  end
end

local function pids_left(self)
  for _, p in ipairs(self.procs) do
    if (read(p) or ""):match("%d") then return true end
  end
  return false
end

-- Removes the groups of runs and sessions that ended without removing theirs (their supervisor
-- was killed) from the parents this group was made in. Separate from create so that it runs off
-- the critical path, while the sandbox's init sets up (enforce/resources.lua): with many sessions
-- running, the parents hold many groups and the sweep cost a cold run ~2 ms.
function Group:sweep()
  local live = {}
  for _, pdir in ipairs(self.stale) do remove_stale(pdir, live) end
  self.stale = {}
end

-- Removes the run's cgroups (killing what is left in them first). Returns true or nil, err.
function Group:remove()
  if #self.created == 0 and next(self.parents) == nil then return true end
  local function rmdirs()
    local err, left = nil, {}
    for i = #self.created, 1, -1 do
      local ok, rerr = core.rmdir(self.created[i])
      if not ok then err = rerr; table.insert(left, 1, self.created[i]) end
    end
    self.created = left
    return err
  end
  -- Normally every group is empty already: the pid namespace died with init, which was reaped
  -- before this. So remove first and look for processes only when that fails (EBUSY): killed
  -- processes leave their cgroup only once they have exited, so wait a little for them then.
  local err = rmdirs()
  if err then
    for _ = 1, 100 do
      if not pids_left(self) then break end
      self:kill()
      core.sleep(0.02)
    end
    err = rmdirs()
  end
  -- Another run may still use a parent (EBUSY) or just have made it: that one removes it later.
  for dir in pairs(self.parents) do core.rmdir(dir) end
  if err then return nil, err end
  return true
end

return M
