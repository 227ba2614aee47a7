-- The purple command's own code (csrc/launcher/launcher.c): it runs the Lua code, bytecode and
-- profiles of the tree (or prefix) its executable is in, and nothing from another tree, the current
-- directory or a directory another user can write. Each test works on copies of the built tree in
-- temp dirs (bin/, lua/, build/luac/, profiles/), never on the tree itself.
local H = require "spec_helper"

-- A copy of the built tree's runnable parts at dir (cp -a).
-- Without build/luac in the tree (spec/run.sh's copy for the unprivileged pass leaves it out), the
-- copy gets its bytecode from `make`, as a fresh build would.
local precompile
local function copy_tree(dir)
  assert.is_true(os.execute(("mkdir -p %s/build && cd %s && cp -a bin lua profiles Makefile csrc %s/")
    :format(H.q(dir), H.q(H.tree), H.q(dir))))
  if os.execute(("test -d %s/build/luac"):format(H.q(H.tree))) then
    assert.is_true(os.execute(("cp -a %s/build/luac %s/build/"):format(H.q(H.tree), H.q(dir))))
  else
    precompile(dir)
  end
  return dir
end

-- Runs `make` for every precompiled module of tree (the Makefile's own rule), forced with -B.
function precompile(tree, force)
  local list = H.sh(("cd %s && find lua -name '*.lua' | sed 's#^lua/\\(.*\\)\\.lua$#build/luac/\\1.luac#'")
    :format(H.q(tree)))
  local _, err, code = H.sh(("make -s %s -C %s %s"):format(force and "-B" or "", H.q(tree), list:gsub("\n", " ")))
  assert.are.equal(0, code, err)
end

local function purple(tree, args, cwd)
  return H.sh(("cd %s && %s %s"):format(H.q(cwd or tree), H.q(tree .. "/bin/purple"), args))
end

local function version(tree)
  local out, err, code = purple(tree, "--version")
  assert.are.equal(0, code, err)
  return out
end

-- lua/purple/version.lua of tree with its version string replaced.
local function with_version(tree, v)
  local src = H.read(tree .. "/lua/purple/version.lua")
  local fake = src:gsub('return "[^"]*"', ('return "%s"'):format(v))
  assert.are_not.equal(src, fake)
  return fake
end

-- The stamp csrc/launcher/precompile.lua records for a source file: device, inode, size, mtime, ctime.
local function stamp(path)
  return (H.sh("stat -L -c '%d %i %s %.9Y %.9Z' " .. H.q(path)):gsub("\n$", ""))
end

-- build/luac/purple/version.luac in the launcher's format: the recorded stamp `st` (default: the
-- source file's now), then the dump of `code` loaded under the name `name` (default: the file's path).
local function write_luac(tree, code, st, name)
  local path = tree .. "/lua/purple/version.lua"
  local chunk = assert(load(code, "@" .. (name or path)))
  H.write(tree .. "/build/luac/purple/version.luac", ("purple-luac 2 %s\n"):format(st or stamp(path)) .. string.dump(chunk))
end

local function dated(path, when)
  assert.is_true(os.execute(("touch -d %s %s"):format(H.q(when), H.q(path))))
end

describe("launcher bytecode", function()
  local tree, real
  before_each(function()
    tree = copy_tree(H.tmpdir() .. "/t")
    real = version(tree)
    assert.matches("^purple %S+\n$", real)
  end)
  after_each(H.cleanup)

  it("runs a module's bytecode when it was made from the very source beside it", function()
    write_luac(tree, with_version(tree, "from-bytecode"))
    assert.are.equal("purple from-bytecode\n", version(tree))
  end)

  it("ignores bytecode whose recorded stamp is not the source's, even when rewritten in place with the same size and date", function()
    local path = tree .. "/lua/purple/version.lua"
    dated(path, "2020-01-01 00:00:00")
    write_luac(tree, with_version(tree, "from-bytecode"))
    assert.are.equal("purple from-bytecode\n", version(tree))
    -- the same bytes written again into the same file, its date set back: only the ctime differs
    local f = assert(io.open(path, "r+b"))
    local src = f:read("a")
    assert(f:seek("set", 0))
    assert(f:write(src))
    assert(f:close())
    dated(path, "2020-01-01 00:00:00")
    assert.are.equal(real, version(tree))
  end)

  it("runs an edited source, not the stale bytecode of its old text, even when that is newer", function()
    -- as luac5.4 writes it (the old format: no recorded source), and as `make` writes it
    assert.is_true(os.execute(("luac5.4 -o %s - <<'EOF'\n%s\nEOF"):format(H.q(tree .. "/build/luac/purple/version.luac"),
      with_version(tree, "from-bytecode"))))
    H.write(tree .. "/lua/purple/version.lua", with_version(tree, "edited"))
    dated(tree .. "/lua/purple/version.lua", "1 hour ago")
    assert.are.equal("purple edited\n", version(tree))
    write_luac(tree, with_version(tree, "from-bytecode"))
    H.write(tree .. "/lua/purple/version.lua", with_version(tree, "edited again"))
    dated(tree .. "/lua/purple/version.lua", "1 hour ago")
    assert.are.equal("purple edited again\n", version(tree))
  end)

  it("ignores bytecode made from the same source at another path", function()
    write_luac(tree, with_version(tree, "from-bytecode"), nil, H.tree .. "/lua/purple/version.lua")
    assert.are.equal(real, version(tree))
  end)

  it("ignores a .luac that is a symbolic link, even to valid bytecode", function()
    local elsewhere = H.tmpdir() .. "/version.luac"
    write_luac(tree, with_version(tree, "from-bytecode"))
    assert.is_true(os.execute(("mv %s %s && ln -s %s %s"):format(H.q(tree .. "/build/luac/purple/version.luac"),
      H.q(elsewhere), H.q(elsewhere), H.q(tree .. "/build/luac/purple/version.luac"))))
    assert.are.equal(real, version(tree))
  end)

  it("ignores a .luac that is not bytecode and loads the source", function()
    H.write(tree .. "/build/luac/purple/version.luac", ("purple-luac 2 %s\n"):format(stamp(tree .. "/lua/purple/version.lua"))
      .. 'return { version = "x" }')
    assert.are.equal(real, version(tree))
    H.write(tree .. "/build/luac/purple/version.luac", 'return { version = "from-text" }\n')
    assert.are.equal(real, version(tree))
  end)
end)

describe("launcher: a shipped profile's bytecode", function()
  after_each(H.cleanup)

  it("runs while made from the very source beside it, never once the source is rewritten", function()
    local tree = copy_tree(H.tmpdir() .. "/t")
    local path = tree .. "/profiles/ai-strict.lua"
    local src = H.read(path)
    local fake = src:gsub('description = "[^"]*"', 'description = "from-bytecode"')
    assert.are_not.equal(src, fake)
    local function description()
      local out, err, code = purple(tree, "profile list")
      assert.are.equal(0, code, err)
      return out:match("\nai%-strict +(.-) +/") or out:match("^ai%-strict +(.-) +/")
    end
    local real = description()
    assert.is_true(os.execute("mkdir -p " .. H.q(tree .. "/build/luac/profiles")))
    H.write(tree .. "/build/luac/profiles/ai-strict.luac", ("purple-luac 2 %s\n"):format(stamp(path))
      .. string.dump(assert(load(fake, "@" .. path))))
    assert.are.equal("from-bytecode", description())
    H.write(path, src) -- the same text written again: another stamp
    assert.are.equal(real, description())
  end)
end)

describe("launcher: a copied tree", function()
  after_each(H.cleanup)

  it("runs its own code and profiles, never the original's", function()
    local d = H.tmpdir()
    local orig = copy_tree(d .. "/orig")
    precompile(orig, true) -- bytecode made for orig's path, as `make` in orig would
    local copy = d .. "/copy"
    assert.is_true(os.execute(("cp -a %s %s"):format(H.q(orig), H.q(copy))))
    local real = version(copy)
    -- the copy's profile is the one used
    local p = copy .. "/profiles/ai-strict.lua"
    H.write(p, (H.read(p):gsub('description = "[^"]*"', 'description = "the copy\'s own"')))
    -- code planted in the original: module, bytecode, profile
    H.write(orig .. "/lua/purple/version.lua", with_version(orig, "planted"))
    precompile(orig, false)
    assert.are.equal("purple planted\n", version(orig))
    p = orig .. "/profiles/ai-strict.lua"
    H.write(p, (H.read(p):gsub('description = "[^"]*"', 'description = "planted"')))
    H.write(orig .. "/profiles/planted.lua", "return {}\n")

    assert.are.equal(real, version(copy))
    local out, err, code = purple(copy, "profile list")
    assert.are.equal(0, code, err)
    assert.matches("\nai%-strict +the copy's own +" .. copy:gsub("%p", "%%%0") .. "/profiles/ai%-strict%.lua\n", "\n" .. out)
    assert.is_falsy(out:find("planted", 1, true), out)
    assert.is_falsy(out:find(orig, 1, true), out)
    -- its next `make` recompiles the bytecode for the copy's own path
    precompile(copy, false)
    assert.is_truthy(H.read(copy .. "/build/luac/purple/version.luac"):find("@" .. copy .. "/lua/purple/version.lua", 1, true))
  end)
end)

describe("launcher: what it refuses", function()
  local tree
  before_each(function() tree = copy_tree(H.tmpdir() .. "/t") end)
  after_each(H.cleanup)

  -- `args` (default --version) stops with the one line and 125, printing nothing
  local function refused(line, args)
    local out, err, code = purple(tree, args or "--version")
    assert.are.same({ "", line, 125 }, { out, err, code })
  end

  it("a Lua or bytecode directory writable by its group, when a module is loaded from it", function()
    assert.is_true(os.execute("chmod g+w " .. H.q(tree .. "/lua/purple/cli")))
    refused(("purple: %s/lua/purple/cli is writable by group or others (mode 0775), so another user could change "
      .. "the code purple runs; fix: chmod -R go-w %s/lua\n"):format(tree, tree), "help run")
    -- checked where modules are loaded from, not walked at each start: --version loads none from there
    assert.matches("^purple %S+\n$", version(tree))
    assert.is_true(os.execute("chmod g-w " .. H.q(tree .. "/lua/purple/cli")))
    assert.is_true(os.execute("chmod g+w " .. H.q(tree .. "/build/luac/purple/cli")))
    refused(("purple: %s/build/luac/purple/cli is writable by group or others (mode 0775), so another user could "
      .. "change the code purple runs; fix: chmod -R go-w %s/build/luac\n"):format(tree, tree), "help run")
  end)

  it("its launcher, bin/purple-lua (bin/purple execs it), writable by group or others or owned by another user", function()
    if H.sh("uname -m") ~= "x86_64\n" then
      pending("bin/purple is the launcher itself on this architecture (Makefile)")
      return
    end
    assert.is_true(os.execute("chmod g+w " .. H.q(tree .. "/bin/purple-lua")))
    refused(("purple: %s/bin/purple-lua is writable by group or others (mode 0775), so another user could change "
      .. "the code purple runs; fix: chmod go-w %s/bin/purple-lua\n"):format(tree, tree))
    assert.is_true(os.execute("chmod g-w " .. H.q(tree .. "/bin/purple-lua")))
    assert.matches("^purple %S+\n$", version(tree))
    if H.is_root() then
      assert.is_true(os.execute("chown 4321 " .. H.q(tree .. "/bin/purple-lua")))
      refused(("purple: %s/bin/purple-lua is owned by uid 4321, neither root nor you (uid 0), so that user could "
        .. "change the code purple runs; fix: chown 0 %s/bin/purple-lua, or use a copy of purple you own\n")
        :format(tree, tree))
    end
  end)

  it("a module, its bytecode or a profile writable by group or others", function()
    assert.is_true(os.execute("chmod g+w " .. H.q(tree .. "/lua/purple/cli.lua")))
    refused(("purple: %s/lua/purple/cli.lua is writable by group or others (mode 0664), so another user could "
      .. "change the code purple runs; fix: chmod -R go-w %s/lua\n"):format(tree, tree))
    assert.is_true(os.execute("chmod g-w " .. H.q(tree .. "/lua/purple/cli.lua")))
    assert.is_true(os.execute("chmod g+w " .. H.q(tree .. "/build/luac/purple/version.luac")))
    refused(("purple: %s/build/luac/purple/version.luac is writable by group or others (mode 0664), so another user could "
      .. "change the code purple runs; fix: chmod -R go-w %s/build/luac\n"):format(tree, tree))
    assert.is_true(os.execute("chmod g-w " .. H.q(tree .. "/build/luac/purple/version.luac")))
    assert.is_true(os.execute("chmod o+w " .. H.q(tree .. "/profiles/ai-strict.lua")))
    refused(("purple: %s/profiles/ai-strict.lua is writable by group or others (mode 0646), so another user could "
      .. "change the code purple runs; fix: chmod -R go-w %s/profiles\n"):format(tree, tree))
  end)

  it("a symbolic link to a file in a directory others can write, or to nothing", function()
    local d = H.tmpdir()
    assert.is_true(os.execute("chmod 0777 " .. H.q(d)))
    H.write(d .. "/x.lua", "return 1\n")
    assert.is_true(os.execute(("ln -s %s %s"):format(H.q(d .. "/x.lua"), H.q(tree .. "/lua/purple/x.lua"))))
    -- a script that loads purple.x
    local script = H.tmpdir() .. "/s.lua"
    H.write(script, 'require "purple.x"\nprint("loaded")\n')
    local function refused_x(line)
      local out, err, code = H.sh(("cd %s && %s %s"):format(H.q(tree), H.q(tree .. "/bin/purple-lua"), H.q(script)))
      assert.are.same({ "", line, 125 }, { out, err, code })
    end
    refused_x(("purple: %s is writable by group or others (mode 0777), so another user could change the code "
      .. "purple runs; fix: chmod go-w %s\n"):format(d, d))
    os.remove(tree .. "/lua/purple/x.lua")
    assert.is_true(os.execute(("ln -s %s %s"):format(H.q(d .. "/none.lua"), H.q(tree .. "/lua/purple/x.lua"))))
    refused_x(("purple: cannot check %s/lua/purple/x.lua: No such file or directory\n"):format(tree))
  end)

  it("a tree in a directory others can write (not sticky); a sticky one like /tmp is fine", function()
    local parent = tree:match("^(.*)/t$")
    assert.is_true(os.execute("chmod 1777 " .. H.q(parent)))
    assert.matches("^purple %S+\n$", version(tree))
    assert.is_true(os.execute("chmod 0777 " .. H.q(parent)))
    refused(("purple: %s is writable by group or others (mode 0777), so another user could change the code "
      .. "purple runs; fix: chmod go-w %s\n"):format(parent, parent))
  end)

  it("a directory owned by another user", function()
    if not H.is_root() then
      pending("giving a directory to another user needs root")
      return
    end
    assert.is_true(os.execute("chown 4321 " .. H.q(tree .. "/lua/purple/enforce")))
    refused(("purple: %s/lua/purple/enforce is owned by uid 4321, neither root nor you (uid 0), so that user "
      .. "could change the code purple runs; fix: chown -R 0 %s/lua, or use a copy of purple you own\n")
      :format(tree, tree), "profile show ai-strict")
  end)

  it("a file of the overflow uid (65534) outside user namespaces; inside one, where the host's own files show "
    .. "that uid, it runs (a rootless engine's runtime)", function()
    if H.is_root() then
      -- uid 65534 is an ordinary user in the initial namespace
      assert.is_true(os.execute("chown 65534 " .. H.q(tree .. "/lua/purple/enforce")))
      refused(("purple: %s/lua/purple/enforce is owned by uid 65534, neither root nor you (uid 0), so that user "
        .. "could change the code purple runs; fix: chown -R 0 %s/lua, or use a copy of purple you own\n")
        :format(tree, tree), "profile show ai-strict")
      -- another user as uid 0 of a namespace of its own (rootless podman's runtime): the root-owned copy,
      -- bin/purple-lua that bin/purple checks included, shows uid 65534 and runs
      local t2 = copy_tree(H.tmpdir() .. "/t")
      local out, err, code = H.sh(("setpriv --reuid=4321 --regid=4321 --clear-groups unshare --user --map-root-user "
        .. "sh -c 'stat -c %%u %s/bin/purple-lua; cd %s && ./bin/purple profile show ai-strict >/dev/null'")
        :format(H.q(t2), H.q(t2)))
      if code ~= 0 and err:match("^unshare:") then return pending("no user namespaces here: " .. err) end
      assert.are.same({ "65534\n", "", 0 }, { out, err, code })
      return
    end
    -- the user as uid 0 of a namespace of its own, mapping it alone, as rootless podman without
    -- subordinate ids: /, /tmp and /usr, the host root's, show uid 65534
    local out, err, code = H.sh(("unshare --user --map-root-user sh -c 'stat -c %%u /; cd %s && ./bin/purple profile "
      .. "show ai-strict >/dev/null'"):format(H.q(tree)))
    if code ~= 0 and err:match("^unshare:") then return pending("no user namespaces for this user: " .. err) end
    assert.are.same({ "65534\n", "", 0 }, { out, err, code })
    -- the same tree given to the overflow uid in the initial namespace: another user's
    H.sh(("unshare --user --map-root-user chmod g+w %s"):format(H.q(tree .. "/lua/purple/enforce")))
    out, err, code = H.sh(("unshare --user --map-root-user sh -c 'cd %s && ./bin/purple profile show ai-strict'")
      :format(H.q(tree)))
    assert.are.same({ "", ("purple: %s/lua/purple/enforce is writable by group or others (mode 0775), so another "
      .. "user could change the code purple runs; fix: chmod -R go-w %s/lua\n"):format(tree, tree), 125 },
      { out, err, code })
  end)

  it("modules from the current directory, purple's or others", function()
    local cwd = H.tmpdir()
    assert.is_true(os.execute(("mkdir -p %s/purple/cli"):format(H.q(cwd))))
    H.write(cwd .. "/purple/cli/planted.lua", 'return function() print("planted") return 7 end\n')
    H.write(cwd .. "/purple/planted.lua", "return 1\n")
    H.write(cwd .. "/plantedmod.lua", "return 1\n")
    local out, err, code = purple(tree, "planted", cwd)
    assert.are.same({ "", "purple: unknown command 'planted' (see purple --help)\n", 125 }, { out, err, code })
    H.write(cwd .. "/s.lua", 'print(pcall(require, "purple.planted"))\nprint((pcall(require, "plantedmod")))\n')
    out, err, code = H.sh(("cd %s && %s s.lua"):format(H.q(cwd), H.q(tree .. "/bin/purple-lua")))
    assert.are.same({ ("false\tmodule 'purple.planted' not found in %s/lua (purple loads its own modules from "
      .. "there only)\nfalse\n"):format(tree), "", 0 }, { out, err, code })
  end)
end)

describe("make install PREFIX=... as an ordinary user", function()
  after_each(H.cleanup)

  local function etc_listing()
    return H.sh("ls -la --time-style=full-iso /etc/purple /etc/logrotate.d 2>&1")
  end

  it("installs, runs and uninstalls inside the prefix only, never reading the source tree", function()
    local d = H.tmpdir()
    local prefix = d .. "/prefix"
    local before = etc_listing()
    -- what it would do first: nothing under /etc (a root run of a broken rule would change the host)
    local plan, err, code = H.sh(("cd %s && make -n -o all install PREFIX=%s"):format(H.q(H.tree), H.q(prefix)))
    assert.are.equal(0, code, err)
    assert.is_falsy(plan:gsub(prefix:gsub("%p", "%%%0"), "PREFIX"):find("[%s'\"=]/etc"), plan)
    local _
    _, err, code = H.sh(("cd %s && flock /tmp/purple-build.lock make -s -o all install PREFIX=%s")
      :format(H.q(H.tree), H.q(prefix)))
    assert.are.equal(0, code, err)
    -- the local profiles of this installation: $(PREFIX)/etc/purple/profiles
    H.write(prefix .. "/etc/purple/profiles/mine.yaml", "description: local\n")
    local out
    out, err, code = H.sh(("cd %s && env HOME=/nonexistent %s profile list"):format(H.q(d), H.q(prefix .. "/bin/purple")))
    assert.are.equal(0, code, err)
    assert.matches("ai%-strict +[^\n]* " .. prefix:gsub("%p", "%%%0") .. "/share/purple/profiles/ai%-strict%.lua\n", out)
    assert.matches("mine +local +" .. prefix:gsub("%p", "%%%0") .. "/etc/purple/profiles/mine%.yaml\n", out)
    assert.is_falsy(out:find(H.tree, 1, true), out)
    out, err, code = H.sh(("cd %s && env HOME=/nonexistent PURPLE_OUTPUT=%s %s run --profile ai-strict -- /bin/true")
      :format(H.q(d), H.q(d .. "/out"), H.q(prefix .. "/bin/purple")))
    assert.are.same({ "", 0 }, { out, code }, err)
    _, err, code = H.sh(("cd %s && make -s uninstall PREFIX=%s"):format(H.q(H.tree), H.q(prefix)))
    assert.are.equal(0, code, err)
    assert.are.equal(prefix .. "/etc/purple/profiles/mine.yaml\n", H.sh(("find %s -type f"):format(H.q(prefix))))
    assert.are.equal(before, etc_listing())
  end)
end)
