"""One run: profile -> desired state -> solved plan -> (apply). The CLI and the Python API
both call `plan()` / `apply()` and render the same `Result`."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from spma import state
from spma.backend import ProgressFn, load_backend, resolve_backend_name
from spma.errors import ProfileError, SafetyError, SpmaError, StalePlanError, TransactionError
from spma.model import ErrataPin, Profile, SolveRequest
from spma.plan import check_stale, envelope, load_plan
from spma.profile import Fetch, load_profile

log = logging.getLogger("spma.run")

FAMILY = {"dnf": "rpm", "apt": "deb"}


def step(name: str, **fields: Any) -> None:
    """One structured log line per step of a run (what the agent mode shows)."""
    parts = ["step=%s" % name] + ["%s=%s" % (k, _logval(v)) for k, v in fields.items()]
    log.info(" ".join(parts))


def _logval(v: Any) -> str:
    s = str(v)
    return '"%s"' % s.replace('"', "'") if (not s or any(c in s for c in ' ="')) else s


def _load(source: str, opts: Options, stdin: Any) -> Profile:
    root = os.path.abspath(opts.root)
    fetch = Fetch(
        ca_bundle=opts.ca_bundle,
        client_cert=opts.client_cert,
        client_key=opts.client_key,
        local_copy=os.path.join(state.state_dir(root), "profile.last"),
    )
    profile = load_profile(source, stdin=stdin, fetch=fetch)
    step("profile", source=source, sha256=profile.sha256[:16], packages=len(profile.packages),
         repositories=len(profile.repositories))  # fmt: skip
    return profile


@dataclass(frozen=True)
class Options:
    root: str = "/"
    backend: str = "auto"
    boot: bool = False
    errata: Optional[str] = None
    plan_file: Optional[str] = None
    lock_timeout: float = 60.0
    running_kernel: Optional[str] = None
    history_keep: int = 50
    # agent mode: structured log lines, no-op fast path, random splay before taking the lock
    agent: bool = False
    splay: float = 0.0
    fast: Optional[bool] = None  # the no-op fast path; default: on in agent mode
    ca_bundle: Optional[str] = None
    client_cert: Optional[str] = None
    client_key: Optional[str] = None


@dataclass(frozen=True)
class Result:
    """What a run did: the plan (spma-plan/1 envelope) and whether it was applied. The CLI
    renders it; agents embedding spma read it."""

    command: str
    plan: Dict[str, Any]
    applied: bool = False
    warnings: List[str] = field(default_factory=list)
    noop: bool = False  # the fast path found nothing changed since the last successful apply

    @property
    def changes(self) -> int:
        return int(self.plan["summary"]["total"])


def _running_kernel(opts: Options) -> Optional[str]:
    if opts.running_kernel is not None:
        return opts.running_kernel or None
    env = os.environ.get("SPMA_RUNNING_KERNEL")
    if env is not None:
        return env or None
    # A sandbox or image root has no running kernel; only the host's own root does.
    if os.path.realpath(opts.root) == "/":
        return os.uname().release
    return None


def _request(profile: Profile, opts: Options, errata: Optional[_Errata] = None) -> SolveRequest:
    return SolveRequest(
        errata=errata.pins if errata else (),
        errata_kernel=errata.kernel if errata else None,
        errata_id=errata.set_id if errata else None,
        packages=profile.packages,
        repositories=profile.repositories,
        userpkgs=profile.userpkgs,
        whitelist=profile.whitelist,
        excludes=profile.excludes,
        process_obsoletes=profile.process_obsoletes,
        install_weak_deps=profile.install_weak_deps,
        running_kernel=_running_kernel(opts),
    )


def _check_options(profile: Profile, opts: Options) -> List[str]:
    return list(profile.warnings)


@dataclass(frozen=True)
class _Errata:
    source: str
    digest: str
    set_id: str
    family: str
    pins: Tuple[ErrataPin, ...]
    kernel: Optional[str]


def _load_errata(profile: Profile, opts: Options) -> Optional[_Errata]:
    """--errata wins over the profile's errata field; both take a path or URL."""
    source = opts.errata or profile.errata
    if not source:
        return None
    from spma.errata.versionset import load

    vs, digest = load(source)
    pins = tuple(
        ErrataPin(n, e.evr, e.arches, e.advisories, e.reboot_suggested)
        for n, e in sorted(vs.packages.items())
    )
    log.info("errata version set %s (%d packages, cut-off %s) from %s", vs.id, len(pins), vs.cutoff, source)
    return _Errata(source, digest, vs.id, vs.family, pins, vs.kernel)


