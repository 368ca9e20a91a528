"""The array builder of candidate pairs (matcher.pairarrays) gives the same pairs and costs as the rule functions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matcher import pairarrays, province, rules
from matcher.candidates import (
    TierFrames,
    build_tier_frames,
    context_from_instance,
    helper_frame,
    target_frame,
)
from matcher.instance import read_instance
from matcher.scheme import read_scheme

ROOT = Path(__file__).resolve().parents[1]


def _context(name: str):
    inst = read_instance(ROOT / "instances" / name)
    scheme = read_scheme(inst.scheme)
    return context_from_instance(inst, scheme)


def _fake_parent(ctx, top):
    """Each unit of the top tier helps its first candidate target (a parent for the nesting test)."""
    frames = build_tier_frames(ctx, top)
    links = frames.pairs.drop_duplicates("helper")
    pl = pd.DataFrame({"helper": links["helper"].astype(str), "target": links["target"].astype(str)})
    pl.attrs["pool"] = tuple(frames.helpers.index)
    return pl, TierFrames(top, frames.helpers, frames.targets, links.reset_index(drop=True))


def _compare(ctx, tier, top, n_chunks: int) -> int:
    """Pairs of some county chunks by both builders; returns the number of pairs compared."""
    helpers, targets = helper_frame(ctx, tier), target_frame(ctx, tier)
    h_pos = pd.Series(np.arange(len(helpers)), index=helpers.index)
    t_pos = pd.Series(np.arange(len(targets)), index=targets.index)
    profiles = (province.profile_codes(helpers, province.MATCH_HELPER_COLUMNS),
                province.profile_codes(targets, province.MATCH_TARGET_COLUMNS))
    tables = pairarrays.tier_tables(ctx, tier, helpers, targets)
    pl, pf = _fake_parent(ctx, top) if tier.nest_in else (None, None)
    nest = province._nesting_codes(helpers, targets, pf) if pf is not None else None
    inc = rules.in_force_incumbents(ctx, tier)
    no_lead = (np.zeros(len(helpers), bool), np.zeros(len(targets), bool))
    anc = [c for c in targets.columns if c.startswith("t_") and c not in ("t_lon", "t_lat")]
    groups = list(targets.groupby(targets["t_county"].astype(str), sort=True).groups.values())
    compared = 0
    for tids in groups[:: max(1, len(groups) // n_chunks)]:
        codes = {c.removeprefix("t_"): str(targets.at[tids[0], c]) for c in anc}
        pin_here = set(inc.loc[inc["target"].isin(tids), "helper"]) if len(inc) else set()
        hids = province._chunk_helpers(ctx, tier, helpers, codes, pl, top if tier.nest_in else None, pin_here)
        old = province._compact(province._build_chunk(ctx, tier, helpers, targets, hids, pd.Index(tids), pf, profiles),
                                tier, ctx, h_pos, t_pos, *no_lead)
        tpos = t_pos[list(tids)].to_numpy()
        hpos = province._chunk_helper_positions(tables, tier, nest, tpos, h_pos[list(pin_here)].to_numpy())
        assert set(hpos.tolist()) == set(h_pos[hids].tolist())
        new = province._chunk_arrays(tables, hpos, tpos, nest, *no_lead)
        ka = old.helper.astype(np.int64) * len(targets) + old.target
        kb = new.helper.astype(np.int64) * len(targets) + new.target
        oa, ob = np.argsort(ka), np.argsort(kb)
        assert np.array_equal(ka[oa], kb[ob])
        assert np.array_equal(old.pinned[oa], new.pinned[ob])
        for term in pairarrays.COST_TERMS:
            assert np.array_equal(old.costs[term][oa], new.costs[term][ob]), term
        for rule, n in old.dropped.items():
            assert new.dropped.get(rule, 0) == n, rule
        compared += len(ka)
    return compared


@pytest.mark.parametrize("name", ["tiny", "guizhou-2015"])
def test_arrays_equal_the_rule_functions(name):
    ctx = _context(name)
    tiers = list(ctx.scheme.tiers)
    total = 0
    for tier in tiers[1:]:
        assert pairarrays.fast_path_reason(ctx, tier) == ""
        total += _compare(ctx, tier, tiers[0], 6 if name != "tiny" else 10)
    assert total > 0


def test_ended_links_do_not_return_and_incumbents_in_force_are_pinned():
    ctx = _context("guizhou-2015")  # every 2012 posting has ended by 2015
    tier = list(ctx.scheme.tiers)[2]
    tables = pairarrays.tier_tables(ctx, tier)
    assert len(tables.ended_keys) == len(rules.ended_incumbents(ctx, tier)) > 20000 and not len(tables.pinned_keys)
    h, t = tables.ended_keys[:1] // tables.n_targets, tables.ended_keys[:1] % tables.n_targets
    b = pairarrays.chunk_pairs(tables, h, t)
    assert len(b.helper) == 0 and b.dropped["no_return"] == 1
    ctx = _context("guizhou-2013")  # the 2012 postings are in force in 2013
    tier = list(ctx.scheme.tiers)[2]
    tables = pairarrays.tier_tables(ctx, tier)
    assert len(tables.pinned_keys) == len(rules.in_force_incumbents(ctx, tier)) > 20000
    h, t = tables.pinned_keys[:3] // tables.n_targets, tables.pinned_keys[:3] % tables.n_targets
    b = pairarrays.chunk_pairs(tables, h, t)
    keys = set(zip(b.helper.tolist(), b.target.tolist()))
    assert all((int(x), int(y)) in keys for x, y in zip(h, t))
    assert all(p == ((int(x) * tables.n_targets + int(y)) in set(tables.pinned_keys.tolist()))
               for x, y, p in zip(b.helper, b.target, b.pinned))


def test_an_unknown_eligibility_rule_turns_the_fast_path_off(monkeypatch):
    ctx = _context("tiny")
    tier = list(ctx.scheme.tiers)[2]
    extra = dict(rules.RULES)
    extra["new_rule"] = dataclasses.replace(rules.RULES["max_distance"], name="new_rule")
    monkeypatch.setattr(rules, "RULES", extra)
    assert "new_rule" in pairarrays.fast_path_reason(ctx, tier)


@pytest.mark.parametrize("values", [[0.0, -0.0, float("nan"), 1.0, -0.0], [-0.0, 0.0, float("nan"), 0.0, 1.0]])
def test_filter_mask_tells_floats_apart_as_a_row_by_row_test_does(values):
    """filter_mask's cache per distinct value gives the per-row answer, also for 0.0 / -0.0 and NaN."""
    import pandas as pd

    from matcher.candidates import _norm, filter_mask

    frame = pd.DataFrame({"x": values})
    for allowed in (["-0.0"], ["0.0"], [0], ["nan"], [1]):
        got = filter_mask(frame, {"x": allowed}).tolist()
        want = [not (isinstance(v, float) and v != v) and (_norm(v) in {_norm(a) for a in allowed}
                                                         or str(v) in {str(a) for a in allowed}) for v in values]
        assert got == want, (values, allowed)


