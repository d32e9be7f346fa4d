"""One error class per phase, each mapped to one exit code (DESIGN §7)."""

from __future__ import annotations

from typing import Optional


class SpmaError(Exception):
    """Base of every error spma reports to a user; never shown with a traceback."""

    exit_code = 1
    phase = "internal"

    def __init__(self, message: str, *, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ProfileError(SpmaError):
    """Invalid input: profile, version set, options."""

    exit_code = 3
    phase = "profile"


class ResolveError(SpmaError):
    """Unsolvable request: conflicting declarations, unknown packages, missing pinned versions."""

    exit_code = 4
    phase = "resolve"


class RepoError(SpmaError):
    """Repository unreachable, metadata invalid or checksum mismatch."""

    exit_code = 5
    phase = "repo"


class LockError(SpmaError):
    exit_code = 6
    phase = "lock"


class SafetyError(SpmaError):
    exit_code = 7
    phase = "safety"


class StalePlanError(SpmaError):
    exit_code = 8
    phase = "plan"


class TransactionError(SpmaError):
    """The rpm/dpkg transaction itself failed after it started."""

    exit_code = 9
    phase = "transaction"


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CHANGES = 2
