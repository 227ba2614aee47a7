-- purple.oci.cgroup: linux.resources under linux.cgroupsPath (stub, filled in below).
local M = {}
function M.create(cg, name)
  return { procs = {}, remove = function() end }
end
return M
