"""A solved goal as the core's facts: one `Change` per package change, grouped into the units
(transaction elements) the deferral moves, and what obsoletes would have done."""

from __future__ import annotations

import dataclasses
import itertools
import operator
import re
from collections import defaultdict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from spma.bootonly import rpm_source_name
from spma.model import Change, ErrataPin

from . import prune, richdeps
from .base import evr, nevra, version_matches

_CAP = re.compile(r"^\s*([^\s()]+(?:\([^)]*\))?)")
_NAME = operator.attrgetter("name")


def units(goal: Any) -> List[Tuple[Optional[Any], List[Any]]]:
    """(new package or None, [installed packages it replaces or that go]) per transaction element."""
    out: List[Tuple[Optional[Any], List[Any]]] = []
    gone = set()
    for p in list(goal.list_installs()) + list(goal.list_upgrades()) + list(goal.list_downgrades()):
        olds = list(goal.obsoleted_by_package(p))
        gone.update(olds)
        out.append((p, olds))
    for p in goal.list_reinstalls():
        out.append((p, list(goal.obsoleted_by_package(p))))
    for o in list(goal.list_erasures()) + list(goal.list_obsoleted()):
        if o not in gone:
            gone.add(o)
            out.append((None, [o]))
    return out


def _separate(
    us: List[Tuple[Optional[Any], List[Any]]], leftovers: List[Any]
) -> List[Tuple[Optional[Any], List[Any]]]:
    """A leftover copy's erasure is a unit of its own: the repair never waits for boot with
    the change that moves the copy that stays."""
    if not leftovers:
        return us
    out = [(new, [o for o in olds if o not in leftovers]) for new, olds in us]
    out = [(new, olds) for new, olds in out if new is not None or olds]
    return out + [(None, [o]) for o in leftovers]


class RequiredBy:
    """Which packages of the final set require something a package provides (for `because`).

    Matched by dependency name (hawkey's Reldep.name), versions ignored, which is fine for an
    explanation and keeps a 5,000-package plan cheap; a rich (boolean) requirement or provide
    matches nothing. A kernel alone provides 30,000 symbols and modaliases, so a package's
    provides are only named and looked up, in C (attrgetter, the index's __contains__, compress),
    and only the few that some requirement names are turned into text.
    """

    def __init__(self, final: List[Any]) -> None:
        self._final = final
        self._index: Optional[Dict[str, Set[str]]] = None

    def _build(self) -> Dict[str, Set[str]]:
        idx: Dict[str, Set[str]] = defaultdict(set)
        for p in self._final:
            reqs = p.requires
            texts = list(map(str, reqs))
            rich = set(richdeps.rich_ones(texts))
            # the name of `(a or b)` is `a`: a rich requirement is left out, not read as one of its parts
            names = [r.name for r, t in zip(reqs, texts) if t not in rich] if rich else map(_NAME, reqs)
            for n in names:
                idx[n].add(p.name)
        return idx

    def who(self, pkg: Any) -> Tuple[str, ...]:
        if self._index is None:
            self._index = self._build()
        idx = self._index
        found: Set[str] = set()
        provs = pkg.provides
        for r in itertools.compress(provs, map(idx.__contains__, map(_NAME, provs))):
            if not richdeps.is_rich(str(r)):
                found |= idx[r.name]
        found.discard(pkg.name)
        return tuple(sorted(found))


class _BestAvailable:
    def __init__(self, available: Any) -> None:
        self._q = available
        self._cache: Dict[Tuple[str, str], Any] = {}

    def is_best(self, pkg: Any) -> bool:
        if not self._cache:
            # one query for every name.arch: a query per change is a pass over the pool each
            self._cache = {(p.name, p.arch): p for p in self._q.latest()}
        best = self._cache.get((pkg.name, pkg.arch))
        return best is None or bool(pkg.evr_cmp(best) >= 0)


