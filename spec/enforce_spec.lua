-- Unit specs of the core enforcers: what identity, filesystem and environment put into the spawn
-- spec for a policy (spec/core_spec.lua proves the same against a real sandbox).
local H = require "spec_helper"
local core = require "purple.core"
local policy = require "purple.policy"
local identity = require "purple.enforce.identity"
local filesystem = require "purple.enforce.filesystem"
local environment = require "purple.enforce.environment"

local function run_for(doc, privileged)
  local p = assert(policy.normalize(doc))
  local uid, gid = core.ids()
  return { policy = p, privileged = privileged, uid = uid, gid = gid, spec = { mounts = {} } }
end

describe("enforce.identity", function()
  it("maps root to 65534 (or policy.user) and drops its groups", function()
    local run = run_for({ name = "x" }, true)
    assert.is_true(identity.prepare(run))
    assert.are.same({ 65534, 65534, "65534 65534 1", "65534 65534 1", "clear" },
      { run.spec.uid, run.spec.gid, run.spec.uid_map, run.spec.gid_map, run.spec.setgroups })
    run = run_for({ name = "x", user = { uid = 1234, gid = 2345 } }, true)
    identity.prepare(run)
    assert.are.same({ 1234, 2345, "1234 1234 1", "2345 2345 1" },
      { run.spec.uid, run.spec.gid, run.spec.uid_map, run.spec.gid_map })
  end)

  it("keeps an ordinary user as themselves, with setgroups denied", function()
    local run = run_for({ name = "x", user = { uid = 1234 } }, false)
    run.uid, run.gid = 1000, 1001
    identity.prepare(run)
    assert.are.same({ 1000, 1001, "1000 1000 1", "1001 1001 1", "deny" },
      { run.spec.uid, run.spec.gid, run.spec.uid_map, run.spec.gid_map, run.spec.setgroups })
  end)
end)

describe("enforce.environment", function()
  local host = { PATH = "/host/bin", HOME = "/root", TERM = "xterm", LANG = "de_DE.UTF-8",
    AWS_SECRET_ACCESS_KEY = "s", AWS_REGION = "eu", SSH_AUTH_SOCK = "/tmp/agent", LC_ALL = "C" }

  it("passes only PATH, HOME, TERM and LANG by default", function()
    local p = assert(policy.normalize({ name = "x", filesystem = { scratch_paths = { "/work" },
      working_dir = "/work" } }))
    assert.are.same({ PATH = "/usr/local/bin:/usr/bin:/bin", HOME = "/work", TERM = "xterm", LANG = "de_DE.UTF-8" },
      environment.build(p, host))
    p = assert(policy.normalize({ name = "x" }))
    assert.are.same({ PATH = "/usr/local/bin:/usr/bin:/bin", HOME = "/", LANG = "C.UTF-8" },
      environment.build(p, {}))
  end)

  it("adds kept names and patterns, then the set list", function()
    local p = assert(policy.normalize({ name = "x", environment = { keep = { "AWS_*", "LC_ALL" },
      set = { PATH = "/opt/bin", MODE = "test" } } }))
    local env = environment.build(p, host)
    assert.are.same({ PATH = "/opt/bin", HOME = "/", TERM = "xterm", LANG = "de_DE.UTF-8", AWS_SECRET_ACCESS_KEY = "s",
      AWS_REGION = "eu", LC_ALL = "C", MODE = "test" }, env)
    assert.is_nil(env.SSH_AUTH_SOCK)
  end)
end)

