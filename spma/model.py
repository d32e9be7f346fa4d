"""Frozen value types shared by the core and the backends.

Backends convert library objects (hawkey packages, apt versions) into these at their boundary
(`Change`, `Offer`, `Need`); nothing outside a backend holds a library object.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

ACTIONS = ("install", "upgrade", "downgrade", "reinstall", "obsolete", "remove")
REASONS = ("declared", "errata", "dependency", "sync", "unmanaged", "obsoleted", "kernel", "interrupted")


def _pan_escape(s: str) -> str:
    from spma.pan import escape

    return escape(s)


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
    # where the profile declares it (`/software/packages/{escaped name}`), and each version's
    # path: explanations name the declaration, not the package
    path: str = field(default="", compare=False)
    version_paths: Tuple[Tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def where(self) -> str:
        return self.path or "/software/packages/%s" % _pan_escape(self.name)

    def version_path(self, version: str) -> str:
        for v, p in self.version_paths:
            if v == version:
                return p
        return "%s/%s" % (self.where, _pan_escape(version))

    @property
    def is_glob(self) -> bool:
        return is_glob(self.name)

    def matches_name(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.name) if self.is_glob else name == self.name


@dataclass(frozen=True)
class Repository:
    """One repository of the profile, as the backends configure it."""

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
    """A host's compiled profile: what spma reads of /software (docs/profile.md)."""

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
    # what the root's own contradicting package settings are: plan notes, or errors (exit 4)
    host_settings: str = "note"


@dataclass(frozen=True)
class ErrataPin:
    """One entry of an errata version set: `pkg_ronly` semantics, it constrains, never adds."""

    name: str
    evr: str
    arches: Tuple[str, ...] = ()
    advisories: Tuple[str, ...] = ()
    reboot_suggested: bool = False


@dataclass(frozen=True)
class SolveRequest:
    """Everything a backend needs to compute the desired end state in one solver run."""

    packages: Tuple[PackageDecl, ...]
    repositories: Tuple[Repository, ...]
    userpkgs: bool = False
    # name globs of installed packages that are never removed (the core's protected list)
    protected: Tuple[str, ...] = ()
    excludes: Tuple[str, ...] = ()
    process_obsoletes: bool = False
    install_weak_deps: bool = False
    # uname -r of the running kernel; injectable so tests can pretend a sandbox kernel runs.
    running_kernel: Optional[str] = None
    # --boot: the whole plan at once, never split for a deferral (a backend may skip preparing one)
    boot: bool = False


@dataclass(frozen=True)
class Offer:
    """What the repositories offer of one name, asked for one version (errata binding)."""

    available: Tuple[str, ...]  # every version offered, oldest first
    has: bool  # the asked version is among them (compared by rpm / apt_pkg)
    installed: bool


def _what(action: str, name: str, arch: str, frm: Optional[str], to: Optional[str]) -> Dict[str, Any]:
    """The JSON of one package change, as plans and the pending file both write it."""
    return {"action": action, "name": name, "arch": arch, "from": frm, "to": to}


@dataclass(frozen=True)
class Change:
    """One change the solver decided, as facts: no reason, no policy.

    `unit` groups the changes one transaction element makes together (an obsoleted package
    leaves with what obsoletes it); deferral moves whole units.
    """

    action: str
    name: str
    arch: str
    from_evr: Optional[str]
    to_evr: Optional[str]
    unit: int
    repository: Optional[str] = None
    # names in the final set that require what this change brings (sorted)
    required_by: Tuple[str, ...] = ()
    # install: the NEVRAs it obsoletes; obsolete: the NEVRAs that obsolete it
    replaces: Tuple[str, ...] = ()
    # the solver moved an installed version (upgrade/downgrade job), as opposed to adding a package
    version_move: bool = False
    # a version move: `to` is the best version the repositories offer for name.arch
    best: bool = True
    errata: bool = False  # `to` is the version the bound errata pin asks for
    weak_only: bool = False
    protected: bool = False  # a removal of a protected package
    # what the package database reports unfinished for this package (a dpkg state such as
    # "half-configured", "duplicate" for rpm; spma.faults words it), and whether this change
    # exists only to repair that
    unfinished: Optional[str] = None
    repair: bool = False
    # install: the declared names an obsoleter is taken in place of (process_obsoletes)
    stands_in_for: Tuple[str, ...] = ()
    # install: taken only for a weak dependency; the names that recommend it (may be empty)
    recommended: bool = False
    recommended_by: Tuple[str, ...] = ()
    # bytes to download (what comes in) and installed (what comes in, or goes), when known
    size: Optional[int] = None
    installsize: Optional[int] = None
    # the source package it is built from (boot-only entries match it too: spma.bootonly)
    source: Optional[str] = None
    # moved to satisfy an exact-version dependency of a pinned package: "perl 5.36.0-7 (= 5.36.0-7)"
    needed_by: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return dict(_what(self.action, self.name, self.arch, self.from_evr, self.to_evr), unit=self.unit)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> Change:
        return cls(d["action"], d["name"], d["arch"], d.get("from"), d.get("to"), int(d["unit"]))


@dataclass(frozen=True)
class Need:
    """A backend's answer to "which live changes need a deferred one": `unit` cannot go live
    because it needs `name` `evr` (kind "needs"), or an old package that stays until boot
    needs what `unit` removes (kind "needed-by")."""

    unit: int
    kind: str
    name: str
    evr: Optional[str] = None


@dataclass(frozen=True)
class SolveFacts:
    """What a backend's solve found: the changes, and what the core checks them against."""

    changes: Tuple[Change, ...]
    # (obsoleter NEVRA, installed NEVRA) pairs that process_obsoletes false left out
    would_obsolete: Tuple[Tuple[str, str], ...] = ()
    # (name, arch, evr) installed before: with the changes, the plan's final state, which the core
    # checks against every declaration (spma.invariant); None: not reported
    installed: Optional[Tuple[Tuple[str, str, str], ...]] = None
    # what the backend saw and the plan must say (a hold that keeps a package as it is)
    notes: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    """One line of a plan: a change with its reason, as the plan document holds it."""

    action: str
    name: str
    arch: str
    from_evr: Optional[str]
    to_evr: Optional[str]
    reason: str
    because: str
    deferred: bool = False
    defer_reason: Optional[str] = None
    # the change takes full effect only after a reboot (spma.policy.needs_reboot)
    reboot: bool = False
    # where it comes from and its sizes in bytes, as dnf shows them (None: not known); not part
    # of what makes two plans the same
    repository: Optional[str] = field(default=None, compare=False)
    size: Optional[int] = field(default=None, compare=False)
    installsize: Optional[int] = field(default=None, compare=False)

    def sort_key(self) -> Tuple[str, str, int, str, str]:
        return (self.name, self.arch, ACTIONS.index(self.action), self.from_evr or "", self.to_evr or "")

    def to_json(self) -> dict[str, Any]:
        return {
            **_what(self.action, self.name, self.arch, self.from_evr, self.to_evr),
            "reason": self.reason,
            "because": self.because,
            "deferred": self.deferred,
            "defer_reason": self.defer_reason,
            "reboot": self.reboot,
            "repository": self.repository,
            "size": self.size,
            "installsize": self.installsize,
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
            reboot=bool(d.get("reboot", False)),
            repository=d.get("repository"),
            size=d.get("size"),
            installsize=d.get("installsize"),
        )
