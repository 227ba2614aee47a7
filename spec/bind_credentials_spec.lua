-- Bind sources are opened with the credentials of the person who runs purple (root: any path,
-- an ordinary user: what it can reach), never the sandbox user's; the sandbox user still gets only
-- what the modes inside the bound tree give it. Idmapped output paths; init's command line.
local H = require "spec_helper"
local core = require "purple.core"

-- A policy binding dir read-only at /data (and /usr to run the shell).
local function bind_policy(dir, extra)
  return H.profile(([[
return {
  name = "bind-credentials",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" }, { host_path = %q, sandbox_path = "/data" } },
    scratch_paths = { "/tmp" },
    working_dir = "/tmp",
  },
  %s
}]]):format(dir, extra or ""))
end

-- parent (made with mode 0700) / data (0755) holding pub (0644) and, as root, secret (0600).
local function tree(parent)
  assert(core.mkdir(parent, 448)) -- 0700
  local data = parent .. "/data"
  assert(core.mkdir(data, 493))
  H.write(data .. "/pub", "public\n")
  os.execute("chmod 644 " .. H.q(data .. "/pub"))
  if H.is_root() then
    H.write(data .. "/secret", "secret\n")
    os.execute("chmod 600 " .. H.q(data .. "/secret"))
  end
  return data
end

-- Reads /data/pub inside the sandbox and tries /data/secret: prints what each gave.
local PROBE = { "/usr/bin/sh", "-c",
  'cat /data/pub; if cat /data/secret 2>/dev/null; then echo secret-read; else echo secret-denied; fi' }

describe("bind sources", function()
  after_each(H.cleanup)

  it("as root: a directory under a 0700 directory of root's is bound; the sandbox user keeps the modes", function()
    if not H.is_root() then pending("needs root") return end
    local data = tree(H.tmpdir() .. "/private")
    local out, err, code = H.run(bind_policy(data), PROBE)
    assert.equal(0, code, err)
    assert.equal("public\nsecret-denied\n", out)
  end)

  it("as root: a directory under a 0700 directory of another uid is bound", function()
    if not H.is_root() then pending("needs root") return end
    local parent = H.tmpdir() .. "/theirs"
    local data = tree(parent)
    assert(core.chown(parent, 4242, 4242))
    local out, err, code = H.run(bind_policy(data), PROBE)
    assert.equal(0, code, err)
    assert.equal("public\nsecret-denied\n", out)
  end)

  it("as an ordinary user: a directory under its own 0700 directory in $HOME is bound", function()
    if H.is_root() then pending("the uid-65534 pass runs this") return end
    local home = os.getenv("HOME")
    local st = home and core.stat(home)
    if not st or st.uid ~= (core.ids()) then pending("$HOME is not a directory of this user") return end
    local parent = home .. "/bind-credentials-" .. core.random_hex(4)
    local data = tree(parent)
    local out, err, code = H.run(bind_policy(data), PROBE)
    os.execute("rm -rf " .. H.q(parent))
    assert.equal(0, code, err)
    assert.equal("public\nsecret-denied\n", out)
  end)

  it("as an ordinary user: what it cannot reach is not bound (125, one line naming the path)", function()
    if H.is_root() then pending("the uid-65534 pass runs this") return end
    local st = core.stat("/root")
    if not st or st.uid ~= 0 or st.mode & 5 ~= 0 then pending("/root is not a directory closed to others") return end
    local out, err, code = H.run(bind_policy("/root/purple-spec-absent"), { "/usr/bin/true" })
    assert.equal(125, code)
    assert.equal("", out)
    assert.equal("purple: filesystem.immutable_paths[2].host_path: stat /root/purple-spec-absent: Permission denied "
      .. "(mark it optional = true if it may be absent)\n", err)
  end)

  it("as an ordinary user: core.spawn reports a source it cannot reach as its bind step (EACCES)", function()
    if H.is_root() then pending("the uid-65534 pass runs this") return end
    local st = core.stat("/root")
    if not st or st.uid ~= 0 or st.mode & 5 ~= 0 then pending("/root is not a directory closed to others") return end
    local uid, gid = core.ids()
    local sb = assert(core.spawn({
      argv = { "/usr/bin/true" }, namespaces = "user,mount,pid", uid = uid, gid = gid,
      uid_map = ("%d %d 1"):format(uid, uid), gid_map = ("%d %d 1"):format(gid, gid), setgroups = "deny",
      mounts = { { type = "bind", source = "/usr", target = "/usr" },
        { type = "bind", source = "/root/purple-spec-absent", target = "/x" } },
    }))
    local ev = assert(sb:poll())
    local ev2 = assert(sb:poll())
    sb:close()
    assert.are.same({ "setup_error", "bind /root/purple-spec-absent: Permission denied", "exit", 125 },
      { ev.event, ev.message, ev2.event, ev2.code })
  end)
end)

