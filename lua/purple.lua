-- purple: a Lua-scriptable Linux sandbox. The public API:
--   purple.exec(policy, argv [, opts]) -> result   run a command under a policy
--   purple.profile(name_or_path [, ctx]) -> policy   load a profile (Lua or YAML) by name or path
--   purple.policy(tbl) -> policy                     validate and normalise a policy table
--   purple.version
local M = { version = "0.1.0" }

local lazy = {
  exec = function() return require("purple.exec").exec end,
  profile = function() return require("purple.profiles").load end,
  policy = function() return require("purple.policy").normalize end,
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