def _safety(profile: Profile, plan: Dict[str, Any], protected_removals: List[str]) -> None:
    removals = [a for a in plan["actions"] if a["action"] == "remove"]
    declared = [d for d in profile.packages if not d.is_glob]
    if not declared and removals:
        raise SafetyError(
            "the profile declares no packages, and applying it would remove %d installed packages"
            % len(removals),
            hint="an empty /software/packages is almost always a broken profile; fix the profile",
        )
    if protected_removals:
        raise SafetyError(
            "the plan would remove protected packages: %s" % ", ".join(protected_removals),
            hint="protected are the whitelist, the running kernel, spma and the package manager; "
            "change the declarations that force their removal",
        )
    if profile.max_removals is not None and len(removals) > profile.max_removals:
        raise SafetyError(
            "the plan removes %d packages, more than max_removals (%d): %s"
            % (len(removals), profile.max_removals, ", ".join(sorted(a["name"] for a in removals)[:20])),
            hint="review the plan; raise /software/components/spma/max_removals if it is intended",
        )


@dataclass
class _Prepared:
    name: str
    root: str
    errata: Optional[_Errata]
    backend: Any
    request: SolveRequest
    options: Dict[str, Any]


def _prepare(profile: Profile, opts: Options) -> _Prepared:
    root = os.path.abspath(opts.root)
    name, why = resolve_backend_name(opts.backend, profile.packager, root)
    step("backend", backend=name, chosen_by=why)
    errata = _load_errata(profile, opts)
    if errata is not None and errata.family != FAMILY[name]:
        raise ProfileError(
            "%s: a %s version set cannot constrain the %s backend" % (errata.source, errata.family, name)
        )
    backend = load_backend(name, root=root, statedir=state.state_dir(root))
    options = {"backend": name, "boot": opts.boot, "errata": errata.source if errata else None}
    return _Prepared(name, root, errata, backend, _request(profile, opts, errata), options)


DEFAULT_BOOT_ONLY = {
    "rpm": ("glibc*", "systemd*", "dbus*", "kernel*", "linux-firmware*", "microcode_ctl"),
    "deb": ("libc6", "libc-bin", "systemd*", "libsystemd0", "udev", "libudev1", "dbus*", "linux-image-*"),
}


def boot_only(profile: Profile, backend: str) -> Tuple[str, ...]:
    """The profile's boot_only globs, or the family's defaults; an empty list disables deferral."""
    if profile.boot_only is not None:
        return profile.boot_only
    return DEFAULT_BOOT_ONLY[FAMILY[backend]]


def _solve(profile: Profile, opts: Options, prep: _Prepared) -> Any:
    t0 = time.monotonic()
    solution = prep.backend.solve(request=prep.request)
    if not opts.boot:
        solution = prep.backend.split(solution=solution, boot_only=boot_only(profile, prep.name))
    env = envelope(
        backend=prep.name,
        root=prep.root,
        mode="boot" if opts.boot else "live",
        profile_sha256=profile.sha256,
        solution=solution,
        options=prep.options,
    )
    env["inputs"]["errata"] = prep.errata.digest if prep.errata else None
    s = env["summary"]
    step("solve", seconds="%.3f" % (time.monotonic() - t0), actions=s["total"], install=s["install"],
         upgrade=s["upgrade"], downgrade=s["downgrade"], remove=s["remove"], deferred=s["deferred"])  # fmt: skip
    return solution, env


