"""The shipped real instances: counts, polygons, feasibility of the default, shortage of guizhou-short, term variants."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from shapely.geometry import Point, shape

from matcher.build.feasibility import (
    feasibility_problems,
    village_shortage,
    witness_problems,
)

ROOT = Path(__file__).resolve().parents[1] / "instances"
GZ = ROOT / "guizhou"


def read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def gz() -> dict[str, pd.DataFrame]:
    return {n: read(GZ, f"{n}.csv") for n in ("localities", "units", "people")}


def test_guizhou_localities_match_the_2023_divisions(gz: dict[str, pd.DataFrame]) -> None:
    loc = gz["localities"]
    assert loc.level.value_counts().to_dict() == {"province": 1, "prefecture": 9, "county": 88, "township": 1510, "village": 17964}
    assert (loc.kind == "subdistrict").sum() == 365
    assert (loc.kind == "village_committee").sum() == 13689
    assert (loc.kind == "residents_committee").sum() == 4275
    assert loc.code.str.len().eq(12).all() and loc.code.is_unique
    assert ((loc.level == "county") & (loc.poverty_class == "1")).sum() == 50
    v1 = loc[(loc.level == "village") & (loc.poverty_class == "1")]
    assert len(v1) == 5486 and (v1.kind == "village_committee").all()
    # more class-1 villages in poverty counties: their share of class-1 exceeds their share of villages
    county_of_township = dict(zip(loc.code[loc.level == "township"], loc.parent[loc.level == "township"]))
    poor = set(loc.code[(loc.level == "county") & (loc.poverty_class == "1")])
    vc = loc[loc.kind == "village_committee"]
    in_poor = vc.parent.map(county_of_township).isin(poor)
    assert (in_poor & (vc.poverty_class == "1")).sum() / 5486 > in_poor.mean() + 0.1


def test_guizhou_helpers_match_the_2012_program(gz: dict[str, pd.DataFrame]) -> None:
    units, people = gz["units"], gz["people"]
    assert (units.level == "province").sum() == 101
    assert units.name[units.level == "province"].is_unique
    level = people.unit.map(dict(zip(units.id, units.level)))
    assert ((people["rank"] == "division") & (level == "province")).sum() == 2829
    assert people["rank"].isin(["section", "staff"]).sum() == 23168
    assert set(units.level) == {"province", "prefecture", "county"}
    # provincial departments sit in Guiyang's districts
    assert units.locality[units.level == "province"].str.startswith("5201").all()
    # staff of units in Miao/Dong/Buyi/Shui ... areas often speak the language
    seat = people.unit.map(dict(zip(units.id, units.locality)))
    qdn = people[seat.str.startswith("5226") & (level == "county")]
    assert (qdn.languages.str.contains("Miao|Dong")).mean() > 0.3
    assert people.id.is_unique and not set(people.id) & set(units.id)


def test_every_guizhou_county_has_a_polygon_holding_its_townships(gz: dict[str, pd.DataFrame]) -> None:
    fc = json.loads((GZ / "geometry" / "counties.geojson").read_text(encoding="utf-8"))
    polys = {f["properties"]["code"]: shape(f["geometry"]) for f in fc["features"]}
    loc = gz["localities"]
    assert set(polys) == set(loc.code[loc.level == "county"])
    assert all(p.is_valid for p in polys.values())
    renamed = {f["properties"]["code"]: f["properties"]["source_name"] for f in fc["features"]}
    names = {f["properties"]["code"]: f["properties"]["name"] for f in fc["features"]}
    assert names == dict(zip(loc.code[loc.level == "county"], loc.name[loc.level == "county"]))
    assert renamed["520281000000"] == "盘县" and renamed["520204000000"] == "水城县"
    assert renamed["520581000000"] == "黔西县" and renamed["522302000000"] == "兴仁县"
    tw = loc[loc.level == "township"]
    inside = [polys[p].buffer(1e-6).contains(Point(float(x), float(y))) for p, x, y in zip(tw.parent, tw.lon, tw.lat)]
    assert all(inside)
    assert (loc.position[loc.level.isin(["township", "village"])] == "schematic").all()
    pf = json.loads((GZ / "geometry" / "prefectures.geojson").read_text(encoding="utf-8"))
    assert sorted(f["properties"]["code"] for f in pf["features"]) == sorted(loc.code[loc.level == "prefecture"])
    assert all(shape(f["geometry"]).is_valid for f in pf["features"])
    cells = json.loads((GZ / "geometry" / "townships.geojson").read_text(encoding="utf-8"))["features"]
    assert sorted(f["properties"]["code"] for f in cells) == sorted(tw.code)
    assert all(f["properties"]["schematic"] is True and shape(f["geometry"]).is_valid for f in cells)


def test_default_guizhou_is_feasible_by_counting() -> None:
    assert feasibility_problems(GZ) == []


def test_the_2012_plan_satisfies_the_default_scheme_and_a_broken_one_is_caught() -> None:
    links = read(ROOT / "guizhou-2015", "incumbents.csv")
    assert len(links) == 101 + 2829 + 23168
    assert witness_problems(GZ, links) == []
    # drop the links of one class-1 village: the check must see it
    loc = read(GZ, "localities.csv")
    v1 = loc.code[(loc.level == "village") & (loc.poverty_class == "1")].iloc[0]
    broken = links[links.target != v1]
    problems = witness_problems(GZ, broken)
    assert any(v1 in p for p in problems)


def test_guizhou_short_is_short_by_about_280() -> None:
    short = village_shortage(ROOT / "guizhou-short", ("village_committee", "residents_committee"))
    assert 250 <= short <= 300
    scheme = tomllib.loads((ROOT / "guizhou-short" / "scheme.toml").read_text(encoding="utf-8"))
    village = next(t for t in scheme["tiers"] if t["id"] == "village")
    assert set(village["targets"]["kind"]) == {"village_committee", "residents_committee"}
    # the default targets only village committees and leaves room
    assert village_shortage(GZ, ("village_committee",)) < -3000


def test_guizhou_2013_departures_leave_vacancies_and_newcomers() -> None:
    f = ROOT / "guizhou-2013"
    people, inc, dep = read(f, "people.csv"), read(f, "incumbents.csv"), read(f, "departures.csv")
    scheme = tomllib.loads((f / "scheme.toml").read_text(encoding="utf-8"))
    assert scheme["program"]["plan_year"] == 2013
    assert people["rank"].eq("division").sum() == 2829 and people["rank"].isin(["section", "staff"]).sum() == 23168
    assert set(dep.reason) <= {"promoted", "ill", "transferred", "retired"}
    assert 0.035 < len(dep) / (2829 + 23168) < 0.045
    assert not set(dep.id) & set(people.id) and not set(dep.id) & set(inc.helper)
    assert (inc.start_year == "2012").all()
    unlinked = set(people.id) - set(inc.helper)
    assert len(unlinked) == len(dep)
    # each vacancy's unit got a newcomer of the same rank
    unit_of = dict(zip(people.id, people.unit))
    assert sorted(unit_of[p] for p in unlinked) == sorted(dep.unit)


def test_guizhou_2015_term_has_ended_and_nobody_may_return() -> None:
    f = ROOT / "guizhou-2015"
    scheme = tomllib.loads((f / "scheme.toml").read_text(encoding="utf-8"))
    year, term = scheme["program"]["plan_year"], scheme["program"]["term_years"]
    inc = read(f, "incumbents.csv")
    assert not ((inc.start_year.astype(int) <= year) & (year < inc.start_year.astype(int) + term)).any()
    assert set(scheme["terms"]["no_return"]) == {"county", "township", "village"}
    assert read(f, "people.csv").equals(read(GZ, "people.csv"))


def test_baoxing_rosters_and_nesting_fit() -> None:
    f = ROOT / "baoxing"
    loc, people, units, tg = read(f, "localities.csv"), read(f, "people.csv"), read(f, "units.csv"), read(f, "targets.csv")
    assert loc.code[loc.level == "county"].tolist() == ["511827000000"]
    assert (loc.level == "township").sum() == 7 and (loc.level == "village").sum() == 38
    leaders = people[people.role == "county_leader"]
    assert len(leaders) == 26 and (leaders["rank"] == "division").all()
    chiefs = people[people.role == "section_chief"]
    assert len(chiefs) == 64 and (chiefs["rank"] == "section").all()
    assert (units.kind == "department").sum() == 30
    deep = tg[tg.category == "deep_poverty"]
    assert len(deep) == 26 and deep.locality.is_unique
    assert ((tg.kind == "household") & (tg.category == "poor")).sum() == 64 and (tg.kind == "party_member").sum() == 64
    # leaders' nested links fit: every township holds 1-5 of the leaders' household villages
    township = dict(zip(loc.code, loc.parent))
    per_town = deep.locality.map(township).value_counts()
    assert set(per_town.index) == set(loc.code[loc.level == "township"]) and per_town.max() <= 5
    class1 = set(loc.code[loc.poverty_class == "1"])
    assert class1 <= set(deep.locality)
    assert loc.needs.str.contains("mining").any() and units.function.str.contains("mining").any()


def test_xuchang_jianan_counts() -> None:
    f = ROOT / "xuchang-jianan"
    loc, people, tg = read(f, "localities.csv"), read(f, "people.csv"), read(f, "targets.csv")
    assert loc.code[loc.level == "county"].tolist() == ["411003000000"]
    assert len(people) == 478 and (people.role == "county_leader").sum() == 29
    assert len(tg) == 362 and (tg.category == "key").sum() == 58
    assert set(tg.category) == {"key", "difficult", "promising", "upgrading"}
    assert (tg.locality.map(dict(zip(loc.code, loc.level))) == "township").all()


@pytest.mark.parametrize("name", ["guizhou", "guizhou-2013", "baoxing", "xuchang-jianan"])
def test_shipped_instances_load(name: str) -> None:
    from matcher.instance import read_instance

    inst = read_instance(ROOT / name)
    assert inst is not None


def test_guizhou_2013_vacancies_can_be_refilled_by_the_newcomers() -> None:
    # pair each departure with the newcomer created for it (ids in the same order): the refilled
    # plan must satisfy every hard rule, so the mid-term instance is feasible with pinned incumbents
    f = ROOT / "guizhou-2013"
    people, inc, dep = read(f, "people.csv"), read(f, "incumbents.csv"), read(f, "departures.csv")
    newcomers = sorted(set(people.id) - set(inc.helper))
    refill = pd.DataFrame({"tier": dep.sort_values("id").tier.values, "helper": newcomers,
                           "target": dep.sort_values("id").target.values})
    links = pd.concat([inc[["tier", "helper", "target"]], refill], ignore_index=True)
    assert witness_problems(f, links) == []
