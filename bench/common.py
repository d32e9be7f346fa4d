"""What the benchmarks share: timing a whole process, and comparing spma with a peer in one run."""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

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


def measure(sides: Sequence[Side], runs: int) -> List[float]:
    """Interleaved whole-process runs of every side (spma first, then the peer, then the floor);
    prints each side's median and its ratio to the second side (the peer); returns the medians.
    Only ratios taken in one run mean anything on a shared, loaded machine."""
    times: List[List[float]] = [[] for _ in sides]
    for _ in range(runs):
        for i, (_label, argv, env, ok) in enumerate(sides):
            times[i].append(timed(argv, env, ok))
    medians = [statistics.median(t) for t in times]
    width = max(len(s[0]) for s in sides)
    for (label, *_rest), med, t in zip(sides, medians, times):
        print("  %s median %.3fs  (%.2fx peer)  runs %s"
              % ((label + ":").ljust(width + 2), med, med / medians[1], " ".join("%.3f" % x for x in t)))  # fmt: skip
    return medians


def timed_cpu(argv: List[str], env: Dict[str, str], ok: Sequence[int] = (0,)) -> Tuple[float, float]:
    """Wall and CPU (user + system) seconds of one whole process. On a loaded machine the CPU a
    process needs varies far less than its wall time, which includes waiting for a core."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(argv, env, ok)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def measure_cpu(sides: Sequence[Side], runs: int) -> Tuple[List[float], List[float]]:
    """measure(), also timing each process's CPU: prints wall and CPU medians and their ratios
    to the second side (the peer); returns (wall medians, CPU medians)."""
    walls: List[List[float]] = [[] for _ in sides]
    cpus: List[List[float]] = [[] for _ in sides]
    for _ in range(runs):
        for i, (_label, argv, env, ok) in enumerate(sides):
            w, c = timed_cpu(argv, env, ok)
            walls[i].append(w)
            cpus[i].append(c)
    wm = [statistics.median(t) for t in walls]
    cm = [statistics.median(t) for t in cpus]
    width = max(len(s[0]) for s in sides)
    for (label, *_rest), w, c, t in zip(sides, wm, cm, walls):
        print("  %s wall %.3fs (%.2fx peer)  cpu %.3fs (%.2fx peer)  wall runs %s"
              % ((label + ":").ljust(width + 2), w, w / wm[1], c, c / cm[1], " ".join("%.3f" % x for x in t)))  # fmt: skip
    return wm, cm


REFERENCE = Path(__file__).resolve().parent / "reference.json"


def check_reference(key: str, plan_file: Path, record: bool = False) -> str:
    """The plan must stay byte-identical across optimisations: its sha256 is recorded once in
    bench/reference.json (under `key`) and compared on every later run."""
    digest = hashlib.sha256(plan_file.read_bytes()).hexdigest()
    refs = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    if key not in refs or record:
        refs[key] = digest
        REFERENCE.write_text(json.dumps(refs, indent=1, sort_keys=True) + "\n")
        return "plan %s recorded as the reference (sha256 %s)" % (key, digest[:16])
    if refs[key] != digest:
        raise SystemExit("plan %s differs from the recorded reference: %s != %s (file %s)"
                         % (key, digest[:16], refs[key][:16], plan_file))  # fmt: skip
    return "plan %s byte-identical to the reference (sha256 %s)" % (key, digest[:16])


def fresh_dir(name: str) -> Path:
    """A fixed work directory (recreated): the plan names the root, so byte-identical plans
    need the same paths on every run."""
    d = Path(tempfile.gettempdir()) / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def pyplot() -> Any:
    """matplotlib is a bench-only dependency: installed into the running venv when missing."""
    try:
        import matplotlib
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "matplotlib"], check=True)
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_series(name: str, data: Dict[str, Any]) -> Path:
    """Each scaling benchmark leaves its figures in bench/results/NAME.json; plot.py draws them."""
    out = Path(__file__).resolve().parent / "results" / ("%s.json" % name)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return out


def spma_env(env: Dict[str, str], src: Any) -> Dict[str, str]:
    """--spma-src DIR: time the spma of another checkout (e.g. `git archive` of an older commit,
    with spma/backends and spma/errata symlinked to its top-level directories) for before/after.
    PYTHONSAFEPATH: `python -m` would otherwise put the working directory first on sys.path, and
    a benchmark run from the checkout timed the checkout's spma whatever DIR said."""
    env = dict(env, PYTHONSAFEPATH="1")
    return dict(env, PYTHONPATH=str(src)) if src else env


def bytecode(src: Any = None) -> None:
    """Compile spma's modules as an installed package has them: with PYTHONDONTWRITEBYTECODE set
    (as on this machine) every spma process would otherwise compile its ~25 modules from source
    (about 0.1 s here), which dnf and apt, shipped with their bytecode, never do."""
    top = Path(src) if src else Path(__file__).resolve().parent.parent
    dirs = [str(top / d) for d in ("spma", "backends", "errata") if (top / d).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q"] + dirs, check=True, stdout=subprocess.DEVNULL)


SITELIB = "/usr/lib/python3/dist-packages"


def installed(src: Any, name: str = "spma-bench-installed") -> List[str]:
    """The `spma` command as the distribution packages install it (packaging/stage.sh of `src`,
    or of this checkout: /usr/bin/spma on the system Python, bytecode compiled), with what the
    staged tree needs on the path."""
    dest = fresh_dir(name)
    top = Path(src) if src else Path(__file__).resolve().parent.parent
    man = dest / "spma.8"
    man.write_text("")
    subprocess.run(["bash", str(top / "packaging/stage.sh"), str(dest / "d"), SITELIB, "/usr/lib/systemd/system",
                    str(man)], check=True)  # fmt: skip
    subprocess.run(["/usr/bin/python3", "-m", "compileall", "-q", str(dest / "d" / SITELIB.lstrip("/"))],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return [str(dest / "d/usr/bin/spma")]


def installed_env(cmd: List[str], env: Dict[str, str]) -> Dict[str, str]:
    staged = Path(cmd[0]).parent.parent.parent / SITELIB.lstrip("/")
    return dict(env, PYTHONPATH=str(staged))
