-- Resources: rlimits, cgroup limits (cpu_shares, memory_limit_bytes, pids_limit, block_io_limit)
-- and the usage report.
--
-- Every run gets its own cgroup where the host allows one (root, or a delegated subtree): limits
-- are written there, the sandbox's init joins it before it is released (spawn's cgroup_procs), and
-- its counters give the usage report. A limit that cannot be enforced fails the run closed unless
-- resources.allow_unenforced (or --allow-unenforced) is set; then it becomes a warning.
local core = require "purple.core"
local cgroup = require "purple.cgroup"
local log = require "purple.log"

local M = {}

local PERIOD_US = 100000 -- CPU quota period: cpu_shares is a fraction of one CPU per period

-- Field → controller it needs.
local FIELDS = {
  { field = "cpu_shares", controller = "cpu" },
  { field = "memory_limit_bytes", controller = "memory" },
  { field = "pids_limit", controller = "pids" },
  { field = "block_io_limit", controller = "io" },
}

-- The limits the policy sets (purple.policy validated them: schema.lua is the one place that
-- knows their units and ranges). rlimits: the names of schema.lua's resources.rlimits, values
-- in bytes or counts; core dumps are off unless the policy sets rlimits.core.
local function limits(r)
  local lim = {}
  for _, f in ipairs(FIELDS) do lim[f.field] = r[f.field] end
  local rl = { core = 0 }
  for k, v in pairs(r.rlimits) do rl[k] = v end
  return lim, rl
end

