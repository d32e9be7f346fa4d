"""dnf backend: libdnf/hawkey through the dnf Python API, never the dnf command.

The whole desired state (DESIGN §4) is expressed as one hawkey goal:

* sack excludes turn pins, glob constraints, profile excludes and (without
  process_obsoletes) obsoleters into "not available", exactly as versionlock does;
* one install job per declared (name, arch, version), each a selector over the exact
  candidate packages, so `install(name)` can never silently pick an obsoleter;
* `distupgrade_all` moves every other package to what the repositories (the snapshot) offer,
  up or down;
* erase jobs for install-only versions that are no longer declared;
* `userinstalled` marks on declared and protected packages, so libsolv itself knows what
  the desired set needs.

libsolv can only say which installed packages are unneeded against a solved state, so with
`userpkgs` false the same goal is run a second time with those packages erased. Both runs
are libsolv solves of a few milliseconds; no Python transaction is built for a plan.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import logging
import os
import re
import shutil
from collections import defaultdict
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from spma.backend import ProgressFn
from spma.errors import RepoError, ResolveError, TransactionError
from spma.model import Action, ErrataPin, PackageDecl, Repository, Solution, SolveRequest, errata_because

log = logging.getLogger("spma.dnf")

# spma itself and the package manager it drives are never removed (DESIGN §4.4).
PROTECTED_NAMES = ("gpg-pubkey", "spma", "python3-spma", "dnf", "python3-dnf", "libdnf", "python3-libdnf",
                   "python3-hawkey", "rpm", "python3-rpm", "rpm-libs")  # fmt: skip
_DBPATHS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")


def create(*, root: str, statedir: str) -> DnfBackend:
    return DnfBackend(root=root, statedir=statedir)


def _reboot(errata: Dict[str, ErrataPin], pkg: Any, reason: str) -> bool:
    pin = errata.get(pkg.name)
    return bool(reason == "errata" and pin is not None and pin.reboot_suggested)


def _unsatisfied(query: Any, req: Any) -> bool:
    try:
        return not query.filter(provides=req)
    except Exception:  # noqa: BLE001 - rich dependencies: leave them to the verifying solve
        return False


def _first(query: Any, req: Any) -> Optional[Any]:
    try:
        got = query.filter(provides=req).run()
    except Exception:  # noqa: BLE001 - as above
        return None
    return got[0] if got else None


def _arch_ok(pkg: Any, decls: List[PackageDecl]) -> bool:
    for d in decls:
        if d.name == pkg.name and (not d.arches or pkg.arch in d.arches or pkg.arch == "noarch"):
            return True
    return False


def _evr(pkg: Any) -> str:
    vr = "%s-%s" % (pkg.version, pkg.release)
    return "%d:%s" % (pkg.epoch, vr) if pkg.epoch else vr


def _nevra(pkg: Any) -> str:
    return "%s-%s.%s" % (pkg.name, _evr(pkg), pkg.arch)


def _split_evr(spec: str) -> Tuple[Optional[str], str, Optional[str]]:
    epoch: Optional[str] = None
    if ":" in spec:
        epoch, spec = spec.split(":", 1)
    if "-" in spec:
        ver, rel = spec.rsplit("-", 1)
        return epoch, ver, rel
    return epoch, spec, None


def version_matches(pkg: Any, spec: str) -> bool:
    """Does `pkg` carry the declared version `spec` ([E:]V[-R], globs allowed)?

    Parts the profile leaves out (epoch, release) match anything; Quattor profiles usually
    carry no epoch. Exact parts are compared by rpm's own rules, never as strings.
    """
    import rpm

    if any(c in spec for c in "*?["):
        cands = ["%s-%s" % (pkg.version, pkg.release), "%d:%s-%s" % (pkg.epoch, pkg.version, pkg.release)]
        return any(fnmatch.fnmatchcase(c, spec) for c in cands)
    epoch, ver, rel = _split_evr(spec)
    if epoch is not None:
        try:
            if int(epoch) != pkg.epoch:
                return False
        except ValueError:
            return False
    mine = ("0", pkg.version, pkg.release if rel is not None else "0")
    want = ("0", ver, rel if rel is not None else "0")
    return bool(rpm.labelCompare(mine, want) == 0)


class DnfBackend:
    name = "dnf"

    def __init__(self, *, root: str, statedir: str) -> None:
        self.root = os.path.abspath(root)
        self.statedir = statedir
        self.cachedir = os.path.join(statedir, "cache", "dnf")
        self._base: Any = None
        self._pinned_dbpath = ""

    # -- setup ------------------------------------------------------------------------
    def _make_base(self, request: SolveRequest) -> Any:
        import dnf
        import rpm

        base = dnf.Base()
        # Debian's rpm puts the rpmdb under $HOME; dnf.Base() re-reads rpm's macros, so the
        # pin must come after it (backend-recipes §2.2).
        self._pinned_dbpath = self._dbpath()
        rpm.addMacro("_dbpath", self._pinned_dbpath)
        c = base.conf
        c.installroot = self.root
        c.cachedir = self.cachedir
        c.persistdir = os.path.join(self.root, "var/lib/dnf")
        c.logdir = os.path.join(self.statedir, "log")
        c.reposdir = []  # only the profile's repositories (DESIGN §4.5)
        c.varsdir = []
        c.pluginconfpath = []
        c.gpgcheck = False
        c.localpkg_gpgcheck = False
        c.install_weak_deps = request.install_weak_deps
        c.best = True
        c.obsoletes = request.process_obsoletes
        c.protected_packages = []  # protection is spma's rule, enforced as a safety check
        c.clean_requirements_on_remove = False
        c.assumeyes = True
        c.tsflags = []
        n_kernel_versions = max((len(d.versions) for d in request.packages if not d.is_glob), default=0)
        c.installonly_limit = max(3, n_kernel_versions + 1)
        rel = _detect_releasever(self.root)
        if rel:
            c.releasever = rel
            c.substitutions["releasever"] = rel
        # libdnf refuses None values; an empty root has no release to detect.
        for k in [k for k, v in c.substitutions.items() if v is None]:
            del c.substitutions[k]
        for d in (self.cachedir, c.logdir):
            os.makedirs(d, exist_ok=True)
        for repo in request.repositories:
            if repo.enabled:
                self._add_repo(base, repo)
        return base

    def _dbpath(self) -> str:
        for p in _DBPATHS:
            if os.path.exists(os.path.join(self.root, p.lstrip("/"), "rpmdb.sqlite")) or os.path.exists(
                os.path.join(self.root, p.lstrip("/"), "Packages")
            ):
                return p
        return _DBPATHS[0]

    def _add_repo(self, base: Any, repo: Repository) -> None:
        r = base.repos.add_new_repo(repo.name, base.conf, baseurl=list(repo.baseurls))
        r.gpgcheck = repo.gpgcheck
        r.gpgkey = list(repo.gpgkeys)
        if repo.priority is not None:
            r.priority = repo.priority
        if repo.proxy:
            r.proxy = repo.proxy
        r.excludepkgs = list(repo.excludepkgs)
        r.includepkgs = list(repo.includepkgs)
        r.skip_if_unavailable = repo.skip_if_unavailable
        if repo.sslcacert:
            r.sslcacert = repo.sslcacert
        if repo.sslclientcert:
            r.sslclientcert = repo.sslclientcert
        if repo.sslclientkey:
            r.sslclientkey = repo.sslclientkey
        r.sslverify = repo.sslverify
        # A snapshot URL can be repointed at any time: always re-check repomd.xml (what
        # `dnf --refresh` does). An unchanged repository keeps its cached .solv files.
        r.metadata_expire = 0
        if hasattr(r, "_repo"):
            r._repo.expire()
        r.enable()

    def _load(self, request: SolveRequest) -> Any:
        import dnf.exceptions

        if self._base is not None:
            self._base.close()
            self._base = None
        if not os.path.isdir(self.root):
            from spma.errors import ProfileError

            raise ProfileError("root %s does not exist or is not a directory" % self.root)
        base = self._make_base(request)
        try:
            base.fill_sack(load_system_repo=True, load_available_repos=True)
        except dnf.exceptions.RepoError as e:
            base.close()
            raise RepoError(
                "repository metadata could not be loaded: %s" % e,
                hint="check the repository URLs in the profile and that the mirror is reachable",
            ) from e
        except dnf.exceptions.Error as e:
            base.close()
            raise RepoError("could not load package metadata: %s" % e) from e
        self._base = base
        return base

    # -- fingerprints ---------------------------------------------------------------------
    def _repo_fingerprints(self, base: Any, request: SolveRequest) -> Tuple[Tuple[str, str], ...]:
        out = []
        for repo in request.repositories:
            if not repo.enabled:
                continue
            r = base.repos[repo.name]
            repomd = self._repomd_path(r)
            if repomd is None:
                digest = "unavailable"
            else:
                with open(repomd, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                if repo.metadata_sha256 and digest != repo.metadata_sha256:
                    raise RepoError(
                        "repository %s: repomd.xml has sha256 %s, the profile pins %s"
                        % (repo.name, digest, repo.metadata_sha256),
                        hint="the mirror no longer serves the pinned snapshot; fix the mirror or the profile",
                    )
            out.append((repo.name, "sha256:" + digest))
        return tuple(sorted(out))

    @staticmethod
    def _repomd_path(r: Any) -> Optional[str]:
        try:
            primary = r._repo.getMetadataPath("primary")
        except Exception:  # noqa: BLE001 - libdnf raises its own types for unloaded repos
            primary = ""
        if primary:
            p = os.path.join(os.path.dirname(primary), "repomd.xml")
            if os.path.exists(p):
                return p
        cdir = r._repo.getCachedir() if hasattr(r, "_repo") else ""
        p = os.path.join(cdir, "repodata", "repomd.xml")
        return p if os.path.exists(p) else None

    def installed_fingerprint(self) -> str:
        return self._installed_fingerprint()

    def _installed_fingerprint(self) -> str:
        """sha256 of the installed NEVRAs as rpm itself lists them; gpg-pubkey entries are left
        out, so importing a repository key does not make a saved plan stale."""
        h = hashlib.sha256()
        for s in self._rpmdb_nevras():
            if not s.startswith("gpg-pubkey-"):
                h.update(s.encode())
                h.update(b"\n")
        return "sha256:" + h.hexdigest()

    def quick_inputs(self, *, request: SolveRequest) -> Tuple[str, Tuple[Tuple[str, str], ...]]:
        """The installed and repository fingerprints without building a sack or solving: the
        agent's no-op check. Loading a repository re-checks its repomd.xml (cheap when unchanged)."""
        import dnf.exceptions

        base = self._make_base(request)
        try:
            for r in base.repos.iter_enabled():
                r.load()
            return self._installed_fingerprint(), self._repo_fingerprints(base, request)
        except dnf.exceptions.RepoError as e:
            raise RepoError("repository metadata could not be loaded: %s" % e) from e
        finally:
            base.close()

    # -- solve ----------------------------------------------------------------------------
    def solve(self, *, request: SolveRequest) -> Solution:
        import hawkey

        base = self._load(request)
        sack = base.sack
        installed = sack.query().installed().apply()
        inst_fp = self._installed_fingerprint()
        repo_fps = self._repo_fingerprints(base, request)

        decls = [d for d in request.packages if not d.is_glob]
        globs = [d for d in request.packages if d.is_glob and d.versions]
        declared_names = {d.name for d in decls}
        notes: List[str] = []

        protected = self._protected(sack, request)
        running = self._running_kernel_pkgs(sack, request)

        errata = self._effective_errata(sack, request, decls, globs, notes)

        # 1. what is not available this run: profile excludes, pins, constraints, errata, obsoleters
        excludes = self._exclusions(sack, request, decls, globs, declared_names)
        for name, pin in errata.items():
            of_name = sack.query().available().filter(name=name)
            wanted = [p for p in of_name if version_matches(p, pin.evr)]
            excludes = excludes.union(of_name.difference(of_name.filter(pkg=wanted)))
        sack.add_excludes(excludes)

        q = sack.query()  # respects the excludes from here on
        available = q.available()
        self._check_declarations(sack, q, decls)

        if request.userpkgs:
            marked = installed
        else:
            # a declared name counts in the declared arches only (and noarch)
            decl_pkgs = [p for p in installed.filter(name=sorted(declared_names)) if _arch_ok(p, decls)]
            marked = installed.filter(pkg=decl_pkgs).union(protected)
        marked = marked.union(running)
        stale_io = [p for p in self._stale_installonly(base, installed, decls, globs)
                    if p not in running and p not in protected]  # fmt: skip

        def build() -> Any:
            goal = hawkey.Goal(sack)
            # 2. declared packages: one job per (name, arch, version), over exact candidates
            for d in decls:
                for arch in d.arches or (None,):
                    cands = q.filter(name=d.name)
                    if arch is not None:
                        cands = cands.filter(arch=[arch, "noarch"])
                    if d.versions:
                        for v in d.versions:
                            match = [p for p in cands if version_matches(p, v)]
                            goal.install(select=hawkey.Selector(sack).set(pkg=match))
                    else:
                        if request.process_obsoletes:
                            # Only what obsoletes the installed or the newest candidates, as dnf
                            # does (bz1902279); installed obsoleters too, or libsolv would
                            # reinstall the repository copy.
                            targets = cands.installed().union(cands.available().latest())
                            cands = cands.union(q.filter(obsoletes=targets))
                        goal.install(select=hawkey.Selector(sack).set(pkg=cands))
            # 3. install-only versions no longer declared (the running kernel always stays)
            for p in stale_io:
                goal.erase(p)
            # 4. everything else follows the snapshot, up or down
            goal.distupgrade_all()
            # 5. tell libsolv what the desired set is, so it can tell what that set needs
            for p in marked:
                goal.userinstalled(p)
            return goal

        # Not force_best: a package that depends on a pinned one must be free to follow the pin
        # down to the best version that is installable with it (dup picks the best it can).
        flags = dict(allow_uninstall=True, force_best=False, ignore_weak_deps=not request.install_weak_deps)
        goal = build()
        if not goal.run(**flags):
            raise self._unsolvable(goal, request)
        if not request.userpkgs:
            keep = set(protected) | set(running) | set(marked)
            unneeded = [p for p in goal.list_unneeded() if p not in keep]
            weak_only: List[Any] = []
            if not request.install_weak_deps:
                weak_only = self._weak_only(goal, installed, keep, set(unneeded))
            if unneeded or weak_only:
                goal = self._second_pass(
                    build, flags, request, set(protected) | set(running), unneeded, weak_only
                )

        actions = self._actions(goal, installed, available, request, decls, globs, errata)
        if not request.process_obsoletes:
            notes.extend(self._obsolete_notes(sack, installed))
        never_remove = set(protected) | set(running)
        gone = set(goal.list_erasures()) | set(goal.list_obsoleted())
        return Solution(
            actions=tuple(sorted(actions, key=Action.sort_key)),
            protected_removals=tuple(sorted(_nevra(p) for p in gone & never_remove)),
            installed_fingerprint=inst_fp,
            repo_fingerprints=repo_fps,
            notes=tuple(notes),
            handle=goal,
        )

    def _second_pass(self, build: Any, flags: Dict[str, bool], request: SolveRequest, keep: Set[Any],
                     unneeded: List[Any], weak_only: List[Any]) -> Any:  # fmt: skip
        """Run the goal again with what the desired set does not need erased."""
        for guess in [weak_only, []] if weak_only else [[]]:
            goal = build()
            for p in unneeded:
                goal.erase(p)
            for p in guess:
                goal.erase(p, clean_deps=True)
            ok = goal.run(**flags)
            gone = set(goal.list_erasures()) | set(goal.list_obsoleted()) if ok else set()
            if ok and not gone & keep:
                return goal
            if not guess:
                raise self._unsolvable(goal, request)
            # A weak-only guess was wrong (something hard-requires it after all): drop it.
            log.debug("weak-only pruning of %s failed; keeping them", ", ".join(map(str, guess)))
        raise AssertionError("unreachable")

    @staticmethod
    def _final_set(goal: Any, installed: Any) -> List[Any]:
        """The installed packages after the goal's transaction."""
        incoming = (list(goal.list_installs()) + list(goal.list_upgrades()) + list(goal.list_downgrades())
                    + list(goal.list_reinstalls()))  # fmt: skip
        leaving = set(goal.list_erasures()) | set(goal.list_obsoleted())
        for p in incoming:
            leaving.update(goal.obsoleted_by_package(p))
        return [p for p in installed if p not in leaving] + incoming

    def _weak_only(self, goal: Any, installed: Any, keep: Set[Any], unneeded: Set[Any]) -> List[Any]:
        """Installed, undeclared packages that stay only because something recommends or
        supplements them. libsolv's cleandeps follows weak deps unconditionally, so without
        install_weak_deps spma must find these itself (DESIGN §4.8). A candidate may be moving
        up or down in this very run: then the installed package it replaces is what goes."""
        final = self._final_set(goal, installed)
        final_q = goal.sack.query().filter(pkg=final)
        # only what is installed now can be weak-only (new installs never pull weak deps here)
        inst_names = sorted({p.name for p in installed})
        cand_q = final_q.filter(name=inst_names)
        if not cand_q:
            return []
        inst_set = set(inst_names)
        keep_names = {p.name for p in keep}
        gone_names = {p.name for p in unneeded}
        cands: Set[Any] = set()
        for p in final:
            if (
                p.supplements
                and p.name in inst_set
                and p.name not in keep_names
                and p.name not in gone_names
            ):
                cands.add(p)
            for rec in p.recommends:
                for w in cand_q.filter(provides=rec):
                    if w.name not in keep_names and w.name not in gone_names and w != p:
                        cands.add(w)
        if not cands:
            return []
        needed: Set[Any] = set()
        changed = True
        while changed:
            changed = False
            requirers = final_q.filter(pkg=[p for p in final if p not in cands or p in needed])
            for w in sorted(cands - needed, key=str):
                if requirers.filter(requires=list(w.provides) + list(w.files)).filter(pkg__neq=[w]):
                    needed.add(w)
                    changed = True
        out = []
        for w in sorted(cands - needed, key=str):
            if w in installed:
                out.append(w)
            else:
                out.extend(o for o in goal.obsoleted_by_package(w) if o in installed and o.name == w.name)
        return out

    def _protected(self, sack: Any, request: SolveRequest) -> Any:
        inst = sack.query().installed()
        pats = list(PROTECTED_NAMES) + list(request.whitelist)
        return inst.filter(name__glob=pats)

    def _running_kernel_pkgs(self, sack: Any, request: SolveRequest) -> Any:
        inst = sack.query().installed()
        rk = request.running_kernel
        if not rk:
            return inst.filter(empty=True)
        by_prov = inst.filter(provides="kernel-uname-r = %s" % rk)
        matches = [p for p in inst.filter(name__glob=["kernel*"]) if rk in (
            "%s-%s.%s" % (p.version, p.release, p.arch), "%s-%s" % (p.version, p.release))]  # fmt: skip
        return by_prov.union(inst.filter(pkg=matches))

    def _effective_errata(self, sack: Any, request: SolveRequest, decls: List[PackageDecl],
                          globs: List[PackageDecl], notes: List[str]) -> Dict[str, ErrataPin]:  # fmt: skip
        """The errata pins that bind this run: a version the profile declares (exactly or through a
        versioned glob) wins; the set's kernel version binds the kernel family where offered."""
        if not request.errata and not request.errata_kernel:
            return {}
        pinned = {d.name for d in decls if d.versions}
        pins = {e.name: e for e in request.errata}
        avail = sack.query().available()
        if request.errata_kernel:
            kpins = {}
            for p in avail.filter(name__glob=["kernel", "kernel-*"]):
                if version_matches(p, request.errata_kernel):
                    kpins[p.name] = ErrataPin(
                        p.name, request.errata_kernel, (), ("kernel %s" % request.errata_kernel,)
                    )
            for n, pin in kpins.items():
                pins.setdefault(n, pin)
        installed_names = {p.name for p in sack.query().installed()}
        declared_names = {d.name for d in decls}
        out: Dict[str, ErrataPin] = {}
        missing = []
        for name in sorted(pins):
            pin = pins[name]
            if name in pinned or self._glob_for(name, globs):
                continue
            of_name = avail.filter(name=name)
            if not of_name:
                continue  # nothing of that name here: the set cannot add it anyway
            if not any(version_matches(p, pin.evr) for p in of_name):
                if name in declared_names or name in installed_names:
                    have = sorted({_evr(p) for p in of_name})
                    missing.append("%s: errata version %s not in the repositories (available: %s)"
                                   % (name, pin.evr, ", ".join(have[-6:])))  # fmt: skip
                else:
                    notes.append(
                        "errata version %s of %s is not in the repositories; not constrained"
                        % (pin.evr, name)
                    )
                continue
            out[name] = pin
        if missing:
            raise ResolveError(
                "the errata version set %s asks for versions the repositories do not offer:\n  %s"
                % (request.errata_id or "", "\n  ".join(missing)),
                hint="point the repositories at a snapshot that has the set's versions, or use an older set",
            )
        return out

    def _exclusions(self, sack: Any, request: SolveRequest, decls: List[PackageDecl], globs: List[PackageDecl],
                    declared_names: Set[str]) -> Any:  # fmt: skip
        avail = sack.query().available()
        excl = avail.filter(empty=True)
        if request.excludes:
            excl = excl.union(avail.filter(name__glob=list(request.excludes)))
        for d in decls:
            if d.versions:
                of_name = avail.filter(name=d.name)
                keep = [p for p in of_name if any(version_matches(p, v) for v in d.versions)]
                excl = excl.union(of_name.difference(of_name.filter(pkg=keep)))
        for g in globs:
            matching = avail.filter(name__glob=g.name)
            # A version declared for the exact name wins over a glob constraint on it; an
            # unversioned declaration is exactly what the constraint is there to bind.
            pinned = sorted(d.name for d in decls if d.versions)
            matching = matching.difference(matching.filter(name=pinned))
            keep = [p for p in matching if any(version_matches(p, v) for v in g.versions)]
            excl = excl.union(matching.difference(matching.filter(pkg=keep)))
        if not request.process_obsoletes:
            installed = sack.query().installed()
            targets = installed.union(avail.filter(name=sorted(declared_names)))
            obsoleters = avail.filter(obsoletes=targets).difference(
                avail.filter(name=sorted(declared_names))
            )
            excl = excl.union(obsoleters)
        return excl

    def _check_declarations(self, sack: Any, q: Any, decls: List[PackageDecl]) -> None:
        import hawkey

        unfiltered = sack.query(flags=hawkey.IGNORE_EXCLUDES)
        problems = []
        for d in decls:
            cands = q.filter(name=d.name)
            if d.arches:
                cands = cands.filter(arch=list(d.arches) + ["noarch"])
            if not cands:
                everywhere = unfiltered.filter(name=d.name)
                if not everywhere:
                    problems.append("%s: no package of that name in the enabled repositories" % d.name)
                elif d.arches and not everywhere.filter(arch=list(d.arches) + ["noarch"]):
                    problems.append("%s: not available for arch %s" % (d.name, ",".join(d.arches)))
                elif d.versions:
                    problems.append(self._missing_version_msg(d, d.versions, everywhere))
                else:
                    problems.append(
                        "%s: excluded by the profile's or the repository's exclude list" % d.name
                    )
                continue
            missing = [v for v in d.versions if not any(version_matches(p, v) for p in cands)]
            if missing:
                problems.append(self._missing_version_msg(d, missing, unfiltered.filter(name=d.name)))
        if problems:
            raise ResolveError(
                "the profile declares packages the repositories cannot provide:\n  " + "\n  ".join(problems),
                hint="fix the declarations or point the repositories at a snapshot that has them",
            )

    @staticmethod
    def _missing_version_msg(d: PackageDecl, missing: Iterable[str], everywhere: Any) -> str:
        have = sorted({_evr(p) for p in everywhere})
        shown = ", ".join(have[-8:]) if have else "none"
        return "%s: declared version %s not found (available: %s)" % (d.name, ", ".join(missing), shown)

    def _stale_installonly(self, base: Any, installed: Any, decls: List[PackageDecl],
                           globs: List[PackageDecl]) -> List[Any]:  # fmt: skip
        io_inst = installed.filter(provides=list(base.conf.installonlypkgs)).union(
            installed.filter(name=list(base.conf.installonlypkgs))
        )
        out = []
        exact = {d.name: d for d in decls if d.versions}
        for p in io_inst:
            d = exact.get(p.name)
            if d is not None:
                if not any(version_matches(p, v) for v in d.versions):
                    out.append(p)
                continue
            if p.name in {x.name for x in decls} and not self._glob_for(p.name, globs):
                continue
            for g in globs:
                if g.matches_name(p.name) and not any(version_matches(p, v) for v in g.versions):
                    out.append(p)
                    break
        return out

    def _unsolvable(self, goal: Any, request: SolveRequest) -> ResolveError:
        rules: List[str] = []
        for i, prob in enumerate(goal.problem_rules()):
            rules.append("problem %d: %s" % (i + 1, "; ".join(prob) if isinstance(prob, list) else prob))
        return ResolveError(
            "the declared package set cannot be resolved:\n  "
            + "\n  ".join(rules or ["(no details from libsolv)"]),
            hint="the problems above name the conflicting declarations; change a pin or the repositories",
        )

    @staticmethod
    def _obsolete_notes(sack: Any, installed: Any) -> List[str]:
        """What obsoletes would have done, so the plan shows it even when it is not applied."""
        import hawkey

        allq = sack.query(flags=hawkey.IGNORE_EXCLUDES).available()
        notes = set()
        for p in allq.filter(obsoletes=installed):
            names = [m.group(1) for m in (_CAP.match(str(r)) for r in p.obsoletes) if m]
            this = allq.filter(pkg=[p])
            for o in installed.filter(name=names):
                if this.filter(obsoletes=installed.filter(pkg=[o])):
                    notes.add("%s would replace %s (obsoletes); not applied because process_obsoletes is false"
                              % (_nevra(p), _nevra(o)))  # fmt: skip
        return sorted(notes)

    # -- plan conversion -----------------------------------------------------------------
    def _actions(self, goal: Any, installed: Any, available: Any, request: SolveRequest,
                 decls: List[PackageDecl], globs: List[PackageDecl],
                 errata: Dict[str, ErrataPin]) -> List[Action]:  # fmt: skip
        by_name = {d.name: d for d in decls}
        obsoleted = set(goal.list_obsoleted())
        installs = list(goal.list_installs())
        upgrades = list(goal.list_upgrades())
        downgrades = list(goal.list_downgrades())
        reinstalls = list(goal.list_reinstalls())
        erasures = list(goal.list_erasures())
        incoming = installs + upgrades + downgrades + reinstalls
        # the state after the transaction, for "required by" explanations
        final = self._final_set(goal, installed)
        required_by = _RequiredBy(final)
        best = _BestAvailable(available)

        acts: List[Action] = []

        def moved(kind: str, new: Any, old: Any) -> None:
            d = by_name.get(new.name)
            if d is not None and d.versions:
                reason, because = "declared", "declared pin %s" % ", ".join(d.versions)
            elif self._glob_for(new.name, globs):
                g = self._glob_for(new.name, globs)
                assert g is not None
                reason, because = "kernel", "constraint %s = %s" % (g.name, ", ".join(g.versions))
            elif new.name in errata and version_matches(new, errata[new.name].evr):
                reason, because = "errata", errata_because(errata[new.name], request.errata_id)
            elif best.is_best(new):
                reason, because = "sync", "repositories offer %s" % _evr(new)
            else:
                reason = "dependency"
                who = required_by.why(new)
                because = "best version installable with the declared pins" + (
                    "; required by %s" % who if who else ""
                )
            acts.append(Action(kind, new.name, new.arch, _evr(old) if old is not None else None, _evr(new),
                               reason, because, reboot_suggested=_reboot(errata, new, reason)))  # fmt: skip

        for p in upgrades + downgrades:
            kind = "upgrade" if p in upgrades else "downgrade"
            olds = goal.obsoleted_by_package(p)
            old = next((o for o in olds if o.name == p.name), olds[0] if olds else None)
            # an install-only package "upgraded" keeps its old version installed
            moved(kind if old is not None else "install", p, old)
        for p in reinstalls:
            acts.append(
                Action("reinstall", p.name, p.arch, _evr(p), _evr(p), "sync", "repository copy differs")
            )
        for p in installs:
            obs = [o for o in goal.obsoleted_by_package(p) if o in obsoleted]
            d = by_name.get(p.name)
            if obs:
                reason, because = "obsoleted", "replaces %s" % ", ".join(sorted(_nevra(o) for o in obs))
            elif d is not None and d.versions:
                reason, because = "declared", "declared pin %s" % ", ".join(d.versions)
            elif (
                p.name in errata
                and version_matches(p, errata[p.name].evr)
                and not self._glob_for(p.name, globs)
            ):
                reason, because = "errata", errata_because(errata[p.name], request.errata_id)
            elif d is not None:
                reason, because = "declared", "declared"
            elif self._glob_for(p.name, globs):
                reason, because = "kernel", "required by %s" % (required_by.why(p) or "the declared set")
            else:
                who = required_by.why(p)
                reason, because = "dependency", "required by %s" % (who or "the declared set")
            same_name_old = [
                o for o in goal.obsoleted_by_package(p) if o.name == p.name and o not in obsoleted
            ]
            old = same_name_old[0] if same_name_old else None
            kind = "install"
            if old is not None:
                kind = "upgrade" if p.evr_cmp(old) > 0 else "downgrade"
            acts.append(Action(kind, p.name, p.arch, _evr(old) if old is not None else None, _evr(p), reason, because,
                               reboot_suggested=_reboot(errata, p, reason)))  # fmt: skip
        for o in obsoleted:
            by = [p for p in incoming if o in goal.obsoleted_by_package(p)]
            acts.append(Action("obsolete", o.name, o.arch, _evr(o), None, "obsoleted",
                               "obsoleted by %s" % ", ".join(sorted(_nevra(p) for p in by))))  # fmt: skip
        declared_names = set(by_name)
        for p in erasures:
            if p in obsoleted:
                continue
            d = by_name.get(p.name)
            if d is not None and not _arch_ok(p, [d]):
                reason, because = (
                    "unmanaged",
                    "arch %s not declared (declared: %s)" % (p.arch, ", ".join(d.arches)),
                )
            elif d is not None and d.versions:
                reason, because = "kernel", "version not declared (declared: %s)" % ", ".join(d.versions)
            elif self._glob_for(p.name, globs) and p.name not in declared_names:
                g = self._glob_for(p.name, globs)
                assert g is not None
                reason, because = "kernel", "outside constraint %s = %s" % (g.name, ", ".join(g.versions))
            elif request.userpkgs or p.name in declared_names:
                reason, because = "dependency", "in the way of the declared set"
            else:
                reason, because = "unmanaged", "not declared"
            acts.append(Action("remove", p.name, p.arch, _evr(p), None, reason, because))
        return acts

    @staticmethod
    def _glob_for(name: str, globs: List[PackageDecl]) -> Optional[PackageDecl]:
        for g in globs:
            if g.matches_name(name):
                return g
        return None

    # -- boot-time deferral -------------------------------------------------------------
    @staticmethod
    def _changes(goal: Any) -> List[Tuple[Any, List[Any]]]:
        """(new package or None, [installed packages it replaces or that go]) per change."""
        out: List[Tuple[Any, List[Any]]] = []
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

    def split(self, *, solution: Solution, boot_only: Tuple[str, ...]) -> Solution:
        """The live part of a plan: every change to a boot-only package, and every change that
        needs one, is deferred; the rest is re-solved as its own transaction (DESIGN §6)."""
        import hawkey

        goal = solution.handle
        base = self._base
        if goal is None or base is None or not boot_only:
            return solution
        sack = base.sack
        changes = self._changes(goal)

        def risky(p: Any) -> Optional[str]:
            for g in boot_only:
                if fnmatch.fnmatchcase(p.name, g):
                    return g
            return None

        deferred: Dict[int, str] = {}
        for i, (new, olds) in enumerate(changes):
            for p in ([new] if new is not None else []) + olds:
                g = risky(p)
                if g:
                    deferred[i] = "boot-only %s" % g
                    break
        if not deferred:
            return solution
        installed = sack.query().installed()
        changed = True
        while changed:
            changed = False
            live = [c for i, c in enumerate(changes) if i not in deferred]
            leaving = {o for _n, olds in live for o in olds}
            live_new = [n for n, _o in live if n is not None]
            final = installed.filter(pkg=[p for p in installed if p not in leaving]).union(
                sack.query().filter(pkg=live_new)
            )
            later = sack.query().filter(pkg=[changes[i][0] for i in deferred if changes[i][0] is not None])
            staying_old = [o for i in deferred for o in changes[i][1]]
            # a live change whose new package needs what only a deferred one provides
            for i, (new, _olds) in enumerate(changes):
                if i in deferred or new is None:
                    continue
                for req in new.requires:
                    if _unsatisfied(final, req):
                        prov = _first(later, req)
                        deferred[i] = "needs %s %s" % (prov.name, _evr(prov)) if prov else "needs %s" % req
                        changed = True
                        break
            if changed:
                continue
            # a live removal that a package staying at its old version until boot still needs
            for i, (new, olds) in enumerate(changes):
                if i in deferred or new is not None:
                    continue
                for o in staying_old:
                    if any(
                        _unsatisfied(final, r) and _first(installed.filter(pkg=olds), r) for r in o.requires
                    ):
                        deferred[i] = "needed by %s %s until boot" % (o.name, _evr(o))
                        changed = True
                        break
        live_goal = self._live_goal(sack, [c for i, c in enumerate(changes) if i not in deferred])
        if live_goal is None:
            reason = "the live part is not consistent on its own"
            deferred = {i: deferred.get(i, reason) for i in range(len(changes))}
            live_goal = hawkey.Goal(sack)
        by_key: Dict[Tuple[str, str, Optional[str]], Optional[str]] = {}
        for i, (new, olds) in enumerate(changes):
            for p in ([new] if new is not None else []) + olds:
                by_key[(p.name, p.arch, _evr(p))] = deferred.get(i)
        acts = []
        for a in solution.actions:
            key = (a.name, a.arch, a.to_evr if a.to_evr is not None else a.from_evr)
            why = by_key.get(key)
            acts.append(dataclasses.replace(a, deferred=why is not None, defer_reason=why))
        deferred_handle = [c for i, c in enumerate(changes) if i in deferred]
        return dataclasses.replace(
            solution, actions=tuple(acts), handle=live_goal, deferred_handle=deferred_handle
        )

    @staticmethod
    def _live_goal(sack: Any, live: List[Tuple[Any, List[Any]]]) -> Optional[Any]:
        """The live changes as exact jobs, solved on their own; None unless libsolv returns
        exactly those changes (nothing pulled in, nothing uninstalled)."""
        import hawkey

        goal = hawkey.Goal(sack)
        want_new, want_gone = set(), set()
        for new, olds in live:
            if new is not None:
                goal.install(new)
                want_new.add(new)
            else:
                for o in olds:
                    goal.erase(o)
            want_gone.update(olds)
        if not goal.run(allow_uninstall=False, force_best=False, ignore_weak_deps=True):
            return None
        got_new = (
            set(goal.list_installs())
            | set(goal.list_upgrades())
            | set(goal.list_downgrades())
            | set(goal.list_reinstalls())
        )
        got_gone = set(goal.list_erasures()) | set(goal.list_obsoleted())
        for p in got_new:
            got_gone.update(goal.obsoleted_by_package(p))
        return goal if (got_new == want_new and got_gone == want_gone) else None

    def prefetch(self, *, solution: Solution, dest: str) -> List[Dict[str, str]]:
        """Download the deferred packages now (verified like any other) and keep them in `dest`
        for a boot with no network. Returns what the boot run needs to know of each change."""
        base = self._base
        changes = solution.deferred_handle or []
        new_pkgs = [n for n, _o in changes if n is not None]
        os.makedirs(dest, exist_ok=True)
        if new_pkgs:
            import dnf.exceptions

            try:
                base.download_packages(new_pkgs)
            except dnf.exceptions.DownloadError as e:
                raise RepoError("prefetching the packages deferred to boot failed: %s" % e) from e
            self._check_signatures(base, new_pkgs)
        out = []
        for new, olds in changes:
            entry: Dict[str, str] = {}
            if new is not None:
                fn = os.path.basename(new.localPkg())
                tmp = os.path.join(dest, "." + fn)
                shutil.copyfile(new.localPkg(), tmp)
                os.replace(tmp, os.path.join(dest, fn))
                entry["install"] = fn
                entry["nevra"] = _nevra(new)
            if olds:
                entry["replaces"] = ",".join(sorted(_nevra(o) for o in olds))
            out.append(entry)
        return out

    def apply_local(self, *, changes: List[Dict[str, str]], source: str) -> None:
        """Boot: run the deferred changes from the packages in `source`, with no repository."""
        import dnf
        import dnf.exceptions
        import hawkey

        request = SolveRequest(packages=(), repositories=())
        base = self._make_base(request)
        self._base = base
        try:
            base.fill_sack(load_system_repo=True, load_available_repos=False)
            paths = [os.path.join(source, c["install"]) for c in changes if "install" in c]
            for p in paths:
                if not os.path.exists(p):
                    raise RepoError("the prefetched package %s is missing" % p)
            try:
                local = base.add_remote_rpms(paths) if paths else []
            except (OSError, dnf.exceptions.Error) as e:
                raise RepoError("a package prefetched for boot is unreadable: %s" % e) from e
            installed = base.sack.query().installed()
            goal = hawkey.Goal(base.sack)
            by_nevra = {_nevra(p): p for p in installed}
            for pkg in local:
                goal.install(pkg)
            for c in changes:
                if "install" not in c:
                    for nevra in c.get("replaces", "").split(","):
                        if nevra in by_nevra:
                            goal.erase(by_nevra[nevra])
            if not goal.run(allow_uninstall=False, force_best=False, ignore_weak_deps=True):
                raise ResolveError("the changes deferred to boot no longer fit the installed packages")
            base._goal = goal
            base._transaction = base._goal2transaction(goal)
            try:
                base.do_transaction()
            except dnf.exceptions.Error as e:
                raise TransactionError("the boot transaction failed: %s" % e) from e
        finally:
            base.close()
            self._base = None

    # -- execute --------------------------------------------------------------------------
    def execute(self, *, solution: Solution, progress: Optional[ProgressFn] = None) -> None:
        import dnf.exceptions

        base = self._base
        goal = solution.handle
        if base is None or goal is None:
            raise RuntimeError("execute() needs the solution of this backend's last solve()")
        if not [a for a in solution.actions if not a.deferred]:
            return
        # Run exactly the goal the plan was computed from: no second resolve.
        base._goal = goal
        base._transaction = base._goal2transaction(goal)
        pkgs = list(base.transaction.install_set)
        try:
            base.download_packages(pkgs, _DownloadProgress(progress) if progress else None)
        except dnf.exceptions.DownloadError as e:
            try:
                st = os.statvfs(self.cachedir)
                free = "%.1f MiB free" % (st.f_bavail * st.f_frsize / 1048576.0)
            except OSError:
                free = "free space unknown"
            raise RepoError(
                "downloading packages failed: %s" % e,
                hint="nothing was changed; check that the mirror is reachable and that the cache %s has room "
                "(%s), then rerun" % (self.cachedir, free),
            ) from e
        self._check_signatures(base, pkgs)
        before = self._rpmdb_nevras()
        try:
            base.do_transaction(display=_TransactionDisplay(progress) if progress else ())
        except dnf.exceptions.Error as e:
            # dnf runs rpm's test transaction first; ask the rpmdb whether anything moved
            changed = self._rpmdb_nevras() != before
            raise TransactionError(
                "the rpm transaction failed%s: %s" % ("" if changed else " (nothing was changed)", e),
                hint="the state is recorded; fix the cause and rerun: spma converges from wherever it stopped",
            ) from e

    def _check_signatures(self, base: Any, pkgs: List[Any]) -> None:
        # dnf 4.14 verifies with the rpmkeys executable, which does not see our in-process
        # %_dbpath pin (Debian's default is ~/.rpmdb): for this step only, rpmkeys gets a HOME
        # whose .rpmmacros pins the same rpmdb. On EL9 that is rpm's own default anyway.
        home = os.path.join(self.statedir, "rpmhome")
        os.makedirs(home, exist_ok=True)
        with open(os.path.join(home, ".rpmmacros"), "w") as f:
            f.write("%%_dbpath %s\n" % self._pinned_dbpath)
        saved = os.environ.get("HOME")
        os.environ["HOME"] = home
        try:
            return self._verify(base, pkgs)
        finally:
            if saved is None:
                del os.environ["HOME"]
            else:
                os.environ["HOME"] = saved

    @staticmethod
    def _verify(base: Any, pkgs: List[Any]) -> None:
        """What dnf's CLI does in gpgsigcheck: verify every downloaded package of a gpgcheck
        repository; a missing key is imported only from that repository's gpgkey list, which the
        profile declares and so trusts. Any failure stops the run before the transaction."""
        import dnf.exceptions

        problems = []
        for pkg in pkgs:
            result, msg = base.package_signature_check(pkg)
            if result == 1:
                try:
                    base.package_import_key(pkg, askcb=lambda *a: True, fullaskcb=lambda *a: True)
                except (dnf.exceptions.Error, ValueError) as e:
                    problems.append("%s: %s" % (pkg, e))
                    continue
                result, msg = base.package_signature_check(pkg)
            if result != 0:
                problems.append("%s: %s" % (pkg, msg or "signature check failed"))
        if problems:
            raise RepoError(
                "package signatures could not be verified, nothing was changed:\n  " + "\n  ".join(problems),
                hint="check the repository's gpgkey in the profile, or set gpgcheck false for it if that is intended",
            )

    def _rpmdb_nevras(self) -> List[str]:
        import rpm

        # also called before any dnf.Base exists (spma boot): pin the rpmdb location here too
        self._pinned_dbpath = self._pinned_dbpath or self._dbpath()
        rpm.addMacro("_dbpath", self._pinned_dbpath)
        ts = rpm.TransactionSet(self.root)
        try:
            out = []
            for h in ts.dbMatch():
                e = h["epochnum"]
                vr = "%s-%s" % (h["version"], h["release"])
                arch = h["arch"] or "(none)"
                out.append("%s-%s.%s" % (h["name"], "%d:%s" % (e, vr) if e else vr, arch))
            return sorted(out)
        finally:
            ts.closeDB()

    # -- repo files -----------------------------------------------------------------------
    def write_repo_config(self, *, repositories: Tuple[Repository, ...], userrepos: bool) -> None:
        from spma.state import atomic_write

        d = os.path.join(self.root, "etc/yum.repos.d")
        os.makedirs(d, exist_ok=True)
        wanted = set()
        for repo in repositories:
            fn = "%s.repo" % repo.name
            wanted.add(fn)
            atomic_write(os.path.join(d, fn), render_repo_file(repo).encode())
        if not userrepos:
            for fn in os.listdir(d):
                if fn.endswith(".repo") and fn not in wanted:
                    os.unlink(os.path.join(d, fn))
                    log.info("removed unmanaged repository file %s", os.path.join(d, fn))

    def close(self) -> None:
        if self._base is not None:
            self._base.close()
            self._base = None


