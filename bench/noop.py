"""Benchmark: the agent's no-op run (`spma apply --agent` when nothing changed since the last
apply) against a bare listing of the package database, on a root with 77 installed packages,
both backends; and a floor: a minimal Python script that does the same check (the installed
set and each repository's repomd.xml/Release against the state file).

    .venv/bin/python bench/noop.py [--runs 9] [--backend dnf|apt|both] [--spma-src DIR] [--before DIR]

The root is a sandbox: real RPMs (rpmbuild, createrepo_c) or .debs (dpkg-deb, apt-ftparchive)
built from the test builders, installed once by spma itself (untimed).

spma is timed as the distribution packages install it: the `/usr/bin/spma` that
packaging/stage.sh lays out (the system Python with -s, the package's bytecode compiled), from
this checkout or --spma-src, with the staged tree on PYTHONPATH; not `python -m spma.cli` from
the editable checkout, whose venv and import hook alone cost the interpreter 5-30 ms in `site`
(and pip's console-script wrapper imports `re`), which an installed spma never pays.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from common import bytecode, fresh_dir, installed, installed_env, measure  # noqa: E402 - bench/ is not a package

N = 77

DNF_FLOOR = """
import hashlib, json, sys
import rpm
root, repomd, state = sys.argv[1:4]
rpm.addMacro("_dbpath", "/var/lib/rpm")
ts = rpm.TransactionSet(root)
h = hashlib.sha256()
for n in sorted("%s-%s-%s.%s" % (p["name"], p["version"], p["release"], p["arch"]) for p in ts.dbMatch()):
    h.update(n.encode() + b"\\n")
r = hashlib.sha256(open(repomd, "rb").read()).hexdigest()
last = json.load(open(state))
print(h.hexdigest(), r, last["result"])
"""

APT_FLOOR = """
import hashlib, json, sys
root, release, state = sys.argv[1:4]
h = hashlib.sha256()
with open(root + "/var/lib/dpkg/status", encoding="utf-8") as f:
    for stanza in f.read().split("\\n\\n"):
        h.update(stanza.encode())
r = hashlib.sha256(open(release, "rb").read()).hexdigest()
last = json.load(open(state))
print(h.hexdigest(), r, last["result"])
"""


def bench(backend: str, work: Path, runs: int, spma: List[str], before: Optional[List[str]]) -> List[float]:
    from tests.helpers import profile_tree

    env = dict(os.environ, HOME=str(work), LC_ALL="C")
    (work / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n")
    root = work / "root"
    root.mkdir()
    names = ["noop-pkg-%02d" % i for i in range(N)]
    if backend == "dnf":
        from tests.builders.rpmrepo import make_repo, parse

        repo = make_repo(work / "repo", [parse("%s-1.0-1.noarch" % n) for n in names])
        prof = profile_tree({n: None for n in names}, {"os": str(repo)})
        peer = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-qa"]
        floor_args = [str(root), str(repo / "repodata/repomd.xml")]
        floor_code = DNF_FLOOR
    else:
        from tests.builders.debrepo import deb
        from tests.builders.debrepo import make_repo as make_deb_repo

        repo = make_deb_repo(work / "repo", [deb("%s=1.0-1" % n) for n in names])
        prof = profile_tree({n: None for n in names}, {"os": str(repo)}, packager="apt")
        peer = ["dpkg-query", "--admindir=%s/var/lib/dpkg" % root, "-W"]
        floor_args = [str(root), str(repo / "Release")]
        floor_code = APT_FLOOR
    profile = work / "profile.json"
    profile.write_text(json.dumps(prof))
    senv = installed_env(spma, env)
    cmd = spma + ["apply", str(profile), "--root", str(root), "--agent", "--running-kernel", ""]
    res = subprocess.run(cmd, capture_output=True, text=True, env=senv)  # installs the 77 packages
    assert res.returncode == 0, res.stderr[-2000:]
    res = subprocess.run(cmd, capture_output=True, text=True, env=senv)
    assert "step=fast-path unchanged=True" in res.stderr, res.stderr[-2000:]
    listed = subprocess.run(peer, capture_output=True, text=True, env=env).stdout.split("\n")
    print("\n%s: %d packages installed in the root, the second apply took the fast path"
          % (backend, len([x for x in listed if x.strip()])))  # fmt: skip
    floor = (
        ["/usr/bin/python3", "-s", "-c", floor_code] + floor_args + [str(root / "var/lib/spma/state.json")]
    )
    sides = [("spma apply --agent (no-op)", cmd, senv, (0,)), (" ".join(peer[:1] + peer[-1:]), peer, env, (0,)),
             ("floor: Python, same checks", floor, env, (0,))]  # fmt: skip
    if before is not None:
        sides.append(("spma before (--before)", before + cmd[1:], installed_env(before, env), (0,)))
    return measure(sides, runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--backend", choices=["dnf", "apt", "both"], default="both")
    ap.add_argument("--spma-src", metavar="DIR", help="time the spma found in DIR (before/after runs)")
    ap.add_argument(
        "--before", metavar="DIR", help="also time the spma in DIR, interleaved (e.g. `git archive`)"
    )
    args = ap.parse_args()
    bytecode(args.spma_src)
    spma = installed(args.spma_src, "spma-bench-noop-installed")
    before = installed(args.before, "spma-bench-noop-installed-before") if args.before else None
    out: Dict[str, List[float]] = {}
    for b in ("dnf", "apt") if args.backend == "both" else (args.backend,):
        out[b] = bench(b, fresh_dir("spma-bench-noop-%s" % b), args.runs, spma, before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
