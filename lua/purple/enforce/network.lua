-- Network: policy.network, enforced by the kernel so that nothing inside can race the checks.
--
--   isolated = true    a new network namespace with only loopback: no host address, no host
--                      abstract unix socket is reachable. /sys holds only class/net and
--                      devices/virtual/net of that namespace (lo), read-only.
--   isolated = false   the host's network through port filters; as root:
--     TCP and UDP: cgroup BPF programs on a cgroup v2 directory (connect, sendmsg, bind, and
--          packets to listening sockets), which also count every decision for the audit log.
--     the host's abstract unix sockets: Landlock scope (ABI 6+).
--   without root: Landlock (ABI 6+) TCP connect/bind rules and abstract unix scoping, plus seccomp
--     notification handlers: no raw/SCTP/MPTCP sockets, no TCP fast open, listen() checked and
--     performed by the supervisor. A TCP-only policy opens no UDP socket. A policy that allows UDP
--     runs supervised: every connect, bind and send is performed by the supervisor on its own copy
--     of the socket and address after the check (csrc/net_perform.c).
-- See docs/network.md for what each mechanism covers and the choices made.
local core = require "purple.core"
local cgroup = require "purple.cgroup"
local filesystem = require "purple.enforce.filesystem"
local log = require "purple.log"
local units = require "purple.units"

local M = {}

local MAX_RANGES = 256 -- per list, in one BPF program (csrc/net_filter.c)
local rootless -- defined below

-- The port list policy.network[field] as ranges { from, to, proto }. purple.policy validated and
-- canonicalised each entry with the same parser (units.lua is the one home of port syntax).
local function port_list(n, field)
  local list = {}
  for i, s in ipairs(n[field]) do list[i] = assert(units.parse_port(s)) end
  return list
end

-- A cgroup v2 directory for the BPF filter: the session's own (resources) or one made here.
local function filter_cgroup(run)
  local own = run.cgroup and (run.cgroup.v2_dir or run.cgroup.v2)
  if own then return own end
  local v2 = cgroup.layout().v2
  if not v2 then
    return nil, "network.isolated: false: the BPF port filter needs a cgroup v2 hierarchy and none is "
      .. "mounted (mount cgroup2 at /sys/fs/cgroup or /sys/fs/cgroup/unified) or set isolated: true"
  end
  local parent = v2 .. "/purple"
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

-- Rootless: Landlock decides TCP connect and bind; seccomp notification handlers close what
-- Landlock does not see. Each handler decides on register values only (then "continue" is safe)
-- or performs the call itself on the socket it checked (listen).
local AF_INET, AF_INET6, SOCK_STREAM, SOCK_DGRAM, IPPROTO_TCP, IPPROTO_UDP = 2, 10, 1, 2, 6, 17
local MSG_FASTOPEN = 0x20000000
local EACCES = 13

-- Counts one decision for report(): key op/proto/addr/port/verdict. At most MAX_NOTES distinct
-- keys, as the root mode's BPF map: the supervisor is outside the sandbox's memory limit, so a
-- sandbox sending to ever new addresses must not grow it; the rest is counted in one number.
local MAX_NOTES = 4096
local function note(run, e)
  local key = table.concat({ e.op, e.proto, e.addr or "", e.port or 0, tostring(e.allowed) }, "|")
  local net = run.net
  local notes = net.notes
  if notes[key] then
    notes[key].count = notes[key].count + 1
  elseif (net.distinct or 0) < MAX_NOTES then
    e.count = 1
    notes[key] = e
    net.distinct = (net.distinct or 0) + 1
  else
    net.uncounted = (net.uncounted or 0) + 1
  end
end

local function u32(v) return v & 0xffffffff end
local function s32(v)
  v = u32(v)
  return v >= 0x80000000 and v - 0x100000000 or v
end

local function in_ranges(list, port)
  for _, p in ipairs(list) do
    if port >= p.from and port <= p.to then return true end
  end
  return false
end

local SOCKET_KIND = { [2] = "udp", [3] = "raw", [5] = "seqpacket" }

