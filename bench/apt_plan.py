"""Benchmark: plan a fresh install of a realistic Debian server set against the full real
bookworm index in ../shared/corpus (63,440 packages), and time, in the same run,
`apt-get install --simulate` of the same set with the same private root and configuration.

The index is served as a local flat source (copied into a temporary directory; planning only,
there are no .deb files). The declared set: the packages of the corpus's real Debian 12 dpkg
status file that the index offers. Both sides are whole processes with warm caches.

    .venv/bin/python bench/apt_plan.py [--runs 5] [--sizes 30,100,300,1000,3000,10000] [--record]
                                       [--spma-src DIR] [--before DIR]

Past the host's 730 packages the set is filled with index packages without Conflicts/Breaks,
pruned with python-apt to a set that installs together (untimed). Per size it also times the
floor (bench/floor_aptpkg.py: python-apt alone, one ActionGroup) and checks the plan JSON is
byte-identical to the one recorded in bench/reference.json. spma is timed as the distribution
packages install it (common.installed: packaging/stage.sh's /usr/bin/spma on the system Python with
-s, bytecode compiled), as el9_plan.py and noop.py time it, and the floor on the same interpreter.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import check_reference, fresh_dir, installed, installed_env, measure_cpu, save_series, timed  # noqa: E402 - bench/ is not a package

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("SPMA_CORPUS", HERE.parent.parent / "shared" / "corpus"))
INDEX = (
    CORPUS / "debian/apt-indexes/bookworm/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.xz"
)
STATUS = CORPUS / "debian/installed/this-host-debian12-dpkg-status"


def server_set(limit: int) -> List[str]:
    """The installed packages of a real Debian 12 host that the index offers (730), sorted; past
    those, index packages without Conflicts/Breaks (sorted), pruned in `consistent` to a set
    that installs together."""
    index = lzma.decompress(INDEX.read_bytes()).decode()
    index_names = set(re.findall(r"^Package: (\S+)$", index, re.M))
    names = []
    for stanza in STATUS.read_text(errors="replace").split("\n\n"):
        m = re.search(r"^Package: (\S+)$", stanza, re.M)
        if m and "Status: install ok installed" in stanza and m.group(1) in index_names:
            names.append(m.group(1))
    names = sorted(set(names))
    if len(names) < limit:
        seen = set(names)
        extra = set()
        for stanza in index.split("\n\n"):
            m = re.search(r"^Package: (\S+)$", stanza, re.M)
            if (
                m
                and m.group(1) not in seen
                and not re.search(r"^(Conflicts|Breaks|Replaces|Provides):", stanza, re.M)
            ):
                extra.add(m.group(1))
        names += sorted(extra)
    return names[:limit]


def consistent(names: List[str], conf: Path) -> List[str]:
    """Drop the names python-apt cannot install together with the rest (untimed preparation);
    the status-file names always install together."""
    import apt_pkg

    os.environ["APT_CONFIG"] = str(conf)
    try:
        apt_pkg.init_config()
        apt_pkg.init_system()
        cache = apt_pkg.Cache(None)
    finally:
        del os.environ["APT_CONFIG"]
    keep = list(names)
    for _ in range(5):
        dep = apt_pkg.DepCache(cache)
        with apt_pkg.ActionGroup(dep):
            for n in keep:
                dep.mark_install(cache[n], True, True)
        bad = {
            n
            for n in keep
            if dep.is_inst_broken(cache[n]) or not (dep.marked_install(cache[n]) or cache[n].current_ver)
        }
        if not bad and dep.broken_count == 0:
            break
        keep = [n for n in keep if n not in bad]
    return keep


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="30,100,300,1000,3000,10000")
    ap.add_argument("--big-runs", type=int, default=1, help="runs per side above 300 names")
    ap.add_argument(
        "--peer-max",
        type=int,
        default=1000,
        help="time apt-get only up to this many names (it marks name by name: minutes at 10,000)",
    )
    ap.add_argument("--record", action="store_true", help="record the plans as the new reference")
    ap.add_argument("--spma-src", metavar="DIR", help="time the spma found in DIR (before/after runs)")
    ap.add_argument("--before", metavar="DIR", help="also time the spma in DIR (as --spma-src), interleaved")
    args = ap.parse_args()
    if not INDEX.exists():
        print("corpus not found at %s (set SPMA_CORPUS)" % CORPUS, file=sys.stderr)
        return 2
    # spma as the distribution packages install it (the system Python with -s, bytecode), as apt-get
    # is shipped and as el9_plan.py and noop.py time it; the floor runs on the same interpreter
    args.spma = installed(args.spma_src, "spma-bench-apt-installed")
    args.before_spma = installed(args.before, "spma-bench-apt-installed-before") if args.before else None
    work = fresh_dir("spma-bench-apt")
    try:
        repo = work / "bookworm"
        repo.mkdir()
        shutil.copyfile(INDEX, repo / "Packages.xz")
        # a flat file: source is read through its uncompressed Packages
        (repo / "Packages").write_bytes(lzma.decompress(INDEX.read_bytes()))
        rel = subprocess.run(
            ["apt-ftparchive", "release", "."], cwd=repo, capture_output=True, check=True
        ).stdout
        # a fixed date: the plan names the Release file's sha256, and must be byte-identical
        rel = re.sub(rb"^Date: .*$", b"Date: Sat, 10 Jun 2023 00:00:00 UTC", rel, flags=re.M)
        (repo / "Release").write_bytes(rel)
        sizes = [int(x) for x in args.sizes.split(",")]
        root = work / "root"
        root.mkdir()
        env = dict(os.environ, LC_ALL="C")
        senv = installed_env(args.spma, env)
        conf = root / "var/lib/spma/cache/apt/spma-apt.conf"
        apt_env = dict(env, APT_CONFIG=str(conf))
        all_names: List[str] = []
        series = []
        for n in sizes:
            if n > len(all_names):
                all_names = server_set(n)
            names = all_names[:n]
            sub = work / ("n%d" % n)
            sub.mkdir()
            plan_file = sub / "plan.json"
            profile = sub / "server.json"
            write_profile(profile, names, repo)
            plan_args = ["plan", str(profile), "--root", str(root), "--boot", "--format", "json", "--out",
                         str(plan_file)]  # fmt: skip
            spma_cmd = args.spma + plan_args
            if n > 730:
                if not conf.exists():  # lists and pkgcache.bin first
                    write_profile(profile, names[:30], repo)
                    timed(spma_cmd, senv)
                names = settle(consistent(names, conf), profile, repo, spma_cmd, senv)
            (sub / "names").write_text("\n".join(names) + "\n")
            timed(spma_cmd, senv)  # warm: lists and pkgcache.bin in spma's private apt dir
            plan = json.loads(plan_file.read_text())
            apt_cmd = ["apt-get", "install", "--simulate", "-q", "--no-install-recommends"] + names
            floor_cmd = [
                "/usr/bin/python3",
                "-s",
                str(HERE / "floor_aptpkg.py"),
                str(conf),
                str(sub / "names"),
            ]
            with_peer = len(names) <= args.peer_max
            res = subprocess.run(
                apt_cmd if with_peer else ["true"], capture_output=True, text=True, env=apt_env
            )
            m = re.search(r"(\d+) newly installed", res.stdout)
            floor = subprocess.run(floor_cmd, capture_output=True, text=True, env=env)
            print("\n%d names (%d asked): spma plan %d installs; apt-get --simulate says: %s; floor: %s"
                  % (len(names), n, plan["summary"]["install"], m.group(0) if m else "not run" if not with_peer else "?? " + res.stderr[-300:],
                     floor.stdout.strip() or floor.stderr[-300:]))  # fmt: skip
            key = "apt-boot-%d" % n
            print("  " + check_reference(key, plan_file, args.record))
            runs = args.runs if n <= 300 else args.big_runs
            sides = [("spma plan (warm, whole process)", spma_cmd, senv, (0,)),
                     ("apt-get install --simulate", apt_cmd, apt_env, (0,)),
                     ("floor: python-apt, one ActionGroup", floor_cmd, env, (0,))]  # fmt: skip
            if args.before:  # the same command on the code in DIR: the same plan file, checked below
                sides.append(("spma before (--before)", args.before_spma + plan_args,
                              installed_env(args.before_spma, env), (0,)))  # fmt: skip
            if with_peer:
                spma_t, apt_t, floor_t = measure_cpu(sides, runs)[0][:3]
            else:
                print("  (apt-get not timed above %d names; ratios below are to the floor)" % args.peer_max)
                (spma_t, floor_t), apt_t = measure_cpu([sides[0]] + sides[2:], runs)[0][:2], float("nan")
            print("  per declared name: spma %.2f ms, apt-get %.2f ms, floor %.2f ms"
                  % (1000 * spma_t / len(names), 1000 * apt_t / len(names), 1000 * floor_t / len(names)))  # fmt: skip
            print("  " + check_reference(key, plan_file))
            series.append({"names": len(names), "installs": plan["summary"]["install"], "spma": spma_t,
                           "peer": apt_t if with_peer else None, "floor": floor_t})  # fmt: skip
            save_series("apt_plan", {"sizes": series})
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def settle(
    names: List[str], profile: Path, repo: Path, spma_cmd: List[str], env: Dict[str, str]
) -> List[str]:
    """Drop what spma's own resolver reports as broken or conflicting until the set plans
    (python-apt's plain marking in `consistent` misses a few; untimed preparation)."""
    for _ in range(10):
        write_profile(profile, names, repo)
        res = subprocess.run(spma_cmd, capture_output=True, text=True, env=env)
        if res.returncode != 4:
            break
        m = re.search(r"broken: (.*)$|installed together: (.*)$", res.stderr, re.M)
        bad = {x.strip().split(":")[0] for x in (m.group(1) or m.group(2)).split(",")} if m else set()
        if not bad & set(names):
            break
        names = [n for n in names if n not in bad]
    return names


def write_profile(path: Path, names: List[str], repo: Path) -> None:
    from spma import pan

    prof = {"software": {"components": {"spma": {"packager": "apt"}},
                         "packages": {pan.escape(n): {} for n in names},
                         "repositories": [{"name": "bookworm", "gpgcheck": False,
                                           "protocols": [{"name": "file", "url": "file://%s" % repo}]}]}}  # fmt: skip
    path.write_text(json.dumps(prof))


if __name__ == "__main__":
    sys.exit(main())
