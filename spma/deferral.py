"""Boot-time deferral, for every backend (DESIGN §6): the live/boot split fixpoint, the pending
file, the boot trigger, /run/reboot-required and `spma boot`.

The split works on the solver's facts: every unit that touches a boot-only package waits for
boot, and so does every unit that needs one that waits (the backend answers "what needs what");
what is left must then solve on its own, exactly, or everything waits.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from spma import rootfs, state
from spma.backend import Backend, Session, load_backend
from spma.bootonly import boot_only_entry
from spma.errors import RepoError, SpmaError, StalePlanError, StateError, StateFormatError, TransactionError
from spma.model import Action, Change, Need
from spma.steps import step

log = logging.getLogger("spma.deferral")

PENDING_FORMAT = "spma-pending/2"
INCONSISTENT = "the live part is not consistent on its own"

# what needs what, given the live and the deferred units (a Session's `unmet`)
UnmetFn = Callable[[Sequence[int], Sequence[int]], List[Need]]


def boot_only_units(changes: Sequence[Change], boot_only: Sequence[str]) -> Dict[int, str]:
    """The units that touch a boot-only package, with the first glob that matched."""
    out: Dict[int, str] = {}
    for c in changes:
        if c.repair:
            continue  # finishing what a package manager left unfinished never waits for boot
        why = boot_only_entry(c.name, c.source, boot_only)  # by name, or by its source package
        if why is not None and c.unit not in out:
            out[c.unit] = why
    return out


def need_text(n: Need) -> str:
    if n.kind == "needed-by":
        return "needed by %s %s until boot" % (n.name, n.evr)
    return "needs %s %s" % (n.name, n.evr) if n.evr else "needs %s" % n.name


def close_deferred(units: Sequence[int], seed: Mapping[int, str], unmet: UnmetFn) -> Dict[int, str]:
    """The fixpoint: defer what needs a deferred unit until nothing live does. A new package's
    own requirements are settled first; then removals that an old package staying until boot
    still needs."""
    deferred = dict(seed)
    while True:
        live = [u for u in units if u not in deferred]
        fresh = [n for n in unmet(live, sorted(deferred)) if n.unit not in deferred]
        first = [n for n in fresh if n.kind == "needs"] or fresh
        if not first:
            return deferred
        for n in first:
            deferred.setdefault(n.unit, need_text(n))


def split(session: Session, changes: Sequence[Change], boot_only: Sequence[str]) -> Dict[int, str]:
    """unit -> why it waits for boot; the session's transaction becomes the live part."""
    seed = boot_only_units(changes, boot_only)
    if not seed:
        return {}
    units = sorted({c.unit for c in changes})
    deferred = close_deferred(units, seed, session.unmet)
    if not session.restrict([u for u in units if u not in deferred]):
        deferred = {u: deferred.get(u, INCONSISTENT) for u in units}
    return deferred


# -- the pending plan ----------------------------------------------------------------------------
def pending_paths(root: str) -> Tuple[str, str, str]:
    sdir = state.state_dir(root)
    return (
        os.path.join(sdir, "pending.json"),
        os.path.join(sdir, "pending"),
        os.path.join(sdir, "boot.trigger"),
    )


def clear(root: str) -> None:
    """Nothing waits for boot: no pending plan, no trigger, no reboot flag."""
    pjson, pdir, trigger = pending_paths(root)
    for path in (trigger, pjson):
        rootfs.remove(root, path)
    rootfs.rmtree(root, pdir)
    reboot_required(root, [])


def save(root: str, *, backend: str, session: Session, later: Sequence[Tuple[Change, Action]],
         inputs: Dict[str, Any]) -> None:  # fmt: skip
    """After the live part: prefetch what is deferred, save the pending plan, arm the boot unit
    and say a reboot is needed."""
    pjson, pdir, trigger = pending_paths(root)
    files = session.prefetch([c for c, _a in later], rootfs.makedirs(root, pdir))
    keep = {f for f in files if f}
    for fn in rootfs.listdir(root, pdir):
        if fn not in keep and fn.endswith((".rpm", ".deb")):  # stale packages; a backend's index stays
            rootfs.remove(root, os.path.join(pdir, fn))
    # what was verified now is what boot installs: the root may change in between
    digests = {f: rootfs.sha256(root, os.path.join(pdir, f)) for f in keep}
    doc = {
        "format": PENDING_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "backend": backend,
        "attempts": 0,
        "status": "pending",
        "inputs": inputs,
        "changes": [
            dict(c.to_json(), file=f, **({"sha256": digests[f]} if f else {}))
            for (c, _a), f in zip(later, files)
        ],  # fmt: skip
        "actions": [a.to_json() for _c, a in later],
    }
    state.write_json(pjson, doc, root=root)
    rootfs.write_file(root, trigger, b"spma: package changes deferred to boot\n")
    reboot_required(root, sorted({a.name for _c, a in later}))
    step("deferred", actions=len(later), prefetched=len(keep), trigger=trigger)


def reboot_required(root: str, names: List[str]) -> None:
    flag = os.path.join(root, "run/reboot-required")
    pkgs = flag + ".pkgs"
    if not names:
        # only the flag spma raised: a package may have asked for a reboot itself
        if rootfs.is_marked(root, flag):
            rootfs.remove(root, pkgs)
            rootfs.remove_marked(root, flag)
        return
    rootfs.write_file(root, flag, b"*** System restart required ***\n%s: package changes deferred to boot\n"
                      % rootfs.MARK.encode())  # fmt: skip
    rootfs.write_file(root, pkgs, ("\n".join(names) + "\n").encode())


