"""Repository and spma-component fields that both backends must honour alike: the core folds
the component-level settings into each repository, validates what a backend would otherwise
pass on verbatim, and refuses what a backend cannot honour, naming the profile path."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Optional, Tuple

from spma.errors import ProfileError
from spma.model import Profile, Repository

PROXY_SCHEMES = ("http", "https", "socks5h")  # what both libcurl (dnf) and apt's methods speak
# fields a backend cannot honour identically: refused when set, never silently ignored
UNSUPPORTED = {
    "apt": {
        "skip_if_unavailable": "apt updates all sources or fails; it cannot skip one",
    },
    "dnf": {},
}
_GLOB = re.compile(r"^[A-Za-z0-9.+_:*?\[\]-]+$")


def check_proxy(value: str, path: str) -> str:
    """A proxy URL both backends read the same way: scheme://host[:port], nothing else."""
    parts = urllib.parse.urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = -1
    bad = (
        parts.scheme not in PROXY_SCHEMES
        or not parts.hostname
        or port == -1
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or any(c.isspace() or ord(c) < 32 or c in '"\\;{}' for c in value)
    )
    if bad:
        raise ProfileError(
            "%s: %r is not a proxy URL (%s://host[:port])" % (path, value, "|".join(PROXY_SCHEMES))
        )
    return value


def check_glob(value: str, path: str) -> str:
    """A package-name glob (excludes, excludepkgs, includepkgs): name characters and * ? [ ]."""
    if not _GLOB.match(value):
        raise ProfileError("%s: %r is not a package name or glob" % (path, value))
    return value


def repositories(profile: Profile, backend: str) -> Tuple[Repository, ...]:
    """The profile's repositories as both backends must use them: the component-level proxy
    applies to every repository that sets none; every value checked; refusals named."""
    base = "/software/components/spma"
    if profile.proxy:
        check_proxy(profile.proxy, base + "/proxy")
    for i, x in enumerate(profile.excludes):
        check_glob(x, "%s/excludes/%d" % (base, i))
    out = []
    for i, repo in enumerate(profile.repositories):
        path = "/software/repositories/%d" % i
        proxy: Optional[str] = repo.proxy or profile.proxy
        if repo.proxy:
            check_proxy(repo.proxy, path + "/proxy")
        for field in ("excludepkgs", "includepkgs"):
            for j, g in enumerate(getattr(repo, field)):
                check_glob(g, "%s/%s/%d" % (path, field, j))
        for field, why in UNSUPPORTED.get(backend, {}).items():
            if getattr(repo, field):
                raise ProfileError(
                    "%s/%s: not supported by the %s backend: %s" % (path, field, backend, why),
                    hint="remove the field for this host, or set it false",
                )
        out.append(dataclasses.replace(repo, proxy=proxy))
    return tuple(out)
