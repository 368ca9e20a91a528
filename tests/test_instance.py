"""read_instance on the tiny instance: the Instance API that the other modules code against."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from matcher.errors import InstanceError
from matcher.instance import ANCESTOR_LEVELS, Instance, read_instance


def test_tables_have_documented_index_and_columns(tiny: Instance) -> None:
    assert tiny.localities.index.name == "code"
    assert tiny.targets.index.name == "id"
    assert tiny.units.index.name == "id"
    assert tiny.people.index.name == "id"
    assert isinstance(tiny.incumbents.index, pd.RangeIndex)
    for col in ("name", "level", "parent", "kind", "poverty_class", "population", "ethnic_groups", "needs",
                "lon", "lat", "position", *ANCESTOR_LEVELS):
        assert col in tiny.localities.columns, col
    for col in ("kind", "locality", "category", "poverty_class", "needs", "size", *ANCESTOR_LEVELS):
        assert col in tiny.targets.columns, col
    for col in ("name", "level", "locality", "function", "headcount", "strength", "area"):
        assert col in tiny.units.columns, col
    for col in ("name", "unit", "rank", "role", "gender", "birth_year", "hometown", "skills", "languages"):
        assert col in tiny.people.columns, col
    assert list(tiny.incumbents.columns[:4]) == ["tier", "helper", "target", "start_year"]


def test_types(tiny: Instance) -> None:
    loc = tiny.localities
    assert all(isinstance(c, str) and len(c) == 12 for c in loc.index)
    assert str(loc["poverty_class"].dtype) == "Int64" and not loc["poverty_class"].isna().any()
    assert str(loc["population"].dtype) == "Int64"
    assert loc.at["522727000000", "population"] is pd.NA
    assert loc.at["522728100202", "needs"] == ("water", "agriculture", "health")
    assert loc.at["520000000000", "needs"] == ()
    assert loc.at["522727200203", "ethnic_groups"] == ("Buyi", "Miao")
    assert loc["lon"].dtype == float
    assert str(tiny.units["headcount"].dtype) == "Int64"
    assert tiny.units.at["D01", "function"] == ("agriculture", "poverty_alleviation")
    assert tiny.people.at["p15", "languages"] == ("Miao", "Buyi")
    assert tiny.people.at["p01", "languages"] == ()
    assert str(tiny.incumbents["start_year"].dtype) == "Int64"
    assert tiny.targets.at["T03", "size"] == 4


def test_strength_defaults_to_headcount(tiny: Instance) -> None:
    assert tiny.units.at["D02", "strength"] == 260.0
    assert tiny.units.at["C01", "strength"] == float(tiny.units.at["C01", "headcount"])


def test_ancestor_columns(tiny: Instance) -> None:
    loc = tiny.localities
    v = "522728100202"  # 董当村 in 边外镇, 罗甸县, 黔南州
    assert loc.loc[v, ["province", "prefecture", "county", "township"]].tolist() == [
        "520000000000", "522700000000", "522728000000", "522728100000"]
    c = "522728000000"
    assert loc.at[c, "county"] == c and pd.isna(loc.at[c, "township"])
    assert pd.isna(loc.at["520000000000", "prefecture"])
    assert tiny.targets.at["T03", "township"] == "522728100000"
    assert tiny.units.at["D01", "area"] == "520000000000"
    assert tiny.units.at["F01", "area"] == "522700000000"
    assert tiny.units.at["C02", "area"] == "522727000000"


def test_ancestor_method(tiny: Instance) -> None:
    assert tiny.ancestor("522727200202", "county") == "522727000000"
    assert tiny.ancestor("522727200202", "village") == "522727200202"
    assert tiny.ancestor("522727000000", "township") is None
    assert tiny.ancestor("522727000000", "county") == "522727000000"
    with pytest.raises(KeyError):
        tiny.ancestor("999", "county")


def test_tree(tiny: Instance) -> None:
    t = tiny.tree
    assert t.number_of_nodes() == len(tiny.localities)
    assert t.number_of_edges() == len(tiny.localities) - 1
    assert t.nodes["522728000000"] == {"name": "罗甸县", "level": "county"}
    assert sorted(t.successors("522700000000")) == ["522701000000", "522727000000", "522728000000"]


def test_positions_for_every_locality(tiny: Instance) -> None:
    pos = tiny.positions
    assert list(pos.columns) == ["lon", "lat", "schematic"]
    assert set(pos.index) == set(tiny.localities.index)
    assert not pos[["lon", "lat"]].isna().any().any()
    # own position kept
    assert pos.at["522728100202", "lon"] == pytest.approx(106.578)
    # a county without lon/lat takes its polygon's centroid: inside the polygon, not the children's mean
    from shapely.geometry import Point

    counties = tiny.geometry("counties")
    poly = counties.set_index("code").geometry["522728000000"]
    p = pos.loc["522728000000"]
    assert poly.contains(Point(p["lon"], p["lat"]))
    assert (p["lon"], p["lat"]) == pytest.approx((poly.centroid.x, poly.centroid.y))
    # a prefecture without lon/lat and without a polygon takes its children's mean
    kids = ["522701000000", "522727000000", "522728000000"]
    assert pos.at["522700000000", "lon"] == pytest.approx(pos.loc[kids, "lon"].mean())
    assert pos["schematic"].dtype == bool


def test_geometry_layer(tiny: Instance) -> None:
    g = tiny.geometry("counties")
    assert g is not None and g.crs.to_epsg() == 4326
    assert sorted(g["code"]) == ["522727000000", "522728000000"]
    assert tiny.geometry("townships") is None
    assert tiny.geometry("counties") is g  # read once


def test_no_warnings_and_scheme_untouched(tiny: Instance, tiny_path: Path) -> None:
    import tomllib

    assert tiny.warnings == []
    assert tiny.scheme == tomllib.loads((tiny_path / "scheme.toml").read_text("utf-8"))
    assert tiny.plan_year == 2012


def test_villages_lie_in_their_county_polygon(tiny: Instance) -> None:
    from shapely.geometry import Point

    polys = tiny.geometry("counties").set_index("code").geometry
    loc = tiny.localities
    inside = loc[loc["county"].isin(polys.index) & loc["level"].isin(["township", "village"])]
    assert len(inside) == 24
    for code, row in inside.iterrows():
        assert polys[row["county"]].contains(Point(row["lon"], row["lat"])), code


def test_extra_columns_kept_and_optional_tables_empty(tiny_path: Path, tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(tiny_path, d)
    (d / "targets.csv").unlink()
    (d / "incumbents.csv").unlink()
    text = (d / "people.csv").read_text("utf-8").splitlines()
    text = [text[0] + ",party_member"] + [line + (",yes" if i % 2 else ",") for i, line in enumerate(text[1:])]
    (d / "people.csv").write_text("\n".join(text) + "\n", "utf-8")
    inst = read_instance(d)
    assert inst.targets.empty and "kind" in inst.targets.columns and inst.targets.index.name == "id"
    assert inst.incumbents.empty and list(inst.incumbents.columns) == ["tier", "helper", "target", "start_year"]
    assert pd.isna(inst.people.at["p01", "party_member"]) and inst.people.at["p02", "party_member"] == "yes"


def test_bom_and_crlf_accepted(tiny_path: Path, tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(tiny_path, d)
    raw = (d / "units.csv").read_bytes()
    (d / "units.csv").write_bytes(b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n"))
    inst = read_instance(d)
    assert list(inst.units.index) == ["D01", "D02", "D03", "F01", "C01", "C02"]


def test_workbook_path_or_folder(tiny_path: Path) -> None:
    xdir = tiny_path.parent / "tiny-xlsx"
    a = read_instance(xdir)
    b = read_instance(xdir / "instance.xlsx")
    pd.testing.assert_frame_equal(a.people, b.people)
    assert a.path == b.path == xdir


def test_validate_false_loads_a_broken_instance(tiny_path: Path, tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(tiny_path, d)
    p = d / "units.csv"
    p.write_text(p.read_text("utf-8").replace(",25,", ",two,"), "utf-8")
    with pytest.raises(InstanceError):
        read_instance(d)
    inst = read_instance(d, validate=False)
    assert inst.units.at["C01", "headcount"] is pd.NA


def test_missing_folder_is_an_instance_error(tmp_path: Path) -> None:
    with pytest.raises(InstanceError) as e:
        read_instance(tmp_path / "nope")
    assert "no such folder" in str(e.value)


def test_summary(tiny: Instance) -> None:
    s = tiny.summary()
    assert "village 18" in s and "residents_committee 6" in s and "village_committee 12" in s
    assert "division 6, section 6, staff 11" in s
    assert "incumbents 4: county 1, township 1, village 2 (4 in force in 2012, 0 ended)" in s
    assert "部门帮县" in s and "nested in county" in s
    assert len(s.splitlines()) <= 30


def test_position_derivation_rules(tiny_path: Path, tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(tiny_path, d)
    p = d / "localities.csv"
    text = p.read_text("utf-8")
    # a surveyed village keeps its own point and is not schematic
    text = text.replace("106.5780,25.6210,schematic", "106.5780,25.6210,surveyed")
    # a village without lon/lat and without children takes its township's position
    text = text.replace("106.8110,25.3960,schematic", ",,")
    p.write_text(text, "utf-8")
    # without county polygons a county takes its children's mean
    (d / "geometry" / "counties.geojson").unlink()
    inst = read_instance(d)
    pos = inst.positions
    assert not pos.at["522728100202", "schematic"]
    assert tuple(pos.loc["522728101202", ["lon", "lat"]]) == tuple(pos.loc["522728101000", ["lon", "lat"]])
    assert pos.at["522728101202", "schematic"]
    kids = inst.localities.index[inst.localities["parent"] == "522727000000"]
    assert pos.at["522727000000", "lat"] == pytest.approx(pos.loc[kids, "lat"].mean())
    assert pos.loc[["522727000000", "522700000000", "520000000000"], "schematic"].all()


def test_geometry_from_geopackage(tiny_path: Path, tiny: Instance, tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(tiny_path, d)
    gdf = tiny.geometry("counties")
    (d / "geometry" / "counties.geojson").unlink()
    gdf.to_file(d / "geometry" / "geometry.gpkg", layer="counties", driver="GPKG")
    inst = read_instance(d)
    assert sorted(inst.geometry("counties")["code"]) == ["522727000000", "522728000000"]
    pd.testing.assert_frame_equal(inst.positions, tiny.positions)


def test_summary_counts_ended_incumbents(tiny_path: Path, tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(tiny_path, d)
    p = d / "incumbents.csv"
    p.write_text(p.read_text("utf-8").replace("village,p12,522727200202,2010", "village,p12,522727200202,2009"),
                 "utf-8")
    assert "(3 in force in 2012, 1 ended)" in read_instance(d).summary()
