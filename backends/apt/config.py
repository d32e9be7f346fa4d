"""apt for one private root: spma's own apt configuration (nothing of the host's apt state is
read or written), the profile's sources and keys, the cache, and dpkg's status file."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import subprocess
import time
from typing import Any, Dict, List, Optional, Set, Tuple

from spma import rootfs
from spma.environ import scoped
from spma.errors import RepoError
from spma.model import Repository, SolveRequest

from . import dpkgstate, sources

log = logging.getLogger("spma.apt")
_ARCH = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")

_LISTS = ("DPkg::Options", "APT::Architectures")
_HOOKS = ("DPkg::Pre-Install-Pkgs", "DPkg::Pre-Invoke", "DPkg::Post-Invoke", "DPkg::Post-Invoke-Success",
          "APT::Update::Pre-Invoke", "APT::Update::Post-Invoke", "APT::Update::Post-Invoke-Success",
          "DPkg::Tools::Options")  # fmt: skip


def source_line(repo: Repository, url: str, keys: List[str], local: str = "file") -> str:
    parts = url.split()
    if len(parts) == 1:
        parts.append("./")  # a flat repository
    opts = []
    if not repo.gpgcheck:
        opts.append("trusted=yes")
    elif keys:
        opts.append("signed-by=%s" % ",".join(keys))
    uri = parts[0]
    if uri.startswith("file://"):
        # copy: for a chrooted dpkg: it reads the archives inside the root, not at their source
        uri = local + ":" + uri[len("file://") :]
    return "deb %s%s %s\n" % ("[%s] " % " ".join(opts) if opts else "", uri, " ".join(parts[1:]))


def image_root(root: str) -> bool:
    """A root with its own dpkg and shell (an image or container tree, not an empty sandbox):
    dpkg runs chrooted into it, as image builders run it, so the root's own users, groups and
    statoverrides count, not the host's."""
    return os.path.realpath(root) != "/" and all(
        os.path.isfile(os.path.join(root, p)) for p in ("usr/bin/dpkg", "bin/sh")
    )


def dpkg_mode(root: str, admindir: str, log: str) -> List[str]:
    """apt's configuration for running dpkg on `root`: chrooted into an image root (apt strips
    the root from the archive paths it hands to dpkg); with --root for an empty sandbox root,
    which has no programs to run."""
    if image_root(root):
        return [
            'DPkg::Options { "--force-confdef"; "--force-confold"; };',
            'DPkg::Chroot-Directory "%s";' % root,
        ]
    return [
        'DPkg::Options { "--root=%s"; "--admindir=%s"; "--log=%s"; "--force-confdef"; "--force-confold"; };'
        % (root, admindir, log),
        # never a chroot a host setting left in apt's configuration
        'DPkg::Chroot-Directory "/";',
    ]


def _apt_conf(r: str, a: str, weak: str, arches: List[str]) -> List[str]:
    # every directory and file apt and dpkg write to, resolved as the root sees it (spma/rootfs.py);
    # resolved paths carry the root's link targets, so each is checked before it is quoted
    def d(p: str) -> str:
        return rootfs.config_safe(rootfs.makedirs(r, p))

    def f(p: str) -> str:
        return rootfs.config_safe(rootfs.resolve(r, p, create_parents=True))

    dpkg = d("var/lib/dpkg")
    return (
        [
            'Dir "%s/";' % r,
            'Dir::State "%s/";' % d("var/lib/apt"),
            'Dir::State::lists "%s/lists/";' % a,
            'Dir::State::status "%s/status";' % dpkg,
            'Dir::State::extended_states "%s";' % f("var/lib/apt/extended_states"),
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
            'Dir::Log "%s";' % d("var/log/apt"),
            'Dir::Log::Terminal "%s";' % f("var/log/apt/term.log"),
            'Dir::Log::History "%s";' % f("var/log/apt/history.log"),
            'Dir::Log::Planner "%s";' % f("var/log/apt/eipp.log.xz"),
            'Dir::Bin::dpkg "/usr/bin/dpkg";',
        ]
        + dpkg_mode(r, dpkg, f("var/log/dpkg.log"))
        + [
            'APT::Install-Recommends "%s";' % weak,
            'APT::Install-Suggests "false";',
            'APT::AutoRemove::RecommendsImportant "%s";' % weak,
            'APT::AutoRemove::SuggestsImportant "false";',
            'APT::Sandbox::User "root";',
            "APT::Architectures { %s };" % " ".join('"%s";' % x for x in arches),
            'Acquire::Languages "none";',
            'Acquire::Retries "3";',  # a mirror caught mid-sync is common; unattended runs retry
            'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";',
            'Dpkg::Use-Pty "false";',
        ]
    )


