-- make bench, egress rows (network.allow_domains, docs/network.md): an HTTPS bulk download through
-- purple's egress proxy against the same download direct on the host's loopback, the connection
-- setup the proxy adds, and the supervisor's memory with 200 proxied connections open. Servers are
-- local (spec/helpers/egress_server.py); test names map to 127.0.0.1 through the proxy's test-only
-- hosts file. Direct and proxied runs alternate, so drift of the machine hits both alike.
-- Environment: PURPLE_ROOT (the tree), EGRESS_ROUNDS (7), EGRESS_MB (256).
local stats = dofile((arg[0]:match("^(.*)/") or ".") .. "/stats.lua")

local ROOT = os.getenv("PURPLE_ROOT") or "."
package.path = ROOT .. "/lua/?.lua;" .. package.path
local ROUNDS = tonumber(os.getenv("EGRESS_ROUNDS") or "7")
local MB = tonumber(os.getenv("EGRESS_MB") or "256")
local PURPLE = ROOT .. "/bin/purple"
local PY = "/usr/bin/python3"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function capture(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end
local read = require("purple.files").read

for _, tool in ipairs({ "curl", "openssl" }) do
  if not os.execute("command -v " .. tool .. " >/dev/null 2>&1") then
    print("egress: skipped (" .. tool .. " is not installed)")
    os.exit(0)
  end
end

local D = capture("mktemp -d /tmp/purple-bench-egress.XXXXXX"):gsub("\n", "")
os.execute("chmod 755 " .. q(D))
local pid
local function cleanup()
  if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
  os.execute("rm -rf " .. q(D))
end
assert(os.execute(("mkdir -p %s/www && head -c %dM /dev/zero >%s/www/bulk && echo ok >%s/www/small && "
  .. "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/key.pem -out %s/ca.pem -days 2 -subj /CN=bench.test "
  .. "-addext subjectAltName=DNS:bench.test >/dev/null 2>&1 && chmod a+r %s/*.pem")
  :format(q(D), MB, q(D), q(D), q(D), q(D), q(D))))
os.execute(("%s %s %s %s %s %s >/dev/null 2>&1 & echo $! >%s/pid"):format(PY, q(ROOT .. "/spec/helpers/egress_server.py"),
  q(D .. "/www"), q(D .. "/ca.pem"), q(D .. "/key.pem"), q(D .. "/ports"), q(D)))
for _ = 1, 400 do
  if read(D .. "/ports") then break end
  os.execute("sleep 0.025")
end
pid = tonumber(read(D .. "/pid"))
local ports = {}
for kind, port in (read(D .. "/ports") or ""):gmatch("(%S+) (%d+)") do ports[kind] = tonumber(port) end
if not ports.https then cleanup() error("egress_server.py did not start") end
local hosts = D .. "/hosts"
local f = assert(io.open(hosts, "w"))
f:write("127.0.0.1 bench.test\n")
f:close()
local profile = D .. "/p.lua"
f = assert(io.open(profile, "w"))
f:write(([[return { name = "bench-egress",
  filesystem = { immutable_paths = { { host_path = "/usr" }, { host_path = %q, sandbox_path = "/b" } },
    scratch_paths = { "/tmp" }, working_dir = "/tmp" },
  network = { allow_domains = { "bench.test" }, allow_ports = { %d, %d }, allow_internal = { "127.0.0.1/32" } } }
]]):format(D, ports.http, ports.https))
f:close()
local ENV = "PURPLE_EGRESS_HOSTS_FILE=" .. q(hosts)
os.execute(("cp %s %s/probe.py"):format(q(ROOT .. "/bench/egress_probe.py"), q(D)))
local function in_sandbox(script)
  return ("%s %s run --profile %s -- /bin/sh -c %s"):format(ENV, q(PURPLE), q(profile), q(script))
end

-- 1. bulk HTTPS download, MB MiB: curl's own rate (bytes/s), so sandbox start-up is not counted
local curl = ("curl -s -o /dev/null -w '%%{speed_download}' --cacert %s https://bench.test:%d/bulk")
local direct, proxied, ratios = {}, {}, {}
for i = 1, ROUNDS do
  local d = tonumber(capture(curl:format(q(D .. "/ca.pem"), ports.https)
    .. (" --noproxy '*' --resolve bench.test:%d:127.0.0.1"):format(ports.https)))
  local p = tonumber(capture(in_sandbox(curl:format("/b/ca.pem", ports.https))))
  if d and p then
    direct[#direct + 1], proxied[#proxied + 1], ratios[#ratios + 1] = d, p, p / d
  end
end
-- 2. connection setup: median ms of a small plain-HTTP request on a fresh connection, 500 each
local setup_cmd = "%s %s setup http://bench.test:%d/small 500"
local sd = tonumber(capture(("%s %s setup http://127.0.0.1:%d/small 500"):format(PY, q(ROOT .. "/bench/egress_probe.py"), ports.http)))
local sp = tonumber(capture(in_sandbox(setup_cmd:format(PY, "/b/probe.py", ports.http))))
-- 3. supervisor memory: VmRSS of purple with 0 and then 200 open TLS tunnels
local function rss(p)
  local s = read(("/proc/%d/status"):format(p)) or ""
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end
local ready = D .. "/ready"
os.execute(in_sandbox(("sleep 0.5; %s /b/probe.py hold bench.test %d 200"):format(PY, ports.https))
  .. (" >%s 2>/dev/null & echo $! >%s/run.pid"):format(q(ready), q(D)))
local run_pid = tonumber(read(D .. "/run.pid"))
os.execute("sleep 0.3")
local rss0 = rss(run_pid)
for _ = 1, 600 do
  if (read(ready) or "") ~= "" then break end
  os.execute("sleep 0.05")
end
local rss200 = (read(ready) or "") ~= "" and rss(run_pid)
os.execute("kill " .. run_pid .. " 2>/dev/null")
cleanup()

local function mib(bps) return bps and bps / 1048576 end
local rate_ratio = #ratios > 0 and stats.median(ratios)
print(("\negress (network.allow_domains), %d rounds, %d MiB over HTTPS on loopback"):format(#ratios, MB))
print(("  bulk download direct        %8.1f MiB/s (median)"):format(mib(stats.median(direct)) or 0))
print(("  bulk download via the proxy %8.1f MiB/s (median), paired ratio %.2f"):format(mib(stats.median(proxied)) or 0,
  rate_ratio or 0))
print(("  request on a new connection  direct %.3f ms, via the proxy %.3f ms (medians of 500): +%.3f ms")
  :format(sd or 0, sp or 0, (sp or 0) - (sd or 0)))
print(("  supervisor RSS               %s KiB idle, %s KiB with 200 open tunnels"):format(rss0 or "-", rss200 or "-"))
print("targets")
print(("  %-34s %-12s %s"):format("proxied HTTPS ≥ 90% of direct", rate_ratio and ("%.2f×"):format(rate_ratio) or "-",
  rate_ratio and (rate_ratio >= 0.9 and "met" or "MISSED") or "not measured"))
local added = sp and sd and sp - sd
print(("  %-34s %-12s %s"):format("added setup ≤ 1 ms median", added and ("%.3f ms"):format(added) or "-",
  added and (added <= 1 and "met" or "MISSED") or "not measured"))
