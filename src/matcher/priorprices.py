"""A-priori prices of the top tier's pairs: what a unit's people would add to the nested tiers' match in a county.

The top tier (部门帮县) decides which county each department's division officials (处长联乡) and staff
(干部驻村) may serve. Chosen on its own costs alone, it can send a department of agronomists to a county
whose villages need doctors, and the nested tiers pay for it in match. Before anything is solved, each
(unit, county) pair is priced here by the cheapest match every nested helper of the unit could find
among the county's targets (capacities and the other helpers ignored), and the first top-tier choice
minimises its own match plus these prices. That is a heuristic for the choice only: the plan's bound
comes from the lower tiers' own potentials afterwards (:mod:`matcher.wholebound`), whatever the prices.

Match costs depend on the helper's match profile and the target's only (:mod:`matcher.pairarrays`), so
the prices are computed per (helper profile, county): a few hundred profiles against 88 counties on
Guizhou, not the 32 M (department staff, village) pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matcher import pairarrays
from matcher.membership import isin


def best_match_by_county(tt: pairarrays.TierTables, helper_pos: np.ndarray, area: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each helper profile's least match cost (as the solver's integers) among each area's targets.

    Source: nesting (部门帮县 -> 处长联乡/干部驻村): a unit's people may serve only the targets of its county
    Returns each helper's row (0.., one per distinct profile of ``helper_pos``), the table rows x areas,
    and the area codes in column order; ``area`` gives each target's area code (text).
    """
    profs, rows = np.unique(tt.h_prof[helper_pos], return_inverse=True)
    codes, t_area = np.unique(area, return_inverse=True)
    best = np.zeros((len(profs), len(codes)), dtype=np.int64)
    if not len(profs) or not len(codes):
        return rows, best, [str(c) for c in codes]
    cols = np.arange(tt.match_table.shape[1])  # every target profile (pairarrays fills the tier's table once)
    vals = pairarrays._match_values(tt, np.repeat(profs, len(cols)), np.tile(cols, len(profs)))
    ints = pairarrays.int_cost(vals, tt.ctx, "match").reshape(len(profs), len(cols))
    order = np.argsort(t_area, kind="stable")
    starts = np.searchsorted(t_area[order], np.arange(len(codes)))
    for j, part in enumerate(np.split(tt.t_prof[order], starts[1:])):
        best[:, j] = ints[:, np.unique(part)].min(axis=1)
    return rows, best, [str(c) for c in codes]


def nested_match_prices(tt: pairarrays.TierTables, keys: np.ndarray, pairs: pd.DataFrame, level: str) -> np.ndarray:
    """Per top-tier pair (helper, area): the sum over the tier's helpers nested in it of their least match there.

    Source: nesting (部门帮县 -> 处长联乡/干部驻村), each nested helper at his best-matching target of the county
    ``keys`` gives each of the tier's helpers the top-tier helper he is nested in (his unit, or himself
    where the top tier links people); pairs whose area has none of the tier's targets, or whose helper
    nests nobody here, get 0.
    """
    top_helpers = pairs["helper"].astype(str).to_numpy()
    keys = np.asarray(keys).astype(str)
    nested = np.flatnonzero(isin(keys, pd.Index(pd.unique(top_helpers))))
    out = np.zeros(len(pairs), dtype=np.int64)
    col = "t_" + level
    if not len(nested) or col not in tt.targets.columns:
        return out
    rows, best, codes = best_match_by_county(tt, nested, tt.targets[col].astype(str).to_numpy())
    k_codes, k_of = np.unique(keys[nested], return_inverse=True)
    counts = np.zeros((len(k_codes), best.shape[0]), dtype=np.int64)
    np.add.at(counts, (k_of, rows), 1)  # per top-tier helper: how many of his nested helpers have each profile
    per = counts @ best  # top-tier helpers x areas
    hi = pd.Index(k_codes).get_indexer(top_helpers)
    ai = pd.Index(codes).get_indexer(pairs["target"].astype(str).to_numpy())
    ok = (hi >= 0) & (ai >= 0)
    out[ok] = per[hi[ok], ai[ok]]
    return out
