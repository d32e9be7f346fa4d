"""Version order by the package manager's own rules: rpm for RPM families, apt_pkg for Debian."""

from __future__ import annotations

import functools
from typing import Callable, Optional, Tuple


def split_evr(evr: str) -> Tuple[str, str, str]:
    epoch = "0"
    if ":" in evr:
        epoch, evr = evr.split(":", 1)
    ver, _, rel = evr.rpartition("-") if "-" in evr else (evr, "", "")
    return epoch or "0", ver, rel


def rpm_cmp(a: str, b: str) -> int:
    import rpm

    return int(rpm.labelCompare(split_evr(a), split_evr(b)))


@functools.lru_cache(maxsize=1)
def _apt() -> object:
    import apt_pkg

    apt_pkg.init_system()
    return apt_pkg


def deb_cmp(a: str, b: str) -> int:
    apt_pkg = _apt()
    r = int(apt_pkg.version_compare(a, b))  # type: ignore[attr-defined]
    return (r > 0) - (r < 0)


def comparator(family: str) -> Callable[[str, str], int]:
    if family == "deb":
        return deb_cmp
    return rpm_cmp


def newest(family: str, a: Optional[str], b: str) -> bool:
    """Is b newer than a?"""
    return a is None or comparator(family)(b, a) > 0
