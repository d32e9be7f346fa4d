"""Build the dnf team's fixture repositories (ci-dnf-stack dnf-behave-tests specs, read in place
from ../shared/corpus, plus the few specs kept in tests/data/dnf-ci-extra) the way upstream's
fixtures/specs/build.sh and steps/repo.py do:

* every spec is built with `rpmbuild --nodeps --target=x86_64` (a spec without `BuildArch:
  noarch` is an x86_64 package whatever its file name says), and *also* for i686 / i386 / ppc64
  when the spec file name contains that arch, so a multilib repository has both arches;
* `dist .fc29`, gzip payloads and the spec's own `.rpmbuild_opts` lines;
* `createrepo_c --no-database --simple-md-filenames --revision=1550000000 [--groupfile
  comps.xml]`, then `modifyrepo_c updateinfo.xml` and `modifyrepo_c --mdtype=modules
  modules.yaml` when the fixture folder has them.

Built RPMs are cached by content (spec, options, target), so a machine builds each spec once.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Tuple

from tests.builders.rpmrepo import DEFAULT_CACHE
from tests.helpers import CORPUS, REPO_ROOT

SPECS = CORPUS / "dnf-fixtures" / "fixtures" / "specs"
# specs the corpus does not carry, fetched the same way (see tests/data/dnf-ci-extra/SOURCES.md)
EXTRA_SPECS = REPO_ROOT / "tests" / "data" / "dnf-ci-extra" / "specs"
_BUILDER = "upstream-build.sh/2"  # part of the cache key: bump when the build recipe changes


def targets(spec: Path) -> List[str]:
    """The arches upstream's build.sh builds a spec for."""
    out = ["x86_64"]
    for arch in ("i686", "i386", "ppc64"):
        if arch in spec.name:
            out.append(arch)
    return out


def _opts(spec: Path) -> List[str]:
    f = spec.with_name(spec.name + ".rpmbuild_opts")
    if not f.exists():
        return []
    return [a for line in f.read_text().splitlines() for a in shlex.split(line)]


def _build(spec: Path, target: str, cache: Path) -> List[Path]:
    opts = _opts(spec)
    key_src = spec.read_bytes() + ("\0%s\0%s\0%s" % (target, opts, _BUILDER)).encode()
    out = cache / "dnf-fixtures" / hashlib.sha256(key_src).hexdigest()[:20]
    if (out / ".done").exists():
        return sorted(out.glob("*.rpm"))
    with tempfile.TemporaryDirectory(prefix="spma-fixture-") as top:
        argv = [
            "rpmbuild", "-bb", "--quiet", "--nodeps", "--target", target,
            "--define", "_topdir %s" % top, "--define", "dist .fc29",
            "--define", "_binary_payload w1.gzdio",
            # Debian's /bin/sh is dash, which lacks the pushd some specs use
            "--define", "_buildshell /bin/bash", "--define", "_build_id_links none",
        ] + opts + [str(spec)]  # fmt: skip
        env = dict(os.environ, HOME=top, LC_ALL="C")
        res = subprocess.run(argv, capture_output=True, text=True, env=env)
        rpms = list(Path(top, "RPMS").rglob("*.rpm"))
        if res.returncode != 0 or not rpms:
            raise RuntimeError("rpmbuild --target %s failed for %s: %s" % (target, spec, res.stderr[-2000:]))
        tmp = out.with_name(out.name + ".tmp%d" % os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for r in rpms:
            shutil.copyfile(r, tmp / r.name)
        (tmp / ".done").write_text("ok\n")
        shutil.rmtree(out, ignore_errors=True)
        try:
            os.replace(tmp, out)
        except OSError:  # another process finished the same build first
            shutil.rmtree(tmp, ignore_errors=True)
    return sorted(out.glob("*.rpm"))


def spec_dir(name: str) -> Path:
    for base in (EXTRA_SPECS, SPECS):
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError("no fixture specs for %s in %s or %s" % (name, SPECS, EXTRA_SPECS))


def fixture_repo(name: str, dest: Path, cache: Path = DEFAULT_CACHE) -> Path:
    src = spec_dir(name)
    jobs: List[Tuple[Path, str]] = [(s, t) for s in sorted(src.glob("*.spec")) for t in targets(s)]
    if not jobs:
        raise FileNotFoundError("no fixture specs in %s" % src)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as ex:
        built = [r for rs in ex.map(lambda j: _build(j[0], j[1], cache), jobs) for r in rs]
    repo = dest / name
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    for r in built:
        if not (repo / r.name).exists():  # a noarch subpackage comes out of every target's build
            shutil.copyfile(r, repo / r.name)
    argv = ["createrepo_c", "--quiet", "--no-database", "--simple-md-filenames", "--revision=1550000000"]
    if (src / "comps.xml").exists():
        argv += ["--groupfile", str(src / "comps.xml")]
    _run(argv + [str(repo)])
    if (src / "updateinfo.xml").exists():
        _run(["modifyrepo_c", str(src / "updateinfo.xml"), str(repo / "repodata")])
    if (src / "modules.yaml").exists():
        _run(["modifyrepo_c", "--mdtype=modules", str(src / "modules.yaml"), str(repo / "repodata")])
    return repo


def _run(argv: List[str]) -> None:
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError("%s failed: %s" % (argv[0], res.stderr))
