"""apt backend: python-apt (apt_pkg DepCache, ProblemResolver, explicit candidates), never by
scraping apt-get. `--root` is a private root: apt's configuration, source list, lists and
archives live in spma's state dir, dpkg's database in the root; nothing of the host's apt state
is read or written.

The desired state is marked in one ActionGroup: declared packages (a pinned version becomes
the candidate explicitly, up or down), every other installed package moved to the best version
the sources offer (the snapshot, even when lower), and — without userpkgs — every undeclared
package marked automatic, so apt's own garbage collection (the same one `apt autoremove` uses)
removes what the declared set does not need. The auto/manual marks are written with the
transaction, so a later plain `apt autoremove` agrees with the profile.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import logging
import os
from typing import Any, Dict, List, Optional, Set, Tuple

from spma.backend import ProgressFn
from spma.errors import RepoError, ResolveError, TransactionError
from spma.model import Action, ErrataPin, PackageDecl, Repository, Solution, SolveRequest, errata_because

log = logging.getLogger("spma.apt")

PROTECTED_NAMES = ("apt", "dpkg", "python3-apt", "spma", "python3-spma")
_LISTS = ("DPkg::Options", "APT::Architectures")
_HOOKS = ("DPkg::Pre-Install-Pkgs", "DPkg::Pre-Invoke", "DPkg::Post-Invoke", "DPkg::Post-Invoke-Success",
          "APT::Update::Pre-Invoke", "APT::Update::Post-Invoke", "APT::Update::Post-Invoke-Success",
          "DPkg::Tools::Options")  # fmt: skip


def create(*, root: str, statedir: str) -> AptBackend:
    return AptBackend(root=root, statedir=statedir)


def source_line(repo: Repository, url: str, keys: Optional[List[str]] = None) -> str:
    parts = url.split()
    if len(parts) == 1:
        parts.append("./")  # a flat repository
    opts = []
    if not repo.gpgcheck:
        opts.append("trusted=yes")
    else:
        if keys is None:
            keys = [k[len("file://") :] if k.startswith("file://") else k for k in repo.gpgkeys]
        if keys:
            opts.append("signed-by=%s" % ",".join(keys))
    uri = parts[0]
    if uri.startswith("file://"):
        uri = "file:" + uri[len("file://") :]
    return "deb %s%s %s\n" % ("[%s] " % " ".join(opts) if opts else "", uri, " ".join(parts[1:]))


class AptBackend:
    name = "apt"

    def __init__(self, *, root: str, statedir: str) -> None:
        self.root = os.path.abspath(root)
        self.statedir = statedir
        self.aptdir = os.path.join(statedir, "cache", "apt")
        self._cache: Any = None
        self._errata: Dict[str, Tuple[Any, Any, ErrataPin]] = {}

    # -- configuration ----------------------------------------------------------------------
    def _configure(self, request: SolveRequest) -> None:
        import apt_pkg

        a, r = self.aptdir, self.root
        for d in (
            "lists/partial",
            "archives/partial",
            "etc/apt.conf.d",
            "etc/preferences.d",
            "etc/sources.list.d",
        ):
            os.makedirs(os.path.join(a, d), exist_ok=True)
        dpkg = os.path.join(r, "var/lib/dpkg")
        for d in ("info", "updates", "triggers", "alternatives"):
            os.makedirs(os.path.join(dpkg, d), exist_ok=True)
        for fn in ("status", "available"):
            if not os.path.exists(os.path.join(dpkg, fn)):
                open(os.path.join(dpkg, fn), "a").close()  # an empty root gets an empty dpkg database
        os.makedirs(os.path.join(r, "var/lib/apt"), exist_ok=True)
        os.makedirs(os.path.join(r, "var/log/apt"), exist_ok=True)
        weak = "true" if request.install_weak_deps else "false"
        conf = [
            'Dir "%s/";' % r,
            'Dir::State "%s/var/lib/apt/";' % r,
            'Dir::State::lists "%s/lists/";' % a,
            'Dir::State::status "%s/var/lib/dpkg/status";' % r,
            'Dir::Cache "%s/";' % a,
            'Dir::Cache::archives "%s/archives/";' % a,
            'Dir::Etc "%s/etc/";' % a,
            'Dir::Etc::sourcelist "%s/etc/sources.list";' % a,
            'Dir::Etc::sourceparts "%s/etc/sources.list.d";' % a,
            'Dir::Etc::main "%s/etc/apt.conf";' % a,
            'Dir::Etc::parts "%s/etc/apt.conf.d";' % a,
            'Dir::Etc::preferences "%s/etc/preferences";' % a,
            'Dir::Etc::preferencesparts "%s/etc/preferences.d";' % a,
            # a repository without gpgkey is checked against the root's own archive keyring
            'Dir::Etc::trusted "%s/etc/apt/trusted.gpg";' % r,
            'Dir::Etc::trustedparts "%s/etc/apt/trusted.gpg.d";' % r,
            'Dir::Log "%s/var/log/apt";' % r,
            'Dir::Bin::dpkg "/usr/bin/dpkg";',
            'DPkg::Options { "--root=%s"; "--log=%s/var/log/dpkg.log"; "--force-confdef"; "--force-confold"; };'
            % (r, r),
            'DPkg::Chroot-Directory "/";',
            'APT::Install-Recommends "%s";' % weak,
            'APT::Install-Suggests "false";',
            'APT::AutoRemove::RecommendsImportant "%s";' % weak,
            'APT::AutoRemove::SuggestsImportant "false";',
            'APT::Sandbox::User "root";',
            "APT::Architectures { %s };" % " ".join('"%s";' % x for x in self._architectures()),
            'Acquire::Languages "none";',
            'Acquire::Retries "3";',  # a mirror caught mid-sync is common; unattended runs retry
            'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";',
            'Dpkg::Use-Pty "false";',
        ]
        conf_path = os.path.join(a, "spma-apt.conf")
        with open(conf_path, "w") as f:
            f.write("\n".join(conf) + "\n")
        with open(os.path.join(a, "etc/sources.list"), "w") as f:
            for repo in request.repositories:
                if repo.enabled:
                    keys = self._keys(repo)
                    for url in repo.baseurls:
                        f.write(source_line(repo, url, keys))
        # the host's apt configuration must not leak in (backend-recipes §4.2). Once `import apt`
        # has read the host's config, clear("") leaves its hook lists behind: clear them by name.
        apt_pkg.config.clear("")
        # clear("") keeps list values; lists would accumulate across roots in one process
        # (DPkg::Options' --root, APT::Architectures): clear every list spma sets, and the hooks
        for key in _LISTS + _HOOKS:
            apt_pkg.config.clear(key)
        # APT_CONFIG only while init_config reads it: left in the environment it would hand this
        # root's configuration to every later child process of an embedding agent
        saved = os.environ.get("APT_CONFIG")
        os.environ["APT_CONFIG"] = conf_path
        try:
            apt_pkg.init_config()
        finally:
            if saved is None:
                del os.environ["APT_CONFIG"]
            else:
                os.environ["APT_CONFIG"] = saved
        for key in _HOOKS:
            apt_pkg.config.clear(key)
        apt_pkg.init_system()
        leaked = [k for k in _HOOKS if apt_pkg.config.value_list(k) or apt_pkg.config.find(k)]
        if [o for o in apt_pkg.config.value_list("DPkg::Options") if o.startswith("--root=")] != [
            "--root=%s" % r
        ]:
            leaked.append("DPkg::Options")
        if leaked:
            raise RuntimeError("host apt hooks leaked into spma's private configuration: %s" % leaked)

    def _architectures(self) -> List[str]:
        """The root's own: dpkg's native architecture plus those `dpkg --add-architecture` added."""
        import subprocess

        native = subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True
        ).stdout.strip()
        arches = [native or "amd64"]
        try:
            with open(os.path.join(self.root, "var/lib/dpkg/arch")) as f:
                arches += [ln.strip() for ln in f if ln.strip() and ln.strip() not in arches]
        except FileNotFoundError:
            pass
        return arches

    def _keys(self, repo: Repository) -> List[str]:
        """The profile's keys for a repository, copied where apt's signed-by can read them:
        armored keys need a .asc name, binary ones .gpg."""
        from spma.errors import ProfileError
        from spma.profile import read_source

        out = []
        kdir = os.path.join(self.aptdir, "keys")
        os.makedirs(kdir, exist_ok=True)
        for i, src in enumerate(repo.gpgkeys):
            try:
                data = read_source(src)
            except ProfileError as e:
                raise RepoError(
                    "repository %s: cannot read gpgkey %s: %s" % (repo.name, src, e.message)
                ) from e
            ext = ".asc" if data.lstrip().startswith(b"-----BEGIN PGP") else ".gpg"
            path = os.path.join(kdir, "%s-%d%s" % (repo.name, i, ext))
            with open(path, "wb") as f:
                f.write(data)
            out.append(path)
        return out

    def _open(self, request: SolveRequest) -> Any:
        self._configure(request)
        import apt
        import apt.cache

        cache = apt.Cache(rootdir=None, memonly=False)
        try:
            cache.update(raise_on_error=True)
        except (apt.cache.FetchFailedException, SystemError) as e:
            raise RepoError(
                "apt sources could not be updated: %s" % str(e).strip(),
                hint="check the repository lines in the profile (URI, suite, components), their keys, and "
                "that the mirror is reachable; nothing was changed",
            ) from e
        cache.open(None)
        self._cache = cache
        return cache

    # -- fingerprints ------------------------------------------------------------------------
    def _status(self) -> List[Dict[str, str]]:
        """dpkg's status file of the root, as stanzas."""
        from spma.deb822 import stanzas

        try:
            with open(
                os.path.join(self.root, "var/lib/dpkg/status"), encoding="utf-8", errors="replace"
            ) as f:
                return list(stanzas(f.read()))
        except FileNotFoundError:
            return []

    def _installed(self, status: Optional[List[Dict[str, str]]] = None) -> List[str]:
        out = []
        for fields in self._status() if status is None else status:
            if fields.get("Status", "").endswith(" installed") and "Package" in fields:
                out.append(
                    "%s:%s=%s"
                    % (fields["Package"], fields.get("Architecture", ""), fields.get("Version", ""))
                )
        return sorted(out)

    def installed_fingerprint(self, status: Optional[List[Dict[str, str]]] = None) -> str:
        h = hashlib.sha256()
        for line in self._installed(status):
            h.update(line.encode() + b"\n")
        return "sha256:" + h.hexdigest()

    def _repo_fingerprints(self, request: SolveRequest) -> Tuple[Tuple[str, str], ...]:
        import apt_pkg

        lists = os.path.join(self.aptdir, "lists")
        names = sorted(os.listdir(lists)) if os.path.isdir(lists) else []
        out = []
        for repo in request.repositories:
            if not repo.enabled:
                continue
            h = hashlib.sha256()
            found = False
            for url in repo.baseurls:
                uri = url.split()[0]
                if uri.startswith("file://"):
                    uri = "file:" + uri[len("file://") :]
                prefix = apt_pkg.uri_to_filename(uri.rstrip("/") + "/")
                for n in names:
                    if n.startswith(prefix) and n.endswith(("_Release", "_InRelease")):
                        with open(os.path.join(lists, n), "rb") as f:
                            h.update(f.read())
                        found = True
            digest = h.hexdigest() if found else "unavailable"
            if repo.metadata_sha256 and digest != repo.metadata_sha256:
                raise RepoError(
                    "repository %s: Release/InRelease has sha256 %s, the profile pins %s"
                    % (repo.name, digest, repo.metadata_sha256),
                    hint="the mirror no longer serves the pinned snapshot; fix the mirror or the profile",
                )
            out.append((repo.name, "sha256:" + digest))
        return tuple(sorted(out))

    def quick_inputs(self, *, request: SolveRequest) -> Tuple[str, Tuple[Tuple[str, str], ...]]:
        self._open(request)
        return self.installed_fingerprint(), self._repo_fingerprints(request)

    # -- solve -------------------------------------------------------------------------------
    def solve(self, *, request: SolveRequest) -> Solution:
        import apt_pkg

        status = self._status()
        inst_fp = self.installed_fingerprint(status)
        cache = self._open(request)
        repo_fps = self._repo_fingerprints(request)
        ac, dep = cache._cache, cache._depcache
        decls = [d for d in request.packages if not d.is_glob]
        globs = [d for d in request.packages if d.is_glob and d.versions]
        held = self._held(status)
        problems: List[str] = []
        declared: Dict[Tuple[str, str], Tuple[Any, PackageDecl]] = {}
        for d in decls:
            for pkg, why in self._lookup(ac, d):
                if pkg is None:
                    problems.append(why)
                    continue
                declared[(pkg.name, pkg.architecture)] = (pkg, d)
        protected = self._protected(ac, request)
        notes: List[str] = []
        self._errata = self._effective_errata(ac, request, decls, globs, {k[0] for k in declared}, notes)
        with apt_pkg.ActionGroup(dep):  # type: ignore[attr-defined]
            # pkg_ronly: an errata version becomes the candidate; it binds what ends up installed
            # (declared, kept, or pulled in as a dependency) and adds nothing by itself
            for pkg, ver, _pin in self._errata.values():
                dep.set_candidate_ver(pkg, ver)
            for pkg, d in declared.values():
                ver = self._wanted_version(pkg, d, globs, request, problems)
                if ver is None:
                    continue
                if pkg.current_ver is None or pkg.current_ver.ver_str != ver.ver_str:
                    if pkg.name in held:
                        problems.append(
                            "%s: held with apt-mark hold, but the profile needs %s" % (pkg.name, ver.ver_str)
                        )
                        continue
                    dep.set_candidate_ver(pkg, ver)
                    dep.mark_install(pkg, True, True)
                else:
                    # already there: still the candidate, or auto-installing another package's
                    # upgrade could drag this one away from its declared version
                    dep.set_candidate_ver(pkg, ver)
                    if not dep.marked_install(pkg):
                        dep.mark_keep(pkg)
                dep.mark_auto(pkg, False)
            if problems:
                raise ResolveError(
                    "the profile declares packages the sources cannot provide:\n  " + "\n  ".join(problems),
                    hint="fix the declarations or point the sources at a snapshot that has them",
                )
            for pkg in ac.packages:
                if pkg.current_ver is None or (pkg.name, pkg.architecture) in declared:
                    continue
                best = self._best(pkg, globs, request)
                if best is not None and best.ver_str != pkg.current_ver.ver_str and pkg.name not in held:
                    dep.set_candidate_ver(pkg, best)
                    dep.mark_install(pkg, True, False)
                if not request.userpkgs:
                    dep.mark_auto(pkg, (pkg.name, pkg.architecture) not in protected)
        pinned = {k for k, (_p, d) in declared.items() if d.versions}
        self._follow(ac, dep, pinned, set(declared), globs, request, held)
        pr = apt_pkg.ProblemResolver(dep)
        for pkg, _d in declared.values():
            pr.protect(pkg)
        try:
            pr.resolve(True)
        except SystemError as e:
            raise ResolveError(
                "the declared package set cannot be resolved: %s\n  broken: %s"
                % (
                    str(e).strip(),
                    ", ".join(sorted(p.name for p in ac.packages if dep.is_inst_broken(p))) or "-",
                ),
                hint="change a pin or the sources so the declarations fit together",
            ) from e
        if dep.broken_count:
            raise ResolveError("the declared package set leaves %d packages broken" % dep.broken_count)
        # apt may settle a conflict by dropping a declared package: that is a conflict to report
        dropped = [
            "%s:%s" % (p.name, p.architecture) for p, _d in declared.values()
            if dep.marked_delete(p) or (p.current_ver is None and not dep.marked_install(p))
        ]  # fmt: skip
        if dropped:
            raise ResolveError(
                "the declared packages cannot be installed together: %s" % ", ".join(sorted(dropped)),
                hint="they conflict (for another architecture: the package is not Multi-Arch: same)",
            )
        if not request.userpkgs:
            with apt_pkg.ActionGroup(dep):  # type: ignore[attr-defined]
                for pkg in ac.packages:
                    if (
                        pkg.current_ver is not None
                        and dep.is_garbage(pkg)
                        and (pkg.name, pkg.architecture) not in protected
                    ):
                        dep.mark_delete(pkg, False)
        actions = self._actions(ac, dep, declared, globs, request)
        gone = [p for p in ac.packages if dep.marked_delete(p) and (p.name, p.architecture) in protected]
        return Solution(
            actions=tuple(sorted(actions, key=Action.sort_key)),
            installed_fingerprint=inst_fp,
            repo_fingerprints=repo_fps,
            protected_removals=tuple(sorted("%s:%s" % (p.name, p.architecture) for p in gone)),
            notes=tuple(notes),
            handle=cache,
        )

    def _follow(self, ac: Any, dep: Any, pinned: Set[Tuple[str, str]], declared: Set[Tuple[str, str]],
                globs: List[PackageDecl], request: SolveRequest, held: Set[str]) -> None:  # fmt: skip
        """apt's resolver never tries an older candidate: let packages broken by a pin (or by the
        snapshot) step down to the best version that is installable with it."""
        import apt_pkg

        for _round in range(25):
            # broken ones, and installed ones apt chose to delete for a pin (apt 2.6 MarkInstall does
            # that): spma has deleted nothing yet at this point
            broken = [p for p in ac.packages if (dep.is_inst_broken(p) or (p.current_ver is not None
                      and dep.marked_delete(p))) and (p.name, p.architecture) not in pinned
                      and p.name not in held]  # fmt: skip
            moved = False
            for p in broken:
                cand = dep.get_candidate_ver(p)
                deleting = dep.marked_delete(p)
                lower = [v for v in p.version_list if v.downloadable and self._allowed(p, v, globs, request)
                         and (cand is None or apt_pkg.version_compare(v.ver_str, cand.ver_str) < (1 if deleting else 0))]  # fmt: skip
                lower.sort(key=lambda v: _deb_key(v.ver_str), reverse=True)
                for v in lower:
                    dep.set_candidate_ver(p, v)
                    dep.mark_install(p, True, (p.name, p.architecture) in declared)
                    if not dep.is_inst_broken(p) and not dep.marked_delete(p):
                        moved = True
                        break
                else:
                    if deleting and not dep.marked_delete(p):
                        dep.mark_delete(p, False)  # no version fits: leave it as apt had it
            if not moved:
                return

    @staticmethod
    def _held(status: List[Dict[str, str]]) -> Set[str]:
        return {f["Package"] for f in status if f.get("Status", "").startswith("hold ") and "Package" in f}

    def _lookup(self, ac: Any, d: PackageDecl) -> List[Tuple[Any, str]]:
        name, _, arch = d.name.partition(":")
        arches: List[Optional[str]] = [arch] if arch else (list(d.arches) or [None])
        out = []
        enabled = self._architectures()
        for a in arches:
            if a and a not in ("all", "any") and a not in enabled:
                out.append((None, "%s: architecture %s is not enabled in the root (dpkg --add-architecture %s)"
                            % (d.name, a, a)))  # fmt: skip
                continue
            key = (name, a) if a and a not in ("all", "any") else name
            try:
                pkg = ac[key]
            except KeyError:
                pkg = None
            if pkg is None or not pkg.has_versions:
                out.append((None, "%s: no package of that name in the enabled sources" % d.name))
            else:
                out.append((pkg, ""))
        return out

    @staticmethod
    def _allowed(pkg: Any, ver: Any, globs: List[PackageDecl], request: SolveRequest) -> bool:
        import apt_pkg

        if any(fnmatch.fnmatchcase(pkg.name, x) for x in request.excludes):
            return False
        for g in globs:
            if g.matches_name(pkg.name) and not any(
                apt_pkg.version_compare(ver.ver_str, v) == 0 for v in g.versions
            ):
                return False
        return True

    def _effective_errata(self, ac: Any, request: SolveRequest, decls: List[PackageDecl], globs: List[PackageDecl],
                          declared: Set[str], notes: List[str]) -> Dict[str, Tuple[Any, Any, ErrataPin]]:  # fmt: skip
        """name -> (package, version, pin) for the errata pins that bind: a version the profile
        declares (exactly or through a versioned glob) wins; a set version the sources lack is
        an error for a declared or installed package, a note otherwise."""
        import apt_pkg

        if not request.errata:
            return {}
        pinned = {d.name for d in decls if d.versions}
        out: Dict[str, Tuple[Any, Any, ErrataPin]] = {}
        missing = []
        for pin in request.errata:
            if pin.name in pinned or any(g.matches_name(pin.name) for g in globs):
                continue
            try:
                pkg = ac[pin.name]
            except KeyError:
                continue
            if not pkg.has_versions:
                continue
            ver = next((v for v in pkg.version_list if v.downloadable
                        and apt_pkg.version_compare(v.ver_str, pin.evr) == 0), None)  # fmt: skip
            if ver is None:
                if pin.name in declared or pkg.current_ver is not None:
                    have = sorted({v.ver_str for v in pkg.version_list}, key=_deb_key)
                    missing.append("%s: errata version %s not in the sources (available: %s)"
                                   % (pin.name, pin.evr, ", ".join(have[-6:])))  # fmt: skip
                else:
                    notes.append("errata version %s of %s is not in the repositories; not constrained"
                                 % (pin.evr, pin.name))  # fmt: skip
                continue
            out[pin.name] = (pkg, ver, pin)
        if missing:
            raise ResolveError(
                "the errata version set %s asks for versions the sources do not offer:\n  %s"
                % (request.errata_id or "", "\n  ".join(missing)),
                hint="point the sources at a snapshot that has the set's versions, or use an older set",
            )
        return out

    def _best(self, pkg: Any, globs: List[PackageDecl], request: SolveRequest) -> Optional[Any]:
        """The best version the sources offer (even below the installed one): the snapshot; an
        errata pin replaces it."""
        import apt_pkg

        pinned = self._errata.get(pkg.name)
        if pinned is not None and pinned[0].architecture == pkg.architecture:
            return pinned[1]
        best = None
        for v in pkg.version_list:
            if not v.downloadable or not self._allowed(pkg, v, globs, request):
                continue
            if best is None or apt_pkg.version_compare(v.ver_str, best.ver_str) > 0:
                best = v
        return best

    def _wanted_version(self, pkg: Any, d: PackageDecl, globs: List[PackageDecl], request: SolveRequest,
                        problems: List[str]) -> Optional[Any]:  # fmt: skip
        import apt_pkg

        if not d.versions:
            best = self._best(pkg, globs, request)
            if best is None and pkg.current_ver is None:
                problems.append("%s: excluded or not downloadable from the enabled sources" % d.name)
            return best or pkg.current_ver
        if len(d.versions) > 1:
            problems.append("%s: several versions declared; apt installs one version of a package" % d.name)
            return None
        want = d.versions[0]
        for v in pkg.version_list:
            if apt_pkg.version_compare(v.ver_str, want) == 0 and (v.downloadable or v == pkg.current_ver):
                return v
        have = sorted({v.ver_str for v in pkg.version_list}, key=_deb_key)
        problems.append(
            "%s: declared version %s not found (available: %s)" % (d.name, want, ", ".join(have[-6:]))
        )
        return None

    def _protected(self, ac: Any, request: SolveRequest) -> Set[Tuple[str, str]]:
        # keyed by (name, arch): python-apt's Package wrappers do not compare reliably in sets
        running = "linux-image-%s" % request.running_kernel if request.running_kernel else None
        out = set()
        for pkg in ac.packages:
            if pkg.current_ver is None:
                continue
            if (pkg.essential or pkg.name in PROTECTED_NAMES or pkg.name == running
                    or any(fnmatch.fnmatchcase(pkg.name, w) for w in request.whitelist)):  # fmt: skip
                out.add((pkg.name, pkg.architecture))
        return out

    def _actions(self, ac: Any, dep: Any, declared: Dict[Tuple[str, str], Tuple[Any, PackageDecl]],
                 globs: List[PackageDecl], request: SolveRequest) -> List[Action]:  # fmt: skip
        acts = []
        for pkg in ac.packages:
            cur = pkg.current_ver.ver_str if pkg.current_ver else None
            cand = dep.get_candidate_ver(pkg)
            new = cand.ver_str if cand else None
            # marked_upgrade is also true for new installs: test NewInstall first (recipes §4.3)
            if dep.marked_delete(pkg):
                kind = "remove"
            elif dep.marked_install(pkg):
                kind = "install"
            elif dep.marked_downgrade(pkg):
                kind = "downgrade"
            elif dep.marked_upgrade(pkg):
                kind = "upgrade"
            elif dep.marked_reinstall(pkg):
                kind = "reinstall"
            else:
                continue
            d = declared.get((pkg.name, pkg.architecture), (None, None))[1]
            if kind == "remove":
                reason, because = ("dependency", "in the way of the declared set") if (
                    request.userpkgs or d is not None) else ("unmanaged", "not declared")  # fmt: skip
                acts.append(Action("remove", pkg.name, pkg.architecture, cur, None, reason, because))
                continue
            best = self._best(pkg, globs, request)
            is_best = best is None or best.ver_str == new
            pin = self._errata.get(pkg.name)
            if d is not None and d.versions:
                reason, because = "declared", "declared pin %s" % ", ".join(d.versions)
            elif pin is not None and pin[1].ver_str == new:
                reason, because = "errata", errata_because(pin[2], request.errata_id)
            elif d is not None and kind == "install":
                reason, because = "declared", "declared"
            elif kind in ("upgrade", "downgrade") and not is_best:
                reason, because = "dependency", "best version installable with the declared pins"
            elif any(g.matches_name(pkg.name) for g in globs):
                g = next(g for g in globs if g.matches_name(pkg.name))
                reason, because = "kernel", "constraint %s = %s" % (g.name, ", ".join(g.versions))
            elif kind == "install":
                reason, because = (
                    "dependency",
                    "required by %s" % (self._required_by(pkg, dep) or "the declared set"),
                )
            else:
                reason, because = "sync", "sources offer %s" % new
            acts.append(
                Action(
                    kind,
                    pkg.name,
                    pkg.architecture,
                    cur if kind != "install" else None,
                    new,
                    reason,
                    because,
                    reboot_suggested=reason == "errata" and pin is not None and pin[2].reboot_suggested,
                )
            )
        return acts

    @staticmethod
    def _required_by(pkg: Any, dep: Any) -> str:
        who = set()
        for d in pkg.rev_depends_list:
            if d.dep_type_untranslated not in ("Depends", "PreDepends"):
                continue
            parent = d.parent_pkg
            if dep.marked_install(parent) or dep.marked_upgrade(parent) or dep.marked_downgrade(parent) or (
                parent.current_ver is not None and not dep.marked_delete(parent)):  # fmt: skip
                who.add(parent.name)
        names = sorted(who)
        return ", ".join(names[:3]) + (" and %d more" % (len(names) - 3) if len(names) > 3 else "")

    # -- boot-time deferral --------------------------------------------------------------------
    def split(self, *, solution: Solution, boot_only: Tuple[str, ...]) -> Solution:
        """Defer changes to boot-only packages and what needs them; re-mark the live part alone
        and keep it only if apt then sees exactly those changes (DESIGN §6)."""
        import apt_pkg

        cache = solution.handle
        if cache is None or not boot_only:
            return solution
        ac, dep = cache._cache, cache._depcache
        changes: Dict[Tuple[str, str], Tuple[str, Any, Any]] = {}  # key -> (kind, package, new version)
        for a in solution.actions:
            pkg = ac[(a.name, a.arch)] if a.arch not in ("all",) else ac[a.name]
            new = dep.get_candidate_ver(pkg) if a.action != "remove" else None
            changes[(a.name, a.arch)] = (a.action, pkg, new)
        deferred: Dict[Tuple[str, str], str] = {}
        for key in changes:
            g = next((g for g in boot_only if fnmatch.fnmatchcase(key[0], g)), None)
            if g:
                deferred[key] = "boot-only %s" % g
        if not deferred:
            return solution

        def live_version(pkg: Any) -> Any:
            key = (pkg.name, pkg.architecture)
            if key in changes and key not in deferred:
                kind, _p, new = changes[key]
                return None if kind == "remove" else new
            return pkg.current_ver

        def satisfied(group: List[Any]) -> bool:
            for d in group:
                for v in d.all_targets():
                    if live_version(v.parent_pkg) == v:
                        return True
            return False

        changed = True
        while changed:
            changed = False
            for key, (kind, pkg, new) in changes.items():
                if key in deferred:
                    continue
                vers = [new] if new is not None else []
                for v in vers:
                    for dtype in ("Depends", "PreDepends"):
                        for group in v.depends_list.get(dtype, []):
                            if not satisfied(group):
                                later = [t for d in group for t in d.all_targets()
                                         if (t.parent_pkg.name, t.parent_pkg.architecture) in deferred]  # fmt: skip
                                deferred[key] = ("needs %s %s" % (later[0].parent_pkg.name, later[0].ver_str)
                                                 if later else "needs %s" % group[0].target_pkg.name)  # fmt: skip
                                changed = True
                                break
                        if key in deferred:
                            break
                if key in deferred or kind != "remove":
                    continue
                # a live removal that a package staying at its old version until boot still needs
                for dkey in list(deferred):
                    old = changes[dkey][1].current_ver
                    for group in old.depends_list.get("Depends", []) if old else []:
                        if not satisfied(group) and any(t.parent_pkg.name == pkg.name for d in group
                                                        for t in d.all_targets()):  # fmt: skip
                            deferred[key] = "needed by %s %s until boot" % (dkey[0], old.ver_str)
                            changed = True
                            break
                    if key in deferred:
                        break
        # re-mark the live part alone, keeping the plan's auto/manual marks
        autos = {(p.name, p.architecture): dep.is_auto_installed(p) for p in ac.packages if p.current_ver or
                 dep.marked_install(p)}  # fmt: skip
        live = {k: v for k, v in changes.items() if k not in deferred}
        dep.init()
        with apt_pkg.ActionGroup(dep):  # type: ignore[attr-defined]
            for (name, arch), (kind, pkg, new) in live.items():
                if kind == "remove":
                    dep.mark_delete(pkg, False)
                else:
                    dep.set_candidate_ver(pkg, new)
                    dep.mark_install(pkg, False, not autos.get((name, arch), False))
            for p in ac.packages:
                if p.current_ver is not None and (p.name, p.architecture) in autos:
                    dep.mark_auto(p, autos[(p.name, p.architecture)])
        marked = {(p.name, p.architecture) for p in ac.packages if dep.marked_delete(p) or dep.marked_install(p)
                  or dep.marked_upgrade(p) or dep.marked_downgrade(p) or dep.marked_reinstall(p)}  # fmt: skip
        if dep.broken_count or marked != set(live):
            dep.init()
            reason = "the live part is not consistent on its own"
            deferred = {k: deferred.get(k, reason) for k in changes}
        acts = [dataclasses.replace(a, deferred=(a.name, a.arch) in deferred, defer_reason=deferred.get((a.name, a.arch)))
                for a in solution.actions]  # fmt: skip
        later_changes = [(kind, pkg.name, pkg.architecture, new.ver_str if new is not None else None)
                         for k, (kind, pkg, new) in changes.items() if k in deferred]  # fmt: skip
        return dataclasses.replace(solution, actions=tuple(acts), deferred_handle=later_changes)

    def prefetch(self, *, solution: Solution, dest: str) -> List[Dict[str, str]]:
        """Fetch the deferred .debs (apt checks their hashes) and write a Packages index beside
        them, so the boot run needs no network and no source but this directory."""
        import apt_inst

        cache = solution.handle
        os.makedirs(dest, exist_ok=True)
        out: List[Dict[str, str]] = []
        stanzas = []
        for kind, name, arch, ver in solution.deferred_handle or []:
            if kind == "remove":
                out.append({"remove": "%s:%s" % (name, arch)})
                continue
            pkg = cache[name if arch == "all" else "%s:%s" % (name, arch)]
            try:
                path = pkg.versions[ver].fetch_binary(dest)
            except Exception as e:  # noqa: BLE001 - python-apt raises FetchError and friends
                raise RepoError("prefetching %s %s for boot failed: %s" % (name, ver, e)) from e
            fn = os.path.basename(path)
            with open(path, "rb") as f:
                data = f.read()
            if os.path.islink(path):
                # apt's file: method links to the source; boot must not depend on the mirror
                tmp = os.path.join(dest, "." + fn)
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            control = apt_inst.DebFile(path).control.extractdata("control").decode("utf-8").rstrip("\n")
            stanzas.append("%s\nFilename: ./%s\nSize: %d\nSHA256: %s\n"
                           % (control, fn, len(data), hashlib.sha256(data).hexdigest()))  # fmt: skip
            out.append({"install": fn, "name": name, "arch": arch, "version": ver})
        from spma.state import atomic_write

        atomic_write(os.path.join(dest, "Packages"), "\n".join(stanzas).encode())
        return out

    def apply_local(self, *, changes: List[Dict[str, str]], source: str) -> None:
        """Boot: the deferred changes, from the prefetched .debs only (one local source)."""
        import apt_pkg

        if not os.path.exists(os.path.join(source, "Packages")):
            raise RepoError("the packages prefetched for boot are missing from %s" % source)
        local = Repository("spma-boot", ("file://%s" % source,), gpgcheck=False)  # verified when fetched
        request = SolveRequest(packages=(), repositories=(local,))
        cache = self._open(request)
        ac, dep = cache._cache, cache._depcache
        with apt_pkg.ActionGroup(dep):  # type: ignore[attr-defined]
            for c in changes:
                if "remove" in c:
                    name, _, arch = c["remove"].partition(":")
                    dep.mark_delete(ac[(name, arch)] if arch != "all" else ac[name], False)
                    continue
                pkg = ac[(c["name"], c["arch"])] if c["arch"] != "all" else ac[c["name"]]
                ver = next(
                    (v for v in pkg.version_list if v.ver_str == c["version"] and v.downloadable), None
                )
                if ver is None:
                    raise RepoError("the prefetched %s %s is not readable" % (c["name"], c["version"]))
                dep.set_candidate_ver(pkg, ver)
                dep.mark_install(pkg, False, False)
        if dep.broken_count:
            raise ResolveError("the changes deferred to boot no longer fit the installed packages")
        solution = Solution(actions=(Action("install", "-", "-", None, None, "sync", "boot"),),
                            installed_fingerprint="", repo_fingerprints=(), handle=cache)  # fmt: skip
        self.execute(solution=solution)

    # -- execute -------------------------------------------------------------------------------
    def execute(self, *, solution: Solution, progress: Optional[ProgressFn] = None) -> None:
        import apt.cache
        from apt.progress.base import AcquireProgress, InstallProgress

        cache = solution.handle
        if cache is None:
            raise RuntimeError("execute() needs the solution of this backend's last solve()")
        if not [a for a in solution.actions if not a.deferred]:
            return
        os.environ["DEBIAN_FRONTEND"] = "noninteractive"
        policy = os.path.join(self.root, "usr/sbin/policy-rc.d")
        sandbox = os.path.realpath(self.root) != "/"
        # no service starts inside a sandbox root
        if sandbox and not os.path.exists(policy):
            os.makedirs(os.path.dirname(policy), exist_ok=True)
            with open(policy, "w") as f:
                f.write("#!/bin/sh\n# written by spma for the length of a transaction\nexit 101\n")
            os.chmod(policy, 0o755)
            remove_policy = True
        else:
            remove_policy = False
        before = self._installed()
        logdir = os.path.join(self.statedir, "log")
        os.makedirs(logdir, exist_ok=True)

        class _QuietInstall(InstallProgress):
            """dpkg writes to the terminal itself; keep its words in a log, not on spma's stdout."""

            def fork(self) -> int:
                pid = os.fork()
                if pid == 0:
                    fd = os.open(
                        os.path.join(logdir, "dpkg-output.log"),
                        os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                        0o644,
                    )
                    os.dup2(fd, 1)
                    os.dup2(fd, 2)
                return pid

        try:
            cache.commit(AcquireProgress(), _QuietInstall())
        except apt.cache.FetchFailedException as e:
            raise RepoError("downloading packages failed, nothing was changed: %s" % e) from e
        except (SystemError, apt.cache.LockFailedException) as e:
            changed = self._installed() != before
            raise TransactionError(
                "the dpkg transaction failed%s: %s" % ("" if changed else " (nothing was changed)", e)
            ) from e
        finally:
            if remove_policy:
                os.unlink(policy)

    # -- sources files -------------------------------------------------------------------------
    def write_repo_config(self, *, repositories: Tuple[Repository, ...], userrepos: bool) -> None:
        from spma.state import atomic_write

        d = os.path.join(self.root, "etc/apt/sources.list.d")
        os.makedirs(d, exist_ok=True)
        wanted = set()
        keyrings = os.path.join(self.root, "etc/apt/keyrings")
        for repo in repositories:
            fn = "%s.list" % repo.name
            wanted.add(fn)
            keys = []
            if repo.gpgcheck:
                os.makedirs(keyrings, exist_ok=True)
                for path in self._keys(repo):
                    dest = os.path.join(keyrings, "spma-" + os.path.basename(path))
                    with open(path, "rb") as f:
                        atomic_write(dest, f.read())
                    keys.append("/etc/apt/keyrings/" + os.path.basename(dest))  # as the root sees it
            text = "# Written by spma from the host profile; local changes are overwritten.\n"
            text += "".join(source_line(repo, u, keys) for u in repo.baseurls)
            atomic_write(os.path.join(d, fn), text.encode())
        if not userrepos:
            for fn in os.listdir(d):
                if fn.endswith((".list", ".sources")) and fn not in wanted:
                    os.unlink(os.path.join(d, fn))
                    log.info("removed unmanaged source file %s", os.path.join(d, fn))

    def close(self) -> None:
        self._cache = None


def _deb_key(v: str) -> Any:
    import functools

    import apt_pkg

    return functools.cmp_to_key(apt_pkg.version_compare)(v)
