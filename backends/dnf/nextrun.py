"""The next run, seen from the planned set: is the plan's final set a fixed point of the
declaration (issue 10)? Checked before a plan is shown, so spma refuses a plan that would flip
instead of printing it.

libdnf builds its installed repository from the rpmdb only, so the next run cannot be solved
for real before this one is applied. What it would decide is re-derived here on the planned
set instead, for the two decisions that do not depend on how libsolv orders its rules:

* removal: the next run marks the declared, protected and running packages and libsolv lists
  as unneeded whatever they do not reach through any requirement or recommendation
  (`prune.reach`); a planned package outside that reach would be removed;
* distupgrade: the next run moves every installed package to the best version the repositories
  offer; a planned package below (or above) it that could move on its own, with the rest of the
  planned set unchanged and installable as it is, would be moved. That is solved for real, one
  small goal per such package: the planned set with that one package moved, nothing else.

Declared packages missing from the planned set are `prune.fixpoint_problems`' part. A plan that
neither takes out nor moves an installed package is not checked: the solve that made it started
from the state it ends in, so the next run solves the same problem again (and a fresh install of
a large set pays nothing here).
"""

from __future__ import annotations

import fnmatch
from typing import Any, Dict, List, Tuple

from .base import nevra

# goals solved for the distupgrade check at most, so a pathological plan stays cheap
_MAX_MOVES = 32


def problems(desired: Any, goal: Any) -> List[str]:
    """What the next run would still change, as sentences (empty at a fixed point)."""
    from . import goal as goal_
    from . import prune

    if not prune.changes_installed(goal):
        return []
    final = goal_.final_set(goal, desired.installed)
    out = []
    if not desired.request.userpkgs:
        roots = {p for p in final if _marked_next_time(desired, p)} | set(desired.running)
        reached = prune.reach(goal.sack, final, roots)
        if reached is not None and desired.request.process_obsoletes:
            # an obsoleter that stands in for a declared name satisfies that name's job
            # (PackageB-Obsoleter for PackageB): the next run keeps it and what it needs
            subs = {
                p
                for p in final
                if p not in reached and prune.stands_in_for(goal.sack, p, desired.declared_names)
            }
            reached = prune.reach(goal.sack, final, roots | subs) if subs else reached
        if reached is not None:
            out += ["%s would be removed by the next run: nothing the declared set needs requires it"
                    % nevra(p) for p in final if p not in reached]  # fmt: skip
    hidden = list(desired.hidden)
    desired.unhide(hidden)  # the next run starts without what this one's prune hid
    try:
        out += _moves(desired, final)
    finally:
        desired.hide(hidden)
    return out


def _marked_next_time(desired: Any, p: Any) -> bool:
    if desired.fulfils(p):
        return True
    return any(fnmatch.fnmatchcase(p.name, pat) for pat in desired.request.protected)


def _moves(desired: Any, final: List[Any]) -> List[str]:
    import hawkey

    from . import goal as goal_

    sack = desired.sack
    names = sorted({p.name for p in final})
    best = _best(desired, sack.query().available().filter(name=names))
    count = {}  # type: dict
    for p in final:
        count[(p.name, p.arch)] = count.get((p.name, p.arch), 0) + 1
    lagging = [p for p in final if count[(p.name, p.arch)] == 1  # install-only versions stay side by side
               and (p.name, p.arch) in best and p.evr_cmp(best[(p.name, p.arch)]) != 0]  # fmt: skip
    out = []
    planned = set(final)
    for p in lagging[:_MAX_MOVES]:
        b = best[(p.name, p.arch)]
        target = (planned - {p}) | {b}
        g = hawkey.Goal(sack)
        for q in target:
            g.install(q)
        for q in desired.installed:
            if q not in target:
                g.erase(q)
        if g.run(ignore_weak_deps=True) and set(goal_.final_set(g, desired.installed)) == target:
            out.append("%s would be moved to %s by the next run's distupgrade" % (nevra(p), nevra(b)))
    return out


def _best(desired: Any, avail: Any) -> Dict[Tuple[str, str], Any]:
    """Per (name, arch), what a distupgrade moves to: the newest version in the repositories of
    the best priority that offer the name (libsolv looks at lower priorities only without one)."""
    prio = {r.id: r.priority for r in desired.base.repos.iter_enabled()}
    out: Dict[Tuple[str, str], Any] = {}
    for p in avail:
        k = (p.name, p.arch)
        o = out.get(k)
        if o is None:
            out[k] = p
            continue
        a, b = prio.get(p.reponame, 99), prio.get(o.reponame, 99)
        if a < b or (a == b and p.evr_cmp(o) > 0):
            out[k] = p
    return out
