"""The `spma` command's entry point. The agent's periodic run is nearly always a no-op (nothing
moved since the last successful apply): that run is recognised here with the standard library
alone (spma.quick) and answered before click, spma.run, the profile model and the backends are
imported; every other command line, and every agent run that might not be a no-op, goes to
spma.cli untouched.

Only a plain agent command line is recognised (`apply --agent PROFILE` with --root, --backend,
--boot, --lock-timeout, --history-keep, --host-settings, -v, -q, --format text, --splay 0,
--running-kernel); anything else, a repeated option included, is spma.cli's."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see spma/__init__.py)
if TYPE_CHECKING:
    from typing import Dict, List, Optional

_VALUED = ("--root", "--backend", "--running-kernel", "--lock-timeout", "--history-keep", "--host-settings",
           "--format", "--splay")  # fmt: skip
_FLAGS = {"--agent": "agent", "-v": "verbose", "--verbose": "verbose", "-q": "quiet", "--quiet": "quiet",
          "--boot": "boot"}  # fmt: skip
_CHOICES = {"--backend": ("auto", "dnf", "apt"), "--host-settings": ("note", "error"), "--format": ("text",)}


def agent_noop_args(argv: List[str]) -> Optional[Dict[str, str]]:
    """The options of a plain `apply --agent` command line, as click would read them; None for
    any other command line."""
    if not argv or argv[0] != "apply":
        return None
    opts: Dict[str, str] = {}
    args = iter(argv[1:])
    for a in args:
        key, eq, value = a.partition("=")
        if key in _VALUED and a.startswith("--"):
            if not eq:
                value = next(args, "-")
                if value.startswith("-"):  # missing, or an option click might take as the value
                    return None
            if key in opts or (key in _CHOICES and value not in _CHOICES[key]):
                return None
            opts[key] = value
        elif a in _FLAGS and _FLAGS[a] not in opts:
            opts[_FLAGS[a]] = "1"
        elif a.startswith("-") or "profile" in opts:
            return None
        else:
            opts["profile"] = a
    try:
        float(opts.get("--lock-timeout", "0"))
        int(opts.get("--history-keep", "0"))
        if float(opts.get("--splay", "0")) > 0:  # a splay sleeps before the lock: the full run's
            return None
    except ValueError:
        return None
    return opts if "agent" in opts and "profile" in opts else None


def _noop(argv: List[str]) -> bool:
    """True when this was the agent's no-op run, answered (logged and recorded)."""
    opts = agent_noop_args(argv)
    if opts is None:
        return False
    from spma import quick

    noop = quick.check(
        opts["profile"], opts.get("--root", "/"), opts.get("--backend", "auto"), "boot" in opts
    )
    if noop is None:
        return False
    from spma.logsetup import log_error, setup_logging

    setup_logging(False, "verbose" in opts, agent=True, quiet="quiet" in opts)
    try:
        quick.record(noop)
    except Exception as e:  # noqa: BLE001 - reported as spma.cli reports an agent run's failure
        from spma.cli import _exit_code
        from spma.errors import SpmaError

        if isinstance(e, SpmaError):
            log_error(e.exit_code, e.phase, e.message)
        sys.exit(_exit_code(e, debug=False))
    return True


def main() -> None:
    if _noop(sys.argv[1:]):
        sys.exit(0)
    from spma.cli import main as cli

    if sys.argv[1:2] != ["plan"]:
        cli()
        return
    _exit_now(cli.main(standalone_mode=False))


def _exit_now(code: int) -> None:
    """A plan has written all it writes (its file durably, stdout, the log) and holds no lock
    when the CLI returns; what is left is the interpreter's teardown, ~10 ms of CPU after an
    800-package plan (the solver's pool, every module's objects), which a process about to end
    need not do. A stream that cannot be flushed takes the ordinary exit, which reports it."""
    import logging
    import os

    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    main()
