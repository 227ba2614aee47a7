-- Composition: extends by name or path, the merge rules, Lua profiles branching on their context.
local H = require "spec_helper"
local profiles = require "purple.profiles"
local policy = require "purple.policy"

local function load(path, ctx) return profiles.load(path, ctx or { argv = {} }) end

local BASE = [[
name: base
description: the base
filesystem:
  immutable_paths:
    - host_path: /usr
      sandbox_path: /usr
    - host_path: /etc/ssl
      sandbox_path: /etc/ssl
  scratch_paths: [/tmp]
  output_paths:
    - host_path: /var/output/base
      sandbox_path: /output
  working_dir: /tmp
syscalls:
  allow: [read, write, openat]
  deny: [bpf, mount]
resources:
  pids_limit: 64
  memory_limit_bytes: 1G
  rlimits:
    nofile: 256
network:
  isolated: false
  allow_outgoing: ["443", "53/udp"]
environment:
  keep: [LANG]
  set:
    A: "1"
    B: "2"
]]

describe("composition", function()
  local dir
  before_each(function()
    dir = H.tmpdir()
    H.write(dir .. "/base.yaml", BASE)
  end)
  after_each(H.cleanup)

  local function child(name, text)
    local f = dir .. "/" .. name
    H.write(f, text)
    return f
  end

  it("extends a path relative to the extending file: maps merge, scalars replace, lists append", function()
    local p = assert(load(child("c.yaml", [[
extends: base.yaml
resources:
  pids_limit: 10
  rlimits:
    nproc: 20
syscalls:
  allow: [close]
network:
  allow_outgoing: ["80"]
environment:
  set:
    B: "two"
    C: "3"
]])))
    assert.equal("c", p.name) -- the name is never inherited: it is the file's
    assert.equal("the base", p.description)
    assert.equal(10, p.resources.pids_limit)
    assert.equal(1024 ^ 3, p.resources.memory_limit_bytes)
    assert.same({ nofile = 256, nproc = 20 }, p.resources.rlimits)
    assert.same({ "read", "write", "openat", "close" }, p.syscalls.allow)
    assert.same({ "443", "53/udp", "80" }, p.network.allow_outgoing)
    assert.same({ A = "1", B = "two", C = "3" }, p.environment.set)
    assert.equal(dir .. "/c.yaml", p.source)
  end)

  it("replaces a list with {replace = ...} and removes inherited entries with {remove = ...}", function()
    local p = assert(load(child("c.yaml", [[
extends: ./base.yaml
syscalls:
  allow: { replace: [read, exit_group] }
  deny: { remove: [bpf], append: [reboot] }
filesystem:
  immutable_paths: { remove: [/etc/ssl] }
network:
  allow_outgoing: { remove: ["53/udp"] }
]])))
    assert.same({ "read", "exit_group" }, p.syscalls.allow)
    assert.same({ "mount", "reboot" }, p.syscalls.deny)
    assert.same({ { host_path = "/usr", sandbox_path = "/usr", optional = false } }, p.filesystem.immutable_paths)
    assert.same({ "443" }, p.network.allow_outgoing)
  end)

  it("an entry with the same sandbox path replaces the inherited one in place", function()
    local p = assert(load(child("c.yaml", [[
extends: base.yaml
filesystem:
  output_paths:
    - host_path: /var/output/child
      sandbox_path: /output
  immutable_paths:
    - host_path: /opt/usr
      sandbox_path: /usr
    - host_path: /opt/tools
      sandbox_path: /tools
]])))
    assert.same({ { host_path = "/var/output/child", sandbox_path = "/output" } }, p.filesystem.output_paths)
    assert.same({ "/opt/usr", "/etc/ssl", "/opt/tools" }, {
      p.filesystem.immutable_paths[1].host_path, p.filesystem.immutable_paths[2].host_path,
      p.filesystem.immutable_paths[3].host_path })
  end)

  it("null resets an inherited value to its default", function()
    local p = assert(load(child("c.yaml", [[
extends: base.yaml
resources:
  memory_limit_bytes: ~
  rlimits: null
filesystem:
  working_dir: ~
network:
  isolated: ~
  allow_outgoing: ~
]])))
    assert.is_nil(p.resources.memory_limit_bytes)
    assert.equal(64, p.resources.pids_limit)
    assert.same({}, p.resources.rlimits)
    assert.is_nil(p.filesystem.working_dir)
    assert.is_true(p.network.isolated)
    assert.same({}, p.network.allow_outgoing)
  end)

  it("reports removing what is not inherited, and bad directives", function()
    local f = child("c.yaml", [[
extends: base.yaml
syscalls:
  deny: { remove: [reboot] }
  allow: { replace: [read], prepend: [write] }
network:
  allow_outgoing: { remove: "443" }
]])
    local p, err = load(f)
    assert.is_nil(p)
    assert.equal(table.concat({
      f .. ":4: syscalls.allow.prepend: unknown key (a list, or a mapping with replace, append and remove lists)",
      f .. ":6: network.allow_outgoing.remove: expected a list, got \"443\"",
    }, "\n"), err)
    f = child("d.yaml", "extends: base.yaml\nsyscalls:\n  deny: { remove: [reboot] }\n")
    p, err = load(f)
    assert.is_nil(p)
    assert.equal(f .. ":3: syscalls.deny.remove[1]: \"reboot\" is not in the inherited list", err)
  end)

  it("extends a profile by name from the search path", function()
    local p = assert(load(child("c.lua", [[
return { extends = "ai-strict", resources = { pids_limit = 5 } }
]])))
    local strict = assert(load("ai-strict"))
    assert.equal(5, p.resources.pids_limit)
    assert.same(strict.filesystem, p.filesystem)
    assert.equal("c", p.name)
  end)

  it("finds profiles in $XDG_CONFIG_HOME/purple/profiles", function()
    local xdg = H.tmpdir()
    os.execute("mkdir -p " .. H.q(xdg .. "/purple/profiles"))
    H.write(xdg .. "/purple/profiles/mine.yaml", "name: mine\ndescription: from xdg\n")
    local out, err, code = H.sh("XDG_CONFIG_HOME=" .. H.q(xdg) .. " " .. H.purple .. " profile show mine")
    assert.equal(0, code, err)
    assert.truthy(out:find('description: "from xdg"', 1, true))
  end)

  it("reports a missing base and cycles, with the chain", function()
    local f = child("c.yaml", "extends: nothere.yaml\n")
    local p, err = load(f)
    assert.is_nil(p)
    assert.equal(("%s: extends: profile %s/nothere.yaml: no such file"):format(f, dir), err)
    child("x.yaml", "extends: y.yaml\n")
    child("y.yaml", "extends: x.yaml\n")
    p, err = load(dir .. "/x.yaml")
    assert.is_nil(p)
    local x, y = dir .. "/x.yaml", dir .. "/y.yaml"
    assert.equal(("%s: extends: %s: extends: %s: extends itself (%s -> %s -> %s)"):format(x, y, x, x, y, x), err)
    local _, serr, code = H.sh(H.purple .. " run --profile " .. H.q(x) .. " -- /bin/true")
    assert.equal(125, code)
    assert.equal("purple: " .. err .. "\n", serr)
  end)

  it("reports errors of the base with the base's file and line", function()
    child("bad.yaml", "name: bad\nresources:\n  pids_limt: 3\n")
    local f = child("c.yaml", "extends: bad.yaml\n")
    local p, err = load(f)
    assert.is_nil(p)
    assert.equal(("%s: extends: %s/bad.yaml:3: resources.pids_limt: unknown key"):format(f, dir), err)
  end)

  describe("Lua profiles", function()
    it("load YAML relative to themselves and adjust it", function()
      local p = assert(load(child("adj.lua", [[
local p = purple.yaml "base.yaml"
p.resources.pids_limit = 50
p.name = "adjusted"
return p
]])))
      assert.equal("adjusted", p.name)
      assert.equal(50, p.resources.pids_limit)
      assert.equal(1024 ^ 3, p.resources.memory_limit_bytes)
    end)

    it("compose with purple.extend and purple.null", function()
      local p = assert(load(child("ext.lua", [[
return purple.extend("base.yaml", {
  name = "ext",
  resources = { memory_limit_bytes = purple.null, pids_limit = 7 },
  syscalls = { deny = { remove = { "mount" } } },
})
]])))
      assert.equal("ext", p.name)
      assert.is_nil(p.resources.memory_limit_bytes)
      assert.equal(7, p.resources.pids_limit)
      assert.same({ "bpf" }, p.syscalls.deny)
    end)

    it("branch on the agent, argv, environment, host and time", function()
      local f = child("agent.lua", [[
local ctx = ...
local p = { name = "agent", resources = {}, environment = { set = {} } }
if ctx.agent == "browser" then p.network = { isolated = false, allow_outgoing = { "443" } } end
p.environment.set.ARGC = tostring(#ctx.argv)
p.environment.set.FROM_ENV = ctx.env.SPEC_MARK or "none"
p.environment.set.HOST = ctx.hostname
p.resources.pids_limit = ctx.cpus * 10
if ctx.date.hour < 6 then p.hostname = "night-shift" end
return p
]])
      local p = assert(load(f, { argv = { "/usr/bin/browser", "x" }, env = { SPEC_MARK = "m" } }))
      assert.is_false(p.network.isolated)
      assert.same({ "443" }, p.network.allow_outgoing)
      assert.equal("2", p.environment.set.ARGC)
      assert.equal("m", p.environment.set.FROM_ENV)
      assert.equal(H.read("/proc/sys/kernel/hostname"):gsub("\n", ""), p.environment.set.HOST)
      -- and the time: ctx.date follows ctx.time
      p = assert(load(f, { argv = {}, time = os.time({ year = 2030, month = 1, day = 2, hour = 3 }) }))
      assert.equal("night-shift", p.hostname)
      p = assert(load(f, { argv = {}, time = os.time({ year = 2030, month = 1, day = 2, hour = 15 }) }))
      assert.equal("purple", p.hostname)
      p = assert(load(f, { argv = { "python3" }, agent = "coder" }))
      assert.is_true(p.network.isolated)
      -- through the CLI: the agent is $PURPLE_AGENT, else the command's basename
      local out, err, code = H.sh("PURPLE_AGENT=browser " .. H.purple .. " profile show " .. H.q(f))
      assert.equal(0, code, err)
      assert.truthy(out:find('allow_outgoing:\n    - "443"', 1, true))
    end)

    it("report script errors as file:line, and a non-table result", function()
      local f = child("boom.lua", "local x = nil\nreturn x.y\n")
      local p, err = load(f)
      assert.is_nil(p)
      assert.equal(f .. ":2: attempt to index a nil value (local 'x')", err)
      f = child("num.lua", "return 42\n")
      p, err = load(f)
      assert.is_nil(p)
      assert.equal(f .. ": a profile must return a policy table, got number", err)
      f = child("syn.lua", "return {\n")
      p, err = load(f)
      assert.is_nil(p)
      assert.equal(f .. ":2: unexpected symbol near <eof>", err)
    end)

    it("purple.yaml raises with every error of the file", function()
      child("broken.yaml", "name: b\nhostname: -bad-\ncapabilities:\n  add: [CAP_NOPE]\n")
      local f = child("use.lua", "return purple.yaml 'broken.yaml'\n")
      local p, err = load(f)
      assert.is_nil(p)
      assert.equal(table.concat({
        dir .. "/broken.yaml:2: hostname: \"-bad-\" is not a valid host name (letters, digits, - and . only)",
        dir .. "/broken.yaml:4: capabilities.add[1]: unknown capability \"CAP_NOPE\"",
      }, "\n"), err)
    end)

    it("purple-lua runs a profile script that returns a policy", function()
      local f = child("run.lua", H.minimal())
      local out, err, code = H.sh(H.purple_lua .. " " .. H.q(f) .. " -- /bin/echo composed")
      assert.equal(0, code, err)
      assert.equal("composed\n", out)
      f = child("runbad.lua", "return { resources = { pids = 1 } }\n")
      out, err, code = H.sh(H.purple_lua .. " " .. H.q(f) .. " -- /bin/echo composed")
      assert.equal(125, code)
      assert.equal("", out)
      assert.equal(("purple: %s: resources.pids: unknown key\n"):format(f), err)
    end)
  end)

  describe("examples", function()
    it("per-agent.lua: browsers get HTTPS and DNS, coders no network and less memory, all scaled to the host",
      function()
        local f = H.tree .. "/examples/per-agent.lua"
        local mem = 8 * 1024 ^ 3
        local browser = assert(load(f, { argv = { "agent" }, agent = "browser", memory_bytes = mem, cpus = 4 }))
        local coder = assert(load(f, { argv = { "/usr/bin/coder" }, memory_bytes = mem, cpus = 4 }))
        local other = assert(load(f, { argv = { "other" }, memory_bytes = mem, cpus = 1 }))
        assert.is_false(browser.network.isolated)
        assert.same({ "443/tcp", "53/udp", "53/tcp" }, browser.network.allow_outgoing)
        assert.equal(mem // 8, browser.resources.memory_limit_bytes)
        assert.equal(2, browser.resources.cpu_shares)
        assert.is_true(coder.network.isolated)
        assert.equal(mem // 16, coder.resources.memory_limit_bytes)
        assert.equal("per-agent/coder", coder.name)
        assert.is_true(other.network.isolated)
        assert.equal(0.5, other.resources.cpu_shares)
        assert.equal(mem // 8, other.resources.memory_limit_bytes)
      end)

    it("embed.lua runs several commands under different policies and collects their results", function()
      local out = H.tmpdir()
      os.execute("chmod 1777 " .. H.q(out))
      local env = ("PURPLE_OUTPUT=%s LUA_PATH=%s LUA_CPATH=%s "):format(H.q(out),
        H.q(H.tree .. "/lua/?.lua;;"), H.q(H.tree .. "/lua/?.so;;"))
      local stdout, err, code = H.sh(env .. "lua5.4 " .. H.q(H.tree .. "/examples/embed.lua"))
      assert.equal(0, code, err)
      assert.truthy(stdout:find("hello from the sandbox\n", 1, true))
      for _, row in ipairs({ "hello%s+ai%-strict%s+0 ", "exit status%s+ai%-strict%s+3 ",
        "hostname%s+named%-host%s+0 ", "1 MiB /tmp is full%s+small%-tmp%s+1 ", "no such command%s+ai%-strict%s+127 " }) do
        assert.truthy(stdout:find(row), row .. " in\n" .. stdout)
      end
    end)
  end)

  it("purple.extend from the API keeps the base untouched", function()
    local base = assert(policy.normalize({ syscalls = { allow = { "read" } } }))
    local purple = require "purple"
    local p = purple.extend(base, { syscalls = { allow = { "write" } } })
    assert.same({ "read", "write" }, p.syscalls.allow)
    assert.same({ "read" }, base.syscalls.allow)
    local ok, err = pcall(purple.extend, base, { extends = "ai-strict" })
    assert.is_false(ok)
    assert.equal("extends: the overrides of purple.extend cannot extend another profile; extend the base instead",
      tostring(err))
  end)

  it("purple.policy and purple.exec load the profile a policy table extends; the validator alone does not", function()
    local purple = require "purple"
    local d = H.tmpdir()
    local doc = { extends = "ai-strict", name = "x",
      filesystem = { output_paths = { replace = { { host_path = d .. "/out", sandbox_path = "/output" } } } } }
    local p = assert(purple.policy(doc))
    assert.equal("/usr", p.filesystem.immutable_paths[1].host_path)
    local r = purple.exec(doc, { "/usr/bin/true" })
    assert.equal(0, r.status, r.error)
    -- the validator (purple.policy the module) does not reach up to purple.profiles for it
    local _, err = policy.normalize(doc)
    assert.equal("extends: a policy table that extends a profile must be loaded through purple.policy or "
      .. "purple.profile, which load the profile it names", err)
  end)
end)
