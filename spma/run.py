"""One run: profile -> desired state -> solved plan -> (apply). The CLI and the Python API
both call `plan()` / `apply()` and render the same `Result`."""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from spma import deferral, invariant, policy, repofiles, state
from spma.backend import Backend, ProgressFn, Session, load_backend, resolve_backend_name
from spma.deferral import boot  # noqa: F401 - the CLI's and the API's entry point
from spma.errors import ProfileError, SpmaError, TransactionError
from spma.model import Action, Change, ErrataPin, Profile, SolveRequest
from spma.plan import check_stale, envelope, load_plan
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


def _request(profile: Profile, opts: Options, backend: str) -> SolveRequest:
    return SolveRequest(
        packages=profile.packages,
        repositories=profile.repositories,
        userpkgs=profile.userpkgs,
        protected=policy.protected_globs(FAMILY[backend], profile.whitelist),
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
        try:
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                for line in f.read(65536).splitlines():
                    k, sep, v = line.partition("=")
                    if sep:
                        fields[k.strip()] = v.strip().strip("\"'")
            break
        except OSError:
            continue
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
    name: str
    root: str
    errata: Optional[_Errata]
    backend: Backend
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
    if errata is not None:
        wrong = release_mismatch(errata.os, root)
        if wrong:
            raise ProfileError("%s (%s): %s" % (errata.source, errata.set_id, wrong),
                               hint="use the version set generated for the root's own release")  # fmt: skip
    backend = load_backend(name, root=root, statedir=state.state_dir(root))
    options = {"backend": name, "boot": opts.boot, "errata": errata.source if errata else None}
    return _Prepared(name, root, errata, backend, _request(profile, opts, name), options)


@dataclass(frozen=True)
class _Computed:
    """One solve's outcome: the actions with the facts they came from, and the plan envelope."""

    pairs: Tuple[Tuple[Action, Change], ...]
    protected_removals: Tuple[str, ...]
    env: Dict[str, Any]

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
    env = envelope(
        backend=prep.name,
        root=prep.root,
        mode="boot" if opts.boot else "live",
        profile_sha256=profile.sha256,
        actions=actions,
        installed=session.installed_fingerprint,
        repositories=session.repo_fingerprints,
        notes=notes,
        options=prep.options,
    )
    env["inputs"]["errata"] = prep.errata.digest if prep.errata else None
    s = env["summary"]
    step("solve", seconds="%.3f" % (time.monotonic() - t0), actions=s["total"], install=s["install"],
         upgrade=s["upgrade"], downgrade=s["downgrade"], remove=s["remove"], deferred=s["deferred"])  # fmt: skip
    protected = tuple(policy.protected_removals(FAMILY[prep.name], changes))
    return _Computed(tuple(zip(actions, changes)), protected, env)


def _unchanged(profile: Profile, opts: Options, prep: _Prepared) -> Optional[Dict[str, Any]]:
    """The no-op fast path: the inputs of the last successful apply, if nothing moved since."""
    last = state.read_json(os.path.join(state.state_dir(prep.root), "state.json"))
    if not last or last.get("result") not in ("applied", "unchanged") or not last.get("inputs"):
        return None
    t0 = time.monotonic()
    installed, repos = prep.backend.quick_inputs(prep.request)
    policy.check_repo_pins({r.name: r.metadata_sha256 for r in profile.repositories}, repos)
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
    prep = _prepare(profile, opts)
    with prep.backend.session(prep.request) as session:
        computed = _solve(profile, opts, prep, session)
    return Result("plan", computed.env, applied=False, warnings=warnings)


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
        run = _Apply(profile, opts, _prepare(profile, opts), saved, progress)
        try:
            env, applied, noop = run.run()
        except SpmaError as e:
            if not isinstance(e, TransactionError) and run.env is not None:
                _record(root, run.env, "refused", run.started, error=e)
            step("done", result="error", exit=e.exit_code)
            raise
        return Result("apply", env, applied=applied, warnings=warnings, noop=noop)


class _Apply:
    """One apply under the lock: fast path, solve, checks, live transaction, repository files,
    the deferred part."""

    def __init__(self, profile: Profile, opts: Options, prep: _Prepared, saved: Optional[Dict[str, Any]],
                 progress: Optional[ProgressFn]) -> None:  # fmt: skip
        self.profile, self.opts, self.prep, self.saved, self.progress = profile, opts, prep, saved, progress
        self.root = prep.root
        self.started = time.time()
        self.env: Optional[Dict[str, Any]] = None

    def run(self) -> Tuple[Dict[str, Any], bool, bool]:
        """(plan envelope, applied, no-op)."""
        opts, prep = self.opts, self.prep
        fast = opts.agent if opts.fast is None else opts.fast
        current = _unchanged(self.profile, opts, prep) if fast and self.saved is None else None
        if current is not None:
            env = _noop_envelope(prep, opts, current)
            _record(self.root, env, "unchanged", self.started)
            step("done", result="unchanged", note="nothing changed since the last successful apply")
            return env, False, True
        with prep.backend.session(prep.request) as session:
            computed = _solve(self.profile, opts, prep, session)
            self.env = env = computed.env
            if self.saved is not None:
                check_stale(self.saved, env, opts.plan_file or "")
            policy.safety(self.profile, _actions(env), computed.protected_removals)
            step("safety", removals=env["summary"]["remove"])
            if not self.profile.run:
                log.warning("%s: run is 'no': the plan is recorded, nothing is changed", self.profile.source)
                _record(self.root, env, "planned-only", self.started)
                step("done", result="planned-only")
                return env, False, False
            post_fp = self._change(session, computed)
        # what the host is now, so the next run's fast path can compare against it
        _record(self.root, dict(env, inputs=dict(env["inputs"], installed=post_fp)), "applied", self.started)
        live = env["summary"]["total"] - env["summary"]["deferred"]
        if live:
            state.record_history(self.root, dict(env, result="applied"), keep=opts.history_keep)
        step("done", result="applied", actions=live, deferred=env["summary"]["deferred"],
             reboot_required=env["reboot_required"])  # fmt: skip
        return env, True, False

    def _change(self, session: Session, computed: _Computed) -> str:
        """The live transaction, the repository files and the deferred part; the installed
        fingerprint after."""
        env = computed.env
        live = env["summary"]["total"] - env["summary"]["deferred"]
        try:
            if live:
                t0 = time.monotonic()
                session.execute(self.progress)
                step("transaction", actions=live, seconds="%.3f" % (time.monotonic() - t0))
        except TransactionError as e:
            _record(self.root, env, "failed", self.started, error=e)
            state.record_history(
                self.root, dict(env, result="failed", error=str(e)), keep=self.opts.history_keep
            )
            raise
        repofiles.write(
            self.prep.backend.repo_files(self.profile.repositories), userrepos=self.profile.userrepos
        )
        step("repositories", written=len(self.profile.repositories), userrepos=self.profile.userrepos)
        post_fp: str = self.prep.backend.installed_fingerprint() if live else env["inputs"]["installed"]
        if computed.later:
            inputs = dict(env["inputs"], installed=post_fp)
            deferral.save(
                self.root, backend=self.prep.name, session=session, later=computed.later, inputs=inputs
            )
        else:
            deferral.clear(self.root)
        return post_fp


def _actions(env: Dict[str, Any]) -> List[Action]:
    return [Action.from_json(a) for a in env["actions"]]


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
    return {
        "format": "spma-status/1",
        "root": root,
        "pending_boot": deferral.status(root),
        "reboot_required": os.path.exists(os.path.join(root, "run/reboot-required")),
        "last_run": last,
        "history": [os.path.basename(p) for p in state.list_history(root)][-10:],
    }
