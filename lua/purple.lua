-- purple: a Lua-scriptable Linux sandbox. The public API:
--   purple.exec(policy, argv [, opts]) -> result   run a command under a policy
--   purple.profile(name_or_path [, ctx]) -> policy   load a profile (Lua or YAML) by name or path
--   purple.policy(tbl) -> policy | nil, errors       validate and normalise a policy table
--   purple.yaml(path) -> policy                       a YAML policy file (relative to the calling
--                                                     script); raises with every error
--   purple.extend(base, overrides) -> policy          compose: base is a policy or a profile name/path
--   purple.null                                       in overrides: reset an inherited value
--   purple.context([partial]) -> ctx                  the context profile scripts receive as ...
--   purple.version
local M = { version = "0.1.0" }

local lazy = {
  exec = function() return require("purple.exec").exec end,
  profile = function() return require("purple.profiles").load end,
  policy = function() return require("purple.policy").normalize end,
  yaml = function() return require("purple.profiles").yaml_for_script end,
  extend = function() return require("purple.profiles").extend_for_script end,
  null = function() return require("purple.policy").NULL end,
  context = function() return require("purple.profiles").context end,
}

return setmetatable(M, {
  __index = function(t, k)
    local f = lazy[k]
    if not f then return nil end
    local v = f()
    rawset(t, k, v)
    return v
  end,
})
