"""The backend contract and the registry that imports backends lazily, by name.

The core never imports a backend at import time: a Debian host must not need the dnf
bindings, nor an EL host python-apt.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Callable, Dict, List, Optional, Protocol, Tuple

from spma.errors import BackendUnavailableError, UsageError
from spma.model import Repository, Solution, SolveRequest

log = logging.getLogger("spma.backend")

BACKENDS = {"dnf": "spma.backends.dnf", "apt": "spma.backends.apt"}
PACKAGER_ALIASES = {"yum": "dnf", "yumdnf": "dnf", "dnf": "dnf", "apt": "apt"}

# (stage, done, total[, package name[, bytes]]): a backend passes the name and size it knows
ProgressFn = Callable[..., None]


class Backend(Protocol):
    """One package manager, bound to one root for the life of the object."""

    name: str

    def solve(self, *, request: SolveRequest) -> Solution:
        """Compute the exact transaction for the desired state, in one solver run."""
        ...

    def execute(self, *, solution: Solution, progress: Optional[ProgressFn] = None) -> None:
        """Download, test and run the transaction `solve` returned. Raises RepoError before the
        package database is touched, TransactionError once it has been."""
        ...

    def quick_inputs(self, *, request: SolveRequest) -> Tuple[str, Tuple[Tuple[str, str], ...]]:
        """(installed fingerprint, repository fingerprints) without solving: the no-op check."""
        ...

    def installed_fingerprint(self) -> str:
        """The installed fingerprint now (after a transaction)."""
        ...

    def write_repo_config(self, *, repositories: Tuple[Repository, ...], userrepos: bool) -> None:
        """Write the profile's repositories into the root's package-manager configuration."""
        ...

    def split(self, *, solution: Solution, boot_only: Tuple[str, ...]) -> Solution:
        """Mark what must wait for boot; the handle becomes the live part, solved on its own."""
        ...

    def prefetch(self, *, solution: Solution, dest: str) -> List[Dict[str, str]]:
        """Download the deferred packages into `dest`; describe each deferred change."""
        ...

    def apply_local(self, *, changes: List[Dict[str, str]], source: str) -> None:
        """Run deferred changes from the packages in `source`, with no repository (boot)."""
        ...

    def close(self) -> None: ...


def resolve_backend_name(requested: str, profile_packager: str, root: str) -> Tuple[str, str]:
    """(backend name, where the choice came from)."""
    if requested and requested != "auto":
        return requested, "--backend"
    if profile_packager and profile_packager != "auto":
        name = PACKAGER_ALIASES.get(profile_packager)
        if name:
            return name, "profile packager %r" % profile_packager
    return detect_family(root)


def detect_family(root: str) -> Tuple[str, str]:
    osr = os.path.join(root, "etc/os-release")
    if not os.path.exists(osr):
        osr = os.path.join(root, "usr/lib/os-release")
    ids = ""
    try:
        with open(osr, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("ID=", "ID_LIKE=")):
                    ids += " " + line.split("=", 1)[1].strip().strip('"')
    except OSError:
        ids = ""
    words = set(ids.split())
    if words & {"debian", "ubuntu"}:
        return "apt", "os-release of %s (%s)" % (root, ids.strip())
    if words & {"rhel", "fedora", "centos", "almalinux", "rocky", "suse", "opensuse"}:
        return "dnf", "os-release of %s (%s)" % (root, ids.strip())
    # An empty sandbox root has no os-release: an rpmdb or a dpkg status file decides.
    if os.path.exists(os.path.join(root, "var/lib/dpkg/status")):
        return "apt", "dpkg database in %s" % root
    return "dnf", "default (no os-release or dpkg database in %s)" % root


def load_backend(name: str, *, root: str, statedir: str) -> Backend:
    modname = BACKENDS.get(name)
    if modname is None:
        raise UsageError(
            "unknown backend %r" % name, hint="use one of: auto, " + ", ".join(sorted(BACKENDS))
        )
    try:
        mod = importlib.import_module(modname)
    except ImportError as e:
        raise BackendUnavailableError(
            "backend %r is not available on this host: %s" % (name, e),
            hint="install the distribution's bindings (python3-dnf / python3-apt) and run spma from "
            "the system Python or a --system-site-packages venv",
        ) from e
    backend: Backend = mod.create(root=root, statedir=statedir)
    return backend
