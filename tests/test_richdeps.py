"""RPM rich dependencies evaluated against a planned package set (pure logic, no rpm)."""

from __future__ import annotations

from typing import FrozenSet, List, Set

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spma.backends.dnf.richdeps import Leaf, Node, is_rich, leaves, needs, parse, rich_ones, satisfied


def prov(*have: str):  # type: ignore[no-untyped-def]
    """providers() over a set of package names that provide their own name."""
    names: Set[str] = set(have)

    def providers(dep: str) -> FrozenSet[str]:
        n = dep.split()[0]
        return frozenset([n]) if n in names else frozenset()

    return providers


@pytest.mark.parametrize(
    "dep, tree",
    [
        ("foo", Leaf("foo")),
        ("foo >= 1.0", Leaf("foo >= 1.0")),
        ("(milk if (flour or oat))", Node("if", (Leaf("milk"), Node("or", (Leaf("flour"), Leaf("oat")))))),
        ("(a or b or c)", Node("or", (Leaf("a"), Leaf("b"), Leaf("c")))),
        ("(blue-cheese if spoiled-milk else water)", Node("if", (Leaf("blue-cheese"), Leaf("spoiled-milk"), Leaf("water")))),
        ("(libsss_autofs(x86-64) = 2.6.2-2.el9 if autofs)",
         Node("if", (Leaf("libsss_autofs(x86-64) = 2.6.2-2.el9"), Leaf("autofs")))),
        ("(flour and ((milk or cream) if dill))",
         Node("and", (Leaf("flour"), Node("if", (Node("or", (Leaf("milk"), Leaf("cream"))), Leaf("dill")))))),
        ("(perl(Foo::Bar) unless baz)", Node("unless", (Leaf("perl(Foo::Bar)"), Leaf("baz")))),
    ],
)  # fmt: skip
def test_parse(dep: str, tree: object) -> None:
    assert parse(dep) == tree


@pytest.mark.parametrize("bad", ["(a and", "(a or b))", "(a >= )", "()"])
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse(bad)


def test_a_condition_that_no_longer_holds_needs_nothing() -> None:
    e = parse("(milk if (flour or oat))")
    assert needs(e, prov("milk", "oat")) == {"milk"}
    assert needs(e, prov("milk")) == set()  # oat is gone: milk is free to go
    assert satisfied(e, prov()) and not satisfied(e, prov("oat"))
    assert leaves(e) == {"milk", "flour", "oat"}  # what libsolv keeps


def test_else_unless_with_without() -> None:
    e = parse("(blue-cheese if spoiled-milk else water)")
    assert needs(e, prov("water")) == {"water"}
    assert needs(e, prov("spoiled-milk", "blue-cheese", "water")) == {"blue-cheese"}
    assert not satisfied(parse("(a unless b)"), prov()) and satisfied(parse("(a unless b)"), prov("b"))
    assert satisfied(parse("(a without b)"), prov("a")) and not satisfied(
        parse("(a without b)"), prov("a", "b")
    )
    assert needs(parse("(a with b)"), prov("a", "b")) == {"a", "b"}


def test_nested_chain() -> None:
    e = parse("(flour and ((milk or cream) if dill))")
    assert needs(e, prov("flour", "cream", "dill")) == {"flour", "cream"}
    assert needs(e, prov("flour", "cream")) == {"flour"}


@given(st.lists(st.text(alphabet=st.sampled_from(list("a( )\t\u2003\n")), max_size=6), max_size=8))
def test_rich_ones_are_those_is_rich_takes(deps: List[str]) -> None:
    assert list(rich_ones(deps)) == [d for d in deps if is_rich(d)]
