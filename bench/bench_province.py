"""Benchmark: solve instances/guizhou with matcher.province.solve_province and check the plan.

Run from the repository root:

    python3 bench/bench_province.py [--time-limit 60] [--seed 0] [--flow-processes N] [--bound-processes N] [--pss]
                                    [--out bench/RESULTS-province.md]

Prints and writes a Markdown report: command, date, machine, load average (other engineers share
the 2 cores), each stage's seconds, peak RSS of this process (and, with ``--pss``, the peak of the
summed PSS of this process and its worker processes), objective per priority, per-tier gaps, the
checker's verdict.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _PssSampler:
    """Largest sum of proportional set sizes of this process and its children, sampled in a thread.

    RSS counts pages a forked worker shares with its parent twice; PSS splits them, so the sum is
    the memory the run holds.
    """

    EVERY = 0.5

    def __init__(self) -> None:
        import threading

        self.peak = 0
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _pss(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    @staticmethod
    def _children(pid: int) -> list[int]:
        out: list[int] = []
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                out += [int(x) for x in task.read_text().split()]
            except OSError:
                pass
        return out

    def _run(self) -> None:
        me = os.getpid()
        while not self._halt.wait(self.EVERY):
            self.peak = max(self.peak, self._pss(me) + sum(self._pss(c) for c in self._children(me)))

    started = False

    def start(self) -> None:
        self.started = True
        self._thread.start()

    def stop(self) -> None:
        if self.started:
            self._halt.set()
            self._thread.join()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", default=str(ROOT / "instances" / "guizhou"))
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--flow-processes", type=int, default=None,
                    help="set matcher.province.FLOW_PROCESSES (processes for the lower tiers' flow groups)")
    ap.add_argument("--bound-processes", type=int, default=None,
                    help="set matcher.wholebound.PROCESSES (processes that price the bound's (unit, county) pairs)")
    ap.add_argument("--max-rounds", type=int, default=None,
                    help="set matcher.province.MAX_ROUNDS (most top-tier choices; --time-limit still sets how many "
                         "up to it: one plus one per ROUND_SECONDS)")
    ap.add_argument("--pss", action="store_true",
                    help="sample the summed PSS of this process and its workers (the run's memory; costs 2-4 s)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS-province.md"))
    args = ap.parse_args(argv)

    from matcher import province, wholebound
    from matcher.check import check_plan
    from matcher.fileio import atomic_write_text
    from matcher.instance import read_instance
    from matcher.province import solve_province

    if args.flow_processes is not None:
        province.FLOW_PROCESSES = args.flow_processes
    if args.bound_processes is not None:
        wholebound.PROCESSES = args.bound_processes
    if args.max_rounds is not None:
        province.MAX_ROUNDS = args.max_rounds

    load_before = os.getloadavg()
    events: dict[str, object] = {}
    log: list[str] = []

    def progress(event: str, info: dict) -> None:
        if event == "timings":
            events["timings"] = info
        if event in ("phase", "stage"):
            line = f"[{time.monotonic() - t0:7.1f} s] {event}: {info}"
            log.append(line)
            print("  " + line, flush=True)

    sampler = _PssSampler()
    if args.pss:  # with worker processes RSS undercounts: sample the sum of PSS (it costs 2-4 s)
        sampler.start()
    t0 = time.monotonic()
    inst = read_instance(args.instance)
    t_read = time.monotonic() - t0
    t1 = time.monotonic()
    plan = solve_province(inst, time_limit=args.time_limit, seed=args.seed, workers=args.workers, progress=progress)
    t_solve = time.monotonic() - t1
    rss_solve = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    t2 = time.monotonic()
    report = check_plan(inst, plan)
    t_check = time.monotonic() - t2
    rss_all = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    sampler.stop()
    load_after = os.getloadavg()
    v = report.violations
    errors = int((v["kind"] == "error").sum()) if len(v) else 0
    warnings = int((v["kind"] == "warning").sum()) if len(v) else 0

    h = plan.header
    lines = [
        "# Province solver on Guizhou (matcher.province.solve_province)",
        "",
        f"- command: `python3 bench/bench_province.py {' '.join(argv if argv is not None else sys.argv[1:])}`".rstrip(),
        f"- date (UTC): {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB, Python {platform.python_version()}",
        f"- load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
        f"{', '.join(f'{x:.2f}' for x in load_after)} (other engineers share the 2 cores)",
        f"- instance: {args.instance}; time limit {args.time_limit:g} s, seed {args.seed}, workers {args.workers}",
        "",
        "| stage | seconds |",
        "|---|---:|",
        f"| read instance | {t_read:.1f} |",
    ]
    for k, sec in (events.get("timings") or {}).items():
        lines.append(f"| {k} | {sec:.1f} |")
    lines += [
        f"| solve_province total | {t_solve:.1f} |",
        f"| check_plan | {t_check:.1f} |",
        "",
        f"- peak RSS after solving: {rss_solve:.2f} GiB; after checking too: {rss_all:.2f} GiB",
        f"- flow processes (matcher.province.FLOW_PROCESSES): {province.FLOW_PROCESSES}; bound processes "
        f"(matcher.wholebound.PROCESSES): {wholebound.PROCESSES}; rounds at most (matcher.province.MAX_ROUNDS): "
        f"{province.MAX_ROUNDS}",
        (f"- peak memory of this process and its worker processes together (sum of PSS, sampled every "
         f"{_PssSampler.EVERY} s): {sampler.peak / 1024**3:.2f} GiB" if sampler.started else
         "- PSS not sampled (`--pss` samples it, which slows the run by 2-4 s): with worker processes the RSS above "
         "is this process's only"),
        f"- status: {h['status']}; method: {h['method']}",
        f"- objective: {', '.join(f'{k} {val:g}' for k, val in h['objective'].items())}",
        f"- whole-plan bound: {', '.join(f'{k} {val:g}' for k, val in h['bound'].items())}",
        f"- whole-plan gap: {h['gap']:.4%} (sum over priorities; per priority: "
        + ", ".join(f"{s['term']} {(s['value'] - s['bound']) / max(abs(s['value']), 1e-9):.2%}"
                    for s in h['stages'] if s['value']) + ")",
        "",
        "| tier | links | candidate pairs | objective | bound | gap | status | method |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for tid, t in h["tiers"].items():
        lines.append(f"| {tid} | {t['links']} | {t['candidate_pairs']:,} | {t['objective']:g} | {t['bound']} | "
                     f"{t['gap']} | {t['status']} | {t['method']} |")
    lines += [
        "",
        f"- checker: {errors} error(s), {warnings} warning(s), {report.links_checked} links checked",
        f"- uncovered targets: {len(plan.uncovered)}",
        "",
        "Progress (seconds since the start, including reading the instance):",
        "",
        "```",
        *log,
        "```",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    atomic_write_text(args.out, text)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
