-- The policy model: units, defaults, every validation message, and property tests over generated
-- documents (never a crash: a valid policy or clear errors; a broken policy never runs).
local H = require "spec_helper"
local policy = require "purple.policy"
local units = require "purple.units"
local schema = require "purple.schema"
local show = require "purple.cli.show"
local yaml = require "purple.yaml"

local function errors(doc)
  local p, err = policy.normalize(doc)
  assert.is_nil(p, "expected errors")
  return err
end

describe("units", function()
  it("parses sizes as bytes with binary multipliers", function()
    local cases = { { "2G", 2 * 1024 ^ 3 }, { "512M", 512 * 1024 ^ 2 }, { "100K", 102400 }, { 4096, 4096 },
      { "2GB", 2 * 1024 ^ 3 }, { "2GiB", 2 * 1024 ^ 3 }, { "1.5M", 1572864 }, { "7", 7 }, { "1 T", 1024 ^ 4 },
      { "64k", 65536 }, { 8192.0, 8192 } }
    for _, c in ipairs(cases) do assert.equal(c[2], units.size(c[1]), tostring(c[1])) end
    for _, bad in ipairs({ "2X", "G", "-1", "1e3", "2 G B", "", "0x10", true }) do
      assert.is_nil(units.size(bad), tostring(bad))
    end
    assert.equal("bad size \"99999999T\": too large", select(2, units.size("99999999T")))
  end)

  it("parses rates as bytes per second", function()
    local cases = { { "100MBps", 100 * 1024 ^ 2 }, { "10KB/s", 10240 }, { "1G/s", 1024 ^ 3 }, { 5000, 5000 },
      { "100MiBps", 100 * 1024 ^ 2 } }
    for _, c in ipairs(cases) do assert.equal(c[2], units.rate(c[1]), tostring(c[1])) end
    assert.equal("bad rate \"100Mbps\": bits per second are not accepted; give bytes per second with a capital B "
      .. "(\"100MBps\")", select(2, units.rate("100Mbps")))
    assert.equal("bad rate \"100M\": expected bytes per second like \"100MBps\", \"10KB/s\" or a number",
      select(2, units.rate("100M")))
  end)

  it("parses ports, ranges and protocols", function()
    assert.same({ from = 443, to = 443, proto = "any" }, units.parse_port("443"))
    assert.same({ from = 53, to = 53, proto = "udp" }, units.parse_port("53/udp"))
    assert.same({ from = 8000, to = 8100, proto = "tcp" }, units.parse_port("8000-8100/tcp"))
    assert.same({ from = 22, to = 22, proto = "any" }, units.parse_port(22))
    assert.same({ from = 1, to = 65535, proto = "tcp" }, units.parse_port("1-65535/TCP"))
    assert.equal("8000-8100/tcp", units.port_string(units.parse_port(" 8000 - 8100 / tcp ")))
    local bad = {
      { "0", "bad port \"0\": ports are 1-65535" },
      { "65536", "bad port \"65536\": ports are 1-65535" },
      { 70000, "bad port \"70000\": ports are 1-65535" },
      { "100-50", "bad port \"100-50\": range start is above its end" },
      { "443/icmp", "bad port \"443/icmp\": protocol must be tcp, udp or any" },
      { "https", "bad port \"https\": expected a port like \"443\", \"53/udp\" or \"8000-8100/tcp\"" },
      { 4.5, "expected a port like \"443\", \"53/udp\" or \"8000-8100/tcp\"" },
    }
    for _, c in ipairs(bad) do
      local p, why = units.parse_port(c[1])
      assert.is_nil(p)
      assert.equal(c[2], why)
    end
  end)
end)

