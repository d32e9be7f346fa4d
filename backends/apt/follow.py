"""How a pin holds when apt will not move a package by itself: apt's resolver only ever tries a
package's candidate (and drops a candidate it cannot install), so spma moves the rest, within the
same solve: a pinned (or errata-bound) package pulls what it needs at an exact version — the
siblings of one source, openssh-server -> openssh-client (= v) — up or down; a package a pin
breaks steps down to the best version installable with it, pulling its own siblings along.

The order of these moves is what makes one run converge (docs/apt-backend.md, "One plan
converges"): an installed package apt removed is put back first, a declared package steps
down last, so a run from the state this plan leaves takes the same decisions again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Set, Tuple

from .marks import Key, deb_key, set_candidate

if TYPE_CHECKING:
    from .marks import Desired


class Follow:
    def __init__(self, desired: Desired) -> None:
        self.d = desired

    def run(self) -> None:
        """Put back what apt removed, pull for the pinned and declared, step the broken down,
        until nothing moves (bounded)."""
        # key -> (package, the version it must have)
        leaders: Dict[Key, Tuple[Any, Any]] = {k: (self.d.ac[k], v) for k, v in self.d.pinned.items()}
        for pkg, ver in self.d.errata.values():
            leaders.setdefault((pkg.name, pkg.architecture), (pkg, ver))
        fixed = {k: v for k, (_p, v) in leaders.items()}
        stepped: Set[Key] = set()  # moved down here, not pinned: may move further down
        # a declared package without a version leads at the best version too (its candidate):
        # apt drops a candidate whose needs only another package's older version meets
        # (`pe 2: Depends vx`, provided only by `pb 1` while pb's candidate is 2), and the
        # next run, with pe installed, would take it; it is not fixed and may step down
        for key, (pkg, _d) in self.d.declared.items():
            cand = self.d.dep.get_candidate_ver(pkg)
            if key not in leaders and cand is not None:
                leaders[key] = (pkg, cand)
                stepped.add(key)
        for _round in range(25):
            # in this order, each only when the one before moved nothing: an installed package
            # apt removed (for a conflict with an upgrade) is put back first, before anything is
            # pulled for the upgrade; then the pulls; then the broken undeclared packages step
            # down, and a declared package steps down last. What broke a package is often
            # another that apt moved: stepping it down (or pulling for it) before that one is put
            # back settles on a state a run from there would move again (two runs, not one)
            removed, undeclared, declared = self._levels(self._broken(leaders, fixed, stepped))
            if self._step_all(removed, leaders, fixed, stepped):
                continue
            if self._pull(leaders, fixed):
                removed, undeclared, declared = self._levels(self._broken(leaders, fixed, stepped))
                if self._step_all(removed, leaders, fixed, stepped):
                    continue
                if not self._step_all(undeclared, leaders, fixed, stepped):
                    self._step_all(declared, leaders, fixed, stepped)
                continue
            if not (
                self._step_all(undeclared, leaders, fixed, stepped)
                or self._step_all(declared, leaders, fixed, stepped)
            ):
                break
        self._drop_unneeded_pulls()
        self._forget_stale_pulls()

    def _levels(self, broken: List[Any]) -> Tuple[List[Any], List[Any], List[Any]]:
        dep, declared = self.d.dep, self.d.declared
        removed = [p for p in broken if p.current_ver is not None and dep.marked_delete(p)
                   and (p.name, p.architecture) not in declared]  # fmt: skip
        put_back = {p.id for p in removed}
        rest = [p for p in broken if p.id not in put_back]
        return (
            removed,
            [p for p in rest if (p.name, p.architecture) not in declared],
            [p for p in rest if (p.name, p.architecture) in declared],
        )

    def _new_blockers(self, ver: Any) -> List[Any]:
        """Packages apt marked for a new install on its own (not declared, not pulled here)
        whose marked version conflicts with ver, or that ver conflicts with (or breaks)."""
        dep, ac = self.d.dep, self.d.ac
        me = ver.parent_pkg

        def new_auto(t: Any) -> bool:
            tp = t.parent_pkg
            key = (tp.name, tp.architecture)
            now = inst_ver(dep, tp)
            return (tp.id != me.id and tp.current_ver is None and now is not None and same(now, t)
                    and key not in self.d.declared and key not in self.d.pulled)  # fmt: skip

        out: Dict[int, Any] = {}
        for dtype in ("Conflicts", "Breaks"):
            for group in ver.depends_list.get(dtype, []):
                for d in group:
                    for t in d.all_targets():
                        if new_auto(t):
                            out[t.parent_pkg.id] = t.parent_pkg
        named = [me]
        for name, _pver, _prov in ver.provides_list:
            try:
                named.append(ac[(name, me.architecture)])
            except KeyError:
                continue
        for target in named:
            for d in target.rev_depends_list:
                if (
                    d.dep_type_untranslated in ("Conflicts", "Breaks")
                    and new_auto(d.parent_ver)
                    and any(same(t, ver) for t in d.all_targets())
                ):
                    out[d.parent_pkg.id] = d.parent_pkg
        return list(out.values())

    def _drop_unneeded_pulls(self) -> None:
        """A new install pulled for a need that is met without it now (an undeclared upgrade
        broke an alternative, pc was pulled for `pb: Depends pc | vx`, then the upgrade stepped
        back and vx is there again) is not installed: a run from the planned state would not
        pull it, and apt's garbage collection keeps any installed alternative."""
        dep = self.d.dep
        for _round in range(4):
            dropped = False
            for key, (puller, _v) in list(self.d.pullers.items()):
                tp = self.d.ac[key]
                t = inst_ver(dep, tp)
                # only what a pin pulled: a declared package's pulls settle with its version
                pinned = (puller.name, puller.architecture) in self.d.pinned
                if (
                    not pinned
                    or tp.current_ver is not None
                    or t is None
                    or key in self.d.declared
                    or self._needed(t)
                ):
                    continue
                dep.mark_keep(tp)
                self.d.pulled.pop(key, None)
                self.d.pullers.pop(key, None)
                dropped = True
            if not dropped:
                return

    def _needed(self, ver: Any) -> bool:
        """Does a version the marks leave installed have a Pre-Depends/Depends that only ver
        (its package, or a name it provides) meets?"""
        dep, me = self.d.dep, ver.parent_pkg
        named = [me]
        for name, _pver, _prov in ver.provides_list:
            try:
                named.append(self.d.ac[(name, me.architecture)])
            except KeyError:
                continue
        for target in named:
            for d in target.rev_depends_list:
                dtype = d.dep_type_untranslated
                pv = d.parent_ver
                if dtype not in ("PreDepends", "Depends") or pv.parent_pkg.id == me.id:
                    continue
                now = inst_ver(dep, pv.parent_pkg)
                if now is None or not same(now, pv):
                    continue
                for group in pv.depends_list.get(dtype, []):
                    if any(x.id == d.id for x in group) and not any(
                        t.parent_pkg.id != me.id and same_or_none(inst_ver(dep, t.parent_pkg), t)
                        for x in group
                        for t in x.all_targets()
                    ):
                        return True
        return False

    def _forget_stale_pulls(self) -> None:
        """A package pulled for a version that later stepped down (or for one that is no longer
        installed) is not "needed by" it: its reason is left to what needs it now."""
        dep = self.d.dep
        for key, (p, ver) in list(self.d.pullers.items()):
            now = inst_ver(dep, p)
            if now is None or not same(now, ver):
                self.d.pulled.pop(key, None)
                self.d.pullers.pop(key, None)

    def _step_all(self, broken: List[Any], leaders: Dict[Key, Tuple[Any, Any]], fixed: Dict[Key, Any],
                  stepped: Set[Key]) -> bool:  # fmt: skip
        moved = False
        for p in broken:
            key = (p.name, p.architecture)
            if key in stepped:  # what it needs exactly was itself stepped further down
                leaders.pop(key, None)
                fixed.pop(key, None)
            if self._step_down(p, leaders, fixed):
                stepped.add(key)
                moved = True
        return moved

    def _broken(
        self, leaders: Dict[Key, Tuple[Any, Any]], fixed: Dict[Key, Any], stepped: Set[Key]
    ) -> List[Any]:
        """Broken packages (or installed ones apt 2.6 marked for removal to install a pin: spma has
        deleted nothing yet) that may still move: not pinned, or stepped down but still unfit."""
        dep, out = self.d.dep, []  # type: Any, List[Any]
        if not dep.broken_count and not dep.del_count:  # nothing broken or deleted: no scan of the cache
            return out
        for p in self.d.ac.packages:
            key = (p.name, p.architecture)
            if (
                p.name in self.d.held
                or key in self.d.gone
                or not (dep.is_inst_broken(p) or (p.current_ver is not None and dep.marked_delete(p)))
            ):
                continue
            now = inst_ver(dep, p)
            if key not in leaders or (key in stepped and now is not None and (clashes(dep, now) or not all(
                    any(self._takeable(t, fixed) for d in g for t in d.all_targets()) for g in unmet(dep, now)))):  # fmt: skip
                out.append(p)
        return out

    def _takeable(self, v: Any, fixed: Dict[Key, Any], depth: int = 2) -> bool:
        """May the solve move v's package to v to satisfy a dependency? Only if what v itself
        needs and lacks can follow too (a few levels deep: a family is a short chain)."""
        p = v.parent_pkg
        now = inst_ver(self.d.dep, p)
        if now is not None and same(now, v):
            return True
        key = (p.name, p.architecture)
        if key in fixed:
            return same(fixed[key], v)
        current = p.current_ver is not None and same(p.current_ver, v)
        if p.name in self.d.held and not current:
            return False
        if not (v.downloadable or current) or not self.d.allowed(p, v):
            return False
        return depth <= 0 or all(
            any(self._takeable(t, fixed, depth - 1) for d in g for t in d.all_targets())
            for g in unmet(self.d.dep, v)
        )

    def _pull(self, leaders: Dict[Key, Tuple[Any, Any]], fixed: Dict[Key, Any]) -> bool:
        dep, moved = self.d.dep, False
        for key, (p, want) in list(leaders.items()):
            now = inst_ver(dep, p)
            must = now is not None or key in self.d.declared or key in self.d.pulled
            if want is not None and must and not same_or_none(now, want):
                target = want  # its mark did not take (apt drops such a candidate): retry with its needs
            elif now is not None and dep.is_inst_broken(p):
                target = now
                if key not in fixed and clashes(dep, now):
                    continue  # it steps down (or what it clashes with does): pulling for it would fix the wrong set
            else:
                continue
            for group in unmet(dep, target):
                moved = self._pull_group(p, target, group, leaders, fixed) or moved
            if not same_or_none(now, target):
                set_candidate(dep, p, target)
                dep.mark_install(p, True, key in self.d.declared)
                moved = moved or not same_or_none(inst_ver(dep, p), now)
        return moved

    def _pull_group(self, p: Any, ver: Any, group: List[Any], leaders: Dict[Key, Tuple[Any, Any]],
                    fixed: Dict[Key, Any]) -> bool:  # fmt: skip
        """Move the best target of the first alternative that has one; record who needed it."""
        dep = self.d.dep
        for d in group:
            # never its own other version (a Provides of it): that is a step, not a pull
            targets = [t for t in d.all_targets() if t.parent_pkg.id != p.id and self._takeable(t, fixed)]
            if not targets:
                continue
            t = max(targets, key=lambda v: deb_key(v.ver_str))
            tp = t.parent_pkg
            tkey = (tp.name, tp.architecture)
            before = inst_ver(dep, tp)
            if before is not None and same(before, t):
                return False
            set_candidate(dep, tp, t)
            dep.mark_install(tp, False, tkey in self.d.declared)  # its own needs: the next round
            rel = " (%s %s)" % (d.comp_type, d.target_ver) if d.target_ver else ""
            self.d.pulled[tkey] = "%s %s%s" % (p.name, ver.ver_str, rel)
            self.d.pullers[tkey] = (p, ver)
            leaders[tkey] = (tp, t)  # what it needs exactly follows too
            if (p.name, p.architecture) in fixed:
                # a pin's need is decided; what a declared package without a version pulled may
                # still move for another declared package's need
                fixed.setdefault(tkey, t)
            return True
        return False

    def _step_down(self, p: Any, leaders: Dict[Key, Tuple[Any, Any]], fixed: Dict[Key, Any]) -> bool:
        import apt_pkg

        dep = self.d.dep
        cand = dep.get_candidate_ver(p)
        deleting = dep.marked_delete(p)
        lower = [v for v in p.version_list if v.downloadable and self.d.allowed(p, v)
                 and (cand is None or apt_pkg.version_compare(v.ver_str, cand.ver_str) < (1 if deleting else 0))]  # fmt: skip
        lower.sort(key=lambda v: deb_key(v.ver_str), reverse=True)
        for v in lower:
            if deleting and p.current_ver is not None:
                # put back an installed package: what apt newly brought in on its own (for a
                # declared upgrade it then could not make) yields to it, or the installed
                # package comes back lower, a state the next run moves from again
                for blocker in self._new_blockers(v):
                    dep.mark_keep(blocker)
            set_candidate(dep, p, v)
            # no auto-install: apt would move a pinned package to fit this one; its needs are pulled
            dep.mark_install(p, False, (p.name, p.architecture) in self.d.declared)
            if dep.marked_delete(p):
                continue
            # fits as it is, or once what it needs exactly is pulled along (the next round)
            if not dep.is_inst_broken(p) or all(
                any(self._takeable(t, fixed) for d in g for t in d.all_targets()) for g in unmet(dep, v)
            ):
                leaders[(p.name, p.architecture)] = (p, v)
                fixed[(p.name, p.architecture)] = v  # decided: nothing pulls it elsewhere
                return True
        if deleting and not dep.marked_delete(p):
            dep.mark_delete(p, False)  # no version fits: leave it as apt had it
        return False


