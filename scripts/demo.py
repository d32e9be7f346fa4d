"""spma demo: two snapshots of a small distribution, one host profile, one sandbox root.

Every step runs the real `spma` command (real dnf/libsolv, real rpm) and prints what it printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fixture builders live in tests/

from spma import pan  # noqa: E402
from tests.builders.rpmrepo import make_repo, parse, rpm_query_installed  # noqa: E402

P = parse
JANUARY = [
    P("webapp-1.4-1", requires=["libweb >= 1.0"]),
    P("libweb-1.0-1"),
    P("openssl-lite-1:3.0.7-24"),
    P("monitoring-agent-2.1-1", requires=["libweb"]),
    P("kernel-5.14.0-362.1"),
    P("kernel-5.14.0-427.1"),
    P("site-tools-1.0-1"),
]
JUNE = JANUARY + [
    P("webapp-2.0-1", requires=["libweb >= 2.0"]),
    P("libweb-2.0-1"),
    P("openssl-lite-1:3.0.7-27"),
    P("monitoring-agent-2.3-1", requires=["libweb"]),
    P("kernel-5.14.0-503.1"),
]


def profile(snapshot: Path, packages: dict, **spma: object) -> dict:
    pk = {}
    for name, versions in packages.items():
        pk[pan.escape(name)] = {pan.escape(v): {"arch": {"noarch": ""}} for v in versions}
    comp = {"packager": "dnf", "run": "yes", "userpkgs": "no", "whitelist": ["site-tools"]}
    comp.update(spma)
    return {
        "software": {
            "components": {"spma": comp},
            "packages": pk,
            "repositories": [
                {
                    "name": "os",
                    "enabled": True,
                    "gpgcheck": False,
                    "protocols": [{"name": "file", "url": "file://%s" % snapshot}],
                }
            ],
        }
    }


def spma(*args: str) -> int:
    cmd = ["spma"] + list(args)
    print("\n$ " + " ".join(cmd), flush=True)
    res = subprocess.run([sys.executable, "-m", "spma.cli"] + list(args), text=True, capture_output=True)
    sys.stdout.write(res.stdout)
    sys.stdout.write(res.stderr)
    print("(exit %d)" % res.returncode, flush=True)
    return res.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workdir", default="demo-work", help="where snapshots, profiles and the root go")
    args = ap.parse_args()
    work = Path(args.workdir).resolve()
    if work.exists():
        shutil.rmtree(work)
    root = work / "root"
    root.mkdir(parents=True)

    print("== building two repository snapshots of real RPMs (rpmbuild + createrepo_c)")
    jan = make_repo(work / "snapshots/2024-01", JANUARY)
    jun = make_repo(work / "snapshots/2024-06", JUNE)
    print("   %s: %d packages\n   %s: %d packages" % (jan, len(JANUARY), jun, len(JUNE)))

    decl = {"webapp": [], "monitoring-agent": [], "openssl-lite": ["1:3.0.7-27"],
            "kernel": ["5.14.0-427.1", "5.14.0-503.1"]}  # fmt: skip
    june = work / "host-june.json"
    june.write_text(json.dumps(profile(jun, decl), indent=1))

    print("\n== 1. what would change on an empty host (dry run)")
    spma("plan", str(june), "--root", str(root))
    print("\n== 2. apply it (a new host: --boot applies everything at once, nothing deferred)")
    rc = spma("apply", str(june), "--root", str(root), "--boot")
    print("\n== 3. a second plan is empty (exit 0 with --detailed-exitcode)")
    rc |= spma("plan", str(june), "--root", str(root), "--detailed-exitcode")

    print("\n== 4. roll the snapshot back to January, drop monitoring-agent, pin openssl back (a live run)")
    decl2 = {"webapp": [], "openssl-lite": ["1:3.0.7-24"], "kernel": ["5.14.0-362.1", "5.14.0-427.1"]}
    january = work / "host-january.json"
    january.write_text(json.dumps(profile(jan, decl2), indent=1))
    plan_file = work / "rollback-plan.json"
    spma("plan", str(january), "--root", str(root), "--out", str(plan_file))
    rc |= spma("apply", str(january), "--root", str(root), "--plan", str(plan_file))
    print("\n== 5. the kernel changes waited for boot (prefetched); status says so")
    spma("status", "--root", str(root))
    print("\n== 6. at boot: spma boot applies them from the local cache, with no network")
    rc |= spma("boot", "--root", str(root))
    rc |= spma("plan", str(january), "--root", str(root), "--detailed-exitcode")
    spma("status", "--root", str(root))

    print("\n== rpm -qa in the sandbox root, as rpm itself sees it")
    for nevra in rpm_query_installed(root):
        print("   " + nevra)
    print("\nEverything is under %s" % work)
    return 1 if rc else 0


if __name__ == "__main__":
    sys.exit(main())