def _compute(profile: Profile, opts: Options) -> Any:
    prep = _prepare(profile, opts)
    try:
        solution, env = _solve(profile, opts, prep)
    except BaseException:
        prep.backend.close()
        raise
    return prep.backend, solution, env


def _unchanged(profile: Profile, opts: Options, prep: _Prepared) -> Optional[Dict[str, Any]]:
    """The no-op fast path: the inputs of the last successful apply, if nothing moved since."""
    last = state.read_json(os.path.join(state.state_dir(prep.root), "state.json"))
    if not last or last.get("result") not in ("applied", "unchanged") or not last.get("inputs"):
        return None
    t0 = time.monotonic()
    installed, repos = prep.backend.quick_inputs(request=prep.request)
    from spma.plan import options_fingerprint

    current = {
        "profile": "sha256:" + profile.sha256,
        "installed": installed,
        "repositories": dict(repos),
        "options": options_fingerprint(prep.options),
        "errata": prep.errata.digest if prep.errata else None,
    }
    same = {k: last["inputs"].get(k) for k in current} == current
    step("fast-path", unchanged=same, seconds="%.3f" % (time.monotonic() - t0))
    return current if same else None


def plan(source: str, opts: Options, *, stdin: Any = None) -> Result:
    profile = _load(source, opts, stdin)
    warnings = _check_options(profile, opts)
    backend, _solution, env = _compute(profile, opts)
    backend.close()
    return Result("plan", env, applied=False, warnings=warnings)


def apply(source: str, opts: Options, *, stdin: Any = None, progress: Optional[ProgressFn] = None) -> Result:
    profile = _load(source, opts, stdin)
    warnings = _check_options(profile, opts)
    saved = load_plan(opts.plan_file) if opts.plan_file else None
    root = os.path.abspath(opts.root)
    if opts.splay > 0:
        delay = random.uniform(0, opts.splay)
        step("splay", seconds="%.1f" % delay)
        time.sleep(delay)
    with state.run_lock(root, opts.lock_timeout):
        step("lock", path=state.lock_path(root))
        started = time.time()
        prep = _prepare(profile, opts)
        try:
            fast = opts.agent if opts.fast is None else opts.fast
            current = _unchanged(profile, opts, prep) if fast and saved is None else None
            if current is not None:
                env = _noop_envelope(prep, opts, current)
                _record(root, env, "unchanged", started)
                step("done", result="unchanged", note="nothing changed since the last successful apply")
                return Result("apply", env, applied=False, warnings=warnings, noop=True)
            solution, env = _solve(profile, opts, prep)
            if saved is not None:
                check_stale(saved, env, opts.plan_file or "")
            _safety(profile, env, list(solution.protected_removals))
            step("safety", removals=env["summary"]["remove"])
            if not profile.run:
                log.warning("%s: run is 'no': the plan is recorded, nothing is changed", profile.source)
                _record(root, env, "planned-only", started)
                step("done", result="planned-only")
                return Result("apply", env, applied=False, warnings=warnings)
            live = [a for a in env["actions"] if not a["deferred"]]
            try:
                if live:
                    t0 = time.monotonic()
                    prep.backend.execute(solution=solution, progress=progress)
                    step("transaction", actions=len(live), seconds="%.3f" % (time.monotonic() - t0))
            except TransactionError as e:
                _record(root, env, "failed", started, error=e)
                state.record_history(root, dict(env, result="failed", error=str(e)), keep=opts.history_keep)
                raise
            prep.backend.write_repo_config(repositories=profile.repositories, userrepos=profile.userrepos)
            step("repositories", written=len(profile.repositories), userrepos=profile.userrepos)
            post_fp = prep.backend.installed_fingerprint() if live else env["inputs"]["installed"]
            if profile.run:
                _pending(root, prep, solution, env, post_fp)
        except SpmaError as e:
            if not isinstance(e, TransactionError) and "env" in locals():
                _record(root, env, "refused", started, error=e)
            step("done", result="error", exit=e.exit_code)
            raise
        finally:
            prep.backend.close()
        # what the host is now, so the next run's fast path can compare against it
        after = dict(env["inputs"], installed=post_fp)
        _record(root, dict(env, inputs=after), "applied", started)
        if live:
            state.record_history(root, dict(env, result="applied"), keep=opts.history_keep)
        step("done", result="applied", actions=len(live), deferred=len(env["actions"]) - len(live),
             reboot_required=env["reboot_required"])  # fmt: skip
        return Result("apply", env, applied=True, warnings=warnings)


