"""Candidate pairs of one tier as numpy arrays, built area by area without a pair DataFrame.

At province scale (Guizhou: 9.7 M staff-village pairs) a DataFrame row per pair with every helper
and target column costs a minute and gigabytes. Here the tier's helpers and targets are turned into
integer-coded columns once (:class:`TierTables`); a chunk (one county's targets and the helpers who
may reach them) is a broadcast of helper positions against target positions, masked by each
eligibility rule of :data:`matcher.rules.RULES` in registry order, with the cost parts looked up from
small tables that the rule functions of :mod:`matcher.rules` themselves fill (match per
(helper profile, target profile), strength per (unit strength, poverty class), travel per distance).

Only the rules this module knows are vectorised. :func:`fast_path_reason` says why a tier cannot use
it (an unknown eligibility rule, continuity pairs, pinned incumbents outside the tier's filters); the
caller then builds pairs with :func:`matcher.candidates.build_tier_frames`. The equivalence with that
builder is tested pair by pair and cost by cost (tests/test_pairarrays.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matcher import rules
from matcher.candidates import (
    Context,
    filter_mask,
    haversine_km,
    helper_frame,
    target_frame,
)
from matcher.membership import isin
from matcher.model import SCALES
from matcher.scheme import Tier

KNOWN_ELIGIBILITY = ("stay_in_area", "hometown_avoid", "max_distance", "rank_by_class", "no_return", "link_budget")
"""Eligibility rules vectorised here, in the order :data:`matcher.rules.RULES` applies them."""

COST_TERMS = ("match", "strength", "travel")
MATCH_HELPER_COLUMNS = ("skills", "unit_function", "languages")
MATCH_TARGET_COLUMNS = ("needs", "ethnic_groups")
LEVELS = ("province", "prefecture", "county", "township")


def fast_path_reason(ctx: Context, tier: Tier) -> str:
    """Why a tier's pairs cannot be built as arrays ('' when they can).

    Source: matcher.pairarrays design: only the rules vectorised here may apply to the tier
    """
    names = tuple(n for n, s in rules.RULES.items() if s.kind == "eligibility")
    if names != KNOWN_ELIGIBILITY:
        return f"eligibility rules {names} differ from the vectorised ones {KNOWN_ELIGIBILITY}"
    if tier.continuity:
        return f"tier '{tier.id}' prefers continuing pairs (continuity)"
    inc = rules.in_force_incumbents(ctx, tier)
    if len(inc):
        h = helper_frame(ctx, tier)
        t = target_frame(ctx, tier)
        if not (isin(inc["helper"], h.index).all() and isin(inc["target"], t.index).all()):
            return f"tier '{tier.id}' has pinned incumbents outside its helper or target filters"
    return ""


def _codes(values: list[pd.Series]) -> list[np.ndarray]:
    """Integer codes shared by several text columns (equal text, equal code; '' is code 0)."""
    text = [v.astype(str).fillna("").to_numpy() for v in values]
    allv = np.concatenate([np.array([""], dtype=object)] + [t.astype(object) for t in text])
    codes, _ = pd.factorize(allv, sort=False)
    out, at = [], 1
    for t in text:
        out.append(codes[at:at + len(t)].astype(np.int64))
        at += len(t)
    return out


def profile_text(frame: pd.DataFrame, cols: tuple[str, ...]) -> pd.Series:
    """Each row's ``cols`` as one text, joined by '|' (equal texts, equal profile); column-wise, not row by row."""
    text = frame[cols[0]].astype(str).astype(object)
    for c in cols[1:]:
        text = text + "|" + frame[c].astype(str).astype(object)
    return text


def _profile_codes(frame: pd.DataFrame, cols: tuple[str, ...]) -> tuple[np.ndarray, pd.DataFrame]:
    """One code per row for equal ``cols`` (the match profile), and one representative row per code."""
    if not len(frame):
        return np.zeros(0, dtype=np.int64), frame[list(cols)].iloc[:0]
    codes, uniq = pd.factorize(profile_text(frame, cols), sort=True)
    first = pd.Series(np.arange(len(frame))).groupby(codes).first().to_numpy()
    return codes.astype(np.int64), frame[list(cols)].iloc[first].reset_index(drop=True)


