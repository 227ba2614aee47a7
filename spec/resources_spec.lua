-- Resource limits are enforced by the kernel through the run's cgroup, on whatever cgroup layout the
-- host has (v1/hybrid here, v2 in the test VM); an unenforceable limit fails closed; every run
-- reports its usage. The cases a host cannot do (no delegated cgroup, no block device) are pending.
local H = require "spec_helper"
local cgroup = require "purple.cgroup"

local unprivileged = os.getenv("PURPLE_SPEC_UNPRIVILEGED") == "1"
local layout = cgroup.describe()
local uid = (require("purple.core").ids())

local function usable(c) return layout.controllers[c].usable end

-- it() when every controller is usable here, else pending with the reason.
local function with(controllers, name, fn)
  for _, c in ipairs(controllers) do
    if not usable(c) then
      return pending(("%s (%s controller unusable: %s)"):format(name, c, layout.controllers[c].why))
    end
  end
  return it(name, fn)
end

-- A policy with the test helpers (those in helpers if given) at /h, /tmp as scratch, and the given
-- resources and output paths.
local function profile(resources, extra_fs, helpers)
  return H.profile(([[
return {
  name = "spec-resources",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" }, { host_path = %q, sandbox_path = "/h" } },
    scratch_paths = { "/tmp" },
    working_dir = "/tmp",
    %s
  },
  resources = { %s },
}]]):format(helpers or H.helpers, extra_fs or "", resources))
end

-- Runs the command; returns stdout, stderr, status and the --report result.
local function run(resources, argv, opts)
  opts = opts or {}
  local d = H.tmpdir()
  local report = d .. "/report.json"
  local args = { "--report", report }
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end
  local out, err, code = H.run(profile(resources, opts.fs), argv, { args = args, global = opts.global })
  local json = H.read(report)
  local result = json and require("lyaml").load(json) -- JSON is YAML
  return out, err, code, result
end

local MiB = 1024 * 1024

local function has_warning(r, pattern)
  for _, w in ipairs(r.warnings or {}) do
    if w:match(pattern) then return true end
  end
  return false
end

