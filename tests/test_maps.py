"""The interactive coverage map: offline, complete, escaped, deterministic (no browser here; see test_browser.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from matcher.errors import MatcherError
from matcher.export import scheme_tiers, target_coverage
from matcher.instance import read_instance
from matcher.maps import coverage_map, map_data, map_html, safe_json, save_map

from handmade import hand_plan  # noqa: E402  (tests/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "<img src=x onerror=alert(1)>"


def test_map_html_has_no_network_resources_and_inlines_leaflet(inst, solved):
    html = map_html(coverage_map(solved, inst))
    assert 'version="1.9.4"' in html  # Leaflet inlined from the vendored copy
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=", html)
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html and "code.jquery" not in html
    assert "sourceMappingURL" not in html
    assert "url(images/" not in html  # css images are data: URIs


def test_map_draws_every_county_and_target(inst, solved):
    data = map_data(inst, solved, "zh")
    geo = inst.geometry("counties")
    assert len(data["counties"]["geojson"]["features"]) == len(geo)
    tiers = {t["id"]: t for t in data["tiers"]}
    for tier in scheme_tiers(inst):
        if tier["id"] == "county":
            continue
        cov = target_coverage(inst, solved, tier)
        assert len(tiers[tier["id"]]["points"]) == len(cov)
        # each point lists exactly the helpers the plan links to that target
        n_links = sum(len(p[7]) for p in tiers[tier["id"]]["points"])
        assert n_links == int((solved.assignments["tier"] == tier["id"]).sum())


def test_statuses_follow_the_plan(inst):
    plan = hand_plan(inst)
    data = map_data(inst, plan, "zh")
    village = {t["id"]: t for t in data["tiers"]}["village"]
    by_name = {p[3]: p[2] for p in village["points"]}
    assert by_name["平岩村委会"] == "uncovered"   # no one linked
    assert by_name["董架村委会"] == "short"       # class-1 poor, 1 of 2
    assert by_name["董当村委会"] == "poor_team"   # class-1 poor, full team of 2
    assert by_name["新建村委会"] == "covered"
    # popups know who is there, pinned or new
    dongdang = next(p for p in village["points"] if p[3] == "董当村委会")
    names = {data["helpers"][lk[0]][0]: lk for lk in dongdang[7]}
    assert set(names) == {"班红梅", "李德明"}
    assert names["班红梅"][1:] == [2011, 1] and names["李德明"][1:] == [2012, 0]


def test_hostile_names_are_never_markup(inst):
    inst2 = read_instance(ROOT / "instances" / "tiny")
    inst2.people.loc["p07", "name"] = HOSTILE
    inst2.people.loc["p17", "name"] = "</script><script>alert(2)</script>"
    html = map_html(coverage_map(hand_plan(inst2), inst2))
    assert HOSTILE not in html
    assert "</script><script>alert(2)" not in html
    blob = re.search(r'<script type="application/json" id="matcher-map-data">(.*?)</script>', html, re.S).group(1)
    names = [h[0] for h in json.loads(blob)["helpers"]]
    assert HOSTILE in names  # the name survives, as data
    assert "innerHTML" not in html.split("matcher coverage map")[1]  # our script only sets textContent


def test_safe_json_escapes_script_breakers():
    s = safe_json({"a": "</script><b>&\u2028"})
    assert "<" not in s and ">" not in s and "&" not in s
    assert json.loads(s) == {"a": "</script><b>&\u2028"}


def test_same_plan_same_bytes(inst, solved, tmp_path):
    a = save_map(coverage_map(solved, inst), tmp_path / "a.html").read_bytes()
    b = save_map(coverage_map(solved, inst), tmp_path / "b.html").read_bytes()
    assert a == b
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "b.html"]  # no temporary file left


def test_english_switch(inst, solved):
    zh = map_data(inst, solved, "zh")
    en = map_data(inst, solved, "en")
    assert zh["title"].startswith("贵州省") and en["title"].startswith("Guizhou")
    assert en["statusNames"]["covered"] == "covered" and zh["statusNames"]["covered"] == "已覆盖"
    with pytest.raises(MatcherError, match="language"):
        map_data(inst, solved, "fr")


def test_schematic_note_is_on_when_positions_are_schematic(inst, solved):
    data = map_data(inst, solved, "zh")
    assert data["schematic"] is True  # every tiny position is schematic
    assert "示意" in data["labels"]["map.schematic_note"]


def test_cli_map_writes_offline_html(inst, solved, tmp_path):
    plan_dir = solved.save(tmp_path / "plan")
    out = tmp_path / "map.html"
    r = subprocess.run(["matcher", "map", str(plan_dir), "--out", str(out), "--instance", str(ROOT / "instances" / "tiny"),
                        "--lang", "en"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    html = out.read_text(encoding="utf-8")
    assert "Guizhou" in html and "<script src" not in html
    bad = subprocess.run(["matcher", "map", str(tmp_path / "nope"), "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and "no such plan folder" in bad.stderr and "Traceback" not in bad.stderr


def test_plan_of_another_instance_is_refused(inst, tmp_path):
    from matcher.errors import PlanError

    other = read_instance(ROOT / "instances" / "tiny")
    plan = hand_plan(other)
    plan.assignments.loc[3, "helper"] = "NOBODY"
    with pytest.raises(PlanError, match=r"assignments.csv, row 5, column 'helper': 'NOBODY'"):
        map_data(inst, plan, "zh")


def test_without_county_polygons_counties_are_points(tmp_path):
    import shutil

    shutil.copytree(ROOT / "instances" / "tiny", tmp_path / "tiny", ignore=shutil.ignore_patterns("geometry"))
    inst = read_instance(tmp_path / "tiny")
    data = map_data(inst, hand_plan(inst), "zh")
    assert data["counties"]["geojson"] is None
    counties = inst.localities[inst.localities["level"] == "county"]
    assert len(data["counties"]["info"]) == len(counties)
    assert "无县界数据" in data["subtitle"]


def test_stacked_targets_are_spread_apart():
    from matcher.maps import spread_stacked

    lon, lat, moved = spread_stacked(["a", "a", "a", "b"], [107.0, 107.0, 107.0, 106.0], [26.0, 26.0, 26.0, 25.0])
    assert moved == [True, True, True, False] and (lon[3], lat[3]) == (106.0, 25.0)
    points = set(zip(lon[:3], lat[:3]))
    assert len(points) == 3  # three distinct positions
    assert all(abs(x - 107.0) < 0.01 and abs(y - 26.0) < 0.01 for x, y in points)  # within ~1 km


def test_township_cells_follow_the_township_points(tmp_path):
    import shutil

    import geopandas as gpd

    shutil.copytree(ROOT / "instances" / "tiny", tmp_path / "tiny")
    base = read_instance(tmp_path / "tiny")
    towns = base.positions.loc[base.localities.index[base.localities["level"] == "township"]]
    cells = gpd.GeoDataFrame({"code": list(towns.index), "schematic": True},
                             geometry=gpd.points_from_xy(towns["lon"], towns["lat"]).buffer(0.05), crs=4326)
    cells.to_file(tmp_path / "tiny" / "geometry" / "townships.geojson", driver="GeoJSON")
    inst = read_instance(tmp_path / "tiny")
    data = map_data(inst, hand_plan(inst), "zh")
    township = {t["id"]: t for t in data["tiers"]}["township"]
    feats = township["cells"]["features"]
    # one cell per township target (the subdistrict 龙坪街道 is not a target), each tied to its point
    assert len(feats) == len(township["points"]) == 5
    for f in feats:
        x, y = township["points"][f["properties"]["i"]][:2]
        ring = f["geometry"]["coordinates"][0]
        assert min(p[0] for p in ring) < x < max(p[0] for p in ring) and min(p[1] for p in ring) < y < max(p[1] for p in ring)
    assert data["schematicCells"] is True