@dataclass
class TierTables:
    """A tier's helpers and targets as integer-coded arrays, and the cost tables filled on demand."""

    ctx: Context
    tier: Tier
    helpers: pd.DataFrame
    targets: pd.DataFrame
    h_area: dict[str, np.ndarray]       # u_<level> codes
    h_home: dict[str, np.ndarray]       # home_<level> codes
    t_area: dict[str, np.ndarray]       # t_<level> codes
    h_hometown: np.ndarray
    t_locality: np.ndarray
    h_unit_level: np.ndarray            # text
    h_rank: np.ndarray                  # text
    h_unit: np.ndarray                  # unit codes (0..)
    h_lon: np.ndarray
    h_lat: np.ndarray
    t_lon: np.ndarray
    t_lat: np.ndarray
    h_prof: np.ndarray
    t_prof: np.ndarray
    h_prof_rows: pd.DataFrame
    t_prof_rows: pd.DataFrame
    rbc: list[tuple[np.ndarray, np.ndarray]]  # per rank_by_class: (target matches, helper rank allowed)
    pinned_keys: np.ndarray             # helper_pos * n_targets + target_pos of in-force incumbents
    ended_keys: np.ndarray              # of ended incumbents (no_return)
    h_scode: np.ndarray                 # code of the unit strength per helper
    t_pcode: np.ndarray                 # code of the poverty class per target
    s_values: np.ndarray                # strength per code
    p_values: np.ndarray                # poverty class per code
    match_table: np.ndarray             # (helper profile, target profile) -> match cost (NaN: not yet computed)
    strength_table: np.ndarray          # (strength code, class code) -> strength cost (NaN: not yet computed)
    alike_codes: np.ndarray | None = None  # per helper: equal code, equal inputs outside home and links (alike_helpers)

    @property
    def n_targets(self) -> int:
        """Number of targets of the tier."""
        return len(self.targets)


def tier_tables(ctx: Context, tier: Tier, helpers: pd.DataFrame | None = None,
                targets: pd.DataFrame | None = None) -> TierTables:
    """Code a tier's helpers and targets once (helper_frame and target_frame unless given)."""
    h = helper_frame(ctx, tier) if helpers is None else helpers
    t = target_frame(ctx, tier) if targets is None else targets
    area_cols = [h.get("u_" + lv, pd.Series("", index=h.index)) for lv in LEVELS]
    home_cols = [h.get("home_" + lv, pd.Series("", index=h.index)) for lv in LEVELS]
    tcols = [t.get("t_" + lv, pd.Series("", index=t.index)) for lv in LEVELS]
    loc = [h["hometown"] if "hometown" in h.columns else pd.Series("", index=h.index),
           t["locality"] if "locality" in t.columns else pd.Series("", index=t.index)]
    codes = _codes(area_cols + home_cols + tcols + loc)
    n = len(LEVELS)
    h_pos = pd.Series(np.arange(len(h)), index=h.index)
    t_pos = pd.Series(np.arange(len(t)), index=t.index)

    def keys(inc: pd.DataFrame) -> np.ndarray:
        inc = inc[isin(inc["helper"], h.index) & isin(inc["target"], t.index)]
        return np.unique(inc["helper"].map(h_pos).to_numpy(dtype=np.int64) * len(t)
                         + inc["target"].map(t_pos).to_numpy(dtype=np.int64))

    rbc = []
    for r in tier.eligibility.rank_by_class:
        rbc.append((filter_mask(t, r.where).to_numpy(dtype=bool), h["rank"].isin(r.rank).to_numpy(dtype=bool)))
    h_prof, h_rows = _profile_codes(h, MATCH_HELPER_COLUMNS)
    t_prof, t_rows = _profile_codes(t, MATCH_TARGET_COLUMNS)
    pinned = keys(rules.in_force_incumbents(ctx, tier))
    s_code, s_vals = pd.factorize(pd.to_numeric(h["unit_strength"], errors="coerce").fillna(0.0).to_numpy(dtype=float))
    p_code, p_vals = pd.factorize(pd.to_numeric(t["poverty_class"], errors="coerce").fillna(0).to_numpy(dtype=np.int64))
    ended = keys(rules.ended_incumbents(ctx, tier)) if tier.id in ctx.scheme.terms.no_return else np.zeros(0, np.int64)
    return TierTables(
        ctx=ctx, tier=tier, helpers=h, targets=t,
        h_area={lv: codes[i] for i, lv in enumerate(LEVELS)},
        h_home={lv: codes[n + i] for i, lv in enumerate(LEVELS)},
        t_area={lv: codes[2 * n + i] for i, lv in enumerate(LEVELS)},
        h_hometown=codes[3 * n], t_locality=codes[3 * n + 1],
        h_unit_level=h["unit_level"].astype(str).to_numpy(), h_rank=h["rank"].astype(str).to_numpy(),
        h_unit=pd.factorize(h["unit"].astype(str), sort=True)[0].astype(np.int64),
        h_lon=h["seat_lon"].to_numpy(dtype=float), h_lat=h["seat_lat"].to_numpy(dtype=float),
        t_lon=t["t_lon"].to_numpy(dtype=float), t_lat=t["t_lat"].to_numpy(dtype=float),
        h_prof=h_prof, t_prof=t_prof, h_prof_rows=h_rows, t_prof_rows=t_rows,
        h_scode=s_code.astype(np.int64), t_pcode=p_code.astype(np.int64), s_values=np.asarray(s_vals, dtype=float),
        p_values=np.asarray(p_vals, dtype=np.int64),
        match_table=np.full((max(len(h_rows), 1), max(len(t_rows), 1)), np.nan),
        strength_table=np.full((max(len(s_vals), 1), max(len(p_vals), 1)), np.nan),
        rbc=rbc, pinned_keys=pinned, ended_keys=ended)


