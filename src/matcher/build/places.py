"""Schematic positions and cells of townships and villages inside their county, and user-supplied geometry."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from matcher.build.geography import (
    CountyShape,
    Division,
    point_in,
    polygonal,
    voronoi_cells,
)
from matcher.errors import InstanceError, Problem


@dataclass
class Places:
    """Positions (lon, lat, position kind) by locality code, and township cells by code."""

    points: dict[str, tuple[float, float, str]] = field(default_factory=dict)
    cells: dict[str, BaseGeometry] = field(default_factory=dict)
    schematic_cells: dict[str, bool] = field(default_factory=dict)


def place_localities(divisions: list[Division], shapes: list[CountyShape], with_cells: bool = True) -> Places:
    """Give each township a schematic point inside its county and each village one near its township.
    Source: the divisions data has no coordinates; seeded by the code (numpy PCG64), so the
    same code always gets the same point.
    """
    poly = {s.code: s.wgs84 for s in shapes}
    places = Places()
    county_of: dict[str, str] = {}
    for d in divisions:
        if d.level == "township":
            county_of[d.code] = d.parent
            places.points[d.code] = (*point_in(poly[d.parent], int(d.code)), "schematic")
    for d in divisions:
        if d.level == "village":
            c = county_of[d.parent]
            near = places.points[d.parent][:2]
            places.points[d.code] = (*point_in(poly[c], int(d.code), near=(near[0], near[1])), "schematic")
    if with_cells:
        for ccode, cpoly in sorted(poly.items()):
            pts = {t: places.points[t][:2] for t, c in county_of.items() if c == ccode}
            for t, cell in voronoi_cells(pts, cpoly).items():
                places.cells[t] = cell
                places.schematic_cells[t] = True
    return places


def apply_geometry(places: Places, path: Path, known: set[str]) -> None:
    """Replace schematic points and cells by a user's real geometry (GeoJSON keyed by a ``code`` property).
    Source: a department that has surveyed positions or township boundaries supplies them with
    ``--geometry FILE``; points become ``position = surveyed``, polygons replace cells and give
    the township its representative point.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InstanceError([Problem(str(path), None, None, f"cannot read GeoJSON: {exc}")]) from exc
    problems: list[Problem] = []
    for i, ft in enumerate(data.get("features", []), start=1):
        code = str((ft.get("properties") or {}).get("code", "")).strip()
        if code.isdigit() and len(code) < 12:
            code = code.ljust(12, "0")
        if code not in known:
            problems.append(Problem(str(path), i, "code", f"feature {i}: code {code!r} is not a locality of this instance"))
            continue
        try:
            g = shape(ft["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(Problem(str(path), i, "geometry", f"feature {i}: not a GeoJSON geometry ({exc})"))
            continue
        if isinstance(g, Point):
            places.points[code] = (round(g.x, 6), round(g.y, 6), "surveyed")
        else:
            g = polygonal(g)
            if g.is_empty:
                problems.append(Problem(str(path), i, "geometry", f"feature {i}: expected a Point or a Polygon"))
                continue
            places.cells[code] = g
            places.schematic_cells[code] = False
            if code in places.points and places.points[code][2] == "schematic":
                p = g.representative_point()
                places.points[code] = (round(p.x, 6), round(p.y, 6), "schematic")
    if problems:
        raise InstanceError(problems, str(path))
