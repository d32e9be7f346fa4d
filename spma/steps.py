"""One structured log line per step of a run (what the agent mode shows)."""

from __future__ import annotations

import logging

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see spma/__init__.py)
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger("spma.run")


def step(name: str, **fields: Any) -> None:
    parts = ["step=%s" % name] + ["%s=%s" % (k, _logval(v)) for k, v in fields.items()]
    log.info(" ".join(parts))


def _logval(v: Any) -> str:
    s = str(v)
    return '"%s"' % s.replace('"', "'") if (not s or any(c in s for c in ' ="')) else s