def read_pending(root: str) -> Optional[Dict[str, Any]]:
    """The pending plan; one of another format is refused, never half-used. Read-only: a
    damaged file is reported (naming it), never moved."""
    pending = state.read_json(pending_paths(root)[0], root=root, set_aside=False)
    if pending is not None and not isinstance(pending.get("format"), str):
        raise StateError("%s has no format: not a pending plan spma wrote" % pending_paths(root)[0])
    if pending is not None and pending.get("format") != PENDING_FORMAT:
        raise StateFormatError(
            "%s has format %r; this spma reads %s"
            % (pending_paths(root)[0], pending.get("format"), PENDING_FORMAT),
            hint="it was written by another spma version: run `spma apply` again to plan afresh "
            "(it replaces the file)",
        )
    return state.check_pending(pending, pending_paths(root)[0]) if pending is not None else None


def status(root: str) -> Optional[Dict[str, Any]]:
    pending = read_pending(root)
    if not pending:
        return None
    acts = pending.get("actions", [])
    return {
        "status": pending.get("status"),
        "actions": len(acts),
        "reasons": sorted({a.get("defer_reason") for a in acts if a.get("defer_reason")}),
        "armed": rootfs.exists(root, pending_paths(root)[2]),
        "attempts": pending.get("attempts", 0),
    }


# -- spma boot -----------------------------------------------------------------------------------
class _Boot:
    def __init__(self, root: str, pending: Dict[str, Any]) -> None:
        self.root, self.pending, self.started = root, pending, time.time()
        self.pjson, self.pdir, _t = pending_paths(root)

    def save(self, status: Optional[str] = None) -> None:
        if status is not None:
            self.pending["status"] = status
        state.write_json(self.pjson, self.pending, root=self.root)

    def record(self, result: str, error: Optional[BaseException] = None) -> None:
        p = self.pending
        entry: Dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "result": result,
            "backend": p["backend"],
            "mode": "boot",
            "inputs": p["inputs"],
            "summary": {"total": len(p["actions"]), "deferred": len(p["actions"])},
            "reboot_required": False,
            "attempts": p["attempts"],
        }
        if error is not None:
            entry["error"] = str(error)
        state.record_state(self.root, entry)

    def run(self, backend: Backend, max_attempts: int) -> None:
        p = self.pending
        if backend.installed_fingerprint() != p["inputs"]["installed"]:
            self.save("stale")
            err = StalePlanError(
                "the installed packages changed since the changes were deferred; nothing applied",
                hint="the next live spma run plans again",
            )
            self.record("boot-stale", err)
            raise err
        changes = [(Change.from_json(c), c.get("file")) for c in p["changes"]]
        try:
            self._check_prefetched()
            backend.apply_local(changes, rootfs.makedirs(self.root, self.pdir))
        except SpmaError as e:
            self.save("pending" if p["attempts"] < max_attempts else "failed")
            self.record("boot-failed", e)
            raise

    def _check_prefetched(self) -> None:
        """Boot installs exactly the packages the live run verified (signatures, checksums) when
        it prefetched them: each must still have the sha256 recorded then."""
        for c in self.pending["changes"]:
            if not c.get("file"):
                continue
            path = os.path.join(self.pdir, c["file"])
            try:
                got = rootfs.sha256(self.root, path)
            except (OSError, ValueError) as e:
                raise RepoError("the package %s prefetched for boot is unreadable: %s" % (path, e)) from e
            if got != c["sha256"]:
                raise RepoError(
                    "the package %s prefetched for boot is not the one verified when it was downloaded; "
                    "nothing applied" % path,
                    hint="the next live spma run downloads and verifies it again",
                )


def boot(root: str, *, max_attempts: int = 3, lock_timeout: float = 600.0) -> Dict[str, Any]:
    """Apply the pending plan from the local cache, with no network (what spma-boot.service
    runs). The trigger goes first, so a crash here never loops reboots."""
    root = os.path.abspath(root)
    pjson, pdir, trigger = pending_paths(root)
    rootfs.check_paths(root)
    with state.run_lock(root, lock_timeout):
        if rootfs.remove(root, trigger):
            state.fsync_dir(rootfs.resolve(root, os.path.dirname(trigger)))
            step("boot-trigger", removed=trigger)
        pending = read_pending(root)
        if not pending or pending.get("status") != "pending":
            step("boot", result="nothing-pending")
            return {"result": "nothing-pending"}
        pending["attempts"] = int(pending.get("attempts", 0)) + 1
        b = _Boot(root, pending)
        b.save()
        if pending["attempts"] > max_attempts:
            b.save("gave-up")
            err = TransactionError(
                "gave up on the changes deferred to boot after %d attempts" % max_attempts,
                hint="see the earlier attempts in the journal; the next live spma run plans again",
            )
            b.record("boot-gave-up", err)
            raise err
        statedir = rootfs.makedirs(root, state.state_dir(root))
        b.run(load_backend(pending["backend"], root=root, statedir=statedir), max_attempts)
        rootfs.remove(root, pjson)
        rootfs.rmtree(root, pdir)
        reboot_required(root, [])
        b.record("boot-applied")
        state.record_history(root, {"format": "spma-plan/1", "mode": "boot", "root": root,
                                    "actions": pending["actions"], "result": "applied"})  # fmt: skip
        step("boot", result="applied", actions=len(pending["actions"]))
        return {"result": "applied", "actions": pending["actions"]}
