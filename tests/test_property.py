"""Property: for random small profiles and snapshots, after `apply` the installed set satisfies
the profile and `plan` is empty (idempotence). Real dnf, real rpm, fresh sandbox per example."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Dict, Optional, Set

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spma.errors import ResolveError, SafetyError
from tests.conftest import SNAP1, SNAP2
from tests.helpers import Host, closure, profile_tree

pytestmark = pytest.mark.dnf
# the real-backend tier: skipped, not an error, where the bindings are not installed
pytest.importorskip("dnf")

NAMES = ["foo", "bar", "lib", "app", "tool", "epo", "weak", "anti", "kernel-tools"]
VERSIONS: Dict[str, list] = {}
for _p in SNAP2:
    VERSIONS.setdefault(_p.name, []).append(_p.evr)


def rpm_needs(universe) -> Dict[str, Set[str]]:  # type: ignore[no-untyped-def]
    """name -> names providing what it Requires, from the fixture metadata."""
    providers: Dict[str, Set[str]] = {}
    for p in universe:
        for cap in (p.name,) + tuple(x.split()[0] for x in p.provides):
            providers.setdefault(cap, set()).add(p.name)
    needs: Dict[str, Set[str]] = {}
    for p in universe:
        for r in p.requires:
            needs.setdefault(p.name, set()).update(providers.get(r.split()[0], ()))
    return needs


decl_strategy = st.dictionaries(
    st.sampled_from(NAMES),
    st.one_of(st.none(), st.sampled_from(["pin0", "pin1", "pin2"])),
    max_size=5,
)


def materialise(decl: Dict[str, Optional[str]]) -> Dict[str, Optional[str]]:
    out: Dict[str, Optional[str]] = {}
    for name, choice in decl.items():
        if choice is None:
            out[name] = None
        else:
            vs = VERSIONS[name]
            out[name] = vs[int(choice[-1]) % len(vs)]
    return out


def installed_map(host: Host) -> Dict[str, str]:
    out = {}
    for nevra in host.installed():
        head = nevra.rsplit(".", 1)[0]
        name, ver, rel = head.rsplit("-", 2)
        out[name] = "%s-%s" % (ver, rel)
    return out


@given(first=decl_strategy, second=decl_strategy, userpkgs=st.booleans(), rollback=st.booleans())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_apply_then_plan_is_empty(repos, first, second, userpkgs, rollback):
    base = Path(tempfile.mkdtemp(prefix="spma-prop-"))
    try:
        host = Host(base, boot=True)  # resolution semantics: nothing deferred
        try:
            host.apply(profile_tree(materialise(first), {"os": repos["snap2"]}))
        except (ResolveError, SafetyError):
            pass
        before = host.installed()
        snap = "snap1" if rollback else "snap2"
        universe = SNAP1 if rollback else SNAP2
        target = materialise(second)
        prof = profile_tree(target, {"os": repos[snap]}, userpkgs=userpkgs)
        try:
            result = host.apply(prof)
        except (ResolveError, SafetyError):
            assert host.installed() == before  # refused: nothing changed
            return
        inst = installed_map(host)
        rpm_inst = host.installed()
        for name, ver in target.items():
            assert name in inst, "declared %s not installed: %s" % (name, rpm_inst)
            if ver is not None:
                assert inst[name] == ver, (name, ver, rpm_inst)
        if not userpkgs:
            allowed = closure(set(target), rpm_needs(universe))
            assert set(inst) <= allowed, "not declared nor required: %s" % (set(inst) - allowed)
        else:
            # userpkgs removes nothing for being undeclared, only what is in the way
            assert not [a for a in result.plan["actions"] if a["reason"] == "unmanaged"]
        again = host.plan(prof)
        assert again.plan["actions"] == [], again.plan["actions"]
    finally:
        shutil.rmtree(base, ignore_errors=True)
