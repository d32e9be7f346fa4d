"""dnf.Base for one root: configuration, the profile's repositories, the sack, and the
fingerprints of what was read (the rpmdb and each repository's repomd.xml)."""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import re
from typing import Any, List, Optional, Tuple

from spma import rootfs
from spma.errors import ProfileError, RepoError
from spma.model import Repository, SolveRequest

log = logging.getLogger("spma.dnf")

_DBPATHS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")


def evr(pkg: Any) -> str:
    vr = "%s-%s" % (pkg.version, pkg.release)
    return "%d:%s" % (pkg.epoch, vr) if pkg.epoch else vr


def nevra(pkg: Any) -> str:
    return "%s-%s.%s" % (pkg.name, evr(pkg), pkg.arch)


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


class Root:
    """Where one root's rpmdb is, and what is installed in it."""

    def __init__(self, root: str, statedir: str) -> None:
        self.root = root
        self.statedir = statedir
        self.cachedir = os.path.join(statedir, "cache", "dnf")
        self.dbpath = self._find_dbpath()

    def _find_dbpath(self) -> str:
        chosen = _DBPATHS[0]
        for p in _DBPATHS:
            d = os.path.join(self.root, p.lstrip("/"))
            if os.path.exists(os.path.join(d, "rpmdb.sqlite")) or os.path.exists(
                os.path.join(d, "Packages")
            ):
                chosen = p
                break
        # rpm opens <root><dbpath> as the host sees it: hand it the path the root's own system
        # sees, so a link in the root never puts the rpmdb outside it (spma/rootfs.py)
        try:
            return "/" + rootfs.relpath(self.root, rootfs.resolve(self.root, chosen.lstrip("/")))
        except (FileNotFoundError, NotADirectoryError):
            return chosen

    def pin_dbpath(self) -> None:
        import rpm

        rpm.addMacro("_dbpath", self.dbpath)

    def rpmdb_nevras(self) -> List[str]:
        import rpm

        # also called before any dnf.Base exists (spma boot): pin the rpmdb location here too
        self.pin_dbpath()
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

    def installed_packages(self) -> List[Tuple[str, str, str]]:
        """(name, arch, [epoch:]version-release) as rpm lists them; gpg-pubkey entries are not
        packages a plan manages."""
        import rpm

        self.pin_dbpath()
        ts = rpm.TransactionSet(self.root)
        try:
            out = []
            for h in ts.dbMatch():
                if h["name"] == "gpg-pubkey":
                    continue
                vr = "%s-%s" % (h["version"], h["release"])
                e = h["epochnum"]
                out.append((h["name"], h["arch"] or "(none)", "%d:%s" % (e, vr) if e else vr))
            return sorted(out)
        finally:
            ts.closeDB()

    def installed_fingerprint(self) -> str:
        """sha256 of the installed NEVRAs as rpm itself lists them; gpg-pubkey entries are left
        out, so importing a repository key does not make a saved plan stale."""
        h = hashlib.sha256()
        for s in self.rpmdb_nevras():
            if not s.startswith("gpg-pubkey-"):
                h.update(s.encode())
                h.update(b"\n")
        return "sha256:" + h.hexdigest()

    def make_base(self, request: SolveRequest) -> Any:
        import dnf

        base = dnf.Base()
        self.dbpath = self._find_dbpath()
        # Debian's rpm puts the rpmdb under $HOME; dnf.Base() re-reads rpm's macros, so the
        # pin must come after it (backend-recipes §2.2).
        self.pin_dbpath()
        _configure(base.conf, self, request)
        for repo in request.repositories:
            if repo.enabled:
                _add_repo(base, repo)
        return base

    def load(self, request: SolveRequest, *, available: bool = True) -> Any:
        """A Base with the sack filled: the rpmdb, and the repositories unless `available` is false."""
        import dnf.exceptions

        if not os.path.isdir(self.root):
            raise ProfileError("root %s does not exist or is not a directory" % self.root)
        from .problems import dnf_warnings, failed_repo, repo_failure

        base = self.make_base(request)
        try:
            with dnf_warnings() as said:
                base.fill_sack(load_system_repo=True, load_available_repos=available)
        except dnf.exceptions.RepoError as e:
            failed = failed_repo(base, request)
            base.close()
            raise RepoError(
                repo_failure(failed, str(e), said),
                hint="check the repository URLs in the profile and that the mirror is reachable; nothing was changed",
            ) from e
        except dnf.exceptions.Error as e:
            base.close()
            raise RepoError("could not load package metadata: %s" % e) from e
        return base


def _configure(c: Any, root: Root, request: SolveRequest) -> None:
    c.installroot = root.root
    # every directory dnf writes to, resolved as the root sees it (spma/rootfs.py)
    c.cachedir = rootfs.makedirs(root.root, root.cachedir)
    c.persistdir = rootfs.makedirs(root.root, "var/lib/dnf")
    c.logdir = rootfs.makedirs(root.root, os.path.join(root.statedir, "log"))
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
    c.installonly_limit = installonly_limit(request)
    rel = release_version(root.root, _detect_releasever(root.root))
    if rel:
        c.releasever = rel
        c.substitutions["releasever"] = rel
    # libdnf refuses None values; an empty root has no release to detect.
    for k in [k for k, v in c.substitutions.items() if v is None]:
        del c.substitutions[k]


def installonly_limit(request: SolveRequest) -> int:
    """Room for every declared version of an install-only package, and dnf's default of 3."""
    n_kernel_versions = max((len(d.versions) for d in request.packages if not d.is_glob), default=0)
    return max(3, n_kernel_versions + 1)


def _add_repo(base: Any, repo: Repository) -> None:
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


def repo_fingerprints(base: Any, request: SolveRequest) -> Tuple[Tuple[str, str], ...]:
    """sha256 of each enabled repository's repomd.xml as loaded."""
    out = []
    for repo in request.repositories:
        if not repo.enabled:
            continue
        repomd = _repomd_path(base.repos[repo.name])
        if repomd is None:
            digest = "unavailable"
        else:
            h = hashlib.sha256()
            with open(repomd, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):  # repository metadata: streamed
                    h.update(chunk)
            digest = h.hexdigest()
        out.append((repo.name, "sha256:" + digest))
    return tuple(sorted(out))


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


def release_version(root: str, rel: Optional[str]) -> Optional[str]:
    """The release version read from the root if it is a plain value, else None (said once)."""
    if rel and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", rel):
        # read from the root: it becomes part of every repository URL, so only a plain value
        log.warning("%s: ignoring the release version %r read from the root", root, rel[:40])
        return None
    return rel


def _detect_releasever(root: str) -> Optional[str]:
    try:
        import dnf.rpm

        rel = dnf.rpm.detect_releasever(root)
        if rel:
            return str(rel)
    except Exception:  # noqa: BLE001 - detection is best effort
        pass
    return os_release_version(root)


def os_release_version(root: str) -> Optional[str]:
    # the root's file, read as the root sees it and bounded (it may be a link to /dev/zero)
    for line in rootfs.read_text(root, "etc/os-release").splitlines():
        if line.startswith("VERSION_ID="):
            return line.split("=", 1)[1].strip().strip('"').split(".")[0]
    return None


def render_repo(repo: Repository) -> str:
    """One .repo file's body (the core's writer adds the header)."""
    for url in repo.baseurls:
        if any(c.isspace() for c in url):
            raise ProfileError(
                "repository %s: %r is apt's '<uri> <suite> <components>' form; a .repo file takes one URL"
                % (repo.name, url)
            )
    lines = [
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
