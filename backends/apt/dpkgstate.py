"""dpkg's database as dpkg itself reads it (the status file with its journal applied), what a
dpkg run cut short leaves there, and dpkg's own recovery of it."""

from __future__ import annotations

import logging
import os
import subprocess
from typing import Callable, ContextManager, Dict, List

from spma import faults, rootfs
from spma.errors import TransactionError

log = logging.getLogger("spma.apt")

Status = List[Dict[str, str]]


def journal(root: str) -> List[str]:
    """dpkg's pending journal entries (updates/ holds digits-named ones and tmp.i)."""
    d = os.path.join(root, "var/lib/dpkg/updates")
    try:
        return [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.isdigit()]
    except FileNotFoundError:
        return []


MAX_STATUS = 1024 * 1024 * 1024  # dpkg's status of a big host is tens of MiB


def read(root: str) -> Status:
    """The status file with dpkg's journal (what a dpkg run killed before its checkpoint left)
    applied on top, entry by entry, as dpkg does."""
    from spma.deb822 import stanzas

    # the root's files are untrusted: read as the root sees them (no link out of it), bounded
    data = rootfs.read_bytes(root, "var/lib/dpkg/status", MAX_STATUS)
    entries = list(stanzas(data.decode("utf-8", "replace"))) if data else []
    pending = journal(root)
    if not pending:
        return entries
    merged = {(e.get("Package"), e.get("Architecture")): e for e in entries}
    for path in pending:
        part = rootfs.read_bytes(root, rootfs.relpath(root, path), MAX_STATUS) or b""
        for e in stanzas(part.decode("utf-8", "replace")):
            merged[(e.get("Package"), e.get("Architecture"))] = e
    return list(merged.values())


def unfinished(status: Status) -> List[faults.Unfinished]:
    """Packages dpkg has not fully installed: only `install ok installed` counts as installed."""
    out = []
    for f in status:
        words = f.get("Status", "").split()
        if len(words) != 3 or "Package" not in f:
            continue
        _want, flag, st = words
        if st in faults.DPKG_UNFINISHED or flag == "reinstreq":
            out.append(faults.Unfinished(f["Package"], f.get("Architecture", ""), f.get("Version", ""), st,
                                         reinstall_required=flag == "reinstreq"))  # fmt: skip
    return sorted(out, key=lambda u: (u.name, u.arch))


def lines(status: Status) -> List[str]:
    """Every package dpkg knows, with its state: what says whether a failed run changed anything."""
    return sorted("%s:%s=%s %s" % (f["Package"], f.get("Architecture", ""), f.get("Version", ""),
                                   f.get("Status", "")) for f in status if "Package" in f)  # fmt: skip


def failed(what: str, before: List[str], root: str, logdir: str) -> TransactionError:
    """What failed, whether dpkg changed the host, and what it left unfinished."""
    now = read(root)
    changed = lines(now) != before
    return TransactionError(
        "the dpkg transaction failed: %s (%s)%s"
        % (what.strip(), "dpkg changed the host" if changed else "dpkg's database is unchanged",
           faults.left_behind(unfinished(now))),
        hint="dpkg's own words are in %s; fix the cause and rerun: spma finishes what dpkg left "
        "unfinished, then applies the plan" % os.path.join(logdir, "dpkg-output.log"),
    )  # fmt: skip


def recover(root: str, logdir: str, guard: Callable[[], ContextManager[None]]) -> bool:
    """dpkg's own recovery for what an earlier run left unpacked, half-configured, with triggers
    pending or in its journal (`dpkg --configure --pending`, then `--triggers-only --pending`);
    a reinstall-required package is left to apt's reinstall in the plan. True if dpkg ran.
    `guard` is the transaction's context (no service starts, noninteractive)."""
    status = read(root)
    todo = [u for u in unfinished(status) if not u.reinstall_required]
    if not todo and not journal(root):
        return False
    log.info("finishing what dpkg left unfinished: %s",
             ", ".join(u.describe() for u in todo) or "its journal (var/lib/dpkg/updates)")  # fmt: skip
    before = lines(status)
    base = ["dpkg", "--root=%s" % root, "--log=%s" % os.path.join(root, "var/log/dpkg.log"),
            "--force-confdef", "--force-confold"]  # fmt: skip
    os.makedirs(logdir, exist_ok=True)
    with guard(), open(os.path.join(logdir, "dpkg-output.log"), "ab") as out:
        for argv in (base + ["--configure", "--pending"], base + ["--triggers-only", "--pending"]):
            res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            if res.returncode != 0:
                raise failed("dpkg's recovery (%s) exited with status %d" % (" ".join(argv[-2:]), res.returncode),
                             before, root, logdir)  # fmt: skip
    return True
