"""GAP benchmark: matcher's CP-SAT assignment model on OR-Library gap1-12 and Yagiura types C, D, E.

Usage: python3 bench/bench_gap.py [--time-limit 60] [--workers 2] [--set small|cde|large|all] [--out CSV] [--deterministic]

Prints one row per instance: cost found, proven bound, best known (min sense), gap to best known,
seconds. Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import time
from pathlib import Path

from matcher.gap import best_known, default_gap_folder, gap_cost, gap_problem, read_gap
from matcher.model import solve_problem


def names(folder: Path, which: str) -> list[str]:
    small = [f"gap{k}-{i}" for k in range(1, 13) for i in range(1, 6)]
    cde = [f"{t}{a:02d}{j}" for t in "cde" for a in (5, 10, 20) for j in (100, 200)]
    large = sorted(p.name for p in (folder / "instances").iterdir()
                   if p.name[0] in "cde" and p.name not in cde)
    return {"small": small, "cde": cde, "large": large, "all": small + cde + large}[which]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", default="all", choices=["small", "cde", "large", "all"])
    ap.add_argument("--out", default="")
    ap.add_argument("--deterministic", action="store_true", help="interleaved CP-SAT workers (reproducible, slower)")
    a = ap.parse_args()
    folder = default_gap_folder()
    known = best_known(folder)
    rows = []
    print("instance,agents,jobs,cost,bound,best_known,gap_to_best_pct,status,seconds", flush=True)
    for name in names(folder, a.set):
        path = folder / "instances" / name
        if not path.exists():
            continue
        g = read_gap(path)
        t0 = time.monotonic()
        prob = gap_problem(g)
        sol = solve_problem(prob, time_limit=a.time_limit, seed=0, workers=a.workers, deterministic=a.deterministic)
        secs = time.monotonic() - t0
        cost = gap_cost(g, prob.pairs[sol.chosen]) if sol.status in ("OPTIMAL", "FEASIBLE") else None
        bound = round(sol.bound.get("travel", 0.0) * 10) if sol.stages else None
        bk = known.get((name, "min"))
        gap = None if cost is None or bk is None else 100.0 * (cost - bk) / bk
        row = [name, g.agents, g.jobs, cost, bound, bk, None if gap is None else round(gap, 3), sol.status, round(secs, 1)]
        rows.append(row)
        print(",".join("" if v is None else str(v) for v in row), flush=True)
    if a.out:
        with open(a.out, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["instance", "agents", "jobs", "cost", "bound", "best_known", "gap_to_best_pct", "status", "seconds"])
            w.writerows(rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"# peak RSS {peak:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
