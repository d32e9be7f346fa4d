"""What dpkg left unfinished, as marks and facts: a reinstall where dpkg requires one, and a
repair change (or a note on the change the plan makes anyway) for every unfinished package;
dpkg's own recovery of the rest runs before the transaction (dpkgstate.recover)."""

from __future__ import annotations

import dataclasses
from typing import Any, List, Optional, Tuple

from spma import faults
from spma.errors import ResolveError
from spma.model import Change

from .marks import Desired, same_version, set_candidate

Unit = Tuple[Change, Any, Any]


def _package(ac: Any, u: faults.Unfinished) -> Optional[Any]:
    try:
        return ac[u.name] if u.arch in ("all", "") else ac[(u.name, u.arch)]
    except KeyError:
        return None


def mark_reinstalls(desired: Desired, unfinished: List[faults.Unfinished]) -> None:
    """dpkg's reinstreq packages the plan leaves alone are reinstalled at the version dpkg has."""
    dep, problems = desired.dep, []
    for u in unfinished:
        pkg = _package(desired.ac, u) if u.reinstall_required else None
        marks = (dep.marked_delete, dep.marked_install, dep.marked_upgrade, dep.marked_downgrade)
        if pkg is None or any(m(pkg) for m in marks):
            continue
        ver = next(
            (v for v in pkg.version_list if v.downloadable and same_version(v.ver_str, u.version)), None
        )
        if ver is None:
            problems.append(
                "%s: %s, and no source offers %s to reinstall" % (u.name, faults.because(u), u.version)
            )
            continue
        set_candidate(dep, pkg, ver)
        dep.set_reinstall(pkg, True)
    if problems:
        raise ResolveError(
            "dpkg left packages that only a reinstall finishes:\n  " + "\n  ".join(problems),
            hint="point the sources at a snapshot that has these versions, or declare other versions",
        )


def annotate(ac: Any, units: List[Unit], unfinished: List[faults.Unfinished]) -> List[Unit]:
    """Each unfinished package's change says so; one the plan does not change gets a repair."""
    out = list(units)
    where = {(c.name, c.arch): i for i, (c, _p, _n) in enumerate(out)}
    for u in unfinished:
        pkg = _package(ac, u)
        # as the plan names it (backends/apt/facts.shown_arch): an Architecture: all package as all
        arch = (
            "all" if u.arch == "all" or pkg is None and not u.arch else (pkg.architecture if pkg else u.arch)
        )
        i = where.get((u.name, arch))
        if i is not None:
            c, p, n = out[i]
            repair = c.action == "reinstall" and c.from_evr == c.to_evr
            out[i] = (dataclasses.replace(c, unfinished=u.token(), repair=repair), p, n)
            continue
        c = Change(
            "reinstall", u.name, arch, u.version, u.version, len(out), unfinished=u.token(), repair=True
        )
        out.append((c, pkg, pkg.current_ver if pkg is not None else None))
    return out
