"""Compile advisories into version sets: per package name, the newest fixed version among the
advisories issued on or before a cut-off date, by the package manager's own version order.

A monthly series is one sweep over the advisories sorted by issue date, so N months cost
hardly more than one.
"""

from __future__ import annotations

import calendar
import datetime as dt
import fnmatch
import logging
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from spma.errata.model import SEVERITIES, TYPES, Advisory, AdvisoryInfo, Entry, VersionSet
from spma.errata.vercmp import comparator

from spma.errors import AdvisoryInputError, UsageError

log = logging.getLogger("spma.errata.compile")

KERNEL_NAME = re.compile(r"^kernel(-.+)?$")


def month_ends(first: str, last: str) -> List[dt.date]:
    def parse(s: str) -> Tuple[int, int]:
        m = re.match(r"^(\d{4})-(\d{2})$", s)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise UsageError("--monthly takes YYYY-MM YYYY-MM, not %r" % s)
        return int(m.group(1)), int(m.group(2))

    y, m = parse(first)
    y2, m2 = parse(last)
    if (y, m) > (y2, m2):
        raise UsageError("--monthly %s %s: the first month is after the last" % (first, last))
    out = []
    while (y, m) <= (y2, m2):
        out.append(dt.date(y, m, calendar.monthrange(y, m)[1]))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def parse_cutoff(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError as e:
        raise UsageError("--cutoff takes YYYY-MM-DD, not %r" % s) from e


class Filters:
    def __init__(self, types: Optional[Iterable[str]] = None, min_severity: Optional[str] = None,
                 include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:  # fmt: skip
        self.types = set(types) if types else None
        for t in self.types or ():
            if t not in TYPES:
                raise UsageError("--type %s: use %s" % (t, ", ".join(TYPES[:3])))
        if min_severity is not None and min_severity not in SEVERITIES:
            raise UsageError("--min-severity %s: use one of %s" % (min_severity, ", ".join(SEVERITIES)))
        self.min_rank = SEVERITIES.index(min_severity) if min_severity else None
        self.include = list(include)
        self.exclude = list(exclude)

    def advisory(self, a: Advisory) -> bool:
        if self.types is not None and a.type not in self.types:
            return False
        if self.min_rank is not None:
            return a.severity is not None and SEVERITIES.index(a.severity) >= self.min_rank
        return True

    def name(self, n: str) -> bool:
        if self.include and not any(fnmatch.fnmatchcase(n, g) for g in self.include):
            return False
        return not any(fnmatch.fnmatchcase(n, g) for g in self.exclude)


def compile_sets(advisories: Iterable[Advisory], cutoffs: Sequence[dt.date], *, family: str, os_id: str,
                 sources: Sequence[str], filters: Optional[Filters] = None) -> List[VersionSet]:  # fmt: skip
    filters = filters or Filters()
    cmp = comparator(family)
    dated = []
    undated = 0
    for a in advisories:
        if not filters.advisory(a):
            continue
        if a.issued is None:
            undated += 1
            continue
        dated.append(a)
    if undated:
        log.warning("%d advisories have no usable issue date and join no set", undated)
    dated.sort(key=lambda a: (a.issued, a.id))
    # name -> [best evr, arches at best, {advisory ids}]. Every recorded fix is <= the best
    # version (the best only grows), so all recorded advisories are covered by it.
    by_name = bool(filters.include or filters.exclude)
    best: Dict[str, List] = {}
    entries: Dict[str, Entry] = {}
    info: Dict[str, AdvisoryInfo] = {}
    dirty: set = set()
    # Kept across the sweep instead of recomputed per set (each was a pass over every package
    # of every set): the names in order, those of the kernel family, and the advisory ids of
    # the other names, which only grow, as a name's advisories only grow.
    names: List[str] = []
    kernel_family: set = set()
    others: set = set()
    other_ids: set = set()
    out = []
    i = 0
    for cutoff in sorted(cutoffs):
        while i < len(dated) and dated[i].issued <= cutoff:  # type: ignore[operator]
            a = dated[i]
            i += 1
            recorded = False
            for p in a.packages:
                if (by_name and not filters.name(p.name)) or p.arch == "src":
                    continue
                evr = p.evr
                cur = best.get(p.name)
                if cur is None:
                    best[p.name] = cur = [evr, set(), set(), False]
                else:
                    c = cmp(evr, cur[0])
                    if c > 0:
                        cur[0], cur[1], cur[3] = evr, set(), False
                if evr == cur[0]:
                    if p.arch:
                        cur[1].add(p.arch)
                    cur[3] = cur[3] or bool(p.reboot_suggested)
                cur[2].add(a.id)
                dirty.add(p.name)
                recorded = True
            if recorded:
                info[a.id] = AdvisoryInfo(a.severity, a.type, a.issued)
        new = [name for name in dirty if name not in entries]
        for name in new:
            (kernel_family if KERNEL_NAME.match(name) else others).add(name)
        for name in dirty:
            evr, arches, advs, reboot = best[name]
            entries[name] = Entry(evr=evr, arches=tuple(sorted(arches)), advisories=tuple(sorted(advs)),
                                  reboot_suggested=reboot)  # fmt: skip
            if name in others:
                other_ids.update(advs)
        dirty.clear()
        if new:
            names = sorted(entries)
        out.append(_snapshot(entries, names, kernel_family, other_ids, cutoff, family, os_id, sources, info))
    return out


def _snapshot(entries: Dict[str, Entry], names: List[str], kernel_family: set, other_ids: set,
              cutoff: dt.date, family: str, os_id: str, sources: Sequence[str],
              info: Dict[str, AdvisoryInfo]) -> VersionSet:  # fmt: skip
    packages = {n: entries[n] for n in names}
    kernel = None
    kernel_advs: Tuple[str, ...] = ()
    if family == "rpm" and "kernel" in packages:
        kernel_advs = packages["kernel"].advisories
        kernel = packages["kernel"].evr.split(":", 1)[-1]
        kevr = packages["kernel"].evr
        # the kernel family moves as one version (Quattor's KERNEL_VERSION_NUM with kernel*)
        for n in [n for n in kernel_family if packages[n].evr == kevr]:
            del packages[n]
    ids = other_ids.union(kernel_advs, *(packages[n].advisories for n in kernel_family if n in packages))
    return VersionSet(
        id="%s-%s" % (os_id, cutoff.isoformat()),
        os=os_id,
        family=family,
        cutoff=cutoff,
        sources=tuple(sources),
        kernel=kernel,
        kernel_advisories=kernel_advs,
        packages=packages,
        advisories={a: info[a] for a in sorted(ids) if a in info},
    )


def is_empty(vs: VersionSet) -> bool:
    return not vs.packages and not vs.kernel


def check_result(sets: Sequence[VersionSet], advisories: int, *, found: Sequence[str], ecosystem: Optional[str],
                 filters_given: bool) -> None:  # fmt: skip
    """An empty result is an error, never an empty set with exit 0: a mistyped --ecosystem, a
    filter that matches nothing, or inputs that hold no advisories."""
    if any(not is_empty(vs) for vs in sets):
        return
    if ecosystem is not None and found and ecosystem not in found:
        raise AdvisoryInputError(
            "no advisory of ecosystem %r in the inputs" % ecosystem,
            hint="the inputs hold: %s (the name is case-sensitive)" % ", ".join(found),
        )
    why = "%d advisories were read" % advisories
    if filters_given:
        why += ", but none passed --type/--min-severity/--include/--exclude and the cut-off"
    else:
        why += ", none issued on or before the cut-off with a fixed package version"
    raise AdvisoryInputError("the version sets would be empty: %s" % why)


def check_ecosystems(found: Sequence[str], ecosystem: Optional[str]) -> None:
    """Advisories of several distributions must never merge into one set."""
    if ecosystem is None and len(found) > 1:
        raise AdvisoryInputError(
            "the inputs hold advisories of several ecosystems: %s" % ", ".join(found),
            hint="choose one with --ecosystem, e.g. --ecosystem %s" % found[-1],
        )
