-- The audit log: every event a real run produces is valid against docs/audit-schema.json; 32
-- sessions share one log without a broken line; SIGHUP and a rename reopen it; a log that cannot
-- be opened stops the run (125) before the command runs; the log is invisible inside the sandbox.
local H = require "spec_helper"
local S = require "helpers.sessions"
local core = require "purple.core"

local function setup()
  local d = H.tmpdir()
  return d, d .. "/audit.log", d .. "/out"
end

describe("audit log", function()
  after_each(H.cleanup)

  it("records a run's events, valid against the schema, with the files it produced", function()
    local d, log, out = setup()
    core.mkdir(out)
    H.write(out .. "/keep", "same\n")
    H.write(out .. "/change", "old\n")
    H.write(out .. "/remove", "bye\n")
    if H.is_root() then os.execute("chown -R 65534:65534 " .. H.q(out)) end -- the sandbox's user
    local p = S.audit_profile(log, out)
    local _, err, code = H.run(p, { "/bin/sh", "-c",
      "echo new > /output/made; mkdir /output/sub; printf 12345 > /output/sub/n; echo more >> /output/change; "
      .. "rm /output/remove; exit 3" })
    assert.are.equal(3, code, err)
    local recs = S.records(log)
    S.assert_valid(recs)
    local ev = S.by_event(recs)
    assert.are.same({ "session_start", "mounts", "files", "resource_summary", "session_end" },
      (function() local t = {} for _, r in ipairs(recs) do t[#t + 1] = r.event end return t end)())
    local start = ev.session_start[1]
    assert.are.same({ "/bin/sh", "-c" }, { start.argv[1], start.argv[2] })
    assert.are.equal("audit-spec", start.profile)
    assert.are.equal((core.ids()), start.uid)
    assert.are.equal(64, #start.policy_sha256)
    for _, r in ipairs(recs) do assert.are.equal(start.session, r.session) end
    -- the mount plan names the output bind, writable, and /usr read-only
    local binds = {}
    for _, m in ipairs(ev.mounts[1].mounts) do if m.type == "bind" then binds[m.target] = m end end
    assert.are.same({ out, false }, { binds["/output"].source, binds["/output"].readonly })
    assert.is_true(binds["/usr"].readonly)
    -- files: created, modified, deleted, with sizes and the sha256 of the contents
    local f = ev.files[1]
    assert.are.equal(out, f.path)
    local created = {}
    for _, e in ipairs(f.created) do created[e.path] = e end
    assert.are.equal(core.sha256("new\n"), created.made.sha256)
    assert.are.equal(4, created.made.size)
    assert.are.equal("directory", created.sub.type)
    assert.are.equal(core.sha256("12345"), created["sub/n"].sha256)
    assert.are.same({ { path = "change", type = "file", size = 9, sha256 = core.sha256("old\nmore\n") } },
      f.modified)
    assert.are.same({ { path = "remove", type = "file", size = 4 } }, f.deleted)
    local e = ev.session_end[1]
    assert.are.same({ 3, 3, "exit" }, { e.status, e.code, e.reason })
  end)

  it("never follows links the command planted in an output path when it lists and hashes files", function()
    local _, log, out = setup()
    local _, err, code = H.run(S.audit_profile(log, out), { "/bin/sh", "-c",
      "ln -s /etc /output/etc; ln -s /etc/shadow /output/shadow; ln -s / /output/root; echo ok > /output/real" })
    assert.are.equal(0, code, err)
    local recs = S.records(log)
    S.assert_valid(recs)
    local f = S.by_event(recs).files[1]
    local got = {}
    for _, e in ipairs(f.created) do got[#got + 1] = ("%s %s %s"):format(e.path, e.type, tostring(e.sha256)) end
    table.sort(got)
    assert.are.same({ "etc link nil", "real file " .. core.sha256("ok\n"), "root link nil", "shadow link nil" }, got)
  end)

  it("records timeout and the timeout's session_end (124)", function()
    local _, log, out = setup()
    local _, err, code = H.run(S.audit_profile(log, out), { "/bin/sleep", "30" }, { args = { "--timeout", "1" } })
    assert.are.equal(124, code, err)
    local recs = S.records(log)
    S.assert_valid(recs)
    local ev = S.by_event(recs)
    assert.are.equal(1, ev.timeout[1].timeout_seconds)
    assert.are.same({ 124, "timeout", 15 }, { ev.session_end[1].status, ev.session_end[1].reason,
      ev.session_end[1].signal })
  end)

  it("records oom when the memory limit kills the command", function()
    local ok, cgroup = pcall(require, "purple.cgroup")
    local why = ok and cgroup.unusable("memory")
    if not ok or why then
      pending("memory controller unusable here: " .. tostring(why or cgroup))
      return
    end
    local _, log, out = setup()
    local p = S.audit_profile(log, out, 'resources = { memory_limit_bytes = "32M" },')
    local _, err, code = H.run(p, { "/bin/sh", "-c", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo ${#x}" })
    assert.are_not.equal(0, code, err)
    local recs = S.records(log)
    S.assert_valid(recs)
    local ev = S.by_event(recs)
    assert.is_truthy(ev.oom, "no oom record")
    assert.is_true(ev.oom[1].oom_kills >= 1)
  end)

  it("records syscall violations and network decisions, valid against the schema", function()
    local _, log, out = setup()
    local p = S.audit_profile(log, out,
      'syscalls = { deny = { "mkdir" } }, network = { isolated = false, allow_outgoing = { "443/tcp" } },')
    local _, err, code = H.run(p, { "/bin/bash", "-c",
      "mkdir /tmp/x; echo > /dev/tcp/127.0.0.1/9; echo > /dev/tcp/127.0.0.1/443; echo done" })
    if code == 125 and err:find("Landlock", 1, true) then
      pending("the kernel cannot enforce the network rules: " .. err)
      return
    end
    assert.are.equal(0, code, err)
    local recs = S.records(log)
    S.assert_valid(recs)
    local ev = S.by_event(recs)
    assert.is_truthy(ev.syscall_violation, "no syscall_violation record")
    assert.are.same({ "mkdir", "mkdir" }, { ev.syscall_violation[1].syscall, ev.syscall_violation[1].comm })
    assert.is_truthy(ev.net_denied, "no net_denied record")
    assert.are.same({ "connect", "127.0.0.1", 9, false }, { ev.net_denied[1].op, ev.net_denied[1].addr,
      ev.net_denied[1].port, ev.net_denied[1].allowed })
    assert.is_truthy(ev.net_connect, "no net_connect record")
    assert.are.same({ 443, true }, { ev.net_connect[1].port, ev.net_connect[1].allowed })
    -- without the syscall and network detail levels, neither is written
    local log2 = H.tmpdir() .. "/a.log"
    p = S.audit_profile(log2, out, 'syscalls = { deny = { "mkdir" } }, network = { isolated = false, '
      .. 'allow_outgoing = { "443/tcp" } },', 'detail_level = { "filesystem" }')
    _, err, code = H.run(p, { "/bin/bash", "-c", "mkdir /tmp/x; echo > /dev/tcp/127.0.0.1/9; echo done" })
    assert.are.equal(0, code, err)
    local ev2 = S.by_event(S.records(log2))
    assert.is_nil(ev2.syscall_violation)
    assert.is_nil(ev2.net_denied)
    assert.is_truthy(ev2.files)
  end)

  it("records a limit the run was allowed to go without (resource_unenforced)", function()
    local cgroup = require "purple.cgroup"
    if not cgroup.unusable("memory") then
      pending("the memory controller is usable here: nothing goes unenforced")
      return
    end
    local _, log, out = setup()
    local p = S.audit_profile(log, out, 'resources = { memory_limit_bytes = "64M", allow_unenforced = true },')
    local _, err, code = H.run(p, { "/bin/true" })
    assert.are.equal(0, code, err)
    local recs = S.records(log)
    S.assert_valid(recs)
    local u = S.by_event(recs).resource_unenforced
    assert.is_truthy(u, "no resource_unenforced record")
    assert.are.equal("resources.memory_limit_bytes", u[1].field)
  end)

  it("writes only session_start and session_end and the selected detail levels", function()
    local _, log, out = setup()
    local p = S.audit_profile(log, out, nil, 'detail_level = { "resource" }')
    local _, err, code = H.run(p, { "/bin/sh", "-c", "echo x > /output/f" })
    assert.are.equal(0, code, err)
    local recs = S.records(log)
    S.assert_valid(recs)
    local names = {}
    for _, r in ipairs(recs) do names[#names + 1] = r.event end
    assert.are.same({ "session_start", "resource_summary", "session_end" }, names)
  end)

  it("records a run that failed in setup, which never ran the command", function()
    local _, log, out = setup()
    local p = S.audit_profile(log, out, nil, nil):gsub("p%.lua$", "p.lua")
    H.write(p, (H.read(p):gsub('working_dir = "/tmp"', 'working_dir = "/nowhere"')))
    local _, err, code = H.run(p, { "/bin/true" })
    assert.are.equal(125, code, err)
    local recs = S.records(log)
    S.assert_valid(recs)
    local ev = S.by_event(recs)
    assert.is_nil(ev.session_start[1].init_pid)
    assert.are.same({ 125, "setup_error" }, { ev.session_end[1].status, ev.session_end[1].reason })
    assert.are.equal(err:gsub("\n$", ""), ev.session_end[1].error)
    -- a command that is not in the sandbox: the sandbox was built, so its mounts are recorded too
    local log2 = H.tmpdir() .. "/a.log"
    _, err, code = H.run(S.audit_profile(log2, out), { "no-such-command" })
    assert.are.equal(127, code, err)
    recs = S.records(log2)
    S.assert_valid(recs)
    local names = {}
    for _, r in ipairs(recs) do names[#names + 1] = r.event end
    assert.are.same({ "session_start", "mounts", "session_end" }, names)
    assert.are.same({ 127, "exec_error" }, { recs[3].status, recs[3].reason })
  end)

  it("keeps 32 parallel sessions' records whole in one shared log", function()
    local d, log, out = setup()
    local p = S.audit_profile(log, out)
    local big = string.rep("x", 6000) -- session_start larger than PIPE_BUF and a page
    local lines = {}
    for i = 1, 32 do
      lines[#lines + 1] = ("%s run --profile %s -- /bin/sh -c 'echo %d > /output/f%d' %s </dev/null "
        .. ">/dev/null 2>>%s/errs &")
        :format(H.purple, H.q(p), i, i, big, d)
    end
    lines[#lines + 1] = "wait"
    H.write(d .. "/run32.sh", table.concat(lines, "\n"))
    local _, err, code = H.sh("sh " .. H.q(d .. "/run32.sh"))
    assert.are.equal(0, code, err)
    assert.are.equal("", H.read(d .. "/errs") or "")
    local recs = S.records(log) -- raises on any broken or interleaved line
    S.assert_valid(recs)
    local sessions = {}
    for _, r in ipairs(recs) do
      sessions[r.session] = sessions[r.session] or {}
      table.insert(sessions[r.session], r.event)
    end
    local n = 0
    for _, events in pairs(sessions) do
      n = n + 1
      assert.are.same({ "session_start", "mounts", "files", "resource_summary", "session_end" }, events)
    end
    assert.are.equal(32, n)
  end)

  it("reopens the log on SIGHUP after logrotate renamed it, and after a rename alone", function()
    local d, log, out = setup()
    local rt = H.tmpdir()
    local p = S.audit_profile(log, out)
    local h = S.start(p, { "/bin/sh", "-c",
      "trap 'echo hup > /output/hup' HUP; touch /output/ready; while :; do sleep 0.05; done" },
      "PURPLE_RUNTIME_DIR=" .. H.q(rt))
    finally(function() S.kill(h) end)
    assert.is_truthy(S.wait_for(function() return core.stat(out .. "/ready") end), "sandbox did not start")
    local sess = S.wait_for(function() return S.ps(rt)[1] end)
    assert.is_truthy(sess, "session not in purple ps")
    assert(os.rename(log, log .. ".1"))
    assert(core.kill(sess.supervisor_pid, core.signal_number("HUP")))
    assert.is_truthy(S.wait_for(function() return core.stat(out .. "/hup") end), "SIGHUP not forwarded")
    -- reopened at the signal (O_CREAT), while the session still runs and before any new record
    assert.is_truthy(S.wait_for(function() return core.stat(log) end, 5), "log not reopened on SIGHUP")
    assert.are.equal("", H.read(log))
    -- a second rotation, with no signal: the next record notices it
    assert(os.rename(log, log .. ".2"))
    local _, serr, scode = H.sh(("PURPLE_RUNTIME_DIR=%s %s stop %s"):format(H.q(rt), H.purple, sess.id))
    assert.are.equal(0, scode, serr)
    local status = S.finish(h)
    assert.are.equal(143, status)
    local old, mid, new = S.records(log .. ".1"), S.records(log .. ".2"), S.records(log)
    assert.are.same({ "session_start", "mounts" }, { old[1].event, old[2].event })
    assert.are.equal(0, #mid)
    assert.are.equal("session_end", new[#new].event)
    assert.are.equal("stopped", new[#new].reason)
    S.assert_valid(old)
    S.assert_valid(new)
  end)

  it("fails closed (125) when the log cannot be opened, before the command runs", function()
    local d, _, out = setup()
    local log = d .. "/missing/audit.log"
    local _, err, code = H.run(S.audit_profile(log, out), { "/bin/sh", "-c", "touch /output/ran" })
    assert.are.equal(125, code)
    assert.are.equal(("purple: audit.log_path: open %s: No such file or directory (create the directory and "
      .. "make it writable by the user running purple)\n"):format(log), err)
    assert.is_nil(core.stat(out .. "/ran"))
    -- a symbolic link is refused: the log is written by the supervisor, maybe as root
    local link = d .. "/link.log"
    assert(os.execute("ln -s /etc/passwd " .. H.q(link)))
    _, err, code = H.run(S.audit_profile(link, out), { "/bin/true" })
    assert.are.equal(125, code)
    assert.are.equal(("purple: audit.log_path: open %s: Too many levels of symbolic links (log_path is a "
      .. "symbolic link: give the real path)\n"):format(link), err)
    -- enabled without a path
    local p = H.profile([[return { name = "x", filesystem = { immutable_paths = { { host_path = "/usr",
      sandbox_path = "/usr" } } }, audit = { enabled = true } }]])
    _, err, code = H.run(p, { "/bin/true" })
    assert.are.equal(125, code)
    assert.are.equal("purple: audit.log_path: required when audit.enabled is true (e.g. "
      .. "/var/log/purple/agent.log)\n", err)
    if not H.is_root() then
      local ro = H.tmpdir()
      os.execute("chmod 555 " .. H.q(ro))
      _, err, code = H.run(S.audit_profile(ro .. "/a.log", out), { "/bin/true" })
      assert.are.equal(125, code)
      assert.are.equal(("purple: audit.log_path: open %s/a.log: Permission denied (make the file and its "
        .. "directory writable by the user running purple)\n"):format(ro), err)
    end
  end)

  it("creates the log with mode 0640 and keeps it out of the sandbox", function()
    local _, log, out = setup()
    local script = "for f in /proc/self/fd/*; do readlink $f; done; test -e " .. log .. " && echo VISIBLE; "
      .. "for n in 3 4 5 6 7 8 9 10; do cat /proc/1/fd/$n </dev/null >/dev/null 2>&1 && echo READ$n; "
      .. "echo x 2>/dev/null >/proc/1/fd/$n && echo WROTE$n; done; find / -name audit.log 2>/dev/null; echo END"
    local stdout, err, code = H.run(S.audit_profile(log, out), { "/bin/sh", "-c", script })
    assert.are.equal(0, code, err)
    assert.is_truthy(stdout:find("END", 1, true))
    assert.is_falsy(stdout:find(log, 1, true), stdout)
    assert.is_falsy(stdout:find("audit.log", 1, true), stdout)
    assert.is_falsy(stdout:find("VISIBLE", 1, true))
    assert.is_falsy(stdout:find("READ", 1, true), stdout)
    assert.is_falsy(stdout:find("WROTE", 1, true), stdout)
    assert.are.equal(416, core.stat(log).mode & 416) -- rw-r-----, less with a stricter umask
    assert.are.equal(0, core.stat(log).mode & 7)
    for _, r in ipairs(S.records(log)) do assert.is_not_nil(r.event) end
  end)

  it("refuses a log inside a path the sandbox mounts (125), where the command could read or forge it", function()
    local d, _, out = setup()
    core.mkdir(out)
    if H.is_root() then os.execute("chown 65534:65534 " .. H.q(out)) end
    local log = out .. "/audit.log"
    local _, err, code = H.run(S.audit_profile(log, out), { "/bin/sh", "-c",
      "echo '{\"event\":\"forged\"}' >> /output/audit.log; touch /output/ran" })
    assert.are.equal(125, code)
    assert.are.equal(("purple: audit.log_path: %s is inside %s, which the sandbox sees at /output (keep the log "
      .. "outside every path the sandbox mounts, e.g. in /var/log/purple)\n"):format(log, out), err)
    assert.is_nil(core.stat(out .. "/ran"))
    local recs = S.records(log)
    S.assert_valid(recs)
    assert.are.same({ "session_start", "session_end" }, { recs[1].event, recs[2].event })
    assert.are.equal(2, #recs)
    -- also through a read-only bind of a directory above it, reached by a symbolic link
    core.mkdir(d .. "/ro")
    assert(os.execute(("ln -s %s %s"):format(H.q(d .. "/ro"), H.q(d .. "/via"))))
    local p = H.profile(([[return { name = "x", filesystem = { immutable_paths = {
      { host_path = "/usr", sandbox_path = "/usr" }, { host_path = %q, sandbox_path = "/data" } } },
      audit = { enabled = true, log_path = %q } }]]):format(d, d .. "/via/a.log"))
    _, err, code = H.run(p, { "/bin/true" })
    assert.are.equal(125, code, err)
    assert.is_truthy(err:find("^purple: audit.log_path: " .. d:gsub("%p", "%%%0") .. "/via/a.log is inside "), err)
  end)
end)
