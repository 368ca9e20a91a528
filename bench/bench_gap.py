"""GAP benchmark: matcher on OR-Library gap1-12 and Yagiura types C, D, E.

Usage: python3 bench/bench_gap.py [--time-limit 60] [--workers 2] [--set small|cde|large|all] [--only NAME ...]
                                  [--baseline] [--out CSV] [--deterministic]

Each instance runs through :func:`matcher.gapsearch.solve_gap` (Lagrangian start, CP-SAT probe, a pool
of compiled tabu searches recombined by exact merges, CP-SAT from the best assignment); with ``--baseline`` the plain CP-SAT model
(:func:`matcher.model.solve_problem`, no hint) runs on the same instance right before it, in the same
process and time limit. Every cost is re-computed by :func:`matcher.gap.gap_cost` from the chosen pairs,
after an independent feasibility check (every job once, capacities kept). Prints one row per run:
cost found, proven bound, best known (min sense), gap to best known, seconds. Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import csv
import io
import resource
import sys
import time
from pathlib import Path

import numpy as np

from matcher.fileio import atomic_write_text
from matcher.gap import (
    GapInstance,
    assignment_hint,
    best_known,
    default_gap_folder,
    gap_cost,
    gap_problem,
    read_gap,
)
from matcher.gapsearch import solve_gap
from matcher.model import solve_problem

HEADER = [
    "instance",
    "agents",
    "jobs",
    "method",
    "cost",
    "bound",
    "best_known",
    "gap_to_best_pct",
    "status",
    "seconds",
]


def names(folder: Path, which: str) -> list[str]:
    """Instance names of a set (small = gap1-12, cde = types C/D/E up to 20 x 200, large = the bigger C/D/E)."""
    small = [f"gap{k}-{i}" for k in range(1, 13) for i in range(1, 6)]
    cde = [f"{t}{a:02d}{j}" for t in "cde" for a in (5, 10, 20) for j in (100, 200)]
    large = sorted(
        p.name
        for p in (folder / "instances").iterdir()
        if p.name[0] in "cde" and p.name not in cde
    )
    return {"small": small, "cde": cde, "large": large, "all": small + cde + large}[
        which
    ]


def checked_cost(g: GapInstance, chosen: np.ndarray, prob_pairs: object) -> int:
    """The cost of the chosen pairs after checking, apart from any solver, that they form a GAP assignment."""
    p = prob_pairs[chosen]  # type: ignore[index]
    jobs = p["target"].str[1:].astype(int).to_numpy()
    agents = p["helper"].str[1:].astype(int).to_numpy()
    if sorted(jobs.tolist()) != list(range(g.jobs)):
        raise SystemExit(
            f"{g.name}: the plan does not give every job exactly one agent"
        )
    used = np.bincount(agents, weights=g.load[agents, jobs], minlength=g.agents)
    if np.any(used > g.capacity):
        raise SystemExit(
            f"{g.name}: the plan overloads agents {np.flatnonzero(used > g.capacity).tolist()}"
        )
    return gap_cost(g, p)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", default="all", choices=["small", "cde", "large", "all"])
    ap.add_argument(
        "--only", nargs="*", default=[], help="run only these instances of the set"
    )
    ap.add_argument(
        "--baseline",
        action="store_true",
        help="also run plain CP-SAT (no hint) on each instance",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="")
    ap.add_argument(
        "--deterministic",
        action="store_true",
        help="interleaved CP-SAT workers (reproducible, slower)",
    )
    a = ap.parse_args()
    folder = default_gap_folder()
    known = best_known(folder)
    rows: list[list[object]] = []
    print(",".join(HEADER), flush=True)
    todo = names(folder, a.set)
    if a.only:
        missing = sorted(set(a.only) - set(todo))
        if missing:
            raise SystemExit(f"--only: not in set {a.set!r}: {', '.join(missing)}")
        todo = [n for n in todo if n in a.only]
    for name in todo:
        path = folder / "instances" / name
        if not path.exists():
            continue
        g = read_gap(path)
        bk = known.get((name, "min"))
        methods = (["cp-sat"] if a.baseline else []) + ["gapsearch"]
        for method in methods:
            t0 = time.monotonic()
            if method == "cp-sat":
                prob = gap_problem(g)
                sol = solve_problem(
                    prob,
                    time_limit=a.time_limit,
                    seed=a.seed,
                    workers=a.workers,
                    deterministic=a.deterministic,
                )
                secs = time.monotonic() - t0
                ok = sol.status in ("OPTIMAL", "FEASIBLE")
                cost = checked_cost(g, sol.chosen, prob.pairs) if ok else None
                bound = round(sol.bound.get("travel", 0.0) * 10) if sol.stages else None
                status = sol.status
            else:
                res = solve_gap(
                    g,
                    time_limit=a.time_limit,
                    seed=a.seed,
                    workers=a.workers,
                    deterministic=a.deterministic,
                )
                secs = time.monotonic() - t0
                prob = res.problem if res.problem is not None else gap_problem(g)
                cost = checked_cost(g, assignment_hint(prob, res.assign), prob.pairs)
                bound, status = res.bound, res.status
            gap = None if cost is None or bk is None else 100.0 * (cost - bk) / bk
            row = [
                name,
                g.agents,
                g.jobs,
                method,
                cost,
                bound,
                bk,
                None if gap is None else round(gap, 3),
                status,
                round(secs, 1),
            ]
            rows.append(row)
            print(",".join("" if v is None else str(v) for v in row), flush=True)
    if a.out:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
        atomic_write_text(Path(a.out), buf.getvalue())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"# peak RSS {peak:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
