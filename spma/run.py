"""One run: profile -> desired state -> solved plan -> (apply). The CLI and the Python API
both call `plan()` / `apply()` and render the same `Result`."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from spma import convergence, deferral, faults, invariant, parity, policy, repofiles, rootfs, state
from spma.backend import Backend, ProgressFn, Session, load_backend
from spma.deferral import boot  # noqa: F401 - the CLI's and the API's entry point
from spma.errors import ProfileError, SafetyError, SpmaError, TransactionError, UsageError, VersionSetError
from spma.family import resolve_backend_name
from spma.model import Action, Change, ErrataPin, Profile, SolveRequest
from spma.plan import Inputs, Plan, check_stale, load_plan, options_fingerprint
from spma.policy import FAMILY, boot_only  # noqa: F401 - part of the API
from spma.profile import Fetch, load_profile
from spma.steps import step

log = logging.getLogger("spma.run")


def _load(source: str, opts: Options, stdin: Any) -> Profile:
    root = os.path.abspath(opts.root)
    fetch = Fetch(
        ca_bundle=opts.ca_bundle,
        client_cert=opts.client_cert,
        client_key=opts.client_key,
        local_copy=os.path.join(state.state_dir(root), "profile.last"),
        root=root,
    )
    profile = load_profile(source, stdin=stdin, fetch=fetch)
    step("profile", source=source, sha256=profile.sha256[:16], packages=len(profile.packages),
         repositories=len(profile.repositories))  # fmt: skip
    return profile


@dataclass(frozen=True)
class Options:
    """How a command runs (the command line's options, or the library call's arguments)."""

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
    # "note" | "error": the root's own contradicting package settings (None: the profile decides)
    host_settings: Optional[str] = None


@dataclass(frozen=True)
class Result:
    """What a run did: the Plan and whether it was applied. The CLI renders its spma-plan/1
    document (`plan`); agents embedding spma read either."""

    command: str
    planned: Plan
    applied: bool = False
    warnings: List[str] = field(default_factory=list)
    noop: bool = False  # the fast path found nothing changed since the last successful apply
    # what apply would refuse (exit 7): `plan` shows the plan and then states this
    refusal: Optional[SafetyError] = None

    @functools.cached_property
    def plan(self) -> Dict[str, Any]:
        # built once: the CLI reads it up to three times (hint, JSON, text) for one plan
        return self.planned.to_json()

    @property
    def changes(self) -> int:
        return len(self.planned.actions)


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


def _request(profile: Profile, opts: Options, backend: str) -> SolveRequest:
    return SolveRequest(
        packages=profile.packages,
        repositories=parity.repositories(profile, backend),
        userpkgs=profile.userpkgs,
        protected=policy.protected_globs(FAMILY[backend], profile.whitelist),
        excludes=profile.excludes,
        process_obsoletes=profile.process_obsoletes,
        install_weak_deps=profile.install_weak_deps,
        running_kernel=_running_kernel(opts),
        boot=opts.boot,
    )


def _check_options(profile: Profile, opts: Options) -> List[str]:
    return list(profile.warnings)


@dataclass(frozen=True)
class _Errata:
    """The errata version set a run binds, and where it came from."""

    source: str
    digest: str
    set_id: str
    family: str
    pins: Tuple[ErrataPin, ...]
    kernel: Optional[str]
    os: str = ""


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
    return _Errata(source, digest, vs.id, vs.family, pins, vs.kernel, vs.os)


def release_mismatch(set_os: str, root: str) -> Optional[str]:
    """A Debian/Ubuntu version set (`os`: `debian-bullseye`) names its release; a root of another
    release (its os-release VERSION_CODENAME) would fail package by package: say it once."""
    fields: Dict[str, str] = {}
    for rel in ("etc/os-release", "usr/lib/os-release"):
        try:  # the root's file, as the root sees it and bounded (spma/rootfs.py)
            data = rootfs.read_bytes(root, rel, 65536)
        except (OSError, rootfs.SizeError):
            continue
        if data is None:
            continue
        for line in data.decode("utf-8", "replace").splitlines():
            k, sep, v = line.partition("=")
            if sep:
                fields[k.strip()] = v.strip().strip("\"'")
        break
    dist, sep, release = set_os.partition("-")
    have = fields.get("VERSION_CODENAME", "")
    if not sep or dist not in ("debian", "ubuntu") or not have or fields.get("ID") != dist:
        return None
    return (
        None
        if release == have
        else "a version set for %s %s, but the root is %s %s" % (dist, release, dist, have)
    )


@dataclass
class _Prepared:
    """A run's backend and request, made once before the solve."""

    name: str
    root: str
    errata: Optional[_Errata]
    backend: Backend
    request: SolveRequest
    options: Dict[str, Any]


