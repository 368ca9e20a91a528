"""Small exact transportation problems (matcher.transport) against brute force and OR-Tools."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ortools.graph.python import min_cost_flow

from matcher.transport import INFEASIBLE, OPTIMAL, OUT_OF_RANGE, least_transport


def _brute(supply, row, col, cost, lo, up):
    """Every helper of every class tries every target: the least total, or None."""
    arcs: dict[tuple[int, int], int] = {}
    for r, t, c in zip(row.tolist(), col.tolist(), cost.tolist()):
        arcs[(r, t)] = min(c, arcs.get((r, t), c))
    helpers = [r for r, k in enumerate(supply.tolist()) for _ in range(k)]
    best = None
    for choice in itertools.product(range(len(lo)), repeat=len(helpers)):
        if any((r, t) not in arcs for r, t in zip(helpers, choice)):
            continue
        n_at = np.bincount(np.array(choice, dtype=np.int64), minlength=len(lo))
        if (n_at < lo).any() or (n_at > up).any():
            continue
        v = sum(arcs[(r, t)] for r, t in zip(helpers, choice))
        best = v if best is None else min(best, v)
    return best


def _random_problem(rng, most_helpers: int):
    n_r, n_c = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    supply = rng.integers(0, 3, n_r).astype(np.int64)
    while supply.sum() > most_helpers:
        supply[int(np.argmax(supply))] -= 1
    mask = rng.random((n_r, n_c)) < rng.uniform(0.4, 1.0)
    row, col = np.nonzero(mask)
    cost = rng.integers(-30, 40 if rng.random() < 0.5 else 3, len(row)).astype(np.int64)  # few values: ties
    up = rng.integers(0, 4, n_c).astype(np.int64)
    lo = np.minimum(up, rng.integers(0, 2, n_c)).astype(np.int64)
    return supply, row.astype(np.int64), col.astype(np.int64), cost, lo, up


@pytest.mark.parametrize("seed", range(40))
def test_least_transport_equals_brute_force(seed):
    """Classes of helpers with counts, targets between lo and up: the least cost or INFEASIBLE, as brute force."""
    rng = np.random.default_rng(seed)
    supply, row, col, cost, lo, up = _random_problem(rng, 6)
    best = _brute(supply, row, col, cost, lo, up)
    status, value = least_transport(supply, row, col, cost, lo, up)
    assert (status, value) == ((OPTIMAL, best) if best is not None else (INFEASIBLE, 0))


def _or_tools(supply, row, col, cost, lo, up):
    """The same problem as an OR-Tools min-cost flow (targets' lower bounds as demands)."""
    n_r = len(supply)
    if supply.sum() < lo.sum():
        return None
    mcf = min_cost_flow.SimpleMinCostFlow()
    for r, t, c in zip(row.tolist(), col.tolist(), cost.tolist()):
        mcf.add_arc_with_capacity_and_unit_cost(1 + r, 1 + n_r + t, int(supply[r]), c)
    for t in range(len(lo)):
        mcf.add_arc_with_capacity_and_unit_cost(1 + n_r + t, 0, int(up[t] - lo[t]), 0)
        mcf.set_node_supply(1 + n_r + t, -int(lo[t]))
    for r in range(n_r):
        mcf.set_node_supply(1 + r, int(supply[r]))
    mcf.set_node_supply(0, -(int(supply.sum()) - int(lo.sum())))
    return mcf.optimal_cost() if mcf.solve() == mcf.OPTIMAL else None


def test_least_transport_equals_or_tools_on_larger_problems():
    """Larger random problems (up to 12 classes x 30 targets, 200 helpers) agree with OR-Tools' min-cost flow."""
    rng = np.random.default_rng(7)
    outcomes = set()
    for _ in range(300):
        n_r, n_c = int(rng.integers(1, 13)), int(rng.integers(1, 31))
        supply = rng.integers(0, 20, n_r).astype(np.int64)
        mask = rng.random((n_r, n_c)) < rng.uniform(0.2, 1.0)
        row, col = (x.astype(np.int64) for x in np.nonzero(mask))
        cost = rng.integers(-10**9, 10**9, len(row)).astype(np.int64)
        up = rng.integers(0, 8, n_c).astype(np.int64)
        lo = np.minimum(up, rng.integers(0, 3, n_c)).astype(np.int64)
        ref = _or_tools(supply, row, col, cost, lo, up)
        status, value = least_transport(supply, row, col, cost, lo, up)
        assert (status, value) == ((OPTIMAL, ref) if ref is not None else (INFEASIBLE, 0))
        outcomes.add(status)
    assert outcomes == {OPTIMAL, INFEASIBLE}  # both kinds of answer were exercised


def test_least_transport_refuses_costs_beyond_exact_integers():
    one = np.array([0], dtype=np.int64)
    status, _ = least_transport(np.array([3], dtype=np.int64), one, one, np.array([2**60], dtype=np.int64),
                                one, np.array([3], dtype=np.int64))
    assert status == OUT_OF_RANGE
