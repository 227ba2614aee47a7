#!/usr/bin/env lua5.4
-- embed: a Lua tool that runs several commands under different policies and collects the results.
--
--   eval "$(make env)"; lua5.4 examples/embed.lua
--
-- purple.exec(policy, argv) runs one command and returns its result (status, duration, ...);
-- policies come from profiles (purple.profile) and are adjusted with purple.extend.
local purple = require "purple"

local strict = assert(purple.profile("ai-strict"))
local small_tmp = purple.extend(strict, {
  name = "small-tmp",
  filesystem = { scratch_paths = { replace = { { path = "/tmp", size = "1M" } } } },
})
local named = purple.extend(strict, { name = "named-host", hostname = "worker-1" })

local jobs = {
  { "hello", strict, { "/bin/echo", "hello from the sandbox" } },
  { "exit status", strict, { "/bin/sh", "-c", "exit 3" } },
  { "hostname", named, { "/bin/sh", "-c", "test \"$(cat /proc/sys/kernel/hostname)\" = worker-1" } },
  { "1 MiB /tmp is full", small_tmp, { "/bin/sh", "-c", "head -c 2000000 /dev/zero > /tmp/big 2>/dev/null" } },
  { "no such command", strict, { "/nonexistent" } },
}

local failed = 0
print(("%-20s %-12s %6s %8s"):format("job", "policy", "status", "seconds"))
for _, job in ipairs(jobs) do
  local name, policy, argv = job[1], job[2], job[3]
  local result = purple.exec(policy, argv)
  if result.error and result.status == 125 then failed = failed + 1 end
  print(("%-20s %-12s %6d %8.3f"):format(name, policy.name, result.status, result.duration or 0))
end
os.exit(failed == 0 and 0 or 1)
