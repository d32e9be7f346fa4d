"""The required-by explanation: the packages of the final set with a requirement named as
something the package provides (versions ignored; a rich requirement or provide matches
nothing), itself left out. Checked against that definition on hawkey's own Reldeps (names and
texts as libsolv makes them), with hypothesis, and on the dependency forms of real RPMs."""

from __future__ import annotations

from typing import Any, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spma.backends.dnf.facts import RequiredBy

pytestmark = pytest.mark.dnf


@pytest.fixture(scope="module")
def sack() -> Any:
    import hawkey

    return hawkey.Sack(arch="x86_64")


class _Pkg:
    """What RequiredBy reads of a hawkey package: its name and its dependency lists."""

    def __init__(self, name: str, provides: List[Any], requires: List[Any]) -> None:
        self.name, self.provides, self.requires = name, provides, requires


def _reference(final: List[_Pkg], pkg: _Pkg) -> Tuple[str, ...]:
    def names(deps: List[Any]) -> set:
        return {d.name for d in deps if not str(d).lstrip().startswith("(")}

    mine = names(pkg.provides)
    return tuple(sorted({q.name for q in final if mine & names(q.requires)} - {pkg.name}))


_NAMES = ["a", "b", "libz.so.1()(64bit)", "libz.so.1()", "perl(A::B)", "/usr/bin/a", "config(a)"]
_DEP = st.one_of(
    st.sampled_from(_NAMES),
    st.tuples(
        st.sampled_from(_NAMES[:2] + ["perl(A::B)"]),
        st.sampled_from(["=", ">=", "<"]),
        st.sampled_from(["1", "2:1.0-3"]),
    ).map(" ".join),  # fmt: skip
    st.tuples(st.sampled_from(_NAMES), st.sampled_from(["or", "and", "if"]), st.sampled_from(_NAMES)).map(
        lambda t: "(%s %s %s)" % t
    ),
)
_FINAL = st.lists(
    st.tuples(
        st.sampled_from(["pa", "pb", "pc", "pd"]), st.lists(_DEP, max_size=4), st.lists(_DEP, max_size=4)
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(_FINAL)
def test_who_is_every_requirer_of_a_provided_name(
    sack: Any, spec: List[Tuple[str, List[str], List[str]]]
) -> None:
    import hawkey

    final = [_Pkg(n, [hawkey.Reldep(sack, d) for d in prov], [hawkey.Reldep(sack, d) for d in req])
             for n, prov, req in spec]  # fmt: skip
    rb = RequiredBy(final)
    for p in final:
        assert rb.who(p) == _reference(final, p)


def test_real_dependency_forms(sack: Any) -> None:
    import hawkey

    def pkg(name: str, provides: List[str], requires: List[str]) -> _Pkg:
        return _Pkg(
            name, [hawkey.Reldep(sack, d) for d in provides], [hawkey.Reldep(sack, d) for d in requires]
        )

    lib = pkg(
        "glibc",
        ["libc.so.6(GLIBC_2.34)(64bit)", "config(glibc) = 2.34-1", "/usr/bin/ldd", "glibc = 2.34"],
        [],
    )
    users = [
        pkg("bash", [], ["libc.so.6(GLIBC_2.34)(64bit)", "(glibc or musl)"]),
        pkg("tool", [], ["/usr/bin/ldd"]),
        pkg("conf", [], ["config(glibc) >= 9"]),  # versions are not compared: an explanation only
        pkg("strict", [], ["glibc < 2"]),
        # the 32-bit library's requirement is not met by the 64-bit glibc
        pkg("glibc-user.i686", [], ["libc.so.6(GLIBC_2.34)"]),
        pkg("rich-only", [], ["(glibc if bash)"]),
    ]
    final = [lib] + users
    assert RequiredBy(final).who(lib) == ("bash", "conf", "strict", "tool")
    assert RequiredBy(final).who(lib) == _reference(final, lib)
