"""apt for one private root: spma's own apt configuration (nothing of the host's apt state is
read or written), the profile's sources and keys, the cache, and dpkg's status file."""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from typing import Any, Dict, List, Optional, Set, Tuple

from spma.environ import scoped
from spma.errors import ProfileError, RepoError
from spma.model import Repository, SolveRequest

_LISTS = ("DPkg::Options", "APT::Architectures")
_HOOKS = ("DPkg::Pre-Install-Pkgs", "DPkg::Pre-Invoke", "DPkg::Post-Invoke", "DPkg::Post-Invoke-Success",
          "APT::Update::Pre-Invoke", "APT::Update::Post-Invoke", "APT::Update::Post-Invoke-Success",
          "DPkg::Tools::Options")  # fmt: skip


def source_line(repo: Repository, url: str, keys: List[str]) -> str:
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
        uri = "file:" + uri[len("file://") :]
    return "deb %s%s %s\n" % ("[%s] " % " ".join(opts) if opts else "", uri, " ".join(parts[1:]))


def _apt_conf(r: str, a: str, weak: str, arches: List[str]) -> List[str]:
    return [
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
        "APT::Architectures { %s };" % " ".join('"%s";' % x for x in arches),
        'Acquire::Languages "none";',
        'Acquire::Retries "3";',  # a mirror caught mid-sync is common; unattended runs retry
        'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";',
        'Dpkg::Use-Pty "false";',
    ]


class AptRoot:
    """One root and spma's private apt directory for it."""

    def __init__(self, root: str, statedir: str) -> None:
        self.root = root
        self.statedir = statedir
        self.aptdir = os.path.join(statedir, "cache", "apt")

    def _dirs(self) -> None:
        for d in (
            "lists/partial",
            "archives/partial",
            "etc/apt.conf.d",
            "etc/preferences.d",
            "etc/sources.list.d",
        ):
            os.makedirs(os.path.join(self.aptdir, d), exist_ok=True)
        dpkg = os.path.join(self.root, "var/lib/dpkg")
        for d in ("info", "updates", "triggers", "alternatives"):
            os.makedirs(os.path.join(dpkg, d), exist_ok=True)
        for fn in ("status", "available"):
            if not os.path.exists(os.path.join(dpkg, fn)):
                open(os.path.join(dpkg, fn), "a").close()  # an empty root gets an empty dpkg database
        os.makedirs(os.path.join(self.root, "var/lib/apt"), exist_ok=True)
        os.makedirs(os.path.join(self.root, "var/log/apt"), exist_ok=True)

    def configure(self, request: SolveRequest) -> None:
        self._dirs()
        weak = "true" if request.install_weak_deps else "false"
        conf_path = os.path.join(self.aptdir, "spma-apt.conf")
        _write_if_changed(
            conf_path, "\n".join(_apt_conf(self.root, self.aptdir, weak, self.architectures())) + "\n"
        )
        lines = []
        for repo in request.repositories:
            if repo.enabled:
                keys = self.keys(repo)
                for url in repo.baseurls:
                    lines.append(source_line(repo, url, keys))
        # rewritten only when it changes: apt rebuilds pkgcache.bin when sources.list is newer
        _write_if_changed(os.path.join(self.aptdir, "etc/sources.list"), "".join(lines))
        _init_config(conf_path, self.root)

    def architectures(self) -> List[str]:
        """The root's own: dpkg's native architecture plus those `dpkg --add-architecture` added."""
        arches = [_native_arch()]
        try:
            with open(os.path.join(self.root, "var/lib/dpkg/arch")) as f:
                arches += [ln.strip() for ln in f if ln.strip() and ln.strip() not in arches]
        except FileNotFoundError:
            pass
        return arches

    def keys(self, repo: Repository) -> List[str]:
        """The profile's keys for a repository, copied where apt's signed-by can read them:
        armored keys need a .asc name, binary ones .gpg."""
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

    def open(self, request: SolveRequest) -> Any:
        """The cache, after `apt update` of the request's sources."""
        self.configure(request)
        import apt
        import apt.cache

        lists = os.path.join(self.aptdir, "lists")
        before = _lists_state(lists)
        cache = apt.Cache(rootdir=None, memonly=False)
        try:
            cache.update(raise_on_error=True)
        except (apt.cache.FetchFailedException, SystemError) as e:
            raise RepoError(
                "apt sources could not be updated: %s" % str(e).strip(),
                hint="check the repository lines in the profile (URI, suite, components), their keys, and "
                "that the mirror is reachable; nothing was changed",
            ) from e
        if _lists_state(lists) != before:  # the first open read the lists update replaced
            cache.open(None)
        return cache

    # -- dpkg's view -------------------------------------------------------------------------
    def status(self) -> List[Dict[str, str]]:
        """dpkg's status file of the root, as stanzas."""
        from spma.deb822 import stanzas

        try:
            with open(
                os.path.join(self.root, "var/lib/dpkg/status"), encoding="utf-8", errors="replace"
            ) as f:
                return list(stanzas(f.read()))
        except FileNotFoundError:
            return []

    def installed(self, status: Optional[List[Dict[str, str]]] = None) -> List[str]:
        out = []
        for fields in self.status() if status is None else status:
            if fields.get("Status", "").endswith(" installed") and "Package" in fields:
                out.append(
                    "%s:%s=%s"
                    % (fields["Package"], fields.get("Architecture", ""), fields.get("Version", ""))
                )
        return sorted(out)

    def installed_fingerprint(self, status: Optional[List[Dict[str, str]]] = None) -> str:
        h = hashlib.sha256()
        for line in self.installed(status):
            h.update(line.encode() + b"\n")
        return "sha256:" + h.hexdigest()

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
                uri = url.split()[0]
                if uri.startswith("file://"):
                    uri = "file:" + uri[len("file://") :]
                prefix = apt_pkg.uri_to_filename(uri.rstrip("/") + "/")
                for n in names:
                    if n.startswith(prefix) and n.endswith(("_Release", "_InRelease")):
                        with open(os.path.join(lists, n), "rb") as f:
                            h.update(f.read())
                        found = True
            out.append((repo.name, "sha256:" + (h.hexdigest() if found else "unavailable")))
        return tuple(sorted(out))


@functools.cache
def _native_arch() -> str:
    """dpkg's native architecture: the host's dpkg binary's, so one call per process."""
    native = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    return native or "amd64"


def _lists_state(lists: str) -> List[Tuple[str, int, int]]:
    out = []
    with os.scandir(lists) as it:
        for e in it:
            if e.name != "lock" and e.is_file(follow_symlinks=False):
                st = e.stat(follow_symlinks=False)
                out.append((e.name, st.st_size, st.st_mtime_ns))
    return sorted(out)


def _write_if_changed(path: str, text: str) -> None:
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w") as f:
        f.write(text)


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
    if roots != ["--root=%s" % root]:
        leaked.append("DPkg::Options")
    if leaked:
        raise RuntimeError("host apt hooks leaked into spma's private configuration: %s" % leaked)
