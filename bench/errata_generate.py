"""Benchmark: errata version sets from real advisories.

1. Every monthly set for AlmaLinux 8 and 9 from the corpus OSV tarball (5,020 advisories), JSON +
   Pan, each as one whole `spma errata generate` process. Target: under 10 s in all.
2. The sweep compiler against recompiling each month from scratch (the obvious way; a baseline
   of our own, there is no external tool that builds version sets).
3. updateinfo parse rate: the largest corpus sample, and an updateinfo.xml rendered from all
   5,020 real advisories, with spma's reader (defusedxml, streaming) and, in the same run,
   createrepo_c's C parser (python3-createrepo-c) as the peer.

    .venv/bin/python bench/errata_generate.py
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List
from xml.sax.saxutils import quoteattr

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("SPMA_CORPUS", HERE.parent.parent / "shared" / "corpus"))
TAR = CORPUS / "almalinux-osv" / "almalinux-8-9-osv-advisories.tar.xz"
SAMPLES = CORPUS / "updateinfo-samples"


def generate(eco: str, first: str, last: str, out: Path) -> float:
    argv = [sys.executable, "-m", "spma.cli", "errata", "generate", "--source", "osv", str(TAR),
            "--ecosystem", eco, "--monthly", first, last, "--format", "json,pan", "--out", str(out)]  # fmt: skip
    t0 = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True)
    dt_ = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    print("  %s %s..%s: %s" % (eco, first, last, res.stdout.strip()))
    return dt_


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
    if not TAR.exists():
        print("corpus not found at %s (set SPMA_CORPUS)" % CORPUS, file=sys.stderr)
        return 2
    from spma.errata import compile as comp
    from spma.errata import osv, updateinfo

    work = Path(tempfile.mkdtemp(prefix="spma-bench-errata-"))
    try:
        a8 = osv.read([str(TAR)], ecosystem="AlmaLinux:8")
        a9 = osv.read([str(TAR)], ecosystem="AlmaLinux:9")
        print("1. all monthly sets, JSON + Pan, whole processes")
        t8 = generate("AlmaLinux:8", *months_span(a8), out=work / "a8")
        t9 = generate("AlmaLinux:9", *months_span(a9), out=work / "a9")
        n_sets = len(list((work / "a8").glob("*.json"))) + len(list((work / "a9").glob("*.json")))
        print("   AlmaLinux 8: %.2fs, AlmaLinux 9: %.2fs; total %.2fs for %d sets (target < 10 s)"
              % (t8, t9, t8 + t9, n_sets))  # fmt: skip

        print("2. compiler: one sweep vs recompiling each month from scratch (AlmaLinux 8)")
        cutoffs = comp.month_ends(*months_span(a8))
        sweep = rate(lambda: comp.compile_sets(a8, cutoffs, family="rpm", os_id="a", sources=[]), 1)
        naive = rate(
            lambda: [comp.compile_sets(a8, [c], family="rpm", os_id="a", sources=[]) for c in cutoffs], 1
        )
        print(
            "   %d cut-offs: sweep %.2fs, per-month %.2fs (%.1fx)"
            % (len(cutoffs), sweep, naive, naive / sweep)
        )

        print("3. updateinfo parse rate (best of 3)")
        import createrepo_c as cr  # python3-createrepo-c, the peer

        largest = max((p for p in SAMPLES.rglob("*updateinfo*")),
                      key=lambda p: len(updateinfo.read([str(p)])) and sum(len(a.packages) for a in updateinfo.read([str(p)])))  # fmt: skip
        big = work / "updateinfo-all.xml.gz"
        npk = render_updateinfo(a8 + a9, big)
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
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print("spma errata benchmark, %s" % dt.date.today())
    sys.exit(main())
