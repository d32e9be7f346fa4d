"""atomic_write's temporary file takes no more room in its directory than tempfile.mkstemp's did
(`.NAME.` + 8 characters): a target whose name is close to the file system's limit (255 bytes)
could be written before, and still can. And whatever step fails, no temporary file stays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spma import state

_LONGEST = 255 - len(".." + "x" * 8)  # the longest name mkstemp's `.NAME.XXXXXXXX` fitted


@pytest.mark.parametrize("durable", [True, False])
def test_a_name_mkstemp_fitted_still_fits(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / ("p" * _LONGEST)
    state.atomic_write(str(target), b"plan\n", durable=durable)
    assert target.read_bytes() == b"plan\n"
    assert sorted(os.listdir(tmp_path)) == [target.name]
    assert target.stat().st_mode & 0o777 == 0o644


def test_no_temporary_file_stays_when_the_rename_fails(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "occupied").write_text("")
    with pytest.raises(OSError):
        state.atomic_write(str(tmp_path / "out"), b"x")  # replacing a non-empty directory fails
    assert sorted(os.listdir(tmp_path)) == ["out"]
