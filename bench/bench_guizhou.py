"""Guizhou benchmark: solve instances/guizhou (all three tiers, all rules) and report time, peak memory, gap.

Usage: python3 bench/bench_guizhou.py [--instance instances/guizhou] [--time-limit 60] [--workers 2] [--baseline]

Targets (issue 4): proven gap <= 0.1 %, <= 10 s wall, <= 2 GB peak RSS. ``--baseline`` would also solve
the staff tier alone as one exact min-cost flow over all candidate pairs; it is not built (see
bench/RESULTS.md), and the flag says so instead of pretending.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from matcher.errors import MatcherError
from matcher.instance import read_instance
from matcher.solver import solve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--instance", default=str(Path(__file__).resolve().parents[1] / "instances" / "guizhou"))
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline", action="store_true")
    a = ap.parse_args()
    t0 = time.monotonic()
    inst = read_instance(a.instance)
    t_read = time.monotonic() - t0
    result: dict[str, object] = {"instance": a.instance, "read_s": round(t_read, 1)}
    try:
        plan = solve(inst, time_limit=a.time_limit, workers=a.workers)
        result.update(status=plan.status, gap=plan.gap, objective=plan.objective, bound=plan.bound,
                      method=plan.header.get("method"), links=len(plan.assignments), uncovered=len(plan.uncovered))
    except MatcherError as exc:
        result.update(status="REFUSED", error=str(exc))
    result["wall_s"] = round(time.monotonic() - t0, 1)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if a.baseline:
        result["baseline"] = "not built: the exact min-cost flow over all staff-place pairs is not implemented"
    print(json.dumps(result, ensure_ascii=False, indent=1))
    sys.exit(0 if result.get("status") in ("OPTIMAL", "FEASIBLE") else 1)


if __name__ == "__main__":
    main()