def same(a: Any, b: Any) -> bool:
    """The same version object (python-apt's Version wrappers do not compare reliably)."""
    return bool(a.parent_pkg.id == b.parent_pkg.id and a.id == b.id)


def same_or_none(a: Any, b: Any) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and same(a, b))


def inst_ver(dep: Any, pkg: Any) -> Any:
    """The version of pkg the depcache's marks leave installed (None: absent or removed)."""
    if dep.marked_delete(pkg):
        return None
    if (
        dep.marked_install(pkg)
        or dep.marked_upgrade(pkg)
        or dep.marked_downgrade(pkg)
        or dep.marked_reinstall(pkg)
    ):
        return dep.get_candidate_ver(pkg)
    return pkg.current_ver


def unmet(dep: Any, ver: Any) -> List[List[Any]]:
    """The Pre-Depends/Depends or-groups of ver that the marked state does not satisfy."""
    out = []
    for dtype in ("PreDepends", "Depends"):
        for group in ver.depends_list.get(dtype, []):
            if not any(
                inst_ver(dep, t.parent_pkg) is not None and same(inst_ver(dep, t.parent_pkg), t)
                for d in group
                for t in d.all_targets()
            ):
                out.append(group)
    return out


def clashes(dep: Any, ver: Any) -> bool:
    """Does ver conflict with (or break) a version the marked state installs? Pulling what it
    needs cannot mend that; only another version of it can."""
    for dtype in ("Conflicts", "Breaks"):
        for group in ver.depends_list.get(dtype, []):
            for d in group:
                for t in d.all_targets():
                    if t.parent_pkg.id == ver.parent_pkg.id:
                        continue
                    now = inst_ver(dep, t.parent_pkg)
                    if now is not None and same(now, t):
                        return True
    return False
