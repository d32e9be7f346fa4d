"""The site's view over many hosts' inventories: exposure (`fleet report`) and what-if plans
(`fleet plan`).

A fleet plan plans each host exactly as `spma plan` would on the host itself: the inventory is
materialised into a private root (the rpmdb rebuilt from the recorded headers, or dpkg's
status and apt's auto marks), and spma's own planning entry point (spma.run.plan) runs on it.
The package manager's metadata cache is shared by all the hosts a worker plans, so each
distinct set of repositories is downloaded and parsed once per worker; the hosts are a map
over local worker processes or a Dask cluster (the same submit/as_completed interface).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import shutil
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

from spma import inventory
from spma.errors import ProfileError, SpmaError

log = logging.getLogger("spma.fleet")

FLEET_PLAN_FORMAT = "spma-fleet-plan/1"
FLEET_REPORT_FORMAT = "spma-fleet-report/1"


# -- report --------------------------------------------------------------------------------
def _sync_state(doc: Dict[str, Any]) -> Tuple[str, Optional[str]]:
    """(state, time of the last run): in-sync, changed (the installed packages moved since the
    last successful run), failed (the last run did not apply), never-run."""
    last = doc.get("last_run")
    if not isinstance(last, dict):
        return "never-run", None
    when = last.get("time") if isinstance(last.get("time"), str) else None
    if last.get("result") not in ("applied", "unchanged"):
        return "failed", when
    inputs = last.get("inputs")
    if not isinstance(inputs, dict) or inputs.get("installed") != inventory.installed_fingerprint(doc):
        return "changed", when
    return "in-sync", when


SEVERITIES = ("critical", "important", "moderate", "low", "unknown")


def _host_row(
    name: str, inv: inventory.Inventory, m: Any, off: Any, by_adv: Dict[str, Dict[str, Any]]
) -> Dict[str, Any]:
    """One host's line of the report; adds the host to each advisory that applies to it."""
    from spma.errata import report as rep

    by_hit = rep.find_hits([(p["name"], p["arch"], p["evr"]) for p in inv.doc["packages"]], m)
    counts = {s: 0 for s in SEVERITIES}
    reboot = False
    for adv_id, hs in by_hit.items():
        entry = by_adv.get(adv_id)
        if entry is None:
            a = m.advisories[adv_id]
            entry = by_adv[adv_id] = {"id": a.id, "type": a.type, "severity": rep.severity(a),
                                      "cves": list(a.cves), "title": a.title,
                                      "issued": a.issued.isoformat() if a.issued else None,
                                      "hosts": [], "packages": {}, "reboot": False, "offered": None}  # fmt: skip
        entry["hosts"].append(name)
        counts[entry["severity"]] += 1
        for h in hs:
            reboot = reboot or h.reboot
            entry["reboot"] = entry["reboot"] or h.reboot
            fixed = entry["packages"].get(h.name)
            if fixed is None or (fixed != h.fixed and m.cmp(h.fixed, fixed) > 0):
                entry["packages"][h.name] = h.fixed
            if off is not None and entry["offered"] is not False:
                entry["offered"] = off.offers(h.name, h.arch, h.fixed)
    state, when = _sync_state(inv.doc)
    osd = inv.doc["os"]
    return {
        "name": name, "os": "%s %s" % (osd.get("id", ""), osd.get("version_id", "")),
        "running_kernel": inv.running_kernel, "packages": len(inv.doc["packages"]),
        "worst": next((s for s, n in counts.items() if n), None), "counts": counts, "reboot_required": reboot,
        "advisories": sorted(by_hit), "state": state, "last_run": when,
    }  # fmt: skip


