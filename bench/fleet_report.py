"""Benchmark: `spma fleet report` over 1,000 inventories against all 5,020 AlmaLinux OSV
advisories of the corpus (target: under 10 s), as a whole process, JSON and HTML written.

Hosts: bench/fleet_hosts.py (the corpus's real `rpm -qa` lists resolved on the real CentOS
Stream 9 metadata, el9 versions, rpm headers as `spma inventory` keeps them); every other host
says it is AlmaLinux 8, the rest AlmaLinux 9, so both ecosystems' advisories (all 5,020 in the
tarball) are read and matched. Not a test: it prints figures.

    .venv/bin/python bench/fleet_report.py [--hosts 1000] [--work DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet_hosts  # noqa: E402 - bench/ is not a package

OSV = fleet_hosts.CORPUS / "almalinux-osv" / "almalinux-8-9-osv-advisories.tar.xz"


def as_alma(inv_dir: Path) -> None:
    for i, f in enumerate(sorted(inv_dir.glob("*.json.gz"))):
        doc = json.loads(gzip.decompress(f.read_bytes()))
        ver = "8.10" if i % 2 else "9.5"
        doc["os"].update(id="almalinux", version_id=ver,
                         os_release='NAME="AlmaLinux"\nID="almalinux"\nVERSION_ID="%s"\n' % ver)  # fmt: skip
        f.write_bytes(
            gzip.compress(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), 6, mtime=0)
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", help="keep the generated fleet here and reuse it")
    args = ap.parse_args()
    if not OSV.exists():
        print("corpus not found at %s (set SPMA_CORPUS)" % fleet_hosts.CORPUS, file=sys.stderr)
        return 2
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="spma-bench-fleet-report-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        inv = work / "inventories"
        if not (inv.is_dir() and len(list(inv.glob("*.json.gz"))) >= args.hosts):
            t0 = time.perf_counter()
            fleet_hosts.write_fleet(work, args.hosts)
            as_alma(inv)
            print("prepared %d inventories in %.0fs (untimed)" % (args.hosts, time.perf_counter() - t0))
        files = sorted(inv.glob("*.json.gz"))
        sizes = [f.stat().st_size for f in files]
        npk = [len(json.loads(gzip.decompress(f.read_bytes()))["packages"]) for f in files[:50]]
        print("inventories: %d, %.0f KB median (%d-%d packages)" % (len(files), statistics.median(sizes) / 1024,
                                                                   min(npk), max(npk)))  # fmt: skip
        tar = work / "inventories.tar"
        if not tar.exists():
            with tarfile.open(tar, "w") as t:
                for f in files:
                    t.add(str(f), arcname=f.name)
        for label, src in (("directory", inv), ("tarball", tar)):
            times = []
            for _ in range(args.runs):
                argv = [sys.executable, "-m", "spma.cli", "fleet", "report", "--inventories", str(src), "--source",
                        "osv", str(OSV), "--json", str(work / "report.json"), "--html", str(work / "report.html")]  # fmt: skip
                t0 = time.perf_counter()
                res = subprocess.run(argv, capture_output=True, text=True)
                times.append(time.perf_counter() - t0)
                if res.returncode != 0:
                    raise SystemExit(res.stderr[-2000:])
            rep = json.loads((work / "report.json").read_text())
            s = rep["summary"]
            print("fleet report from a %s: median %.2fs (runs %s); %d hosts, %d exposed, %d advisories read, "
                  "%d apply; in-process %.2fs; HTML %d KB" % (
                      label, statistics.median(times), " ".join("%.2f" % t for t in times), s["hosts"],
                      s["exposed_hosts"], rep["source"]["advisories"], len(rep["advisories"]), s["seconds"],
                      (work / "report.html").stat().st_size // 1024))  # fmt: skip
        return 0
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
