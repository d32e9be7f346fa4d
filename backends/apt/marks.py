"""The desired state as apt marks, in one ActionGroup: declared packages (a pinned version
becomes the candidate explicitly, up or down), every other installed package moved to the best
version the sources offer (the snapshot, even when lower), and — without userpkgs — every
undeclared package marked automatic, so apt's own garbage collection (the one `apt autoremove`
uses) removes what the declared set does not need. The auto/manual marks are written with the
transaction, so a later plain `apt autoremove` agrees with the profile."""

from __future__ import annotations

import fnmatch
import functools
import logging
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from spma.errors import ResolveError
from spma.model import ErrataPin, PackageDecl, SolveRequest

log = logging.getLogger("spma.apt")


def _problems() -> Any:
    """backends/apt/problems, and spma.explain with it, only when something fails: a plan that
    resolves never imports them."""
    from . import problems

    return problems


Key = Tuple[str, str]


def deb_key(v: str) -> Any:
    import apt_pkg

    return functools.cmp_to_key(apt_pkg.version_compare)(v)


def same_version(a: str, b: str) -> bool:
    import apt_pkg

    return bool(apt_pkg.version_compare(a, b) == 0)


def set_candidate(dep: Any, pkg: Any, ver: Any) -> None:
    """dep.set_candidate_ver, without leaving apt's dependency states stale.

    On a package marked for install, a new candidate also becomes the version to install, and
    apt (pkgDepCache::Update, 2.6) then recomputes the dependencies on what the *new* version
    provides, never on what the replaced one provided: `pd 2` (Provides: vx) swapped for
    `pd 1` leaves every `Depends: vx` counted as satisfied, the resolver sees nothing broken
    and dpkg refuses the transaction. Keeping the package first makes apt recompute them while
    the old version is still the candidate; the caller marks the new one."""
    old = dep.get_candidate_ver(pkg)
    if (
        old is not None
        and old.provides_list
        and old.id != ver.id
        and (dep.marked_install(pkg) or dep.marked_upgrade(pkg) or dep.marked_downgrade(pkg))
    ):
        dep.mark_keep(pkg)
    dep.set_candidate_ver(pkg, ver)


