"""Adversarial review of the errata fast paths: a tar header is untrusted input (a member whose
header holds a negative size refuses the archive, naming the member, never ends the run as an
internal error), and the writers' caches give what a fresh check gives."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spma.errata import osv, writers
from spma.errata.model import Entry, VersionSet
from spma.errata.problems import Problems
from spma.errata.versionset import dumps, to_json

from spma import grammar
from spma.errors import AdvisoryInputError, VersionSetError


def _advisory(n: int, name: str) -> bytes:
    return json.dumps({
        "id": "ALSA-2024:%d" % n, "published": "2024-01-10T00:00:00Z", "summary": "Important: %s" % name,
        "affected": [{"package": {"ecosystem": "AlmaLinux:9", "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2.el9"}]}]}],
    }).encode()  # fmt: skip


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 512)


def _ustar_header(name: bytes, size_field: bytes) -> bytes:
    h = bytearray(512)
    h[0 : len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = h[116:124] = b"0000000\0"
    h[124:136] = size_field
    h[136:148] = b"00000000000\0"
    h[156:157] = b"0"
    h[257:265] = b"ustar\x0000"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _negative_gnu(path: Path, size: int) -> None:
    """a.json, then b.json whose size field is GNU base-256 (first byte 0xff: negative)."""
    good = _advisory(1, "foo")
    neg = b"\xff" + (size & ((1 << 88) - 1)).to_bytes(11, "big")
    path.write_bytes(_ustar_header(b"a.json", b"%011o\0" % len(good)) + _pad(good)
                     + _ustar_header(b"b.json", neg) + _pad(_advisory(2, "bar")) + b"\0" * 1024)  # fmt: skip


def _negative_pax(path: Path, size: int) -> None:
    """a.json, then b.json whose pax header overrides its size with a negative number."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data, pax in (
            ("a.json", _advisory(1, "foo"), {}),
            ("b.json", _advisory(2, "bar"), {"size": str(size)}),
        ):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.pax_headers = pax
            t.addfile(ti, io.BytesIO(data))


@pytest.mark.parametrize("size", [-5, -512, -1])
@pytest.mark.parametrize("make", [_negative_gnu, _negative_pax])
def test_a_tar_member_with_a_negative_size_is_refused_by_name(tmp_path: Path, make, size):  # type: ignore[no-untyped-def]
    tar = tmp_path / "advisories.tar"
    make(tar, size)
    with tarfile.open(tar) as t:  # (stops at the first negative size: past it, tarfile may loop)
        if not any(m.size < 0 for m in t):
            pytest.skip("this Python's tarfile refuses negative member sizes itself")
    # the archive cannot be read whole: refused whole (tests/test_tar_damage.py), strict or not
    for strict in (False, True):
        with pytest.raises(AdvisoryInputError, match="b.json"):
            osv.read([str(tar)], ecosystem="AlmaLinux:9", problems=Problems(strict=strict))


# The writers' caches (per name: the last entry that passed, found by identity; per advisory id)
# against a check and a rendering made fresh for each set: a series of sets that share, replace
# and free entry objects, with hostile names and values, gives the same lines or the same refusal.
_HOSTILE = ["", "\n", '"', "'", "\\", "\x00", "\u2028", "\ud800", "\U0001f600", "\uff41", " ", ";", "*"]
_names = st.sampled_from(["foo", "bar", "kernel", "kernel-core"]) | st.sampled_from(_HOSTILE).map(
    lambda s: "foo" + s
)
_evrs = st.sampled_from(["1.0-1", "1:2.0-3.el9", "2.36-9+deb12u1"]) | st.sampled_from(_HOSTILE).map(
    lambda s: "1.0" + s
)
_arches = st.sampled_from(["x86_64", "noarch", "all"]) | st.sampled_from(_HOSTILE).map(lambda s: "x86" + s)
_ids = st.sampled_from(["ALSA-2024:1", "DSA-5555-1"]) | st.sampled_from(_HOSTILE).map(lambda s: "ALSA" + s)
_entries = st.builds(
    Entry,
    _evrs,
    st.lists(_arches, max_size=2).map(tuple),
    st.lists(_ids, max_size=2).map(tuple),
    st.booleans(),
)


