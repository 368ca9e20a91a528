"""Membership tests on ids and codes that stay fast on pandas' arrow-backed strings.

pandas 3 stores text as pyarrow strings, and ``Series.isin(pool)`` on them turns every item of the
pool into a pyarrow scalar in Python before one compiled lookup: about 10 microseconds per pool item,
so ``links["helper"].isin(helpers.index)`` on a province (26,000 helpers) costs 0.3 s per call and a
what-if re-plan on Guizhou spent 3.2 of its 10.6 s there (bench/RESULTS.md). :func:`isin` gives the
same answer through one hash lookup of the whole column (``Index.get_indexer``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, overload

import numpy as np
import pandas as pd


@overload
def isin(values: pd.Series, pool: Iterable[Any]) -> pd.Series: ...
@overload
def isin(values: pd.Index | np.ndarray, pool: Iterable[Any]) -> np.ndarray: ...


def isin(values: Any, pool: Iterable[Any]) -> Any:
    """Which items of ``values`` are in ``pool``: ``values.isin(pool)``, the same result and type, in one hashed pass.

    Source: pandas' ``Series.isin`` / ``Index.isin`` semantics (missing values match missing values; a
    number never matches a string); this module's docstring says why it is not called on strings.
    """
    if not _is_text(values):
        return values.isin(pool) if hasattr(values, "isin") else np.isin(values, list(pool))
    if not isinstance(pool, (pd.Index, pd.Series, np.ndarray, list, tuple)):
        pool = list(pool)  # a set, dict keys or generator
    keys = pd.Index(pool)
    if not isinstance(keys.dtype, pd.StringDtype):  # as pandas does: only text and missing items can match
        keys = pd.Index([k for k in keys if isinstance(k, str) or k is None or (isinstance(k, float) and k != k)],
                        dtype=values.dtype if isinstance(values.dtype, pd.StringDtype) else "str")
    if not keys.is_unique:
        keys = keys.unique()
    found = keys.get_indexer(values) >= 0 if len(keys) else np.zeros(len(values), dtype=bool)
    if isinstance(values, pd.Series):
        return pd.Series(found, index=values.index, name=values.name)
    return found


def _is_text(values: Any) -> bool:
    """A pandas column or index of strings (the dtype whose ``isin`` is slow), or a numpy array of them."""
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(values, np.ndarray):
        return dtype is not None and dtype.kind == "U"
    return False
