-- Capabilities, securebits and no_new_privs, checked from inside real sandboxes in every process
-- and thread (spec/helpers/privcheck.c). Runs as root and as uid 65534 (spec/run.sh).
local H = require "spec_helper"
local core = require "purple.core"

local ROOT = H.is_root()

-- out: a host directory mounted at /output.
local function profile(extra, out)
  return H.profile(([[
return {
  name = "caps-spec",
  filesystem = {
    immutable_paths = {
      { host_path = "/usr", sandbox_path = "/usr" },
      { host_path = %q, sandbox_path = "/h" },
    },
    scratch_paths = { "/tmp" },
    %s
    working_dir = "/tmp",
  },
  %s
}]]):format(H.helpers, out and ('output_paths = { { host_path = %q, sandbox_path = "/output" } },'):format(out) or "",
    extra or ""))
end

-- privcheck output → { who = { field = value } }
local function parse(out)
  local t = {}
  for who, k, v in out:gmatch("(%a+) ([%w_]+:?) ([^\n]*)") do
    t[who] = t[who] or {}
    t[who][k] = v
  end
  return t
end

local SETS = { "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:" }

describe("capabilities and no_new_privs", function()
  teardown(H.cleanup)

  it("leaves every process and thread with no capabilities, NoNewPrivs 1 and a seccomp filter", function()
    local out, err, code = H.run(profile(), { "/h/privcheck" })
    assert.are.equal("", err)
    assert.are.equal(0, code)
    local t = parse(out)
    for _, who in ipairs({ "main", "thread", "child" }) do
      assert.is_table(t[who], who)
      for _, set in ipairs(SETS) do assert.are.equal("0000000000000000", t[who][set], who .. " " .. set) end
      assert.are.equal("1", t[who]["NoNewPrivs:"], who)
      assert.are.equal("2", t[who]["Seccomp:"], who)
      assert.are_not.equal("ok", t[who].setuid0, who)
    end
    -- and a shell's children the same
    out = H.run(profile(), { "sh", "-c", "grep -h -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status /proc/$$/status" })
    local n = 0
    for field, v in out:gmatch("([%w_]+):%s*(%S+)") do
      n = n + 1
      if field:match("^Cap") then assert.are.equal("0000000000000000", v, field) end
      if field == "NoNewPrivs" then assert.are.equal("1", v) end
      if field == "Seccomp" then assert.are.equal("2", v) end
    end
    assert.are.equal(14, n)
  end)

  it("locks the securebits", function()
    local nr = core.syscall_number("prctl")
    -- PR_GET_SECUREBITS (27); PR_SET_SECUREBITS (28) to 0
    local out = H.run(profile(), { "sh", "-c", ("/h/rawsys %d 27; /h/rawsys %d 28 0"):format(nr, nr) })
    -- NOROOT, NO_SETUID_FIXUP, KEEP_CAPS and NO_CAP_AMBIENT_RAISE, each with its lock
    assert.are.equal("ok 239\nerrno EPERM\n", out)
  end)

  it("gives a non-root command CAP_NET_BIND_SERVICE through the ambient set: port 80 in its own network namespace", function()
    local with = profile('capabilities = { default_drop = true, add = { "CAP_NET_BIND_SERVICE" } },')
    local out, err, code = H.run(with, { "/h/net_probe", "bind", "tcp", "0.0.0.0", "80" })
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.matches("^ok", out)
    local t = parse((H.run(with, { "/h/privcheck" })))
    for _, who in ipairs({ "main", "thread", "child" }) do
      for _, set in ipairs(SETS) do assert.are.equal("0000000000000400", t[who][set], who .. " " .. set) end
      assert.are.equal("65534", t[who].uid:match("^(%d+)"))
    end
    -- without it the same bind fails
    out, _, code = H.run(profile(), { "/h/net_probe", "bind", "tcp", "0.0.0.0", "80" })
    assert.are.equal(1, code)
    assert.are.equal("EACCES\n", out)
  end)

  it("with default_drop false keeps the bounding set but still grants only capabilities.add", function()
    local p = profile('capabilities = { default_drop = false, add = { "CAP_NET_BIND_SERVICE" } },')
    local t = parse((H.run(p, { "/h/privcheck" })))
    for _, who in ipairs({ "main", "thread", "child" }) do
      assert.are_not.equal("0000000000000000", t[who]["CapBnd:"], who)
      for _, set in ipairs({ "CapInh:", "CapPrm:", "CapEff:", "CapAmb:" }) do
        assert.are.equal("0000000000000400", t[who][set], who .. " " .. set)
      end
      assert.are.equal("1", t[who]["NoNewPrivs:"], who)
    end
    local out, _, code = H.run(p, { "/h/net_probe", "bind", "tcp", "0.0.0.0", "80" })
    assert.are.equal(0, code)
    assert.matches("^ok", out)
  end)

  it("rejects an unknown capability name before anything runs", function()
    local p = profile('capabilities = { add = { "CAP_FLY" } },')
    local out, err, code = H.run(p, { "/h/privcheck" })
    assert.are.equal(125, code)
    assert.are.equal("", out)
    assert.are.equal("purple: " .. p .. ': capabilities.add[1]: unknown capability "CAP_FLY"\n', err)
  end)

  it("does not let a setuid-root copy of a program elevate inside", function()
    if not ROOT then
      pending("making a setuid-root file needs root; the root run of this spec covers it")
      return
    end
    local dir = H.tmpdir()
    local copy = dir .. "/privcheck-suid"
    assert(os.execute(("cp %s %s && chown 0:0 %s && chmod 4755 %s"):format(H.q(H.helpers .. "/privcheck"),
      H.q(copy), H.q(copy), H.q(copy))))
    -- Control: outside purple the copy does make uid 65534 root.
    local host = parse((H.sh("setpriv --reuid=65534 --regid=65534 --clear-groups " .. H.q(copy))))
    assert.are.equal("65534 0", host.main.uid)
    -- Inside, in the output directory where a user (or the agent) would put it.
    do
      local out, err, code = H.run(profile(nil, dir), { "/output/privcheck-suid" })
      assert.are.equal("", err)
      assert.are.equal(0, code)
      local t = parse(out)
      for _, who in ipairs({ "main", "thread", "child" }) do
        assert.are.equal("65534 65534", t[who].uid, who)
        assert.are.equal("0000000000000000", t[who]["CapEff:"], who)
        assert.are_not.equal("ok", t[who].setuid0, who)
      end
    end
  end)
end)
