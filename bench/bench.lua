-- make bench: purple against plain exec, unshare, bubblewrap and firejail, side by side in one run.
-- Every round runs every command once (A B C ... A B C ...), so drift of the machine hits all alike;
-- ratios are the median over rounds of the paired per-round ratios. See bench/README.md.
-- Environment: ROUNDS (200), WARMUP (10), TPUT_SECONDS (5), RUNNER, PURPLE_ROOT (the tree), OUT (dir),
-- BASELINE (another built purple tree, e.g. before an optimisation: its rows are measured in the same
-- rounds, so before and after are paired).
local stats = dofile((arg[0]:match("^(.*)/") or ".") .. "/stats.lua")

local ROOT = os.getenv("PURPLE_ROOT") or "."
local RUNNER = os.getenv("RUNNER") or (ROOT .. "/build/bench/runner")
local OUT = os.getenv("OUT") or (ROOT .. "/build/bench")
local ROUNDS = tonumber(os.getenv("ROUNDS") or "200")
local WARMUP = tonumber(os.getenv("WARMUP") or "10")
local TPUT_SECONDS = tonumber(os.getenv("TPUT_SECONDS") or "5")
local PURPLE = ROOT .. "/bin/purple"
local PURPLE_LUA = ROOT .. "/bin/purple-lua"
local MINIMAL = ROOT .. "/bench/profiles/minimal.lua"
local BASELINE = os.getenv("BASELINE")
if BASELINE == "" then BASELINE = nil end