local function rootless_handlers(run, outgoing, incoming, observe, supervised)
  local h = {}
  -- Raw, SCTP, MPTCP, UDP-Lite: nothing filters them, so only plain TCP sockets (and UDP ones when
  -- supervised) may exist.
  h.socket = function(_, ev)
    local domain, kind, proto = u32(ev.args[1]), u32(ev.args[2]) & 0xf, u32(ev.args[3])
    if domain ~= AF_INET and domain ~= AF_INET6 then return { continue = true } end
    if kind == SOCK_STREAM and (proto == 0 or proto == IPPROTO_TCP) then return { continue = true } end
    if supervised and kind == SOCK_DGRAM and (proto == 0 or proto == IPPROTO_UDP) then
      return { continue = true }
    end
    local what_kind = kind == SOCK_STREAM and ("protocol " .. proto) or SOCKET_KIND[kind] or ("type " .. kind)
    note(run, { op = "socket", proto = what_kind, allowed = false })
    return { error = EACCES }
  end
  -- TCP fast open connects inside sendto/sendmsg, where Landlock does not look.
  local function send_flags(i)
    return function(_, ev)
      if ev.args[i] & MSG_FASTOPEN ~= 0 then
        note(run, { op = "fastopen", proto = "tcp", allowed = false })
        return { error = EACCES }
      end
      return { continue = true }
    end
  end
  h.sendto, h.sendmsg, h.sendmmsg = send_flags(4), send_flags(3), send_flags(4)
  -- listen() on an unbound socket takes a port from the kernel without a bind check: the
  -- supervisor performs listen on its own duplicate of the socket it checked.
  local rules = { outgoing = outgoing, incoming = incoming }
  local function perform(name)
    return function(r, ev)
      local answer, notes = core.net_perform(r.sandbox, name, ev, rules)
      for _, n in ipairs(notes) do note(r, n) end
      return answer
    end
  end
  h.listen = perform("listen")
  if supervised then
    -- Performed by the supervisor on its own copies after the check (csrc/net_perform.c). A sendto
    -- without an address goes where the socket was connected (checked then): its registers are
    -- all the kernel reads, so "continue" is safe for it.
    local perform_sendto = perform("sendto")
    h.sendto = function(r, ev)
      if ev.args[5] == 0 and ev.args[4] & MSG_FASTOPEN == 0 then return { continue = true } end
      return perform_sendto(r, ev)
    end
    h.connect, h.bind = perform("connect"), perform("bind")
    h.sendmsg, h.sendmmsg = perform("sendmsg"), perform("sendmmsg")
    return h
  end
  -- Audit only: the address as read now; Landlock decides on its own copy.
  if observe then
    local function watch(op, list)
      return function(_, ev)
        local a = core.net_peek_sockaddr(ev.pid, ev.args[2], u32(ev.args[3]))
        if a and a.port then
          note(run, { op = op, proto = "tcp", addr = a.addr, port = a.port, allowed = in_ranges(list, a.port) })
        end
        return { continue = true }
      end
    end
    h.connect, h.bind = watch("connect", outgoing), watch("bind", incoming)
  end
  return h
end

