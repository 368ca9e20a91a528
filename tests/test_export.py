"""Workbook and GIS exports: read back and compared with the plan; formula-shaped text stays text."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from matcher.errors import MatcherError
from matcher.export import export_plan, link_table, target_coverage
from matcher.instance import read_instance

from handmade import hand_plan  # noqa: E402  (tests/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
FORMULAS = {"p07": "=HYPERLINK(\"http://x\",\"y\")", "p08": "+1+1", "p09": "-2+3", "p10": "@SUM(A1)"}


def test_workbook_reads_back_as_the_plan(inst, solved, tmp_path):
    out = export_plan(solved, inst, tmp_path / "plan.xlsx")
    sheets = pd.read_excel(out, sheet_name=None, dtype=str)
    assert list(sheets)[:4] == ["汇总", "部门帮县", "处长联乡", "干部驻村"] and "未覆盖" in sheets
    a = solved.assignments
    for tier, sheet in [("county", "部门帮县"), ("township", "处长联乡"), ("village", "干部驻村")]:
        got = sheets[sheet]
        want = a[a["tier"] == tier]
        assert len(got) == len(want)
        assert sorted(zip(got["帮扶者编号"], got["对象代码"])) == sorted(zip(want["helper"], want["target"]))
        for col in ["省", "市（州）", "县（市、区）", "帮扶者", "所在单位", "起始年份", "是否留任"]:
            assert col in got.columns
    village = sheets["干部驻村"]
    assert set(village["省"]) == {"贵州省"} and set(village["县（市、区）"]) <= {"罗甸县", "平塘县"}
    assert village["乡（镇）"].str.len().min() > 0 and village["村"].str.len().min() > 0
    # codes stay text (no 5.2e11)
    assert village["对象代码"].str.fullmatch(r"\d{12}").all()


def test_workbook_layout(inst, solved, tmp_path):
    from openpyxl import load_workbook

    out = export_plan(solved, inst, tmp_path / "plan.xlsx")
    wb = load_workbook(out)
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
    ws = wb["干部驻村"]
    headers = [c.value for c in ws[1]]
    col = headers.index("所在单位") + 1
    from openpyxl.utils import get_column_letter

    longest = max(len(str(c.value or "")) for c in ws[get_column_letter(col)])
    assert ws.column_dimensions[get_column_letter(col)].width >= longest * 2  # CJK text fits


def test_formula_shaped_names_stay_text(tmp_path):
    inst = read_instance(ROOT / "instances" / "tiny")
    for pid, name in FORMULAS.items():
        inst.people.loc[pid, "name"] = name
    out = export_plan(hand_plan(inst), inst, tmp_path / "plan.xlsx")
    from openpyxl import load_workbook

    ws = load_workbook(out)["干部驻村"]
    cells = [c for row in ws.iter_rows() for c in row if c.value in FORMULAS.values()]
    assert {c.value for c in cells} == set(FORMULAS.values())
    assert all(c.data_type == "s" for c in cells)
    back = pd.read_excel(out, sheet_name="干部驻村", dtype=str)
    assert set(FORMULAS.values()) <= set(back["帮扶者"])


def test_same_plan_same_bytes(inst, solved, tmp_path):
    a = export_plan(solved, inst, tmp_path / "a.xlsx").read_bytes()
    b = export_plan(solved, inst, tmp_path / "b.xlsx").read_bytes()
    assert a == b
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xlsx", "b.xlsx"]


def test_geopackage_layers_for_gis(inst, tmp_path):
    import pyogrio

    plan = hand_plan(inst)
    out = export_plan(plan, inst, tmp_path / "plan.gpkg")
    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert {"counties", "townships", "villages", "links"} <= layers
    counties = pyogrio.read_dataframe(out, layer="counties")
    assert len(counties) == (inst.localities["level"] == "county").sum()
    assert counties.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).sum() == len(inst.geometry("counties"))
    assert str(counties.crs.to_epsg()) == "4326"
    villages = pyogrio.read_dataframe(out, layer="villages").set_index("code")
    cov = target_coverage(inst, plan, next(t for t in inst.scheme["tiers"] if t["id"] == "village"))
    assert villages.loc["522728200202", "village_status"] == "未覆盖"
    assert villages.loc["522728200201", "village_status"] == "力量不足"
    assert villages.loc["522728100202", "village_n"] == cov.loc["522728100202", "n_helpers"] == 2
    assert set(villages.loc["522728100202", "village_helpers"].split(";")) == {"班红梅", "李德明"}
    links = pyogrio.read_dataframe(out, layer="links")
    assert len(links) == len(plan.assignments)


def test_parquet_and_csv_match_the_link_table(inst, solved, tmp_path):
    table = link_table(inst, solved, "zh")
    pq = pd.read_parquet(export_plan(solved, inst, tmp_path / "plan.parquet"))
    assert pq["helper"].tolist() == table["helper"].tolist() and pq["village"].tolist() == table["village"].tolist()
    csv = export_plan(solved, inst, tmp_path / "plan.csv")
    assert csv.read_bytes()[:3] == b"\xef\xbb\xbf"  # BOM: Excel reads the Chinese right
    back = pd.read_csv(csv, dtype=str, encoding="utf-8-sig")
    assert back["帮扶者编号"].tolist() == table["helper"].tolist()
    en = pd.read_csv(export_plan(solved, inst, tmp_path / "en.csv", lang="en"), dtype=str, encoding="utf-8-sig")
    assert "Helper id" in en.columns and "Village" in en.columns


def test_bad_suffix_and_cli(inst, solved, tmp_path):
    with pytest.raises(MatcherError, match="unknown export format"):
        export_plan(solved, inst, tmp_path / "plan.docx")
    plan_dir = solved.save(tmp_path / "plan")
    r = subprocess.run(["matcher", "export", str(plan_dir), "--out", str(tmp_path / "p.xlsx"),
                        "--instance", str(ROOT / "instances" / "tiny")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr and (tmp_path / "p.xlsx").is_file()
    bad = subprocess.run(["matcher", "export", str(plan_dir), "--out", str(tmp_path / "p.txt")], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown export format" in bad.stderr and "Traceback" not in bad.stderr
