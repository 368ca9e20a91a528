"""Random corruptions of tiny's CSV files: read_instance loads or raises InstanceError, nothing else.

MATCHER_FUZZ_EXAMPLES=2000 runs a longer search (the suite's default is 100 examples, a few seconds).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.errors import InstanceError, Problem
from matcher.instance import Instance, read_instance

TINY = Path(__file__).resolve().parent.parent / "instances" / "tiny"
FILES = ["localities.csv", "units.csv", "people.csv", "incumbents.csv", "targets.csv"]
BYTE_FILES = ["scheme.toml", "geometry/counties.geojson"]  # corrupted byte-wise only
OPS = ["delete_cell", "replace_cell", "drop_column", "duplicate_row", "truncate", "swap_bytes"]

cell_values = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF, exclude_categories=("Cs",)),
            max_size=6),
    st.integers(min_value=-10**20, max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", ";", ";;", "nan", "NA", "None", "province", "division", "D01", "p01",
                     "520000000000", "522728000000", "county", "village", "1e400", "-1", "0x10", "\"", "\n"]),
)


def _records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _dump(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def _corrupt(data: bytes, op: str, draw: st.DrawFn) -> bytes:
    """One corruption of a CSV file's bytes (cell operations keep the file valid CSV otherwise)."""
    if op == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if op == "swap_bytes":
        if len(data) < 2:
            return data
        i = draw(st.integers(0, len(data) - 1))
        j = draw(st.integers(0, len(data) - 1))
        b = bytearray(data)
        b[i], b[j] = b[j], b[i]
        return bytes(b)
    try:
        rows = _records(data)
    except (UnicodeDecodeError, csv.Error):
        return data
    if not rows or not rows[0]:
        return data
    r = draw(st.integers(0, len(rows) - 1))
    if op == "duplicate_row":
        rows.insert(r, list(rows[r]))
    elif op == "drop_column":
        j = draw(st.integers(0, len(rows[0]) - 1))
        rows = [row[:j] + row[j + 1:] for row in rows]
    elif rows[r]:
        j = draw(st.integers(0, len(rows[r]) - 1))
        rows[r][j] = "" if op == "delete_cell" else draw(cell_values)
    return _dump(rows)


@settings(max_examples=int(os.environ.get("MATCHER_FUZZ_EXAMPLES", "100")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corrupted_tiny_loads_or_raises_instance_error(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "tiny"
        shutil.copytree(TINY, d)
        for _ in range(data.draw(st.integers(1, 3), label="corruptions")):
            name = data.draw(st.sampled_from(FILES + BYTE_FILES), label="file")
            op = data.draw(st.sampled_from(OPS if name in FILES else ["truncate", "swap_bytes"]), label="op")
            p = d / name
            p.write_bytes(_corrupt(p.read_bytes(), op, data.draw))
        try:
            inst = read_instance(d)
        except InstanceError as exc:
            assert exc.errors, "an InstanceError carries at least one error"
            for prob in exc.problems:
                assert isinstance(prob, Problem) and prob.message
                assert prob.file  # every problem names its file
                assert "internal error" not in prob.message, prob.message
            return
        assert isinstance(inst, Instance)
        inst.summary()
        assert len(inst.positions) == len(inst.localities)


def test_the_fuzz_harness_does_corrupt() -> None:
    """Guard against a harness that never changes anything: a truncated localities.csv must fail."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "tiny"
        shutil.copytree(TINY, d)
        p = d / "localities.csv"
        p.write_bytes(p.read_bytes()[:200])
        try:
            read_instance(d)
        except InstanceError:
            return
        raise AssertionError("a truncated localities.csv loaded")


SHEETS = ["localities", "units", "people", "incumbents", "targets"]
xlsx_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10**18, max_value=10**18),
    st.floats(allow_nan=False, allow_infinity=False),
    st.datetimes(min_value=__import__("datetime").datetime(1900, 3, 1)),
    st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=10),
)


@settings(max_examples=int(os.environ.get("MATCHER_FUZZ_EXAMPLES", "100")) // 5, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corrupted_workbook_loads_or_raises_instance_error(data: st.DataObject) -> None:
    """Cells of other types (dates, booleans, huge numbers, blanks) in the workbook form."""
    import openpyxl

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "tiny-xlsx"
        shutil.copytree(TINY.parent / "tiny-xlsx", d)
        wb = openpyxl.load_workbook(d / "instance.xlsx")
        for _ in range(data.draw(st.integers(1, 4), label="cells")):
            ws = wb[data.draw(st.sampled_from(SHEETS), label="sheet")]
            row = data.draw(st.integers(1, ws.max_row + 1), label="row")
            col = data.draw(st.integers(1, ws.max_column + 1), label="column")
            ws.cell(row=row, column=col).value = data.draw(xlsx_values, label="value")
        wb.save(d / "instance.xlsx")
        try:
            inst = read_instance(d)
        except InstanceError as exc:
            assert exc.errors
            assert all("internal error" not in p.message for p in exc.problems), exc
            return
        inst.summary()
