"""Benchmark: spma's own overhead around the package manager's transaction, on a 200-package
apply into an empty sandbox root; dnf also against `dnf install -y` of the same packages.

    .venv/bin/python bench/apply_overhead.py [--runs 3] [--packages 200] [--backend dnf|apt|both] [--before DIR]

spma's overhead (dnf) is what its whole process costs beyond the package manager doing the same
job: `dnf install -y` of the same packages from the same repository with the same options, as a
whole process, interleaved with spma's runs: (spma - dnf) / spma. Everything both do (interpreter,
metadata, solve, download, signature checks, rpm's transaction) cancels out; what is left is spma's
own (its imports, the profile, the plan and its explanations, state, history, repository files,
the post-apply check). Neither rpm nor dnf reports a transaction time finer than dnf's history's
whole seconds, so the package manager's own run is the yardstick.

Also printed: the `step=transaction seconds=` spma logs around dnf's do_transaction (rpm's test and
real transaction, local download) or apt's commit (dpkg), and the share of the run outside it
(for apt, the only figure: apt-get has no same-run peer here).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from common import bytecode, fresh_dir, spma_env  # noqa: E402 - bench/ is not a package


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _spma_apply(cmd: List[str], root: Path, env: dict) -> Tuple[float, float, float]:
    """(wall, transaction step, CPU) seconds of one apply into an empty root."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    c0, t0 = _cpu(), time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    total, cpu = time.perf_counter() - t0, _cpu() - c0
    m = re.search(r"step=transaction actions=\d+ seconds=([\d.]+)", res.stderr)
    if res.returncode != 0 or not m:
        raise SystemExit("spma apply failed: %s" % res.stderr[-1500:])
    return total, float(m.group(1)), cpu


def bench(backend: str, n: int, runs: int, src: str, before: str = "") -> None:
    from tests.helpers import profile_tree

    work = fresh_dir("spma-bench-apply-%s" % backend)
    env = dict(os.environ, HOME=str(work), LC_ALL="C")
    (work / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
    names = ["apply-pkg-%03d" % i for i in range(n)]
    if backend == "dnf":
        from tests.builders.rpmrepo import make_repo, parse

        repo = make_repo(work / "repo", [parse("%s-1.0-1.noarch" % x) for x in names])
        prof = profile_tree({x: None for x in names}, {"os": str(repo)})
    else:
        from tests.builders.debrepo import deb
        from tests.builders.debrepo import make_repo as make_deb_repo

        repo = make_deb_repo(work / "repo", [deb("%s=1.0-1" % x) for x in names])
        prof = profile_tree({x: None for x in names}, {"os": str(repo)}, packager="apt")
    profile = work / "profile.json"
    profile.write_text(json.dumps(prof))
    root = work / "root"
    senv = spma_env(env, src)
    cmd = [sys.executable, "-m", "spma.cli", "apply", str(profile), "--root", str(root), "--agent", "--boot",
           "--running-kernel", ""]  # fmt: skip
    conf = work / "dnf.conf"
    conf.write_text(
        "[main]\ngpgcheck=0\nplugins=0\nreposdir=%s\n\n[os]\nname=os\nbaseurl=file://%s\n"
        % (work / "none", repo)
    )
    droot = work / "dnf-root"
    dnf_cmd = ["dnf", "-y", "-q", "-c", str(conf), "--installroot", str(droot), "--releasever", "9",
               "--setopt=install_weak_deps=False", "install"] + names  # fmt: skip
    totals, trans, cpus, peer, peer_cpu = [], [], [], [], []
    old: List[Tuple[float, float, float]] = []
    for _ in range(runs):
        t, x, c = _spma_apply(cmd, root, senv)
        totals.append(t)
        trans.append(x)
        cpus.append(c)
        if before:  # the spma in DIR, interleaved: before/after in one run
            old.append(_spma_apply(cmd, root, spma_env(env, before)))
        if backend == "dnf":
            shutil.rmtree(droot, ignore_errors=True)
            droot.mkdir()
            c0, t0 = _cpu(), time.perf_counter()
            subprocess.run(dnf_cmd, check=True, capture_output=True, env=env)
            peer.append(time.perf_counter() - t0)
            peer_cpu.append(_cpu() - c0)
    tot, tr = statistics.median(totals), statistics.median(trans)
    print("\n%s, %d packages into an empty root, %d runs:" % (backend, n, runs))
    print("  spma apply (whole process) median %.3fs  runs %s" % (tot, " ".join("%.3f" % x for x in totals)))
    print("  of which the transaction   median %.3fs  runs %s" % (tr, " ".join("%.3f" % x for x in trans)))
    print("  outside the transaction step: %.3fs = %.1f%% of the run" % (tot - tr, 100 * (tot - tr) / tot))
    if peer:
        pm = statistics.median(peer)
        print("  dnf install -y, same packages: median %.3fs  runs %s  -> spma/dnf %.2f"
              % (pm, " ".join("%.3f" % x for x in peer), tot / pm))  # fmt: skip
        print("  spma's own overhead beyond dnf's run: %.3fs = %.1f%% of spma's run (target <= 5%%)"
              % (tot - pm, 100 * (tot - pm) / tot))  # fmt: skip
        sc, pc = statistics.median(cpus), statistics.median(peer_cpu)
        print("  CPU (user+system, steadier under load): spma %.3fs, dnf %.3fs -> overhead %.3fs = %.1f%% of spma's"
              % (sc, pc, sc - pc, 100 * (sc - pc) / sc))  # fmt: skip
    if old:
        ot, ox, oc = (statistics.median(v) for v in zip(*old))
        print("  spma before (%s): median %.3fs, transaction %.3fs, CPU %.3fs -> after/before wall %.2f, CPU %.2f"
              % (before, ot, ox, oc, tot / ot, statistics.median(cpus) / oc))  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--packages", type=int, default=200)
    ap.add_argument("--backend", choices=["dnf", "apt", "both"], default="both")
    ap.add_argument("--spma-src", metavar="DIR", help="time the spma found in DIR (before/after runs)")
    ap.add_argument("--before", metavar="DIR", help="also time the spma found in DIR, interleaved")
    args = ap.parse_args()
    bytecode(args.spma_src)
    if args.before:
        bytecode(args.before)
    for b in ("dnf", "apt") if args.backend == "both" else (args.backend,):
        bench(b, args.packages, args.runs, args.spma_src, args.before or "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