describe("enforce.filesystem", function()
  after_each(H.cleanup)

  local function plan(fs, privileged)
    local run = run_for({ name = "x", filesystem = fs }, privileged)
    run.sandbox_uid, run.sandbox_gid = 65534, 65534
    return filesystem.plan(run)
  end

  local function targets(mounts)
    local t = {}
    for i, m in ipairs(mounts) do t[i] = m.type .. " " .. m.target end
    return t
  end

  it("plans parents before children: binds, scratch, proc, dev, merged-/usr links, passwd", function()
    local mounts = assert(plan({ immutable_paths = { { host_path = "/usr/share", sandbox_path = "/usr/share" },
      { host_path = "/usr", sandbox_path = "/usr" } }, scratch_paths = { "/tmp" }, working_dir = "/tmp" }))
    local want = { "dev /dev", "proc /proc", "tmpfs /tmp", "bind /usr", "file /etc/group", "file /etc/passwd",
      "bind /usr/share" }
    local links = {}
    for _, d in ipairs({ "bin", "lib", "lib32", "lib64", "libx32", "sbin" }) do
      local l = core.readlink("/" .. d)
      if l and l:match("^/?usr/") then links[#links + 1] = "symlink /" .. d end
    end
    -- the expected order: by depth, then by name
    local all = {}
    for _, w in ipairs(want) do all[#all + 1] = w end
    for _, l in ipairs(links) do all[#all + 1] = l end
    table.sort(all, function(a, b)
      local ta, tb = a:match(" (.*)"), b:match(" (.*)")
      local da, db = select(2, ta:gsub("/", "")), select(2, tb:gsub("/", ""))
      if da ~= db then return da < db end
      return ta < tb
    end)
    assert.are.same(all, targets(mounts))
    for _, m in ipairs(mounts) do
      if m.type == "bind" then assert.is_true(m.readonly) end
      if m.type == "tmpfs" then assert.are.same({ 268435456, 1023 }, { m.size, m.mode }) end
    end
  end)

  it("names the sandbox user in the synthesized /etc/passwd, unless /etc is bound", function()
    local mounts = assert(plan({ scratch_paths = { "/work" }, working_dir = "/work" }))
    local passwd
    for _, m in ipairs(mounts) do if m.target == "/etc/passwd" then passwd = m.contents end end
    assert.are.equal("root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:sandboxed agent:/work:/bin/sh\n",
      passwd)
    mounts = assert(plan({ immutable_paths = { { host_path = "/etc", sandbox_path = "/etc" } } }))
    for _, m in ipairs(mounts) do assert.is_nil(m.target:match("^/etc/")) end
  end)

  it("creates a missing output directory on the host", function()
    local d = H.tmpdir() .. "/a/b"
    local mounts = assert(plan({ output_paths = { { host_path = d, sandbox_path = "/out" } } }, H.is_root()))
    assert.are.equal("directory", core.stat(d).type)
    if H.is_root() then assert.are.equal(65534, core.stat(d).uid) end
    local found
    for _, m in ipairs(mounts) do if m.target == "/out" then found = m end end
    assert.are.same({ "bind", d, false }, { found.type, found.source, found.readonly })
  end)

  it("rejects a doubly mounted target, a mount over /proc or /dev, a missing path, a stray working_dir", function()
    local _, err = plan({ scratch_paths = { "/x" }, immutable_paths = { { host_path = "/usr", sandbox_path = "/x" } } })
    assert.are.equal("filesystem.scratch_paths[1]: /x is mounted twice (also by filesystem.immutable_paths[1])", err)
    _, err = plan({ scratch_paths = { "/proc" } })
    assert.are.equal("filesystem.scratch_paths[1]: /proc is provided by purple and cannot be mounted over", err)
    _, err = plan({ immutable_paths = { { host_path = "/nonexistent-h7", sandbox_path = "/n" } } })
    assert.are.equal("filesystem.immutable_paths[1].host_path: stat /nonexistent-h7: No such file or directory "
      .. "(mark it optional = true if it may be absent)", err)
    local mounts = assert(plan({ immutable_paths = { { host_path = "/nonexistent-h7", sandbox_path = "/n",
      optional = true } } }))
    for _, m in ipairs(mounts) do assert.are_not.equal("/n", m.target) end
    _, err = plan({ scratch_paths = { "/tmp" }, working_dir = "/srv" })
    assert.are.equal("filesystem.working_dir: /srv is outside the sandbox's filesystem (not under any immutable, "
      .. "scratch or output path)", err)
  end)
end)
