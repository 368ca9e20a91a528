"""A-priori prices of the top tier's pairs (matcher.priorprices) and the first top-tier choice they make (province)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matcher import pairarrays, priorprices, province, rules
from matcher.candidates import (
    build_tier_frames,
    context_from_instance,
    helper_frame,
    target_frame,
)
from matcher.check import check_plan
from matcher.instance import read_instance
from matcher.model import SCALES, drop_forbidden
from matcher.scheme import read_scheme

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_wholebound import _guiyang_slice


@pytest.fixture(scope="module")
def guiyang(tmp_path_factory):
    if not (ROOT / "instances" / "guizhou" / "scheme.toml").exists():
        pytest.skip("instances/guizhou is not built yet")
    return read_instance(_guiyang_slice(tmp_path_factory.mktemp("gy") / "guiyang"))


@pytest.fixture(scope="module")
def tiny():
    return read_instance(ROOT / "instances" / "tiny")


def _brute_prices(ctx, tier, top_pairs: pd.DataFrame, level: str) -> np.ndarray:
    """Every nested helper against every target (rules.match_cost pair by pair), least per county, summed per unit."""
    h = helper_frame(ctx, tier)
    t = target_frame(ctx, tier)
    h = h[h["unit"].astype(str).isin(set(top_pairs["helper"].astype(str)))]
    cross = h.reset_index(names="h_id").merge(t.reset_index(names="t_id"), how="cross")
    cost = rules.match_cost(cross, tier, ctx).to_numpy(dtype=float)
    cross["m"] = np.rint(cost * ctx.scheme.objective.weight("match") * SCALES["match"]).astype(np.int64)
    least = cross.groupby(["h_id", "unit", "t_" + level])["m"].min().reset_index()
    per = least.groupby(["unit", "t_" + level])["m"].sum()
    keys = list(zip(top_pairs["helper"].astype(str), top_pairs["target"].astype(str)))
    return np.array([int(per.get(k, 0)) for k in keys], dtype=np.int64)


@pytest.mark.parametrize("name", ["tiny", "guiyang"])
def test_nested_prices_are_each_helpers_least_match_in_the_county_summed_per_unit(name, request):
    inst = request.getfixturevalue(name)
    scheme = read_scheme(inst.scheme)
    ctx = context_from_instance(inst, scheme)
    top = scheme.tiers[0]
    pairs = build_tier_frames(ctx, top).pairs
    nested = [t for t in scheme.tiers[1:] if t.nest_in == top.id]
    assert nested and len(pairs)
    for tier in nested:
        tt = pairarrays.tier_tables(ctx, tier, helper_frame(ctx, tier), target_frame(ctx, tier))
        got = priorprices.nested_match_prices(tt, tt.helpers["unit"].astype(str).to_numpy(), pairs, "county")
        want = _brute_prices(ctx, tier, pairs, "county")
        assert got.tolist() == want.tolist()
        assert (got > 0).any()  # the test compares figures, not zeros


def test_nested_prices_are_zero_where_a_unit_nests_nobody_or_the_area_has_no_target(tiny):
    scheme = read_scheme(tiny.scheme)
    ctx = context_from_instance(tiny, scheme)
    tier = next(t for t in scheme.tiers[1:] if t.nest_in == scheme.tiers[0].id)
    tt = pairarrays.tier_tables(ctx, tier, helper_frame(ctx, tier), target_frame(ctx, tier))
    unit = str(tt.helpers["unit"].iloc[0])
    county = str(tt.targets["t_county"].iloc[0])
    pairs = pd.DataFrame({"helper": [unit, "nobody", unit], "target": [county, county, "999999999999"]})
    got = priorprices.nested_match_prices(tt, tt.helpers["unit"].astype(str).to_numpy(), pairs, "county")
    assert got[1] == 0 and got[2] == 0
    assert got[0] == _brute_prices(ctx, tier, pairs.iloc[:1], "county")[0]


def _first_round(inst, prior_on: bool, monkeypatch):
    monkeypatch.setattr(province, "PRIOR_PRICES", prior_on)
    events: list[str] = []
    plan = province.solve_province(inst, time_limit=10,
                                   progress=lambda e, i: events.append(str(i.get("text", ""))) if e == "phase" else None)
    return plan, events


def test_the_first_top_tier_choice_minimises_own_plus_nested_match_and_reports_its_own_costs(guiyang, monkeypatch):
    """With the prior prices the first choice is the whole plan's; the tier reports its own costs against its own optimum."""
    own, ev_own = _first_round(guiyang, False, monkeypatch)
    whole, ev_whole = _first_round(guiyang, True, monkeypatch)
    scheme = read_scheme(guiyang.scheme)
    ctx = context_from_instance(guiyang, scheme)
    top = scheme.tiers[0]
    frames = drop_forbidden(build_tier_frames(ctx, top), top.forbidden)
    tables = {t.id: pairarrays.tier_tables(ctx, t, helper_frame(ctx, t), target_frame(ctx, t))
              for t in scheme.tiers[1:] if t.nest_in == top.id}
    prior = province.prior_prices(ctx, top, frames, tables)
    assert prior is not None
    value = province._int_cost(frames.pairs["cost_match"], ctx, "match") + prior
    key = frames.pairs["helper"].astype(str) + "|" + frames.pairs["target"].astype(str)

    def chosen(plan) -> np.ndarray:
        a = plan.assignments[plan.assignments["tier"] == top.id]
        return key.isin(set(a["helper"].astype(str) + "|" + a["target"].astype(str))).to_numpy()

    c_own, c_whole = chosen(own), chosen(whole)
    assert c_own.sum() == c_whole.sum() == len(frames.helpers)  # one county per department
    assert not np.array_equal(c_own, c_whole)  # on this slice the prices change the choice
    assert value[c_whole].sum() <= value[c_own].sum()
    assert any("chosen for the whole plan" in e for e in ev_whole) and not any("whole plan" in e for e in ev_own)
    # the tier's own figures: the chosen links' own costs, bounded by the tier's own optimum (the other run's plan)
    t_own, t_whole = own.header["tiers"][top.id], whole.header["tiers"][top.id]
    assert t_own["status"] == "OPTIMAL"
    assert t_whole["status"] == "FEASIBLE" and t_whole["bound"] < t_whole["objective"]
    assert t_whole["bound"] <= t_own["objective"] + 1e-9  # no better than the tier's own optimum
    assert len(check_plan(guiyang, whole).errors) == 0
    for term in ("match", "strength", "travel"):
        assert whole.bound[term] <= whole.objective[term] + 1e-9


