"""The two promises on real dnf: the plan is exactly what the transaction does, and one apply
converges (the next plan is empty). Each test reproduces a miss measured against the dnf team's
behaviour tests (ci-dnf-stack, dnf-4-stack) on their own fixture repositories."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest

from tests.dnf_fixtures import SPECS, fixture_repo
from tests.helpers import Host, profile_tree

pytestmark = [
    pytest.mark.dnf,
    pytest.mark.skipif(not SPECS.is_dir(), reason="../shared/corpus/dnf-fixtures is not present"),
]


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    dest = tmp_path_factory.mktemp("conv-fixtures")
    names = ["dnf-ci-rich", "dnf-ci-obsoletes", "dnf-ci-fedora", "dnf-ci-fedora-updates"]
    return {n: str(fixture_repo(n, dest)) for n in names}


def planned_final(before: List[str], plan: dict) -> List[str]:
    """The installed set the plan promises: `before` minus what it takes out plus what it puts in."""
    out = set(before)
    for a in plan["actions"]:
        if a["from"] is not None and a["action"] != "install":
            out.discard("%s-%s.%s" % (a["name"], a["from"], a["arch"]))
        if a["to"] is not None:
            out.add("%s-%s.%s" % (a["name"], a["to"], a["arch"]))
    return sorted(out)


def converge(host: Host, tree: dict) -> dict:
    """Apply once; the plan must equal the rpmdb change and the next plan must be empty."""
    before = host.installed()
    res = host.apply(tree)
    assert host.installed() == planned_final(before, res.plan), res.plan["actions"]
    assert "post_apply" not in res.plan  # spma's own check agrees
    again = host.plan(tree)
    assert again.plan["actions"] == [], again.plan["actions"]
    return res.plan


def by_name(plan: dict) -> Dict[str, dict]:
    return {"%s.%s" % (a["name"], a["arch"]): a for a in plan["actions"]}


# rich-dependencies.feature, "Gradually removing conditional dependencies": porridge requires
# (milk if (flour or oat)); dropping oat from the declaration leaves nothing that needs milk.
def test_conditional_requirement_removed_in_the_same_plan(tmp_path: Path, fx) -> None:
    repos = {"rich": fx["dnf-ci-rich"]}
    host = Host(tmp_path)
    converge(host, profile_tree({"porridge": None, "oat": None}, repos))
    assert host.installed() == ["milk-1.0-1.x86_64", "oat-1.0-1.x86_64", "porridge-1.0-1.x86_64"]
    plan = converge(host, profile_tree({"porridge": None}, repos))
    assert host.installed() == ["porridge-1.0-1.x86_64"]
    acts = by_name(plan)
    assert acts["milk.x86_64"]["action"] == "remove" and acts["oat.x86_64"]["action"] == "remove"


# rich-dependencies.feature, sauce requires (flour and ((milk or cream) if dill)): the chain of
# conditions two deep; dropping dill takes cream out in the same plan.
def test_nested_conditional_chain(tmp_path: Path, fx) -> None:
    repos = {"rich": fx["dnf-ci-rich"]}
    host = Host(tmp_path)
    converge(host, profile_tree({"sauce": None, "dill": None, "water": None}, repos))
    assert host.installed() == ["cream-1.0-1.x86_64", "dill-1.0-1.x86_64", "flour-1.0-1.x86_64",
                                "sauce-1.0-1.x86_64", "water-1.0-1.x86_64"]  # fmt: skip
    converge(host, profile_tree({"sauce": None, "water": None}, repos))
    assert host.installed() == ["flour-1.0-1.x86_64", "sauce-1.0-1.x86_64", "water-1.0-1.x86_64"]


# obsoletes.feature, "Multilib obsoletes during distro-sync" (@xfail upstream, bz1672947): lz4 on
# two arches; the update's lz4-libs obsoletes lz4 < 1.7.5-3 whatever the arch.
def test_multilib_obsoletes_keep_declared_arches(tmp_path: Path, fx) -> None:
    host = Host(tmp_path)
    both = {"1.7.5-2.fc26": ["x86_64", "i686"]}
    converge(host, profile_tree({"lz4": both}, {"f": fx["dnf-ci-fedora"]}))
    assert host.installed() == ["lz4-1.7.5-2.fc26.i686", "lz4-1.7.5-2.fc26.x86_64"]
    repos = {"f": fx["dnf-ci-fedora"], "u": fx["dnf-ci-fedora-updates"]}
    tree = profile_tree({"lz4": {"": ["x86_64", "i686"]}}, repos, process_obsoletes=True)
    plan = converge(host, tree)
    inst = host.installed()
    # a declared package is never what an obsoleter quietly satisfies: both arches stay lz4
    assert "lz4-1.8.2-2.fc29.x86_64" in inst and "lz4-1.8.2-2.fc29.i686" in inst, inst
    for a in plan["actions"]:
        if a["action"] in ("remove", "obsolete"):
            assert a["because"], a


# obsoletes.feature, "Install of obsoleted package": the obsoleter taken for a declared name says
# which declared package it replaces, never "required by".
def test_obsoleter_for_declared_name_names_it(tmp_path: Path, fx) -> None:
    host = Host(tmp_path)
    plan = converge(
        host, profile_tree({"PackageB": None}, {"o": fx["dnf-ci-obsoletes"]}, process_obsoletes=True)
    )
    a = by_name(plan)["PackageB-Obsoleter.x86_64"]
    assert (a["action"], a["reason"]) == ("install", "obsoleted")
    assert "PackageB" in a["because"] and "required" not in a["because"], a


# rich-dependencies.feature, "Required one of packages with recommended, even if the other is
# installed": pancake requires (milk or soymilk), soymilk is there, milk is only recommended
def test_weak_dependency_says_recommended(tmp_path: Path, fx) -> None:
    host = Host(tmp_path)
    repos = {"rich": fx["dnf-ci-rich"]}
    plan = converge(host, profile_tree({"pancake": None, "soymilk": None}, repos, install_weak_deps=True))
    assert host.installed() == ["milk-1.0-1.x86_64", "pancake-1.0-1.x86_64", "soymilk-1.0-1.x86_64"]
    a = by_name(plan)["milk.x86_64"]
    assert (a["reason"], a["because"]) == ("dependency", "recommended by pancake"), a
    # without install_weak_deps the recommendation goes, in one plan
    converge(host, profile_tree({"pancake": None, "soymilk": None}, repos))
    assert host.installed() == ["pancake-1.0-1.x86_64", "soymilk-1.0-1.x86_64"]


# rich-dependencies.feature, "Install pkg with weak complex deps and don't install the condition
# pkg with broken deps" (bz2185061): libsolv 0.7.23 takes spoiled-milk, whose `mold` nobody
# provides; the plan must not hand rpm a transaction it refuses.
def test_weak_dependency_with_broken_requirements_is_not_taken(tmp_path: Path, fx) -> None:
    host = Host(tmp_path)
    plan = converge(
        host, profile_tree({"breakfast": None}, {"rich": fx["dnf-ci-rich"]}, install_weak_deps=True)
    )
    assert host.installed() == ["breakfast-1.0-1.x86_64", "water-1.0-1.x86_64"]
    assert by_name(plan)["water.x86_64"]["because"] == "recommended by breakfast"


# The check before a plan is shown: a planned set that leaves out a declared (name, arch) is not
# a fixed point (the next run would put it back), so spma refuses to print it.
def test_fixpoint_check_names_what_the_next_run_would_change(tmp_path: Path, fx) -> None:
    import hawkey
    from spma.backends.dnf import DnfBackend
    from spma.backends.dnf.prune import fixpoint_problems

    from spma.model import PackageDecl, Repository, SolveRequest

    (tmp_path / "root").mkdir()
    backend = DnfBackend(root=str(tmp_path / "root"), statedir=str(tmp_path / "root/var/lib/spma"))
    repo = Repository("f", ("file://" + fx["dnf-ci-fedora"],), gpgcheck=False)
    base = backend.root.load(SolveRequest(packages=(), repositories=(repo,)))
    try:
        q = base.sack.query()
        goal = hawkey.Goal(base.sack)
        goal.install(select=hawkey.Selector(base.sack).set(pkg=q.filter(name="lz4", arch="x86_64")))
        assert goal.run()
        final = list(goal.list_installs())
        decls = [PackageDecl("lz4", arches=("x86_64", "i686"))]
        assert fixpoint_problems(goal, final, q, decls, True) == [
            "declared lz4.i686 is not in the planned set"
        ]
        assert fixpoint_problems(goal, final, q, [PackageDecl("lz4", arches=("x86_64",))], False) == []
    finally:
        base.close()
