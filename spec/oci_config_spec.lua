-- purple.oci.config: config.json validation (errors tested exactly) and real containers built from
-- a busybox-static rootfs, run through config.load/plan and purple's spawn (spec/helpers/oci_run.lua),
-- attacked from inside. Root and uid 65534 (spec/run.sh): unprivileged bundles add a user namespace
-- mapping the invoker to root, as rootless engines write them.
local H = require "spec_helper"
local core = require "purple.core"
local json = require "purple.json"
local config = require "purple.oci.config"
local hooks = require "purple.oci.hooks"
local layer = require "purple.oci.layer"

local ROOT = H.is_root()
local BUSYBOX = "/bin/busybox"
local APPLETS = { "sh", "id", "ls", "cat", "echo", "hostname", "mkdir", "touch", "kill", "head", "od", "grep",
  "readlink", "mknod", "wc", "sleep", "true", "umask", "dd", "ps", "pidof" }

local function has_busybox()
  local st = core.stat(BUSYBOX)
  return st and st.type == "file"
end

-- A bundle directory with a busybox rootfs (made once per spec file) and config.json from cfg.
local rootfs
local function make_rootfs()
  if rootfs and core.stat(rootfs) then return rootfs end -- a describe's teardown removes it
  local d = H.tmpdir()
  rootfs = d .. "/rootfs"
  assert(os.execute(("mkdir -p %s/bin %s/etc %s/proc %s/sys %s/dev %s/tmp && cp %s %s/bin/busybox"):format(
    rootfs, rootfs, rootfs, rootfs, rootfs, rootfs, BUSYBOX, rootfs)))
  for _, a in ipairs(APPLETS) do assert(os.execute(("ln -s busybox %s/bin/%s"):format(rootfs, a))) end
  H.write(rootfs .. "/etc/passwd", "root:x:0:0:root:/:/bin/sh\n")
  H.write(rootfs .. "/etc/group", "root:x:0:\n")
  return rootfs
end

-- A fresh bundle whose rootfs is a copy (tests that write into it get their own).
local function bundle(cfg, copy)
  local d = H.tmpdir()
  if copy then
    assert(os.execute(("cp -a %s %s/rootfs"):format(make_rootfs(), d)))
  else
    assert(os.execute(("ln -s %s %s/rootfs"):format(make_rootfs(), d)))
  end
  H.write(d .. "/config.json", json.encode(cfg))
  return d
end

-- The base config: what `runc spec` writes (rootless: `runc spec --rootless` when not root).
local function base(args)
  local uid, gid = core.ids()
  local caps = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" }
  local c = {
    ociVersion = "1.0.2-dev",
    process = {
      user = { uid = 0, gid = 0 },
      args = args,
      env = { "PATH=/bin", "TERM=xterm" },
      cwd = "/",
      capabilities = { bounding = caps, effective = caps, permitted = caps },
      rlimits = { { type = "RLIMIT_NOFILE", hard = 1024, soft = 1024 } },
      noNewPrivileges = true,
    },
    root = { path = "rootfs", readonly = true },
    hostname = "oci",
    mounts = {
      { destination = "/proc", type = "proc", source = "proc" },
      { destination = "/dev", type = "tmpfs", source = "tmpfs", options = { "nosuid", "strictatime", "mode=755",
        "size=65536k" } },
      { destination = "/dev/pts", type = "devpts", source = "devpts", options = { "nosuid", "noexec", "newinstance",
        "ptmxmode=0666", "mode=0620" } },
      { destination = "/tmp", type = "tmpfs", source = "tmpfs", options = { "nosuid", "nodev" } },
    },
    linux = {
      namespaces = { { type = "pid" }, { type = "network" }, { type = "ipc" }, { type = "uts" }, { type = "mount" } },
      maskedPaths = { "/proc/kcore" },
      readonlyPaths = { "/proc/sys" },
    },
  }
  if not ROOT then
    table.insert(c.linux.namespaces, { type = "user" })
    c.linux.uidMappings = { { containerID = 0, hostID = uid, size = 1 } }
    c.linux.gidMappings = { { containerID = 0, hostID = gid, size = 1 } }
  end
  return c
end

local function run(cfg, opts)
  opts = opts or {}
  local d = bundle(cfg, opts.copy)
  local out, err, code = H.sh(("%s %s %s %s </dev/null"):format(H.q(H.purple_lua),
    H.q(H.tree .. "/spec/helpers/oci_run.lua"), H.q(d), opts.profile and H.q(opts.profile) or ""))
  return out, err, code, d
end

-- Has this user a cgroup of its own for containers (root, PURPLE_CGROUP_PARENT, a delegated v2 cgroup)?
local function delegated()
  if ROOT or (os.getenv("PURPLE_CGROUP_PARENT") or "") ~= "" then return true end
  local h = require("purple.cgroup").layout().hierarchies.v2
  return h ~= nil and h.parent ~= nil
end

-- config.plan on a table (no file): nil, err or the plan.
local function plan_of(cfg, opts)
  local d = H.tmpdir()
  H.write(d .. "/config.json", json.encode(cfg))
  local spec, err = config.load(d)
  if not spec then return nil, err end
  return config.plan(spec, opts)
end