def test_grid_distances_per_seat_are_the_per_pair_formula_bit_for_bit():
    """pairarrays._grid_km computes each (unit seat, target) once: the same bytes as haversine per pair."""
    from matcher.candidates import haversine_km, scheme_and_context
    from matcher.instance import read_instance

    inst = read_instance(ROOT / "instances" / "tiny")
    scheme, ctx = scheme_and_context(inst)
    for tier in scheme.tiers:
        tt = pairarrays.tier_tables(ctx, tier)
        hp0, tp0 = np.arange(len(tt.helpers)), np.arange(len(tt.targets))
        hp, tp = np.repeat(hp0, len(tp0)), np.tile(tp0, len(hp0))
        per_pair = np.nan_to_num(haversine_km(tt.h_lon[hp], tt.h_lat[hp], tt.t_lon[tp], tt.t_lat[tp]), nan=0.0)
        assert pairarrays._grid_km(tt, hp0, tp0).tobytes() == per_pair.tobytes()
        assert len(np.unique(np.stack([tt.h_lon, tt.h_lat], axis=1), axis=0)) < len(tt.helpers) or tier.id == "county"


def test_chunk_costs_looked_up_per_combination_equal_the_rule_functions_with_incumbents_and_nesting():
    """chunk_pairs spreads costs from (profile, profile), (strength, class) and (seat, target) tables: with random
    ended and pinned incumbents and a random nesting mask, the pairs and costs are those of the rule functions."""
    inst = read_instance(ROOT / "instances" / "tiny")
    scheme = read_scheme(inst.scheme)
    ctx = context_from_instance(inst, scheme)
    rng = np.random.default_rng(11)
    for tier in scheme.tiers:
        helpers, targets = helper_frame(ctx, tier), target_frame(ctx, tier)
        tt = pairarrays.tier_tables(ctx, tier, helpers, targets)
        hp0, tp0 = np.arange(len(helpers)), np.arange(len(targets))
        keys = (hp0[:, None] * len(targets) + tp0[None, :]).ravel()
        tt = dataclasses.replace(tt, ended_keys=np.unique(rng.choice(keys, size=3)),
                                 pinned_keys=np.unique(rng.choice(keys, size=2)))
        allowed = rng.random(len(keys)) < 0.8
        b = pairarrays.chunk_pairs(tt, hp0, tp0, allowed)
        from matcher.candidates import haversine_km
        h_rows, t_rows = helpers.iloc[b.helper], targets.iloc[b.target]
        km = np.nan_to_num(haversine_km(h_rows["seat_lon"].to_numpy(dtype=float), h_rows["seat_lat"].to_numpy(dtype=float),
                                        t_rows["t_lon"].to_numpy(dtype=float), t_rows["t_lat"].to_numpy(dtype=float)),
                           nan=0.0)
        assert b.distance.tobytes() == km.tobytes()
        travel = rules.travel_cost(pd.DataFrame({"distance_km": km}), tier, ctx).to_numpy(dtype=float)
        assert np.array_equal(b.costs["travel"], pairarrays.int_cost(travel, ctx, "travel"))
        assert not (b.pinned & ~np.isin(b.helper * len(targets) + b.target, tt.pinned_keys)).any()
        assert not np.isin(b.helper * len(targets) + b.target, np.setdiff1d(tt.ended_keys, tt.pinned_keys)).any()
        assert (allowed[b.helper * len(targets) + b.target] | b.pinned).all()