def report(src: str, *, source: str, inputs: List[str], ecosystem: Optional[str] = None,
           release: Optional[str] = None, indexes: Optional[List[str]] = None,
           repos: Optional[List[str]] = None, min_severity: Optional[str] = None,
           types: Optional[List[str]] = None) -> Dict[str, Any]:  # fmt: skip
    from spma.errata import report as rep
    from spma.errata.problems import Problems

    t0 = time.monotonic()
    matchers: Dict[Optional[str], Any] = {}
    offered: Dict[str, Any] = {}
    problems = Problems()
    hosts: List[Dict[str, Any]] = []
    by_adv: Dict[str, Dict[str, Any]] = {}
    bad: List[Dict[str, str]] = []
    for name, data in inventory.load_dir_or_tarball(src):
        try:
            inv = inventory.loads(data, name)
        except ProfileError as e:
            bad.append({"host": name, "error": e.message})
            continue
        osd = inv.doc["os"]
        eco = ecosystem
        if source == "osv" and not eco:
            eco = rep.default_ecosystem(osd.get("id", ""), osd.get("version_id", ""))
        m = matchers.get(eco)
        if m is None:
            advs, family = rep.read_advisories(source, inputs, ecosystem=eco, release=release,
                                               indexes=indexes or (), problems=problems)  # fmt: skip
            m = matchers[eco] = rep.Matcher(advs, family, min_severity=min_severity, types=types)
        if m.family != inv.family:
            bad.append(
                {"host": name, "error": "a %s host; the %s advisories do not apply" % (inv.family, source)}
            )
            continue
        if repos and m.family not in offered:
            offered[m.family] = rep.Offered(m.family, repos)
        hosts.append(_host_row(name, inv, m, offered.get(m.family), by_adv))
    advisories = sorted(
        by_adv.values(), key=lambda a: (SEVERITIES.index(a["severity"]), -len(a["hosts"]), a["id"])
    )
    return {
        "format": FLEET_REPORT_FORMAT,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": {
            "kind": source,
            "inputs": [os.path.basename(i.rstrip("/")) for i in inputs],
            "advisories": sum(len(m.advisories) for m in matchers.values()),
            "repositories": list(repos or []),
        },  # fmt: skip
        "summary": _report_summary(hosts, advisories, len(bad), time.monotonic() - t0),
        "advisories": advisories,
        "hosts": sorted(hosts, key=lambda h: h["name"]),
        "unreadable": bad,
        "problems": [{"input": p[0], "problem": p[1]} for p in problems.items],
    }


def _report_summary(hosts: List[Dict[str, Any]], advisories: List[Dict[str, Any]], unreadable: int,
                    seconds: float) -> Dict[str, Any]:  # fmt: skip
    return {
        "hosts": len(hosts),
        "exposed_hosts": sum(1 for h in hosts if h["advisories"]),
        "hosts_by_worst": {s: sum(1 for h in hosts if h["worst"] == s) for s in SEVERITIES},
        "advisories_by_severity": {s: sum(1 for a in advisories if a["severity"] == s) for s in SEVERITIES},
        "hosts_by_state": {s: sum(1 for h in hosts if h["state"] == s)
                           for s in ("in-sync", "changed", "failed", "never-run")},
        "unreadable": unreadable,
        "seconds": round(seconds, 3),
    }  # fmt: skip


def report_text(rep: Dict[str, Any]) -> str:
    s = rep["summary"]
    lines = ["%d hosts, %d exposed; by worst advisory: %s" % (s["hosts"], s["exposed_hosts"], ", ".join(
        "%d %s" % (n, k) for k, n in s["hosts_by_worst"].items() if n) or "none")]  # fmt: skip
    lines.append("%d advisories apply: %s" % (len(rep["advisories"]), ", ".join(
        "%d %s" % (n, k) for k, n in s["advisories_by_severity"].items() if n) or "none"))  # fmt: skip
    lines.append(
        "state since the last run: %s" % ", ".join("%d %s" % (n, k) for k, n in s["hosts_by_state"].items())
    )
    for a in rep["advisories"][:20]:
        lines.append(
            "  %-16s %-9s %4d hosts  %s" % (a["id"], a["severity"], len(a["hosts"]), a["title"][:60])
        )
    if len(rep["advisories"]) > 20:
        lines.append("  ... and %d more (see the JSON or HTML report)" % (len(rep["advisories"]) - 20))
    for b in rep["unreadable"]:
        lines.append("unreadable inventory %s: %s" % (b["host"], b["error"]))
    return "\n".join(lines) + "\n"