describe("purple.oci.config validation", function()
  teardown(H.cleanup)

  local function load_err(text)
    local d = H.tmpdir()
    H.write(d .. "/config.json", text)
    local spec, err = config.load(d)
    assert.is_nil(spec)
    return err
  end

  it("needs ociVersion and refuses a runtime-spec newer than it knows", function()
    assert.equal("config.json: ociVersion: required (a string)", load_err('{"process": {"cwd": "/"}}'))
    assert.equal("config.json: ociVersion: 1.3.0 is newer than the runtime-spec 1.2 purple-oci knows; its "
      .. "properties could not all be checked", load_err('{"ociVersion": "1.3.0"}'))
    assert.equal("config.json: ociVersion: \"one\" is not a runtime-spec version (MAJOR.MINOR.PATCH)",
      load_err('{"ociVersion": "one"}'))
  end)

  it("names malformed JSON and wrong types by their path", function()
    assert.truthy(load_err('{"ociVersion": "1.0.0",'):match("^config%.json: json: "))
    -- nesting deeper than the decoder's C stack (found by fuzz_oci_config) is bad JSON, not a crash
    assert.equal("config.json: json: nested too deeply", load_err(('{"a":['):rep(20000)))
    assert.equal("config.json: process.rlimits[0].soft: must be an integer (0 to 18446744073709551615)",
      load_err(json.encode({
      ociVersion = "1.0.0", process = { cwd = "/", rlimits = { { type = "RLIMIT_NOFILE", soft = "x", hard = 1 } } } })))
    assert.equal("config.json: root.path: required", load_err('{"ociVersion": "1.1.0", "root": {}}'))
    assert.equal("config.json: process.args[1]: must not be null",
      load_err('{"ociVersion": "1.1.0", "process": {"cwd": "/", "args": ["sh", null]}}'))
    -- a null property reads as absent
    local d = H.tmpdir()
    H.write(d .. "/config.json", '{"ociVersion": "1.1.0", "hostname": null, "process": {"cwd": "/", "terminal": null}}')
    local spec = assert(config.load(d))
    assert.is_nil(spec.hostname)
    assert.is_nil(spec.process.terminal)
  end)

  it("refuses every property it cannot enforce, by name", function()
    assert.equal("config.json: linux.intelRdt: not supported by purple-oci (Intel RDT)",
      load_err('{"ociVersion": "1.1.0", "linux": {"intelRdt": {"closID": "x"}}}'))
    assert.equal("config.json: process.apparmorProfile: not supported by purple-oci (AppArmor profiles)",
      load_err('{"ociVersion": "1.1.0", "process": {"cwd": "/", "apparmorProfile": "docker-default"}}'))
    assert.equal("config.json: linux.resources.hugepageLimits: not supported by purple-oci (huge page limits)",
      load_err('{"ociVersion": "1.1.0", "linux": {"resources": {"hugepageLimits": '
        .. '[{"pageSize": "2MB", "limit": 1}]}}}'))
    -- an empty value asks for nothing: engines write "apparmorProfile": ""
    local d = H.tmpdir()
    H.write(d .. "/config.json", '{"ociVersion": "1.1.0", "process": {"cwd": "/", "apparmorProfile": ""}}')
    assert.truthy(config.load(d))
  end)

  it("ignores unknown extension properties with a warning (runtime-spec Extensibility)", function()
    local d = H.tmpdir()
    H.write(d .. "/config.json", '{"ociVersion": "1.0.2-dev", "org.example.x": 1, "linux": {"vendorThing": {}}}')
    local spec = assert(config.load(d))
    assert.same({ "linux.vendorThing: not a runtime-spec property; ignored (runtime-spec: Extensibility)",
      "org.example.x: not a runtime-spec property; ignored (runtime-spec: Extensibility)" }, spec.warnings)
  end)

  it("refuses what the plan cannot honour", function()
    local function perr(mut)
      local c = base({ "true" })
      mut(c)
      local p, err = plan_of(c)
      assert.is_nil(p)
      return err
    end
    assert.equal('config.json: mounts[4].type: "overlay" is not supported by purple-oci (bind, proc, tmpfs, sysfs, '
      .. "devpts, mqueue, cgroup)", perr(function(c)
        c.mounts[5] = { destination = "/x", type = "overlay", source = "overlay" } end))
    assert.equal('config.json: mounts[4].options[1]: "rshared" is not supported by purple-oci', perr(function(c)
      c.mounts[5] = { destination = "/x", type = "bind", source = "/tmp", options = { "rbind", "rshared" } } end))
    assert.equal("config.json: linux.sysctl.kernel.panic: not a namespaced sysctl (net.*, kernel.shm*, kernel.msg*, "
      .. "kernel.sem, fs.mqueue.*)", perr(function(c) c.linux.sysctl = { ["kernel.panic"] = "1" } end))
    assert.equal("config.json: linux.sysctl.net.//.//.//.etc.passwd: not a sysctl name (dot-separated words)",
      perr(function(c) c.linux.sysctl = { ["net.//.//.//.etc.passwd"] = "x" } end))
    assert.equal("config.json: linux.sysctl.kernel.shmmax: needs a new ipc namespace", perr(function(c)
      table.remove(c.linux.namespaces, 3)
      c.linux.sysctl = { ["kernel.shmmax"] = "1" }
    end))
    assert.equal("config.json: linux.namespaces: purple-oci needs a pid namespace other than its own (its init is the "
      .. 'container\'s pid 1); add {"type": "pid"}', perr(function(c) table.remove(c.linux.namespaces, 1) end))
    assert.equal("config.json: linux.namespaces[4].path: joining a mount namespace is not supported by purple-oci "
      .. "(network, ipc, uts, pid and cgroup can be joined)",
      perr(function(c) c.linux.namespaces[5].path = "/proc/1/ns/mnt" end))
    if not ROOT then -- setns needs CAP_SYS_ADMIN, which uid 65534 has not: said before anything runs
      assert.equal(("config.json: linux.namespaces[0].path: joining a namespace needs CAP_SYS_ADMIN, which purple-oci "
        .. "run by uid %d has not (run it as root, or as root of a user namespace that owns /proc/2/ns/pid)"):format(
        (core.ids())), perr(function(c) c.linux.namespaces[1].path = "/proc/2/ns/pid" end))
    end
    assert.equal("config.json: linux.namespaces[0].type: time namespaces are not supported by purple-oci",
      perr(function(c) c.linux.namespaces[1].type = "time" end))
    assert.equal("config.json: linux.seccomp.syscalls[0].action: SCMP_ACT_TRAP is not supported by purple-oci",
      perr(function(c) c.linux.seccomp = { defaultAction = "SCMP_ACT_ALLOW",
        syscalls = { { names = { "getpid" }, action = "SCMP_ACT_TRAP" } } } end))
    assert.equal("config.json: linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_LOG is not supported by purple-oci",
      perr(function(c)
        c.linux.seccomp = { defaultAction = "SCMP_ACT_ALLOW", flags = { "SECCOMP_FILTER_FLAG_LOG" } }
      end))
    assert.equal('config.json: linux.cgroupsPath: "system.slice:libpod:x" is a systemd slice:prefix:name path; '
      .. "purple-oci manages cgroupfs paths only (no --systemd-cgroup)",
      perr(function(c) c.linux.cgroupsPath = "system.slice:libpod:x" end))
    assert.equal('config.json: process.capabilities.bounding[0]: "CAP_NOPE" is not a capability this kernel knows',
      perr(function(c) c.process.capabilities.bounding = { "CAP_NOPE" } end))
    assert.equal("config.json: process.rlimits[0].type: RLIMIT_FOO is not supported by purple-oci",
      perr(function(c) c.process.rlimits[1].type = "RLIMIT_FOO" end))
    assert.equal("config.json: process.rlimits[0]: soft is above hard",
      perr(function(c) c.process.rlimits[1].soft = 2048 end))
    assert.equal("config.json: hostname: needs a new uts namespace ({\"type\": \"uts\"})",
      perr(function(c) table.remove(c.linux.namespaces, 4) end))
  end)

  it("names a conflict between the profile and the config", function()
    local profiles = require "purple.profiles"
    local policy = assert(profiles.load("ai-strict"))
    local c = base({ "true" })
    c.linux.namespaces[2].path = "/proc/1/ns/net"
    local p, err = plan_of(c, { profile = policy })
    assert.is_nil(p)
    assert.equal("purple.profile ai-strict: network.isolated: the container joins the network namespace "
      .. "/proc/1/ns/net; the profile allows no network", err)
    -- without a network namespace in the config, the profile adds one
    c = base({ "true" })
    table.remove(c.linux.namespaces, 2)
    p = assert(plan_of(c, { profile = policy }))
    assert.truthy(("," .. p.spec.namespaces .. ","):find(",net,", 1, true))
  end)

  it("names an rlimit above the runtime's own hard limit before anything runs (podman's 1048576)", function()
    local _, own = core.getrlimit("nofile")
    local eff = (H.read("/proc/self/status") or ""):match("\nCapEff:%s*(%x+)")
    if own == -1 or ((tonumber(eff:sub(-8), 16) or 0) >> 24) & 1 == 1 then
      pending("this runtime may raise its hard nofile limit (CAP_SYS_RESOURCE, or no limit)")
    end
    local c = base({ "true" })
    c.process.rlimits = { { type = "RLIMIT_NOFILE", soft = own + 1, hard = own + 1 } }
    local p, err = plan_of(c)
    assert.is_nil(p)
    assert.equal(("config.json: process.rlimits[0]: RLIMIT_NOFILE hard %d is above the runtime's own hard limit %d, "
      .. "which only CAP_SYS_RESOURCE may raise (podman: default_ulimits in containers.conf, or --ulimit "
      .. "nofile=%d:%d)"):format(own + 1, own, own, own), err)
  end)

  it("reads 18446744073709551615 (RLIM_INFINITY) as unlimited", function()
    local c = base({ "true" })
    c.process.rlimits = { { type = "RLIMIT_CORE", soft = 0, hard = 1 } }
    local d = H.tmpdir()
    H.write(d .. "/config.json", (json.encode(c):gsub('"hard":1', '"hard":18446744073709551615')))
    local plan = assert(config.plan(assert(config.load(d))))
    assert.same({ soft = 0, hard = -1 }, plan.spec.rlimits.core)
  end)

  it("intersects seccomp rule tables: the stricter decision for every call and argument", function()
    local a = { default = "allow",
      rules = { { nr = 1, action = 5, args = { { 0, "eq", 7 } } }, { nr = 2, action = "kill" } } }
    local b = { default = 1, rules = { { nr = 1, action = "allow" }, { nr = 3, action = "allow" } } }
    local t = assert(layer.intersect(a, b))
    local function decide(nr, arg0)
      for _, r in ipairs(t.rules) do
        if r.nr == nr then
          local ok = true
          for _, c in ipairs(r.args or {}) do
            if not (c[2] == "eq" and arg0 == c[3]) then ok = false end
          end
          if ok then return r.action end
        end
      end
      return t.default
    end
    assert.equal(5, decide(1, 7))          -- a: errno 5 for arg 7, b allows: errno 5
    assert.equal("allow", decide(1, 8))    -- a allows other args, b allows: allow
    assert.equal("kill", decide(2, 0))     -- a kills, b says errno 1: kill
    assert.equal("allow", decide(3, 0))    -- both allow
    assert.equal(1, decide(4, 0))          -- a allows by default, b errno 1 by default
  end)

  it("keeps the profile's supervised calls notify (below an errno, above log and allow) for the monitor", function()
    local a = { default = "allow", rules = { { nr = 1, action = 95 }, { nr = 2, action = "log" }, { nr = 3, action = "kill" } } }
    local b = { default = "notify", rules = { { nr = 4, action = "allow" } } }
    local t = assert(layer.intersect(a, b))
    local by = {}
    for _, r in ipairs(t.rules) do if by[r.nr] == nil then by[r.nr] = r.action end end -- the first rule decides
    -- the config's errno stays the config's (as before, when notify became EPERM and the first errno won)
    assert.are.same({ 95, "notify", "kill", "allow" }, { by[1], by[2], by[3], by[4] })
    assert.equal("notify", t.default)
    -- ai-strict on a config without a filter: the listener for the monitor, and what it says of mount
    local policy = assert(require("purple.profiles").load("ai-strict"))
    local c = base({ "true" })
    c.mounts[4] = nil -- the profile's scratch path /tmp is a private tmpfs
    local p = assert(plan_of(c, { profile = policy }))
    assert.is_true(p.spec.seccomp_listener)
    assert.are.same({ profile = "ai-strict", errno = 1, mount = "mount\tto permit it add \"mount\" to syscalls.allow in "
      .. "ai-strict\tnot allowed" }, { profile = p.violations.profile, errno = p.violations.errno,
      mount = p.violations.calls[core.syscall_number("mount")] })
    assert.is_nil(p.violations.calls[core.syscall_number("read")]) -- allowed: never notified
    -- a config whose own filter denies everything leaves nothing to supervise: no listener, no monitor
    c.linux.seccomp = { defaultAction = "SCMP_ACT_ERRNO", syscalls = { { names = { "execve", "exit", "exit_group" },
      action = "SCMP_ACT_ERRNO" } } }
    p = assert(plan_of(c, { profile = policy }))
    assert.is_false(p.spec.seccomp_listener)
    assert.is_nil(p.violations)
    -- syscalls.action kill: the supervised calls are killed by the kernel, unreported
    local kp = H.tmpdir() .. "/killing.yaml"
    H.write(kp, 'name: killing\nsyscalls:\n  default_deny: true\n  action: kill\n  allow: ["@system-service"]\n')
    local killing = assert(require("purple.profiles").load(kp))
    c.linux.seccomp = nil
    p = assert(plan_of(c, { profile = killing }))
    assert.is_false(p.spec.seccomp_listener)
    assert.is_nil(p.violations)
  end)
end)