class Desired:
    def __init__(self, cache: Any, request: SolveRequest, binding: Mapping[str, ErrataPin], held: Set[str],
                 arches: List[str]) -> None:  # fmt: skip
        self.cache, self.request, self.held, self.arches = cache, request, held, arches
        self.ac, self.dep = cache._cache, cache._depcache
        self.decls = [d for d in request.packages if not d.is_glob]
        self.globs = [d for d in request.packages if d.is_glob and d.versions]
        self.binding = binding
        self.problems: List[str] = []
        # declared name -> the downloadable versions the profile's filters hide (for the message)
        self.hidden: Dict[str, List[Any]] = {}
        self.held_pins: List[str] = []
        self.pinned: Dict[Key, Any] = {}  # declared with a version -> that version
        self.pulled: Dict[Key, str] = {}  # moved for an exact-version dependency -> "NAME VER (= VER)"
        self.pullers: Dict[Key, Tuple[Any, Any]] = {}  # -> (the package, the version) that pulled it
        self.declared: Dict[Key, Tuple[Any, PackageDecl]] = {}
        for d in self.decls:
            for pkg, why in self._lookup(d):
                if pkg is None:
                    self.problems.append(why)
                else:
                    self.declared[(pkg.name, pkg.architecture)] = (pkg, d)
        # found once: the scans below need only the installed packages (none in a fresh root), not 63,000;
        # no walk at all when the cache read an empty dpkg status (a fresh root: nothing installed)
        self._installed = (
            [p for p in self.ac.packages if p.current_ver is not None]
            if any(pf.size for pf in self.ac.file_list if pf.not_source)
            else []
        )
        # backends/apt/touched.py: the cache's order, the new installs found last, the last answer
        self._ids: Optional[List[int]] = None
        self._new: Optional[Dict[int, Any]] = None
        self._touched: Optional[Tuple[Tuple[int, ...], List[Any]]] = None
        self.protected = self._protected()
        # garbage found by an earlier round, marked for removal before anything else (see solve)
        self.gone: Set[Key] = set()
        # pkg_ronly: an errata version becomes the candidate; it binds what ends up installed
        # (declared, kept, or pulled in as a dependency) and adds nothing by itself
        self.errata: Dict[str, Tuple[Any, Any]] = {}
        for name, pin in binding.items():
            try:
                pkg = self.ac[name]
            except KeyError:
                continue
            ver = next(
                (v for v in pkg.version_list if v.downloadable and same_version(v.ver_str, pin.evr)), None
            )
            if ver is not None:
                self.errata[name] = (pkg, ver)

    def order(self) -> List[int]:
        """Every package id in the cache's own (hash table) order: one walk, the first time."""
        if self._ids is None:
            self._ids = [p.id for p in self.ac.packages]
        return self._ids

    def _lookup(self, d: PackageDecl) -> List[Tuple[Any, str]]:
        name, _, arch = d.name.partition(":")
        arches: List[Optional[str]] = [arch] if arch else (list(d.arches) or [None])
        out = []
        for a in arches:
            if a and a not in ("all", "any") and a not in self.arches:
                out.append((None, "%s: architecture %s is not enabled in the root (dpkg --add-architecture %s)"
                            % (d.name, a, a)))  # fmt: skip
                continue
            key = (name, a) if a and a not in ("all", "any") else name
            try:
                pkg = self.ac[key]
            except KeyError:
                pkg = None
            if pkg is None or not pkg.has_versions:
                providers = sorted({v.parent_pkg.name for _n, _v, v in (pkg.provides_list if pkg else [])})
                if providers:  # a virtual package: apt would pick a provider, spma wants the name
                    out.append((None, "%s: %s is not a package name; provided by %s"
                                % (d.name, d.name, ", ".join(providers))))  # fmt: skip
                else:
                    out.append((None, "%s: no package of that name in the enabled sources" % d.name))
            else:
                out.append((pkg, ""))
        return out

    def _protected(self) -> Set[Key]:
        # keyed by (name, arch): python-apt's Package wrappers do not compare reliably in sets
        rk = self.request.running_kernel
        running = "linux-image-%s" % rk if rk else None
        out = set()
        for pkg in self._installed:
            if pkg.current_ver is None:
                continue
            if (pkg.essential or pkg.name == running
                    or any(fnmatch.fnmatchcase(pkg.name, w) for w in self.request.protected)):  # fmt: skip
                out.add((pkg.name, pkg.architecture))
        return out

    def allowed(self, pkg: Any, ver: Any) -> bool:
        if any(fnmatch.fnmatchcase(pkg.name, x) for x in self.request.excludes):
            return False
        for g in self.globs:
            if g.matches_name(pkg.name) and not any(same_version(ver.ver_str, v) for v in g.versions):
                return False
        return True

    def best(self, pkg: Any) -> Optional[Any]:
        """The best version the sources offer (even below the installed one): the snapshot; an
        errata pin replaces it."""
        import apt_pkg

        pinned = self.errata.get(pkg.name)
        if pinned is not None and pinned[0].architecture == pkg.architecture:
            return pinned[1]
        best = None
        for v in pkg.version_list:
            if not v.downloadable or not self.allowed(pkg, v):
                continue
            if best is None or apt_pkg.version_compare(v.ver_str, best.ver_str) > 0:
                best = v
        return best

    def _wanted_version(self, pkg: Any, d: PackageDecl) -> Optional[Any]:
        if not d.versions:
            best = self.best(pkg)
            if best is None and pkg.current_ver is None:
                self.hidden[d.name] = [_problems().pkg(v) for v in pkg.version_list if v.downloadable]
                self.problems.append("%s: excluded or not downloadable from the enabled sources" % d.name)
            return best or pkg.current_ver
        if len(d.versions) > 1:
            self.problems.append(
                "%s: several versions declared; apt installs one version of a package" % d.name
            )
            return None
        want = d.versions[0]
        for v in pkg.version_list:
            if same_version(v.ver_str, want) and (v.downloadable or v == pkg.current_ver):
                return v
        have = sorted({v.ver_str for v in pkg.version_list}, key=deb_key)
        self.problems.append(
            "%s: declared version %s not found (available: %s)" % (d.name, want, ", ".join(have[-6:]))
        )
        return None

    def _mark_declared(self, pkg: Any, d: PackageDecl) -> None:
        dep = self.dep
        ver = self._wanted_version(pkg, d)
        if ver is None:
            return
        if d.versions:
            self.pinned[(pkg.name, pkg.architecture)] = ver
        if pkg.current_ver is None or pkg.current_ver.ver_str != ver.ver_str:
            if pkg.name in self.held:
                self.held_pins.append("%s: held with apt-mark hold at %s, but the profile needs %s"
                                      % (pkg.name, pkg.current_ver.ver_str if pkg.current_ver else "-",
                                         ver.ver_str))  # fmt: skip
                return
            set_candidate(dep, pkg, ver)
            dep.mark_install(pkg, True, True)
        else:
            # already there: still the candidate, or auto-installing another package's
            # upgrade could drag this one away from its declared version
            set_candidate(dep, pkg, ver)
            if not dep.marked_install(pkg):
                dep.mark_keep(pkg)
        dep.mark_auto(pkg, False)

    def _mark(self) -> None:
        import apt_pkg

        dep = self.dep
        with apt_pkg.ActionGroup(dep):  # type: ignore[attr-defined]
            for pkg in self.ac.packages if self.gone else ():  # a scan of 63,000 packages: only when needed
                if (pkg.name, pkg.architecture) in self.gone:
                    dep.mark_delete(pkg, False)
            for pkg, ver in self.errata.values():
                set_candidate(dep, pkg, ver)
            for pkg, d in self.declared.values():
                self._mark_declared(pkg, d)
            if self.problems:
                raise _problems().declaration_error(
                    self.decls, self.problems, self.request, self.hidden, self.binding
                )
            if self.held_pins:
                raise ResolveError(
                    "held packages stand in the way of the profile:\n  " + "\n  ".join(self.held_pins),
                    hint="release the hold with `apt-mark unhold NAME` (in the root: --root or chroot), or "
                    "declare the held version in the profile",
                )
            for pkg in self._installed:
                if pkg.current_ver is None:
                    continue
                key = (pkg.name, pkg.architecture)
                if key in self.declared or key in self.gone:
                    continue
                best = self.best(pkg)
                if (
                    best is not None
                    and best.ver_str != pkg.current_ver.ver_str
                    and pkg.name not in self.held
                ):
                    set_candidate(dep, pkg, best)
                    dep.mark_install(pkg, True, False)
                if not self.request.userpkgs:
                    dep.mark_auto(pkg, (pkg.name, pkg.architecture) not in self.protected)
            # apt 2.6's MarkInstall upgrades the installed reverse dependencies an upgrade would
            # break (an exact-version sibling), undoing the removal of garbage marked above:
            # what an earlier round found to be garbage stays marked for removal
            for pkg in self.ac.packages if self.gone else ():
                if (pkg.name, pkg.architecture) in self.gone and (
                    dep.marked_upgrade(pkg) or dep.marked_downgrade(pkg)
                ):
                    dep.mark_delete(pkg, False)

    def _follow(self) -> None:
        """apt's resolver never tries an older candidate: a pin pulls what it needs at an exact
        version and what it breaks steps down (backends/apt/follow.py)."""
        from .follow import Follow

        Follow(self).run()

    def _resolve(self) -> None:
        import apt_pkg

        ac, dep = self.ac, self.dep
        # the versions spma chose, before apt's resolver resets the candidate of what it gives up
        chosen = {(p.name, p.architecture): dep.get_candidate_ver(p) for p, _d in self.declared.values()}
        chosen.update({(p.name, p.architecture): v for p, v in self.errata.values()})
        pr = apt_pkg.ProblemResolver(dep)
        for pkg, _d in self.declared.values():
            pr.protect(pkg)
        try:
            # nothing broken and nothing installed (a fresh root): apt's resolver has nothing to fix
            # and no installed package to reinstate; it would only score the whole index
            if dep.broken_count or self._installed:
                pr.resolve(True)
        except SystemError as e:
            broken = ", ".join(sorted(p.name for p in ac.packages if dep.is_inst_broken(p))) or "-"
            raise self._unsolvable(
                chosen, "%s; broken: %s" % (str(e).strip() or "apt's resolver failed", broken)
            ) from e
        if dep.broken_count:
            raise self._unsolvable(chosen, "%d packages left broken" % dep.broken_count)
        # apt's resolver knows nothing of the profile's excludes: a dependency it pulled in from the
        # sources against them makes the request unsolvable, as on dnf (DESIGN §3: never installed)
        pulled = sorted(
            "%s:%s" % (p.name, p.architecture) for p in (ac.packages if self.request.excludes else ())
            if (p.name, p.architecture) not in self.declared
            and (dep.marked_install(p) or dep.marked_upgrade(p) or dep.marked_downgrade(p))
            and any(fnmatch.fnmatchcase(p.name, x) for x in self.request.excludes)
        )  # fmt: skip
        if pulled:
            raise self._unsolvable(chosen, "the resolver needs excluded packages: %s" % ", ".join(pulled))
        # apt may settle a conflict by dropping a declared package: that is a conflict to report
        dropped = [
            "%s:%s" % (p.name, p.architecture) for p, _d in self.declared.values()
            if dep.marked_delete(p) or (p.current_ver is None and not dep.marked_install(p))
        ]  # fmt: skip
        if dropped:
            raise self._unsolvable(chosen, "the declared packages cannot be installed together: %s (apt would drop "
                                   "them; for another architecture: the package is not Multi-Arch: same)"
                                   % ", ".join(sorted(dropped)))  # fmt: skip

    def _unsolvable(self, chosen: Dict[Key, Any], said: str) -> ResolveError:
        from spma import explain

        try:
            roots = [p for p, _d in self.declared.values()]
            facts = _problems().facts(self.dep, roots, chosen, self.request.excludes)
            found = explain.explain(self.request, "deb", facts, self.binding)
        except Exception:  # noqa: BLE001 - an explanation must never hide the error it explains
            log.debug("could not explain the problems", exc_info=True)
            found = []
        if not found:
            found = [explain.solver_text([said])]
        return ResolveError(
            explain.message("the declared package set cannot be resolved", found),
            hint="the problems above name the declarations involved and the changes that would solve them",
            problems=[p.to_json() for p in found],
        )

    def solve(self) -> None:
        """Mark, follow pins down, resolve, and (without userpkgs) collect the garbage, to a
        fixpoint: an upgrade apt held back because of a package that turns out to be garbage
        (photoapp2 2 conflicts with photoapp1, which nothing declared needs any more) is marked
        again with that garbage removed first, in the same plan, not on the next run."""

        for _round in range(8):
            self._mark()
            self._follow()
            self._resolve()
            if self.request.userpkgs:
                break
            dep = self.dep
            garbage = {(p.name, p.architecture) for p in self._installed
                       if dep.is_garbage(p) and (p.name, p.architecture) not in self.protected}  # fmt: skip
            if garbage <= self.gone or not self._held_back():
                break
            self.gone |= garbage
            dep.init()
        collect_garbage(self)
        from .fixpoint import converge

        converge(self)

    def _held_back(self) -> bool:
        """Is an installed, staying package (or a declared one) left below the version this run
        wants for it?"""
        dep = self.dep
        waiting = [p for p, _d in self.declared.values() if p.current_ver is None]
        for pkg in self._installed + waiting:
            key = (pkg.name, pkg.architecture)
            if (
                (pkg.current_ver is None and key not in self.declared)
                or dep.marked_delete(pkg)
                or dep.is_garbage(pkg)
                or pkg.name in self.held
            ):
                continue
            if key in self.declared:
                want = self._wanted_version(pkg, self.declared[key][1])
            else:
                want = self.best(pkg)
            now = dep.get_candidate_ver(pkg) if (dep.marked_install(pkg) or dep.marked_upgrade(pkg)
                                                 or dep.marked_downgrade(pkg)) else pkg.current_ver  # fmt: skip
            if want is not None and now is not None and want.ver_str != now.ver_str:
                return True
        return False

    def held_notes(self, required_by: Any) -> List[str]:
        """What a hold on an undeclared package keeps from happening, so the plan never says the
        host matches the profile while a hold quietly overrules it."""
        out: List[str] = []
        for pkg in self.ac.packages if self.held else ():
            if (
                pkg.name not in self.held
                or pkg.current_ver is None
                or (pkg.name, pkg.architecture) in self.declared
            ):
                continue
            cur = pkg.current_ver.ver_str
            best = self.best(pkg)
            what = []
            if best is not None and best.ver_str != cur:
                what.append("the sources offer %s" % best.ver_str)
            if not self.request.userpkgs and not required_by(pkg, self.dep):
                what.append("it is not declared and nothing installed needs it")
            if what:
                out.append("%s %s is held (apt-mark hold) and kept as it is: %s; `apt-mark unhold %s` lets "
                           "spma manage it" % (pkg.name, cur, "; ".join(what), pkg.name))  # fmt: skip
        return out


