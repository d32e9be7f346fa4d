"""Build the dnf team's fixture repositories (ci-dnf-stack dnf-behave-tests specs, read in place
from ../shared/corpus) the way upstream does: rpmbuild --nodeps --target, createrepo_c.

Built RPMs are cached by spec content, so a machine builds each spec once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List

from tests.builders.rpmrepo import DEFAULT_CACHE
from tests.helpers import CORPUS

SPECS = CORPUS / "dnf-fixtures" / "fixtures" / "specs"


def _target(spec: Path) -> str:
    for arch in ("i686", "noarch", "aarch64", "s390x", "ppc64le"):
        if spec.name.endswith(".%s.spec" % arch):
            return arch
    return "x86_64"


def _build_spec(spec: Path, cache: Path) -> List[Path]:
    text = spec.read_bytes()
    key = hashlib.sha256(text + _target(spec).encode()).hexdigest()[:20]
    out = cache / "dnf-fixtures" / key
    done = out / ".done"
    if done.exists():
        return sorted(out.glob("*.rpm"))
    with tempfile.TemporaryDirectory(prefix="spma-fixture-") as top:
        argv = [
            "rpmbuild", "-bb", "--quiet", "--nodeps", "--target", _target(spec),
            "--define", "_topdir %s" % top, "--define", "dist .fc29",
            "--define", "_buildshell /bin/bash", "--define", "_build_id_links none",
            str(spec),
        ]  # fmt: skip
        env = dict(os.environ, HOME=top, LC_ALL="C")
        res = subprocess.run(argv, capture_output=True, text=True, env=env)
        rpms = list(Path(top, "RPMS").rglob("*.rpm"))
        if res.returncode != 0 or not rpms:
            raise RuntimeError("rpmbuild failed for %s: %s" % (spec, res.stderr[-2000:]))
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for r in rpms:
            shutil.copyfile(r, tmp / r.name)
        (tmp / ".done").write_text("ok\n")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    return sorted(out.glob("*.rpm"))


def fixture_repo(name: str, dest: Path, cache: Path = DEFAULT_CACHE) -> Path:
    specs = sorted((SPECS / name).glob("*.spec"))
    if not specs:
        raise FileNotFoundError("no fixture specs in %s" % (SPECS / name))
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as ex:
        built = [r for rs in ex.map(lambda s: _build_spec(s, cache), specs) for r in rs]
    repo = dest / name
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    for r in built:
        os.link(r, repo / r.name) if r.stat().st_dev == repo.stat().st_dev else shutil.copyfile(
            r, repo / r.name
        )
    res = subprocess.run(
        ["createrepo_c", "--quiet", "--no-database", str(repo)], capture_output=True, text=True
    )
    if res.returncode != 0:
        raise RuntimeError("createrepo_c failed for %s: %s" % (repo, res.stderr))
    return repo
