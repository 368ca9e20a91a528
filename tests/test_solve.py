"""Solving real instances end to end: tiny checks clean, is deterministic, and small random instances
either solve into plans the independent checker accepts or are refused with a real shortage named."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher import rules
from matcher.candidates import build_all, context_from_instance
from matcher.check import check_plan
from matcher.instance import read_instance
from matcher.scheme import read_scheme
from matcher.solver import InfeasibleError, solve

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "instances" / "tiny"


@pytest.fixture(scope="module")
def tiny() -> Any:
    return read_instance(TINY)


@pytest.fixture(scope="module")
def tiny_plan(tiny: Any) -> Any:
    return solve(tiny, time_limit=30, seed=0, workers=2)


def test_tiny_solves_optimal_and_checks_clean(tiny: Any, tiny_plan: Any) -> None:
    assert tiny_plan.status == "OPTIMAL" and tiny_plan.gap == 0.0
    report = check_plan(tiny, tiny_plan)
    assert report.ok, report.errors.to_dict("records")
    # every pinned incumbent is kept, with its own start year
    a = tiny_plan.assignments
    inc = tiny.incumbents
    for r in inc.itertuples(index=False):
        row = a[(a["tier"] == r.tier) & (a["helper"] == r.helper) & (a["target"] == r.target)]
        assert len(row) == 1 and bool(row["pinned"].iloc[0]) and int(row["start_year"].iloc[0]) == int(r.start_year)
    # bounds never exceed values
    for term, v in tiny_plan.objective.items():
        assert tiny_plan.bound[term] <= v + 1e-9


def test_tiny_twice_gives_identical_bytes(tmp_path: Path, tiny: Any, tiny_plan: Any) -> None:
    again = solve(tiny, time_limit=30, seed=0, workers=2)
    a, b = tmp_path / "a", tmp_path / "b"
    tiny_plan.save(a)
    again.save(b)
    assert (a / "assignments.csv").read_bytes() == (b / "assignments.csv").read_bytes()
    ja, jb = (json.loads((d / "plan.json").read_text("utf-8")) for d in (a, b))
    ja.pop("wall_s"), jb.pop("wall_s")
    assert ja == jb


def test_objective_matches_the_plan_rows(tiny_plan: Any) -> None:
    """The plan reports the costs its links carry: each priority is the sum of its links' cost column."""
    a = tiny_plan.assignments
    for term in ("match", "strength", "travel"):
        assert tiny_plan.objective[term] == pytest.approx(float(a[f"cost_{term}"].sum()), abs=1e-6), term


def test_objective_with_weights_is_the_weighted_sum_of_the_rows(tiny: Any) -> None:
    """With weights other than 1 the priorities are the weighted sums of the links' costs, and the checker agrees."""
    from matcher.scenario import Scenario

    inst = Scenario(tiny).set_weight("strength", 1.5).set_weight("travel", 3.0).instance
    plan = solve(inst, time_limit=20, seed=0, workers=1)
    a = plan.assignments
    for term, w in (("match", 1.0), ("strength", 1.5), ("travel", 3.0)):
        assert plan.objective[term] == pytest.approx(w * float(a[f"cost_{term}"].sum()), abs=1e-3), term
    report = check_plan(inst, plan)
    assert report.ok and len(report.warnings) == 0, str(report)