# -- plan ----------------------------------------------------------------------------------
_WORKER: Dict[str, Any] = {}  # per worker process: its private root and metadata cache


def _cleanup(path: str) -> None:
    """Remove a worker's scratch directory when the worker ends: atexit for the main process,
    multiprocessing's finalizers for a worker process (which leaves through os._exit)."""
    import multiprocessing.util

    atexit.register(shutil.rmtree, path, True)
    multiprocessing.util.Finalize(None, shutil.rmtree, args=(path, True), exitpriority=0)


def _worker_dirs() -> Tuple[str, str]:
    """A private root per worker process, reused host after host, and the package-manager
    cache every host of this worker shares (keyed by repository by dnf/apt themselves)."""
    pid = os.getpid()
    if _WORKER.get("pid") != pid:
        base = tempfile.mkdtemp(prefix="spma-fleet-")
        _cleanup(base)
        # The scratch root is rewritten for every host: in memory where there is a tmpfs, since
        # rebuilding an rpmdb on disk is mostly waiting for fsync.
        shm = "/dev/shm"
        rbase = tempfile.mkdtemp(prefix="spma-fleet-root-", dir=shm) if os.access(shm, os.W_OK) else base
        if rbase != base:
            _cleanup(rbase)
        _WORKER.update(pid=pid, root=os.path.join(rbase, "root"), cache=os.path.join(base, "cache"))
        os.makedirs(_WORKER["cache"])
    return _WORKER["root"], _WORKER["cache"]


def _prepare_root(inv: inventory.Inventory) -> str:
    root, cache = _worker_dirs()
    inventory.materialise(inv, root)
    sdir = os.path.join(root, "var/lib/spma")
    # the last run's state would change nothing in a plan, but the host's own root has it
    shutil.rmtree(sdir, ignore_errors=True)
    os.makedirs(sdir)
    os.symlink(cache, os.path.join(sdir, "cache"))
    return root


def _same_file(path: str, data: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(data) + 1) == data
    except OSError:
        return False


def plan_one(name: str, inv_bytes: bytes, profile_bytes: bytes, profile_name: str, errata: Optional[str],
             boot: bool) -> Tuple[str, Dict[str, Any]]:  # fmt: skip
    """One host: the spma-plan/1 envelope `spma plan` writes for it, or the error it would give."""
    from spma import run

    try:
        inv = inventory.loads(inv_bytes, name)
        root = _prepare_root(inv)
        opts = run.Options(root=root, backend=inv.backend, boot=boot, errata=errata,
                           running_kernel=inv.running_kernel or "")  # fmt: skip
        # the profile's own path where this worker can read it (messages name it, as spma plan's
        # do); on a remote worker, its bytes
        source = profile_name if _same_file(profile_name, profile_bytes) else "-"
        result = run.plan(source, opts, stdin=io.BytesIO(profile_bytes))
        env = dict(result.plan)
        # the plan of the host itself names the host's root, not the worker's scratch root
        env["root"] = inv.root
        return name, env
    except SpmaError as e:
        return name, {"error": {"exit": e.exit_code, "phase": e.phase, "message": e.message, "hint": e.hint}}
    except Exception as e:  # noqa: BLE001 - one host's bug must not lose the other hosts' plans
        log.debug("fleet plan of %s", name, exc_info=True)
        return name, {"error": {"exit": 1, "phase": "internal", "message": "internal error (a bug in spma): "
                                "%s: %s" % (type(e).__name__, e), "hint": "rerun with --debug and report it"}}  # fmt: skip


