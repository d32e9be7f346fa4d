"""Draw bench/scaling.png from the series the plan benchmarks saved in bench/results/: time
against declared names (spma, the peer, the floor; spma before the optimisations where a
`-before` series exists), and time per declared name, for both backends.

    .venv/bin/python bench/plot.py      # after el9_plan.py and apt_plan.py

matplotlib is a bench-only dependency: installed into the venv when missing.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pyplot  # noqa: E402 - bench/ is not a package

HERE = Path(__file__).resolve().parent
PANELS = [("el9_plan-boot", "dnf: EL9 names vs CentOS Stream 9", "dnf install --assumeno"),
          ("apt_plan", "apt: Debian names vs full bookworm index", "apt-get install --simulate")]  # fmt: skip


def _series(name: str) -> List[Dict[str, Any]]:
    p = HERE / "results" / ("%s.json" % name)
    return list(json.loads(p.read_text())["sizes"]) if p.exists() else []


def main() -> int:
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, (name, title, peer) in enumerate(PANELS):
        now, before = _series(name), _series(name + "-before")
        lines = [("spma plan", now, "spma", "C0", "-"), ("spma before", before, "spma", "C0", ":"),
                 (peer, now, "peer", "C1", "-"), ("floor", now, "floor", "C2", "--")]  # fmt: skip
        for label, rows, key, color, style in lines:
            pts = [(r["names"], r[key]) for r in rows if r.get(key) is not None and not math.isnan(r[key])]
            if not pts:
                continue
            xs, ys = zip(*pts)
            axes[0][col].plot(xs, ys, style, marker="o", color=color, label=label)
            axes[1][col].plot(
                xs, [1000 * y / x for x, y in pts], style, marker="o", color=color, label=label
            )
        axes[0][col].set_title(title)
        axes[0][col].set_ylabel("seconds, whole process (median)")
        axes[1][col].set_ylabel("ms per declared name")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("declared names")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle(
        "spma plan scaling (interleaved runs on a shared, loaded 2-core machine; before and after in separate runs)"
    )
    fig.tight_layout()
    out = HERE / "scaling.png"
    fig.savefig(out, dpi=80)
    print("wrote %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
