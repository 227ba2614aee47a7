-- Printing a policy: YAML (loadable again), placeholder until the policy issue lands its printer.
local json = require "purple.json"
local M = {}
function M.yaml(p) return json.encode(p) .. "\n" end
return M
