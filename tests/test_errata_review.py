"""Adversarial review of the errata fast paths (reading tar members by their size): a tar header
is untrusted input, and a member whose header holds a negative size must be refused like any
other malformed advisory, by name, never end the run as an internal error."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from spma.errata import osv
from spma.errata.problems import Problems

from spma.errors import AdvisoryInputError


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
    problems = Problems()
    advs = osv.read([str(tar)], ecosystem="AlmaLinux:9", problems=problems)
    assert [a.id for a in advs] == ["ALSA-2024:1"]
    assert [where for where, _ in problems.items] == ["%s:b.json" % tar]
    with pytest.raises(AdvisoryInputError, match="b.json"):
        osv.read([str(tar)], ecosystem="AlmaLinux:9", problems=Problems(strict=True))
