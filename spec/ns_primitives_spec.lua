-- purple.core's individual namespace, mount, identity and process primitives (csrc/lua/ns_primitives.c).
-- Each scenario runs in its own lua5.4 process, which forks a child that builds a tiny sandbox
-- step by step; the child reports every step on stdout.
local H = require "spec_helper"
local core = require "purple.core"

local UID, GID = core.ids()

-- Runs Lua source in a fresh interpreter with the in-tree purple.core; returns stdout, stderr, status.
local function lua(src, ...)
  local d = H.tmpdir()
  H.write(d .. "/s.lua", src)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = H.q(a) end
  return H.sh("LUA_CPATH=" .. H.q(H.tree .. "/lua/?.so;;") .. " lua5.4 " .. H.q(d .. "/s.lua") .. " "
    .. table.concat(args, " ") .. " </dev/null")
end

-- Lua source: a step reporter that stops the child at the first failure.
local PRELUDE = [[
local core = require "purple.core"
local function step(name, ok, err)
  io.write(name, ok and "" or (" FAIL " .. tostring(err)), "\n")
  io.stdout:flush()
  if not ok then core._exit(1) end
  return ok
end
]]

describe("purple.core primitives", function()
  after_each(H.cleanup)

  it("build a sandbox step by step in a forked child", function()
    local d = H.tmpdir()
    local out_dir = d .. "/out"
    assert(core.mkdir(out_dir))
    local has_lib64 = core.readlink("/lib64") ~= nil
    local out, err, code = lua(PRELUDE .. [[
local dir, has_lib64, helpers = arg[1], arg[2] == "yes", arg[3]
local uid, gid = core.ids()
local keep = io.open("/dev/null") -- an fd the command must not inherit
step("unshare", core.unshare("user,mount,pid,uts,ipc,net"))
step("id maps", core.set_id_maps("self", { uid = ("0 %d 1"):format(uid), gid = ("0 %d 1"):format(gid) }))
local pid = assert(core.fork())
if pid == 0 then
  step("pid " .. core.getpid(), true)
  step("propagation", core.propagation("/", "private"))
  local root = dir .. "/root"
  step("tmpfs", core.tmpfs(root, { size = 1 << 20, mode = 493 }))
  step("bind usr", core.bind("/usr", root .. "/usr"))
  -- the merged-/usr links, as binds of what they point to (the loader's path is absolute)
  step("bind lib", core.bind("/lib", root .. "/lib", { nosuid = false, nodev = false }))
  if has_lib64 then step("bind lib64", core.bind("/lib64", root .. "/lib64")) end
  step("bind out", core.bind(dir .. "/out", root .. "/out", { readonly = false }))
  step("bind helpers", core.bind(helpers, root .. "/helpers", { readonly = true, nosuid = true, nodev = true }))
  step("scratch", core.tmpfs(root .. "/scratch", { size = 65536, mode = 448 }))
  step("proc", core.mount_proc(root .. "/proc"))
  step("dev", core.mount_dev(root .. "/dev"))
  step("pivot_root", core.pivot_root(root))
  step("hostname", core.sethostname("steps"))
  step("setsid " .. tostring(core.setsid()), true)
  step("rlimit", core.setrlimit("nofile", 32, 64))
  step("getrlimit " .. table.concat({ core.getrlimit("nofile") }, " "), true)
  step("close fds", core.close_fds(3))
  core.exec({ "sh", "-c", [=[
    echo "uid $(id -u) host $(cat /proc/sys/kernel/hostname) nofile $(ulimit -n)"
    echo "fds $(/helpers/fds)"
    echo "root $(ls / | tr '\n' ' ')"
    echo "dev $(ls /dev | tr '\n' ' ')"
    set -- /proc/[0-9]*; echo "procs $#"
    echo "scratch $(stat -c %a /scratch)"
    touch /usr/x 2>/dev/null || echo "usr read-only"
    echo hello > /out/hello && echo "out written"
    grep -c shared: /proc/self/mountinfo || true
    for m in /usr /lib /out /scratch; do grep " $m " /proc/self/mountinfo | cut -d' ' -f5,6 | sed 's/,relatime//'
    done
    grep " /scratch " /proc/self/mountinfo | grep -o 'size=[^,]*,mode=[0-7]*'
  ]=] }, { "PATH=/usr/bin:/bin" })
  step("exec", false, "returned")
end
local st = assert(core.wait(pid))
keep:close()
print("status " .. tostring(st.code))
]], d, has_lib64 and "yes" or "no", H.helpers)
    assert.are.equal("", err)
    assert.are.equal(0, code)
    local want = "unshare\nid maps\npid 1\npropagation\ntmpfs\nbind usr\nbind lib\n"
      .. (has_lib64 and "bind lib64\n" or "")
      .. "bind out\nbind helpers\nscratch\nproc\ndev\npivot_root\nhostname\nsetsid 1\nrlimit\n"
      .. "getrlimit 32 64\nclose fds\n"
      .. "uid 0 host steps nofile 32\n"
      .. "fds 0 1 2\n"
      .. "root dev helpers lib " .. (has_lib64 and "lib64 " or "") .. "out proc scratch usr \n"
      .. "dev fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n"
      .. "procs 1\n" -- sh itself (pid 1; the glob forks nothing): the pid namespace holds only the sandbox
      .. "scratch 700\nusr read-only\nout written\n0\n"
      .. "/usr ro,nosuid,nodev\n/lib ro\n/out rw,nosuid,nodev\n/scratch rw,nosuid,nodev\nsize=64k,mode=700\n"
      .. "status 0\n"
    assert.are.equal(want, out)
    assert.are.equal("hello\n", H.read(out_dir .. "/hello"))
    assert.are.equal(UID, core.stat(out_dir .. "/hello").uid)
    -- the staging tmpfs existed only in the child's mount namespace
    assert.are.same({}, { (H.sh("ls -A " .. H.q(d .. "/root"))):match("%S+") })
  end)

  it("clone a child into new namespaces, and report its exit", function()
    local out, err, code = lua(PRELUDE .. [[
local pid = assert(core.clone("user,pid,uts"))
if pid == 0 then
  io.write("child pid ", core.getpid(), "\n")
  core._exit(7)
end
local st = assert(core.wait(pid))
print("code " .. st.code)
pid = assert(core.fork())
if pid == 0 then core.kill(core.getpid(), 9) core._exit(0) end
st = assert(core.wait(pid))
print("signal " .. st.signal)
]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("child pid 1\ncode 7\nsignal 9\n", out)
  end)

  it("map ids in a user namespace from the parent", function()
    local out, err, code = lua(PRELUDE .. [[
local uid, gid = core.ids()
local pid = assert(core.clone("user"))
if pid == 0 then
  -- wait until the parent has written the maps: uid 65534 is the overflow id of an unmapped process
  for _ = 1, 2000 do
    if (core.ids()) == 1000 then break end
    os.execute("sleep 0.01")
  end
  local u, g = core.ids()
  io.write("inside ", u, " ", g, "\n")
  core._exit(0)
end
step("maps", core.set_id_maps(pid, { uid = ("1000 %d 1"):format(uid), gid = ("1000 %d 1"):format(gid),
  setgroups = "deny" }))
local st = assert(core.wait(pid))
print("code " .. st.code)
]])
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("maps\ninside 1000 1000\ncode 0\n", out)
  end)

  it("return the fail triple on OS errors", function()
    local ok, msg, errno = core.bind("/nonexistent-h7", "/x")
    if H.is_root() then
      assert.are.same({ nil, "bind /nonexistent-h7: No such file or directory", 2 }, { ok, msg, errno })
    else -- cloning a mount tree needs CAP_SYS_ADMIN over the mount namespace: checked first
      assert.are.same({ nil, "bind /nonexistent-h7: Operation not permitted", 1 }, { ok, msg, errno })
    end
    ok, msg, errno = core.wait(-1)
    assert.are.same({ nil, "wait -1: No child processes", 10 }, { ok, msg, errno })
    ok, msg, errno = core.pivot_root("/nonexistent-h7")
    assert.are.same({ nil, "pivot_root /nonexistent-h7: No such file or directory", 2 }, { ok, msg, errno })
    if not H.is_root() then
      ok, msg, errno = core.sethostname("x")
      assert.are.same({ nil, "sethostname x: Operation not permitted", 1 }, { ok, msg, errno })
      local target = H.tmpdir() .. "/mnt"
      ok, msg, errno = core.tmpfs(target)
      assert.are.same({ nil, "tmpfs " .. target .. ": Operation not permitted", 1 }, { ok, msg, errno })
    end
    local soft, hard = core.getrlimit("nofile")
    assert.is_true(soft > 0 and (hard == -1 or hard >= soft))
  end)

  it("core.spawn reports a failing setup step as (step, errno) and never runs the command", function()
    local d = H.tmpdir()
    local spec = {
      argv = { "/usr/bin/touch", d .. "/ran" }, namespaces = "user,mount,pid",
      uid = UID, gid = GID, uid_map = ("%d %d 1"):format(UID, UID), gid_map = ("%d %d 1"):format(GID, GID),
      setgroups = H.is_root() and "clear" or "deny",
      mounts = { { type = "bind", source = "/usr", target = "/usr" },
        { type = "bind", source = "/nonexistent-h7", target = "/x" } },
    }
    local sb = assert(core.spawn(spec))
    local ev = assert(sb:poll())
    assert.are.same({ "setup_error", "bind /nonexistent-h7", 2, "bind /nonexistent-h7: No such file or directory" },
      { ev.event, ev.what, ev.errno, ev.message })
    ev = assert(sb:poll())
    assert.are.same({ "exit", 125 }, { ev.event, ev.code })
    sb:close()
    assert.is_nil(core.stat(d .. "/ran"))
    assert.has_error(function() core.spawn({ argv = { "true" }, mount = {} }) end,
      "spawn spec: unknown field 'mount'")
    assert.has_error(function() core.spawn({ argv = {} }) end, "spawn spec: argv must be a non-empty list")
  end)

  it("raise on programming errors", function()
    assert.has_error(function() core.unshare("user,bogus") end,
      "unknown namespace 'bogus' (known: user, mount, pid, ipc, uts, net, cgroup)")
    assert.has_error(function() core.setrlimit("bogus", 1) end,
      "unknown rlimit 'bogus' (as core cpu data fsize memlock nofile nproc stack msgqueue sigpending locks nice "
        .. "rtprio rttime rss)")
    assert.has_error(function() core.set_id_maps("self", { uid = "0 0 1", typo = 1 }) end,
      "set_id_maps: unknown field 'typo'")
    assert.has_error(function() core.bind("/usr", "relative") end,
      "bad argument #2 to 'bind' (an absolute path expected)")
    assert.has_error(function() core.propagation("/", "weird") end,
      "bad argument #2 to 'propagation' (invalid option 'weird')")
    assert.has_error(function() core.tmpfs("/x", { size = 1, mdoe = 1 }) end, "tmpfs: unknown field 'mdoe'")
    assert.has_error(function() core.exec({}) end, "bad argument #1 to 'exec' (a non-empty argv expected)")
  end)
end)
