"""Benchmark: plan a fresh install of a realistic Debian server set against the full real
bookworm index in ../shared/corpus (63,440 packages), and time, in the same run,
`apt-get install --simulate` of the same set with the same private root and configuration.

The index is served as a local flat source (copied into a temporary directory; planning only,
there are no .deb files). The declared set: the packages of the corpus's real Debian 12 dpkg
status file that the index offers. Both sides are whole processes with warm caches.

    .venv/bin/python bench/apt_plan.py [--runs 5] [--max-names 300]
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
import tempfile
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import compare, timed  # noqa: E402 - bench/ is not a package

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("SPMA_CORPUS", HERE.parent.parent / "shared" / "corpus"))
INDEX = (
    CORPUS / "debian/apt-indexes/bookworm/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.xz"
)
STATUS = CORPUS / "debian/installed/this-host-debian12-dpkg-status"


def server_set(limit: int) -> List[str]:
    index_names = set(re.findall(r"^Package: (\S+)$", lzma.decompress(INDEX.read_bytes()).decode(), re.M))
    names = []
    for stanza in STATUS.read_text(errors="replace").split("\n\n"):
        m = re.search(r"^Package: (\S+)$", stanza, re.M)
        if m and "Status: install ok installed" in stanza and m.group(1) in index_names:
            names.append(m.group(1))
    return sorted(set(names))[:limit]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-names", type=int, default=300)
    args = ap.parse_args()
    if not INDEX.exists():
        print("corpus not found at %s (set SPMA_CORPUS)" % CORPUS, file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="spma-bench-apt-"))
    try:
        repo = work / "bookworm"
        repo.mkdir()
        shutil.copyfile(INDEX, repo / "Packages.xz")
        # a flat file: source is read through its uncompressed Packages
        (repo / "Packages").write_bytes(lzma.decompress(INDEX.read_bytes()))
        rel = subprocess.run(
            ["apt-ftparchive", "release", "."], cwd=repo, capture_output=True, check=True
        ).stdout
        (repo / "Release").write_bytes(rel)
        names = server_set(args.max_names)
        from spma import pan

        prof = {"software": {"components": {"spma": {"packager": "apt"}},
                             "packages": {pan.escape(n): {} for n in names},
                             "repositories": [{"name": "bookworm", "gpgcheck": False,
                                               "protocols": [{"name": "file", "url": "file://%s" % repo}]}]}}  # fmt: skip
        profile = work / "server.json"
        profile.write_text(json.dumps(prof))
        root = work / "root"
        root.mkdir()
        env = dict(os.environ, LC_ALL="C")
        spma_cmd = [sys.executable, "-m", "spma.cli", "plan", str(profile), "--root", str(root), "--boot",
                    "--format", "json", "--out", str(work / "plan.json")]  # fmt: skip
        timed(spma_cmd, env)  # warm: lists and pkgcache.bin in spma's private apt dir
        plan = json.loads((work / "plan.json").read_text())
        conf = root / "var/lib/spma/cache/apt/spma-apt.conf"
        apt_env = dict(env, APT_CONFIG=str(conf))
        apt_cmd = ["apt-get", "install", "--simulate", "-q", "--no-install-recommends"] + names
        res = subprocess.run(apt_cmd, capture_output=True, text=True, env=apt_env)
        m = re.search(r"(\d+) newly installed", res.stdout)
        print("declared set: %d packages from a real Debian 12 host that bookworm main offers" % len(names))
        print("spma plan: %d installs; apt-get --simulate says: %s" % (plan["summary"]["install"],
              m.group(0) if m else "?? " + res.stderr[-300:]))  # fmt: skip
        compare(
            ("spma plan (warm, whole process)", spma_cmd, env, (0,)),
            ("apt-get install --simulate (same config)", apt_cmd, apt_env, (0,)),
            args.runs,
        )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
