"""The interactive coverage map: one offline HTML file with counties, tier layers, popups, search and legend.

``coverage_map(plan, instance=None, lang="zh") -> folium.Map`` for notebooks; ``save_map(m, path)``
(or ``matcher map PLAN --out map.html``) writes one self-contained file. Leaflet is inlined from
``matcher/data/vendor`` and no tile layer is on, so the file opens with no network. Places and links
travel as one compact JSON blob drawn on a canvas by a small script (``data/maps/coverage_map.js``),
so a whole province (18,000 villages, 23,000 staff) stays small and quick; every name is put into
the page as text, never as HTML.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import pandas as pd
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from matcher.errors import MatcherError, PlanError
from matcher.export import (
    LEVELS,
    _int_or_none,
    _text,
    as_plan,
    check_plan_fits,
    helper_table,
    locality_paths,
    plan_assignments,
    plan_year,
    positions,
    scheme_tiers,
    target_coverage,
)
from matcher.fileio import atomic_write_text
from matcher.labels import all_labels, check_lang, label, poverty_label, program_name, rank_label, tier_name
from matcher.membership import isin

Instance = Any
PlanLike = Any

LEAFLET_DIR = "vendor/leaflet-1.9.4"
STATUS_ORDER = ["covered", "poor_team", "short", "uncovered", "not_required"]
STATUS_COLORS = {
    "covered": "#2e7d32",
    "poor_team": "#1565c0",
    "short": "#f9a825",
    "uncovered": "#c62828",
    "not_required": "#bdbdbd",
}
DEPT_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"]
POVERTY_COLORS = {"1": "#b2182b", "2": "#ef8a62", "3": "#fddbc7", "0": "#f7f7f7"}
HELPER_COLORS = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]
OSM_TILES = {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
             "attribution": "&copy; OpenStreetMap contributors"}
MAX_LEGEND_DEPARTMENTS = 12


def _data_text(name: str) -> str:
    """Text of a file shipped in ``matcher/data``."""
    return resources.files("matcher").joinpath("data", *name.split("/")).read_text(encoding="utf-8")


def _data_bytes(name: str) -> bytes:
    """Bytes of a file shipped in ``matcher/data``."""
    return resources.files("matcher").joinpath("data", *name.split("/")).read_bytes()


def leaflet_inline() -> tuple[str, str]:
    """(JavaScript, CSS) of the vendored Leaflet, ready to inline: no source map, images as data: URIs."""
    js = _data_text(f"{LEAFLET_DIR}/leaflet.js")
    js = re.sub(r"//# sourceMappingURL=\S+\s*$", "", js)
    css = _data_text(f"{LEAFLET_DIR}/leaflet.css")

    def data_uri(match: re.Match[str]) -> str:
        name = match.group(1)
        try:
            raw = _data_bytes(f"{LEAFLET_DIR}/images/{name}")
        except FileNotFoundError:  # marker images: not used by matcher's map
            return "url(data:image/gif;base64,R0lGODlhAQABAAAAACw=)"
        return "url(data:image/png;base64," + base64.b64encode(raw).decode("ascii") + ")"

    css = re.sub(r"url\(images/([\w.-]+)\)", data_uri, css)
    return js, css


def safe_json(value: Any) -> str:
    """JSON that can sit inside a ``<script>`` element: ``<``, ``>`` and ``&`` are escaped as \\u sequences."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _round_coords(obj: Any, digits: int = 4) -> Any:
    """Round every coordinate of a GeoJSON geometry (4 digits ~ 10 m)."""
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], (int, float)):
            return [round(float(x), digits) for x in obj]
        return [_round_coords(x, digits) for x in obj]
    return obj


