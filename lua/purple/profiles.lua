-- Finding and loading profiles. Search order: the source tree's profiles/ (when purple runs from
-- one), $XDG_CONFIG_HOME/purple/profiles, $(SYSCONFDIR)/purple/profiles (/etc in a tree),
-- $(DATADIR)/profiles of the installation ($PURPLE_DATADIR/profiles instead when set). The
-- directories come from purple.paths (lua/purple/paths.lua), never from another tree or prefix. A
-- name containing "/" or ending in .lua/.yaml/.yml is a path. A Lua profile is a script returning a
-- policy table; it gets the profile context as `...` and the purple module as the global `purple`.
--
-- The purple module is defined here, not in lua/purple.lua, because profile scripts need it while
-- this module loads them: lua/purple.lua returns M.api, and nothing below it requires "purple".
local policy = require "purple.policy"
local paths = require "purple.paths"

local M = {}

function M.dirs()
  local dirs = {}
  if paths.tree then dirs[#dirs + 1] = paths.tree .. "/profiles" end
  local xdg = os.getenv("XDG_CONFIG_HOME") or ((os.getenv("HOME") or "/nonexistent") .. "/.config")
  dirs[#dirs + 1] = xdg .. "/purple/profiles"
  dirs[#dirs + 1] = paths.sysconfdir .. "/purple/profiles"
  local datadir = os.getenv("PURPLE_DATADIR") or paths.datadir
  if datadir then dirs[#dirs + 1] = datadir .. "/profiles" end
  return dirs
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

local function is_path(name)
  return name:find("/") or name:match("%.lua$") or name:match("%.ya?ml$")
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function basename_noext(path)
  return path:match("([^/]*)$"):gsub("%.lua$", ""):gsub("%.ya?ml$", "")
end

function M.find(name)
  if is_path(name) then
    if exists(name) then return name end
    return nil, ("profile %s: no such file"):format(name)
  end
  for _, d in ipairs(M.dirs()) do
    for _, ext in ipairs({ ".lua", ".yaml", ".yml" }) do
      local p = d .. "/" .. name .. ext
      if exists(p) then return p end
    end
  end
  return nil, ("profile %s: not found in %s"):format(name, table.concat(M.dirs(), ", "))
end

---------------------------------------------------------------------------------------------------
-- The context a profile script branches on.

local function read_first_line(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local l = f:read("l")
  f:close()
  return l
end

local function online_cpus()
  local spec = read_first_line("/sys/devices/system/cpu/online")
  if not spec then return 1 end
  local n = 0
  for a, b in spec:gmatch("(%d+)%-?(%d*)") do
    n = n + (b ~= "" and (tonumber(b) - tonumber(a) + 1) or 1)
  end
  return math.max(n, 1)
end

local function memory_bytes()
  local f = io.open("/proc/meminfo", "r")
  if not f then return nil end
  for l in f:lines() do
    local kb = l:match("^MemTotal:%s+(%d+) kB")
    if kb then f:close() return math.tointeger(tonumber(kb) * 1024) end
  end
  f:close()
  return nil
end

-- The fields of the context that cost a file read or more, computed when a profile first reads
-- them (most profiles read none or one: ~0.3 ms of every load otherwise). In this order when
-- filled eagerly (date follows time).
local LAZY = { "hostname", "env", "time", "date", "uid", "cpus", "memory_bytes", "cwd" }
local compute = {
  -- the directory purple runs in, symbolic links resolved (nil when it is gone)
  cwd = function() return (require("purple.core").realpath(".")) end,
  hostname = function() return read_first_line("/proc/sys/kernel/hostname") end,
  env = function() return require("purple.enforce.environment").host_environment() end,
  time = function() return os.time() end,
  date = function(ctx) return os.date("*t", ctx.time) end,
  uid = function() return (require("purple.core").ids()) end,
  cpus = online_cpus,
  memory_bytes = memory_bytes,
}
local lazy_context = {
  __index = function(ctx, k)
    local f = compute[k]
    if not f then return nil end
    local v = f(ctx)
    rawset(ctx, k, v)
    return v
  end,
  -- pairs(ctx) sees every field, as if they had been filled in at once
  __pairs = function(ctx)
    for _, k in ipairs(LAZY) do local _ = ctx[k] end
    return next, ctx, nil
  end,
}

-- context([partial]) -> ctx: argv, agent ($PURPLE_AGENT or the command's basename), hostname,
-- env (the caller's environment), time (os.time()), date (os.date("*t", time)), uid, cpus,
-- memory_bytes, cwd (the current directory, resolved). Fields already in partial are kept; the
-- others are read on first use.
function M.context(partial)
  local ctx = partial or {}
  ctx.argv = ctx.argv or {}
  if ctx.agent == nil then
    ctx.agent = os.getenv("PURPLE_AGENT") or (ctx.argv[1] and ctx.argv[1]:match("([^/]*)$")) or nil
  end
  local mt = getmetatable(ctx)
  if mt == nil then
    setmetatable(ctx, lazy_context)
  elseif mt ~= lazy_context then -- the caller's own metatable: fill in now
    for _, k in ipairs(LAZY) do
      if ctx[k] == nil then ctx[k] = compute[k](ctx) end
    end
  end
  return ctx
end

---------------------------------------------------------------------------------------------------
-- Loading.

-- Files being loaded (to catch extends cycles) and the context of the outermost load (for
-- purple.yaml and purple.extend called from inside a profile script).
local loading, loading_stack, loading_ctx = {}, {}, nil

-- from_table(tbl, source, ctx [, lines]) -> policy | nil, message
function M.from_table(tbl, source, ctx, lines)
  if type(tbl) == "table" and tbl.name == nil and source then
    local named = {}
    for k, v in pairs(tbl) do named[k] = v end
    named.name = basename_noext(source)
    tbl = named
  end
  return policy.normalize(tbl, { source = source, lines = lines, ctx = ctx, load_base = M.load_base })
end

-- normalize(doc [, opts]) -> policy | nil, message: policy.normalize, with `extends` loaded here.
function M.normalize(doc, opts)
  local o = { load_base = M.load_base }
  for k, v in pairs(opts or {}) do o[k] = v end
  return policy.normalize(doc, o)
end

-- yaml_document(path) -> the YAML document (not normalised), lines | nil, message
function M.yaml_document(path)
  return require("purple.yaml").load_file(path, policy.NULL)
end

-- Raised by purple.yaml and purple.extend: the errors already name their files.
local policy_errors = { __tostring = function(e) return e.message end }
local function raise(message) error(setmetatable({ message = message }, policy_errors), 0) end

local function run_script(path, ctx)
  local env = setmetatable({ purple = M.api }, { __index = _G })
  -- a shipped profile from its precompiled bytecode when the launcher has it (csrc/launcher/launcher.c)
  local chunk, lerr = paths.load_profile and paths.load_profile(path, env)
  if not chunk then chunk, lerr = loadfile(path, "t", env) end
  if not chunk then return nil, lerr end
  local ok, p = pcall(chunk, ctx)
  if not ok then
    if getmetatable(p) == policy_errors then return nil, p.message end
    p = tostring(p)
    if not p:find(path, 1, true) then p = path .. ": " .. p end
    return nil, p
  end
  if type(p) ~= "table" then
    return nil, ("%s: a profile must return a policy table, got %s"):format(path, type(p))
  end
  return p
end

-- load(name_or_path [, ctx]) -> policy | nil, message (one error per line)
function M.load(name, ctx)
  local path, err = M.find(name)
  if not path then return nil, err end
  local key = require("purple.core").realpath(path) or path
  if loading[key] then
    return nil, ("%s: extends itself (%s -> %s)"):format(path, table.concat(loading_stack, " -> "), path)
  end
  ctx = M.context(ctx or loading_ctx)
  local saved_ctx = loading_ctx
  loading_ctx = ctx
  loading[key] = true
  table.insert(loading_stack, path)
  local ok, p, perr = pcall(function()
    if path:match("%.ya?ml$") then
      local doc, lines = M.yaml_document(path)
      if not doc then return nil, lines end
      return M.from_table(doc, path, ctx, lines)
    end
    local tbl, serr = run_script(path, ctx)
    if not tbl then return nil, serr end
    return M.from_table(tbl, path, ctx)
  end)
  table.remove(loading_stack)
  loading[key] = nil
  loading_ctx = saved_ctx
  if not ok then error(p, 0) end -- a bug in purple, not in the profile: keep the message
  return p, perr
end

-- with_context(ctx, path, f, ...) -> f(...): the purple.yaml and purple.extend calls f makes load
-- with ctx and relative to path, as from a profile script (purple-lua runs its script so).
function M.with_context(ctx, path, f, ...)
  local saved = loading_ctx
  loading_ctx = ctx
  table.insert(loading_stack, path)
  local r = table.pack(pcall(f, ...))
  table.remove(loading_stack)
  loading_ctx = saved
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- load_base(ref, from_source, ctx): the profile an `extends` names; a relative path is relative to
-- the directory of the file that extends it.
function M.load_base(ref, from_source, ctx)
  local target = ref
  if is_path(ref) and ref:sub(1, 1) ~= "/" and from_source then
    target = dirname(from_source) .. "/" .. ref
  end
  local p, err = M.load(target, ctx)
  if not p then
    if from_source then return nil, ("%s: extends: %s"):format(from_source, err) end
    return nil, "extends: " .. err
  end
  return p
end

-- The directory of the Lua file that called into purple: the profile script being loaded, else
-- the caller at stack level `level` (a tail call hides the caller: hence the script first).
local function caller_dir(level)
  if #loading_stack > 0 then return dirname(loading_stack[#loading_stack]) end
  local src = debug.getinfo(level + 1, "S").source
  if src:sub(1, 1) == "@" then return dirname(src:sub(2)) end
  return "."
end

-- purple.yaml(path) for scripts: a YAML policy file, normalised; raises with the errors.
-- A relative path is relative to the calling script.
function M.yaml_for_script(path)
  if type(path) ~= "string" then error("purple.yaml: expected a file name", 2) end
  if path:sub(1, 1) ~= "/" then path = caller_dir(2) .. "/" .. path end
  local p, err = M.load(path, loading_ctx)
  if not p then raise(err) end
  return p
end

-- purple.extend(base, overrides) for scripts: base is a policy or a profile name/path.
function M.extend_for_script(base, doc)
  if type(base) == "string" then
    local ref = base
    if is_path(ref) and ref:sub(1, 1) ~= "/" then ref = caller_dir(2) .. "/" .. ref end
    local p, err = M.load(ref, loading_ctx)
    if not p then raise(err) end
    base = p
  elseif type(base) == "table" then
    local p, err = M.normalize(base)
    if not p then raise(err) end
    base = p
  else
    error("purple.extend: expected a policy or a profile name as the base", 2)
  end
  local p, err = policy.extend(base, doc or {}, { load_base = M.load_base })
  if not p then raise(err) end
  return p
end

function M.list()
  local seen, out = {}, {}
  for _, d in ipairs(M.dirs()) do
    -- readdir, not a shell: the directories come from $HOME and $XDG_CONFIG_HOME
    local files = require("purple.core").readdir(d) or {}
    table.sort(files)
    for _, f in ipairs(files) do
      local name = f:match("^(.-)%.lua$") or f:match("^(.-)%.ya?ml$")
      if name and not seen[name] then
        seen[name] = true
        local p = M.load(d .. "/" .. f, {})
        out[#out + 1] = { name = name, description = p and p.description or "(invalid: see purple profile check)",
          path = d .. "/" .. f, valid = p ~= nil }
      end
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

---------------------------------------------------------------------------------------------------
-- The purple module: lua/purple.lua returns this table, profile scripts see it as `purple`.
-- Documented in lua/purple.lua and purple-lua(1).

local core = require "purple.core"

M.api = setmetatable({
  version = require "purple.version",
  profile = M.load,
  policy = M.normalize,
  yaml = M.yaml_for_script,
  extend = M.extend_for_script,
  null = policy.NULL,
  context = M.context,
  -- what profiles read from the host to decide what to show
  realpath = function(path) return core.realpath(path) end,
  stat = function(path) return core.stat(path) end,
  cwd = function() return (core.realpath(".")) end,
  -- one line "purple: ..." on stderr at the default log level (quiet with -l error)
  warn = function(fmt, ...) require("purple.log").warn(fmt, ...) end,
}, {
  -- purple.exec loads the run machinery only when a script runs something (exec never requires
  -- this module, so this is no cycle); a policy table that extends a profile is loaded here.
  __index = function(t, k)
    if k == "session" then
      local open = require("purple.session").open
      local function session(p, opts)
        local o = { load_base = M.load_base }
        for key, v in pairs(opts or {}) do o[key] = v end
        return open(p, o)
      end
      rawset(t, k, session)
      return session
    end
    if k ~= "exec" then return nil end
    local run = require("purple.exec").exec
    local function exec(p, argv, opts)
      local o = { load_base = M.load_base }
      for key, v in pairs(opts or {}) do o[key] = v end
      return run(p, argv, o)
    end
    rawset(t, k, exec)
    return exec
  end,
})

return M
