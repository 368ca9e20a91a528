"""The whole-plan bound of the province solver (matcher.wholebound) is a proven bound and is tight where it should be."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from matcher import helperclasses, province, transport, wholebound
from matcher.check import check_plan
from matcher.instance import read_instance
from matcher.solver import solve

from variants import tiny_one_county_each  # tests/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def one_county(tmp_path_factory):
    return read_instance(tiny_one_county_each(tmp_path_factory.mktemp("wb")))


def test_bound_proves_the_whole_plan_optimal_where_cp_sat_does(one_county):
    plan = province.solve_province(one_county, time_limit=60)
    exact = solve(one_county, time_limit=60, method="model")  # one model (CP-SAT and LP), proven optimal on this size
    assert exact.status == "OPTIMAL"
    for term in ("match", "strength", "travel"):
        assert plan.objective[term] == pytest.approx(exact.objective[term], abs=1e-6)
        assert plan.bound[term] <= exact.objective[term] + 1e-6  # a bound never exceeds the optimum
        assert plan.bound[term] == pytest.approx(plan.objective[term], abs=1e-6)
    assert plan.status == "OPTIMAL" and plan.gap == pytest.approx(0.0, abs=1e-9)
    assert len(check_plan(one_county, plan).errors) == 0


def test_first_round_bound_is_below_the_optimum_and_says_why_it_is_loose(one_county, monkeypatch):
    """With no second round, the flow relaxation alone still gives valid (lower or equal) bounds."""
    monkeypatch.setattr(province, "MAX_ROUNDS", 1)
    plan = province.solve_province(one_county, time_limit=60)
    exact = solve(one_county, time_limit=60, method="model")
    for term in ("match", "strength", "travel"):
        assert 0 <= plan.bound[term] <= exact.objective[term] + 1e-6
    assert "whole-plan bound" in plan.header["method"]


def test_residual_potentials_certify_an_optimal_flow_and_refuse_a_worse_one():
    # two helpers, two targets: crossing costs 1 and 10; the optimal flow takes the cheap diagonal
    n_nodes = 5  # sink 0, helpers 1-2, targets 3-4
    tails = np.array([1, 1, 2, 2, 3, 4])
    heads = np.array([3, 4, 3, 4, 0, 0])
    lo = np.array([0, 0, 0, 0, 1, 1])
    up = np.array([1, 1, 1, 1, 1, 1])
    cost = np.array([1, 10, 10, 1, 0, 0])
    good = np.array([1, 0, 0, 1, 1, 1])
    p = wholebound.residual_distances(n_nodes, tails, heads, lo, up, good, cost, np.ones(6, bool))
    rc = cost + p[tails] - p[heads]
    assert ((rc >= 0) | (good == up)).all() and ((rc <= 0) | (good == lo)).all()
    bad = np.array([0, 1, 1, 0, 1, 1])
    with pytest.raises(ValueError):
        wholebound.residual_distances(n_nodes, tails, heads, lo, up, bad, cost, np.ones(6, bool))


def _textbook_distances(n: int, arcs: list[tuple[int, int, int]]) -> list[int] | None:
    """Bellman-Ford from a root joined to every node at cost 0, one arc at a time (None: a negative cycle)."""
    dist = [0] * n
    for _ in range(n):
        new = list(dist)
        for x, y, c in arcs:
            new[y] = min(new[y], dist[x] + c)
        if new == dist:
            return dist
        dist = new
    return None


@pytest.mark.parametrize("share", [0.0, 1.0])  # whole rounds, phases of changed nodes
@pytest.mark.parametrize("seed", range(30))
def test_residual_distances_are_the_shortest_distances(seed, share, monkeypatch):
    """residual_distances gives the textbook shortest distances over the residual arcs, or refuses a negative cycle."""
    monkeypatch.setattr(wholebound, "QUEUE_SHARE", share)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 25))
    m = int(rng.integers(1, 4 * n))
    tails, heads = rng.integers(0, n, m), rng.integers(0, n, m)
    lo = rng.integers(0, 2, m)
    up = lo + rng.integers(0, 3, m)
    flow = lo + (rng.random(m) * (up - lo + 1)).astype(np.int64)
    arcs = rng.random(m) < 0.9
    if seed % 2:  # random costs: often a negative residual cycle
        cost = rng.integers(-3, 20, m)
    else:  # reduced costs non-negative under random potentials pi: no negative cycle, and arcs of every kind
        pi = rng.integers(-40, 40, n)
        extra = rng.integers(0, 20, m)
        fwd, bwd = flow < up, flow > lo
        cost = pi[tails] - pi[heads] + np.where(fwd & bwd, 0, np.where(fwd, extra, -extra))
    res = [(int(t), int(h), int(c)) for t, h, c, a_, f, u_ in zip(tails, heads, cost, arcs, flow, up) if a_ and f < u_]
    res += [(int(h), int(t), -int(c)) for t, h, c, a_, f, l_ in zip(tails, heads, cost, arcs, flow, lo) if a_ and f > l_]
    ref = _textbook_distances(n, res)
    if ref is None:
        with pytest.raises(ValueError):
            wholebound.residual_distances(n, tails, heads, lo, up, flow, cost, arcs)
        return
    assert wholebound.residual_distances(n, tails, heads, lo, up, flow, cost, arcs).tolist() == ref


def test_rounds_depend_on_the_time_limit_only():
    assert [province.rounds_for(t) for t in (10, 60, 149, 150, 299, 300, 10_000)] == [1, 1, 1, 2, 2, 3, 3]
    assert [province.tries_last_choice(t) for t in (10, 59.9, 60, 150)] == [False, False, True, True]


GUIYANG_DEPARTMENTS = ["D006", "D007", "D015", "D050", "D053", "D061", "D069", "D072", "D073", "D082", "D098"]
"""The departments the one-round Guizhou plan sends to Guiyang's ten counties (so the slice is feasible)."""


