"""apt for one private root: spma's own apt configuration (nothing of the host's apt state is
read or written), the profile's sources and keys, the cache, and dpkg's status file."""

from __future__ import annotations

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


def dpkg_mode(root: str) -> List[str]:
    """apt's configuration for running dpkg on `root`: chrooted into an image root (apt strips
    the root from the archive paths it hands to dpkg); with --root for an empty sandbox root,
    which has no programs to run."""
    if image_root(root):
        return [
            'DPkg::Options { "--force-confdef"; "--force-confold"; };',
            'DPkg::Chroot-Directory "%s";' % root,
        ]
    return [
        'DPkg::Options { "--root=%s"; "--log=%s/var/log/dpkg.log"; "--force-confdef"; "--force-confold"; };'
        % (root, root),
        'DPkg::Chroot-Directory "/";',
    ]


def write_if_changed(path: str, data: bytes) -> None:
    """Unchanged files keep their mtime: a newer sources.list makes apt rebuild its whole cache."""
    try:
        with open(path, "rb") as f:
            if f.read(len(data) + 1) == data:
                return
    except FileNotFoundError:
        pass
    with open(path, "wb") as f:
        f.write(data)


def release_dir(url: str) -> str:
    """Where a source line's Release/InRelease lives: `URI/dists/SUITE/`, or `URI/DIR/` for a flat one."""
    parts = url.split()
    uri = parts[0]
    if uri.startswith("file://"):
        uri = "file:" + uri[len("file://") :]
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
            uri = parts[0].replace("file://", "file:", 1).rstrip("/")
            suite = parts[1] if len(parts) > 1 else ""
            if ("%s %s" % (uri, suite)).strip() + " " in text + " " and repo.name not in names:
                names.append(repo.name)
    return "repository %s: " % ", ".join(names) if names else ""


def _apt_conf(r: str, a: str, weak: str, arches: List[str]) -> List[str]:
    return (
        [
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
        ]
        + dpkg_mode(r)
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
        conf = "\n".join(_apt_conf(self.root, self.aptdir, weak, self.architectures())) + "\n"
        write_if_changed(conf_path, conf.encode())
        local = "copy" if image_root(self.root) else "file"
        lines = [source_line(repo, url, self.keys(repo), local)
                 for repo in request.repositories if repo.enabled for url in repo.baseurls]  # fmt: skip
        write_if_changed(os.path.join(self.aptdir, "etc/sources.list"), "".join(lines).encode())
        _init_config(conf_path, self.root)

    def architectures(self) -> List[str]:
        """The root's own: dpkg's native architecture plus those `dpkg --add-architecture` added."""
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
            write_if_changed(path, data)
            out.append(path)
        return out

    def open(self, request: SolveRequest) -> Any:
        """The cache, after `apt update` of the request's sources (python-apt's open walks every
        package in Python: once, after the update)."""
        self.configure(request)
        import apt

        self.update(request)
        return apt.Cache(rootdir=None, memonly=False)

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

    def installed_triples(self, status: List[Dict[str, str]]) -> Tuple[Tuple[str, str, str], ...]:
        """(name, arch, version) of every installed package, as dpkg's status says."""
        return tuple(sorted((f["Package"], f.get("Architecture", ""), f.get("Version", "")) for f in status
                            if f.get("Status", "").endswith(" installed") and "Package" in f))  # fmt: skip

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
                prefix = apt_pkg.uri_to_filename(release_dir(url))
                for n in names:
                    # this repository's own suite only: bookworm and bookworm-updates share a mirror
                    if n in (prefix + "Release", prefix + "InRelease"):
                        with open(os.path.join(lists, n), "rb") as f:
                            h.update(f.read())
                        found = True
            out.append((repo.name, "sha256:" + (h.hexdigest() if found else "unavailable")))
        return tuple(sorted(out))


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
