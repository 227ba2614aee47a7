-- purple.oci.schema: the properties of an OCI runtime-spec config.json (1.0 to 1.2, Linux) and
-- whether purple-oci enforces them; validate(doc) checks a decoded config.json against it.
--
-- Every property the runtime-spec defines is listed. One purple cannot enforce is refused by name
-- ("not supported by purple-oci") when it is present with a value that asks for something: an
-- empty string, list or object asks for nothing and passes (engines write "apparmorProfile": "").
-- Properties the runtime-spec does not define are extensions: its "Extensibility" rule says a
-- runtime MUST ignore unknown properties, so they are returned as warnings, never errors. That is
-- safe only because ociVersion is checked first: a config of a newer runtime-spec (whose new
-- properties purple would not know) is refused.
local M = {}

M.KNOWN_VERSION = { 1, 2 } -- the newest runtime-spec minor version whose properties are all listed here

local str, int, bool = { t = "string" }, { t = "integer" }, { t = "boolean" }
local strmap = { t = "map", item = str }
-- An unsigned 64-bit value: above 2^63 the JSON decoder gives a float; only 2^64-1 (RLIM_INFINITY,
-- "unlimited") is meaningful there and is read as -1.
local u64 = { t = "u64" }
local function arr(item) return { t = "array", item = item } end
local function obj(fields, required) return { t = "object", fields = fields, required = required or {} } end
local function no(why) return { t = "unsupported", why = why } end

local id_map = obj({ containerID = int, hostID = int, size = int }, { "containerID", "hostID", "size" })

local hook = obj({ path = str, args = arr(str), env = arr(str), timeout = int }, { "path" })

local weight_device = obj({ major = int, minor = int, weight = int, leafWeight = int }, { "major", "minor" })
local throttle_device = obj({ major = int, minor = int, rate = int }, { "major", "minor", "rate" })

local seccomp_arg = obj({ index = int, value = int, valueTwo = int, op = str }, { "index", "value", "op" })
local seccomp_syscall = obj({ names = arr(str), action = str, errnoRet = int, args = arr(seccomp_arg) },
  { "names", "action" })

M.config = obj({
  ociVersion = str,
  root = obj({ path = str, readonly = bool }, { "path" }),
  mounts = arr(obj({
    destination = str, type = str, source = str, options = arr(str),
    uidMappings = no("idmapped mounts"), gidMappings = no("idmapped mounts"),
  }, { "destination" })),
  process = obj({
    terminal = bool,
    consoleSize = obj({ height = int, width = int }, { "height", "width" }),
    cwd = str, env = arr(str), args = arr(str),
    commandLine = no("a Windows property"),
    rlimits = arr(obj({ type = str, soft = u64, hard = u64 }, { "type", "soft", "hard" })),
    apparmorProfile = no("AppArmor profiles"),
    capabilities = obj({ bounding = arr(str), effective = arr(str), inheritable = arr(str),
      permitted = arr(str), ambient = arr(str) }),
    noNewPrivileges = bool,
    oomScoreAdj = int,
    selinuxLabel = no("SELinux labels"),
    ioPriority = no("I/O priorities"),
    scheduler = no("scheduling policies"),
    execCPUAffinity = no("CPU affinity"),
    user = obj({ uid = int, gid = int, umask = int, additionalGids = arr(int),
      username = no("a Windows property") }, { "uid", "gid" }),
  }, { "cwd" }),
  hostname = str,
  domainname = str,
  hooks = obj({ prestart = arr(hook), createRuntime = arr(hook), createContainer = arr(hook),
    startContainer = arr(hook), poststart = arr(hook), poststop = arr(hook) }),
  annotations = strmap,
  linux = obj({
    namespaces = arr(obj({ type = str, path = str }, { "type" })),
    uidMappings = arr(id_map), gidMappings = arr(id_map),
    timeOffsets = no("time namespace offsets"),
    devices = arr(obj({ type = str, path = str, major = int, minor = int, fileMode = int, uid = int, gid = int },
      { "type", "path" })),
    netDevices = no("moving network devices into the container"),
    cgroupsPath = str,
    rdma = no("RDMA limits"),
    resources = obj({
      devices = arr(obj({ allow = bool, type = str, major = int, minor = int, access = str }, { "allow" })),
      memory = obj({ limit = int, reservation = int, swap = int, kernel = no("kernel memory limits"),
        kernelTCP = no("kernel TCP memory limits"), swappiness = int, disableOOMKiller = bool,
        useHierarchy = bool, checkBeforeUpdate = bool }),
      cpu = obj({ shares = int, quota = int, burst = no("CPU burst"), period = int,
        realtimeRuntime = no("real-time CPU time"), realtimePeriod = no("real-time CPU time"),
        cpus = str, mems = str, idle = no("the SCHED_IDLE cgroup setting") }),
      pids = obj({ limit = int }, { "limit" }),
      blockIO = obj({ weight = int, leafWeight = int, weightDevice = arr(weight_device),
        throttleReadBpsDevice = arr(throttle_device), throttleWriteBpsDevice = arr(throttle_device),
        throttleReadIOPSDevice = arr(throttle_device), throttleWriteIOPSDevice = arr(throttle_device) }),
      hugepageLimits = no("huge page limits"),
      network = no("network classid and priorities"),
      rdma = no("RDMA limits"),
      unified = strmap,
    }),
    rootfsPropagation = str,
    seccomp = obj({ defaultAction = str, defaultErrnoRet = int, architectures = arr(str), flags = arr(str),
      listenerPath = no("seccomp listener agents"), listenerMetadata = no("seccomp listener agents"),
      syscalls = arr(seccomp_syscall) }, { "defaultAction" }),
    sysctl = strmap,
    maskedPaths = arr(str),
    readonlyPaths = arr(str),
    mountLabel = no("SELinux mount labels"),
    intelRdt = no("Intel RDT"),
    personality = no("execution domains (personality)"),
    memoryPolicy = no("NUMA memory policies"),
  }),
  solaris = no("a Solaris property"), windows = no("a Windows property"), vm = no("virtual-machine containers"),
  zos = no("a z/OS property"),
}, { "ociVersion" })

