"""One error class per phase, each mapped to one exit code (DESIGN §7)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see spma/__init__.py)
if TYPE_CHECKING:
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
        """The error as `--format json` shows it (spma-error/1, one renderer: spma.render)."""
        from spma.render import error_envelope

        return error_envelope(self, self.exit_code)


class InputError(SpmaError):
    """Invalid input of any kind (exit 3); raise one of the subclasses, which name the input."""

    default_hint = "fix the input named above, then rerun"
    exit_code = 3
    phase = "input"


class ProfileError(InputError):
    """The compiled profile: unreadable, malformed, a wrong type or an unknown field."""

    default_hint = "fix the profile path named above, then rerun"
    phase = "profile"


class UsageError(InputError):
    """The command line: an unknown option, a missing argument, a bad option value."""

    default_hint = "see `spma COMMAND --help` for the options and examples"
    phase = "usage"


class PlanFileError(InputError):
    """A saved plan given to `apply --plan`: unreadable or not an spma-plan/1 document."""

    default_hint = "make a new plan with `spma plan PROFILE --out PLAN.json` and apply that"
    phase = "plan-file"


class VersionSetError(InputError):
    """An errata version set (--errata or the profile's errata field) that cannot be used."""

    default_hint = "check the version set's path or URL, or regenerate it with `spma errata generate`"
    phase = "errata"


class AdvisoryInputError(InputError):
    """Input of `spma errata generate`: advisories, indexes, or what they would produce."""

    default_hint = "check the advisory inputs and the --source/--ecosystem/--release options"
    phase = "advisories"


class BackendUnavailableError(InputError):
    """The package manager's bindings are missing, or the root cannot be driven."""

    default_hint = (
        "install the distribution's bindings (python3-dnf / python3-apt) and run spma from the system "
        "Python or a --system-site-packages venv"
    )
    phase = "backend"


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


class NoSpaceError(RepoError):
    """A file system spma or the package manager writes to is full, before anything changed."""

    default_hint = "free space on the file system named above (or grow it), then rerun; nothing was changed"
    phase = "space"


class HostError(SpmaError):
    """The host is not usable as given: not root, a read-only root, a path spma may not write."""

    default_hint = "run spma as root on a writable root (or point --root at one); nothing was changed"
    exit_code = 3
    phase = "environment"
