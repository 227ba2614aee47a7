-- Precompiles one module for the in-tree purple command (csrc/launcher/launcher.c, load_bytecode):
--   lua5.4 precompile.lua /abs/path/lua/purple/x.lua build/luac/purple/x.luac
-- writes "purple-luac 2 <stamp>\n", then string.dump (debug info kept) of the chunk loaded under the
-- name "@/abs/path/lua/purple/x.lua". The stamp is the source's device, inode, size, mtime and
-- ctime (stat -c '%d %i %s %.9Y %.9Z'), taken BEFORE the source is read: a change while it is read
-- gives the file another stamp than the one recorded. The command runs the dump only while the
-- source has that stamp.
-- With a third argument "strip", the dump has no debug information (Debian's modules under
-- build/luac/_sys/: a third less to undump; their tracebacks then show no line numbers).
local src_path, out, strip = arg[1], arg[2], arg[3] == "strip"
local q = "'" .. src_path:gsub("'", "'\\''") .. "'"
local st = assert(io.popen("stat -L -c '%d %i %s %.9Y %.9Z' " .. q))
local stamp = st:read("l")
assert(st:close() and stamp and stamp:match("^%d+ %d+ %d+ %d+%.%d+ %d+%.%d+$"), "stat " .. src_path)
local f = assert(io.open(src_path, "rb"))
local src = f:read("a")
f:close()
local chunk = assert(load(src, "@" .. src_path, "t"))
local tmp = out .. ".tmp"
local o = assert(io.open(tmp, "wb"))
assert(o:write(("purple-luac 2 %s\n"):format(stamp), string.dump(chunk, strip)))
assert(o:close())
assert(os.rename(tmp, out))
