"""Benchmark: `spma fleet plan` for N hosts built from the corpus's real `rpm -qa` lists on the
real CentOS Stream 9 metadata (bench/fleet_hosts.py), against a whole `spma plan` process per
host on a real root in the same installed state, in the same run. Also checks, for the
sampled hosts, that the fleet's envelope is exactly the one `spma plan` printed.

Figures: ms per host per core, as CPU time (user + system, of the whole process tree: on a
shared machine wall time mostly measures the other users). The fleet side is the whole
`spma fleet plan` process (workers started, every inventory read, each host's root rebuilt and
planned, JSON written) divided by N; the peer is a `spma plan` process per host on a sample of
the same hosts, each on a real root in the recorded state, warm metadata cache. Wall times are
printed too. Not a test: it prints figures and the ratio.

    .venv/bin/python bench/fleet_plan.py [--hosts 1000] [--sample 20] [--workers 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_hosts  # noqa: E402 - bench/ is not a package


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=20, help="hosts also planned by a spma plan process each")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", help="keep the generated fleet here and reuse it")
    args = ap.parse_args()
    if not fleet_hosts.REPODATA.is_dir():
        print("corpus not found at %s (set SPMA_CORPUS)" % fleet_hosts.CORPUS, file=sys.stderr)
        return 2
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="spma-bench-fleet-plan-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        inv, prof = work / "inventories", work / "profiles"
        if not (inv.is_dir() and len(list(inv.glob("*.json.gz"))) >= args.hosts):
            t0 = time.perf_counter()
            fleet_hosts.write_fleet(work, args.hosts)
            print("prepared %d hosts in %.0fs (untimed)" % (args.hosts, time.perf_counter() - t0))
        names = sorted(f.name[: -len(".json.gz")] for f in inv.glob("*.json.gz"))[: args.hosts]
        if len(names) < len(list(inv.glob("*.json.gz"))):
            sub = work / "inventories-%d" % len(names)
            sub.mkdir(exist_ok=True)
            for n in names:
                if not (sub / (n + ".json.gz")).exists():
                    os.link(inv / (n + ".json.gz"), sub / (n + ".json.gz"))
            inv = sub
        env = dict(os.environ, LC_ALL="C")
        out = work / "fleet.json"
        # warm the metadata caches of the peer (the fleet builds its own per worker, timed)
        argv = [sys.executable, "-m", "spma.cli", "fleet", "plan", "--inventories", str(inv), "--profile-dir",
                str(prof), "--workers", str(args.workers), "--out", str(out), "--format", "json"]  # fmt: skip
        t0, c0 = time.perf_counter(), cpu_children()
        res = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        fleet_s, fleet_cpu = time.perf_counter() - t0, cpu_children() - c0
        if res.returncode != 0:
            raise SystemExit(res.stderr[-2000:])
        doc = json.loads(out.read_text())
        s = doc["summary"]
        fleet_ms = fleet_cpu / len(names) * 1000
        acts = [e["summary"] for e in doc["hosts"].values() if "error" not in e]
        print("fleet plan: %d hosts, %d workers: %.0f ms CPU per host (%.0fs CPU in all); wall %.1fs, load average %.1f"
              % (len(names), args.workers, fleet_ms, fleet_cpu, fleet_s, os.getloadavg()[0]))  # fmt: skip
        print("  %d change, %d unchanged, %d errors; actions per host: median %d (upgrade %d, downgrade %d, "
              "remove %d in all)" % (len(s["change"]), len(s["unchanged"]), len(s["errors"]),
                                    statistics.median(a["total"] for a in acts) if acts else 0,
                                    sum(a["upgrade"] for a in acts), sum(a["downgrade"] for a in acts),
                                    sum(a["remove"] for a in acts)))  # fmt: skip

        # the peer: one spma plan process per host, on a real root in the recorded state
        from spma import inventory

        sample = names[:: max(1, len(names) // args.sample)][: args.sample]
        times, cpus, equal = [], [], 0
        for n in sample:
            invn = inventory.load(str(inv / (n + ".json.gz")))
            root = Path(invn.root)
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
            inventory.materialise(invn, str(root))
            argv = [sys.executable, "-m", "spma.cli", "plan", str(prof / (n + ".json")), "--root", str(root),
                    "--format", "json", "--running-kernel", ""]  # fmt: skip
            subprocess.run(argv, capture_output=True, env=env)  # warm this root's metadata cache
            t0, c0 = time.perf_counter(), cpu_children()
            res = subprocess.run(argv, capture_output=True, text=True, env=env)
            times.append(time.perf_counter() - t0)
            cpus.append(cpu_children() - c0)
            if res.returncode == 0:
                equal += json.loads(res.stdout) == doc["hosts"][n]
            else:
                equal += doc["hosts"][n].get("error", {}).get("exit") == res.returncode
            shutil.rmtree(root)
        peer_ms = statistics.median(cpus) * 1000
        print("spma plan, one process per host (warm cache), %d sampled hosts: median %.0f ms CPU (%.0f-%.0f); "
              "wall median %.0f ms" % (len(sample), peer_ms, min(cpus) * 1000, max(cpus) * 1000,
                                       statistics.median(times) * 1000))  # fmt: skip
        print("fleet plan == spma plan for %d of %d sampled hosts" % (equal, len(sample)))
        print(
            "ratio fleet/process per host (CPU): %.2f (%.1fx less)"
            % (fleet_ms / peer_ms, peer_ms / fleet_ms)
        )
        return 0
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