@dataclass
class PairArrays:
    """Candidate pairs of a chunk: helper and target positions, pinned flags, distance and integer costs."""

    helper: np.ndarray                 # int64 positions in TierTables.helpers
    target: np.ndarray                 # int64 positions in TierTables.targets
    pinned: np.ndarray                 # bool
    distance: np.ndarray               # km (0 where a position is missing)
    costs: dict[str, np.ndarray]       # term -> int64 (scaled and weighted as the model scales them)
    dropped: dict[str, int]            # eligibility rule -> pairs it removed


def _eligible(tt: TierTables, hp0: np.ndarray, tp0: np.ndarray, km: np.ndarray, seat_of: np.ndarray,
              pinned: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Mask of the grid's pairs every eligibility rule allows (pinned pairs always), and the pairs each rule removed.

    Source: the eligibility rules of matcher.rules (same order, same tests, as arrays)

    The grid is every (helper, target) of ``hp0`` x ``tp0`` in (helper, target) order; ``pinned`` is per
    grid pair, ``km`` per (unit seat, target) with ``seat_of`` each helper's seat (:func:`_seat_grid`).
    A rule comparing a helper's value with a target's is evaluated as a (helpers x targets) table by
    broadcasting, not by gathering both values for every pair; a rule of distance alone (max_distance,
    the days of link_budget) once per (seat, target).
    """
    tier, ctx = tt.tier, tt.ctx
    shape = (len(hp0), len(tp0))
    keep = np.ones(shape[0] * shape[1], dtype=bool)
    dropped: dict[str, int] = {}

    def h(a: np.ndarray) -> np.ndarray:
        return a[hp0][:, None]

    def t(a: np.ndarray) -> np.ndarray:
        return a[tp0][None, :]

    def apply(name: str, ok: np.ndarray | bool) -> None:
        nonlocal keep
        flat = isinstance(ok, np.ndarray) and ok.ndim == 1  # given per grid pair already
        ok = (ok if flat else np.broadcast_to(ok, shape).ravel()) | pinned
        dropped[name] = int((keep & ~ok).sum())
        keep &= ok

    ok: np.ndarray | bool = True
    for ulevel, area in tier.eligibility.stay_in_area:
        m = h(tt.h_unit_level == ulevel)  # compare per helper (text), then spread to the pairs
        ok = ok & (~m | (h(tt.h_area[area]) == t(tt.t_area[area])))
    apply("stay_in_area", ok)
    lv = tier.eligibility.hometown_avoid
    if lv == "village":
        apply("hometown_avoid", h(tt.h_hometown) != t(tt.t_locality))
    elif lv:
        home = h(tt.h_home[lv])
        apply("hometown_avoid", (home == 0) | (home != t(tt.t_area[lv])))
    else:
        apply("hometown_avoid", True)
    lim = tier.eligibility.max_distance_km
    apply("max_distance", (km <= lim)[seat_of] if lim else True)
    ok = True
    for t_match, h_ok in tt.rbc:
        ok = ok & (~t(t_match) | h(h_ok))
    apply("rank_by_class", ok)
    if len(tt.ended_keys):
        apply("no_return", ~np.isin(hp0[:, None] * tt.n_targets + tp0[None, :], tt.ended_keys))
    else:
        apply("no_return", True)
    ok = True
    capped = [(rank, rb) for rank, rb in ctx.scheme.budget.ranks if rb.max_days is not None]
    if tier.helpers.table == "people" and capped:
        days = rules.link_days(pd.DataFrame({"distance_km": km.ravel()}), tier, ctx).to_numpy(dtype=float)
        days = days.reshape(km.shape)
        for rank, rb in capped:
            ok = ok & (~h(tt.h_rank == rank) | (days <= rb.max_days + 1e-9)[seat_of])
    apply("link_budget", ok)
    return keep, dropped


def _match_values(tt: TierTables, hprof: np.ndarray, tprof: np.ndarray) -> np.ndarray:
    """rules.match_cost per pair, evaluated once per (helper profile, target profile) and kept in a table.

    Missing entries are filled as one grid (rules.match_cost_grid): the missing pairs' helper profiles
    by their target profiles, a superset computed in one call.
    """
    table = tt.match_table
    vals = table[hprof, tprof]
    todo = np.isnan(vals)
    if todo.any():
        rows, cols = np.unique(hprof[todo]), np.unique(tprof[todo])
        table[np.ix_(rows, cols)] = rules.match_cost_grid(tt.h_prof_rows.iloc[rows], tt.t_prof_rows.iloc[cols],
                                                          tt.tier, tt.ctx)
        vals = table[hprof, tprof]
    return vals


def _strength_values(tt: TierTables, hp: np.ndarray, tp: np.ndarray) -> np.ndarray:
    """rules.strength_cost per pair, evaluated once per (unit strength, poverty class) and kept in a table.

    The table is small (strengths x classes): its missing entries are filled all at once.
    """
    table = tt.strength_table
    vals = table[tt.h_scode[hp], tt.t_pcode[tp]]
    todo = np.isnan(vals)
    if todo.any():
        n_p = table.shape[1]
        combo = np.flatnonzero(np.isnan(table).ravel())
        frame = pd.DataFrame({"unit_strength": tt.s_values[combo // n_p], "poverty_class": tt.p_values[combo % n_p]})
        table[combo // n_p, combo % n_p] = rules.strength_cost(frame, tt.tier, tt.ctx).to_numpy(dtype=float)
        vals = table[tt.h_scode[hp], tt.t_pcode[tp]]
    return vals


def int_cost(values: np.ndarray, ctx: Context, term: str) -> np.ndarray:
    """A cost part as the integers the solver minimises (weight x scale, rounded)."""
    w = ctx.scheme.objective.weight(term)
    return np.rint(np.asarray(values, dtype=float) * w * SCALES[term]).astype(np.int64)


def _seat_grid(tt: TierTables, helper_pos: np.ndarray, target_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Km from each distinct unit seat of the helpers to each target (0 where a position is missing), and each helper's seat.

    Source: the travel rule (km from the helper's unit seat): helpers of one unit share their seat, so each
    (seat, target) distance is computed once, by the same formula
    """
    lon, lat = tt.h_lon[helper_pos], tt.h_lat[helper_pos]
    seats, seat_of = np.unique(np.stack([lon, lat], axis=1), axis=0, return_inverse=True)
    km = haversine_km(seats[:, 0][:, None], seats[:, 1][:, None], tt.t_lon[target_pos][None, :],
                      tt.t_lat[target_pos][None, :])
    return np.nan_to_num(km, nan=0.0), seat_of.ravel()


def _grid_km(tt: TierTables, helper_pos: np.ndarray, target_pos: np.ndarray) -> np.ndarray:
    """Distance in km of every (helper, target) of the grid, in (helper, target) order (0 where a position is missing)."""
    km, seat_of = _seat_grid(tt, helper_pos, target_pos)
    return km[seat_of].ravel()


def _coded_values(table: np.ndarray, h_code: np.ndarray, t_code: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  fill: Callable[[np.ndarray, np.ndarray], object], to_int: Callable[[np.ndarray], np.ndarray]
                  ) -> np.ndarray:
    """``to_int(table[h_code[i], t_code[j]])`` for the grid's kept pairs (helper ``rows``, target ``cols``).

    Entries not yet computed (NaN) are filled first by ``fill(helper rows, target columns)`` (positions in
    ``h_code`` and ``t_code`` of one representative each), which writes them into ``table``. ``to_int``
    runs on the grid's distinct (helper code, target code) table, then the kept pairs read it.
    """
    uh, h_first, h_inv = np.unique(h_code, return_index=True, return_inverse=True)
    ut, t_first, t_inv = np.unique(t_code, return_index=True, return_inverse=True)
    sub = table[np.ix_(uh, ut)]
    missing = np.argwhere(np.isnan(sub))
    if len(missing):
        fill(h_first[missing[:, 0]], t_first[missing[:, 1]])
        sub = table[np.ix_(uh, ut)]
    return to_int(sub)[h_inv.ravel()[rows], t_inv.ravel()[cols]]


def chunk_pairs(tt: TierTables, helper_pos: np.ndarray, target_pos: np.ndarray,
                allowed: np.ndarray | None = None) -> PairArrays:
    """Every eligible (helper, target) pair of a chunk, in (helper, target) order, with integer costs.

    ``allowed`` (optional, bool per pair of the helper x target grid in the same order) removes pairs
    the caller rules out beforehand (nesting: a unit's people only where the unit helps); it is
    counted under ``nesting``. Costs are looked up per (helper profile, target profile), (unit strength,
    poverty class) and (unit seat, target) and spread to the pairs, so each rule function runs once per
    distinct combination.
    """
    hp0 = np.sort(np.asarray(helper_pos, dtype=np.int64))
    tp0 = np.sort(np.asarray(target_pos, dtype=np.int64))
    n_t = len(tp0)
    km, seat_of = _seat_grid(tt, hp0, tp0)
    if len(tt.pinned_keys):
        pinned = np.isin((hp0[:, None] * tt.n_targets + tp0[None, :]).ravel(), tt.pinned_keys)
    else:
        pinned = np.zeros(len(hp0) * n_t, dtype=bool)
    keep, dropped = _eligible(tt, hp0, tp0, km, seat_of, pinned)
    if allowed is not None:
        ok = np.asarray(allowed, dtype=bool) | pinned
        dropped["nesting"] = int((keep & ~ok).sum())
        keep &= ok
    idx = np.flatnonzero(keep)
    rows, cols = idx // max(n_t, 1), idx % max(n_t, 1)
    hp, tp = hp0[rows], tp0[cols]
    dist = km[seat_of[rows], cols]
    ctx = tt.ctx
    if not len(idx):
        empty = np.zeros(0, dtype=np.int64)
        return PairArrays(hp, tp, pinned[idx], dist, {"match": empty, "strength": empty.copy(),
                                                       "travel": empty.copy()}, dropped)
    match = _coded_values(tt.match_table, tt.h_prof[hp0], tt.t_prof[tp0], rows, cols,
                          lambda r, c: _match_values(tt, tt.h_prof[hp0][r], tt.t_prof[tp0][c]),
                          lambda v: int_cost(v, ctx, "match"))
    strength = _coded_values(tt.strength_table, tt.h_scode[hp0], tt.t_pcode[tp0], rows, cols,
                             lambda r, c: _strength_values(tt, hp0[r], tp0[c]), lambda v: int_cost(v, ctx, "strength"))
    travel = rules.travel_cost(pd.DataFrame({"distance_km": km.ravel()}), tt.tier, ctx).to_numpy(dtype=float)
    costs = {"match": match, "strength": strength,
             "travel": int_cost(travel, ctx, "travel").reshape(km.shape)[seat_of[rows], cols]}
    return PairArrays(hp, tp, pinned[idx], dist, costs, dropped)


def _biting_home(tt: TierTables, helper_pos: np.ndarray, target_pos: np.ndarray) -> np.ndarray:
    """Each helper's home code where hometown avoidance excludes one of ``target_pos`` for him, else -1.

    Source: the hometown_avoid rule as :func:`_eligible` applies it (a home code that no target carries,
    or the empty home above village level, excludes nothing)
    """
    lv = tt.tier.eligibility.hometown_avoid
    if not lv:
        return np.full(len(helper_pos), -1, dtype=np.int64)
    if lv == "village":
        home, there = tt.h_hometown[helper_pos], tt.t_locality[target_pos]
        bites = np.isin(home, there)
    else:
        home, there = tt.h_home[lv][helper_pos], tt.t_area[lv][target_pos]
        bites = (home != 0) & np.isin(home, there)
    return np.where(bites, home, -1).astype(np.int64)


def alike_helpers(tt: TierTables, helper_pos: np.ndarray, target_pos: np.ndarray,
                  extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Helpers whose candidate pairs with ``target_pos`` are the same, as (representatives, each helper's representative).

    Source: every input :func:`chunk_pairs` reads of a helper (unit level and areas, the home that hometown
    avoidance can use against these targets, rank, unit seat, match profile, unit strength; a helper with
    a pinned or ended link to one of these targets is alone), so equal keys give equal targets and costs,
    pair by pair. ``extra`` (one integer per helper, optional) splits further on what a caller adds (a
    lead flag, a unit).
    ``helper_pos`` is sorted; the representatives are positions from it, sorted, and the second array
    gives, per helper, the index of his representative in the first.
    """
    hp = np.asarray(helper_pos, dtype=np.int64)
    if not len(hp):
        return hp.copy(), np.zeros(0, dtype=np.int64)
    own = np.zeros(len(hp), dtype=bool)  # a pinned or ended link to one of these targets: the helper stands alone
    n_t = max(tt.n_targets, 1)
    for keys in (tt.pinned_keys, tt.ended_keys):
        if len(keys):
            here = keys[np.isin(keys % n_t, target_pos)]
            own |= np.isin(hp, here // n_t)
    key = _alike_codes(tt)[hp]
    for col in (_biting_home(tt, hp, target_pos), np.where(own, np.arange(len(hp)), -1), extra):
        if col is not None:
            key = _joint_code(key, np.asarray(col, dtype=np.int64))
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # representatives in helper order
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return hp[first[order]], rank[inv.ravel()]


def _alike_codes(tt: TierTables) -> np.ndarray:
    """Per helper of the tier: equal code for equal unit level, areas, rank, seat, profile and strength (kept on ``tt``)."""
    if tt.alike_codes is None:
        cols = [pd.factorize(tt.h_unit_level)[0], pd.factorize(tt.h_rank)[0], tt.h_prof, tt.h_scode,
                pd.factorize(tt.h_lon)[0], pd.factorize(tt.h_lat)[0]] + [tt.h_area[lv] for lv in LEVELS]
        tt.alike_codes = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)[1].ravel().astype(np.int64)
    return tt.alike_codes


def _joint_code(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One small code per distinct (a, b) of two integer codes (equal pairs, equal code)."""
    b = b - b.min(initial=0)
    return np.unique(a * (int(b.max(initial=0)) + 1) + b, return_inverse=True)[1].ravel().astype(np.int64)


__all__ = ["PairArrays", "TierTables", "alike_helpers", "chunk_pairs", "fast_path_reason", "int_cost", "tier_tables"]
