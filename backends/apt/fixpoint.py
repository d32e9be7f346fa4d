"""Is the planned final state a fixed point of the declaration? Checked on the marks before the
plan is shown, without apt's cached dependency states (which a changed candidate can leave
stale, see marks.set_candidate):

* the planned set holds together: every version it installs has its Pre-Depends/Depends met by
  the planned set and neither conflicts with nor breaks a planned version (else dpkg refuses the
  transaction half-way);
* the next run would not move a package: the marking pass moves every undeclared installed
  package, and every declared one without a version, to its best version; where that version
  fits the planned set as it is (no conflict, no need the set does not meet), the next run
  takes it. Such versions are taken in this plan instead (`movable`), so it converges.

What still fails is a plan that would not converge; the backend refuses it (exit 4) before
anything changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from spma.errors import ResolveError

from .follow import inst_ver
from .marks import collect_garbage, set_candidate
from .touched import touched

if TYPE_CHECKING:
    from .marks import Desired

_POSITIVE = ("PreDepends", "Depends")
_NEGATIVE = ("Conflicts", "Breaks")


class Planned:
    """The versions the marks leave installed, by package id."""

    def __init__(self, desired: Desired, ordered: bool = True) -> None:
        dep = desired.dep
        self.vers: Dict[int, Any] = {}
        found = touched(desired, ordered)
        for p in desired.ac.packages if found is None else found:
            if p.current_ver is None and not dep.marked_install(p):
                continue  # the cheap test first: most of a full index is neither
            v = inst_ver(dep, p)
            if v is not None:
                self.vers[p.id] = v

    def has(self, v: Any, moved: Optional[Any] = None) -> bool:
        """Is v the planned version of its package (with `moved` standing in for its package)?"""
        p = v.parent_pkg
        if moved is not None and p.id == moved.parent_pkg.id:
            return bool(v.id == moved.id)
        now = self.vers.get(p.id)
        return now is not None and bool(now.id == v.id)

    def unmet(self, ver: Any, moved: Optional[Any] = None) -> List[str]:
        return [
            " | ".join(_dep_text(d) for d in group)
            for dtype in _POSITIVE
            for group in ver.depends_list.get(dtype, [])
            if not any(self.has(t, moved) for d in group for t in d.all_targets())
        ]

    def clashes(self, ver: Any, moved: Optional[Any] = None) -> List[str]:
        out = []
        for dtype in _NEGATIVE:
            for group in ver.depends_list.get(dtype, []):
                for d in group:
                    for t in d.all_targets():
                        if t.parent_pkg.id != ver.parent_pkg.id and self.has(t, moved):
                            out.append("%s %s (%s %s)" % (t.parent_pkg.name, t.ver_str, dtype, _dep_text(d)))
        return out

    def fits(self, ver: Any) -> bool:
        """Would ver, in place of its package's planned version, leave the planned set whole?"""
        if self.unmet(ver, ver) or self.clashes(ver, ver):
            return False
        pid = ver.parent_pkg.id
        for other in self.vers.values():
            if other.parent_pkg.id == pid:
                continue
            if self.unmet(other, ver) or self.clashes(other, ver):
                return False
        return True


def converge(desired: Desired) -> None:
    """The planned set must be a fixed point of the declaration: a best version the next run
    would take because it fits the planned set is taken now (with what it then leaves unneeded);
    a planned set that does not hold together, or would still move, is refused before anything
    changes."""
    import apt_pkg

    dep = desired.dep
    for _round in range(4):
        planned, bad = _planned(desired)
        if bad:
            raise not_converging(bad)
        moves = movable(desired, planned)
        if not moves:
            return
        with apt_pkg.ActionGroup(dep):  # type: ignore[attr-defined]
            for ver in moves:
                pkg = ver.parent_pkg
                set_candidate(dep, pkg, ver)
                dep.mark_install(pkg, False, (pkg.name, pkg.architecture) in desired.declared)
        collect_garbage(desired)
    planned, bad = _planned(desired)
    bad = bad or [
        "%s would move to %s on the next run" % (v.parent_pkg.name, v.ver_str)
        for v in movable(desired, planned)
    ]
    if bad:
        raise not_converging(bad)


def _planned(desired: Desired) -> Tuple[Planned, List[str]]:
    """The planned set and what in it does not hold together (broken()), in the cache's order
    when the order counts: what broken() reports and what movable() takes follow it. A set that
    holds together with no best version to take (the common case) gives the same answers in any
    order, so it is checked without the walk of the whole cache the order takes."""
    planned = Planned(desired, ordered=False)
    bad = broken(planned)
    if bad or any(_candidate(desired, v) for v in planned.vers.values()):
        planned = Planned(desired)
        bad = broken(planned)
    return planned, bad


def _candidate(desired: Desired, ver: Any) -> bool:
    """Would movable() consider moving ver's package (to its best version)?"""
    p = ver.parent_pkg
    if p.name in desired.held or (p.name, p.architecture) in desired.pinned:
        return False
    best = desired.best(p)
    return best is not None and best.id != ver.id


def not_converging(why: List[str]) -> ResolveError:
    return ResolveError(
        "the plan would not converge (the next run would change the host again):\n  "
        + "\n  ".join(why[:20]),
        hint="nothing was changed; this is a gap in spma's translation of the profile into one "
        "solve: report it with the profile and `spma plan --format json --debug` output",
    )


def broken(planned: Planned) -> List[str]:
    """What in the planned set does not hold together (empty when it does)."""
    out = []
    for ver in planned.vers.values():
        p = ver.parent_pkg
        for need in planned.unmet(ver):
            out.append(
                "%s %s needs %s, which the planned set does not provide" % (p.name, ver.ver_str, need)
            )
        for hit in planned.clashes(ver):
            out.append("%s %s conflicts with the planned %s" % (p.name, ver.ver_str, hit))
    return out


def movable(desired: Desired, planned: Planned) -> List[Any]:
    """The best versions the next run's marking pass would take because they fit the planned
    set as it is, each checked with the ones before it taken (planned is updated)."""
    out = []
    for ver in list(planned.vers.values()):
        if not _candidate(desired, ver):
            continue
        best = desired.best(ver.parent_pkg)
        p = ver.parent_pkg
        if planned.fits(best):
            planned.vers[p.id] = best
            out.append(best)
    return out


def _dep_text(d: Any) -> str:
    name = d.target_pkg.name
    return "%s (%s %s)" % (name, d.comp_type, d.target_ver) if d.target_ver else name