describe("filesystem.output_paths[].idmap", function()
  after_each(H.cleanup)

  local function idmap_policy(dir)
    return H.profile(([[
return {
  name = "idmap",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
    output_paths = { { host_path = %q, sandbox_path = "/out", idmap = true } },
    working_dir = "/out",
  },
}]]):format(dir))
  end

  it("is refused to an ordinary user (125, one line naming the field)", function()
    if H.is_root() then pending("the uid-65534 pass runs this") return end
    local out, err, code = H.run(idmap_policy(H.tmpdir()), { "/usr/bin/true" })
    assert.equal(125, code)
    assert.equal("", out)
    assert.equal("purple: filesystem.output_paths[1].idmap: needs root (an ordinary user cannot idmap a mount); "
      .. "remove it\n", err)
  end)

  it("fails closed on a file system that cannot be idmapped (125, one line naming the field)", function()
    if not H.is_root() then pending("needs root") return end
    if not core.stat("/proc/sys/fs") then pending("no /proc/sys/fs") return end
    local out, err, code = H.run(idmap_policy("/proc/sys/fs"), { "/usr/bin/true" })
    assert.equal(125, code)
    assert.equal("", out)
    assert.equal("purple: filesystem.output_paths[1].idmap: /proc/sys/fs: the file system cannot be idmapped "
      .. "(Invalid argument); remove idmap, or give an output path on a file system that can (ext4, xfs, btrfs, "
      .. "tmpfs)\n", err)
  end)

  it("ai-dev-safe run by root in a root-owned workspace: git works, every file stays root's", function()
    if not H.is_root() then pending("needs root") return end
    if not core.stat("/usr/bin/git") then pending("git is not installed") return end
    local ws = H.tmpdir() .. "/ws"
    assert(core.mkdir(ws, 493))
    H.write(ws .. "/main.c", "int main(void) { return 0; }\n")
    local git = "git -c user.name=agent -c user.email=agent@example.invalid"
    local out, err, code = H.run(H.tree .. "/profiles/ai-dev-safe.lua",
      { "sh", "-c", ("id -u; stat -c %%u /workspace/main.c; git init -q && %s add -A && %s commit -qm first "
        .. "&& echo committed"):format(git, git) },
      { env = "PURPLE_WORKSPACE=" .. H.q(ws) })
    assert.equal(0, code, err)
    assert.equal("65534\n65534\ncommitted\n", out)
    local p = io.popen("find " .. H.q(ws) .. " ! -user root -o ! -group root")
    local foreign = p:read("a")
    p:close()
    assert.equal("", foreign)
    assert.truthy(core.stat(ws .. "/.git/HEAD"))
  end)
end)

describe("the sandbox's init", function()
  after_each(H.cleanup)

  it("shows purple-init, not purple's host command line or environment", function()
    local policy = H.profile(H.minimal())
    local out, err, code = H.run(policy, { "/usr/bin/sh", "-c",
      "tr -d '\\000' </proc/1/cmdline; echo; tr '\\000' ' ' </proc/1/cmdline; echo; cat /proc/1/comm; "
        .. "tr -d '\\000' </proc/1/environ 2>/dev/null; echo environ" },
      { env = "PURPLE_SPEC_MARKER=host-secret-c12" })
    assert.equal(0, code, err)
    assert.equal("purple-init\npurple-init \npurple-init\nenviron\n", out)
    assert.falsy(out:find("host-secret-c12", 1, true))
    assert.falsy(out:find(H.tree, 1, true))
  end)
end)
