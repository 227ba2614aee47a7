-- How the sandbox's init joins its cgroups (csrc/cgroup_join.c): cloned into the v2 cgroup,
-- moving itself into the v1 ones. Seen from the host: every process of the sandbox is in the run's
-- cgroup of every hierarchy, and a limit there holds for the command.
local H = require "spec_helper"

describe("cgroup join", function()
  after_each(H.cleanup)

  -- The run's cgroup directories, found from the host while the command sleeps: hierarchy → pids.
  local function membership(profile)
    local script = ("%s run --profile %s -- /bin/sleep 3 </dev/null >/dev/null 2>&1 & p=$!; i=0; "
      .. "while [ $i -lt 100 ] && [ -z \"$(ls -d /sys/fs/cgroup/*/purple/*-$p 2>/dev/null)\" ]; do sleep 0.05; i=$((i+1)); done; "
      .. "sleep 0.3; for g in /sys/fs/cgroup/*/purple/*-$p; do "
      .. "[ -e \"$g/tasks\" ] && v=v1 || v=v2; echo \"$g $v $(sort -n $g/cgroup.procs | tr '\\n' ' ')\"; done; "
      .. "kill -TERM $p; wait $p"):format(H.q(H.purple), H.q(profile))
    local out = H.sh(script)
    local groups = {}
    for line in out:gmatch("[^\n]+") do
      local dir, kind, pids = line:match("^(%S+) (v%d) (.*)$")
      if dir then groups[#groups + 1] = { dir = dir, kind = kind, pids = pids } end
    end
    return groups
  end

  it("puts every process of the sandbox into the run's cgroup of every hierarchy, v1 and v2", function()
    if not H.is_root() then
      pending("needs root: uid " .. tostring((require("purple.core").ids())) .. " has no delegated cgroup here")
      return
    end
    local groups = membership(H.profile(H.minimal("resources = { pids_limit = 16 },")))
    local kinds = {}
    for _, g in ipairs(groups) do kinds[g.kind] = true end
    if not kinds.v1 or not kinds.v2 then
      pending("this host does not offer both v1 and v2 hierarchies (found: "
        .. table.concat((function() local k = {} for n in pairs(kinds) do k[#k + 1] = n end return k end)(), ", ") .. ")")
      return
    end
    assert.is_true(#groups >= 2)
    for _, g in ipairs(groups) do
      -- init and the sleeping command: the same two processes in every hierarchy
      assert.matches("^%d+ %d+ $", g.pids, g.dir)
      assert.are.equal(groups[1].pids, g.pids, g.dir)
    end
  end)

  it("enforces a v1 limit on the command that init joined by itself", function()
    if not H.is_root() then
      pending("needs root: no delegated cgroup for this uid here")
      return
    end
    local script = { "/bin/sh", "-c", "for i in 1 2 3 4 5 6; do /bin/sleep 0.2 & done; wait; echo done" }
    -- control: room for sh, init and six sleeps
    local out, _, code = H.run(H.profile(H.minimal("resources = { pids_limit = 16 },")), script)
    assert.are.equal(0, code)
    assert.are.equal("done\n", out)
    local _, err = H.run(H.profile(H.minimal("resources = { pids_limit = 4 },")), script)
    assert.matches("[Cc]annot fork", err)
  end)
end)
