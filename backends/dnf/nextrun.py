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
from typing import Any, Dict, List, Set, Tuple

from .base import nevra

# goals solved for the distupgrade check at most, so a pathological plan stays cheap
_MAX_MOVES = 32


def problems(desired: Any, goal: Any) -> List[str]:
    """What the next run would still change, as sentences (empty at a fixed point)."""
    from . import prune

    if not prune.changes_installed(goal):
        return []
    final = desired.final(goal)
    out = []
    roots = {p for p in final if _marked_next_time(desired, p)} | set(desired.running)
    if not desired.request.userpkgs:
        reached = prune.reach(goal.sack, final, roots)
        if reached is not None and desired.request.process_obsoletes:
            # an obsoleter that stands in for a declared name satisfies that name's job
            # (PackageB-Obsoleter for PackageB): the next run keeps it and what it needs
            subs = {
                p
                for p in final
                if p not in reached and prune.stands_in_for(goal.sack, p, desired.declared_names)
            }
            roots |= subs
            reached = prune.reach(goal.sack, final, roots) if subs else reached
        if reached is not None:
            out += ["%s would be removed by the next run: nothing the declared set needs requires it"
                    % nevra(p) for p in final if p not in reached]  # fmt: skip
    hidden = list(desired.hidden)
    desired.unhide(hidden)  # the next run starts without what this one's prune hid
    try:
        out += _moves(desired, final)
        if not out and not desired.request.userpkgs:
            if desired.request.process_obsoletes:  # what stands in for a declared name is kept
                roots |= {p for p in final if p.name not in desired.declared_names
                          and prune.stands_in_for(goal.sack, p, desired.declared_names)}  # fmt: skip
            out += _conditions(desired, goal, final, roots)
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
    # install-only packages are never moved by a distupgrade (new versions go beside them)
    io = set(goal_.installonly(desired, final))
    lagging = [p for p in final if count[(p.name, p.arch)] == 1 and p not in io
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


def _conditions(desired: Any, goal: Any, final: List[Any], roots: Set[Any]) -> List[str]:
    """The next run's own guesses: a planned package only a condition keeps (`prune.condition_only`)
    is erased by the next run if the rest of the planned set stays installable without it, with
    whatever this plan took out free to come back. That is solved for real, one small goal per
    candidate (the rest of the planned set kept as it is). Where two states each lead to the
    other (`(pc if ml else pd)`: with ml, pd is a mere condition; without it, ml is), no plan
    converges, and this names it."""
    import hawkey

    from . import goal as goal_
    from . import prune

    cands = [p for p in prune.condition_only(goal, final, roots) if not desired.fulfils(p)]
    if not cands:
        return []
    planned = set(final)
    avail = {nevra(p) for p in desired.sack.query().available()
             .filter(name=sorted({p.name for p in desired.installed}))}  # fmt: skip
    out = []
    for c in cands[:_MAX_MOVES]:
        g = hawkey.Goal(desired.sack)
        for q in planned - {c}:
            g.install(q)
        for q in desired.installed:
            # what this plan takes out may come back only from a repository; the candidate's
            # name and arch goes whole (another version of it standing in is no removal)
            if (q.name, q.arch) == (c.name, c.arch) or (q not in planned and nevra(q) not in avail):
                g.erase(q)
        offered = list(desired.sack.query().available().filter(name=c.name, arch=c.arch))
        desired.hide(offered)
        try:
            ok = g.run(ignore_weak_deps=not desired.request.install_weak_deps, allow_uninstall=True)
        finally:
            desired.unhide(offered)
        if not ok:
            continue
        after = set(goal_.final_set(g, desired.installed))
        if c not in after and planned - {c} <= after:
            out.append("%s would be removed by the next run: it only makes a condition true, and without it "
                       "the declared set resolves differently" % nevra(c))  # fmt: skip
    return out
