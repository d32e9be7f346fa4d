"""The counter-examples random search found for "one apply converges" and "the plan is the
change" on apt (tests/test_apt_convergence_property.py with Conflicts), each kept as a fixed
universe of real .debs. Each names the class of fault it stands for:

* stale dependency states: apt recomputes the dependencies on a virtual package when a
  candidate that provides it becomes the version to install, never when it stops being it; a
  pin that replaced `pd 2` (Provides: vx) by `pd 1` left `Depends: vx` counted as met and dpkg
  refused the transaction half-way;
* path-dependent repairs: from the state the first apply left, the marking pass upgrades an
  undeclared package into a conflict (apt removes the other side) and the repair stepped a
  declared package down before putting the removed one back: a second run moved again;
* a declared package below its best version: apt dropped the best candidate because only an
  older version of another package meets its needs; the next run, with it installed, took it;
* a package pulled in for a version that then moved, needed by nothing: a new install was never
  garbage-collected, and the next run removed it;
* what apt brought in on its own for a declared upgrade it could not make blocked an installed
  package from coming back at its version;
* a declared package held below its best version by a package the same plan removes as
  garbage: the garbage fixpoint looked only at installed packages;
* a package pulled for a need that was met otherwise once the repairs settled: an installed
  alternative is never garbage, so the next run (which never pulled it) kept it.

Each case runs from an empty root: apply, then the next plan must be empty, and dpkg's database
must hold exactly what the plan said (or, for an unsolvable request, the refusal changes
nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import pytest

from spma.convergence import planned_final
from spma.errors import ResolveError
from tests.builders.debrepo import Deb, make_repo
from tests.helpers import Host
from tests.test_apt_reconcile import apt_profile
from tests.test_apt_upstream_scenarios import dpkg_keys

pytestmark = [pytest.mark.apt]

D = Deb

# hypothesis seed 1 of the property: `pe 2` conflicts with `pd`; the second run upgraded pe,
# apt removed pd, and declared pb stepped down to 1 before pd was put back
REPAIR_ORDER = [
    D("pa", "1", depends=("pd",), recommends=("pe",)),
    D("pa", "2", depends=("pd",), conflicts=("pe",)),
    D("pb", "1", depends=("pe", "pd | pa"), provides=("vx",), recommends=("pd",)),
    D("pb", "2", depends=("pe", "pd | pa"), conflicts=("pa",)),
    D("pc", "1", depends=("pb",), provides=("vx",), recommends=("pe",)),
    D("pd", "1", depends=("pc | pa", "vx"), provides=("vx",), recommends=("pa",)),
    D("pd", "2", depends=("pc | pa", "vx")),
    D("pe", "1", depends=("pa | pc",), provides=("vx",), recommends=("pa",)),
    D("pe", "2", depends=("pa | pc",), conflicts=("pd",)),
]

# seed 3: `pd 2` conflicts with `pc`, which alone provides vx for pa; the second run upgraded
# pd, apt removed pc, and pa stepped down before pc was put back
REMOVED_FIRST = [
    D("pa", "1", depends=("vx", "pd"), recommends=("pc",)),
    D("pa", "2", depends=("vx", "pd")),
    D("pb", "1", depends=("pd",), provides=("vx",), recommends=("pa",)),
    D("pb", "2", depends=("pd",)),
    D("pc", "1", depends=("vx", "vx"), provides=("vx",)),
    D("pd", "1", depends=("pe | pa",), recommends=("pa",)),
    D("pd", "2", depends=("pe | pa",), conflicts=("pc",)),
    D("pe", "1", depends=("pa | pc", "pc | vx | pa"), recommends=("pa",)),
]

# seed 2: declared pe's best version needs vx, which only pb 1 provides (pb's candidate is 2)
DECLARED_BEST = [
    D("pa", "1", depends=("pb | vx | pe",), recommends=("pe",)),
    D("pa", "2", depends=("pb | vx | pe",), conflicts=("pc",)),
    D("pb", "1", depends=("vx",), provides=("vx",), recommends=("pe",)),
    D("pb", "2", depends=("vx",)),
    D("pc", "1", depends=("pd | vx | pb",), recommends=("pe",)),
    D("pd", "1", depends=("pb", "pa"), recommends=("pe",)),
    D("pe", "1", depends=("vx", "pd | pb"), provides=("vx",), recommends=("pb",)),
    D("pe", "2", depends=("vx", "pd | pb"), conflicts=("pd",)),
]

# seed 2: pb 2 and pd 1 need vx; pd 1 does not provide it, pa does but needs pc 2, which pb 2
# conflicts with: unsolvable, yet apt's stale states called it solved and dpkg failed
STALE_UNSOLVABLE = [
    D("pa", "1", depends=("pc (>= 2)", "pc"), provides=("vx",), recommends=("pd",)),
    D("pb", "1", depends=("vx",), recommends=("pa",)),
    D("pb", "2", depends=("vx",), conflicts=("pc",)),
    D("pc", "1", depends=("vx", "vx"), recommends=("pd",)),
    D("pc", "2", depends=("vx", "vx"), breaks=("pb (<< 2)",), replaces=("pb (<< 2)",)),
    D("pd", "1", depends=("vx",), recommends=("pe",)),
    D("pd", "2", depends=("vx",), provides=("vx",)),
    D("pe", "1", depends=("pb | pc", "pd | vx | pa"), recommends=("pd",)),
]

# seed 5: pe 1 needs pb (>= 2), which breaks pe (<< 2): unsolvable; a declared package stepped
# down twice must be refused with the problem, not fail inside the solve
STEPPED_TWICE = [
    D("pa", "1", depends=("pe", "pc | vx | pd")),
    D("pa", "2", depends=("pe", "pc | vx | pd"), breaks=("pb (<< 2)",), replaces=("pb (<< 2)",)),
    D("pb", "1", depends=("pe",), provides=("vx",)),
    D("pb", "2", depends=("pe",), breaks=("pe (<< 2)",), replaces=("pe (<< 2)",)),
    D("pc", "1", depends=("pb | pa", "pb | pd"), recommends=("pe",)),
    D("pd", "1", depends=("vx", "pa | vx | pc"), recommends=("pc",)),
    D("pd", "2", depends=("vx", "pa | vx | pc")),
    D("pe", "1", depends=("pb (>= 2)",), provides=("vx",)),
]

ANY: Dict[str, str] = {}  # converges; which of the solutions it settles on is not the point

# seed 11: from pa 1, pb 2, pc 2 the marking pass upgrades declared pa to 2, which conflicts
# with pc; apt removes pc, and pd was pulled for pa 2 before pc was put back (and pa stepped
# down): pd stayed, one run later than the plan that left it out
PULL_AFTER_PUT_BACK = [
    D("pa", "1", depends=("pb | vx | pe", "pd | vx | pc"), provides=("vx",), recommends=("pd",)),
    D("pa", "2", depends=("pb | vx | pe", "pd | vx | pc"), conflicts=("pc",)),
    D("pb", "1", depends=("pc | pe", "pa"), recommends=("pe",)),
    D("pb", "2", depends=("pc | pe", "pa"), conflicts=("pe",)),
    D("pc", "1", depends=("pd | vx | pb", "pd | vx | pb"), recommends=("pa",)),
    D("pc", "2", depends=("pd | vx | pb", "pd | vx | pb")),
    D("pd", "1", depends=("pb",), recommends=("pb",)),
    D("pe", "1", depends=("pc | pd",), provides=("vx",), recommends=("pd",)),
    D("pe", "2", depends=("pc | pd",)),
]

# seed 21: pe was pulled in for pc 2's need while the pins settled; pc went and nothing needs
# pe, but a new install was never garbage-collected: the next run removed it
GARBAGE_PULLED = [
    D("pa", "1", depends=("pc | vx | pd", "pc | pb"), recommends=("pb",)),
    D("pb", "1", depends=("pd | vx | pa",), provides=("vx",), recommends=("pd",)),
    D("pb", "2", depends=("pd | vx | pa",)),
    D("pc", "1", depends=("pe | vx | pd", "pe (>= 2)"), recommends=("pe",)),
    D("pc", "2", depends=("pe | vx | pd", "pe (>= 2)"), provides=("vx",)),
    D("pd", "1", depends=("vx",), recommends=("pb",)),
    D("pd", "2", depends=("vx",), provides=("vx",)),
    D("pe", "1", depends=("pc | vx | pd", "pd | pc"), recommends=("pd",)),
    D("pe", "2", depends=("pc | vx | pd", "pd | pc"), conflicts=("pb",)),
]

# seed 32: from pd 1, pe 1, pd moves to 2 and pe stays (pe 2 needs pd and conflicts with it).
# From there the marking pass tries declared pe 2: apt brings in pb 1 for its vx, removes pd
# for its conflict; pd 2 conflicts with pb, so pd came back as 1, with pb: a second run moved
NEW_INSTALL_YIELDS = [
    D("pa", "1", depends=("pe",), recommends=("pe",)),
    D("pa", "2", depends=("pe",), conflicts=("pd",)),
    D("pb", "1", depends=("vx", "pd | vx | pc"), provides=("vx",), recommends=("pa",)),
    D("pc", "1", depends=("pe | vx | pd",)),
    D("pd", "1", depends=("pe", "pe | pb"), provides=("vx",)),
    D("pd", "2", depends=("pe", "pe | pb"), conflicts=("pb",)),
    D("pe", "1", depends=("vx", "pd"), provides=("vx",)),
    D("pe", "2", depends=("vx", "pd"), conflicts=("pd",)),
]

# seed 36: declared pe 2 conflicts with pc, which this plan removes as garbage; the garbage
# fixpoint re-marked only when an *installed* package was held back, so pe came in at 1 and
# the next run, pc gone, upgraded it
DECLARED_HELD_BY_GARBAGE = [
    D("pa", "1", depends=("pb | vx | pd",), recommends=("pb",)),
    D("pa", "2", depends=("pb | vx | pd",), breaks=("pc (<< 2)",), replaces=("pc (<< 2)",)),
    D("pb", "1", depends=("pa", "pe | pd"), provides=("vx",)),
    D("pb", "2", depends=("pa", "pe | pd"), breaks=("pd (<< 2)",), replaces=("pd (<< 2)",)),
    D("pc", "1", depends=("pd", "vx"), recommends=("pe",)),
    D("pd", "1", depends=("vx",), provides=("vx",), recommends=("pe",)),
    D("pd", "2", depends=("vx",), breaks=("pb (<< 2)",), replaces=("pb (<< 2)",)),
    D("pe", "1", depends=("vx",), provides=("vx",), recommends=("pb",)),
    D("pe", "2", depends=("vx",), conflicts=("pc",)),
]

# seed 52: the marking pass upgrades pa to 2, which no longer provides vx; pinned pb 1
# (`Depends: pc | vx | pe`) broke and pc was pulled; pa stepped back to 1 (vx again), but the
# installed pc is an alternative apt's garbage collection keeps: the next run installed it
PULL_MET_OTHERWISE = [
    D("pa", "1", depends=("pe | pb",), provides=("vx",), recommends=("pb",)),
    D("pa", "2", depends=("pe | pb",), breaks=("pd (<< 2)",), replaces=("pd (<< 2)",)),
    D("pb", "1", depends=("pc | vx | pe",), recommends=("pc",)),
    D("pc", "1", depends=("vx", "pb"), recommends=("pb",)),
    D("pd", "1", depends=("pe (>= 2)",), provides=("vx",)),
    D("pe", "1", depends=("pc (>= 2)", "pd | vx | pc"), provides=("vx",), recommends=("pc",)),
    D("pe", "2", depends=("pc (>= 2)", "pd | vx | pc"), breaks=("pb (<< 2)",), replaces=("pb (<< 2)",)),
]

CASES = [
    # (universe, what a first apply from the older snapshot (version 1 of each name) declared,
    #  declared, install_weak_deps, the installed set after apply (None: refused))
    pytest.param(REPAIR_ORDER, None, {"pb": None}, False, {"pb": "2", "pc": "1", "pd": "2", "pe": "1"},
                 id="repair-order"),
    pytest.param(REMOVED_FIRST, None, {"pb": None}, True, {"pa": "2", "pb": "2", "pc": "1", "pd": "1", "pe": "1"},
                 id="removed-put-back-first"),
    pytest.param(DECLARED_BEST, None, {"pe": None, "pc": None, "pa": None}, False, ANY, id="declared-best"),
    pytest.param(STALE_UNSOLVABLE, None, {"pd": "1", "pe": None, "pb": "2"}, True, None,
                 id="stale-provides-unsolvable"),
    pytest.param(PULL_AFTER_PUT_BACK, {"pa": None}, {"pa": None}, True, {"pa": "1", "pb": "2", "pc": "2"},
                 id="pull-after-put-back"),
    pytest.param(GARBAGE_PULLED, None, {"pd": "1", "pa": "1", "pb": "1"}, True, {"pa": "1", "pb": "1", "pd": "1"},
                 id="pulled-then-unneeded"),
    pytest.param(NEW_INSTALL_YIELDS, {"pe": None}, {"pe": None}, True, {"pd": "2", "pe": "1"},
                 id="new-install-yields-to-put-back"),
    pytest.param(DECLARED_HELD_BY_GARBAGE, {"pc": "1"}, {"pe": None, "pa": "2"}, False, {"pa": "2", "pd": "1", "pe": "2"},
                 id="declared-held-by-garbage"),
    pytest.param(PULL_MET_OTHERWISE, {"pb": "1"}, {"pb": "1"}, False, {"pa": "1", "pb": "1"}, id="pull-met-otherwise"),
    pytest.param(STEPPED_TWICE, None, {"pe": None}, True, None, id="stepped-twice-unsolvable"),
]  # fmt: skip


@pytest.mark.parametrize("universe,start,declared,weak,expected", CASES)
def test_apt_counter_example_converges(
    tmp_path: Path,
    universe: List[Deb],
    start: Optional[Dict[str, Optional[str]]],
    declared: Dict[str, Optional[str]],
    weak: bool,
    expected: Optional[Dict[str, str]],
) -> None:
    host = Host(tmp_path / "h", boot=True)
    if start is not None:
        old = "file://%s" % make_repo(tmp_path / "old", [d for d in universe if d.version == "1"])
        host.apply(apt_profile(start, old))
    before = dpkg_keys(host)
    repo = "file://%s" % make_repo(tmp_path / "repo", universe)
    tree = apt_profile(declared, repo, install_weak_deps=weak)
    if expected is None:
        with pytest.raises(ResolveError):
            host.apply(tree)
        assert dpkg_keys(host) == before
        return
    res = host.apply(tree)
    after = set(dpkg_keys(host))
    assert after == planned_final(before, res.plan["actions"])
    if expected is not ANY:
        assert {n: v for n, _a, v in after} == expected
    assert host.plan(tree).plan["actions"] == []
