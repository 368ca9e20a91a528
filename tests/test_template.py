"""The workbook template: sheets, headers, drop-downs, notes, determinism, and the round trip."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from matcher.instance import TABLES, Instance, read_instance
from matcher.template import write_template

DATA_SHEETS = ["localities", "targets", "units", "people", "incumbents"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tpl") / "instance.xlsx"
    write_template(out)
    return out


def test_sheets_and_english_headers(template: Path) -> None:
    wb = openpyxl.load_workbook(template)
    assert wb.sheetnames == DATA_SHEETS + ["notes"]
    for name in DATA_SHEETS:
        ws = wb[name]
        assert [c.value for c in ws[1]] == [c.name for c in TABLES[name]]
        assert ws.max_row == 1, "data sheets hold only the header row"
        assert ws.freeze_panes == "A2"


def test_dropdowns(template: Path) -> None:
    wb = openpyxl.load_workbook(template)

    def lists(sheet: str) -> dict[str, str]:
        ws = wb[sheet]
        header = [c.value for c in ws[1]]
        out = {}
        for dv in ws.data_validations.dataValidation:
            col = openpyxl.utils.column_index_from_string(str(dv.sqref).split(":")[0].rstrip("0123456789"))
            assert dv.type == "list"
            out[header[col - 1]] = dv.formula1
        return out

    loc = lists("localities")
    assert loc["level"] == '"province,prefecture,county,township,village"'
    assert "subdistrict" in loc["kind"] and "residents_committee" in loc["kind"]
    assert lists("units")["level"] == '"province,prefecture,county"'
    ppl = lists("people")
    assert ppl["rank"] == '"department,division,section,staff"' and ppl["gender"] == '"F,M"'
    assert "enterprise" in lists("targets")["kind"]


def test_chinese_notes_and_comments_and_english_switch(template: Path, tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(template)
    assert "区划代码" in wb["localities"]["A1"].comment.text
    notes = "\n".join(str(c.value) for row in wb["notes"].iter_rows() for c in row if c.value)
    assert "模板" in notes and "县处级" in notes and "poverty_alleviation" in notes
    en = tmp_path / "en.xlsx"
    write_template(en, lang="en")
    wb = openpyxl.load_workbook(en)
    text = wb["people"]["D1"].comment.text
    assert "rank" in text and not any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_template_is_deterministic_and_replaced_atomically(tmp_path: Path) -> None:
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    write_template(a)
    b.write_bytes(b"old content")
    write_template(b)
    assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xlsx", "b.xlsx"]  # no temporary left behind


def _typed(value: str, kind: str) -> object:
    """A cell as a person typing in Excel would leave it: numbers as numbers, the rest as text."""
    if value == "":
        return None
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return value


def test_round_trip_template_filled_with_tiny(template: Path, tiny_path: Path, tiny: Instance, tmp_path: Path) -> None:
    d = tmp_path / "filled"
    d.mkdir()
    wb = openpyxl.load_workbook(template)
    for name in DATA_SHEETS:
        cols = TABLES[name]
        with (tiny_path / f"{name}.csv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            wb[name].append([_typed(r.get(c.name, ""), c.type) for c in cols])
    wb.save(d / "instance.xlsx")
    shutil.copy(tiny_path / "scheme.toml", d / "scheme.toml")
    shutil.copytree(tiny_path / "geometry", d / "geometry")
    got = read_instance(d)
    for name in DATA_SHEETS + ["positions"]:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(tiny, name), obj=name)
    assert got.scheme == tiny.scheme
    assert sorted(got.tree.edges) == sorted(tiny.tree.edges)


def test_tiny_xlsx_is_the_same_data_as_tiny(tiny_path: Path, tiny: Instance) -> None:
    x = read_instance(tiny_path.parent / "tiny-xlsx")
    for name in DATA_SHEETS + ["positions"]:
        pd.testing.assert_frame_equal(getattr(x, name), getattr(tiny, name), obj=name)
    assert x.scheme == tiny.scheme


def test_template_from_csv_keeps_extra_columns(tiny_path: Path, tiny: Instance, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from matcher.cli import app

    src = tmp_path / "src"
    shutil.copytree(tiny_path, src)
    p = src / "people.csv"
    lines = p.read_text("utf-8").splitlines()
    p.write_text("\n".join([lines[0] + ",party_member"] + [ln + ",yes" for ln in lines[1:]]) + "\n", "utf-8")
    out = tmp_path / "x"
    out.mkdir()
    res = CliRunner().invoke(app, ["template", str(out / "instance.xlsx"), "--from", str(src)])
    assert res.exit_code == 0, res.output
    shutil.copy(src / "scheme.toml", out / "scheme.toml")
    got = read_instance(out)
    assert (got.people["party_member"] == "yes").all()
    pd.testing.assert_frame_equal(got.units, tiny.units)
    res = CliRunner().invoke(app, ["template", str(out / "y.xlsx"), "--from", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and not (out / "y.xlsx").exists()


def test_tiny_xlsx_is_a_fresh_conversion_of_tiny(tiny_path: Path, tmp_path: Path) -> None:
    """tiny-xlsx/instance.xlsx is exactly what converting tiny writes (same input, same bytes)."""
    from matcher.template import csv_folder_to_workbook

    csv_folder_to_workbook(tiny_path, tmp_path / "instance.xlsx")
    assert (tmp_path / "instance.xlsx").read_bytes() == (tiny_path.parent / "tiny-xlsx" / "instance.xlsx").read_bytes()
    assert (tiny_path / "scheme.toml").read_bytes() == (tiny_path.parent / "tiny-xlsx" / "scheme.toml").read_bytes()
