-- ai-strict: for running an untrusted agent. No network, a read-only system, writable /output
-- (on the host: $PURPLE_OUTPUT or /var/output/ai-strict) and private /tmp.
return {
  name = "ai-strict",
  description = "Untrusted agents: no network, read-only system, writable /output and /tmp",
  filesystem = {
    immutable_paths = {
      { host_path = "/usr", sandbox_path = "/usr" },
      { host_path = "/etc/alternatives", sandbox_path = "/etc/alternatives", optional = true },
      { host_path = "/etc/ld.so.cache", sandbox_path = "/etc/ld.so.cache", optional = true },
      { host_path = "/etc/localtime", sandbox_path = "/etc/localtime", optional = true },
    },
    scratch_paths = { "/tmp" },
    output_paths = {
      { host_path = os.getenv("PURPLE_OUTPUT") or "/var/output/ai-strict", sandbox_path = "/output" },
    },
    working_dir = "/tmp",
  },
  network = { isolated = true },
  capabilities = { default_drop = true, add = {} },
}
