"""The whole desired state as one hawkey goal (DESIGN §4):

* sack excludes turn pins, glob constraints, profile excludes, bound errata pins and (without
  process_obsoletes) obsoleters into "not available", exactly as versionlock does;
* one install job per declared (name, arch, version), each a selector over the exact
  candidate packages, so `install(name)` can never silently pick an obsoleter;
* `distupgrade_all` moves every other package to what the repositories (the snapshot) offer,
  up or down;
* erase jobs for install-only versions that are no longer declared;
* `userinstalled` marks on declared and protected packages, so libsolv itself knows what
  the desired set needs.

libsolv can only say which installed packages are unneeded against a solved state, so with
`userpkgs` false the goal is run again with those packages erased, to a fixpoint (see
`Desired._prune` and the prune module).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from spma.errors import ResolveError
from spma.model import ErrataPin, PackageDecl, SolveRequest
from spma.policy import glob_for

from . import duplicates, prune, richdeps
from .base import evr, version_matches

if TYPE_CHECKING:
    from spma.explain import Problem

log = logging.getLogger("spma.dnf")
_MAX_PRUNE_ROUNDS = 32
_MAX_SPLIT = 8  # a failed guess of more packages is dropped whole


class Desired:
    """The goal for one request on one filled sack; `solve()` runs it (twice without userpkgs)."""

    def __init__(self, base: Any, request: SolveRequest, binding: Mapping[str, ErrataPin]) -> None:
        self.base, self.request = base, request
        self.sack = sack = base.sack
        self.installed = sack.query().installed().apply()
        self.decls = [d for d in request.packages if not d.is_glob]
        self.globs = [d for d in request.packages if d.is_glob and d.versions]
        self.declared_names = {d.name for d in self.decls}
        self.protected = self.installed.filter(name__glob=list(request.protected))
        # without process_obsoletes: the obsoleters only that rule excludes (see _exclusions)
        self.held_obsoleters: List[Any] = []
        self.running = self._running_kernel_pkgs()
        excludes = self._exclusions()
        for name, pin in binding.items():
            of_name = sack.query().available().filter(name=name)
            wanted = [p for p in of_name if version_matches(p, pin.evr)]
            excludes = excludes.union(of_name.difference(of_name.filter(pkg=wanted)))
        sack.add_excludes(excludes)
        self.q = sack.query()  # respects the excludes from here on
        self.available = self.q.available()
        self.binding = binding
        _check_declarations(sack, self.q, self.decls, request, binding)
        self.keep = set(self.protected) | set(self.running)
        # the copies of a package an interrupted rpm transaction left (duplicates.copies)
        self.copies: Dict[Tuple[str, str], List[Any]] = {}
        self.leftovers: List[Any] = []
        # what the prune hid from the sack for the rest of the solve (not the profile's excludes)
        self.hidden: List[Any] = []
        # of those, the older versions of lagging newcomers (see _prefer_best)
        self.preferred: List[Any] = []
        self._arches: Optional[Dict[str, Set[str]]] = None  # declared name -> arches (fulfils)
        self._final: Optional[Tuple[Any, List[Any]]] = None  # the last goal asked, and its final_set

    def final(self, goal: Any) -> List[Any]:
        """final_set of a solved goal against this desired state's installed packages, made once
        for the goal asked last: the prune asks it of the same goal four or five times a round.
        Every goal here is built anew and run once, so what it lists cannot change. Only the last
        goal is held (a solver's memory each), and compared by identity: it is kept alive with
        its answer, so no other goal can take its place at the same address."""
        if self._final is None or self._final[0] is not goal:
            self._final = (goal, final_set(goal, self.installed))
        return list(self._final[1])

    def _running_kernel_pkgs(self) -> Any:
        inst, rk = self.installed, self.request.running_kernel
        if not rk:
            return inst.filter(empty=True)
        by_prov = inst.filter(provides="kernel-uname-r = %s" % rk)
        matches = [p for p in inst.filter(name__glob=["kernel*"]) if rk in (
            "%s-%s.%s" % (p.version, p.release, p.arch), "%s-%s" % (p.version, p.release))]  # fmt: skip
        return by_prov.union(inst.filter(pkg=matches))

    def _exclusions(self) -> Any:
        avail = self.sack.query().available()
        excl = avail.filter(empty=True)
        if self.request.excludes:
            excl = excl.union(avail.filter(name__glob=list(self.request.excludes)))
        for d in self.decls:
            if d.versions:
                of_name = avail.filter(name=d.name)
                keep = [p for p in of_name if any(version_matches(p, v) for v in d.versions)]
                excl = excl.union(of_name.difference(of_name.filter(pkg=keep)))
        pinned = sorted(d.name for d in self.decls if d.versions)
        for g in self.globs:
            matching = avail.filter(name__glob=g.name)
            # A version declared for the exact name wins over a glob constraint on it; an
            # unversioned declaration is exactly what the constraint is there to bind.
            matching = matching.difference(matching.filter(name=pinned))
            keep = [p for p in matching if any(version_matches(p, v) for v in g.versions)]
            excl = excl.union(matching.difference(matching.filter(pkg=keep)))
        if not self.request.process_obsoletes:
            # what would be replaced is what the host ends with: an installed package at the
            # version the snapshot moves it to (pa-2 obsoleting pb < 2 replaces nothing once pb
            # moves to 2; excluding it now would only delay it to the next run)
            names = sorted(self.declared_names)
            newest = avail.filter(name=sorted({p.name for p in self.installed})).latest()
            have = {(p.name, p.arch) for p in newest}
            staying = self.installed.filter(pkg=[p for p in self.installed if (p.name, p.arch) not in have])
            targets = newest.union(staying).union(avail.filter(name=names))
            held = avail.filter(obsoletes=targets).difference(avail.filter(name=names))
            if held:
                other = set(excl)
                self.held_obsoleters = [p for p in held if p not in other]
            excl = excl.union(held)
        return excl

    def _marked(self) -> Any:
        if self.request.userpkgs:
            marked = self.installed
        else:
            # a declared name counts in the declared arches only (and noarch)
            decl_pkgs = [p for p in self.installed.filter(name=sorted(self.declared_names))
                         if _arch_ok(p, self.decls)]  # fmt: skip
            marked = self.installed.filter(pkg=decl_pkgs).union(self.protected)
        return marked.union(self.running)

    def _stale_installonly(self) -> List[Any]:
        io_inst = installonly(self, list(self.installed))
        exact = {d.name: d for d in self.decls if d.versions}
        out = []
        for p in io_inst:
            d = exact.get(p.name)
            if d is not None:
                if not any(version_matches(p, v) for v in d.versions):
                    out.append(p)
                continue
            if p.name in self.declared_names and not glob_for(p.name, self.globs):
                continue
            if any(g.matches_name(p.name) and not any(version_matches(p, v) for v in g.versions)
                   for g in self.globs):  # fmt: skip
                out.append(p)
        return [p for p in out if p not in self.keep]

    def _declare(self, goal: Any, d: PackageDecl) -> None:
        """One job per (name, arch, version), over the exact candidates."""
        import hawkey

        if not d.versions and not d.arches and not self.request.process_obsoletes:
            # a name job: a package set per declaration costs a pass over the whole pool
            goal.install(select=hawkey.Selector(self.sack).set(name=d.name))
            return
        for arch in d.arches or (None,):
            cands = self.q.filter(name=d.name)
            if arch is not None:
                cands = cands.filter(arch=[arch, "noarch"])
            if d.versions:
                for v in d.versions:
                    match = [p for p in cands if version_matches(p, v)]
                    goal.install(select=hawkey.Selector(self.sack).set(pkg=match))
                continue
            if self.request.process_obsoletes:
                cands = cands.union(prune.replacing_obsoleters(self.q, cands, d.name, arch))
            goal.install(select=hawkey.Selector(self.sack).set(pkg=cands))

    def _build(self, marked: Any, stale_io: List[Any]) -> Any:
        import hawkey

        goal = hawkey.Goal(self.sack)
        for d in self.decls:
            self._declare(goal, d)
        # install-only versions no longer declared (the running kernel always stays)
        for p in stale_io:
            goal.erase(p)
        for p in self.leftovers:
            goal.erase(p)
        # everything else follows the snapshot, up or down
        goal.distupgrade_all()
        # tell libsolv what the desired set is, so it can tell what that set needs
        for p in marked:
            goal.userinstalled(p)
        return goal

    def solve(self) -> Any:
        """The solved goal of the desired state."""
        request = self.request
        marked = self._marked()
        stale_io = self._stale_installonly()
        # Not force_best: a package that depends on a pinned one must be free to follow the pin
        # down to the best version that is installable with it (dup picks the best it can).
        flags = dict(allow_uninstall=True, force_best=False, ignore_weak_deps=not request.install_weak_deps)
        self.leftovers = duplicates.leftovers(self.copies, {})
        goal = self._build(marked, stale_io)
        if not goal.run(**flags):
            raise unsolvable(goal, request, self.binding)
        final = {(p.name, p.arch): evr(p) for p in self.final(goal)}
        again = duplicates.leftovers(self.copies, final)
        if set(again) != set(self.leftovers):
            self.leftovers = again
            goal = self._build(marked, stale_io)
            if not goal.run(**flags):
                raise unsolvable(goal, request, self.binding)
        if _release_moot_obsoleters(self, goal):
            goal = self._build(marked, stale_io)
            if not goal.run(**flags):
                raise unsolvable(goal, request, self.binding)
        if request.userpkgs:
            return goal
        return self._prune(goal, lambda: self._build(marked, stale_io), flags, self.keep | set(marked))

    def _guesses(self, goal: Any, keep: Set[Any], seen: Set[Any]) -> List[Any]:
        """Packages that may be unneeded although libsolv keeps them (see prune)."""
        guess: List[Any] = []
        final = self.final(goal)
        if not self.request.install_weak_deps:
            guess = _weak_only(goal, self.installed, final, keep, seen)
        guess += prune.condition_only(goal, final, keep)
        guess += prune.unrequired_newcomers(goal, final, self.request.install_weak_deps, self.declared_names)
        guess += prune.other_arches(goal, final, keep, self.request.packages)
        out = self._candidates(goal, guess, seen)
        if out or not prune.changes_installed(goal):
            return out
        return self._candidates(goal, prune.unreached(goal, final, keep | _meeting(self, final)), seen)

    def _candidates(self, goal: Any, guess: List[Any], seen: Set[Any]) -> List[Any]:
        # A package this plan moves is guessed as the installed copy: hiding the new version
        # would only pin the old one (ml needed either way, ml-2 a mere condition: ml stayed
        # at 1 and the next run's distupgrade moved it).
        moved = []
        for p in guess:
            olds = [] if p.installtime else [o for o in goal.obsoleted_by_package(p)
                                             if o.installtime and (o.name, o.arch) == (p.name, p.arch)]  # fmt: skip
            moved.extend(olds or [p])
        # Never what a job asked for (a declared package that is also some condition), nor a
        # package of a declared (name, arch): when the distupgrade already moves the installed
        # copy, libsolv does not credit the job with it, and an obsoleter of both arches is
        # then listed as a newcomer nothing asked for.
        return sorted({p for p in moved if p not in seen and not prune.asked(goal, p)
                       and not self.fulfils(p)}, key=str)  # fmt: skip

    def fulfils(self, p: Any) -> bool:
        """A package of a declared (name, arch); an unarched declaration counts the native arch."""
        if self._arches is None:
            import hawkey

            native = (hawkey.detect_arch(),)
            self._arches = {}
            for d in self.decls:
                self._arches.setdefault(d.name, set()).update(d.arches or native)
        arches = self._arches.get(p.name)
        return arches is not None and (p.arch == "noarch" or p.arch in arches)

    def _prune(self, goal: Any, build: Any, flags: Dict[str, bool], keep: Set[Any]) -> Any:
        """Erase what the desired set does not need, to a fixpoint, in this one plan.

        libsolv says what is unneeded only against the installed state, and that state still
        holds what is about to go: with `Requires: (milk if (flour or oat))`, milk stays needed
        while oat is installed, even in the solve that erases oat. So each round erases what is
        known to be unneeded and solves again, until a round finds nothing new. What only spma
        can see (prune's candidates) is tried as a guess: if erasing it makes the goal
        unsolvable or takes a kept package with it, it stays. Each round only grows the erased
        set, so this ends; a handful of rounds in practice.
        """
        erased: List[Any] = []
        guessed: List[Any] = []
        rejected: Set[Any] = set()
        released: Set[Any] = set()
        preferred: Set[Tuple[str, str]] = set()
        for _round in range(_MAX_PRUNE_ROUNDS):
            seen = set(erased) | set(guessed) | rejected
            unneeded = _still_unneeded(
                self.final(goal),
                [p for p in goal.list_unneeded() if p not in keep and p not in seen],
            )
            guess = [] if unneeded else self._guesses(goal, keep, seen)
            if not unneeded and not guess:
                lagging = [p for p in _lagging(self, goal) if (p.name, p.arch) not in preferred]
                if not lagging:
                    if not _release_moot_obsoleters(self, goal):
                        return goal
                    # what the prune took out held an obsoleter back: solve again with it
                    again = _erasing(build(), erased, guessed)
                    if not again.run(**flags):
                        return goal
                    goal = again
                    continue
                preferred.update((p.name, p.arch) for p in lagging)
                goal = _prefer_best(self, goal, build, flags, erased, guessed, lagging) or goal
                continue
            erased.extend(unneeded)
            # Guesses that fail together may hold one by one (pb-2 and pd-1 each unneeded while
            # the other stays): then each is tried alone, installed packages first, as the next
            # run (where libsolv itself lists the installed ones) would settle it.
            batches = [guess]
            while batches:
                batch = batches.pop(0)
                staying = set(self.final(goal))
                goal, now = self._second_pass(build, flags, erased, guessed, batch, staying, released)
                if now is not None:
                    released.update(p for p in guessed if p not in now)
                    guessed = now
                elif 1 < len(batch) <= _MAX_SPLIT:
                    batches = [
                        [p] for p in sorted(batch, key=lambda p: (not p.installtime, str(p)))
                    ] + batches
                else:
                    rejected.update(batch)
        raise ResolveError(
            "removing what the declared set does not need did not settle after %d rounds"
            % _MAX_PRUNE_ROUNDS,
            hint="this is a bug in spma or a pathological repository; run with --debug and report it",
        )

    def hide(self, pkgs: List[Any]) -> None:
        if pkgs:
            self.sack.add_excludes(pkgs)
            prune.recompute_considered(self.sack)
            self.hidden.extend(pkgs)

    def unhide(self, pkgs: List[Any]) -> None:
        if pkgs:
            self.sack.remove_excludes(pkgs)  # never one the profile excludes: those were not visible
            prune.recompute_considered(self.sack)
            gone = set(pkgs)
            self.hidden = [p for p in self.hidden if p not in gone]

    def _second_pass(self, build: Any, flags: Dict[str, bool], unneeded: List[Any], accepted: List[Any],
                     guess: List[Any], staying: Set[Any], released: Set[Any]) -> Tuple[Any, Optional[List[Any]]]:  # fmt: skip
        """Run the goal again with what the desired set does not need erased; (goal, the guesses
        erased from now on, or None when the new guess did not hold).

        An installed package an earlier guess erased may be what the new guess needs instead
        (pb requires `(ml if pc else pd)`: erasing pd first leaves pc needed; the next run,
        without pd, would erase pc and install pd). Such an earlier guess is released once,
        and its package may be guessed again later: the plan ends where the next run would."""
        hide = _hidden(self.sack, guess, staying)
        soft = [p for p in accepted if not p.installtime or p in released]
        # (erase jobs, whether the best versions _prefer_best kept alone are offered again)
        attempts = [(accepted + guess, False)]
        if guess and len(soft) < len(accepted) and all(p.installtime for p in guess):
            # (a newcomer nothing needs never outweighs an installed package the next run's
            # libsolv itself would list as unneeded)
            attempts.append((soft + guess, False))
        if guess and self.preferred:
            # the next run starts with the lagging newcomer installed: its older versions are
            # open to it again (pe-2 taken over pe-1, then erasing pb needs pe-1 back)
            attempts.append((soft + guess, True))
        for attempt, lift in attempts + [(accepted, False)] if guess else [(accepted, False)]:
            if attempt is not accepted:
                self.hide(hide)
            if lift:
                self.unhide(self.preferred)
            goal = _erasing(build(), unneeded, attempt)
            ok = goal.run(**flags)
            gone = set(goal.list_erasures()) | set(goal.list_obsoleted()) if ok else set()
            if ok and not gone & self.keep:
                if lift:
                    self.preferred = []
                return goal, (attempt if attempt is not accepted else None)
            if attempt is accepted:
                raise unsolvable(goal, self.request, self.binding)
            # A guess was wrong (something hard-requires it after all): drop it.
            log.debug("pruning of %s failed; keeping them", ", ".join(map(str, guess)))
            self.unhide(hide)
            if lift:
                self.hide(self.preferred)
        raise AssertionError("unreachable")


def _release_moot_obsoleters(d: Desired, goal: Any) -> bool:
    """Un-hide the obsoleters held back only for a package this plan takes out anyway (pd-2
    obsoletes pb < 2, and pb leaves because the declared pa-2 obsoletes it): from the planned
    set, the next run would move to them. Whether any was released."""
    import hawkey

    if not d.held_obsoleters or not prune.changes_installed(goal):
        return False  # the packages they were held for all stay
    q = d.sack.query(flags=hawkey.IGNORE_EXCLUDES)
    targets = q.filter(pkg=d.final(goal)).union(q.available().filter(name=sorted(d.declared_names)))
    still = set(q.filter(pkg=d.held_obsoleters).filter(obsoletes=targets))
    moot = [p for p in d.held_obsoleters if p not in still]
    if not moot:
        return False
    d.sack.remove_excludes(moot)
    prune.recompute_considered(d.sack)
    d.held_obsoleters = [p for p in d.held_obsoleters if p not in set(moot)]
    return True


def _lagging(d: Desired, goal: Any) -> List[Any]:
    """Packages the plan brings in below the best version the repositories offer for their
    name and arch. Once installed, the next run's distupgrade moves them up and may settle
    a conflict the other way (pc-1 taken because pc-2 needs ml, which conflicts with the
    pe-2 the plan moves to; from the planned set, pc goes to 2 and pe back to 1)."""
    if not (goal.list_upgrades() or goal.list_downgrades()):
        return []  # no installed package moves: nothing the next run could settle otherwise
    news = [p for p in goal.list_installs() if not goal.obsoleted_by_package(p)]
    if not news:
        return []
    avail = d.sack.query().available().filter(name=sorted({p.name for p in news}))
    best = {(p.name, p.arch): p for p in avail.latest()}
    # never a declared version, nor an install-only version beside another of its name
    pinned = {x.name for x in d.decls if x.versions}
    final = d.final(goal)
    count: Dict[Tuple[str, str], int] = {}
    for p in final:
        count[(p.name, p.arch)] = count.get((p.name, p.arch), 0) + 1
    io = set(installonly(d, news))
    return [p for p in news if (p.name, p.arch) in best and p.evr_cmp(best[(p.name, p.arch)]) < 0
            and p.name not in pinned and count.get((p.name, p.arch), 0) == 1 and p not in io]  # fmt: skip


def _prefer_best(d: Desired, current: Any, build: Any, flags: Dict[str, bool], erased: List[Any],
                 guessed: List[Any], lagging: List[Any]) -> Optional[Any]:  # fmt: skip
    """The goal solved again as the next run would see it, with only the best version of each
    lagging newcomer; None (and nothing hidden) when that is unsolvable, costs a kept
    package, or changes which packages meet the declarations (with process_obsoletes, pc-2
    may obsolete a declared pe: the next run would not follow that)."""
    hide: List[Any] = []
    for p in lagging:
        of = d.sack.query().available().filter(name=p.name, arch=p.arch)
        hide.extend(of.difference(of.latest()))
    before = _declared_by(d, d.final(current))
    d.hide(hide)
    d.preferred = d.preferred + hide
    goal = _erasing(build(), erased, guessed)
    if (goal.run(**flags) and not (set(goal.list_erasures()) | set(goal.list_obsoleted())) & d.keep
            and _declared_by(d, d.final(goal)) == before):  # fmt: skip
        return goal
    log.debug("the best versions of %s do not fit; keeping the plan", ", ".join(map(str, lagging)))
    d.unhide(hide)
    d.preferred = [p for p in d.preferred if p not in set(hide)]
    return None


def _declared_by(d: Desired, final: List[Any]) -> Set[Tuple[str, str]]:
    """(name, arch) of the planned packages that meet a declaration (see _meeting)."""
    return {(p.name, p.arch) for p in _meeting(d, final)}


def _meeting(d: Desired, final: List[Any]) -> Set[Any]:
    """The planned packages that meet a declaration, themselves or (process_obsoletes) as
    an obsoleter standing in for one (pd-2 for a declared pa it obsoletes)."""
    out = set(filter(d.fulfils, final))
    if d.request.process_obsoletes:
        out |= {p for p in final if p.name not in d.declared_names
                and prune.stands_in_for(d.sack, p, d.declared_names)}  # fmt: skip
    return out


def _hidden(sack: Any, guess: List[Any], staying: Set[Any]) -> List[Any]:
    """What is not installed cannot be erased (an erase job on it pins the old state): it is
    hidden from the sack for the rest of this solve instead, every arch of it, or libsolv takes
    the other arch's copy as the obsoleter; but never a copy the plan keeps."""
    names = sorted({p.name for p in guess if not p.installtime})
    hide = sack.query().available().filter(name=names).run() if names else []
    return [p for p in hide if p in guess or p not in staying]


def _erasing(goal: Any, unneeded: List[Any], attempt: List[Any]) -> Any:
    import hawkey

    for p in unneeded:
        goal.erase(p)
    for p in attempt:
        if p.installtime:
            goal.erase(p, clean_deps=True)
    newcomers = [p for p in attempt if not p.installtime]
    if newcomers:
        # libsolv 0.7.23 follows a rich recommendation even into excluded packages
        goal.add_exclude_from_weak(goal.sack.query(flags=hawkey.IGNORE_EXCLUDES).filter(pkg=newcomers))
    return goal


def _still_unneeded(final: List[Any], unneeded: List[Any]) -> List[Any]:
    """libsolv's unneeded list judges the installed packages alone: one a new declared package
    requires (r0m0 -> r0m1 (= v) -> r0m2, r0m2 installed but no longer declared) is on it, and
    erasing it makes the declared set unsolvable. Keep whatever the rest of the final set needs."""
    if not unneeded:
        return []
    gone = set(unneeded)
    wanted: Set[str] = set()
    pending = [p for p in final if p not in gone]
    while pending:
        for p in pending:
            for r in p.requires:
                dep = str(r)
                if not richdeps.is_rich(dep):
                    wanted.add(dep.split()[0])
                    continue
                # every name a rich requirement mentions (pb-2: `(ml if pb)`)
                e = richdeps.parse_or_none(dep)
                wanted.update(leaf.split()[0] for leaf in (richdeps.leaves(e) if e is not None else ()))
        back = [p for p in gone if any(str(c).split()[0] in wanted for c in p.provides)]
        gone.difference_update(back)
        pending = back
    return [p for p in unneeded if p in gone]


def _arch_ok(pkg: Any, decls: List[PackageDecl]) -> bool:
    for d in decls:
        if d.name == pkg.name and (not d.arches or pkg.arch in d.arches or pkg.arch == "noarch"):
            return True
    return False


def installonly(desired: Any, pkgs: List[Any]) -> List[Any]:
    """The install-only packages among `pkgs` (by name or by what they provide, as dnf counts)."""
    names = list(desired.base.conf.installonlypkgs)
    if not names or not pkgs:
        return []
    q = desired.sack.query().filter(pkg=pkgs)
    return list(q.filter(name=names).union(q.filter(provides=names)))


def final_set(goal: Any, installed: Any) -> List[Any]:
    """The installed packages after the goal's transaction."""
    incoming = (list(goal.list_installs()) + list(goal.list_upgrades()) + list(goal.list_downgrades())
                + list(goal.list_reinstalls()))  # fmt: skip
    leaving = set(goal.list_erasures()) | set(goal.list_obsoleted())
    for p in incoming:
        leaving.update(goal.obsoleted_by_package(p))
    return [p for p in installed if p not in leaving] + incoming


def _weak_candidates(final: List[Any], cand_q: Any, inst_set: Set[str], skip: Set[str]) -> Set[Any]:
    cands: Set[Any] = set()
    for p in final:
        if p.supplements and p.name in inst_set and p.name not in skip:
            cands.add(p)
        for rec in p.recommends:
            for w in cand_q.filter(provides=rec):
                if w.name not in skip and w != p:
                    cands.add(w)
    return cands


def _weak_only(goal: Any, installed: Any, final: List[Any], keep: Set[Any], unneeded: Set[Any]) -> List[Any]:
    """Installed, undeclared packages that stay only because something recommends or
    supplements them. libsolv's cleandeps follows weak deps unconditionally, so without
    install_weak_deps spma must find these itself (DESIGN §4.8). A candidate may be moving
    up or down in this very run: then the installed package it replaces is what goes."""
    final_q = goal.sack.query().filter(pkg=final)
    # only what is installed now can be weak-only (new installs never pull weak deps here)
    inst_names = sorted({p.name for p in installed})
    cand_q = final_q.filter(name=inst_names)
    if not cand_q:
        return []
    skip = {p.name for p in keep} | {p.name for p in unneeded}
    cands = _weak_candidates(final, cand_q, set(inst_names), skip)
    needed: Set[Any] = set()
    changed = bool(cands)
    while changed:
        changed = False
        staying = [p for p in final if p not in cands or p in needed]
        for w in sorted(cands - needed, key=str):
            # an alternative of a rich requirement that another staying package meets is not
            # a need (pancake: (milk or soymilk), recommends milk)
            if prune.hard_requirers(goal.sack, w, staying + [w]):
                needed.add(w)
                changed = True
    out = []
    for w in sorted(cands - needed, key=str):
        if w in installed:
            out.append(w)
        else:
            out.extend(o for o in goal.obsoleted_by_package(w) if o in installed and o.name == w.name)
    return out


def _check_declarations(sack: Any, q: Any, decls: List[PackageDecl], request: SolveRequest,
                        binding: Mapping[str, ErrataPin]) -> None:  # fmt: skip
    import hawkey

    # spma.explain (and its dataclasses) only when a declaration fails, in the helpers that word
    # it: a plan that resolves never imports it
    unfiltered = sack.query(flags=hawkey.IGNORE_EXCLUDES)
    problems: List[Problem] = []
    # one query for every declared name, not one hawkey filter per declaration
    by_name: Dict[str, List[Any]] = {}
    names = sorted({d.name for d in decls})
    for p in q.filter(name=names) if names else ():
        by_name.setdefault(p.name, []).append(p)
    for d in decls:
        cands = by_name.get(d.name, [])
        if d.arches:
            cands = [p for p in cands if p.arch in d.arches or p.arch == "noarch"]
        if cands:
            missing = [v for v in d.versions if not any(version_matches(p, v) for p in cands)]
            if missing:
                problems.append(_missing_version(d, missing, unfiltered.filter(name=d.name)))
            continue
        everywhere = unfiltered.filter(name=d.name)
        if not everywhere:
            problems.append(_unknown_name(d, unfiltered))
        elif d.arches and not everywhere.filter(arch=list(d.arches) + ["noarch"]):
            problems.append(_other_arch(d, everywhere))
        elif d.versions:
            problems.append(_missing_version(d, d.versions, everywhere))
        else:
            problems.append(_excluded(d, everywhere, request, binding))
    if problems:
        from spma import explain

        raise ResolveError(
            explain.message("the profile declares packages the repositories cannot provide", problems),
            hint="fix the declarations or point the repositories at a snapshot that has them",
            problems=[p.to_json() for p in problems],
        )


def _unknown_name(d: PackageDecl, unfiltered: Any) -> Any:
    from spma import explain, pan

    providers = sorted({p.name for p in unfiltered.filter(provides=d.name)})
    if providers:
        # on EL9 `vim` is provided by vim-enhanced, `nc` by nmap-ncat: dnf installs those for the
        # capability, spma wants package names so the installed set matches the profile
        return explain.declaration(
            "provided-by", d, "%s is not a package name; provided by %s" % (d.name, ", ".join(providers)),
            fixes=["declare %s at `/software/packages/%s` instead of `%s`" % (n, pan.escape(n), d.where)
                   for n in providers[:3]])  # fmt: skip
    return explain.declaration(
        "unknown-name", d, "%s: no package of that name in the enabled repositories" % d.name,
        fixes=["remove `%s`, or add a repository that has %s" % (d.where, d.name)])  # fmt: skip


def _other_arch(d: PackageDecl, everywhere: Any) -> Any:
    from spma import explain

    return explain.declaration(
        "arch", d, "%s: not available for arch %s" % (d.name, ",".join(d.arches)),
        details=["available for: %s" % ", ".join(sorted({p.arch for p in everywhere}))])  # fmt: skip


def _excluded(
    d: PackageDecl, everywhere: Any, request: SolveRequest, binding: Mapping[str, ErrataPin]
) -> Any:
    from spma import explain

    from . import problems as problems_

    return explain.excluded(request, "rpm", d, [problems_.pkg(p) for p in everywhere.available()], binding)


def _missing_version(d: PackageDecl, missing: Iterable[str], everywhere: Any) -> Any:
    from spma import explain

    have = sorted({evr(p) for p in everywhere})
    fixes = ["declare %s %s at `%s` instead" % (d.name, v, d.where) for v in reversed(have[-2:])]
    return explain.declaration(
        "missing-version", d, _missing_version_msg(d, missing, everywhere), fixes=fixes
    )


def _missing_version_msg(d: PackageDecl, missing: Iterable[str], everywhere: Any) -> str:
    have = sorted({evr(p) for p in everywhere})
    shown = ", ".join(have[-8:]) if have else "none"
    return "%s: declared version %s not found (available: %s)" % (d.name, ", ".join(missing), shown)


def unsolvable(goal: Any, request: SolveRequest, binding: Mapping[str, ErrataPin]) -> ResolveError:
    from spma import explain

    from . import problems as problems_

    rules = ["; ".join(p) if isinstance(p, list) else str(p) for p in goal.problem_rules()]
    log.debug("libsolv problems: %s", rules)
    try:
        problems = explain.explain(request, "rpm", problems_.facts(goal, request), binding)
    except Exception:  # noqa: BLE001 - an explanation must never hide the error it explains
        log.debug("could not explain the problems", exc_info=True)
        problems = []
    if not problems:
        problems = [explain.solver_text(rules or ["(no details from libsolv)"])]
    return ResolveError(
        explain.message("the declared package set cannot be resolved", problems),
        hint="the problems above name the declarations involved and the changes that would solve them",
        problems=[p.to_json() for p in problems],
    )