def test_the_prices_choose_only_where_no_later_choice_follows(monkeypatch):
    assert [province.prior_applies(t) for t in (1, 10, 59.9, 60, 150, 300)] == [True, True, True, False, False, False]
    monkeypatch.setattr(province, "PRIOR_PRICES", False)
    assert not province.prior_applies(10)


def test_with_a_later_choice_the_first_is_the_tiers_own_optimum(guiyang, monkeypatch):
    """At --time-limit 60 (a last choice follows) the plan is the one made without the prices."""
    events: list[str] = []
    plan = province.solve_province(guiyang, time_limit=60,
                                   progress=lambda e, i: events.append(str(i.get("text", ""))) if e == "phase" else None)
    monkeypatch.setattr(province, "PRIOR_PRICES", False)
    plain = province.solve_province(guiyang, time_limit=60)
    assert not any("whole plan's match" in e for e in events)
    assert plan.assignments.equals(plain.assignments)


def test_one_worker_gives_the_plan_and_figures_of_two(guiyang):
    """The prices' MIP and the tier's own MIP run in forked workers with two; here with one: the same plan and header."""
    two = province.solve_province(guiyang, time_limit=10, workers=2)
    one = province.solve_province(guiyang, time_limit=10, workers=1)
    assert one.assignments.equals(two.assignments)
    assert one.header["tiers"] == two.header["tiers"]
    assert one.bound == two.bound and one.objective == two.objective


def test_the_own_mip_beside_runs_in_a_worker_and_here_when_the_worker_dies():
    import os

    parent = os.getpid()
    calls: list[str] = []

    def here():
        calls.append("here")
        return "here"

    def own_anywhere(progress=None):
        return "own in a worker" if os.getpid() != parent else "own here"

    def own_dying(progress=None):
        if os.getpid() != parent:
            os._exit(1)  # killed, as for memory
        return "own here"

    assert province._own_beside(own_anywhere, here, workers=2) == ("here", "own in a worker")
    assert province._own_beside(own_anywhere, here, workers=1) == ("here", "own here")
    calls.clear()
    assert province._own_beside(own_dying, here, workers=2) == ("here", "own here")
    assert calls == ["here"]  # after a worker died, the results are computed here
