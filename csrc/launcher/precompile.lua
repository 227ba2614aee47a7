-- Precompiles Lua for the in-tree purple command (csrc/launcher/launcher.c, load_bytecode):
--   lua5.4 precompile.lua /abs/path/lua/purple/x.lua build/luac/purple/x.luac [strip]
-- writes "purple-luac 2 <stamp>\n", then string.dump (debug info kept) of the chunk loaded under the
-- name "@/abs/path/lua/purple/x.lua". The stamp is the source's device, inode, size, mtime and
-- ctime (stat -c '%d %i %s %.9Y %.9Z'), taken BEFORE the source is read: a change while it is read
-- gives the file another stamp than the one recorded. The command runs the dump only while the
-- source has that stamp.
-- With "strip", the dump has no debug information (Debian's modules under build/luac/_sys/: a
-- third less to undump; their tracebacks then show no line numbers).
--   lua5.4 precompile.lua --fresh /abs/tree lua/a.lua ... profiles/b.lua ...
-- (every `make`) compiles again each of those whose .luac does not record the source's stamp now:
-- a chmod or a `cp -p` changes the stamp but not the date `make` compares.
local STAT = "stat -L -c '%d %i %s %.9Y %.9Z' "

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function compile(src_path, out, strip, stamp)
  if not stamp then
    local st = assert(io.popen(STAT .. q(src_path)))
    stamp = st:read("l")
    assert(st:close() and stamp, "stat " .. src_path)
  end
  assert(stamp:match("^%d+ %d+ %d+ %d+%.%d+ %d+%.%d+$"), "stat " .. src_path .. ": " .. stamp)
  local f = assert(io.open(src_path, "rb"))
  local src = f:read("a")
  f:close()
  local chunk = assert(load(src, "@" .. src_path, "t"))
  local tmp = out .. ".tmp"
  local o = assert(io.open(tmp, "wb"))
  assert(o:write(("purple-luac 2 %s\n"):format(stamp), string.dump(chunk, strip)))
  assert(o:close())
  assert(os.rename(tmp, out))
end

if arg[1] ~= "--fresh" then
  compile(arg[1], arg[2], arg[3] == "strip")
  return
end

local tree, rels = arg[2], table.move(arg, 3, #arg, 1, {})
if #rels == 0 then return end
local quoted = {}
for i, rel in ipairs(rels) do quoted[i] = q(tree .. "/" .. rel) end
local st = assert(io.popen(STAT .. table.concat(quoted, " ")))
local stamps = {}
for line in st:lines() do stamps[#stamps + 1] = line end
assert(st:close() and #stamps == #rels, "stat of the Lua sources failed")
for i, rel in ipairs(rels) do
  local out = rel:match("^lua/(.*)%.lua$")
  out = out and ("build/luac/" .. out .. ".luac") or ("build/luac/" .. rel:gsub("%.lua$", ".luac"))
  local f = io.open(out, "rb")
  local head = f and f:read("l")
  if f then f:close() end
  if head ~= "purple-luac 2 " .. stamps[i] then
    local ok, err = pcall(compile, tree .. "/" .. rel, out, false, stamps[i])
    if not ok then
      os.remove(out .. ".tmp")
      io.stderr:write("luac: ", rel, " not precompiled (loaded from source): ", tostring(err), "\n")
    end
  end
end
