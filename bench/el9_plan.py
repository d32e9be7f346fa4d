"""Benchmark: plan a fresh install of a realistic EL9 server set against the real CentOS Stream 9
metadata in ../shared/corpus, and time plain dnf resolving the same set in the same run.

Peer: `dnf --installroot R install --assumeno NAMES...` with the same two repositories, the same
options (no weak deps, no gpgcheck) and a warm metadata cache. Both sides are timed as whole
processes (interpreter start, metadata load, solve, printing the plan). Not a test: it prints
figures and the ratio.

    .venv/bin/python bench/el9_plan.py [--runs 5] [--sizes 10,50,all] [--record] [--before DIR]

Per size it also times the floor (bench/floor_hawkey.py: hawkey alone from its solv cache, one
goal) and checks the plan JSON is byte-identical to the one recorded in bench/reference.json.
With --before DIR it also times the spma found in DIR (an older checkout, or `git archive` of
one) interleaved in the same run, checks its plan against the same reference, and prints
after/before. Every spma is timed as the distribution packages install it (common.installed:
packaging/stage.sh's /usr/bin/spma on the system Python with -s, bytecode compiled), as dnf is,
and the floor runs on the same interpreter; `python -m spma.cli` from the editable checkout
would add its venv's `site` and import hook (10-15 ms) to every run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import check_reference, fresh_dir, installed, installed_env, measure_cpu, save_series, timed  # noqa: E402 - bench/ is not a package

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("SPMA_CORPUS", HERE.parent.parent / "shared" / "corpus"))
REPODATA = CORPUS / "centos-stream9-repodata"
TEMPLATES = CORPUS / "quattor" / "template-library-os" / "el9" / "rpms"
REPOS = {"baseos": REPODATA / "baseos-2022-02", "appstream": REPODATA / "appstream-2025-01"}


# A server: no desktop, font, multimedia or printing groups.
DESKTOP = re.compile(r"gnome|desktop|workstation|font|multimedia|graphical|x11|print|guest-desktop|kde|xfce|latex|"
                     r"document-viewers|dial-up|internet-applications|office|remote-desktop")  # fmt: skip


def template_names() -> List[str]:
    names = []
    for pan_file in sorted(TEMPLATES.rglob("*.pan")):
        if DESKTOP.search(pan_file.name):
            continue
        text = pan_file.read_text(errors="replace")
        # pkg_repl('name') in hand-written templates; '{name}' ?= dict(); in the comps-generated ones
        for m in re.finditer(r"pkg_repl\(\s*['\"]([^'\"*]+)['\"]|^'\{([^}*]+)\}'\s*\??=", text, re.M):
            names.append(m.group(1) or m.group(2))
    return list(dict.fromkeys(names))


def consistent_set(names: List[str], limit: int, work: Path) -> List[str]:
    """Greedily keep the names that resolve together (untimed preparation)."""
    import hawkey
    from fleet_hosts import load_base  # one loader of the CS9 snapshots for every benchmark

    base = load_base(work)
    avail = base.sack.query().available()
    kept: List[str] = []
    for n in names:
        if not avail.filter(name=n, arch__neq="src"):
            continue
        goal = hawkey.Goal(base.sack)
        for k in kept + [n]:
            goal.install(select=hawkey.Selector(base.sack).set(name=k))
        if goal.run(ignore_weak_deps=True):
            kept.append(n)
        if len(kept) >= limit:
            break
    base.close()
    return kept


def spma_profile(names: List[str], path: Path) -> None:
    from spma import pan

    prof = {
        "software": {
            "components": {"spma": {"packager": "dnf", "userpkgs": "no"}},
            "packages": {pan.escape(n): {} for n in names},
            "repositories": [
                {"name": rid, "gpgcheck": False, "protocols": [{"name": "file", "url": "file://%s" % p}]}
                for rid, p in REPOS.items()
            ],
        }
    }
    path.write_text(json.dumps(prof))


def dnf_config(path: Path, work: Path) -> None:
    lines = ["[main]", "gpgcheck=0", "install_weak_deps=0", "reposdir=%s" % (work / "no-repos.d"),
             "plugins=0", "best=0", ""]  # fmt: skip
    for rid, p in REPOS.items():
        lines += ["[%s]" % rid, "name=%s" % rid, "baseurl=file://%s" % p, "gpgcheck=0", ""]
    path.write_text("\n".join(lines))
    (work / "no-repos.d").mkdir(exist_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-names", type=int, default=400)
    ap.add_argument("--sizes", default="10,50,all", help="declared-set sizes, a prefix of the set each")
    ap.add_argument("--keep", metavar="DIR", help="also write the profile here (for profiling)")
    ap.add_argument("--record", action="store_true", help="record the plans as the new reference")
    ap.add_argument("--spma-src", metavar="DIR", help="time the spma found in DIR (before/after runs)")
    ap.add_argument("--before", metavar="DIR", help="also time the spma found in DIR, interleaved")
    ap.add_argument(
        "--mode",
        choices=["boot", "live"],
        default="boot",
        help="boot: the whole plan (a fresh install, what dnf resolves); live: with the boot-time split",
    )
    args = ap.parse_args()
    if not REPODATA.is_dir():
        print("corpus not found at %s (set SPMA_CORPUS)" % CORPUS, file=sys.stderr)
        return 2
    # spma as the distribution packages install it (the system Python with -s, bytecode), as dnf is
    args.spma = installed(args.spma_src, "spma-bench-el9-installed")
    args.before_spma = installed(args.before, "spma-bench-el9-installed-before") if args.before else None
    work = fresh_dir("spma-bench-el9")
    try:
        names = template_names()
        t0 = time.perf_counter()
        full = consistent_set(names, args.max_names, work)
        print("declared set: %d of %d template-library-os el9 names resolve together (prep %.1fs)"
              % (len(full), len(names), time.perf_counter() - t0))  # fmt: skip
        conf = work / "dnf.conf"
        dnf_config(conf, work)
        home = work / "home"
        home.mkdir()
        (home / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
        env = dict(os.environ, HOME=str(home), LC_ALL="C")
        series = []
        for size in args.sizes.split(","):
            decl = full if size == "all" else full[: int(size)]
            series.append(bench_size(decl, work / ("n%d" % len(decl)), conf, env, args))
        if not args.before:  # bench/plot.py reads the plain series
            save_series("el9_plan-%s" % args.mode, {"sizes": series})
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_size(decl: List[str], work: Path, conf: Path, env: Dict[str, str], args: Any) -> Dict[str, Any]:
    work.mkdir()
    profile = work / "el9-server.json"
    spma_profile(decl, profile)
    if args.keep:
        shutil.copy(profile, args.keep)
    (work / "names").write_text("\n".join(decl) + "\n")
    sroot, droot = work / "spma-root", work / "dnf-root"
    sroot.mkdir()
    droot.mkdir()
    plan_file = work / "plan.json"
    spma_cmd = args.spma + ["plan", str(profile), "--root", str(sroot), "--format", "json", "--out",
                            str(plan_file)] + (["--boot"] if args.mode == "boot" else [])  # fmt: skip
    dnf_cmd = ["dnf", "-c", str(conf), "--installroot", str(droot), "--releasever", "9",
               "--setopt=install_weak_deps=False", "--nogpgcheck", "install", "--assumeno"] + decl  # fmt: skip
    floor_cmd = [
        "/usr/bin/python3",
        "-s",
        str(HERE / "floor_hawkey.py"),
        str(work / "floor-cache"),
        str(work / "names"),
    ]
    floor_cmd += [str(p) for p in REPOS.values()]
    # warm the three caches; check the peer and the floor really resolved the same set
    senv = installed_env(args.spma, env)
    timed(spma_cmd, senv)
    res = subprocess.run(dnf_cmd, capture_output=True, text=True, env=env)
    summary = re.search(r"^Install\s+(\d+) Package", res.stdout, re.M)
    floor = subprocess.run(floor_cmd, capture_output=True, text=True, env=env)
    plan = json.loads(plan_file.read_text())
    print("\n%d names: spma plan (%s mode) %d installs (%d deferred to boot); dnf says: %s; floor: %s"
          % (len(decl), args.mode, plan["summary"]["install"], plan["summary"]["deferred"],
             summary.group(0) if summary else "no transaction summary! " + res.stderr[-500:],
             floor.stdout.strip() or floor.stderr[-300:]))  # fmt: skip
    print("  " + check_reference("el9-%s-%d" % (args.mode, len(decl)), plan_file, args.record))
    sides = [
        ("spma plan (warm, whole process)", spma_cmd, senv, (0,)),
        ("dnf install --assumeno (warm)", dnf_cmd, env, (0, 1)),
        ("floor: hawkey alone, solv cache", floor_cmd, env, (0,)),
    ]
    if args.before:
        before_file = work / "plan-before.json"
        args_after = spma_cmd[len(args.spma) :]
        before_cmd = (
            args.before_spma
            + args_after[: args_after.index("--out") + 1]
            + [str(before_file)]
            + args_after[args_after.index("--out") + 2 :]
        )
        sides.append(
            ("spma before (%s)" % args.before, before_cmd, installed_env(args.before_spma, env), (0,))
        )
    medians, cpu = measure_cpu(sides, args.runs)
    spma_t, dnf_t, floor_t = medians[:3]
    timed(spma_cmd, senv)
    print("  " + check_reference("el9-%s-%d" % (args.mode, len(decl)), plan_file))
    out = {"names": len(decl), "installs": plan["summary"]["install"], "spma": spma_t, "peer": dnf_t,
           "floor": floor_t, "cpu": {"spma": cpu[0], "peer": cpu[1], "floor": cpu[2]}}  # fmt: skip
    if args.before:
        print("  " + check_reference("el9-%s-%d" % (args.mode, len(decl)), before_file) + " (before)")
        print("  after/before: wall %.2f, cpu %.2f" % (spma_t / medians[3], cpu[0] / cpu[3]))
        out["before"] = medians[3]
        out["cpu"]["before"] = cpu[3]
    return out


if __name__ == "__main__":
    sys.exit(main())
