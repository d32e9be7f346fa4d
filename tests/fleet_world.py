"""Hosts for the site-side tests: one small distribution built as RPMs and as .debs (with
kernels on the RPM side), sandbox roots brought into different states by real applies."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Optional

from spma import pan
from tests.builders import debrepo, rpmrepo

# (name, version, depends)
OLD = [("foo", "1.0-1", []), ("foo", "1.1-1", []), ("bar", "1.0-1", [("foo", "1.0")]),
       ("lib", "1.0-1", []), ("app", "1.0-1", [("lib", None)]), ("tool", "1.0-1", [])]  # fmt: skip
NEW = OLD + [("foo", "2.0-1", []), ("bar", "2.0-1", [("foo", "2.0")]), ("lib", "2.0-1", []),
             ("tool", "2.0-1", [])]  # fmt: skip
KERNELS_OLD = ["6.1.0-1", "6.2.0-1"]
KERNELS_NEW = KERNELS_OLD + ["6.3.0-1"]
RUNNING_KERNEL = "6.1.0-1"


class World:
    def __init__(self, backend: str, base: Path) -> None:
        self.backend = backend
        self.snaps: Dict[str, str] = {}
        self.dirs: Dict[str, Path] = {}
        for snap, universe, kernels in (("old", OLD, KERNELS_OLD), ("new", NEW, KERNELS_NEW)):
            if backend == "dnf":
                pkgs = [rpmrepo.parse("%s-%s" % (n, v), requires=["%s >= %s" % (dn, dv) if dv else dn
                                                                  for dn, dv in deps])
                        for n, v, deps in universe]  # fmt: skip
                pkgs += [rpmrepo.parse("kernel-%s" % k) for k in kernels]
                pkgs += [rpmrepo.parse("kernel-core-%s" % k) for k in kernels]
                self.dirs[snap] = rpmrepo.make_repo(base / snap, pkgs)
                self.snaps[snap] = "file://%s" % self.dirs[snap]
            else:
                debs = [debrepo.deb("%s=%s" % (n, v), depends=["%s (>= %s)" % (dn, dv) if dv else dn
                                                               for dn, dv in deps])
                        for n, v, deps in universe]  # fmt: skip
                self.dirs[snap] = debrepo.make_repo(base / snap, debs, suite="snap")
                self.snaps[snap] = "file://%s snap main" % self.dirs[snap]

    def index(self, snap: str) -> Path:
        """The repository's Packages index (apt) or the repository itself (dnf)."""
        if self.backend == "dnf":
            return self.dirs[snap]
        return self.dirs[snap] / "dists/snap/main/binary-amd64/Packages"

    @property
    def arch(self) -> str:
        return "noarch" if self.backend == "dnf" else "all"

    def profile(self, packages: Mapping[str, object], snap: str = "new", **spma: object) -> dict:
        pk: Dict[str, object] = {}
        for n, v in packages.items():
            versions: List[str] = [] if v is None else [v] if isinstance(v, str) else list(v)  # type: ignore[call-overload]
            pk[pan.escape(n)] = {pan.escape(x): {"arch": {self.arch: ""}} for x in versions}
        comp: Dict[str, object] = {"packager": self.backend, "userpkgs": "no"}
        comp.update(spma)
        repos = [{"name": "os", "gpgcheck": False, "protocols": [{"name": "f", "url": self.snaps[snap]}]}]
        return {"software": {"components": {"spma": comp}, "packages": pk, "repositories": repos}}


def kernel_decl(world: World, versions: Optional[List[str]]) -> Dict[str, object]:
    return {"kernel": versions} if world.backend == "dnf" and versions else {}
