"""A plan's sack read straight from the metadata cache dnf keeps under the root, without dnf.Base.

A plan never downloads or runs a transaction, so it needs only what `dnf.Base.fill_sack` leaves
in the sack: the rpmdb, each repository's packages with its priority and cost, the repositories'
excludes and includes, and module filtering. Importing dnf, configuring a Base and letting librepo
re-check each repository costs more than solving a small declaration; this module builds the same
sack from libdnf's own objects (ConfigMain, ConfigRepo, Repo.loadCache, hawkey.Sack.load_repo with
dnf's flags, Sack.filter_modules) when that is safe, and says None otherwise:

* every enabled repository is one plain local `file://` URL (no dnf variables, nothing to fetch);
* its cache, `<cachedir>/<id>-<hash>/repodata/repomd.xml` (the directory dnf itself made), is
  byte-identical to the origin's repomd.xml: what libdnf checks before it keeps a cache;
* nothing fails on the way.

Otherwise dnf.Base loads as before: it refreshes the cache, and names a failing repository.
Module filtering (backends/dnf/modular.py) runs when a repository has modules metadata or the
root keeps module fail-safe copies; without either it would exclude nothing.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from spma import rootfs
from spma.model import Repository, SolveRequest

from . import modular
from .base import Root, installonly_limit, os_release_version, release_version

log = logging.getLogger("spma.dnf")


class _Conf:
    """The part of dnf.Base.conf a plan reads."""

    def __init__(self, installonlypkgs: Sequence[str]) -> None:
        self.installonlypkgs = list(installonlypkgs)


class _RepoRef:
    """A loaded repository as base.repos[...] holds it (`_repo` is the libdnf object)."""

    def __init__(self, repo: Any) -> None:
        self._repo = repo
        self.id = repo.getId()
        self.priority = repo.getConfig().priority().getValue()


class _Repos(Dict[str, _RepoRef]):
    """base.repos as a plan reads it: by id, and the enabled ones (all loaded ones are)."""

    def iter_enabled(self) -> Iterator[_RepoRef]:
        return iter(list(self.values()))


class Cached:
    """Stands in for a filled dnf.Base in a plan: `sack`, `conf.installonlypkgs`, `repos`."""

    def __init__(self, sack: Any, conf: _Conf, repos: _Repos, holders: Sequence[Any]) -> None:
        self.sack, self.conf, self.repos = sack, conf, repos
        self._holders = list(holders)  # the ConfigMain each ConfigRepo points into must outlive them

    def close(self) -> None:
        self.sack = None
        self.repos = _Repos()
        self._holders = []


def load(root: Root, request: SolveRequest) -> Optional[Cached]:
    """The plan's sack from dnf's cache, or None when dnf.Base must load it."""
    origins = local_origins(request)
    if origins is None:
        return None
    try:
        return _load(root, request, origins)
    except Exception as e:  # noqa: BLE001 - in any doubt dnf's own path loads and names the error
        log.debug("dnf metadata cache not used directly: %s", e)
        return None


def local_origins(request: SolveRequest) -> Optional[List[Tuple[Repository, str]]]:
    """(repository, local directory) of every enabled repository, if each is one plain file:// URL."""
    out = []
    for repo in request.repositories:
        if not repo.enabled:
            continue
        if len(repo.baseurls) != 1:
            return None
        url = repo.baseurls[0]
        # dnf substitutes variables and librepo takes the path as written (no %-decoding)
        if "$" in url or "%" in url:
            return None
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc or parts.query or parts.fragment or not parts.path:
            return None
        out.append((repo, parts.path))
    return out


