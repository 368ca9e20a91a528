"""Benchmark: how many terms one lexicographic flow solve takes on (province.STAGE_LIMIT), on Guizhou's village groups.

Run from the repository root:

    python3 bench/bench_flow_stages.py [--limits 62 46 40] [--repeats 2] [--out FILE]

Solves instances/guizhou once to capture the village tier's large flow groups (the arguments of
province._solve_flow), then solves those groups again with each stage limit 2**L in turn, alternating
the limits in every repeat so that load from other engineers on the 2 cores falls on all of them.
2**62 is the old behaviour (terms grouped until OR-Tools' integer range is full). Every limit must
reach the same lexicographic optimum (coverage, match, strength, travel); the report says whether
it did and prints the seconds per limit and repeat and each limit's solves per group.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LARGE = 200_000
"""Candidate pairs above which a flow group is captured (the village tier's county groups)."""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", default=str(ROOT / "instances" / "guizhou"))
    ap.add_argument("--limits", type=int, nargs="+", default=[62, 46, 40])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)

    from matcher import province
    from matcher.fileio import atomic_write_text
    from matcher.instance import read_instance

    load_before = os.getloadavg()
    captured: list[tuple[tuple, dict]] = []
    original = province._solve_flow

    def capture(*a, **k):
        if len(a[6]) > LARGE:
            captured.append((a, k))
        return original(*a, **k)

    province._solve_flow = capture
    try:
        province.solve_province(read_instance(args.instance), time_limit=60, seed=0, workers=2)
    finally:
        province._solve_flow = original
    keep = province.STAGE_LIMIT
    seconds: dict[int, list[float]] = {L: [] for L in args.limits}
    results: dict[int, list[tuple]] = {}
    stages: dict[int, list[str]] = {}
    try:
        for _ in range(args.repeats):
            for L in args.limits:
                province.STAGE_LIMIT = 2**L
                t = time.monotonic()
                out = [province._solve_flow(*a, **k) for a, k in captured]
                seconds[L].append(time.monotonic() - t)
                results[L] = [(r.coverage, *(r.values[x] for x in province.FLOW_TERMS)) for r in out]
                stages[L] = sorted({" + ".join("[" + ", ".join(g) + "]" for g in r.stages) for r in out})
                print(f"  2**{L}: {seconds[L][-1]:.2f} s", flush=True)
    finally:
        province.STAGE_LIMIT = keep
    same = all(results[L] == results[args.limits[0]] for L in args.limits)
    lines = [
        "# Flow stage limit on Guizhou's village groups (province.STAGE_LIMIT)",
        "",
        f"- command: `python3 bench/bench_flow_stages.py {' '.join(argv if argv is not None else sys.argv[1:])}`".rstrip(),
        f"- date (UTC): {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB, Python {platform.python_version()}",
        f"- load average before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- groups: {len(captured)} with more than {LARGE:,} candidate pairs "
        f"({sum(len(a[6]) for a, _ in captured):,} pairs in all); current STAGE_LIMIT 2**{keep.bit_length() - 1}",
        f"- same lexicographic optimum (coverage, match, strength, travel) in every group for every limit: {same}",
        "",
        "| limit | seconds per repeat | min | solves per group |",
        "|---|---|---:|---|",
    ]
    for L in args.limits:
        lines.append(f"| 2**{L} | {', '.join(f'{s:.2f}' for s in seconds[L])} | {min(seconds[L]):.2f} | "
                     f"{'; '.join(stages[L])} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), text)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