describe("resources", function()
  after_each(H.cleanup)

  describe("memory_limit_bytes", function()
    with({ "memory" }, "lets the command use 80% of the limit", function()
      local out, err, code, r = run("memory_limit_bytes = \"64M\"", { "/h/resource_hog", "mem", tostring(64 * MiB * 8 // 10) })
      assert.are.equal(0, code, err)
      assert.are.equal(("allocated %d\n"):format(64 * MiB * 8 // 10), out)
      assert.is_false(r.oom_killed)
      assert.is_true(r.usage.memory_peak_bytes >= 64 * MiB * 8 // 10)
      assert.is_true(r.usage.memory_peak_bytes <= 64 * MiB)
    end)

    with({ "memory" }, "OOM-kills an allocation of twice the limit: status 137, oom_killed", function()
      local out, err, code, r = run("memory_limit_bytes = \"64M\"", { "/h/resource_hog", "mem", tostring(128 * MiB) })
      assert.are.equal(137, code, err)
      assert.are.equal("", out)
      assert.is_true(r.oom_killed)
      assert.is_true(r.usage.oom_kills >= 1)
      assert.are.equal(137, r.status)
      assert.is_false(r.timed_out)
    end)
  end)

  describe("pids_limit", function()
    with({ "pids" }, "contains a fork bomb until the session timeout ends it (124)", function()
      local out, err, code, r = run("pids_limit = 16, session_timeout_seconds = 2, grace_seconds = 1",
        { "/h/resource_hog", "forkbomb" })
      assert.are.equal(124, code, err)
      assert.are.equal("contained\n", out)
      assert.is_true(r.timed_out)
      if r.usage.pids_peak then -- pids.peak: v1, and v2 from Linux 6.13
        assert.is_true(r.usage.pids_peak <= 16, "pids_peak " .. r.usage.pids_peak)
        assert.is_true(r.usage.pids_peak >= 8, "pids_peak " .. r.usage.pids_peak)
      end
    end)
  end)

  describe("cpu_shares", function()
    with({ "cpu" }, "holds a busy loop to its quota (±20%), measured by the cgroup's periods", function()
      local out, err, code, r = run("cpu_shares = 0.5", { "/h/resource_hog", "spin", "0.6" })
      assert.are.equal(0, code, err)
      assert.truthy(out:match("^spun"))
      local u = r.usage
      local cpu = u.user_seconds + u.system_seconds
      assert.is_true(cpu >= 0.6, "cpu " .. cpu)
      -- share = CPU time / (enforcement periods × 0.1 s): what the quota allowed per period
      assert.is_true(u.cpu_periods > 0)
      local share = cpu / (u.cpu_periods * 0.1)
      assert.is_true(share >= 0.4 and share <= 0.6, ("share %.3f over %d periods"):format(share, u.cpu_periods))
      assert.is_true(u.cpu_throttled_periods > 0)
    end)
  end)

  describe("block_io_limit", function()
    -- an output path on a real block device: the VM's disk, else /tmp when it is not tmpfs
    local disk = os.getenv("PURPLE_SPEC_DISK") or "/tmp"
    local st = require("purple.core").stat(disk)
    local on_block = st and st.dev_major ~= 0
    local test = on_block and with or function(_, name) pending(name .. " (" .. disk .. " is not on a block device)") end
    test({ "io" }, "throttles direct writes and reads on the output path's disk (±25%)", function()
      local dir = H.tmpdir()
      local out_dir = (os.getenv("PURPLE_SPEC_DISK") and (disk .. "/purple-spec-io-" .. uid)) or dir
      os.execute("mkdir -p " .. H.q(out_dir) .. " && chmod 777 " .. H.q(out_dir))
      local fs = ("output_paths = { { host_path = %q, sandbox_path = \"/out\" } },"):format(out_dir)
      local rate = 4 * MiB
      local out, err, code = run(("block_io_limit = %d"):format(rate),
        { "sh", "-c", "/h/resource_hog dwrite /out/f 8388608 && /h/resource_hog dread /out/f" }, { fs = fs })
      os.execute("rm -rf " .. H.q(out_dir))
      assert.are.equal(0, code, err)
      local wb, ws, rb, rs = out:match("^(%d+) ([%d.]+)\n(%d+) ([%d.]+)\n$")
      assert.truthy(wb, out)
      for _, m in ipairs({ { "write", wb / ws }, { "read", rb / rs } }) do
        assert.is_true(m[2] <= rate * 1.25 and m[2] >= rate * 0.75, ("%s %.0f B/s, limit %d"):format(m[1], m[2], rate))
      end
    end)
  end)

  describe("usage report", function()
    it("is in every result: wall and CPU time, peak memory, I/O, OOM kills, status", function()
      local out, err, code, r = run("", { "/h/resource_hog", "mem", tostring(16 * MiB) })
      assert.are.equal(0, code, err)
      local u = r.usage
      assert.is_true(u.wall_seconds > 0 and u.wall_seconds < 60)
      assert.is_true(u.user_seconds >= 0 and u.system_seconds >= 0)
      assert.is_true(u.user_seconds + u.system_seconds > 0)
      assert.is_true(u.memory_peak_bytes >= 16 * MiB, "memory_peak_bytes " .. u.memory_peak_bytes)
      assert.is_true(u.memory_peak_bytes < 1024 * MiB)
      assert.is_true(u.read_bytes >= 0 and u.write_bytes >= 0)
      assert.is_false(r.oom_killed)
      assert.are.equal(0, r.status)
    end)

    it("prints one summary line with -l info", function()
      local _, err, code = run("", { "true" }, { global = { "-l", "info" } })
      assert.are.equal(0, code, err)
      local line = err:match("purple: session %x+: status 0 in [%d.]+s; ([^\n]*)\n")
      assert.truthy(line, err)
      assert.truthy(line:match("^cpu [%d.]+s user %+ [%d.]+s sys, peak memory [%d.]+[BKMG], "), line)
    end)

    local disk = os.getenv("PURPLE_SPEC_DISK") or "/tmp"
    local disk_st = require("purple.core").stat(disk)
    local on_disk = disk_st and disk_st.dev_major ~= 0 and it
      or function(name) pending(name .. " (" .. disk .. " is not on a block device)") end
    on_disk("counts bytes written to an output path on a disk", function()
      local dir = disk .. "/purple-spec-usage-" .. uid
      os.execute("mkdir -p " .. H.q(dir) .. " && chmod 777 " .. H.q(dir))
      local fs = ("output_paths = { { host_path = %q, sandbox_path = \"/out\" } },"):format(dir)
      local _, err, code, r = run("", { "sh", "-c", "/h/resource_hog dwrite /out/f 1048576 >/dev/null" }, { fs = fs })
      os.execute("rm -rf " .. H.q(dir))
      assert.are.equal(0, code, err)
      assert.is_true(r.usage.write_bytes >= 1048576, "write_bytes " .. r.usage.write_bytes)
    end)
  end)

  describe("an unenforceable limit", function()
    it("fails closed when the configured cgroup parent does not exist (125)", function()
      local words = { "env", "PURPLE_CGROUP_PARENT=/purple-spec-missing", H.purple, "run", "--profile",
        profile("pids_limit = 10"), "--", "true" }
      for i, w in ipairs(words) do words[i] = H.q(w) end
      local out, err, code = H.sh(table.concat(words, " ") .. " </dev/null")
      assert.are.equal(125, code)
      assert.are.equal("", out)
      assert.are.equal("purple: resources.pids_limit: pids controller: cgroup parent /purple-spec-missing "
        .. "(PURPLE_CGROUP_PARENT) does not exist; create it (and delegate it to the user) or unset "
        .. "PURPLE_CGROUP_PARENT, or set resources.allow_unenforced = true (--allow-unenforced) to run without it\n", err)
    end)

    it("runs without it under --allow-unenforced, with a warning in the result", function()
      local d = H.tmpdir()
      local words = { "env", "PURPLE_CGROUP_PARENT=/purple-spec-missing", H.purple, "run", "--profile",
        profile("pids_limit = 10"), "--report", d .. "/r.json", "--allow-unenforced", "--", "sh", "-c", "echo ran" }
      for i, w in ipairs(words) do words[i] = H.q(w) end
      local out, err, code = H.sh(table.concat(words, " ") .. " </dev/null")
      assert.are.equal(0, code, err)
      assert.are.equal("ran\n", out)
      local r = require("lyaml").load(H.read(d .. "/r.json"))
      local mine = {} -- other parts of purple may warn about their own setup
      for _, w in ipairs(r.warnings) do
        if w:match("^resources%.") then mine[#mine + 1] = w end
      end
      assert.are.same({ "resources.pids_limit: not enforced: pids controller: cgroup parent /purple-spec-missing "
        .. "(PURPLE_CGROUP_PARENT) does not exist; create it (and delegate it to the user) or unset "
        .. "PURPLE_CGROUP_PARENT" }, mine)
      assert.is_nil(r.limits and r.limits.pids_limit)
    end)

    local no_delegation = layout.controllers.memory.code == "no-delegation"
    local test = no_delegation and it or function(name) pending(name .. " (cgroup limits are enforceable for this user here)") end
    test("fails closed without a delegated cgroup, naming the controller and the fixes", function()
      local out, err, code = run("memory_limit_bytes = \"64M\"", { "/h/resource_hog", "mem", "1000" })
      assert.are.equal(125, code)
      assert.are.equal("", out)
      assert.are.equal(("purple: resources.memory_limit_bytes: memory controller: uid %d has no delegated cgroup; "
        .. "run as root, run purple inside a delegated cgroup (systemd-run --user --scope -p Delegate=yes) or name "
        .. "one in PURPLE_CGROUP_PARENT, or set resources.allow_unenforced = true (--allow-unenforced) to run "
        .. "without it\n"):format(uid), err)
    end)

    test("runs with allow_unenforced and records the warning in the result", function()
      local out, err, code, r = run("memory_limit_bytes = \"64M\", allow_unenforced = true",
        { "/h/resource_hog", "mem", "1000" })
      assert.are.equal(0, code, err)
      assert.are.equal("allocated 1000\n", out)
      assert.truthy(has_warning(r, "^resources%.memory_limit_bytes: not enforced: memory controller: uid %d+ has no delegated cgroup"))
    end)

    test("runs with --allow-unenforced too", function()
      local _, err, code, r = run("pids_limit = 10", { "true" }, { args = { "--allow-unenforced" } })
      assert.are.equal(0, code, err)
      assert.truthy(has_warning(r, "^resources%.pids_limit: not enforced: "))
    end)
  end)

  -- An ordinary user with a cgroup delegated to it (chowned, as an administrator would on v1) and
  -- named in PURPLE_CGROUP_PARENT. On v2 the supervisor itself would have to live in the delegated
  -- subtree to move processes there: the test VM's user pass covers that case.
  local v1_deleg = uid == 0 and not unprivileged
  for _, c in ipairs({ "cpu", "memory", "pids" }) do
    v1_deleg = v1_deleg and usable(c) and layout.controllers[c].hierarchy == "v1"
  end
  local deleg_test = v1_deleg and it or function(name) pending(name .. " (needs root on a v1 cpu/memory/pids host)") end

  -- Runs argv as uid 65534 under a fresh v1 parent chowned to it (cpu, memory, pids); returns
  -- stdout, stderr, status, the --report result and the session cgroups left in the parent.
  local function run_delegated(resources, argv)
    local core = require "purple.core"
    local parent = "/purple-spec-deleg-" .. core.random_hex(4)
    local dirs = {}
    for _, c in ipairs({ "cpu", "memory", "pids" }) do
      local dir = layout.v1[c] .. parent
      dirs[#dirs + 1] = dir
      os.execute(("mkdir %s && chown 65534:65534 %s %s/cgroup.procs"):format(H.q(dir), H.q(dir), H.q(dir)))
    end
    local d = H.tmpdir()
    os.execute("chmod 777 " .. H.q(d))
    local nobody = H.nobody_tree() -- the tree may be out of that user's reach (a clone in /root)
    local words = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp",
      "PURPLE_CGROUP_PARENT=" .. parent, nobody.purple, "run", "--profile", profile(resources, nil, nobody.helpers),
      "--report", d .. "/r.json", "--" }
    for _, a in ipairs(argv) do words[#words + 1] = a end
    for i, w in ipairs(words) do words[i] = H.q(w) end
    local out, err, code = H.sh(table.concat(words, " ") .. " </dev/null")
    local leftovers = {}
    for _, dir in ipairs(dirs) do
      for _, name in ipairs(core.readdir(dir) or {}) do
        if name:match("^%x+%-%d+$") then leftovers[#leftovers + 1] = dir .. "/" .. name end
      end
      os.execute("rmdir " .. H.q(dir))
    end
    local json = H.read(d .. "/r.json")
    return out, err, code, json and require("lyaml").load(json), leftovers
  end

  describe("for an ordinary user with a delegated v1 parent named in PURPLE_CGROUP_PARENT", function()
    deleg_test("OOM-kills twice the memory limit", function()
      local out, err, code, r, leftovers = run_delegated("memory_limit_bytes = \"64M\", pids_limit = 8",
        { "/h/resource_hog", "mem", tostring(128 * MiB) })
      assert.are.equal(137, code, err)
      assert.are.equal("", out)
      assert.is_true(r.oom_killed)
      assert.are.same({ memory_limit_bytes = 64 * MiB, pids_limit = 8 }, r.limits)
      assert.are.same({}, leftovers)
    end)

    deleg_test("lets the command use 80% of the memory limit", function()
      local out, err, code, r, leftovers = run_delegated("memory_limit_bytes = \"64M\"",
        { "/h/resource_hog", "mem", tostring(64 * MiB * 8 // 10) })
      assert.are.equal(0, code, err)
      assert.are.equal(("allocated %d\n"):format(64 * MiB * 8 // 10), out)
      assert.is_false(r.oom_killed)
      assert.are.same({}, leftovers)
    end)

    deleg_test("contains a fork bomb until the session timeout ends it (124)", function()
      local out, err, code, r, leftovers = run_delegated("pids_limit = 16, session_timeout_seconds = 2, grace_seconds = 1",
        { "/h/resource_hog", "forkbomb" })
      assert.are.equal(124, code, err)
      assert.are.equal("contained\n", out)
      if r.usage.pids_peak then assert.is_true(r.usage.pids_peak <= 16, "pids_peak " .. r.usage.pids_peak) end
      assert.are.same({}, leftovers)
    end)

    deleg_test("holds a busy loop to its CPU quota (±20%)", function()
      local out, err, code, r, leftovers = run_delegated("cpu_shares = 0.5", { "/h/resource_hog", "spin", "0.6" })
      assert.are.equal(0, code, err)
      assert.truthy(out:match("^spun"))
      local u = r.usage
      local cpu = u.user_seconds + u.system_seconds
      assert.is_true(u.cpu_periods > 0)
      local share = cpu / (u.cpu_periods * 0.1)
      assert.is_true(share >= 0.4 and share <= 0.6, ("share %.3f over %d periods"):format(share, u.cpu_periods))
      assert.are.same({}, leftovers)
    end)
  end)

  describe("rlimits", function()
    it("sets nofile and fsize, and core = 0 by default", function()
      local out, err, code = run("rlimits = { nofile = 64, fsize = 1048576 }",
        { "sh", "-c", "ulimit -n; ulimit -f; ulimit -c" })
      assert.are.equal(0, code, err)
      assert.are.equal("64\n2048\n0\n", out)
    end)

    it("rejects an unknown rlimit (125)", function()
      local _, err, code = run("rlimits = { files = 3 }", { "true" })
      assert.are.equal(125, code)
      assert.truthy(err:match("^purple: [^\n]+%.lua: resources%.rlimits%.files: unknown key\n$"), err)
    end)
  end)

  describe("cgroups", function()
    with({ "memory" }, "are removed after the run", function()
      local _, err, code, r = run("memory_limit_bytes = \"64M\"", { "true" })
      assert.are.equal(0, code, err)
      local found = H.sh("find /sys/fs/cgroup -maxdepth 6 -type d -name '" .. r.session .. "-*' 2>/dev/null")
      assert.are.equal("", found)
    end)

    it("purple doctor prints the mode, the controllers it can use, and why not the others", function()
      local out, err, code = H.sh(H.purple .. " doctor --json")
      assert.are.equal(0, code, err)
      local checks = {}
      for _, c in ipairs(require("purple.json").decode(out).checks) do checks[c.name] = c end
      assert.truthy(checks.cgroups.detail:match("^mode " .. layout.mode), checks.cgroups.detail)
      for _, c in ipairs({ "cpu", "memory", "pids", "io" }) do
        local i, check = layout.controllers[c], checks[c .. " controller"]
        assert.are.equal(i.usable, check.ok, c)
        if i.usable then
          assert.are.equal(("%s, under %s"):format(i.hierarchy, i.parent), check.detail)
        else
          assert.are.equal(i.why, check.detail)
          assert.are.equal(i.fix, check.fix)
        end
      end
    end)

    it("describe() reports the mode and every controller with a reason when unusable", function()
      assert.truthy(({ v1 = true, v2 = true, hybrid = true, none = true })[layout.mode])
      for _, c in ipairs({ "cpu", "memory", "pids", "io" }) do
        local i = layout.controllers[c]
        assert.is_boolean(i.usable)
        if not i.usable then assert.is_string(i.why) assert.is_string(i.fix) end
      end
      if not unprivileged and uid == 0 and layout.mode ~= "none" then
        assert.is_true(usable("memory") and usable("pids") and usable("cpu"))
      end
    end)
  end)
end)
