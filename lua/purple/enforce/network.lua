-- Network: policy.network, enforced by the kernel so that nothing inside can race the checks.
--
--   isolated = true    a new network namespace with only loopback: no host address, no host
--                      abstract unix socket is reachable. /sys is not mounted in the sandbox.
--   isolated = false   the host's network through port filters (root):
--     TCP and UDP: cgroup BPF programs on a cgroup v2 directory (connect, sendmsg, bind, and
--          packets to listening sockets), which also count every decision for the audit log.
--     the host's abstract unix sockets: Landlock scope (ABI 6+).
--     Without root it fails closed (see docs/network.md).
-- See docs/network.md for what each mechanism covers and the choices made.
local core = require "purple.core"
local log = require "purple.log"

local M = {}

local UNIFIED = "/sys/fs/cgroup/unified"

local function parse_port(s)
  local ok, policy = pcall(require, "purple.policy")
  if ok and policy.parse_port then return policy.parse_port(s) end
  return require("purple.units").parse_port(s)
end

-- The port list policy.network[field] as ranges { from, to, proto }.
local function port_list(n, field)
  local list = {}
  for i, s in ipairs(n[field] or {}) do
    local p, why = parse_port(s)
    if not p then return nil, ("network.%s[%d]: %s"):format(field, i, why) end
    list[#list + 1] = p
  end
  return list
end

-- A cgroup v2 directory for the BPF filter: the session's own (resources) or one made here.
local function filter_cgroup(run)
  if run.cgroup and run.cgroup.v2_dir then return run.cgroup.v2_dir end
  if not core.stat(UNIFIED .. "/cgroup.procs") then
    return nil, "network.allow_outgoing: UDP port filtering needs a cgroup v2 hierarchy (mounted at "
      .. UNIFIED .. " or /sys/fs/cgroup); none is mounted. Set isolated: true"
  end
  local parent = UNIFIED .. "/purple"
  local ok, err, errno = core.mkdir(parent, 493)
  if not ok and errno ~= 17 then return nil, "network: cgroup " .. err end
  local dir = parent .. "/net-" .. run.session
  ok, err = core.mkdir(dir, 493)
  if not ok then return nil, "network: cgroup " .. err end
  run.net_cgroup = dir
  local procs = run.spec.cgroup_procs or {}
  procs[#procs + 1] = dir .. "/cgroup.procs"
  run.spec.cgroup_procs = procs
  return dir
end

local function host_network(run, n)
  local outgoing, err = port_list(n, "allow_outgoing")
  if not outgoing then return nil, err end
  local incoming
  incoming, err = port_list(n, "allow_incoming")
  if not incoming then return nil, err end

  local abi = core.landlock_abi()
  if abi < 6 then
    return nil, ("network.isolated: false needs Landlock ABI 6 (Linux 6.12) for TCP port rules and for "
      .. "hiding the host's abstract unix sockets; this kernel offers %s. Set isolated: true or upgrade the kernel")
      :format(abi == 0 and "no Landlock (enable CONFIG_SECURITY_LANDLOCK and lsm=landlock)" or "ABI " .. abi)
  end
  if not run.privileged then
    return nil, "network.isolated: false: UDP port filtering without root needs the seccomp supervisor, "
      .. "which this build lacks; run as root or set isolated: true"
  end
  -- Root: the BPF filter decides TCP and UDP alike (and counts each decision for the audit);
  -- Landlock only hides the host's abstract unix sockets.
  local text = "scope abstract_unix"
  run.spec.landlock = run.spec.landlock and (run.spec.landlock .. "\n" .. text) or text

  local dir
  dir, err = filter_cgroup(run)
  if not dir then return nil, err end
  local filter, ferr = core.net_filter_attach(dir, { outgoing = outgoing, incoming = incoming })
  if not filter then
    return nil, "network.isolated: false: BPF port filter: " .. ferr
      .. " (needs CAP_BPF and CAP_NET_ADMIN and a kernel with CONFIG_CGROUP_BPF)"
  end
  run.net = { outgoing = outgoing, incoming = incoming, cgroup = dir, filter = filter }
  log.debug("network: host network, outgoing %d rule(s), incoming %d rule(s), filter cgroup %s",
    #outgoing, #incoming, dir)
  return true
end

function M.prepare(run)
  local n = run.policy.network or {}
  if n.isolated == false then return host_network(run, n) end
  run.spec.namespaces = run.spec.namespaces .. ",net"
  return true
end

local OP_TEXT = { connect = "connect to", send = "send to", bind = "bind", listen = "connection to listening port" }

-- Each distinct (operation, protocol, address, port, verdict) the filter counted: to the audit
-- log at the network detail level; denials also one line each on stderr at -l info.
local function report(run)
  local filter = run.net and run.net.filter
  if not filter then return end
  local events, err = filter:events()
  filter:close()
  run.net.filter = nil
  if not events then error("network: audit of the BPF filter: " .. err) end
  table.sort(events, function(a, b)
    if a.op ~= b.op then return a.op < b.op end
    if a.port ~= b.port then return a.port < b.port end
    return (a.addr or "") < (b.addr or "")
  end)
  local audit_ok, audit = pcall(require, "purple.audit")
  for _, e in ipairs(events) do
    local where = e.addr and ((e.addr:find(":") and "[%s]:%d" or "%s:%d"):format(e.addr, e.port)) or ("port " .. e.port)
    if not e.allowed then
      log.info("network: denied %s %s %s (%d time%s)", OP_TEXT[e.op], e.proto, where, e.count,
        e.count == 1 and "" or "s")
    end
    if audit_ok and run.audit then
      audit.record(run, e.allowed and "net_connect" or "net_denied", {
        op = e.op, proto = e.proto, addr = e.addr, port = e.port, count = e.count, allowed = e.allowed,
      })
    end
  end
end

-- Reports the filter's decisions, then removes the filter cgroup made by prepare(). The sandbox's
-- last processes may still be leaving it right after the exit, so EBUSY is retried briefly.
function M.finish(run)
  report(run)
  local dir = run.net_cgroup
  if not dir then return end
  for _ = 1, 200 do
    local ok, err, errno = core.rmdir(dir)
    if ok or errno == 2 then run.net_cgroup = nil return end
    if errno ~= 16 then error("network: remove cgroup " .. err) end
    os.execute("sleep 0.005")
  end
  error("network: remove cgroup " .. dir .. ": still busy")
end

return M
