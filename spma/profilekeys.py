"""The keys a profile's repository and its protocols may carry. A leaf module: spma.profile
validates with them, and the agent's no-op run (spma.quick) reads them before the profile model
is imported."""

REPO_KEYS = frozenset({
    "name", "owner", "enabled", "gpgcheck", "repo_gpgcheck", "gpgkey", "gpgcakey", "priority",
    "proxy", "excludepkgs", "includepkgs", "skip_if_unavailable", "protocols", "metadata_sha256",
    "module_hotfixes", "contents", "mirrorlist", "disableproxy",
})  # fmt: skip
PROTOCOL_KEYS = frozenset({"name", "url", "cacert", "clientcert", "clientkey", "verify"})
