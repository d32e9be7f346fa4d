"""The pure tier: the live/boot split fixpoint on synthetic changes and dependency graphs."""

from __future__ import annotations

from typing import Dict, List, Sequence, Set

from hypothesis import given, settings
from hypothesis import strategies as st

from spma.deferral import INCONSISTENT, boot_only_units, close_deferred, split
from spma.model import Change, Need


class Graph:
    """A synthetic solver: unit i needs each unit in needs[i] to be applied with it; a removal
    unit in needed_by[j] is still needed by the old package of unit j until j is applied."""

    def __init__(self, changes: List[Change], needs: Dict[int, Set[int]], needed_by: Dict[int, Set[int]],
                 consistent: bool = True) -> None:  # fmt: skip
        self.changes, self.needs, self.needed_by, self.consistent = changes, needs, needed_by, consistent
        self.live: List[int] = []

    def unmet(self, live: Sequence[int], deferred: Sequence[int]) -> List[Need]:
        later = set(deferred)
        out = [Need(i, "needs", self.changes[min(self.needs[i] & later)].name, "2")
               for i in live if self.needs.get(i, set()) & later]  # fmt: skip
        if out:
            return out
        return [Need(i, "needed-by", self.changes[min(js & later)].name, "1")
                for i, js in sorted(self.needed_by.items()) if i in live and js & later]  # fmt: skip

    def restrict(self, live: Sequence[int]) -> bool:
        self.live = list(live) if self.consistent else []
        return self.consistent

    def offers(self, *a: object) -> dict:
        raise AssertionError("not a split question")


def change(i: int, name: str, action: str = "upgrade") -> Change:
    return Change(action, name, "x86_64", "1", None if action == "remove" else "2", i)


def test_boot_only_units_first_glob_wins() -> None:
    cs = [change(0, "glibc"), change(0, "glibc-common"), change(1, "vim"), change(2, "kernel-core")]
    assert boot_only_units(cs, ("glibc*", "kernel*")) == {0: "boot-only glibc*", 2: "boot-only kernel*"}
    assert boot_only_units(cs, ()) == {}


def test_split_closes_over_needs_and_needed_by() -> None:
    cs = [
        change(0, "glibc"),
        change(1, "app"),
        change(2, "tool"),
        change(3, "oldlib", "remove"),
        change(4, "vim"),
    ]
    g = Graph(cs, needs={1: {0}, 2: {1}}, needed_by={3: {0}})
    deferred = split(g, cs, ("glibc",))  # type: ignore[arg-type]
    assert deferred == {
        0: "boot-only glibc",
        1: "needs glibc 2",
        2: "needs app 2",
        3: "needed by glibc 1 until boot",
    }
    assert g.live == [4]


def test_nothing_boot_only_asks_nothing() -> None:
    cs = [change(0, "vim")]
    assert split(Graph(cs, {}, {}), cs, ("glibc",)) == {}  # type: ignore[arg-type]


def test_an_inconsistent_live_part_defers_everything() -> None:
    cs = [change(0, "glibc"), change(1, "vim"), change(2, "tool")]
    g = Graph(cs, {}, {}, consistent=False)
    assert split(g, cs, ("glibc",)) == {0: "boot-only glibc", 1: INCONSISTENT, 2: INCONSISTENT}  # type: ignore[arg-type]


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    n = draw(st.integers(1, 12))
    units = st.sets(st.integers(0, n - 1), max_size=3)
    needs = {i: draw(units) - {i} for i in range(n)}
    needed_by = {i: draw(units) - {i} for i in range(n)}
    cs = [
        change(i, draw(st.sampled_from(["glibc", "systemd", "app", "lib", "tool"])) + str(i))
        for i in range(n)
    ]
    return Graph(cs, needs, needed_by)


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_the_live_set_is_closed(g: Graph) -> None:
    """No live change needs a deferred one, in either direction; the boot-only ones wait; every
    deferred unit is there for a reason (boot-only, or a chain to one)."""
    deferred = split(g, g.changes, ("glibc*", "systemd*"))  # type: ignore[arg-type]
    live = [c.unit for c in g.changes if c.unit not in deferred]
    seed = boot_only_units(g.changes, ("glibc*", "systemd*"))
    assert g.live == (live if seed else [])  # nothing boot-only: the whole solve stays as it is
    for i in live:
        assert not g.needs[i] & set(deferred)
        assert not g.needed_by[i] & set(deferred)
    assert set(seed) <= set(deferred)
    # minimal: the closure of the seed under "needs a deferred unit", nothing more
    closure = set(seed)
    grew = True
    while grew:
        grew = False
        for i in range(len(g.changes)):
            if i not in closure and (g.needs[i] | g.needed_by[i]) & closure:
                closure.add(i)
                grew = True
    assert set(deferred) == closure


def test_close_deferred_is_a_fixpoint_of_its_own_answer() -> None:
    g = Graph([change(i, "p%d" % i) for i in range(4)], {1: {0}, 2: {1}, 3: {2}}, {})
    assert sorted(close_deferred([0, 1, 2, 3], {0: "boot-only p0"}, g.unmet)) == [0, 1, 2, 3]