def test_cli_writes_checked_plan(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    r = subprocess.run(["matcher", "solve", str(TINY), "--out", str(out), "--time-limit", "20"],
                       capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"})
    assert r.returncode == 0, r.stderr
    assert (out / "plan.json").exists() and (out / "check.txt").read_text("utf-8").startswith("OK")


def test_cli_exit_3_names_the_shortage(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    subprocess.run(["cp", "-r", str(TINY), str(inst)], check=True)
    scheme = (inst / "scheme.toml").read_text("utf-8").replace("unit_share_max = 0.3334", "unit_share_max = 0.02")
    (inst / "scheme.toml").write_text(scheme, "utf-8")
    r = subprocess.run(["matcher", "solve", str(inst), "--out", str(tmp_path / "p")], capture_output=True, text=True)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "at most" in r.stderr and not (tmp_path / "p" / "plan.json").exists()


def test_short_county_is_named_and_uncovered_listed(tmp_path: Path) -> None:
    """Remove most village staff of 罗甸: the plan lists uncovered villages with the county's count."""
    inst = tmp_path / "inst"
    subprocess.run(["cp", "-r", str(TINY), str(inst)], check=True)
    people = pd.read_csv(inst / "people.csv", dtype=str, keep_default_na=False)
    people = people[~people["id"].isin(["p18", "p19", "p20", "p07", "p08", "p09", "p10", "p11"])]
    people.to_csv(inst / "people.csv", index=False)
    inc = pd.read_csv(inst / "incumbents.csv", dtype=str)
    inc.to_csv(inst / "incumbents.csv", index=False)
    instance = read_instance(inst)
    plan = solve(instance, time_limit=20)
    u = plan.uncovered
    assert len(u) > 0 and (u["short"] > 0).all() and u["reason"].str.len().min() > 10
    # the county is named with its count, in English and Chinese, and its count is a true minimum
    assert u["reason"].str.contains("罗甸县: 9 village slots").any() and u["reason_zh"].str.contains("罗甸县").any()
    finding = [f for f in plan.header["diagnosis"] if f["place"] == "522728000000"][0]
    assert u[u["target"].str.startswith("522728")]["short"].sum() >= finding["short"]
    assert plan.objective["coverage"] == u["short"].sum()
    assert check_plan(instance, plan).ok


# --------------------------------------------------------------------------- property test


def _write_instance(folder: Path, d: dict[str, Any]) -> None:
    """A small made-up province: 2-3 counties with townships and villages, units and people."""
    folder.mkdir(parents=True, exist_ok=True)
    loc = [("520000000000", "省", "province", "", "", "", 106.7, 26.6),
           ("520100000000", "市", "prefecture", "520000000000", "", "", 106.7, 26.6),
           ("520101000000", "城区", "county", "520100000000", "", "0", 106.7, 26.6)]
    counties = []
    for c in range(d["counties"]):
        cc = f"5201{c + 2:02d}000000"
        counties.append(cc)
        loc.append((cc, f"县{c}", "county", "520100000000", "", "1", 106.0 + c * 0.3, 26.0))
        for t in range(2):
            tc = cc[:6] + f"{t + 1:03d}000"
            loc.append((tc, f"乡{c}{t}", "township", cc, "township", "0", 106.0 + c * 0.3 + t * 0.05, 26.05))
            for v in range(d["villages"]):
                pc = str(d["classes"][(c * 7 + t * 3 + v) % len(d["classes"])])
                loc.append((tc[:9] + f"{v + 1:03d}", f"村{c}{t}{v}", "village", tc, "village_committee", pc,
                            106.0 + c * 0.3 + t * 0.05 + v * 0.01, 26.1 + v * 0.01))
    pd.DataFrame(loc, columns=["code", "name", "level", "parent", "kind", "poverty_class", "lon", "lat"]).to_csv(
        folder / "localities.csv", index=False)
    n_units = 2 + len(counties)
    listed = [len(range(i, d["people"], n_units)) for i in range(n_units)]
    units = [("U1", "省甲厅", "province", "520101000000", "agriculture", 300, 200),
             ("U2", "省乙厅", "province", "520101000000", "health", 200, 100)]
    for i, cc in enumerate(counties):  # headcount: at least the people listed (the loader's rule)
        units.append((f"C{i}", f"县局{i}", "county", cc, "education", max(d["county_headcount"], listed[2 + i]), ""))
    pd.DataFrame(units, columns=["id", "name", "level", "locality", "function", "headcount", "strength"]).to_csv(
        folder / "units.csv", index=False)
    people = []
    for k in range(d["people"]):
        unit = [u[0] for u in units][k % len(units)]
        rank = d["ranks"][k % len(d["ranks"])]
        home = counties[k % len(counties)] if k % 3 == 0 else ""
        people.append((f"p{k:03d}", f"人{k}", unit, rank, "M" if k % 2 else "F", home, "agriculture" if k % 2 else "health"))
    pd.DataFrame(people, columns=["id", "name", "unit", "rank", "gender", "hometown", "skills"]).to_csv(
        folder / "people.csv", index=False)
    toml = f"""
[program]
name = "随机"
plan_year = 2020
[terms]
no_return = ["village"]
[budget]
travel = {{ detour = 1.4, speed_kmh = 40, hours_per_day = 8 }}
[[tiers]]
id = "county"
helpers = {{ table = "units", level = ["province"] }}
targets = {{ table = "localities", level = ["county"], poverty_class = [1] }}
coverage_min = 1
coverage_max = 2
links_min = 0
links_max = {d["unit_links"]}
continuity = true
[[tiers]]
id = "village"
helpers = {{ table = "people", rank = ["section", "staff"] }}
targets = {{ table = "localities", level = ["village"] }}
coverage_min = 1
coverage_max = {d["cov_max"]}
links_min = {d["links_min"]}
links_max = 1
unit_share_max = {d["share"]}
[[tiers.class_min]]
where = {{ poverty_class = [1] }}
min = 2
[[tiers.composition]]
where = {{ poverty_class = [1] }}
helper_where = {{ rank = ["section"] }}
min = 1
[tiers.eligibility]
stay_in_area = {{ county = "county" }}
hometown_avoid = "{d["avoid"]}"
"""
    (folder / "scheme.toml").write_text(toml, encoding="utf-8")


instances = st.fixed_dictionaries({
    "counties": st.integers(1, 3), "villages": st.integers(1, 3),
    "classes": st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=4),
    "people": st.integers(2, 24), "ranks": st.lists(st.sampled_from(["section", "staff"]), min_size=1, max_size=3),
    "county_headcount": st.integers(1, 30), "unit_links": st.integers(1, 2), "cov_max": st.integers(2, 3),
    "links_min": st.integers(0, 1), "share": st.sampled_from([0.0, 0.2, 0.5]), "avoid": st.sampled_from(["", "county"]),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(d=instances)
def test_random_instances_solve_or_name_a_real_shortage(tmp_path_factory: Any, d: dict[str, Any]) -> None:
    folder = tmp_path_factory.mktemp("rand")
    _write_instance(folder, d)
    inst = read_instance(folder)
    try:
        plan = solve(inst, time_limit=5, seed=1, workers=1)
    except InfeasibleError as exc:
        assert exc.findings, "infeasible without a named reason"
        ctx = context_from_instance(inst, read_scheme(inst.scheme))
        frames = build_all(ctx)
        for f in exc.findings:
            assert f.short > 0 and f.en and f.zh
            tier = ctx.scheme.tier(f.tier)
            fr = frames[f.tier]
            if f.place in fr.helpers.index:  # a helper with too few eligible targets
                assert fr.pairs[fr.pairs["helper"] == f.place]["target"].nunique() < tier.links_min
            elif f.place in ctx.units.index:  # a unit whose listed people exceed its share
                listed = int((fr.helpers["unit"] == f.place).sum())
                cap = int(rules.unit_share_cap(pd.to_numeric(ctx.units["headcount"]), tier.unit_share_max)[f.place])
                assert listed > cap
        return
    report = check_plan(inst, plan)
    assert report.ok, report.errors.to_dict("records")
    assert plan.status in ("OPTIMAL", "FEASIBLE")
    assert plan.objective["coverage"] == plan.uncovered["short"].sum()
    if plan.status == "OPTIMAL":
        assert plan.gap == 0.0
