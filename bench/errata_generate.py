"""Benchmark: errata version sets from real advisories.

1. Every monthly set for AlmaLinux 8 and 9 from the corpus OSV tarball (5,020 advisories), JSON +
   Pan, each as one whole `spma errata generate` process. Target: under 3 s in all. The 420 files
   must stay byte-identical: their sha256 (names and bytes) is compared with OUTPUT_SHA256.
   --before DIR times the spma in DIR (`git worktree`/`git archive` of an older commit with
   spma/errata and spma/backends linked to its top-level directories) interleaved with this one,
   --runs N times each; wall and CPU (user + system) medians.
2. The sweep compiler against recompiling each month from scratch (the obvious way; a baseline
   of our own, there is no external tool that builds version sets).
3. updateinfo parse rate: the largest corpus sample, and an updateinfo.xml rendered from all
   5,020 real advisories, with spma's reader (defusedxml, streaming) and, in the same run,
   createrepo_c's C parser (python3-createrepo-c) as the peer.

    .venv/bin/python bench/errata_generate.py [--runs N] [--before DIR] [--sections 1,2,3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from xml.sax.saxutils import quoteattr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import spma_env  # noqa: E402 - bench/ is not a package

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("SPMA_CORPUS", HERE.parent.parent / "shared" / "corpus"))
TAR = CORPUS / "almalinux-osv" / "almalinux-8-9-osv-advisories.tar.xz"
SAMPLES = CORPUS / "updateinfo-samples"


# sha256 over the sorted names and bytes of the 420 files section 1 writes (recorded 2026-12-02
# with the code of a5a725e; the same with every later change of that day)
OUTPUT_SHA256 = "758bcea53e34117795c963f7683fcbb70911f6f15bdef910b4215986b6506a54"
# AlmaLinux 8 and 9: first and last month of their advisories in the corpus tarball
SERIES = (("AlmaLinux:8", "a8"), ("AlmaLinux:9", "a9"))


def generate(
    eco: str, first: str, last: str, out: Path, src: Optional[str] = None
) -> Tuple[float, float, str]:
    """(wall, CPU, spma's own summary line) of one whole `spma errata generate` process."""
    argv = [sys.executable, "-m", "spma.cli", "errata", "generate", "--source", "osv", str(TAR),
            "--ecosystem", eco, "--monthly", first, last, "--format", "json,pan", "--out", str(out)]  # fmt: skip
    env = spma_env(dict(os.environ), src)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=src or HERE.parent)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), res.stdout.strip()


def digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(out)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def section1(spans: Dict[str, List[str]], work: Path, runs: int, before: Optional[str]) -> None:
    print("1. all monthly sets, JSON + Pan, whole processes (%d run%s%s)"
          % (runs, "s" if runs > 1 else "", ", interleaved with --before" if before else ""))  # fmt: skip
    sides = [("spma", None)] + ([("before", before)] if before else [])
    times: Dict[str, List[Tuple[float, float]]] = {label: [] for label, _ in sides}
    same: Dict[str, bool] = {}
    for r in range(runs):
        for label, src in sides if r % 2 == 0 else sides[::-1]:
            out = work / label
            shutil.rmtree(out, ignore_errors=True)
            walls = cpus = 0.0
            for eco, d in SERIES:
                w, c, line = generate(eco, *spans[eco], out=out / d, src=src)
                walls, cpus = walls + w, cpus + c
                print("  %s %s: %.2fs  %s" % (label, eco, w, line.replace(" to %s" % (out / d), "")))
            times[label].append((walls, cpus))
            sha = digest(out)
            same[label] = sha == OUTPUT_SHA256
            if not same[label] and src is None:
                raise SystemExit("the 420 files differ from the reference output (sha256 %s, not %s)"
                                 % (sha[:16], OUTPUT_SHA256[:16]))  # fmt: skip
    for label, t in times.items():
        n_sets = len(list((work / label).rglob("*.json")))
        print("   %s: %d sets, median %.2fs wall, %.2fs CPU (runs: %s); target < 3 s; output %s"
              % (label, n_sets, statistics.median(w for w, _ in t), statistics.median(c for _, c in t),
                 " ".join("%.2f" % w for w, _ in t),
                 "byte-identical to the reference (sha256 %s)" % OUTPUT_SHA256[:16] if same[label]
                 else "differs from the reference (an older output format?)"))  # fmt: skip


def months_span(advs) -> List[str]:  # type: ignore[no-untyped-def]
    dates = sorted(a.issued for a in advs if a.issued)
    return [dates[0].strftime("%Y-%m"), dates[-1].strftime("%Y-%m")]


