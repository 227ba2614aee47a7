-- The launcher's precompiled-module searcher (csrc/launcher/launcher.c, bytecode_searcher): a
-- fresh build/luac/<module>.luac is loaded instead of compiling the source; a stale or broken one
-- is never used. Each test runs a copy of the in-tree layout (bin/purple, lua/, build/luac/).
local H = require "spec_helper"

describe("launcher bytecode cache", function()
  local tree

  before_each(function()
    tree = H.tmpdir()
    assert.is_true(os.execute(("mkdir -p %s/bin %s/build/luac && cp %s %s/bin/purple && cp -r %s %s/"):format(
      H.q(tree), H.q(tree), H.q(H.purple), H.q(tree), H.q(H.tree .. "/lua"), H.q(tree))))
  end)
  after_each(H.cleanup)

  local function version()
    local out, err, code = H.sh(H.q(tree .. "/bin/purple") .. " --version")
    assert.are.equal(0, code, err)
    return out
  end

  -- Bytecode of lua/purple/version.lua with another version string, dated `when` (touch -d syntax).
  local function fake_bytecode(when)
    local src = H.read(tree .. "/lua/purple/version.lua")
    local fake = src:gsub('return "[^"]*"', 'return "from-bytecode"')
    assert.are_not.equal(src, fake)
    H.write(tree .. "/fake.lua", fake)
    assert.is_true(os.execute("mkdir -p " .. H.q(tree .. "/build/luac/purple")))
    local bc = tree .. "/build/luac/purple/version.luac"
    assert.is_true(os.execute(("luac5.4 -o %s %s && touch -d %s %s"):format(H.q(bc), H.q(tree .. "/fake.lua"),
      H.q(when), H.q(bc))))
  end

  it("loads a module's bytecode when it is newer than the source", function()
    local real = version()
    assert.matches("^purple %S+\n$", real)
    os.execute("touch -d '1 hour ago' " .. H.q(tree .. "/lua/purple/version.lua"))
    fake_bytecode("now")
    assert.are.equal("purple from-bytecode\n", version())
  end)

  it("ignores bytecode older than its source, so an edited module always runs from source", function()
    local real = version()
    fake_bytecode("1 hour ago")
    assert.are.equal(real, version())
    assert.are_not.equal("purple from-bytecode\n", real)
  end)

  it("ignores a .luac that is not bytecode and loads the source", function()
    local real = version()
    assert.is_true(os.execute("mkdir -p " .. H.q(tree .. "/build/luac/purple")))
    local bc = tree .. "/build/luac/purple/version.luac"
    H.write(bc, 'return "from-text"\n')
    os.execute("touch -d '1 hour ago' " .. H.q(tree .. "/lua/purple/version.lua"))
    assert.are.equal(real, version())
  end)
end)
