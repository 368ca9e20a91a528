"""Candidate pairs: one row per (tier, helper, target) that the rules allow, with each cost part.

The model builder and the explanations both read these frames. Helpers and targets of a tier
are first put in flat frames with the columns the rules need (a helper's unit, rank, seat,
areas and hometown areas; a target's ancestors, class, needs, languages and position); pairs
are then generated area by area (never a full cross product when ``stay_in_area`` applies),
and every eligibility rule of :mod:`matcher.rules` prunes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from matcher.errors import SolveError
from matcher.scheme import Filter, Scheme, Tier

AREA_LEVELS = ("province", "prefecture", "county", "township")


def _as_tuple(v: Any) -> tuple[Any, ...]:
    if isinstance(v, tuple):
        return v
    if isinstance(v, list):
        return tuple(v)
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v == "":
        return ()
    if isinstance(v, str):
        return tuple(x for x in v.split(";") if x)
    return (v,)


def _norm(v: Any) -> Any:
    """A filter value compared as text unless both sides are numbers."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return int(v) if float(v).is_integer() else float(v)
    return str(v)


def filter_mask(frame: pd.DataFrame, flt: Filter | dict[str, Iterable[Any]]) -> pd.Series:
    """Rows of ``frame`` that pass a filter (columns ANDed; list cells match on one shared value).

    A column the frame does not have matches no row, so a misspelt column selects nothing
    rather than everything.
    """
    cols = flt.as_dict() if isinstance(flt, Filter) else {k: tuple(v) for k, v in flt.items()}
    mask = pd.Series(True, index=frame.index)
    for col, allowed in cols.items():
        if col not in frame.columns:
            return pd.Series(False, index=frame.index)
        allowed_set = {_norm(a) for a in allowed}
        allowed_str = {str(a) for a in allowed}
        ser = frame[col]

        def ok(v: Any, allowed_set: set[Any] = allowed_set, allowed_str: set[str] = allowed_str) -> bool:
            if isinstance(v, tuple | list):
                return any(_norm(x) in allowed_set or str(x) in allowed_str for x in v)
            if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
                return False
            return _norm(v) in allowed_set or str(v) in allowed_str

        mask &= pd.Series(_map_cached(ser.to_numpy(dtype=object), ok), index=frame.index)
    return mask


def _map_cached(values: np.ndarray, fn: Callable[[Any], bool]) -> np.ndarray:
    """``fn`` of every value, computed once per distinct (type, value): columns repeat few values many times.

    Floats are keyed by their text: 0.0 and -0.0 are equal (one key) but a filter may tell them apart
    by their text, and every NaN gets the one key "nan".
    """
    out = np.empty(len(values), dtype=bool)
    seen: dict[tuple[type, Any], bool] = {}
    for j, v in enumerate(values):
        try:
            key = (type(v), str(v) if isinstance(v, float | np.floating) else v)
            r = seen.get(key)
            if r is None:
                r = seen[key] = bool(fn(v))
        except TypeError:  # an unhashable cell (a list): no cache
            r = bool(fn(v))
        out[j] = r
    return out