def render_repo_file(repo: Repository) -> str:
    lines = [
        "# Written by spma from the host profile; local changes are overwritten.",
        "[%s]" % repo.name,
        "name=%s" % repo.name,
        "baseurl=%s" % "\n        ".join(repo.baseurls),
        "enabled=%d" % int(repo.enabled),
        "gpgcheck=%d" % int(repo.gpgcheck),
        "skip_if_unavailable=%d" % int(repo.skip_if_unavailable),
    ]
    if repo.gpgkeys:
        lines.append("gpgkey=%s" % " ".join(repo.gpgkeys))
    if repo.priority is not None:
        lines.append("priority=%d" % repo.priority)
    if repo.proxy:
        lines.append("proxy=%s" % repo.proxy)
    if repo.excludepkgs:
        lines.append("excludepkgs=%s" % ",".join(repo.excludepkgs))
    if repo.includepkgs:
        lines.append("includepkgs=%s" % ",".join(repo.includepkgs))
    for key, val in (("sslcacert", repo.sslcacert), ("sslclientcert", repo.sslclientcert),
                     ("sslclientkey", repo.sslclientkey)):  # fmt: skip
        if val:
            lines.append("%s=%s" % (key, val))
    if not repo.sslverify:
        lines.append("sslverify=0")
    return "\n".join(lines) + "\n"


