-- Where this purple keeps its files: { tree = source tree | nil, datadir = installed data | nil,
-- sysconfdir = "/etc" or as installed }. The purple command sets package.loaded["purple.paths"]
-- itself when it runs from a source tree (csrc/launcher/launcher.c), so this file is read only by
-- a plain Lua interpreter (LUA_PATH from `make env`, busted) and by an installed purple, for which
-- `make install` writes the line below with the directories it installed to.
local INSTALLED = nil -- replaced by make install: { luadir = ..., datadir = ..., sysconfdir = ... }

-- This file's directory, as it was loaded from source (./lua under busted).
local here = debug.getinfo(1, "S").source:match("^@(.-)/?purple/paths%.lua$")
if not INSTALLED then
  local tree = here and here:match("^(.-)/?lua$")
  return { tree = tree and (tree == "" and "." or tree), sysconfdir = "/etc" }
end
-- Run from a copy of the installed files at another root (make install DESTDIR=...): its own
-- directories under that root.
local root = ""
if here and #here > #INSTALLED.luadir and here:sub(-#INSTALLED.luadir) == INSTALLED.luadir then
  root = here:sub(1, #here - #INSTALLED.luadir)
end
return { datadir = root .. INSTALLED.datadir, sysconfdir = root .. INSTALLED.sysconfdir }
