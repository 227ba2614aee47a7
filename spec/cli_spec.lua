-- The purple and purple-lua commands, and `require "purple"` from a plain lua5.4 with the in-tree
-- paths that `make env` prints.
local H = require "spec_helper"
-- ai-strict shows a workspace of its own, so that it has nothing to say about the current directory
-- wherever the clone lives (it hides one under /root, /home or /tmp, and says so on stderr).
local function quiet() return " PURPLE_WORKSPACE=" .. H.q(H.tmpdir()) end
local core = require "purple.core"

local SANDBOX_UID = H.is_root() and 65534 or (core.ids())

local function purple(args, env)
  return H.sh((env and (env .. " ") or "") .. H.q(H.purple) .. " " .. args .. " </dev/null")
end

local function purple_lua(args, env)
  return H.sh((env and (env .. " ") or "") .. H.q(H.purple_lua) .. " " .. args .. " </dev/null")
end

describe("purple command", function()
  after_each(H.cleanup)

  it("prints its usage and the exit statuses with --help and -h", function()
    for _, flag in ipairs({ "--help", "-h" }) do
      local out, err, code = purple(flag)
      assert.are.equal(0, code)
      assert.are.equal("", err)
      assert.matches("^Usage: purple %[%-l LEVEL%] COMMAND", out)
      assert.matches("\n  run %-%-profile NAME|PATH", out)
      for _, line in ipairs({ "128+N  the command was killed by signal N", "124    the session timeout",
        "125    purple, policy or setup error", "126    the command was found but could not be executed",
        "127    the command was not found" }) do
        assert.is_truthy(out:find(line, 1, true), line)
      end
    end
  end)

  it("prints its version with --version and -V", function()
    local version = require("purple").version
    for _, flag in ipairs({ "--version", "-V" }) do
      local out, err, code = purple(flag)
      assert.are.same({ "purple " .. version .. "\n", "", 0 }, { out, err, code })
    end
  end)

  it("without a command prints the usage on stderr and exits 125", function()
    local out, err, code = purple("")
    assert.are.equal(125, code)
    assert.are.equal("", out)
    assert.matches("^Usage: purple", err)
  end)

  it("rejects unknown options, commands and log levels with one line and 125", function()
    local cases = {
      { "--bogus", "purple: unknown option '--bogus' (see purple --help)\n" },
      { "frobnicate", "purple: unknown command 'frobnicate' (see purple --help)\n" },
      { "-l loud run --profile ai-strict -- true",
        "purple: -l: unknown log level 'loud': expected error, warn, info or debug (see purple --help)\n" },
      { "-l", "purple: option '-l' requires an argument (see purple --help)\n" },
      { "run --bogus --profile ai-strict -- true", "purple: run: unknown option '--bogus' (see purple run --help)\n" },
      { "run -- true", "purple: run: --profile NAME|PATH is required (see purple run --help)\n" },
      { "run --profile ai-strict", "purple: command: empty (give the command after --)\n" },
      { "run --profile ai-strict --", "purple: command: empty (give the command after --)\n" },
      { "run --profile ai-strict --timeout -1 -- true",
        "purple: run: --timeout: expected a positive number of seconds (see purple run --help)\n" },
      { "run --profile ai-strict --timeout=soon -- true",
        "purple: run: --timeout: expected a positive number of seconds (see purple run --help)\n" },
      { "run --profile ai-strict --report", "purple: run: option '--report' requires an argument (see purple run "
        .. "--help)\n" },
      { "run --profile ai-strict --learn '' -- true",
        "purple: run: --learn: expected an output file name (e.g. learned.yaml) (see purple run --help)\n" },
      { "run --profile ai-strict --reprt r.json -- true",
        "purple: run: unknown option '--reprt'; did you mean '--report'? (see purple run --help)\n" },
      { "ps --bogus", "purple: ps: unknown option '--bogus' (see purple ps --help)\n" },
      { "ps --watch 0", "purple: ps: --watch: expected a positive number of seconds (see purple ps --help)\n" },
      { "stop", "purple: stop: missing argument 'ID' (see purple stop --help)\n" },
      { "stop --wait soon 0123abcd", "purple: stop: --wait: expected a number of seconds (see purple stop --help)\n" },
      { "log --follow --bogus", "purple: log: unknown option '--bogus' (see purple log --help)\n" },
      { "log --session", "purple: log: option '--session' requires an argument (see purple log --help)\n" },
      { "doctor --bogus", "purple: doctor: unknown option '--bogus' (see purple doctor --help)\n" },
      { "syscalls @basic-io @network-io", "purple: syscalls: too many arguments (see purple syscalls --help)\n" },
      { "syscalls @basic-io --hardening",
        "purple: syscalls: GROUP or --hardening, not both (see purple syscalls --help)\n" },
      { "help frobnicate", "purple: help: unknown command 'frobnicate' (see purple help --help)\n" },
      { "help profile frobnicate", "purple: help: profile: no subcommand 'frobnicate' (see purple help --help)\n" },
    }
    for _, c in ipairs(cases) do
      local out, err, code = purple(c[1])
      assert.are.same({ "", c[2], 125 }, { out, err, code }, c[1])
    end
    local _, err, code = purple("run --profile no-such-profile-h7 -- true")
    assert.are.equal(125, code)
    assert.matches("^purple: profile no%-such%-profile%-h7: not found in [^\n]*\n$", err)
  end)

  -- Each command's usage, from its lua-argparse parser: `purple CMD --help`, `-h` and `purple help CMD`
  -- print the same text on stdout and exit 0, also where the command's required arguments are missing.
  it("prints each command's usage with --help, -h and purple help CMD", function()
    local cases = {
      { "run", "^Usage: purple run %-%-profile PROFILE [^\n]*\n[^\n]*%-%- CMD %[ARG%.%.%.%]\n", "\n   %-%-learn OUT +" },
      { "profile", "^Usage: purple profile ", "\n   show +Print the effective policy of a profile%.\n" },
      { "profile list", "^Usage: purple profile list %[%-h%]\n", "\n   %-h, %-%-help +" },
      { "profile show", "^Usage: purple profile show %[%-h%] %[%-f FORMAT%] <NAME>\n", "\n   %-%-format FORMAT +" },
      { "profile check", "^Usage: purple profile check %[%-h%] <FILE> ", "\n   FILE +A policy file" },
      { "ps", "^Usage: purple ps ", "\n   %-%-watch %[SECONDS%] *\n" },
      { "stop", "^Usage: purple stop %[%-h%] %[%-%-wait SECONDS%] <ID>", "\n   ID +A session id" },
      { "log", "^Usage: purple log ", "\n   %-f, %-%-follow +" },
      { "doctor", "^Usage: purple doctor %[%-h%] %[%-%-json%]\n", "\n   %-%-json +Print the checks as JSON%.\n" },
      { "syscalls", "^Usage: purple syscalls %[%-h%] %[%-%-hardening%] %[<GROUP>%]\n", "\n   %-%-hardening +" },
      { "help", "^Usage: purple help %[%-h%] %[<COMMAND>%] ", "\n   COMMAND +A command" },
    }
    for _, c in ipairs(cases) do
      local out, err, code = purple(c[1] .. " --help")
      assert.are.same({ "", 0 }, { err, code }, c[1])
      assert.matches(c[2], out)
      assert.matches(c[3], out)
      for _, form in ipairs({ c[1] .. " -h", "help " .. c[1] }) do
        assert.are.same({ out, "", 0 }, { purple(form) }, form)
      end
    end
    local out, err, code = purple("help")
    assert.are.same({ "", 0 }, { err, code })
    assert.are.equal(purple("--help"), out)
    assert.matches("\n  help %[COMMAND%] +", out)
  end)

  it("run: the usual --profile NAME is parsed without argparse to the very options argparse gives", function()
    local p = H.tmpdir() .. "/s.lua"
    H.write(p, [[
local args, run = require "purple.cli.args", require "purple.cli.run"
local function show(o)
  if not o then return "nil" end
  local t = {}
  for k, v in pairs(o) do t[#t + 1] = k .. "=" .. tostring(v) end
  table.sort(t)
  return table.concat(t, ",")
end
for _, l in ipairs({ { "--profile", "ai-strict" }, { "-p", "x/y.lua" }, { "--profile", "a b" },
                     { "--profile", "-x" }, { "--profile", "" }, { "-p" }, { "--profile=x" }, { "--timeout", "1" },
                     { "--profile", "x", "--report", "r" }, { "x", "--profile" } }) do
  local quick = run.quick_parse(l)
  local full = args.parse(run.parser(), l)
  if quick then assert(show(quick) == show(full), show(quick) .. " ~= " .. show(full)) end
  print(table.concat(l, " "), quick and "quick" or "argparse", show(full))
end
]])
    local out, err, code = purple_lua(H.q(p))
    assert.are.same({ table.concat({
      "--profile ai-strict\tquick\tprofile=ai-strict",
      "-p x/y.lua\tquick\tprofile=x/y.lua",
      "--profile a b\tquick\tprofile=a b",
      "--profile -x\targparse\tnil",
      "--profile \targparse\tprofile=",
      "-p\targparse\tnil",
      "--profile=x\targparse\tprofile=x",
      "--timeout 1\targparse\ttimeout=1",
      "--profile x --report r\targparse\tprofile=x,report=r",
      "x --profile\targparse\tnil",
    }, "\n") .. "\n", "purple: run: unknown option '-x'; did you mean one of these: '-h' '-p'? (see purple run --help)\n"
      .. "purple: run: option '-p' requires an argument (see purple run --help)\n"
      .. "purple: run: too many arguments (see purple run --help)\n", 0 }, { out, err, code })
  end)

  it("passes everything after -- to the command unparsed, --help and -l included", function()
    local out, err, code = purple("run --profile ai-strict -- sh -c 'echo \"$@\"' sh --help -l x --",
      "PURPLE_OUTPUT=" .. H.tmpdir() .. "/out" .. quiet())
    assert.are.same({ "--help -l x --\n", "", 0 }, { out, err, code })
  end)

  it("logs by level: warn (default) and error are quiet, info reports the session, debug more", function()
    local d = H.tmpdir()
    local env = "PURPLE_OUTPUT=" .. d .. "/out PURPLE_WORKSPACE=" .. H.tmpdir() -- quiet wherever the clone lives
    local function stderr_of(level)
      local out, err, code = purple((level and ("-l " .. level .. " ") or "") .. "run --profile ai-strict -- echo hi",
        env)
      assert.are.equal("hi\n", out)
      assert.are.equal(0, code)
      return err
    end
    assert.are.equal("", stderr_of(nil))
    assert.are.equal("", stderr_of("error"))
    assert.are.equal("", stderr_of("warn"))
    local info = stderr_of("info")
    assert.matches("^purple: session %x+: status 0 in ", info)
    local debug = stderr_of("debug")
    local from = H.tree:gsub("%p", "%%%0") .. "/profiles/ai%-strict%.lua"
    assert.matches("purple: profile ai%-strict from " .. from .. "\n", debug)
    assert.is_true(#debug > #info)
  end)

  -- --report and --learn write after the sandbox ran, often into a directory it could write (its
  -- output path): the files are opened before it starts, and a symbolic link at the path is
  -- never followed, so the command cannot aim purple's writes at the user's other files.
  it("--report: a link the command plants at the report's path during the run is not followed", function()
    local out_dir, v = H.tmpdir(), H.tmpdir()
    local victim = v .. "/victim"
    H.write(victim, "victim\n")
    -- the sandbox user's, as purple leaves an output directory it made (as root: uid 65534)
    assert.is_true(core.chown(out_dir, SANDBOX_UID, SANDBOX_UID))
    local script = "rm -f /output/report.json && ln -s " .. victim .. " /output/report.json"
      .. " && test -L /output/report.json"
    local out, err, code = purple("run --profile ai-strict --report " .. H.q(out_dir .. "/report.json") .. " -- sh -c "
      .. H.q(script), "PURPLE_OUTPUT=" .. H.q(out_dir))
    assert.are.equal(0, code, err)
    assert.are.equal("", out)
    assert.are.equal("victim\n", H.read(victim))
    assert.are.equal(victim, core.readlink(out_dir .. "/report.json")) -- planted, and left alone
  end)

  it("--report and --learn: a symbolic link already at the path stops the run (125); nothing is written through it",
    function()
      local d = H.tmpdir()
      local victim = d .. "/victim"
      H.write(victim, "victim\n")
      local env = "PURPLE_OUTPUT=" .. H.q(d .. "/out")
      local function refused(option, value, link)
        assert.is_true(os.execute("ln -s " .. H.q(victim) .. " " .. H.q(link)))
        local out, err, code = purple("run --profile ai-strict " .. option .. " " .. H.q(value)
          .. " -- sh -c 'echo ran'", env)
        -- the last line: without a delegated cgroup, warnings about the limits come first
        assert.are.same({ "", ("purple: %s: create %s: a symbolic link, which purple does not follow (remove it or "
          .. "give another path)\n"):format(option, link), 125 }, { out, err:match("[^\n]*\n$") or err, code })
        assert.are.equal("victim\n", H.read(victim))
      end
      refused("--report", d .. "/report.json", d .. "/report.json")
      refused("--learn", d .. "/a", d .. "/a.yaml") -- --learn OUT writes OUT.yaml and OUT.lua
      refused("--learn", d .. "/b.yaml", d .. "/b.lua")
    end)

  it("lists and shows the shipped profiles", function()
    local out, _, code = purple("profile list")
    assert.are.equal(0, code)
    assert.matches("\nai%-dev%-safe +", "\n" .. out)
    assert.matches("\nai%-strict +", "\n" .. out)
    out, _, code = purple("profile show ai-strict")
    assert.are.equal(0, code)
    assert.matches("name: \"?ai%-strict\"?\n", out)
  end)
end)

describe("purple-lua command", function()
  after_each(H.cleanup)

  it("runs profiles/ai-strict.lua on the command after --", function()
    local d = H.tmpdir()
    local out, err, code = purple_lua(H.q(H.tree .. "/profiles/ai-strict.lua") .. " -- sh -c 'id -u; echo x > "
      .. "/output/f; exit 4'", "PURPLE_OUTPUT=" .. d .. "/out" .. quiet())
    assert.are.same({ SANDBOX_UID .. "\n", "", 4 }, { out, err, code })
    assert.are.equal("x\n", H.read(d .. "/out/f"))
  end)

  it("runs a script that calls purple.exec itself, with its arguments after the context", function()
    local p = H.tmpdir() .. "/s.lua"
    H.write(p, [[
local ctx, n = ...
print(ctx.agent, arg[0]:match("s%.lua$"), arg[1], arg[2], arg[3])
local policy = assert(purple.profile("ai-strict"))
local r = purple.exec(policy, { "sh", "-c", "exit " .. n })
print("status", r.status, r.code, type(r.duration))
return r.status + 1
]])
    local out, err, code = purple_lua("-l warn " .. H.q(p) .. " 6 -x", "PURPLE_OUTPUT=" .. H.tmpdir() .. "/out" .. quiet())
    assert.are.same({ "nil\ts.lua\t6\t-x\tnil\nstatus\t6\t6\tnumber\n", "", 7 }, { out, err, code })
  end)

  it("runs examples/per-agent.lua with the profile context, as purple run --profile does", function()
    for _, agent in ipairs({ "", "PURPLE_AGENT=coder " }) do
      local out, err, code = purple_lua(H.q(H.tree .. "/examples/per-agent.lua") .. " -- id -u",
        agent .. "PURPLE_OUTPUT=" .. H.tmpdir() .. "/out" .. quiet())
      if code == 125 and err:find("resources%.") then
        pending("per-agent.lua sets resource limits, which need a cgroup this user may change: " .. err)
        return
      end
      assert.are.same({ SANDBOX_UID .. "\n", "", 0 }, { out, err, code }, agent)
    end
  end)

  it("gives a script and the profiles it extends the context purple run --profile gives them", function()
    local d = H.tmpdir()
    H.write(d .. "/base.lua", [[
local ctx = ...
io.stderr:write("base ", tostring(ctx.agent), " ", tostring(ctx.argv[2]), "\n")
return purple.extend("ai-strict", {})
]])
    H.write(d .. "/top.lua", [[
local ctx = ...
io.stderr:write("top ", tostring(ctx.agent), " ", #ctx.argv, "\n")
return purple.extend("base.lua", { name = "top" })
]])
    local env = "PURPLE_OUTPUT=" .. d .. "/out" .. quiet()
    local expected = { "", "top sh 3\nbase sh -c\n", 0 }
    assert.are.same(expected, { purple("run --profile " .. H.q(d .. "/top.lua") .. " -- sh -c true", env) })
    assert.are.same(expected, { purple_lua(H.q(d .. "/top.lua") .. " -- sh -c true", env) })
  end)

  it("reports usage, unknown options and script errors with 125", function()
    local out, err, code = purple_lua("--help")
    assert.are.equal(0, code)
    assert.matches("^Usage: purple%-lua %[%-l LEVEL%] SCRIPT", out)
    assert.are.equal("", err)
    out, err, code = purple_lua("")
    assert.are.equal(125, code)
    assert.matches("^Usage: purple%-lua", err)
    out, err, code = purple_lua("--bogus")
    assert.are.same({ "", "purple: unknown option '--bogus' (see purple-lua --help)\n", 125 }, { out, err, code })
    out, err, code = purple_lua("/nonexistent-h7.lua")
    assert.are.same({ "", "purple: cannot open /nonexistent-h7.lua: No such file or directory\n", 125 },
      { out, err, code })
    local p = H.tmpdir() .. "/bad.lua"
    H.write(p, "return {")
    out, err, code = purple_lua(H.q(p) .. " -- true")
    assert.are.equal(125, code)
    assert.matches("^purple: " .. p:gsub("%p", "%%%0") .. ":1: unexpected symbol near <eof>\n$", err)
    H.write(p, "return { name = 'x' }")
    out, err, code = purple_lua(H.q(p))
    assert.are.same({ "", "purple: command: empty (give the command after --)\n", 125 }, { out, err, code })
  end)
end)

describe("require 'purple' from lua5.4", function()
  after_each(H.cleanup)

  it("works with the paths `make env` prints", function()
    local d = H.tmpdir()
    local script = [[local purple = require "purple"
local r = purple.exec(assert(purple.profile("ai-strict")), { "sh", "-c", "echo inside; exit 3" })
print(r.status, r.code, r.timed_out, r.signal)]]
    local out, err, code = H.sh("cd " .. H.q(H.tree) .. " && eval \"$(make -s --no-print-directory env)\" && cd "
      .. H.q(d) .. " && PURPLE_OUTPUT=" .. H.q(d .. "/out") .. " lua5.4 -e " .. H.q(script) .. " </dev/null")
    assert.are.same({ "inside\n3\t3\tfalse\tnil\n", "", 0 }, { out, err, code })
  end)
end)
