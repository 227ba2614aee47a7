-- make chaos: fault injection under load (docs/reliability.md). ROUNDS rounds of JOBS concurrent
-- jobs (`purple run` and sessions doing real work), each with one fault: SIGKILL of the
-- supervisor, the sandbox's init or the command at a random moment; the audit log or the output
-- directory on a full or a read-only tmpfs; the cgroup parent removed, or its pids limit squeezed
-- mid-run; pids and memory limits hit at once; the clocks jumped (a time namespace with a large
-- monotonic/boottime offset). After each round, from the host: no process left in the run's
-- cgroups, no cgroup, mount, socket or fd left, every audit line complete JSON, every finished
-- command's output intact, every exit status as the contract says (a fault inside purple is 125,
-- never 0), and no command that found itself less confined than its policy states.
--
-- Root only. The mounts are made in a private mount namespace (unshare -m) and the cgroups under
-- /chaos-PID, which the run creates and removes: the host's mounts, cgroups and clocks are never
-- touched. Environment: ROUNDS (2), JOBS (32), SEED (os.time()), PURPLE_ROOT (.).
local ROOT = os.getenv("PURPLE_ROOT") or "."
local ROUNDS = tonumber(os.getenv("ROUNDS") or "2")
local JOBS = tonumber(os.getenv("JOBS") or "32")
local SEED = tonumber(os.getenv("SEED") or tostring(os.time()))
package.path = ROOT .. "/lua/?.lua;" .. package.path
local json = require "dkjson"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end
local read = require("purple.files").read
local function write(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end
local function sleep(s) os.execute("sleep " .. s) end

if (read("/proc/self/status") or ""):match("\nUid:%s+(%d+)") ~= "0" then
  io.stderr:write("make chaos: needs root (cgroups, mounts, time namespaces)\n")
  os.exit(125)
end
-- a private mount namespace first: everything mounted below goes when the run ends
if os.getenv("PURPLE_CHAOS_NS") ~= "1" then
  local ok, _, code = os.execute("exec unshare -m --propagation private env PURPLE_CHAOS_NS=1 " ..
    q(arg[-1] or "lua5.4") .. " " .. q(arg[0]))
  os.exit(ok and 0 or code)
end

math.randomseed(SEED)
local PURPLE = ROOT .. "/bin/purple"
local BASE = ROOT .. "/build/chaos"
local ID = "chaos-" .. (read("/proc/self/stat"):match("^(%d+)"))
local HIER = {}
for _, h in ipairs({ "cpu", "memory", "pids" }) do
  if read("/sys/fs/cgroup/" .. h .. "/cgroup.procs") then HIER[#HIER + 1] = "/sys/fs/cgroup/" .. h end
end
assert(#HIER > 0, "make chaos: no cgroup v1 cpu/memory/pids hierarchy (hybrid layout expected)")

os.execute("rm -rf " .. q(BASE) .. " && mkdir -p " .. q(BASE .. "/full") .. " " .. q(BASE .. "/ro") .. " " .. q(BASE .. "/run"))
assert(os.execute("mount -t tmpfs -o size=512k,mode=0755 chaos-full " .. q(BASE .. "/full")))
assert(os.execute("mount -t tmpfs -o size=64k,mode=0755 chaos-ro " .. q(BASE .. "/ro")))
for _, h in ipairs(HIER) do assert(os.execute("mkdir " .. q(h .. "/" .. ID))) end

-- counts
local injected, checked, violations, statuses = {}, {}, {}, {}
local function count(t, k, n) t[k] = (t[k] or 0) + (n or 1) end
local function violation(kind, what)
  violations[#violations + 1] = kind .. ": " .. what
  io.stderr:write("VIOLATION " .. kind .. ": " .. what .. "\n")
end
local function check(name, ok, kind, what)
  count(checked, name)
  if not ok then violation(kind, name .. ": " .. what) end
end

local WORK = [[i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done
printf '%s\n' "chaos-data-$JOB" > /output/f || exit 3
touch /usr/chaos-probe 2>/dev/null && echo VIOLATION-usr-writable
[ -r /etc/shadow ] && echo VIOLATION-shadow-readable
cat /output/f]]
local LONG = WORK .. "\nsleep 5"
-- pids and memory at once: more sleepers than pids_limit, then more memory than memory_limit_bytes
-- (dash exits 2 when a fork fails: the command's own status)
local LIMITS = [[x=$(head -c 200000000 /dev/zero | tr '\0' a) && echo VIOLATION-memory-limit
for i in $(seq 40); do sleep 3 & done 2>/dev/null
[ "$(jobs -p | wc -l)" -gt 16 ] && echo VIOLATION-pids-limit
exit 0]]

local function policy(job)
  return ([[name: chaos
filesystem:
  immutable_paths:
    - host_path: /usr
    - host_path: /etc/alternatives
      optional: true
    - host_path: /etc/ld.so.cache
      optional: true
  scratch_paths: ["/tmp"]
  output_paths:
    - host_path: %q
      sandbox_path: /output
  working_dir: /tmp
syscalls:
  default_deny: true
  allow: ["@system-service"]
resources:
  memory_limit_bytes: %s
  pids_limit: %d
  session_timeout_seconds: 60
audit:
  enabled: true
  log_path: %q
  detail_level: [syscall, filesystem, resource, network]
]]):format(job.out, job.memory or "256M", job.pids or 256, job.log)
end

-- Fault kinds: what is done, and which exit statuses the contract allows (a set).
local S = function(...) local t = {} for _, v in ipairs({ ... }) do t[v] = true end return t end
local KINDS = {
  none = { cmd = WORK, want = S(0), output = true },
  kill_command = { cmd = LONG, want = S(137), kill = "command" },
  kill_init = { cmd = LONG, want = S(125, 137), kill = "init" },
  kill_supervisor = { cmd = LONG, want = S(137), kill = "supervisor" },
  audit_full = { cmd = WORK, want = S(0, 125), log_on = "full", output = true },
  audit_ro = { cmd = WORK, want = S(125), log_on = "ro", not_run = true },
  output_full = { cmd = WORK, want = S(0, 3, 125), out_on = "full" },
  output_ro = { cmd = WORK, want = S(3, 125), out_on = "ro", not_run = true },
  cgroup_gone = { cmd = WORK, want = S(125), cgroup_gone = true, not_run = true },
  cgroup_squeeze = { cmd = LONG .. "\nsleep 1 & wait", want = S(0, 2, 125, 137), squeeze = true },
  limits = { cmd = LIMITS, want = S(0, 2, 137), memory = "48M", pids = 16 },
  clock = { cmd = "sleep 30", want = S(124), timeout = 1, clock = true },
  session = { session = true },
  -- SIGKILL of a session's supervisor while a purple exec waits: that exec ends with 125
  session_kill = { session = true, kill = "session", want = S(125) },
}
local ORDER = { "none", "kill_command", "kill_init", "kill_supervisor", "audit_full", "audit_ro", "output_full",
  "output_ro", "cgroup_gone", "cgroup_squeeze", "limits", "clock", "session", "session_kill" }

local function children(pid)
  local out = {}
  for task in (sh("ls /proc/" .. pid .. "/task 2>/dev/null")):gmatch("%d+") do
    for c in (read("/proc/" .. pid .. "/task/" .. task .. "/children") or ""):gmatch("%d+") do out[#out + 1] = c end
  end
  return out
end

-- The job's shell script: the wrapper records purple's pid and the exit status.
local function job_script(job)
  local env = ("JOB=%d PURPLE_RUNTIME_DIR=%s PURPLE_CGROUP_PARENT=%s"):format(job.n, q(BASE .. "/run"), q(job.parent))
  local k = job.kind
  if k.session then
    local name = ID .. "-s" .. job.n
    job.session = name
    return ([[
export %s
%s session start --profile %s --name %s > %s/start.out 2>&1 || { echo $? > %s/status; exit; }
for i in 1 2 3; do %s exec --env JOB=%d %s -- sh -c %s > %s/exec$i.out 2>&1; echo $? >> %s/exec.status; done
%s session stop %s > /dev/null 2>&1; echo 0 > %s/status
]]):format(env, q(PURPLE), q(job.dir .. "/p.yaml"), q(name), q(job.dir), q(job.dir), q(PURPLE), job.n, q(name),
      q(k.kill and LONG or WORK), q(job.dir), q(job.dir), q(PURPLE), q(name), q(job.dir))
  end
  local pre = k.clock and (math.random(2) == 1 and "unshare -T --fork --monotonic 31536000 --boottime 31536000 "
    or "unshare -T --fork --monotonic -20000 --boottime -20000 ") or ""
  return ([[
export %s
sh -c 'echo $$ > %s/pid; exec %s%s run --profile %s %s -- sh -c "$0"' %s > %s/stdout 2> %s/err
echo $? > %s/status
]]):format(env, q(job.dir), pre, q(PURPLE), q(job.dir .. "/p.yaml"), k.timeout and ("--timeout " .. k.timeout) or "",
    q((k.cmd:gsub("%$JOB", tostring(job.n)))), q(job.dir), q(job.dir), q(job.dir))
end

local function cgroup_dirs(rel)
  local out = {}
  for _, h in ipairs(HIER) do
    for d in (sh("find " .. q(h .. rel) .. " -mindepth 1 -type d 2>/dev/null")):gmatch("[^\n]+") do out[#out + 1] = d end
  end
  return out
end

local function procs_in(rel)
  local n = 0
  for _, h in ipairs(HIER) do
    for f in (sh("find " .. q(h .. rel) .. " -name cgroup.procs 2>/dev/null")):gmatch("[^\n]+") do
      for _ in (read(f) or ""):gmatch("%d+") do n = n + 1 end
    end
  end
  return n
end

local function fd_count() return select(2, (sh("ls /proc/self/fd")):gsub("%d+", "")) end
local function mounts() return select(2, (read("/proc/self/mountinfo") or ""):gsub("\n", "")) end
local function sockets()
  local out = sh("find " .. q(BASE .. "/run") .. " -type s 2>/dev/null")
  return select(2, out:gsub("\n", ""))
end

-- Fills the full tmpfs (after the round's directories on it were made) but for 16 KiB, so the
-- first audit lines and output fit and the rest meets ENOSPC mid-run.
local function fill()
  local f = q(BASE .. "/full/fill")
  os.execute("dd if=/dev/zero of=" .. f .. ".slack bs=4k count=4 2>/dev/null; dd if=/dev/zero of=" .. f ..
    " bs=4k 2>/dev/null; rm -f " .. f .. ".slack")
end

local base_mounts, base_fds = mounts(), fd_count()

for round = 1, ROUNDS do
  local jobs = {}
  os.execute("umount " .. q(BASE .. "/ro") .. " 2>/dev/null; rm -f " .. q(BASE .. "/full/fill"))
  os.execute("mount -t tmpfs -o size=64k,mode=0755 chaos-ro " .. q(BASE .. "/ro"))
  for n = 1, JOBS do
    local kname = ORDER[(n + round) % #ORDER + 1]
    local k = KINDS[kname]
    local dir = ("%s/r%d/j%d"):format(BASE, round, n)
    local job = { n = n, kname = kname, kind = k, dir = dir, memory = k.memory, pids = k.pids,
      parent = ("/%s/r%dj%d"):format(ID, round, n) }
    os.execute("mkdir -p " .. q(dir .. "/out"))
    job.out = dir .. "/out"
    job.log = dir .. "/audit.log"
    if k.out_on then
      job.out = ("%s/%s/r%dj%d"):format(BASE, k.out_on, round, n)
      os.execute("mkdir -p " .. q(job.out))
    end
    if k.log_on then
      os.execute("mkdir -p " .. q(("%s/%s/r%dj%d"):format(BASE, k.log_on, round, n)))
      job.log = ("%s/%s/r%dj%d/audit.log"):format(BASE, k.log_on, round, n)
    end
    os.execute("chown 65534:65534 " .. q(job.out))
    if not k.cgroup_gone then
      for _, h in ipairs(HIER) do os.execute("mkdir " .. q(h .. job.parent)) end
    end
    write(dir .. "/p.yaml", policy(job))
    write(dir .. "/job.sh", job_script(job))
    jobs[n] = job
  end
  fill()
  os.execute("mount -o remount,ro " .. q(BASE .. "/ro"))
  -- all at once
  for _, job in ipairs(jobs) do
    os.execute("setsid sh " .. q(job.dir .. "/job.sh") .. " </dev/null >/dev/null 2>&1 &")
    count(injected, job.kname)
    job.fire = math.random() * 1.5 + 0.3
  end
  -- the faults at their moments (0.3 to 1.8 s after the start; a target not there yet, under the
  -- load of the round's starts, is tried again until 4 s, then the fault counts as missed)
  local t = 0
  while t < 4 do
    sleep(0.1)
    t = t + 0.1
    for _, job in ipairs(jobs) do
      local k = job.kind
      if not job.fired and t >= job.fire and (k.kill or k.squeeze) then
        local sup = (read(job.dir .. "/pid") or ""):match("%d+")
        local target, done
        if k.kill == "session" then
          local rec = read(BASE .. "/run/" .. job.session .. ".json")
          target = rec and read(job.dir .. "/exec.status") == nil and rec:match('"supervisor_pid":(%d+)')
        elseif sup and k.kill == "supervisor" then
          target = sup
        elseif sup and (k.kill == "init" or k.kill == "command") then
          local init = children(sup)[1]
          target = init and (k.kill == "init" and init or children(init)[1])
        elseif k.squeeze then
          local f = "/sys/fs/cgroup/pids" .. job.parent .. "/pids.max"
          local cur = (read("/sys/fs/cgroup/pids" .. job.parent .. "/pids.current") or ""):match("%d+")
          done = cur and cur ~= "0" and os.execute("echo " .. cur .. " > " .. q(f) .. " 2>/dev/null")
        end
        if target then done = os.execute("kill -KILL " .. target .. " 2>/dev/null") end
        if done or t >= 3.9 then
          job.fired = true
          job.missed = not done
          if job.missed then count(injected, job.kname .. " (missed: not running)") end
        end
      end
    end
  end
  -- every job ends (the longest command sleeps 5 s; timeouts are 60 s)
  for _, job in ipairs(jobs) do
    local waited = 0
    while not read(job.dir .. "/status") and waited < 120 do sleep(0.2) waited = waited + 0.2 end
    job.status = tonumber((read(job.dir .. "/status") or ""):match("%d+"))
  end
  -- invariants, from the host
  for _, job in ipairs(jobs) do
    local k, kn = job.kind, job.kname
    local out = (read(job.dir .. "/stdout") or "") .. (read(job.dir .. "/err") or "")
    if k.session then
      local sts = read(job.dir .. "/exec.status") or ""
      check("session started", sts ~= "", kn, (read(job.dir .. "/start.out") or ""):gsub("\n", " | "))
      for s in sts:gmatch("%d+") do
        count(statuses, kn .. " exec " .. s)
        -- after a killed supervisor every exec is refused (125); otherwise each one succeeds
        local ok = (k.kill and job.fired and not job.missed) and s == "125" or s == "0"
        check("exit status", ok, kn, "purple exec returned " .. s)
      end
      if not (k.kill and not job.missed) then
      for i = 1, 3 do out = out .. (read(job.dir .. "/exec" .. i .. ".out") or "") end
        check("output intact", read(job.dir .. "/out/f") == "chaos-data-" .. job.n .. "\n", kn, "output file")
      end
    else
      count(statuses, kn .. " " .. tostring(job.status))
      local ok = job.status and (k.want[job.status] or (job.missed and job.status == 0))
      check("exit status", ok, kn, ("status %s (%s)"):format(tostring(job.status), out:gsub("\n", " | "):sub(1, 300)))
      if job.status == 0 then
        check("output intact", read(job.out .. "/f") == "chaos-data-" .. job.n .. "\n", kn, "output of a finished command")
      end
      if k.not_run and job.status == 125 then
        check("refused before the command ran", read(job.out .. "/f") == nil, kn, "the command ran")
      end
    end
    check("enforcement", not out:find("VIOLATION"), kn, out:match("VIOLATION[%w-]*") or "")
    -- audit lines: each one complete JSON
    local log = read(job.log)
    if log and log ~= "" then
      local n, bad = 0, 0
      for line in log:gmatch("([^\n]*)\n") do
        n = n + 1
        if type(json.decode(line)) ~= "table" then bad = bad + 1 end
      end
      if log:sub(-1) ~= "\n" then bad = bad + 1 end
      count(checked, "audit lines complete JSON", n)
      if bad > 0 then violation(kn, ("%d of %d audit lines are not complete JSON"):format(bad, n)) end
    end
  end
  -- leaks: processes and cgroups under the run's parent (a supervisor killed by SIGKILL leaves its
  -- cgroup for the next run in that parent to remove: counted apart, then removed that way)
  local waited = 0
  while procs_in("/" .. ID) > 0 and waited < 10 do sleep(0.2) waited = waited + 0.2 end
  check("no process left", procs_in("/" .. ID) == 0, "round " .. round, procs_in("/" .. ID) .. " processes in " .. ID)
  for _, job in ipairs(jobs) do
    local left = cgroup_dirs(job.parent)
    if #left > 0 and (job.kname == "kill_supervisor" or job.kname == "session_kill") then
      count(checked, "cgroups of a SIGKILLed supervisor (deferred)", #left)
      os.execute(("cd /tmp && PURPLE_CGROUP_PARENT=%s %s run --profile %s -- true >/dev/null 2>&1")
        :format(q(job.parent), q(PURPLE), q(job.dir .. "/p.yaml")))
      left = cgroup_dirs(job.parent)
      check("deferred cgroups removed by the next run", #left == 0, job.kname, table.concat(left, " "))
    else
      check("no cgroup left", #left == 0, job.kname, table.concat(left, " "))
    end
  end
  check("no mount left", mounts() == base_mounts, "round " .. round, mounts() .. " mounts, " .. base_mounts .. " before")
  check("no fd left", fd_count() == base_fds, "round " .. round, fd_count() .. " fds, " .. base_fds .. " before")
  -- session sockets: a stopped session removes its socket; a session the round killed leaves none either
  os.execute(("for s in $(%s session list 2>/dev/null | awk 'NR>1{print $1}'); do %s session stop $s; done >/dev/null 2>&1")
    :format("PURPLE_RUNTIME_DIR=" .. q(BASE .. "/run") .. " " .. q(PURPLE), "PURPLE_RUNTIME_DIR=" .. q(BASE .. "/run") .. " " .. q(PURPLE)))
  check("no socket left", sockets() == 0, "round " .. round, sockets() .. " sockets in " .. BASE .. "/run")
  for _, job in ipairs(jobs) do
    for _, h in ipairs(HIER) do os.execute("rmdir " .. q(h .. job.parent) .. " 2>/dev/null") end
  end
end

-- what is left (empty cgroups of a round that found a violation) goes too; a cgroup with a
-- process in it cannot be removed and stays for the report's "no process left" line to explain
for _, h in ipairs(HIER) do os.execute("find " .. q(h .. "/" .. ID) .. " -depth -type d -exec rmdir {} + 2>/dev/null") end
os.execute("umount " .. q(BASE .. "/ro") .. " " .. q(BASE .. "/full") .. " 2>/dev/null")

local function table_of(title, t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  print(title)
  for _, k in ipairs(keys) do print(("  %-52s %6d"):format(k, t[k])) end
end
print(("make chaos: %d rounds of %d concurrent jobs (seed %d)"):format(ROUNDS, JOBS, SEED))
table_of("faults injected", injected)
table_of("exit statuses (fault, status)", statuses)
table_of("invariants checked", checked)
print(("violations: %d"):format(#violations))
for _, v in ipairs(violations) do print("  " .. v) end
os.exit(#violations == 0 and 0 or 1)
