"""Both tar readers (the advisory feeds of `spma errata generate`, the inventory tarballs of
`spma fleet`) refuse an archive they cannot read whole, by name and as bad input (exit 3): cut off
in transfer (plain, gzip, xz, bzip2), corrupt compressed data, a member cut short, a member whose
header holds a negative size. Before, a cut-off .tar.xz ended as "interrupted" (exit 130: click
takes EOFError for a closed terminal) and a cut-off .tar as an internal error (exit 1)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import pytest
from spma.errata import osv
from spma.errata.problems import Problems

from spma import inventory
from spma.errors import AdvisoryInputError, ProfileError
from tests.helpers import REPO_ROOT, SPMA
from tests.test_errata_review import _advisory, _negative_gnu, _negative_pax


def _archive(path: Path, mode: str, members: Dict[str, bytes]) -> None:
    with tarfile.open(path, mode) as t:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))


def _cut(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x55
    path.write_bytes(bytes(data))


MEMBERS = {
    "a.json": _advisory(1, "foo"),
    "b.json": _advisory(2, "bar") + b" " * 20000,
    "c.json": _advisory(3, "baz"),
}


def _damaged(mode: str, how: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        _archive(p, mode, MEMBERS)
        how(p)

    return make


DAMAGE: Dict[str, Callable[[Path], None]] = {
    "plain tar cut off": _damaged("w", lambda p: _cut(p, 0.5)),
    "gzip cut off": _damaged("w:gz", lambda p: _cut(p, 0.6)),
    "xz cut off": _damaged("w:xz", lambda p: _cut(p, 0.6)),
    "bzip2 cut off": _damaged("w:bz2", lambda p: _cut(p, 0.6)),
    "xz corrupt": _damaged("w:xz", _flip),
    "negative size (GNU)": lambda p: _negative_gnu(p, -512),
    "negative size (pax)": lambda p: _negative_pax(p, -5),
}


def _read_both(tar: Path) -> None:
    for strict in (False, True):
        osv.read([str(tar)], ecosystem="AlmaLinux:9", problems=Problems(strict=strict))


READERS: Dict[str, Tuple[Callable[[Path], Any], type]] = {
    "advisory feed (strict or not)": (_read_both, AdvisoryInputError),
    "inventory tarball": (lambda tar: inventory.load_dir_or_tarball(str(tar)), ProfileError),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_an_archive_that_cannot_be_read_whole_is_refused(tmp_path: Path, damage: str, reader: str) -> None:
    tar = tmp_path / "archive.tar"
    DAMAGE[damage](tar)
    if not tarfile.is_tarfile(str(tar)):
        pytest.skip("tarfile does not take it for an archive at all: read as a plain file, as before")
    read, error = READERS[reader]
    with pytest.raises(error, match=str(tar)):
        read(tar)


def test_whole_archives_still_read(tmp_path: Path) -> None:
    tar = tmp_path / "feed.tar.xz"
    _archive(tar, "w:xz", MEMBERS)
    assert [a.id for a in osv.read([str(tar)], ecosystem="AlmaLinux:9", problems=Problems())] == [
        "ALSA-2024:1", "ALSA-2024:2", "ALSA-2024:3"]  # fmt: skip
    inv = tmp_path / "fleet.tar.gz"
    _archive(inv, "w:gz", {"h1.json": b"{}", "h2.inventory.json": b"[]", "notes.txt": b"x"})
    assert inventory.load_dir_or_tarball(str(inv)) == [("h1", b"{}"), ("h2", b"[]")]


def test_cut_off_feed_is_bad_input_on_the_command_line(tmp_path: Path) -> None:
    tar = tmp_path / "feed.tar.xz"
    _archive(tar, "w:xz", MEMBERS)
    _cut(tar, 0.6)
    p = subprocess.run(list(SPMA) + ["errata", "generate", "--source", "osv", str(tar), "--cutoff", "2024-12-31", "--out",
                                       str(tmp_path / "out")],
                       capture_output=True, text=True, cwd=str(REPO_ROOT), timeout=300)  # fmt: skip
    assert p.returncode == 3, p.stderr
    assert "damaged or cut off" in p.stderr and "interrupted" not in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert json.loads(json.dumps(p.stderr)) == p.stderr