rootless = function(run, outgoing, incoming)
  -- UDP has no unprivileged kernel filter: a policy that allows it runs supervised.
  local supervised = false
  for _, list in ipairs({ outgoing, incoming }) do
    for _, p in ipairs(list) do
      if p.proto ~= "tcp" then supervised = true end
    end
  end
  local probe = core.probe_seccomp and core.probe_seccomp()
  if not (probe and probe.user_notif) then
    return nil, "network.isolated: false: without root the port filter needs seccomp user notification "
      .. "(Linux 5.0), which this kernel lacks; run as root or set isolated: true"
  end
  -- Landlock's TCP rules stay under supervision too, as a second wall.
  local lines = { "net", "scope abstract_unix" }
  for _, p in ipairs(outgoing) do
    if p.proto ~= "udp" then lines[#lines + 1] = ("connect %d %d"):format(p.from, p.to) end
  end
  for _, p in ipairs(incoming) do
    if p.proto ~= "udp" then lines[#lines + 1] = ("bind %d %d"):format(p.from, p.to) end
  end
  local text = table.concat(lines, "\n")
  run.spec.landlock = run.spec.landlock and (run.spec.landlock .. "\n" .. text) or text
  run.net = { outgoing = outgoing, incoming = incoming, notes = {} }
  local audit = run.policy.audit
  local observe = log.enabled("info") or audit.enabled == true
  run.seccomp_notify = run.seccomp_notify or {}
  for name, fn in pairs(rootless_handlers(run, outgoing, incoming, observe, supervised)) do
    if run.seccomp_notify[name] then
      return nil, ("network: the seccomp handler for %s is already taken by another enforcer"):format(name)
    end
    run.seccomp_notify[name] = fn
  end
  log.debug("network: host network (rootless), outgoing %d rule(s), incoming %d rule(s), Landlock + seccomp%s",
    #outgoing, #incoming, supervised and ", supervised (UDP allowed)" or "")
  return true
end

local function host_network(run, n)
  local outgoing, incoming = port_list(n, "allow_outgoing"), port_list(n, "allow_incoming")

  local abi = core.landlock_abi()
  if abi < 6 then
    return nil, ("network.isolated: false needs Landlock ABI 6 (Linux 6.12) for TCP port rules and for "
      .. "hiding the host's abstract unix sockets; this kernel offers %s. Set isolated: true or upgrade "
      .. "the kernel"):format(abi == 0 and "no Landlock (enable CONFIG_SECURITY_LANDLOCK and lsm=landlock)"
      or "ABI " .. abi)
  end
  if not run.privileged then return rootless(run, outgoing, incoming) end
  for _, f in ipairs({ { "allow_outgoing", outgoing }, { "allow_incoming", incoming } }) do
    if #f[2] > MAX_RANGES then
      return nil, ("network.%s: at most %d entries (merge neighbouring ports into ranges like \"8000-8100\")")
        :format(f[1], MAX_RANGES)
    end
  end
  -- Root: the BPF filter decides TCP and UDP alike (and counts each decision for the audit);
  -- Landlock only hides the host's abstract unix sockets.
  local text = "scope abstract_unix"
  run.spec.landlock = run.spec.landlock and (run.spec.landlock .. "\n" .. text) or text

  local dir, err = filter_cgroup(run)
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

-- What a resolver and a TLS client read: a policy that opens DNS gets the host's files read-only,
-- each where the host has it and the policy maps nothing at, above or below its sandbox path.
-- Without them nothing inside can resolve a name (not even localhost) or verify a certificate.
local RESOLVER_FILES = { "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf",
  "/etc/gai.conf", "/etc/ssl/certs" }

-- DNS is open when the network is not isolated and allow_outgoing covers port 53 (any protocol).
local function opens_dns(n)
  for _, p in ipairs(port_list(n, "allow_outgoing")) do
    if p.from <= 53 and p.to >= 53 then return true end
  end
  return false
end

local function resolver_files(run)
  for _, path in ipairs(filesystem.bind_host_files(run, RESOLVER_FILES)) do
    log.debug("network: DNS is open: %s read-only", path)
  end
end

function M.prepare(run)
  local n = run.policy.network
  if n.isolated == false then
    local ok, err = host_network(run, n)
    if ok and opens_dns(n) then resolver_files(run) end
    return ok, err
  end
  run.spec.namespaces = run.spec.namespaces .. ",net"
  -- /sys/class/net of the sandbox's own namespace (lo), unless the policy mounts something at /sys
  local mounts = run.spec.mounts or {}
  for _, m in ipairs(mounts) do
    if m.target == "/sys" or m.target:sub(1, 5) == "/sys/" then return true end
  end
  mounts[#mounts + 1] = { type = "sysnet", target = "/sys" }
  run.spec.mounts = mounts
  return true
end

-- One decision in words, for the stderr line.
local function what(e)
  local where = e.addr and ((e.addr:find(":") and "[%s]:%d" or "%s:%d"):format(e.addr, e.port))
  if e.op == "connect" then return ("connect to %s %s"):format(e.proto, where or ("port " .. e.port)) end
  if e.op == "send" then return ("send to %s %s"):format(e.proto, where or ("port " .. e.port)) end
  if e.op == "bind" then return ("bind %s %s"):format(e.proto, where or ("port " .. e.port)) end
  if e.op == "incoming" then return ("incoming %s connection to port %d"):format(e.proto, e.port) end
  if e.op == "listen" and e.port == 0 then
    return "listen on an unbound tcp socket (the kernel would pick the port)"
  end
  if e.op == "listen" then return ("listen on %s port %d"):format(e.proto, e.port) end
  if e.op == "fastopen" then return "tcp fast open (sendto/sendmsg with MSG_FASTOPEN)" end
  if e.op == "socket" then return e.proto .. " socket" end
  return e.op
end

-- Each distinct (operation, protocol, address, port, verdict) the filter counted: to the audit
-- log at the network detail level; denials also one line each on stderr at -l info.
local function report(run)
  local net = run.net
  if not net then return end
  local events = {}
  if net.filter then
    local err
    events, err = net.filter:events()
    net.filter:close()
    net.filter = nil
    if not events then error("network: audit of the BPF filter: " .. err) end
  end
  for _, e in pairs(net.notes or {}) do events[#events + 1] = e end
  net.notes = nil
  if net.uncounted then
    log.info("network: %d more decisions on further destinations were enforced but not itemized "
      .. "(more than %d distinct)", net.uncounted, MAX_NOTES)
  end
  table.sort(events, function(a, b)
    if a.op ~= b.op then return a.op < b.op end
    if (a.port or 0) ~= (b.port or 0) then return (a.port or 0) < (b.port or 0) end
    return (a.addr or "") < (b.addr or "")
  end)
  local audit = run.audit and require "purple.audit"
  for _, e in ipairs(events) do
    if not e.allowed then
      log.info("network: denied %s (%d time%s)", what(e), e.count, e.count == 1 and "" or "s")
    end
    if audit then
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
    core.sleep(0.005)
  end
  error("network: remove cgroup " .. dir .. ": still busy")
end

return M
