"""What the benchmarks share: timing a whole process, and comparing spma with a peer in one run."""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Dict, List, Sequence, Tuple

Side = Tuple[str, List[str], Dict[str, str], Sequence[int]]  # label, argv, env, accepted exit codes


def timed(argv: List[str], env: Dict[str, str], ok: Sequence[int] = (0,)) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    dt = time.perf_counter() - t0
    if res.returncode not in ok:
        raise SystemExit("%s failed (%d): %s" % (argv[:3], res.returncode, res.stderr[-1500:]))
    return dt


def compare(spma: Side, peer: Side, runs: int, target: float = 1.20) -> float:
    """Interleaved runs, so load on the machine hits both alike; prints medians and the ratio."""
    times: List[List[float]] = [[], []]
    for _ in range(runs):
        for i, (_label, argv, env, ok) in enumerate((spma, peer)):
            times[i].append(timed(argv, env, ok))
    medians = [statistics.median(t) for t in times]
    width = max(len(spma[0]), len(peer[0]))
    for (label, *_rest), med, t in zip((spma, peer), medians, times):
        print(
            "%s median %.3fs  runs %s"
            % ((label + ":").ljust(width + 2), med, " ".join("%.3f" % x for x in t))
        )
    ratio = medians[0] / medians[1]
    print("ratio spma/peer: %.2f (target <= %.2f)" % (ratio, target))
    return ratio
