-- purple run --learn OUT: writes the allow list a learning run needed (result.learned, from
-- purple.enforce.privileges) to OUT.yaml and OUT.lua (OUT's .yaml/.yml/.lua suffix is replaced).
local core = require "purple.core"

local M = {}

-- open(out) -> files | nil, message. Both files are opened before the sandbox runs, so a link it
-- might plant at either path (the working directory is often one of its output paths) is never
-- followed; both are checked before either is emptied, so a refusal leaves an earlier OUT.yaml.
function M.open(out)
  local base = out:gsub("%.ya?ml$", ""):gsub("%.lua$", "")
  local files = {}
  for _, truncate in ipairs({ false, true }) do
    for _, ext in ipairs({ ".yaml", ".lua" }) do
      local f, err = core.create_file(base .. ext, truncate)
      if not f then
        M.close(files)
        return nil, "--learn: " .. err
      end
      if truncate then files[ext] = { path = base .. ext, file = f } else f:close() end
    end
  end
  return files
end

function M.close(files)
  for _, o in pairs(files) do o.file:close() end
end

-- write(files, names, argv, profile [, egress]) -> yaml path, lua path | nil, message. Closes the
-- files. egress = { reached = names, refused = names } (purple.enforce.egress): the names the run
-- reached through the egress proxy become network.allow_domains; refused ones are listed as comments.
function M.write(files, names, argv, profile, egress)
  -- one comment line: control characters (a newline in a -c script) would end it
  local what = ("the calls %s made under %s"):format(table.concat(argv, " "), profile):gsub("%c", " ")
  local yaml = { "# purple run --learn: " .. what, "syscalls:", "  default_deny: true", "  allow:" }
  local lua = { "-- purple run --learn: " .. what, "syscalls = {", "  default_deny = true,", "  allow = {" }
  for _, n in ipairs(names) do
    yaml[#yaml + 1] = "    - " .. n
    lua[#lua + 1] = ("    %q,"):format(n)
  end
  lua[#lua + 1] = "  },"
  lua[#lua + 1] = "},"
  local reached, refused = egress and egress.reached or {}, egress and egress.refused or {}
  if #reached + #refused > 0 then
    yaml[#yaml + 1] = "network:"
    yaml[#yaml + 1] = "  allow_domains:" .. (#reached == 0 and " []" or "")
    lua[#lua + 1] = "network = {"
    lua[#lua + 1] = "  allow_domains = {"
    for _, n in ipairs(reached) do
      yaml[#yaml + 1] = ("    - %q"):format(n)
      lua[#lua + 1] = ("    %q,"):format(n)
    end
    for _, n in ipairs(refused) do -- names are validated DNS names: safe in a comment
      yaml[#yaml + 1] = "    # refused: " .. n
      lua[#lua + 1] = "    -- refused: " .. n
    end
    lua[#lua + 1] = "  },"
    lua[#lua + 1] = "},"
  end
  local failed
  for ext, lines in pairs({ [".yaml"] = yaml, [".lua"] = lua }) do
    local out = files[ext]
    local ok, err = out.file:write(table.concat(lines, "\n"), "\n")
    if ok then ok, err = out.file:close() else out.file:close() end
    if not ok and not failed then failed = ("--learn: %s: %s"):format(out.path, tostring(err)) end
  end
  if failed then return nil, failed end
  return files[".yaml"].path, files[".lua"].path
end

return M
