-- The sandbox core, attacked from inside a real sandbox and checked from the host.
-- Runs as root (the command becomes uid 65534) and as uid 65534 (a user namespace); see spec/run.sh.
local H = require "spec_helper"
local core = require "purple.core"

local ROOT = H.is_root()
local UID = (core.ids())
-- The uid the command runs as: 65534 when purple is started by root, else the caller's own uid.
local SANDBOX_UID = ROOT and 65534 or UID

-- A profile with /usr and the spec helpers read-only, /tmp scratch, and out (if given) at /output.
local function profile(out, extra)
  local outputs = out and ('output_paths = { { host_path = %q, sandbox_path = "/output" } },'):format(out) or ""
  return H.profile(([[
return {
  name = "core-spec",
  filesystem = {
    immutable_paths = {
      { host_path = "/usr", sandbox_path = "/usr" },
      { host_path = %q, sandbox_path = "/helpers" },
    },
    scratch_paths = { "/tmp" },
    %s
    working_dir = "/tmp",
  },
  %s
}]]):format(H.helpers, outputs, extra or ""))
end

local function sh(p, script, opts)
  return H.run(p, { "sh", "-c", script }, opts)
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- Processes on the host whose command line contains marker.
local function processes_with(marker)
  local pids = {}
  for pid in H.sh("ls /proc"):gmatch("(%d+)\n") do
    local cmdline = H.read("/proc/" .. pid .. "/cmdline")
    if cmdline and cmdline:find(marker, 1, true) then pids[#pids + 1] = tonumber(pid) end
  end
  return pids
end

-- Waits (polling, bounded) until fn() is true; returns its last value.
local function eventually(fn, seconds)
  local deadline = core.monotonic() + (seconds or 10)
  local v = fn()
  while not v and core.monotonic() < deadline do
    os.execute("sleep 0.05")
    v = fn()
  end
  return v
end

local function alive(pid)
  return core.kill(pid, 0) and true or false
end

describe("sandbox core", function()
  after_each(H.cleanup)

  describe("filesystem", function()
    it("hides canary files in the host's /, /root and $HOME", function()
      local name = "purple-canary-" .. core.random_hex(6)
      local canaries = {}
      local home = os.getenv("HOME")
      local dirs = { home }
      if ROOT then dirs[#dirs + 1] = "/"; dirs[#dirs + 1] = "/root" end
      for _, d in ipairs(dirs) do
        local path = (d == "/" and "" or d) .. "/" .. name
        H.write(path, "secret\n")
        canaries[#canaries + 1] = path
      end
      finally(function() for _, c in ipairs(canaries) do os.remove(c) end end)
      local script = "for f in \"$@\"; do test -e \"$f\" && echo SEEN \"$f\"; done; "
        .. "find / -xdev -name '" .. name .. "' 2>/dev/null; find / -path /proc -prune -o -name '"
        .. name .. "' -print 2>/dev/null; echo done"
      local argv = { "sh", "-c", script, "sh" }
      for _, c in ipairs(canaries) do argv[#argv + 1] = c end
      local out, err, code = H.run(profile(), argv)
      assert.are.equal("", err)
      assert.are.equal(0, code)
      assert.are.equal("done\n", out)
      assert.is_true(#canaries >= 1)
    end)

    it("gives EROFS for writes to read-only binds and the root", function()
      local out, _, code = sh(profile(), "export LC_ALL=C; touch /usr/purple-x /purple-x /helpers/x 2>&1; "
        .. "mkdir /usr/d 2>&1; ln -s /usr /link 2>&1; echo end")
      assert.are.equal(0, code)
      assert.are.equal("touch: cannot touch '/usr/purple-x': Read-only file system\n"
        .. "touch: cannot touch '/purple-x': Read-only file system\n"
        .. "touch: cannot touch '/helpers/x': Read-only file system\n"
        .. "mkdir: cannot create directory '/usr/d': Read-only file system\n"
        .. "ln: failed to create symbolic link '/link': Read-only file system\nend\n", out)
    end)

    it("lands output on the host, owned by the sandbox user", function()
      local d = H.tmpdir()
      local out_dir = d .. "/out"
      local _, err, code = sh(profile(out_dir), "echo result > /output/r.txt; mkdir /output/sub")
      assert.are.equal("", err)
      assert.are.equal(0, code)
      assert.are.equal("result\n", H.read(out_dir .. "/r.txt"))
      local st = assert(core.stat(out_dir .. "/r.txt"))
      assert.are.equal(SANDBOX_UID, st.uid)
      assert.are.equal("directory", assert(core.stat(out_dir .. "/sub")).type)
    end)

    it("makes scratch vanish after the run", function()
      local name = "purple-scratch-" .. core.random_hex(6)
      local p = profile()
      local out, _, code = sh(p, "echo x > /tmp/" .. name .. " && cat /tmp/" .. name)
      assert.are.equal(0, code)
      assert.are.equal("x\n", out)
      assert.is_nil(core.stat("/tmp/" .. name))
      out, _, code = sh(p, "test -e /tmp/" .. name .. " && echo STILL; ls -A /tmp | wc -l")
      assert.are.equal(0, code)
      assert.are.equal("0\n", out)
    end)

    it("keeps read-only binds read-only from a nested user namespace (seccomp hardening off)", function()
      local p = profile(nil, "syscalls = { hardening = false },")
      local out, _, code = sh(p, "export LC_ALL=C; unshare -Urm sh -c 'id -u; "
        .. "mount -o remount,rw,bind /usr 2>/dev/null && echo REMOUNTED /usr; "
        .. "mount -o remount,rw,bind / 2>/dev/null && echo REMOUNTED /; "
        .. "mount -o remount,rw,bind /proc/sys 2>/dev/null && echo REMOUNTED /proc/sys; "
        .. "touch /usr/x 2>&1; (echo 1 > /proc/sys/kernel/printk) 2>&1; true'")
      assert.are.equal(0, code)
      assert.are.equal("0\ntouch: cannot touch '/usr/x': Read-only file system\n"
        .. "sh: 1: cannot create /proc/sys/kernel/printk: Read-only file system\n", out)
    end)

    it("keeps init's control socket and memory out of the command's reach", function()
      local out, _, code = sh(profile(), "export LC_ALL=C; ls /proc/1/fd 2>&1; cat /proc/1/maps 2>&1 >/dev/null; "
        .. "cat /proc/1/environ 2>&1 >/dev/null; true")
      assert.are.equal(0, code)
      assert.are.equal("ls: cannot open directory '/proc/1/fd': Permission denied\n"
        .. "cat: /proc/1/maps: Permission denied\ncat: /proc/1/environ: Permission denied\n", out)
    end)

    it("has a minimal /dev", function()
      local out, _, code = sh(profile(), "ls -A /dev | tr '\\n' ' '")
      assert.are.equal(0, code)
      assert.are.equal("fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ", out)
    end)

    it("lets the command use /dev but not add to it", function()
      local out, _, code = sh(profile(), "export LC_ALL=C; touch /dev/planted 2>&1; echo x > /dev/null && echo null; "
        .. "echo x > /dev/shm/s && echo shm; test -e /dev/planted || echo absent")
      assert.are.equal(0, code)
      assert.are.equal("touch: cannot touch '/dev/planted': Read-only file system\nnull\nshm\nabsent\n", out)
    end)

    it("makes /proc/sys read-only", function()
      local out, _, code = sh(profile(), "(echo evil > /proc/sys/kernel/hostname) 2>/dev/null && echo WROTE; "
        .. "grep ' /proc/sys ' /proc/self/mountinfo | cut -d' ' -f6; cat /proc/sys/kernel/hostname")
      assert.are.equal(0, code)
      local l = lines(out)
      assert.are.equal(2, #l)
      assert.matches("^ro,", l[1])
      assert.are.equal("purple", l[2])
    end)

    it("masks the host's kernel symbols, keys and timers in /proc", function()
      local out, _, code = sh(profile(), "for f in kallsyms keys timer_list; do printf '%s ' $f; "
        .. "wc -c < /proc/$f; done")
      assert.are.equal(0, code)
      assert.are.equal("kallsyms 0\nkeys 0\ntimer_list 0\n", out)
    end)

    it("has no shared mount and no way back to the old root", function()
      local host_root
      for l in io.lines("/proc/self/mountinfo") do
        local dev, root, mp = l:match("^%d+ %d+ (%S+) (%S+) (%S+)")
        if mp == "/" then host_root = dev .. " " .. root end
      end
      local out, _, code = sh(profile(), "cat /proc/self/mountinfo; echo ==; cd /../../..; ls -A; echo ==; "
        .. "ls -A /proc/self/root/")
      assert.are.equal(0, code)
      local info, top, init_root = out:match("^(.-)==\n(.-)==\n(.*)$")
      assert.is_truthy(info)
      assert.is_nil(info:match("shared:"))
      for l in info:gmatch("[^\n]+") do
        local dev, root = l:match("^%d+ %d+ (%S+) (%S+)")
        assert.are_not.equal(host_root, dev .. " " .. root, "host root reachable: " .. l)
      end
      assert.are.equal(top, init_root)
      assert.is_nil(top:match("\nhome\n"))
      assert.is_nil(top:match("\nroot\n"))
    end)
  end)

  describe("identity", function()
    it("runs the command as " .. (ROOT and "uid 65534" or "the calling user") .. " without extra groups", function()
      local out, _, code = sh(profile(), "id -u; id -g; grep -E '^(Groups|CapEff|CapBnd|NoNewPrivs):' "
        .. "/proc/self/status | tr -s '\\t ' ' '")
      assert.are.equal(0, code)
      local l = lines(out)
      assert.are.equal(tostring(SANDBOX_UID), l[1])
      assert.are.equal(ROOT and "65534" or tostring(select(2, core.ids())), l[2])
      assert.are.same({ "Groups:", "CapEff: 0000000000000000", "CapBnd: 0000000000000000", "NoNewPrivs: 1" },
        { l[3]:gsub(" $", ""), l[4], l[5], l[6] })
    end)

    it("keeps root-owned 0600 and 0640 files in bound paths unreadable", function()
      if not ROOT then
        -- a user cannot create root-owned files: use the host's own (root:shadow 0640, root 0600)
        local files = {}
        for _, f in ipairs({ "/etc/shadow", "/etc/gshadow", "/etc/security/opasswd" }) do
          local st = core.stat(f)
          if st and st.uid == 0 and (st.mode == 384 or st.mode == 416) then files[#files + 1] = f end
        end
        if #files == 0 then
          pending("no root-owned 0600/0640 file on this host to try (/etc/shadow, /etc/gshadow)")
          return
        end
        local p = H.profile([[return { name = "id-spec", filesystem = { immutable_paths = {
          { host_path = "/usr", sandbox_path = "/usr" }, { host_path = "/etc", sandbox_path = "/etc" } } } }]])
        local script = "for f in \"$@\"; do cat \"$f\" >/dev/null 2>&1 && echo READ \"$f\"; test -e \"$f\" "
          .. "&& echo exists; done"
        local out, _, code = H.run(p, { "sh", "-c", script, "sh", table.unpack(files) })
        assert.are.equal(0, code)
        assert.are.equal(string.rep("exists\n", #files), out)
        return
      end
      local d = H.tmpdir()
      H.write(d .. "/secret", "s\n")
      H.write(d .. "/group-secret", "g\n")
      H.write(d .. "/public", "p\n")
      os.execute("chmod 600 " .. H.q(d .. "/secret") .. "; chmod 640 " .. H.q(d .. "/group-secret")
        .. "; chmod 644 " .. H.q(d .. "/public"))
      local p = H.profile(([[
return { name = "id-spec", filesystem = {
  immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" }, { host_path = %q, sandbox_path = "/data" } },
  scratch_paths = { "/tmp" } } }]]):format(d))
      local out, _, code = sh(p, "cat /data/public; cat /data/secret 2>&1; cat /data/group-secret 2>&1; true")
      assert.are.equal(0, code)
      assert.are.equal("p\ncat: /data/secret: Permission denied\ncat: /data/group-secret: Permission denied\n", out)
    end)
  end)

  describe("process hygiene", function()
    it("leaks no file descriptor into the command", function()
      local p = profile()
      local out, _, code = H.sh("exec 7</dev/null 9>/dev/null; " .. H.purple .. " run --profile " .. H.q(p)
        .. " -- /helpers/fds </dev/null")
      assert.are.equal(0, code)
      assert.are.equal("0 1 2\n", out)
      -- the same check with the control: the host shell does have fd 7 and 9
      out = H.sh("exec 7</dev/null 9>/dev/null; " .. H.helpers .. "/fds </dev/null")
      assert.matches("^0 1 2 7 9[ \n]", out)
    end)

    it("passes no secret from the environment unless the policy keeps it", function()
      local env = "AWS_SECRET_ACCESS_KEY=hunter2 SSH_AUTH_SOCK=/tmp/agent.sock PURPLE_SPEC_OTHER=1 TERM=xterm "
      local out, _, code = H.run(profile(), { "env" }, { env = "env " .. env })
      assert.are.equal(0, code)
      local names = {}
      for k in out:gmatch("([%w_]+)=") do names[#names + 1] = k end
      table.sort(names)
      assert.are.same({ "HOME", "LANG", "PATH", "TERM" }, names)
      out, _, code = H.run(profile(nil, 'environment = { keep = { "AWS_SECRET_ACCESS_KEY" } },'), { "env" },
        { env = "env " .. env })
      assert.are.equal(0, code)
      assert.matches("\nAWS_SECRET_ACCESS_KEY=hunter2\n", "\n" .. out)
      assert.is_nil(out:match("SSH_AUTH_SOCK"))
    end)

    it("starts a new session: the caller's terminal cannot be pushed input with TIOCSTI", function()
      local tiocsti = H.helpers .. "/tiocsti"
      -- Control: without purple, the same attack does inject into the terminal.
      local ctl = H.sh(H.q(tiocsti) .. " host " .. H.q(tiocsti) .. " inject")
      assert.matches("TIOCSTI: ok", ctl)
      assert.matches("injected: 3\n$", ctl)
      local out = H.sh(H.q(tiocsti) .. " host " .. H.q(H.purple) .. " run --profile " .. H.q(profile())
        .. " -- /helpers/tiocsti inject")
      assert.matches("isatty: yes", out)
      assert.matches("ctty: no", out)
      assert.matches("TIOCSTI: Operation not permitted", out)
      assert.matches("injected: 0\n$", out)
      -- the session leader is the sandbox's own init (pid 1), not a process of the caller's session
      local sid = H.run(profile(), { "sh", "-c", "ps -o sid= -p $$ 2>/dev/null || cut -d' ' -f6 /proc/$$/stat" })
      assert.are.equal("1", sid:match("^%s*(%d+)"))
    end)

    it("keeps a host sentinel process alive through kill -9 -1 from inside", function()
      local pid = tonumber((H.sh("sleep 300 >/dev/null 2>&1 & echo $!")))
      assert.is_true(alive(pid))
      local _, _, code = sh(profile(), "kill -9 -1; echo after")
      local survived = alive(pid)
      core.kill(pid, 9)
      assert.is_true(survived)
      assert.is_true(code == 0 or code == 137)
    end)

    it("kills every process of the sandbox when the command exits", function()
      local marker = "purple-bg-" .. core.random_hex(6)
      -- one plain background child, one that escapes into its own session like a daemon
      local out, _, code = sh(profile(), "sh -c 'sleep 300' " .. marker .. " & setsid sh -c 'sleep 300' "
        .. marker .. " & echo started")
      assert.are.equal(0, code)
      assert.are.equal("started\n", out)
      assert.are.same({}, processes_with(marker))
    end)

    it("leaves nothing behind when the supervisor is killed with SIGKILL", function()
      local marker = "purple-sup-" .. core.random_hex(6)
      local d = H.tmpdir() .. "/out"
      local p = profile(d)
      local pid = tonumber((H.sh(H.purple .. " run --profile " .. H.q(p) .. " -- sh -c "
        .. H.q("sh -c 'sleep 300' " .. marker .. "-child & touch /output/ready; sleep 300") .. " " .. marker
        .. " </dev/null >/dev/null 2>&1 & echo $!")))
      assert.is_true(eventually(function() return core.stat(d .. "/ready") ~= nil end))
      -- the supervisor, the command and its child (the sandbox's init, a clone of the supervisor,
      -- shows only purple-init: bind_credentials_spec)
      assert.are.equal(3, #processes_with(marker))
      core.kill(pid, 9)
      assert.is_true(eventually(function() return #processes_with(marker) == 0 end))
      -- no mount of the sandbox (such as the bind of this output directory) shows up on the host
      local mountinfo = H.read("/proc/self/mountinfo")
      assert.is_nil(mountinfo:find(d, 1, true))
      -- the session's cgroups (named SESSION-SUPERVISORPID) are swept by the next run, once the
      -- supervisor's zombie has been reaped by whoever inherited it
      assert.is_true(eventually(function() return not alive(pid) end))
      local _, _, code = sh(profile(), "true")
      assert.are.equal(0, code)
      assert.are.equal("", (H.sh("find /sys/fs/cgroup -maxdepth 6 -type d -name '*-" .. pid .. "'")))
    end)

    it("forwards SIGINT, SIGTERM and SIGHUP to the command", function()
      for _, sig in ipairs({ "INT", "TERM", "HUP" }) do
        local d = H.tmpdir() .. "/out"
        local p = profile(d)
        local script = ("trap 'echo %s > /output/got; exit 7' %s; touch /output/ready; "
          .. "while :; do sleep 0.05; done"):format(sig, sig)
        -- env --default-signal: a background job of a non-interactive shell starts with SIGINT ignored
        local out = H.sh("env --default-signal " .. H.purple .. " run --profile " .. H.q(p) .. " -- sh -c "
          .. H.q(script) .. " </dev/null & p=$!; i=0; "
          .. "while [ ! -e " .. H.q(d .. "/ready") .. " ] && [ $i -lt 400 ]; do "
          .. "sleep 0.05; i=$((i+1)); done; kill -" .. sig .. " $p; wait $p; echo $?")
        assert.are.equal("7\n", out, sig)
        assert.are.equal(sig .. "\n", H.read(d .. "/got"), sig)
      end
    end)

    it("runs 16 sandboxes in parallel", function()
      local d = H.tmpdir()
      local p = profile(d .. "/out")
      local out, _, code = H.sh("cd " .. H.q(d) .. " && for i in $(seq 16); do (" .. H.purple .. " run --profile "
        .. H.q(p) .. " -- sh -c 'echo $0 > /output/$0; ls /proc | grep -c \"^[0-9]\"' $i > n$i </dev/null; "
        .. "echo $? > s$i) & done; wait; cat s*")
      assert.are.equal(0, code)
      assert.are.equal(string.rep("0\n", 16), out)
      for i = 1, 16 do
        assert.are.equal(i .. "\n", H.read(d .. "/out/" .. i))
        -- each sandbox sees only its own processes: init, sh, ls, grep (at most)
        assert.is_true(tonumber(H.read(d .. "/n" .. i)) <= 4)
      end
    end)
  end)

  describe("exit status", function()
    it("is the command's own code", function()
      for _, n in ipairs({ 0, 1, 3, 42, 255 }) do
        local _, _, code = sh(profile(), "exit " .. n)
        assert.are.equal(n, code)
      end
    end)

    it("is 128+N when the command is killed by signal N", function()
      local _, _, code = sh(profile(), "kill -TERM $$")
      assert.are.equal(143, code)
      _, _, code = sh(profile(), "kill -KILL $$")
      assert.are.equal(137, code)
      _, _, code = sh(profile(), "kill -SEGV $$")
      assert.are.equal(139, code)
    end)

    it("is 124 when --timeout ends the command", function()
      local _, _, code = H.run(profile(), { "sleep", "60" }, { args = { "--timeout", "0.5" } })
      assert.are.equal(124, code)
    end)

    it("is 126 for a file that is not executable and 127 for a missing command", function()
      local out, err, code = H.run(profile(), { "/etc/passwd" })
      assert.are.equal(126, code)
      assert.are.equal("", out)
      assert.are.equal("purple: exec /etc/passwd: Permission denied\n", err)
      out, err, code = H.run(profile(), { "no-such-command-h7" })
      assert.are.equal(127, code)
      assert.are.equal("purple: exec no-such-command-h7: No such file or directory (not found in the sandbox's "
        .. "PATH or filesystem)\n", err)
      _, err, code = H.run(profile(), { "/usr/no/such/file" })
      assert.are.equal(127, code)
      assert.matches("^purple: exec /usr/no/such/file: No such file or directory", err)
    end)

    describe("is 125 with one line naming the field and value, and nothing runs, for", function()
      -- Every bad policy also carries an output path: the command would create a file there if it ran.
      local function bad(fs_fields, argv)
        local d = H.tmpdir()
        local p = H.profile(([[
return { name = "bad", filesystem = {
  immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
  output_paths = { { host_path = %q, sandbox_path = "/output" } },
  %s } }]]):format(d, fs_fields))
        local out, err, code = H.run(p, argv or { "sh", "-c", "touch /output/ran" })
        assert.are.equal(125, code)
        assert.are.equal("", out)
        assert.is_nil(core.stat(d .. "/ran"))
        assert.are.equal(1, select(2, err:gsub("\n", "")), err)
        return err, p
      end

      it("a missing host path", function()
        local err = bad('immutable_paths = { { host_path = "/nonexistent-h7", sandbox_path = "/x" } },')
        assert.are.equal("purple: filesystem.immutable_paths[1].host_path: stat /nonexistent-h7: No such file or "
          .. "directory (mark it optional = true if it may be absent)\n", err)
      end)

      it("a relative sandbox path", function()
        local err, p = bad('scratch_paths = { "tmp" },')
        assert.are.equal("purple: " .. p .. ': filesystem.scratch_paths[1].path: "tmp" is not an absolute path '
          .. "(start it with /)\n", err)
        err, p = bad('immutable_paths = { { host_path = "/usr", sandbox_path = "usr" } },')
        assert.are.equal("purple: " .. p .. ': filesystem.immutable_paths[1].sandbox_path: "usr" is not an '
          .. "absolute path (start it with /)\n", err)
      end)

      it("a working_dir outside the tree", function()
        local err = bad('working_dir = "/home/agent",')
        assert.are.equal("purple: filesystem.working_dir: /home/agent is outside the sandbox's filesystem (not "
          .. "under any immutable, scratch or output path)\n", err)
      end)

      it("an output directory that cannot be created", function()
        local f = H.tmpdir() .. "/file"
        H.write(f, "")
        local err = bad(('output_paths = { { host_path = %q, sandbox_path = "/out" } },'):format(f .. "/sub"))
        assert.are.equal(("purple: filesystem.output_paths[1].host_path: cannot create %s/sub: mkdir %s/sub: "
          .. "Not a directory\n"):format(f, f), err)
      end)

      it("a working_dir missing inside the tree (a setup error reported by the child)", function()
        local err = bad('scratch_paths = { "/tmp" }, working_dir = "/tmp/nope",')
        assert.are.equal("purple: working_dir /tmp/nope: No such file or directory\n", err)
      end)

      it("a mount target behind a symlink planted in a bound tree, which is never followed", function()
        local d = H.tmpdir()
        assert(core.mkdir(d .. "/tree") and core.mkdir(d .. "/victim"))
        os.execute("ln -s " .. H.q(d .. "/victim") .. " " .. H.q(d .. "/tree/link"))
        local err = bad(('immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" }, { host_path = %q, '
          .. 'sandbox_path = "/data" } }, scratch_paths = { "/data/link/x" },'):format(d .. "/tree"))
        assert.are.equal("purple: open /data/link/x: Not a directory\n", err)
        assert.are.equal("", (H.sh("ls -A " .. H.q(d .. "/victim"))))
      end)

      it("an empty command", function()
        local err = bad("", {})
        assert.are.equal("purple: command: empty (give the command after --)\n", err)
        err = bad("", { "" }) -- `purple run ... -- ''`
        assert.are.equal("purple: command: empty (give the command after --)\n", err)
      end)
    end)
  end)
end)
