-- purple.oci.layer: purple's profile on top of an OCI config (annotation purple.profile).
local M = {}
function M.apply(plan, profile)
  return true
end
return M
