-- minimal: the least purple builds: every namespace (network included), a read-only /usr, /proc,
-- /dev and no writable path. The benchmark's lower bound for a purple sandbox.
return {
  name = "minimal",
  description = "Benchmark floor: read-only /usr only",
  filesystem = {
    immutable_paths = { { host_path = "/usr", sandbox_path = "/usr" } },
  },
  network = { isolated = true },
}
