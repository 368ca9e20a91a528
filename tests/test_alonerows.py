"""The top-tier MIP's rows for a unit alone in its county (matcher.province.alone_rows), against their definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from matcher.province import alone_rows


def _rows(n: int, ns: int, ti: np.ndarray, needed: np.ndarray, extra_at: np.ndarray, blocked: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """alone_rows' rows as a dense matrix with lower and upper bounds (no coupling slacks: na = 0)."""
    nv = n + ns + ns + len(extra_at)
    A, lo, up = [], [], []

    def row(cols, coef, a, b):
        r = np.zeros(nv)
        np.add.at(r, np.asarray(cols, dtype=np.int64), np.asarray(coef, dtype=float))
        A.append(r)
        lo.append(a)
        up.append(b)

    alone_rows(row, ti, n, ns, 0, needed, extra_at, blocked)
    return np.array(A), np.array(lo), np.array(up)


def _least_alone_cost(x: np.ndarray, ti, n, ns, needed, extra, extra_at, blocked) -> float | None:
    """The LP over the alone columns with the pairs fixed at x and shortfalls at what x leaves (None: infeasible)."""
    A, lo, up = _rows(n, ns, ti, needed, extra_at, blocked)
    units = np.bincount(ti, weights=x, minlength=ns)
    short = np.where(needed & (units == 0), 1.0, 0.0)
    fixed = np.concatenate([x, short])
    k = n + ns
    c = np.concatenate([np.zeros(ns), extra[extra_at]])
    rhs = A[:, :k] @ fixed
    # lo <= A_fixed + A_free y <= up, as A_ub y <= b_ub rows
    a_free = A[:, k:]
    a_ub = np.vstack([a_free[np.isfinite(up)], -a_free[np.isfinite(lo)]])
    b_ub = np.concatenate([(up - rhs)[np.isfinite(up)], -(lo - rhs)[np.isfinite(lo)]])
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=[(0, 1)] * len(c), method="highs")
    return float(res.fun) if res.status == 0 else None


def _alone_cost_by_definition(x: np.ndarray, ti, ns, needed, extra, blocked) -> float | None:
    """Sum of the alone prices of the chosen pairs alone in a needed target; None where a blocked pair is alone."""
    total = 0.0
    for t in range(ns):
        chosen = np.flatnonzero((ti == t) & (x > 0))
        if needed[t] and len(chosen) == 1:
            i = chosen[0]
            if blocked[i]:
                return None
            total += extra[i]
    return total


@pytest.mark.parametrize("seed", range(6))
def test_alone_rows_charge_exactly_the_alone_prices_for_every_integral_choice(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ns = 3
    n = 7
    ti = np.sort(rng.integers(0, ns, n))
    needed = np.array([True, True, bool(seed % 2)])
    extra = np.where(rng.random(n) < 0.6, rng.integers(1, 50, n), 0).astype(float)
    extra_at = np.flatnonzero(extra > 0)
    if seed >= 3 and len(extra_at) < n:  # a priced pair of an earlier round whose price now is 0
        extra_at = np.union1d(extra_at, [np.flatnonzero(extra == 0)[0]])
    blocked = rng.random(n) < 0.3
    checked = 0
    for bits in itertools.product([0.0, 1.0], repeat=n):
        x = np.array(bits)
        want = _alone_cost_by_definition(x, ti, ns, needed, extra, blocked)
        got = _least_alone_cost(x, ti, n, ns, needed, extra, extra_at, blocked)
        if want is None:
            assert got is None, (x, got)
        else:
            assert got is not None and got == pytest.approx(want), (x, got, want)
            checked += 1
    assert checked > 10
