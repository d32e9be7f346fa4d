"""A simple versioned dependency is met in backends/dnf/prune.py with the name given to libdnf and
the range checked by rpm's own rule (rpm.ds), so libsolv need not rebuild its relation hash;
the packages it finds must be exactly the ones libdnf's own `filter(provides=...)` finds, for
every operator and for the version forms rpm orders specially (epochs, tilde, caret, a
provide or a dependency without release, an unversioned provide, several provides of one
name in one package), on real RPMs."""

from __future__ import annotations

from typing import Any, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spma.backends.dnf import prune

from tests.builders.rpmrepo import build, parse

pytestmark = pytest.mark.dnf

PROVIDES = {
    "p-release-1-1": ["cap = 1.0-1"],
    "p-epoch-1-1": ["cap = 2:0.5-1"],
    "p-tilde-1-1": ["cap = 1.0~rc1-1"],
    "p-caret-1-1": ["cap = 1.0^post1-1"],
    "p-unversioned-1-1": ["cap"],
    "p-norelease-1-1": ["cap = 1.0"],
    "p-el9-1-1": ["cap = 1.5-3.el9"],
    "p-zero-epoch-1-1": ["cap = 0:1.0-2"],
    "p-two-1-1": ["cap = 0.9-1", "cap = 3.0-1"],
    "p-other-name-1-1": ["cap(x86-64) = 1.0-1", "capx = 1.0-1"],
}
VERSIONS = ["1.0", "1.0-1", "1.0-2", "0:1.0", "1:1.0", "2:0.5", "2:0.5-1", "1.0~rc1", "1.0~rc1-1", "1.0~rc2",
            "1.0^post1", "1.0^", "1.5", "1.5-3", "1.5-3.el9", "0.9", "3", "3.0-1", "1", "0", "10", "1.0.0"]  # fmt: skip


@pytest.fixture(scope="module")
def final_q() -> Any:
    import hawkey

    built = build([parse(spec + ".noarch", provides=provs) for spec, provs in PROVIDES.items()])
    sack = hawkey.Sack(arch="x86_64")
    for path in built.values():
        sack.add_cmdline_package(str(path))
    return hawkey.Query(sack)


def _libdnf(q: Any, dep: str) -> List[str]:
    return sorted(str(p) for p in q.filter(provides=dep))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    st.sampled_from(["<", "<=", "=", "==", ">=", ">"]),
    st.sampled_from(VERSIONS),
    st.sampled_from(["cap", "capx"]),
)
def test_range_met_as_libdnf_meets_it(final_q: Any, op: str, version: str, name: str) -> None:
    dep = "%s %s %s" % (name, op, version)
    assert prune._ranged(dep) is not None
    assert sorted(prune._providers_in(final_q)(dep)) == _libdnf(final_q, dep), dep


@pytest.mark.parametrize("dep,ranged", [
    ("cap", False), ("(cap >= 1 if capx)", False), ("/usr/bin/cap", False), ("cap >=", False),
    ("cap foo 1.0", False), (" cap >= 1.0", False), ("cap(x86-64) = 1.0-1", True), ("cap(x86-64) >= 2", True),
])  # fmt: skip
def test_anything_else_goes_to_libdnf(final_q: Any, dep: str, ranged: bool) -> None:
    assert (prune._ranged(dep) is not None) is ranged
    try:
        expected = _libdnf(final_q, dep)
    except Exception:  # noqa: BLE001 - unparsable: providers() says unmet
        expected = []
    assert sorted(prune._providers_in(final_q)(dep)) == expected


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.sets(st.builds("{} {} {}".format, st.sampled_from(["cap", "capx"]),
                         st.sampled_from(["<", "<=", "=", "==", ">=", ">"]), st.sampled_from(VERSIONS))
               | st.sampled_from(["cap", "capx", "cap(x86-64)"]), max_size=5))  # fmt: skip
def test_bulk_lookup_meets_what_libdnf_meets(final_q: Any, caps: set) -> None:
    """The prune's bulk lookup (reach, what the planned set requires) splits the same way."""
    expected = sorted({p for dep in caps for p in _libdnf(final_q, dep)})
    assert sorted(str(p) for p in prune._providers(final_q, set(caps), set())) == expected
