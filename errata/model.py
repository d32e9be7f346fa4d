"""The advisory model every reader produces, and the version set the compiler produces."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

TYPES = ("security", "bugfix", "enhancement", "newpackage", "unknown")
SEVERITIES = ("low", "moderate", "important", "critical")
VERSIONSET_FORMAT = "spma-versionset/1"


def normalize_severity(s: Optional[str]) -> Optional[str]:
    if not s:
        return None
    s = s.strip().lower()
    aliases = {"medium": "moderate", "high": "important", "urgent": "critical", "negligible": "low",
               "none": None, "unknown": None, "": None}  # fmt: skip
    s2 = aliases.get(s, s)
    return s2 if s2 in SEVERITIES else None


def normalize_type(t: Optional[str]) -> str:
    t = (t or "").strip().lower()
    if t in ("security", "bugfix", "enhancement", "newpackage"):
        return t
    return {"bug": "bugfix", "feature": "enhancement", "recommended": "bugfix"}.get(t, "unknown")


@dataclass(frozen=True)
class AdvisoryPackage:
    name: str
    epoch: int
    version: str
    release: str  # "" for Debian versions, which carry no separate release
    arch: Optional[str] = None
    reboot_suggested: Optional[bool] = None

    @property
    def evr(self) -> str:
        """E:V-R (V-R without a zero epoch) for rpm; the Debian version string as is."""
        vr = "%s-%s" % (self.version, self.release) if self.release else self.version
        return "%d:%s" % (self.epoch, vr) if self.epoch else vr


@dataclass(frozen=True)
class Advisory:
    id: str
    type: str
    severity: Optional[str]
    issued: Optional[dt.date]
    packages: Tuple[AdvisoryPackage, ...]
    title: str = ""
    source: str = ""  # the file it came from, for messages
    cves: Tuple[str, ...] = ()  # where the source names them


@dataclass(frozen=True)
class Entry:
    evr: str
    arches: Tuple[str, ...]
    advisories: Tuple[str, ...]
    reboot_suggested: bool = False


@dataclass(frozen=True)
class AdvisoryInfo:
    """What `errata diff`/`show` say about an advisory of a set: its severity, type and date."""

    severity: Optional[str]
    type: str
    issued: Optional[dt.date]


@dataclass(frozen=True)
class VersionSet:
    id: str
    os: str
    family: str  # "rpm" or "deb": whose version rules order it
    cutoff: dt.date
    sources: Tuple[str, ...]
    kernel: Optional[str]
    kernel_advisories: Tuple[str, ...] = ()
    packages: Dict[str, Entry] = field(default_factory=dict)
    # optional: sets written before it existed have none, and nothing at run time needs it
    advisories: Dict[str, AdvisoryInfo] = field(default_factory=dict)
