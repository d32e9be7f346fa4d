"""Run pytest as on a machine without python3-dnf, python3-rpm and python3-apt: those imports
fail here, so the real-backend tier must skip (importorskip), never error.

    .venv/bin/python scripts/test-without-bindings.py -m "not dnf and not apt" tests/
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any, Optional

BLOCKED = {"dnf", "hawkey", "libdnf", "rpm", "apt", "apt_pkg", "apt_inst"}


class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Optional[Any]:
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(
                "No module named %r (hidden by test-without-bindings)" % name, name=name
            )
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, _Absent())
    import pytest

    sys.exit(pytest.main(["-p", "no:cacheprovider"] + sys.argv[1:]))
