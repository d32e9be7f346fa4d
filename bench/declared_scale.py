"""Benchmark: is planning linear in the number of declared names? Plans a fresh install of N
declared names (10,000 and 100,000 by default) on both backends, against a synthetic repository
of exactly those N tiny packages (metadata only: planning never downloads a package), and prints
the whole-process time of `spma plan --boot` per size and per 1,000 names.

    .venv/bin/python bench/declared_scale.py [--sizes 10000,100000] [--backends apt,dnf] [--runs 3]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List

HERE = Path(__file__).resolve().parent


def apt_repo(d: Path, names: List[str]) -> str:
    d.mkdir(parents=True)
    stanzas = [
        "Package: %s\nVersion: 1.0-1\nArchitecture: all\nMaintainer: bench <b@example.org>\nFilename: ./%s_1.0-1_all.deb\n"
        "Size: 1000\nSHA256: %s\nDescription: bench package\n"
        % (n, n, hashlib.sha256(n.encode()).hexdigest())
        for n in names
    ]
    (d / "Packages").write_text("\n".join(stanzas))
    rel = subprocess.run(["apt-ftparchive", "release", "."], cwd=d, capture_output=True, check=True).stdout
    (d / "Release").write_bytes(rel)
    return "file://%s" % d


def dnf_repo(d: Path, names: List[str]) -> str:
    """rpm-md written directly (primary, filelists, other): createrepo_c needs real rpm files."""
    rd = d / "repodata"
    rd.mkdir(parents=True)
    ns = 'xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm"'
    pkgs = []
    for n in names:
        cs = hashlib.sha256(n.encode()).hexdigest()
        pkgs.append(
            '<package type="rpm"><name>%s</name><arch>noarch</arch><version epoch="0" ver="1.0" rel="1"/>'
            '<checksum type="sha256" pkgid="YES">%s</checksum><summary>b</summary><description>b</description>'
            '<packager/><url/><time file="1" build="1"/><size package="1000" installed="10" archive="100"/>'
            '<location href="%s-1.0-1.noarch.rpm"/><format><rpm:license>MIT</rpm:license>'
            '<rpm:provides><rpm:entry name="%s" flags="EQ" epoch="0" ver="1.0" rel="1"/></rpm:provides>'
            "</format></package>" % (n, cs, n, n)
        )
    files = {
        "primary": '<?xml version="1.0" encoding="UTF-8"?>\n<metadata %s packages="%d">%s</metadata>\n'
        % (ns, len(names), "".join(pkgs)),
        "filelists": '<?xml version="1.0" encoding="UTF-8"?>\n<filelists xmlns="http://linux.duke.edu/metadata/filelists"'
        ' packages="0"></filelists>\n',
        "other": '<?xml version="1.0" encoding="UTF-8"?>\n<otherdata xmlns="http://linux.duke.edu/metadata/other"'
        ' packages="0"></otherdata>\n',
    }
    entries = []
    for kind, text in files.items():
        raw = text.encode()
        gz = gzip.compress(raw, mtime=0)
        fn = "%s.xml.gz" % kind
        (rd / fn).write_bytes(gz)
        entries.append(
            '<data type="%s"><checksum type="sha256">%s</checksum><open-checksum type="sha256">%s</open-checksum>'
            '<location href="repodata/%s"/><timestamp>1</timestamp><size>%d</size><open-size>%d</open-size></data>'
            % (kind, hashlib.sha256(gz).hexdigest(), hashlib.sha256(raw).hexdigest(), fn, len(gz), len(raw))
        )
    (rd / "repomd.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo">'
        "<revision>1</revision>%s</repomd>\n" % "".join(entries)
    )
    return "file://%s" % d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--backends", default="apt,dnf")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spma-bench-scale-"))
    env = dict(os.environ, LC_ALL="C", PYTHONPATH=str(HERE.parent))
    try:
        for backend in args.backends.split(","):
            for size in [int(x) for x in args.sizes.split(",")]:
                names = ["bench-pkg-%06d" % i for i in range(size)]
                here = work / ("%s-%d" % (backend, size))
                url = (apt_repo if backend == "apt" else dnf_repo)(here / "repo", names)
                prof = {"software": {"components": {"spma": {"packager": backend}},
                                     "packages": {n.replace("-", "_2d"): {} for n in names},
                                     "repositories": [{"name": "bench", "gpgcheck": False,
                                                       "protocols": [{"name": "file", "url": url}]}]}}  # fmt: skip
                profile = here / "profile.json"
                profile.write_text(json.dumps(prof))
                root = here / "root"
                root.mkdir()
                out = here / "plan.json"
                cmd = [sys.executable, "-m", "spma.cli", "plan", str(profile), "--root", str(root), "--boot",
                       "--format", "json", "--out", str(out)]  # fmt: skip
                times = []
                for _ in range(args.runs + 1):  # the first run fills spma's metadata cache
                    t0 = time.perf_counter()
                    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    times.append(time.perf_counter() - t0)
                    if res.returncode != 0:
                        raise SystemExit("%s %d: %s" % (backend, size, res.stderr[-1500:]))
                installs = json.loads(out.read_text())["summary"]["install"]
                assert installs == size, (installs, size)
                med = statistics.median(times[1:])
                print("%-4s %7d declared: median %.2fs (%.3fs per 1,000 names; cold %.2fs; runs %s)"
                      % (backend, size, med, med / size * 1000, times[0],
                         " ".join("%.2f" % t for t in times[1:])))  # fmt: skip
                sys.stdout.flush()
                shutil.rmtree(here, ignore_errors=True)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
