-- The demo's profile: ai-strict, plus this examples/ directory read-only at /task, which is how
-- the task file (task.txt) and the agent (ai_agent.py) reach the sandbox. Output goes to /output
-- ($PURPLE_OUTPUT on the host, as in ai-strict).
--
--   PURPLE_OUTPUT=/tmp/out purple run --profile examples/ai-demo.lua -- python3 /task/ai_agent.py
local purple = require "purple"
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local examples = assert(purple.realpath(here))

local ctx = ... or purple.context()
-- ai-strict without the current directory (cwd = false): the agent needs nothing but /task, and
-- from a clone in a home directory ai-strict would otherwise say that it hides it.
local strict, err = purple.profile("ai-strict", purple.context({ argv = ctx.argv, env = ctx.env, cwd = false }))
if not strict then error(err, 0) end

return purple.extend(strict, {
  name = "ai-demo",
  description = "ai-strict with examples/ read-only at /task",
  filesystem = {
    immutable_paths = { { host_path = examples, sandbox_path = "/task" } },
  },
})
