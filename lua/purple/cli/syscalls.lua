-- purple syscalls [GROUP | --hardening]: the named syscall groups usable as "@name" in syscalls.allow/deny,
-- and purple's fixed hardening.
local core = require "purple.core"
local syscalls = require "purple.syscalls"
local args = require "purple.cli.args"

local M = {}

function M.parser()
  local p = args.parser("purple syscalls", "Lists the named syscall groups a policy can use as \"@name\" in "
    .. "syscalls.allow and syscalls.deny, the members of one group, or the hardening every profile gets.")
  p:argument("GROUP", "A group, with or without its @."):args("?"):target("group")
  p:flag("--hardening", "List purple's fixed hardening: the calls every sandbox denies, and why.")
  return p
end

function M.run(opts)
  local group = opts.group
  if group and opts.hardening then
    return args.usage_error(M.parser(), "GROUP or --hardening, not both")
  end
  if opts.hardening then
    for _, h in ipairs(syscalls.hardening) do
      local cond = ""
      for _, a in ipairs(h.args or {}) do
        cond = cond .. (" arg%d %s 0x%x"):format(a[1], a[2], a[3])
      end
      io.stdout:write(("%-18s %-13s %s%s\n"):format(h.name, h.action, h.why, cond))
    end
    return 0
  end
  if group then
    local members = syscalls.members(group:gsub("^@", ""), core.syscall_number)
    if not members then
      return args.usage_error(M.parser(), ("unknown group '%s'"):format(group))
    end
    for _, n in ipairs(members) do io.stdout:write(n, "\n") end
    return 0
  end
  local names = {}
  for name in pairs(syscalls.groups) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local members = syscalls.members(name, core.syscall_number)
    io.stdout:write(("@%-16s %3d  %s\n"):format(name, #members, syscalls.groups[name].doc or ""))
  end
  io.stdout:write("(purple syscalls GROUP lists one group; purple syscalls --hardening the fixed hardening)\n")
  return 0
end

return M
