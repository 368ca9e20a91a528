"""Shared parts of the one-county instances (Baoxing, Xuchang Jian'an): geography, localities, names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matcher.build.geography import (
    CountyShape,
    Division,
    read_county_shapes,
    read_divisions,
)
from matcher.build.places import Places, apply_geometry, place_localities
from matcher.build.sources import PackageReader, SourceError


@dataclass
class CountyGeo:
    """One county with its province and prefecture: divisions, polygon and schematic places."""

    divisions: list[Division]
    shape: CountyShape
    places: Places

    @property
    def county(self) -> Division:
        """The county itself."""
        return next(d for d in self.divisions if d.level == "county")

    def level(self, level: str) -> list[Division]:
        """The divisions at ``level``, sorted by code."""
        return [d for d in self.divisions if d.level == level]


def read_county(cd: PackageReader, ec: PackageReader, county6: str, echarts_file: str,
                geometry: Path | None = None, simplify_deg: float = 0.0005) -> CountyGeo:
    """Read a county's divisions and polygon, and place its townships and villages."""
    divisions = read_divisions(cd, county6[:2], county=county6)
    counties = [d for d in divisions if d.level == "county"]
    shapes = read_county_shapes(ec, [echarts_file], counties)
    if len(shapes) != 1:
        raise SourceError(f"{echarts_file}: expected one polygon for county {county6}, found {len(shapes)}")
    shapes[0].wgs84 = shapes[0].wgs84.simplify(simplify_deg, preserve_topology=True)
    places = place_localities(divisions, shapes)
    if geometry is not None:
        apply_geometry(places, geometry, {d.code for d in divisions})
    return CountyGeo(divisions, shapes[0], places)


def locality_rows(geo: CountyGeo, extra: dict[str, dict[str, object]]) -> list[dict[str, object]]:
    """localities.csv rows: the divisions, their positions and the per-code extra columns."""
    rows: list[dict[str, object]] = []
    for d in geo.divisions:
        row: dict[str, object] = {"code": d.code, "name": d.name, "level": d.level, "parent": d.parent, "kind": d.kind}
        if d.code in geo.places.points:
            row["lon"], row["lat"], row["position"] = geo.places.points[d.code]
        row.update(extra.get(d.code, {}))
        rows.append(row)
    return rows


def spread(total: int, sizes: list[int], lo: int, hi: int) -> list[int]:
    """Split ``total`` over groups in proportion to ``sizes``, each between ``lo`` and min(``hi``, size)."""
    caps = [min(hi, s) for s in sizes]
    out = [min(lo, c) for c in caps]
    left = total - sum(out)
    if left < 0 or left > sum(caps) - sum(out):
        raise ValueError(f"cannot split {total} over groups of sizes {sizes} within [{lo}, {hi}]")
    while left > 0:
        # the group furthest below its proportional share gets the next one
        share = [total * s / sum(sizes) - o if o < c else -1e9 for s, o, c in zip(sizes, out, caps)]
        i = int(np.argmax(share))
        out[i] += 1
        left -= 1
    return out
