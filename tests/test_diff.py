"""Plan diffs: moved / new / ended links, people and places affected, KPI deltas, Excel and CLI."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from matcher.diff import diff_plans
from matcher.errors import PlanError


def _links(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["tier", "helper", "target"])


def test_classifies_moved_new_ended_and_kept() -> None:
    a = _links([("county", "D1", "C1"), ("village", "p1", "v1"), ("village", "p2", "v2"), ("village", "p3", "v3")])
    b = _links([("county", "D1", "C1"), ("village", "p1", "v2"), ("village", "p2", "v2"), ("village", "p4", "v4")])
    d = diff_plans(a, b)
    assert d.moved[["helper", "from_target", "to_target"]].values.tolist() == [["p1", "v1", "v2"]]
    assert d.new[["helper", "target"]].values.tolist() == [["p4", "v4"]]
    assert d.ended[["helper", "target"]].values.tolist() == [["p3", "v3"]]
    counts = d.counts().set_index("tier")
    assert counts.loc["county"].tolist() == [1, 0, 0, 0]
    assert counts.loc["village"].tolist() == [1, 1, 1, 1]
    # places: v1 lost p1, v2 gained p1, v3 lost p3, v4 gained p4
    assert sorted(d.places["target"]) == ["v1", "v2", "v3", "v4"]
    assert sorted(d.people["helper"]) == ["p1", "p3", "p4"]
    assert not d.empty


def test_same_plan_has_empty_diff_and_zero_deltas() -> None:
    a = _links([("village", "p1", "v1"), ("village", "p2", "v2")])
    d = diff_plans(a, a.copy())
    assert d.empty
    assert (d.kpis["delta"] == 0).all()
    assert "same links" in d.summary()


def test_missing_column_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="helper"):
        diff_plans(pd.DataFrame({"tier": ["x"], "target": ["t"]}), _links([]))


@pytest.fixture(scope="module")
def tiny_plans(tiny):
    """A solved tiny plan and the plan of a what-if scenario on it (more staff, travel weighs more)."""
    from matcher.scenario import Scenario
    from matcher.solver import solve

    base = solve(tiny, time_limit=20, workers=1)
    scen = Scenario(tiny).add_staff("C01", 2).set_weight("travel", 5.0)
    other = scen.solve(base=base, time_limit=20, workers=1)
    return base, other, scen


def test_real_plans_diff_matches_link_sets(tiny_plans) -> None:
    base, other, scen = tiny_plans
    d = diff_plans(base, other, scen.instance)
    a = set(map(tuple, base.assignments[["tier", "helper", "target"]].values.tolist()))
    b = set(map(tuple, other.assignments[["tier", "helper", "target"]].values.tolist()))
    from_diff_b = {(r.tier, r.helper, r.target) for r in d.links.itertuples() if r.change != "ended"}
    from_diff_a = {(r.tier, r.helper, r.from_target) for r in d.links.itertuples() if r.change != "new"}
    assert from_diff_b == b
    assert from_diff_a == a
    # the two new cadres appear as new links with their names
    assert set(d.new["helper"]) >= {"C01-new001", "C01-new002"}
    assert d.new["helper_name"].str.contains("新增干部").all()
    links_b = d.kpis.set_index("kpi").loc["village.links"]
    assert links_b["delta"] == len(other.tier("village")) - len(base.tier("village"))


def test_excel_has_chinese_headers_and_round_trips(tiny_plans, tmp_path: Path) -> None:
    base, other, scen = tiny_plans
    d = diff_plans(base, other, scen.instance)
    out = d.to_excel(tmp_path / "diff.xlsx")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:4] == ["概况", "调动", "新增", "结束"]
    new = pd.read_excel(out, sheet_name="新增", dtype=str)
    assert "帮扶方编号" in new.columns and "对象编号" in new.columns
    assert sorted(new["帮扶方编号"]) == sorted(d.new["helper"])
    assert wb["新增"].freeze_panes == "A2"
    en = d.to_excel(tmp_path / "diff-en.xlsx", lang="en")
    assert openpyxl.load_workbook(en).sheetnames[0] == "summary"


def test_formula_shaped_names_stay_text(tmp_path: Path) -> None:
    a = _links([("village", "=1+1", "v1")])
    b = _links([("village", "=1+1", "v2")])
    out = diff_plans(a, b).to_excel(tmp_path / "d.xlsx")
    ws = openpyxl.load_workbook(out)["调动"]
    assert ws["B2"].value == "=1+1" and ws["B2"].data_type == "s"
    again = diff_plans(a, b).to_excel(tmp_path / "d2.xlsx")
    assert out.read_bytes() == again.read_bytes()  # no timestamps


def test_diff_workbook_bytes_do_not_depend_on_the_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """openpyxl stamps docProps/core.xml with the save time: the diff workbook must not carry it."""
    import datetime as real_dt
    import types

    import openpyxl.writer.excel as excel_writer

    a = _links([("village", "h1", "v1")])
    b = _links([("village", "h1", "v2")])
    first = diff_plans(a, b).to_excel(tmp_path / "d.xlsx").read_bytes()

    class Later(real_dt.datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206
            return real_dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=tz)

    monkeypatch.setattr(excel_writer, "datetime", types.SimpleNamespace(datetime=Later, timezone=real_dt.timezone))
    later = diff_plans(a, b).to_excel(tmp_path / "d2.xlsx").read_bytes()
    assert first == later


def test_cli_diff_prints_and_writes(tiny_plans, tiny_path: Path, tmp_path: Path) -> None:
    from matcher.cli import app

    base, other, scen = tiny_plans
    base.save(tmp_path / "a")
    other.save(tmp_path / "b")
    res = CliRunner().invoke(app, ["diff", str(tmp_path / "a"), str(tmp_path / "b"), "--instance", str(tiny_path),
                                   "--out", str(tmp_path / "d.xlsx")])
    assert res.exit_code == 0, res.output
    assert "new" in res.output and (tmp_path / "d.xlsx").exists()
    bad = CliRunner().invoke(app, ["diff", str(tmp_path / "a"), str(tmp_path / "missing")])
    assert bad.exit_code == 2
    assert "Traceback" not in bad.output


def test_diff_map_draws_changed_links_with_escaped_names(tiny_plans) -> None:
    base, other, scen = tiny_plans
    inst = scen.instance
    hostile = inst.people.index[0]
    inst.people.loc[hostile, "name"] = "<img src=x onerror=alert(1)>"
    a = base.assignments.copy()
    b = a.copy()
    row = b.index[b["helper"] == hostile][0]
    other_target = [t for t in b.loc[b["tier"] == b.at[row, "tier"], "target"] if t != b.at[row, "target"]][0]
    b.loc[row, "target"] = other_target
    d = diff_plans(a, b, inst)
    html_text = d.map(inst).get_root().render()
    assert "<img src=x" not in html_text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html_text
    assert html_text.count("L.polyline") >= len(d.moved)
    assert "tile" not in html_text.lower() or "openstreetmap" not in html_text.lower()