def release_dir(url: str) -> str:
    """Where a source line's Release/InRelease lives: `URI/dists/SUITE/`, or `URI/DIR/` for a flat one."""
    parts = url.split()
    uri = sources.apt_uri(url)
    dist = parts[1] if len(parts) > 1 else "./"
    if dist.endswith("/"):
        return uri.rstrip("/") + "/" + dist
    return uri.rstrip("/") + "/dists/" + dist + "/"


def which_repos(request: SolveRequest, text: str) -> str:
    """`repository NAME: ` for the profile repositories apt's error text names (by URI and suite)."""
    names = []
    for repo in request.repositories:
        for url in repo.baseurls:
            parts = url.split()
            uri = sources.apt_uri(url).rstrip("/")
            suite = parts[1] if len(parts) > 1 else ""
            if ("%s %s" % (uri, suite)).strip() + " " in text + " " and repo.name not in names:
                names.append(repo.name)
    return "repository %s: " % ", ".join(names) if names else ""


class AptRoot:
    """One root and spma's private apt directory for it."""

    def __init__(self, root: str, statedir: str) -> None:
        self.root = root
        self.statedir = statedir
        self.aptdir = os.path.join(statedir, "cache", "apt")

    def _dirs(self) -> None:
        self.aptdir = rootfs.config_safe(rootfs.makedirs(self.root, self.aptdir))
        for d in (
            "lists/partial",
            "archives/partial",
            "etc/apt.conf.d",
            "etc/preferences.d",
            "etc/sources.list.d",
        ):
            rootfs.makedirs(self.root, os.path.join(self.aptdir, d))
        for d in ("info", "updates", "triggers", "alternatives"):
            rootfs.makedirs(self.root, os.path.join("var/lib/dpkg", d))
        for fn in ("status", "available"):
            if not rootfs.exists(self.root, os.path.join("var/lib/dpkg", fn)):
                # an empty root gets an empty dpkg database
                rootfs.write_file(self.root, os.path.join("var/lib/dpkg", fn), b"")

    def configure(self, request: SolveRequest) -> None:
        self._dirs()
        weak = "true" if request.install_weak_deps else "false"
        conf_lines = _apt_conf(self.root, self.aptdir, weak, self.architectures())
        conf_lines += sources.acquire_options(request.repositories)
        sources.write_excludes(self.aptdir, request)
        # rewritten only when it changes: apt rebuilds its cache when its configuration is newer
        conf_path = _write_if_changed(
            self.root, os.path.join(self.aptdir, "spma-apt.conf"), "\n".join(conf_lines) + "\n"
        )
        # an image root's dpkg runs chrooted: local packages are copied in (copy:), never read
        # from a path outside it
        local = "copy" if image_root(self.root) else "file"
        lines = [source_line(repo, url, self.keys(repo), local)
                 for repo in request.repositories if repo.enabled for url in repo.baseurls]  # fmt: skip
        # rewritten only when it changes: apt rebuilds pkgcache.bin when sources.list is newer
        _write_if_changed(self.root, os.path.join(self.aptdir, "etc/sources.list"), "".join(lines))
        _init_config(conf_path, self.root)

    def architectures(self) -> List[str]:
        """The root's own: dpkg's native architecture plus those `dpkg --add-architecture` added."""
        arches = [_native_arch()]
        # the root's file goes into spma's apt configuration: only architecture names pass
        data = rootfs.read_bytes(self.root, "var/lib/dpkg/arch", 64 * 1024) or b""
        for ln in data.decode("ascii", "replace").splitlines():
            arch = ln.strip()
            if arch and not _ARCH.fullmatch(arch):
                log.warning(
                    "%s/var/lib/dpkg/arch: %r is not an architecture name; ignored", self.root, arch[:40]
                )
            elif arch and arch not in arches:
                arches.append(arch)
        return arches

    def keys(self, repo: Repository) -> List[str]:
        """The profile's keys for a repository, copied where apt's signed-by can read them:
        armored keys need a .asc name, binary ones .gpg."""
        from spma.keys import fetch_checked

        return fetch_checked(self.root, os.path.join(self.aptdir, "keys"), repo.name, list(repo.gpgkeys))

    def open(self, request: SolveRequest, plain: bool = False) -> Any:
        """The cache, after `apt update` of the request's sources (python-apt's open walks every
        package in Python: once, after the update). `plain`: a plan's, which reads apt_pkg's
        objects only (backends/apt/plaincache.py), not python-apt's `apt.Cache`."""
        self.configure(request)
        from .plaincache import PlainCache, QuietAcquire
        from .problems import fetch_failures, repo_failure

        lists = os.path.join(self.aptdir, "lists")
        before = _lists_state(lists)
        cache: Any = None
        failed: Tuple[Any, ...] = (SystemError,)  # PlainCache.update: apt's words as a SystemError
        try:
            if plain:
                cache = PlainCache()
            else:
                import apt

                cache = apt.Cache(rootdir=None, memonly=False)
                failed = (apt.cache.FetchFailedException, SystemError)
        except SystemError as e:  # apt_pkg.Error: its cache files cannot be written or read
            raise RepoError(
                "apt could not build its package cache under %s: %s" % (self.aptdir, str(e).strip())
            ) from e
        failures = fetch_failures(base=QuietAcquire if plain else None)
        try:
            if plain and self._lists_current(request, cache._list, cache._cache):
                pass  # `apt update` would fetch nothing and change nothing: a plan skips it
            elif plain:
                cache.update(failures)
            else:
                cache.update(fetch_progress=failures, raise_on_error=True)
        except failed as e:
            raise RepoError(
                repo_failure(request.repositories, failures.failed, str(e)),
                hint="check the repository lines in the profile (URI, suite, components), their keys, and "
                "that the mirror is reachable; nothing was changed",
            ) from e
        try:
            sources.filter_lists(self.aptdir, request)
            if _lists_state(lists) != before:  # the first open read the lists update replaced
                cache.open(None)
        except SystemError as e:
            raise RepoError(
                "apt could not build its package cache under %s: %s" % (self.aptdir, str(e).strip())
            ) from e
        return cache

    def _lists_current(self, request: SolveRequest, slist: Any, built: Any = None) -> bool:
        """Would `apt update` leave apt's lists exactly as they are? Only told for local sources:
        every enabled one local and unsigned, its Release/InRelease in apt's lists byte for byte
        (local_fingerprints, as the no-op check reads them: apt then fetches no index again),
        dated in the past (apt refuses one from the future), every index file apt reads from
        the source list present (a missing one apt would fetch), and nothing in the lists but
        those indexes and Release files (apt's clean-up deletes the rest: another suite or a
        component the profile dropped, which the priority filter would read by its URI).
        `built`: the apt_pkg.Cache opened from `slist` (its package files are those indexes)."""
        import apt_pkg

        from spma.quick import release_files

        if self.local_fingerprints(request) is None:
            return False
        if not all(f.exists for meta in slist.list for f in meta.index_files):
            return False
        lists = os.path.join(self.aptdir, "lists")
        urls = [u for r in request.repositories if r.enabled for u in r.baseurls]
        releases = [release_files(url, lists) for url in urls]
        if built is None:
            from .plaincache import QuietOp

            built = apt_pkg.Cache(QuietOp())  # type: ignore[arg-type]
        owned = {os.path.basename(pf.filename) for pf in built.file_list if not pf.not_source}
        owned.update(os.path.basename(files[1]) for files in releases if files is not None)
        if any(e.name not in owned for e in _list_files(lists)):
            return False
        now = time.time()
        for files in releases:
            if files is None:
                return False
            with open(files[1], "rb") as f:
                head = f.read(64 * 1024).decode("utf-8", "replace")
            date = next((ln[5:].strip() for ln in head.splitlines() if ln.startswith("Date:")), "")
            when = apt_pkg.str_to_time(date) if date else 0
            if not 0 < when <= now:
                return False
        return True

    def update(self, request: SolveRequest) -> None:
        """Fetch the sources' indexes (only what changed) with apt's C++ cache alone (the no-op
        check needs nothing more); a failure names the repository and apt's own words."""
        import apt_pkg
        from apt.progress.base import AcquireProgress, OpProgress

        class _Failures(AcquireProgress):
            def __init__(self) -> None:
                super().__init__()
                self.failed: List[str] = []

            def fail(self, item: Any) -> None:
                self.failed.append("%s: %s" % (item.description, item.owner.error_text or "failed"))

        progress = _Failures()
        said, ok = "", False
        try:
            slist = apt_pkg.SourceList()
            slist.read_main_list()
            with apt_pkg.FileLock(os.path.join(apt_pkg.config.find_dir("Dir::State::Lists"), "lock")):
                ok = bool(apt_pkg.Cache(OpProgress()).update(progress, slist, 0))
        except SystemError as e:
            said = str(e).strip()
        if ok and not said:
            return
        why = "; ".join(
            [said] * bool(said) + [f for f in progress.failed if f.split(": ", 1)[-1] not in said]
        )
        why = why or "apt gave no reason"
        raise RepoError(
            "apt sources could not be updated: %s%s" % (which_repos(request, why), why),
            hint="check the repository lines in the profile (URI, suite, components), their keys, and "
            "that the mirror is reachable; nothing was changed",
        )

    # -- dpkg's view -------------------------------------------------------------------------
    def status(self) -> List[Dict[str, str]]:
        """dpkg's database of the root, as stanzas, with its journal applied as dpkg reads it."""
        return dpkgstate.read(self.root)

    def installed(self, status: Optional[List[Dict[str, str]]] = None) -> List[str]:
        out = []
        for fields in self.status() if status is None else status:
            if fields.get("Status", "").endswith(" installed") and "Package" in fields:
                out.append(
                    "%s:%s=%s"
                    % (fields["Package"], fields.get("Architecture", ""), fields.get("Version", ""))
                )
        return sorted(out)

    def installed_triples(self, status: List[Dict[str, str]]) -> Tuple[Tuple[str, str, str], ...]:
        """(name, arch, version) of every installed package, as dpkg's status says."""
        return tuple(sorted((f["Package"], f.get("Architecture", ""), f.get("Version", "")) for f in status
                            if f.get("Status", "").endswith(" installed") and "Package" in f))  # fmt: skip

    def installed_fingerprint(self, status: Optional[List[Dict[str, str]]] = None) -> str:
        status = self.status() if status is None else status
        h = hashlib.sha256()
        for line in self.installed(status):
            h.update(line.encode() + b"\n")
        # unfinished packages move the fingerprint too: a half-configured package is not the
        # host the last successful apply left behind
        for u in dpkgstate.unfinished(status):
            h.update(("%s:%s=%s %s\n" % (u.name, u.arch, u.version, u.token())).encode())
        return "sha256:" + h.hexdigest()

    def local_fingerprints(self, request: SolveRequest) -> Optional[Tuple[Tuple[str, str], ...]]:
        """`repo_fingerprints` as they would be after an `apt update` that fetches nothing,
        without apt: every enabled source local and unsigned, its Release/InRelease already in
        apt's lists byte for byte (spma.quick); None when only apt can tell."""
        from spma.quick import local_apt_fingerprints

        enabled = [r for r in request.repositories if r.enabled]
        out = local_apt_fingerprints([(r.name, r.baseurls) for r in enabled], os.path.join(self.aptdir, "lists"),
                                     [r.name for r in enabled if r.gpgcheck or r.gpgkeys])  # fmt: skip
        return None if out is None else tuple(out)

    def repo_fingerprints(self, request: SolveRequest) -> Tuple[Tuple[str, str], ...]:
        """sha256 of each enabled source's Release/InRelease files as fetched."""
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
                prefix = apt_pkg.uri_to_filename(release_dir(url))
                for n in names:
                    # this repository's own suite only: bookworm and bookworm-updates share a mirror
                    if n in (prefix + "Release", prefix + "InRelease"):
                        with open(os.path.join(lists, n), "rb") as f:
                            for chunk in iter(lambda: f.read(1 << 20), b""):  # metadata: streamed
                                h.update(chunk)
                        found = True
            out.append((repo.name, "sha256:" + (h.hexdigest() if found else "unavailable")))
        return tuple(sorted(out))


