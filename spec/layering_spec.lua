-- The Lua library's layers: the CLI (purple.cli and purple.cli.*) → the library (lua/purple/*) →
-- the binding (purple.core). Arrows only point down: no require cycle, no module below the
-- `purple` module requires it, nothing outside the CLI requires a CLI module, and profiles and
-- examples use `require "purple"` only. Checked twice: on the literal requires in the sources
-- (also those in functions no run reaches) and with a require tracer around real loads and a real
-- sandbox run (also the requires a source scan cannot see).
local H = require "spec_helper"

local function module_of(file)
  local m = file:match("lua/(purple.-)%.lua$")
  return m and (m:gsub("/", "."))
end

local function lua_files(dir)
  local p = io.popen("find " .. H.q(dir) .. " -name '*.lua' | sort")
  local files = {}
  for l in p:lines() do files[#files + 1] = l end
  p:close()
  return files
end

-- { from = { to = true } } from the literal requires in each module's source.
local function static_edges()
  local edges = {}
  local files = lua_files(H.tree .. "/lua")
  assert.is_true(#files > 20, "lua/ holds the library")
  for _, f in ipairs(files) do
    local from = module_of(f)
    edges[from] = edges[from] or {}
    for to in H.read(f):gmatch("require%s*%(?%s*[\"']([%w_.]+)[\"']") do edges[from][to] = true end
  end
  return edges
end

local function is_cli(m) return m == "purple.cli" or m:sub(1, 11) == "purple.cli." end

-- Every rule broken by the edges, one line each; cycles as "a -> b -> a".
local function violations(edges)
  local bad = {}
  local from_list = {}
  for from in pairs(edges) do from_list[#from_list + 1] = from end
  table.sort(from_list)
  for _, from in ipairs(from_list) do
    for to in pairs(edges[from]) do
      if to == "purple" and from:match("^purple%.") and not is_cli(from) then
        bad[#bad + 1] = from .. " requires the purple module above it"
      end
      if to:match("^purple%.") and is_cli(to) and not is_cli(from) then
        bad[#bad + 1] = from .. " requires the CLI module " .. to
      end
    end
  end
  local state, stack = {}, {}
  local function visit(m)
    if state[m] == "done" then return end
    if state[m] == "open" then
      local i = #stack
      while stack[i] ~= m do i = i - 1 end
      bad[#bad + 1] = "cycle: " .. table.concat(stack, " -> ", i) .. " -> " .. m
      return
    end
    state[m] = "open"
    stack[#stack + 1] = m
    local tos = {}
    for to in pairs(edges[m] or {}) do tos[#tos + 1] = to end
    table.sort(tos)
    for _, to in ipairs(tos) do visit(to) end
    stack[#stack] = nil
    state[m] = "done"
  end
  for _, m in ipairs(from_list) do visit(m) end
  table.sort(bad)
  return bad
end

-- Loads every module, two profiles and runs a sandbox with an audit log in a fresh lua5.4 with
-- `require` wrapped; returns the traced edges (modules by file, profiles as "profile").
local TRACER = [==[
package.path = "./lua/?.lua;" .. package.path
package.cpath = "./lua/?.so;" .. package.cpath
local real_require, edges, seen = require, {}, {}
local function who(level)
  local src = debug.getinfo(level, "S").source
  local m = src:match("lua/(purple.-)%.lua$")
  if m then return (m:gsub("/", ".")) end
  if src:match("/profiles/[^/]*%.lua$") or src:match("/examples/[^/]*%.lua$") then return "profile" end
  return nil
end
function require(name)
  local from = who(3)
  if from and not seen[from .. " " .. name] then
    seen[from .. " " .. name] = true
    edges[#edges + 1] = from .. " " .. name
  end
  return real_require(name)
end
for _, m in ipairs(arg) do require(m) end
local purple = require "purple"
assert(purple.profile("ai-dev-safe"))
local strict = assert(purple.profile("ai-strict", purple.context({ argv = { "true" } })))
local dir = os.getenv("TRACE_DIR")
local p = purple.extend(strict, { audit = { enabled = true, log_path = dir .. "/audit.log" },
  filesystem = { output_paths = { replace = { { host_path = dir .. "/out", sandbox_path = "/output" } } } } })
local r = purple.exec(p, { "/usr/bin/true" })
assert(r.status == 0, r.error)
require("purple.cli.log")
io.stdout:write(table.concat(edges, "\n"), "\n")
]==]

describe("layering", function()
  after_each(H.cleanup)

  it("the sources require downwards only: no cycle, no module below the purple module requires it, "
    .. "only the CLI requires CLI modules", function()
    assert.same({}, violations(static_edges()))
  end)

  it("the rules catch a cycle and an upward require", function()
    local bad = violations({ ["purple.a"] = { ["purple.b"] = true }, ["purple.b"] = { ["purple.a"] = true },
      ["purple.c"] = { purple = true, ["purple.cli.ps"] = true } })
    assert.same({ "cycle: purple.a -> purple.b -> purple.a", "purple.c requires the CLI module purple.cli.ps",
      "purple.c requires the purple module above it" }, bad)
  end)

  it("a traced load of every module, the profiles and a sandbox run with an audit log requires downwards only",
    function()
      local dir = H.tmpdir()
      local modules = {}
      for _, f in ipairs(lua_files(H.tree .. "/lua")) do modules[#modules + 1] = H.q(module_of(f)) end
      H.write(dir .. "/tracer.lua", TRACER)
      local out, err, code = H.sh(("cd %s && TRACE_DIR=%s PURPLE_WORKSPACE= lua5.4 %s %s"):format(H.q(H.tree), H.q(dir),
        H.q(dir .. "/tracer.lua"), table.concat(modules, " ")))
      assert.are.equal(0, code, err)
      local edges, n = {}, 0
      for from, to in out:gmatch("(%S+) (%S+)\n") do
        edges[from] = edges[from] or {}
        edges[from][to] = true
        n = n + 1
      end
      assert.is_true(n > 40, out)
      assert.is_truthy(edges["purple.enforce.audit"] and edges["purple.enforce.audit"]["purple.audit"], out)
      assert.is_truthy(edges.profile and edges.profile.purple, "profiles require purple")
      local profile_needs = {}
      for to in pairs(edges.profile) do profile_needs[#profile_needs + 1] = to end
      assert.same({ "purple" }, profile_needs)
      edges.profile = nil
      assert.same({}, violations(edges))
    end)

  it("profiles and examples use require \"purple\" only, never the binding under it", function()
    local files = lua_files(H.tree .. "/profiles")
    for _, f in ipairs(lua_files(H.tree .. "/examples")) do files[#files + 1] = f end
    local bad = {}
    for _, f in ipairs(files) do
      for to in H.read(f):gmatch("require%s*%(?%s*[\"']([%w_.]+)[\"']") do
        if to ~= "purple" then bad[#bad + 1] = f:sub(#H.tree + 2) .. " requires " .. to end
      end
    end
    assert.same({}, bad)
  end)
end)
