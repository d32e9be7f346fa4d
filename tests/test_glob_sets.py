"""The reboot patterns and the boot-only globs are matched as one compiled pattern each (one
match per action instead of one per glob); the outcome must be fnmatchcase's, glob by glob."""

from __future__ import annotations

import fnmatch
from typing import Optional, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from spma import bootonly, policy

_NAMES = st.one_of(
    st.sampled_from(
        [
            "kernel",
            "kernel-core",
            "kernel-rt-core",
            "glibc",
            "glibc-common",
            "systemd-udev",
            "dbus",
            "dbus-broker",
            "linux-image-6.1.0-13-amd64",
            "libc6",
            "udev",
            "Kernel",
            "",
            "kernel\n",
            "systemd*",
            "a[b]",
        ]
    ),  # fmt: skip
    st.text(alphabet="abcdkelnrstuy-*?[]!.\n\\", max_size=12),
)
_GLOBS = st.lists(st.text(alphabet="abk*?[]!-.\\", max_size=6), max_size=5)


def _reference(name: str, source: Optional[str], patterns: Sequence[str]) -> Optional[str]:
    """The rule written out plainly: the first glob the name matches, else the first its source
    matches (when the source is another name)."""
    own = [g for g in patterns if fnmatch.fnmatchcase(name, g)]
    if own:
        return "boot-only " + own[0]
    by_source = [g for g in patterns if source and source != name and fnmatch.fnmatchcase(source, g)]
    return "boot-only %s (built from %s)" % (by_source[0], source) if by_source else None


@settings(max_examples=300, derandomize=True)
@given(_NAMES)
def test_reboot_patterns_match_as_fnmatch_does(name: str) -> None:
    for action in ("install", "upgrade", "remove"):
        expected = action != "remove" and any(fnmatch.fnmatchcase(name, p) for p in policy.REBOOT_PATTERNS)
        assert policy.needs_reboot(action, name) is expected


@settings(max_examples=300, derandomize=True)
@given(
    _NAMES,
    st.one_of(st.none(), _NAMES),
    st.one_of(_GLOBS, st.sampled_from(list(policy.DEFAULT_BOOT_ONLY.values()))),
)
def test_boot_only_entry_is_the_first_matching_glob(
    name: str, source: Optional[str], globs: Sequence[str]
) -> None:
    assert bootonly.boot_only_entry(name, source, globs) == _reference(name, source, globs)