@functools.cache
def _native_arch() -> str:
    """dpkg's native architecture: the host's dpkg binary's, so one call per process."""
    native = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    return native or "amd64"


def _list_files(lists: str) -> List[os.DirEntry[str]]:
    """What apt's lists hold (its lock aside): the files and the links, which apt makes to a
    local source's uncompressed index. Both the update skip (nothing but what the sources own)
    and the reopen after an update (did the lists change) read the lists through this."""
    with os.scandir(lists) as it:
        return [e for e in it if e.name != "lock" and (e.is_symlink() or e.is_file(follow_symlinks=False))]


def _lists_state(lists: str) -> List[Tuple[str, int, int]]:
    """What apt's lists hold, to tell whether `apt update` changed them (a re-created link
    included: else the cache stays as first opened, without that source's packages)."""
    out = []
    for e in _list_files(lists):
        st = e.stat(follow_symlinks=False)
        out.append((e.name, st.st_size, st.st_mtime_ns))
    return sorted(out)


def _write_if_changed(root: str, path: str, text: str) -> str:
    """Write `path` (inside `root`, as the root sees it) only when its text changes; the path."""
    data = text.encode()
    try:
        same = rootfs.read_bytes(root, path, len(data) + 1) == data
    except rootfs.SizeError:  # larger than the new text, or not a regular file: rewrite it
        same = False
    if same:
        return rootfs.resolve(root, path)
    return rootfs.write_file(root, path, data)