@contextlib.contextmanager
def executor(workers: Optional[int] = None, scheduler: Optional[str] = None) -> Iterator[Tuple[Any, Any]]:
    """(executor, as_completed): local processes, or a Dask cluster through the same interface."""
    if scheduler:
        try:
            from distributed import Client, as_completed
        except ImportError as e:
            raise ProfileError(
                "--scheduler needs Dask distributed: %s" % e,
                hint="install the optional extra: pip install 'spma[fleet]' (or python3-distributed)",
            ) from e
        try:
            client = Client(scheduler, timeout=30)
        except OSError as e:
            raise ProfileError("cannot reach the Dask scheduler %s: %s" % (scheduler, e)) from e
        try:
            yield client, as_completed
        finally:
            client.close()
        return
    import concurrent.futures as cf

    # The parent loads no package-manager library before the workers start (it only reads
    # inventories and profiles), so forked workers start clean.
    with cf.ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as ex:
        yield ex, cf.as_completed


def _profiles(
    names: List[str], profile: Optional[str], profile_dir: Optional[str]
) -> Dict[str, Tuple[str, bytes]]:
    from spma.profile import read_source

    out: Dict[str, Tuple[str, bytes]] = {}
    if profile:
        data = read_source(profile)
        return {n: (profile, data) for n in names}
    assert profile_dir is not None
    for n in names:
        for ext in (".json", ".xml"):
            p = os.path.join(profile_dir, n + ext)
            if os.path.isfile(p):
                out[n] = (p, read_source(p))
                break
    return out


def plan_fleet(src: str, *, profile: Optional[str] = None, profile_dir: Optional[str] = None,
               errata: Optional[str] = None, boot: bool = False, workers: Optional[int] = None,
               scheduler: Optional[str] = None) -> Dict[str, Any]:  # fmt: skip
    t0 = time.monotonic()
    blobs = inventory.load_dir_or_tarball(src)
    profiles = _profiles([n for n, _ in blobs], profile, profile_dir)
    hosts: Dict[str, Any] = {}
    with executor(workers, scheduler) as (ex, as_completed):
        futures = []
        for name, data in blobs:
            if name not in profiles:
                hosts[name] = {"error": {"exit": 3, "phase": "profile", "hint": "add NAME.json to --profile-dir",
                                         "message": "no profile for %s in %s" % (name, profile_dir)}}  # fmt: skip
                continue
            pname, pdata = profiles[name]
            futures.append(ex.submit(plan_one, name, data, pdata, pname, errata, boot))
        for fut in as_completed(futures):
            name, env = fut.result()
            hosts[name] = env
    return {
        "format": FLEET_PLAN_FORMAT,
        "hosts": dict(sorted(hosts.items())),
        "summary": _plan_summary(hosts, time.monotonic() - t0),
    }


def _plan_summary(hosts: Dict[str, Any], seconds: float) -> Dict[str, Any]:
    ok = {n: e for n, e in hosts.items() if "error" not in e}
    return {
        "hosts": len(hosts),
        "change": sorted(n for n, e in ok.items() if e["summary"]["total"]),
        "unchanged": sorted(n for n, e in ok.items() if not e["summary"]["total"]),
        "reboot": sorted(n for n, e in ok.items() if e["reboot_required"]),
        "errors": {n: e["error"]["exit"] for n, e in sorted(hosts.items()) if "error" in e},
        "seconds": round(seconds, 3),
    }


def plan_text(doc: Dict[str, Any]) -> str:
    from spma.model import ACTIONS

    rows: List[Tuple[str, ...]] = [("host", "result") + ACTIONS + ("reboot",)]
    for name, env in doc["hosts"].items():
        if "error" in env:
            rows.append((name, "exit %d" % env["error"]["exit"]) + ("",) * len(ACTIONS) + ("",))
            continue
        s = env["summary"]
        rows.append((name, "changes" if s["total"] else "none") + tuple(str(s[a]) for a in ACTIONS)
                    + ("yes" if env["reboot_required"] else "",))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    s = doc["summary"]
    lines.append("%d hosts: %d change, %d unchanged, %d need a reboot, %d cannot be planned (%.1fs)" % (
        s["hosts"], len(s["change"]), len(s["unchanged"]), len(s["reboot"]), len(s["errors"]), s["seconds"]))  # fmt: skip
    for name, env in doc["hosts"].items():
        if "error" in env:
            lines.append("%s: exit %d: %s" % (name, env["error"]["exit"], env["error"]["message"]))
    return "\n".join(lines) + "\n"
