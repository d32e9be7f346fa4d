"""Property on real apt/dpkg over random universes: alternatives (`A | B`), Provides (virtual
packages), Breaks/Replaces, Conflicts, Recommends, versioned upgrades. From any state a first
apply left, one apply reaches a state where

* dpkg's database changed exactly as the plan said (plan == change), and
* the next plan is empty (one apply converges).

Each example builds its universe with dpkg-deb (cached by content)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from spma.convergence import planned_final
from spma.errors import ResolveError, SafetyError
from tests.builders.debrepo import Deb, make_repo
from tests.helpers import Host
from tests.test_apt_reconcile import apt_profile
from tests.test_apt_upstream_scenarios import dpkg_keys

pytestmark = [pytest.mark.apt, pytest.mark.slow]

NAMES = ["pa", "pb", "pc", "pd", "pe"]
VIRTUAL = "vx"  # provided by some packages, depended on by others


@st.composite
def relation(draw: st.DrawFn, me: str) -> Optional[str]:
    others = [n for n in NAMES if n != me]
    kind = draw(st.sampled_from(["plain", "alt", "alt3", "virtual", "versioned", "none", "none"]))
    a, b, c = draw(st.permutations(others))[:3]
    return {
        "plain": a,
        "alt": "%s | %s" % (a, b),
        "alt3": "%s | %s | %s" % (a, VIRTUAL, c),
        "virtual": VIRTUAL,
        "versioned": "%s (>= 2)" % a,
        "none": None,
    }[kind]


@st.composite
def universe(draw: st.DrawFn, conflicts: bool = True) -> Tuple[List[Deb], List[Deb]]:
    """(old snapshot, new snapshot): version 1 of every name, and in the new one a version 2
    of some, which may take over another package (Breaks + Replaces), conflict with it, or
    provide the virtual package."""
    old: List[Deb] = []
    new: List[Deb] = []
    for n in NAMES:
        deps = tuple(d for d in (draw(relation(n)), draw(relation(n))) if d)
        rec = tuple(r for r in [draw(st.sampled_from([None] + [x for x in NAMES if x != n]))] if r)
        prov = (VIRTUAL,) if draw(st.booleans()) else ()
        d1 = Deb(n, "1", depends=deps, recommends=rec, provides=prov)
        old.append(d1)
        new.append(d1)
        if draw(st.booleans()):
            other = draw(st.sampled_from([x for x in NAMES if x != n]))
            kinds = (
                ["takeover", "conflicts", "provides", "plain"]
                if conflicts
                else ["takeover", "provides", "plain"]
            )
            kind = draw(st.sampled_from(kinds))
            kw: Dict[str, object] = {"depends": deps}
            if kind == "takeover":
                kw.update(breaks=("%s (<< 2)" % other,), replaces=("%s (<< 2)" % other,))
            elif kind == "conflicts":
                kw["conflicts"] = (other,)
            elif kind == "provides":
                kw["provides"] = (VIRTUAL,)
            new.append(Deb(n, "2", **kw))  # type: ignore[arg-type]
    return old, new


def show(debs: List[Deb]) -> str:
    out = []
    for d in debs:
        rel = " ".join("%s=%s" % (k, list(v)) for k, v in (("D", d.depends), ("P", d.provides), ("B", d.breaks),
                       ("R", d.replaces), ("C", d.conflicts), ("W", d.recommends)) if v)  # fmt: skip
        out.append("%s=%s %s" % (d.name, d.version, rel))
    return "\n  ".join(out)


decl = st.dictionaries(
    st.sampled_from(NAMES), st.one_of(st.none(), st.just("1"), st.just("2")), min_size=1, max_size=3
)
# the first apply, against the old snapshot, which has only version 1: a declared "2" there
# would only be refused, and the example would start from an empty root
decl_old = st.dictionaries(
    st.sampled_from(NAMES), st.one_of(st.none(), st.just("1")), min_size=1, max_size=3
)


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# no shrinking: each example is real dpkg-deb builds and transactions; the message shows it all
@given(uni=universe(conflicts=False), first=decl_old, second=decl, weak=st.booleans())
@SETTINGS
def test_apt_one_apply_converges_and_plan_is_the_change(uni, first, second, weak) -> None:  # type: ignore[no-untyped-def]
    check(uni, first, second, weak)


# With Conflicts between versions as well: apt's resolver is greedy and path-dependent, and
# spma's repairs around it (backends/apt/follow.py) and the fixed-point check before the plan is
# shown (backends/apt/fixpoint.py) are what make one run converge. Each counter-example random
# search found is a fixed case in tests/test_apt_convergence_cases.py. Derandomized in CI with a
# budget; before a change to the apt solve, run it with many more examples and other seeds
# (derandomize=False, max_examples=250, --hypothesis-seed=N).
@given(uni=universe(conflicts=True), first=decl_old, second=decl, weak=st.booleans())
@settings(SETTINGS, max_examples=30)
def test_apt_converges_with_conflicts(uni, first, second, weak) -> None:  # type: ignore[no-untyped-def]
    check(uni, first, second, weak)


def check(uni, first, second, weak) -> None:  # type: ignore[no-untyped-def]
    old, new = uni
    base = Path(tempfile.mkdtemp(prefix="spma-aptconv-"))
    try:
        repo_old = "file://%s" % make_repo(base / "old", old)
        repo_new = "file://%s" % make_repo(base / "new", new)
        host = Host(base / "h", boot=True)
        try:
            host.apply(apt_profile(first, repo_old))
        except (ResolveError, SafetyError) as e:
            assert "would not converge" not in str(e), e
        before = dpkg_keys(host)
        tree = apt_profile(second, repo_new, install_weak_deps=weak)
        try:
            res = host.apply(tree)
        except (ResolveError, SafetyError) as e:
            assert dpkg_keys(host) == before  # refused: nothing changed
            # the fixed-point check refuses a plan that would flip: that is a gap to close
            assert "would not converge" not in str(e), e
            return
        why = "universe:\n  %s\nbefore %s\ndeclared %s weak=%s\nplan %s" % (show(new), before, second, weak, [
            (a["action"], a["name"], a["from"], a["to"], a["because"]) for a in res.plan["actions"]])  # fmt: skip
        assert set(dpkg_keys(host)) == planned_final(before, res.plan["actions"]), why
        again = host.plan(tree)
        assert again.plan["actions"] == [], "%s\nnext plan %s" % (why, again.plan["actions"])
    finally:
        shutil.rmtree(base, ignore_errors=True)
