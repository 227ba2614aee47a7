-- Shared helpers for specs: run purple for real and look at the result from the host.
local core = require "purple.core"

local H = {}

H.tree = (function()
  local p = io.popen("pwd")
  local d = p:read("l")
  p:close()
  return d
end)()
H.purple = H.tree .. "/bin/purple"
H.purple_lua = H.tree .. "/bin/purple-lua"
H.purple_oci = H.tree .. "/bin/purple-oci"
H.helpers = H.tree .. "/spec/helpers/bin"

function H.is_root()
  return (core.ids()) == 0
end

-- Shell-quotes one word.
function H.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- stderr without the lines that say this host gives the user no delegated cgroup: ai-strict and
-- other profiles with cgroup limits and allow_unenforced print them for an ordinary user outside a
-- delegated cgroup (a property of the host, not of what a spec tests). What purple says there is
-- asserted by resources_spec, through the run's result, where it is the point.
function H.host_quiet(err)
  return (err:gsub("purple: resources%.[%w_]+: not enforced: [^\n]* has no delegated cgroup; [^\n]*\n", ""))
end

-- Runs a shell command line; returns stdout, stderr (less H.host_quiet's lines), exit status.
function H.sh(cmdline)
  local errf = os.tmpname()
  local p = io.popen(cmdline .. " 2>" .. errf)
  local out = p:read("a")
  local _, _, code = p:close()
  local f = io.open(errf)
  local err = f:read("a")
  f:close()
  os.remove(errf)
  return out, H.host_quiet(err), code
end

-- A fresh private temporary directory, removed by H.cleanup().
local tmpdirs = {}
function H.tmpdir()
  local p = io.popen("mktemp -d /tmp/purple-spec.XXXXXX")
  local d = p:read("l")
  p:close()
  os.execute("chmod 755 " .. H.q(d))
  tmpdirs[#tmpdirs + 1] = d
  return d
end

function H.cleanup()
  for _, d in ipairs(tmpdirs) do os.execute("rm -rf " .. H.q(d)) end
  tmpdirs = {}
end

function H.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- The whole content of a file, or nil (the project's own helper).
H.read = require("purple.files").read

-- purple-oci with a state root of the spec's own: stdout, stderr, status. Its output goes to files,
-- not pipes: a created container holds create's stdio (its process's) until it ends. out: the file
-- for stdout (with create, the container's), else a temporary one.
function H.oci_to(root, out, ...)
  local words = { H.q(H.purple_oci), "--root", H.q(root) }
  for _, w in ipairs({ ... }) do words[#words + 1] = H.q(w) end
  local d = H.tmpdir()
  out = out or d .. "/out"
  local _, _, code = os.execute(("%s >%s 2>%s/err </dev/null"):format(table.concat(words, " "), H.q(out), d))
  return H.read(out), H.read(d .. "/err"), code
end

function H.oci(root, ...) return H.oci_to(root, nil, ...) end

-- Waits (no time limit: the test fails by hanging, never by a clock) until purple-oci's state of id
-- says status want; returns that state.
function H.oci_wait_status(root, id, want)
  while true do
    local st = require("purple.json").decode((H.oci(root, "state", id)))
    if st and st.status == want then return st end
    core.sleep(0.02)
  end
end

-- Writes a Lua profile returning the given source text into a temp dir; returns its path.
function H.profile(src)
  local d = H.tmpdir()
  local path = d .. "/p.lua"
  H.write(path, src)
  return path
end

-- Runs `purple run --profile PROFILE -- argv...`; returns stdout, stderr, status.
function H.run(profile, argv, opts)
  opts = opts or {}
  local words = { H.purple }
  for _, w in ipairs(opts.global or {}) do words[#words + 1] = H.q(w) end
  words[#words + 1] = "run"
  words[#words + 1] = "--profile"
  words[#words + 1] = H.q(profile)
  for _, w in ipairs(opts.args or {}) do words[#words + 1] = H.q(w) end
  words[#words + 1] = "--"
  for _, w in ipairs(argv) do words[#words + 1] = H.q(w) end
  local env = opts.env and (opts.env .. " ") or ""
  return H.sh(env .. table.concat(words, " ") .. (opts.stdin and (" <" .. opts.stdin) or " </dev/null"))
end

-- Paths uid 65534 can use, for the root pass's cases that run purple as that user (setpriv): this
-- tree where that user can reach it; else (a clone under /root or any 0700 directory) a copy of
-- bin/purple and bin/purple-lua, lua/, profiles/ and the spec helpers in a fresh 0755 directory, removed by H.cleanup().
function H.nobody_tree()
  local _, _, code = H.sh("setpriv --reuid=65534 --regid=65534 --clear-groups test -x " .. H.q(H.purple))
  if code == 0 then return { tree = H.tree, purple = H.purple, helpers = H.helpers } end
  local t = H.tmpdir()
  assert(os.execute(("mkdir -p %s/bin %s/spec/helpers && cp %s %s %s/bin/ && cp -r %s %s %s/ "
    .. "&& cp -r %s %s/spec/helpers/ && chmod -R a+rX %s"):format(H.q(t), H.q(t), H.q(H.purple),
    H.q(H.purple_lua), H.q(t), H.q(H.tree .. "/lua"), H.q(H.tree .. "/profiles"), H.q(t), H.q(H.helpers),
    H.q(t), H.q(t))))
  return { tree = t, purple = t .. "/bin/purple", helpers = t .. "/spec/helpers/bin" }
end

-- Host probes: what the kernel offers, tested outside any sandbox in a child process, so that a
-- spec can mark a case pending("reason") where the host lacks it instead of failing on the host.
-- The i386 (int 0x80) or x32 system call entry: rawsys makes getpid through it. Returns true, or
-- false and the reason with what the call did on this host.
function H.host_syscall_entry(abi)
  local nr = abi == "int80" and 20 or core.syscall_number("getpid")
  local out, _, code = H.sh(H.q(H.helpers .. "/rawsys") .. " " .. abi .. " " .. nr)
  if out:match("^ok %d+\n$") and code == 0 then return true end
  local what = code == 0 and out:gsub("\n$", "") or ("exit status " .. tostring(code))
  return false, ("this kernel has no %s system call entry (outside a sandbox: %s)")
    :format(abi == "int80" and "i386 (int 0x80)" or "x32", what), out, code
end

-- Landlock: true where this kernel's ABI is at least min, else false and the reason (what needs it).
function H.landlock_abi(min, what)
  local abi = core.landlock_abi() or 0
  if abi >= min then return true end
  return false, ("%s needs Landlock ABI %d; this kernel offers %s"):format(what, min,
    abi == 0 and "no Landlock" or "ABI " .. abi)
end

-- A minimal policy source: /usr read-only, /tmp scratch, no network. extra is Lua table fields.
function H.minimal(extra)
  return ([[
return {
  name = "spec-minimal",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
    scratch_paths = { "/tmp" },
    working_dir = "/tmp",
  },
  %s
}]]):format(extra or "")
end

return H
