-- purple's own BPF emitter (core.seccomp_emit, csrc/seccomp_emit.c) against libseccomp's compile of
-- the same rule table (core.seccomp_compile): exhaustively equal decisions under core.seccomp_eval —
-- every syscall number, the other architectures and x32, and for each syscall with argument rules
-- the cross product of values around every compared constant and mask bit. No sandbox needed.
local H = require "spec_helper"
local core = require "purple.core"
local seccomp = require "purple.seccomp"
local profiles = require "purple.profiles"

local function section(path) return assert(profiles.load(H.tree .. "/" .. path, { argv = {} })).syscalls end
local function handler() end

-- Policies: name, syscalls section, plan options.
local POLICIES = {
  { "ai-strict", section("profiles/ai-strict.lua"), {} },
  { "ai-dev-safe", section("profiles/ai-dev-safe.lua"), {} },
  { "the guide's custom-profile", section("spec/fixtures/custom-profile.yaml"), {} },
  { "learn mode (ai-strict)", section("profiles/ai-strict.lua"), { learn = true } },
  { "action kill, default_deny", { default_deny = true, action = "kill", allow = { "@default", "@basic-io", "clone" } }, {} },
  { "action log, deny list", { action = "log", deny = { "@mount", "getppid", "@privileged" } }, {} },
  { "hardening only", nil, {} },
  { "hardening: false, allow list", { default_deny = true, hardening = false, allow = { "@system-service" } }, {} },
  { "hardening lifted by name, network handlers", { allow = { "mount", "ptrace" } },
    { handlers = { connect = handler, bind = handler, sendto = handler } } },
}

-- Values an argument compared with (value v, mask m) is worth trying: v and its neighbours, v with
-- high bits, every single bit of the mask with and without v, all ones, zero.
local function interesting(cmp, into)
  local v, m = cmp[3], cmp[4] or 0
  for _, x in ipairs({ 0, -1, 1, v, v - 1, v + 1, v | (1 << 32), v | (-1 << 32), v ~ (1 << 63), m, ~m, v | ~m,
    0xffffffff, 0x100000000, 0x7fffffff, 0x80000000 }) do
    into[x] = true
  end
  for bit = 0, 63 do
    local b = 1 << bit
    if m & b ~= 0 then into[b] = true; into[v | b] = true; into[v & ~b] = true; into[v ~ b] = true end
  end
  -- and random ones (fixed seed): anywhere, and v with random bits outside or inside the mask
  for _ = 1, 16 do
    local r = math.random(math.mininteger, math.maxinteger)
    into[r] = true; into[v | (r & ~m)] = true; into[r & m] = true; into[r & 0xffffffff] = true
  end
end
math.randomseed(4)

