"""Counting arguments on a built Guizhou instance: why the default is feasible and guizhou-short is not.

These read the instance's own CSV files, so the tests check what is shipped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(Path(folder) / name, dtype=str, keep_default_na=False)


@dataclass
class GuizhouCounts:
    """Per-county figures of the village and township tiers."""

    slots: dict[str, int]          # village slots: coverage_min + class-1 extra, per county
    class1: dict[str, int]         # class-1 villages per county
    towns: dict[str, int]          # towns and townships (not subdistricts) per county
    county_staff: dict[str, int]   # section/staff of the county's own agencies
    county_sections: dict[str, int]
    prefecture_staff: dict[str, int]   # section/staff of prefecture agencies, per prefecture code
    provincial_staff: int
    officials: int
    staff: int


def guizhou_counts(folder: Path, village_kinds: tuple[str, ...] = ("village_committee",)) -> GuizhouCounts:
    """Count a Guizhou instance's village slots and the staff who may fill them, per county and prefecture."""
    loc = _read(folder, "localities.csv")
    units = _read(folder, "units.csv").set_index("id")
    people = _read(folder, "people.csv")
    parent = dict(zip(loc.code, loc.parent))
    level = dict(zip(loc.code, loc.level))

    def county_of(code: str) -> str:
        while level[code] not in ("county",):
            code = parent[code]
        return code

    v = loc[(loc.level == "village") & loc.kind.isin(village_kinds)]
    slots: dict[str, int] = defaultdict(int)
    class1: dict[str, int] = defaultdict(int)
    for code, pc in zip(v.code, v.poverty_class):
        c = county_of(code)
        slots[c] += 2 if pc == "1" else 1
        class1[c] += pc == "1"
    t = loc[(loc.level == "township") & (loc.kind != "subdistrict")]
    towns: dict[str, int] = defaultdict(int)
    for p in t.parent:
        towns[p] += 1
    st = people[people["rank"].isin(["section", "staff"])]
    ulevel = st.unit.map(units["level"])
    useat = st.unit.map(units["locality"])
    county_staff: dict[str, int] = defaultdict(int)
    county_sections: dict[str, int] = defaultdict(int)
    pref_staff: dict[str, int] = defaultdict(int)
    for lv, seat, rank in zip(ulevel, useat, st["rank"]):
        if lv == "county":
            c = county_of(seat)
            county_staff[c] += 1
            county_sections[c] += rank == "section"
        elif lv == "prefecture":
            pref_staff[parent[county_of(seat)]] += 1
    return GuizhouCounts(
        dict(slots), dict(class1), dict(towns), dict(county_staff), dict(county_sections), dict(pref_staff),
        provincial_staff=int((ulevel == "province").sum()),
        officials=int(((people["rank"] == "division") & (people.unit.map(units["level"]) == "province")).sum()),
        staff=len(st),
    )


def feasibility_problems(folder: Path) -> list[str]:
    """Why the village and township tiers can be filled, whatever departments the solver sends where.
    Source: 干部驻村 with county staff staying in their county and prefecture staff in their
    prefecture: if, in every prefecture, the counties' shortfalls beyond their own agencies'
    staff add up to no more than the prefecture agencies' staff, every village slot can be
    filled without the provincial staff (who add on top, nested in their department's county).
    Class-1 villages need a section-level cadre: each county's own agencies have enough.
    Returns the broken arguments in words (empty: feasible by these counts).
    """
    k = guizhou_counts(folder)
    out: list[str] = []
    deficit: dict[str, int] = defaultdict(int)
    for c, s in k.slots.items():
        deficit[c[:4] + "00000000"] += max(0, s - k.county_staff.get(c, 0))
    for p, d in sorted(deficit.items()):
        if d > k.prefecture_staff.get(p, 0):
            out.append(f"prefecture {p}: counties short of {d} staff beyond their own, prefecture agencies have {k.prefecture_staff.get(p, 0)}")
    for c, n1 in sorted(k.class1.items()):
        if k.county_sections.get(c, 0) < n1:
            out.append(f"county {c}: {n1} class-1 villages, {k.county_sections.get(c, 0)} section-level county staff")
    n_towns = sum(k.towns.values())
    if not n_towns <= k.officials <= 3 * n_towns:
        out.append(f"{k.officials} officials for {n_towns} townships (each township 1 to 3)")
    for c, s in k.slots.items():
        if k.towns.get(c, 0) < 1:
            out.append(f"county {c}: no town or township for its department's officials")
    units = _read(folder, "units.csv")
    people = _read(folder, "people.csv")
    listed = people.groupby("unit").size()
    for uid, hc in zip(units.id, units.headcount):
        if int(hc) < 3 * int(listed.get(uid, 0)):
            out.append(f"unit {uid}: headcount {hc} below 3 x {int(listed.get(uid, 0))} listed people (unit share 1/3)")
    return out


def village_shortage(folder: Path, village_kinds: tuple[str, ...]) -> int:
    """Village slots (coverage_min and class-1 minimums) minus all section/staff: > 0 means short whatever the plan."""
    k = guizhou_counts(folder, village_kinds)
    return sum(k.slots.values()) - k.staff