class Facts:
    """The changes of one solved goal."""

    def __init__(self, goal: Any, final: List[Any], available: Any, binding: Mapping[str, ErrataPin],
                 keep: Set[Any], leftovers: Sequence[Any] = (), declared: Optional[Set[str]] = None) -> None:  # fmt: skip
        self.goal, self.binding, self.keep = goal, binding, keep
        self.final, self.declared = final, declared or set()
        self.leftovers = list(leftovers)
        self.units = _separate(units(goal), self.leftovers)
        self.unit_of: Dict[Any, int] = {}
        for i, (new, olds) in enumerate(self.units):
            for p in ([new] if new is not None else []) + olds:
                self.unit_of.setdefault(p, i)
        self.required_by = RequiredBy(final)
        self.best = _BestAvailable(available)
        self.obsoleted = set(goal.list_obsoleted())

    def _errata(self, p: Any) -> bool:
        pin = self.binding.get(p.name)
        return pin is not None and version_matches(p, pin.evr)

    def _incoming(
        self, kind: str, p: Any, old: Optional[Any], moved: bool, replaces: Tuple[str, ...] = ()
    ) -> Change:
        stands_in: Tuple[str, ...] = ()
        weak, recommenders = False, ()  # type: Tuple[bool, Tuple[str, ...]]
        if not moved and p.name not in self.declared:
            stands_in = tuple(prune.stands_in_for(self.goal.sack, p, self.declared))
            if prune.is_weak(self.goal, p, self.final):
                weak, recommenders = True, tuple(prune.recommenders(self.goal.sack, p, self.final))
        return Change(kind, p.name, p.arch, evr(old) if old is not None else None, evr(p), self.unit_of[p],
                      repository=p.reponame, required_by=self.required_by.who(p), replaces=replaces,
                      version_move=moved, best=not moved or self.best.is_best(p), errata=self._errata(p),
                      stands_in_for=stands_in, recommended=weak, recommended_by=recommenders,
                      size=p.downloadsize, installsize=p.installsize, source=rpm_source_name(p.sourcerpm))  # fmt: skip

    def _leaving(self, kind: str, o: Any, replaces: Tuple[str, ...] = ()) -> Change:
        return Change(kind, o.name, o.arch, evr(o), None, self.unit_of[o], replaces=replaces,
                      protected=o in self.keep, installsize=o.installsize, source=rpm_source_name(o.sourcerpm))  # fmt: skip

    def changes(self) -> List[Change]:
        goal = self.goal
        out: List[Change] = []
        upgrades = list(goal.list_upgrades())
        for p in upgrades + list(goal.list_downgrades()):
            # with duplicates in the rpmdb, the copy that stays is the one that moves
            olds = sorted(goal.obsoleted_by_package(p), key=lambda o: o in self.leftovers)
            old = next((o for o in olds if o.name == p.name), olds[0] if olds else None)
            # an install-only package "upgraded" keeps its old version installed
            kind = ("upgrade" if p in upgrades else "downgrade") if old is not None else "install"
            out.append(self._incoming(kind, p, old, True))
        for p in goal.list_reinstalls():
            out.append(
                Change("reinstall", p.name, p.arch, evr(p), evr(p), self.unit_of[p], repository=p.reponame)
            )
        for p in goal.list_installs():
            olds = goal.obsoleted_by_package(p)
            obs = tuple(sorted(nevra(o) for o in olds if o in self.obsoleted))
            same = [o for o in olds if o.name == p.name and o not in self.obsoleted]
            old = same[0] if same else None
            kind = "install" if old is None else "upgrade" if p.evr_cmp(old) > 0 else "downgrade"
            out.append(self._incoming(kind, p, old, False, obs))
        incoming = [u[0] for u in self.units if u[0] is not None]
        for o in self.obsoleted:
            by = tuple(sorted(nevra(p) for p in incoming if o in goal.obsoleted_by_package(p)))
            out.append(self._leaving("obsolete", o, by))
        out.extend(self._leaving("remove", p) for p in goal.list_erasures() if p not in self.obsoleted)
        return self._repairs(out + self._uncovered(out))

    def _repairs(self, out: List[Change]) -> List[Change]:
        """The leftover copies of a duplicate go as repairs, also one rpm erases while it
        installs the same name (then no erasure of its own is listed)."""
        gone = {(c.name, c.arch, c.from_evr): i for i, c in enumerate(out) if c.action == "remove"}
        for o in self.leftovers:
            i = gone.get((o.name, o.arch, evr(o)))
            c = out[i] if i is not None else self._leaving("remove", o)
            c = dataclasses.replace(c, unfinished="duplicate", repair=True)
            if i is None:
                out.append(c)
            else:
                out[i] = c
        return out

    def _uncovered(self, changes: List[Change]) -> List[Change]:
        """A change for every installed package the transaction takes out that no change names
        yet: rpm's obsoletes ignore arches, so an upgrade of lz4.i686 can take lz4.x86_64 with
        it, and a conflict can take out what no job mentioned. The plan must show each."""
        covered = {
            (c.name, c.arch, c.from_evr) for c in changes if c.from_evr is not None and c.action != "install"
        }
        out = []
        for new, olds in self.units:
            for o in olds:
                if (o.name, o.arch, evr(o)) in covered or not o.installtime:
                    continue
                covered.add((o.name, o.arch, evr(o)))
                if new is not None and (new.name, new.arch) != (o.name, o.arch):
                    out.append(self._leaving("obsolete", o, (nevra(new),)))
                else:
                    out.append(self._leaving("remove", o))
        return out


def would_obsolete(sack: Any, installed: Any) -> List[Tuple[str, str]]:
    """What obsoletes would have done, so the plan shows it even when it is not applied."""
    import hawkey

    allq = sack.query(flags=hawkey.IGNORE_EXCLUDES).available()
    pairs = set()
    for p in allq.filter(obsoletes=installed):
        names = [m.group(1) for m in (_CAP.match(str(r)) for r in p.obsoletes) if m]
        this = allq.filter(pkg=[p])
        for o in installed.filter(name=names):
            if this.filter(obsoletes=installed.filter(pkg=[o])):
                pairs.add((nevra(p), nevra(o)))
    return sorted(pairs)
