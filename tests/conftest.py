"""Session fixtures: real RPM repositories built once (rpmbuild + createrepo_c, cached by
content hash across sessions) and sandbox hosts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.builders.rpmrepo import Rpm, make_repo, parse
from tests.helpers import Host

P = parse

# An older and a newer snapshot of one small distribution. Names are chosen so each test
# touches only the packages it is about.
SNAP1: List[Rpm] = [
    P("foo-1.0-1"), P("foo-1.1-1"),
    P("bar-1.0-1", requires=["foo >= 1.0"]),
    P("lib-1.0-1"), P("app-1.0-1", requires=["lib"]),
    P("tool-1.0-1"),
    P("kernel-6.1.0-1"), P("kernel-6.2.0-1"),
    P("kernel-core-6.1.0-1"), P("kernel-core-6.2.0-1"),
    P("kernel-tools-6.1.0-1"), P("kernel-tools-6.2.0-1"),
    P("oldpkg-1.0-1"),
    P("newpkg-1.0-1", obsoletes=["oldpkg < 2.0"], provides=["oldpkg = 2.0"]),
    P("epo-1:1.0-1"), P("epo-2.0-1"),
    P("anti-1.0-1", conflicts=["tool"]),
    P("weak-1.0-1", recommends=["tool"]),
]  # fmt: skip
SNAP2: List[Rpm] = SNAP1 + [
    P("foo-2.0-1"),
    P("bar-2.0-1", requires=["foo >= 2.0"]),
    P("lib-2.0-1"),
    P("tool-2.0-1"),
    P("kernel-6.3.0-1"), P("kernel-core-6.3.0-1"), P("kernel-tools-6.3.0-1"),
]  # fmt: skip


@pytest.fixture(scope="session")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    base = tmp_path_factory.mktemp("repos")
    return {
        "snap1": str(make_repo(base / "snap1", SNAP1)),
        "snap2": str(make_repo(base / "snap2", SNAP2)),
    }


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


@pytest.fixture
def fresh_root(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(name: str = "h") -> Host:
        d = tmp_path / name
        if d.exists():
            shutil.rmtree(d)
        return Host(d)

    return make


@pytest.fixture
def apt_updates(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """How many times a plan ran `apt update` (apt plan tests: the update skip)."""
    from spma.backends.apt.plaincache import PlainCache

    calls: List[int] = []
    real = PlainCache.update

    def counted(self: Any, progress: Any) -> None:
        calls.append(1)
        real(self, progress)

    monkeypatch.setattr(PlainCache, "update", counted)
    return calls