def render_updateinfo(advs, path: Path) -> int:  # type: ignore[no-untyped-def]
    n = 0
    with gzip.open(path, "wt", compresslevel=1) as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<updates>\n')
        for a in advs:
            f.write('<update from="bench" status="final" type=%s version="1"><id>%s</id><title>%s</title>'
                    '<issued date="%s 00:00:00"/><severity>%s</severity><pkglist><collection short="c"><name>c</name>'
                    % (quoteattr(a.type), a.id, a.id, a.issued, (a.severity or "None").capitalize()))  # fmt: skip
            for p in a.packages:
                n += 1
                f.write('<package name=%s version=%s release=%s epoch="%d" arch="x86_64"><filename>x.rpm</filename>'
                        "</package>" % (quoteattr(p.name), quoteattr(p.version), quoteattr(p.release), p.epoch))  # fmt: skip
            f.write("</collection></pkglist></update>\n")
        f.write("</updates>\n")
    return n


def rate(fn, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1, help="section 1: whole runs of each side")
    ap.add_argument("--before", metavar="DIR", help="section 1: also time the spma in DIR, interleaved")
    ap.add_argument("--sections", default="1,2,3", help="which sections to run (default: 1,2,3)")
    args = ap.parse_args()
    sections = {int(x) for x in args.sections.split(",")}
    if not TAR.exists():
        print("corpus not found at %s (set SPMA_CORPUS)" % CORPUS, file=sys.stderr)
        return 2
    from spma.errata import compile as comp
    from spma.errata import osv, updateinfo

    work = Path(tempfile.mkdtemp(prefix="spma-bench-errata-"))
    try:
        a8 = osv.read([str(TAR)], ecosystem="AlmaLinux:8")
        a9 = osv.read([str(TAR)], ecosystem="AlmaLinux:9")
        if 1 in sections:
            section1(
                {"AlmaLinux:8": months_span(a8), "AlmaLinux:9": months_span(a9)},
                work,
                args.runs,
                args.before,
            )
        if 2 in sections:
            section2(comp, a8)
        if 3 in sections:
            section3(updateinfo, a8 + a9, work)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def section2(comp, a8) -> None:  # type: ignore[no-untyped-def]
    print("2. compiler: one sweep vs recompiling each month from scratch (AlmaLinux 8)")
    cutoffs = comp.month_ends(*months_span(a8))
    sweep = rate(lambda: comp.compile_sets(a8, cutoffs, family="rpm", os_id="a", sources=[]), 1)
    naive = rate(
        lambda: [comp.compile_sets(a8, [c], family="rpm", os_id="a", sources=[]) for c in cutoffs], 1
    )
    print(
        "   %d cut-offs: sweep %.2fs, per-month %.2fs (%.1fx)" % (len(cutoffs), sweep, naive, naive / sweep)
    )


def section3(updateinfo, advisories, work: Path) -> None:  # type: ignore[no-untyped-def]
    print("3. updateinfo parse rate (best of 3)")
    import createrepo_c as cr  # python3-createrepo-c, the peer

    largest = max((p for p in SAMPLES.rglob("*updateinfo*")),
                  key=lambda p: len(updateinfo.read([str(p)])) and sum(len(a.packages) for a in updateinfo.read([str(p)])))  # fmt: skip
    big = work / "updateinfo-all.xml.gz"
    npk = render_updateinfo(advisories, big)
    for label, path in (("largest sample %s" % largest.name, largest), ("all 5,020 advisories", big)):
        advs = updateinfo.read([str(path)])
        n_pk = sum(len(a.packages) for a in advs)
        s = rate(lambda p=path: updateinfo.read([str(p)]))
        c = rate(lambda p=path: cr.UpdateInfo(str(p)))
        cw = rate(lambda p=path: [(q.name, q.epoch, q.version, q.release, q.arch)
                                  for u in cr.UpdateInfo(str(p)).updates for col in u.collections
                                  for q in col.packages])  # fmt: skip
        print("   %s: %d advisories, %d packages\n     spma (defusedxml, to spma's model) %.4fs = %.0f adv/s, %.0f pkg/s\n"
              "     createrepo_c parse only %.4fs (spma/peer %.2f); createrepo_c parse + reading its "
              "packages back %.4fs (spma/peer %.2f)"
              % (label, len(advs), n_pk, s, len(advs) / s, n_pk / s, c, s / c, cw, s / cw))  # fmt: skip
    del npk


if __name__ == "__main__":
    print("spma errata benchmark, %s" % dt.date.today())
    sys.exit(main())