PENDING_FORMAT = "spma-pending/1"


def _pending_paths(root: str) -> Tuple[str, str, str]:
    sdir = state.state_dir(root)
    return (
        os.path.join(sdir, "pending.json"),
        os.path.join(sdir, "pending"),
        os.path.join(sdir, "boot.trigger"),
    )


def _pending(root: str, prep: _Prepared, solution: Any, env: Dict[str, Any], post_fp: str) -> None:
    """After the live part: prefetch what is deferred, save the pending plan, arm the boot unit
    and say a reboot is needed; with nothing deferred, clear all of that."""
    pjson, pdir, trigger = _pending_paths(root)
    deferred = [a for a in env["actions"] if a["deferred"]]
    if not deferred:
        for path in (trigger, pjson):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        shutil.rmtree(pdir, ignore_errors=True)
        _reboot_required(root, [])
        return
    changes = prep.backend.prefetch(solution=solution, dest=pdir)
    keep = {c["install"] for c in changes if "install" in c}
    for fn in os.listdir(pdir):
        if fn not in keep and fn.endswith((".rpm", ".deb")):  # stale packages; a backend's index stays
            os.unlink(os.path.join(pdir, fn))
    doc = {
        "format": PENDING_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "backend": prep.name,
        "attempts": 0,
        "status": "pending",
        "inputs": dict(env["inputs"], installed=post_fp),
        "changes": changes,
        "actions": deferred,
    }
    state.write_json(pjson, doc)
    state.atomic_write(trigger, b"spma: package changes deferred to boot\n")
    _reboot_required(root, deferred)
    step("deferred", actions=len(deferred), prefetched=len(keep), trigger=trigger)


def _reboot_required(root: str, deferred: List[Dict[str, Any]]) -> None:
    flag = os.path.join(root, "run/reboot-required")
    pkgs = flag + ".pkgs"
    if not deferred:
        for path in (flag, pkgs):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return
    state.atomic_write(flag, b"*** System restart required ***\n")
    names = sorted({a["name"] for a in deferred})
    state.atomic_write(pkgs, ("\n".join(names) + "\n").encode())


