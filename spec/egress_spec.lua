-- Egress by domain name (network.allow_domains): real sandboxes reach local HTTP and HTTPS servers
-- on the host's loopback through purple's proxy, by test names mapped in a hosts file of the
-- spec's own (PURPLE_EGRESS_HOSTS_FILE, test-only); nothing here touches the network. See
-- docs/network.md, "Egress by domain name".
local H = require "spec_helper"

local PY = "/usr/bin/python3"
local have = {}
for _, tool in ipairs({ "openssl", "curl", "git" }) do
  have[tool] = os.execute("command -v " .. tool .. " >/dev/null 2>&1") == true
end
local _, _, pipcode = H.sh(PY .. " -m pip --version >/dev/null")
have.pip = pipcode == 0
local function needs(tool, name, fn)
  if have[tool] then return it(name, fn) end
  pending(name .. " (" .. tool .. " is not installed on this host)")
end

local D, ports, server_pid, hosts

-- Certificate for the test names, a wheel in a simple index, a bare git repository, the servers.
local function setup_servers()
  D = H.tmpdir()
  local www = D .. "/www"
  assert(os.execute(("mkdir -p %s/simple/demo-pkg %s/files %s/ca && echo hello-egress >%s/index.html")
    :format(www, www, D, www)))
  assert(os.execute(("head -c 4194304 /dev/zero >%s/big"):format(www)))
  assert(os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/ca/key.pem -out %s/ca/ca.pem "
    .. "-days 2 -subj /CN=example.test -addext 'subjectAltName=DNS:example.test,DNS:*.example.test,"
    .. "DNS:other.test,DNS:inside.test' >/dev/null 2>&1 && chmod a+r %s/ca/*.pem"):format(D, D, D)))
  -- a minimal wheel and its simple-index page (PEP 503)
  assert(os.execute(PY .. [[ -c '
import sys, zipfile
w = zipfile.ZipFile(sys.argv[1] + "/files/demo_pkg-1.0-py3-none-any.whl", "w")
w.writestr("demo_pkg/__init__.py", "")
w.writestr("demo_pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n")
w.writestr("demo_pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: spec\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
w.writestr("demo_pkg-1.0.dist-info/RECORD", "")
w.close()
open(sys.argv[1] + "/simple/demo-pkg/index.html", "w").write(
  "<a href=\"../../files/demo_pkg-1.0-py3-none-any.whl\">demo_pkg-1.0-py3-none-any.whl</a>\n")
' ]] .. H.q(www)))
  if have.git then
    assert(os.execute(("cd %s && git init -q --bare repo.git && git init -q src && cd src && echo readme >README "
      .. "&& git add README && git -c user.name=s -c user.email=s@s commit -qm one && git push -q ../repo.git HEAD:master "
      .. "&& cd ../repo.git && git symbolic-ref HEAD refs/heads/master && git update-server-info"):format(www)))
  end
  local portfile = D .. "/ports"
  os.execute(("%s %s %s %s %s %s >/dev/null 2>&1 & echo $! >%s"):format(PY, H.q(H.tree .. "/spec/helpers/egress_server.py"),
    H.q(www), H.q(D .. "/ca/ca.pem"), H.q(D .. "/ca/key.pem"), H.q(portfile), H.q(D .. "/pid")))
  for _ = 1, 400 do
    if H.read(portfile) then break end
    os.execute("sleep 0.025")
  end
  server_pid = tonumber(H.read(D .. "/pid"))
  local text = assert(H.read(portfile), "egress_server.py did not start")
  ports = {}
  for kind, port in text:gmatch("(%S+) (%d+)") do ports[kind] = tonumber(port) end
  hosts = D .. "/hosts"
  H.write(hosts, "127.0.0.1 example.test www.example.test other.test inside.test\n10.1.2.3 private.test\n"
    .. "169.254.169.254 metadata.test\nfd00:ec2::254 metadata6.test\n100.64.1.1 cgnat.test\n224.0.0.1 multicast.test\n"
    .. "::ffff:127.0.0.1 mapped.test\n")
end

-- A profile with the given network section (Lua source) and optional audit section.
local function profile(network, extra)
  return H.profile(([[
return {
  name = "spec-egress",
  filesystem = {
    immutable_paths = {
      { host_path = "/usr" },
      { host_path = %q, sandbox_path = "/ca" },
      { host_path = %q, sandbox_path = "/probe" },
    },
    scratch_paths = { "/tmp" },
    working_dir = "/tmp",
  },
  environment = { set = { PIP_DISABLE_PIP_VERSION_CHECK = "1", SSL_CERT_FILE = "/ca/ca.pem",
    GIT_SSL_CAINFO = "/ca/ca.pem" } },
  network = { %s },
  %s
}]]):format(D .. "/ca", H.tree .. "/spec/helpers", network, extra or ""))
end

local function allowed_profile(extra)
  return profile(([[allow_domains = { "example.test", "*.example.test" }, allow_ports = { %d, %d },
    allow_internal = { "127.0.0.1/32" }]]):format(ports.http, ports.https), extra)
end

local function run(prof, script, opts)
  opts = opts or {}
  local env = "PURPLE_EGRESS_HOSTS_FILE=" .. H.q(hosts) .. (opts.env and (" " .. opts.env) or "")
  return H.run(prof, { "/bin/sh", "-c", script }, { env = env, global = opts.global })
end

describe("egress by domain name", function()
  setup(function()
    if have.openssl then setup_servers() end
  end)
  teardown(function()
    if server_pid then os.execute("kill " .. server_pid .. " 2>/dev/null") end
    H.cleanup()
  end)

  describe("policy", function()
    local function check(yaml)
      local d = H.tmpdir()
      H.write(d .. "/p.yaml", yaml)
      local _, err, code = H.sh(H.q(H.purple) .. " run --profile " .. H.q(d .. "/p.yaml") .. " -- /usr/bin/true")
      local path, i = d .. "/p.yaml", nil
      repeat -- the file's path, written P
        i = err:find(path, 1, true)
        if i then err = err:sub(1, i - 1) .. "P" .. err:sub(i + #path) end
      until not i
      return err, code
    end

    it("refuses allow_domains with isolated: false, naming the field", function()
      local err, code = check("network:\n  isolated: false\n  allow_domains: [a.test]\n")
      assert.equal(125, code)
      assert.equal("purple: P:3: network.allow_domains: needs network.isolated: true (the proxy serves the "
        .. "sandbox's own network namespace); set isolated: true or remove the list\n", err)
    end)

    it("refuses malformed names, CIDRs, ports and unknown keys", function()
      local err, code = check("network:\n  allow_domains: [\"a..test\", \"*.*.x\"]\n  allow_internal: [\"10.0.0.0/33\"]\n"
        .. "  allow_ports: [0]\n  allow_proxy: 1\n")
      assert.equal(125, code)
      assert.equal(table.concat({
        [[purple: P:2: network.allow_domains[1]: "a..test" is not a domain name or "*.domain" pattern (letters, digits, - and _ in labels of 1 to 63, no trailing dot, no other wildcard)]],
        [[purple: P:2: network.allow_domains[2]: "*.*.x" is not a domain name or "*.domain" pattern (letters, digits, - and _ in labels of 1 to 63, no trailing dot, no other wildcard)]],
        [[purple: P:3: network.allow_internal[1]: "10.0.0.0/33" is not an address or CIDR like "10.0.0.0/8" or "fd00::/8"]],
        [[purple: P:4: network.allow_ports[1]: expected a TCP port from 1 to 65535, got 0]],
        [[purple: P:5: network.allow_proxy: unknown key]],
      }, "\n") .. "\n", err)
    end)

    it("refuses allow_ports and allow_internal without allow_domains", function()
      local err, code = check("network:\n  allow_ports: [443]\n  allow_internal: [10.0.0.0/8]\n")
      assert.equal(125, code)
      assert.equal("purple: P:2: network.allow_ports: has no effect without network.allow_domains; add the names or "
        .. "remove the list\npurple: P:3: network.allow_internal: has no effect without network.allow_domains; "
        .. "add the names or remove the list\n", err)
    end)
  end)

  describe("allowed names", function()
    before_each(function()
      if not have.openssl then pending("openssl is not installed on this host") end
    end)

    needs("curl", "curl reaches an allowed name over HTTP, HTTPS (CONNECT) and SOCKS5h", function()
      local out, err, code = run(allowed_profile(), ([[
curl -sS http://example.test:%d/index.html
curl -sS --cacert /ca/ca.pem https://www.example.test:%d/index.html
curl -sS --cacert /ca/ca.pem --proxy "$ALL_PROXY" https://example.test:%d/index.html
echo "$HTTP_PROXY $https_proxy $ALL_PROXY $NO_PROXY"]]):format(ports.http, ports.https, ports.https))
      assert.equal(0, code, err)
      assert.equal("hello-egress\nhello-egress\nhello-egress\n"
        .. "http://127.0.0.1:3128 http://127.0.0.1:3128 socks5h://127.0.0.1:1080 localhost,127.0.0.1,::1\n", out)
    end)

    it("python urllib reaches an allowed name over HTTPS", function()
      local out, err, code = run(allowed_profile(), PY .. [[ -c '
import urllib.request
print(urllib.request.urlopen("https://example.test:]] .. ports.https .. [[/index.html").read().decode(), end="")']])
      assert.equal(0, code, err)
      assert.equal("hello-egress\n", out)
    end)

    needs("pip", "pip downloads from a simple index by name", function()
      local out, err, code = run(allowed_profile(), ([[
%s -m pip download -q --cert /ca/ca.pem --no-cache-dir --no-deps --index-url https://example.test:%d/simple/ -d /tmp/dl demo-pkg \
  && ls /tmp/dl]]):format(PY, ports.https))
      assert.equal(0, code, err)
      assert.equal("demo_pkg-1.0-py3-none-any.whl\n", out)
    end)

    needs("git", "git clones over dumb HTTP", function()
      local out, err, code = run(allowed_profile(), ([[
git clone -q http://example.test:%d/repo.git /tmp/r && cat /tmp/r/README]]):format(ports.http))
      assert.equal(0, code, err)
      assert.equal("readme\n", out)
    end)

    needs("curl", "resolves with the host's resolver when no test hosts file is set (localhost)", function()
      local _, _, known = H.sh(PY .. " -c 'import socket; socket.getaddrinfo(\"localhost\", 80)'")
      if known ~= 0 then return pending("the host's resolver does not know localhost") end
      local prof = profile(([[allow_domains = { "localhost" }, allow_ports = { %d },
        allow_internal = { "127.0.0.1/32" }]]):format(ports.http)) -- ::1, if listed first, is refused: the next address is tried
      local out, err, code = H.run(prof, { "/bin/sh", "-c",
        ("curl -sS --noproxy '' http://localhost:%d/index.html"):format(ports.http) })
      assert.equal(0, code, err)
      assert.equal("hello-egress\n", out)
    end)

    it("takes a ClientHello sent with the CONNECT or SOCKS5 request, before the answer", function()
      local out, err, code = run(allowed_profile(), ("%s /probe/egress_client.py pipelined connect example.test %d /ca/ca.pem; "
        .. "%s /probe/egress_client.py pipelined socks example.test %d /ca/ca.pem"):format(PY, ports.https, PY, ports.https))
      assert.equal(0, code, err)
      assert.equal("connect ok\nsocks ok\n", out)
    end)

    it("delivers the whole reply to a client that half-closed its upload", function()
      -- the client's EOF goes on to the server (which answers and closes); the 4 MiB reply, still
      -- in the proxy's buffers when the server's EOF arrives, must all reach the client
      local out, err, code = run(allowed_profile(), ("%s /probe/egress_client.py halfclose example.test %d /big")
        :format(PY, ports.http))
      assert.equal(0, code, err)
      assert.equal("body 4194304 bytes\n", out)
    end)

    it("serves 200 connections open at once", function()
      local out, err, code = run(allowed_profile(), ("%s /probe/egress_client.py many example.test %d 200")
        :format(PY, ports.http))
      assert.equal(0, code, err)
      assert.equal("ok 200 of 200\n", out)
    end)
  end)

  describe("refusals", function()
    before_each(function()
      if not have.openssl then pending("openssl is not installed on this host") end
    end)

    needs("curl", "refuses other names, IP literals and other ports with 403 naming the field", function()
      local out, err, code = run(allowed_profile(), ([[
curl -sS http://other.test:%d/
curl -sS http://192.0.2.1:%d/
curl -sS http://example.test:%d/
curl -sS --proxy "$ALL_PROXY" http://other.test:%d/ || echo "socks: $?"]]):format(ports.http, ports.http, ports.http + 1
        == ports.https and ports.https + 1 or ports.http + 1, ports.http))
      assert.equal(0, code, err)
      local port3 = ports.http + 1 == ports.https and ports.https + 1 or ports.http + 1
      assert.equal("purple: network.allow_domains: other.test is not allowed\n"
        .. "purple: network.allow_domains: 192.0.2.1 is an IP address; only names are allowed (or an allow_internal "
        .. "entry covering it)\n"
        .. ("purple: network.allow_ports: port %d of example.test is not allowed\n"):format(port3)
        .. "socks: 97\n", out)
    end)

    needs("curl", "refuses a name that resolves into loopback or private space unless allow_internal covers it",
      function()
        local names = { "example.test", "private.test", "metadata.test", "metadata6.test", "cgnat.test",
          "multicast.test", "mapped.test" }
        local prof = profile(([[allow_domains = { "%s" }, allow_ports = { %d }]])
          :format(table.concat(names, '", "'), ports.http))
        local script = {}
        for i, n in ipairs(names) do script[i] = ("curl -sS http://%s:%d/"):format(n, ports.http) end
        local out, err, code = run(prof, table.concat(script, "\n"))
        assert.equal(0, code, err)
        local function line(name, addr, why)
          return ("purple: network.allow_internal: %s resolves to %s (%s), which no allow_internal entry covers\n")
            :format(name, addr, why)
        end
        assert.equal(line("example.test", "127.0.0.1", "loopback") .. line("private.test", "10.1.2.3", "private")
          .. line("metadata.test", "169.254.169.254", "metadata") .. line("metadata6.test", "fd00:ec2::254", "metadata")
          .. line("cgnat.test", "100.64.1.1", "CGNAT") .. line("multicast.test", "224.0.0.1", "multicast")
          .. line("mapped.test", "::ffff:127.0.0.1", "loopback"), out)
        -- allow_internal covers a v4-mapped address as the IPv4 address it is
        prof = profile(([[allow_domains = { "mapped.test" }, allow_ports = { %d }, allow_internal = { "127.0.0.1" }]])
          :format(ports.http))
        out, err, code = run(prof, ("curl -sS http://mapped.test:%d/index.html"):format(ports.http))
        assert.equal(0, code, err)
        assert.equal("hello-egress\n", out)
      end)

    it("refuses a TLS tunnel whose SNI names another host (domain fronting)", function()
      local out, err, code = run(allowed_profile(), ("%s /probe/egress_client.py sni example.test %d other.test /ca/ca.pem; "
        .. "%s /probe/egress_client.py sni example.test %d example.test /ca/ca.pem")
        :format(PY, ports.https, PY, ports.https))
      assert.equal(0, code, err)
      assert.equal("HTTP/1.1 200 Connection established\ntls failed\n"
        .. "HTTP/1.1 200 Connection established\ntls ok hello-egress\n", out)
    end)

    needs("curl", "refuses a plain HTTP request whose Host differs from its target", function()
      local out, err, code = run(allowed_profile(), ([[
curl -sS -H 'Host: other.test' http://example.test:%d/
curl -sS -H 'Host: other.test' --proxy "$ALL_PROXY" http://example.test:%d/ || echo "socks: $?"]])
        :format(ports.http, ports.http))
      assert.equal(0, code, err)
      assert.equal("purple: network.allow_domains: Host other.test does not match the request's example.test\n"
        .. "socks: 52\n", out)
    end)

    it("has no route: raw connects, name lookups and UDP fail inside", function()
      local out, err, code = run(allowed_profile(), ("%s /probe/egress_client.py raw 127.0.0.1 %d; "
        .. "%s /probe/egress_client.py raw 192.0.2.1 443; %s /probe/egress_client.py udp example.test 192.0.2.1")
        :format(PY, ports.http, PY, PY))
      assert.equal(0, code, err)
      assert.equal("failed Connection refused\nfailed Network is unreachable\nresolve failed\n"
        .. "send failed Network is unreachable\n", out)
    end)

    it("cuts oversized heads, idle and slowloris clients", function()
      local out, err, code = run(allowed_profile(), ("%s /probe/egress_client.py big_head example.test; "
        .. "%s /probe/egress_client.py idle; %s /probe/egress_client.py idle drip; "
        .. "%s /probe/egress_client.py idle_tunnel example.test %d /ca/ca.pem"):format(PY, PY, PY, PY, ports.https),
        { env = "PURPLE_EGRESS_TIMEOUTS=300,1000" })
      assert.equal(0, code, err)
      assert.equal("HTTP/1.1 431 Request Header Fields Too Large\ncut HTTP/1.1 408 Request Timeout\n"
        .. "cut HTTP/1.1 408 Request Timeout\ntunnel cut\n", out)
    end)
  end)

  describe("reporting", function()
    before_each(function()
      if not have.openssl then pending("openssl is not installed on this host") end
    end)

    needs("curl", "writes -l info lines for refusals and audit records for both", function()
      local log = H.tmpdir() .. "/audit.jsonl"
      if not H.is_root() then os.execute("chmod 777 " .. H.q(log:match("^(.*)/"))) end
      local prof = allowed_profile(("audit = { enabled = true, log_path = %q, detail_level = { \"network\" } },")
        :format(log))
      local out, err, code = run(prof, ([[
curl -sS http://example.test:%d/index.html
curl -sS http://other.test:%d/ >/dev/null]]):format(ports.http, ports.http), { global = { "-l", "info" } })
      assert.equal(0, code, err)
      assert.equal("hello-egress\n", out)
      assert.truthy(err:find("purple: network: egress refused other.test port " .. ports.http
        .. ": network.allow_domains: other.test is not allowed\n", 1, true), err)
      local json = require "purple.json"
      local allowed, refused, recs = nil, nil, {}
      for line in (H.read(log) or ""):gmatch("[^\n]+") do
        local r = json.decode(line)
        recs[#recs + 1] = r
        if r.event == "net_egress" then allowed = r end
        if r.event == "net_egress_refused" then refused = r end
      end
      require("helpers.sessions").assert_valid(recs) -- docs/audit-schema.json
      assert.truthy(allowed, "no net_egress record")
      assert.equal("example.test", allowed.name)
      assert.equal("127.0.0.1", allowed.addr)
      assert.equal(ports.http, allowed.port)
      assert.equal("http", allowed.via)
      assert.truthy(allowed.bytes_out > 0 and allowed.bytes_in > #"hello-egress\n")
      assert.truthy(allowed.duration >= 0)
      assert.same({ name = "other.test", port = ports.http, via = "http",
        reason = "network.allow_domains: other.test is not allowed" },
        { name = refused.name, port = refused.port, via = refused.via, reason = refused.reason })
    end)
    needs("curl", "--learn writes the names reached as network.allow_domains and the refused ones as comments",
      function()
        local out_base = H.tmpdir() .. "/learned"
        if not H.is_root() then os.execute("chmod 777 " .. H.q(out_base:match("^(.*)/"))) end
        local out, err, code = H.run(allowed_profile(), { "/bin/sh", "-c", ([[
curl -sS http://example.test:%d/index.html
curl -sS http://other.test:%d/ >/dev/null]]):format(ports.http, ports.http) },
          { env = "PURPLE_EGRESS_HOSTS_FILE=" .. H.q(hosts), args = { "--learn", out_base } })
        assert.equal(0, code, err)
        assert.equal("hello-egress\n", out)
        local yaml = assert(H.read(out_base .. ".yaml"))
        assert.truthy(yaml:find('\nnetwork:\n  allow_domains:\n    - "example.test"\n    # refused: other.test\n', 1, true), yaml)
        local lua = assert(H.read(out_base .. ".lua"))
        assert.truthy(lua:find('\nnetwork = {\n  allow_domains = {\n    "example.test",\n    -- refused: other.test\n  },\n},\n',
          1, true), lua)
      end)

    needs("curl", "serves a session's commands too", function()
      local name = "egress-spec-" .. require("purple.core").random_hex(4)
      local env = "PURPLE_EGRESS_HOSTS_FILE=" .. H.q(hosts)
      local started, serr, scode = H.sh(("%s %s session start --profile %s --name %s </dev/null")
        :format(env, H.q(H.purple), H.q(allowed_profile()), name))
      assert.equal(0, scode, serr)
      assert.equal(name .. "\n", started)
      finally(function() H.sh(H.q(H.purple) .. " session stop " .. name) end)
      local out, err, code = H.sh(("%s exec %s -- /bin/sh -c %s </dev/null"):format(H.q(H.purple), name,
        H.q(("curl -sS http://example.test:%d/index.html; curl -sS http://other.test:%d/"):format(ports.http, ports.http))))
      assert.equal(0, code, err)
      assert.equal("hello-egress\npurple: network.allow_domains: other.test is not allowed\n", out)
    end)
  end)
end)
