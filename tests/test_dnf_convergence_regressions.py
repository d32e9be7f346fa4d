"""Counter-examples the random-universe property (test_dnf_convergence_property, with Conflicts and
an obsoleter of both arches of a multilib package) found, each kept as a fixed case on real
dnf/rpm: from the state a first profile left, one apply of the second reaches a state whose next
plan is empty, and the package database changed exactly as the plan said."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.builders.rpmrepo import Rpm, make_repo
from tests.helpers import Host, profile_tree
from tests.test_dnf_convergence import planned_final

pytestmark = [pytest.mark.dnf]

ML = "ml"  # built for x86_64 and i686; version 2 obsoletes `ml < 1.5`, so either arch takes both


def r(name: str, version: str, **deps: Tuple[str, ...]) -> Rpm:
    kw = {"R": "requires", "W": "recommends", "C": "conflicts", "O": "obsoletes"}
    return Rpm(name, version, **{kw[k]: v for k, v in deps.items()})  # type: ignore[arg-type]


def universe(pkgs: List[Rpm]) -> Tuple[List[Rpm], List[Rpm]]:
    """(old snapshot, new snapshot) the way the property builds them: the old one has the
    version-1 packages and ml-1 on both arches; the new one everything and ml-2 as well."""
    old = [p for p in pkgs if p.version == "1"]
    new = list(pkgs)
    for arch in ("x86_64", "i686"):
        old.append(Rpm(ML, "1", arch=arch))
        new += [Rpm(ML, "1", arch=arch), Rpm(ML, "2", arch=arch, obsoletes=("%s < 1.5" % ML,))]
    return old, new


def replay(tmp_path: Path, pkgs: List[Rpm], first: Dict[str, object], before: List[str],
           second: Dict[str, object], **flags: bool) -> Tuple[List[str], dict]:  # fmt: skip
    old, new = universe(pkgs)
    repo_old, repo_new = str(make_repo(tmp_path / "old", old)), str(make_repo(tmp_path / "new", new))
    host = Host(tmp_path / "h", boot=True)
    host.apply(profile_tree(first, {"os": repo_old}))
    assert host.installed() == before
    tree = profile_tree(second, {"os": repo_new}, **flags)
    res = host.apply(tree)
    assert host.installed() == planned_final(before, res.plan), res.plan["actions"]
    assert "post_apply" not in res.plan
    again = host.plan(tree)
    assert again.plan["actions"] == [], again.plan["actions"]
    return host.installed(), res.plan


def x86(*names: str) -> Dict[str, object]:
    return {n: {"": ["x86_64"]} for n in names}


BOTH = {"": ["x86_64", "i686"]}


# The declared ml.x86_64 moves to 2 by the distupgrade, so libsolv lists ml-2.x86_64 (which
# obsoletes both arches) as a newcomer no job asked for; it was guessed away, and dropping the
# undeclared i686 then pinned x86_64 at 1: the next run upgraded it. A package of a declared
# (name, arch) is never a guess.
def test_declared_arch_is_never_guessed_away(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(pc or pe)",), W=("pb",)),
        r("pb", "1", R=("(pc if pd else pe)",), W=("pe",)),
        r("pc", "1", W=("pb",)),
        r("pc", "2", C=("pd",)),
        r("pd", "1", R=("(pc if pe else ml)",), W=("pc",)),
        r("pe", "1", R=("(pc if ml else pa)",)),
    ]
    first = {"ml": BOTH, "pa": {"": ["x86_64"]}, "pb": {"": ["x86_64"]}, "pd": None}
    before = ["ml-1-1.i686", "ml-1-1.x86_64", "pa-1-1.noarch", "pb-1-1.noarch", "pc-1-1.noarch", "pd-1-1.noarch"]  # fmt: skip
    got, _ = replay(tmp_path, pkgs, first, before, {**x86("pa", "pe", "ml"), "pc": None},
                    process_obsoletes=True)  # fmt: skip
    assert got == ["ml-2-1.x86_64", "pa-1-1.noarch", "pc-2-1.noarch", "pe-1-1.noarch"]


# pe-1 recommends pc, pe-2 does not: libsolv keeps pc while the installed pe-1 is there, even in
# the solve that upgrades pe; from the planned set the next run finds pc unneeded. What nothing
# in the planned set reaches goes in the same plan.
def test_what_only_a_replaced_version_wanted_goes_in_the_same_plan(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(pe if pd else pb)",), W=("pe",)),
        r("pa", "2", R=("(pe if pd else pb)",), C=("pd",)),
        r("pb", "1", R=("(pd or ml)",), W=("pc",)),
        r("pc", "1", R=("pa", "(pe or pd)"), W=("pe",)),
        r("pc", "2", R=("pa", "(pe or pd)"), C=("pe",)),
        r("pd", "1", W=("pe",)),
        r("pe", "1", R=("pa", "(pb or pd)"), W=("pc",)),
        r("pe", "2", R=("pa", "(pb or pd)")),
    ]
    first = {"pa": BOTH, "pd": None, "pc": None, "ml": {"": ["x86_64"]}}
    before = ["ml-1-1.x86_64", "pa-1-1.noarch", "pc-1-1.noarch", "pd-1-1.noarch", "pe-1-1.noarch"]  # fmt: skip
    got, _ = replay(tmp_path, pkgs, first, before, x86("pd"), process_obsoletes=True, install_weak_deps=True)
    assert got == ["pa-1-1.noarch", "pd-1-1.noarch", "pe-2-1.noarch"]


# pb requires (ml if pc else pd): erasing pd first (a condition only) left pc needed, erasing
# pc was then refused, and the next run, without pd installed, erased pc and installed pd. An
# earlier guess is released once when a later one needs what it erased.
def test_an_earlier_guess_gives_way_to_a_later_one(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(pd if pe else ml)", "(pe if pc else ml)"), W=("pc",)),
        r("pa", "2", R=("(pd if pe else ml)", "(pe if pc else ml)"), C=("pc",)),
        r("pb", "1", R=("(ml if pc else pd)", "(pc if pa)"), W=("pc",)),
        r("pc", "1", R=("(pe if pa else ml)",), W=("pe",)),
        r("pc", "2", R=("(pe if pa else ml)", "(pb if pa)")),
        r("pd", "1", W=("pc",)),
        r("pe", "1", R=("(pc if pd else pa)", "ml")),
        r("pe", "2", R=("(pc if pd else pa)", "ml"), O=("ml < 2",)),
    ]
    before = ["ml-1-1.x86_64", "pc-1-1.noarch", "pd-1-1.noarch", "pe-1-1.noarch"]  # fmt: skip
    got, _ = replay(tmp_path, pkgs, {"pe": None}, before, {"pb": None},
                    process_obsoletes=True, install_weak_deps=True)  # fmt: skip
    assert got == ["pb-1-1.noarch", "pd-1-1.noarch"]


# ml is needed (pb requires (ml if pe)) and both installed arches move to 2: both copies were
# newcomers, so both were guessed as "a second arch nothing needs"; hiding them pinned ml at 1
# and the next run upgraded it. A copy the plan moves counts as installed, and of copies that
# would each do, one stays.
def test_a_needed_multilib_name_keeps_one_arch_and_moves(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(pd or pb)",)),
        r("pb", "1", R=("(ml if pe)",), W=("pc",)),
        r("pc", "1", R=("(pe if pd else pb)",), W=("pb",)),
        r("pd", "1", R=("pe",), W=("pc",)),
        r("pd", "2", R=("pe", "(pa if pb)")),
        r("pe", "1", R=("pb",)),
    ]
    first = {"pc": None, "pd": BOTH, "pb": None, "ml": BOTH}
    before = ["ml-1-1.i686", "ml-1-1.x86_64", "pb-1-1.noarch", "pc-1-1.noarch", "pd-1-1.noarch", "pe-1-1.noarch"]  # fmt: skip
    got, _ = replay(tmp_path, pkgs, first, before, {"pd": None}, install_weak_deps=True)
    assert got == ["ml-2-1.x86_64", "pa-1-1.noarch", "pb-1-1.noarch", "pc-1-1.noarch", "pd-2-1.noarch",
                   "pe-1-1.noarch"]  # fmt: skip


# libsolv calls the installed ml-1 unneeded (only the erased pa-1 required it), but the planned
# pb-2 requires (ml if pb): the check of what the rest of the planned set needs read only the
# first word of a requirement, so ml went, pb fell back to 1, and the next run moved both.
def test_a_rich_requirement_of_the_planned_set_keeps_what_libsolv_calls_unneeded(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("ml",), W=("pd",)),
        r("pa", "2", R=("ml",)),
        r("pb", "1", W=("pd",)),
        r("pb", "2", R=("(ml if pb)",)),
        r("pc", "1", R=("pb", "(pd if pa else ml)"), W=("pa",)),
        r("pd", "1", R=("(pe or pb)", "pa"), W=("pa",)),
        r("pe", "1", R=("(pa if pc)",), W=("pb",)),
        r("pe", "2", R=("(pa if pc)", "(pb if pe)")),
    ]
    before = ["ml-1-1.x86_64", "pa-1-1.noarch", "pb-1-1.noarch", "pc-1-1.noarch", "pd-1-1.noarch", "pe-1-1.noarch"]  # fmt: skip
    got, _ = replay(tmp_path, pkgs, {"pc": BOTH, "pe": {"": ["x86_64"]}}, before, x86("pe"),
                    process_obsoletes=True, install_weak_deps=True)  # fmt: skip
    assert got == ["ml-2-1.x86_64", "pb-2-1.noarch", "pe-2-1.noarch"]


# The plan moved pe to 2 and brought pc in at 1 (pc-2 needs ml while pa is there, and ml
# conflicts with pe-2); from the planned set the next run's distupgrade moved the now installed
# pc up, and pe back to 1. A newcomer below the best version is solved again as the next run
# would see it: only its best version offered.
def test_a_newcomer_below_its_best_version_is_solved_as_the_next_run_would(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(pc if pb else pd)",)),
        r("pa", "2", R=("(pc if pb else pd)", "(pb if pa)")),
        r("pb", "1", R=("(pe if pd else pa)",), W=("pc",)),
        r("pb", "2", R=("(pe if pd else pa)",)),
        r("pc", "1", R=("pd",), W=("pe",)),
        r("pc", "2", R=("pd", "(ml if pa)")),
        r("pd", "1", R=("(pe or pc)", "(pc if ml)"), W=("pe",)),
        r("pe", "1", W=("pd",)),
        r("pe", "2", C=("ml",)),
    ]
    before = ["pa-1-1.noarch", "pd-1-1.noarch", "pe-1-1.noarch"]
    got, _ = replay(tmp_path, pkgs, x86("pd", "pa"), before, x86("pd", "pa"), process_obsoletes=True)
    assert got == ["ml-2-1.x86_64", "pa-2-1.noarch", "pb-2-1.noarch", "pc-2-1.noarch", "pd-1-1.noarch",
                   "pe-1-1.noarch"]  # fmt: skip


# pe-2 conflicts with pb; without process_obsoletes the plan still let pa-2 (which obsoletes
# pb < 2) take pb out. Nothing needs pa and pb is not declared: the next run removed pa. An
# obsoleter stands in only for a declared name; in place of an undeclared one it is a newcomer
# like any other, and goes when nothing needs it.
def test_an_obsoleter_of_an_undeclared_package_is_not_kept_for_it(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", W=("pd",)),
        r("pa", "2", O=("pb < 2",)),
        r("pb", "1", R=("(ml if pc)",), W=("pe",)),
        r("pb", "2", R=("(ml if pc)",), O=("pa < 2",)),
        r("pc", "1", R=("pe", "(ml if pb)"), W=("pb",)),
        r("pc", "2", R=("pe", "(ml if pb)"), C=("ml",)),
        r("pd", "1", R=("(pb if pa else ml)", "(pa or pb)"), W=("pe",)),
        r("pd", "2", R=("(pb if pa else ml)", "(pa or pb)", "(pb if pd)")),
        r("pe", "1", W=("pb",)),
        r("pe", "2", C=("pb",)),
    ]
    first = {"pb": {"": ["x86_64"]}, "pc": BOTH, "pe": None, "pd": {"": ["x86_64"]}}
    before = ["ml-1-1.x86_64", "pb-1-1.noarch", "pc-1-1.noarch", "pd-1-1.noarch", "pe-1-1.noarch"]
    got, plan = replay(
        tmp_path, pkgs, first, before, {"pe": BOTH, "pc": {"": ["x86_64"]}}, install_weak_deps=True
    )
    assert got == ["pc-2-1.noarch", "pe-2-1.noarch"]
    assert not [a for a in plan["actions"] if a["name"] == "pa"], plan["actions"]


# pb requires (pd or ml); ml stays for pe, pd-2 came in as an obsoleter of ml-1. The check of
# what the planned set needs counted any leaf of the alternative, so pd stayed, and the next run
# found it unneeded. A newcomer that only an alternative met otherwise names is a guess.
def test_an_alternative_another_package_meets_is_no_need(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1"),
        r("pa", "2", O=("pc < 2",)),
        r("pb", "1", R=("(pd or ml)", "pe")),
        r("pb", "2", R=("(pd or ml)", "pe")),
        r("pc", "1", R=("(ml if pb else pe)", "(pb if pa)"), W=("pe",)),
        r("pc", "2", R=("(ml if pb else pe)", "(pb if pa)"), O=("ml < 2",)),
        r("pd", "1", W=("pe",)),
        r("pd", "2", O=("ml < 2",)),
        r("pe", "1", R=("(pc or ml)", "ml"), W=("pd",)),
    ]
    before = ["ml-1-1.x86_64", "pc-1-1.noarch", "pe-1-1.noarch"]
    got, _ = replay(tmp_path, pkgs, {"pe": None, "pc": BOTH}, before, {"pb": None}, process_obsoletes=True)
    assert got == ["ml-2-1.x86_64", "pb-2-1.noarch", "pc-2-1.noarch", "pe-1-1.noarch"]


# Without process_obsoletes, pd-2 (which obsoletes pb < 2) was held back because pb-1 is
# installed, although the plan takes pb out (the declared pa-2 obsoletes it); from the planned
# set nothing holds pd-2 back and the next run upgraded pd. An obsoleter held back only for a
# package the plan takes out is offered again, and the goal solved once more.
def test_an_obsoleter_held_back_for_a_package_that_leaves_is_offered(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("ml", "pe"), W=("pe",)),
        r("pa", "2", R=("ml", "pe"), O=("pb < 2",)),
        r("pb", "1", R=("(ml if pe else pd)",)),
        r("pc", "1", R=("pe", "(pa or pe)"), W=("pb",)),
        r("pc", "2", R=("pe", "(pa or pe)")),
        r("pd", "1", R=("(pe if pc else ml)",), W=("pe",)),
        r("pd", "2", R=("(pe if pc else ml)",), O=("pb < 2",)),
        r("pe", "1", R=("(pd if pb else pc)", "pd"), W=("pc",)),
    ]
    first = {"ml": BOTH, "pb": BOTH, "pe": {"": ["x86_64"]}, "pd": None}
    before = ["ml-1-1.i686", "ml-1-1.x86_64", "pb-1-1.noarch", "pd-1-1.noarch", "pe-1-1.noarch"]
    got, _ = replay(tmp_path, pkgs, first, before, x86("pa"))
    assert got == ["ml-2-1.x86_64", "pa-2-1.noarch", "pc-2-1.noarch", "pd-2-1.noarch", "pe-1-1.noarch"]


# pc-1 requires pb and nothing declared reaches pc; every round had another guess first, so the
# walk over what the planned set reaches never ran, and the fixed-point check refused the plan
# ("pc-1 would be removed by the next run"). The walk runs whenever the other guesses are spent.
def test_what_nothing_reaches_is_guessed_once_the_other_guesses_are_spent(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("pc",)),
        r("pa", "2", R=("pc",), O=("pd < 2",)),
        r("pb", "1", R=("(ml or pa)", "(pd if pa)"), W=("pc",)),
        r("pb", "2", R=("(ml or pa)", "(pd if pa)", "(pe if pa)")),
        r("pc", "1", R=("pb",), W=("pd",)),
        r("pd", "1", R=("(pc or pa)",), W=("pc",)),
        r("pd", "2", R=("(pc or pa)",), O=("pa < 2",)),
        r("pe", "1", R=("(pb if pa)",), W=("pb",)),
    ]
    before = ["ml-1-1.x86_64", "pb-1-1.noarch", "pc-1-1.noarch"]
    got, _ = replay(tmp_path, pkgs, x86("pc"), before, {"pe": {"": ["x86_64"]}, "ml": BOTH})
    assert got == ["ml-2-1.i686", "ml-2-1.x86_64", "pe-1-1.noarch"]


# The newcomer pc-1 lags pc-2, but pc-2 obsoletes pe < 2 and pe is declared: solving with only
# pc-2 offered let pc-2 stand in for pe and pa-1 come in, which the next run's distupgrade
# replaced by pd-2 again. The best version is preferred only where the packages that meet the
# declarations stay the same.
def test_preferring_a_best_version_never_changes_what_meets_the_declarations(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(pc if pb)",), W=("pd",)),
        r("pb", "1", W=("pc",)),
        r("pc", "1", R=("(pe if pd else ml)",)),
        r("pc", "2", R=("(pe if pd else ml)",), O=("pe < 2",)),
        r("pd", "1", W=("pb",)),
        r("pd", "2", O=("pa < 2",)),
        r("pe", "1", R=("(pb if pc)",), W=("pb",)),
    ]
    first = {"pb": BOTH, "pd": BOTH}
    second = {"pe": BOTH, "pc": None, "pb": {"": ["x86_64"]}, "pa": {"": ["x86_64"]}}
    before = ["pb-1-1.noarch", "pd-1-1.noarch"]
    got, _ = replay(tmp_path, pkgs, first, before, second, process_obsoletes=True, install_weak_deps=True)
    assert got == ["pb-1-1.noarch", "pc-1-1.noarch", "pd-2-1.noarch", "pe-1-1.noarch"]


# Preferring pe-2 over the newcomer pe-1 hid pe-1 for the rest of the solve; erasing the
# unneeded pb then needed pe-1 back (pe-2 conflicts with the pd that pe then requires) and was
# refused, while the next run, with pe installed, did it. A refused guess is tried once more
# with the older versions offered again.
def test_a_preferred_best_version_gives_way_to_a_later_guess(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(pe if pb)",), W=("pb",)),
        r("pa", "2", R=("(pe if pb)",)),
        r("pb", "1", R=("(pd or pe)", "(pd or ml)"), W=("pa",)),
        r("pc", "1", W=("pe",)),
        r("pc", "2", O=("pa < 2",)),
        r("pd", "1", R=("(pb if ml)", "(pa or pb)"), W=("pa",)),
        r("pd", "2", R=("(pb if ml)", "(pa or pb)"), C=("pe",)),
        r("pe", "1", R=("(pc if pb else pd)",), W=("pb",)),
        r("pe", "2", R=("(pc if pb else pd)",), C=("pd",)),
    ]
    before = ["pa-1-1.noarch", "pd-1-1.noarch"]
    got, _ = replay(
        tmp_path, pkgs, {"pd": BOTH}, before, {"pe": BOTH}, process_obsoletes=True, install_weak_deps=True
    )
    assert got == ["pa-2-1.noarch", "pd-1-1.noarch", "pe-1-1.noarch"]


# pd-1 (installed, only a condition of pa's `(ml if pd else pb)`) and the newcomer pb-2 were each
# unneeded while the other stayed; guessed together they failed and both stayed, and the next
# run, where libsolv itself lists pd-1, erased it and took pb. A failed guess of several packages
# is tried one by one, installed packages first, and a newcomer never releases an installed one.
def test_guesses_that_fail_together_are_tried_one_by_one(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(ml if pc else pb)", "(ml if pd else pb)")),
        r("pb", "1", R=("(pe or pc)", "(ml if pd)"), W=("pa",)),
        r("pb", "2", R=("(pe or pc)", "(ml if pd)"), O=("ml < 2",)),
        r("pc", "1", R=("(ml or pe)", "pe"), W=("pe",)),
        r("pc", "2", R=("(ml or pe)", "pe"), C=("pb",)),
        r("pd", "1", R=("(pc if pe)", "(ml if pc)"), W=("pe",)),
        r("pe", "1", R=("(pc or pb)",)),
    ]
    before = ["ml-1-1.x86_64", "pd-1-1.noarch"]
    got, _ = replay(
        tmp_path, pkgs, {"ml": {"": ["x86_64"]}, "pd": None}, before, {"pa": None}, process_obsoletes=True
    )
    assert got == ["pa-1-1.noarch", "pb-2-1.noarch", "pe-1-1.noarch"]


# The first solve lets pd-2 (which obsoletes pa < 2) stand in for the declared pa; the walk over
# what the declared set reaches started from pa itself, found nothing, and guessed pb away, which
# brought pa-1 back: the next run replaced it again. An obsoleter standing in for a declared
# name is where that walk starts.
def test_an_obsoleter_standing_in_for_a_declared_name_is_reached(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(pb or pc)",)),
        r("pb", "1", R=("(pd if ml else pa)",)),
        r("pb", "2", R=("(pd if ml else pa)",), O=("pd < 2",)),
        r("pc", "1", R=("(pd or pa)", "(pe if pd)"), W=("pa",)),
        r("pc", "2", R=("(pd or pa)", "(pe if pd)", "(ml if pc)")),
        r("pd", "1", R=("(pb if pe else ml)", "pe")),
        r("pd", "2", R=("(pb if pe else ml)", "pe"), O=("pa < 2",)),
        r("pe", "1", R=("pc", "(pd if pc)"), W=("pb",)),
    ]
    before = ["pa-1-1.noarch", "pb-1-1.noarch"]
    got, _ = replay(tmp_path, pkgs, {"pb": None}, before, {"pa": BOTH}, process_obsoletes=True)
    assert got == ["ml-2-1.x86_64", "pb-2-1.noarch", "pc-2-1.noarch", "pd-2-1.noarch", "pe-1-1.noarch"]


# ml is needed (pc requires `(pb if ml else pe)` and pe requires ml) but ml-2 looked like a mere
# condition: guessing the new version away only pinned ml at 1, and the next-run check refused
# the plan (the distupgrade would move it). A package the plan moves is guessed as its installed
# copy, whose erasure fails, so ml moves to 2 and stays there.
def test_a_moved_package_is_guessed_as_its_installed_copy(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("pb",), W=("pb",)),
        r("pa", "2", R=("pb",)),
        r("pb", "1", W=("pd",)),
        r("pc", "1", R=("(pb if ml else pe)", "(pb if pd else pe)"), W=("pe",)),
        r("pc", "2", R=("(pb if ml else pe)", "(pb if pd else pe)"), C=("pb",)),
        r("pd", "1", R=("pc", "(pa if pb)"), W=("pc",)),
        r("pe", "1", R=("(pb if pc else pd)", "ml"), W=("pa",)),
    ]
    first = {**x86("ml", "pa", "pc"), "pe": BOTH}
    before = ["ml-1-1.x86_64", "pa-1-1.noarch", "pb-1-1.noarch", "pc-1-1.noarch", "pe-1-1.noarch"]
    got, _ = replay(tmp_path, pkgs, first, before, x86("pa", "pc", "pb", "pd"))
    assert got == ["ml-2-1.x86_64", "pa-2-1.noarch", "pb-1-1.noarch", "pc-1-1.noarch", "pd-1-1.noarch"]


# Without process_obsoletes, pe-2 (which obsoletes pc < 2) was held back for the installed pc-1;
# the prune then took pc out, so from the planned set nothing held pe-2 back and the next run
# upgraded pe. Held-back obsoleters are looked at again once the prune settles.
def test_an_obsoleter_held_back_for_what_the_prune_takes_out_is_offered(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(pb if pd else ml)",), W=("pc",)),
        r("pb", "1", R=("pe", "(pd if pc else ml)")),
        r("pc", "1", R=("ml",), W=("pb",)),
        r("pd", "1", R=("ml", "(pa or pe)"), W=("pc",)),
        r("pd", "2", R=("ml", "(pa or pe)"), O=("pa < 2",)),
        r("pe", "1", R=("(pa or pc)",), W=("pc",)),
        r("pe", "2", R=("(pa or pc)",), O=("pc < 2",)),
    ]
    before = ["ml-1-1.x86_64", "pc-1-1.noarch", "pe-1-1.noarch"]
    got, _ = replay(tmp_path, pkgs, {"pe": None}, before, {"pd": None, "ml": None, "pa": {"": ["x86_64"]}})
    assert got == ["ml-2-1.x86_64", "pa-1-1.noarch", "pb-1-1.noarch", "pd-1-1.noarch", "pe-2-1.noarch"]


# No fixed point: pa requires `(pc if pd else pe)` and `(pe if ml)`, pe requires
# `(pc if ml else pd)`. With ml and pe, ml only makes a condition true, and the next run erases
# it (pe then needs pd, and pd makes pe unneeded); with pd, pd only makes a condition true, and
# the next run erases it and brings ml and pe back. Applied again and again, the host alternates
# between the two. spma refuses the plan (exit 4) before touching the host.
def test_a_flip_flop_is_refused_before_the_host_is_touched(tmp_path: Path) -> None:
    pkgs = [
        r("pa", "1", R=("(pc if pd else pe)", "(pe if ml)"), W=("pe",)),
        r("pb", "1", R=("(pd if pe)", "(pd or pe)"), W=("pa",)),
        r("pb", "2", R=("(pd if pe)", "(pd or pe)", "(ml if pb)")),
        r("pc", "1"),
        r("pd", "1", R=("(pc or pa)",), W=("pe",)),
        r("pe", "1", R=("(pc if ml else pd)", "(pa if ml)")),
    ]
    old, new = universe(pkgs)
    repo_old, repo_new = str(make_repo(tmp_path / "old", old)), str(make_repo(tmp_path / "new", new))
    host = Host(tmp_path / "h", boot=True)
    host.apply(profile_tree({"pd": None}, {"os": repo_old}))
    before = host.installed()
    assert before == ["pc-1-1.noarch", "pd-1-1.noarch"]
    tree = profile_tree({"pa": BOTH}, {"os": repo_new}, process_obsoletes=True)
    res = host.cli("apply", profile=tree)
    assert res.returncode == 4, res.stderr
    assert (
        "would not converge" in res.stderr and "ml-2-1.x86_64 would be removed by the next run" in res.stderr
    )
    assert host.installed() == before


# The check before a plan is shown, on plans the goal never makes: a planned set the next run
# would change is named, so spma refuses it ("the plan would not converge", exit 4) instead of
# printing it; a planned set that is a fixed point passes.
def test_the_next_run_check_names_what_would_still_change(tmp_path: Path) -> None:
    import hawkey
    from spma.backends.dnf import DnfBackend, goal, nextrun

    from spma.model import PackageDecl, Repository, SolveRequest

    pkgs = [r("pa", "1"), r("pa", "2"), r("pb", "1"), r("pc", "1"), r("pc", "2", R=("pa",))]
    repo = str(make_repo(tmp_path / "repo", pkgs))
    host = Host(tmp_path / "h", boot=True)
    host.apply(profile_tree({"pa": "1-1", "pb": None}, {"os": repo}))
    assert host.installed() == ["pa-1-1.noarch", "pb-1-1.noarch"]
    backend = DnfBackend(root=str(host.root), statedir=str(host.root / "var/lib/spma"))
    request = SolveRequest(packages=(PackageDecl("pa"), PackageDecl("pc")),
                           repositories=(Repository("os", ("file://" + repo,), gpgcheck=False),))  # fmt: skip
    base = backend.root.load(request)
    try:
        desired = goal.Desired(base, request, {})
        q = base.sack.query()

        def planned(*jobs: Tuple[str, str, str]) -> List[str]:
            g = hawkey.Goal(base.sack)
            for how, name, version in jobs:
                pkg = q.filter(name=name, version=version)
                if how == "install":
                    g.install(select=hawkey.Selector(base.sack).set(pkg=pkg.available()))
                else:
                    g.erase(pkg.installed()[0])
            assert g.run()
            return nextrun.problems(desired, g)

        # pa moves to 2 and pb stays although nothing declared needs it
        assert planned(("install", "pa", "2"), ("install", "pc", "2")) == [
            "pb-1-1.noarch would be removed by the next run: nothing the declared set needs requires it"
        ]
        # pc comes in at 1 while pc-2 would fit the planned set as it is
        assert planned(("erase", "pb", "1"), ("install", "pa", "2"), ("install", "pc", "1")) == [
            "pc-1-1.noarch would be moved to pc-2-1.noarch by the next run's distupgrade"
        ]
        assert planned(("erase", "pb", "1"), ("install", "pa", "2"), ("install", "pc", "2")) == []
    finally:
        base.close()