def _same_bytes(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        if os.fstat(fa.fileno()).st_size != os.fstat(fb.fileno()).st_size:
            return False
        while True:
            ca, cb = fa.read(1 << 16), fb.read(1 << 16)
            if ca != cb:
                return False
            if not ca:
                return True


def _sack_class() -> Any:
    import hawkey

    class Sack(hawkey.Sack):  # type: ignore[misc]  # hawkey has no type information
        """hawkey's sack with dnf.sack.Sack's query(): the plan code queries both alike."""

        def query(self, flags: int = 0) -> Any:
            return hawkey.Query(self, flags)

    return Sack


def _load(root: Root, request: SolveRequest, origins: List[Tuple[Repository, str]]) -> Optional[Cached]:
    import hawkey
    import libdnf

    runtime, default = libdnf.conf.Option.Priority_RUNTIME, libdnf.conf.Option.Priority_DEFAULT
    # libdnf's configuration re-reads rpm's macros: made before the rpmdb location is pinned
    main = libdnf.conf.ConfigMain()
    # the directories dnf.Base is given (base._configure), made in the same order
    cachedir = rootfs.makedirs(root.root, root.cachedir)
    persistdir = rootfs.makedirs(root.root, "var/lib/dnf")
    logdir = rootfs.makedirs(root.root, os.path.join(root.statedir, "log"))
    root.dbpath = root._find_dbpath()
    root.pin_dbpath()
    # a local URL has no $releasever to fill, but the root's release is checked (and a strange
    # one said) exactly as dnf.Base's configuration does
    release_version(root.root, _release(root.root) or os_release_version(root.root))

    main.installroot().set(runtime, root.root)
    main.cachedir().set(runtime, cachedir)
    main.system_cachedir().set(default, "/var/cache/dnf")
    main.persistdir().set(runtime, persistdir)
    main.logdir().set(runtime, logdir)

    repos = _cached_repos(main, origins)
    if repos is None:
        return None  # missing or stale: dnf refreshes it
    arch = hawkey.detect_arch()
    sack = _sack_class()(arch=arch, cachedir=cachedir, rootdir=root.root,
                         logfile=os.path.join(logdir, "hawkey.log"), logdebug=False)  # fmt: skip
    sack.load_system_repo(build_cache=False)
    for r in repos:
        sack.load_repo(r, build_cache=True, load_filelists=True, load_presto=r.getConfig().deltarpm().getValue(),
                       load_updateinfo=True)  # fmt: skip
    installonly = list(main.installonlypkgs().getValue())
    if installonly:
        sack.installonly = installonly
    sack.installonly_limit = installonly_limit(request)
    sack.allow_vendor_change = main.allow_vendor_change().getValue()
    _excludes_includes(sack, repos)
    modular.filter_modules(sack, root.root, root.cachedir, persistdir, repos, arch)
    return Cached(sack, _Conf(installonly), _Repos((r.getId(), _RepoRef(r)) for r in repos), [main])


# what dnf.rpm.detect_releasever asks the rpmdb for, in its order (dnf.const.DISTROVERPKG)
_RELEASE_PROVIDES = ("system-release(releasever)", "system-release", "distribution-release(releasever)",
                     "distribution-release", "redhat-release", "suse-release")  # fmt: skip


def _release(root: str) -> Optional[str]:
    """The release version dnf detects in the root's rpmdb: the version of the first package
    providing one of _RELEASE_PROVIDES, or the version that provide names exactly (`= V`)."""
    import rpm

    ts = rpm.TransactionSet(root)
    try:
        ts.setVSFlags(~(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS))
        for name in _RELEASE_PROVIDES:
            found = ts.dbMatch("provides", name)
            if not len(found):
                continue
            hdr = next(found)
            rel = hdr["version"]
            try:
                off = list(hdr[rpm.RPMTAG_PROVIDENAME]).index(name)
                flag, ver = hdr[rpm.RPMTAG_PROVIDEFLAGS][off], hdr[rpm.RPMTAG_PROVIDEVERSION][off]
                if flag == rpm.RPMSENSE_EQUAL and ver and hdr["name"] != name:
                    rel = ver
            except (ValueError, KeyError, IndexError):
                pass
            return (rel.decode() if isinstance(rel, bytes) else str(rel)) or None
        return None
    except Exception:  # noqa: BLE001 - detection is best effort, as in base._detect_releasever
        return None
    finally:
        ts.closeDB()


def _cached_repos(main: Any, origins: List[Tuple[Repository, str]]) -> Optional[List[Any]]:
    """libdnf's repository objects loaded from their cache, configured as base._add_repo does;
    None when a cache is missing or differs from its origin."""
    import libdnf

    runtime, default = libdnf.conf.Option.Priority_RUNTIME, libdnf.conf.Option.Priority_DEFAULT
    repos: List[Any] = []
    for repo, path in origins:
        cfg = libdnf.conf.ConfigRepo(main)
        cfg.name().set(default, repo.name)
        cfg.baseurl().set(runtime, libdnf.conf.VectorString([repo.baseurls[0]]))
        if repo.priority is not None:
            cfg.priority().set(runtime, repo.priority)
        cfg.excludepkgs().set(runtime, libdnf.conf.VectorString(list(repo.excludepkgs)))
        cfg.includepkgs().set(runtime, libdnf.conf.VectorString(list(repo.includepkgs)))
        cfg.this.disown()  # the libdnf Repo owns its config (as in dnf.repo.Repo)
        r = libdnf.repo.Repo(repo.name, cfg)
        cached = os.path.join(r.getCachedir(), "repodata", "repomd.xml")
        origin = os.path.join(path, "repodata", "repomd.xml")
        if not (os.path.isfile(cached) and os.path.isfile(origin) and _same_bytes(cached, origin)):
            return None
        r.loadCache(True)
        repos.append(r)
    return repos


def _excludes_includes(sack: Any, repos: List[Any]) -> None:
    """The repositories' excludepkgs and includepkgs as dnf.Base applies them (the main section
    sets neither in spma's configuration)."""
    import hawkey

    def matching(specs: Sequence[str]) -> Any:
        q = sack.query().filterm(empty=True)
        for spec in set(specs):
            q = q.union(hawkey.Subject(spec).get_best_query(sack, with_nevra=True, with_provides=False,
                                                            with_filenames=False))  # fmt: skip
        return q

    includes, excludes = [], []
    for r in repos:
        cfg = r.getConfig()
        if len(cfg.includepkgs().getValue()) > 0:
            includes.append((matching(list(cfg.includepkgs().getValue())).filterm(reponame=r.getId()).apply(),
                             r.getId()))  # fmt: skip
        excl = matching(list(cfg.excludepkgs().getValue())).filterm(reponame=r.getId())
        if excl:
            excludes.append(excl)
    for q, rid in includes:
        sack.add_includes(q)
        sack.set_use_includes(True, rid)
    for q in excludes:
        sack.add_excludes(q)