local function sh_ok(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  return ok == true
end

local function which(name)
  local p = io.popen("command -v " .. name .. " 2>/dev/null")
  local r = p:read("l")
  p:close()
  return r
end

local PAYLOADS = {
  { key = "true", argv = { "/bin/true" } },
  { key = "python", argv = { "/usr/bin/python3", "-c", "pass" } },
}

local BWRAP = { "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr",
  "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
  "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp" }
local UNSHARE = { "unshare", "--user", "--map-root-user", "--pid", "--fork", "--net", "--mount", "--ipc", "--uts" }
local FIREJAIL = { "firejail", "--noprofile", "--quiet" }

local function join(...)
  local r = {}
  for _, t in ipairs({ ... }) do for _, v in ipairs(t) do r[#r + 1] = v end end
  return r
end

-- The peers that run here; a missing or failing one is skipped with the reason printed.
local skipped = {}
local function peer(name, prefix)
  local exe = which(prefix[1])
  if not exe then
    skipped[#skipped + 1] = ("%s: not installed (make bench-deps installs it)"):format(name)
    return nil
  end
  local p = join({ exe }, { table.unpack(prefix, 2) })
  local probe = table.concat(p, " ") .. " /bin/true"
  if not sh_ok(probe) then
    skipped[#skipped + 1] = ("%s: '%s' fails on this machine"):format(name, probe)
    return nil
  end
  return p
end

local peers = {
  { name = "unshare", prefix = peer("unshare", UNSHARE) },
  { name = "bwrap", prefix = peer("bwrap", BWRAP) },
  { name = "firejail", prefix = peer("firejail", FIREJAIL) },
}

local commands = {}
for _, pl in ipairs(PAYLOADS) do
  local k = pl.key
  commands[#commands + 1] = { k .. " plain", pl.argv }
  for _, p in ipairs(peers) do
    if p.prefix then commands[#commands + 1] = { k .. " " .. p.name, join(p.prefix, pl.argv) } end
  end
  commands[#commands + 1] = { k .. " purple run ai-strict", join({ PURPLE, "run", "--profile", "ai-strict", "--" }, pl.argv) }
  commands[#commands + 1] = { k .. " purple run minimal", join({ PURPLE, "run", "--profile", MINIMAL, "--" }, pl.argv) }
  if BASELINE then
    commands[#commands + 1] = { k .. " baseline run ai-strict",
      join({ BASELINE .. "/bin/purple", "run", "--profile", "ai-strict", "--" }, pl.argv) }
  end
  commands[#commands + 1] = { "@" .. k .. " purple.exec ai-strict",
    join({ PURPLE_LUA, ROOT .. "/bench/exec_server.lua", "ai-strict", "--" }, pl.argv) }
  commands[#commands + 1] = { "@" .. k .. " purple.exec minimal",
    join({ PURPLE_LUA, ROOT .. "/bench/exec_server.lua", MINIMAL, "--" }, pl.argv) }
end

-- A running ai-strict session (issue 14): `purple exec` into it is measured against the cold runs.
-- It lives in the default runtime directory under a name of its own and is stopped at the end.
local SESSION = ("bench-%d"):format(math.random(1e9))
local session_ok = sh_ok(("%s session start --profile ai-strict --name %s"):format(PURPLE, SESSION))
if not session_ok then skipped[#skipped + 1] = "purple exec: purple session start failed" end
-- Its floor: two process starts (a client without a C library, the command) and nothing else
-- (bench/exec_floor.c; x86-64 only).
local FLOOR = ROOT .. "/build/bench/exec_floor"
if not sh_ok("test -x " .. FLOOR) then FLOOR = nil end
for _, pl in ipairs(PAYLOADS) do
  if session_ok then
    commands[#commands + 1] = { pl.key .. " purple exec ai-strict", join({ PURPLE, "exec", SESSION, "--" }, pl.argv) }
  end
  if FLOOR then commands[#commands + 1] = { pl.key .. " exec floor", join({ FLOOR }, pl.argv) } end
end

-- Stop at once when purple itself does not work (a half-built tree), instead of failing every run.
do
  local probe = table.concat({ ROOT .. "/bin/purple", "run", "--profile", "ai-strict", "--", "/bin/true" }, " ")
  if not os.execute(probe .. " >/dev/null") then
    io.stderr:write("bench: '", probe, "' fails; build the tree first (make)\n")
    os.exit(125)
  end
end

os.execute("mkdir -p " .. OUT)
local specfile = OUT .. "/commands.tsv"
local f = assert(io.open(specfile, "w"))
for _, c in ipairs(commands) do f:write(c[1], "\t", table.concat(c[2], "\t"), "\n") end
f:close()

io.stdout:write(("purple bench: %d rounds (+%d warm-up) of %d commands, alternating; %s\n"):format(
  ROUNDS, WARMUP, #commands, os.date("!%Y-%m-%d %H:%M UTC")))
for _, s in ipairs(skipped) do io.stdout:write("  skipped ", s, "\n") end
io.stdout:flush()

local raw = OUT .. "/alt.tsv"
if not os.execute(("%s alt %d %d %s > %s"):format(RUNNER, ROUNDS, WARMUP, specfile, raw)) then
  if session_ok then sh_ok(("%s session stop %s"):format(PURPLE, SESSION)) end
  error("runner failed")
end
local times, rss, bad, server_rss = {}, {}, {}, {}
for line in io.lines(raw) do
  local r, label, ns, kib, st = line:match("^(%d+)\t([^\t]+)\t(%d+)\t(%d+)\t(%d+)$")
  if r then
    label = label:gsub("^@", "")
    times[label] = times[label] or {}
    times[label][tonumber(r) + 1] = tonumber(ns) / 1e6
    rss[label] = rss[label] or {}
    rss[label][#rss[label] + 1] = tonumber(kib)
    if st ~= "0" then bad[label] = (bad[label] or 0) + 1 end
  else
    local l, kib2 = line:match("^server\t@?([^\t]+)\t(%d+)$")
    if l then server_rss[l] = tonumber(kib2) end
  end
end

local function ratio(label, base)
  if not times[label] or not times[base] then return nil end
  return stats.paired_median(times[label], times[base])
end

local function fmt(x, pat) return x and (pat):format(x) or "-" end

local results = {}
for _, pl in ipairs(PAYLOADS) do
  local k = pl.key
  io.stdout:write(("\npayload %s\n"):format(table.concat(pl.argv, " ")))
  io.stdout:write(("  %-28s %9s %9s %8s %8s %10s %s\n"):format("command", "median ms", "×plain", "×unshare",
    "×bwrap", "peak RSS", "failed"))
  for _, c in ipairs(commands) do
    local label = c[1]:gsub("^@", "")
    if label:sub(1, #k + 1) == k .. " " then
      local name = label:sub(#k + 2)
      local kib = server_rss[label] or stats.median(rss[label])
      local r = {
        ms = stats.median(times[label]),
        plain = ratio(label, k .. " plain"),
        unshare = ratio(label, k .. " unshare"),
        bwrap = ratio(label, k .. " bwrap"),
        rss = kib / 1024,
      }
      results[label] = r
      io.stdout:write(("  %-28s %9.2f %9s %8s %8s %9.2fM %s\n"):format(name, r.ms, fmt(r.plain, "%.2f"),
        fmt(r.unshare, "%.2f"), fmt(r.bwrap, "%.2f"), r.rss, bad[label] and tostring(bad[label]) or ""))
    end
  end
end
io.stdout:write("  (peak RSS: wait4 ru_maxrss of the direct child; for purple.exec, of the whole Lua server)\n")

-- Throughput: two workers starting sandboxes back to back.
io.stdout:write(("\nthroughput: /bin/true, 2 workers, %gs each\n"):format(TPUT_SECONDS))
local tput = {}
local function throughput(name, argv)
  local p = io.popen(("%s tput 2 %g %s"):format(RUNNER, TPUT_SECONDS, table.concat(argv, " ")))
  local line = p:read("l")
  p:close()
  local runs, fails, ns = line:match("^(%d+)\t(%d+)\t(%d+)$")
  local per_s = tonumber(runs) / (tonumber(ns) / 1e9)
  tput[name] = per_s
  io.stdout:write(("  %-28s %8.1f sandboxes/s%s\n"):format(name, per_s,
    fails ~= "0" and (" (%s failed)"):format(fails) or ""))
end
throughput("plain", { "/bin/true" })
for _, p in ipairs(peers) do
  if p.prefix and p.name ~= "firejail" then throughput(p.name, join(p.prefix, { "/bin/true" })) end
end
throughput("purple run ai-strict", { PURPLE, "run", "--profile", "ai-strict", "--", "/bin/true" })
if session_ok then
  throughput("purple exec ai-strict", { PURPLE, "exec", SESSION, "--", "/bin/true" })
  sh_ok(("%s session stop %s"):format(PURPLE, SESSION))
end
if FLOOR then throughput("exec floor", { FLOOR, "/bin/true" }) end
if BASELINE then
  throughput("baseline run ai-strict", { BASELINE .. "/bin/purple", "run", "--profile", "ai-strict", "--", "/bin/true" })
end

-- purple-oci against runc under podman (issue 16): `podman run --rm IMAGE /bin/true` with each runtime,
-- podman's own overhead in both, paired rounds of their own (OCI_ROUNDS, default 30: a podman run takes
-- ~0.2 s). Root only; the image is busybox-static, podman's state a temporary directory (vfs: no mounts)
-- removed afterwards, no network (netns = "none").
local oci_ratio
local OCI_ROUNDS = tonumber(os.getenv("OCI_ROUNDS") or "30")
local function oci_bench()
  if not (which("podman") and which("runc") and which("busybox")) then
    io.stdout:write("\npodman run: skipped (podman, runc or busybox-static not installed: make deps)\n")
    return
  end
  if io.popen("id -u"):read("l") ~= "0" then
    io.stdout:write("\npodman run: skipped (root only: rootless podman needs subordinate ids)\n")
    return
  end
  local w = io.popen("mktemp -d /tmp/purple-bench-oci.XXXXXX"):read("l")
  local nofile = io.popen("sh -c 'ulimit -Hn'"):read("l")
  local conf = assert(io.open(w .. "/containers.conf", "w"))
  conf:write(([[
[containers]
default_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "%s/events.log"
runtime_supports_json = ["runc", "purple-oci"]
[engine.runtimes]
purple-oci = ["%s"]
runc = ["%s"]
]]):format(nofile, nofile, w, ROOT .. "/bin/purple-oci", which("runc")))
  conf:close()
  local pm = ("env CONTAINERS_CONF=%s podman --storage-driver vfs --root %s/root --runroot %s/runroot"):format(
    w .. "/containers.conf", w, w)
  local built = sh_ok(("mkdir -p %s/rootfs/bin %s/rootfs/proc %s/rootfs/dev %s/rootfs/sys %s/rootfs/tmp && "
    .. "cp $(command -v busybox) %s/rootfs/bin/busybox && ln -s busybox %s/rootfs/bin/true && "
    .. "tar -C %s/rootfs -cf %s/rootfs.tar . && %s import %s/rootfs.tar localhost/purple-bench"):format(
    w, w, w, w, w, w, w, w, w, pm, w))
  local cmds = {}
  for _, rt in ipairs({ "runc", "purple-oci" }) do
    cmds[#cmds + 1] = { "podman run --rm " .. rt, { which("env"), "CONTAINERS_CONF=" .. w .. "/containers.conf", which("podman"),
      "--storage-driver", "vfs", "--root", w .. "/root", "--runroot", w .. "/runroot", "--runtime", rt, "run", "--rm",
      "localhost/purple-bench", "/bin/true" } }
  end
  local ok = built and sh_ok(table.concat(cmds[1][2], " ")) and sh_ok(table.concat(cmds[2][2], " "))
  if ok then
    local spec = w .. "/commands.tsv"
    local cf = assert(io.open(spec, "w"))
    for _, c in ipairs(cmds) do cf:write(c[1], "\t", table.concat(c[2], "\t"), "\n") end
    cf:close()
    local out = OUT .. "/oci.tsv"
    ok = os.execute(("%s alt %d %d %s > %s"):format(RUNNER, OCI_ROUNDS, 3, spec, out))
    local t = { [cmds[1][1]] = {}, [cmds[2][1]] = {} }
    for line in io.lines(out) do
      local r, label, ns = line:match("^(%d+)\t([^\t]+)\t(%d+)\t")
      if r then
        t[label] = t[label] or {}
        t[label][tonumber(r) + 1] = tonumber(ns) / 1e6
      end
    end
    io.stdout:write(("\npodman run --rm localhost/purple-bench /bin/true (%d paired rounds)\n"):format(OCI_ROUNDS))
    for _, c in ipairs(cmds) do
      io.stdout:write(("  %-28s %9s ms\n"):format((c[1]:gsub("^podman run %-%-rm ", "")),
        fmt(#t[c[1]] > 0 and stats.median(t[c[1]]) or nil, "%.2f")))
    end
    if ok and #t[cmds[1][1]] > 0 then
      oci_ratio = stats.paired_median(t["podman run --rm purple-oci"], t["podman run --rm runc"])
    end
    io.stdout:write(("  purple-oci / runc (paired median) %s\n"):format(fmt(oci_ratio, "%.2f")))
  else
    io.stdout:write("\npodman run: skipped (the image or a first run failed)\n")
  end
  sh_ok(pm .. " rm -af -t 0")
  sh_ok(pm .. " rmi -af")
  sh_ok("rm -rf " .. w)
end
oci_bench()

-- The issue's targets, for /bin/true.
local ai = results["true purple run ai-strict"]
local checks = {
  { "purple ai-strict ≤ 0.8× bwrap", ai.bwrap, function(v) return v <= 0.8 end, "%.2f×" },
  { "purple ai-strict ≤ 1.2× unshare", ai.unshare, function(v) return v <= 1.2 end, "%.2f×" },
  { "≥ 150 sandboxes/s (2 workers)", tput["purple run ai-strict"], function(v) return v >= 150 end, "%.1f/s" },
  { "supervisor peak RSS ≤ 2.5 MiB", ai.rss, function(v) return v <= 2.5 end, "%.2f MiB" },
}
checks[#checks + 1] = { "podman run: purple-oci ≤ 1.0× runc", oci_ratio, function(v) return v <= 1.0 end, "%.2f×" }
local ex = results["true purple exec ai-strict"]
if ex then
  checks[#checks + 1] = { "purple exec ai-strict ≤ 0.3× bwrap", ex.bwrap, function(v) return v <= 0.3 end, "%.2f×" }
  local r = tput["bwrap"] and tput["purple exec ai-strict"] and tput["purple exec ai-strict"] / tput["bwrap"]
  checks[#checks + 1] = { "purple exec throughput ≥ 4× bwrap", r, function(v) return v >= 4 end, "%.2f×" }
  local fl = results["true exec floor"]
  if fl and tput["exec floor"] and tput["bwrap"] then
    io.stdout:write(("\npurple exec's floor (two process starts, bench/exec_floor.c): %.2f× bwrap, throughput %.2f× bwrap\n")
      :format(fl.bwrap, tput["exec floor"] / tput["bwrap"]))
  end
end
if BASELINE then
  local b = results["true baseline run ai-strict"]
  io.stdout:write(("\nbaseline %s: purple run ai-strict /bin/true %.2f ms -> %.2f ms (paired ratio %.2f)\n"):format(
    BASELINE, b.ms, ai.ms, stats.paired_median(times["true purple run ai-strict"], times["true baseline run ai-strict"])))
end
io.stdout:write("\ntargets\n")
for _, c in ipairs(checks) do
  local v = c[2]
  io.stdout:write(("  %-34s %-12s %s\n"):format(c[1], v and c[4]:format(v) or "-",
    v == nil and "not measured" or (c[3](v) and "met" or "MISSED")))
end
io.stdout:write(("\nraw samples: %s\n"):format(raw))
