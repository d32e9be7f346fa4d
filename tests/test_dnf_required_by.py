"""The required-by explanation: the packages of the final set with a requirement whose capability
name (the regex _CAP's group) is that of something the package provides, itself left out."""

from __future__ import annotations

from typing import List, Optional, Tuple

from hypothesis import given
from hypothesis import strategies as st
from spma.backends.dnf.facts import _CAP, RequiredBy


class _Pkg:
    """What RequiredBy reads of a hawkey package: the name and the dependency lists (whose items
    it turns into text with str(), as it does hawkey's Reldep)."""

    def __init__(self, name: str, provides: List[str], requires: List[str]) -> None:
        self.name, self.provides, self.requires = name, provides, requires


def _name(dep: str) -> Optional[str]:
    m = _CAP.match(dep)
    return m.group(1) if m else None


def _reference(final: List[_Pkg], pkg: _Pkg) -> Tuple[str, ...]:
    caps = {_name(d) for d in pkg.provides} - {None}
    return tuple(sorted({q.name for q in final if caps & {_name(d) for d in q.requires}} - {pkg.name}))


_DEP = st.text(alphabet=st.sampled_from(list("ab1.-_:/()<>=~^ \t\u2003")), max_size=16)
_FINAL = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.lists(_DEP, max_size=5), st.lists(_DEP, max_size=5)),
    max_size=6,
)


@given(_FINAL)
def test_who_is_every_requirer_of_a_provided_capability_name(
    spec: List[Tuple[str, List[str], List[str]]],
) -> None:
    final = [_Pkg(n, prov, req) for n, prov, req in spec]
    rb = RequiredBy(final)
    for p in final:
        assert rb.who(p) == _reference(final, p)


def test_real_dependency_forms() -> None:
    lib = _Pkg("glibc", ["libc.so.6(GLIBC_2.34)(64bit)", "config(glibc) = 2.34-1", "/usr/bin/ldd"], [])
    users = [
        _Pkg("bash", [], ["libc.so.6(GLIBC_2.34)(64bit)", "(a or b)"]),
        _Pkg("perl-Foo", [], ["libc.so.6(GLIBC_2.34)", "perl(Foo::Bar) >= 1.2"]),  # the same capability name
        _Pkg("tool", [], ["/usr/bin/ldd"]),
        _Pkg("conf", [], ["config(glibc) >= 9"]),  # versions are not compared: an explanation only
        _Pkg("other", [], ["libc.so.7(GLIBC_2.34)(64bit)", " lead", ""]),
    ]
    final = [lib] + users
    assert RequiredBy(final).who(lib) == ("bash", "conf", "perl-Foo", "tool")
    assert RequiredBy(final).who(lib) == _reference(final, lib)
