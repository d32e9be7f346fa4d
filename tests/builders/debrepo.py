"""Build real .deb packages (dpkg-deb) and apt repositories (apt-ftparchive), flat or
suite-style, from a compact description. Cached by content hash like the RPM builder."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple

from tests.builders.rpmrepo import DEFAULT_CACHE, SigningKey

_DEB_VERSION = "2"


@dataclass(frozen=True)
class Deb:
    name: str
    version: str
    arch: str = "all"
    depends: Tuple[str, ...] = ()
    recommends: Tuple[str, ...] = ()
    conflicts: Tuple[str, ...] = ()
    provides: Tuple[str, ...] = ()
    essential: bool = False
    multiarch: Optional[str] = None  # "same", "foreign", "allowed"
    # maintainer scripts and dpkg triggers: file name under DEBIAN/ -> its text (scripts made
    # executable), for tests of what dpkg leaves behind when a script fails or is killed
    scripts: Tuple[Tuple[str, str], ...] = ()
    section: Optional[str] = None
    # out of repr, so adding them left the cache keys of every other .deb as they were
    breaks: Tuple[str, ...] = field(default=(), repr=False)
    replaces: Tuple[str, ...] = field(default=(), repr=False)
    # kept out of repr, so the cache keys of packages without them stay what they were:
    source: Optional[str] = field(default=None, repr=False)  # the Source: field
    # a maintainer script (sh), run by dpkg after unpacking
    postinst: Optional[str] = field(default=None, repr=False)

    @property
    def filename(self) -> str:
        return "%s_%s_%s.deb" % (self.name, self.version.replace(":", "%3a"), self.arch)

    def key(self) -> str:
        r = repr(self)
        if self.section is None:  # the key of every package built before `section` existed
            r = r.replace(", section=None)", ")")
        extra = repr((self.breaks, self.replaces)) if (self.breaks or self.replaces) else ""
        extra += "".join(
            "\0%s\0%s" % (k, v) for k, v in (("source", self.source), ("postinst", self.postinst)) if v
        )
        return hashlib.sha256((_DEB_VERSION + r + extra).encode()).hexdigest()[:20]


def deb(spec: str, **fields: object) -> Deb:
    """`deb("foo=1.0-1", depends=["bar (>= 1)"])`"""
    name, version = spec.split("=", 1)
    extra: Dict[str, Any] = {
        k: tuple(sorted(v.items()))
        if isinstance(v, dict)
        else tuple(v)
        if isinstance(v, (list, tuple))
        else v
        for k, v in fields.items()
    }
    return Deb(name, version, **extra)


def build_one(d: Deb, cache: Path = DEFAULT_CACHE) -> Path:
    out = cache / "debs" / d.key() / d.filename
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(prefix="spma-debbuild-") as top:
        root = Path(top) / "pkg"
        share = root / "usr/share/spma-test" / d.name
        share.mkdir(parents=True)
        (share / ("version-" + d.version.replace(":", "_"))).write_text("%s %s\n" % (d.name, d.version))
        (root / "DEBIAN").mkdir()
        lines = [
            "Package: %s" % d.name,
            "Version: %s" % d.version,
            "Architecture: %s" % d.arch,
            "Maintainer: spma tests <spma@example.org>",
        ]
        for field, values in (("Depends", d.depends), ("Recommends", d.recommends),
                              ("Conflicts", d.conflicts), ("Provides", d.provides),
                              ("Breaks", d.breaks), ("Replaces", d.replaces)):  # fmt: skip
            if values:
                lines.append("%s: %s" % (field, ", ".join(values)))
        if d.source:
            lines.append("Source: %s" % d.source)
        if d.essential:
            lines.append("Essential: yes")
        if d.multiarch:
            lines.append("Multi-Arch: %s" % d.multiarch)
        if d.section:
            lines.append("Section: %s" % d.section)
        lines += ["Description: spma test package %s" % d.name, " Synthetic package for spma's tests.", ""]
        (root / "DEBIAN/control").write_text("\n".join(lines))
        for fn, text in d.scripts:
            (root / "DEBIAN" / fn).write_text(text)
            (root / "DEBIAN" / fn).chmod(0o644 if fn == "triggers" else 0o755)
        if d.postinst is not None:
            (root / "DEBIAN/postinst").write_text(d.postinst)
            (root / "DEBIAN/postinst").chmod(0o755)
        tmp = Path(top) / d.filename
        res = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(tmp)],
                             capture_output=True, text=True)  # fmt: skip
        if res.returncode != 0:
            raise RuntimeError("dpkg-deb failed for %s: %s" % (d.name, res.stderr))
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp, out.with_suffix(".tmp"))
        os.replace(out.with_suffix(".tmp"), out)
    return out


def _ftparchive(args: Iterable[str], cwd: Path) -> bytes:
    res = subprocess.run(["apt-ftparchive"] + list(args), capture_output=True, cwd=str(cwd))
    if res.returncode != 0:
        raise RuntimeError("apt-ftparchive failed: %s" % res.stderr.decode())
    return res.stdout


def make_repo(directory: Path, debs: Iterable[Deb], suite: Optional[str] = None, component: str = "main",
              cache: Path = DEFAULT_CACHE, sign: Optional[SigningKey] = None) -> Path:  # fmt: skip
    """A flat repository (`deb [trusted=yes] file:DIR ./`) or, with `suite`, a suite-style one
    (`deb ... file:DIR SUITE COMPONENT`)."""
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    pool = directory / "pool" if suite else directory
    pool.mkdir(parents=True)
    for d in dict.fromkeys(debs):
        shutil.copyfile(build_one(d, cache), pool / d.filename)
    if suite is None:
        (directory / "Packages").write_bytes(_ftparchive(["packages", "."], directory))
        release = _ftparchive(["release", "."], directory)
        (directory / "Release").write_bytes(release)
        _sign(directory, sign)
        return directory
    bdir = directory / "dists" / suite / component / "binary-amd64"
    bdir.mkdir(parents=True)
    (bdir / "Packages").write_bytes(_ftparchive(["packages", "pool"], directory))
    release = _ftparchive(["-o", "APT::FTPArchive::Release::Suite=%s" % suite,
                           "-o", "APT::FTPArchive::Release::Codename=%s" % suite,
                           "-o", "APT::FTPArchive::Release::Architectures=amd64",
                           "-o", "APT::FTPArchive::Release::Components=%s" % component,
                           "release", "dists/%s" % suite], directory)  # fmt: skip
    (directory / "dists" / suite / "Release").write_bytes(release)
    _sign(directory / "dists" / suite, sign)
    return directory


def _sign(d: Path, key: Optional[SigningKey]) -> None:
    """InRelease (clear-signed) and Release.gpg, as a real archive publishes them."""
    if key is None:
        return
    env = key.env()
    for argv in (["--clearsign", "-o", str(d / "InRelease")], ["-abs", "-o", str(d / "Release.gpg")]):
        subprocess.run(["gpg", "--batch", "--yes", "--local-user", key.name] + argv + [str(d / "Release")],
                       check=True, capture_output=True, env=env)  # fmt: skip


def dpkg_installed(root: Path) -> Dict[str, str]:
    """name -> version of the packages dpkg lists as installed in `root`."""
    res = subprocess.run(["dpkg-query", "--admindir=%s/var/lib/dpkg" % root, "-W",
                          "-f=${db:Status-Abbrev}\t${Package}\t${Version}\n"], capture_output=True, text=True)  # fmt: skip
    out = {}
    for line in res.stdout.splitlines():
        status, name, version = line.split("\t")
        if len(status) > 1 and status[1] == "i":  # installed, whatever the selection (ii, hi)
            out[name] = version
    return out