def _prepare(profile: Profile, opts: Options) -> _Prepared:
    root = os.path.abspath(opts.root)
    if os.path.isdir(root):
        # a link out of the root stops the run before anything changes (spma/rootfs.py)
        rootfs.check_paths(root)
        rootfs.scrub_links(root, os.path.join(state.state_dir(root), "cache"), keep_files_in=("apt/lists",))
    name, why = resolve_backend_name(opts.backend, profile.packager, root)
    step("backend", backend=name, chosen_by=why)
    errata = _load_errata(profile, opts)
    if errata is not None and errata.family != FAMILY[name]:
        raise ProfileError(
            "%s: a %s version set cannot constrain the %s backend" % (errata.source, errata.family, name)
        )
    if errata is not None:
        wrong = release_mismatch(errata.os, root)
        if wrong:
            raise VersionSetError("%s (%s): %s" % (errata.source, errata.set_id, wrong),
                               hint="use the version set generated for the root's own release")  # fmt: skip
    backend = load_backend(name, root=root, statedir=rootfs.makedirs(root, state.state_dir(root)))
    options = {"backend": name, "boot": opts.boot, "errata": errata.source if errata else None}
    return _Prepared(name, root, errata, backend, _request(profile, opts, name), options)


@dataclass(frozen=True)
class _Computed:
    """One solve's outcome: the Plan, and its actions with the facts they came from."""

    pairs: Tuple[Tuple[Action, Change], ...]
    protected_removals: Tuple[str, ...]
    plan: Plan

    @property
    def later(self) -> List[Tuple[Change, Action]]:
        return [(c, a) for a, c in self.pairs if a.deferred]


def _bind(prep: _Prepared, session: Session, profile: Profile) -> policy.Binding:
    errata = prep.errata
    if errata is None:
        return policy.Binding({})
    family = policy.KERNEL_FAMILY[FAMILY[prep.name]]
    knames = session.offering(family, errata.kernel) if errata.kernel and family else ()
    cands = policy.errata_candidates(errata.pins, errata.kernel, knames)
    offers = session.offers(sorted((n, p.evr) for n, p in cands.items()))
    return policy.bind_errata(cands, offers, profile.packages, errata.set_id)


def _solve(profile: Profile, opts: Options, prep: _Prepared, session: Session) -> _Computed:
    t0 = time.monotonic()
    policy.check_repo_pins(
        {r.name: r.metadata_sha256 for r in profile.repositories}, session.repo_fingerprints
    )
    binding = _bind(prep, session, profile)
    facts = session.solve(binding.pins)
    if facts.installed is not None:
        # every declaration holds in the plan's final state, or the plan is no success (exit 4)
        invariant.check(prep.request, facts.installed, facts.changes, session.version_matches,
                        list(binding.pins.values()), binding.set_id)  # fmt: skip
    explainer = policy.Explainer(profile.packages, binding, profile.userpkgs)
    pairs = sorted(((explainer.action(c), c) for c in facts.changes), key=lambda p: p[0].sort_key())
    changes = [c for _a, c in pairs]
    deferred = {} if opts.boot else deferral.split(session, changes, boot_only(profile, prep.name))
    actions = policy.defer([a for a, _c in pairs], changes, deferred)
    notes = (
        policy.errata_notes(binding, actions)
        + policy.obsolete_notes(facts.would_obsolete)
        + list(facts.notes)
    )
    inputs = _inputs(profile, prep, session.installed_fingerprint, session.repo_fingerprints)
    result = Plan(
        prep.name, prep.root, "boot" if opts.boot else "live", inputs, tuple(actions), tuple(notes)
    )
    s = result.summary
    step("solve", seconds="%.3f" % (time.monotonic() - t0), actions=s["total"], install=s["install"],
         upgrade=s["upgrade"], downgrade=s["downgrade"], remove=s["remove"], deferred=s["deferred"])  # fmt: skip
    protected = tuple(policy.protected_removals(FAMILY[prep.name], changes))
    return _Computed(tuple(zip(actions, changes)), protected, result)


