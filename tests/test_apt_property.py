"""Property on apt/dpkg: after `apply`, the declared set holds and `plan` is empty."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Dict, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spma.errors import ResolveError, SafetyError
from tests.builders.debrepo import dpkg_installed
from tests.helpers import Host, closure
from tests.test_apt_reconcile import NEW, OLD, apt_profile, debs  # noqa: F401 - the fixture is used

pytestmark = pytest.mark.apt
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("apt_pkg")

NAMES = ["foo", "bar", "lib", "app", "tool", "weak"]
VERSIONS: Dict[str, list] = {}
for _d in NEW:
    VERSIONS.setdefault(_d.name, []).append(_d.version)


decl = st.dictionaries(st.sampled_from(NAMES), st.one_of(st.none(), st.integers(0, 2)), max_size=4)


def materialise(d: Dict[str, Optional[int]]) -> Dict[str, Optional[str]]:
    return {n: (None if i is None else VERSIONS[n][i % len(VERSIONS[n])]) for n, i in d.items()}


@given(first=decl, second=decl, userpkgs=st.booleans(), rollback=st.booleans())
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_apt_apply_then_plan_is_empty(debs, first, second, userpkgs, rollback):  # noqa: F811
    base = Path(tempfile.mkdtemp(prefix="spma-aptprop-"))
    try:
        host = Host(base, boot=True)
        try:
            host.apply(apt_profile(materialise(first), debs["new"]))
        except (ResolveError, SafetyError):
            pass
        before = dpkg_installed(host.root)
        target = materialise(second)
        prof = apt_profile(target, debs["old"] if rollback else debs["new"], userpkgs=userpkgs)
        try:
            host.apply(prof)
        except (ResolveError, SafetyError):
            assert dpkg_installed(host.root) == before
            return
        inst = dpkg_installed(host.root)
        for name, ver in target.items():
            assert name in inst, (name, inst)
            if ver is not None:
                assert inst[name] == ver, (name, ver, inst)
        if not userpkgs:
            universe = OLD if rollback else NEW
            allowed = closure(set(target), {d.name: [x.split()[0] for x in d.depends] for d in universe})
            assert set(inst) <= allowed, set(inst) - allowed
        assert host.plan(prof).plan["actions"] == []
    finally:
        shutil.rmtree(base, ignore_errors=True)