-- { [nr] = { [argindex] = { values } } } for every syscall that has argument rules.
local function argument_values(spec)
  local by_nr = {}
  for _, r in ipairs(spec.rules) do
    for _, cmp in ipairs(r.args or {}) do
      by_nr[r.nr] = by_nr[r.nr] or {}
      by_nr[r.nr][cmp[1]] = by_nr[r.nr][cmp[1]] or {}
      interesting(cmp, by_nr[r.nr][cmp[1]])
    end
  end
  for nr, per_arg in pairs(by_nr) do
    for i, set in pairs(per_arg) do
      local list = {}
      for x in pairs(set) do list[#list + 1] = x end
      table.sort(list)
      per_arg[i] = list
    end
    by_nr[nr] = per_arg
  end
  return by_nr
end

-- Every combination of the per-argument lists (at most two indexes per syscall here).
local function combinations(per_arg, fn)
  local idx = {}
  for i in pairs(per_arg) do idx[#idx + 1] = i end
  table.sort(idx)
  local args = { 0, 0, 0, 0, 0, 0 }
  local function walk(k)
    if k > #idx then return fn(args) end
    for _, x in ipairs(per_arg[idx[k]]) do
      args[idx[k] + 1] = x
      walk(k + 1)
    end
    args[idx[k] + 1] = 0
  end
  walk(1)
end

local NUMBERS = { -1, -2, 0x3fffffff, 0x40000000, 0x40000001, 0x7fffffff, -0x80000000 }
for nr = 0, 1023 do NUMBERS[#NUMBERS + 1] = nr end

-- Compares purple's program with libseccomp's for spec: every number in NUMBERS under each
-- architecture, and the argument combinations of every syscall with argument rules.
local function compare(spec)
  local ours = assert(core.seccomp_emit(spec))
  local theirs = assert(core.seccomp_compile(spec))
  local checked, mismatches = 0, {}
  local function same(d)
    local a, ad = core.seccomp_eval(ours, d)
    local b, bd = core.seccomp_eval(theirs, d)
    checked = checked + 1
    if a ~= b or ad ~= bd then
      mismatches[#mismatches + 1] = ("nr %d arch %s args %s: purple %s %d, libseccomp %s %d"):format(d.nr,
        d.arch, table.concat(d.args or {}, ","), a, ad, b, bd)
    end
  end
  for _, nr in ipairs(NUMBERS) do
    for _, arch in ipairs({ "x86_64", "x32", "i386", "aarch64" }) do
      same({ nr = nr, arch = arch })
    end
  end
  local values = argument_values(spec)
  local with_args = 0
  for nr, per_arg in pairs(values) do
    with_args = with_args + 1
    combinations(per_arg, function(args)
      same({ nr = nr, arch = "x86_64", args = { table.unpack(args) } })
      same({ nr = nr, arch = "x32", args = { table.unpack(args) } })
    end)
  end
  assert.are.same({}, { table.unpack(mismatches, 1, math.min(#mismatches, 10)) })
  assert.is_true(checked >= 4 * #NUMBERS)
  return ours, with_args
end

local function insns(program) return #program // 8 end

-- Rule tables that stress the merging of consecutive numbers into runs: { name, spec }.
local function range(lo, hi, action, into)
  into = into or {}
  for nr = lo, hi do into[#into + 1] = { nr = nr, action = action } end
  return into
end
local ioctl_arg = { { 1, "masked_eq", 0x5400, 0xff00 } }
local TABLES = {
  { "none listed", { default = "notify", rules = {} } },
  { "none listed, default allow", { default = "allow", rules = {} } },
  { "a single listed syscall", { default = "notify", rules = { { nr = 39, action = "allow" } } } },
  { "a single syscall with argument rules", { default = "notify",
    rules = { { nr = 16, action = "allow", args = ioctl_arg } } } },
  { "runs at 0 and at the highest numbers", { default = 1, rules = range(1020, 1023, "allow", range(0, 9, "allow")) } },
  { "runs up to 0x3fffffff (the last number the tree sees)", { default = "notify",
    rules = range(0x3ffffffc, 0x3fffffff, "allow", range(0, 0, "kill")) } },
  { "runs of different actions side by side", { default = "notify",
    rules = range(30, 39, 13, range(20, 29, "log", range(10, 19, "allow"))) } },
  { "runs with one-number gaps", { default = "notify",
    rules = range(12, 20, "allow", range(0, 10, "allow", range(22, 22, "allow"))) } },
  { "a run broken by an argument block", { default = "notify", rules = (function()
    local t = range(0, 40, "allow")
    t[17] = { nr = 16, action = "allow", args = ioctl_arg }                -- 16: a block
    t[#t + 1] = { nr = 16, action = 1, args = { { 0, "eq", 3 } } }
    t[31] = { nr = 30, action = "notify" }                                 -- 30: the default, dropped
    return t
  end)() } },
  { "default equal to the runs' action (rules dropped, runs merge across them)", { default = "allow",
    rules = range(50, 60, 1, range(40, 49, "allow", range(10, 20, 1, range(0, 9, "allow")))) } },
  { "rules of one syscall in table order, the first unconditional", { default = "notify",
    rules = { { nr = 5, action = "allow" }, { nr = 5, action = 1 }, { nr = 6, action = "allow" } } } },
  { "> 255-instruction jumps: 460 alternating numbers and 60 argument blocks", { default = "notify",
    rules = (function()
      local t = {}
      for nr = 0, 459 do t[#t + 1] = { nr = nr, action = nr % 2 == 0 and "allow" or 1 } end
      for nr = 500, 980, 8 do
        for v = 1, 4 do t[#t + 1] = { nr = nr, action = "allow", args = { { 0, "eq", v }, { 1, "ge", v << 32 } } } end
      end
      return t
    end)() } },
}

describe("seccomp emitter", function()
  for _, pol in ipairs(POLICIES) do
    it("decides exactly as libseccomp for " .. pol[1], function()
      local plan = assert(seccomp.plan(pol[2], pol[3]))
      local _, with_args = compare(plan.spec)
      if not pol[2] or pol[2].hardening ~= false then -- clone, ioctl, socket, open...
        assert.is_true(with_args >= 10, "argument rules were exercised")
      end
    end)
  end

  for _, t in ipairs(TABLES) do
    it("decides exactly as libseccomp for a table: " .. t[1], function() compare(t[2]) end)
  end

  it("emits one jge per run boundary, not one compare per listed syscall", function()
    -- 0..299 allowed: runs [0, 299] and [300, ...): prologue (6), jge, the two rets
    assert.are.equal(9, insns(compare({ default = "notify", rules = range(0, 299, "allow") })))
    assert.are.equal(7, insns(compare({ default = "notify", rules = {} }))) -- prologue, ret default
    -- alternating numbers: every number its own run, and still at most ~2 instructions a run
    local long = compare(TABLES[#TABLES][2])
    assert.is_true(insns(long) > 2 * 256, "jumps beyond 255 instructions were exercised")
  end)

  it("differs from libseccomp when a rule is changed (the comparison can fail)", function()
    local plan = assert(seccomp.plan({ default_deny = true, allow = { "@system-service" } }, {}))
    local spec = { default = plan.spec.default, rules = {} }
    for i, r in ipairs(plan.spec.rules) do spec.rules[i] = r end
    local ioctl = core.syscall_number("ioctl")
    local theirs = assert(core.seccomp_compile(spec))
    table.insert(spec.rules, 1, { nr = ioctl, action = "allow", args = { { 1, "masked_eq", 0x5412, 0xffffffff } } })
    local ours = assert(core.seccomp_emit(spec))
    local d = { nr = ioctl, args = { 0, 0x5412 } }
    assert.are.equal("notify", (core.seccomp_eval(theirs, d)))
    assert.are.equal("allow", (core.seccomp_eval(ours, d)))
  end)

  it("is what purple.seccomp.plan installs", function()
    local plan = assert(seccomp.plan({ default_deny = true, allow = { "@system-service" } }, {}))
    assert.are.equal(core.seccomp_emit(plan.spec), plan.program)
  end)
end)