def _host_settings(profile: Profile, opts: Options, prep: _Prepared, planned: Plan) -> Plan:
    """The root's own package settings that contradict the profile: notes, a refusal for a
    protected package the plan removes, errors when the site asks for that."""
    from spma import preflight
    from spma.errors import ResolveError, SafetyError

    found = preflight.check(profile, prep.root, prep.name, [a.to_json() for a in planned.actions])
    if not found:
        return planned
    planned = dataclasses.replace(
        planned,
        notes=tuple(c.note() for c in found) + planned.notes,
        host_settings=tuple(c.to_json() for c in found),
    )
    step("host-settings", contradictions=len(found))
    refused = [c for c in found if c.refuse]
    if refused:
        raise SafetyError(
            "the plan removes packages this host protects:\n  " + "\n  ".join(c.note() for c in refused),
            hint="declare them (or whitelist them) in the profile, or remove the host's protection; "
            "nothing was changed",
            problems=[c.to_json() for c in refused],
        )
    if (opts.host_settings or profile.host_settings) == "error":
        raise ResolveError(
            "the host's own package settings contradict the profile:\n  "
            + "\n  ".join(c.note() for c in found),
            hint="change the host files or the profile values named above; or set "
            "/software/components/spma/host_settings (or --host-settings) to note",
            problems=[c.to_json() for c in found],
        )
    return planned


def _inputs(profile: Profile, prep: _Prepared, installed: str, repos: Tuple[Tuple[str, str], ...]) -> Inputs:
    return Inputs(
        profile="sha256:" + profile.sha256,
        installed=installed,
        repositories=tuple(sorted(repos)),
        options=options_fingerprint(prep.options),
        errata=prep.errata.digest if prep.errata else None,
    )


def _unchanged(profile: Profile, opts: Options, prep: _Prepared) -> Optional[Inputs]:
    """The no-op fast path: the inputs of the last successful apply, if nothing moved since."""
    try:
        last = state.read_state(prep.root)
    except SpmaError as e:  # another spma's state file: never half-used, solve in full instead
        log.warning("%s (%s)", e, e.hint)
        return None
    if not last or last.get("result") not in ("applied", "unchanged") or not last.get("inputs"):
        return None
    # never while the package database reports unfinished work: dpkg or rpm stopped part way
    # since, and only a solve plans the repair
    unfinished = prep.backend.unfinished()
    if unfinished:
        step("fast-path", unchanged=False, unfinished=len(unfinished))
        return None
    t0 = time.monotonic()
    installed, repos = prep.backend.quick_inputs(prep.request)
    policy.check_repo_pins({r.name: r.metadata_sha256 for r in profile.repositories}, repos)
    current = _inputs(profile, prep, installed, repos)
    want = current.to_json()
    same = {k: last["inputs"].get(k) for k in want} == want
    step("fast-path", unchanged=same, seconds="%.3f" % (time.monotonic() - t0))
    return current if same else None


def _existing_root(opts: Options) -> None:
    """`--root DIR` must name an existing directory, for plan and apply alike and on both
    backends: a mistyped root is refused before anything is written, never silently turned into
    a fresh, empty system. An empty sandbox root is made with mkdir first. A root spma may not
    enter is the environment's problem (spma.faults names the path), not a missing one."""
    import stat as stat_

    root = os.path.abspath(opts.root)
    try:
        st = os.stat(root)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    if st is None or not stat_.S_ISDIR(st.st_mode):
        raise UsageError(
            "--root %s does not exist or is not a directory" % root,
            hint="create it first (mkdir -p %s) for an empty root, or fix the --root path" % root,
        )


def _watched(root: str) -> List[str]:
    """The file systems a run writes to before its transaction: where a full disk shows."""
    return [state.state_dir(root), os.path.join(root, "var"), root]


def plan(source: str, opts: Options, *, stdin: Any = None) -> Result:
    with faults.environment(_watched(os.path.abspath(opts.root))):
        _existing_root(opts)
        profile = _load(source, opts, stdin)
        warnings = _check_options(profile, opts)
        prep = _prepare(profile, opts)
        with prep.backend.session(prep.request, execute=False) as session:
            computed = _solve(profile, opts, prep, session)
    planned = _host_settings(profile, opts, prep, computed.plan)
    try:
        policy.safety(profile, planned.actions, computed.protected_removals)
        refusal = None
    except SafetyError as e:
        refusal = e
    return Result("plan", planned, applied=False, warnings=warnings, refusal=refusal)


