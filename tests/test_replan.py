"""Replanning: mid-term keeps everyone else in place and refills vacancies; next term rotates without returns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from matcher.errors import InstanceError
from matcher.replan import read_departures, replan_midterm, replan_rotation
from matcher.scenario import Scenario


@pytest.fixture(scope="module")
def base(tiny):
    from matcher.solver import solve

    return solve(tiny, time_limit=20, workers=1)


@pytest.fixture(scope="module")
def midterm(tiny, base):
    """Two cadres leave; the mid-term instance has two newly assigned cadres (one section, one division)."""
    inst = Scenario(tiny).add_staff("C02", 1, rank="section").add_staff("D02", 1, rank="division").instance
    village = base.tier("village")
    leaver_v = village.loc[village["helper"].str.startswith("p") & ~village["pinned"], "helper"]
    leaver_v = next(h for h in leaver_v if tiny.people.at[h, "unit"] == "C02")
    leaver_t = next(h for h in base.tier("township")["helper"] if tiny.people.at[h, "unit"] == "D02")
    dep = pd.DataFrame({"id": [leaver_v, leaver_t], "reason": ["promoted", "ill"]})
    return inst, dep, replan_midterm(inst, base, dep, time_limit=20, workers=1)


def test_everyone_else_keeps_the_post(base, midterm) -> None:
    _inst, dep, r = midterm
    gone = set(dep["id"])
    before = {(t, h, g) for t, h, g in zip(base.assignments["tier"], base.assignments["helper"], base.assignments["target"])
              if h not in gone}
    after = set(zip(r.plan.assignments["tier"], r.plan.assignments["helper"], r.plan.assignments["target"]))
    assert before <= after
    assert r.facts["departed"] == 2 and r.facts["vacancies"] == 2


def test_vacancies_are_refilled_with_reasons(base, midterm) -> None:
    _inst, dep, r = midterm
    vacated = {(t, g) for t, h, g in zip(base.assignments["tier"], base.assignments["helper"], base.assignments["target"])
               if h in set(dep["id"])}
    fills = r.moves[r.moves["change"] == "new"]
    refilled = {(t, g) for t, g in zip(fills["tier"], fills["to_target"])}
    teams = r.plan.assignments.groupby(["tier", "target"]).size()
    for key in vacated:  # a vacancy is refilled, or the team still has someone (coverage_min 1 met)
        assert key in refilled or int(teams.get(key, 0)) >= 1
    assert vacated & refilled  # the village post of the section-level leaver needs the new section cadre
    for row in fills.itertuples():
        if (row.tier, row.to_target) in vacated:
            assert "vacancy" in row.reason and "空缺" in row.reason_zh
        else:
            assert "newly assigned" in row.reason and "新到岗" in row.reason_zh
    assert set(fills["helper"]) == {"C02-new001", "D02-new001"}
    assert r.plan.uncovered.empty


def test_unfillable_vacancy_is_reported(tiny, base) -> None:
    leaver = base.tier("village")["helper"].iloc[0]
    r = replan_midterm(tiny, base, pd.DataFrame({"id": [leaver], "reason": ["transferred"]}), time_limit=20, workers=1)
    if r.plan.uncovered.empty:  # someone free could refill it: then it is refilled, not reported
        assert (r.moves["change"] == "new").sum() == 1
    else:
        assert (r.moves["change"] == "unfilled").sum() == 1
        assert r.facts["unfilled"] == 1


def test_saved_replan_checks_clean(midterm, tmp_path: Path) -> None:
    _inst, _dep, r = midterm
    folder = r.save(tmp_path / "mid")
    assert (folder / "moves.csv").exists() and (folder / "plan.json").exists()
    assert (folder / "check.txt").read_text().startswith("OK")
    assert "空缺" in (folder / "replan.zh.txt").read_text()


def test_rotation_nobody_returns_and_pairs_continue(tiny, base) -> None:
    r = replan_rotation(tiny, base, time_limit=20, workers=1)
    assert r.plan.header["plan_year"] == base.header["plan_year"] + 3
    old = set(zip(base.assignments["tier"], base.assignments["helper"], base.assignments["target"]))
    new = set(zip(r.plan.assignments["tier"], r.plan.assignments["helper"], r.plan.assignments["target"]))
    no_return = set(tiny.scheme["terms"]["no_return"])
    assert not {k for k in old & new if k[0] in no_return}
    assert r.facts["returned"] == 0
    # continuity: department-county pairs continue wherever the scheme asks and they are still candidates
    assert r.facts["continued"] == len({k for k in old & new if k[0] == "county"})
    assert r.facts["continued"] >= 1


def test_read_departures_errors_name_row_and_column(tmp_path: Path) -> None:
    f = tmp_path / "departures.csv"
    f.write_text("id,reason\np01,promoted\np02,fired\np01,ill\n", encoding="utf-8")
    with pytest.raises(InstanceError) as exc:
        read_departures(f)
    msgs = [str(p) for p in exc.value.problems]
    assert any("row 3" in m and "reason" in m for m in msgs)
    assert any("row 4" in m and "twice" in m for m in msgs)
    f.write_text("who,reason\n", encoding="utf-8")
    with pytest.raises(InstanceError, match="missing column 'id'"):
        read_departures(f)


def test_cli_replan(tiny_path: Path, base, tmp_path: Path) -> None:
    from matcher.cli import app

    base.save(tmp_path / "base")
    leaver = base.tier("village")["helper"].iloc[-1]
    (tmp_path / "dep.csv").write_text(f"id,reason\n{leaver},retired\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["replan", str(tiny_path), "--base", str(tmp_path / "base"), "--departures",
                                   str(tmp_path / "dep.csv"), "--out", str(tmp_path / "out"), "--time-limit", "20",
                                   "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "plan.json").exists()
    res = CliRunner().invoke(app, ["replan", str(tiny_path), "--base", str(tmp_path / "base"), "--rotate",
                                   "--out", str(tmp_path / "rot"), "--time-limit", "20", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "returned" in res.output


def test_fewest_moves_places_only_the_new_staff(tiny, base) -> None:
    from matcher.check import check_plan
    from matcher.replan import place_free_helpers

    inst = Scenario(tiny).add_staff("C02", 2).instance
    plan = place_free_helpers(inst, base, areas=["522727000000"])
    before = set(zip(base.assignments["tier"], base.assignments["helper"], base.assignments["target"]))
    after = set(zip(plan.assignments["tier"], plan.assignments["helper"], plan.assignments["target"]))
    assert before <= after
    assert {h for _, h, _ in after - before} == {"C02-new001", "C02-new002"}
    assert all(t.startswith("522727") for _, _, t in after - before)  # county staff stay in their county
    report = check_plan(inst, plan)
    assert report.ok, str(report)
    assert plan.header["fewest_moves"]["placed"] == 2


def test_solve_local_keeps_the_rest_of_the_plan(tiny, base) -> None:
    from matcher.check import check_plan

    scen = Scenario(tiny).add_staff("C02", 2).set_weight("travel", 3.0)
    plan = scen.solve_local(base, ["522727000000"], time_limit=20, workers=1)
    outside = base.assignments[~base.assignments["target"].str.startswith("522727")]
    after = set(zip(plan.assignments["tier"], plan.assignments["helper"], plan.assignments["target"]))
    assert set(zip(outside["tier"], outside["helper"], outside["target"])) <= after
    assert {"C02-new001", "C02-new002"} <= set(plan.assignments["helper"])
    report = check_plan(scen.instance, plan)
    assert report.ok, str(report)


def test_fewest_moves_reports_the_figures_of_its_links(tiny, base) -> None:
    """place_free_helpers' plan.json figures are its links' (no objective_figures warning), with no bound claimed
    beyond coverage and continuity at 0, and bound_note saying so."""
    from matcher.check import check_plan
    from matcher.replan import place_free_helpers

    inst = Scenario(tiny).add_staff("C02", 2).set_weight("travel", 3.0).instance
    plan = place_free_helpers(inst, base, areas=["522727000000"])
    report = check_plan(inst, plan)
    assert report.ok and not len(report.warnings), str(report)
    for term in ("match", "strength", "travel"):
        weight = inst.scheme["objective"]["weights"][term]
        assert plan.objective[term] == pytest.approx(weight * float(plan.assignments[f"cost_{term}"].sum()), abs=1e-6)
    assert plan.objective["travel"] > 2 * base.objective["travel"]  # the scenario's weight 3, not the base figure
    assert set(plan.bound) == {"coverage", "continuity"} and plan.gap is None
    assert plan.header["bound_note"].startswith("no whole-plan bound")
    assert plan.header["plan_year"] == base.header["plan_year"]


@pytest.mark.parametrize("edit", ["remove_people", "forbid_link", "close_target"])
def test_fewest_moves_drops_links_the_instance_broke(tiny, base, edit) -> None:
    """A base link the instance no longer admits is dropped with its reason; the plan still checks clean and
    every shortfall it leaves is in uncovered.csv."""
    from matcher.check import check_plan
    from matcher.replan import place_free_helpers

    broken = ("village", "p13", "522728200201")
    scen = {"remove_people": Scenario(tiny).remove_people(["p13"]),
            "forbid_link": Scenario(tiny).forbid_link(*broken),
            "close_target": Scenario(tiny).close_target(broken[2])}[edit]
    plan = place_free_helpers(scen.instance, base)
    report = check_plan(scen.instance, plan)
    assert report.ok and not len(report.warnings), str(report)
    a = base.assignments
    hit = {"remove_people": a["helper"] == broken[1], "close_target": a["target"] == broken[2],
           "forbid_link": (a["helper"] == broken[1]) & (a["target"] == broken[2])}[edit]
    expected = set(zip(a.loc[hit, "tier"], a.loc[hit, "helper"], a.loc[hit, "target"]))
    dropped = plan.header["fewest_moves"]["dropped"]
    assert {(d["tier"], d["helper"], d["target"]) for d in dropped} == expected and all(d["reason"] for d in dropped)
    links = set(zip(plan.assignments["tier"], plan.assignments["helper"], plan.assignments["target"]))
    assert broken in expected and not expected & links
    assert set(zip(a["tier"], a["helper"], a["target"])) - expected <= links  # nothing else moved
    assert plan.objective["coverage"] == int(plan.uncovered["short"].sum())
