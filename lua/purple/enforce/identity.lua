-- Identity: who the command runs as. Invoked by root, an unprivileged host uid/gid (policy.user,
-- default 65534) through a user namespace, so root-owned files stay unreadable; invoked by an
-- ordinary user, that user, also through a user namespace.
local M = {}

function M.prepare(run)
  local spec, user = run.spec, run.policy.user -- ids and hostname checked and defaulted by schema.lua
  local uid, gid
  if run.privileged then
    uid, gid = user.uid, user.gid
    spec.setgroups = "clear" -- drop root's supplementary groups (gid 0 must not leak in)
  else
    uid, gid = run.uid, run.gid
    spec.setgroups = "deny" -- required before an unprivileged gid_map
  end
  spec.uid, spec.gid = uid, gid
  spec.uid_map = ("%d %d 1"):format(uid, uid)
  spec.gid_map = ("%d %d 1"):format(gid, gid)
  run.sandbox_uid, run.sandbox_gid = uid, gid
  spec.hostname = run.policy.hostname
  return true
end

return M
