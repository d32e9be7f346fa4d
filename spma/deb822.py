"""The deb822 stanzas of dpkg's status file and apt's Packages indexes: first-line values only
(continuation lines, such as long descriptions, are not needed here)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see spma/__init__.py)
if TYPE_CHECKING:
    from typing import Dict, Iterator


def stanzas(text: str) -> Iterator[Dict[str, str]]:
    for block in text.split("\n\n"):
        fields: Dict[str, str] = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                k, v = line.split(":", 1)
                fields[k] = v.strip()
        if fields:
            yield fields