-- A value that asks for nothing: an unsupported property may be present with it.
local function empty(v)
  if v == nil or v == "" or v == false then return true end
  return type(v) == "table" and next(v) == nil
end

local function is_list(v)
  if type(v) ~= "table" or getmetatable(v) and getmetatable(v).__jsontype == "object" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

-- Walks v against schema s; path is the JSON path so far. Returns nil, "path: why" on the first
-- problem; unknown properties go to warnings.
local function check(v, s, path, warnings, null)
  if v == null then return true end -- JSON null reads as absent
  local t = s.t
  if t == "any" then return true end
  if t == "unsupported" then
    if empty(v) then return true end
    return nil, ("%s: not supported by purple-oci (%s)"):format(path, s.why)
  end
  if t == "string" then
    if type(v) ~= "string" then return nil, path .. ": must be a string" end
  elseif t == "integer" then
    if math.type(v) ~= "integer" then return nil, path .. ": must be an integer" end
  elseif t == "u64" then
    if math.type(v) == "integer" then
      if v < 0 then return nil, path .. ": must not be negative" end
    elseif not (math.type(v) == "float" and v >= 1.8446744073709e19 and v <= 1.8446744073709552e19) then
      return nil, path .. ": must be an integer (0 to 18446744073709551615)"
    end
  elseif t == "boolean" then
    if type(v) ~= "boolean" then return nil, path .. ": must be true or false" end
  elseif t == "array" then
    if not is_list(v) then return nil, path .. ": must be an array" end
    for i, x in ipairs(v) do
      if x == null then return nil, ("%s[%d]: must not be null"):format(path, i - 1) end
      local ok, err = check(x, s.item, ("%s[%d]"):format(path, i - 1), warnings, null)
      if not ok then return nil, err end
    end
  elseif t == "map" then
    if type(v) ~= "table" or (next(v) ~= nil and is_list(v)) then return nil, path .. ": must be an object" end
    for k, x in pairs(v) do
      local ok, err = check(x, s.item, path .. "." .. tostring(k), warnings, null)
      if not ok then return nil, err end
    end
  elseif t == "object" then
    if type(v) ~= "table" or (next(v) ~= nil and is_list(v)) then return nil, path .. ": must be an object" end
    for _, k in ipairs(s.required) do
      if v[k] == nil or v[k] == null then
        return nil, (path == "" and k or path .. "." .. k) .. ": required"
      end
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys) -- the first problem is always the same one
    for _, k in ipairs(keys) do
      local sub = path == "" and k or path .. "." .. k
      local fs = s.fields[k]
      if fs then
        local ok, err = check(v[k], fs, sub, warnings, null)
        if not ok then return nil, err end
      else
        warnings[#warnings + 1] = sub .. ": not a runtime-spec property; ignored (runtime-spec: Extensibility)"
      end
    end
  end
  return true
end

-- ociVersion "1.0.2-dev", "1.1.0", "1.2.0+dev": 1.x up to M.KNOWN_VERSION.
function M.version(v)
  local major, minor = tostring(v):match("^(%d+)%.(%d+)%.%d+")
  major, minor = tonumber(major), tonumber(minor)
  if not major then return nil, ("ociVersion: %q is not a runtime-spec version (MAJOR.MINOR.PATCH)"):format(v) end
  if major ~= M.KNOWN_VERSION[1] or minor > M.KNOWN_VERSION[2] then
    return nil, ("ociVersion: %s is newer than the runtime-spec %d.%d purple-oci knows; its properties could "
      .. "not all be checked"):format(v, M.KNOWN_VERSION[1], M.KNOWN_VERSION[2])
  end
  return true
end

-- validate(doc, null) -> warnings | nil, "json.path: why"
function M.validate(doc, null)
  local warnings = {}
  if type(doc) ~= "table" or is_list(doc) and next(doc) ~= nil then return nil, "the document must be an object" end
  -- the version first: a newer runtime-spec's properties would read as ignorable extensions
  if type(doc.ociVersion) ~= "string" then return nil, "ociVersion: required (a string)" end
  local ok, err = M.version(doc.ociVersion)
  if not ok then return nil, err end
  ok, err = check(doc, M.config, "", warnings, null)
  if not ok then return nil, err end
  return warnings
end

return M