def witness_problems(folder: Path, links: pd.DataFrame) -> list[str]:
    """Check a Guizhou plan (tier, helper, target rows) against the default scheme's hard rules.
    Source: the 2012 links the generator builds (shipped as guizhou-2015's incumbents) are the
    witness that the default instance is feasible: full coverage, class-1 minimums and
    composition, one link per helper, nesting, stay-in-area, hometown avoidance, unit share.
    """
    loc = _read(folder, "localities.csv")
    units = _read(folder, "units.csv").set_index("id")
    people = _read(folder, "people.csv").set_index("id")
    parent = dict(zip(loc.code, loc.parent))
    level = dict(zip(loc.code, loc.level))
    kind = dict(zip(loc.code, loc.kind))
    pclass = dict(zip(loc.code, loc.poverty_class))
    p_unit: dict[str, str] = dict(zip(people.index, people.unit))
    p_home: dict[str, str] = dict(zip(people.index, people.hometown))
    u_level: dict[str, str] = dict(zip(units.index, units.level))
    u_seat: dict[str, str] = dict(zip(units.index, units.locality))
    u_hc: dict[str, int] = {str(k): int(v) for k, v in zip(units.index, units.headcount)}

    def up(code: str, lv: str) -> str:
        while code in level and level[code] != lv:
            code = parent.get(code, "")
        return code

    out: list[str] = []
    by_tier = {t: g for t, g in links.groupby("tier")}
    cty = by_tier.get("county", links.iloc[:0])
    dept_counties: dict[str, set[str]] = defaultdict(set)
    for h, t in zip(cty.helper, cty.target):
        dept_counties[h].add(t)
    prov_units = set(units.index[units.level == "province"])
    counties = set(loc.code[loc.level == "county"])
    n_per_county = cty.groupby("target").size()
    for c in sorted(counties):
        if not 1 <= int(n_per_county.get(c, 0)) <= 2:
            out.append(f"county {c}: {int(n_per_county.get(c, 0))} departments (1-2 expected)")
    for u in sorted(prov_units):
        if len(dept_counties.get(u, ())) != 1:
            out.append(f"department {u}: {len(dept_counties.get(u, ()))} counties (1 expected)")

    tw = by_tier.get("township", links.iloc[:0])
    officials = set(people.index[(people["rank"] == "division") & people.unit.isin(prov_units)])
    if set(tw.helper) != officials or tw.helper.duplicated().any():
        out.append("township tier: not every provincial division official has exactly one township")
    towns = set(loc.code[(loc.level == "township") & (loc.kind != "subdistrict")])
    per_town = tw.groupby("target").size()
    for t in sorted(towns):
        if not 1 <= int(per_town.get(t, 0)) <= 3:
            out.append(f"township {t}: {int(per_town.get(t, 0))} officials (1-3 expected)")
    for h, t in zip(tw.helper, tw.target):
        c = up(t, "county")
        if t not in towns:
            out.append(f"official {h}: target {t} is not a town or township")
        if c not in dept_counties.get(p_unit[h], set()):
            out.append(f"official {h}: township {t} outside his department's county (nesting)")
        if up(p_home[h], "county") == c:
            out.append(f"official {h}: township {t} in his home county")

    vl = by_tier.get("village", links.iloc[:0])
    staff = set(people.index[people["rank"].isin(["section", "staff"])])
    if set(vl.helper) != staff or vl.helper.duplicated().any():
        out.append("village tier: not every section/staff person has exactly one village")
    vcs = loc.code[(loc.level == "village") & (loc.kind == "village_committee")]
    per_v = vl.groupby("target").size()
    sec = vl[vl.helper.map(people["rank"]) == "section"].groupby("target").size()
    for v in vcs:
        need = 2 if pclass[v] == "1" else 1
        n = int(per_v.get(v, 0))
        if not need <= n <= 4:
            out.append(f"village {v}: {n} staff ({need}-4 expected)")
        if pclass[v] == "1" and int(sec.get(v, 0)) < 1:
            out.append(f"class-1 village {v}: no section-level cadre")
    for h, v in zip(vl.helper, vl.target):
        u = p_unit[h]
        ulv = u_level[u]
        seat = u_seat[u]
        if kind.get(v) != "village_committee":
            out.append(f"staff {h}: target {v} is not a village committee")
        if ulv == "county" and up(v, "county") != up(seat, "county"):
            out.append(f"staff {h}: village {v} outside his county agency's county")
        if ulv == "prefecture" and up(v, "prefecture") != up(seat, "prefecture"):
            out.append(f"staff {h}: village {v} outside his prefecture agency's prefecture")
        if ulv == "province" and up(v, "county") not in dept_counties.get(u, set()):
            out.append(f"staff {h}: village {v} outside his department's county (nesting)")
        if up(p_home[h], "township") == up(v, "township"):
            out.append(f"staff {h}: village {v} in his home township")
    linked = vl.helper.map(people["unit"]).value_counts()
    for u, n in linked.items():
        if n > int(0.3334 * u_hc[str(u)]):
            out.append(f"unit {u}: {n} stationed, above a third of headcount {u_hc[str(u)]}")
    return out
