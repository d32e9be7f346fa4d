"""Which boot-only entry covers a package: by its own name, or by the source package it is built
from, so a family (every binary of systemd, glibc, the kernel) is deferred to boot whole and
nothing else is dragged along with it. Backends report the source name; this decides."""

from __future__ import annotations

import fnmatch
import functools
import re
from typing import Optional, Sequence, Tuple


def boot_only_entry(name: str, source: Optional[str], patterns: Sequence[str]) -> Optional[str]:
    """The defer reason for a package matching a boot-only entry ("boot-only systemd*", or "boot-only
    systemd* (built from systemd)" when only its source matches), or None."""
    anyof = _any_of(tuple(patterns))
    if not anyof.match(name) and not (source and anyof.match(source)):
        return None  # the common case, in one match instead of one per pattern
    for g in patterns:
        if fnmatch.fnmatchcase(name, g):
            return "boot-only %s" % g
    if source and source != name:
        for g in patterns:
            if fnmatch.fnmatchcase(source, g):
                return "boot-only %s (built from %s)" % (g, source)
    return None


@functools.lru_cache(maxsize=8)
def _any_of(patterns: Tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(p) for p in patterns) or "(?!)")


def rpm_source_name(sourcerpm: Optional[str]) -> Optional[str]:
    """The source package name of an rpm's SOURCERPM tag (`glibc-2.34-60.el9.src.rpm` -> `glibc`)."""
    if not sourcerpm or not sourcerpm.endswith(".rpm"):
        return None
    parts = sourcerpm[: -len(".rpm")].rsplit(".", 1)[0].rsplit("-", 2)
    return parts[0] if len(parts) == 3 and parts[0] else None