def _detect_releasever(root: str) -> Optional[str]:
    try:
        import dnf.rpm

        rel = dnf.rpm.detect_releasever(root)
        if rel:
            return str(rel)
    except Exception:  # noqa: BLE001 - detection is best effort
        pass
    try:
        with open(os.path.join(root, "etc/os-release"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("VERSION_ID="):
                    return line.split("=", 1)[1].strip().strip('"').split(".")[0]
    except OSError:
        pass
    return None


_CAP = re.compile(r"^\s*([^\s()]+(?:\([^)]*\))?)")


class _RequiredBy:
    """Which packages of the final set require something a package provides (for `because`).

    Built once from capability names; version ranges are ignored, which is fine for an
    explanation and keeps a 5,000-package plan cheap.
    """

    def __init__(self, final: List[Any]) -> None:
        self._final = final
        self._index: Optional[Dict[str, Set[str]]] = None

    def _build(self) -> Dict[str, Set[str]]:
        idx: Dict[str, Set[str]] = defaultdict(set)
        for p in self._final:
            for r in p.requires:
                m = _CAP.match(str(r))
                if m:
                    idx[m.group(1)].add(p.name)
        return idx

    def why(self, pkg: Any) -> str:
        if self._index is None:
            self._index = self._build()
        who: Set[str] = set()
        for prov in pkg.provides:
            m = _CAP.match(str(prov))
            if m:
                who |= self._index.get(m.group(1), set())
        who.discard(pkg.name)
        names = sorted(who)
        if len(names) > 3:
            return "%s and %d more" % (", ".join(names[:3]), len(names) - 3)
        return ", ".join(names)


class _BestAvailable:
    def __init__(self, available: Any) -> None:
        self._q = available
        self._cache: Dict[Tuple[str, str], Any] = {}

    def is_best(self, pkg: Any) -> bool:
        key = (pkg.name, pkg.arch)
        if key not in self._cache:
            lat = self._q.filter(name=pkg.name, arch=pkg.arch).latest().run()
            self._cache[key] = lat[0] if lat else None
        best = self._cache[key]
        return best is None or pkg.evr_cmp(best) >= 0


class _DownloadProgress:
    def __init__(self, progress: ProgressFn) -> None:
        self._cb = progress
        self._total = 0
        self._done = 0

    # dnf calls these duck-typed; subclassing is not required by dnf.Base.download_packages
    def start(self, total_files: int, total_size: int, total_drpms: int = 0) -> None:
        self._total = total_files

    def progress(self, payload: Any, done: int) -> None:
        pass

    def end(self, payload: Any, status: int, msg: Any) -> None:
        self._done += 1
        # the name and size let a terminal show what is being fetched, not only how many
        self._cb("download", self._done, self._total, str(payload), getattr(payload, "download_size", None))


class _TransactionDisplay:
    def __init__(self, progress: ProgressFn) -> None:
        self._cb = progress

    def progress(
        self, package: Any, action: int, ti_done: int, ti_total: int, ts_done: int, ts_total: int
    ) -> None:
        # package steps only (1..10: install, erase, up/downgrade, obsolete, reinstall), not
        # rpm's preparation, verify or cleanup callbacks
        if 1 <= action <= 10 and ti_done == ti_total:
            self._cb("transaction", ts_done, ts_total, str(package))

    def scriptout(self, msgs: Any) -> None:
        if msgs:
            log.info("scriptlet output: %s", msgs)

    def error(self, message: str) -> None:
        log.error("rpm: %s", message)

    def filelog(self, package: Any, action: int) -> None:
        pass

    def verify_tsi_package(self, pkg: Any, count: int, total: int) -> None:
        pass
