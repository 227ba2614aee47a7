-- `purple-lua bench/libseccomp_run.lua ARGS...` = `purple ARGS...` with the seccomp filter compiled
-- by libseccomp instead of purple's emitter: bench/seccomp.lua compares the per-call cost of both.
-- purple-lua keeps `--` for itself: write `++` where purple takes `--`.
require("purple.seccomp").compiler = "libseccomp"
local args = { ... }
for i, a in ipairs(args) do if a == "++" then args[i] = "--" end end
return require("purple.cli").main("purple", args)
