"""The declaration invariant (spma.invariant) on synthetic plans: pure core logic, no package
manager; and, on real dnf, random universes of exact-version families."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spma.errors import ResolveError
from spma.invariant import check, final_state, violations
from spma.model import Action, ErrataPin, PackageDecl, SolveRequest


def same(evr: str, spec: str) -> bool:  # the test universe spells versions one way only
    return evr == spec


def req(*decls: PackageDecl, **kw) -> SolveRequest:  # type: ignore[no-untyped-def]
    return SolveRequest(packages=decls, repositories=(), **kw)


INSTALLED = [("famtool", "amd64", "1.2-1"), ("famclient", "amd64", "1.2-1"), ("tzdata", "all", "2024a")]


def test_final_state_applies_every_action_deferred_ones_included():
    acts = [
        Action("downgrade", "famtool", "amd64", "1.2-1", "1.0-1", "declared", "declared pin 1.0-1"),
        Action("remove", "tzdata", "amd64", "2024a", None, "unmanaged", "not declared", deferred=True),
        Action("install", "new", "amd64", None, "1.0-1", "dependency", "required by famtool"),
    ]
    assert final_state(INSTALLED, acts) == [("famclient", "amd64", "1.2-1"), ("famtool", "amd64", "1.0-1"),
                                            ("new", "amd64", "1.0-1")]  # fmt: skip


def test_an_ignored_pin_is_exit_4_naming_the_declaration():
    with pytest.raises(ResolveError) as ei:
        check(req(PackageDecl("famtool", ("1.0-1",), ("amd64",))), INSTALLED, [], same)
    assert ei.value.exit_code == 4
    assert "famtool (amd64): declared version 1.0-1, but the plan ends with 1.2-1 amd64" in str(ei.value)


def test_each_kind_of_declaration_is_checked():
    r = req(
        PackageDecl("missing"),
        PackageDecl("tzdata", (), ("amd64",)),  # an arch-all package meets any declared arch
        PackageDecl("famclient:i386"),
        PackageDecl("kernel", ("6.1-1", "6.2-1")),
        PackageDecl("kernel*", ("6.1-1", "6.2-1")),
        running_kernel="6.0-1.x86_64",
    )
    # the core's binding: pins of the set that bind (famtool's 9 is not offered: it does not)
    pins = (ErrataPin("famclient", "1.3-1"), ErrataPin("gone", "1.0"))
    final = INSTALLED + [("kernel", "x86_64", "6.1-1"), ("kernel", "x86_64", "6.0-1"), ("kernel", "x86_64", "5.9-1"),
                         ("kernel-tools", "x86_64", "6.3-1")]  # fmt: skip
    got = violations(r, sorted(final), same, pins, "set-1")
    assert got == [
        "missing: declared, but the plan leaves it not installed",
        "famclient (i386): declared, but the plan leaves it not installed",
        "kernel: declared version 6.2-1, but the plan ends with 5.9-1 x86_64, 6.0-1 x86_64, 6.1-1 x86_64",
        "kernel-tools 6.3-1 (x86_64): outside the declared constraint kernel* = 6.1-1, 6.2-1",
        "famclient: the errata version set set-1 requires 1.3-1, but the plan ends with 1.2-1 amd64",
    ]


def test_exactly_the_declared_versions_the_running_kernel_aside():
    r = req(PackageDecl("kernel", ("6.1-1",)), running_kernel="6.0-1.x86_64")
    final = [("kernel", "x86_64", "6.1-1"), ("kernel", "x86_64", "6.0-1"), ("kernel", "x86_64", "5.9-1")]
    assert violations(r, final, same) == [
        "kernel: declared version 6.1-1 only, but the plan also keeps 5.9-1 x86_64"
    ]


def test_a_declared_pin_wins_over_a_glob_and_the_errata_set():
    r = req(PackageDecl("kernel", ("6.2-1",)), PackageDecl("kernel*", ("6.1-1",)))
    final = [("kernel", "x86_64", "6.2-1"), ("kernel-core", "x86_64", "6.1-1")]
    assert violations(r, final, same, [ErrataPin("kernel", "6.3-1")]) == []


names = st.sampled_from(["a", "b", "c", "d", "e"])
vers = st.sampled_from(["1.0-1", "1.1-1", "2.0-1"])


@given(state=st.dictionaries(names, vers, min_size=1), pins=st.data())
@settings(max_examples=200, deadline=None)
def test_property_a_state_that_meets_the_pins_passes_and_moving_one_fails(state, pins):
    chosen = pins.draw(st.lists(st.sampled_from(sorted(state)), min_size=1, unique=True))
    r = req(*[PackageDecl(n, (state[n],)) for n in chosen])
    final = sorted((n, "amd64", v) for n, v in state.items())
    assert violations(r, final, same) == []
    moved = pins.draw(st.sampled_from(chosen))
    other = pins.draw(vers.filter(lambda v: v != state[moved]))
    final2 = sorted((n, "amd64", other if n == moved else v) for n, v in state.items())
    bad = violations(r, final2, same)
    assert len(bad) == 1 and bad[0].startswith(moved + ": declared version " + state[moved])


# -- the same property on real dnf: random universes of exact-version families ------------------

VERS = ("1.0-1", "1.1-1", "1.2-1")


@st.composite
def universes(draw):  # type: ignore[no-untyped-def]
    fams = []
    for f in range(draw(st.integers(1, 2))):
        vers_ = sorted(draw(st.sets(st.sampled_from(VERS), min_size=1, max_size=3)))
        fams.append((["r%dm%d" % (f, i) for i in range(draw(st.integers(2, 3)))], vers_))
    return fams


@pytest.mark.dnf
@given(fams=universes(), data=st.data())
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_dnf_pins_on_exact_version_families_hold_or_fail_loudly(fams, data):  # type: ignore[no-untyped-def]
    from tests.builders.rpmrepo import make_repo, parse
    from tests.helpers import Host, profile_tree

    base = Path(tempfile.mkdtemp(prefix="spma-famprop-dnf-"))
    try:
        rpms = []
        for names_, vs in fams:
            for v in vs:
                for i, n in enumerate(names_):
                    req_ = ["%s = %s" % (names_[i + 1], v)] if i + 1 < len(names_) else []
                    rpms.append(parse("%s-%s" % (n, v), requires=req_))
        repo = str(make_repo(base / "r", rpms))
        all_names = [n for names_, _v in fams for n in names_]
        vers_of = {n: vs for names_, vs in fams for n in names_}
        host = Host(base / "h", boot=True)
        for _ in range(2):
            chosen = data.draw(st.lists(st.sampled_from(all_names), min_size=1, max_size=3, unique=True))
            target: Dict[str, Optional[str]] = {n: data.draw(st.one_of(st.none(), st.sampled_from(vers_of[n])))
                                                for n in chosen}  # fmt: skip
            consistent = all(len({target[n] for n in names_ if target.get(n)}) <= 1 for names_, _v in fams)
            before = host.installed()
            try:
                host.apply(profile_tree(target, {"r": repo}))
            except ResolveError:
                assert not consistent, target
                assert host.installed() == before
                continue
            inst: Dict[str, List[str]] = {}
            for nevra in host.installed():
                n, v, r = nevra.rsplit(".", 1)[0].rsplit("-", 2)
                inst.setdefault(n, []).append("%s-%s" % (v, r))
            for n, v in target.items():
                assert n in inst and (v is None or inst[n] == [v]), (n, v, inst)
    finally:
        shutil.rmtree(base, ignore_errors=True)
