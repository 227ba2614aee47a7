-- Precompiles one module for the in-tree purple command (csrc/launcher/launcher.c, load_bytecode):
--   lua5.4 precompile.lua /abs/path/lua/purple/x.lua build/luac/purple/x.luac
-- writes "purple-luac 1 <length of the source>\n", the source, then string.dump (debug info kept)
-- of the chunk loaded under the name "@/abs/path/lua/purple/x.lua". The command runs the dump only
-- while the recorded source is byte for byte the file at that path.
-- With a third argument "strip", the dump has no debug information (Debian's modules under
-- build/luac/_sys/: a third less to undump; their tracebacks then show no line numbers).
local src_path, out, strip = arg[1], arg[2], arg[3] == "strip"
local f = assert(io.open(src_path, "rb"))
local src = f:read("a")
f:close()
local chunk = assert(load(src, "@" .. src_path, "t"))
local tmp = out .. ".tmp"
local o = assert(io.open(tmp, "wb"))
assert(o:write(("purple-luac 1 %d\n"):format(#src), src, string.dump(chunk, strip)))
assert(o:close())
assert(os.rename(tmp, out))