def apply(source: str, opts: Options, *, stdin: Any = None, progress: Optional[ProgressFn] = None) -> Result:
    """Before the transaction an environment problem is a clear error naming the path; after
    it, the host has changed and the exit says so (spma.faults)."""
    with faults.environment(_watched(os.path.abspath(opts.root))):
        _existing_root(opts)
        return _apply(source, opts, stdin=stdin, progress=progress)


def _apply(
    source: str, opts: Options, *, stdin: Any = None, progress: Optional[ProgressFn] = None
) -> Result:
    profile = _load(source, opts, stdin)
    warnings = _check_options(profile, opts)
    saved = load_plan(opts.plan_file) if opts.plan_file else None
    root = os.path.abspath(opts.root)
    if opts.splay > 0:
        import random  # an agent's splay only: not in a plan's start

        delay = random.uniform(0, opts.splay)
        step("splay", seconds="%.1f" % delay)
        time.sleep(delay)
    with state.run_lock(root, opts.lock_timeout):
        step("lock", path=state.lock_path(root))
        run = _Apply(profile, opts, _prepare(profile, opts), saved, progress)
        try:
            planned, applied, noop = run.run()
        except SpmaError as e:
            if not isinstance(e, TransactionError) and run.planned is not None:
                _record(root, run.planned, "refused", run.started, error=e)
            step("done", result="error", exit=e.exit_code)
            raise
        return Result("apply", planned, applied=applied, warnings=warnings + run.warnings, noop=noop)


class _Apply:
    """One apply under the lock: fast path, solve, checks, live transaction, repository files,
    the deferred part."""

    def __init__(self, profile: Profile, opts: Options, prep: _Prepared, saved: Optional[Plan],
                 progress: Optional[ProgressFn]) -> None:  # fmt: skip
        self.profile, self.opts, self.prep, self.saved, self.progress = profile, opts, prep, saved, progress
        self.root = prep.root
        self.started = time.time()
        self.planned: Optional[Plan] = None
        self.warnings: List[str] = []
        self._before: Optional[Any] = None  # the installed set before the transaction (post-apply check)

    def run(self) -> Tuple[Plan, bool, bool]:
        """(the plan, applied, no-op)."""
        opts, prep = self.opts, self.prep
        fast = opts.agent if opts.fast is None else opts.fast
        current = _unchanged(self.profile, opts, prep) if fast and self.saved is None else None
        if current is not None:
            noop = Plan(prep.name, prep.root, "boot" if opts.boot else "live", current, (),
                        ("nothing changed since the last successful apply: not solved",))  # fmt: skip
            _record(self.root, noop, "unchanged", self.started)
            step("done", result="unchanged", note="nothing changed since the last successful apply")
            return noop, False, True
        with prep.backend.session(prep.request) as session:
            computed = _solve(self.profile, opts, prep, session)
            self.planned = planned = computed.plan
            # after self.planned: a refusal by the host's own settings is recorded like any other
            self.planned = planned = _host_settings(self.profile, opts, prep, planned)
            if self.saved is not None:
                check_stale(self.saved, planned, opts.plan_file or "")
            policy.safety(self.profile, planned.actions, computed.protected_removals)
            step("safety", removals=planned.summary["remove"])
            if not self.profile.run:
                log.warning("%s: run is 'no': the plan is recorded, nothing is changed", self.profile.source)
                _record(self.root, planned, "planned-only", self.started)
                step("done", result="planned-only")
                return planned, False, False
            post_fp = self._change(session, computed)
            planned = self.planned or planned  # with the post-apply check's finding, if any
        # what the host is now, so the next run's fast path can compare against it
        live = len(planned.live)
        if not _record(self.root, planned, "applied", self.started, installed=post_fp) and live:
            self.warnings.append("the transaction was applied, but its state could not be recorded under %s: "
                                 "`spma status` shows an earlier run until a later one records" % state.state_dir(self.root))  # fmt: skip
        if live:
            self._history(dict(planned.to_json(), result="applied"))
        step("done", result="applied", actions=live, deferred=len(planned.deferred),
             reboot_required=planned.reboot_required)  # fmt: skip
        return planned, True, False

    def _change(self, session: Session, computed: _Computed) -> str:
        """The live transaction, the repository files and the deferred part; the installed
        fingerprint after."""
        planned = self.planned or computed.plan
        self._before = convergence.snapshot(self.prep.backend) if planned.live else None
        try:
            if planned.live:
                t0 = time.monotonic()
                session.execute(self.progress)
                step("transaction", actions=len(planned.live), seconds="%.3f" % (time.monotonic() - t0))
        except TransactionError as e:
            _record(self.root, planned, "failed", self.started, error=e)
            self._history(dict(planned.to_json(), result="failed", error=str(e)))
            raise
        # from here on the host has changed (when there was a live part): a failure is reported
        # as such, never as "nothing was changed" or an internal error
        live = len(planned.live)
        try:
            return self._after(session, computed, live)
        except (OSError, SpmaError) as e:
            if not live:
                raise
            err = faults.after_commit(e, self.root)
            _record(self.root, planned, "failed", self.started, error=err)
            self._history(dict(planned.to_json(), result="applied-incomplete", error=str(err)))
            raise err from e

    def _after(self, session: Session, computed: _Computed, live: int) -> str:
        """The repository files and the deferred part; the installed fingerprint after."""
        planned, repos = computed.plan, self.prep.request.repositories
        repofiles.write(
            self.prep.backend.repo_files(repos), userrepos=self.profile.userrepos, root=self.root
        )
        step("repositories", written=len(repos), userrepos=self.profile.userrepos)
        post_fp: str = self.prep.backend.installed_fingerprint() if live else planned.inputs.installed
        live_actions = [a.to_json() for a in planned.live]
        diff = convergence.check_after_apply(self.prep.backend, self._before, live_actions)
        if diff is not None and self.planned is not None:
            self.planned = _post_apply(self.planned, diff)
        if computed.later:
            inputs = dataclasses.replace(planned.inputs, installed=post_fp).to_json()
            deferral.save(
                self.root, backend=self.prep.name, session=session, later=computed.later, inputs=inputs
            )
        else:
            deferral.clear(self.root)
        return post_fp

    def _history(self, entry: Dict[str, Any]) -> None:
        """Keep the plan in the history; a failure here is a loud warning, not an error: by now
        the host has changed, or the error being reported matters more."""
        try:
            state.record_history(self.root, entry, keep=self.opts.history_keep)
        except OSError as e:
            hdir = os.path.join(state.state_dir(self.root), "history")
            msg = "the history entry could not be written: %s" % (faults.explain_oserror(e, hdir) or e)
            log.warning("%s", msg)
            self.warnings.append(msg)