-- purple.oci.devices: the v1 controller's rules (security/device_cgroup.c) turned into the v2
-- program's list, and the program itself (core.cgroup_device_filter) on a v2 group of the host.
describe("purple-oci device rules", function()
  local devices = require "purple.oci.devices"

  it("checks linux.resources.devices by name and writes it after runc's \"deny all\", with runc's default allow "
    .. "list and the nodes after it", function()
    local function err(d) return select(2, devices.writes({ d }, {}, json.null)) end
    assert.equal("config.json: linux.resources.devices[0].type: must be a, c or b", err({ allow = true, type = "p" }))
    assert.equal("config.json: linux.resources.devices[0].access: must be letters of rwm",
      err({ allow = true, type = "c", access = "rx" }))
    assert.equal("config.json: linux.resources.devices[0]: type a (all devices) must come without major, minor and "
      .. "with access rwm", err({ allow = false, type = "a", major = 1 }))
    assert.equal("config.json: linux.resources.devices[0].minor: must be 0 or more, or -1 for any",
      err({ allow = true, type = "c", major = 1, minor = -2 }))
    local w = assert(devices.writes({ { allow = false, access = "rwm" }, { allow = true, type = "b", major = 8,
      minor = -1, access = "r" } }, { "c 10:200 rwm" }, json.null))
    local texts = {}
    for _, x in ipairs(w) do texts[#texts + 1] = x.file:sub(9) .. " " .. x.text end
    local defaults = { "allow c *:* m", "allow b *:* m", "allow c 1:3 rwm", "allow c 1:5 rwm", "allow c 1:7 rwm",
      "allow c 1:8 rwm", "allow c 1:9 rwm", "allow c 5:0 rwm", "allow c 5:1 rwm", "allow c 5:2 rwm",
      "allow c 136:* rwm" }
    assert.are.same({ "deny a", "deny a", "allow b 8:* r", table.unpack(defaults) },
      { table.unpack(texts, 1, #texts - 1) })
    assert.equal("allow c 10:200 rwm", texts[#texts])
    assert.equal("linux.resources.devices", w[1].prop)
    assert.equal("linux.resources.devices[1]", w[3].prop)
    assert.equal("linux.devices", w[15].prop)
    -- no list: still from "deny all" (the parent's "allow all" would let an image's device node open a host disk)
    texts = {}
    for _, x in ipairs(assert(devices.writes({}, {}, json.null))) do texts[#texts + 1] = x.file:sub(9) .. " " .. x.text end
    assert.are.same({ "deny a", table.unpack(defaults) }, texts)
  end)

  it("gives the v2 program exactly what the v1 controller keeps", function()
    local function prog(list)
      local w = {}
      for _, s in ipairs(list) do
        local file, text = s:match("^(%a+) (.*)$")
        w[#w + 1] = { file = "devices." .. file, text = text }
      end
      return devices.program(w)
    end
    local function allow(t, ma, mi, acc) return { allow = true, type = t, major = ma, minor = mi, access = acc } end
    local function deny(t, ma, mi, acc) return { allow = false, type = t, major = ma, minor = mi, access = acc } end
    -- v1 starts from its parent's "allow all": nothing written keeps it
    assert.are.same({ allow("a", nil, nil, "rwm") }, prog({}))
    -- deny all, then exceptions; an equal allow merges, a deny takes access away; a deny for another
    -- number (even a wildcard over it) removes nothing, as in v1
    assert.are.same({ allow("c", 1, 3, "r"), allow("b", 8, -1, "rm") }, prog({ "deny a", "allow c 1:3 r",
      "allow b 8:* r", "allow c 1:3 w", "allow b 8:* m", "deny c 1:3 w", "deny c *:* rwm", "deny b 8:0 rwm" }))
    -- an exception losing all its access goes
    assert.are.same({}, prog({ "deny a", "allow c 1:3 rw", "deny c 1:3 rwm" }))
    -- allow by default: denies become exceptions, allows take them back
    assert.are.same({ allow("a", nil, nil, "rwm"), deny("c", 1, 7, "w"), deny("b", -1, -1, "m") },
      prog({ "deny c 1:7 rw", "deny b *:* m", "allow c 1:7 r" }))
    -- "a" starts over
    assert.are.same({ allow("a", nil, nil, "rwm") }, prog({ "deny a", "allow c 1:3 rwm", "allow a" }))
  end)

  it("core.cgroup_device_filter raises on malformed rules", function()
    local function e(r)
      local ok, msg = pcall(core.cgroup_device_filter, "/nonexistent", { r })
      assert.is_false(ok)
      return msg
    end
    assert.equal("cgroup_device_filter: rules[1].allow must be a boolean", e({ type = "a", access = "rwm" }))
    assert.equal("cgroup_device_filter: rules[1].type must be a, b or c", e({ allow = true, type = "p", access = "r" }))
    assert.equal("cgroup_device_filter: rules[1].access must be letters of rwm",
      e({ allow = true, type = "c", access = "rx" }))
    assert.equal("cgroup_device_filter: rules[1].access must be letters of rwm", e({ allow = true, type = "c" }))
    assert.equal("cgroup_device_filter: rules[1]: major and minor must be 0-4294967295 or -1 (any)",
      e({ allow = true, type = "c", major = -2, access = "r" }))
    assert.equal("cgroup_device_filter: rules[1]: unknown field 'acess'",
      e({ allow = true, type = "c", acess = "r", access = "r" }))
  end)

  -- a v2 group of the host's (the hybrid host's empty v2 hierarchy works as well as the VM's):
  -- a shell moves itself in and reports which of /dev/null, /dev/zero and /dev/full it may open
  -- for reading and for writing, and whether it may mknod
  local layout = require("purple.cgroup").layout()
  local n = 0
  local function probe(rules)
    n = n + 1
    local dir = ("%s/purple-oci-spec-dev-%d-%d"):format(layout.v2, core.getpid(), n)
    assert(core.mkdir(dir, 493))
    local ok, ferr = core.cgroup_device_filter(dir, rules)
    local t = H.tmpdir()
    local out, err, code = H.sh(("sh -c %s"):format(H.q(("echo $$ > %s/cgroup.procs || exit 9; "
      .. "for d in null zero full; do r=n; w=n; { true </dev/$d; } 2>/dev/null && r=y; "
      .. "{ true >>/dev/$d; } 2>/dev/null && w=y; echo $d $r$w; done; "
      .. "mknod %s/x c 1 3 2>/dev/null && echo mknod y || echo mknod n"):format(dir, t))))
    -- the shell has ended: the group (and with it the program) goes
    for _ = 1, 100 do
      if core.rmdir(dir) or not core.stat(dir) then break end
      core.sleep(0.01)
    end
    assert.is_nil(core.stat(dir))
    assert.are.same({ true, "", 0 }, { ok or ferr, err, code })
    return out
  end

  it("a v2 group's device program allows what a rule covers, the last matching rule deciding (root)", function()
    if not ROOT then pending("loading a device program needs CAP_SYS_ADMIN (the unprivileged pass tests the refusal)") end
    if not layout.v2 then pending("the host has no cgroup v2 hierarchy") end
    local function r(allow, t, ma, mi, acc) return { allow = allow, type = t, major = ma, minor = mi, access = acc } end
    -- nothing matches: denied; an allow needs every requested access
    assert.equal("null yy\nzero yn\nfull nn\nmknod n\n", probe({ r(true, "c", 1, 3, "rw"), r(true, "c", 1, 5, "r") }))
    -- a deny needs any requested access; the last match decides
    assert.equal("null yy\nzero ny\nfull yn\nmknod y\n", probe({ r(true, "a", -1, -1, "rwm"), r(false, "c", 1, 7, "w"),
      r(false, "c", 1, 5, "rm"), r(true, "c", 1, 3, "m") }))
    assert.equal("null yy\nzero nn\nfull nn\nmknod y\n", probe({ r(false, "c", 1, 3, "rwm"), r(true, "c", 1, 3, "rwm"),
      r(true, "c", -1, 3, "m") }))
    -- wildcards: any type, any major
    assert.equal("null yy\nzero yy\nfull yy\nmknod n\n", probe({ r(true, "c", 1, -1, "rw") }))
  end)

  it("core.cgroup_device_filter without CAP_SYS_ADMIN: nil, the program's group and EPERM", function()
    if ROOT then pending("the unprivileged pass tests this") end
    local dir = layout.v2 or "/sys/fs/cgroup"
    assert.are.same({ nil, "bpf device program " .. dir .. ": Operation not permitted", 1 },
      { core.cgroup_device_filter(dir, { { allow = true, type = "a", access = "rwm" } }) })
  end)
end)

describe("purple.oci.config containers", function()
  teardown(H.cleanup)

  before_each(function()
    if not has_busybox() then pending("needs busybox-static (" .. BUSYBOX .. ")") end
  end)

  it("runs the command as the config's user, in its own root, hostname and namespaces", function()
    local c = base({ "sh", "-c", "id; hostname; cat /proc/1/comm; echo x > /x || echo rofs" })
    local out, err, code = run(c)
    assert.equal(0, code, err)
    assert.equal("uid=0(root) gid=0(root)\noci\npurple-init\nrofs\n", out)
    assert.equal("sh: can't create /x: Read-only file system\n", err)
  end)

  it("leaves the root writable when root.readonly is false", function()
    local c = base({ "sh", "-c", "echo x > /written && cat /written" })
    c.root.readonly = false
    local out, err, code, d = run(c, { copy = true })
    assert.equal(0, code, err)
    assert.equal("x\n", out)
    assert.equal("x\n", H.read(d .. "/rootfs/written"))
  end)

  it("sets uid, gid and additional groups (root)", function()
    if not ROOT then
      pending("additionalGids need purple-oci run by root (an unprivileged user namespace denies setgroups)")
    end
    local c = base({ "id" })
    c.process.user = { uid = 1000, gid = 1001, additionalGids = { 4242, 4243 } }
    local out, err, code = run(c)
    assert.equal(0, code, err)
    assert.equal("uid=1000 gid=1001 groups=4242,4243\n", out)
  end)

  it("refuses additionalGids in an unprivileged user namespace", function()
    if ROOT then pending("the unprivileged pass tests this") end
    local c = base({ "id" })
    c.process.user.additionalGids = { 5 }
    local out, err, code = run(c)
    assert.equal(125, code)
    assert.equal("", out)
    assert.equal("config.json: process.user.additionalGids: needs purple-oci run by root (an unprivileged user "
      .. "namespace denies setgroups)\n", err)
  end)

  it("gives exactly the configured capability sets", function()
    local c = base({ "sh", "-c", "grep Cap /proc/self/status; hostname other || echo denied" })
    local out, err, code = run(c)
    assert.equal(0, code, err)
    -- CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29)
    assert.equal("CapInh:\t0000000000000000\nCapPrm:\t0000000020000420\nCapEff:\t0000000020000420\n"
      .. "CapBnd:\t0000000020000420\nCapAmb:\t0000000000000000\ndenied\n", out)
    assert.equal("hostname: sethostname: Operation not permitted\n", err)
  end)

  it("answers with the seccomp profile's errnoRet and argument rules", function()
    local c = base({ "sh", "-c", "mkdir /tmp/a; kill -0 $$ && echo sig0; kill -USR1 $$ || echo usr1-denied" })
    c.linux.seccomp = { defaultAction = "SCMP_ACT_ALLOW", architectures = { "SCMP_ARCH_X86_64" },
      syscalls = {
        { names = { "mkdir", "mkdirat" }, action = "SCMP_ACT_ERRNO", errnoRet = 95 },
        { names = { "kill" }, action = "SCMP_ACT_ERRNO", args = { { index = 1, value = 10, op = "SCMP_CMP_EQ" } } },
      } }
    local out, err, code = run(c)
    assert.equal(0, code, err)
    assert.equal("sig0\nusr1-denied\n", out)
    assert.equal("mkdir: can't create directory '/tmp/a': Operation not supported\n"
      .. "sh: can't kill pid " .. "1: Operation not permitted\n", err:gsub("pid %d+", "pid 1"))
  end)

  it("starts a tmpcopyup tmpfs with a copy of what the image has there, leaving the image unchanged", function()
    local c = base({ "sh", "-c", "cat /run/sub/f; readlink /run/l; echo new > /run/n && cat /run/n" })
    c.mounts[#c.mounts + 1] = { destination = "/run", type = "tmpfs", source = "tmpfs",
      options = { "rw", "rprivate", "nosuid", "nodev", "tmpcopyup" } }
    local d = H.tmpdir()
    assert(os.execute(("cp -a %s %s/rootfs && mkdir -p %s/rootfs/run/sub && echo image > %s/rootfs/run/sub/f && "
      .. "ln -s sub/f %s/rootfs/run/l"):format(make_rootfs(), d, d, d, d)))
    H.write(d .. "/config.json", json.encode(c))
    local out, err, code = H.sh(("%s %s %s </dev/null"):format(H.q(H.purple_lua),
      H.q(H.tree .. "/spec/helpers/oci_run.lua"), H.q(d)))
    assert.equal(0, code, err)
    assert.equal("image\nsub/f\nnew\n", out)
    assert.is_nil(core.stat(d .. "/rootfs/run/n"))
  end)

  it("roots a cgroup mount at the container's own cgroup (a cgroup namespace is added for it)", function()
    local c = base({ "sh", "-c", "ls -d /sys/fs/cgroup/*/ 2>/dev/null | wc -l; grep -c '^0::/$' /proc/self/cgroup" })
    c.mounts[#c.mounts + 1] = { destination = "/sys/fs/cgroup", type = "cgroup", source = "cgroup",
      options = { "rprivate", "nosuid", "noexec", "nodev", "relatime", "ro" } }
    local out, err, code = run(c)
    assert.equal(0, code, err)
    -- no group of anyone else below it, and the container's own group is its root
    assert.equal("0\n1\n", out)
  end)

  it("masks maskedPaths and makes readonlyPaths read-only", function()
    local c = base({ "sh", "-c", "ls /etc | wc -l; wc -c < /proc/cpuinfo; echo x > /tmp/f || echo ro" })
    c.linux.maskedPaths = { "/etc", "/proc/cpuinfo", "/does/not/exist" }
    c.linux.readonlyPaths = { "/tmp" }
    local out, err, code = run(c)
    assert.equal(0, code, err)
    assert.equal("0\n0\nro\n", out)
    assert.equal("sh: can't create /tmp/f: Read-only file system\n", err)
  end)

  it("applies rlimits soft and hard, oomScoreAdj and umask", function()
    local c = base({ "sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; umask" })
    c.process.rlimits = { { type = "RLIMIT_NOFILE", soft = 100, hard = 200 } }
    c.process.oomScoreAdj = 500
    c.process.user.umask = 63
    local out, err, code = run(c)
    assert.equal(0, code, err)
    assert.equal("100\n200\n500\n0077\n", out)
  end)

  it("writes namespaced sysctls in the container's namespaces only", function()
    local host = H.read("/proc/sys/net/ipv4/ip_default_ttl")
    local c = base({ "cat", "/proc/sys/net/ipv4/ip_default_ttl" })
    c.linux.sysctl = { ["net.ipv4.ip_default_ttl"] = "33" }
    local out, err, code = run(c)
    assert.equal(0, code, err)
    assert.equal("33\n", out)
    assert.equal(host, H.read("/proc/sys/net/ipv4/ip_default_ttl"))
  end)

  it("creates linux.devices nodes (mknod as root, the host's node bound in a user namespace)", function()
    local c = base({ "sh", "-c", "head -c 3 /dev/myzero | od -An -c; ls /dev/null /dev/zero /dev/urandom" })
    c.linux.devices = { { type = "c", path = "/dev/myzero", major = 1, minor = 5, fileMode = 438 } }
    if not ROOT then
      c.linux.devices[1].path = "/dev/zero"
      c.process.args[3] = c.process.args[3]:gsub("myzero", "zero")
    end
    local out, err, code = run(c)
    assert.equal(0, code, err)
    assert.equal("  \\0  \\0  \\0\n/dev/null\n/dev/urandom\n/dev/zero\n", out)
  end)

  it("keeps a disk out of reach through the devices cgroup or program, even with CAP_MKNOD (root)", function()
    if not ROOT then pending("the devices cgroup is written by root; unprivileged containers cannot mknod at all") end
    local disk
    for _, name in ipairs(core.readdir("/sys/dev/block") or {}) do disk = disk or name end
    if not disk then pending("the host lists no block device in /sys/dev/block") end
    local major, minor = disk:match("(%d+):(%d+)")
    local c = base({ "sh", "-c", ("mknod /dev/disk b %s %s && head -c 1 /dev/disk"):format(major, minor) })
    for _, s in ipairs({ "bounding", "effective", "permitted" }) do
      table.insert(c.process.capabilities[s], "CAP_MKNOD")
      table.insert(c.process.capabilities[s], "CAP_DAC_OVERRIDE")
    end
    c.linux.cgroupsPath = "/purple-oci-spec/disk-" .. core.getpid()
    -- with a list that denies all, and with none at all (runc's rules start from "deny all" too)
    for _, res in ipairs({ { devices = { { allow = false, access = "rwm" } } }, json.null }) do
      c.linux.resources = res
      local out, err, code = run(c)
      os.execute("for h in /sys/fs/cgroup/*/purple-oci-spec /sys/fs/cgroup/purple-oci-spec; do rmdir $h 2>/dev/null; done")
      -- v1: the devices controller; v2: the device program on the group
      assert.are.same({ "", "head: /dev/disk: Operation not permitted\n", 1 }, { out, err, code })
    end
  end)

  -- Root names a cgroupsPath; an ordinary user leaves it empty: the cgroup goes under the cgroup
  -- delegated to it (PURPLE_CGROUP_PARENT, as spec/run.sh gives the unprivileged pass, or systemd's
  -- Delegate=yes as in the cgroup v2 VM).
  local function cgroup_case(c, name)
    if not delegated() then
      pending("an ordinary user needs a delegated cgroup (PURPLE_CGROUP_PARENT or Delegate=yes); "
        .. "the fail-closed case tests this user")
    end
    if ROOT then c.linux.cgroupsPath = "/purple-oci-spec/" .. name .. "-" .. core.getpid() end
  end

  it("enforces linux.resources.memory", function()
    local c = base({ "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo $?" })
    cgroup_case(c, "memory")
    c.linux.resources = { memory = { limit = 32 << 20, swap = 32 << 20 } }
    local out, err, code = run(c)
    os.execute("for h in /sys/fs/cgroup/*/purple-oci-spec /sys/fs/cgroup/purple-oci-spec; do rmdir $h 2>/dev/null; done")
    assert.equal(0, code, err)
    assert.equal("137\n", out) -- dd's 64 MiB buffer: killed by the OOM killer
  end)

  it("enforces linux.resources.pids", function()
    -- purple's init, sh and two sleeps fill pids.max 4: the third fork fails
    local c = base({ "sh", "-c", "for i in 1 2 3 4 5 6; do sleep 5 & done; echo unreachable" })
    cgroup_case(c, "pids")
    c.linux.resources = { pids = { limit = 4 } }
    local out, err, code = run(c)
    os.execute("for h in /sys/fs/cgroup/*/purple-oci-spec /sys/fs/cgroup/purple-oci-spec; do rmdir $h 2>/dev/null; done")
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("sh: can't fork: Resource temporarily unavailable\n", err)
  end)

  it("refuses limits for a user without a cgroup of its own: exit 125 and one line, nothing runs", function()
    if delegated() then pending("this user has a cgroup of its own (the enforcing cases test it)") end
    local d = H.tmpdir()
    local c = base({ "sh", "-c", "echo ran > /out/ran" })
    c.mounts[#c.mounts + 1] = { destination = "/out", type = "bind", source = d, options = { "rbind" } }
    c.linux.resources = { memory = { limit = 32 << 20 } }
    local out, err, code = run(c)
    assert.equal(125, code)
    assert.equal("", out)
    -- on cgroup v2 the one unified group; on v1 or hybrid hosts the memory hierarchy's
    local v2, v1 = require("purple.cgroup").mounts({ "memory" })
    local layout = require("purple.cgroup").layout()
    local mount = layout.mode == "v2" and v2 or v1.memory
    assert.equal(("config.json: linux.resources: cannot create the container's cgroup %s/purple-oci/oci-run-PID: "
      .. "mkdir %s/purple-oci: Permission denied\n"):format(mount, mount), (err:gsub("oci%-run%-%d+", "oci-run-PID")))
    assert.is_nil(core.stat(d .. "/ran"))
  end)

  it("updates the limits of an existing container's cgroup (purple-oci update)", function()
    if not ROOT then pending("cgroupsPath needs a cgroup the user may create (root here)") end
    local cgroup = require "purple.oci.cgroup"
    local path = "/purple-oci-spec/update-" .. core.getpid()
    local g = assert(cgroup.create({ path = path, resources = { pids = { limit = 10 } } }, "x"))
    local dir = g.dirs.pids or g.dirs.unified -- v1's pids hierarchy, or the v2 group
    assert.equal("10\n", H.read(dir .. "/pids.max"))
    assert.is_true(cgroup.update(path, { pids = { limit = 20 } }))
    assert.equal("20\n", H.read(dir .. "/pids.max"))
    assert.same({ nil, "no cgroup at /purple-oci-spec/none" }, { cgroup.update("/purple-oci-spec/none", {}) })
    -- device rules stay as created (an empty list or null changes nothing and passes)
    assert.same({ nil, "devices: not changed by purple-oci update (the container keeps the device rules it was "
      .. "created with); leave it out" }, { cgroup.update(path, { devices = { { allow = false, access = "rwm" } } }) })
    assert.is_true(cgroup.update(path, { devices = {}, pids = { limit = 30 } }))
    assert.equal("30\n", H.read(dir .. "/pids.max"))
    assert.is_true(cgroup.open(path):remove())
    os.execute("for h in /sys/fs/cgroup/*/purple-oci-spec /sys/fs/cgroup/purple-oci-spec; do rmdir $h 2>/dev/null; done")
    assert.is_nil(core.stat(dir))
  end)

  it("joins a network namespace by path (a pod's shared network)", function()
    if not ROOT then pending("joining another namespace needs CAP_SYS_ADMIN in the host's user namespace (root)") end
    local p = io.popen("exec unshare -n sh -c 'echo $$; exec sleep 30'")
    local pid = tonumber(p:read("l"))
    local want = core.readlink(("/proc/%d/ns/net"):format(pid))
    local c = base({ "readlink", "/proc/self/ns/net" })
    c.linux.namespaces[2].path = ("/proc/%d/ns/net"):format(pid)
    local out, err, code = run(c)
    core.kill(pid, 9)
    p:close()
    assert.equal(0, code, err)
    assert.equal(want .. "\n", out)
  end)

  it("runs hooks with the state on stdin, stops at a failing one and kills one that times out", function()
    local d = H.tmpdir()
    H.write(d .. "/hook", "#!/bin/sh\ncat > " .. d .. "/state; echo \"$1 $FOO\" > " .. d .. "/argv\n")
    H.write(d .. "/bad", "#!/bin/sh\nexit 3\n")
    H.write(d .. "/slow", "#!/bin/sh\nexec sleep 20\n")
    os.execute("chmod +x " .. d .. "/hook " .. d .. "/bad " .. d .. "/slow")
    local list = { prestart = { { path = d .. "/hook", args = { "myhook", "one" }, env = { "FOO=bar" } },
      { path = d .. "/bad" }, { path = d .. "/hook" } } }
    local ok, err = hooks.run(list, "prestart", '{"id":"c1"}')
    assert.is_nil(ok)
    assert.equal("hooks.prestart[1]: " .. d .. "/bad: exit status 3", err)
    assert.equal('{"id":"c1"}', H.read(d .. "/state"))
    assert.equal("one bar\n", H.read(d .. "/argv"))
    ok, err = hooks.run({ poststop = { { path = d .. "/slow", timeout = 1 } } }, "poststop", "{}")
    assert.is_nil(ok)
    assert.equal("hooks.poststop[0]: " .. d .. "/slow: timed out after 1s", err)
    -- the container's phases are checked before create starts init, which runs them
    assert.same({ nil, "hooks.createContainer[0]: hook: path must be absolute" },
      { hooks.for_init({ createContainer = { { path = "hook" } } }, "createContainer") })
    assert.same({ nil, "hooks.startContainer[1]: /x: timeout must be above 0" },
      { hooks.for_init({ startContainer = { { path = "/x" }, { path = "/x", timeout = 0 } } }, "startContainer") })
  end)

  it("with purple.profile ai-strict: capabilities and syscalls intersect, limits take the minimum", function()
    local c = base({ "sh", "-c", "grep CapEff /proc/self/status; ulimit -u; ulimit -n; touch /tmp/ok && echo tmp; "
      .. "mkdir /tmp/d || echo mkdir-denied" })
    c.process.rlimits = { { type = "RLIMIT_NOFILE", soft = 64, hard = 64 }, { type = "RLIMIT_NPROC", soft = 5000,
      hard = 5000 } }
    c.linux.seccomp = { defaultAction = "SCMP_ACT_ALLOW",
      syscalls = { { names = { "mkdir", "mkdirat" }, action = "SCMP_ACT_ERRNO", errnoRet = 95 } } }
    c.mounts[4] = nil -- the profile's scratch path /tmp is a private tmpfs
    local out, err, code = run(c, { profile = "ai-strict" })
    assert.equal(0, code, err)
    -- no capabilities (ai-strict adds none), nproc min(5000, 4096), nofile the config's 64
    assert.equal("CapEff:\t0000000000000000\n4096\n64\ntmp\nmkdir-denied\n", out)
    assert.equal("mkdir: can't create directory '/tmp/d': Operation not supported\n", err)
  end)

  it("core.oci_monitor names what is wrong with its options (purple-oci's create and exec start it: oci_engines_spec)",
    function()
    local c = base({ "true" })
    c.mounts[4] = nil -- the profile's scratch path /tmp is a private tmpfs
    local plan = assert(config.plan(assert(config.load(bundle(c))),
      { profile = assert(require("purple.profiles").load("ai-strict")) }))
    local sb = assert(core.spawn(plan.spec))
    local function err_of(opts)
      local ok, e = pcall(core.oci_monitor, sb, opts)
      assert.is_false(ok)
      return e
    end
    assert.equal("oci_monitor: unknown field 'color'", err_of({ session = "s", profile = "p", calls = {}, color = 1 }))
    assert.equal("oci_monitor: session and profile are required", err_of({ profile = "p", calls = {} }))
    assert.equal("oci_monitor: calls must be a table", err_of({ session = "s", profile = "p" }))
    assert.equal("oci_monitor: calls: a string for each syscall number 0-4095",
      err_of({ session = "s", profile = "p", calls = { mount = "x" } }))
    assert.equal("field 'log_json' must be a boolean", err_of({ session = "s", profile = "p", calls = {}, log_json = 1 }))
    sb:close()
    assert.equal("oci_monitor: the sandbox has no listener and no control socket (closed or detached)",
      err_of({ session = "s", profile = "p", calls = {} }))
  end)

  it("with purple.profile ai-strict: syscalls the profile denies fail even where the config allows them", function()
    local c = base({ "sh", "-c", "unshare -U true 2>/dev/null; echo $?" })
    c.linux.seccomp = { defaultAction = "SCMP_ACT_ALLOW" }
    local d = H.tmpdir()
    assert(os.execute(("cp -a %s %s/rootfs && ln -s busybox %s/rootfs/bin/unshare"):format(make_rootfs(), d, d)))
    H.write(d .. "/config.json", json.encode(c))
    local out, err, code = H.sh(("%s %s %s ai-strict </dev/null"):format(H.q(H.purple_lua),
      H.q(H.tree .. "/spec/helpers/oci_run.lua"), H.q(d)))
    assert.equal(0, code, err)
    assert.equal("1\n", out)
    -- and without the profile the config's filter allows it (the namespace is made)
    out, err, code = H.sh(("%s %s %s </dev/null"):format(H.q(H.purple_lua), H.q(H.tree .. "/spec/helpers/oci_run.lua"),
      H.q(d)))
    assert.equal(0, code, err)
    assert.equal("0\n", out)
  end)
end)

-- createContainer and startContainer hooks run by the container's init where the runtime-spec says
-- (csrc/oci_hooks.c): purple-oci driven as the engines drive it, with a state root of the test's own.
describe("purple-oci hooks in the container", function()
  setup(function() rootfs = nil end) -- the one made before went with the last describe's cleanup
  teardown(H.cleanup)

  before_each(function()
    if not has_busybox() then pending("needs busybox-static (" .. BUSYBOX .. ")") end
  end)

  -- purple-oci: stdout, stderr, status; the container's stdio (create's) goes to out, a file.
  local oci, wait_status = H.oci_to, H.oci_wait_status

  local function new_id(root)
    local id = "hook-" .. core.random_hex(4)
    finally(function() oci(root, nil, "delete", "--force", id) end)
    return id
  end

  local function script(path, text)
    H.write(path, "#!/bin/sh\n" .. text)
    assert(os.execute("chmod 0755 " .. H.q(path)))
  end

  -- nothing of the container is left: no state, no cgroup, no init (pid from a hook's state or the
  -- pid file; a started init that exited is the engine's to reap: at most a zombie until then)
  local function assert_nothing_left(root, id, pid)
    assert.same({}, core.readdir(root) or {})
    assert.equal("", (H.sh("find /sys/fs/cgroup -maxdepth 5 -type d -name " .. H.q(id) .. " 2>/dev/null")))
    local stat = H.read("/proc/" .. pid .. "/stat")
    assert.is_true(stat == nil or stat:match("^%d+ %(.-%) (%a)") == "Z", stat)
  end

  it("runs createContainer in the container's mount namespace before pivot_root (path on the host) and "
    .. "startContainer in the container before its process (path in the rootfs)", function()
    local d = H.tmpdir()
    -- on the host only: it resolves in purple-oci's mount namespace; what it sees is the container's
    script(d .. "/cc", ("cat > %s/cc.state; readlink /proc/self/ns/mnt > %s/cc.mnt; id -u > %s/cc.uid; "
      .. "echo createContainer >> %s/order; pwd > %s/cc.pwd\n"):format(d, d, d, d, d))
    script(d .. "/runtime", ("echo $1 >> %s/order\n"):format(d))
    local c = base({ "sh", "-c", "cat /tmp/sc.out /tmp/sc.state; echo; readlink /proc/self/ns/mnt; "
      .. "readlink /proc/self/ns/pid; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status" })
    c.linux.seccomp = { defaultAction = "SCMP_ACT_ALLOW",
      syscalls = { { names = { "mkdir", "mkdirat" }, action = "SCMP_ACT_ERRNO", errnoRet = 95 } } }
    c.hooks = { createContainer = { { path = d .. "/cc", timeout = 10 } },
      createRuntime = { { path = d .. "/runtime", args = { "runtime", "createRuntime" } } },
      prestart = { { path = d .. "/runtime", args = { "runtime", "prestart" } } },
      startContainer = { { path = "/bin/sc", args = { "sc", "one" }, env = { "FOO=bar" } } } }
    local b = bundle(c, true)
    -- in the rootfs only: it resolves in the container's root, its /tmp the container's tmpfs
    script(b .. "/rootfs/bin/sc", "cat > /tmp/sc.state; echo \"$1 $FOO $(id -u) $(hostname) "
      .. "$(readlink /proc/self/ns/pid)\" > /tmp/sc.out; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status "
      .. ">> /tmp/sc.out; if mkdir /tmp/sc.dir 2>/dev/null; then echo mkdir; else echo no mkdir; fi >> /tmp/sc.out\n")
    local root = H.tmpdir() .. "/state"
    local id = new_id(root)
    local out = b .. "/out"
    assert.same({ "", "", 0 }, { oci(root, out, "create", "--bundle", b, "--pid-file", b .. "/pid", id) })
    local pid = tonumber(H.read(b .. "/pid"))
    local want_state = { ociVersion = "1.0.2", id = id, status = "created", pid = pid, bundle = b, annotations = {} }
    assert.same(want_state, json.decode(H.read(d .. "/cc.state")))
    assert.equal("0\n", H.read(d .. "/cc.uid")) -- the container's root (mapped, unprivileged)
    assert.equal(b .. "/rootfs\n", H.read(d .. "/cc.pwd")) -- in the container's root, as under runc
    local cc_mnt = H.read(d .. "/cc.mnt")
    assert.are_not.equal(core.readlink("/proc/self/ns/mnt") .. "\n", cc_mnt)
    assert.equal("", H.read(out)) -- nothing of the process or the start hook yet
    -- the runtime's hooks first, in purple-oci's namespaces, then the container's
    assert.equal("createRuntime\nprestart\ncreateContainer\n", H.read(d .. "/order"))
    local _, serr, scode = oci(root, nil, "start", id)
    assert.same({ "", 0 }, { serr, scode })
    wait_status(root, id, "stopped")
    local lines = {}
    for l in H.read(out):gmatch("[^\n]*\n") do lines[#lines + 1] = l end
    -- the start hook ran first (its files are there for the process), in the container's pid and
    -- UTS namespaces as its root, with its args and env, and the state on stdin
    local pid_ns = lines[8]
    assert.equal(11, #lines, H.read(out))
    assert.equal("one bar 0 oci " .. pid_ns, lines[1])
    -- under what the process gets (its file comes from the image): the process's capabilities,
    -- no_new_privs and seccomp filter (the config's filter denies it mkdir)
    local hook_caps = lines[2]
    assert.same({ "NoNewPrivs:\t1\n", "Seccomp:\t2\n", "no mkdir\n" }, { lines[3], lines[4], lines[5] })
    assert.same(want_state, json.decode(lines[6]))
    assert.equal(cc_mnt, lines[7]) -- the createContainer hook's mount namespace is the process's
    assert.are_not.equal(core.readlink("/proc/self/ns/pid") .. "\n", pid_ns)
    assert.same({ "NoNewPrivs:\t1\n", "Seccomp:\t2\n" }, { lines[10], lines[11] })
    assert.matches("^CapEff:\t%x+\n$", lines[9])
    assert.equal(hook_caps, lines[9])
    assert.same({ "", "", 0 }, { oci(root, nil, "delete", id) })
  end)
  it("a createContainer hook that fails or times out fails create with its line and leaves nothing", function()
    local d = H.tmpdir()
    script(d .. "/bad", ("cat > %s/bad.state; exit 3\n"):format(d))
    script(d .. "/slow", ("cat > %s/slow.state; exec sleep 20\n"):format(d))
    script(d .. "/ok", ("echo ran >> %s/ok.ran\n"):format(d))
    local root = H.tmpdir() .. "/state"
    for _, case in ipairs({
      { hooks = { { path = d .. "/bad" }, { path = d .. "/ok" } }, state = "bad.state",
        line = "hooks.createContainer[0]: " .. d .. "/bad: exit status 3" },
      { hooks = { { path = d .. "/ok" }, { path = d .. "/slow", timeout = 1 } }, state = "slow.state",
        line = "hooks.createContainer[1]: " .. d .. "/slow: timed out after 1s" },
      -- a runtime hook failing while init waits before pivot_root undoes as much
      { phase = "prestart", hooks = { { path = d .. "/bad" } }, state = "bad.state",
        line = "hooks.prestart[0]: " .. d .. "/bad: exit status 3" },
    }) do
      local c = base({ "sh", "-c", "echo ran" })
      c.hooks = { createContainer = { { path = d .. "/ok" } } }
      c.hooks[case.phase or "createContainer"] = case.hooks
      local b = bundle(c)
      local id = new_id(root)
      local out, err, code = oci(root, b .. "/out", "create", "--bundle", b, id)
      assert.same({ "", "purple-oci: " .. case.line .. "\n", 125 }, { out, err, code })
      local st = json.decode(H.read(d .. "/" .. case.state))
      assert.same({ id, "created" }, { st.id, st.status })
      assert_nothing_left(root, id, st.pid)
    end
    -- the second case's first hook; never one after a failure (nor createContainer after prestart's)
    assert.equal("ran\n", H.read(d .. "/ok.ran"))
  end)

  it("a startContainer hook that fails or times out fails start with its line and the process never runs", function()
    local root = H.tmpdir() .. "/state"
    for _, case in ipairs({
      { hooks = { { path = "/bin/bad" } }, line = "hooks.startContainer[0]: /bin/bad: exit status 3" },
      { hooks = { { path = "/bin/slow", timeout = 1 } },
        line = "hooks.startContainer[0]: /bin/slow: timed out after 1s" },
      { hooks = { { path = "/bin/none" } }, line = "hooks.startContainer[0]: /bin/none: not an executable file" },
    }) do
      local c = base({ "sh", "-c", "echo ran" })
      c.hooks = { startContainer = case.hooks }
      local b = bundle(c, true)
      script(b .. "/rootfs/bin/bad", "exit 3\n")
      script(b .. "/rootfs/bin/slow", "exec sleep 20\n")
      local id = new_id(root)
      assert.same({ "", "", 0 }, { oci(root, b .. "/out", "create", "--bundle", b, "--pid-file", b .. "/pid", id) })
      local pid = tonumber(H.read(b .. "/pid"))
      local _, err, code = oci(root, nil, "start", id)
      assert.same({ "purple-oci: " .. case.line .. "\n", 125 }, { err, code })
      local st = wait_status(root, id, "stopped") -- init exited 125 (the engine reaps it)
      assert.equal(0, st.pid)
      assert.equal("", H.read(b .. "/out"))
      assert.same({ "", "", 0 }, { oci(root, nil, "delete", id) })
      assert_nothing_left(root, id, pid)
    end
  end)
end)

describe("purple-oci on cgroup v2, for a user without a cgroup of its own", function()
  teardown(H.cleanup)
  it("runs a container without limits in no group of its own; pause names why it cannot", function()
    if not has_busybox() then pending("needs busybox-static (" .. BUSYBOX .. ")") end
    local layout = require("purple.cgroup").layout()
    if layout.mode ~= "v2" then pending("the host's cgroups are " .. layout.mode .. ", not pure v2 (make check-vm)") end
    if delegated() then pending("this user has a cgroup of its own (purple-oci on cgroup v2 tests it)") end
    local OCI = H.purple_oci
    local root = H.tmpdir() .. "/state"
    local b = bundle(base({ "sleep", "1000" }))
    local id = "nogroup-" .. core.random_hex(4)
    local function oci(...)
      local out, err, code = H.sh(H.q(OCI) .. " --root " .. H.q(root) .. " " .. table.concat({ ... }, " ")
        .. " </dev/null >/dev/null")
      return out, err, code
    end
    finally(function() oci("delete", "--force", id) end)
    assert.are.same({ "", "", 0 }, { oci("create", "--bundle", H.q(b), id) })
    assert.are.same({}, json.decode(H.read(root .. "/" .. id .. "/state.json")).cgroups)
    assert.are.same({ "", "", 0 }, { oci("start", id) })
    assert.are.same({ "", ("purple-oci: container %s: no freezer cgroup (pause needs cgroup v1's freezer or cgroup v2)\n")
      :format(id), 125 }, { oci("pause", id) })
    assert.are.same({ "", "", 0 }, { oci("delete", "--force", id) })
    assert.is_nil(core.stat(root .. "/" .. id, false))
  end)
end)

-- cgroup v2 only (make check-vm: vm/README.md): the container's group under the unified hierarchy,
-- the limits as v2 files, and purple-oci's pause, update, kill --all and delete on it. Root names a
-- cgroupsPath; the delegated user (uid 1000 in the VM) leaves it empty: <its delegated cgroup>/purple-oci/<id>.
describe("purple-oci on cgroup v2", function()
  teardown(H.cleanup)
  local layout = require("purple.cgroup").layout()

  -- first in each case (busted has no pending in before_each)
  local function needs_v2()
    if not has_busybox() then pending("needs busybox-static (" .. BUSYBOX .. ")") end
    if layout.mode ~= "v2" then
      pending("the host's cgroups are " .. layout.mode .. ", not pure v2 (make check-vm runs these)")
    end
    if not delegated() then pending("this user has no cgroup of its own (the fail-closed case tests it)") end
  end

  local function v2_case(c, name)
    if ROOT then c.linux.cgroupsPath = "/purple-oci-spec/" .. name .. "-" .. core.getpid() end
  end
  local function cleanup_parent() core.rmdir(layout.v2 .. "/purple-oci-spec") end

  local oci = H.oci
  -- a created and started container: its id, its v2 group's directory
  local function started(root, c, name)
    v2_case(c, name)
    local b = bundle(c)
    local id = name .. "-" .. core.random_hex(4)
    finally(function() oci(root, "delete", "--force", id) cleanup_parent() end)
    assert.are.same({ "", "", 0 }, { oci(root, "create", "--bundle", b, id) })
    local st = json.decode(H.read(root .. "/" .. id .. "/state.json"))
    local dir = st.cgroups[1]
    assert.equal(1, #st.cgroups)
    assert.equal(st.freezer, dir)
    assert.are.same({ "", "", 0 }, { oci(root, "start", id) })
    return id, dir
  end
  local function status(root, id) return json.decode((oci(root, "state", id))).status end

  it("an allocation beyond memory.max is OOM-killed: the container's exit status is 137", function()
    needs_v2()
    local c = base({ "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1" })
    v2_case(c, "oom")
    c.linux.resources = { memory = { limit = 32 << 20, swap = 32 << 20 } }
    local out, err, code = run(c)
    cleanup_parent()
    assert.equal(137, code, err)
    assert.equal("", out)
  end)

  it("writes cpu.max and cpu.weight, io.max for the blockIO throttles, unified keys; the container sees only "
    .. "its own group at /sys/fs/cgroup", function()
    needs_v2()
    local disk = os.getenv("PURPLE_SPEC_DISK") or "/tmp"
    local dst = core.stat(disk)
    if not dst or dst.dev_major == 0 then pending(disk .. " is not on a block device (PURPLE_SPEC_DISK)") end
    local dev = ("%d:%d"):format(dst.dev_major, dst.dev_minor)
    local c = base({ "sh", "-c", "cd /sys/fs/cgroup && cat cpu.max cpu.weight io.max memory.high pids.max; "
      .. "ls -d */ 2>/dev/null | wc -l; cat /proc/self/cgroup" })
    c.mounts[#c.mounts + 1] = { destination = "/sys/fs/cgroup", type = "cgroup", source = "cgroup",
      options = { "nosuid", "noexec", "nodev", "ro" } }
    v2_case(c, "files")
    c.linux.resources = { cpu = { quota = 50000, period = 200000, shares = 1024 },
      blockIO = { throttleReadBpsDevice = { { major = dst.dev_major, minor = dst.dev_minor, rate = 1048576 } },
        throttleWriteIOPSDevice = { { major = dst.dev_major, minor = dst.dev_minor, rate = 120 } } },
      unified = { ["memory.high"] = tostring(48 << 20), ["pids.max"] = "77" } }
    local out, err, code = run(c)
    cleanup_parent()
    assert.equal(0, code, err)
    -- shares 1024 is cpu.weight 39, as runc converts it; no group of anyone else, its own is the root
    assert.equal(("50000 200000\n39\n%s rbps=1048576 wbps=max riops=max wiops=120\n%d\n77\n0\n0::/\n"):format(dev,
      48 << 20), out)
  end)

  it("throttles the container's direct writes to io.max's wbps", function()
    needs_v2()
    local disk = os.getenv("PURPLE_SPEC_DISK")
    local dst = disk and core.stat(disk)
    if not dst or dst.dev_major == 0 then pending("PURPLE_SPEC_DISK names no directory on a block device") end
    local d = disk .. "/oci-io-" .. core.getpid()
    assert(os.execute("mkdir -p " .. H.q(d) .. " && chmod 777 " .. H.q(d)))
    local c = base({ "dd", "if=/dev/zero", "of=/out/f", "bs=1M", "count=3", "oflag=direct" })
    c.mounts[#c.mounts + 1] = { destination = "/out", type = "bind", source = d, options = { "rbind" } }
    v2_case(c, "io")
    c.linux.resources = { blockIO = { throttleWriteBpsDevice = { { major = dst.dev_major, minor = dst.dev_minor,
      rate = 1048576 } } } }
    local t0 = core.monotonic()
    local _, err, code = run(c)
    local secs = core.monotonic() - t0
    os.execute("rm -rf " .. H.q(d))
    cleanup_parent()
    assert.equal(0, code, err)
    -- 3 MiB at 1 MiB/s: the first MiB may pass at once (the throttle's first slice), the rest takes 2 s
    assert.is_true(secs >= 1.8, ("3 MiB written in %.2f s at 1 MiB/s"):format(secs))
  end)

  it("a fork bomb stops at pids.max; delete kills it and leaves no group", function()
    needs_v2()
    local root = H.tmpdir() .. "/state"
    -- the container's own process stays; the bomb's shells fork for ever (one whose fork fails ends)
    local c = base({ "sh", "-c", "b() { while :; do b & done; }; b 2>/dev/null & exec sleep 1000" })
    c.linux.resources = { pids = { limit = 24 } }
    local id, dir = started(root, c, "bomb")
    local function refused() return tonumber((H.read(dir .. "/pids.events") or ""):match("max (%d+)")) or 0 end
    while refused() < 10 do
      assert.equal("running", status(root, id))
      core.sleep(0.05)
    end
    assert.equal("24\n", H.read(dir .. "/pids.max"))
    -- counted frozen: pids.current may pass the limit for a moment while running (the kernel charges
    -- a fork before it refuses it); frozen, no fork is under way and the group's processes stay put
    -- (pids.current also counts the zombies not reaped yet, which cgroup.procs does not list)
    assert.are.same({ "", "", 0 }, { oci(root, "pause", id) })
    local n = 0
    for _ in H.read(dir .. "/cgroup.procs"):gmatch("%d+") do n = n + 1 end
    local charged = tonumber(H.read(dir .. "/pids.current"))
    assert.is_true(n >= 2 and n <= charged and charged <= 24, ("%d processes, pids.current %d"):format(n, charged))
    assert.are.same({ "", "", 0 }, { oci(root, "delete", "--force", id) })
    assert.is_nil(core.stat(dir, false))
  end)

  it("pause freezes the group (cgroup.freeze, cgroup.events frozen 1), kill --all while paused acts once "
    .. "resumed, update --resources sets memory.max of the running container, delete leaves no group", function()
    needs_v2()
    local root = H.tmpdir() .. "/state"
    local d = H.tmpdir()
    os.execute("chmod 777 " .. H.q(d))
    -- a counter the container's own process advances, read from outside
    local c = base({ "sh", "-c", "trap 'echo term > /out/term; exit 0' TERM; i=0; "
      .. "while :; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done" })
    c.mounts[#c.mounts + 1] = { destination = "/out", type = "bind", source = d, options = { "rbind" } }
    c.linux.resources = { memory = { limit = 64 << 20 } }
    local id, dir = started(root, c, "pause")
    while not H.read(d .. "/n") do core.sleep(0.05) end
    assert.equal(tostring(64 << 20) .. "\n", H.read(dir .. "/memory.max"))
    -- update: a new memory.max and pids.max, the container running
    local r = H.tmpdir() .. "/r.json"
    H.write(r, json.encode({ memory = { limit = 48 << 20 }, pids = { limit = 50 } }))
    assert.are.same({ "", "", 0 }, { oci(root, "update", "--resources", r, id) })
    assert.equal(tostring(48 << 20) .. "\n", H.read(dir .. "/memory.max"))
    assert.equal("50\n", H.read(dir .. "/pids.max"))
    assert.equal("running", status(root, id))
    assert.are.same({ "", "", 0 }, { oci(root, "pause", id) })
    assert.equal("1\n", H.read(dir .. "/cgroup.freeze"))
    assert.truthy(H.read(dir .. "/cgroup.events"):find("\nfrozen 1\n", 1, true))
    assert.equal("paused", status(root, id))
    local n = H.read(d .. "/n")
    core.sleep(0.5)
    assert.equal(n, H.read(d .. "/n"))
    assert.are.same({ "", ("purple-oci: container %s is paused, not running\n"):format(id), 125 },
      { oci(root, "pause", id) })
    -- TERM to every process while frozen: nothing acts on it until resume
    assert.are.same({ "", "", 0 }, { oci(root, "kill", "--all", id, "TERM") })
    core.sleep(0.3)
    assert.is_nil(H.read(d .. "/term"))
    assert.are.same({ "", "", 0 }, { oci(root, "resume", id) })
    assert.equal("0\n", H.read(dir .. "/cgroup.freeze"))
    assert.truthy(H.read(dir .. "/cgroup.events"):find("\nfrozen 0\n", 1, true))
    while status(root, id) ~= "stopped" do core.sleep(0.05) end
    assert.equal("term\n", H.read(d .. "/term"))
    assert.are.same({ "", "", 0 }, { oci(root, "delete", id) })
    assert.is_nil(core.stat(dir, false))
    assert.is_nil(core.stat(root .. "/" .. id, false))
  end)

  it("the violation monitor of a profile's supervised calls runs outside the container's group", function()
    needs_v2()
    local root = H.tmpdir() .. "/state"
    local c = base({ "sleep", "1000" })
    c.mounts[4] = nil -- the profile's scratch path /tmp is a private tmpfs
    c.annotations = { ["purple.profile"] = "ai-strict" }
    local id, dir = started(root, c, "monitor")
    local st = json.decode(H.read(root .. "/" .. id .. "/state.json"))
    local m = assert(st.monitors[1])
    local procs = H.read(dir .. "/cgroup.procs")
    assert.truthy(procs:find("%f[%d]" .. st.pid .. "%f[%D]"))
    assert.falsy(procs:find("%f[%d]" .. m.pid .. "%f[%D]"))
    assert.equal(H.read("/proc/self/cgroup"), H.read(("/proc/%d/cgroup"):format(m.pid)))
    assert.are.same({ "", "", 0 }, { oci(root, "delete", "--force", id) })
    assert.is_nil(core.stat(dir, false))
  end)

  -- runc's default list (deny all; podman's and containerd's configs start so), runc's default allow
  -- list after it, and rules for the VM's disk: the device program on the group decides every open
  it("device rules with CAP_MKNOD: the program on the group lets the node be made but opened only as "
    .. "allowed, the last matching rule deciding; the group goes with the container (root)", function()
    needs_v2()
    if not ROOT then pending("loading a device program needs CAP_SYS_ADMIN (the case below tests the refusal)") end
    local disk = os.getenv("PURPLE_SPEC_DISK") or "/tmp"
    local dst = core.stat(disk)
    if not dst or dst.dev_major == 0 then pending(disk .. " is not on a block device (PURPLE_SPEC_DISK)") end
    local function devrun(list, name)
      local c = base({ "sh", "-c", ("mknod /dev/disk b %d %d && echo mknod; for d in disk null zero; do r=n; w=n; "
        .. "{ true </dev/$d; } 2>/dev/null && r=y; { true >>/dev/$d; } 2>/dev/null && w=y; echo $d $r$w; done; "
        .. "head -c 2 /dev/zero | od -An -c; echo x >/dev/null"):format(dst.dev_major, dst.dev_minor) })
      for _, s in ipairs({ "bounding", "effective", "permitted" }) do
        table.insert(c.process.capabilities[s], "CAP_MKNOD")
        table.insert(c.process.capabilities[s], "CAP_DAC_OVERRIDE")
      end
      v2_case(c, name)
      c.linux.resources = { devices = list }
      local out, err, code = run(c)
      assert.is_nil(core.stat(layout.v2 .. c.linux.cgroupsPath))
      cleanup_parent()
      assert.are.same({ "", 0 }, { err, code })
      return out
    end
    local deny_all = { allow = false, access = "rwm" }
    local function disk_rule(allow, access)
      return { allow = allow, type = "b", major = dst.dev_major, minor = dst.dev_minor, access = access }
    end
    local rest = "null yy\nzero yy\n  \\0  \\0\n"
    assert.equal("mknod\ndisk nn\n" .. rest, devrun({ deny_all }, "dev-default"))
    assert.equal("mknod\ndisk yn\n" .. rest, devrun({ deny_all, disk_rule(true, "r") }, "dev-read"))
    assert.equal("mknod\ndisk yy\n" .. rest, devrun({ deny_all, disk_rule(true, "rw") }, "dev-rw"))
    assert.equal("mknod\ndisk yn\n" .. rest, devrun({ deny_all, disk_rule(true, "rw"), disk_rule(false, "w") },
      "dev-last"))
  end)

  it("device rules without the program (no CAP_SYS_ADMIN): a list that only denies is kept by the user "
    .. "namespace, an allow rule fails closed by name", function()
    if not has_busybox() then pending("needs busybox-static (" .. BUSYBOX .. ")") end
    if layout.mode ~= "v2" then pending("the host's cgroups are " .. layout.mode .. ", not pure v2 (make check-vm)") end
    if ROOT then pending("root loads the program (the case above)") end
    local c = base({ "sh", "-c", "head -c 2 /dev/zero | od -An -c" })
    c.linux.resources = { devices = { { allow = false, access = "rwm" } } }
    local out, err, code = run(c)
    assert.are.same({ "  \\0  \\0\n", "", 0 }, { out, err, code })
    c.linux.resources.devices[2] = { allow = true, type = "c", major = 1, minor = 11, access = "rw" }
    out, err, code = run(c)
    assert.are.same({ "", 125 }, { out, code })
    local top = delegated() and (layout.v2 .. layout.hierarchies.v2.parent):match("^(.*)/purple$")
    local why = top and ("bpf device program %s/purple-oci/oci-run-PID: Operation not permitted"):format(top)
      or "the container has no cgroup v2 group of its own"
    assert.equal(("config.json: linux.resources.devices[1]: cannot be enforced on cgroup v2 without its eBPF device "
      .. "program (%s)\n"):format(why), (err:gsub("oci%-run%-%d+", "oci-run-PID")))
  end)

  it("refuses what cgroup v2 has no file for, by name, and a controller the group lacks", function()
    needs_v2()
    local function err_of(res, name)
      local c = base({ "true" })
      v2_case(c, name)
      c.linux.resources = res
      local out, err, code = run(c)
      cleanup_parent()
      assert.are.same({ "", 125 }, { out, code })
      return err
    end
    assert.equal("config.json: linux.resources.memory.swappiness: memory.swappiness exists only in cgroup v1; this "
      .. "host has cgroup v2 only (remove it)\n", err_of({ memory = { swappiness = 10 } }, "swappiness"))
    assert.equal("config.json: linux.resources.memory.disableOOMKiller: memory.oom_control exists only in cgroup v1; "
      .. "this host has cgroup v2 only (remove it)\n", err_of({ memory = { disableOOMKiller = true } }, "oomctl"))
    assert.equal("config.json: linux.resources.memory.swap: 1048576 is below memory.limit 2097152 (it counts memory "
      .. "and swap)\n", err_of({ memory = { limit = 2 << 20, swap = 1 << 20 } }, "swap"))
    -- an ordinary user gets the controllers delegated to it, which (as systemd's default) lack cpuset;
    -- root would enable it in the root's cgroup.subtree_control, as runc does
    local top = not ROOT and (layout.v2 .. layout.hierarchies.v2.parent):match("^(.*)/purple$")
    if top and not (H.read(top .. "/cgroup.controllers") or ""):find("cpuset") then
      local err = err_of({ cpu = { cpus = "0" } }, "cpuset")
      assert.equal(("config.json: linux.resources.cpu.cpus: the cpuset controller is not enabled for "
        .. "%s/purple-oci/oci-run-PID (cgroup.subtree_control of the cgroups above it)\n"):format(top),
        (err:gsub("oci%-run%-%d+", "oci-run-PID")))
    end
  end)
end)

-- Containers made by purple-oci itself (create, start, state, kill, exec, delete), the second joining the
-- first's pid or cgroup namespace by path: a Kubernetes pod's shareProcessNamespace, podman's --pid container:X.
describe("purple-oci: a pid or cgroup namespace joined by path", function()
  -- every container a test made is deleted (with its cgroup) however the test ends
  local made, mounted = {}, {}
  after_each(function()
    for _, m in ipairs(made) do H.oci(m[1], "delete", "--force", m[2]) end
    made = {}
    for _, m in ipairs(mounted) do os.execute("umount " .. H.q(m) .. " 2>/dev/null") end
    mounted = {}
    H.cleanup()
  end)

  before_each(function()
    if not has_busybox() then pending("needs busybox-static (" .. BUSYBOX .. ")") end
  end)

  local function pid_of(root, id) return json.decode((H.oci(root, "state", id))).pid end
  -- is pid running (not gone, not a zombie its parent has yet to reap)?
  local function running(pid)
    local stat = H.read(("/proc/%d/stat"):format(pid))
    return stat ~= nil and stat:match("^%d+ %b() (%u)") ~= "Z"
  end
  -- host pids of the running processes whose pid namespace is ns (from the host's /proc)
  local function members(ns)
    local out = {}
    for _, n in ipairs(core.readdir("/proc") or {}) do
      local pid = tonumber(n)
      if pid and core.readlink(("/proc/%d/ns/pid"):format(pid)) == ns and running(pid) then out[#out + 1] = pid end
    end
    table.sort(out)
    return out
  end
  local function cmdline(pid) return ((H.read(("/proc/%d/cmdline"):format(pid)) or ""):gsub("%z", " ")) end
  -- waits until pid has ended, with no time limit (the test fails by hanging, never by a clock)
  local function wait_gone(pid)
    while running(pid) do core.sleep(0.02) end
  end
  -- nothing of container id left: no state, no cgroup
  local function nothing_left(root, id)
    assert.is_nil(core.stat(root .. "/" .. id, false))
    for _, h in ipairs(core.readdir("/sys/fs/cgroup") or {}) do
      assert.is_nil(core.stat(("/sys/fs/cgroup/%s/purple-oci/%s"):format(h, id), false))
    end
  end
  -- out: the file that gets create's stdout, which the container's process inherits; the bundle's pid file
  -- is created_pid_file
  local created_pid_file
  local function create(root, id, c, out)
    local d = bundle(c)
    made[#made + 1] = { root, id }
    created_pid_file = d .. "/pid"
    local o, e, code = H.oci_to(root, out, "create", "--bundle", d, "--pid-file", created_pid_file, id)
    return out and "" or o, e, code
  end
  -- the first container: two sleeps (the second one a child of the first)
  local function first(root, id)
    assert.are.same({ "", "", 0 }, { create(root, id, base({ "sh", "-c", "sleep 2000 & exec sleep 1000" })) })
    assert.are.same({ "", "", 0 }, { H.oci(root, "start", id) })
    local pid = pid_of(root, id)
    local ns = core.readlink(("/proc/%d/ns/pid"):format(pid))
    while #members(ns) < 3 do core.sleep(0.02) end -- init, sleep 1000, sleep 2000
    return pid, ns
  end

  -- Joining another container's namespace needs CAP_SYS_ADMIN over it: root only here
  local function needs_root(kind)
    if not ROOT then
      pending(("joining another container's %s namespace needs CAP_SYS_ADMIN (root; uid 65534's refusal is tested "
        .. "above)"):format(kind))
    end
  end
  -- a state root and two container ids, the first container started: root, a, b, its pid, its pid namespace
  local function pair()
    local root = H.tmpdir() .. "/state"
    local a, b = "nsj-a-" .. core.random_hex(4), "nsj-b-" .. core.random_hex(4)
    return root, a, b, first(root, a)
  end

  it("refuses the runtime's own pid and cgroup namespace, a file that is no namespace and one of another type: "
    .. "exit 125, one line, nothing left", function()
    local root = H.tmpdir() .. "/state"
    local function refused(i, path)
      local c = base({ "true" })
      c.linux.namespaces[i].path = path
      local id = "nsj-" .. core.random_hex(4)
      local out, err, code = create(root, id, c)
      assert.are.same({ "", 125 }, { out, code })
      nothing_left(root, id)
      return err
    end
    -- the spec's own process is in the host's pid namespace, as purple-oci is
    local own = ("/proc/%d/ns/pid"):format(core.getpid())
    if not ROOT then
      assert.equal(("purple-oci: config.json: linux.namespaces[0].path: joining a namespace needs CAP_SYS_ADMIN, which "
        .. "purple-oci run by uid %d has not (run it as root, or as root of a user namespace that owns %s)\n"):format(
        (core.ids()), own), refused(1, own))
      return
    end
    assert.equal(("purple-oci: config.json: linux.namespaces[0].path: %s is purple-oci's own pid namespace (the "
      .. "host's), where the container would see and signal every process; join another container's, or leave the "
      .. "path out for a new one\n"):format(own), refused(1, own))
    if core.readlink("/proc/1/ns/pid") then -- pid 1 may be closed to root's ptrace access (it is on some hosts)
      assert.equal("purple-oci: config.json: linux.namespaces[0].path: /proc/1/ns/pid is purple-oci's own pid "
        .. "namespace (the host's), where the container would see and signal every process; join another "
        .. "container's, or leave the path out for a new one\n", refused(1, "/proc/1/ns/pid"))
    end
    local c = base({ "true" })
    c.linux.namespaces[#c.linux.namespaces + 1] = { type = "cgroup", path = "/proc/self/ns/cgroup" }
    local id = "nsj-" .. core.random_hex(4)
    local out, err, code = create(root, id, c)
    assert.are.same({ "", "purple-oci: config.json: linux.namespaces[5].path: /proc/self/ns/cgroup is purple-oci's "
      .. "own cgroup namespace (the host's), where the container would see the whole cgroup tree; join another "
      .. "container's, or leave the path out for a new one\n", 125 }, { out, err, code })
    nothing_left(root, id)
    assert.equal("purple-oci: config.json: linux.namespaces[0].path: /proc/self/ns/net is a net namespace, not a pid "
      .. "one\n", refused(1, "/proc/self/ns/net"))
    local d = H.tmpdir()
    H.write(d .. "/f", "")
    assert.equal(("purple-oci: config.json: linux.namespaces[0].path: %s/f is not a namespace (a /proc/PID/ns/pid "
      .. "link or a bind mount of one)\n"):format(d), refused(1, d .. "/f"))
    assert.equal(("purple-oci: join pid namespace %s/none: No such file or directory\n"):format(d),
      refused(1, d .. "/none"))
  end)

  it("the second container sees and signals the first's processes, not the host's; state, ps, exec, kill, delete",
    function()
    needs_root("pid")
    local root, a, b, apid, ns = pair()
    local c = base({ "sh", "-c", "exec sleep 3000" })
    c.linux.namespaces[1].path = ("/proc/%d/ns/pid"):format(apid)
    assert.are.same({ "", "", 0 }, { create(root, b, c) })
    local bpid = tonumber(H.read(created_pid_file))
    assert.are.same({ "", "", 0 }, { H.oci(root, "start", b) })
    -- state: running, the pid of the pid file (its init, in the host's pid namespace), in the first's namespace
    local st = H.oci_wait_status(root, b, "running")
    assert.are.same({ bpid, ns }, { st.pid, core.readlink(("/proc/%d/ns/pid"):format(bpid)) })
    while #members(ns) < 5 do core.sleep(0.02) end
    -- exec into it: the namespace's processes are the two containers', pid 1 is the first's init
    out, err, code = H.oci(root, "exec", b, "sh", "-c", "readlink /proc/self/ns/pid; cat /proc/1/comm; ps -o args")
    assert.are.same({ "", 0 }, { err, code })
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.same({ ns, "purple-init", "COMMAND" }, { lines[1], lines[2], lines[3] })
    -- the two containers' inits and commands, the exec's init and ps (busybox's applet, in sh's process):
    -- nothing of the host's
    local procs = { table.unpack(lines, 4) }
    table.sort(procs)
    assert.are.same({ "purple-init", "purple-init", "purple-init", "sleep 1000", "sleep 2000", "sleep 3000",
      "{ps} sh -c readlink /proc/self/ns/pid; cat /proc/1/comm; ps -o args" }, procs)
    -- kill: the first's sleep 2000 from inside the second; the first keeps running
    local s2000
    for _, p in ipairs(members(ns)) do if cmdline(p) == "sleep 2000 " then s2000 = p end end
    out, err, code = H.oci(root, "exec", b, "sh", "-c", "for p in $(pidof sleep); do [ \"$(cat /proc/$p/cmdline | "
      .. "tr '\\0' ' ')\" = 'sleep 2000 ' ] && kill $p && echo killed; done; true")
    assert.are.same({ "killed\n", "", 0 }, { out, err, code })
    wait_gone(s2000)
    assert.equal("running", json.decode((H.oci(root, "state", a))).status)
    -- ps: the second's processes are its cgroup's (its init and sleep 3000), not the first's
    out, err, code = H.oci(root, "ps", "--format", "json", b)
    assert.are.equal(0, code, err)
    local pids = json.decode(out)
    assert.equal(2, #pids)
    assert.equal(bpid, pids[1])
    assert.equal("sleep 3000 ", cmdline(pids[2]))
    -- kill KILL: init is not the namespace's pid 1, its command dies with it; the first runs on
    assert.are.same({ "", "", 0 }, { H.oci(root, "kill", b, "KILL") })
    H.oci_wait_status(root, b, "stopped")
    wait_gone(pids[2])
    assert.equal("running", json.decode((H.oci(root, "state", a))).status)
    assert.are.same({ "", "", 0 }, { H.oci(root, "delete", b) })
    nothing_left(root, b)
    assert.are.same({ apid }, { pid_of(root, a) })
  end)

  it("purple stop and kill --all of the second container end its processes, never the first's (no kill(-1) from a "
    .. "joined namespace)", function()
    needs_root("pid")
    local root, a, b, apid, ns = pair()
    local aproc = members(ns)
    local c = base({ "sh", "-c", "sleep 3000 & exec sleep 3001" })
    c.linux.namespaces[1].path = ("/proc/%d/ns/pid"):format(apid)
    assert.are.same({ "", "", 0 }, { create(root, b, c) })
    assert.are.same({ "", "", 0 }, { H.oci(root, "start", b) })
    while #members(ns) < 6 do core.sleep(0.02) end -- and the second's init, sleep 3000, sleep 3001
    local bproc = json.decode((H.oci(root, "ps", "--format", "json", b)))
    assert.equal(3, #bproc)
    local out, err, code = H.sh(H.q(H.purple) .. " stop " .. b)
    assert.are.same({ b .. " stopped\n", "", 0 }, { out, err, code })
    H.oci_wait_status(root, b, "stopped")
    for _, p in ipairs(bproc) do wait_gone(p) end
    assert.are.same(aproc, members(ns))
    assert.equal("running", json.decode((H.oci(root, "state", a))).status)
    -- kill --all: the second's cgroup, not the namespace; again once its init is gone (containerd's shim does)
    local b2 = "nsj-c-" .. core.random_hex(4)
    assert.are.same({ "", "", 0 }, { create(root, b2, c) })
    assert.are.same({ "", "", 0 }, { H.oci(root, "start", b2) })
    while #members(ns) < 6 do core.sleep(0.02) end
    bproc = json.decode((H.oci(root, "ps", "--format", "json", b2)))
    assert.equal(3, #bproc)
    assert.are.same({ "", "", 0 }, { H.oci(root, "kill", "--all", b2, "KILL") })
    for _, p in ipairs(bproc) do wait_gone(p) end
    H.oci_wait_status(root, b2, "stopped")
    assert.are.same({ "", "", 0 }, { H.oci(root, "kill", "--all", b2, "KILL") })
    assert.are.same(aproc, members(ns))
  end)

  it("deleting the first container ends the second's processes (its pid namespace's init is gone); the "
    .. "namespace cannot be joined any more", function()
    needs_root("pid")
    local root, a, b, apid, ns = pair()
    local b2 = "nsj-c-" .. core.random_hex(4)
    -- the namespace kept by a bind mount of its file, which outlives its processes
    local keep = H.tmpdir() .. "/pidns"
    H.write(keep, "")
    assert(os.execute(("mount --bind /proc/%d/ns/pid %s"):format(apid, H.q(keep))))
    mounted[#mounted + 1] = keep
    local c = base({ "sh", "-c", "exec sleep 3000" })
    c.linux.namespaces[1].path = keep
    assert.are.same({ "", "", 0 }, { create(root, b, c) })
    assert.are.same({ "", "", 0 }, { H.oci(root, "start", b) })
    while #members(ns) < 5 do core.sleep(0.02) end
    local bproc = members(ns)
    assert.are.same({ "", "", 0 }, { H.oci(root, "delete", "--force", a) })
    nothing_left(root, a)
    -- the kernel ends every process of a pid namespace whose init exits: the second is stopped
    H.oci_wait_status(root, b, "stopped")
    for _, p in ipairs(bproc) do wait_gone(p) end
    assert.are.same({ "", "", 0 }, { H.oci(root, "delete", b) })
    nothing_left(root, b)
    local out, err, code = create(root, b2, c)
    assert.are.same({ "", ("purple-oci: config.json: linux.namespaces[0].path: the pid namespace %s has no init any "
      .. "more (its first process exited): nothing can start in it\n"):format(keep), 125 }, { out, err, code })
    nothing_left(root, b2)
  end)

  it("the second container joins the first's cgroup namespace: its cgroup is shown from the first's", function()
    needs_root("cgroup")
    local root = H.tmpdir() .. "/state"
    local a, b = "nsj-a-" .. core.random_hex(4), "nsj-b-" .. core.random_hex(4)
    local c = base({ "sleep", "1000" })
    c.linux.namespaces[#c.linux.namespaces + 1] = { type = "cgroup" }
    assert.are.same({ "", "", 0 }, { create(root, a, c) })
    assert.are.same({ "", "", 0 }, { H.oci(root, "start", a) })
    local apid = pid_of(root, a)
    c = base({ "sh", "-c", "readlink /proc/self/ns/cgroup; cat /proc/self/cgroup" })
    c.linux.namespaces[#c.linux.namespaces + 1] = { type = "cgroup", path = ("/proc/%d/ns/cgroup"):format(apid) }
    local log = H.tmpdir() .. "/out"
    assert.are.same({ "", "", 0 }, { create(root, b, c, log) })
    assert.are.same({ "", "", 0 }, { H.oci(root, "start", b) })
    H.oci_wait_status(root, b, "stopped")
    local want = core.readlink(("/proc/%d/ns/cgroup"):format(apid))
    local out = H.read(log)
    assert.equal(want .. "\n", out:match("^[^\n]*\n"))
    -- its own group, seen from the first's (a sibling): in the v2 hierarchy, and in v1's pids one when there is one
    local group = b:gsub("%p", "%%%0")
    assert.matches("\n0::/%.%./" .. group .. "\n", out)
    if core.stat("/sys/fs/cgroup/pids/purple-oci", false) then
      assert.matches("\n%d+:pids:/%.%./" .. group .. "\n", out)
    end
  end)
end)