def _guiyang_slice(dst: Path) -> Path:
    """instances/guizhou cut to Guiyang (5201): its localities, its own units, eleven departments, their people.

    Hometowns outside Guiyang become empty (they must name a locality of the instance). On this slice the
    rounds re-choose the county tier: the second choice is worse than the first, the third better.
    """
    import pandas as pd

    src = ROOT / "instances" / "guizhou"
    dst.mkdir(parents=True, exist_ok=True)
    read = lambda name: pd.read_csv(src / name, dtype=str, keep_default_na=False)
    loc = read("localities.csv")
    loc = loc[(loc["level"] == "province") | loc["code"].str.startswith("5201")]
    codes = set(loc["code"])
    units = read("units.csv")
    units = units[units["id"].isin(GUIYANG_DEPARTMENTS) | ((units["level"] != "province") & units["locality"].isin(codes))]
    people = read("people.csv")
    people = people[people["unit"].isin(set(units["id"]))].copy()
    people.loc[~people["hometown"].isin(codes), "hometown"] = ""
    loc.to_csv(dst / "localities.csv", index=False)
    units.to_csv(dst / "units.csv", index=False)
    people.to_csv(dst / "people.csv", index=False)
    shutil.copy(src / "scheme.toml", dst / "scheme.toml")
    return dst


@pytest.fixture(scope="module")
def guiyang(tmp_path_factory):
    if not (ROOT / "instances" / "guizhou" / "scheme.toml").exists():
        pytest.skip("instances/guizhou is not built yet")
    return read_instance(_guiyang_slice(tmp_path_factory.mktemp("gy") / "guiyang"))


def _solve_logged(instance, time_limit: float):
    events: list[str] = []
    plan = province.solve_province(instance, time_limit=time_limit,
                                   progress=lambda e, i: events.append(str(i.get("text", ""))) if e == "phase" else None)
    return plan, [t for t in events if t.startswith("round ")]


def _lex(plan) -> tuple[float, ...]:
    return tuple(plan.objective[k] for k in ("coverage", "continuity", "match", "strength", "travel"))


