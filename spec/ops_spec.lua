-- Operations: purple ps lists a running session and purple stop ends it with nothing left;
-- purple log shows, filters and follows audit logs; purple doctor reports this host; make install
-- lays out commands, Lua code, profiles, man pages, the systemd unit and the logrotate file.
local H = require "spec_helper"
local S = require "helpers.sessions"
local core = require "purple.core"
local json = require "purple.json"

local function sleeper_profile(out, extra)
  return H.profile(([[
return {
  name = "ops-spec",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
    scratch_paths = { "/tmp" },
    output_paths = { { host_path = %q, sandbox_path = "/output" } },
    working_dir = "/tmp",
  },
  %s
}]]):format(out, extra or ""))
end

local function cmd(rt, args)
  return H.sh(("PURPLE_RUNTIME_DIR=%s %s %s"):format(H.q(rt), H.purple, args))
end

local function alive(pid) return core.kill(pid, 0) ~= nil end

describe("purple ps and purple stop", function()
  after_each(H.cleanup)

  it("list a running session and stop it like a timeout, leaving nothing behind", function()
    local rt, out = H.tmpdir(), H.tmpdir() .. "/out"
    local log = H.tmpdir() .. "/audit.log"
    local p = sleeper_profile(out, ("audit = { enabled = true, log_path = %q },"):format(log))
    local h = S.start(p, { "/bin/sh", "-c", "touch /output/ready; sleep 1000 & sleep 1000; echo never" },
      "PURPLE_RUNTIME_DIR=" .. H.q(rt))
    finally(function() S.kill(h) end)
    assert.is_truthy(S.wait_for(function() return core.stat(out .. "/ready") end), "sandbox did not start")
    local list = S.wait_for(function() local l = S.ps(rt) return #l > 0 and l end)
    assert.are.equal(1, #list)
    local s = list[1]
    assert.are.equal("ops-spec", s.profile)
    assert.are.same({ "/bin/sh", "-c" }, { s.argv[1], s.argv[2] })
    assert.is_true(alive(s.supervisor_pid) and alive(s.init_pid))
    assert.are.equal((core.ids()), s.uid)
    assert.are.equal(log, s.audit_log)
    -- init, sh and two sleeps (init counts: it is the sandbox's pid 1)
    assert.is_true(S.wait_for(function() return S.ps(rt)[1].usage.pids == 4 end), "pids: " .. tostring(s.usage.pids))
    assert.is_true(s.usage.memory_bytes > 0)
    assert.is_true(s.usage.cpu_seconds >= 0)
    local text, err, code = cmd(rt, "ps")
    assert.are.equal(0, code, err)
    assert.is_truthy(text:find("^ID%s+PROFILE%s+PID%s+INIT%s+UPTIME%s+CPU%s+MEM%s+PIDS%s+COMMAND\n"), text)
    assert.is_truthy(text:find(s.id .. "  ops-spec", 1, true), text)

    -- a unique prefix is enough
    local sout, serr, scode = cmd(rt, "stop " .. s.id:sub(1, 6))
    assert.are.equal(0, scode, serr)
    assert.are.equal(s.id .. " stopped\n", sout)
    local status, _, rerr = S.finish(h)
    assert.are.equal(143, status, rerr) -- sh obeyed SIGTERM: 128 + 15
    assert.is_false(alive(s.supervisor_pid) or alive(s.init_pid))
    assert.are.same({}, core.readdir(rt))
    for _, dir in ipairs(s.cgroups) do assert.is_nil(core.stat(dir), dir .. " left behind") end
    assert.are.same({}, S.ps(rt))
    local recs = S.records(log)
    S.assert_valid(recs)
    local e = recs[#recs]
    assert.are.same({ "session_end", "stopped", 143, (core.ids()) }, { e.event, e.reason, e.status, e.stopped_by.uid })
  end)

  it("kills a command that ignores SIGTERM after the grace period", function()
    local rt, out = H.tmpdir(), H.tmpdir() .. "/out"
    local p = sleeper_profile(out, "resources = { grace_seconds = 0.2 },")
    local h = S.start(p, { "/bin/sh", "-c", "trap '' TERM; touch /output/ready; while :; do sleep 0.05; done" },
      "PURPLE_RUNTIME_DIR=" .. H.q(rt))
    finally(function() S.kill(h) end)
    assert.is_truthy(S.wait_for(function() return core.stat(out .. "/ready") end), "sandbox did not start")
    local s = S.wait_for(function() return S.ps(rt)[1] end)
    local _, serr, scode = cmd(rt, "stop " .. s.id)
    assert.are.equal(0, scode, serr)
    assert.are.equal(137, (S.finish(h)))
    assert.is_false(alive(s.init_pid))
  end)

  it("report unknown sessions and usage errors", function()
    local rt = H.tmpdir()
    local out, err, code = cmd(rt, "stop 0123abcd")
    assert.are.same({ "", "purple: session 0123abcd: no such running session (see purple ps)\n", 1 },
      { out, err, code })
    out, err, code = cmd(rt, "stop")
    assert.are.same({ "", "purple: stop: missing argument 'ID' (see purple stop --help)\n", 125 }, { out, err, code })
    out, err, code = cmd(rt, "ps --bogus")
    assert.are.same({ "purple: ps: unknown option '--bogus' (see purple ps --help)\n", 125 }, { err, code })
    out, err, code = cmd(rt, "ps --json")
    assert.are.same({ "[]\n", 0 }, { out, code })
  end)

  it("skips and removes the file of a session whose supervisor died", function()
    local rt = H.tmpdir()
    -- a pid that is surely not running: past pid_max
    H.write(rt .. "/dead.json", json.encode({ id = "dead", profile = "x", supervisor_pid = 4194305, init_pid = 4194306,
      argv = { "x" }, started_epoch = 1 }) .. "\n")
    assert.are.same({}, S.ps(rt))
    assert.is_nil(core.stat(rt .. "/dead.json"))
  end)
end)

describe("purple log", function()
  after_each(H.cleanup)

  local function make_log()
    local d = H.tmpdir()
    local log, out = d .. "/a.log", d .. "/out"
    local p = S.audit_profile(log, out)
    local _, err, code = H.run(p, { "/bin/sh", "-c", "echo hello > /output/greeting" })
    assert.are.equal(0, code, err)
    _, err, code = H.run(p, { "/bin/sh", "-c", "exit 4" })
    assert.are.equal(4, code, err)
    return log, S.records(log)
  end

  it("shows records readably and filters them by session and event", function()
    local log, recs = make_log()
    local first = recs[1].session
    local out, err, code = H.sh(H.purple .. " log " .. H.q(log))
    assert.are.equal(0, code, err)
    assert.are.equal("", err)
    local lines = {}
    for l in out:gmatch("[^\n]+") do if not l:match("^%s") then lines[#lines + 1] = l end end
    assert.are.equal(#recs, #lines)
    assert.is_truthy(out:find("session_start", 1, true))
    assert.is_truthy(out:find("+ greeting 6B  sha256:" .. core.sha256("hello\n"), 1, true), out)
    assert.is_truthy(out:find("status=4 (exit, code 4)", 1, true), out)
    out = H.sh(("%s log %s --session %s --json"):format(H.purple, H.q(log), first:sub(1, 8)))
    local n = 0
    for l in out:gmatch("[^\n]+") do
      n = n + 1
      assert.are.equal(first, json.decode(l).session)
    end
    assert.are.equal(5, n)
    out = H.sh(("%s log %s --event session_end --json"):format(H.purple, H.q(log)))
    local codes = {}
    for l in out:gmatch("[^\n]+") do codes[#codes + 1] = json.decode(l).status end
    assert.are.same({ 0, 4 }, codes)
    local _, err2, code2 = H.sh(("%s log %s --event nope"):format(H.purple, H.q(log)))
    assert.are.same({ "purple: log: --event: unknown event 'nope' (see purple log --help)\n", 125 }, { err2, code2 })
  end)

  it("reports a broken line and goes on", function()
    local log = make_log()
    local f = assert(io.open(log, "a"))
    f:write("not json\n")
    f:close()
    local out, err, code = H.sh(("%s log %s --json"):format(H.purple, H.q(log)))
    assert.are.equal(0, code)
    assert.are.equal(("purple: %s:11: not an audit record\n"):format(log), err)
    assert.are.equal(10, select(2, out:gsub("\n", "")))
  end)

  it("follows new records, also across a rotation", function()
    local log = make_log()
    local d = H.tmpdir()
    local p = io.popen(("%s log --follow --event session_end --json %s >%s/out 2>&1 & echo $!")
      :format(H.purple, H.q(log), d))
    local pid = tonumber(p:read("l"))
    p:close()
    finally(function() core.kill(pid, 15) end)
    local function count() return select(2, (H.read(d .. "/out") or ""):gsub("\n", "")) end
    assert.is_truthy(S.wait_for(function() return count() == 2 end), H.read(d .. "/out"))
    assert(os.rename(log, log .. ".1"))
    local _, err, code = H.run(S.audit_profile(log, H.tmpdir() .. "/o"), { "/bin/true" })
    assert.are.equal(0, code, err)
    local ok = S.wait_for(function() return count() == 3 end)
    core.kill(pid, 15)
    assert.is_truthy(ok, H.read(d .. "/out"))
  end)
end)

describe("purple doctor", function()
  after_each(H.cleanup)

  it("reports this host's kernel features and that purple can run", function()
    local out, err, code = H.sh(H.purple .. " doctor --json")
    assert.are.equal(0, code, err)
    local r = json.decode(out)
    assert.is_true(r.can_run)
    local checks = {}
    for _, c in ipairs(r.checks) do checks[c.name] = c end
    for _, n in ipairs({ "kernel", "user namespace", "pid namespace", "mount namespace", "net namespace",
      "seccomp filter", "seccomp user notification", "landlock", "cgroups" }) do
      assert.is_table(checks[n], n)
      assert.is_string(checks[n].needed_for)
      assert.is_string(checks[n].fix)
    end
    assert.is_true(checks["user namespace"].ok)
    assert.are.equal(core.probe_seccomp().user_notif, checks["seccomp user notification"].ok)
    local abi = core.probe_landlock()
    assert.are.equal(abi and ("ABI " .. abi) or nil, abi and checks.landlock.detail or nil)
    assert.are.equal(H.is_root(), checks["unprivileged user namespaces"] ~= nil)
    local text, _, tcode = H.sh(H.purple .. " doctor")
    assert.are.equal(0, tcode)
    assert.is_truthy(text:find("  ok    user namespace", 1, true), text)
    assert.is_truthy(text:find("purple can run sandboxes here\n", 1, true))
  end)

  it("says what is missing and how to fix it where namespaces are forbidden (inside a sandbox)", function()
    local p = H.profile(([[
return {
  name = "doctor-inside",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" }, { host_path = %q, sandbox_path = %q } },
    scratch_paths = { "/tmp" },
    working_dir = "/tmp",
  },
}]]):format(H.tree, H.tree))
    local out, err, code = H.run(p, { H.purple, "doctor" })
    if code == 0 then
      pending("purple's seccomp filter lets a sandbox create namespaces: no failing check to show")
      return
    end
    assert.are.equal(1, code, err)
    assert.is_truthy(out:find("  FAIL  user namespace                 unshare user: killed by SIGSYS (a seccomp filter "
      .. "forbids it): Operation not permitted\n", 1, true), out)
    assert.is_truthy(out:find("        fix: purple runs under a seccomp filter (a container or another sandbox) that "
      .. "forbids unshare/clone with namespace flags: run purple outside it, or allow those calls there\n", 1, true),
      out)
    assert.is_truthy(out:find("  FAIL  pid namespace", 1, true))
    assert.is_truthy(out:find("purple cannot run sandboxes here: fix the FAIL lines above\n", 1, true))
  end)
end)

describe("deployment", function()
  after_each(H.cleanup)

  it("make install DESTDIR=... lays out everything, and the installed purple runs", function()
    local dest = H.tmpdir() .. "/root"
    local _, err, code = H.sh(("cd %s && flock /tmp/purple-build.lock make -s -o all install DESTDIR=%s PREFIX=/usr")
      :format(H.q(H.tree), H.q(dest)))
    assert.are.equal(0, code, err)
    for _, f in ipairs({ "usr/bin/purple", "usr/bin/purple-lua", "usr/lib/lua/5.4/purple/core.so",
      "usr/share/lua/5.4/purple.lua", "usr/share/lua/5.4/purple/audit.lua", "usr/share/lua/5.4/purple/runtime.lua",
      "usr/share/lua/5.4/purple/cli/ps.lua", "usr/share/lua/5.4/purple/cli/stop.lua",
      "usr/share/lua/5.4/purple/cli/log.lua", "usr/share/lua/5.4/purple/cli/doctor.lua",
      "usr/share/lua/5.4/purple/enforce/audit.lua", "usr/share/purple/profiles/ai-strict.lua",
      "usr/share/man/man1/purple.1", "usr/share/man/man1/purple-lua.1", "usr/share/man/man5/purple-policy.5",
      "usr/share/doc/purple/audit-schema.json",
      "usr/lib/systemd/system/purple-sandbox.service", "etc/logrotate.d/purple" }) do
      assert.is_truthy(core.stat(dest .. "/" .. f), f .. " not installed")
    end
    assert.are.equal("directory", core.stat(dest .. "/etc/purple/profiles").type)
    -- purple execs purple-lua beside it for every command but `purple exec`; purple-lua runs scripts
    local script = H.tmpdir() .. "/s.lua"
    H.write(script, 'print("from " .. arg[0])\n')
    assert.are.same({ "from " .. script .. "\n", 0 },
      { (function(o, _, c) return o, c end)(H.sh(H.q(dest .. "/usr/bin/purple-lua") .. " " .. H.q(script))) })
    local unit = H.read(dest .. "/usr/lib/systemd/system/purple-sandbox.service")
    assert.is_truthy(unit:find("\nExecStart=/usr/bin/purple run --profile ai-strict -- ", 1, true))
    -- the installed commands find their own Lua code and C module
    local out, rerr, rcode = H.sh(H.q(dest .. "/usr/bin/purple") .. " --version")
    assert.are.same({ "purple 0.1.0\n", 0 }, { out, rcode }, rerr)
    local _, derr, dcode = H.sh(H.q(dest .. "/usr/bin/purple") .. " doctor")
    assert.are.equal(0, dcode, derr)
    local list = H.sh(("env HOME=/nonexistent %s profile list"):format(H.q(dest .. "/usr/bin/purple")))
    assert.is_truthy(list:find(dest .. "/usr/share/purple/profiles/ai-strict.lua", 1, true), list)
    -- man pages render without warnings
    for _, page in ipairs({ "man1/purple.1", "man1/purple-lua.1", "man5/purple-policy.5" }) do
      local path = dest .. "/usr/share/man/" .. page
      local text, merr, mcode = H.sh(("MANWIDTH=100 man --warnings -l %s"):format(H.q(path)))
      assert.are.equal(0, mcode, merr)
      assert.are.equal("", merr, page)
      assert.is_truthy(text:find("NAME", 1, true), page)
    end
  end)

  it("luarocks make builds and installs into a rock tree, writing nothing outside it", function()
    local d = H.tmpdir()
    local src, tree = d .. "/src", d .. "/tree"
    -- a clean copy of the sources: the build must not touch the shared tree
    local _, err, code = H.sh(("mkdir %s && tar -C %s --exclude=./.git --exclude=./build --exclude=./bin "
      .. "--exclude='*.so' --exclude=./spec/helpers/bin -cf - . | tar -xf - -C %s"):format(H.q(src), H.q(H.tree),
      H.q(src)))
    assert.are.equal(0, code, err)
    local out
    out, err, code = H.sh(("cd %s && MAKEFLAGS=-j2 luarocks --lua-version 5.4 make --deps-mode=none --tree %s "
      .. "purple-scm-1.rockspec"):format(H.q(src), H.q(tree)))
    assert.are.equal(0, code, out .. err)
    local rock = tree .. "/lib/luarocks/rocks-5.4/purple/scm-1"
    -- the /etc files go to the rock's own conf directory
    assert.is_truthy(core.stat(rock .. "/conf/logrotate.d/purple"))
    assert.is_falsy(out:find(" /etc/", 1, true), out)
    -- the deployed command finds its code, its C module and, by name, the rock's profiles
    out, err, code = H.sh(("cd %s && env HOME=/nonexistent PURPLE_OUTPUT=%s %s run --profile ai-strict -- "
      .. "sh -c 'echo ok > /output/r'"):format(H.q(d), H.q(d .. "/out"), H.q(tree .. "/bin/purple")))
    assert.are.same({ "", 0 }, { out, code }, err)
    assert.are.equal("ok\n", H.read(d .. "/out/r"))
    out = H.sh(("env HOME=/nonexistent %s profile list"):format(H.q(tree .. "/bin/purple")))
    assert.is_truthy(out:find(rock .. "/share/purple/profiles/ai-strict.lua", 1, true), out)
  end)

  it("ships a systemd unit that systemd-analyze verifies", function()
    if not core.stat("/usr/bin/systemd-analyze") then
      pending("systemd-analyze is not installed")
      return
    end
    local d = H.tmpdir()
    local unit = (H.read(H.tree .. "/contrib/purple-sandbox.service"):gsub("@BINDIR@", H.tree .. "/bin"))
    H.write(d .. "/purple-sandbox.service", unit)
    local out, err, code = H.sh(("cd %s && systemd-analyze verify --man=no purple-sandbox.service"):format(H.q(d)))
    assert.are.equal(0, code, out .. err)
    assert.are.equal("", err)
    -- the hardening purple cannot live with is absent
    for _, bad in ipairs({ "PrivateUsers=yes", "RestrictNamespaces=yes", "ProtectKernelTunables=yes",
      "ProtectControlGroups=yes", "SystemCallFilter=" }) do
      assert.is_falsy(unit:find("\n" .. bad, 1, true), bad)
    end
  end)

  it("rotates a running session's audit log with the shipped logrotate file, no signal needed", function()
    if not core.stat("/usr/sbin/logrotate") then
      pending("logrotate is not installed (make deps installs it)")
      return
    end
    local d = H.tmpdir()
    local log, out, rt = d .. "/agent.log", H.tmpdir() .. "/out", H.tmpdir()
    -- the shipped file, pointed at this directory and at this user instead of purple:purple
    local user = H.sh("id -un"):gsub("\n", "")
    local group = H.sh("id -gn"):gsub("\n", "")
    local conf = H.read(H.tree .. "/contrib/logrotate.d/purple")
    assert.is_truthy(conf:find("/var/log/purple/*.log {", 1, true))
    assert.is_falsy(conf:find("postrotate", 1, true))
    conf = conf:gsub("/var/log/purple/%*%.log", d .. "/*.log"):gsub("create 0640 purple purple",
      ("create 0640 %s %s"):format(user, group))
    H.write(d .. "/conf", conf)
    local h = S.start(S.audit_profile(log, out), { "/bin/sh", "-c",
      "touch /output/ready; while [ ! -e /output/go ]; do sleep 0.05; done" }, "PURPLE_RUNTIME_DIR=" .. H.q(rt))
    finally(function() S.kill(h) end)
    assert.is_truthy(S.wait_for(function() return core.stat(out .. "/ready") end), "sandbox did not start")
    local lout, lerr, lcode = H.sh(("/usr/sbin/logrotate -f -s %s %s"):format(H.q(d .. "/state"), H.q(d .. "/conf")))
    assert.are.equal(0, lcode, lout .. lerr)
    assert.are.equal(416, core.stat(log).mode) -- created anew, 0640
    H.write(out .. "/go", "")
    assert.are.equal(0, (S.finish(h)))
    local old, new = S.records(log .. ".1"), S.records(log)
    assert.are.same({ "session_start", "mounts" }, { old[1].event, old[2].event })
    assert.are.equal(2, #old)
    assert.are.same({ "files", "resource_summary", "session_end" }, { new[1].event, new[2].event, new[3].event })
    S.assert_valid(old)
    S.assert_valid(new)
  end)

  it("cannot run under ProtectKernelTunables= (a read-only over-mount of /proc/sys), which the unit leaves out",
    function()
    if not H.is_root() then
      pending("needs root to make the over-mount, as systemd does")
      return
    end
    local d = H.tmpdir()
    os.execute("chown 65534:65534 " .. H.q(d))
    local p = sleeper_profile(d .. "/out")
    -- a private mount namespace of this test only: it goes away with the unshare process
    local _, err, code = H.sh(("unshare -m --propagation private sh -c 'mount --bind /proc/sys /proc/sys && "
      .. "mount -o remount,bind,ro /proc/sys && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp "
      .. "%s run --profile %s -- /bin/true'"):format(H.nobody_tree().purple, H.q(p)))
    assert.are.same({ 125, "purple: mount proc /proc: Operation not permitted\n" }, { code, err })
    local unit = H.read(H.tree .. "/contrib/purple-sandbox.service")
    assert.is_falsy(unit:find("\nProtectKernelTunables=", 1, true))
  end)

  it("runs a sandbox under the unit's User=, NoNewPrivileges= and empty CapabilityBoundingSet=", function()
    if not H.is_root() then
      pending("needs root to switch to the service user, as systemd does")
      return
    end
    local d = H.tmpdir()
    os.execute("chown 65534:65534 " .. H.q(d))
    local out = d .. "/out"
    local p = sleeper_profile(out)
    local text, err, code = H.sh(("setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs "
      .. "--bounding-set=-all --inh-caps=-all env HOME=/tmp %s run --profile %s -- /bin/sh -c "
      .. "'echo ok > /output/f; id -u; grep CapBnd /proc/self/status'"):format(H.nobody_tree().purple, H.q(p)))
    assert.are.equal(0, code, err)
    assert.are.equal("65534\nCapBnd:\t0000000000000000\n", text)
    assert.are.equal("ok\n", H.read(out .. "/f"))
  end)
end)