-- Whole block devices ("major:minor") under the sandbox's writable bind mounts.
local function writable_devices(run)
  local devs, seen = {}, {}
  for _, m in ipairs(run.spec.mounts or {}) do
    if m.type == "bind" and not m.readonly and m.source then
      local st = core.stat(m.source)
      if st and st.dev_major ~= 0 then
        local id = ("%d:%d"):format(st.dev_major, st.dev_minor)
        local sys = "/sys/dev/block/" .. id
        if core.stat(sys) then
          -- io.max and blkio.throttle take whole disks: a partition is throttled on its disk.
          if core.stat(sys .. "/partition") then
            local disk = cgroup.read(sys .. "/../dev")
            id = disk and disk:match("%d+:%d+") or id
          end
          if not seen[id] then
            seen[id] = true
            devs[#devs + 1] = id
          end
        end
      end
    end
  end
  return devs
end

local function swap_active()
  local s = cgroup.read("/proc/swaps") or ""
  return s:match("\n%S") ~= nil
end

-- Writes one limit into the run's cgroup; nil, "why; fix" when the kernel refuses it.
local function apply(run, g, field, v)
  local function w(c, file, value)
    local ok, err = g:write(c, file, value)
    if not ok then return nil, ("%s; check that the kernel supports it"):format(err) end
    return true
  end
  local v2 = function(c) return g:hierarchy(c) == "v2" end
  if field == "cpu_shares" then
    local quota = math.floor(v * PERIOD_US)
    if v2("cpu") then return w("cpu", "cpu.max", ("%d %d"):format(quota, PERIOD_US)) end
    local ok, err = w("cpu", "cpu.cfs_period_us", PERIOD_US)
    if not ok then return nil, err end
    return w("cpu", "cpu.cfs_quota_us", quota)
  elseif field == "memory_limit_bytes" then
    local swapfile = v2("memory") and "memory.swap.max" or "memory.memsw.limit_in_bytes"
    local ok, err = w("memory", v2("memory") and "memory.max" or "memory.limit_in_bytes", v)
    if not ok then return nil, err end
    if g:has("memory", swapfile) then return w("memory", swapfile, v2("memory") and 0 or v) end
    if swap_active() then
      return nil, ("swap is on but the kernel has no %s to keep the sandbox out of it; boot with "
        .. "swapaccount=1 or turn swap off"):format(swapfile)
    end
    return true
  elseif field == "pids_limit" then
    return w("pids", "pids.max", v)
  elseif field == "block_io_limit" then
    local devs = writable_devices(run)
    run.io_devices = devs
    if #devs == 0 then
      log.info("resources.block_io_limit: no writable mount is on a block device; nothing to throttle")
    end
    for _, d in ipairs(devs) do
      local ok, err
      if v2("io") then
        ok, err = w("io", "io.max", ("%s rbps=%d wbps=%d"):format(d, v, v))
      else
        ok, err = w("io", "blkio.throttle.read_bps_device", ("%s %d"):format(d, v))
        if ok then ok, err = w("io", "blkio.throttle.write_bps_device", ("%s %d"):format(d, v)) end
      end
      if not ok then return nil, err end
    end
    return true
  end
end

local function unenforced(run, field, why)
  local msg = ("resources.%s: not enforced: %s"):format(field, why)
  log.warn("%s", msg)
  run.warnings[#run.warnings + 1] = msg
  if run.audit then
    require("purple.audit").record(run, "resource_unenforced", { field = "resources." .. field, reason = why })
  end
end

local function refuse(field, why)
  return nil, ("resources.%s: %s, or set resources.allow_unenforced = true to run without it")
    :format(field, why)
end

function M.prepare(run)
  local r = run.policy.resources
  local lim, rl = limits(r)
  run.spec.rlimits = rl
  local allow = r.allow_unenforced == true or run.opts.allow_unenforced == true

  run.usage_t0 = core.monotonic()
  run.rusage0 = core.rusage_children()

  -- Required controllers (limits) and optional ones (measurement only).
  local wanted = { memory = "optional", pids = "optional", cpuacct = "optional" }
  local field_of = {}
  for _, f in ipairs(FIELDS) do
    if lim[f.field] then
      local why = cgroup.unusable(f.controller, { parent = run.opts.cgroup_parent })
      if why and not allow then return refuse(f.field, why) end
      if why then
        unenforced(run, f.field, why)
        lim[f.field] = nil
      else
        wanted[f.controller] = "required"
        field_of[f.controller] = f.field
      end
    end
  end
  local layout = cgroup.layout({ parent = run.opts.cgroup_parent })
  run.cgroup_mode = layout.mode
  if layout.controllers.io.hierarchy == "v2" then
    wanted.io = wanted.io or "optional" -- v2 io.stat counts buffered writes too
  end

  local name = run.session:gsub("[^%w]", "_") .. "-" .. core.getpid()
  local g, c, why
  for _ = 1, #FIELDS + 1 do
    g, c, why = cgroup.create(name, wanted, { parent = run.opts.cgroup_parent })
    if g or not allow then break end
    unenforced(run, field_of[c], why)
    lim[field_of[c]] = nil
    wanted[c] = "optional"
  end
  if not g then return refuse(field_of[c], why) end
  run.cgroup = g

  for _, f in ipairs(FIELDS) do
    local v = lim[f.field]
    if v then
      local ok, aerr = apply(run, g, f.field, v)
      if not ok then
        if not allow then return refuse(f.field, aerr) end
        unenforced(run, f.field, aerr)
        lim[f.field] = nil
      end
    end
  end
  run.limits = lim
  if #g.procs > 0 then
    local procs = run.spec.cgroup_procs or {}
    for _, f in ipairs(g.procs) do procs[#procs + 1] = f end
    run.spec.cgroup_procs = procs
    log.debug("cgroups: %s", table.concat(g.procs, " "))
  end
  return true
end

-- While init builds the sandbox: the stale groups of killed runs go (cgroup.lua, Group:sweep).
function M.spawned(run)
  if run.cgroup then run.cgroup:sweep() end
end

-- After the grace period: SIGKILL for every process of the run, also through its cgroup.
function M.kill(run)
  if run.cgroup then run.cgroup:kill() end
end

function M.finish(run, result)
  if not run.usage_t0 then return end
  local u = run.cgroup and run.cgroup:usage() or {}
  local r0, r1 = run.rusage0, core.rusage_children()
  u.wall_seconds = core.monotonic() - run.usage_t0
  if not u.user_seconds then
    u.user_seconds = r1.utime - r0.utime
    u.system_seconds = r1.stime - r0.stime
  end
  -- Without a memory cgroup: the largest single process (the kernel keeps no sum for children).
  u.memory_peak_bytes = u.memory_peak_bytes or r1.maxrss_kb * 1024
  if not u.read_bytes then
    u.read_bytes = (r1.inblock - r0.inblock) * 512
    u.write_bytes = (r1.oublock - r0.oublock) * 512
  end
  u.cgroup = run.cgroup and #run.cgroup.procs > 0 and run.cgroup_mode or nil
  result.usage = u
  result.oom_killed = (u.oom_kills or 0) > 0
  if run.limits and next(run.limits) then result.limits = run.limits end
  if run.cgroup then
    run.cgroup:sweep() -- when the sandbox did not start
    local ok, err = run.cgroup:remove()
    if not ok then
      result.warnings[#result.warnings + 1] = "cgroup cleanup: " .. tostring(err)
      log.warn("cgroup cleanup: %s", tostring(err))
    end
  end
end

return M
