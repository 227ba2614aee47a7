-- Sessions (issue 14): purple session start/list/stop and purple exec, for real, as root and as
-- uid 65534. Every case uses its own runtime directory (PURPLE_RUNTIME_DIR) and stops its sessions.
local core = require "purple.core"
local json = require "purple.json"
local H = require "spec_helper"
local S = require "helpers.sessions"

local q = H.q

-- A program on the host's PATH (the sandbox binds the host's /usr): the VM's guest has no python3.
local function have(cmd) return select(3, H.sh("command -v " .. cmd .. " >/dev/null")) == 0 end

describe("sessions", function()
  local rt, started, profile

  local function env() return "PURPLE_RUNTIME_DIR=" .. q(rt) .. " " end

  local function start(profile, name, extra)
    local out, err, code = H.sh(env() .. q(H.purple) .. " session start --profile " .. q(profile)
      .. " --name " .. q(name) .. " " .. (extra or "") .. " </dev/null")
    if code == 0 then started[#started + 1] = name end
    return out, err, code
  end

  local function exec(name, argv, opts)
    opts = opts or {}
    local words = {}
    for _, w in ipairs(argv) do words[#words + 1] = q(w) end
    return H.sh(env() .. (opts.prefix or "") .. q(H.purple) .. " exec " .. (opts.args or "") .. " " .. q(name)
      .. " -- " .. table.concat(words, " ") .. (opts.stdin and (" <" .. opts.stdin) or " </dev/null"))
  end

  local function record(name)
    local s = H.read(rt .. "/" .. name .. ".json")
    return s and json.decode(s)
  end

  local function gone(pid)
    return S.wait_for(function() return not core.stat("/proc/" .. pid, false) end, 20)
  end

  before_each(function()
    rt = H.tmpdir() .. "/rt"
    started = {}
    profile = H.profile(H.minimal())
  end)

  after_each(function()
    -- nothing of a case stays running: its sessions are stopped (which removes their cgroups), and a
    -- supervisor that does not end is SIGKILLed (its sandbox dies with it)
    local live = {}
    for _, name in ipairs(started) do
      if record(name) then live[#live + 1] = q(name) end
    end
    if #live > 0 then H.sh(env() .. q(H.purple) .. " session stop --wait 20 " .. table.concat(live, " ")) end
    for _, name in ipairs(started) do
      local rec = record(name)
      if rec then
        core.kill(rec.supervisor_pid, 9)
        gone(rec.init_pid)
      end
    end
    H.sh(env() .. q(H.purple) .. " session list >/dev/null")
    H.cleanup()
  end)


  it("runs commands in one sandbox: exit statuses, persistence, stdin, environment, cwd", function()
    local out, err, code = start(profile, "s1")
    assert.are.equal(0, code, err)
    assert.are.equal("s1\n", out)
    assert.truthy(core.stat(rt .. "/s1.sock", false))
    out, err, code = exec("s1", { "sh", "-c", "echo hello >/tmp/kept; echo out; echo err >&2; exit 3" })
    assert.are.same({ "out\n", "err\n", 3 }, { out, err, code })
    out, _, code = exec("s1", { "cat", "/tmp/kept" })
    assert.are.same({ "hello\n", 0 }, { out, code })
    _, _, code = exec("s1", { "sh", "-c", "kill -TERM $$" })
    assert.are.equal(143, code)
    out, err, code = exec("s1", { "no-such-command" })
    assert.are.equal(127, code)
    assert.are.equal("purple: exec no-such-command: No such file or directory (not found in the sandbox's PATH or filesystem)\n", err)
    out, err, code = exec("s1", { "/tmp/kept" })
    assert.are.equal(126, code)
    local d = H.tmpdir()
    H.write(d .. "/in", ("line\n"):rep(20000))
    out, _, code = exec("s1", { "wc", "-l" }, { stdin = d .. "/in" })
    assert.are.same({ "20000\n", 0 }, { out, code })
    out, _, code = exec("s1", { "sh", "-c", 'echo "$K $PWD"' }, { args = "--env K=v1 --cwd /usr" })
    assert.are.same({ "v1 /usr\n", 0 }, { out, code })
    out, err, code = exec("s1", { "true" }, { args = "--cwd /no/such" })
    assert.are.same({ "", "purple: --cwd: No such file or directory\n", 125 }, { out, err, code })
    -- listed by purple session list and purple ps
    out = H.sh(env() .. q(H.purple) .. " session list")
    assert.matches("\ns1 +spec%-minimal", out)
    out = H.sh(env() .. q(H.purple) .. " ps")
    assert.matches("\ns1 ", out)
  end)

  it("writes each command's start and end, with the session's name and the command's number, to the audit log", function()
    local d = H.tmpdir()
    local log = d .. "/audit.log"
    local p = S.audit_profile(log, d .. "/out")
    assert.are.equal(0, select(3, start(p, "aud")))
    local init = record("aud").init_pid
    assert.are.equal(3, select(3, exec("aud", { "sh", "-c", "exit 3" })))
    assert.are.equal(127, select(3, exec("aud", { "no-such-command" })))
    assert.are.equal(124, select(3, exec("aud", { "sleep", "30" }, { args = "--timeout 0.2" })))
    -- a purple exec that goes away: its command is killed and recorded as client_gone
    assert.are.equal(137, select(3, exec("aud", { "sleep", "30" }, { prefix = "timeout -s KILL 0.5 " })))
    assert.are.equal(0, select(3, exec("aud", { "true" }, { args = "-t" })))
    local _, err, code = H.sh(env() .. q(H.purple) .. " session stop aud")
    assert.are.equal(0, code, err)
    assert.truthy(gone(init))
    local recs = S.records(log)
    S.assert_valid(recs)
    local ev = S.by_event(recs)
    for _, r in ipairs(recs) do assert.are.equal("aud", r.session) end
    assert.are.equal(1, #ev.session_start)
    assert.are.equal(5, ev.session_end[1].commands)
    local starts, ends = {}, {}
    for _, r in ipairs(ev.command_start) do starts[r.command] = r end
    for _, r in ipairs(ev.command_end) do ends[r.command] = r end
    assert.are.same({ "sh", "-c", "exit 3" }, starts[1].argv)
    assert.are.same({ "no-such-command" }, starts[2].argv)
    assert.are.equal(0.2, starts[3].timeout_seconds)
    assert.are.same({ false, true }, { starts[1].tty, starts[5].tty })
    assert.are.equal(tonumber((H.sh("id -u"))), starts[1].client.uid)
    local got = {}
    for i = 1, 5 do got[i] = { ends[i].status, ends[i].reason } end
    assert.are.same({ { 3, "exit" }, { 127, "exec_error" }, { 124, "timeout" }, { nil, "client_gone" }, { 0, "exit" } },
      got)
    assert.is_true(ends[3].duration >= 0.2)
    -- every command's end follows its start, and all of them come before the session's end
    local pos = {}
    for i, r in ipairs(recs) do pos[r.event .. (r.command or "")] = i end
    for i = 1, 5 do
      assert.is_true(pos["command_start" .. i] < pos["command_end" .. i])
      assert.is_true(pos["command_end" .. i] < pos.session_end)
    end
  end)

  it("reports each command's own usage (wall, user and system CPU, max RSS) with -l info and in command_end", function()
    local d = H.tmpdir()
    local log = d .. "/audit.log"
    assert.are.equal(0, select(3, start(S.audit_profile(log, d .. "/out"), "use")))
    local init = record("use").init_pid
    local LINE = "^purple: session use command (%d+): status (%d+) in ([%d.]+)s; cpu ([%d.]+)s user %+ ([%d.]+)s sys, "
      .. "max RSS ([%d.]+)([KMGT])\n$"
    local UNIT = { K = 1024, M = 1024 ^ 2, G = 1024 ^ 3, T = 1024 ^ 4 }
    local function usage_line(err)
      local n, st, wall, user, sys, rss, unit = err:match(LINE)
      assert.truthy(n, err)
      return { command = tonumber(n), status = tonumber(st), wall = tonumber(wall), user = tonumber(user),
        sys = tonumber(sys), rss = tonumber(rss) * UNIT[unit] }
    end
    -- a CPU-bound command, then a trivial one: the second's CPU is its own, not the session's so far
    local burn = "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"
    local _, err, code = exec("use", { "sh", "-c", burn }, { args = "-l info" })
    assert.are.equal(0, code, err)
    local u1 = usage_line(err)
    assert.are.same({ 1, 0 }, { u1.command, u1.status })
    assert.is_true(u1.user > 0, err)
    assert.is_true(u1.rss > 0 and u1.rss < 256 * 1024 ^ 2, err)
    _, err, code = H.sh(env() .. q(H.purple) .. " -l info exec use -- true </dev/null") -- -l before exec too
    assert.are.equal(0, code, err)
    local u2 = usage_line(err)
    assert.are.equal(2, u2.command)
    assert.is_true(u2.user < u1.user, err)
    -- a command that holds 40 MB: its max RSS says so
    _, err, code = exec("use", { "sh", "-c", 'x=$(head -c 40000000 /dev/zero | tr "\\0" a); echo ${#x} >/dev/null' },
      { args = "-l info" })
    assert.are.equal(0, code, err)
    local u3 = usage_line(err)
    assert.is_true(u3.rss >= 40000000 and u3.rss < 1024 ^ 3, err)
    -- a command that did not run has a number and no usage; without -l info there is no line
    _, err, code = exec("use", { "no-such-command" }, { args = "-l info" })
    assert.are.equal(127, code)
    assert.matches("\npurple: session use command 4: status 127\n$", err)
    _, err, code = exec("use", { "true" })
    assert.are.same({ "", 0 }, { err, code })
    assert.are.same({ "", "purple: -l: unknown log level 'loud': expected error, warn, info or debug\n", 125 },
      { exec("use", { "true" }, { args = "-l loud" }) })
    assert.are.equal(0, select(3, H.sh(env() .. q(H.purple) .. " session stop use")))
    assert.truthy(gone(init))
    local recs = S.records(log)
    S.assert_valid(recs)
    local ends = {}
    for _, r in ipairs(S.by_event(recs).command_end) do ends[r.command] = r end
    -- the audit log has the same figures as the lines (which round them)
    for i, u in ipairs({ u1, u2, u3 }) do
      local a = ends[i].usage
      assert.are.same({ ("%.2f"):format(u.user), ("%.2f"):format(u.sys), ("%.3f"):format(u.wall) },
        { ("%.2f"):format(a.user_seconds), ("%.2f"):format(a.system_seconds), ("%.3f"):format(a.wall_seconds) })
      assert.is_true(math.abs(a.maxrss_bytes - u.rss) <= 0.05 * u.rss)
    end
    assert.is_nil(ends[4].usage)
    assert.is_true(ends[5].usage.user_seconds < ends[1].usage.user_seconds)
  end)

  it("keeps none of the supervisor's heap in its init and agent (memory per idle session)", function()
    assert.are.equal(0, select(3, start(profile, "mem")))
    local init = record("mem").init_pid
    local agent = tonumber(H.read(("/proc/%d/task/%d/children"):format(init, init)):match("%d+"))
    -- the supervisor has its heap; init and the agent, copies of it, have unmapped theirs
    local supervisor_maps = H.read(("/proc/%d/maps"):format(record("mem").supervisor_pid))
    if supervisor_maps:match("/libasan%.so") then
      return pending("a sanitizer build: ASan's allocator keeps no brk heap to leave behind")
    end
    assert.matches("%[heap%]", supervisor_maps)
    for _, pid in ipairs({ init, agent }) do
      local maps = H.read(("/proc/%d/maps"):format(pid))
      if not maps then return pending("/proc/PID/maps of the session's init is not readable here (not dumpable)") end
      assert.is_nil(maps:match("%[heap%]"), maps)
    end
    -- and both still work: a command found in the session's PATH gets the session's environment
    local out, err, code = exec("mem", { "sh", "-c", 'echo "$K ${PATH:+PATH set}"' }, { args = "--env K=v" })
    assert.are.same({ "v PATH set\n", 0 }, { out, code }, err)
  end)

  it("shows each session's running commands and cgroup usage in purple session list and purple ps", function()
    assert.are.equal(0, select(3, start(profile, "busy")))
    assert.are.equal(0, select(3, start(profile, "idle")))
    -- an orphan of an earlier command (reparented to init) is not a running command
    assert.are.equal(0, select(3, exec("busy", { "sh", "-c", "sleep 60 >/dev/null 2>&1 & exit 0" })))
    local d = H.tmpdir()
    assert(os.execute(env() .. q(H.purple) .. " exec busy -- sleep 59 </dev/null >/dev/null 2>&1 & echo $! >"
      .. q(d .. "/pid")))
    finally(function() core.kill(tonumber(H.read(d .. "/pid")), 15) end)
    local list = S.wait_for(function()
      local l = S.ps(rt)
      -- (the agent's child is listed from its fork on: wait for its exec)
      for _, r in ipairs(l) do if r.id == "busy" and #r.commands > 0 and r.commands[1].argv[1] == "sleep" then return l end end
    end, 10)
    assert.truthy(list, "the running command never showed up in purple ps --json")
    local by = {}
    for _, r in ipairs(list) do by[r.id] = r end
    assert.are.equal(1, #by.busy.commands)
    assert.are.same({ "sleep", "59" }, by.busy.commands[1].argv)
    assert.are.same({}, by.idle.commands)
    assert.is_true(by.busy.usage.pids >= 3) -- init, agent, the command (and the orphan)
    assert.is_true(by.busy.usage.memory_bytes > 0)
    local pid = by.busy.commands[1].pid
    local out = H.sh(env() .. q(H.purple) .. " session list")
    assert.matches("NAME +PROFILE +PID +UID +CPU +MEM +PIDS +CMDS +STARTED\n", out)
    assert.matches("\nbusy +spec%-minimal +%d+ +%d+ +[%d.]+s +[%d.]+[BKMG] +%d+ +1  [^\n]*\n +" .. pid .. "  sleep 59\n", out)
    assert.matches("\nidle +spec%-minimal +%d+ +%d+ +[%d.]+s +[%d.]+[BKMG] +%d+ +0  ", out)
    out = H.sh(env() .. q(H.purple) .. " ps")
    assert.matches("\nbusy [^\n]*purple%-session busy\n +" .. pid .. "  sleep 59\n", out)
  end)

  it("exits 125 naming the session when it is unknown or stopped; stop removes everything", function()
    local out, err, code = exec("nosuch", { "true" })
    assert.are.same({ "", "purple: session nosuch: no such running session (see purple session list)\n", 125 },
      { out, err, code })
    _, err, code = start(profile, "s2")
    assert.are.equal(0, code, err)
    local rec = record("s2")
    out, err, code = H.sh(env() .. q(H.purple) .. " session stop s2")
    assert.are.same({ "s2 stopped\n", 0 }, { out, code }, err)
    assert.truthy(gone(rec.init_pid))
    assert.is_nil(core.stat(rt .. "/s2.sock", false))
    assert.is_nil(core.stat(rt .. "/s2.json", false))
    assert.is_nil(core.stat(rt .. "/s2.log", false))
    _, err, code = exec("s2", { "true" })
    assert.are.same({ "purple: session s2: no such running session (see purple session list)\n", 125 }, { err, code })
    -- a session whose sandbox cannot be built: 125 and the reason, nothing left behind
    local bad = H.profile(H.minimal():gsub('working_dir = "/tmp"', 'working_dir = "/nonexistent"'))
    out, err, code = start(bad, "bad")
    assert.are.same({ "", "purple: filesystem.working_dir: /nonexistent is outside the sandbox's filesystem "
      .. "(not under any immutable, scratch or output path)\n", 125 }, { out, err, code })
    assert.are.same({}, core.readdir(rt))
    -- a second session of the same name while one runs is refused
    assert.are.equal(0, select(3, start(profile, "s3")))
    _, err, code = start(profile, "s3")
    assert.are.equal(125, code)
    assert.matches("^purple: session s3: already running %(pid %d+%)\n$", err)
  end)

  it("keeps two sessions apart: files and processes", function()
    assert.are.equal(0, select(3, start(profile, "a")))
    assert.are.equal(0, select(3, start(profile, "b")))
    assert.are.equal(0, select(3, exec("a", { "sh", "-c", "echo secret >/tmp/only-a; sleep 30 >/dev/null 2>&1 & exit 0" })))
    local _, _, code = exec("b", { "test", "-e", "/tmp/only-a" })
    assert.are.equal(1, code)
    local out = exec("b", { "sh", "-c", "for p in /proc/[0-9]*; do cat $p/comm; done" })
    assert.is_nil(out:match("sleep"), out)
    out = exec("a", { "sh", "-c", "for p in /proc/[0-9]*; do cat $p/comm; done" })
    assert.matches("sleep", out)
  end)

  it("never shows the control socket inside, and refuses a peer inside a sandbox even when it can reach it", function()
    assert.are.equal(0, select(3, start(profile, "s4")))
    local _, _, code = exec("s4", { "test", "-e", rt .. "/s4.sock" })
    assert.are.equal(1, code)
    -- a policy that binds the runtime directory in: the socket is there, the supervisor refuses
    -- the peer (it is in another pid namespace), though its uid maps to the owner's
    local p2 = H.profile(([[
return {
  name = "spec-bind-runtime",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" }, { host_path = %q } },
    scratch_paths = { "/tmp" },
    working_dir = "/tmp",
  },
}]]):format(rt))
    if not have("python3") then return pending("python3 is not installed (the peer inside the sandbox)") end
    os.execute("chmod 755 " .. q(rt) .. " && chmod 666 " .. q(rt .. "/s4.sock"))
    local py = "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
      .. "d=s.recv(4096); print(d[64:].decode())"
    local out, err
    out, err, code = H.run(p2, { "python3", "-c", py, rt .. "/s4.sock" })
    assert.are.same({ "permission denied (not the session's owner)\n", 0 }, { out, code }, err)
    assert.matches("refused a connection from uid %d+ pid %d+: not the session's owner, or inside a sandbox",
      H.read(rt .. "/s4.log"))
  end)

  it("survives malformed, truncated and oversized requests", function()
    if not have("python3") then return pending("python3 is not installed") end
    assert.are.equal(0, select(3, start(profile, "s5")))
    local sock = rt .. "/s5.sock"
    local py = [[
import socket, struct, sys
path = sys.argv[1]
MAGIC = 0x70727032  # a RESULT is a 16-byte header and a 48-byte result, then the text
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path); return s
def result(s):
    data = b""
    while True:
        try: b = s.recv(4096)
        except ConnectionResetError: break  # closed with our bytes unread
        if not b: break
        data += b
    return data
# bad magic
s = conn(); s.sendall(struct.pack("<IIII", 0x12345678, 1, 0, 0)); print("magic", result(s)[64:].decode())
# oversized
s = conn(); s.sendall(struct.pack("<IIII", MAGIC, 1, 5 << 20, 0)); print("big", result(s)[64:].decode())
# truncated: the header promises 100 bytes, 10 come, then the client closes
s = conn(); s.sendall(struct.pack("<IIII", MAGIC, 1, 100, 0) + b"x" * 10); s.close()
# a whole frame without the three fds
body = struct.pack("<IIII", 0, 0, 1, 0) + b"\0true\0"
s = conn(); s.sendall(struct.pack("<IIII", MAGIC, 1, len(body), 0) + body); print("nofds", result(s)[64:].decode())
# an unknown frame type
s = conn(); s.sendall(struct.pack("<IIII", MAGIC, 99, 0, 0)); print("type", len(result(s)))
# four fds with a request (three are the caller's stdio): refused, the fourth not kept
fds = [0, 1, 2, 0]
s = conn(); s.sendmsg([struct.pack("<IIII", MAGIC, 1, len(body), 0) + body],
                      [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("4i", *fds))]); print("fds", len(result(s)))
]]
    local d = H.tmpdir()
    H.write(d .. "/c.py", py)
    local out, err, code = H.sh("python3 " .. q(d .. "/c.py") .. " " .. q(sock))
    assert.are.equal(0, code, err)
    assert.are.equal("magic unsupported protocol version\nbig request too large\nnofds malformed exec request\ntype 0\n"
      .. "fds 0\n", out)
    out, err, code = exec("s5", { "echo", "alive" })
    assert.are.same({ "alive\n", 0 }, { out, code }, err)
    local log = H.read(rt .. "/s5.log")
    assert.matches("purple: session s5: bad magic or protocol version from pid %d+: connection closed", log)
    assert.matches("purple: session s5: oversized frame from pid %d+: connection closed", log)
    assert.matches("purple: session s5: truncated frame from pid %d+: connection closed", log)
    assert.matches("purple: session s5: malformed exec request from pid %d+: connection closed", log)
    assert.matches("purple: session s5: unexpected frame type 99 from pid %d+: connection closed", log)
    assert.matches("purple: session s5: unexpected fds from pid %d+: connection closed", log)
  end)

  it("leaves nothing live when its supervisor is SIGKILLed", function()
    assert.are.equal(0, select(3, start(profile, "s6")))
    assert.are.equal(0, select(3, exec("s6", { "sh", "-c", "sleep 60 >/dev/null 2>&1 & exit 0" })))
    local rec = record("s6")
    assert.truthy(core.kill(rec.supervisor_pid, 9))
    assert.truthy(gone(rec.init_pid))
    local _, err, code = exec("s6", { "true" })
    assert.are.equal(125, code)
    assert.are.equal("purple: session s6: not running (its supervisor is gone; purple session list cleans up)\n", err)
    local out = H.sh(env() .. q(H.purple) .. " session list")
    assert.are.equal("", out)
    assert.is_nil(core.stat(rt .. "/s6.sock", false))
    assert.is_nil(core.stat(rt .. "/s6.json", false))
    _, err, code = exec("s6", { "true" })
    assert.are.same({ "purple: session s6: no such running session (see purple session list)\n", 125 }, { err, code })
    -- its cgroups (named after the session) are removed by the next start, once empty
    assert.truthy(S.wait_for(function()
      for _, dir in ipairs(rec.cgroups or {}) do
        if (H.read(dir .. "/cgroup.procs") or ""):match("%d") then return false end
      end
      return true
    end, 20))
    assert.are.equal(0, select(3, start(profile, "s6b")))
    for _, dir in ipairs(rec.cgroups or {}) do assert.is_nil(core.stat(dir, false), dir) end
  end)

  it("ends a command at its --timeout (124) and every command at the session timeout (124)", function()
    assert.are.equal(0, select(3, start(profile, "s7", "--timeout 3")))
    local _, _, code = exec("s7", { "sleep", "30" }, { args = "--timeout 0.5" })
    assert.are.equal(124, code)
    local out
    out, _, code = exec("s7", { "echo", "still" })
    assert.are.same({ "still\n", 0 }, { out, code })
    _, _, code = exec("s7", { "sleep", "30" })
    assert.are.equal(124, code)
    local rec = record("s7")
    if rec then assert.truthy(gone(rec.supervisor_pid)) end
    assert.is_nil(core.stat(rt .. "/s7.sock", false))
  end)

  it("takes any finite session timeout: one beyond the clock's range never comes", function()
    assert.are.equal(0, select(3, start(profile, "far", "--timeout 1e300")))
    local out, err, code = exec("far", { "echo", "up" })
    assert.are.same({ "up\n", "", 0 }, { out, err, code })
  end)

  it("serves 16 concurrent commands and a huge argv", function()
    assert.are.equal(0, select(3, start(profile, "s8")))
    local d = H.tmpdir()
    local script = ("for i in $(seq 1 16); do (PURPLE_RUNTIME_DIR=%s %s exec s8 -- sh -c 'sleep 0.2; echo $0' $i "
      .. ">%s/out.$i 2>&1; echo $? >%s/rc.$i) & done; wait"):format(q(rt), q(H.purple), d, d)
    assert.truthy(os.execute(script))
    for i = 1, 16 do
      assert.are.equal(i .. "\n", H.read(d .. "/out." .. i))
      assert.are.equal("0\n", H.read(d .. "/rc." .. i))
    end
    local out, err, code = H.sh(("set -- $(seq 1 100000); PURPLE_RUNTIME_DIR=%s %s exec s8 -- sh -c 'echo $#; echo ${100000}' sh \"$@\"")
      :format(q(rt), q(H.purple)))
    assert.are.same({ "100000\n100000\n", 0 }, { out, code }, err)
  end)

  it("runs purple exec without the launcher; its other forms are the launcher's (bin/purple-lua)", function()
    if H.sh("uname -m") ~= "x86_64\n" then
      pending("bin/purple is the launcher itself on this architecture (Makefile)")
      return
    end
    assert.are.equal(0, select(3, start(profile, "s9")))
    local bin = H.tmpdir() .. "/bin"
    assert.is_true(os.execute(("mkdir -p %s && cp %s %s/purple"):format(q(bin), q(H.purple), q(bin))))
    local alone = q(bin .. "/purple")
    local out, err, code = H.sh(env() .. alone .. " exec --timeout 30 --cwd /usr --env K=v s9 -- sh -c "
      .. q('echo "$K $PWD"; exit 5') .. " </dev/null")
    assert.are.same({ "v /usr\n", "", 5 }, { out, err, code })
    local missing = ("purple: cannot run its launcher %s/purple-lua: No such file or directory (reinstall purple)\n")
      :format(bin)
    for _, args in ipairs({ "--version", "exec -t s9 -- true", "exec nosuch -- true", "exec --timeout 1x s9 -- true" }) do
      out, err, code = H.sh(env() .. alone .. " " .. args .. " </dev/null")
      assert.are.same({ "", missing, 125 }, { out, err, code }, args)
    end
    -- the launcher's client takes what the small one leaves: here 300 --env entries
    local envs = {}
    for i = 1, 300 do envs[#envs + 1] = "--env V" .. i .. "=" .. i end
    out, err, code = exec("s9", { "sh", "-c", 'echo "$V1 $V300"' }, { args = table.concat(envs, " ") })
    assert.are.same({ "1 300\n", "", 0 }, { out, err, code })
  end)

  it("forwards INT, TERM and HUP to the command", function()
    assert.are.equal(0, select(3, start(profile, "s9")))
    local d = H.tmpdir()
    for _, sig in ipairs({ "INT", "TERM", "HUP" }) do
      os.remove(d .. "/rc")
      local script = ("(PURPLE_RUNTIME_DIR=%s %s exec s9 -- sh -c 'trap \"exit 7\" %s; touch /tmp/ready-%s; "
        .. "while :; do sleep 0.05; done' </dev/null >/dev/null 2>&1 & echo $! >%s/pid; wait $!; echo $? >%s/rc) &")
        :format(q(rt), q(H.purple), sig, sig, d, d)
      assert.truthy(os.execute(script))
      assert.truthy(S.wait_for(function() return select(3, exec("s9", { "test", "-e", "/tmp/ready-" .. sig })) == 0 end, 20))
      local pid = tonumber(H.read(d .. "/pid"))
      assert.truthy(core.kill(pid, core.signal_number(sig)))
      assert.truthy(S.wait_for(function() return H.read(d .. "/rc") end, 20))
      assert.are.equal("7\n", H.read(d .. "/rc"))
    end
  end)

  it("gives -t a terminal of its own", function()
    assert.are.equal(0, select(3, start(profile, "s10")))
    local out, err, code = exec("s10", { "sh", "-c", "test -t 0 && test -t 1 && test -t 2 && echo all; exit 4" },
      { args = "-t" })
    assert.are.same({ "all\r\n", 4 }, { out, code }, err)
    out, err, code = exec("s10", { "sh", "-c", "test -t 0 || echo none" })
    assert.are.same({ "none\n", 0 }, { out, code }, err)
  end)

  it("passes the caller's window size to -t's pty, and each change (SIGWINCH)", function()
    if not have("script") then return pending("script(1) (util-linux) is not installed") end
    assert.are.equal(0, select(3, start(profile, "s13")))
    local d = H.tmpdir()
    -- script(1) gives purple exec a terminal (its stdout; stdin is /dev/null, as for a job in the
    -- background): 40x100 first, 50x120 after the command is ready. The resize and the kill may
    -- both deliver a WINCH: the trap clears itself so the size is printed once.
    H.write(d .. "/t.sh", ([[
export PURPLE_RUNTIME_DIR=%s
stty rows 40 cols 100
%s exec -t s13 -- sh -c 'stty size; trap "trap \"\" WINCH; stty size; exit 0" WINCH; touch /tmp/w; while :; do sleep 0.05; done' </dev/null &
p=$!
until %s exec s13 -- test -e /tmp/w; do sleep 0.05; done
stty rows 50 cols 120
kill -WINCH $p
wait $p
echo "rc=$?"
]]):format(q(rt), q(H.purple), q(H.purple)))
    -- script runs the command with $SHELL (nobody's login shell is nologin)
    local out, err, code = H.sh("SHELL=/bin/sh script -qec " .. q("sh " .. q(d .. "/t.sh")) .. " /dev/null </dev/null")
    assert.are.equal(0, code, err .. out)
    assert.matches("40 100%s+50 120%s+rc=0", out)
  end)

  it("keeps the session's limits across commands: its pids limit contains a fork bomb", function()
    if not have("python3") then return pending("python3 is not installed") end
    local p = H.profile(H.minimal("resources = { pids_limit = 30 },"))
    local _, err, code = start(p, "s11")
    if code ~= 0 then
      if err:match("cgroup") then return pending("no cgroup pids controller for this user: " .. err) end
      error(err)
    end
    -- the first command leaves 20 processes behind; the second cannot start 20 more
    assert.are.equal(0, select(3, exec("s11", { "sh", "-c", "for i in $(seq 1 20); do sleep 60 >/dev/null 2>&1 & done; exit 0" })))
    local py = [[
import os, time
n = 0
for i in range(20):
    try:
        if os.fork() == 0:
            os.close(1); os.close(2); time.sleep(60); os._exit(0)
        n += 1
    except OSError:
        break
print(n)
]]
    local out, err, code = exec("s11", { "python3", "-c", py })
    assert.are.equal(0, code, err)
    assert.is_true(tonumber(out) < 20, out)
  end)

  it("refuses another user (125)", function()
    if not H.is_root() then return pending("needs root to act as a second user") end
    assert.are.equal(0, select(3, start(profile, "s12")))
    os.execute("chmod 755 " .. q(rt) .. " && chmod 666 " .. q(rt .. "/s12.sock"))
    local out, err, code = exec("s12", { "id" }, { prefix = "setpriv --reuid=65534 --regid=65534 --clear-groups " })
    assert.are.same({ "", "purple: permission denied (not the session's owner)\n", 125 }, { out, err, code })
    assert.matches("refused a connection from uid 65534", H.read(rt .. "/s12.log"))
  end)

  it("has a Lua API: purple.session, session:exec with capture, stdin, env, timeout; <close> ends it", function()
    local d = H.tmpdir()
    H.write(d .. "/s.lua", ([[
local purple = require "purple"
do
  local s <close> = assert(purple.session(purple.profile(%q), { name = "lua-1" }))
  local r = assert(s:exec({ "sh", "-c", "echo $K; cat; echo e >&2; exit 5" },
    { stdout = "capture", stderr = "capture", stdin = "in\n", env = { K = "v" } }))
  print(r.status, r.stdout, r.stderr)
  r = s:exec({ "sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done" })
  local u = r.usage
  print(r.command, u.user_seconds > 0, u.system_seconds >= 0, u.wall_seconds > 0, u.maxrss_bytes > 0)
  r = s:exec({ "nosuch" })
  print(r.status, r.message, r.command, r.usage)
  r = s:exec({ "sleep", "30" }, { timeout = 0.3 })
  print(r.status)
  print(purple.session(purple.profile(%q), { name = "lua-1" }))
end
print(#require("purple.runtime").list())
]]):format(profile, profile))
    local out, err, code = H.sh(env() .. q(H.purple_lua) .. " " .. q(d .. "/s.lua"))
    assert.are.equal(0, code, err)
    assert.are.equal("5\tv\nin\n\te\n\n2\ttrue\ttrue\ttrue\ttrue\n"
      .. "127\texec nosuch: No such file or directory (not found in the sandbox's PATH "
      .. "or filesystem)\t3\tnil\n124\nnil\tsession lua-1: already running (pid " .. out:match("pid (%d+)") .. ")\n0\n", out)
  end)
end)
