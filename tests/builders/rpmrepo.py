"""Build real RPMs (rpmbuild) and rpm-md repositories (createrepo_c) from a compact description.

Used by the test suite, the demo and the benchmarks; not part of the installed package. Packages are scriptlet-free, carry one
file whose path includes the EVR (so install-only versions never conflict) and are cached
by the hash of their description, so a test session builds each package once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

DEFAULT_CACHE = Path(os.environ.get("SPMA_RPM_CACHE", Path.home() / ".cache" / "spma-test-rpms"))
_SPEC_VERSION = "4"  # bump to invalidate cached RPMs when the spec template changes


@dataclass(frozen=True)
class Rpm:
    name: str
    version: str
    release: str = "1"
    epoch: int = 0
    arch: str = "noarch"
    requires: Tuple[str, ...] = ()
    provides: Tuple[str, ...] = ()
    obsoletes: Tuple[str, ...] = ()
    conflicts: Tuple[str, ...] = ()
    recommends: Tuple[str, ...] = ()
    # extra files (absolute paths) whose content is the NEVRA: two packages sharing a path conflict
    files: Tuple[str, ...] = ()
    # a Lua %post scriptlet (rpm runs Lua itself: no /bin/sh needed in a sandbox root)
    post_lua: Optional[str] = None
    # bytes of incompressible payload, for tests that need a package of a given size
    payload: int = 0
    # the source package it is built from (its SOURCERPM); out of repr, so other keys stay stable
    source: Optional[str] = field(default=None, repr=False)

    @property
    def evr(self) -> str:
        vr = "%s-%s" % (self.version, self.release)
        return "%d:%s" % (self.epoch, vr) if self.epoch else vr

    @property
    def nevra(self) -> str:
        return "%s-%s.%s" % (self.name, self.evr, self.arch)

    @property
    def filename(self) -> str:
        return "%s-%s-%s.%s.rpm" % (self.name, self.version, self.release, self.arch)

    def key(self) -> str:
        extra = "\0source\0%s" % self.source if self.source else ""
        return hashlib.sha256((_SPEC_VERSION + repr(self) + extra).encode()).hexdigest()[:20]


def parse(spec: str, **deps: Sequence[str]) -> Rpm:
    """`parse("foo-1:2.0-3.x86_64", requires=["bar >= 1"])` -> Rpm. Arch defaults to noarch."""
    arch = "noarch"
    head = spec
    for a in ("noarch", "x86_64", "i686", "aarch64"):
        if spec.endswith("." + a):
            head, arch = spec[: -len(a) - 1], a
            break
    name_ver, release = head.rsplit("-", 1)
    name, ver = name_ver.rsplit("-", 1)
    epoch = 0
    if ":" in ver:
        e, ver = ver.split(":", 1)
        epoch = int(e)
    extra: Dict[str, Any] = {k: tuple(v) for k, v in deps.items()}
    return Rpm(name=name, version=ver, release=release, epoch=epoch, arch=arch, **extra)


def _spec(p: Rpm) -> str:
    # built from another source: the binary is a subpackage (`%package -n`) of a spec named after it
    src = p.source if p.source and p.source != p.name else None
    sub = " -n %s" % p.name if src else ""
    lines = [
        "Name: %s" % (src or p.name),
        "Version: %s" % p.version,
        "Release: %s" % p.release,
        "Summary: spma test package %s" % p.name,
        "License: MIT",
        "AutoReqProv: no",
    ]
    if p.epoch:
        lines.append("Epoch: %d" % p.epoch)
    if p.arch == "noarch":
        lines.append("BuildArch: noarch")
    if src:
        lines += ["", "%description", "Source of " + p.name, "", "%package" + sub, "Summary: " + p.name]
    for tag, values in (("Requires", p.requires), ("Provides", p.provides), ("Obsoletes", p.obsoletes),
                        ("Conflicts", p.conflicts), ("Recommends", p.recommends)):  # fmt: skip
        lines.extend("%s: %s" % (tag, v) for v in values)
    d = "/usr/share/spma-test/%s" % p.name
    lines += [
        "",
        "%description" + sub,
        "Synthetic package %s built for spma's tests." % p.nevra,
        "",
        "%install",
        "mkdir -p %%{buildroot}%s" % d,
        "echo '%s' > %%{buildroot}%s/%s-%s-%s.%s" % (p.nevra, d, p.version, p.release, p.epoch, p.arch),
    ]
    for f in p.files:
        lines += [
            "mkdir -p %%{buildroot}%s" % os.path.dirname(f),
            "echo '%s' > %%{buildroot}%s" % (p.nevra, f),
        ]
    if p.payload:
        lines.append("head -c %d /dev/urandom > %%{buildroot}%s/payload.bin" % (p.payload, d))
    lines += ["", "%files" + sub, "%s/%s-%s-%s.%s" % (d, p.version, p.release, p.epoch, p.arch)]
    lines += list(p.files)
    if p.payload:
        lines.append("%s/payload.bin" % d)
    if p.post_lua:
        lines += ["", "%post" + sub + " -p <lua>", p.post_lua]
    lines.append("")
    return "\n".join(lines)


def build_one(p: Rpm, cache: Path = DEFAULT_CACHE) -> Path:
    out = cache / p.key() / p.filename
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(prefix="spma-rpmbuild-") as top:
        spec = Path(top) / ("%s.spec" % p.name)
        spec.write_text(_spec(p))
        argv = ["rpmbuild", "--quiet", "--define", "_topdir %s" % top,
                "--define", "_build_id_links none", "-bb", str(spec)]  # fmt: skip
        if p.arch != "noarch":
            argv[1:1] = ["--target", p.arch]
        res = subprocess.run(argv, capture_output=True, text=True, env=_rpm_env(top))
        built = list(Path(top, "RPMS").rglob("*.rpm"))
        if res.returncode != 0 or len(built) != 1:
            raise RuntimeError("rpmbuild failed for %s: %s" % (p.nevra, res.stderr[-2000:]))
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        shutil.copyfile(built[0], tmp)
        os.replace(tmp, out)
    return out


def _rpm_env(home: str) -> Dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = home  # keep Debian's ~/.rpmdb default out of the caller's home
    env["LC_ALL"] = "C"
    return env


def build(pkgs: Iterable[Rpm], cache: Path = DEFAULT_CACHE, jobs: Optional[int] = None) -> Dict[Rpm, Path]:
    todo = list(dict.fromkeys(pkgs))
    with ThreadPoolExecutor(max_workers=jobs or max(2, os.cpu_count() or 2)) as ex:
        paths = list(ex.map(lambda p: build_one(p, cache), todo))
    return dict(zip(todo, paths))


class SigningKey:
    """A throwaway GPG key for signing test RPMs (no passphrase, its own GNUPGHOME)."""

    def __init__(self, home: Path, name: str = "spma-test-signing") -> None:
        self.home = Path(home)
        self.name = name
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = self.env()
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "%s <%s@example.org>" % (name, name),
                        "rsa2048", "sign", "never"], check=True, capture_output=True, env=env)  # fmt: skip
        self.public = self.home / "RPM-GPG-KEY-spma-test"
        out = subprocess.run(
            ["gpg", "--batch", "--armor", "--export", name], check=True, capture_output=True, env=env
        )
        self.public.write_bytes(out.stdout)

    def env(self) -> Dict[str, str]:
        return dict(os.environ, GNUPGHOME=str(self.home), LC_ALL="C")

    def sign(self, paths: Iterable[Path]) -> None:
        argv = ["rpmsign", "--addsign", "--define", "_gpg_name %s" % self.name,
                "--define", "_gpg_path %s" % self.home, "--define", "__gpg %s" % (shutil.which("gpg") or "gpg")] + [str(p) for p in paths]  # fmt: skip
        res = subprocess.run(argv, capture_output=True, text=True, env=self.env())
        if res.returncode != 0:
            raise RuntimeError("rpmsign failed: %s" % res.stderr)

    def close(self) -> None:
        subprocess.run(["gpgconf", "--kill", "all"], capture_output=True, env=self.env())


def make_repo(directory: Path, pkgs: Iterable[Rpm], cache: Path = DEFAULT_CACHE,
              updateinfo: Optional[str] = None, sign: Optional[SigningKey] = None) -> Path:  # fmt: skip
    """(Re)create an rpm-md repository at `directory` holding exactly `pkgs`, signed with
    `sign` when given (on copies: the cache stays unsigned)."""
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    built = build(pkgs, cache)
    for p, path in built.items():
        dest = directory / p.filename
        try:
            if sign is not None:
                raise OSError("signing needs a private copy")
            os.link(path, dest)
        except OSError:
            shutil.copyfile(path, dest)
    if sign is not None:
        sign.sign(directory.glob("*.rpm"))
    res = subprocess.run(
        ["createrepo_c", "--quiet", "--no-database", str(directory)], capture_output=True, text=True
    )
    if res.returncode != 0:
        raise RuntimeError("createrepo_c failed for %s: %s" % (directory, res.stderr))
    if updateinfo:
        ui = directory / "updateinfo.xml"
        ui.write_text(updateinfo)
        res = subprocess.run(["modifyrepo_c", "--mdtype=updateinfo", str(ui), str(directory / "repodata")],
                             capture_output=True, text=True)  # fmt: skip
        ui.unlink()
        if res.returncode != 0:
            raise RuntimeError("modifyrepo_c failed for %s: %s" % (directory, res.stderr))
    return directory


def rpm_query_installed(root: Path) -> List[str]:
    """NEVRAs installed in `root` according to rpm itself (not hawkey), sorted."""
    res = subprocess.run(
        ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-qa",
         "--qf", "%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\\n"],
        capture_output=True, text=True, env=_rpm_env(str(root)),
    )  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError("rpm -qa failed: %s" % res.stderr)
    # rpm prints an explicit "Epoch: 0" as 0:; spma's EVRs (and dnf's) leave a zero epoch out
    lines = [ln.replace("-0:", "-", 1) if "-0:" in ln else ln for ln in res.stdout.splitlines()]
    return sorted(ln for ln in lines if ln and not ln.startswith("gpg-pubkey"))
