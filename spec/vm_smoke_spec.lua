-- The cgroup v2 test VM (make check-vm, vm/README.md) is what it claims to be: cgroup2 with cpu, io,
-- memory and pids, a delegated subtree for uid 1000 (none for uid 65534), an ext4 disk on a block
-- device, and a purple that runs sandboxes there. Pending outside the VM (PURPLE_VM unset).
local H = require "spec_helper"

local CGROOT = "/sys/fs/cgroup"
local DELEGATED = CGROOT .. "/user.delegate"
local in_vm = os.getenv("PURPLE_VM") == "1"
local unprivileged = os.getenv("PURPLE_SPEC_UNPRIVILEGED") == "1"

local function words(s)
  local t = {}
  for w in (s or ""):gmatch("%S+") do t[w] = true end
  return t
end

-- This process's cgroup v2 path, from /proc/self/cgroup ("0::/path").
local function own_cgroup()
  return (H.read("/proc/self/cgroup") or ""):match("0::(%S+)")
end

-- Outside the VM each case is reported pending, never passed.
local test = in_vm and it or function(name) pending(name .. " (inside the test VM only: make check-vm)") end

describe("the cgroup v2 VM", function()
  after_each(H.cleanup)

  test("has cgroup2 at /sys/fs/cgroup with cpu, io, memory and pids enabled for children", function()
    local mounts = H.read("/proc/self/mounts")
    assert.truthy(mounts:match("\ncgroup2 /sys/fs/cgroup cgroup2 ") or mounts:match("^cgroup2 /sys/fs/cgroup cgroup2 "))
    local enabled = words(H.read(CGROOT .. "/cgroup.subtree_control"))
    for _, c in ipairs({ "cpu", "io", "memory", "pids" }) do
      assert.is_true(enabled[c] == true, c .. " not in " .. CGROOT .. "/cgroup.subtree_control")
    end
  end)

  test("puts uid 1000 in a delegated subtree it can manage, and no one else", function()
    local uid = require("purple.core").ids()
    if uid == 0 then
      assert.are.equal("/", own_cgroup())
      return
    end
    local _, _, denied = H.sh("mkdir " .. H.q(CGROOT .. "/vm-smoke-escape"))
    assert.are_not.equal(0, denied)
    if uid ~= 1000 then
      -- The pass without delegation: a root-owned leaf the user cannot subdivide.
      assert.are.equal("/nodelegate.scope", own_cgroup())
      assert.are_not.equal(0, select(3, H.sh("mkdir " .. H.q(CGROOT .. "/nodelegate.scope/x"))))
      return
    end
    assert.are.equal("/user.delegate/session.scope", own_cgroup())
    local available = words(H.read(DELEGATED .. "/cgroup.controllers"))
    for _, c in ipairs({ "cpu", "io", "memory", "pids" }) do assert.is_true(available[c] == true, c) end
    -- Delegation works the way purple uses it: create a child, set a limit, remove it.
    local child = DELEGATED .. "/vm-smoke-" .. os.time()
    local _, err, code = H.sh("mkdir " .. H.q(child) .. " && echo 7 > " .. H.q(child .. "/pids.max"))
    assert.are.equal(0, code, err)
    assert.are.equal("7\n", H.read(child .. "/pids.max"))
    assert.are.equal(0, select(3, H.sh("rmdir " .. H.q(child))))
  end)

  test("has an ext4 file system on a virtio block device at /mnt/disk for io throttling", function()
    local mounts = H.read("/proc/self/mounts")
    assert.truthy(mounts:match("/dev/vda /mnt/disk ext4 "))
    local f = assert(io.open("/mnt/disk/vm-smoke-" .. os.time() .. "-" .. tostring(unprivileged), "w"))
    f:close()
  end)

  test("runs a sandbox with purple run: output, exit status, private mount tree", function()
    local profile = H.profile(H.minimal())
    local out, err, code = H.run(profile, { "/bin/sh", "-c",
      "if test -e /purple || test -e /mnt/disk; then echo host tree visible; fi; echo hello; exit 7" })
    assert.are.equal("hello\n", out, err)
    assert.are.equal(7, code, err)
  end)
end)