def _post_apply(planned: Plan, diff: Dict[str, List[str]]) -> Plan:
    """Carry a difference between the package database and the plan into the result, the state
    file and the history entry (the plan is exactly what happens)."""
    step(
        "post-apply-check",
        result="differs",
        missing=len(diff["missing"]),
        unexpected=len(diff["unexpected"]),
    )
    return dataclasses.replace(planned, post_apply=diff, notes=planned.notes + (convergence.describe(diff),))


def _record(root: str, planned: Plan, result: str, started: float, error: Optional[BaseException] = None,
            installed: Optional[str] = None) -> bool:  # fmt: skip
    inputs = (
        planned.inputs if installed is None else dataclasses.replace(planned.inputs, installed=installed)
    )
    entry: Dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration": round(time.time() - started, 3),
        "result": result,
        "backend": planned.backend,
        "mode": planned.mode,
        "inputs": inputs.to_json(),
        "summary": planned.summary,
        "reboot_required": planned.reboot_required,
    }
    if error is not None:
        entry["error"] = str(error)
    if planned.post_apply:
        entry["post_apply"] = planned.post_apply
    try:
        state.record_state(root, entry)
    except OSError as e:
        log.warning("could not write state under %s: %s", state.state_dir(root),
                    faults.explain_oserror(e, state.state_dir(root)) or e)  # fmt: skip
        return False
    return True


def status(root: str) -> Dict[str, Any]:
    root = os.path.abspath(root)
    # read-only: a damaged file is reported, never moved
    last = state.read_state(root, set_aside=False)
    return {
        "format": "spma-status/1",
        "root": root,
        "pending_boot": deferral.status(root),
        "reboot_required": rootfs.exists(root, "run/reboot-required"),
        "last_run": last,
        "history": [os.path.basename(p) for p in state.list_history(root)][-10:],
    }
