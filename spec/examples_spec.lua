-- The shipped example agent and profiles, run for real: examples/ai_agent.py under ai-strict (via
-- examples/ai-demo.lua), examples/demo.sh (make demo), and the tools profiles/ai-dev-safe.lua promises.
local H = require "spec_helper"
local core = require "purple.core"
local json = require "purple.json"

local ROOT = H.is_root()
local SANDBOX_UID = ROOT and 65534 or (core.ids())

local function have(cmd)
  local _, _, code = H.sh("command -v " .. cmd .. " >/dev/null")
  return code == 0
end

-- A TCP service on the host's loopback for the duration of a test; returns its port and pid.
local function loopback_service(dir)
  local pid = tonumber((H.sh("/usr/bin/python3 -c " .. H.q([[
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept()
    c.sendall(b"host secret service\n")
    c.close()
]]) .. " " .. H.q(dir .. "/port") .. " >/dev/null 2>&1 & echo $!")))
  for _ = 1, 400 do
    if core.stat(dir .. "/port") then break end
    os.execute("sleep 0.02")
  end
  return tonumber(H.read(dir .. "/port")), pid
end

describe("examples", function()
  after_each(H.cleanup)

  it("ai_agent.py under ai-strict sees and reaches nothing of the host, and delivers to /output", function()
    local d = H.tmpdir()
    local port, server = loopback_service(d)
    assert.is_truthy(port)
    -- control: the service is reachable from the host
    local banner = H.sh("/usr/bin/python3 -c " .. H.q("import socket; print(socket.create_connection(('127.0.0.1', "
      .. port .. ")).recv(100).decode().strip())"))
    local out, err, code = H.run(H.tree .. "/examples/ai-demo.lua",
      { "python3", "/task/ai_agent.py", "--probe-port", tostring(port) }, { env = "PURPLE_OUTPUT=" .. d .. "/out" })
    core.kill(server, 9)
    assert.are.equal("host secret service\n", banner)
    assert.are.equal("", err)
    assert.are.equal(0, code)
    local report = json.decode(out)
    assert.are.same(report, json.decode(H.read(d .. "/out/report.json")))
    assert.are.equal(SANDBOX_UID, report.uid)
    assert.are.same({}, report.capabilities)
    assert.are.same({}, report.bounding_set)
    assert.is_true(report.no_new_privs)
    for path, seen in pairs(report.host_home) do
      assert.are.equal("absent", seen, path)
    end
    local net = report.network
    assert.are.same({ "lo" }, net.interfaces)
    assert.are.equal("failed (Connection refused)", net["connect host loopback 127.0.0.1:" .. port])
    assert.matches("^failed ", net["resolve example.com"])
    assert.matches("^failed ", net["connect 1.1.1.1:443"])
    -- only the sandbox's init and the agent itself
    assert.are.equal(2, #report.processes)
    assert.are.equal("2 python3", report.processes[2])
    assert.are.equal("not writable (Read-only file system)", report.writable["/"])
    assert.are.equal("not writable (Read-only file system)", report.writable["/usr"])
    assert.are.equal("writable", report.writable["/output"])
    assert.are.equal("done: /output/result.txt", report.task)
    assert.matches("^Task: Summarise the state of the build", H.read(d .. "/out/result.txt"))
    assert.are.equal(SANDBOX_UID, core.stat(d .. "/out/result.txt").uid)
  end)

  it("examples/demo.sh (make demo) runs the agent and shows what landed on the host", function()
    local out, _, code = H.sh("sh " .. H.q(H.tree .. "/examples/demo.sh"))
    local work = out:match("rm %-rf (/tmp/purple%-demo%.%w+)")
    if work then os.execute("rm -rf " .. H.q(work)) end
    assert.are.equal(0, code)
    assert.matches('"task": "done: /output/result.txt"', out, 1, true)
    assert.matches("== exit status: 0", out, 1, true)
    assert.matches("result.txt", out:match("== what landed on the host.-\n\n") or "", 1, true)
  end)

  describe("profiles/ai-dev-safe.lua", function()
    local function dev(script, ws)
      return H.run("ai-dev-safe", { "sh", "-c", script }, { env = "PURPLE_WORKSPACE=" .. H.q(ws) })
    end

    it("runs python3, node, git, sh, make and gcc, with a writable /workspace and no network", function()
      local ws = H.tmpdir() .. "/ws"
      local node = have("node") and "node -e 'console.log(\"node\", 6 * 7)'" or "echo node 42"
      local out, err, code = dev([[
set -e
echo "sh $(pwd) $HOME"
python3 -c 'print("python", 6 * 7)'
]] .. node .. [[

git init -q repo
git -C repo -c user.email=agent@example.invalid -c user.name=agent commit -q --allow-empty -m first
echo "git $(git -C repo rev-list --count HEAD)"
printf '#include <stdio.h>\nint main(void) { printf("gcc 42\\n"); return 0; }\n' > hello.c
printf 'hello: hello.c\n\tgcc -O1 -o hello hello.c\n' > Makefile
make -s
./hello
python3 -c 'import socket; socket.create_connection(("1.1.1.1", 443), timeout=2)' 2>/dev/null || echo "no network"
]], ws)
      assert.are.equal("", err)
      assert.are.equal(0, code)
      assert.are.equal("sh /workspace /home/agent\npython 42\nnode 42\ngit 1\ngcc 42\nno network\n", out)
      -- the work landed in the workspace on the host
      assert.are.equal("file", core.stat(ws .. "/hello").type)
      assert.are.equal("directory", core.stat(ws .. "/repo/.git").type)
      if not have("node") then pending("node is not installed on this host: the other tools were run") end
    end)

    it("run by root, runs as the workspace's owner", function()
      if not H.is_root() then
        pending("needs root (an ordinary user always runs as themselves)")
        return
      end
      local ws = H.tmpdir() .. "/ws"
      assert(core.mkdir(ws) and core.chown(ws, 4242, 4243))
      local out, err, code = dev("id -u; id -g; touch made", ws)
      assert.are.same({ "4242\n4243\n", "", 0 }, { out, err, code })
      assert.are.same({ 4242, 4243 }, { core.stat(ws .. "/made").uid, core.stat(ws .. "/made").gid })
    end)

    it("refuses a workspace that would expose the home directory or /", function()
      local _, err, code = dev("true", "/")
      assert.are.equal(125, code)
      assert.are.equal("purple: " .. H.tree .. "/profiles/ai-dev-safe.lua: workspace: / contains /; run from a "
        .. "project directory or set PURPLE_WORKSPACE\n", err)
      local home = os.getenv("HOME")
      _, err, code = dev("true", home)
      assert.are.equal(125, code)
      assert.matches("workspace: " .. home:gsub("%p", "%%%0") .. " contains ", err)
    end)
  end)

  -- The README's code blocks, as written.
  local function readme_block(after, pattern)
    local text = H.read(H.tree .. "/README.md")
    local from = assert(text:find(after, 1, true), after)
    return assert(text:match(pattern, from))
  end

  describe("the README's quick start", function()
    local quick = readme_block("Then, from the top of the tree:", "```sh\n(.-)```")
    local agent_lines = {}
    for l in quick:gmatch("[^\n]+") do
      if l:find("examples/ai_agent.py", 1, true) then agent_lines[#agent_lines + 1] = l end
    end

    -- A copy of the tree in a 0700 home, the way a user clones it; HOME points there.
    local function clone()
      local d = H.tmpdir()
      local home, tree = d .. "/home", d .. "/home/purple"
      assert(core.mkdir(home, 448)) -- 0700
      assert(core.mkdir(tree, 493))
      local _, err, code = H.sh(("cp -a %s %s %s %s %s"):format(H.q(H.tree .. "/bin"), H.q(H.tree .. "/lua"),
        H.q(H.tree .. "/profiles"), H.q(H.tree .. "/examples"), H.q(tree)))
      assert.are.equal(0, code, err)
      return d, home, tree
    end

    it("runs the example agent from a clone in the user's home", function()
      assert.are.equal(2, #agent_lines, quick)
      local d, home, tree = clone()
      for i, line in ipairs(agent_lines) do
        local out_dir = ("%s/out%d"):format(d, i)
        local out, err, code = H.sh(("cd %s && HOME=%s PURPLE_OUTPUT=%s %s </dev/null"):format(H.q(tree), H.q(home),
          H.q(out_dir), line))
        assert.are.equal(0, code, line .. "\n" .. err)
        assert.is_nil(err:find("not visible", 1, true), err)
        local report = json.decode(out)
        assert.are.equal("done: /output/result.txt", report.task, line)
        assert.are.equal(SANDBOX_UID, report.uid)
        assert.matches("^Task: ", H.read(out_dir .. "/result.txt"))
      end
    end)

    it("without PURPLE_WORKSPACE, ai-strict hides a directory in the home and says so in one line", function()
      local d, home, tree = clone()
      local out, err, code = H.sh(("cd %s && HOME=%s PURPLE_OUTPUT=%s ./bin/purple run --profile ai-strict -- "
        .. "python3 examples/ai_agent.py </dev/null"):format(H.q(tree), H.q(home), H.q(d .. "/out")))
      assert.are_not.equal(0, code)
      assert.are.equal("", out)
      local first = err:match("^[^\n]*\n")
      assert.are.equal(("purple: ai-strict: the current directory %s is not visible in the sandbox (it is under %s) "
        .. "and the working directory is /tmp; to show it read-only, run with PURPLE_WORKSPACE=%s\n")
        :format(tree, home, tree), first)
      -- quiet with -l error; a workspace holding the home is refused
      _, err = H.sh(("cd %s && HOME=%s PURPLE_OUTPUT=%s ./bin/purple -l error run --profile ai-strict -- true")
        :format(H.q(tree), H.q(home), H.q(d .. "/out")))
      assert.is_nil(err:find("not visible", 1, true), err)
      _, err, code = H.sh(("cd %s && HOME=%s PURPLE_WORKSPACE=%s ./bin/purple run --profile ai-strict -- true")
        :format(H.q(tree), H.q(home), H.q(d)))
      assert.are.equal(125, code)
      assert.are.equal(("purple: %s/profiles/ai-strict.lua: workspace: PURPLE_WORKSPACE=%s holds %s; name a project "
        .. "directory\n"):format(tree, d, home), err)
    end)
  end)

  describe("the README's agent-web.yaml (HTTPS and DNS out)", function()
    local FILES = { "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
      "/etc/ssl/certs" }
    local CHECK = [[
import json, os, socket
seen = {p: os.path.exists(p) for p in ]] .. "[" .. table.concat((function()
      local q = {}
      for i, f in ipairs(FILES) do q[i] = '"' .. f .. '"' end
      return q
    end)(), ", ") .. "]" .. [[}
try:
    addr = socket.getaddrinfo("localhost", 443, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
except OSError as e:
    addr = "failed: %s" % e
print(json.dumps({"seen": seen, "localhost": addr}))
]]

    -- The README's file with the log in a temp dir and allow_outgoing as given; status, report, stderr.
    local function run(allow)
      local yaml = readme_block("# /etc/purple/profiles/agent-web.yaml", "^(.-)```")
      local d = H.tmpdir()
      yaml = yaml:gsub("log_path: /var/log/purple/agent%-web%.log", "log_path: " .. d .. "/agent-web.log")
      if allow then yaml = yaml:gsub('allow_outgoing: %[[^\n]*%]', "allow_outgoing: " .. allow) end
      H.write(d .. "/agent-web.yaml", yaml)
      local out, err, code = H.run(d .. "/agent-web.yaml", { "python3", "-c", CHECK },
        { env = "PURPLE_OUTPUT=" .. H.q(d .. "/out") })
      return code, out, err
    end

    local function host_ready()
      if (core.landlock_abi() or 0) < 6 then return false, "needs Landlock ABI 6 (network.isolated: false)" end
      local hosts = H.read("/etc/hosts") or ""
      if not hosts:match("\n%s*127%.0%.0%.1%s[^\n]*localhost") and not hosts:match("^%s*127%.0%.0%.1%s[^\n]*localhost")
      then
        return false, "the host's /etc/hosts does not name localhost 127.0.0.1"
      end
      return true
    end

    it("resolves localhost through the host's /etc/hosts, read-only", function()
      local ok, why = host_ready()
      if not ok then pending(why) return end
      local code, out, err = run(nil)
      if code == 125 and err:match("resources%.") then pending("cgroup limits: " .. err) return end
      assert.are.equal(0, code, err)
      local r = json.decode(out)
      assert.are.equal("127.0.0.1", r.localhost)
      for _, f in ipairs(FILES) do
        assert.are.equal(core.stat(f) ~= nil, r.seen[f], f)
      end
    end)

    it("shows none of the resolver files when DNS is not open", function()
      local ok, why = host_ready()
      if not ok then pending(why) return end
      local code, out, err = run('["443/tcp"]')
      if code == 125 and err:match("resources%.") then pending("cgroup limits: " .. err) return end
      assert.are.equal(0, code, err)
      local r = json.decode(out)
      for _, f in ipairs(FILES) do assert.is_false(r.seen[f], f) end
      assert.matches("^failed", r.localhost)
    end)
  end)
end)
