"""Explanations: reasons come from the rule docstrings, statuses agree with the plan and the candidate pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.explain import explain_link, explain_person, explain_place, pair_table


@pytest.fixture(scope="module")
def plan(tiny):
    from matcher.solver import solve

    return solve(tiny, time_limit=20, workers=1)


def test_pair_table_agrees_with_candidate_pairs(tiny) -> None:
    """A pair is eligible in the explanation exactly when the solver's candidate builder keeps it."""
    from matcher.candidates import build_all, context_from_instance
    from matcher.scheme import read_scheme

    scheme = read_scheme(tiny.scheme)
    frames = build_all(context_from_instance(tiny, scheme))
    for tier in scheme.tier_ids:
        pt = pair_table(tiny, tier).pairs
        ok = set(zip(pt.loc[pt["fails"].map(len) == 0, "helper"], pt.loc[pt["fails"].map(len) == 0, "target"]))
        cand = set(zip(frames[tier].pairs["helper"], frames[tier].pairs["target"]))
        assert ok == cand, tier


def test_ineligible_pairs_name_the_rule_that_excludes_them(tiny) -> None:
    from matcher import rules

    pt = pair_table(tiny, "village").pairs
    bad = pt[pt["fails"].map(len) > 0]
    assert len(bad) > 0
    names = {n for f in bad["fails"] for n in f}
    assert names <= set(rules.RULES) | {"nesting", "forbidden"}
    # county staff outside their county break stay_in_area
    county_staff = bad[(bad["unit_level"] == "county") & (bad["u_county"] != bad["t_county"])]
    assert len(county_staff) and county_staff["fails"].map(lambda f: "stay_in_area" in f).all()


def test_link_explanation_quotes_rule_docstrings(tiny, plan) -> None:
    from matcher import rules

    row = plan.tier("village").iloc[0]
    ex = explain_link(tiny, plan, "village", row["helper"], row["target"])
    text = ex.text("en")
    assert rules.RULES["travel"].text in text and rules.RULES["match"].text in text
    assert f"{float(row['cost_travel']):.2f}" in text  # the plan's own cost part
    assert "路程" in ex.text("zh")


def test_place_statuses_are_consistent_with_the_plan(tiny, plan) -> None:
    target = plan.tier("village")["target"].iloc[0]
    ex = explain_place(tiny, plan, target)
    t = ex.table
    chosen = set(plan.assignments.loc[(plan.assignments["tier"] == "village") & (plan.assignments["target"] == target),
                                      "helper"])
    assert set(t.loc[t["status"] == "chosen", "helper"]) == chosen
    busy = set(plan.tier("village")["helper"]) - chosen
    elsewhere = t[t["status"] == "needed_elsewhere"]
    assert set(elsewhere["helper"]) <= busy
    assert (t.loc[t["status"] == "ineligible", "fails"].map(len) > 0).all()
    assert all(r for r in t["reason_zh"])


def test_person_explanation_lists_each_link(tiny, plan) -> None:
    person = plan.tier("township")["helper"].iloc[0]
    ex = explain_person(tiny, plan, person)
    targets = plan.assignments.loc[plan.assignments["helper"] == person, "target"]
    for t in targets:
        assert t in ex.text("en")
    assert tiny.people.at[person, "name"] in ex.text("zh")


def test_cli_explain(tiny_path: Path, plan, tmp_path: Path) -> None:
    from matcher.cli import app

    plan.save(tmp_path / "plan")
    person = plan.tier("village")["helper"].iloc[0]
    res = CliRunner().invoke(app, ["explain", str(tmp_path / "plan"), "--person", person, "--instance", str(tiny_path)])
    assert res.exit_code == 0, res.output
    assert "帮扶" in res.output
    res = CliRunner().invoke(app, ["explain", str(tmp_path / "plan"), "--place", "nowhere", "--instance",
                                   str(tiny_path), "--lang", "en"])
    assert res.exit_code == 2 and "nowhere" in res.output
    res = CliRunner().invoke(app, ["explain", str(tmp_path / "plan"), "--instance", str(tiny_path)])
    assert res.exit_code == 2
