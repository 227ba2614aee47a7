-- per-agent: one profile whose policy depends on the agent it runs.
--
--   PURPLE_AGENT=browser purple run --profile examples/per-agent.lua -- python3 browse.py
--   purple run --profile examples/per-agent.lua -- coder ...      (agent = the command's basename)
--   purple-lua examples/per-agent.lua -- id                        (the same context as with purple run)
--
-- A profile script gets its context as `...` (see purple-policy(5)): ctx.agent is $PURPLE_AGENT or
-- the command's basename; ctx.memory_bytes and ctx.cpus describe the host. The limits need
-- cgroups: run as root or inside a delegated cgroup (see docs/resources.md); without that purple
-- refuses to run (exit 125) unless --allow-unenforced is given.
local ctx = ...
local MiB = 1024 * 1024

-- Everyone: the ai-strict sandbox, with limits scaled to the host (an eighth of its memory,
-- half of its CPUs, at least 256 MiB and half a CPU).
local host_memory = ctx.memory_bytes or 2048 * MiB
local policy = purple.extend("ai-strict", {
  name = "per-agent/" .. (ctx.agent or "unknown"),
  description = "ai-strict, adjusted for the agent " .. tostring(ctx.agent),
  resources = {
    memory_limit_bytes = math.max(256 * MiB, host_memory // 8),
    cpu_shares = math.max(0.5, ctx.cpus / 2),
    pids_limit = 256,
    session_timeout_seconds = 3600,
  },
})

if ctx.agent == "browser" then
  -- A browsing agent: HTTPS and DNS out, and what name resolution and TLS need.
  policy.network = { isolated = false, allow_outgoing = { "443/tcp", "53/udp", "53/tcp" } }
  policy = purple.extend(policy, {
    filesystem = { immutable_paths = {
      { host_path = "/etc/resolv.conf", sandbox_path = "/etc/resolv.conf", optional = true },
      { host_path = "/etc/ssl", sandbox_path = "/etc/ssl", optional = true },
    } },
  })
elseif ctx.agent == "coder" or ctx.agent == "python3" then
  -- A code-running agent: no network at all and a tighter memory limit.
  policy.network = { isolated = true }
  policy.resources.memory_limit_bytes = math.max(128 * MiB, host_memory // 16)
  policy.resources.pids_limit = 128
end

return policy
