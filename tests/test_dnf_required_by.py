"""The required-by explanation's capability name: the fast split gives what the regex gives."""

from __future__ import annotations

from typing import Optional

from hypothesis import given
from hypothesis import strategies as st
from spma.backends.dnf.facts import _CAP, _cap


def _slow(dep: str) -> Optional[str]:
    m = _CAP.match(dep)
    return m.group(1) if m else None


@given(st.text(alphabet=st.sampled_from(list("ab1.-_:/()<>=~^ \t\u2003")), max_size=24))
def test_fast_capability_name_equals_the_regex(dep: str) -> None:
    assert _cap(dep) == _slow(dep)


def test_real_dependency_forms() -> None:
    for dep in ["bash", "libc.so.6(GLIBC_2.34)(64bit)", "perl(Foo::Bar) >= 1.2", "(a or b)", "/usr/bin/sh",
                "config(bash) = 5.1.8-2.el9", "python3.9dist(six) >= 1.5", "rpmlib(CompressedFileNames) <= 3.0.4-1",
                "", " lead", "font(:lang=en)"]:  # fmt: skip
        assert _cap(dep) == _slow(dep), dep
