-- The demo's profile: ai-strict, plus this examples/ directory read-only at /task, which is how
-- the task file (task.txt) and the agent (ai_agent.py) reach the sandbox. Output goes to /output
-- ($PURPLE_OUTPUT on the host, as in ai-strict).
--
--   PURPLE_OUTPUT=/tmp/out purple run --profile examples/ai-demo.lua -- python3 /task/ai_agent.py
local purple = require "purple"
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local examples = assert(purple.realpath(here))

return purple.extend("ai-strict", {
  name = "ai-demo",
  description = "ai-strict with examples/ read-only at /task",
  filesystem = {
    immutable_paths = { { host_path = examples, sandbox_path = "/task" } },
  },
})
