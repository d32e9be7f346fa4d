"""Exact-version families on real apt/dpkg: a pin on one member moves its siblings with it, in
one solve (openssh-server -> openssh-client (= v), perl -> perl-base (= v), systemd ->
libsystemd-shared (= v)), and a plan that would not meet a declaration is exit 4."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spma.errors import ResolveError
from tests.builders.debrepo import Deb, deb, dpkg_installed, make_repo
from tests.helpers import Host
from tests.test_apt_reconcile import apt_profile

pytestmark = pytest.mark.apt

VERS = ("1.0-1", "1.1-1", "1.2-1")


def family(names: List[str], versions=VERS, multiarch_last: bool = False) -> List[Deb]:  # type: ignore[no-untyped-def]
    """names[0] -> names[1] (= v) -> names[2] (= v) ..., every member at every version (one source)."""
    out = []
    for v in versions:
        for i, n in enumerate(names):
            last = i == len(names) - 1
            out.append(deb("%s=%s" % (n, v), arch="amd64", depends=[] if last else ["%s (= %s)" % (names[i + 1], v)],
                           multiarch="same" if last and multiarch_last else None))  # fmt: skip
    return out


FAM = family(["famtool", "famclient", "famlib"], multiarch_last=True) + [
    deb("user=1.0-1", depends=["famclient (>= 1.0-1)"]),
    deb("other=1.0-1"),
    deb("other=2.0-1"),
]


@pytest.fixture(scope="module")
def famrepo(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("fam")
    return "file://%s s main" % make_repo(d / "r", FAM, suite="s")


def plan_rows(res) -> Dict[str, tuple]:  # type: ignore[no-untyped-def]
    return {a["name"]: (a["action"], a["to"], a["reason"], a["because"]) for a in res.plan["actions"]}


def test_a_pin_on_one_member_steps_the_family_down_in_one_solve(tmp_path: Path, famrepo: str):
    host = Host(tmp_path, boot=True)
    host.apply(apt_profile({"famtool": None, "user": None}, famrepo))
    assert dpkg_installed(host.root) == {"famtool": "1.2-1", "famclient": "1.2-1", "famlib": "1.2-1",
                                         "user": "1.0-1"}  # fmt: skip
    prof = apt_profile({"famtool": "1.0-1", "user": None}, famrepo)
    res = host.apply(prof)
    assert plan_rows(res) == {
        "famtool": ("downgrade", "1.0-1", "declared", "declared pin 1.0-1"),
        "famclient": ("downgrade", "1.0-1", "dependency", "needed by famtool 1.0-1 (= 1.0-1)"),
        "famlib": ("downgrade", "1.0-1", "dependency", "needed by famclient 1.0-1 (= 1.0-1)"),
    }
    assert dpkg_installed(host.root) == {"famtool": "1.0-1", "famclient": "1.0-1", "famlib": "1.0-1",
                                         "user": "1.0-1"}  # fmt: skip
    assert host.plan(prof).changes == 0


def test_a_pin_steps_siblings_up_to_its_version_not_to_the_newest(tmp_path: Path, famrepo: str):
    host = Host(tmp_path, boot=True)
    host.apply(apt_profile({"famtool": "1.0-1"}, famrepo))
    res = host.apply(apt_profile({"famtool": "1.1-1"}, famrepo))
    assert {n: r[:2] for n, r in plan_rows(res).items()} == {
        "famtool": ("upgrade", "1.1-1"), "famclient": ("upgrade", "1.1-1"), "famlib": ("upgrade", "1.1-1")}  # fmt: skip
    assert set(dpkg_installed(host.root).values()) == {"1.1-1"}


def test_a_fresh_install_with_a_pin_takes_the_matching_siblings(tmp_path: Path, famrepo: str):
    host = Host(tmp_path, boot=True)
    res = host.apply(apt_profile({"famtool": "1.1-1", "other": None}, famrepo))
    assert dpkg_installed(host.root) == {"famtool": "1.1-1", "famclient": "1.1-1", "famlib": "1.1-1",
                                         "other": "2.0-1"}  # fmt: skip
    assert plan_rows(res)["famclient"][3] == "needed by famtool 1.1-1 (= 1.1-1)"


@pytest.mark.parametrize("pins", [{"famclient": "1.0-1"}, {"famlib": "1.1-1"}, {"famlib": "1.0-1"}])
def test_a_pin_on_a_lower_member_moves_the_members_that_need_it(tmp_path: Path, famrepo: str, pins):
    host = Host(tmp_path, boot=True)
    host.apply(apt_profile({"famtool": None}, famrepo))
    host.apply(apt_profile(dict({"famtool": None}, **pins), famrepo))
    want = list(pins.values())[0]
    assert dpkg_installed(host.root) == {"famtool": want, "famclient": want, "famlib": want}


def test_two_pinned_members_agreeing_and_disagreeing(tmp_path: Path, famrepo: str):
    host = Host(tmp_path, boot=True)
    host.apply(apt_profile({"famtool": None}, famrepo))
    host.apply(apt_profile({"famtool": "1.0-1", "famclient": "1.0-1"}, famrepo))
    assert set(dpkg_installed(host.root).values()) == {"1.0-1"}
    before = dpkg_installed(host.root)
    with pytest.raises(ResolveError) as ei:
        host.apply(apt_profile({"famtool": "1.1-1", "famclient": "1.0-1"}, famrepo))
    assert "famtool" in str(ei.value)
    assert dpkg_installed(host.root) == before
    p = host.cli("plan", "--boot", profile=apt_profile({"famtool": "1.1-1", "famclient": "1.0-1"}, famrepo))
    assert p.returncode == 4 and "famtool" in p.stderr


def test_a_held_sibling_makes_the_pin_an_error_not_a_silent_no_op(tmp_path: Path, famrepo: str):
    import subprocess

    host = Host(tmp_path, boot=True)
    host.apply(apt_profile({"famtool": None}, famrepo))
    subprocess.run(["dpkg", "--root=%s" % host.root, "--set-selections"], input="famclient hold\n", text=True,
                   check=True)  # fmt: skip
    p = host.cli("apply", "--boot", profile=apt_profile({"famtool": "1.0-1"}, famrepo))
    assert p.returncode == 4, (p.stdout, p.stderr)
    assert "famtool" in p.stderr and "1.0-1" in p.stderr
    assert dpkg_installed(host.root)["famtool"] == "1.2-1"


# -- property: random universes of exact-version families ----------------------------------------


@st.composite
def universes(draw):  # type: ignore[no-untyped-def]
    fams = []
    for f in range(draw(st.integers(1, 3))):
        size = draw(st.integers(2, 3))
        vers = sorted(draw(st.sets(st.sampled_from(VERS), min_size=1, max_size=3)))
        fams.append((["f%dm%d" % (f, i) for i in range(size)], vers))
    return fams


@given(fams=universes(), data=st.data())
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_property_pins_on_exact_version_families_hold_or_fail_loudly(fams, data):  # type: ignore[no-untyped-def]
    base = Path(tempfile.mkdtemp(prefix="spma-famprop-"))
    try:
        debs: List[Deb] = []
        for names, vers in fams:
            debs += family(names, tuple(vers))
        url = "file://%s s main" % make_repo(base / "r", debs, suite="s")
        names_all = [n for names, _v in fams for n in names]
        vers_of = {n: vers for names, vers in fams for n in names}

        def decls() -> Dict[str, Optional[str]]:
            chosen = data.draw(st.lists(st.sampled_from(names_all), min_size=1, max_size=4, unique=True))
            return {n: data.draw(st.one_of(st.none(), st.sampled_from(vers_of[n]))) for n in chosen}

        host = Host(base / "h", boot=True)
        first, second = decls(), decls()
        for target in (first, second):
            fam_pins: Dict[int, set] = {}
            for i, (names, _v) in enumerate(fams):
                fam_pins[i] = {target[n] for n in names if target.get(n)}
            consistent = all(len(p) <= 1 for p in fam_pins.values())
            before = dpkg_installed(host.root)
            try:
                host.apply(apt_profile(target, url))
            except ResolveError:
                assert not consistent, (target, fams)  # one version per family always fits
                assert dpkg_installed(host.root) == before
                continue
            inst = dpkg_installed(host.root)
            for n, v in target.items():
                assert n in inst and (v is None or inst[n] == v), (n, v, inst)
            for names, _v in fams:  # a family installed is installed at one version
                assert len({inst[n] for n in names if n in inst}) <= 1, inst
            assert host.plan(apt_profile(target, url)).changes == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)
