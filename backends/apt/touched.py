"""The packages a plan's marks touch — every installed package and every other one the marks
install — found without walking the whole cache (a full bookworm index is ~107,000 packages, and
each walk costs 25-50 ms in Python): a new install is reached from the planned set through the
dependencies of the versions it installs, and apt's own counters prove the walk found them all.

apt counts in `inst_count` every package marked for a new install, plus the installed ones it
upgrades, downgrades or reinstalls; in `del_count` every installed package it removes, plus the
purges of packages that are not installed (a package that is not installed is never marked for
removal without purge: pkgDepCache::MarkDelete keeps it). When the walk's finds and the installed
packages' own marks add up to both counters, nothing was missed; otherwise (a new install that
nothing planned depends on any more, for one) the caller gets None and walks the whole cache, as
before. Either way the packages come in the cache's own order where it counts: marks are made in
that order, and the plan's changes are numbered in it (a `--boot` plan, which defers nothing,
never reads those numbers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .follow import inst_ver

if TYPE_CHECKING:
    from .marks import Desired

# what apt's marking follows to install a package's needs (Recommends and Suggests by setting)
_FOLLOWED = ("PreDepends", "Depends", "Recommends", "Suggests")


def touched(desired: Desired, ordered: bool = True) -> Optional[List[Any]]:
    """Every installed package and every package the marks newly install (or purge), in the
    cache's order (or, not `ordered`, the installed ones first, then the new ones as the walk
    found them: for a caller whose outcome does not depend on the order, which saves the one
    walk of the whole cache the order takes); None when the dependency walk cannot prove it
    found them all. The new installs a call finds are where the next call looks first (the
    marks between them move what is planned, they rarely add to it); the counters decide
    whether that was enough."""
    dep = desired.dep
    moved = sum(
        1
        for p in desired._installed
        if dep.marked_install(p)
        or dep.marked_upgrade(p)
        or dep.marked_downgrade(p)
        or dep.marked_reinstall(p)
    )
    removed = sum(1 for p in desired._installed if dep.marked_delete(p))
    new: Optional[Dict[int, Any]] = None
    for known in ([desired._new] if desired._new is not None else []) + [None]:
        found = {i: p for i, p in (_walk(desired) if known is None else known).items()
                 if dep.marked_install(p) or dep.marked_delete(p)}  # fmt: skip
        installs = sum(1 for p in found.values() if dep.marked_install(p))
        if installs + moved == dep.inst_count and len(found) - installs + removed == dep.del_count:
            new = found
            break
    desired._new = new
    if new is None:
        return None
    if not new:
        return list(desired._installed)
    if not ordered:
        return desired._installed + list(new.values())
    key = tuple(sorted(new))
    if desired._touched is None or desired._touched[0] != key:
        want = {p.id: p for p in desired._installed}
        want.update(new)
        desired._touched = (key, [want[i] for i in desired.order() if i in want])
    return list(desired._touched[1])


def _walk(desired: Desired) -> Dict[int, Any]:
    """The packages that are not installed and that the planned set reaches through the
    dependencies apt's marking follows (with every provider of a virtual package)."""
    dep = desired.dep
    seen: Dict[int, Any] = {}
    todo: List[Any] = []

    def visit(p: Any) -> None:
        if p.id not in seen:
            seen[p.id] = p
            todo.append(p)

    for p in desired._installed:
        visit(p)
    for p, _d in desired.declared.values():
        visit(p)
    for p, _v in desired.errata.values():
        visit(p)
    new: Dict[int, Any] = {}
    while todo:
        p = todo.pop()
        if p.current_ver is None:
            if not (dep.marked_install(p) or dep.marked_delete(p)):
                continue  # not planned: what its versions need is not the plan's
            new[p.id] = p
        v = inst_ver(dep, p)
        if v is None:
            continue
        for dtype, groups in v.depends_list.items():
            if dtype not in _FOLLOWED:
                continue
            for group in groups:
                for d in group:
                    t = d.target_pkg
                    visit(t)
                    for _name, _ver, pv in t.provides_list:
                        visit(pv.parent_pkg)
    return new
