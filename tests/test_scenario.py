"""What-if scenarios: each edit changes exactly what it says, the base never changes, save/load round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher.errors import InstanceError
from matcher.instance import read_instance
from matcher.scenario import Scenario, dump_toml


def test_base_instance_is_never_changed(tiny) -> None:
    n_people, scheme_before = len(tiny.people), repr(tiny.scheme)
    s = (Scenario(tiny).add_staff("C01", 3).remove_people(["p17"]).merge_units("D01", "D03")
         .set_class_min("village", {"poverty_class": [1]}, 3).set_plan_year(2013))
    assert len(s.instance.people) == n_people + 3 - 1
    assert len(tiny.people) == n_people and repr(tiny.scheme) == scheme_before
    assert len(s.edits) == 5 and "C01" in s.describe()
    assert "新增" in s.describe("zh")


def test_methods_return_new_scenarios(tiny) -> None:
    s0 = Scenario(tiny)
    s1 = s0.add_staff("C02", 1)
    s2 = s1.set_weight("travel", 3.0)
    assert s0.edits == () and len(s1.edits) == 1 and len(s2.edits) == 2
    assert "C02-new001" in s2.instance.people.index and "C02-new001" not in s0.instance.people.index


def test_add_staff_grows_headcount(tiny) -> None:
    s = Scenario(tiny).add_staff("C02", 4, rank="section")
    inst = s.instance
    assert int(inst.units.at["C02", "headcount"]) == int(tiny.units.at["C02", "headcount"]) + 4
    new = inst.people[inst.people["unit"] == "C02"].loc[lambda d: d.index.str.startswith("C02-new")]
    assert len(new) == 4 and set(new["rank"]) == {"section"}


def test_remove_people_ends_their_links(tiny) -> None:
    who = tiny.incumbents["helper"].astype(str)
    person = next(h for h in who if h in tiny.people.index)
    s = Scenario(tiny).remove_people([person], reason="promoted")
    assert person not in s.instance.people.index
    assert person not in set(s.instance.incumbents["helper"].astype(str))


def test_merge_units_moves_people_and_headcount(tiny) -> None:
    s = Scenario(tiny).merge_units("D01", "D03", name="贵州省农业卫生委员会")
    inst = s.instance
    assert "D03" not in inst.units.index
    assert int(inst.units.at["D01", "headcount"]) == int(tiny.units.at["D01", "headcount"]) + int(
        tiny.units.at["D03", "headcount"])
    assert set(tiny.people.index[tiny.people["unit"] == "D03"]) <= set(inst.people.index[inst.people["unit"] == "D01"])
    assert "health" in inst.units.at["D01", "function"]


def test_close_village_and_township(tiny) -> None:
    village = next(c for c, r in tiny.localities.iterrows() if r["level"] == "village")
    township = next(c for c, r in tiny.localities.iterrows() if r["level"] == "township")
    s = Scenario(tiny).close_target(village).close_target(township)
    inst = s.instance
    assert village not in inst.localities.index
    assert inst.localities.at[township, "open"] == "no"
    from matcher.candidates import context_from_instance, target_frame
    from matcher.scheme import read_scheme

    scheme = read_scheme(inst.scheme)
    ctx = context_from_instance(inst, scheme)
    assert township not in target_frame(ctx, scheme.tier("township")).index


def test_rule_edits_reach_the_scheme(tiny) -> None:
    s = (Scenario(tiny).set_class_min("village", {"poverty_class": [1]}, 3).set_priority(["coverage", "travel"])
         .set_rule("village", "eligibility.max_distance_km", 80.0).forbid_link("village", "p21", "522727100202"))
    v = next(t for t in s.instance.scheme["tiers"] if t["id"] == "village")
    assert v["forbidden"] == [["p21", "522727100202"]]  # the scheme key every solve and the checker read
    assert [c["min"] for c in v["class_min"] if c["where"] == {"poverty_class": [1]}] == [3]
    assert v["eligibility"]["max_distance_km"] == 80.0
    assert s.instance.scheme["objective"]["order"] == ["coverage", "travel"]
    assert ("village", "p21", "522727100202") in s.forbidden_links()


def test_unknown_names_are_clear_errors(tiny) -> None:
    with pytest.raises(InstanceError, match="no unit 'X9'"):
        _ = Scenario(tiny).add_staff("X9", 2).instance
    with pytest.raises(InstanceError, match="no tier 'villages'"):
        _ = Scenario(tiny).set_class_min("villages", {"poverty_class": [1]}, 3).instance


def test_save_round_trips_through_the_loader(tiny, tmp_path: Path) -> None:
    s = (Scenario(tiny).add_staff("C01", 2).merge_units("D01", "D03")
         .set_class_min("village", {"poverty_class": [1]}, 3).force_link("village", "p18", "522728100202"))
    folder = s.save(tmp_path / "scen")
    back = read_instance(folder)  # full validation
    assert sorted(back.people.index) == sorted(s.instance.people.index)
    assert back.scheme == s.instance.scheme
    assert list(back.units.loc["D01", ["headcount"]]) == list(s.instance.units.loc["D01", ["headcount"]])
    assert s.save(tmp_path / "again") and (tmp_path / "again" / "people.csv").read_bytes() == (
        folder / "people.csv").read_bytes()


def test_dump_toml_round_trips_real_scheme(tiny) -> None:
    import tomllib

    assert tomllib.loads(dump_toml(tiny.scheme)) == tiny.scheme


def test_poor_villages_need_three_solves_with_bigger_teams(tiny) -> None:
    """The issue's example: class-1 villages need teams of three; the re-solve staffs them or says why not."""
    from matcher.solver import InfeasibleError, solve

    base = solve(tiny, time_limit=20, workers=1)
    s = Scenario(tiny).add_staff("C01", 4).add_staff("C02", 4).set_class_min("village", {"poverty_class": [1]}, 3)
    try:
        plan = s.solve(base=base, time_limit=20, workers=1)
    except InfeasibleError:
        pytest.fail("the scenario adds enough staff for teams of three")
    poor = [c for c, r in s.instance.localities.iterrows() if r["level"] == "village" and int(r["poverty_class"]) == 1
            and r["kind"] == "village_committee"]
    teams = plan.tier("village").groupby("target").size()
    short = set(plan.uncovered["target"]) if len(plan.uncovered) else set()
    for v in poor:
        assert int(teams.get(v, 0)) >= 3 or v in short