def collect_garbage(d: Desired) -> None:
    """Garbage out of the plan: installed packages nothing needs are removed (not protected,
    not held); a new install nothing declared needs any more is not made."""
    import apt_pkg

    if d.request.userpkgs:
        return
    from .touched import touched

    dep = d.dep
    # new installs: found through what the plan installs (touched), else by a walk of the whole cache;
    # in any order: each decision below reads only its own package's state
    found = touched(d, ordered=False) if dep.inst_count else d._installed
    pkgs = d.ac.packages if found is None else found
    # decided before marking: inside an action group apt's garbage flags hold still and each mark
    # changes only its own package, so the decisions are the ones made mark by mark; with none,
    # no group either (its release sweeps the whole cache again for garbage, ~12 ms, for nothing)
    marks = []
    for pkg in pkgs:
        if pkg.current_ver is None:
            # a new install nothing declared needs any more (pulled in for a version
            # that then moved): the next run would remove it again, so it never comes
            if dep.marked_install(pkg) and dep.is_garbage(pkg):
                marks.append((pkg, False))
        elif (
            dep.is_garbage(pkg)
            and (pkg.name, pkg.architecture) not in d.protected
            and pkg.name not in d.held  # a local hold is the admin's word: reported, kept
        ):
            marks.append((pkg, True))
    if not marks:
        return
    with apt_pkg.ActionGroup(dep):  # type: ignore[attr-defined]
        for pkg, remove in marks:
            if remove:
                dep.mark_delete(pkg, False)
            else:
                dep.mark_keep(pkg)