def test_last_choice_is_tried_without_a_bound_and_the_earlier_bounds_prove_its_gap(guiyang, monkeypatch):
    """The last round's re-chosen top tier gets its lower tiers solved; the plan kept is the better, with the same bound."""
    monkeypatch.setattr(province, "LAST_CHOICE_SECONDS", 10_000.0)
    without, rounds_without = _solve_logged(guiyang, 150)
    monkeypatch.setattr(province, "LAST_CHOICE_SECONDS", 60.0)
    with_last, rounds_with = _solve_logged(guiyang, 150)
    assert len(rounds_without) == 1 and "no bound of its own" not in rounds_without[0]
    assert len(rounds_with) == 2 and "no bound of its own" in rounds_with[1]
    assert with_last.bound == without.bound  # no new bound: the two rounds' bounds, combined the same way
    assert _lex(with_last) < _lex(without)  # on this slice the third choice is better
    for plan in (with_last, without):
        for term in ("match", "strength", "travel"):
            assert plan.bound[term] <= plan.objective[term] + 1e-9
        assert len(check_plan(guiyang, plan).errors) == 0
    # the first priority not proven optimal (match) has a smaller gap; the summed gap need not shrink (the better
    # plan's travel is longer here and travel's bound is unconditional), see docs/solver.md
    fg_with, fg_without = with_last.header["first_gap"], without.header["first_gap"]
    assert fg_with["term"] == fg_without["term"] == "match" and fg_with["gap"] < fg_without["gap"]


def test_a_worse_last_choice_leaves_the_plan_as_it_was(guiyang, monkeypatch):
    """At --time-limit 60 the second choice is tried and is worse here: the first round's plan and bound stand."""
    # without a last choice the a-priori prices would make the first choice (province.prior_applies): the
    # two runs must start from the same one
    monkeypatch.setattr(province, "PRIOR_PRICES", False)
    monkeypatch.setattr(province, "LAST_CHOICE_SECONDS", 10_000.0)
    first, none = _solve_logged(guiyang, 60)
    monkeypatch.setattr(province, "LAST_CHOICE_SECONDS", 60.0)
    kept, tried = _solve_logged(guiyang, 60)
    assert none == [] and len(tried) == 1 and "no bound of its own" in tried[0]
    assert kept.assignments.equals(first.assignments)
    assert kept.bound == first.bound and kept.objective == first.objective


def _classes_and_brute(seed: int, with_lo: bool):
    """A unit's representatives (pairs in runs), their member counts, and brute force over every member's target."""
    import itertools

    rng = np.random.default_rng(seed)
    n_rep, n_t = int(rng.integers(1, 4)), 3
    grid = [(r, t) for r in range(n_rep) for t in range(n_t) if rng.random() < 0.75]
    rep = np.array([r for r, _ in grid], dtype=np.int64)
    tloc = np.array([t for _, t in grid], dtype=np.int64)
    price = rng.integers(-20, 50 if seed % 2 else 3, len(grid)).astype(np.int64)  # few values: ties
    r_start = np.searchsorted(rep, np.arange(n_rep))
    r_end = np.searchsorted(rep, np.arange(n_rep), side="right")
    counts = rng.integers(1, 3, n_rep).astype(np.int64)
    up = rng.integers(1, 3, n_t).astype(np.int64)
    lo = np.minimum(up, rng.integers(0, 2, n_t)).astype(np.int64) if with_lo else np.zeros(n_t, dtype=np.int64)
    arcs = {(r, t): c for (r, t), c in zip(grid, price.tolist())}
    members = [r for r in range(n_rep) for _ in range(int(counts[r]))]
    best = None
    for choice in itertools.product(range(n_t), repeat=len(members)):
        if any((r, t) not in arcs for r, t in zip(members, choice)):
            continue
        n_at = np.bincount(np.array(choice), minlength=n_t)
        if (n_at < lo).any() or (n_at > up).any():
            continue
        v = sum(arcs[(r, t)] for r, t in zip(members, choice))
        best = v if best is None else min(best, v)
    least = np.array([price[r_start[r]:r_end[r]].min(initial=2**62) for r in range(n_rep)], dtype=np.int64)
    return np.arange(n_rep), counts, r_start, r_end, tloc, price, least, lo, up, best


