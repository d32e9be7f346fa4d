"""Frozen value types shared by the core and the backends.

Backends convert library objects (hawkey packages, apt versions) into these at their boundary;
nothing outside a backend module ever holds a library object.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

ACTIONS = ("install", "upgrade", "downgrade", "reinstall", "obsolete", "remove")
REASONS = ("declared", "errata", "dependency", "sync", "unmanaged", "obsoleted", "kernel")


def is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


@dataclass(frozen=True)
class PackageDecl:
    """One `/software/packages/{name}` entry, unescaped.

    `versions` empty means any version; `arches` empty means any arch. A glob name is a
    constraint on the matching packages, never a request to install them.
    """

    name: str
    versions: Tuple[str, ...] = ()
    arches: Tuple[str, ...] = ()

    @property
    def is_glob(self) -> bool:
        return is_glob(self.name)

    def matches_name(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.name) if self.is_glob else name == self.name


@dataclass(frozen=True)
class Repository:
    name: str
    baseurls: Tuple[str, ...]
    enabled: bool = True
    gpgcheck: bool = True
    gpgkeys: Tuple[str, ...] = ()
    priority: Optional[int] = None
    proxy: Optional[str] = None
    excludepkgs: Tuple[str, ...] = ()
    includepkgs: Tuple[str, ...] = ()
    skip_if_unavailable: bool = False
    metadata_sha256: Optional[str] = None
    sslcacert: Optional[str] = None
    sslclientcert: Optional[str] = None
    sslclientkey: Optional[str] = None
    sslverify: bool = True


@dataclass(frozen=True)
class Profile:
    source: str
    sha256: str
    packages: Tuple[PackageDecl, ...]
    repositories: Tuple[Repository, ...]
    packager: str = "auto"
    run: bool = True
    userpkgs: bool = False
    userrepos: bool = False
    whitelist: Tuple[str, ...] = ()
    excludes: Tuple[str, ...] = ()
    process_obsoletes: bool = False
    boot_only: Optional[Tuple[str, ...]] = None
    errata: Optional[str] = None
    max_removals: Optional[int] = None
    install_weak_deps: bool = False
    proxy: Optional[str] = None
    warnings: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ErrataPin:
    """One entry of an errata version set: `pkg_ronly` semantics, it constrains, never adds."""

    name: str
    evr: str
    arches: Tuple[str, ...] = ()
    advisories: Tuple[str, ...] = ()
    reboot_suggested: bool = False


def errata_because(pin: ErrataPin, set_id: Optional[str]) -> str:
    """The `because` of an action an errata set decided: its newest advisories, and the set."""
    advs = list(pin.advisories)
    shown = ", ".join(reversed(advs[-3:])) if advs else "version set"
    if len(advs) > 3:
        shown += " and %d more" % (len(advs) - 3)
    return "%s (errata %s)" % (shown, set_id) if set_id else shown


@dataclass(frozen=True)
class SolveRequest:
    """Everything a backend needs to compute the desired end state in one solver run."""

    packages: Tuple[PackageDecl, ...]
    repositories: Tuple[Repository, ...]
    userpkgs: bool = False
    whitelist: Tuple[str, ...] = ()
    excludes: Tuple[str, ...] = ()
    process_obsoletes: bool = False
    install_weak_deps: bool = False
    # uname -r of the running kernel; injectable so tests can pretend a sandbox kernel runs.
    running_kernel: Optional[str] = None
    errata: Tuple[ErrataPin, ...] = ()
    errata_kernel: Optional[str] = None
    errata_id: Optional[str] = None


@dataclass(frozen=True)
class Action:
    action: str
    name: str
    arch: str
    from_evr: Optional[str]
    to_evr: Optional[str]
    reason: str
    because: str
    deferred: bool = False
    defer_reason: Optional[str] = None
    # an advisory of the errata set that decided this version suggests a reboot
    reboot_suggested: bool = False

    def sort_key(self) -> Tuple[str, str, int, str, str]:
        return (self.name, self.arch, ACTIONS.index(self.action), self.from_evr or "", self.to_evr or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "name": self.name,
            "arch": self.arch,
            "from": self.from_evr,
            "to": self.to_evr,
            "reason": self.reason,
            "because": self.because,
            "deferred": self.deferred,
            "defer_reason": self.defer_reason,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Action:
        return cls(
            action=d["action"],
            name=d["name"],
            arch=d["arch"],
            from_evr=d.get("from"),
            to_evr=d.get("to"),
            reason=d["reason"],
            because=d["because"],
            deferred=bool(d.get("deferred", False)),
            defer_reason=d.get("defer_reason"),
        )


@dataclass(frozen=True)
class Solution:
    """A backend's answer: the exact actions and the fingerprints of what it read.

    `handle` is backend-private (the resolved transaction) so `apply` runs exactly what
    `plan` showed; it never leaves the process.
    """

    actions: Tuple[Action, ...]
    installed_fingerprint: str
    repo_fingerprints: Tuple[Tuple[str, str], ...]
    notes: Tuple[str, ...] = ()
    # NEVRAs of protected packages (whitelist, running kernel, spma, the package manager)
    # that the solution would remove; the core refuses such a plan (exit 7).
    protected_removals: Tuple[str, ...] = ()
    handle: Any = field(default=None, compare=False, repr=False)
    # backend-private: the changes deferred to boot, after split()
    deferred_handle: Any = field(default=None, compare=False, repr=False)
