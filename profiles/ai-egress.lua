-- ai-egress: ai-dev-safe plus the package registries and GitHub, by name, through purple's egress
-- proxy (network.allow_domains, docs/network.md): pip install, npm install and git clone over https
-- work; nothing else is reachable, not even DNS.
--
-- purple sets HTTP_PROXY, HTTPS_PROXY, ALL_PROXY (socks5h), NO_PROXY and their lower-case forms,
-- which curl, git, pip and npm read. node's own fetch/https ignore them before node 24
-- (NODE_USE_ENV_PROXY=1 is set for 24 and later); git over ssh does not go through a proxy: use
-- https:// remotes. Add names with a profile that extends this one.
return {
  extends = "ai-dev-safe",
  name = "ai-egress",
  description = "ai-dev-safe plus PyPI, npm and GitHub over https through purple's egress proxy",
  network = {
    isolated = true,
    allow_domains = {
      "pypi.org", "files.pythonhosted.org",
      "registry.npmjs.org",
      "github.com", "*.github.com", "objects.githubusercontent.com",
      "raw.githubusercontent.com",
    },
    allow_ports = { 443 },
  },
}
