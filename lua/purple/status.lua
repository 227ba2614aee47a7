-- Exit statuses of purple run and purple-lua (documented in README and purple(1)).
return {
  TIMEOUT = 124,          -- the session timeout ended the command
  SETUP = 125,            -- purple, policy or setup error: the command never ran
  NOT_EXECUTABLE = 126,   -- the command was found but could not be executed
  NOT_FOUND = 127,        -- the command was not found inside the sandbox
  ENOENT = 2,
}
