"""The backend contract and the registry that imports backends lazily, by name.

The core never imports a backend at import time: a Debian host must not need the dnf
bindings, nor an EL host python-apt.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Callable, ContextManager, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

from spma.errors import BackendUnavailableError, UsageError
from spma.faults import Unfinished
from spma.model import Change, ErrataPin, Need, Offer, Repository, SolveFacts, SolveRequest

log = logging.getLogger("spma.backend")

BACKENDS = {"dnf": "spma.backends.dnf", "apt": "spma.backends.apt"}

# (stage, done, total[, package name[, bytes]]): a backend passes the name and size it knows
ProgressFn = Callable[..., None]


@dataclass(frozen=True)
class RepoFiles:
    """A backend's repository configuration, for the core's managed writer: the directory, the
    file suffixes it manages, and each file's body (the writer adds the header)."""

    directory: str
    suffixes: Tuple[str, ...]
    files: Dict[str, str]
    # a file outside the directory the package manager also reads (apt's sources.list): with
    # userrepos false it is saved aside and left with a comment
    main_file: Optional[str] = None


class Session(Protocol):
    """One loaded view of a root and its repositories (what a solve needs), alive for one `with`.

    The questions are narrow and factual; every decision is the core's (spma.policy,
    spma.deferral). `solve` comes first; the transaction a session holds is what `execute` runs:
    the whole solve, or after `restrict` only the live part.
    """

    installed_fingerprint: str
    repo_fingerprints: Tuple[Tuple[str, str], ...]

    def offers(self, pins: Sequence[Tuple[str, str]]) -> Dict[str, Offer]:
        """For each (name, version): what the repositories offer of the name."""
        ...

    def offering(self, patterns: Sequence[str], evr: str) -> Tuple[str, ...]:
        """The names matching `patterns` of which the repositories offer version `evr`."""
        ...

    def solve(self, binding: Mapping[str, ErrataPin]) -> SolveFacts:
        """The desired state, with the bound errata pins, in one solver run: the changes as facts."""
        ...

    def unmet(self, live: Sequence[int], deferred: Sequence[int]) -> List[Need]:
        """With only the `live` units applied: what in them needs a deferred unit."""
        ...

    def restrict(self, live: Sequence[int]) -> bool:
        """Solve exactly the `live` units on their own; True if the solver then makes exactly
        those changes, and the session's transaction becomes them. False leaves nothing to run."""
        ...

    def prefetch(self, changes: Sequence[Change], dest: str) -> List[Optional[str]]:
        """Download the packages of `changes` into `dest` (verified); the file per change."""
        ...

    def execute(self, progress: Optional[ProgressFn] = None) -> None:
        """Download, verify and run the session's transaction. RepoError before the package
        database is touched, TransactionError once it has been."""
        ...

    def version_matches(self, evr: str, spec: str) -> bool:
        """Is version `evr` the declared version `spec`, by the package manager's own rules?"""
        ...


class Backend(Protocol):
    """One package manager, bound to one root for the life of the object."""

    name: str

    def session(self, request: SolveRequest, *, execute: bool = True) -> ContextManager[Session]:
        """Load the root and the request's repositories (RepoError if they cannot be).
        `execute=False`: the session only plans (no prefetch, no execute), so a backend may load
        only what a solve reads."""
        ...

    def quick_inputs(self, request: SolveRequest) -> Tuple[str, Tuple[Tuple[str, str], ...]]:
        """(installed fingerprint, repository fingerprints) without solving: the no-op check."""
        ...

    def installed_fingerprint(self) -> str:
        """The installed fingerprint now (after a transaction)."""
        ...

    def unfinished(self) -> Tuple[Unfinished, ...]:
        """Packages the package database reports as not fully installed (a run stopped part way)."""
        ...

    def repo_files(self, repositories: Tuple[Repository, ...]) -> RepoFiles:
        """The profile's repositories as this package manager's configuration files."""
        ...

    def apply_local(self, changes: Sequence[Tuple[Change, Optional[str]]], source: str) -> None:
        """Boot: run the deferred changes from the prefetched files in `source`, no repository."""
        ...


def load_backend(name: str, *, root: str, statedir: str) -> Backend:
    modname = BACKENDS.get(name)
    if modname is None:
        raise UsageError(
            "unknown backend %r" % name, hint="use one of: auto, " + ", ".join(sorted(BACKENDS))
        )
    try:
        mod = importlib.import_module(modname)
    except ImportError as e:
        raise BackendUnavailableError(
            "backend %r is not available on this host: %s" % (name, e),
            hint="install the distribution's bindings (python3-dnf / python3-apt) and run spma from "
            "the system Python or a --system-site-packages venv",
        ) from e
    backend: Backend = mod.create(root=root, statedir=statedir)
    return backend
