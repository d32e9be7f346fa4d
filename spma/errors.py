"""One error class per phase, each mapped to one exit code (DESIGN §7)."""

from __future__ import annotations

from typing import Optional


class SpmaError(Exception):
    """Base of every error spma reports to a user; never shown with a traceback."""

    exit_code = 1
    phase = "internal"
    default_hint = "rerun with --debug and report the problem"

    def __init__(self, message: str, *, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint

    def __str__(self) -> str:
        return self.message


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


class StateFormatError(StalePlanError):
    """A state or pending file of another format than this spma writes (never half-used)."""

    default_hint = "it was written by another spma version: run `spma apply` to record afresh"


class TransactionError(SpmaError):
    """The rpm/dpkg transaction itself failed after it started."""

    default_hint = (
        "the state is recorded; fix the cause above and rerun: spma converges from where it stopped"
    )
    exit_code = 9
    phase = "transaction"


class StateError(SpmaError):
    """spma's own files under the root (state, pending plan, history) are unreadable or not
    what spma writes: damaged, or planted."""

    default_hint = "move the file named above out of the way (spma starts afresh without it), then rerun"
    exit_code = 3
    phase = "state"


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CHANGES = 2
