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
end)
