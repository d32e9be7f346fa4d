"""The plan is exactly what happens: the package set a plan promises, and the check after apply
that the package database holds exactly that set.

A package is keyed the way a plan names it: (name, arch, version) with the version as the plan's
`from`/`to` write it. Backends list what is installed in the same terms (`installed_packages`).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Set, Tuple

log = logging.getLogger("spma.convergence")

Key = Tuple[str, str, str]


def planned_final(before: Iterable[Key], actions: Iterable[Mapping[str, Any]]) -> Set[Key]:
    """`before` with every action of the plan applied: what the package database must hold after."""
    out = set(before)
    for a in actions:
        # an install-only "install" keeps the other versions; every other action replaces `from`
        if a.get("from") is not None and a["action"] != "install":
            out.discard((a["name"], a["arch"], a["from"]))
        if a.get("to") is not None:
            out.add((a["name"], a["arch"], a["to"]))
    return out


def _fmt(k: Key) -> str:
    return "%s-%s.%s" % (k[0], k[2], k[1])


def difference(planned: Set[Key], actual: FrozenSet[Key]) -> Optional[Dict[str, List[str]]]:
    """None when the database holds exactly the planned set; else what is missing / unexpected."""
    missing = sorted(_fmt(k) for k in planned - actual)
    unexpected = sorted(_fmt(k) for k in actual - planned)
    if not missing and not unexpected:
        return None
    return {"missing": missing, "unexpected": unexpected}


def describe(diff: Mapping[str, List[str]]) -> str:
    parts = []
    if diff.get("missing"):
        parts.append("planned but not installed: %s" % ", ".join(diff["missing"][:10]))
    if diff.get("unexpected"):
        parts.append("installed but not planned: %s" % ", ".join(diff["unexpected"][:10]))
    return "after apply the package database differs from the plan (%s); the next run plans from " \
           "the real state" % "; ".join(parts)  # fmt: skip


def snapshot(backend: Any) -> Optional[FrozenSet[Key]]:
    """What the backend says is installed, in plan terms; None for a backend that cannot say."""
    lister = getattr(backend, "installed_packages", None)
    if lister is None:
        return None
    return frozenset(lister())


def check_after_apply(backend: Any, before: Optional[FrozenSet[Key]],
                      actions: Iterable[Mapping[str, Any]]) -> Optional[Dict[str, List[str]]]:  # fmt: skip
    """Compare the package database after the transaction with the plan's final set."""
    if before is None:
        return None
    after = snapshot(backend)
    if after is None:
        return None
    diff = difference(planned_final(before, actions), after)
    if diff is not None:
        log.warning("%s", describe(diff))
    return diff