def boot(root: str, *, max_attempts: int = 3, lock_timeout: float = 600.0) -> Dict[str, Any]:
    """Apply the pending plan from the local cache, with no network (what spma-boot.service
    runs). The trigger goes first, so a crash here never loops reboots."""
    root = os.path.abspath(root)
    pjson, pdir, trigger = _pending_paths(root)
    with state.run_lock(root, lock_timeout):
        if os.path.exists(trigger):
            os.unlink(trigger)
            state.fsync_dir(os.path.dirname(trigger))
            step("boot-trigger", removed=trigger)
        pending = state.read_json(pjson)
        if not pending or pending.get("status") != "pending":
            step("boot", result="nothing-pending")
            return {"result": "nothing-pending"}
        pending["attempts"] = int(pending.get("attempts", 0)) + 1
        state.write_json(pjson, pending)
        started = time.time()

        def record(result: str, error: Optional[BaseException] = None) -> None:
            entry: Dict[str, Any] = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                "result": result,
                "backend": pending["backend"],
                "mode": "boot",
                "inputs": pending["inputs"],
                "summary": {"total": len(pending["actions"]), "deferred": len(pending["actions"])},
                "reboot_required": False,
                "attempts": pending["attempts"],
            }
            if error is not None:
                entry["error"] = str(error)
            state.record_state(root, entry)

        if pending["attempts"] > max_attempts:
            pending["status"] = "gave-up"
            state.write_json(pjson, pending)
            err = TransactionError(
                "gave up on the changes deferred to boot after %d attempts" % max_attempts,
                hint="see the earlier attempts in the journal; the next live spma run plans again",
            )
            record("boot-gave-up", err)
            raise err
        backend = load_backend(pending["backend"], root=root, statedir=state.state_dir(root))
        try:
            if backend.installed_fingerprint() != pending["inputs"]["installed"]:
                pending["status"] = "stale"
                state.write_json(pjson, pending)
                err2 = StalePlanError(
                    "the installed packages changed since the changes were deferred; nothing applied",
                    hint="the next live spma run plans again",
                )
                record("boot-stale", err2)
                raise err2
            try:
                backend.apply_local(changes=pending["changes"], source=pdir)
            except SpmaError as e:
                pending["status"] = "pending" if pending["attempts"] < max_attempts else "failed"
                state.write_json(pjson, pending)
                record("boot-failed", e)
                raise
        finally:
            backend.close()
        os.unlink(pjson)
        shutil.rmtree(pdir, ignore_errors=True)
        _reboot_required(root, [])
        record("boot-applied")
        state.record_history(root, {"format": "spma-plan/1", "mode": "boot", "root": root,
                                    "actions": pending["actions"], "result": "applied"})  # fmt: skip
        step("boot", result="applied", actions=len(pending["actions"]))
        return {"result": "applied", "actions": pending["actions"]}


def _noop_envelope(prep: _Prepared, opts: Options, inputs: Dict[str, Any]) -> Dict[str, Any]:
    from spma.plan import PLAN_FORMAT, summarize

    return {
        "format": PLAN_FORMAT,
        "backend": prep.name,
        "root": prep.root,
        "mode": "boot" if opts.boot else "live",
        "inputs": inputs,
        "actions": [],
        "summary": summarize([]),
        "reboot_required": False,
        "notes": ["nothing changed since the last successful apply: not solved"],
    }


def _record(
    root: str, env: Dict[str, Any], result: str, started: float, error: Optional[BaseException] = None
) -> None:
    entry: Dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration": round(time.time() - started, 3),
        "result": result,
        "backend": env["backend"],
        "mode": env["mode"],
        "inputs": env["inputs"],
        "summary": env["summary"],
        "reboot_required": env["reboot_required"],
    }
    if error is not None:
        entry["error"] = str(error)
    try:
        state.record_state(root, entry)
    except OSError as e:
        log.warning("could not write state under %s: %s", state.state_dir(root), e)


def status(root: str) -> Dict[str, Any]:
    root = os.path.abspath(root)
    last = state.read_json(os.path.join(state.state_dir(root), "state.json"))
    pjson, _pdir, trigger = _pending_paths(root)
    pending = state.read_json(pjson)
    pend = None
    if pending:
        acts = pending.get("actions", [])
        pend = {
            "status": pending.get("status"),
            "actions": len(acts),
            "reasons": sorted({a.get("defer_reason") for a in acts if a.get("defer_reason")}),
            "armed": os.path.exists(trigger),
            "attempts": pending.get("attempts", 0),
        }
    return {
        "format": "spma-status/1",
        "root": root,
        "pending_boot": pend,
        "reboot_required": os.path.exists(os.path.join(root, "run/reboot-required")),
        "last_run": last,
        "history": [os.path.basename(p) for p in state.list_history(root)][-10:],
    }
