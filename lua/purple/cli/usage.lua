-- purple.cli.usage: the one-line summary of a run's resource usage (purple -l info run ...).
-- The measurements themselves are made by purple.enforce.resources into result.usage.
local M = {}

local function bytes(n)
  if not n then return "?" end
  local units = { "B", "K", "M", "G", "T" }
  local i = 1
  while n >= 1024 and i < #units do
    n = n / 1024
    i = i + 1
  end
  return i == 1 and ("%dB"):format(n) or ("%.1f%s"):format(n, units[i])
end
M.bytes = bytes

-- "; cpu 0.49s user + 0.01s sys, peak memory 52.3M, peak pids 2, read 0B, written 4.0K" (or "")
function M.summary(result)
  local u = result.usage
  if not u then return "" end
  local parts = {
    ("cpu %.2fs user + %.2fs sys"):format(u.user_seconds or 0, u.system_seconds or 0),
    "peak memory " .. bytes(u.memory_peak_bytes),
  }
  if u.pids_peak then parts[#parts + 1] = "peak pids " .. u.pids_peak end
  parts[#parts + 1] = "read " .. bytes(u.read_bytes)
  parts[#parts + 1] = "written " .. bytes(u.write_bytes)
  if result.oom_killed then parts[#parts + 1] = "OOM-killed" end
  if result.timed_out then parts[#parts + 1] = "timed out" end
  return "; " .. table.concat(parts, ", ")
end

return M
