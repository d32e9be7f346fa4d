"""The agent's no-op check on dnf: with local (file://) repositories it reads repomd.xml in
place and never imports dnf, and it still notices every input that moved (the repository
republished, the rpmdb, the profile)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders.rpmrepo import make_repo, parse
from tests.conftest import SNAP1
from tests.helpers import REPO_ROOT, Host, profile_tree

pytestmark = pytest.mark.dnf
pytest.importorskip("dnf")

_PROBE = """
import json, sys
import spma
r = spma.reconcile(sys.argv[1], root=sys.argv[2], agent=True, running_kernel="")
print(json.dumps({"noop": r.noop, "dnf": "dnf" in sys.modules, "hawkey": "hawkey" in sys.modules}))
"""


def _agent(host: Host, profile: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", _PROBE, str(profile), str(host.root)], capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), HOME=str(host.base)))  # fmt: skip
    assert res.returncode == 0, res.stderr
    return dict(json.loads(res.stdout.splitlines()[-1]))


def test_noop_reads_local_repositories_in_place_and_notices_a_republished_one(tmp_path: Path):
    repo = make_repo(tmp_path / "os", SNAP1)
    host = Host(tmp_path / "h")
    prof = host.write(profile_tree({"bar": None}, {"os": str(repo)}))
    first = _agent(host, prof)
    assert first == {"noop": False, "dnf": True, "hawkey": True}
    # nothing moved: the fast path answers without dnf or hawkey
    assert _agent(host, prof) == {"noop": True, "dnf": False, "hawkey": False}
    # the snapshot is republished with one more package: no longer a no-op
    make_repo(repo, SNAP1 + [parse("extra-1.0-1.noarch")])
    assert _agent(host, prof)["noop"] is False
    assert _agent(host, prof)["noop"] is True


def test_noop_with_a_remote_or_templated_url_still_asks_dnf(tmp_path: Path):
    repo = make_repo(tmp_path / "os", SNAP1)
    # a dnf variable in the URL: only dnf knows what it expands to
    tmpl = tmp_path / "os-$basearch"
    shutil.copytree(repo, tmp_path / "os-x86_64")
    host = Host(tmp_path / "h")
    prof = host.write(profile_tree({"bar": None}, {"os": str(tmpl)}))
    assert _agent(host, prof)["noop"] is False
    again = _agent(host, prof)
    assert again["noop"] is True and again["dnf"] is True
