"""matcher.membership.isin gives pandas' isin answer, of the same type, on every kind of pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matcher.membership import isin

WORDS = ["a", "b", "c", "d", None, "x1", "520102000000"]


def _pools(rng: np.random.Generator) -> list:
    """Pools of the shapes matcher passes: lists with odd items, sets, text indexes and columns, dict keys."""
    return [
        list(rng.choice(np.array(["a", "b", "zz", None, 1, 2.0, float("nan")], dtype=object),
                        size=int(rng.integers(0, 6)))),
        set(rng.choice(["a", "b", "zz", "520102000000"], size=int(rng.integers(0, 4)))),
        pd.Index(rng.choice(["c", "d", "a"], size=int(rng.integers(0, 4))).tolist(), dtype="str"),
        pd.Series(rng.choice(["c", "x1", "c"], size=3).tolist(), dtype="str"),
        {"a": 1, "x1": 2}.keys(),
        [],
    ]


@pytest.mark.parametrize("seed", range(40))
def test_same_answer_as_pandas(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 30))
    values = pd.Series(rng.choice(np.array(WORDS, dtype=object), size=n), dtype="str",
                       index=rng.permutation(n) + 7, name="helper")
    for pool in _pools(rng):
        want = values.isin(pool)
        got = isin(values, pool)
        assert isinstance(got, pd.Series)
        pd.testing.assert_series_equal(got, want)
        idx = pd.Index(values)
        got_idx = isin(idx, pool)
        assert isinstance(got_idx, np.ndarray)
        assert got_idx.tolist() == idx.isin(pool).tolist()


def test_numbers_go_to_pandas() -> None:
    s = pd.Series([1, 2, 3, 2])
    pd.testing.assert_series_equal(isin(s, {2, 5}), s.isin({2, 5}))
    assert isin(np.array(["a", "b"]), ["b"]).tolist() == [False, True]


def test_large_pool_is_one_hash_lookup() -> None:
    """A province-sized pool: the answer is right at every position (the speed itself is in bench/RESULTS.md)."""
    pool = pd.Index([f"P{i:06d}" for i in range(0, 60_000, 2)], dtype="str")
    values = pd.Series([f"P{i:06d}" for i in range(30_000)], dtype="str")
    got = isin(values, pool).to_numpy()
    assert got.sum() == 15_000
    assert got[::2].all() and not got[1::2].any()