def resolve_instance(plan: PlanLike, instance: Instance | None, plan_dir: str | Path | None = None) -> Instance:
    """The plan's instance: the one given, else ``read_instance(plan.header['instance']['path'])``.

    A relative path is tried as given (from the working directory), then from the plan folder's parent.
    """
    if instance is not None:
        return instance
    header = getattr(plan, "header", None) or {}
    path = (header.get("instance") or {}).get("path") if isinstance(header, Mapping) else None
    if not path:
        raise PlanError("the plan header names no instance path: pass --instance PATH")
    from matcher.instance import read_instance

    candidates = [Path(path)]
    if plan_dir is not None and not Path(path).is_absolute():
        candidates += [Path(plan_dir).parent / path, Path(plan_dir).parent.parent / path]
    for c in candidates:
        if c.is_dir():
            return read_instance(c)
    raise PlanError(f"the plan's instance {path!r} was not found (tried {', '.join(map(str, candidates))}): pass --instance PATH")


class _CoverageLayers(MacroElement):  # type: ignore[misc]
    """folium element that carries the map's data blob and the script that draws it."""

    _template = Template(
        """
{% macro header(this, kwargs) %}<style>{{ this.css }}</style>{% endmacro %}
{% macro html(this, kwargs) %}<script type="application/json" id="{{ this.data_id }}">{{ this.data }}</script>{% endmacro %}
{% macro script(this, kwargs) %}
var MATCHER_MAP = {{ this._parent.get_name() }}, MATCHER_DATA_ID = "{{ this.data_id }}";
{{ this.js }}
{% endmacro %}
"""
    )

    def __init__(self, data: dict[str, Any]):
        super().__init__()
        self._name = "CoverageLayers"
        self._id = "matcher"
        self.data_id = "matcher-map-data"
        self.data = safe_json(data)
        self.js = _data_text("maps/coverage_map.js")
        self.css = _data_text("maps/coverage_map.css")


def spread_stacked(localities: list[str], lon: list[float], lat: list[float], step_deg: float = 0.0016) -> tuple[list[float], list[float], list[bool]]:
    """Spread targets that share one locality's position in a small sunflower disc, so each can be seen and clicked.

    Returns new lon, lat and a flag per target telling whether it was moved (then its point is schematic).
    The k-th of n targets at one place goes to radius step·√(k+0.5), angle k·137.5° (about 150 m apart);
    a place with one target keeps its position.
    """
    import math

    counts: dict[str, int] = {}
    for c in localities:
        counts[c] = counts.get(c, 0) + 1
    seen: dict[str, int] = {}
    out_lon, out_lat, moved = [], [], []
    for c, x, y in zip(localities, lon, lat):
        n = counts[c]
        if n == 1:
            out_lon.append(x)
            out_lat.append(y)
            moved.append(False)
            continue
        k = seen.get(c, 0)
        seen[c] = k + 1
        r = step_deg * math.sqrt(k + 0.5)
        angle = math.radians(137.508) * k
        out_lon.append(x + r * math.cos(angle) / max(math.cos(math.radians(y)), 0.2))
        out_lat.append(y + r * math.sin(angle))
        moved.append(True)
    return out_lon, out_lat, moved