def held(status: List[Dict[str, str]]) -> Set[str]:
    return {f["Package"] for f in status if f.get("Status", "").startswith("hold ") and "Package" in f}


def _init_config(conf_path: str, root: str) -> None:
    import apt_pkg

    # the host's apt configuration must not leak in (backend-recipes §4.2). Once `import apt`
    # has read the host's config, clear("") leaves its hook lists behind: clear them by name.
    apt_pkg.config.clear("")
    # clear("") keeps list values; lists would accumulate across roots in one process
    # (DPkg::Options' --root, APT::Architectures): clear every list spma sets, and the hooks
    for key in _LISTS + _HOOKS:
        apt_pkg.config.clear(key)
    # APT_CONFIG only while init_config reads it: left in the environment it would hand this
    # root's configuration to every later child process of an embedding agent
    with scoped(APT_CONFIG=conf_path):
        apt_pkg.init_config()
    for key in _HOOKS:
        apt_pkg.config.clear(key)
    apt_pkg.init_system()
    leaked = [k for k in _HOOKS if apt_pkg.config.value_list(k) or apt_pkg.config.find(k)]
    roots = [o for o in apt_pkg.config.value_list("DPkg::Options") if o.startswith("--root=")]
    if roots != ([] if image_root(root) else ["--root=%s" % root]):
        leaked.append("DPkg::Options")
    if leaked:
        raise RuntimeError("host apt hooks leaked into spma's private configuration: %s" % leaked)