@pytest.mark.parametrize("seed", range(24))
def test_unit_transports_are_the_least_assignments(seed):
    """Per unit, brute force's least: within capacity (each member one target, at most up[t] at t), and alone (also lo[t]).

    Two units with the same classes get the same figures (the units of one call stay apart).
    """
    cls, counts, r_start, r_end, tloc, price, _, _, up, best_cap = _classes_and_brute(seed, with_lo=False)
    *_, lo, up2, best_alone = _classes_and_brute(seed, with_lo=True)
    assert (up2 == up).all()  # the same draws up to lo
    c1 = price + 7  # the alone figure reads its own costs
    u_ptr = np.array([0, len(cls), 2 * len(cls)])
    cap_st, cap_val, al_st, al_val = wholebound._unit_transports(
        u_ptr, np.concatenate([cls, cls]), np.concatenate([counts, counts]), r_start, r_end, tloc, price, c1, lo, up, True)
    for k in range(2):
        if (r_end == r_start).any():  # a class without pairs: the unit is blocked
            assert cap_st[k] == -1
            continue
        assert (cap_st[k], cap_val[k] if cap_st[k] == transport.OPTIMAL else None) == (
            (transport.OPTIMAL, best_cap) if best_cap is not None else (transport.INFEASIBLE, None))
        members = int(counts.sum())
        assert (al_st[k], al_val[k] if al_st[k] == transport.OPTIMAL else None) == (
            (transport.OPTIMAL, best_alone + 7 * members) if best_alone is not None else (transport.INFEASIBLE, None))
    _, _, al_none, _ = wholebound._unit_transports(u_ptr[:2], cls, counts, r_start, r_end, tloc, price, c1, lo, up, False)
    assert (al_none == -1).all()  # no alone figure asked for


def test_earlier_rounds_as_cuts_take_the_largest_bound(one_county, monkeypatch):
    """The priced MIP with earlier rounds' cuts minimises the largest of them (here: the same cut shifted by k)."""
    from matcher.candidates import build_tier_frames, context_from_instance
    from matcher.scheme import read_scheme

    r = _bounds_of_a_solve(one_county, monkeypatch)[0]
    assert not r.reason
    scheme = read_scheme(one_county.scheme)
    ctx = context_from_instance(one_county, scheme)
    top = scheme.tiers[0]
    frames = build_tier_frames(ctx, top)
    couplings = province._couplings(ctx, top)
    priced, shift, _ = province._priced_top(r, frames.pairs)
    alone = province._alone_priced(r)

    def w1(earlier):
        res = province._solve_top_milp(ctx, top, frames, couplings, time_limit=30, progress=None, priced=priced,
                                       alone=alone, priced_travel=False, earlier=earlier)
        assert res is not None
        return next(s.value for s in res[1] if s.term == "priced_w1")

    alone_only = w1(None)
    same = province._cut_of(r, r, frames.pairs, shift)
    assert w1([same]) == pytest.approx(alone_only, abs=1e-6)
    assert w1([(same[0], same[1], same[2] + 7.0)]) == pytest.approx(alone_only + 7.0, abs=1e-6)
    assert w1([(same[0], same[1], same[2] - 7.0)]) == pytest.approx(alone_only, abs=1e-6)


def _bounds_of_a_solve(instance, monkeypatch) -> list[wholebound.WholeBound]:
    seen: list[wholebound.WholeBound] = []
    real = wholebound.whole_plan_bound

    def keep(*a, **k):
        out = real(*a, **k)
        seen.append(out)
        return out

    monkeypatch.setattr(wholebound, "whole_plan_bound", keep)
    province.solve_province(instance, time_limit=60, workers=2)
    monkeypatch.setattr(wholebound, "whole_plan_bound", real)
    return seen


