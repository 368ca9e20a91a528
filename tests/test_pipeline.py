"""`matcher run`: the README's main job writes a checked plan, a map, a workbook, a GeoPackage and a briefing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from matcher.check import check_plan
from matcher.cli import app
from matcher.plan import Plan


def test_run_writes_every_product(tiny, tiny_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(tiny_path), "--out", str(out), "--time-limit", "30"])
    assert result.exit_code == 0, result.output
    plan = Plan.load(out / "plan")
    assert check_plan(tiny, plan).ok
    assert json.loads((out / "plan" / "plan.json").read_text())["status"] == "OPTIMAL"
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "unpkg.com" not in html and "cdn.jsdelivr" not in html  # offline: nothing fetched from a CDN
    sheets = pd.read_excel(out / "plan.xlsx", sheet_name=None)
    linked = sum(len(frame) for name, frame in sheets.items() if name not in ("汇总", "未覆盖"))
    assert linked == len(plan.assignments)  # one row per link, one sheet per tier
    assert (out / "plan.gpkg").stat().st_size > 0
    assert (out / "brief.pdf").read_bytes().startswith(b"%PDF")


def test_run_on_bad_instance_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "scheme.toml").write_text("[program]\nname = 1\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(bad), "--out", str(out)])
    assert result.exit_code != 0
    assert not (out / "plan" / "plan.json").exists()
    assert not (out / "map.html").exists()


def test_run_reads_the_instance_once(tiny_path: Path, tmp_path: Path, monkeypatch) -> None:
    """The five steps share one reading of the instance; a command outside `run` reads afresh."""
    import matcher.instance as instance_module
    from matcher.commands.reading import read_instance_for_command, shared_instance

    reads: list[str] = []
    real = instance_module.read_instance

    def counting(path, *args, **kwargs):
        reads.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(instance_module, "read_instance", counting)
    result = CliRunner().invoke(app, ["run", str(tiny_path), "--out", str(tmp_path / "out"), "--time-limit", "30"])
    assert result.exit_code == 0, result.output
    assert len(reads) == 1
    with shared_instance(tiny_path):
        assert read_instance_for_command(tiny_path) is read_instance_for_command(str(tiny_path))
    assert read_instance_for_command(tiny_path) is not read_instance_for_command(tiny_path)
    assert len(reads) == 4
