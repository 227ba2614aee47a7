-- purple profile list | show | check
local H = require "spec_helper"

local function purple(args, env)
  return H.sh((env and (env .. " ") or "") .. H.purple .. " " .. args)
end

describe("purple profile", function()
  after_each(H.cleanup)

  it("list: name, description and file of every profile found, first in the search path winning", function()
    local xdg = H.tmpdir()
    os.execute("mkdir -p " .. H.q(xdg .. "/purple/profiles"))
    H.write(xdg .. "/purple/profiles/zz-spec.yaml", "name: zz-spec\ndescription: from the user's config\n")
    H.write(xdg .. "/purple/profiles/ai-strict.yaml", "name: shadowed\ndescription: never listed\n")
    H.write(xdg .. "/purple/profiles/zz-broken.yaml", "name: [\n")
    local out, err, code = purple("profile list", "XDG_CONFIG_HOME=" .. H.q(xdg))
    assert.equal(0, code, err)
    assert.truthy(out:find(("ai%-strict%s+Untrusted agents: no network, read%-only system, writable /output and /tmp%s+"
      .. H.tree:gsub("%p", "%%%0") .. "/profiles/ai%-strict%.lua\n")))
    assert.truthy(out:find("zz%-spec%s+from the user's config%s+" .. xdg:gsub("%p", "%%%0")
      .. "/purple/profiles/zz%-spec%.yaml\n"))
    assert.truthy(out:find("zz%-broken%s+%(invalid: see purple profile check%)"))
    assert.falsy(out:find("never listed", 1, true))
  end)

  it("list: reads the search directories itself; no shell sees $XDG_CONFIG_HOME", function()
    local d = H.tmpdir()
    local _, err, code = purple("profile list", "XDG_CONFIG_HOME=" .. H.q(d .. "/$(touch " .. d .. "/ran)"))
    assert.equal(0, code, err)
    assert.is_nil(require("purple.core").stat(d .. "/ran"))
  end)

  it("show: YAML by default, Lua and JSON on request; each loads again", function()
    local d = H.tmpdir()
    for _, fmt in ipairs({ "yaml", "lua" }) do
      local out, err, code = purple("profile show " .. H.q(H.tree .. "/spec/fixtures/custom-profile.yaml")
        .. (fmt == "yaml" and "" or " --format " .. fmt))
      assert.equal(0, code, err)
      local f = d .. "/again." .. fmt
      H.write(f, out)
      local again, err2, code2 = purple("profile show --format=" .. fmt .. " " .. H.q(f))
      assert.equal(0, code2, err2)
      assert.equal(out:gsub("^[^\n]*\n", ""), (again:gsub("^[^\n]*\n", "")))
    end
    local out, err, code = purple("profile show ai-strict -f json")
    assert.equal(0, code, err)
    assert.truthy(out:match('^{.*"name":"ai%-strict".*}\n$'))
  end)

  it("show: errors", function()
    local cases = {
      { "profile show", "purple: profile show: missing argument 'NAME' (see purple profile show --help)\n" },
      { "profile show ai-strict --format xml",
        "purple: profile show: --format xml: expected yaml, lua or json (see purple profile show --help)\n" },
      { "profile show ai-strict --colour",
        "purple: profile show: unknown option '--colour' (see purple profile show --help)\n" },
      { "profile show ai-strict --format",
        "purple: profile show: option '--format' requires an argument (see purple profile show --help)\n" },
      { "profile show ai-strict ai-dev-safe", "purple: profile show: too many arguments (see purple profile show --help)\n" },
      { "profile show nosuch-profile", "purple: profile nosuch-profile: not found in " },
      { "profile frobnicate", "purple: profile: unknown command 'frobnicate' (see purple profile --help)\n" },
      { "profile", "purple: profile: expected a command: list, show, check (see purple profile --help)\n" },
      { "profile list --json", "purple: profile list: unknown option '--json' (see purple profile list --help)\n" },
    }
    for _, c in ipairs(cases) do
      local out, err, code = purple(c[1])
      assert.equal(125, code, c[1])
      assert.equal("", out)
      assert.equal(c[2], err:sub(1, #c[2]), c[1])
    end
  end)

  it("documents every schema field in docs/policy.md and purple-policy(5), which renders cleanly", function()
    local md = assert(H.read(H.tree .. "/docs/policy.md"))
    local man = assert(H.read(H.tree .. "/man/purple-policy.5"))
    local schema = require "purple.schema"
    local function walk(node, prefix)
      for _, f in ipairs(node.fields) do
        local path = prefix .. f[1]
        assert.truthy(md:find("`" .. path, 1, true), path .. " is not documented in docs/policy.md")
        assert.truthy(man:find(f[1], 1, true), f[1] .. " is not in man/purple-policy.5")
        if type(f[2]) == "table" and f[2].kind == "map" and prefix == "" then walk(f[2], path .. ".") end
      end
    end
    walk(schema.root, "")
    local _, err, code = H.sh("groff -man -Tutf8 -ww -z " .. H.q(H.tree .. "/man/purple-policy.5"))
    if code == 127 then pending("groff is not installed") return end
    assert.equal(0, code)
    assert.equal("", err)
  end)

  it("check: every error of every file, exit 1; exit 0 when all are valid", function()
    local d = H.tmpdir()
    local bad1, bad2 = d .. "/bad1.yaml", d .. "/bad2.lua"
    H.write(bad1, "name: b1\nresources:\n  memroy_limit_bytes: 2G\n  pids_limit: 0\nnetwork:\n  allow_incoming: [\"99999\"]\n")
    H.write(bad2, "return { capabilities = { add = { 'CAP_NOPE' } } }\n")
    local fixture = H.tree .. "/spec/fixtures/custom-profile.yaml"
    local out, err, code = purple(("profile check %s %s %s"):format(H.q(fixture), H.q(bad1), H.q(bad2)))
    assert.equal(1, code)
    assert.equal(fixture .. ": ok (custom-profile)\n", out)
    assert.equal(table.concat({
      bad1 .. ":3: resources.memroy_limit_bytes: unknown key",
      bad1 .. ":4: resources.pids_limit: expected a whole number of at least 1, got 0",
      bad1 .. ":6: network.allow_incoming[1]: bad port \"99999\": ports are 1-65535",
      bad2 .. ": capabilities.add[1]: unknown capability \"CAP_NOPE\"",
    }, "\n") .. "\n", err)
    out, err, code = purple(("profile check %s profiles/ai-strict.yaml profiles/ai-strict.lua"):format(H.q(fixture)))
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal(3, select(2, out:gsub(": ok %(", "")))
    local _
    _, err, code = purple("profile check")
    assert.equal(125, code)
    assert.equal("purple: profile check: missing argument 'FILE' (see purple profile check --help)\n", err)
    _, err, code = purple("profile check " .. H.q(d .. "/missing.yaml"))
    assert.equal(1, code)
    assert.equal(("profile %s/missing.yaml: no such file\n"):format(d), err)
  end)
end)
