"""Host exposure: which advisories apply to a host's installed packages (`spma errata report`,
and per host in `spma fleet report`).

An advisory applies when a package it fixes is installed at a version older than the fixed one,
by the package manager's own order (rpm.labelCompare / apt_pkg). Of several installed versions
of one name and arch (kernels), the newest counts: an older kernel kept beside a fixed one does
not make the host exposed, the running kernel's reboot does (reported as `reboot`).

The advisories are indexed by package name once; answers are memoised per (name, arch,
installed version), which hosts of one fleet share almost entirely.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from spma.errata.model import SEVERITIES, Advisory
from spma.errata.problems import Problems
from spma.errata.vercmp import comparator

from spma.errors import ProfileError, UsageError

EXPOSURE_FORMAT = "spma-exposure/1"
# The exit code of `spma errata report` when an advisory applies (after the filters). Above
# DESIGN's 0-9, so monitoring can tell "exposed" from every failure.
EXIT_EXPOSED = 10
SEVERITY_ORDER = ("unknown",) + SEVERITIES  # worst last
_NOARCH = ("noarch", "all")


def read_advisories(source: str, inputs: Sequence[str], *, ecosystem: Optional[str] = None,
                    release: Optional[str] = None, indexes: Sequence[str] = (),
                    problems: Optional[Problems] = None,
                    ecosystems: Optional[Set[str]] = None) -> Tuple[List[Advisory], str]:  # fmt: skip
    """(advisories, version family) from the readers, for `errata generate`, `errata report` and
    the fleet report alike; `ecosystems` collects the OSV ecosystems the inputs hold."""
    problems = problems if problems is not None else Problems()
    if source == "osv":
        from spma.errata import osv

        return osv.read(inputs, ecosystem=ecosystem, problems=problems, ecosystems=ecosystems), "rpm"
    if source == "updateinfo":
        from spma.errata import updateinfo

        return updateinfo.read(inputs, problems=problems), "rpm"
    if source == "debian":
        from spma.errata import debian

        if not release:
            raise UsageError("--source debian needs --release (e.g. bookworm)")
        idx = list(indexes) + [i for i in inputs if "Packages" in os.path.basename(i)]
        lists = [i for i in inputs if "Packages" not in os.path.basename(i)]
        if not idx:
            raise UsageError("--source debian needs Packages indexes (--index or INPUTs named *Packages*)")
        return debian.read(lists, idx, release=release, problems=problems), "deb"
    raise UsageError("--source %s: use osv, updateinfo or debian" % source)


def default_ecosystem(os_id: str, version_id: str) -> Optional[str]:
    """The OSV ecosystem of a host from its os-release (AlmaLinux:9, Rocky Linux:8)."""
    major = version_id.split(".", 1)[0]
    names = {"almalinux": "AlmaLinux", "rocky": "Rocky Linux"}
    return "%s:%s" % (names[os_id], major) if os_id in names and major else None


def severity(adv: Advisory) -> str:
    return adv.severity or "unknown"


@dataclass(frozen=True)
class Hit:
    advisory: str
    name: str
    arch: str
    installed: str
    fixed: str
    reboot: bool


class Matcher:
    """The advisories of one source, indexed by package name."""

    def __init__(self, advisories: Iterable[Advisory], family: str, *, min_severity: Optional[str] = None,
                 types: Optional[Sequence[str]] = None) -> None:  # fmt: skip
        from spma.policy import REBOOT_PATTERNS

        self.family = family
        self.cmp = comparator(family)
        self.advisories: Dict[str, Advisory] = {}
        self.by_name: Dict[str, List[Tuple[str, Optional[str], str, bool]]] = {}
        min_rank = SEVERITY_ORDER.index(min_severity) if min_severity else 0
        import fnmatch

        reboot_name: Dict[str, bool] = {}
        for a in advisories:
            if types and a.type not in types:
                continue
            if SEVERITY_ORDER.index(severity(a)) < min_rank:
                continue
            self.advisories[a.id] = a
            for p in a.packages:
                if p.arch == "src":
                    continue
                rb = reboot_name.get(p.name)
                if rb is None:
                    rb = reboot_name[p.name] = any(fnmatch.fnmatchcase(p.name, g) for g in REBOOT_PATTERNS)
                self.by_name.setdefault(p.name, []).append(
                    (a.id, p.arch, p.evr, rb or bool(p.reboot_suggested))
                )
        self._memo: Dict[Tuple[str, str, str], Tuple[Hit, ...]] = {}

    def match(self, name: str, arch: str, installed: str) -> Tuple[Hit, ...]:
        key = (name, arch, installed)
        got = self._memo.get(key)
        if got is None:
            got = self._memo[key] = self._match(name, arch, installed)
        return got

    def _match(self, name: str, arch: str, installed: str) -> Tuple[Hit, ...]:
        best: Dict[str, Tuple[str, bool]] = {}  # advisory -> (fixed evr, reboot) for this arch
        for adv, parch, fixed, reboot in self.by_name.get(name, ()):
            if parch is not None and parch != arch and parch not in _NOARCH and arch not in _NOARCH:
                continue
            cur = best.get(adv)
            if cur is None or self.cmp(fixed, cur[0]) > 0:
                best[adv] = (fixed, reboot)
        return tuple(Hit(adv, name, arch, installed, fixed, reboot)
                     for adv, (fixed, reboot) in sorted(best.items())
                     if self.cmp(installed, fixed) < 0)  # fmt: skip


class Offered:
    """What the configured repositories offer: name -> arch -> newest version."""

    def __init__(self, family: str, repos: Sequence[str]) -> None:
        self.family = family
        self.cmp = comparator(family)
        self.given = bool(repos)
        self.best: Dict[str, Dict[str, str]] = {}
        self._memo: Dict[Tuple[str, str, str], bool] = {}
        for r in repos:
            rows = _deb_index(r) if family == "deb" else _rpm_primary(r)
            for name, arch, evr in rows:
                per = self.best.setdefault(name, {})
                if arch not in per or self.cmp(evr, per[arch]) > 0:
                    per[arch] = evr

    def offers(self, name: str, arch: str, fixed: str) -> Optional[bool]:
        if not self.given:
            return None
        key = (name, arch, fixed)
        got = self._memo.get(key)
        if got is None:
            got = self._memo[key] = self._offers(name, arch, fixed)
        return got

    def _offers(self, name: str, arch: str, fixed: str) -> bool:
        per = self.best.get(name, {})
        return any(a in per and self.cmp(per[a], fixed) >= 0 for a in (arch,) + _NOARCH)


def _rpm_primary(repo: str) -> List[Tuple[str, str, str]]:
    import defusedxml.ElementTree as ET  # noqa: N817
    from spma.errata.updateinfo import _COMMON_NS, _open_url_or_path, _repomd_locations, decompress

    try:
        locs = _repomd_locations(repo)
        data = decompress(_open_url_or_path(locs["primary"]), locs["primary"])
    except (OSError, ValueError, KeyError) as e:
        raise ProfileError("--repo %s: cannot read its primary metadata: %s" % (repo, e)) from e
    out = []
    for _ev, el in ET.iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True):
        if el.tag == _COMMON_NS + "package":
            name = el.findtext(_COMMON_NS + "name")
            arch = el.findtext(_COMMON_NS + "arch")
            v = el.find(_COMMON_NS + "version")
            if name and arch and arch != "src" and v is not None and v.get("ver"):
                ep = v.get("epoch") or "0"
                vr = "%s-%s" % (v.get("ver"), v.get("rel") or "")
                out.append((name, arch, vr if ep == "0" else "%s:%s" % (ep, vr)))
            el.clear()
    return out


def _deb_index(path: str) -> List[Tuple[str, str, str]]:
    from spma.errata.debian import read_index

    try:
        return [(b.name, b.arch, b.version) for b in read_index(path)]
    except (OSError, ValueError) as e:
        raise ProfileError("--repo %s: cannot read the Packages index: %s" % (path, e)) from e


def find_hits(packages: Iterable[Tuple[str, str, str]], matcher: Matcher) -> Dict[str, List[Hit]]:
    """advisory id -> what it fixes on a host with these (name, arch, evr) packages; of several
    installed versions of one name and arch, the newest counts."""
    best: Dict[Tuple[str, str], str] = {}
    by_name = matcher.by_name
    cmp = matcher.cmp
    for name, arch, evr in packages:
        if name not in by_name:
            continue
        k = (name, arch)
        cur = best.get(k)
        if cur is None or (cur != evr and cmp(evr, cur) > 0):
            best[k] = evr
    by_adv: Dict[str, List[Hit]] = {}
    for (name, arch), evr in sorted(best.items()):
        for hit in matcher.match(name, arch, evr):
            by_adv.setdefault(hit.advisory, []).append(hit)
    return by_adv


def exposure(host: str, packages: Iterable[Tuple[str, str, str]], matcher: Matcher,
             offered: Optional[Offered] = None, os_info: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:  # fmt: skip
    """The spma-exposure/1 document of one host; packages are (name, arch, evr)."""
    by_adv = find_hits(packages, matcher)
    advs = []
    counts = {s: 0 for s in reversed(SEVERITY_ORDER)}
    for adv_id, hits in by_adv.items():
        a = matcher.advisories[adv_id]
        sev = severity(a)
        counts[sev] += 1
        advs.append({
            "id": a.id, "type": a.type, "severity": sev, "cves": list(a.cves), "title": a.title,
            "issued": a.issued.isoformat() if a.issued else None,
            "reboot": any(h.reboot for h in hits),
            "packages": [{"name": h.name, "arch": h.arch, "installed": h.installed, "fixed": h.fixed,
                          "offered": offered.offers(h.name, h.arch, h.fixed) if offered else None}
                         for h in hits],
        })  # fmt: skip
    advs.sort(key=_adv_order)
    worst = next((s for s in reversed(SEVERITY_ORDER) if counts[s]), None)
    return {
        "format": EXPOSURE_FORMAT,
        "host": host,
        "os": os_info or {},
        "exposed": bool(advs),
        "worst": worst,
        "counts": counts,
        "reboot_required": any(a["reboot"] for a in advs),
        "advisories": advs,
    }


def _adv_order(a: Dict[str, Any]) -> Tuple[int, str]:
    return (-SEVERITY_ORDER.index(a["severity"]), a["id"])


def render_text(doc: Dict[str, Any]) -> str:
    lines = []
    n = len(doc["advisories"])
    if not n:
        lines.append("%s: no advisory applies" % doc["host"])
    else:
        parts = ", ".join("%d %s" % (c, s) for s, c in doc["counts"].items() if c)
        lines.append("%s: %d advisories apply (%s)%s" % (doc["host"], n, parts,
                     "; a reboot is needed to apply them" if doc["reboot_required"] else ""))  # fmt: skip
    for a in doc["advisories"]:
        lines.append("  %-16s %-9s %s%s" % (a["id"], a["severity"], a["title"][:70],
                     "  [reboot]" if a["reboot"] else ""))  # fmt: skip
        if a["cves"]:
            shown = a["cves"][:6]
            lines.append("    CVEs: %s%s" % (" ".join(shown), " and %d more" % (len(a["cves"]) - 6)
                                             if len(a["cves"]) > 6 else ""))  # fmt: skip
        for p in a["packages"]:
            off = {True: "offered by the repositories", False: "NOT in the repositories", None: ""}[
                p["offered"]
            ]
            lines.append("    %s.%s %s -> %s  %s" % (p["name"], p["arch"], p["installed"], p["fixed"], off))
    return "\n".join(line.rstrip() for line in lines) + "\n"