def test_helper_and_target_frames_are_built_once_per_context_and_handed_out_as_copies():
    ctx = _context("tiny")
    scheme = ctx.scheme
    for tier in scheme.tiers:
        first = helper_frame(ctx, tier)
        first.iloc[:, 0] = None  # a caller's change stays in its copy
        again = helper_frame(ctx, tier)
        fresh = helper_frame(dataclasses.replace(ctx, cache={}), tier)
        pd.testing.assert_frame_equal(again, fresh)
        t_first = target_frame(ctx, tier)
        t_first.iloc[:, 0] = None
        pd.testing.assert_frame_equal(target_frame(ctx, tier), target_frame(dataclasses.replace(ctx, cache={}), tier))
    assert ("helper_frame", scheme.tiers[0].helpers) in ctx.cache


@pytest.mark.parametrize("name", ["tiny", "guizhou-2013", "guizhou-2015"])
def test_alike_helpers_have_the_same_pairs_and_costs_as_their_representative(name):
    """Each helper's pairs in an area are his representative's (same targets, distances, costs, no pin); a helper
    with a pinned or ended link there stands alone (2013: postings in force; 2015: every posting ended)."""
    ctx = _context(name)
    reps_seen = helpers_seen = 0
    for tier in list(ctx.scheme.tiers)[1:]:
        tt = pairarrays.tier_tables(ctx, tier)
        groups = pd.Series(np.arange(tt.n_targets)).groupby(tt.t_area["county"]).indices
        for code in sorted(groups)[:: max(1, len(groups) // 5)]:
            tpos = np.asarray(groups[code])
            hpos = np.flatnonzero(tt.h_area["county"] == code)  # the county's own staff (hometowns in the county)
            hpos = np.union1d(hpos, np.arange(0, len(tt.helpers), max(1, len(tt.helpers) // 300)))
            extra = hpos % 2  # a caller's own split (a lead flag, say)
            reps, rep_of = pairarrays.alike_helpers(tt, hpos, tpos, extra)
            assert np.array_equal(reps, np.sort(reps)) and set(reps.tolist()) <= set(hpos.tolist())
            assert np.array_equal(reps[rep_of][np.searchsorted(hpos, reps)], reps)  # a representative is his own
            assert (extra == extra[np.searchsorted(hpos, reps[rep_of])]).all()
            full = pairarrays.chunk_pairs(tt, hpos, tpos)
            one = pairarrays.chunk_pairs(tt, reps, tpos)
            for i, h in enumerate(hpos):
                mine = full.helper == h
                theirs = one.helper == reps[rep_of[i]]
                assert np.array_equal(full.target[mine], one.target[theirs])
                assert np.array_equal(full.distance[mine], one.distance[theirs])
                assert not full.pinned[mine].any() or reps[rep_of[i]] == h
                for term in pairarrays.COST_TERMS:
                    assert np.array_equal(full.costs[term][mine], one.costs[term][theirs]), term
            keys = np.concatenate([tt.pinned_keys, tt.ended_keys])
            stand_alone = np.isin(hpos, keys[np.isin(keys % tt.n_targets, tpos)] // tt.n_targets)
            assert set(hpos[stand_alone].tolist()) <= set(reps.tolist())
            reps_seen += len(reps)
            helpers_seen += len(hpos)
    if name != "tiny":  # tiny's helpers all differ; on Guizhou some are alike, so shared representatives were compared
        assert reps_seen < helpers_seen


@pytest.mark.parametrize("name", ["tiny", "guizhou-2013"])
def test_match_cost_grid_is_match_cost_on_every_pair_of_the_grid(name):
    """rules.match_cost_grid (the tables' fill) gives rules.match_cost's value for each (helper, target), bit for bit."""
    ctx = _context(name)
    rng = np.random.default_rng(5)
    seen: set[float] = set()
    for tier in ctx.scheme.tiers:
        h, t = helper_frame(ctx, tier), target_frame(ctx, tier)
        h = h.iloc[np.sort(rng.choice(len(h), size=min(len(h), 60), replace=False))]
        t = t.iloc[np.sort(rng.choice(len(t), size=min(len(t), 80), replace=False))]
        grid = rules.match_cost_grid(h, t, tier, ctx)
        pairs = pd.concat([h.iloc[np.repeat(np.arange(len(h)), len(t))].reset_index(drop=True),
                           t.iloc[np.tile(np.arange(len(t)), len(h))].reset_index(drop=True)], axis=1)
        one_by_one = rules.match_cost(pairs, tier, ctx).to_numpy(dtype=float).reshape(len(h), len(t))
        assert grid.shape == (len(h), len(t))
        assert grid.tobytes() == one_by_one.tobytes()
        seen |= set(grid.ravel().tolist())
    assert len(seen) > 2  # the grids tell pairs apart (not a constant)


def test_max_distance_and_link_days_per_seat_drop_exactly_the_pairs_too_far_by_their_own_distance():
    """The distance rules, evaluated once per (unit seat, target), keep a pair iff its own km (and days) allow it."""
    ctx = _context("guizhou-2013")
    tier = list(ctx.scheme.tiers)[2]
    tt = pairarrays.tier_tables(ctx, tier)
    rng = np.random.default_rng(3)
    hp = np.sort(rng.choice(len(tt.helpers), size=400, replace=False))
    tp = np.sort(rng.choice(tt.n_targets, size=300, replace=False))
    free = pairarrays.chunk_pairs(tt, hp, tp)
    lim = float(np.median(free.distance))
    near = dataclasses.replace(tier, eligibility=dataclasses.replace(tier.eligibility, max_distance_km=lim))
    b = pairarrays.chunk_pairs(dataclasses.replace(tt, tier=near), hp, tp)
    ok = (free.distance <= lim) | free.pinned
    assert 0 < ok.sum() < len(ok)
    assert np.array_equal(b.helper, free.helper[ok]) and np.array_equal(b.target, free.target[ok])
    assert b.dropped["max_distance"] == int((~ok).sum())
    days = rules.link_days(pd.DataFrame({"distance_km": free.distance}), tier, ctx).to_numpy(dtype=float)
    capped = dict((r, rb.max_days) for r, rb in ctx.scheme.budget.ranks if rb.max_days is not None)
    rank = tt.h_rank[free.helper]
    over = np.array([r in capped and d > capped[r] + 1e-9 for r, d in zip(rank, days)])
    assert not (over & ~free.pinned).any()  # every kept pair is within its rank's days