describe("policy defaults", function()
  it("fills every section of an empty document", function()
    local d = policy.defaults()
    assert.equal("unnamed", d.name)
    assert.equal("", d.description)
    assert.equal("purple", d.hostname)
    assert.same({ immutable_paths = {}, scratch_paths = {}, output_paths = {} }, d.filesystem)
    assert.is_false(d.syscalls.default_deny)
    assert.same({}, d.syscalls.allow)
    assert.same({}, d.syscalls.deny)
    assert.same({ grace_seconds = 2, rlimits = {}, allow_unenforced = false }, d.resources)
    assert.same({ default_drop = true, add = {} }, d.capabilities)
    assert.same({ isolated = true, allow_outgoing = {}, allow_incoming = {}, allow_domains = {}, allow_ports = {},
      allow_internal = {} }, d.network)
    assert.same({ enabled = false, detail_level = {} }, d.audit)
    assert.same({ keep = {}, set = {} }, d.environment)
    assert.same({ uid = 65534, gid = 65534 }, d.user)
    -- and every schema default is there, including fields other parts add
    local function walk(node, v, path)
      for _, f in ipairs(node.fields) do
        local typ = f[2]
        if type(typ) == "table" and typ.kind == "map" then
          assert.is_table(v[f[1]], path .. f[1])
          walk(typ, v[f[1]], path .. f[1] .. ".")
        elseif type(typ) == "table" and (typ.kind == "list" or typ.kind == "dict") then
          assert.same({}, v[f[1]], path .. f[1])
        else
          assert.equal(f.default, v[f[1]], path .. f[1])
        end
      end
    end
    walk(schema.root, d, "")
  end)

  it("normalises entries: scratch strings, sandbox_path defaults, canonical names and paths", function()
    local p = assert(policy.normalize({
      filesystem = {
        scratch_paths = { "/tmp/", { path = "/run//x", size = "1M", mode = "0700" } },
        immutable_paths = { { host_path = "/opt" } },
        output_paths = { { host_path = "/var/out", sandbox_path = "/out/" } },
      },
      capabilities = { add = { "net_raw", "cap_chown", "CAP_KILL" } },
      network = { isolated = false, allow_outgoing = { 443, "53/UDP", "1-2/any" } },
      syscalls = { deny = { "unmount", "umount" } },
      environment = { set = { N = 5 } },
      resources = { cpu_shares = 1, pids_limit = 10.0 },
    }))
    assert.same({ { path = "/tmp", size = 256 * 1024 * 1024 }, { path = "/run/x", size = 1024 * 1024, mode = 448 } },
      p.filesystem.scratch_paths)
    assert.same({ { host_path = "/opt", sandbox_path = "/opt", optional = false } }, p.filesystem.immutable_paths)
    assert.same({ { host_path = "/var/out", sandbox_path = "/out" } }, p.filesystem.output_paths)
    assert.same({ "CAP_NET_RAW", "CAP_CHOWN", "CAP_KILL" }, p.capabilities.add)
    assert.same({ "443", "53/udp", "1-2" }, p.network.allow_outgoing)
    assert.same({ "umount2", "umount2" }, p.syscalls.deny)
    assert.equal("5", p.environment.set.N)
    assert.equal(10, p.resources.pids_limit)
    assert.equal("integer", math.type(p.resources.pids_limit))
  end)

  it("accepts the @groups of purple.syscalls", function()
    local name = next(require("purple.syscalls").groups)
    if not name then pending("lua/purple/syscalls.lua defines no groups yet") return end
    local p = assert(policy.normalize({ syscalls = { deny = { "@" .. name } } }))
    assert.same({ "@" .. name }, p.syscalls.deny)
  end)

  it("is idempotent: a normalised policy normalises to itself", function()
    local p = assert(policy.normalize(dofile(H.tree .. "/profiles/ai-strict.lua")))
    assert.same(p, assert(policy.normalize(p)))
  end)
end)

