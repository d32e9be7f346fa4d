"""Malformed inputs are reported by name and skipped; with --strict the first one is fatal."""

from __future__ import annotations

import logging
from typing import List, Tuple

from spma.errors import AdvisoryInputError

log = logging.getLogger("spma.errata")


class Problems:
    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.items: List[Tuple[str, str]] = []

    def add(self, where: str, what: str) -> None:
        if self.strict:
            raise AdvisoryInputError(
                "%s: %s" % (where, what), hint="fix or remove the file, or run without --strict"
            )
        self.items.append((where, what))
        log.warning("%s: %s; skipped", where, what)