def test_force_link_is_pinned_in_the_plan(tiny) -> None:
    from matcher.solver import solve

    base = solve(tiny, time_limit=20, workers=1)
    village = base.tier("village")
    # force a section-level cadre to a village he does not hold in the base plan
    helper = "p15"
    target = next(t for t in village["target"] if t not in set(village.loc[village["helper"] == helper, "target"])
                  and t.startswith("522727"))
    plan = Scenario(tiny).force_link("village", helper, target).solve(base=base, time_limit=20, workers=1)
    row = plan.assignments[(plan.assignments["helper"] == helper) & (plan.assignments["tier"] == "village")]
    assert row["target"].tolist() == [target] and bool(row["pinned"].iloc[0])


def test_forbid_link_keeps_it_out_of_the_plan(tiny) -> None:
    from matcher.solver import solve

    base = solve(tiny, time_limit=20, workers=1)
    free = base.assignments[(base.assignments["tier"] == "village") & ~base.assignments["pinned"]].iloc[0]
    s = Scenario(tiny).forbid_link("village", free["helper"], free["target"])
    plan = s.solve(base=base, time_limit=20, workers=1)
    keys = set(zip(plan.assignments["tier"], plan.assignments["helper"], plan.assignments["target"]))
    assert ("village", free["helper"], free["target"]) not in keys
    assert plan.header["forbidden_links"] == [["village", free["helper"], free["target"]]]


def test_warm_start_reaches_the_cold_optimum(tiny) -> None:
    from matcher.solver import solve

    base = solve(tiny, time_limit=20, workers=1)
    s = Scenario(tiny).add_staff("C02", 2).set_weight("travel", 2.0)
    cold = solve(s.instance, time_limit=20, workers=1)
    warm = s.solve(base=base, time_limit=20, workers=1)
    assert warm.status == cold.status == "OPTIMAL"
    assert warm.header["warm_start"] is True
    for term, value in cold.objective.items():
        assert warm.objective[term] == pytest.approx(value, abs=1e-6)


def test_saved_scenario_keeps_forbidden_links_in_its_scheme(tiny, tmp_path: Path) -> None:
    folder = Scenario(tiny).forbid_link("village", "p21", "522727100202").save(tmp_path / "f")
    assert 'forbidden = [["p21", "522727100202"]]' in (folder / "scheme.toml").read_text(encoding="utf-8")
    assert not (folder / "forbidden.csv").exists()  # one place for the rule: the scheme
    back = read_instance(folder)  # full validation: the key is part of the scheme format
    assert len(back.people) == len(tiny.people)
    assert Scenario(back).forbidden_links() == {("village", "p21", "522727100202")}
    assert not [w for w in back.warnings if "forbidden" in str(w.column)]


