-- Filesystem: the sandbox's mount tree, from the policy's filesystem section.
-- An empty read-only tmpfs root holds only: immutable_paths (read-only binds), scratch_paths
-- (private tmpfs, mode 1777), output_paths (read-write binds, created on the host if missing),
-- /proc for the sandbox's pid namespace, a minimal /dev, and the host's merged-/usr symlinks.
local core = require "purple.core"
local log = require "purple.log"

local M = {}

local MERGED_USR = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" }

local function under(path, dir)
  if dir == "/" then return true end
  return path == dir or path:sub(1, #dir + 1) == dir .. "/"
end

-- mkdir -p, as the invoking user; returns the list of directories it created.
local function make_dirs(path)
  local created, acc = {}, ""
  for part in path:gmatch("[^/]+") do
    acc = acc .. "/" .. part
    if not core.stat(acc) then
      local ok, err = core.mkdir(acc, 493) -- 0755
      if not ok then return nil, err end
      created[#created + 1] = acc
    end
  end
  return created
end

-- The first component of path that is a symbolic link, or nil. An output path is bound
-- read-write: a link planted there by an earlier run's command would redirect the bind (and the
-- directories purple creates) to any host directory.
local function link_in(path)
  local acc = ""
  for part in path:gmatch("[^/]+") do
    acc = acc .. "/" .. part
    local link = core.readlink(acc)
    if link then return acc, link end
  end
end

local function passwd_files(run)
  local uid, gid = run.sandbox_uid, run.sandbox_gid
  local name = uid == 65534 and "nobody" or "agent"
  local home = run.policy.filesystem.working_dir or "/"
  local passwd = ("root:x:0:0:root:/root:/usr/sbin/nologin\n%s:x:%d:%d:sandboxed agent:%s:/bin/sh\n")
    :format(name, uid, gid, home)
  local group = ("root:x:0:\n%s:x:%d:\n"):format(uid == 65534 and "nogroup" or "agent", gid)
  if uid ~= 65534 then
    passwd = passwd .. "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    group = group .. "nogroup:x:65534:\n"
  end
  return passwd, group
end

-- The mount plan for the spawn spec, or nil, "field: why".
-- Host files a feature needs inside (DNS resolver files, CA certificates): each existing path is bound
-- read-only at its own place unless the policy maps something at, above or below it. Returns the
-- paths bound.
function M.bind_host_files(run, paths)
  local mounts, bound = run.spec.mounts, {}
  for _, path in ipairs(paths) do
    local mapped = false
    for _, m in ipairs(mounts) do
      if under(path, m.target) or under(m.target, path) then mapped = true break end
    end
    if not mapped and core.stat(path) then
      mounts[#mounts + 1] = { type = "bind", source = path, target = path, readonly = true, optional = true }
      bound[#bound + 1] = path
    end
  end
  return bound
end

function M.plan(run)
  local fs = run.policy.filesystem or {}
  local mounts, targets = {}, {}
  local function add(m, field)
    if targets[m.target] then
      return nil, ("%s: %s is mounted twice (also by %s)"):format(field, m.target, targets[m.target])
    end
    targets[m.target] = field
    mounts[#mounts + 1] = m
    return true
  end

  for i, p in ipairs(fs.immutable_paths or {}) do
    local field = ("filesystem.immutable_paths[%d]"):format(i)
    local st = core.stat(p.host_path)
    if not st and not p.optional then
      local _, err = core.stat(p.host_path)
      return nil, ("%s.host_path: %s (mark it optional = true if it may be absent)"):format(field, err)
    end
    if st then
      local ok, err = add({ type = "bind", source = p.host_path, target = p.sandbox_path, readonly = true }, field)
      if not ok then return nil, err end
    end
  end
  for i, s in ipairs(fs.scratch_paths or {}) do
    local field = ("filesystem.scratch_paths[%d]"):format(i)
    local ok, err = add({ type = "tmpfs", target = s.path, size = s.size, mode = s.mode or 1023 }, field)
    if not ok then return nil, err end
  end
  run.created_dirs = {}
  for i, o in ipairs(fs.output_paths or {}) do
    local field = ("filesystem.output_paths[%d]"):format(i)
    if o.idmap and not run.privileged then
      return nil, field .. ".idmap: needs root (an ordinary user cannot idmap a mount); remove it"
    end
    local link, text = link_in(o.host_path)
    if link then
      return nil, ("%s.host_path: %s is a symbolic link (to %s); output is never bound through a link, "
        .. "give the real path"):format(field, link, text)
    end
    local st = core.stat(o.host_path)
    if st and st.type ~= "directory" then
      return nil, ("%s.host_path: %s is not a directory"):format(field, o.host_path)
    end
    if not st then
      local created, err = make_dirs(o.host_path)
      if not created then
        return nil, ("%s.host_path: cannot create %s: %s"):format(field, o.host_path, err)
      end
      for _, d in ipairs(created) do
        -- Created by root for an unprivileged sandbox user: let that user write into it -- only the
        -- output directory itself: owning a parent would let it swap the outputs of other runs.
        -- With idmap it stays root's: root appears as the sandbox's user through the mount.
        if run.privileged and d == o.host_path and not o.idmap then
          core.chown(d, run.sandbox_uid, run.sandbox_gid)
        end
        log.debug("created output directory %s", d)
      end
    end
    local ok, err = add({ type = "bind", source = o.host_path, target = o.sandbox_path, readonly = false,
      idmap = o.idmap or nil, field = field }, field)
    if not ok then return nil, err end
  end
  for _, special in ipairs({ { "/proc", "proc" }, { "/dev", "dev" } }) do
    if targets[special[1]] then
      return nil, ("%s: %s is provided by purple and cannot be mounted over"):format(targets[special[1]], special[1])
    end
    add({ type = special[2], target = special[1] }, special[1])
  end
  -- Merged /usr: /bin → usr/bin and friends, when /usr is in the tree and the host has the link.
  if targets["/usr"] then
    for _, d in ipairs(MERGED_USR) do
      local link = core.readlink("/" .. d)
      if link and link:match("^/?usr/") and not targets["/" .. d] then
        add({ type = "symlink", target = "/" .. d, link = link }, "merged /usr")
      end
    end
  end
  -- Name the sandbox user in a synthesized /etc/passwd unless the policy brings its own /etc.
  if not targets["/etc"] and not targets["/etc/passwd"] and not targets["/etc/group"] then
    local passwd, group = passwd_files(run)
    add({ type = "file", target = "/etc/passwd", contents = passwd, mode = 420 }, "passwd")
    add({ type = "file", target = "/etc/group", contents = group, mode = 420 }, "group")
  end
  -- Parents before children: a mount is made inside the one that holds its target.
  table.sort(mounts, function(a, b)
    local da, db = select(2, a.target:gsub("/", "")), select(2, b.target:gsub("/", ""))
    if a.target == "/" then return b.target ~= "/" end
    if da ~= db then return da < db end
    return a.target < b.target
  end)
  local wd = fs.working_dir
  if wd then
    local inside = false
    for t, _ in pairs(targets) do
      if under(wd, t) then inside = true end
    end
    if not inside then
      return nil, ("filesystem.working_dir: %s is outside the sandbox's filesystem (not under any immutable, "
        .. "scratch or output path)"):format(wd)
    end
  end
  return mounts
end

function M.prepare(run)
  local mounts, err = M.plan(run)
  if not mounts then return nil, err end
  run.spec.mounts = mounts
  run.spec.cwd = run.policy.filesystem.working_dir or "/"
  return true
end

return M
