-- Network policy: attacks from inside real sandboxes against listeners this spec starts on the
-- host's loopback (or in a network namespace it creates). See docs/network.md.
local H = require "spec_helper"
local core = require "purple.core"

local PROBE = "/probe/net_probe"
local SERVER = H.tree .. "/spec/helpers/net_server.py"
local root = H.is_root()

-- Starts net_server.py with the given specs; returns { ports = {...}, log = path, pid = n }.
local servers = {}
local function serve(specs, wrap)
  local d = H.tmpdir()
  local s = { portfile = d .. "/ports", log = d .. "/log", pidfile = d .. "/pid" }
  local words = { "python3", H.q(SERVER), H.q(s.portfile), H.q(s.log) }
  for _, sp in ipairs(specs) do words[#words + 1] = H.q(sp) end
  os.execute(table.concat(words, " ") .. " >/dev/null 2>&1 & echo $! >" .. H.q(s.pidfile))
  for _ = 1, 200 do
    if H.read(s.portfile) then break end
    os.execute("sleep 0.025")
  end
  s.pid = tonumber(H.read(s.pidfile))
  local text = assert(H.read(s.portfile), "net_server did not start")
  s.ports = {}
  for kind, port in text:gmatch("(%S+) (%S+)\n") do
    s.ports[#s.ports + 1] = tonumber(port) or port
  end
  servers[#servers + 1] = s
  return s
end

local function stop_servers()
  for _, s in ipairs(servers) do
    if s.pid then os.execute("kill " .. s.pid .. " 2>/dev/null") end
  end
  servers = {}
end

-- What the host side saw: a list of lines "tcp PORT", "udp PORT DATA", "abstract NAME".
local function seen(s)
  local t = {}
  for line in (H.read(s.log) or ""):gmatch("[^\n]+") do t[#t + 1] = line end
  return t
end

local function count(s, prefix)
  local n = 0
  for _, l in ipairs(seen(s)) do
    if l:sub(1, #prefix) == prefix then n = n + 1 end
  end
  return n
end

-- A policy with the probe mounted at /probe and the given network section (Lua source).
local function net_profile(network)
  return H.profile(([[
return {
  name = "spec-network",
  filesystem = {
    immutable_paths = {
      { host_path = "/usr", sandbox_path = "/usr" },
      { host_path = %q, sandbox_path = "/probe" },
    },
    scratch_paths = { "/tmp" },
    working_dir = "/tmp",
  },
  network = %s,
}]]):format(H.helpers, network))
end

local function probe(profile, ...)
  local out, err, code = H.run(profile, { PROBE, ... })
  return out:gsub("\n$", ""), err, code
end

local function ports_list(t)
  local q = {}
  for _, p in ipairs(t) do q[#q + 1] = ("%q"):format(p) end
  return "{ " .. table.concat(q, ", ") .. " }"
end

describe("network isolated = true", function()
  local srv, profile
  setup(function()
    srv = serve({ "tcp:127.0.0.1:0", "tcp:::1:0", "udp:127.0.0.1:0", "abstract:purple-spec-" .. core.random_hex(6) })
    profile = net_profile("{ isolated = true }")
  end)
  teardown(function() stop_servers() H.cleanup() end)

  it("cannot reach the host's loopback listeners on 127.0.0.1 or ::1", function()
    local out, _, code = probe(profile, "connect", "tcp", "127.0.0.1", tostring(srv.ports[1]))
    assert.are.equal("ECONNREFUSED", out)
    assert.are.equal(1, code)
    out = probe(profile, "connect", "tcp", "::1", tostring(srv.ports[2]))
    assert.are.equal("ECONNREFUSED", out)
    out = probe(profile, "sendto", "127.0.0.1", tostring(srv.ports[3]))
    assert.are.equal("ok", out) -- sent into the sandbox's own loopback, where nothing listens
    assert.are.same({}, seen(srv))
  end)

  it("cannot reach a host abstract unix socket", function()
    local out = probe(profile, "abstract", srv.ports[4])
    assert.are.equal("ECONNREFUSED", out)
    assert.are.same({}, seen(srv))
  end)

  it("has loopback only, up, and no /sys", function()
    local out, err, code = H.run(profile, { "/usr/bin/cat", "/proc/net/dev" })
    assert.are.equal(0, code, err)
    local ifaces = {}
    for name in out:gmatch("\n%s*([%w%.%-_]+):") do ifaces[#ifaces + 1] = name end
    assert.are.same({ "lo" }, ifaces)
    out = probe(profile, "selfconnect", "0")
    assert.are.equal("ok", out)
    local _, _, c2 = H.run(profile, { "/usr/bin/ls", "/sys/class/net" })
    assert.are_not.equal(0, c2)
  end)
end)

describe("network isolated = false", function()
  local srv, profile
  -- ports: 1 tcp allowed, 2 tcp denied, 3 udp allowed, 4 udp denied, 5 tcp ::1 allowed, 6 tcp ::1 denied,
  -- 7 abstract
  setup(function()
    srv = serve({ "tcp:127.0.0.1:0", "tcp:127.0.0.1:0", "udp:127.0.0.1:0", "udp:127.0.0.1:0",
      "tcp:::1:0", "tcp:::1:0", "abstract:purple-spec-" .. core.random_hex(6) })
    local p = srv.ports
    profile = net_profile(([[{
      isolated = false,
      allow_outgoing = { %d, "%d/udp", "%d/tcp" },
      allow_incoming = { "%d-%d/tcp", "%d/udp" },
    }]]):format(p[1], p[3], p[5], 45100, 45105, 45106))
  end)
  teardown(function() stop_servers() H.cleanup() end)

  if not root then
    it("fails closed without root (no race-free UDP filter)", function()
      local out, err, code = probe(profile, "connect", "tcp", "127.0.0.1", tostring(srv.ports[1]))
      assert.are.equal(125, code)
      assert.are.equal("", out)
      assert.are.equal("purple: network.isolated: false: UDP port filtering without root needs the seccomp "
        .. "supervisor, which this build lacks; run as root or set isolated: true\n", err)
      assert.are.same({}, seen(srv))
    end)
    return
  end

  it("connects to allowed TCP ports on 127.0.0.1 and ::1 and nowhere else", function()
    assert.are.equal("ok hello " .. srv.ports[1], (probe(profile, "connect", "tcp", "127.0.0.1", tostring(srv.ports[1]))))
    assert.are.equal("ok hello " .. srv.ports[5], (probe(profile, "connect", "tcp", "::1", tostring(srv.ports[5]))))
    assert.are.equal("EACCES", (probe(profile, "connect", "tcp", "127.0.0.1", tostring(srv.ports[2]))))
    assert.are.equal("EACCES", (probe(profile, "connect", "tcp", "::1", tostring(srv.ports[6]))))
    assert.are.equal("EACCES", (probe(profile, "connect", "tcp", "::ffff:127.0.0.1", tostring(srv.ports[2]))))
    -- a port allowed for UDP only is denied for TCP
    assert.are.equal("EACCES", (probe(profile, "connect", "tcp", "127.0.0.1", tostring(srv.ports[3]))))
    assert.are.equal(0, count(srv, "tcp " .. srv.ports[2]))
    assert.are.equal(0, count(srv, "tcp " .. srv.ports[6]))
    assert.are.equal(1, count(srv, "tcp " .. srv.ports[1]))
  end)

  it("blocks TCP fast open and MPTCP to denied ports", function()
    assert.are.equal("EPERM", (probe(profile, "fastopen", "127.0.0.1", tostring(srv.ports[2]))))
    assert.are.equal("EPERM", (probe(profile, "connect", "mptcp", "127.0.0.1", tostring(srv.ports[2]))))
    assert.are.equal(0, count(srv, "tcp " .. srv.ports[2]))
  end)

  it("sends UDP to allowed ports only; the denied receiver gets nothing", function()
    local a, d = tostring(srv.ports[3]), tostring(srv.ports[4])
    assert.are.equal("ok hello " .. a, (probe(profile, "connect", "udp", "127.0.0.1", a)))
    assert.are.equal("ok", (probe(profile, "sendto", "127.0.0.1", a)))
    assert.are.equal("EPERM", (probe(profile, "connect", "udp", "127.0.0.1", d)))
    assert.are.equal("EPERM", (probe(profile, "sendto", "127.0.0.1", d)))
    assert.are.equal("EPERM", (probe(profile, "sendmsg", "127.0.0.1", d)))
    assert.are.equal("EPERM", (probe(profile, "sendto", "::ffff:127.0.0.1", d)))
    -- a port allowed for TCP only is not open to UDP
    assert.are.equal("EPERM", (probe(profile, "sendto", "127.0.0.1", tostring(srv.ports[5]))))
    -- datagrams arrive asynchronously: a marker sent last to the allowed port orders the log
    assert.are.equal("ok", (probe(profile, "sendto", "127.0.0.1", a)))
    for _ = 1, 100 do
      if count(srv, "udp " .. a) >= 3 then break end
      os.execute("sleep 0.02")
    end
    assert.are.equal(3, count(srv, "udp " .. a))
    assert.are.equal(0, count(srv, "udp " .. d))
  end)

  it("binds and listens on allowed ports only", function()
    assert.are.equal("ok", (probe(profile, "bind", "tcp", "127.0.0.1", "45103")))
    assert.are.equal("ok", (probe(profile, "bind", "tcp", "::1", "45100")))
    assert.are.equal("EACCES", (probe(profile, "bind", "tcp", "127.0.0.1", "45106")))
    assert.are.equal("EACCES", (probe(profile, "bind", "tcp", "127.0.0.1", "0")))
    assert.are.equal("ok", (probe(profile, "bind", "udp", "127.0.0.1", "45106")))
    assert.are.equal("EPERM", (probe(profile, "bind", "udp", "127.0.0.1", "45105")))
    assert.are.equal("EPERM", (probe(profile, "bind", "udp", "::1", "45107")))
  end)

  it("accepts nothing on a port the kernel picked for listen() without bind()", function()
    local open = net_profile([[{ isolated = false, allow_outgoing = { "1024-65535/tcp" },
      allow_incoming = { "45100-45105/tcp" } }]])
    assert.are.equal("ETIMEDOUT", (probe(open, "selfconnect", "0")))
    assert.are.equal("ok", (probe(open, "selfconnect", "45104")))
  end)

  it("cannot reach a host abstract unix socket", function()
    assert.are.equal("EPERM", (probe(profile, "abstract", srv.ports[7])))
    assert.are.equal(0, count(srv, "abstract"))
  end)

  it("cannot open raw or packet sockets", function()
    assert.are.equal("EPERM", (probe(profile, "socket", "raw")))
    assert.are.equal("EPERM", (probe(profile, "socket", "packet")))
  end)

  it("never reaches a denied port while threads rewrite the address during connect", function()
    local out, err, code = probe(profile, "race", "127.0.0.1", tostring(srv.ports[1]), tostring(srv.ports[2]), "3000")
    assert.are.equal(0, code, err)
    local allowed, denied = out:match("^ok allowed=(%d+) denied=(%d+)")
    assert.are.equal("0", denied)
    assert.is_true(tonumber(allowed) > 0, out)
    assert.are.equal(0, count(srv, "tcp " .. srv.ports[2]))
  end)

  it("leaves no filter cgroup behind", function()
    local before = H.sh("ls /sys/fs/cgroup/unified/purple 2>/dev/null | grep -c '^net-'")
    local _, err, code = H.run(profile, { "/usr/bin/true" }, { global = { "-l", "debug" } })
    assert.are.equal(0, code, err)
    local dir = err:match("filter cgroup (%S+)")
    assert.is_truthy(dir, err)
    assert.is_nil(core.stat(dir))
    assert.are.equal(before, (H.sh("ls /sys/fs/cgroup/unified/purple 2>/dev/null | grep -c '^net-'")))
  end)
end)

describe("network: the guide's example (DNS 53 udp+tcp, HTTPS 443 out, nothing in)", function()
  teardown(function() H.cleanup() end)

  it("works end to end against stand-ins in a network namespace of its own", function()
    if not root then
      pending("binding ports 53 and 443 and creating the stand-in network namespace need root")
      return
    end
    local profile = net_profile([[{ isolated = false, allow_outgoing = { "443", "53" }, allow_incoming = {} }]])
    local d = H.tmpdir()
    -- The "host" is a fresh network namespace (unshare -n) with loopback up: the stand-ins bind
    -- 53 and 443 there without touching the real host; it goes away with the script.
    local script = ([[
set -e
ip link set lo up
python3 %s %s/ports %s/log tcp:127.0.0.1:53 udp:127.0.0.1:53 tcp:127.0.0.1:443 tcp:127.0.0.1:80 >/dev/null 2>&1 &
srv=$!
trap 'kill $srv' EXIT
for i in $(seq 100); do [ -e %s/ports ] && break; sleep 0.02; done
for a in "connect tcp 127.0.0.1 443" "connect tcp 127.0.0.1 53" "connect udp 127.0.0.1 53" \
         "sendto 127.0.0.1 53" "connect tcp 127.0.0.1 80" "sendto 127.0.0.1 80" "bind tcp 127.0.0.1 8080"; do
  echo "$a => $(%s run --profile %s -- %s $a </dev/null 2>&1)"
done
]]):format(H.q(SERVER), d, d, d, H.q(H.purple), H.q(profile), PROBE)
    H.write(d .. "/example.sh", script)
    local out, err, code = H.sh("unshare -n sh " .. H.q(d .. "/example.sh"))
    assert.are.equal(0, code, err)
    assert.are.equal(table.concat({
      "connect tcp 127.0.0.1 443 => ok hello 443",
      "connect tcp 127.0.0.1 53 => ok hello 53",
      "connect udp 127.0.0.1 53 => ok hello 53",
      "sendto 127.0.0.1 53 => ok",
      "connect tcp 127.0.0.1 80 => EACCES",
      "sendto 127.0.0.1 80 => EPERM",
      "bind tcp 127.0.0.1 8080 => EACCES",
    }, "\n") .. "\n", out)
    local log = H.read(d .. "/log")
    assert.is_nil(log:find("tcp 80", 1, true))
  end)
end)

describe("network policy checks", function()
  local net = require "purple.enforce.network"
  local policy = require "purple.policy"

  -- The schema already rejects bad ports when a policy is loaded; the enforcer checks again
  -- for policies built in Lua and handed to purple.exec directly.
  local function prepare(network)
    local p = policy.defaults()
    p.network = network
    local run = { policy = p, privileged = root, session = "spec", spec = { namespaces = "user" } }
    return net.prepare(run)
  end

  it("names the bad entry of a port list", function()
    local ok, err = prepare({ isolated = false, allow_outgoing = { "443", "http" } })
    assert.is_nil(ok)
    assert.are.equal('network.allow_outgoing[2]: bad port "http": expected a port like "443", "53/udp" or '
      .. '"8000-8100/tcp"', err)
    ok, err = prepare({ isolated = false, allow_incoming = { "70000" } })
    assert.is_nil(ok)
    assert.are.equal('network.allow_incoming[1]: bad port "70000": ports are 1-65535', err)
  end)

  it("adds a network namespace when isolated", function()
    local run = { policy = policy.defaults(), privileged = root, session = "spec", spec = { namespaces = "user" } }
    assert.is_true(net.prepare(run))
    assert.are.equal("user,net", run.spec.namespaces)
  end)
end)
