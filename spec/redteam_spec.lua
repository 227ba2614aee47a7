-- Red team: attacks from inside real sandboxes (and from earlier runs' output) that purple must
-- withstand. Each `it` is one attack; a FINDING still open is pending with what and where to fix.
local H = require "spec_helper"
local core = require "purple.core"

local UID, GID = core.ids()
-- ai-strict runs with a workspace of the spec's own: from the tree's directory it would depend on where
-- the clone lives (under /root or /tmp ai-strict hides it and says so on stderr).
local function strict() return { env = "PURPLE_WORKSPACE=" .. H.q(H.tmpdir()) } end

-- A policy source with /usr read-only, /tmp scratch and the given output host path at /output.
local function output_policy(host_path)
  return ([[
return {
  name = "redteam",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
    scratch_paths = { "/tmp" },
    output_paths = { { host_path = %q, sandbox_path = "/output" } },
    working_dir = "/tmp",
  },
}]]):format(host_path)
end

describe("red team", function()
  after_each(H.cleanup)

  describe("a link planted in an output directory by an earlier run", function()
    it("never redirects a later run's output bind, nor the directories purple creates for it", function()
      local d = H.tmpdir()
      local shared, victim = d .. "/shared", d .. "/victim"
      assert(core.mkdir(shared, 511))
      assert(core.mkdir(victim, 493))
      os.execute("chmod 777 " .. H.q(shared))
      -- Run 1: the command plants relative links in its (writable) output.
      local _, err, code = H.run(H.profile(output_policy(shared)),
        { "/bin/sh", "-c", "ln -s ../victim /output/next && ln -s ../victim /output/dir" })
      assert.are.same({ "", 0 }, { err, code })
      assert.are.equal("../victim", core.readlink(shared .. "/next"))
      -- Run 2 binds the planted link itself; run 3 a missing directory below one.
      local out
      out, err, code = H.run(H.profile(output_policy(shared .. "/next")), { "/bin/sh", "-c", "echo x >/output/pwned" })
      assert.are.same({ "", ("purple: filesystem.output_paths[1].host_path: %s/next is a symbolic link "
        .. "(to ../victim); output is never bound through a link, give the real path\n"):format(shared), 125 },
        { out, err, code })
      out, err, code = H.run(H.profile(output_policy(shared .. "/dir/run-2")), { "/bin/sh", "-c", "echo x >/output/pwned" })
      assert.are.same({ "", ("purple: filesystem.output_paths[1].host_path: %s/dir is a symbolic link "
        .. "(to ../victim); output is never bound through a link, give the real path\n"):format(shared), 125 },
        { out, err, code })
      assert.is_nil(core.stat(victim .. "/pwned"))
      assert.is_nil(core.stat(victim .. "/run-2"))
    end)

    it("is refused by the child itself (ELOOP) for a read-write bind, also when planted after the check", function()
      local d = H.tmpdir()
      assert(core.mkdir(d .. "/victim", 493))
      os.execute("ln -s victim " .. H.q(d .. "/link"))
      local function spawn(readonly)
        local sb = assert(core.spawn({
          argv = { "/usr/bin/sh", "-c", "/usr/bin/touch /o/pwned 2>/dev/null" }, namespaces = "user,mount,pid",
          uid = UID, gid = GID, uid_map = ("%d %d 1"):format(UID, UID), gid_map = ("%d %d 1"):format(GID, GID),
          setgroups = H.is_root() and "clear" or "deny",
          mounts = { { type = "bind", source = "/usr", target = "/usr" },
            { type = "symlink", target = "/lib", link = "usr/lib" },
            { type = "symlink", target = "/lib64", link = "usr/lib64" }, { type = "dev", target = "/dev" },
            { type = "bind", source = d .. "/link", target = "/o", readonly = readonly } },
        }))
        local ev = assert(sb:poll())
        local evs = { ev }
        while ev.event ~= "exit" do
          ev = assert(sb:poll())
          evs[#evs + 1] = ev
        end
        sb:close()
        return evs
      end
      local evs = spawn(false)
      assert.are.same({ "setup_error", "bind " .. d .. "/link", 40 }, { evs[1].event, evs[1].what, evs[1].errno })
      assert.are.same({ "exit", 125 }, { evs[2].event, evs[2].code })
      assert.is_nil(core.stat(d .. "/victim/pwned"))
      -- A read-only bind may go through links (/etc/localtime is one): the command gets EROFS.
      evs = spawn(true)
      assert.are.same({ "exit", 1 }, { evs[#evs].event, evs[#evs].code })
      assert.is_nil(core.stat(d .. "/victim/pwned"))
    end)
  end)

  describe("files the command leaves in an output directory", function()
    it("are never set-user-ID or set-group-ID on the host: chmod, open, O_TMPFILE, mkdir, mknod", function()
      local script = [[
import os, shutil
def attempt(what, fn):
    try:
        fn()
        print(what, "done")
    except OSError as e:
        print(what, e.errno)
shutil.copy("/usr/bin/id", "/output/id")
attempt("chmod", lambda: os.chmod("/output/id", 0o6755))
attempt("fchmod", lambda: os.fchmod(os.open("/output/id", os.O_RDONLY), 0o2755))
attempt("open", lambda: os.open("/output/open", os.O_CREAT | os.O_WRONLY, 0o4755))
def tmpfile():
    fd = os.open("/output", os.O_TMPFILE | os.O_WRONLY, 0o4755)
    os.link("/proc/self/fd/%d" % fd, "/output/tmpfile")
attempt("tmpfile", tmpfile)
attempt("mkdir", lambda: os.mkdir("/output/dir", 0o2777))
attempt("mknod", lambda: os.mknod("/output/node", 0o104755))
os.chmod("/output/id", 0o750)
os.mkdir("/output/plain")
os.chmod("/output/plain", 0o1777)
print(oct(os.stat("/output/id").st_mode), oct(os.stat("/output/plain").st_mode))]]
      -- A policy that allows every other call, and ai-strict's allow list (the filter's default notifies).
      for _, profile in ipairs({ "custom", "ai-strict" }) do
        local out = H.tmpdir() .. "/out"
        local stdout, err, code = H.run(profile == "custom" and H.profile(output_policy(out)) or profile,
          { "/usr/bin/python3", "-c", script }, { env = "PURPLE_OUTPUT=" .. H.q(out) })
        assert.are.same({ "chmod 1\nfchmod 1\nopen 1\ntmpfile 1\nmkdir 1\nmknod 1\n0o100750 0o41777\n", 0 },
          { stdout, code }, err)
        assert.truthy(err:find("purple: blocked syscall chmod %(90%) in pid %d+ %(python3%); set%-user%-ID and "
          .. "set%-group%-ID bits %(they would hold on the host%) is blocked by purple's hardening"), err)
        for _, f in ipairs({ "id", "open", "tmpfile", "dir", "node" }) do
          local st = core.stat(out .. "/" .. f)
          assert.are.equal(0, st and (st.mode & 3072) or 0, profile .. " " .. f) -- 06000
        end
      end
    end)
  end)

  describe("the audit of an output directory", function()
    it("does not hash a 1 TiB sparse file the command made for free (no sha256 past 1 GiB a run)", function()
      local S = require "helpers.sessions"
      local json = require "purple.json"
      local d = H.tmpdir()
      local log, out = d .. "/audit.log", d .. "/out"
      -- timeout only keeps a regression from hanging the suite for the half hour of hashing.
      local _, err, code = H.run(S.audit_profile(log, out, nil, 'detail_level = { "filesystem" },'),
        { "/bin/sh", "-c", "truncate -s 1T /output/big && echo x >/output/small" }, { env = "timeout 300" })
      assert.are.same({ "", 0 }, { err, code })
      local files
      for line in io.lines(log) do
        local rec = json.decode(line)
        if rec.event == "files" then files = rec end
      end
      local by_path = {}
      for _, f in ipairs(files.created) do by_path[f.path] = f end
      assert.are.same({ 1 << 40, nil }, { by_path.big.size, by_path.big.sha256 })
      assert.are.equal("73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac", by_path.small.sha256)
    end)
  end)

  describe("output directories purple creates", function()
    it("belong to the sandbox user only at the output itself, never its parents", function()
      local d = H.tmpdir()
      local out = d .. "/a/b/out"
      local _, err, code = H.run(H.profile(output_policy(out)), { "/bin/sh", "-c", "echo x >/output/f" })
      assert.are.same({ "", 0 }, { err, code })
      local sandbox_uid = H.is_root() and 65534 or UID
      assert.are.same({ UID, UID, sandbox_uid, sandbox_uid },
        { core.stat(d .. "/a").uid, core.stat(d .. "/a/b").uid, core.stat(out).uid, core.stat(out .. "/f").uid })
    end)
  end)

  describe("the host's System V IPC", function()
    it("is out of reach: a 0666 shared memory segment of the host is neither listed nor attachable", function()
      -- The host's segment lives only while this python holds it (IPC_RMID at once: gone at exit).
      local cmd = ([[python3 -c '
import ctypes, subprocess, sys
libc = ctypes.CDLL(None)
shmid = libc.shmget(0, 4096, 0o1666)
r = subprocess.run([%q, "run", "--profile", "ai-strict", "--", "/usr/bin/python3", "-c",
  "import ctypes; l = ctypes.CDLL(None); print(open(\"/proc/sysvipc/shm\").read().count(chr(10)), l.shmat(%%d, 0, 0))" %% shmid],
  capture_output=True, text=True)
libc.shmctl(shmid, 0, 0)
print(shmid >= 0, r.stdout.strip(), r.returncode)
sys.stderr.write(r.stderr)']]):format(H.purple)
      local out, err, code = H.sh(strict().env .. " " .. cmd)
      assert.are.same({ "True 1 -1 0\n", "", 0 }, { out, err, code })
    end)
  end)

  describe("the sandbox's init (pid 1)", function()
    it("survives SIGKILL and SIGSTOP from the command, and the run still ends with the command's status", function()
      local out, err, code = H.run("ai-strict", { "/bin/sh", "-c",
        "kill -KILL 1; kill -STOP 1; kill -SEGV 1; kill -ALRM 1; kill -PIPE 1; echo alive; exit 7" }, strict())
      assert.are.same({ "alive\n", "", 7 }, { out, err, code })
    end)

    it("cannot be traced, read or have its fds opened by the command", function()
      local out, err, code = H.run("ai-strict", { "/bin/sh", "-c", [[
        for f in /proc/1/environ /proc/1/mem /proc/1/fd/0 /proc/1/fd/1 /proc/1/fd/3 /proc/1/maps; do
          if (exec 3<"$f") 2>/dev/null; then echo "OPEN $f"; fi
        done
        for d in /proc/1/fd /proc/1/root/ /proc/1/cwd/ /proc/1/map_files; do
          if ls "$d" >/dev/null 2>&1; then echo "LIST $d"; fi
        done; echo done]] }, strict())
      assert.are.same({ "done\n", "", 0 }, { out, err, code })
    end)
  end)

  describe("escape sequences from the command", function()
    local ESC = "\27"

    it("never reach the caller's terminal through a syscall violation line (comm is the command's)", function()
      local out, err, code = H.run("ai-strict", { "/usr/bin/python3", "-c", [[
import ctypes
libc = ctypes.CDLL(None)
libc.prctl(15, b"\x1b[2J\x1b]0;x\x07\n", 0, 0, 0)
libc.syscall(170, b"x", 1)
print("ran")]] }, strict())
      assert.are.same({ "ran\n", 0 }, { out, code })
      assert.is_nil(err:find(ESC, 1, true))
      local line = err:gsub("in pid %d+", "in pid N")
      local want = "purple: blocked syscall sethostname (170) in pid N (?[2J?]0;x??); "
      assert.are.equal(want, line:sub(1, #want))
    end)

    it("never reach the reader's terminal through `purple log` (file names, comm)", function()
      local S = require "helpers.sessions"
      local d = H.tmpdir()
      local log, out = d .. "/audit.log", d .. "/out"
      local _, err, code = H.run(S.audit_profile(log, out, nil, 'detail_level = { "filesystem", "syscall" },'),
        { "/bin/sh", "-c", "printf x >\"/output/$(printf 'a\\033[2Jb\\nc')\"" })
      assert.are.same({ "", 0 }, { err, code })
      local shown
      shown, err, code = H.sh(H.purple .. " log " .. H.q(log))
      assert.are.same({ "", 0 }, { err, code })
      assert.is_nil(shown:find(ESC, 1, true))
      assert.truthy(shown:find("\n      + a?[2Jb?c 1B  sha256:", 1, true), shown)
    end)
  end)

  describe("a multi-threaded server on the host network", function()
    it("listens from any thread on an allowed port; without root never on one the kernel picks", function()
      local port = 20000 + core.getpid() % 20000
      local p = H.profile(H.minimal(('network = { isolated = false, allow_incoming = { "%d/tcp" } },'):format(port)))
      local out, err, code = H.run(p, { "/usr/bin/python3", "-c", ([[
import socket, threading
def serve():
    s = socket.socket(); s.bind(("127.0.0.1", %d)); s.listen(1); print("bound", flush=True); s.close()
    u = socket.socket()
    try:
        u.listen(1); print("unbound listened")
    except OSError as e:
        print("unbound", e.errno)
t = threading.Thread(target=serve); t.start(); t.join()]]):format(port) })
      -- Root filters incoming connections in BPF instead (network_spec: nothing reaches such a port).
      assert.are.same({ "bound\n" .. (H.is_root() and "unbound listened\n" or "unbound 13\n"), 0 }, { out, code }, err)
    end)
  end)

  describe("profiles/ai-dev-safe.lua", function()
    it("keeps the agent from planting code that the host's git runs in the workspace", function()
      pending("FINDING: the workspace is writable, .git and nested repositories included: the agent sets "
        .. "core.fsmonitor (or hooks, core.hooksPath, .git/commondir) and the next `git status` the user runs "
        .. "there on the host runs its code outside the sandbox (run by an ordinary user, git trusts the repo: "
        .. "same owner). A read-only .git is no fix (the agent makes repo/.git). Fix needs a design decision "
        .. "(profiles/ai-dev-safe.lua, docs): run the agent as a uid other than the user's so host git refuses "
        .. "the repository (safe.directory), or document that the workspace must be treated as untrusted")
      local ws = H.tmpdir()
      local pwned = H.tmpdir() .. "/pwned"
      assert.are.same({ "", "", 0 }, { H.sh("git init -q " .. H.q(ws)) })
      if H.is_root() then os.execute("chown -R 65534:65534 " .. H.q(ws)) end
      local _, _, code = H.run(H.tree .. "/profiles/ai-dev-safe.lua", { "/bin/sh", "-c",
        ("git config core.fsmonitor 'id >%s; false' 2>/dev/null; "
          .. "printf '#!/bin/sh\nid >%s\n' >.git/hooks/pre-commit 2>/dev/null; exit 0"):format(pwned, pwned) },
        { env = "PURPLE_WORKSPACE=" .. H.q(ws) })
      assert.are.equal(0, code)
      H.sh("cd " .. H.q(ws) .. " && git -c safe.directory='*' status && git -c safe.directory='*' commit -q "
        .. "--allow-empty -m x")
      assert.is_nil(core.stat(pwned))
    end)
  end)

  describe("resource exhaustion under the shipped profiles", function()
    it("ai-strict's /tmp (256 MiB) and /dev/shm (64 MiB) are size-limited tmpfs; / and /dev take nothing", function()
      local out, err, code = H.run("ai-strict", { "/bin/sh", "-c", [[
        fallocate -l 1M /tmp/a && fallocate -l 1M /dev/shm/a && echo small ok
        fallocate -l 300M /tmp/b 2>/dev/null || echo "tmp full"
        fallocate -l 100M /dev/shm/b 2>/dev/null || echo "shm full"
        (: >/x) 2>/dev/null || echo "root refused"
        (: >/dev/x) 2>/dev/null || echo "dev refused"]] }, strict())
      assert.are.same({ "small ok\ntmp full\nshm full\nroot refused\ndev refused\n", "", 0 }, { out, err, code })
    end)

    it("a fork bomb stops at the policy's nproc, counted per sandbox (root and not)", function()
      local p = H.profile(H.minimal("resources = { rlimits = { nproc = 20 } },"))
      local out, err, code = H.run(p, { "/usr/bin/python3", "-c", [[
import os, time
n = 0
for i in range(60):
    try:
        if os.fork() == 0:
            time.sleep(2); os._exit(0)
        n += 1
    except OSError as e:
        print("forked", n, "then errno", e.errno); break]] })
      -- 20 processes of the sandbox user: init, python3 and 18 children.
      assert.are.same({ "forked 18 then errno 11\n", "", 0 }, { out, err, code })
    end)

    for _, name in ipairs({ "ai-strict", "ai-dev-safe" }) do
      it(name .. " limits processes to 4096 and files to 4 GiB", function()
        local ws = H.tmpdir()
        local out, err, code = H.run(name == "ai-strict" and name or H.tree .. "/profiles/ai-dev-safe.lua",
          { "/bin/sh", "-c", "grep -E '^Max (processes|file size)' /proc/self/limits | tr -s ' '" },
          { env = "PURPLE_WORKSPACE=" .. H.q(ws) })
        assert.are.same({ "Max file size 4294967296 4294967296 bytes \nMax processes 4096 4096 processes \n", "", 0 },
          { out, err, code })
      end)

      it(name .. " bounds memory", function()
        pending("FINDING: " .. name .. " sets no memory_limit_bytes: a malloc loop of the untrusted command "
          .. "drives the host into its OOM killer, and many files can still fill the output's disk. A cgroup "
          .. "limit needs root or a delegated cgroup (else 125 without --allow-unenforced), and RLIMIT_AS breaks "
          .. "node and other JITs; needs a decision for profiles/" .. name .. ".lua/.yaml")
        local pol = assert(require("purple.profiles").load(name))
        assert.is_not_nil(pol.resources.memory_limit_bytes)
      end)
    end
  end)
end)
