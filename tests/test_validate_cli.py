"""`matcher validate` and `matcher template` from the command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.cli import app

runner = CliRunner()


@pytest.mark.parametrize("name", ["tiny", "tiny-xlsx"])
def test_validate_ok_prints_summary(tiny_path: Path, name: str) -> None:
    res = runner.invoke(app, ["validate", str(tiny_path.parent / name)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "localities 31: province 1, prefecture 2, county 4, township 6, village 18" in out
    assert "units 6: province 3, prefecture 1, county 2" in out
    assert "people 23: division 6, section 6, staff 11" in out
    assert "targets 3: enterprise 2, household 1" in out
    assert "incumbents 4: county 1, township 1, village 2" in out
    assert "部门帮县" in out and "处长联乡" in out and "干部驻村" in out
    assert out.rstrip().endswith("OK")


def test_validate_as_a_real_process(tiny_path: Path) -> None:
    cmd = [sys.executable, "-c", "from matcher.cli import main; main()", "validate", str(tiny_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert "village 18" in res.stdout
    bad = subprocess.run(cmd[:-1] + [str(tiny_path / "nope")], capture_output=True, text=True, timeout=120,
                         check=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stdout + bad.stderr


def test_validate_errors_numbered_by_file(tiny_path: Path, tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(tiny_path, d)
    p = d / "people.csv"
    p.write_text(p.read_text("utf-8").replace("p04,陈丽,D02,division", "p04,陈丽,D02,divison"), "utf-8")
    u = d / "units.csv"
    u.write_text(u.read_text("utf-8").replace(",25,", ",many,"), "utf-8")
    res = runner.invoke(app, ["validate", str(d)])
    assert res.exit_code == 1
    out = res.output
    assert "2 error(s)" in out
    assert "units.csv\n" in out and "people.csv\n" in out
    assert "1. error row 6, column 'headcount': 'many' is not a whole number" in out
    assert "2. error row 5, column 'rank': 'divison' is not allowed" in out
    assert "Traceback" not in out


def test_validate_missing_folder(tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate", str(tmp_path / "none")])
    assert res.exit_code == 1
    assert "no such folder" in res.output


def test_validate_markup_in_data_is_printed_literally(tiny_path: Path, tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(tiny_path, d)
    p = d / "people.csv"
    p.write_text(p.read_text("utf-8").replace("p03,吴光明,D02,", "p03,吴光明,[red]D2,"),
                 "utf-8")
    res = runner.invoke(app, ["validate", str(d)])
    assert res.exit_code == 1
    assert "'[red]D2' is not an id" in res.output


def test_template_command(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "instance.xlsx"
    res = runner.invoke(app, ["template", str(out)])
    assert res.exit_code == 0, res.output
    import openpyxl

    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["localities", "targets", "units", "people", "incumbents", "notes"]
    res = runner.invoke(app, ["template", str(out), "--lang", "fr"])
    assert res.exit_code == 2


def test_long_lists_are_cut_per_file_unless_all(tiny_path: Path, tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(tiny_path, d)
    with (d / "people.csv").open("a", encoding="utf-8") as f:
        for i in range(60):
            f.write(f"x{i:02d},某{i},D01,staff,,X,1990,,,\n")
    res = runner.invoke(app, ["validate", str(d)])
    assert res.exit_code == 1
    assert "60 error(s)" in res.output
    assert "50. error row 74, column 'gender'" in res.output
    assert "... and 10 more in this file (--all shows every problem)" in res.output
    res = runner.invoke(app, ["validate", str(d), "--all"])
    assert "60. error row 84, column 'gender'" in res.output and "more in this file" not in res.output