def _same_bounds(first: list[wholebound.WholeBound], second: list[wholebound.WholeBound]) -> None:
    """Two solves' bounds are the same, round by round and top-tier pair by pair."""
    assert len(first) == len(second) >= 1
    for a, b in zip(first, second):
        assert not a.reason and not b.reason
        assert (a.lb1, a.lb2, a.alone, a.bounds) == (b.lb1, b.lb2, b.alone, b.bounds)
        for name in ("priced1", "priced1u", "priced2", "alone_extra1", "alone_blocked"):
            assert list(getattr(a, name)) == list(getattr(b, name)), name


def test_bound_priced_in_worker_processes_is_the_same(one_county, monkeypatch, process_log):
    """Pricing the (unit, county) pairs in forked processes gives the same bound, pair for pair."""
    import os

    if "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("no fork on this platform")
    monkeypatch.setattr(wholebound, "PROCESSES", 1)
    here = _bounds_of_a_solve(one_county, monkeypatch)
    wrap, pids = process_log
    monkeypatch.setattr(wholebound, "PROCESSES", 2)
    monkeypatch.setattr(wholebound, "PARALLEL_MIN_PAIRS", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(wholebound, "_county_part", wrap(wholebound._county_part))
    forked = _bounds_of_a_solve(one_county, monkeypatch)
    assert pids() - {str(os.getpid())}, "no county job went to a worker process"
    _same_bounds(here, forked)


def test_rounds_with_their_mips_beside_the_free_pairs_give_the_plan_of_one_process(guiyang, monkeypatch):
    """Every round's top-tier MIP runs in a worker while the next round's free pairs are built: the same plan."""
    if "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("no fork on this platform")
    joined: list[int] = []
    real_join = province._joined_chunks
    monkeypatch.setattr(province, "_joined_chunks", lambda a, b: joined.append(len(a.helper)) or real_join(a, b))
    alone = province.solve_province(guiyang, time_limit=150, workers=1)
    assert not joined
    province.solve_province(guiyang, time_limit=10, workers=2)  # one round: its chunks' free parts
    per_round = len(joined)
    assert per_round > 0
    joined.clear()
    beside = province.solve_province(guiyang, time_limit=150, workers=2)
    assert len(joined) == 3 * per_round  # the lower tiers of all three choices used prefetched free pairs
    assert beside.assignments.equals(alone.assignments)
    assert beside.header["objective"] == alone.header["objective"]
    assert beside.header["bound"] == alone.header["bound"]


def test_merged_staff_give_the_plan_figures_and_bound_of_one_node_each(guiyang, monkeypatch):
    """Guiyang's village staff merged into classes (matcher.helperclasses): the same figures, bound and checker verdict."""
    monkeypatch.setattr(province, "MERGE_HELPERS", False)
    plain = province.solve_province(guiyang, time_limit=30)
    merged_groups: list[int] = []
    real = helperclasses.helper_classes

    def noted(*a, **k):
        hc = real(*a, **k)
        if hc is not None:
            merged_groups.append(a[0] - hc.n_classes)
        return hc

    monkeypatch.setattr(province, "MERGE_HELPERS", True)
    monkeypatch.setattr(helperclasses, "helper_classes", noted)
    merged = province.solve_province(guiyang, time_limit=30)
    assert sum(merged_groups) > 100  # many staff really were merged
    assert merged.objective == plain.objective and merged.bound == plain.bound
    assert len(merged.assignments) == len(plain.assignments)
    assert len(check_plan(guiyang, merged).errors) == 0


def test_a_stage_the_plan_already_meets_at_zero_is_not_solved_again(guiyang, monkeypatch):
    """The county MIP's coverage stage: the coupling stage's plan already covers every county, so no MIP runs for it.

    (The stage-by-stage path: by default the first MIP tries the plan with no shortfall first, see
    test_province.test_top_mip_without_shortfall_first_gives_the_stage_by_stage_optimum.)
    """
    monkeypatch.setattr(province, "_top_milp_short_free_first", province._solve_top_milp)
    calls: list[int] = []
    real = province.highs_milp

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(province, "highs_milp", counted)
    skipped = province.solve_province(guiyang, time_limit=5, workers=1)
    n_skipped = len(calls)
    calls.clear()
    monkeypatch.setattr(province, "_least_already", lambda cost, lb, x: False)
    solved = province.solve_province(guiyang, time_limit=5, workers=1)
    assert len(calls) == n_skipped + 1
    assert skipped.assignments.equals(solved.assignments)
    assert skipped.objective == solved.objective and skipped.bound == solved.bound


def test_least_already_needs_costs_that_cannot_go_below_zero():
    x = np.array([1.0, 0.0, 2.0])
    lb = np.zeros(3)
    assert province._least_already(np.array([0.0, 1.0, 0.0]), lb, x)
    assert not province._least_already(np.array([0.0, 1.0, 0.0]), lb, None)
    assert not province._least_already(np.array([1.0, 1.0, 0.0]), lb, x)  # the plan costs 1
    assert not province._least_already(np.array([0.0, 1.0, -1.0]), lb, np.zeros(3))  # a negative cost
    assert not province._least_already(np.array([0.0, 1.0, 0.0]), np.array([0.0, -1.0, 0.0]), x)  # a negative column
    assert not province._least_already(np.array([0.0, 0.25, 0.0]), lb, np.array([0.0, 0.1, 0.0]))  # not integer costs


@pytest.mark.parametrize("seed", range(4))
def test_per_helper_min_is_the_least_value_of_each_helper(seed):
    """Sorted pairs take the reduction per run, unsorted ones ufunc.at: both the least value (int64 max without arcs)."""
    rng = np.random.default_rng(seed)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        helper = rng.integers(0, n, int(rng.integers(0, 60)))
        values = rng.integers(-10**12, 10**12, len(helper))
        for h in (helper, np.sort(helper)):
            want = [min((int(v) for hh, v in zip(h, values) if hh == k), default=np.iinfo(np.int64).max)
                    for k in range(n)]
            assert wholebound._per_helper_min(h, values, n).tolist() == want


def test_alike_helpers_priced_once_give_the_bound_of_pricing_each(guiyang, monkeypatch):
    """The bound's county jobs price one representative per set of alike helpers: the same bound, pair for pair."""
    from matcher import pairarrays

    real = pairarrays.alike_helpers
    merged: list[tuple[int, int]] = []

    def counted(tt, hp, tp, extra=None):
        reps, rep_of = real(tt, hp, tp, extra)
        merged.append((len(reps), len(hp)))
        return reps, rep_of

    def each_alone(tt, hp, tp, extra=None):
        return np.asarray(hp, dtype=np.int64), np.arange(len(hp))

    monkeypatch.setattr(wholebound, "PROCESSES", 1)
    monkeypatch.setattr(pairarrays, "alike_helpers", counted)
    shared = _bounds_of_a_solve(guiyang, monkeypatch)
    assert sum(r for r, _ in merged) < sum(h for _, h in merged)  # representatives stood for several helpers
    monkeypatch.setattr(pairarrays, "alike_helpers", each_alone)
    each = _bounds_of_a_solve(guiyang, monkeypatch)
    _same_bounds(shared, each)


def test_top_mips_are_not_cut_short_by_a_short_time_limit(guiyang, monkeypatch):
    """Every top-tier MIP gets at least MIP_MIN_SECONDS, so a short --time-limit gives the plan and bound of a long one.

    HiGHS stops on the clock: a MIP cut short would make the plan (or its bound) depend on the machine's load.
    """
    given: list[tuple[float, bool]] = []
    real = province._solve_top_milp
    monkeypatch.setattr(province, "_solve_top_milp", lambda *a, **k: given.append(
        (k["time_limit"], k.get("priced") is not None)) or real(*a, **k))
    short = province.solve_province(guiyang, time_limit=1, seed=0, workers=1)
    assert any(priced for _, priced in given) and any(not priced for _, priced in given)
    assert min(t for t, _ in given) >= province.MIP_MIN_SECONDS
    assert province.mip_seconds(1000, 0.25) == 250  # a long limit still gives its share
    given.clear()
    long = province.solve_province(guiyang, time_limit=40, seed=0, workers=1)
    assert short.assignments.equals(long.assignments)
    assert short.header["bound"] == long.header["bound"]
