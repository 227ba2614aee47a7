-- purple.exec from one Lua process, for bench/runner's server mode: loads the profile once, then
-- runs the command once for each line read on stdin and answers with its exit status.
-- Usage: purple-lua bench/exec_server.lua PROFILE -- CMD [ARG...]
local _, profile = ... -- purple-lua gives the profile context first, then the arguments
local policy = assert(purple.profile(profile, { argv = purple.command }))
io.stdout:setvbuf("line")
for _ in io.lines() do
  local r = purple.exec(policy, purple.command)
  if r.error then io.stderr:write(r.error, "\n") end
  io.stdout:write(r.status, "\n")
end
return 0
