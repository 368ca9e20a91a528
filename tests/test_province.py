"""Province-scale solver: top tier by CP-SAT with coupling, lower tiers by min-cost flows (matcher.province)."""

from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from matcher import province
from matcher.check import check_plan
from matcher.instance import read_instance
from matcher.model import costs_on_grid
from matcher.province import (
    FLOW_TERMS,
    _solve_flow,
    lexicographic_weights,
    solve_province,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny"
GUIZHOU = ROOT / "instances" / "guizhou"


@pytest.fixture(scope="module")
def tiny():
    return read_instance(TINY)


@pytest.fixture(scope="module")
def tiny_plan(tiny):
    return solve_province(tiny, time_limit=20, seed=0)


def _errors(report):
    v = report.violations
    return v[v["kind"] == "error"] if len(v) else v


def test_tiny_plan_passes_the_checker(tiny, tiny_plan):
    report = check_plan(tiny, tiny_plan)
    assert len(_errors(report)) == 0, _errors(report).to_dict("records")
    # every person of the lower tiers holds exactly one link (links_min = links_max = 1 on tiny)
    a = tiny_plan.assignments
    for tier in ("township", "village"):
        assert a.loc[a["tier"] == tier, "helper"].value_counts().max() == 1


def test_tiny_same_lexicographic_objective_as_solve(tiny, tiny_plan):
    from matcher.solver import solve

    ref = solve(tiny, time_limit=20, seed=0)
    assert ref.header["status"] == "OPTIMAL"
    # the top tier is fixed first, so the province plan can only be lexicographically worse or equal;
    # on tiny the coupling keeps the same optimum
    mine = tuple(round(tiny_plan.objective[t], 6) for t in ref.objective)
    best = tuple(round(ref.objective[t], 6) for t in ref.objective)
    assert mine == best
    assert tiny_plan.header["status"] == "FEASIBLE"  # honest: no whole-plan bound when parents are fixed first
    for tid in ("township", "village"):
        assert tiny_plan.header["tiers"][tid]["gap"] == 0.0
        assert "min-cost flow" in tiny_plan.header["tiers"][tid]["method"]


def test_tiny_deterministic(tiny, tiny_plan):
    again = solve_province(tiny, time_limit=20, seed=0)
    assert again._assignments_csv() == tiny_plan._assignments_csv()
    assert again._uncovered_csv() == tiny_plan._uncovered_csv()


def test_flow_groups_in_worker_processes_give_the_same_plan(tiny, tiny_plan, monkeypatch, process_log):
    """Solving the flow groups in forked processes changes nothing in the plan (same links, same header figures)."""
    if "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("no fork on this platform")
    wrap, pids = process_log
    monkeypatch.setattr(province, "FLOW_PROCESSES", 2)
    monkeypatch.setattr(province, "PARALLEL_MIN_PAIRS", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(province, "_solve_flow", wrap(province._solve_flow))
    plan = solve_province(tiny, time_limit=20, seed=0, workers=2)
    assert pids() - {str(os.getpid())}, "no flow group went to a worker process"
    assert plan.assignments.equals(tiny_plan.assignments)
    assert plan.header["objective"] == tiny_plan.header["objective"]


def test_saved_plan_reloads_and_checks(tiny, tiny_plan, tmp_path):
    from matcher.plan import Plan

    folder = tiny_plan.save(tmp_path / "plan")
    back = Plan.load(folder)
    assert len(_errors(check_plan(tiny, back))) == 0
    assert back.assignments[["tier", "helper", "target"]].equals(tiny_plan.assignments[["tier", "helper", "target"]])


# --------------------------------------------------------------------------- the flow against brute force


def test_lexicographic_weights_dominate():
    rng = np.random.default_rng(3)
    for _ in range(200):
        spans = [int(s) for s in rng.integers(0, 10**4, size=4)]
        w = lexicographic_weights(spans)
        for i in range(len(w) - 1):
            assert w[i] > sum(w[j] * spans[j] for j in range(i + 1, len(w)))
        assert w[-1] == 1


def _brute_force(n_h, n_t, req, comp, tmax, hp, tp, lead, costs):
    """Best (coverage, match, strength, travel) over every assignment of each helper to one of its pairs."""
    options = [np.flatnonzero(hp == h) for h in range(n_h)]
    best = None
    for pick in itertools.product(*options):
        pick = np.array(pick, dtype=int)
        n_at = np.bincount(tp[pick], minlength=n_t)
        if (n_at > tmax).any():
            continue
        n_lead = np.bincount(tp[pick[lead[pick]]], minlength=n_t)
        cov = int(np.clip(req - n_at, 0, None).sum() + np.clip(comp - n_lead, 0, None).sum())
        key = (cov, *(int(costs[t][pick].sum()) for t in FLOW_TERMS))
        best = key if best is None or key < best else best
    return best


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("cost_limit", [province.COST_LIMIT, 10**9])
def test_flow_is_the_lexicographic_optimum(seed, cost_limit, monkeypatch):
    """A tiny cost limit forces one flow solve per priority: the optimal-face restriction must keep it exact."""
    monkeypatch.setattr(province, "COST_LIMIT", cost_limit)
    rng = np.random.default_rng(seed)
    n_h, n_t, tmax = 6, 4, 2
    hp, tp = [], []
    for h in range(n_h):
        for t in sorted(rng.choice(n_t, size=int(rng.integers(1, 4)), replace=False)):
            hp.append(h)
            tp.append(int(t))
    hp_a, tp_a = np.array(hp, dtype=np.int32), np.array(tp, dtype=np.int32)
    req = rng.integers(0, 3, size=n_t).astype(np.int64)
    comp = (rng.random(n_t) < 0.5).astype(np.int64)
    section = rng.random(n_h) < 0.5
    lead = section[hp_a] & (comp[tp_a] > 0)
    costs = {t: rng.integers(0, 5000 if t == "travel" else 300, size=len(hp_a)).astype(np.int64) for t in FLOW_TERMS}
    best = _brute_force(n_h, n_t, req, comp, tmax, hp_a, tp_a, lead, costs)
    if best is None:
        pytest.skip("no feasible assignment for this draw")
    r = _solve_flow(n_h, np.ones(n_h, dtype=bool), n_t, req, comp, tmax, hp_a, tp_a, lead,
                    np.zeros(len(hp_a), dtype=bool), costs)
    got = (r.coverage, *(r.values[t] for t in FLOW_TERMS))
    assert got == best
    assert np.bincount(hp_a[r.chosen], minlength=n_h).tolist() == [1] * n_h
    if cost_limit == 10**9:
        assert len(r.stages) > 1  # the staged path was exercised


def test_flow_reports_helpers_without_candidates():
    hp = np.array([0, 0, 1], dtype=np.int32)
    tp = np.array([0, 1, 1], dtype=np.int32)
    costs = {t: np.zeros(3, dtype=np.int64) for t in FLOW_TERMS}
    r = _solve_flow(3, np.ones(3, dtype=bool), 2, np.array([1, 1]), np.zeros(2, dtype=np.int64), 2,
                    hp, tp, np.zeros(3, dtype=bool), np.zeros(3, dtype=bool), costs)
    assert r.unplaced.tolist() == [2]
    assert r.coverage == 0


# --------------------------------------------------------------------------- the full province
# Solving instances/guizhou takes minutes here (over the ~90 s a slow test may take): see bench/bench_province.py.


def test_province_applies_only_where_one_table_is_too_big(tiny):
    assert not province.province_applies(tiny)
    guizhou = read_instance(GUIZHOU)
    assert province.province_applies(guizhou)
    from matcher.scenario import Scenario

    assert province.dispatch(tiny) == "model"  # 199 pairs: one model proves it at once
    assert province.dispatch(guizhou) == "province"
    assert province.dispatch(Scenario(guizhou).within(["522730000000"]).instance) == "province-first"
    assert province.dispatch(read_instance(ROOT / "instances" / "baoxing")) == "model"  # quotas: not supported


def test_a_county_slice_is_solved_exactly_by_the_province_solver():
    """A Guizhou county slice (its department fixed by the slice): ``solve`` returns the province solver's plan,
    proven optimal by its whole-plan bound; one CP-SAT model given the same time finds no better plan."""
    from matcher.scenario import Scenario
    from matcher.solver import solve

    piece = Scenario(read_instance(GUIZHOU)).within(["520102000000"]).instance
    auto = solve(piece, time_limit=10, seed=0)
    assert auto.status == "OPTIMAL" and auto.gap == pytest.approx(0.0, abs=1e-9)
    assert "min-cost flow" in auto.header["tiers"]["village"]["method"]
    assert check_plan(piece, auto).ok
    model = solve(piece, time_limit=10, seed=0, method="model")
    order = ["coverage", "continuity", "match", "strength", "travel", "balance"]
    mine = tuple(round(auto.objective.get(k, 0.0), 6) for k in order)
    theirs = tuple(round(model.objective.get(k, 0.0), 6) for k in order)
    assert mine <= theirs
    if model.status == "OPTIMAL":
        assert mine == theirs


def test_province_first_falls_back_to_one_model_when_its_bound_does_not_close(tmp_path, monkeypatch):
    """When the province solver's plan is not proven optimal, one model runs too, and on a tie its proven plan wins.

    tiny without incumbents, every department in one county (the bound's setting): the province solver proves
    its plan there, so its status is set to FEASIBLE on the way out to take the other branch."""
    from matcher.solver import solve

    from variants import tiny_one_county_each  # tests/ is on sys.path

    inst = read_instance(tiny_one_county_each(tmp_path))
    monkeypatch.setattr(province, "PROVINCE_FIRST_PAIRS", 0)
    assert province.dispatch(inst) == "province-first"
    real = province.solve_province
    firsts = []

    def unproven(*a, **k):
        plan = real(*a, **k)
        firsts.append(plan)
        plan.header["status"] = "FEASIBLE"
        return plan

    monkeypatch.setattr(province, "solve_province", unproven)
    plan = solve(inst, time_limit=20, seed=0)
    alone = solve(inst, time_limit=20, seed=0, method="model")
    assert len(firsts) == 1  # the province plan was optimal after all (one model adds no continuity term here)
    assert {k: firsts[0].objective[k] for k in alone.objective} == alone.objective
    assert plan is not firsts[0]  # a tie: the model's plan, proven by its own bound
    assert plan.status == "OPTIMAL" and "cp-sat" in plan.header["method"]
    assert plan.assignments.equals(alone.assignments)


def test_province_first_is_skipped_where_no_bound_could_prove_it(tiny, monkeypatch):
    """Incumbents in the top tier (tiny's D01 in 522728) leave the whole-plan bound undefined: the province-first
    path gives up before solving, and ``solve`` builds one model with the whole time limit."""
    from matcher.solver import solve

    assert province.solve_province(tiny, time_limit=5, provable_only=True) is None
    monkeypatch.setattr(province, "PROVINCE_FIRST_PAIRS", 0)
    assert province.dispatch(tiny) == "province-first"
    flows: list[int] = []
    real = province._solve_flow
    monkeypatch.setattr(province, "_solve_flow", lambda *a, **k: flows.append(1) or real(*a, **k))
    plan = solve(tiny, time_limit=20, seed=0)
    assert not flows  # nothing of the province solver ran
    assert plan.status == "OPTIMAL" and "cp-sat" in plan.header["method"]


def test_the_better_plan_is_kept_lexicographically():
    from types import SimpleNamespace

    from matcher.solver import _better_plan

    def plan(**obj):
        return SimpleNamespace(objective={"coverage": 0.0, **obj}, header={"method": "m"})

    first, model = plan(match=1.0, travel=9.0), plan(match=2.0, travel=1.0)
    assert _better_plan(first, model) is first and "better than one model" in first.header["method"]
    first, model = plan(match=2.0, travel=1.0), plan(match=2.0, travel=1.0)
    assert _better_plan(first, model) is model  # a tie: the model's plan (its own bound proves it)
    assert _better_plan(plan(match=3.0, travel=0.0), plan(match=2.0, travel=5.0)).objective["match"] == 2.0


def test_an_unknown_method_is_a_clear_error(tiny):
    from matcher.solver import solve

    with pytest.raises(ValueError, match="method must be one of"):
        solve(tiny, time_limit=5, method="fast")


def test_unsupported_scheme_is_a_clear_error(tiny):
    import copy
    import dataclasses

    from matcher.errors import SolveError
    from matcher.scheme import read_scheme

    raw = copy.deepcopy(dict(tiny.scheme))
    raw["tiers"][2]["links_max"] = 2
    assert "links_max = 2" in province.supported(read_scheme(raw))
    with pytest.raises(SolveError, match="links_max = 2"):
        solve_province(dataclasses.replace(tiny, scheme=raw), time_limit=5)


@pytest.mark.parametrize("path", ["milp", "cp-sat"])
def test_top_tier_paths_agree_on_tiny(tiny, tiny_plan, path, monkeypatch):
    """The MIP path (default when the flow shortcut fails) and the CP-SAT fallback give the same optimum."""
    if path == "cp-sat":
        monkeypatch.setattr(province, "_solve_top_milp", lambda *a, **k: None)
    events = []
    plan = solve_province(tiny, time_limit=20, seed=0, progress=lambda e, info: events.append((e, info)))
    county = plan.header["tiers"]["county"]
    assert county["status"] == "OPTIMAL" and county["gap"] == 0.0
    # the progress contract the CLI prints: every stage names its term, value, bound and status
    stages = [info for e, info in events if e == "stage"]
    assert stages and all({"term", "value", "bound", "status"} <= set(info) for info in stages)
    assert all(info["bound"] <= info["value"] + 1e-9 for info in stages)
    assert ("HiGHS MIP" if path == "milp" else "cp-sat") in county["method"]
    assert plan.objective == tiny_plan.objective
    assert len(_errors(check_plan(tiny, plan))) == 0


def _top_mip_stages(tiny, merge: bool, monkeypatch) -> list[tuple[str, float, float, str]]:
    from matcher.candidates import build_tier_frames, context_from_instance
    from matcher.scheme import read_scheme

    if not merge:
        monkeypatch.setattr(province, "_merged_tail", lambda *a, **k: ([], []))
    scheme = read_scheme(tiny.scheme)
    ctx = context_from_instance(tiny, scheme)
    top = scheme.tiers[0]
    frames = build_tier_frames(ctx, top)
    res = province._solve_top_milp(ctx, top, frames, province._couplings(ctx, top), time_limit=20, progress=None)
    monkeypatch.undo()
    assert res is not None
    return [(s.term, s.value, s.bound, s.status) for s in res[1]]


def test_merged_last_stages_reach_the_optimum_of_separate_stages(tiny, monkeypatch):
    """The top tier's last two priorities solved as one weighted MIP give the values of two MIPs in order."""
    used: list[int] = []
    real = province._tail_stages
    monkeypatch.setattr(province, "_tail_stages", lambda *a, **k: used.append(1) or real(*a, **k))
    merged = _top_mip_stages(tiny, True, monkeypatch)
    assert used, "the merged stage was not solved"
    separate = _top_mip_stages(tiny, False, monkeypatch)
    assert [s[0] for s in merged if s[0] in FLOW_TERMS] == ["match", "strength", "travel"]
    rounded = lambda stages: [(t, round(v, 6), round(b, 6), st) for t, v, b, st in stages]
    assert rounded(merged) == rounded(separate)


@pytest.mark.parametrize("seed", range(20))
def test_tail_weights_make_the_weighted_sum_lexicographic(seed):
    """Over every choice of one pair per unit, the least weighted sum has the least first cost, then the least second."""
    rng = np.random.default_rng(seed)
    n_units, per = 3, 3
    hi = np.repeat(np.arange(n_units), per)
    n = len(hi)
    costs = {"strength": rng.integers(0, 4, n).astype(float), "travel": rng.integers(0, 60, n).astype(float)}
    w = province._tail_weights(costs, ["strength", "travel"], hi, n)
    choices = list(itertools.product(range(per), repeat=n_units))
    pick = lambda ch: [u * per + j for u, j in enumerate(ch)]
    val = lambda ch: (costs["strength"][pick(ch)].sum(), costs["travel"][pick(ch)].sum())
    by_weight = min(choices, key=lambda ch: w[0] * val(ch)[0] + w[1] * val(ch)[1])
    assert val(by_weight) == min(val(ch) for ch in choices)


@pytest.mark.parametrize("seed", range(20))
def test_merged_tail_bounds_hold_when_the_mip_stops_early(seed):
    """With only a dual bound B <= the least weighted sum, the tail's two bounds stay below the lexicographic optimum."""
    rng = np.random.default_rng(100 + seed)
    n_units, per = 3, 3
    hi = np.repeat(np.arange(n_units), per)
    n = len(hi)
    costs = {"strength": rng.integers(0, 4, n).astype(float), "travel": rng.integers(0, 60, n).astype(float)}
    tail = ["strength", "travel"]
    w0 = province._tail_weights(costs, tail, hi, n)[0]
    choices = [[u * per + j for u, j in enumerate(ch)] for ch in itertools.product(range(per), repeat=n_units)]
    vals = [(costs["strength"][c].sum(), costs["travel"][c].sum()) for c in choices]
    best = min(vals)
    least = min(w0 * a + b for a, b in vals)
    found = choices[int(rng.integers(len(choices)))]  # the plan the MIP stopped with
    x = np.zeros(n)
    x[found] = 1
    a_x = costs["strength"][found].sum()

    class Stopped:
        status, x, mip_dual_bound = 1, None, float(least - rng.integers(0, 3 * w0))

    _, stages = province._tail_stages(Stopped(), x, costs, tail, w0, hi, n, np.ones(n), {}, {"strength": 1, "travel": 1},
                                      1.0)
    assert [s.term for s in stages] == tail and all(s.status == "FEASIBLE" for s in stages)
    assert stages[0].bound <= best[0]
    # travel's bound holds for the plans no worse in strength than the one found
    assert stages[1].bound <= min(b for a, b in vals if a <= a_x)
    assert stages[0].value == a_x


@pytest.mark.parametrize("instance", ["tiny", "baoxing"])
def test_match_by_profile_equals_the_rule(instance):
    """The per-profile evaluation of rules.match_cost gives every pair the rule's own value."""
    from matcher.candidates import build_tier_frames, context_from_instance
    from matcher.scheme import read_scheme

    inst = read_instance(ROOT / "instances" / instance)
    scheme = read_scheme(inst.scheme)
    ctx = context_from_instance(inst, scheme)
    for tier in scheme.tiers:
        if tier.helpers.table != "people":
            continue
        f = build_tier_frames(ctx, tier)
        codes = (province.profile_codes(f.helpers, province.MATCH_HELPER_COLUMNS),
                 province.profile_codes(f.targets, province.MATCH_TARGET_COLUMNS))
        got = province.match_by_profile(f.pairs, *codes, tier, ctx)
        assert len(f.pairs) > 0
        assert np.allclose(got.to_numpy(), f.pairs["cost_match"].to_numpy())


def test_plan_rows_carry_the_candidate_costs(tiny, tiny_plan):
    """Each link's distance and costs in the plan are those build_tier_frames gives the same pair."""
    from matcher.candidates import build_all, context_from_instance
    from matcher.scheme import read_scheme

    scheme = read_scheme(tiny.scheme)
    frames = build_all(context_from_instance(tiny, scheme))
    a = tiny_plan.assignments
    for tid, f in frames.items():
        ref = f.pairs.set_index(["helper", "target"])
        mine = a[a["tier"] == tid].set_index(["helper", "target"])
        assert len(mine) > 0
        joined = mine.join(ref, suffixes=("", "_ref"), how="left")
        grid = costs_on_grid(joined[["cost_match_ref", "cost_strength_ref", "cost_travel_ref"]].rename(
            columns=lambda c: c.removesuffix("_ref")), {k: scheme.objective.weight(k) for k in FLOW_TERMS})
        for col in ("cost_match", "cost_strength", "cost_travel"):
            assert np.allclose(joined[col].to_numpy(dtype=float), grid[col].to_numpy(dtype=float), atol=1e-9), (tid, col)
        assert np.allclose(joined["distance_km"].to_numpy(dtype=float),
                           joined["distance_km_ref"].to_numpy(dtype=float).round(4), atol=0.051), tid


def test_tiny_plan_figures_are_its_links(tiny, tiny_plan):
    """The plan's match, strength and travel are the sums of its links' costs: the checker warns of nothing."""
    report = check_plan(tiny, tiny_plan)
    v = report.violations
    assert len(v) == 0, v.to_dict("records")
    a = tiny_plan.assignments
    for term in FLOW_TERMS:
        assert tiny_plan.objective[term] == pytest.approx(float(a["cost_" + term].sum()), abs=1e-6)


def test_forbidden_pairs_are_never_used(tiny, tiny_plan):
    """A link of the plan forbidden in the scheme (tiers[].forbidden) disappears from the province solver's plan."""
    import copy
    import dataclasses

    a = tiny_plan.assignments
    banned = {tid: a[a["tier"] == tid].iloc[0] for tid in ("township", "village")}
    scheme = copy.deepcopy(tiny.scheme)
    for t in scheme["tiers"]:
        if t["id"] in banned:
            t["forbidden"] = [[str(banned[t["id"]]["helper"]), str(banned[t["id"]]["target"])]]
    inst = dataclasses.replace(tiny, scheme=scheme)
    plan = solve_province(inst, time_limit=20, seed=0)
    b = plan.assignments
    for tid, row in banned.items():
        used = (b["tier"] == tid) & (b["helper"].astype(str) == str(row["helper"])) & \
            (b["target"].astype(str) == str(row["target"]))
        assert not used.any(), tid
    assert len(_errors(check_plan(inst, plan))) == 0
    # and the checker would have caught the old plan under the new rules
    old = check_plan(inst, tiny_plan).violations
    assert set(old.loc[old["rule"] == "forbidden", "tier"]) == set(banned)


def test_solve_hints_at_a_longer_time_limit_only_where_a_round_is_left():
    """matcher solve says which --time-limit buys one more round, for a province plan with a gap only."""
    from matcher.commands.solve import _more_rounds_hint

    header = {"first_gap": {"term": "match", "gap": 0.039}, "tier_order": ["county", "township", "village"],
              "method": "province: ...; whole-plan bound: Lagrangian relaxation of the nesting (...)"}
    assert "--time-limit 60 starts from the" in _more_rounds_hint(header, 10)
    assert "--time-limit 150 adds a round" in _more_rounds_hint(header, 60)
    assert "--time-limit 300 " in _more_rounds_hint(header, 150)
    assert _more_rounds_hint(header, 300) == ""  # MAX_ROUNDS reached
    assert _more_rounds_hint({**header, "first_gap": None}, 60) == ""  # proven optimal
    assert _more_rounds_hint({**header, "method": "cp-sat"}, 60) == ""  # not the province solver


def test_native_prints_are_dropped_and_python_output_is_kept():
    """HiGHS's stray printf (issue 2783) does not reach the user: what native code writes meanwhile is dropped."""
    import subprocess
    import sys

    code = (
        "import ctypes, os\n"
        "from matcher import processes\n"
        "print('before')\n"
        "with processes.native_stdout_dropped():\n"
        "    ctypes.CDLL(None).printf(b'HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();\\n')\n"
        "    os.write(1, b'raw write\\n')\n"
        "print('after', flush=True)\n"
        "ctypes.CDLL(None).printf(b'native after\\n')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["before", "after", "native after"]


def test_fork_pool_only_on_linux_and_callers_work_alone_elsewhere(monkeypatch):
    """Off Linux fork_pool gives no pool and the flow groups are solved in this process, with the same results."""
    from matcher import processes

    rng = np.random.default_rng(5)
    n_h, n_t = 6, 3
    hp = np.repeat(np.arange(n_h), n_t).astype(np.int32)
    tp = np.tile(np.arange(n_t), n_h).astype(np.int32)
    costs = {k: rng.integers(0, 50, len(hp)).astype(np.int64) for k in province.FLOW_TERMS}
    args = (n_h, np.ones(n_h, dtype=bool), n_t, np.array([2, 2, 2]), np.zeros(n_t, dtype=np.int64), 2, hp, tp,
            np.zeros(len(hp), dtype=bool), np.zeros(len(hp), dtype=bool), costs)
    monkeypatch.setattr(province, "PARALLEL_MIN_PAIRS", 0)
    monkeypatch.setattr(province, "FLOW_PROCESSES", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    here = province._solve_flows([args, args], workers=2)
    monkeypatch.setattr(processes.sys, "platform", "darwin")
    with processes.fork_pool(2) as pool:
        assert pool is None
    alone = province._solve_flows([args, args], workers=2)
    for a, b in zip(here, alone):
        assert np.array_equal(a.chosen, b.chosen) and a.values == b.values


def test_free_pairs_built_beside_the_top_mip_give_the_same_plan(tiny, monkeypatch):
    """With the top tier's MIP in a worker process and the free pairs built meanwhile, the plan is the one of a
    single process (same links, same figures), and the prefetched pairs are really used."""
    monkeypatch.setattr(province, "_top_by_flow", lambda *a, **k: None)  # take the MIP path on tiny too
    joined: list[int] = []
    real_join = province._joined_chunks
    monkeypatch.setattr(province, "_joined_chunks", lambda a, b: joined.append(len(a.helper)) or real_join(a, b))
    alone = solve_province(tiny, time_limit=20, seed=0, workers=1)
    assert not joined
    beside = solve_province(tiny, time_limit=20, seed=0, workers=2)
    assert joined, "the prefetched parts were not used"  # tiny's staff are all departments' (no free pairs)
    assert beside.assignments.equals(alone.assignments)
    assert beside.header["objective"] == alone.header["objective"]
    assert beside.header["bound"] == alone.header["bound"]


def test_the_top_mips_progress_from_its_worker_is_the_progress_of_one_process(tiny, monkeypatch):
    """The MIP's stage events reach the caller from the worker process (through a queue), the same and in order."""
    monkeypatch.setattr(province, "_top_by_flow", lambda *a, **k: None)
    # the tier's own MIP in the worker beside the free pairs (with the a-priori prices it runs later, silently)
    monkeypatch.setattr(province, "PRIOR_PRICES", False)

    def stages(workers: int) -> list[tuple]:
        seen: list[tuple] = []
        solve_province(tiny, time_limit=20, seed=0, workers=workers,
                       progress=lambda e, i: seen.append((i["tier"], i["term"], i["value"], i["bound"], i["status"]))
                       if e == "stage" else None)
        return seen

    here = stages(1)
    assert [s[1] for s in here if s[0] == "county"][:2] == ["coupling", "coverage"]
    assert stages(2) == here


def test_prefetched_free_pairs_and_the_nested_pairs_make_the_whole_chunk():
    """Guizhou's village chunks: the free helpers' pairs built beforehand plus the nested ones are the chunk's pairs."""
    from matcher.candidates import (
        TierFrames,
        build_tier_frames,
        context_from_instance,
        helper_frame,
        target_frame,
    )
    from matcher.scheme import read_scheme

    inst = read_instance(GUIZHOU)
    ctx = context_from_instance(inst, read_scheme(inst.scheme))
    top, village = ctx.scheme.tiers[0], ctx.scheme.tiers[2]
    top_frames = build_tier_frames(ctx, top)
    pre = province.prefetch_free_pairs(ctx, village, top_frames)
    assert pre is not None
    helpers, targets = helper_frame(ctx, village), target_frame(ctx, village)
    links = top_frames.pairs.groupby("helper").head(1)  # each department in its first candidate county
    nest = province._nesting_codes(helpers, targets, TierFrames(top, top_frames.helpers, top_frames.targets, links))
    lead_h, lead_t = province._lead_flags(village, helpers, targets)
    area = province._chunk_area(targets).to_numpy()
    linked_areas = set(targets.loc[targets["t_county"].isin(set(links["target"].astype(str))), "t_county"])
    codes = sorted(linked_areas)[:3] + sorted(set(area) - linked_areas)[:1]
    for code in codes:
        tpos = np.flatnonzero(area == code)
        hpos = province._chunk_helper_positions(pre.tables, village, nest, tpos, np.zeros(0, dtype=np.int64))
        whole = province._chunk_arrays(pre.tables, hpos, tpos, nest, lead_h, lead_t)
        nested = province._chunk_arrays(pre.tables, hpos[nest.key[hpos] >= 0], tpos, nest, lead_h, lead_t)
        free = pre.parts[code]
        assert len(free.helper) > 0
        joined = province._joined_chunks(free, nested)
        a, b = np.lexsort((whole.target, whole.helper)), np.lexsort((joined.target, joined.helper))
        for name in ("helper", "target", "lead", "pinned"):
            assert np.array_equal(getattr(whole, name)[a], getattr(joined, name)[b]), (code, name)
        for k in whole.costs:
            assert np.array_equal(whole.costs[k][a], joined.costs[k][b]), (code, k)
        assert sum(whole.dropped.values()) == sum(joined.dropped.values())


def _dies_in_a_worker(parent: int, x: int) -> int:
    """x squared, but a forked worker process that runs it dies at once (as if killed for memory)."""
    if os.getpid() != parent:
        os._exit(1)
    return x * x


def test_a_worker_that_dies_leaves_the_work_to_the_caller():
    """map_forked says None (the caller works alone) when a worker dies, instead of waiting for ever."""
    from matcher import processes

    if not __import__("sys").platform.startswith("linux"):
        pytest.skip("worker processes run on Linux only")
    args = [(os.getpid(), x) for x in range(6)]
    assert processes.map_forked(_dies_in_a_worker, args, [1] * 6, 2) is None
    assert processes.map_forked(lambda p, x: x * x, args, list(range(6)), 2) == [x * x for x in range(6)]


_PARENT: list[int] = []
_REAL_MIP_CALL = province._run_mip_call


def _mip_call_dying_in_a_worker():
    """province._run_mip_call, but a forked worker process that runs it dies at once."""
    if os.getpid() != _PARENT[0]:
        os._exit(1)
    return _REAL_MIP_CALL()


def test_the_top_mip_is_solved_here_when_its_worker_dies(tiny, monkeypatch):
    """If the process solving the top tier's MIP dies, the MIP is solved in this process: the same plan."""
    _PARENT[:] = [os.getpid()]
    monkeypatch.setattr(province, "_run_mip_call", _mip_call_dying_in_a_worker)
    monkeypatch.setattr(province, "_top_by_flow", lambda *a, **k: None)
    plan = solve_province(tiny, time_limit=20, seed=0, workers=2)
    again = solve_province(tiny, time_limit=20, seed=0, workers=1)
    assert plan.assignments.equals(again.assignments)
    assert plan.header["objective"] == again.header["objective"]


@pytest.mark.parametrize("sorted_runs", [True, False])
def test_group_arcs_come_in_helper_then_target_order(sorted_runs):
    """province._helper_target_order: chunks in target order (the fast path) or not (the full sort), lexsort's order."""
    rng = np.random.default_rng(7)
    parts = []
    for chunk_targets in (np.arange(0, 5), np.arange(5, 9), np.arange(9, 14)):
        h = np.sort(rng.choice(12, size=6, replace=False))
        hh, tt = np.repeat(h, len(chunk_targets)), np.tile(chunk_targets, len(h))
        keep = rng.random(len(hh)) < 0.7
        parts.append((hh[keep], tt[keep]))
    if not sorted_runs:
        parts = parts[::-1]  # chunks out of target order: a helper's targets are not ascending
    hl = np.concatenate([p[0] for p in parts])
    tl = np.concatenate([p[1] for p in parts])
    order = province._helper_target_order(hl, tl, 14)
    assert np.array_equal(order, np.lexsort((tl, hl)))
    distinct, place = province._local_positions(hl, 20)
    assert np.array_equal(distinct, np.unique(hl)) and np.array_equal(place, np.searchsorted(distinct, hl))


def test_highs_milp_states_optimum_infeasibility_and_leaves_a_single_thread_run_possible():
    """The top tier's MIP wrapper: scipy-style status, x and dual bound; a one-thread HiGHS run works after it."""
    import highspy
    from scipy.optimize import LinearConstraint

    both = np.array([[1.0, 1.0]])
    binary = np.ones(2)
    lb, ub = np.zeros(2), np.ones(2)
    res = province.highs_milp(np.array([-2.0, -3.0]), [LinearConstraint(both, -np.inf, 1.5)], binary, lb, ub, 10.0)
    assert res.status == 0 and res.x is not None and res.x.round().tolist() == [0.0, 1.0]
    assert res.mip_dual_bound == pytest.approx(-3.0)
    none = province.highs_milp(np.array([1.0, 1.0]), [LinearConstraint(both, 3.0, np.inf)], binary, lb, ub, 10.0)
    assert none.status == 2 and none.x is None and none.mip_dual_bound is None
    h = highspy.Highs()  # the network LP (matcher.model) runs HiGHS with one thread in the same process
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.addVar(0.0, 1.0)
    assert h.run() == highspy.HighsStatus.kOk
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal


@pytest.mark.parametrize("short", [False, True])
def test_top_mip_without_shortfall_first_gives_the_stage_by_stage_optimum(tiny, short, monkeypatch):
    """The top tier's MIP tried with no coupling or coverage shortfall first: the same stages and plan as solving
    every stage; where a county cannot be covered (two departments required, more than there are), it falls back."""
    from matcher.candidates import build_tier_frames, context_from_instance
    from matcher.scheme import read_scheme

    scheme = read_scheme(tiny.scheme)
    top = scheme.tiers[0]
    if short:
        n_units = len(tiny.units)
        top = dataclasses.replace(top, coverage_min=n_units, coverage_max=n_units)
        scheme = dataclasses.replace(scheme, tiers=(top, *scheme.tiers[1:]))
    ctx = context_from_instance(tiny, scheme)
    frames = build_tier_frames(ctx, top)
    couplings = province._couplings(ctx, top)
    calls: list[dict] = []
    real = province._solve_top_milp
    monkeypatch.setattr(province, "_solve_top_milp", lambda *a, **k: calls.append(k) or real(*a, **k))
    first = province._top_milp_short_free_first(ctx, top, frames, couplings, time_limit=20, progress=None)
    monkeypatch.undo()
    staged = province._solve_top_milp(ctx, top, frames, couplings, time_limit=20, progress=None)
    assert first is not None and staged is not None
    assert len(calls) == (2 if short else 1)  # the shortfall-free try, then (short) every stage
    assert np.array_equal(first[0], staged[0]) and first[2:] == staged[2:]
    rounded = lambda stages: [(s.term, round(s.value, 6), round(s.bound, 6), s.status) for s in stages]
    assert rounded(first[1]) == rounded(staged[1])
    coverage = [s.value for s in staged[1] if s.term == "coverage"]
    assert (coverage[0] > 0) == short
