-- Egress by domain name: network.allow_domains, allow_ports, allow_internal (docs/network.md).
--
-- The sandbox keeps its own network namespace with loopback only. Its init listens on
-- 127.0.0.1:3128 (HTTP proxy: CONNECT and absolute-form) and 127.0.0.1:1080 (SOCKS5) in that
-- namespace and hands both sockets to the supervisor, where a relay thread (csrc/egress_proxy.c)
-- checks each request and connects out from the host's namespace. Nothing else leaves.
local core = require "purple.core"
local filesystem = require "purple.enforce.filesystem"
local log = require "purple.log"

local M = {}

M.HTTP_PORT, M.SOCKS_PORT = 3128, 1080
M.DEFAULT_PORTS = { 443, 80 }

-- What tools read: curl, git (libcurl: lower-case http_proxy only), pip and npm read these;
-- ALL_PROXY with socks5h makes SOCKS clients send names, not addresses (nothing resolves inside).
-- NODE_USE_ENV_PROXY makes node (24 and later) honour them in fetch and https.
function M.environment()
  local http = ("http://127.0.0.1:%d"):format(M.HTTP_PORT)
  local socks = ("socks5h://127.0.0.1:%d"):format(M.SOCKS_PORT)
  local no = "localhost,127.0.0.1,::1"
  return {
    HTTP_PROXY = http, http_proxy = http, HTTPS_PROXY = http, https_proxy = http,
    ALL_PROXY = socks, all_proxy = socks, NO_PROXY = no, no_proxy = no,
    NODE_USE_ENV_PROXY = "1",
  }
end

-- TLS clients inside need the host's CA certificates (the names are verified end to end: the proxy
-- never terminates TLS). Mounted read-only unless the policy maps something at, above or below.
local CERTS = { "/etc/ssl/certs", "/usr/share/ca-certificates" }

-- Test-only settings (docs/network.md): a hosts file the proxy resolves from instead of the host's
-- resolver, and shorter handshake and idle timeouts ("HANDSHAKE_MS,IDLE_MS").
local function test_settings()
  local hosts = os.getenv("PURPLE_EGRESS_HOSTS_FILE")
  if hosts == "" then hosts = nil end
  local hs, idle = (os.getenv("PURPLE_EGRESS_TIMEOUTS") or ""):match("^(%d+),(%d+)$")
  return hosts, tonumber(hs), tonumber(idle)
end

function M.prepare(run)
  local n = run.policy.network
  if #n.allow_domains == 0 then return true end
  -- purple.policy refused allow_domains without isolated: true
  run.spec.egress_ports = { M.HTTP_PORT, M.SOCKS_PORT }
  local env = run.env or {}
  local set = run.policy.environment.set
  for k, v in pairs(M.environment()) do
    if set[k] == nil then env[k] = v end -- a value the policy sets itself wins
  end
  local list = {}
  for k, v in pairs(env) do list[#list + 1] = k .. "=" .. v end
  table.sort(list)
  run.spec.env = list
  run.env = env
  filesystem.bind_host_files(run, CERTS)
  local ports = #n.allow_ports > 0 and n.allow_ports or M.DEFAULT_PORTS
  local hosts, hs, idle = test_settings()
  run.egress = {
    config = { domains = n.allow_domains, ports = ports, internal = n.allow_internal, hosts_file = hosts,
      handshake_ms = hs or 10000, idle_ms = idle or 300000, max_conns = 1000 },
    names = {}, refused = {},
  }
  log.debug("network: egress proxy for %d name pattern(s), ports %s, HTTP 127.0.0.1:%d, SOCKS5 127.0.0.1:%d",
    #n.allow_domains, table.concat(ports, ","), M.HTTP_PORT, M.SOCKS_PORT)
  return true
end

function M.started(run)
  local eg = run.egress
  if not eg then return end
  local proxy, err = core.egress_start(run.sandbox, eg.config)
  if not proxy then
    -- fail closed: without its proxy the run is not what the policy asked for
    run.result.status = 125
    run.result.error = "purple: network.allow_domains: " .. err
    run.sandbox:kill(9)
    return
  end
  eg.proxy = proxy
end

-- The proxy's records: refusals as one -l info line each, both kinds to the audit log, the names
-- used for --learn.
local function report(run, events, dropped)
  local audit = run.audit and require "purple.audit"
  for _, e in ipairs(events) do
    if e.allowed then
      run.egress.names[e.name] = true
      if audit then
        audit.record(run, "net_egress", { via = e.via, name = e.name, addr = e.addr, port = e.port,
          bytes_out = e.bytes_out, bytes_in = e.bytes_in, duration = e.duration })
      end
    else
      if e.name:match("^[%w_.-]+$") and not e.name:match("^[%d.]+$") and not e.name:find(":") then
        run.egress.refused[e.name] = true
      end
      log.info("network: egress refused %s port %d: %s", e.name ~= "" and e.name or "(no name)", e.port, e.reason)
      if audit then
        audit.record(run, "net_egress_refused", { via = e.via, name = e.name, addr = e.addr, port = e.port,
          reason = e.reason })
      end
    end
  end
  if dropped > 0 then
    log.info("network: egress: %d more records were not kept (more than 4096 before the end of the run)", dropped)
  end
end

function M.finish(run, result)
  local eg = run.egress
  if not (eg and eg.proxy) then return end
  eg.proxy:stop()
  local events, dropped = eg.proxy:events()
  eg.proxy:close()
  eg.proxy = nil
  report(run, events, dropped)
  if result then
    local function sorted(set)
      local list = {}
      for name in pairs(set) do list[#list + 1] = name end
      table.sort(list)
      return list
    end
    result.egress_names, result.egress_refused = sorted(eg.names), sorted(eg.refused)
  end
end

return M
