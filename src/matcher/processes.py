"""Forked worker processes for the province solver's independent parts, and memory hygiene around them.

The flow groups of a lower tier (:func:`matcher.province._solve_flows`) and the county jobs of the
whole-plan bound (:func:`matcher.wholebound._county_parts`) are independent problems solved by the same
deterministic code wherever they run, so they may run in forked processes. A forked worker shares the
parent's memory until one of them writes to it; this module keeps that sharing as large as it can be.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any


def release_free_memory() -> None:
    """Give the C heap's free pages back to the operating system (glibc's malloc_trim; nothing elsewhere).

    numpy's freed arrays of up to 32 MB stay in the heap, resident, until the heap is trimmed; a
    province's lower tiers free hundreds of MB of such county chunks before their flows are solved.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def native_stdout_dropped() -> Iterator[None]:
    """What is written to standard output (file descriptor 1) meanwhile is dropped; Python's pending output is flushed first.

    Source: HiGHS 1.12 prints a leftover debug line ("HighsMipSolverData::transformNewIntegerFeasibleSolution
    tmpSolver.run();", HiGHS issue 2783) with printf whatever its output options say; matcher's users would
    see it among the plan's lines. Only a solver call goes inside; progress goes to standard error and is
    not touched.
    """
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no descriptor 1 (a detached process): nothing to drop
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def fork_pool(n_proc: int) -> Iterator[Any]:
    """A pool of ``n_proc`` forked worker processes (None off Linux or where none can be made), the parent's objects frozen.

    A ProcessPoolExecutor: a worker that dies (killed for memory, say) breaks the pool with
    BrokenProcessPool instead of leaving the parent waiting for ever, as multiprocessing.Pool would.

    Forked workers share the parent's memory until they write to it. Python's garbage collector writes
    to every object it visits, so a collection in a worker would copy the pages of every object of the
    parent (the instance's tables): ``gc.freeze`` before the fork keeps them out of the collections, and
    the parent's free heap pages are returned first so that no worker starts with them.
    """
    import multiprocessing as mp

    if not sys.platform.startswith("linux") or "fork" not in mp.get_all_start_methods():
        yield None  # fork is unsafe on macOS (system libraries) and missing on Windows: the caller works alone
        return
    gc.collect()
    gc.freeze()
    release_free_memory()
    try:
        try:
            pool = ProcessPoolExecutor(max_workers=n_proc, mp_context=mp.get_context("fork"))
        except OSError:  # no semaphores here (a sandbox)
            pool = None
        if pool is None:
            yield None
        else:
            with pool:
                yield pool
    finally:
        gc.unfreeze()


_TASKS: list[tuple[Callable[..., Any], Sequence[tuple]]] = []
"""The function and argument tuples forked workers run (set just before the fork, read by _run_task)."""


def _run_task(i: int) -> Any:
    """Task ``i`` of _TASKS (run in a forked worker process)."""
    fn, args = _TASKS[0]
    return fn(*args[i])


def map_forked(fn: Callable[..., Any], args: Sequence[tuple], sizes: Sequence[int], n_proc: int) -> list[Any] | None:
    """``[fn(*a) for a in args]`` computed by ``n_proc`` forked workers, largest ``sizes`` first (None: no pool here,
    or a worker died).

    The workers inherit ``fn`` and ``args`` through the fork (nothing is pickled on the way in); the
    results come back in the order of ``args`` whatever order they were computed in.
    """
    global _TASKS
    order = sorted(range(len(args)), key=lambda i: (-sizes[i], i))
    _TASKS = [(fn, args)]
    try:
        with fork_pool(n_proc) as pool:
            if pool is None:
                return None
            out = list(pool.map(_run_task, order, chunksize=1))
    except BrokenProcessPool:  # a worker died (killed for memory, say): the caller does the work itself
        return None
    finally:
        _TASKS = []
    results: list[Any] = [None] * len(args)
    for i, r in zip(order, out):
        results[i] = r
    return results


def map_largest_first(fn: Callable[..., Any], args: Sequence[tuple], sizes: Sequence[int], n_proc: int) -> list[Any]:
    """``[fn(*a) for a in args]``: by up to ``n_proc`` forked workers where they can run, else here, one after another.

    At most one worker per core and per task; the results are the same either way (the callers' tasks
    are deterministic), in the order of ``args``.
    """
    n_proc = min(n_proc, len(args), os.cpu_count() or 1)
    if n_proc >= 2:
        out = map_forked(fn, args, sizes, n_proc)
        if out is not None:
            return out
    return [fn(*a) for a in args]
