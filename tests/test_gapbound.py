"""matcher.gapbound.knapsack_bound: a true lower bound (brute force, published optima), and a strong one."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from matcher import gapsearch as gs
from matcher.gap import GapInstance, best_known, default_gap_folder, read_gap
from matcher.gapbound import _knapsack, knapsack_bound

GAP = default_gap_folder()
if not (GAP / "best_known.csv").exists():
    GAP = Path(__file__).resolve().parent / "data" / "gap"


def _brute_force(g: GapInstance) -> int | None:
    """The least cost of a feasible assignment, by trying every one (None when none fits)."""
    best = None
    for assign in itertools.product(range(g.agents), repeat=g.jobs):
        a = np.array(assign)
        used = np.bincount(a, weights=g.load[a, np.arange(g.jobs)], minlength=g.agents)
        if (used <= g.capacity).all():
            c = int(g.cost[a, np.arange(g.jobs)].sum())
            best = c if best is None else min(best, c)
    return best


def test_knapsack_is_exact() -> None:
    """The knapsack recursion against every subset of a few items."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        profit = rng.integers(-5, 20, size=n).astype(float)
        weight = rng.integers(1, 10, size=n).astype(np.int64)
        cap = int(rng.integers(0, 25))
        take = np.zeros(n, dtype=bool)
        got = _knapsack(profit, weight, cap, take)
        want = max(sum(profit[list(s)]) for k in range(n + 1) for s in itertools.combinations(range(n), k)
                   if sum(weight[list(s)]) <= cap)
        assert got == pytest.approx(want)
        assert weight[take].sum() <= cap and profit[take].sum() == pytest.approx(got)


@pytest.mark.parametrize("seed", range(30))
def test_never_above_the_brute_force_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(2, 4)), int(rng.integers(3, 7))
    cost, load = rng.integers(1, 30, size=(m, n)), rng.integers(1, 10, size=(m, n))
    capacity = rng.integers(5, 20, size=m)
    opt = None
    while opt is None:  # widen the capacities until some assignment fits
        g = GapInstance(f"r{seed}", cost, load, capacity)
        opt = _brute_force(g)
        capacity = capacity + 5
    assert knapsack_bound(g, float(opt) + 5) <= opt


@pytest.mark.parametrize("name", ["gap1-1", "gap4-2", "gap8-5", "gap12-2", "c10100", "d10100", "d20100", "e20100"])
def test_below_the_published_optimum_and_above_the_capacity_relaxation(name: str) -> None:
    path = GAP / "instances" / name
    assert path.exists(), f"{name} not in {GAP}"
    g = read_gap(path)
    opt = best_known(GAP)[(name, "min")]
    knap = knapsack_bound(g, float(opt))
    _, capacity_relaxed, _ = gs.lagrangian_start(g, iterations=300, seed=0)
    assert capacity_relaxed <= knap <= opt


def test_d20100_bound_beats_cp_sat() -> None:
    """On d20100 (optimum 6185) the bound reaches 6176 or more: CP-SAT's own bound after 60 s was 6160."""
    path = GAP / "instances" / "d20100"
    assert path.exists(), f"d20100 not in {GAP}"
    assert 6176 <= knapsack_bound(read_gap(path), 6185.0) <= 6185
