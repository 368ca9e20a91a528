"""One broken copy of tiny per class of bad input: the problem names the right file, row and column.

Each case is one line of a table: (case id, edit, expected file, row, column). An edit takes
the copied folder and changes one thing; rows are spreadsheet rows (header = 1).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from matcher.errors import InstanceError, Problem
from matcher.instance import read_instance

Edit = Callable[[Path], None]


# --------------------------------------------------------------------------- edits on CSV files


def _rows(folder: Path, table: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO((folder / f"{table}.csv").read_text("utf-8"), newline="")))


def _write(folder: Path, table: str, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    (folder / f"{table}.csv").write_text(buf.getvalue(), "utf-8")


def cell(table: str, row: int, column: str, value: str) -> Edit:
    """Set one cell (spreadsheet row, header = 1)."""
    def edit(folder: Path) -> None:
        rows = _rows(folder, table)
        rows[row - 1][rows[0].index(column)] = value
        _write(folder, table, rows)
    return edit


def drop_column(table: str, column: str) -> Edit:
    def edit(folder: Path) -> None:
        rows = _rows(folder, table)
        j = rows[0].index(column)
        _write(folder, table, [r[:j] + r[j + 1:] for r in rows])
    return edit


def copy_cell(table: str, src_row: int, dst_row: int, column: str) -> Edit:
    def edit(folder: Path) -> None:
        rows = _rows(folder, table)
        j = rows[0].index(column)
        rows[dst_row - 1][j] = rows[src_row - 1][j]
        _write(folder, table, rows)
    return edit


def append_cells(table: str, row: int, *values: str) -> Edit:
    def edit(folder: Path) -> None:
        rows = _rows(folder, table)
        rows[row - 1] += list(values)
        _write(folder, table, rows)
    return edit


def delete(name: str) -> Edit:
    return lambda folder: (folder / name).unlink()


def replace_text(name: str, old: str, new: str) -> Edit:
    def edit(folder: Path) -> None:
        p = folder / name
        text = p.read_text("utf-8")
        assert old in text, f"{old!r} not in {name}"
        p.write_text(text.replace(old, new, 1), "utf-8")
    return edit


def reencode(name: str, encoding: str) -> Edit:
    def edit(folder: Path) -> None:
        p = folder / name
        p.write_bytes(p.read_text("utf-8").encode(encoding))
    return edit


def add_workbook(folder: Path) -> None:
    from matcher.template import write_template

    write_template(folder / "instance.xlsx")


def geometry_empty_shape(folder: Path) -> None:
    p = folder / "geometry" / "counties.geojson"
    data = json.loads(p.read_text("utf-8"))
    data["features"][0]["geometry"] = None
    p.write_text(json.dumps(data, ensure_ascii=False), "utf-8")


def geometry_code(folder: Path) -> None:
    p = folder / "geometry" / "counties.geojson"
    data = json.loads(p.read_text("utf-8"))
    data["features"][1]["properties"]["code"] = "522799000000"
    p.write_text(json.dumps(data, ensure_ascii=False), "utf-8")


L, U, P, I, T, S = "localities.csv", "units.csv", "people.csv", "incumbents.csv", "targets.csv", "scheme.toml"

CASES: list[tuple[str, Edit, str, int | None, str | None]] = [
    # files and columns
    ("missing file", delete(P), P, None, None),
    ("missing column", drop_column("people", "rank"), P, 1, "rank"),
    ("missing column localities", drop_column("localities", "level"), L, 1, "level"),
    ("no localities", lambda d: _write(d, "localities", _rows(d, "localities")[:1]), L, 2, None),
    ("row longer than header", append_cells("units", 4, "x", "y"), U, 4, None),
    ("not utf-8", reencode(P, "gbk"), P, 2, None),
    ("workbook and csv both", add_workbook, "instance.xlsx", None, None),
    # empty required cells
    ("empty name", cell("localities", 5, "name", ""), L, 5, "name"),
    ("empty unit", cell("people", 9, "unit", ""), P, 9, "unit"),
    ("empty start_year", cell("incumbents", 3, "start_year", ""), I, 3, "start_year"),
    # types and enums
    ("int headcount", cell("units", 3, "headcount", "many"), U, 3, "headcount"),
    ("int population", cell("localities", 9, "population", "6100.5"), L, 9, "population"),
    ("int birth_year", cell("people", 6, "birth_year", "一九六五"), P, 6, "birth_year"),
    ("int too large", cell("units", 3, "headcount", "18446744073709551616"), U, 3, "headcount"),
    ("float lon", cell("localities", 8, "lon", "east"), L, 8, "lon"),
    ("float strength", cell("units", 2, "strength", "inf"), U, 2, "strength"),
    ("enum level", cell("localities", 8, "level", "town"), L, 8, "level"),
    ("enum unit level", cell("units", 5, "level", "township"), U, 5, "level"),
    ("enum rank", cell("people", 4, "rank", "chief"), P, 4, "rank"),
    ("enum gender", cell("people", 2, "gender", "男"), P, 2, "gender"),
    ("enum kind locality", cell("localities", 9, "kind", "village"), L, 9, "kind"),
    ("enum kind target", cell("targets", 2, "kind", "company"), T, 2, "kind"),
    ("enum position", cell("localities", 8, "position", "approx"), L, 8, "position"),
    ("range poverty_class", cell("localities", 11, "poverty_class", "7"), L, 11, "poverty_class"),
    ("range lat", cell("localities", 11, "lat", "125.8"), L, 11, "lat"),
    ("lon without lat", cell("localities", 11, "lat", ""), L, 11, "lat"),
    # duplicates
    ("duplicate code", copy_cell("localities", 8, 9, "code"), L, 9, "code"),
    ("duplicate person", copy_cell("people", 2, 3, "id"), P, 3, "id"),
    ("duplicate unit", copy_cell("units", 2, 7, "id"), U, 7, "id"),
    ("id both unit and person", cell("people", 2, "id", "D01"), P, 2, "id"),
    # dangling references
    ("dangling parent", cell("localities", 12, "parent", "522727999000"), L, 12, "parent"),
    ("dangling unit", cell("people", 3, "unit", "D99"), P, 3, "unit"),
    ("dangling hometown", cell("people", 10, "hometown", "522799000000"), P, 10, "hometown"),
    ("dangling unit seat", cell("units", 6, "locality", "522728999000"), U, 6, "locality"),
    ("dangling target locality", cell("targets", 3, "locality", "5227"), T, 3, "locality"),
    ("seat above county level", cell("units", 2, "locality", "520100000000"), U, 2, "locality"),
    # the tree
    ("level skip", cell("localities", 9, "parent", "522727000000"), L, 9, "parent"),
    ("second root", cell("localities", 3, "parent", ""), L, 3, "parent"),
    ("cycle", cell("localities", 8, "parent", "522727100001"), L, 8, "parent"),
    ("root not province", cell("localities", 2, "level", "prefecture"), L, 2, "level"),
    # incumbents
    ("incumbent unknown tier", cell("incumbents", 2, "tier", "counties"), I, 2, "tier"),
    ("incumbent helper missing", cell("incumbents", 3, "helper", "p99"), I, 3, "helper"),
    ("incumbent helper wrong table", cell("incumbents", 2, "helper", "p01"), I, 2, "helper"),
    ("incumbent target missing", cell("incumbents", 4, "target", "522728100299"), I, 4, "target"),
    ("incumbent after plan year", cell("incumbents", 5, "start_year", "2013"), I, 5, "start_year"),
    ("incumbent twice", lambda d: _write(d, "incumbents", [*_rows(d, "incumbents"), _rows(d, "incumbents")[2]]),
     I, 6, "target"),
    # headcount
    ("headcount below people", cell("units", 6, "headcount", "3"), U, 6, "headcount"),
    # geometry
    ("geometry unknown code", geometry_code, "geometry/counties.geojson", 2, "code"),
    ("geometry without a shape", geometry_empty_shape, "geometry/counties.geojson", 1, "geometry"),
    ("geometry unreadable", replace_text("geometry/counties.geojson", '"features"', '"featur'),
     "geometry/counties.geojson", None, None),
    # scheme.toml
    ("scheme missing", delete(S), S, None, None),
    ("scheme syntax", replace_text(S, "term_years = 3", "term_years = = 3"), S, 11, None),
    ("scheme unknown key", replace_text(S, "coverage_max = 3", "coverage_mxa = 3"), S, 46, "tiers[2].coverage_mxa"),
    ("scheme wrong type", replace_text(S, "links_min = 0", 'links_min = "none"'), S, 32, "tiers[1].links_min"),
    ("scheme not utf-8", reencode(S, "gbk"), S, 1, None),
    ("scheme filter column", replace_text(S, 'rank = ["division"]', 'rnk = ["division"]'), S, 42,
     "tiers[2].helpers.rnk"),
    ("scheme where column", replace_text(S, "where = { poverty_class = [1] }\nmin = 2", "where = { povrty = [1] }\nmin = 2"),
     S, 72, "tiers[3].class_min[1].where.povrty"),
]


def _problems(folder: Path) -> list[Problem]:
    with pytest.raises(InstanceError) as e:
        read_instance(folder)
    assert not isinstance(e.value, type) and e.value.errors, "an InstanceError must carry errors"
    return e.value.errors


def _assert_found(problems: list[Problem], file: str, row: int | None, column: str | None) -> None:
    hits = [p for p in problems if p.file == file and p.row == row and p.column == column]
    assert hits, f"no error at {file} row {row} column {column}; got:\n" + "\n".join(map(str, problems))
    assert all(p.message for p in hits)


@pytest.fixture
def broken(tiny_path: Path, tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    shutil.copytree(tiny_path, d)
    return d


@pytest.mark.parametrize(("edit", "file", "row", "column"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_csv_input(broken: Path, edit: Edit, file: str, row: int | None, column: str | None) -> None:
    edit(broken)
    _assert_found(_problems(broken), file, row, column)


def test_all_problems_collected(broken: Path) -> None:
    for _, edit, *_ in [CASES[8], CASES[9], CASES[17], CASES[29]]:
        edit(broken)
    problems = _problems(broken)
    for _, _, file, row, column in [CASES[8], CASES[9], CASES[17], CASES[29]]:
        _assert_found(problems, file, row, column)


def test_unknown_tag_is_a_warning(broken: Path) -> None:
    cell("people", 2, "skills", "agriculture;farming")(broken)
    inst = read_instance(broken)
    assert [(w.file, w.row, w.column, w.severity) for w in inst.warnings] == [("people.csv", 2, "skills", "warning")]
    assert "farming" in inst.warnings[0].message


def test_misspelt_column_is_a_warning_and_kept(broken: Path) -> None:
    replace_text("people.csv", "hometown,skills", "hometwon,skills")(broken)
    inst = read_instance(broken)
    assert [(w.file, w.row, w.column) for w in inst.warnings] == [("people.csv", 1, "hometwon")]
    assert "did you mean 'hometown'" in inst.warnings[0].message
    assert inst.people.at["p01", "hometwon"] == "520103000000"


def test_tier_over_an_empty_table_is_a_warning(broken: Path) -> None:
    (broken / "targets.csv").write_text("id,name,kind,locality\n", "utf-8")
    replace_text("incumbents.csv", "county,D01,522728000000,2010\n", "")(broken)
    replace_text("scheme.toml", 'targets = { table = "localities", level = ["county"], poverty_class = [1] }',
                 'targets = { table = "targets", kind = ["enterprise"] }')(broken)
    inst = read_instance(broken)
    assert [(w.file, w.column) for w in inst.warnings] == [("scheme.toml", "tiers[1].targets.table")]


def test_geometry_layer_warnings(broken: Path) -> None:
    g = broken / "geometry"
    data = json.loads((g / "counties.geojson").read_text("utf-8"))
    (g / "county.geojson").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    data["features"][0]["properties"]["code"] = "522728100000"  # a township in the counties layer
    (g / "counties.geojson").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    inst = read_instance(broken)
    got = sorted((w.file, w.row, w.column) for w in inst.warnings)
    assert got == [("geometry/counties.geojson", 1, "code"), ("geometry/county.geojson", None, None)]
    assert "did you mean 'counties'" in next(w for w in inst.warnings if w.row is None).message


def test_a_file_of_the_instance_names_its_folder(tiny_path: Path) -> None:
    assert read_instance(tiny_path / "people.csv").path == tiny_path


def test_gbk_csv_gets_a_hint(broken: Path) -> None:
    reencode(P, "gbk")(broken)
    (p,) = [p for p in _problems(broken) if p.file == P]
    assert "GBK" in p.message and "CSV UTF-8" in p.message


def test_message_says_what_was_expected(broken: Path) -> None:
    cell("people", 4, "rank", "divison")(broken)
    (p,) = [p for p in _problems(broken) if p.column == "rank"]
    assert "divison" in p.message and "department, division, section, staff" in p.message
    assert "did you mean 'division'" in p.message


# --------------------------------------------------------------------------- the workbook form


def xcell(sheet: str, row: int, column: str, value: object) -> Edit:
    def edit(folder: Path) -> None:
        import openpyxl

        path = folder / "instance.xlsx"
        wb = openpyxl.load_workbook(path)
        ws = wb[sheet]
        header = [c.value for c in ws[1]]
        ws.cell(row=row, column=header.index(column) + 1).value = value
        wb.save(path)
    return edit


def xdrop_sheet(sheet: str) -> Edit:
    def edit(folder: Path) -> None:
        import openpyxl

        path = folder / "instance.xlsx"
        wb = openpyxl.load_workbook(path)
        del wb[sheet]
        wb.save(path)
    return edit


def xinsert_row(sheet: str, at: int) -> Edit:
    def edit(folder: Path) -> None:
        import openpyxl

        path = folder / "instance.xlsx"
        wb = openpyxl.load_workbook(path)
        wb[sheet].insert_rows(at)
        wb.save(path)
    return edit


def xcsv(folder: Path) -> None:
    (folder / "units.csv").write_text("id\n", "utf-8")


X = "instance.xlsx"
XCASES: list[tuple[str, Edit, str, int | None, str | None]] = [
    ("missing sheet", xdrop_sheet("people"), f"{X}[people]", None, None),
    ("empty required cell", xcell("units", 4, "name", None), f"{X}[units]", 4, "name"),
    ("enum", xcell("people", 5, "gender", "female"), f"{X}[people]", 5, "gender"),
    ("int typed as text", xcell("units", 3, "headcount", "一百五十"), f"{X}[units]", 3, "headcount"),
    ("dangling reference", xcell("people", 7, "unit", "D9"), f"{X}[people]", 7, "unit"),
    ("duplicate code", xcell("localities", 9, "code", "522727100000"), f"{X}[localities]", 9, "code"),
    ("numeric code kept whole", xcell("localities", 9, "code", 522727100000), f"{X}[localities]", 9, "code"),
    ("workbook and csv both", xcsv, X, None, None),
    ("huge number", xcell("units", 2, "headcount", 1.844674407370955e19), f"{X}[units]", 2, "headcount"),
    ("blank first row shifts nothing", xinsert_row("units", 1), f"{X}[units]", 1, "id"),
]


@pytest.fixture
def broken_xlsx(tiny_path: Path, tmp_path: Path) -> Path:
    d = tmp_path / "tiny-xlsx"
    shutil.copytree(tiny_path.parent / "tiny-xlsx", d)
    return d


@pytest.mark.parametrize(("edit", "file", "row", "column"), [c[1:] for c in XCASES], ids=[c[0] for c in XCASES])
def test_bad_xlsx_input(broken_xlsx: Path, edit: Edit, file: str, row: int | None, column: str | None) -> None:
    edit(broken_xlsx)
    _assert_found(_problems(broken_xlsx), file, row, column)


def test_corrupt_workbook(broken_xlsx: Path) -> None:
    (broken_xlsx / "instance.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    _assert_found(_problems(broken_xlsx), X, None, None)


def test_unknown_tags_are_warned_on_every_row_that_has_them() -> None:
    """check_tags skips cells already found well-formed, but a repeated bad cell is reported on each of its rows."""
    from matcher.instance import TABLES, RawTable
    from matcher.validate import check_tags

    tables = {name: RawTable(name, f"{name}.csv") for name in TABLES}
    people = tables["people"]
    people.present, people.header = True, ["id", "skills"]
    people.rows = [["a", "agriculture;farming"], ["b", "agriculture"], ["c", "agriculture;farming"], ["d", "agriculture"]]
    people.rownums = [2, 3, 4, 5]
    found = [(p.row, p.column, p.severity) for p in check_tags(tables)]
    assert found == [(2, "skills", "warning"), (4, "skills", "warning")]
    assert all("'farming'" in p.message for p in check_tags(tables))
