-- What one process reuses between runs, and that a change defeats the reuse: purple.exec validates
-- a loaded policy again when a nested field changed (policy.check keeps a private copy), and the
-- seccomp plan of a syscalls section is built once per process and rebuilt for a changed section.
-- Real sandboxes, run from this process and from a fresh purple-lua (the precompiled modules).
local H = require "spec_helper"
local core = require "purple.core"
local seccomp = require "purple.seccomp"

local NR = setmetatable({}, { __index = function(_, name) return assert(core.syscall_number(name), name) end })

-- A Lua profile whose output directory is out (writable by the sandbox user in both passes).
local function profile(out)
  os.execute("chmod 1777 " .. H.q(out))
  return H.profile(([[
return {
  name = "reuse-spec",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
    scratch_paths = { "/tmp" },
    output_paths = { { host_path = %q, sandbox_path = "/output" } },
  },
  syscalls = { default_deny = true, allow = { "@system-service" } },
  resources = { pids_limit = 64, allow_unenforced = true, rlimits = { nofile = 64 } },
}]]):format(out))
end

-- What the command reports: scratch at /tmp and /scratch, its nofile limit, whether mkdir works.
local PROBE = { "sh", "-c", "{ echo x > /tmp/f && echo tmp; echo x > /scratch/f && echo scratch; ulimit -n; "
  .. "mkdir /tmp/d && echo mkdir; } > /output/seen 2>/dev/null; exit 0" }

local function run(out, p)
  os.remove(out .. "/seen")
  local r = require("purple").exec(p, PROBE)
  return r, H.read(out .. "/seen")
end

describe("a loaded policy changed in a nested field before purple.exec", function()
  teardown(H.cleanup)

  it("is refused with the exact error, and runs again once the value is good", function()
    local out = H.tmpdir()
    local p = assert(require("purple").profile(profile(out)))
    local r, seen = run(out, p)
    assert.equal(0, r.status, r.error)
    assert.equal("tmp\n64\nmkdir\n", seen) -- the control: loaded as written
    local bad = {
      { function(v) p.filesystem.scratch_paths[1].path = v end, p.filesystem.scratch_paths[1].path, "tmp",
        "purple: filesystem.scratch_paths[1].path: \"tmp\" is not an absolute path (start it with /)" },
      { function(v) p.resources.pids_limit = v end, p.resources.pids_limit, 0,
        "purple: resources.pids_limit: expected a whole number of at least 1, got 0" },
      { function(v) p.network.allow_outgoing[1] = v end, nil, "443",
        "purple: network.allow_outgoing: has no effect while network.isolated is true; "
          .. "set isolated: false or remove the list" },
      { function(v) p.resources.rlimits.nofile = v end, p.resources.rlimits.nofile, -1,
        "purple: resources.rlimits.nofile: expected a whole number of at least 0, got -1" },
      { function(v) p.syscalls.deny[1] = v end, nil, "no_such_call",
        "purple: syscalls.deny[1]: unknown syscall \"no_such_call\" on this architecture" },
    }
    for _, c in ipairs(bad) do
      local set, good, wrong, message = c[1], c[2], c[3], c[4]
      set(wrong)
      r, seen = run(out, p)
      assert.equal(125, r.status, message)
      assert.equal(message, r.error)
      assert.is_false(r.started)
      assert.is_nil(seen)
      set(good)
      r, seen = run(out, p)
      assert.equal(0, r.status, r.error)
      assert.equal("tmp\n64\nmkdir\n", seen)
    end
  end)

  it("takes effect when the change is good, and the old value counts again when put back", function()
    local out = H.tmpdir()
    local p = assert(require("purple").profile(profile(out)))
    local r, seen = run(out, p)
    assert.equal(0, r.status, r.error)
    assert.equal("tmp\n64\nmkdir\n", seen)
    p.filesystem.scratch_paths[1].path = "/scratch"
    p.resources.rlimits.nofile = 77
    r, seen = run(out, p)
    assert.equal(0, r.status, r.error)
    assert.equal("scratch\n77\n", seen) -- /tmp is gone, so is mkdir /tmp/d
    p.filesystem.scratch_paths[1].path = "/tmp"
    p.resources.rlimits.nofile = 64
    r, seen = run(out, p)
    assert.equal(0, r.status, r.error)
    assert.equal("tmp\n64\nmkdir\n", seen)
  end)

  it("is checked again in a fresh purple-lua process as well", function()
    local out = H.tmpdir()
    local script = H.tmpdir() .. "/s.lua"
    H.write(script, ([[
local p = assert(purple.profile(%q))
local argv = { "sh", "-c", "ulimit -n > /output/seen" }
local r = purple.exec(p, argv)
print(r.status)
p.resources.pids_limit = 0
r = purple.exec(p, argv)
print(r.status, r.error)
p.resources.pids_limit = 64
p.resources.rlimits.nofile = 99
r = purple.exec(p, argv)
print(r.status)
]]):format(profile(out)))
    local stdout, err, code = H.sh(H.q(H.purple_lua) .. " " .. H.q(script) .. " </dev/null")
    assert.are.same({ "0\n125\tpurple: resources.pids_limit: expected a whole number of at least 1, got 0\n0\n", "", 0 },
      { stdout, err, code })
    assert.equal("99\n", H.read(out .. "/seen"))
  end)
end)