def _fresh(vs: VersionSet) -> Tuple[List[str], List[str]]:
    lines, pans = [], []
    for pkg, e in sorted(vs.packages.items()):
        bad = grammar.name(pkg) or grammar.version(e.evr)
        bad = bad or next((grammar.arch(a) for a in e.arches if grammar.arch(a)), None)
        bad = bad or next((grammar.advisory(a) for a in e.advisories if grammar.advisory(a)), None)
        if bad:
            raise VersionSetError("package %r: %s" % (pkg, bad))
        doc: Dict[str, Any] = {"advisories": list(e.advisories), "arch": list(e.arches), "evr": e.evr}
        if e.reboot_suggested:
            doc["reboot_suggested"] = True
        lines.append("  %s: %s" % (json.dumps(pkg), json.dumps(doc, sort_keys=True)))
        pans.append("\n".join(writers._pan_lines(pkg, e)))
    return lines, pans


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(st.tuples(_names, st.integers(0, 5)), max_size=4), _entries),
        min_size=1,
        max_size=6,
    )
)
def test_the_writers_caches_give_what_a_fresh_check_gives(series):  # type: ignore[no-untyped-def]
    pool: List[Entry] = []
    for picks, new in series:
        pool.append(new)  # entries shared by later sets, as the compiler shares them
        packages = {name: pool[i % len(pool)] for name, i in picks}
        vs = VersionSet(id="el9-2024-01-31", os="el9", family="rpm", cutoff=dt.date(2024, 1, 31), sources=("x",),
                        kernel=None, packages=packages)  # fmt: skip
        try:
            want: object = _fresh(vs)
        except VersionSetError as e:
            want = str(e)
        try:
            got: object = writers.check_set(vs)
        except VersionSetError as e:
            got = str(e).split(": ", 1)[1]
        assert got == want
        if isinstance(got, tuple):
            assert json.loads(dumps(vs, got[0])) == to_json(vs)


# The sweep's carried state (names in order, kernel family, advisory ids) against each month
# compiled from scratch: the kernel family moving together and apart, equal dates, one advisory
# id issued twice with other packages and another date (a withdrawn and reissued advisory).
_pkg = st.tuples(
    st.sampled_from(["kernel", "kernel-core", "kernel-tools", "kernel-rt", "openssl", "bash"]),
    st.sampled_from(["5.14.0", "5.14.1", "6.1"]),
    st.sampled_from(["1", "2", "10"]),
    st.sampled_from(["x86_64", "aarch64", "src", None]),
)
_advs = st.lists(
    st.tuples(
        st.sampled_from(["ALSA-1", "ALSA-2", "ALSA-3", "ALSA-4", "ALSA-5"]),
        st.sampled_from(["2024-01-31", "2024-02-01", "2024-02-29", "2024-04-15"]),
        st.sampled_from(["security", "bugfix"]),
        st.lists(_pkg, min_size=1, max_size=4),
    ),
    max_size=10,
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(_advs, st.sampled_from(["rpm", "deb"]), st.sampled_from([None, ["kernel-core"], ["kernel*"], ["o*"]]))
def test_the_sweep_equals_each_month_from_scratch(raw, family, exclude):  # type: ignore[no-untyped-def]
    pytest.importorskip("rpm" if family == "rpm" else "apt_pkg")
    from spma.errata import compile as comp
    from spma.errata.model import Advisory, AdvisoryPackage

    advs = [Advisory(id=aid, type=t, severity="important", issued=dt.date.fromisoformat(day),
                     packages=tuple(AdvisoryPackage(n, 0, v, r if family == "rpm" else "", a) for n, v, r, a in pkgs))
            for aid, day, t, pkgs in raw]  # fmt: skip
    cutoffs = comp.month_ends("2024-01", "2024-05")
    kw: Dict[str, Any] = dict(family=family, os_id="el9", sources=["x"])
    if exclude:
        kw["filters"] = comp.Filters(exclude=exclude)
    swept = comp.compile_sets(advs, cutoffs, **kw)
    for vs, cutoff in zip(swept, cutoffs):
        alone = comp.compile_sets(advs, [cutoff], **kw)[0]
        assert vs == alone
        assert list(vs.packages) == list(alone.packages) and list(vs.advisories) == list(alone.advisories)
        # and what a set names is what its entries and its kernel name, in order
        named = {a for e in vs.packages.values() for a in e.advisories} | set(vs.kernel_advisories)
        assert list(vs.advisories) == sorted(named) and list(vs.packages) == sorted(vs.packages)