describe("validation messages", function()
  local cases = {
    { { nmae = "x" }, "nmae: unknown key" },
    { { resources = { memroy_limit_bytes = 1 } }, "resources.memroy_limit_bytes: unknown key" },
    { { resources = { rlimits = { files = 1 } } }, "resources.rlimits.files: unknown key" },
    { { name = 5 }, "name: expected a string, got 5" },
    { { network = { isolated = "no" } }, "network.isolated: expected true or false, got \"no\"" },
    { { resources = 5 }, "resources: expected a mapping, got 5" },
    { { resources = { "a" } }, "resources: expected a mapping, got a list" },
    { { syscalls = { allow = "read" } }, "syscalls.allow: expected a list, got \"read\"" },
    { { resources = { memory_limit_bytes = "2X" } },
      "resources.memory_limit_bytes: bad size \"2X\": expected a number with K, M, G or T (\"2G\", \"512M\", "
        .. "\"100K\") or bytes" },
    { { resources = { memory_limit_bytes = 1000 } }, "resources.memory_limit_bytes: 1000 is below the minimum of 1048576" },
    { { resources = { memory_limit_bytes = -5 } }, "resources.memory_limit_bytes: must not be negative" },
    { { resources = { block_io_limit = "100Mbps" } },
      "resources.block_io_limit: bad rate \"100Mbps\": bits per second are not accepted; give bytes per second "
        .. "with a capital B (\"100MBps\")" },
    { { resources = { cpu_shares = 0 } },
      "resources.cpu_shares: 0 is out of range: cpu_shares is a fraction of one CPU from 0.01 to 256 "
        .. "(0.5 = half a CPU), not cgroup v1 shares" },
    { { resources = { cpu_shares = 1024 } },
      "resources.cpu_shares: 1024 is out of range: cpu_shares is a fraction of one CPU from 0.01 to 256 "
        .. "(0.5 = half a CPU), not cgroup v1 shares" },
    { { resources = { cpu_shares = "half" } },
      "resources.cpu_shares: expected a fraction of one CPU (0.5 = half a CPU, 2 = two CPUs), got \"half\"" },
    { { resources = { pids_limit = 1.5 } }, "resources.pids_limit: expected a whole number of at least 1, got 1.5" },
    { { resources = { session_timeout_seconds = 0 } },
      "resources.session_timeout_seconds: expected a number of seconds above 0, got 0" },
    { { resources = { grace_seconds = -1 } }, "resources.grace_seconds: expected a number of seconds (0 or more), got -1" },
    { { resources = { rlimits = { nofile = -1 } } },
      "resources.rlimits.nofile: expected a whole number of at least 0, got -1" },
    { { network = { isolated = false, allow_incoming = { "0" } } },
      "network.allow_incoming[1]: bad port \"0\": ports are 1-65535" },
    { { filesystem = { working_dir = "tmp" } }, "filesystem.working_dir: \"tmp\" is not an absolute path (start it with /)" },
    { { filesystem = { working_dir = "/a/../b" } },
      "filesystem.working_dir: \"/a/../b\": . and .. are not allowed in paths; write the path out" },
    { { filesystem = { working_dir = false } }, "filesystem.working_dir: expected an absolute path, got false" },
    { { filesystem = { immutable_paths = { { sandbox_path = "/x" } } } },
      "filesystem.immutable_paths[1].host_path: required" },
    { { filesystem = { immutable_paths = { { host_path = "/x", readonly = true } } } },
      "filesystem.immutable_paths[1].readonly: unknown key" },
    { { filesystem = { scratch_paths = { { path = "/t", mode = "999" } } } },
      "filesystem.scratch_paths[1].mode: expected a file mode like \"1777\" (octal text) or a number up to 4095, "
        .. "got \"999\"" },
    { { filesystem = { scratch_paths = { { path = "/t", size = 0 } } } },
      "filesystem.scratch_paths[1].size: 0 is below the minimum of 4096" },
    { { filesystem = { scratch_paths = { 5 } } }, "filesystem.scratch_paths[1]: expected a mapping, got 5" },
    { { syscalls = { allow = { "nosuchcall" } } }, "syscalls.allow[1]: unknown syscall \"nosuchcall\" on this architecture" },
    { { syscalls = { deny = { "@nosuchgroup" } } }, "syscalls.deny[1]: unknown syscall group \"@nosuchgroup\" (see purple syscalls)" },
    { { syscalls = { allow = { "read" }, deny = { "read" } } },
      "syscalls.deny[1]: read is also in syscalls.allow; keep it in one list" },
    { { capabilities = { add = { "CAP_FLY" } } }, "capabilities.add[1]: unknown capability \"CAP_FLY\"" },
    { { capabilities = { default_drop = 1 } }, "capabilities.default_drop: expected true or false, got 1" },
    { { network = { allow_outgoing = { "443" } } },
      "network.allow_outgoing: has no effect while network.isolated is true; set isolated: false or remove the list" },
    { { hostname = "bad_host" }, "hostname: \"bad_host\" is not a valid host name (letters, digits, - and . only)" },
    { { hostname = ("a"):rep(65) }, "hostname: expected a host name of 1 to 64 characters, got \"" .. ("a"):rep(65) .. "\"" },
    { { environment = { set = { ["1X"] = "a" } } }, "environment.set.1X: bad variable name \"1X\": letters, digits and _ only" },
    { { environment = { set = { X = true } } }, "environment.set.X: expected a string, got true" },
    { { environment = { keep = { "A B" } } },
      "environment.keep[1]: bad variable name or pattern \"A B\": letters, digits, _ and * only" },
    { { user = { uid = 0 } },
      "user.uid: 0 would run the command as the host's root; use an unprivileged id (default 65534)" },
    { { user = { gid = "staff" } }, "user.gid: expected a numeric id, got \"staff\"" },
    { { audit = { detail_level = { "everything" } } },
      "audit.detail_level[1]: \"everything\" is not one of syscall, filesystem, resource, network" },
    { { audit = { log_path = "audit.log" } }, "audit.log_path: \"audit.log\" is not an absolute path (start it with /)" },
    { { extends = 5 }, "extends: expected a profile name or path, got 5" },
    { { filesystem = { output_paths = { { host_path = "/o", sandbox_path = policy.NULL } } } },
      "filesystem.output_paths[1].sandbox_path: null is not allowed in a list entry" },
    { { syscalls = { allow = { keep = { "read" } } } },
      "syscalls.allow.keep: unknown key (a list, or a mapping with replace, append and remove lists)" },
    { { syscalls = { allow = { 5 } } }, "syscalls.allow[1]: expected a syscall name, got 5" },
    { { capabilities = { add = { 5 } } },
      "capabilities.add[1]: expected a capability name like \"CAP_NET_BIND_SERVICE\", got 5" },
    { { filesystem = { working_dir = "/a\0b" } }, "filesystem.working_dir: a path must not contain a NUL byte" },
    { { environment = { set = { A = "x\0y" } } }, "environment.set.A: a value must not contain a NUL byte" },
    { { resources = { memory_limit_bytes = true } },
      "resources.memory_limit_bytes: expected a size like \"2G\", \"512M\", \"100K\" or a number of bytes" },
    { { resources = { memory_limit_bytes = 1.5 } },
      "resources.memory_limit_bytes: expected a whole number of bytes or a size like \"512M\"" },
    { { resources = { block_io_limit = true } },
      "resources.block_io_limit: expected a rate like \"100MBps\" or a number of bytes per second" },
    { { resources = { block_io_limit = "99999999TBps" } }, "resources.block_io_limit: bad rate \"99999999TBps\": too large" },
    { { resources = { block_io_limit = 0 } }, "resources.block_io_limit: 0 is below the minimum of 1" },
    { { [1] = "x" }, "expected a mapping, got a list" },
    { { [true] = "x" }, "key true: keys must be names" },
  }
  for _, c in ipairs(cases) do
    it(c[2], function() assert.equal(c[2], errors(c[1])) end)
  end

  it("reports every error at once, one per line", function()
    local doc = {}
    local expected = {}
    for _, c in ipairs(cases) do
      -- one error per distinct top-level key keeps the merged document meaningful
      if c[1].resources and not doc.resources and type(c[1].resources) == "table" then
        doc.resources = c[1].resources
        expected[#expected + 1] = c[2]
      end
    end
    doc.nmae = 1
    doc.hostname = "bad_host"
    local err = errors(doc)
    local n = select(2, err:gsub("\n", "")) + 1
    assert.equal(3, n)
  end)

  it("a policy that is not a table", function()
    local p, err = policy.normalize("ai-strict")
    assert.is_nil(p)
    assert.equal("a policy must be a table (mapping of sections), got \"ai-strict\"", err)
  end)
end)

describe("purple run with an invalid policy", function()
  after_each(H.cleanup)

  -- A profile writing a marker to the host through an output path; `broken` adds an error.
  local function profile(out, broken)
    return H.profile(([[
return {
  name = "spec-marker",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
    scratch_paths = { "/tmp" },
    output_paths = { { host_path = %q, sandbox_path = "/output" } },
    working_dir = "/tmp",
  },
  %s
}]]):format(out, broken or ""))
  end

  it("exits 125 with every error and never runs the command", function()
    local out = H.tmpdir()
    os.execute("chmod 1777 " .. H.q(out)) -- writable for the sandbox's uid 65534 when run as root
    local argv = { "/bin/sh", "-c", "echo ran > /output/ran" }
    -- control: the same profile without the error runs the command
    local _, err, code = H.run(profile(out), argv)
    assert.equal(0, code, err)
    assert.equal("ran\n", H.read(out .. "/ran"))
    os.remove(out .. "/ran")
    local f = profile(out, "resources = { pids_limt = 5, memory_limit_bytes = '1Q' }, network = { isolated = 'yes' },")
    local stdout
    stdout, err, code = H.run(f, argv)
    assert.equal(125, code)
    assert.equal("", stdout)
    assert.equal(table.concat({
      "purple: " .. f .. ": resources.memory_limit_bytes: bad size \"1Q\": expected a number with K, M, G or T "
        .. "(\"2G\", \"512M\", \"100K\") or bytes",
      "purple: " .. f .. ": resources.pids_limt: unknown key",
      "purple: " .. f .. ": network.isolated: expected true or false, got \"yes\"",
    }, "\n") .. "\n", err)
    assert.is_nil(H.read(out .. "/ran"))
  end)

  it("purple.exec checks again a policy changed in Lua after loading", function()
    local out = H.tmpdir()
    os.execute("chmod 1777 " .. H.q(out))
    local argv = { "/bin/sh", "-c", "echo ran > /output/ran" }
    local exec = require("purple").exec
    local p = assert(require("purple.profiles").load(profile(out), { argv = argv }))
    -- control: the loaded policy runs the command
    local r = exec(p, argv)
    assert.equal(0, r.status, r.error)
    assert.equal("ran\n", H.read(out .. "/ran"))
    os.remove(out .. "/ran")
    p.resources.memroy_limit_bytes = "1G"
    p.resources.pids_limit = "2"
    r = exec(p, argv)
    assert.equal(125, r.status)
    assert.equal("purple: resources.pids_limit: expected a whole number of at least 1, got \"2\"\n"
      .. "purple: resources.memroy_limit_bytes: unknown key", r.error)
    assert.is_false(r.started)
    assert.is_nil(H.read(out .. "/ran"))
  end)
end)