def test_forbidden_pair_naming_nobody_is_a_warning(tiny, tmp_path: Path) -> None:
    folder = Scenario(tiny).forbid_link("village", "p99", "522727100202").save(tmp_path / "f")
    warned = [w for w in read_instance(folder).warnings if w.column == "tiers[3].forbidden[1]"]
    assert len(warned) == 1 and "no helper 'p99'" in warned[0].message and warned[0].severity == "warning"


def test_saved_forbidden_link_is_kept_out_by_the_cli_and_caught_by_the_checker(tiny, tmp_path: Path) -> None:
    """A pair the base plan uses, forbidden, saved and solved with `matcher solve`: the new plan avoids it and
    the checker fails the base plan on the saved instance with a `forbidden` violation naming helper and target."""
    import os
    import subprocess

    from matcher.check import check_plan
    from matcher.plan import Plan
    from matcher.solver import solve

    base = solve(tiny, time_limit=20, workers=1)
    a = base.assignments
    free = a[(a["tier"] == "village") & ~a["pinned"]].iloc[0]
    tier, helper, target = "village", str(free["helper"]), str(free["target"])
    folder = Scenario(tiny).forbid_link(tier, helper, target).save(tmp_path / "scen")
    out = tmp_path / "plan"
    r = subprocess.run(["matcher", "solve", str(folder), "--out", str(out), "--time-limit", "20"],
                       check=False, capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"})
    assert r.returncode == 0, r.stderr + r.stdout
    plan = Plan.load(out)
    keys = set(zip(plan.assignments["tier"], plan.assignments["helper"], plan.assignments["target"]))
    assert (tier, helper, target) not in keys
    assert (out / "check.txt").read_text("utf-8").startswith("OK")
    saved = read_instance(folder)
    report = check_plan(saved, base)
    v = report.violations
    hit = v[(v["rule"] == "forbidden") & (v["kind"] == "error")]
    assert list(zip(hit["tier"], hit["helper"], hit["target"])) == [(tier, helper, target)], str(report)
    assert not report.ok
    assert check_plan(saved, plan).ok


@pytest.fixture(scope="module")
def tiny_base(tiny):
    """tiny solved by the real solver (seed 0), the base plan of the local re-plans below."""
    from matcher.solver import solve

    return solve(tiny, time_limit=20, workers=1)


def _model_figures(instance, plan) -> dict[str, float]:
    """Each priority's value for the plan's links, counted by the solver's own model (model.term_values)."""
    import numpy as np

    from matcher import model as mdl
    from matcher.candidates import build_all, context_from_instance
    from matcher.scheme import read_scheme

    ctx = context_from_instance(instance, read_scheme(instance.scheme))
    prob = mdl.from_frames(ctx, build_all(ctx))
    a = plan.assignments
    links = set(zip(a["tier"], a["helper"], a["target"]))
    chosen = np.array([k in links for k in zip(prob.pairs["tier"], prob.pairs["helper"], prob.pairs["target"])])
    assert int(chosen.sum()) == len(links)  # every link is a candidate pair of the edited instance
    return mdl.term_values(prob, chosen)


def test_solve_local_reports_the_figures_of_its_links(tiny, tiny_base) -> None:
    """A local re-plan's plan.json figures are its combined links' (no objective_figures warning), not the base plan's,
    and on a changed instance it claims no whole-plan bound beyond coverage and continuity."""
    from matcher.check import check_plan

    scen = Scenario(tiny).add_staff("C02", 2).set_weight("travel", 3.0)
    plan = scen.solve_local(tiny_base, ["522727000000"], time_limit=20, workers=1)
    report = check_plan(scen.instance, plan)
    assert report.ok and "objective_figures" not in set(report.violations["rule"]), str(report)
    weights = scen.instance.scheme["objective"]["weights"]
    for term in ("match", "strength", "travel"):
        links_sum = weights[term] * float(plan.assignments[f"cost_{term}"].sum())
        assert plan.objective[term] == pytest.approx(links_sum, abs=1e-6)
    assert plan.objective["travel"] > 2 * tiny_base.objective["travel"]  # the weight 3 counts
    model = _model_figures(scen.instance, plan)
    assert plan.objective == pytest.approx({t: model[t] for t in plan.objective}, abs=1e-6)
    assert plan.status == "FEASIBLE" and plan.gap is None and plan.header["first_gap"] is None
    assert set(plan.bound) <= {"coverage", "continuity"}
    assert plan.header["bound_note"].startswith("no whole-plan bound")
    assert all(v["status"] == "FEASIBLE" and "gap" not in v for v in plan.header["tiers"].values())
    assert sum(v["links"] for v in plan.header["tiers"].values()) == len(plan.assignments)


def test_solve_local_keeps_the_base_bound_where_it_holds(tiny, tiny_base) -> None:
    """With no edits every plan of the scenario is a plan of the base instance: the base bound is kept and said so."""
    from matcher.check import check_plan

    scen = Scenario(tiny)
    plan = scen.solve_local(tiny_base, ["522727000000"], time_limit=20, workers=1)
    assert check_plan(scen.instance, plan).ok
    assert plan.bound and all(plan.bound[t] == pytest.approx(tiny_base.bound[t]) for t in plan.bound)
    assert all(plan.objective[t] >= plan.bound[t] - 1e-9 for t in plan.bound)
    assert "the base plan's, which still holds" in plan.header["bound_note"]
    model = _model_figures(scen.instance, plan)
    assert plan.objective == pytest.approx({t: model[t] for t in plan.objective}, abs=1e-6)
    proven = all(plan.objective[t] <= plan.bound.get(t, -1.0) + 1e-9 for t in plan.objective)
    assert (plan.status == "OPTIMAL") == proven and (plan.gap == 0.0) == proven


def test_solve_local_lists_the_whole_plans_shortfalls(tiny) -> None:
    """A shortfall of the base plan outside the re-planned areas stays in uncovered.csv, and coverage counts it."""
    from matcher.check import check_plan

    teams_of_three = Scenario(tiny).set_class_min("village", {"poverty_class": [1]}, 3)
    base = teams_of_three.solve(time_limit=20, workers=1)
    outside = base.uncovered[~base.uncovered["target"].str.startswith("522727")]
    assert len(outside)  # the shortfall this test is about
    scen = teams_of_three.add_staff("C02", 1)
    plan = scen.solve_local(base, ["522727000000"], time_limit=20, workers=1)
    report = check_plan(scen.instance, plan)
    assert report.ok and not len(report.warnings), str(report)
    kept = set(zip(plan.uncovered["tier"], plan.uncovered["target"]))
    assert set(zip(outside["tier"], outside["target"])) <= kept
    assert plan.objective["coverage"] == int(plan.uncovered["short"].sum())
    assert plan.objective == pytest.approx({t: v for t, v in _model_figures(scen.instance, plan).items()
                                            if t in plan.objective}, abs=1e-6)


#: Edits that make a base link outside the re-planned county (522727) invalid, each with the county (522728) whose
#: link it breaks: a removed, dropped or merged-away helper, a closed target, a forbidden or no longer eligible
#: pair, a term that ended (no_return), an incumbent forced there, new staff there with no post.
BREAKING_EDITS = {
    "remove_people": lambda s: s.remove_people(["p17"]),
    "drop_unit": lambda s: s.drop_unit("D03"),
    "merge_units": lambda s: s.merge_units("D01", "D02"),
    "close_target": lambda s: s.close_target("522728200202"),
    "forbid_link": lambda s: s.forbid_link("village", "p13", "522728200201"),
    "set_rule": lambda s: s.set_rule("township", "eligibility.max_distance_km", 135.0),
    "set_plan_year": lambda s: s.set_plan_year(2015),
    "force_link": lambda s: s.force_link("village", "p19", "522728100201"),
    "add_staff": lambda s: s.add_staff("C01", 1),
}


@pytest.mark.parametrize("kind", sorted(BREAKING_EDITS))
def test_solve_local_never_keeps_a_link_the_scenario_broke(tiny, tiny_base, kind) -> None:
    """A base link outside the areas that the edit breaks is not kept: its county is re-planned too, the plan
    says why, and the whole plan passes the checker with no error and no warning."""
    from matcher.check import check_plan

    scen = BREAKING_EDITS[kind](Scenario(tiny))
    assert scen.edits[-1].kind == kind
    plan = scen.solve_local(tiny_base, ["522727000000"], time_limit=20, workers=1)
    report = check_plan(scen.instance, plan)
    assert report.ok and not len(report.warnings), str(report)
    local = plan.header["local"]
    assert local["asked"] == ["522727000000"] and local["areas"] == ["522727000000", "522728000000"]
    assert [w["area"] for w in local["widened"]] == ["522728000000"] and local["widened"][0]["reasons"]
    assert "also re-planned 522728000000" in plan.header["method"]
    assert local["dropped"] == []
    assert plan.objective["coverage"] == int(plan.uncovered["short"].sum()) and all(plan.uncovered["reason"])
    assert all(g.startswith("522728") for g in plan.uncovered["target"])  # a shortfall lies where a link broke


def test_solve_local_says_which_link_broke(tiny, tiny_base) -> None:
    """The widened county's reason names the removed cadre's link; the cadre is in no link of the plan."""
    scen = Scenario(tiny).remove_people(["p17"])
    plan = scen.solve_local(tiny_base, ["522727000000"], time_limit=20, workers=1)
    reasons = plan.header["local"]["widened"][0]["reasons"]
    assert reasons == ["village p17 -> 522728100202: p17 is no longer in the instance"]
    assert "p17" not in set(plan.assignments["helper"])


def test_solve_local_fewest_moves_keeps_what_still_holds(tiny, tiny_base) -> None:
    """With fewest_moves, a removed cadre's post is refilled or reported; every other base link stays as it was."""
    from matcher.check import check_plan

    scen = Scenario(tiny).remove_people(["p17"])
    plan = scen.solve_local(tiny_base, ["522727000000"], time_limit=20, workers=1, fewest_moves=True)
    report = check_plan(scen.instance, plan)
    assert report.ok and not len(report.warnings), str(report)
    a = tiny_base.assignments
    kept = set(zip(a["tier"], a["helper"], a["target"])) - {("village", "p17", "522728100202")}
    assert kept <= set(zip(plan.assignments["tier"], plan.assignments["helper"], plan.assignments["target"]))
    team = plan.assignments[plan.assignments["target"] == "522728100202"]
    short = plan.uncovered.loc[plan.uncovered["target"] == "522728100202", "short"]
    assert len(team) + int(short.sum()) >= 2  # the class-1 village's team of two: refilled, else declared short


def test_solve_local_keeps_base_links_the_edits_leave_alone(tiny, tiny_base) -> None:
    """An edit inside the areas widens nothing: every base link outside them is kept, with its pinned flag."""
    scen = Scenario(tiny).add_staff("C02", 1)
    plan = scen.solve_local(tiny_base, ["522727000000"], time_limit=20, workers=1, fewest_moves=True)
    assert plan.header["local"]["widened"] == [] and plan.header["local"]["areas"] == ["522727000000"]
    cols = ["tier", "helper", "target", "pinned", "start_year"]
    outside = tiny_base.assignments.loc[~tiny_base.assignments["target"].str.startswith("522727"), cols]
    after = set(map(tuple, plan.assignments[cols].astype(str).to_numpy()))
    assert set(map(tuple, outside.astype(str).to_numpy())) <= after


def test_solve_local_raises_rather_than_break_a_hard_rule(tiny, tiny_base) -> None:
    """A scenario no plan can satisfy (one helper per village for more staff than villages) raises."""
    from matcher.errors import MatcherError

    scen = Scenario(tiny).set_coverage("village", maximum=1)
    with pytest.raises(MatcherError, match="hard rules"):
        scen.solve_local(tiny_base, ["522727000000"], time_limit=20, workers=1)


def test_solve_local_on_a_guizhou_slice_is_the_province_solvers_proven_optimum() -> None:
    """A county of a two-county Guizhou slice re-planned after it gains staff: the local part goes to the province
    solver (dispatch 'province-first'), is proven optimal there, says so, and the whole plan checks clean."""
    from matcher import province
    from matcher.check import check_plan
    from matcher.instance import read_instance
    from matcher.solver import solve

    root = Path(__file__).resolve().parents[1]
    two = Scenario(read_instance(root / "instances" / "guizhou")).within(["522730000000", "520102000000"]).instance
    base = solve(two, time_limit=20, seed=0)
    assert base.status == "OPTIMAL" and base.header["method"].startswith("province")
    scen = Scenario(two).add_staff("C522730-1", 5)
    plan = scen.solve_local(base, ["522730000000"], time_limit=20, seed=0)
    local = plan.header["local"]
    assert local["status"] == "OPTIMAL" and local["method"].startswith("province")
    assert "(province solver, proven optimal there)" in plan.header["method"]
    assert check_plan(scen.instance, plan).ok
    assert province.dispatch(scen.within(["522730000000"]).instance) == "province-first"
