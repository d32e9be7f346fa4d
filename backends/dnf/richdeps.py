"""RPM rich (boolean) dependencies, evaluated against a planned package set.

libsolv decides what is unneeded against the *installed* state, so a conditional requirement
`(milk if (flour or oat))` keeps milk as long as oat is installed, even in the very solve that
erases oat. To reach the fixpoint in one plan, the dnf backend asks this module which packages
a rich requirement still needs once the planned set is known.

Pure logic: the caller supplies `providers(simple_dep) -> set of package keys in the set`.
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass
from typing import Callable, FrozenSet, Iterator, List, Optional, Set, Tuple, Union

OPS = ("and", "or", "if", "else", "unless", "with", "without")
_CMP = ("<", ">", "=", "<=", ">=", "==")

Providers = Callable[[str], FrozenSet[str]]


@dataclass(frozen=True)
class Leaf:
    """A simple dependency of a rich one."""

    dep: str


@dataclass(frozen=True)
class Node:
    """A boolean operator of a rich dependency, with its operands."""

    op: str
    args: Tuple[Expr, ...]


Expr = Union[Leaf, Node]


def is_rich(dep: str) -> bool:
    return dep.lstrip().startswith("(")


_OPENS = operator.methodcaller("startswith", "(")


def rich_ones(deps: List[str]) -> Iterator[str]:
    """The rich dependencies among `deps` (is_rich of each), picked without a Python call per
    dependency: a plan's final set has tens of thousands of requirements, a dozen of them rich."""
    return itertools.compress(deps, map(_OPENS, map(str.lstrip, deps)))


def _tokens(s: str) -> List[str]:
    """Split on whitespace and grouping parentheses; a parenthesis inside a capability name
    (`libfoo(x86-64)`, `perl(Foo::Bar)`) stays part of the name."""
    out: List[str] = []
    word = ""
    depth = 0  # parentheses open inside the current word
    for c in s:
        if word:
            if c == "(":
                depth += 1
                word += c
            elif c == ")" and depth:
                depth -= 1
                word += c
            elif c == ")" or c.isspace():
                out.append(word)
                word, depth = "", 0
                if c == ")":
                    out.append(c)
            else:
                word += c
        elif c in "()":
            out.append(c)
        elif not c.isspace():
            word = c
    if word:
        out.append(word)
    return out


def parse(dep: str) -> Expr:
    """Parse one dependency string; a simple one becomes a Leaf. Raises ValueError."""
    toks = _tokens(dep)
    pos = 0

    def term() -> Expr:
        nonlocal pos
        if pos >= len(toks):
            raise ValueError("unexpected end of %r" % dep)
        if toks[pos] == "(":
            pos += 1
            e = expr()
            if pos >= len(toks) or toks[pos] != ")":
                raise ValueError("unbalanced parentheses in %r" % dep)
            pos += 1
            return e
        words = [toks[pos]]
        pos += 1
        if pos < len(toks) and toks[pos] in _CMP:
            if pos + 1 >= len(toks):
                raise ValueError("comparison without version in %r" % dep)
            words += [toks[pos], toks[pos + 1]]
            pos += 2
        return Leaf(" ".join(words))

    def expr() -> Expr:
        nonlocal pos
        left = term()
        if pos < len(toks) and toks[pos] in OPS:
            op = toks[pos]
            pos += 1
            right = expr() if op in ("and", "or", "with") else term()
            if op in ("if", "unless") and pos < len(toks) and toks[pos] == "else":
                pos += 1
                return Node(op, (left, right, term()))
            if op in ("and", "or", "with") and isinstance(right, Node) and right.op == op:
                return Node(op, (left,) + right.args)
            return Node(op, (left, right))
        return left

    e = expr()
    if pos != len(toks):
        raise ValueError("trailing text in %r" % dep)
    return e


def satisfied(e: Expr, providers: Providers) -> bool:
    if isinstance(e, Leaf):
        return bool(providers(e.dep))
    a = e.args
    if e.op in ("and", "with"):
        return all(satisfied(x, providers) for x in a)
    if e.op == "or":
        return any(satisfied(x, providers) for x in a)
    if e.op == "without":
        return satisfied(a[0], providers) and not satisfied(a[1], providers)
    cond = satisfied(a[1], providers)
    if e.op == "unless":
        cond = not cond
    if cond:
        return satisfied(a[0], providers)
    return satisfied(a[2], providers) if len(a) > 2 else True


def needs(e: Expr, providers: Providers) -> Set[str]:
    """The packages of the set this requirement keeps, given the set: a condition that does not
    hold needs nothing, and the condition itself is never needed."""
    if isinstance(e, Leaf):
        return set(providers(e.dep))
    a = e.args
    if e.op in ("and", "with", "or"):
        out: Set[str] = set()
        for x in a:
            if e.op != "or" or satisfied(x, providers):
                out |= needs(x, providers)
        return out
    if e.op == "without":
        return needs(a[0], providers)
    cond = satisfied(a[1], providers)
    if e.op == "unless":
        cond = not cond
    if cond:
        return needs(a[0], providers)
    return needs(a[2], providers) if len(a) > 2 else set()


def leaves(e: Expr) -> Set[str]:
    """Every simple dependency named anywhere in the expression (what libsolv keeps)."""
    if isinstance(e, Leaf):
        return {e.dep}
    out: Set[str] = set()
    for x in e.args:
        out |= leaves(x)
    return out


def parse_or_none(dep: str) -> Optional[Expr]:
    try:
        return parse(dep)
    except ValueError:
        return None
