"""One run: profile -> desired state -> solved plan -> (apply). The CLI and the Python API
both call `plan()` / `apply()` and render the same `Result`."""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from spma import state
from spma.backend import ProgressFn, load_backend, resolve_backend_name
from spma.errors import ProfileError, SafetyError, SpmaError, TransactionError
from spma.model import ErrataPin, Profile, SolveRequest
from spma.plan import check_stale, envelope, load_plan
from spma.profile import load_profile

log = logging.getLogger("spma.run")

FAMILY = {"dnf": "rpm", "apt": "deb"}


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


@dataclass(frozen=True)
class Result:
    command: str
    plan: Dict[str, Any]
    applied: bool = False
    warnings: List[str] = field(default_factory=list)

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
    pins = tuple(ErrataPin(n, e.evr, e.arches, e.advisories) for n, e in sorted(vs.packages.items()))
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


def _compute(profile: Profile, opts: Options, command: str) -> Any:
    root = os.path.abspath(opts.root)
    name, why = resolve_backend_name(opts.backend, profile.packager, root)
    log.info("backend %s (chosen by %s)", name, why)
    errata = _load_errata(profile, opts)
    if errata is not None and errata.family != FAMILY[name]:
        raise ProfileError(
            "%s: a %s version set cannot constrain the %s backend" % (errata.source, errata.family, name)
        )
    backend = load_backend(name, root=root, statedir=state.state_dir(root))
    try:
        t0 = time.monotonic()
        solution = backend.solve(request=_request(profile, opts, errata))
        log.info("solved %d actions in %.3fs", len(solution.actions), time.monotonic() - t0)
        env = envelope(
            backend=name,
            root=root,
            mode="boot" if opts.boot else "live",
            profile_sha256=profile.sha256,
            solution=solution,
            options={"backend": name, "boot": opts.boot, "errata": errata.source if errata else None},
        )
        env["inputs"]["errata"] = errata.digest if errata else None
    except BaseException:
        backend.close()
        raise
    return backend, solution, env


def plan(source: str, opts: Options, *, stdin: Any = None) -> Result:
    profile = load_profile(source, stdin=stdin)
    warnings = _check_options(profile, opts)
    backend, _solution, env = _compute(profile, opts, "plan")
    backend.close()
    return Result("plan", env, applied=False, warnings=warnings)


def apply(source: str, opts: Options, *, stdin: Any = None, progress: Optional[ProgressFn] = None) -> Result:
    profile = load_profile(source, stdin=stdin)
    warnings = _check_options(profile, opts)
    saved = load_plan(opts.plan_file) if opts.plan_file else None
    root = os.path.abspath(opts.root)
    with state.run_lock(root, opts.lock_timeout):
        started = time.time()
        backend, solution, env = _compute(profile, opts, "apply")
        try:
            if saved is not None:
                check_stale(saved, env, opts.plan_file or "")
            _safety(profile, env, list(solution.protected_removals))
            if not profile.run:
                log.warning("%s: run is 'no': the plan is recorded, nothing is changed", profile.source)
                _record(root, env, "planned-only", started)
                return Result("apply", env, applied=False, warnings=warnings)
            try:
                backend.execute(solution=solution, progress=progress)
            except TransactionError as e:
                _record(root, env, "failed", started, error=e)
                state.record_history(root, dict(env, result="failed", error=str(e)), keep=opts.history_keep)
                raise
            backend.write_repo_config(repositories=profile.repositories, userrepos=profile.userrepos)
        except SpmaError as e:
            if not isinstance(e, TransactionError):
                _record(root, env, "refused", started, error=e)
            raise
        finally:
            backend.close()
        _record(root, env, "applied", started)
        if env["actions"]:
            state.record_history(root, dict(env, result="applied"), keep=opts.history_keep)
        return Result("apply", env, applied=True, warnings=warnings)


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
    return {
        "format": "spma-status/1",
        "root": root,
        "last_run": last,
        "history": [os.path.basename(p) for p in state.list_history(root)][-10:],
    }


def whitelisted(name: str, patterns: List[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)