---------------------------------------------------------------------------------------------------
-- Property tests: documents generated from the schema, valid or with injected faults.

local VALID = {
  string = function() return ({ "a", "spec", "x y", "" })[math.random(4)] end,
  boolean = function() return math.random(2) == 1 end,
  path = function() return ({ "/usr", "/tmp/x", "/opt//y/", "/" })[math.random(4)] end,
  size = function() return ({ "2G", "512M", 1048576, "1.5G", "4M" })[math.random(5)] end,
  rate = function() return ({ "100MBps", 1048576, "10KB/s" })[math.random(3)] end,
  cpu = function() return ({ 0.5, 1, 2.25, 0.01 })[math.random(4)] end,
  count = function() return math.random(1, 1000) end,
  rlimit = function() return math.random(0, 100000) end,
  seconds = function() return ({ 0.5, 10, 3600 })[math.random(3)] end,
  seconds0 = function() return ({ 0, 2, 7.5 })[math.random(3)] end,
  id = function() return math.random(1000, 60000) end,
  mode = function() return ({ "1777", 448, "0755" })[math.random(3)] end,
  port = function() return ({ "443", "53/udp", "8000-8100/tcp", 22 })[math.random(4)] end,
  syscall = function() return ({ "read", "write", "openat", "unmount" })[math.random(4)] end,
  capability = function() return ({ "CAP_NET_BIND_SERVICE", "cap_chown", "NET_RAW" })[math.random(3)] end,
  hostname = function() return ({ "host-1", "a.b", "purple" })[math.random(3)] end,
  env_name = function() return ({ "VAR_1", "A", "_X" })[math.random(3)] end,
  env_pattern = function() return ({ "LC_*", "HOME", "*" })[math.random(3)] end,
  env_value = function() return ({ "v", 3, "" })[math.random(3)] end,
  domain = function() return ({ "pypi.org", "*.github.com", "A.test" })[math.random(3)] end,
  tcp_port = function() return ({ 443, "80", 8080 })[math.random(3)] end,
  cidr = function() return ({ "10.0.0.0/8", "fd00::/8", "127.0.0.1" })[math.random(3)] end,
}
local INVALID = {
  path = "relative", size = "2X", rate = "100Mbps", cpu = 1000, count = 0, rlimit = -1, seconds = 0,
  seconds0 = -1, id = 0, mode = "9", port = "70000", syscall = "nosuchcall", capability = "CAP_X1",
  hostname = "-x", env_name = "1A", env_pattern = "A B", env_value = true, string = 7, boolean = "yes",
  domain = "a..test", tcp_port = 0, cidr = "10.0.0.0/33",
}