def haversine_km(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> np.ndarray:
    """Great-circle distance in km between arrays of WGS84 points (NaN where a point is missing)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


@dataclass
class TierFrames:
    """A tier's helpers, targets and candidate pairs, ready for the rules and the model."""

    tier: Tier
    helpers: pd.DataFrame  # index helper id
    targets: pd.DataFrame  # index target id
    pairs: pd.DataFrame    # RangeIndex; columns tier, helper, target, unit, rank, ..., cost parts
    dropped: dict[str, int] = field(default_factory=dict)  # eligibility rule -> pairs it removed


@dataclass
class Context:
    """Everything the rules need besides the pairs: the scheme and the instance's frames."""

    scheme: Scheme
    localities: pd.DataFrame
    units: pd.DataFrame
    people: pd.DataFrame
    incumbents: pd.DataFrame
    target_tables: dict[str, pd.DataFrame]
    positions: pd.DataFrame  # index code; lon, lat
    cache: dict[Any, Any] = field(default_factory=dict)  # derived frames, keyed by (what, tier id)

    @property
    def plan_year(self) -> int:
        """The plan year."""
        return self.scheme.program.plan_year


def scheme_and_context(instance: Any) -> tuple[Scheme, Context]:
    """The scheme and rule context of an instance, as the solver builds them.

    Source: matcher.solver.solve (read_scheme, then context_from_instance); explain, scenario and replan read
    an instance the same way
    """
    from matcher.scheme import read_scheme

    scheme = read_scheme(instance.scheme)
    return scheme, context_from_instance(instance, scheme)


def context_from_instance(instance: Any, scheme: Scheme) -> Context:
    """Collect an Instance's frames (see docs/instance-format.md) into a :class:`Context`."""
    loc = instance.localities.copy()
    pos = getattr(instance, "positions", None)
    if pos is None or len(pos) == 0:
        pos = loc[["lon", "lat"]]
    targets = getattr(instance, "targets", None)
    if targets is None:
        targets = pd.DataFrame(columns=["kind", "locality"]).rename_axis("id")
    inc = getattr(instance, "incumbents", None)
    if inc is None:
        inc = pd.DataFrame(columns=["tier", "helper", "target", "start_year"])
    return Context(
        scheme=scheme,
        localities=loc,
        units=instance.units.copy(),
        people=instance.people.copy(),
        incumbents=inc.reset_index(drop=True) if "tier" in inc.columns else inc.reset_index(),
        target_tables={"localities": loc, "targets": targets.copy()},
        positions=pos,
    )


def _ancestor_frame(ctx: Context, codes: pd.Series, prefix: str) -> pd.DataFrame:
    """Ancestor codes (province..township) of locality codes, columns ``<prefix><level>``."""
    loc = ctx.localities
    out = pd.DataFrame(index=codes.index)
    for lv in AREA_LEVELS:
        col = loc[lv] if lv in loc.columns else pd.Series(dtype=object)
        out[prefix + lv] = codes.map(col).astype(object)
    # a code at level L is its own ancestor at L
    lvl = codes.map(loc["level"]) if "level" in loc.columns else pd.Series(index=codes.index, dtype=object)
    for lv in AREA_LEVELS:
        own = lvl == lv
        out.loc[own, prefix + lv] = codes[own]
    out[prefix + "village"] = codes.where(lvl == "village", "")
    return out.where(out.notna(), "")


def _positions(ctx: Context, codes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    pos = ctx.positions
    lon = codes.map(pos["lon"]).astype(float).to_numpy()
    lat = codes.map(pos["lat"]).astype(float).to_numpy()
    return lon, lat


def unit_frame(ctx: Context) -> pd.DataFrame:
    """Units with their seat position, area codes (``u_<level>``) and strength (default headcount)."""
    u = ctx.units.copy()
    u["unit"] = u.index
    u["unit_level"] = u["level"]
    u["unit_function"] = u["function"].map(_as_tuple)
    u["unit_headcount"] = pd.to_numeric(u["headcount"], errors="coerce").fillna(0).astype(int)
    strength = pd.to_numeric(u["strength"], errors="coerce") if "strength" in u.columns else pd.Series(np.nan, index=u.index)
    u["unit_strength"] = strength.fillna(u["unit_headcount"]).astype(float)
    u["seat"] = u["locality"].astype(str)
    lon, lat = _positions(ctx, u["seat"])
    u["seat_lon"], u["seat_lat"] = lon, lat
    anc = _ancestor_frame(ctx, u["seat"], "u_")
    return pd.concat([u, anc], axis=1)


def helper_frame(ctx: Context, tier: Tier) -> pd.DataFrame:
    """The tier's helper pool: units or people passing ``tier.helpers``, with unit columns joined.

    Built once per context and helper filter (``ctx.cache``); each call gets its own copy.
    """
    return _built_once(ctx, ("helper_frame", tier.helpers), lambda: _helper_frame(ctx, tier))


def _built_once(ctx: Context, key: tuple[str, Any], build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """A frame that depends on the context and ``key`` only, built at its first call and kept in ``ctx.cache``; a copy per call."""
    if key not in ctx.cache:
        ctx.cache[key] = build()
    return ctx.cache[key].copy()


def _helper_frame(ctx: Context, tier: Tier) -> pd.DataFrame:
    """helper_frame, built (no cache)."""
    units = unit_frame(ctx)
    if tier.helpers.table == "units":
        h = units.copy()
        h["rank"] = ""
        h["hometown"] = ""
        h["skills"] = h["unit_function"]
        h["languages"] = [()] * len(h)
        base = h
    else:
        p = ctx.people.copy()
        p["unit"] = p["unit"].astype(str)
        ucols = ["unit_level", "unit_function", "unit_headcount", "unit_strength", "seat", "seat_lon", "seat_lat"] + [
            "u_" + lv for lv in AREA_LEVELS]
        j = units[ucols]
        p = p.join(j, on="unit")
        for c in units.columns:
            if c not in p.columns and not c.startswith(("u_", "unit")) and c not in ("seat", "seat_lon", "seat_lat"):
                p["unit_" + c] = p["unit"].map(units[c])
        p["unit_id"] = p["unit"]
        for c in ("skills", "languages"):
            p[c] = p[c].map(_as_tuple) if c in p.columns else [()] * len(p)
        p["hometown"] = p["hometown"].fillna("").astype(str) if "hometown" in p.columns else ""
        base = p
    base = base[filter_mask(base, {k: v for k, v in tier.helpers.columns})]
    home = _ancestor_frame(ctx, base["hometown"].astype(str), "home_")
    base = pd.concat([base.drop(columns=[c for c in home.columns if c in base.columns]), home], axis=1)
    base["rank"] = base["rank"].fillna("").astype(str)
    return base.sort_index()


def target_frame(ctx: Context, tier: Tier) -> pd.DataFrame:
    """The tier's targets: localities or targets passing ``tier.targets``, with ancestors and position.

    Built once per context and target filter (``ctx.cache``); each call gets its own copy.
    """
    return _built_once(ctx, ("target_frame", tier.targets), lambda: _target_frame(ctx, tier))


def _target_frame(ctx: Context, tier: Tier) -> pd.DataFrame:
    """target_frame, built (no cache)."""
    table = ctx.target_tables.get(tier.targets.table)
    if table is None or len(table) == 0:
        return pd.DataFrame(columns=["locality", "poverty_class", "needs", "ethnic_groups", "t_lon", "t_lat"])
    t = table.copy()
    t = t[filter_mask(t, {k: v for k, v in tier.targets.columns})]
    if tier.targets.table == "localities":
        t["locality"] = t.index.astype(str)
    else:
        t["locality"] = t["locality"].astype(str)
    anc = _ancestor_frame(ctx, t["locality"], "t_")
    t = pd.concat([t.drop(columns=[c for c in anc.columns if c in t.columns]), anc], axis=1)
    t["poverty_class"] = pd.to_numeric(t.get("poverty_class"), errors="coerce").fillna(0).astype(int) \
        if "poverty_class" in t.columns else 0
    t["needs"] = t["needs"].map(_as_tuple) if "needs" in t.columns else [()] * len(t)
    if "ethnic_groups" in t.columns:
        t["ethnic_groups"] = t["ethnic_groups"].map(_as_tuple)
    else:  # targets that are not localities speak the languages of their locality
        eg = ctx.localities["ethnic_groups"].map(_as_tuple) if "ethnic_groups" in ctx.localities.columns else None
        t["ethnic_groups"] = t["locality"].map(eg) if eg is not None else [()] * len(t)
        t["ethnic_groups"] = t["ethnic_groups"].map(_as_tuple)
    lon, lat = _positions(ctx, t["locality"])
    t["t_lon"], t["t_lat"] = lon, lat
    return t.sort_index()


def _cross(helpers: pd.DataFrame, targets: pd.DataFrame, tier: Tier) -> pd.DataFrame:
    """Helper x target pairs, joined per area where ``stay_in_area`` restricts a helper's unit level."""
    h = helpers.reset_index(names="helper")
    t = targets.reset_index(names="target")
    stay = dict(tier.eligibility.stay_in_area)
    estimate = estimate_pairs(h, t, stay)
    if estimate > MAX_PAIRS:
        raise SolveError(
            f"tier '{tier.id}': about {estimate:,} helper-target pairs before pruning, more than this solver builds "
            f"({MAX_PAIRS:,}); {len(h):,} helpers x {len(t):,} targets. The per-area decomposition with aggregated "
            f"helpers is not built yet: narrow the tier (stay_in_area, max_distance_km) or split the instance")
    parts = []
    restricted = h["unit_level"].isin(list(stay)) if stay else pd.Series(False, index=h.index)
    for ulevel, area in sorted(stay.items()):
        hh = h[h["unit_level"] == ulevel]
        if hh.empty:
            continue
        parts.append(hh.merge(t, left_on="u_" + area, right_on="t_" + area, how="inner", suffixes=("", "_t")))
    free = h[~restricted]
    if not free.empty and not t.empty:
        parts.append(free.merge(t, how="cross", suffixes=("", "_t")))
    if not parts:
        return pd.DataFrame(columns=["helper", "target"])
    return pd.concat(parts, ignore_index=True)


MAX_PAIRS = 2_000_000
"""Most candidate pairs one tier may have before pruning (memory: about 1 kB per pair while building)."""


def estimate_pairs(h: pd.DataFrame, t: pd.DataFrame, stay: dict[str, str]) -> int:
    """Pairs the area-by-area cross product of helpers and targets will produce."""
    total = 0
    restricted = h["unit_level"].isin(list(stay)) if stay else pd.Series(False, index=h.index)
    for ulevel, area in stay.items():
        hh = h.loc[h["unit_level"] == ulevel, "u_" + area].value_counts()
        tt = t["t_" + area].value_counts()
        total += int((hh * tt.reindex(hh.index, fill_value=0)).sum())
    return total + int((~restricted).sum()) * len(t)


PAIR_COLUMNS = [
    "tier", "helper", "target", "unit", "rank", "unit_level", "unit_strength", "unit_headcount",
    "skills", "languages", "unit_function", "hometown", "seat",
    "poverty_class", "needs", "ethnic_groups", "locality",
] + ["u_" + lv for lv in AREA_LEVELS] + ["t_" + lv for lv in AREA_LEVELS] + ["t_village"] + ["home_" + lv for lv in AREA_LEVELS]


def build_tier_frames(ctx: Context, tier: Tier, parent: TierFrames | None = None) -> TierFrames:
    """Candidate pairs of one tier, pruned by every eligibility rule, with distance, days and costs.

    Pinned incumbents of the tier are added back whatever the filters say.
    """
    from matcher import rules

    helpers = helper_frame(ctx, tier)
    targets = target_frame(ctx, tier)
    pairs = _cross(helpers, targets, tier)
    pairs["tier"] = tier.id
    for c in PAIR_COLUMNS:
        if c not in pairs.columns:
            pairs[c] = ""
    if len(pairs):
        pairs["distance_km"] = haversine_km(pairs["seat_lon"], pairs["seat_lat"], pairs["t_lon"], pairs["t_lat"])
    else:
        pairs["distance_km"] = pd.Series(dtype=float)
    pairs["distance_km"] = pairs["distance_km"].fillna(0.0)
    pairs = pairs[PAIR_COLUMNS + ["distance_km"]].copy()
    pairs["days"] = rules.link_days(pairs, tier, ctx)
    pairs["pinned"] = rules.pinned_mask(pairs, tier, ctx)
    dropped: dict[str, int] = {}
    for name, spec in rules.RULES.items():
        if spec.kind != "eligibility":
            continue
        ok = spec.function(pairs, tier, ctx) | pairs["pinned"]
        dropped[name] = int((~ok).sum())
        pairs = pairs[ok]
    if parent is not None:
        ok = rules.nesting_eligible(pairs, tier, parent)
        dropped["nesting"] = int((~ok | pairs["pinned"]).sum() - pairs["pinned"].sum()) if len(pairs) else 0
        pairs = pairs[ok | pairs["pinned"]]
    pairs = _add_pinned_outside(ctx, tier, helpers, targets, pairs)
    pairs["cost_match"] = rules.match_cost(pairs, tier, ctx)
    pairs["cost_strength"] = rules.strength_cost(pairs, tier, ctx)
    pairs["cost_travel"] = rules.travel_cost(pairs, tier, ctx)
    pairs["continues"] = rules.continuity_pairs(pairs, tier, ctx)
    pairs = pairs.sort_values(["helper", "target"], kind="stable").reset_index(drop=True)
    return TierFrames(tier, helpers, targets, pairs, dropped)


def pairs_for(ctx: Context, tier: Tier, keys: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """Pair rows (all candidate-pair columns, distance and days) for given (helper, target) keys.

    The tier's helper and target filters are ignored (the helper and target tables are not):
    used for pinned incumbents outside the filters, and by tests and explanations.
    """
    from matcher import rules

    tier_all = dataclasses.replace(tier, helpers=Filter(tier.helpers.table), targets=Filter(tier.targets.table))
    h_all = helper_frame(ctx, tier_all)
    t_all = target_frame(ctx, tier_all)
    rows = [_cross(h_all.loc[[h]], t_all.loc[[t]], Tier(id=tier.id))
            for h, t in keys if h in h_all.index and t in t_all.index]
    if not rows:
        return pd.DataFrame(columns=PAIR_COLUMNS + ["distance_km", "days"])
    extra = pd.concat(rows, ignore_index=True)
    extra["tier"] = tier.id
    for c in PAIR_COLUMNS:
        if c not in extra.columns:
            extra[c] = ""
    extra["distance_km"] = np.nan_to_num(haversine_km(extra["seat_lon"], extra["seat_lat"], extra["t_lon"], extra["t_lat"]))
    extra = extra[PAIR_COLUMNS + ["distance_km"]].copy()
    extra["days"] = rules.link_days(extra, tier, ctx)
    return extra


def _add_pinned_outside(ctx: Context, tier: Tier, helpers: pd.DataFrame, targets: pd.DataFrame,
                        pairs: pd.DataFrame) -> pd.DataFrame:
    """Pinned incumbents whose helper or target no longer passes the tier's filters stay candidates."""
    from matcher import rules

    inc = rules.in_force_incumbents(ctx, tier)
    if inc.empty:
        return pairs
    have = set(zip(pairs["helper"], pairs["target"]))
    keys = [(h, t) for h, t in zip(inc["helper"], inc["target"]) if (h, t) not in have]
    if not keys:
        return pairs
    extra = pairs_for(ctx, tier, keys)
    extra["pinned"] = True
    return pd.concat([pairs, extra], ignore_index=True)


def build_all(ctx: Context) -> dict[str, TierFrames]:
    """Candidate frames of every tier, in scheme order (a nested tier sees its parent's pairs)."""
    out: dict[str, TierFrames] = {}
    for tier in ctx.scheme.tiers:
        parent = out.get(tier.nest_in) if tier.nest_in else None
        out[tier.id] = build_tier_frames(ctx, tier, parent)
    return out
