"""Where spma's log lines go: journald, syslog or stderr for an agent run, stderr otherwise. Kept
apart from spma.cli, so the agent's no-op run (spma.entry) sets up the same logging without
importing click."""

from __future__ import annotations

import logging
import os
import sys


class LogfmtFormatter(logging.Formatter):
    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage().replace("\n", " | ")
        if msg.startswith("step="):  # already key=value
            return "%slevel=%s %s" % (self.prefix, record.levelname.lower(), msg)
        msg = msg.replace('"', "'")
        return '%slevel=%s logger=%s msg="%s"' % (self.prefix, record.levelname.lower(), record.name, msg)


def agent_handler() -> logging.Handler:
    """journald when its bindings are there, else syslog, else stderr: one line per step."""
    try:
        from systemd.journal import JournalHandler  # type: ignore[import-not-found]

        h: logging.Handler = JournalHandler(SYSLOG_IDENTIFIER="spma")
        h.setFormatter(logging.Formatter("%(message)s"))
        return h
    except ImportError:
        pass
    if os.path.exists("/dev/log"):
        from logging.handlers import SysLogHandler  # only agents log to syslog: not on every run

        h = SysLogHandler(address="/dev/log", facility=SysLogHandler.LOG_DAEMON)
        h.setFormatter(LogfmtFormatter(prefix="spma[%d]: " % os.getpid()))
        return h
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(LogfmtFormatter())
    return h


def setup_logging(debug: bool, verbose: bool, agent: bool = False, quiet: bool = False) -> None:
    if agent:
        handler = agent_handler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        if sys.stderr.isatty():
            handler.setFormatter(logging.Formatter("spma: %(levelname)s: %(message)s"))
        else:
            handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger("spma")
    root.handlers[:] = [handler]
    level = logging.DEBUG if debug else logging.INFO if (verbose or agent) else logging.WARNING
    root.setLevel(logging.ERROR if quiet and not (debug or verbose) else level)
    root.propagate = False
    # dnf logs the same failures spma reports with a hint; show its words only with --debug.
    dnf_log = logging.getLogger("dnf")
    dnf_log.handlers[:] = [handler]
    dnf_log.setLevel(logging.DEBUG if debug else logging.CRITICAL + 1)
    dnf_log.propagate = False


def log_error(code: int, phase: str, message: str) -> None:
    """An agent's one line for a run that ended in an spma error: exit code, phase, message."""
    logging.getLogger("spma").error(
        'step=error exit=%d phase=%s msg="%s"', code, phase, message.replace('"', "'")
    )