def township_cells(instance: Instance, codes: list[str]) -> dict[str, Any] | None:
    """GeoJSON of the townships' cells (``geometry/townships``, polygons only) for the given codes, or None.

    Feature property ``i`` is the code's position in ``codes`` (the tier's point index); shapes are
    simplified (~0.001°) and rounded to 4 decimals. Point-only township layers give None.
    """
    geo = instance.geometry("townships") if hasattr(instance, "geometry") else None
    if geo is None or not len(geo):
        return None
    if geo.crs is not None and geo.crs.to_epsg() != 4326:
        geo = geo.to_crs(4326)
    shapes = {str(c): g for c, g in zip(geo["code"], geo.geometry)
              if g is not None and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon")}
    features = []
    for i, code in enumerate(codes):
        g = shapes.get(code)
        if g is None:
            continue
        gj = g.simplify(0.001, preserve_topology=True).__geo_interface__
        features.append({"type": "Feature", "properties": {"i": i},
                         "geometry": {"type": gj["type"], "coordinates": _round_coords(gj["coordinates"])}})
    if not features:
        return None
    sch = geo["schematic"].map(lambda v: str(v).lower() in ("true", "1")).any() if "schematic" in geo.columns else False
    return {"type": "FeatureCollection", "features": features, "schematic": bool(sch)}


def _first_tier_at(tiers: list[dict[str, Any]], level: str) -> dict[str, Any] | None:
    """The first tier whose targets are localities at ``level``."""
    for t in tiers:
        tg = t.get("targets", {})
        if tg.get("table", "localities") == "localities" and level in (tg.get("level") or []):
            return t
    return None


def _helper_bins(counts: list[int]) -> list[int]:
    """Four increasing class breaks for 'number of helpers' (5 colour classes), from the data's spread."""
    top = max(counts) if counts else 0
    if top <= 4:
        return [1, 2, 3, 4]
    qs = sorted(set(int(round(q)) for q in pd.Series(counts).quantile([0.2, 0.4, 0.6, 0.8]).tolist()))
    qs = [q for q in qs if q > 0] or [1]
    while len(qs) < 4:
        qs.append(qs[-1] + 1)
    return sorted(set(qs))[:4]


def map_data(instance: Instance, plan: PlanLike, lang: str = "zh", *, tiles: bool = True) -> dict[str, Any]:
    """Everything the map's script draws, as plain JSON-ready data (deterministic order and rounding)."""
    check_lang(lang)
    check_plan_fits(instance, plan)
    tiers = scheme_tiers(instance)
    helpers = helper_table(instance)
    paths = locality_paths(instance)
    pos = positions(instance)
    a = plan_assignments(plan)
    loc = instance.localities.copy()
    loc.index = loc.index.map(str)

    # helpers that appear in links, in plan order
    helper_ids = list(dict.fromkeys(a["helper"]))
    units = list(dict.fromkeys(helpers.loc[[h for h in helper_ids if h in helpers.index], "unit_name"]))
    unit_idx = {u: i for i, u in enumerate(units)}
    rank_codes = ["department", "division", "section", "staff"]
    ranks = [rank_label(r, lang) for r in rank_codes]
    helper_recs = helpers.to_dict("index")
    helper_rows = []
    for h in helper_ids:
        if h in helper_recs:
            r = helper_recs[h]
            helper_rows.append([r["name"], unit_idx.get(r["unit_name"], -1), rank_codes.index(r["rank"]) if r["rank"] in rank_codes else -1])
        else:
            helper_rows.append([h, -1, -1])
    hidx = {h: i for i, h in enumerate(helper_ids)}

    def link_rows(frame: pd.DataFrame) -> dict[str, list[list[Any]]]:
        out: dict[str, list[list[Any]]] = {}
        r: Any
        for r in frame.itertuples(index=False):
            out.setdefault(r.target, []).append([hidx[r.helper], r.start_year if r.start_year is not None else "", 1 if r.pinned else 0])
        return out

    path_recs = paths.to_dict("index")
    pos_recs = pos.to_dict("index")
    loc_name = loc["name"].map(_text).to_dict()

    def path_text(code: str, upto: str) -> str:
        row = path_recs.get(code)
        if row is None:
            return ""
        return " / ".join(row[lv] for lv in LEVELS[: LEVELS.index(upto)] if row[lv])

    status_names = {s: label(f"status.{s}", lang) for s in STATUS_ORDER}
    poverty_names = [""] + [poverty_label(k, lang) for k in (1, 2, 3)]

    # ---- counties
    county_tier = _first_tier_at(tiers, "county")
    county_codes = list(loc.index[loc["level"].map(_text) == "county"])
    county_links: dict[str, list[list[Any]]] = {}
    county_status: dict[str, str] = {}
    if county_tier is not None:
        cov = target_coverage(instance, plan, county_tier)
        county_status = {str(k): str(v) for k, v in cov["status"].items()}
        county_links = link_rows(a[a["tier"] == county_tier["id"]])
    # targets (any tier) -> county code, for helper counts and for counties without a county tier
    target_county: dict[str, str] = {}
    worst: dict[str, str] = {}
    point_tiers = []
    county_code = paths["county_code"].to_dict()
    for tier in tiers:
        cov = target_coverage(instance, plan, tier)
        for t, locality, s in zip(cov.index, cov["locality"], cov["status"]):
            cc = county_code.get(locality, "")
            target_county[t] = cc
            if county_tier is None and cc:
                if STATUS_ORDER.index(s) > STATUS_ORDER.index(worst.get(cc, "covered")) and s != "not_required":
                    worst[cc] = s
        if tier is not county_tier:
            point_tiers.append((tier, cov))
    if county_tier is None:
        county_status = {c: worst.get(c, "covered") for c in county_codes}
    a_county = a["target"].map(lambda t: target_county.get(t, ""))
    n_helpers = a.groupby(a_county)["helper"].nunique().to_dict()
    # counties' main department: first helper unit of the county tier
    dept_of: dict[str, int] = {}
    dept_names: list[str] = []
    for c in county_codes:
        lks = county_links.get(c, [])
        if lks:
            name = helper_rows[lks[0][0]][0] if helper_recs.get(helper_ids[lks[0][0]], {}).get("kind") == "unit" else units[helper_rows[lks[0][0]][1]]
            if name not in dept_names:
                dept_names.append(name)
            dept_of[c] = dept_names.index(name)

    geo = instance.geometry("counties") if hasattr(instance, "geometry") else None
    geometry: dict[str, Any] = {}
    if geo is not None and len(geo):
        if geo.crs is not None and geo.crs.to_epsg() != 4326:
            geo = geo.to_crs(4326)
        for code, g in zip(geo["code"].map(str), geo.geometry):
            if g is not None and not g.is_empty:
                geometry[code] = g
    drawn = [c for c in county_codes if c in geometry] if geometry else [c for c in county_codes if c in pos.index]
    info = []
    features = []
    lons: list[float] = []
    lats: list[float] = []
    for i, c in enumerate(drawn):
        pov = _int_or_none(loc.loc[c].get("poverty_class"))
        p = pos.loc[c] if c in pos.index else None
        info.append([c, _text(loc.loc[c, "name"]), path_text(c, "county"), poverty_label(pov, lang, level="county") if pov else "",
                     pov if pov is not None else 0, county_status.get(c, "not_required"), int(n_helpers.get(c, 0)),
                     dept_of.get(c, -1), county_links.get(c, []), 1 if (p is not None and bool(p["schematic"])) else 0,
                     round(float(p["lon"]), 5) if p is not None else 0.0, round(float(p["lat"]), 5) if p is not None else 0.0])
        if geometry:
            g = geometry[c].simplify(0.002, preserve_topology=True)
            gj = g.__geo_interface__
            features.append({"type": "Feature", "properties": {"i": i},
                             "geometry": {"type": gj["type"], "coordinates": _round_coords(gj["coordinates"])}})
            minx, miny, maxx, maxy = geometry[c].bounds
            lons += [minx, maxx]
            lats += [miny, maxy]
        elif p is not None:
            lons.append(float(p["lon"]))
            lats.append(float(p["lat"]))

    # ---- point tiers
    path_list: list[str] = []
    path_idx: dict[str, int] = {}
    tier_blobs = []
    any_schematic = any(x[9] for x in info)
    n_points_total = 0
    for tier, cov in point_tiers:
        links = link_rows(a[a["tier"] == tier["id"]])
        pts = []
        point_targets: list[tuple[str]] = []
        level = (tier.get("targets", {}).get("level") or [""])[0]
        cov = cov[isin(cov["locality"], pos_recs.keys())]
        if tier.get("targets", {}).get("table") == "targets":  # many targets per place: spread them
            sx, sy, moved = spread_stacked(list(cov["locality"]), [pos_recs[c]["lon"] for c in cov["locality"]],
                                           [pos_recs[c]["lat"] for c in cov["locality"]])
        else:
            sx = [pos_recs[c]["lon"] for c in cov["locality"]]
            sy = [pos_recs[c]["lat"] for c in cov["locality"]]
            moved = [False] * len(cov)
        for j, (t, r) in enumerate(zip(cov.index, cov[["locality", "status", "name", "poverty_class"]].to_dict("records"))):
            locc = r["locality"]
            p = {"lon": sx[j], "lat": sy[j], "schematic": bool(pos_recs[locc]["schematic"]) or moved[j]}
            ptxt = path_text(locc, level) if level in LEVELS else " / ".join(
                x for x in [path_text(locc, "village"), loc_name.get(locc, "")] if x)
            if ptxt not in path_idx:
                path_idx[ptxt] = len(path_list)
                path_list.append(ptxt)
            pov = _int_or_none(r["poverty_class"])
            pov_i = pov if pov in (1, 2, 3) else 0
            sch = 1 if bool(p["schematic"]) else 0
            any_schematic = any_schematic or bool(sch)
            pts.append([round(float(p["lon"]), 5), round(float(p["lat"]), 5), r["status"], r["name"], path_idx[ptxt],
                        pov_i, sch, links.get(t, [])])
            point_targets.append((t,))
            lons.append(float(p["lon"]))
            lats.append(float(p["lat"]))
        n_points_total += len(pts)
        blob = {"id": tier["id"], "name": tier_name(tier, lang), "points": pts, "on": True,
                "radius": 7 if level == "township" else (5 if level != "village" else 4),
                "outline": 2 if level == "township" else 0}
        if level == "township" and tier.get("targets", {}).get("table", "localities") == "localities":
            blob["cells"] = township_cells(instance, [r[0] for r in point_targets])
        tier_blobs.append(blob)
    if n_points_total > 5000:  # very many points: draw them smaller
        for b in tier_blobs:
            b["radius"] = max(2, b["radius"] - 2)

    counts = [x[6] for x in info]
    bins = _helper_bins(counts)
    edges = [0, *bins]
    helper_legend = []
    for k in range(len(edges)):
        lo = edges[k]
        hi = edges[k + 1] - 1 if k + 1 < len(edges) else None
        helper_legend.append(f"{lo}" if hi == lo else (f"{lo}–{hi}" if hi is not None else f"≥ {lo}"))
    dept_legend = [[k, n] for k, n in enumerate(dept_names[:MAX_LEGEND_DEPARTMENTS])]
    if len(dept_names) > MAX_LEGEND_DEPARTMENTS:
        dept_legend.append([-1, f"… {label('map.department_other', lang)} ({len(dept_names) - MAX_LEGEND_DEPARTMENTS})"])

    header = getattr(plan, "header", None) or {}
    year = plan_year(instance, plan)
    source = _text(instance.scheme.get("program", {}).get("source", ""))
    inst_path = _text(((header.get("instance") or {}) if isinstance(header, Mapping) else {}).get("path", "")) or _text(getattr(instance, "path", ""))
    source_bits = [b for b in [source, f"matcher: {inst_path}" if inst_path else "", _text(header.get("status", "")) if isinstance(header, Mapping) else ""] if b]
    labels = all_labels(lang)
    county_layer_name = tier_name(county_tier, lang) if county_tier is not None else label("map.counties_drawn", lang)
    subtitle = f"{label('brief.plan_year', lang)} {year}" + ("" if geometry else f" · {label('map.no_geometry', lang)}")
    return {
        "lang": lang,
        "sep": "：" if lang == "zh" else ": ",
        "listSep": "、" if lang == "zh" else ", ",
        "labels": {k: v for k, v in labels.items() if k.startswith(("map.", "col.", "pinned.", "brief.source"))},
        "title": program_name(instance.scheme, lang),
        "subtitle": subtitle,
        "source": "；".join(source_bits) if lang == "zh" else "; ".join(source_bits),
        "schematic": bool(any_schematic),
        "schematicCells": any(bool((b.get("cells") or {}).get("schematic")) for b in tier_blobs),
        "helpers": helper_rows,
        "units": units,
        "ranks": ranks,
        "paths": path_list,
        "statusOrder": STATUS_ORDER,
        "countyStatuses": [s for s in STATUS_ORDER if any(x[5] == s for x in info)] or ["covered"],
        "pointStatuses": [s for s in STATUS_ORDER if any(p[2] == s for b in tier_blobs for p in b["points"])] or ["covered"],
        "statusColors": STATUS_COLORS,
        "statusNames": status_names,
        "povertyNames": poverty_names,
        "povertyColors": POVERTY_COLORS,
        "povertyLegend": {"1": poverty_label(1, lang, level="county"), "2": poverty_label(2, lang),
                          "3": poverty_label(3, lang), "0": poverty_label(0, lang)},
        "deptColors": DEPT_COLORS,
        "deptLegend": dept_legend,
        "helperColors": HELPER_COLORS,
        "helperBins": bins,
        "helperLegend": helper_legend,
        "countyTier": tier_name(county_tier, lang) if county_tier is not None else "",
        "countyLayerName": county_layer_name,
        "counties": {"info": info, "geojson": {"type": "FeatureCollection", "features": features} if geometry else None},
        "tiers": tier_blobs,
        "pointsLegendTitle": " / ".join(b["name"] for b in tier_blobs) if len(tier_blobs) <= 2 else label("map.points", lang),
        "modes": [["coverage", label("map.base.coverage", lang)], ["department", label("map.base.department", lang)],
                  ["poverty", label("map.base.poverty", lang)], ["helpers", label("map.base.helpers", lang)]],
        "tiles": OSM_TILES if tiles else None,
        "bounds": [[round(min(lats), 4), round(min(lons), 4)], [round(max(lats), 4), round(max(lons), 4)]] if lats else None,
    }


def coverage_map(plan: PlanLike | str | Path, instance: Instance | None = None, lang: str = "zh", *, tiles: bool = True) -> folium.Map:
    """The plan's coverage map as a folium.Map that works offline (display it in Jupyter or :func:`save_map` it).

    ``plan`` is a Plan or a plan folder; ``instance`` defaults to the one named in the plan's header.

    Counties coloured by coverage (switchable to helping department, poverty class, number of helpers),
    one layer per tier with popups listing who is there, a search box, legend, title, source note and a
    'schematic position' note. ``tiles=True`` offers an OpenStreetMap layer that is off by default.
    """
    check_lang(lang)
    plan, plan_dir = as_plan(plan)
    instance = resolve_instance(plan, instance, plan_dir)
    data = map_data(instance, plan, lang, tiles=tiles)
    b = data["bounds"]
    center = [(b[0][0] + b[1][0]) / 2, (b[0][1] + b[1][1]) / 2] if b else [26.8, 106.7]
    m = folium.Map(location=center, zoom_start=7, tiles=None, prefer_canvas=True, control_scale=False)
    m._id = "coverage"
    m.default_js = []  # instance attributes: folium's CDN links are replaced by the inlined files below
    m.default_css = []
    js, css = leaflet_inline()
    fig = m.get_root()
    assert isinstance(fig, Figure)
    fig._id = "figure"
    fig.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css")
    fig.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js")
    fig.header.add_child(Element(f"<title>{_html_text(data['title'])}</title>"), name="title")
    m.add_child(_CoverageLayers(data), name="coverage_layers")
    return m


def _html_text(s: str) -> str:
    """Escape text for HTML element content."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def map_html(m: folium.Map) -> str:
    """The complete HTML of a map; fails if anything in it would be loaded from the network."""
    html = m.get_root().render()
    external = re.findall(r"<(?:script|link|img)[^>]*\s(?:src|href)\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+", html)
    if external:
        raise MatcherError(f"the map would load {len(external)} resource(s) from the network, e.g. {external[0][:120]}")
    return html


def save_map(m: folium.Map, path: str | Path) -> Path:
    """Write a map to one self-contained HTML file, atomically."""
    path = Path(path)
    atomic_write_text(path, map_html(m))
    return path


def write_map(plan: PlanLike, out: str | Path, instance: Instance | None = None, lang: str = "zh") -> Path:
    """Build the coverage map of a plan and write it to ``out`` (``matcher map``)."""
    return save_map(coverage_map(plan, instance, lang), out)