-- gen(node) -> value, faults (number of injected errors)
local gen
local function gen_list(typ, depth)
  local r, faults = {}, 0
  for i = 1, math.random(0, 3) do
    local v, f = gen(typ.item, depth + 1, true)
    r[i] = v
    faults = faults + f
  end
  return r, faults
end

function gen(typ, depth, entry)
  local fault = math.random(20) == 1
  if type(typ) == "string" then
    if fault then return INVALID[typ], 1 end
    return VALID[typ](), 0
  end
  if fault then
    -- the wrong shape, or an unknown key
    if typ.kind == "map" and math.random(2) == 1 then
      local v, n = gen(typ, depth, entry)
      if type(v) ~= "table" then return v, n end
      v.no_such_key = 1
      return v, n + 1
    end
    return 42, 1
  end
  if typ.kind == "enum" then return typ.values[math.random(#typ.values)], 0 end
  if typ.kind == "list" then return gen_list(typ, depth) end
  if typ.kind == "dict" then
    local r = {}
    for _ = 1, math.random(0, 2) do r[VALID[typ.key]()] = VALID[typ.value]() end
    return r, 0
  end
  local r, faults = {}, 0
  for _, f in ipairs(typ.fields) do
    if (entry and f.required) or math.random(2) == 1 then
      local v, n = gen(f[2], depth + 1)
      r[f[1]] = v
      faults = faults + n
    end
  end
  return r, faults
end

-- Cross-field rules (network allow lists need isolated = false; allow/deny disjoint): make the
-- generated document respect them so a fault-free document is valid.
local function respect_cross_rules(doc)
  if type(doc) ~= "table" then return end
  local n = doc.network
  if type(n) == "table" and (n.allow_domains or n.allow_ports or n.allow_internal) then
    -- egress by name: isolated, and allow_ports/allow_internal only beside allow_domains
    n.isolated, n.allow_outgoing, n.allow_incoming = true, nil, nil
    if type(n.allow_domains) ~= "table" or #n.allow_domains == 0 then n.allow_domains = { "a.test" } end
  elseif type(n) == "table" and (n.allow_outgoing or n.allow_incoming) then
    n.isolated = false
  end
  if type(doc.syscalls) == "table" and type(doc.syscalls.deny) == "table" then
    for i = 1, #doc.syscalls.deny do doc.syscalls.deny[i] = ({ "bpf", "mount", "reboot" })[math.random(3)] end
  end
end

-- Lua source for a generated document (any keys and values the generator makes).
local function serialize(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = "[" .. serialize(k) .. "] = " .. serialize(x) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

describe("property: generated documents", function()
  after_each(H.cleanup)
  local SEED = tonumber(os.getenv("PURPLE_SPEC_SEED") or "") or 20261128

  it("always give a valid policy or clear errors, never a crash (seed " .. SEED .. ")", function()
    math.randomseed(SEED)
    local valid, invalid = 0, 0
    for i = 1, 400 do
      local doc, faults = gen(schema.root, 0)
      respect_cross_rules(doc)
      local ok, p, err = pcall(policy.normalize, doc)
      assert.is_true(ok, ("document %d raised: %s"):format(i, tostring(p)))
      if faults == 0 then
        assert.is_table(p, ("document %d has no fault but: %s"):format(i, tostring(err)))
      elseif p == nil then
        for line in err:gmatch("[^\n]+") do
          assert.truthy(line:match("^[%w_.%[%]]+: %S") or line:match("^a policy must be a table"),
            ("document %d: unclear error line %q"):format(i, line))
        end
      end
      if p then
        valid = valid + 1
        -- show -> YAML -> policy is the identity, and so is normalise again
        local text = show.yaml(p)
        local doc2, lines = yaml.decode(text, "gen.yaml", policy.NULL)
        assert.is_table(doc2, lines)
        local p2 = assert(policy.normalize(doc2))
        assert.same(p, p2)
        assert.same(p, assert(policy.normalize(p)))
      else
        invalid = invalid + 1
      end
    end
    assert.is_true(valid > 50 and invalid > 50, ("valid %d, invalid %d"):format(valid, invalid))
  end)

  it("mutated YAML text never crashes the loader (seed " .. SEED .. ")", function()
    math.randomseed(SEED)
    local base = H.read(H.tree .. "/spec/fixtures/custom-profile.yaml")
    local noise = { ":", "-", "[", "]", "{", "}", "\"", "'", " ", "\n", "\t", "#", "&", "*", "!", "|", ">", "%",
      "@", "`", "~", "?", ",", "x", "9" }
    local parsed, rejected = 0, 0
    for i = 1, 300 do
      local t = base
      for _ = 1, math.random(1, 2) do
        local pos = math.random(1, #t)
        local op = math.random(3)
        if op == 1 then t = t:sub(1, pos - 1) .. t:sub(pos + 1)
        elseif op == 2 then t = t:sub(1, pos - 1) .. noise[math.random(#noise)] .. t:sub(pos)
        else t = t:sub(1, pos - 1) .. t:sub(pos, pos + 20) .. t:sub(pos) end
      end
      local ok, doc, lines = pcall(yaml.decode, t, "m.yaml", policy.NULL)
      assert.is_true(ok, ("mutation %d raised: %s"):format(i, tostring(doc)))
      local p, err
      if doc then
        ok, p, err = pcall(policy.normalize, doc, { source = "m.yaml", lines = lines })
        assert.is_true(ok, ("mutation %d raised: %s"):format(i, tostring(p)))
      else
        err = lines
      end
      if p then parsed = parsed + 1 else
        rejected = rejected + 1
        for line in err:gmatch("[^\n]+") do
          assert.truthy(line:match("^m%.yaml[:%d]*: %S"), ("mutation %d: unclear error line %q"):format(i, line))
        end
      end
    end
    assert.is_true(parsed > 5 and rejected > 10, ("parsed %d, rejected %d"):format(parsed, rejected))
  end)

  it("a generated broken policy never runs the command", function()
    math.randomseed(SEED)
    local out = H.tmpdir()
    os.execute("chmod 1777 " .. H.q(out))
    local tried = 0
    while tried < 6 do
      local doc, faults = gen(schema.root, 0)
      if faults > 0 and type(doc) == "table" then
        doc.filesystem = { immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
          output_paths = { { host_path = out, sandbox_path = "/output" } }, scratch_paths = { "/tmp" },
          working_dir = "/tmp" }
        doc.extends = nil
        if not policy.normalize(doc) then
          tried = tried + 1
          local f = H.tmpdir() .. "/broken.lua"
          H.write(f, "return " .. serialize(doc))
          local _, err, code = H.run(f, { "/bin/sh", "-c", "echo ran > /output/ran" })
          assert.equal(125, code, err)
          assert.truthy(err:match("^purple: "), err)
          assert.is_nil(H.read(out .. "/ran"))
        end
      end
    end
  end)
end)
