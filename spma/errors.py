"""One error class per phase, each mapped to one exit code (DESIGN §7)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple


class SpmaError(Exception):
    """Base of every error spma reports to a user; never shown with a traceback."""

    exit_code = 1
    phase = "internal"
    default_hint = "rerun with --debug and report the problem"

    def __init__(
        self, message: str, *, hint: Optional[str] = None, problems: Sequence[Dict[str, Any]] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint
        # structured records of what went wrong (unsolvable problems in the profile's terms,
        # host settings that contradict it), for the JSON error output
        self.problems: Tuple[Dict[str, Any], ...] = tuple(problems)

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> Dict[str, Any]:
        """The error as the JSON output shows it; `problems` are structured records."""
        return {
            "format": "spma-error/1",
            "exit": self.exit_code,
            "phase": self.phase,
            "message": self.message,
            "hint": self.hint,
            "problems": list(self.problems),
        }


class ProfileError(SpmaError):
    """Invalid input: profile, version set, options."""

    default_hint = "fix the input named above (the profile path, a version set or an option), then rerun"
    exit_code = 3
    phase = "profile"


class ResolveError(SpmaError):
    """Unsolvable request: conflicting declarations, unknown packages, missing pinned versions."""

    default_hint = (
        "change the declarations named above, or point the repositories at a snapshot that satisfies them"
    )
    exit_code = 4
    phase = "resolve"


class RepoError(SpmaError):
    """Repository unreachable, metadata invalid or checksum mismatch."""

    default_hint = "check the repository URLs and checksums in the profile and that the mirror is reachable; nothing was changed"
    exit_code = 5
    phase = "repo"


class LockError(SpmaError):
    default_hint = "wait for the other run to finish, or raise --lock-timeout"
    exit_code = 6
    phase = "lock"


class SafetyError(SpmaError):
    default_hint = "review the plan (spma plan) and fix the profile; nothing was changed"
    exit_code = 7
    phase = "safety"


class StalePlanError(SpmaError):
    default_hint = "make a new plan with `spma plan --out`, review it, and apply that"
    exit_code = 8
    phase = "plan"


class TransactionError(SpmaError):
    """The rpm/dpkg transaction itself failed after it started."""

    default_hint = (
        "the state is recorded; fix the cause above and rerun: spma converges from where it stopped"
    )
    exit_code = 9
    phase = "transaction"


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CHANGES = 2
