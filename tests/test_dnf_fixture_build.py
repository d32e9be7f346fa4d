"""The dnf team's fixture repositories are built as upstream builds them (build.sh, repo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dnf_fixtures import SPECS, fixture_repo, targets

pytestmark = [
    pytest.mark.dnf,
    pytest.mark.skipif(not SPECS.is_dir(), reason="../shared/corpus/dnf-fixtures is not present"),
]


def test_targets_follow_build_sh() -> None:
    assert targets(Path("foo-1.0.i686.spec")) == ["x86_64", "i686"]
    assert targets(Path("perduto-1.0-1.fc29.x86_64.spec")) == ["x86_64"]
    # a spec named .noarch without BuildArch: noarch is an x86_64 package upstream too
    assert targets(Path("python3-foo-1.0.noarch.spec")) == ["x86_64"]
    assert targets(Path("arch-package-a-0.0.1-1.i386.spec")) == ["x86_64", "i386"]


def test_multilib_repo_has_both_arches_and_metadata(tmp_path: Path) -> None:
    repo = fixture_repo("install-remove-multilib", tmp_path)
    names = sorted(p.name for p in repo.glob("*.rpm"))
    assert "foo-1.0-1.i686.rpm" in names and "foo-1.0-1.x86_64.rpm" in names
    assert "perduto-1.0-1.fc29.x86_64.rpm" in names and "perduto-1.0-1.fc29.i686.rpm" in names
    assert "python3-foo-1.0-1.x86_64.rpm" in names
    assert (repo / "repodata" / "primary.xml.gz").exists()  # --simple-md-filenames
    upd = fixture_repo("dnf-ci-fedora-updates", tmp_path)
    assert list((upd / "repodata").glob("*updateinfo.xml*"))
    mod = fixture_repo("dnf-ci-fedora-modular", tmp_path)
    assert list((mod / "repodata").glob("*modules.yaml*"))