describe("the seccomp plan of a syscalls section", function()
  teardown(H.cleanup)

  it("is reused for an equal section in one process, and rebuilt for a changed one", function()
    local function section() return { default_deny = true, allow = { "@system-service" }, deny = { "swapon" } } end
    local a = assert(seccomp.plan(section(), {}))
    local b = assert(seccomp.plan(section(), {}))
    assert.is_string(a.program)
    assert.is_true(a.program == b.program, "the same program")
    assert.is_true(rawequal(a.spec, b.spec)) -- the same object, not a second build
    assert.is_true(rawequal(a.allow, b.allow))
    assert.is_false(rawequal(a, b)) -- each run has its own plan around the shared parts
    assert.is_false(rawequal(a.learned, b.learned))
    assert.equal("allow", (core.seccomp_eval(a.program, { nr = NR.mkdir })))
    local changed = section()
    changed.deny[2] = "mkdir"
    local c = assert(seccomp.plan(changed, {}))
    assert.is_true(a.program ~= c.program, "a different program")
    assert.is_false(rawequal(a.spec, c.spec))
    assert.equal("notify", (core.seccomp_eval(c.program, { nr = NR.mkdir })))
    assert.equal("allow", (core.seccomp_eval(c.program, { nr = NR.getpid })))
    -- learn mode and handlers are part of what is shared: neither reuses the plain plan
    local l = assert(seccomp.plan(section(), { learn = true }))
    assert.is_true(a.program ~= l.program, "a different program")
    local h = assert(seccomp.plan(section(), { handlers = { getppid = function() end } }))
    assert.is_true(a.program ~= h.program, "a different program")
    assert.equal("notify", (core.seccomp_eval(h.program, { nr = NR.getppid })))
    assert.equal("allow", (core.seccomp_eval(a.program, { nr = NR.getppid })))
    -- changed in place after use: the next plan follows the table, not the first plan
    local s = section()
    local before = assert(seccomp.plan(s, {}))
    s.deny[#s.deny + 1] = "mkdir"
    assert.is_true(c.program == assert(seccomp.plan(s, {})).program, "the same program")
    assert.is_true(a.program == before.program, "the same program")
  end)

  it("runs the same program twice, and enforces a deny added to the loaded policy", function()
    local out = H.tmpdir()
    local p = assert(require("purple").profile(profile(out)))
    local programs = {}
    local real_plan = seccomp.plan
    seccomp.plan = function(...)
      local plan, err = real_plan(...)
      if plan then programs[#programs + 1] = plan end
      return plan, err
    end
    local ok, e = pcall(function()
      local r1, seen1 = run(out, p)
      local r2, seen2 = run(out, p)
      p.syscalls.deny[#p.syscalls.deny + 1] = "mkdir"
      local r3, seen3 = run(out, p)
      return { r1, seen1, r2, seen2, r3, seen3 }
    end)
    seccomp.plan = real_plan
    assert.is_true(ok, e)
    local r1, seen1, r2, seen2, r3, seen3 = table.unpack(e, 1, 6)
    assert.equal(0, r1.status, r1.error)
    assert.equal("tmp\n64\nmkdir\n", seen1)
    assert.equal(0, r2.status, r2.error)
    assert.equal("tmp\n64\nmkdir\n", seen2)
    assert.equal(3, #programs)
    assert.is_true(programs[1].program == programs[2].program, "the same program")
    assert.is_true(rawequal(programs[1].spec, programs[2].spec))
    assert.is_true(programs[1].program ~= programs[3].program, "a different program")
    -- the new deny really holds: mkdir fails with EPERM and is reported against syscalls.deny
    assert.equal(0, r3.status, r3.error)
    assert.equal("tmp\n64\n", seen3)
    assert.is_table(r3.syscall_violations)
    local names = {}
    for _, v in ipairs(r3.syscall_violations) do names[#names + 1] = v.syscall or v.name end
    assert.is_truthy(table.concat(names, " "):find("mkdir"), table.concat(names, " "))
  end)
end)

describe("what a run does not load or read", function()
  teardown(H.cleanup)

  it("writes the runtime record as purple.json would, without loading purple.json", function()
    local runtime = require "purple.runtime"
    local json = require "purple.json"
    local recs = {
      { id = "ab12", profile = "x\"y\\z\n\1\127\195\169", supervisor_pid = 5, supervisor_start = 77, init_pid = 9,
        argv = { "sh", "-c", "echo \"hi\"\t\0" }, uid = 0, started = "2026-01-01T00:00:00Z",
        started_epoch = 1796048509, cgroups = {}, audit_log = "/var/log/a b.log" },
      { id = "cd", profile = "p", supervisor_pid = 5, init_pid = 9, argv = { "a" }, uid = 1, started = "s",
        started_epoch = 2, cgroups = { "/sys/fs/cgroup/pids/purple/x", "/y" } },
      -- shapes the record itself never has go through purple.json
      { id = "cd", profile = "p", argv = { "a", 5 }, started_epoch = 2.5 },
      { id = "cd", profile = "p", argv = { "a", n = 1 }, cgroups = setmetatable({}, json.object_mt) },
    }
    for i, rec in ipairs(recs) do
      local got = runtime.encode_record(rec)
      assert.equal(json.encode(rec), got, "record " .. i)
      if i < 4 then assert.same(rec.argv, json.decode(got).argv) end
    end
    -- a whole run in a fresh process: its record is written (ps would list it), purple.json stays unloaded
    local out = H.tmpdir()
    local script = H.tmpdir() .. "/s.lua"
    H.write(script, ([[
local p = assert(purple.profile(%q))
local runtime = require "purple.runtime"
local written
local register = runtime.register
runtime.register = function(run) local ok, err = register(run) written = run.runtime_file and require("purple.files").read(run.runtime_file) return ok, err end
local r = purple.exec(p, { "true" })
local rec = require("purple.json").decode(written)
print(r.status, rec.id == r.session, rec.argv[1], rec.profile, written:sub(-1) == "\n")
]]):format(profile(out)))
    local stdout, err, code = H.sh(H.q(H.purple_lua) .. " " .. H.q(script) .. " </dev/null")
    assert.are.same({ "0\ttrue\ttrue\treuse-spec\ttrue\n", "", 0 }, { stdout, err, code })
    -- and a script that never decodes: nothing in the run loaded purple.json
    H.write(script, ([[
local r = purple.exec(assert(purple.profile(%q)), { "true" })
print(r.status, package.loaded["purple.json"] == nil)
]]):format(profile(out)))
    stdout, err, code = H.sh(H.q(H.purple_lua) .. " " .. H.q(script) .. " </dev/null")
    assert.are.same({ "0\ttrue\n", "", 0 }, { stdout, err, code })
  end)

  it("passes kept names read one by one, and patterns from the whole environment", function()
    local out = H.tmpdir()
    local p = profile(out)
    local function env_in(keep)
      local script = H.tmpdir() .. "/s.lua"
      H.write(script, ([[
local p = assert(purple.profile(%q))
p.environment.keep = %s
local r = purple.exec(p, { "sh", "-c", "env | grep -v ^PWD= | sort > /output/env" })
return r.status
]]):format(p, keep))
      local parent = os.getenv("PURPLE_CGROUP_PARENT") -- the unprivileged pass's delegated cgroup
      local _, err, code = H.sh("env -i PATH=/usr/bin:/bin TERM=vt100 SPEC_A=1 SPEC_AB=2 SPEC_B=3 SECRET=s "
        .. (parent and ("PURPLE_CGROUP_PARENT=" .. H.q(parent) .. " ") or "")
        .. H.q(H.purple_lua) .. " " .. H.q(script) .. " </dev/null")
      assert.are.same({ "", 0 }, { err, code })
      return H.read(out .. "/env")
    end
    local base = "HOME=/\nLANG=C.UTF-8\nPATH=/usr/local/bin:/usr/bin:/bin\n"
    assert.equal(base .. "TERM=vt100\n", env_in("{}"))
    assert.equal(base .. "SPEC_A=1\nSPEC_B=3\nTERM=vt100\n", env_in('{ "SPEC_A", "SPEC_B", "SPEC_NONE" }'))
    assert.equal(base .. "SPEC_A=1\nSPEC_AB=2\nTERM=vt100\n", env_in('{ "SPEC_A*" }'))
    assert.equal(base .. "SPEC_A=1\nSPEC_AB=2\nSPEC_B=3\nTERM=vt100\n", env_in('{ "SPEC_B", "SPEC_A*" }'))
  end)
end)
