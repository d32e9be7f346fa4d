"""condition_only asks, for a package `s` only a rich branch may keep, whether any other package
of the planned set plainly requires it. It looks up in libsolv only the requirements named as
something `s` provides (or a path, which a file of `s` may meet): on real RPMs, every simple
requirement libdnf says `s` meets must be among those, whatever its form (versions, epochs,
a capability with parentheses, a name that shares a prefix, a path `s` ships as a file or
provides), and the rich ones never are."""

from __future__ import annotations

from typing import Any, List

import pytest
from spma.backends.dnf import prune, richdeps

from tests.builders.rpmrepo import build, parse

pytestmark = pytest.mark.dnf

S = parse("s-2:1.5-3.x86_64", provides=["cap = 1.0-1", "libs.so.1()(64bit)", "perl(S::X) = 0.5", "config(s) = 2:1.5-3",
                                        "/usr/bin/s-alias", "capx"], files=["/usr/bin/s-tool"])  # fmt: skip
REQUIRES = [
    "s", "s >= 2:1.0", "s < 1:1.0", "s = 2:1.5-3", "cap", "cap >= 0.9", "cap > 1.0-1", "cap <= 1.0", "capx", "capy",
    "libs.so.1()(64bit)", "libs.so.1()", "libs.so.2()(64bit)", "perl(S::X) >= 0.1", "perl(S::Y)", "config(s)",
    "/usr/bin/s-alias", "/usr/bin/s-tool", "/usr/bin/other", "(cap or capy)", "(capx if s)", "s(x86-64)",
]  # fmt: skip


@pytest.fixture(scope="module")
def planned() -> Any:
    import hawkey

    others = [parse("o%d-1-1.noarch" % i, requires=[r]) for i, r in enumerate(REQUIRES)]
    others.append(parse("many-1-1.noarch", requires=REQUIRES[:8]))
    others.append(parse("has-y-1-1.noarch", provides=["capy", "/usr/bin/other", "perl(S::Y)"]))
    built = build([S] + others)
    sack = hawkey.Sack(arch="x86_64")
    for path in built.values():
        sack.add_cmdline_package(str(path))
    return hawkey.Query(sack)


def test_every_requirement_s_meets_is_looked_up(planned: Any) -> None:
    s = planned.filter(name="s")[0]
    others = planned.filter(name__neq="s")
    looked_up = set(prune._plain_requires_on(s, others))
    providers = prune._providers_in(planned)
    met: List[str] = []
    for o in others:
        for r in o.requires:
            dep = str(r)
            if not richdeps.is_rich(dep) and str(s) in providers(dep):
                met.append(dep)
    # the fixture is worth its name: s meets requirements of every kind listed above
    assert {"s >= 2:1.0", "cap >= 0.9", "libs.so.1()(64bit)", "perl(S::X) >= 0.1", "config(s)",
            "/usr/bin/s-alias", "/usr/bin/s-tool", "capx"} <= set(met)  # fmt: skip
    assert set(met) <= looked_up
    assert not {d for d in looked_up if richdeps.is_rich(d)}
    # and what no provide of s names is not looked up
    assert not {"capy", "perl(S::Y)", "libs.so.2()(64bit)", "libs.so.1()"} & looked_up
