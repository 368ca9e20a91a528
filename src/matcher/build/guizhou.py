"""Guizhou 帮联驻 (2012) on the 2023 map: geography, synthetic rosters, a feasible 2012 plan, term variants.

Source: 贵州日报 2012-12-05: 101个省直部门挂帮88个县, 2829名处级干部联系1446个乡镇,
23168名县级以上机关单位干部进驻17672个行政村; 一驻三年不变; 一类贫困村每村2人.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from matcher.build import rosters
from matcher.build.geography import (
    CountyShape,
    Division,
    read_county_shapes,
    read_divisions,
)
from matcher.build.places import Places, place_localities
from matcher.build.sources import PackageReader

SEED = 2012
PROVINCE = "52"
N_DEPARTMENTS = 101
N_OFFICIALS = 2829
N_STAFF = 23168
N_CLASS1 = 5486
N_POVERTY_COUNTIES = 50
N_DOUBLE_COUNTIES = N_DEPARTMENTS - 88
SHARE_PROVINCIAL, SHARE_PREFECTURE = 0.08, 0.12   # of a county's stationed staff; the rest county agencies
SECTION_SHARE = 0.35
DEPARTURE_SHARE = 0.04
TERM_YEARS = 3

ECHARTS_FILES = [
    "gui4_zhou1_an1_shun4.geojson", "gui4_zhou1_bi4_jie2.geojson", "gui4_zhou1_gui4_yang2.geojson",
    "gui4_zhou1_liu4_pan2_shui3.geojson", "gui4_zhou1_qian2_dong1_nan2_miao2_zu2_tong1_zu2_zi4_zhi4_zhou1.geojson",
    "gui4_zhou1_qian2_nan2_bu4_yi1_zu2_miao2_zu2_zi4_zhi4_zhou1.geojson",
    "gui4_zhou1_qian2_xi1_nan2_bu4_yi1_zu2_miao2_zu2_zi4_zhi4_zhou1.geojson",
    "gui4_zhou1_tong2_ren2.geojson", "gui4_zhou1_zun1_yi4.geojson",
]

# the prefecture's government seat (a district or city) and its short name for agency names
PREFECTURE_SEAT = {
    "5201": ("520115", "贵阳市"), "5202": ("520201", "六盘水市"), "5203": ("520302", "遵义市"),
    "5204": ("520402", "安顺市"), "5205": ("520502", "毕节市"), "5206": ("520602", "铜仁市"),
    "5223": ("522301", "黔西南州"), "5226": ("522601", "凯里市"), "5227": ("522701", "都匀市"),
}
PREFECTURE_SHORT = {"5226": "黔东南州", "5227": "黔南州"}
PROVINCIAL_SEATS = ["520102000000", "520103000000", "520115000000"]  # 南明区, 云岩区, 观山湖区
GUIYANG_DISTRICTS = {"520102", "520103", "520111", "520112", "520113", "520115"}

# counties where mining is a main activity (coal in the west, phosphate, mercury, bauxite)
MINING_COUNTIES = {
    "520201", "520203", "520204", "520281", "520525", "520524", "520523", "520581", "520521", "520526",
    "520527", "522323", "522324", "522302", "520330", "520322", "520121", "522702", "520603", "520181",
}
# counties known for tourism (Huangguoshu, Libo, Xijiang, Fanjingshan, Zhenyuan, Chishui ...)
TOURISM_COUNTIES = {
    "522722", "520423", "522634", "520381", "522625", "520621", "522631", "520402", "520111", "522727",
    "522633", "522301", "520424", "522623", "520328",
}
VILLAGE_EXTRA_NEEDS = ["water", "transport", "education", "health", "housing", "ecommerce", "forestry", "labour"]


@dataclass
class Person:
    """A listed person of the Guizhou rosters (before writing)."""

    id: str
    name: str
    unit: str
    rank: str
    role: str
    gender: str
    birth_year: int
    hometown: str
    skills: str
    languages: str
    county: str = ""        # witness county (where the 2012 plan sends him)


@dataclass
class World:
    """Everything the Guizhou variants share."""

    divisions: list[Division]
    shapes: list[CountyShape]
    places: Places
    localities: list[dict[str, object]]
    units: list[dict[str, object]]
    people: list[Person]
    links_2012: dict[str, list[tuple[str, str]]]
    dept_county_2015: dict[str, str]
    facts: dict[str, object] = field(default_factory=dict)


def _largest_remainder(total: int, weights: list[float], caps: list[int] | None = None) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder), respecting caps."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(int)
    if caps is not None:
        out = np.minimum(out, caps)
    rem = raw - np.floor(raw)
    order = sorted(range(len(w)), key=lambda i: (-rem[i], i))
    left = total - int(out.sum())
    while left > 0:
        progressed = False
        for i in order:
            if left == 0:
                break
            if caps is None or out[i] < caps[i]:
                out[i] += 1
                left -= 1
                progressed = True
        if not progressed:
            raise ValueError("caps leave no room for the total")
    return [int(x) for x in out]


def poverty_counties(counties: list[Division], rng: np.random.Generator) -> set[str]:
    """50 synthetic national poverty counties (国家扶贫开发工作重点县), weighted to ethnic autonomous areas.
    Source: Guizhou had 50 national key poverty counties in 2012; the real list was not
    established here, so the 50 are drawn (seeded) outside Guiyang's districts and the
    prefecture seats, with ethnic autonomous areas twice as likely.
    """
    seats = {v[0] for v in PREFECTURE_SEAT.values()}
    cand = [d for d in counties if d.code[:6] not in GUIYANG_DISTRICTS and d.code[:6] not in seats]
    w = np.array([1.0 + (1.5 if rosters.ethnic_groups_of(d.name) or d.parent[:4] in ("5223", "5226", "5227") else 0.0)
                  for d in cand])
    idx = rng.choice(len(cand), size=N_POVERTY_COUNTIES, replace=False, p=w / w.sum())
    return {cand[int(i)].code for i in idx}


def department_slots(T: dict[str, int], double: set[str], total: int) -> tuple[list[tuple[str, int]], list[list[int]]]:
    """Slots for departments (a county, or half of a two-department county) with official counts, and rotation groups.
    Source: 部门帮县 with 处长联乡 nested: a county's officials must lie between 1x and 3x its
    townships, in 2012 and again after rotation (2015). Slots are grouped by size; the
    departments of a group trade places at rotation, so each official count fits the
    windows of every slot of its group. Returns ([(county, officials)], groups of slot indices).
    """
    raw: list[tuple[int, int, str]] = []
    for c in sorted(T):
        t = T[c]
        if c in double:
            raw += [(math.ceil(t / 2), (3 * t) // 2, c)] * 2
        else:
            raw.append((t, 3 * t, c))
    raw.sort()
    left = list(range(len(raw)))
    groups: list[list[int]] = []
    while left:
        a = left.pop(0)
        j = next((k for k in left if raw[k][2] != raw[a][2]), None)
        if j is None:
            groups[-1].append(a)
            break
        left.remove(j)
        groups.append([a, j])
    if len(groups[-1]) == 2 and len(raw) % 2:
        pass
    lo = [0] * len(raw)
    hi = [0] * len(raw)
    for g in groups:
        glo = max(raw[k][0] for k in g)
        ghi = min(raw[k][1] for k in g)
        if glo > ghi or len({raw[k][2] for k in g}) < len(g):
            raise ValueError(f"rotation group {[raw[k] for k in g]} has no common official count")
        for k in g:
            lo[k], hi[k] = glo, ghi
    extra = _largest_remainder(total - sum(lo), [max(h - l_, 0) + 1e-9 for l_, h in zip(lo, hi)],
                               caps=[h - l_ for l_, h in zip(lo, hi)])
    return [(raw[k][2], lo[k] + extra[k]) for k in range(len(raw))], groups


def build_world(cd: PackageReader, ec: PackageReader, simplify_deg: float = 0.001) -> World:
    """Read the divisions and polygons, place localities and build the 2012 rosters and plan."""
    divisions = read_divisions(cd, PROVINCE)
    counties = [d for d in divisions if d.level == "county"]
    shapes = read_county_shapes(ec, ECHARTS_FILES, counties)
    for s in shapes:
        s.wgs84 = s.wgs84.simplify(simplify_deg, preserve_topology=True)
    places = place_localities(divisions, shapes)
    rng = np.random.Generator(np.random.PCG64(SEED))
    by_code = {d.code: d for d in divisions}

    # ---------------------------------------------------------------- poverty and needs
    poor_counties = poverty_counties(counties, rng)
    county_of = {}
    for d in divisions:
        if d.level == "township":
            county_of[d.code] = d.parent
        elif d.level == "village":
            county_of[d.code] = by_code[d.parent].parent
    vcs = [d for d in divisions if d.level == "village" and d.kind == "village_committee"]
    wv = np.array([(0.2 if county_of[v.code][:6] in GUIYANG_DISTRICTS else 1.0)
                   * (3.0 if county_of[v.code] in poor_counties else 1.0) for v in vcs])
    class1 = {vcs[int(i)].code for i in rng.choice(len(vcs), size=N_CLASS1, replace=False, p=wv / wv.sum())}

    groups: dict[str, list[str]] = {}
    for d in divisions:
        if d.level == "province":
            groups[d.code] = []
        elif d.level in ("prefecture",):
            groups[d.code] = rosters.ethnic_groups_of(d.name)
        elif d.level == "county" or d.level == "township":
            groups[d.code] = sorted(set(groups[d.parent]) | set(rosters.ethnic_groups_of(d.name)))
        else:
            groups[d.code] = groups[d.parent]

    county_needs: dict[str, list[str]] = {}
    for cdiv in counties:
        n = {"agriculture"}
        if cdiv.code in poor_counties:
            n.add("poverty_alleviation")
        if cdiv.code[:6] in MINING_COUNTIES:
            n.add("mining")
        if cdiv.code[:6] in TOURISM_COUNTIES:
            n.add("tourism")
        if groups[cdiv.code]:
            n.add("ethnic_affairs")
        n.add(["transport", "water", "education", "health"][int(rng.integers(4))])
        county_needs[cdiv.code] = sorted(n)

    locs: list[dict[str, object]] = []
    for d in divisions:
        row: dict[str, object] = {"code": d.code, "name": d.name, "level": d.level, "parent": d.parent, "kind": d.kind}
        if d.level == "county":
            row["poverty_class"] = 1 if d.code in poor_counties else 0
            row["needs"] = county_needs[d.code]
        elif d.level == "township":
            c = county_of[d.code]
            n = {"agriculture"} if d.kind != "subdistrict" else {"housing"}
            if "mining" in county_needs[c] and rng.random() < 0.4:
                n.add("mining")
            if "tourism" in county_needs[c] and rng.random() < 0.4:
                n.add("tourism")
            row["needs"] = sorted(n)
        elif d.level == "village":
            c = county_of[d.code]
            if d.kind == "village_committee":
                n = {"agriculture"} if rng.random() < 0.85 else set()
                if "mining" in county_needs[c] and rng.random() < 0.25:
                    n.add("mining")
                if "tourism" in county_needs[c] and rng.random() < 0.2:
                    n.add("tourism")
                row["poverty_class"] = 1 if d.code in class1 else 0
                if d.code in class1:
                    n.add("poverty_alleviation")
            else:
                n = set()
                row["poverty_class"] = 0
            for _ in range(int(rng.integers(1, 3))):
                n.add(VILLAGE_EXTRA_NEEDS[int(rng.integers(len(VILLAGE_EXTRA_NEEDS)))])
            row["needs"] = sorted(n)
        if d.level != "province":
            row["ethnic_groups"] = groups[d.code]
        if d.code in places.points:
            lon, lat, pos = places.points[d.code]
            row["lon"], row["lat"], row["position"] = lon, lat, pos
        locs.append(row)

    # ---------------------------------------------------------------- per-county sizes
    towns: dict[str, list[str]] = defaultdict(list)
    vcs_of: dict[str, list[str]] = defaultdict(list)
    for d in divisions:
        if d.level == "township" and d.kind != "subdistrict":
            towns[d.parent].append(d.code)
        if d.level == "village" and d.kind == "village_committee":
            vcs_of[county_of[d.code]].append(d.code)
    ccodes = [c.code for c in counties]
    T = {c: len(towns[c]) for c in ccodes}
    P1 = {c: sum(v in class1 for v in vcs_of[c]) for c in ccodes}
    S = {c: len(vcs_of[c]) + P1[c] for c in ccodes}
    n_towns = sum(T.values())
    extra_off = _largest_remainder(N_OFFICIALS - n_towns, [T[c] for c in ccodes], caps=[2 * T[c] for c in ccodes])
    O = {c: T[c] + e for c, e in zip(ccodes, extra_off)}
    n_slots = sum(S.values())
    extra_staff = _largest_remainder(N_STAFF - n_slots, [S[c] for c in ccodes])
    N = {c: S[c] + e for c, e in zip(ccodes, extra_staff)}
    prov = {c: round(SHARE_PROVINCIAL * N[c]) for c in ccodes}
    pref = {c: round(SHARE_PREFECTURE * N[c]) for c in ccodes}
    cnty = {c: N[c] - prov[c] - pref[c] for c in ccodes}

    # ---------------------------------------------------------------- departments -> counties (2012 witness)
    double = set(sorted(ccodes, key=lambda c: (-T[c], c))[:N_DOUBLE_COUNTIES])
    slot_list, rot_groups = department_slots(T, double, N_OFFICIALS)
    halves: dict[str, int] = defaultdict(int)
    slots: list[tuple[int, int, str]] = []   # (officials, provincial staff, county)
    for c, n_off in slot_list:
        share = prov[c] if c not in double else (math.ceil(prov[c] / 2) if halves[c] == 0 else prov[c] // 2)
        halves[c] += 1
        slots.append((n_off, share, c))
    by_size = sorted(range(len(slots)), key=lambda k: (-slots[k][0], -slots[k][1], slots[k][2], k))
    dep_order = sorted(range(N_DEPARTMENTS), key=lambda i: (-rosters.GUIZHOU_DEPARTMENTS[i][2], rng.random()))
    dept_ids = [f"D{i + 1:03d}" for i in range(N_DEPARTMENTS)]
    dept_of_slot = {by_size[r]: dept_ids[i] for r, i in enumerate(dep_order)}
    dept_slot = {d: slots[k] for k, d in dept_of_slot.items()}
    dept_county = {d: s[2] for d, s in dept_slot.items()}
    dept_county_2015: dict[str, str] = {}
    for group in rot_groups:
        for gpos, gslot in enumerate(group):
            dept_county_2015[dept_of_slot[gslot]] = slots[group[(gpos + 1) % len(group)]][2]

    # ---------------------------------------------------------------- units
    units: list[dict[str, object]] = []
    people: list[Person] = []
    pid = [0]
    all_towns = sorted(d.code for d in divisions if d.level == "township")
    towns_in_county: dict[str, list[str]] = defaultdict(list)
    for t in all_towns:
        towns_in_county[county_of[t]].append(t)
    towns_in_pref: dict[str, list[str]] = defaultdict(list)
    for t in all_towns:
        towns_in_pref[county_of[t][:4]].append(t)

    def new_person(unit: str, rank: str, role: str, functions: str, hometown: str, lang_groups: list[str], p_lang: float,
                   county: str) -> Person:
        pid[0] += 1
        return Person(
            id=f"P{pid[0]:05d}", name=rosters.person_name(rng, ethnic=bool(lang_groups)), unit=unit, rank=rank, role=role,
            gender=rosters.gender(rng), birth_year=rosters.birth_year(rng, rank, 2012), hometown=hometown,
            skills=rosters.skills_for(rng, functions, rosters.SKILL_POOL),
            languages=rosters.languages_for(rng, lang_groups, p_lang), county=county,
        )

    def pick(seq: list[str]) -> str:
        return seq[int(rng.integers(len(seq)))]

    for i, (name, funcs, _w) in enumerate(rosters.GUIZHOU_DEPARTMENTS):
        did = dept_ids[i]
        n_off, n_st, c = dept_slot[did]
        avoid = {c, dept_county_2015[did]}
        listed: list[Person] = []
        for k in range(n_off):
            home = pick(all_towns)
            while county_of[home] in avoid:
                home = pick(all_towns)
            role = "处长" if k % 3 == 0 else "副处长" if k % 3 == 1 else "调研员"
            listed.append(new_person(did, "division", role, funcs, home, groups[county_of[home]], 0.3, c))
        for k in range(n_st):
            home = pick(all_towns)
            rank = "section" if rng.random() < SECTION_SHARE else "staff"
            listed.append(new_person(did, rank, "科长" if rank == "section" else "", funcs, home,
                                     groups[county_of[home]], 0.3, c))
        people += listed
        headcount = 3 * len(listed) + int(rng.integers(20, 150))
        units.append({"id": did, "name": name, "level": "province", "locality": PROVINCIAL_SEATS[i % 3],
                      "function": funcs, "headcount": headcount,
                      "strength": f"{headcount * (1.0 + 0.5 * _w):.1f}"})

    for p4, (seat6, short) in sorted(PREFECTURE_SEAT.items()):
        short = PREFECTURE_SHORT.get(p4, short)
        pcode = p4 + "00000000"
        pcs = [c for c in ccodes if c[:4] == p4]
        pool = sum(pref[c] for c in pcs)
        agency_ids = [f"F{p4}-{k + 1}" for k in range(len(rosters.PREFECTURE_AGENCIES))]
        listed_by: dict[str, list[Person]] = defaultdict(list)
        k = 0
        for c in pcs:
            for _ in range(pref[c]):
                aid = agency_ids[k % len(agency_ids)]
                funcs = rosters.PREFECTURE_AGENCIES[k % len(agency_ids)][1]
                k += 1
                rank = "section" if rng.random() < SECTION_SHARE else "staff"
                p = new_person(aid, rank, "科长" if rank == "section" else "", funcs, pick(towns_in_pref[p4]),
                               groups[pcode], 0.35, c)
                listed_by[aid].append(p)
        assert k == pool
        for j, aid in enumerate(agency_ids):
            people += listed_by[aid]
            suffix, funcs = rosters.PREFECTURE_AGENCIES[j]
            hc = 3 * len(listed_by[aid]) + int(rng.integers(15, 80))
            units.append({"id": aid, "name": short + suffix, "level": "prefecture", "locality": seat6 + "000000",
                          "function": funcs, "headcount": hc, "strength": f"{hc:.1f}"})

    for c in ccodes:
        cname = by_code[c].name
        agency_ids = [f"C{c[:6]}-{k + 1}" for k in range(len(rosters.COUNTY_AGENCIES))]
        n_sec = min(cnty[c], max(math.ceil(0.3 * cnty[c]), math.ceil(1.15 * P1[c])))
        listed_by = defaultdict(list)
        own = towns_in_county[c]
        others = towns_in_pref[c[:4]]
        for k in range(cnty[c]):
            aid = agency_ids[k % len(agency_ids)]
            funcs = rosters.COUNTY_AGENCIES[k % len(agency_ids)][1]
            rank = "section" if k < n_sec else "staff"
            home = pick(own) if rng.random() < 0.75 else pick(others)
            listed_by[aid].append(new_person(aid, rank, "科长" if rank == "section" else "", funcs, home,
                                             groups[c], 0.45, c))
        for j, aid in enumerate(agency_ids):
            people += listed_by[aid]
            suffix, funcs = rosters.COUNTY_AGENCIES[j]
            hc = 3 * len(listed_by[aid]) + int(rng.integers(10, 40))
            units.append({"id": aid, "name": cname + suffix, "level": "county", "locality": c,
                          "function": funcs, "headcount": hc, "strength": f"{hc:.1f}"})

    world = World(divisions, shapes, places, locs, units, people, {}, dept_county_2015)
    world.facts = {"T": T, "S": S, "P1": P1, "O": O, "N": N, "prov": prov, "pref": pref, "cnty": cnty,
                   "class1": class1, "poor_counties": poor_counties, "county_of": county_of, "towns": towns,
                   "vcs_of": vcs_of, "dept_county": dept_county}
    world.links_2012 = plan_links(world, dept_county, previous=None)
    # the next term is feasible too: departments rotate, nobody returns (raises if not)
    plan_links(world, dept_county_2015, previous=world.links_2012)
    return world


def plan_links(world: World, dept_county: dict[str, str],
               previous: dict[str, list[tuple[str, str]]] | None) -> dict[str, list[tuple[str, str]]]:
    """A feasible plan built greedily: departments to counties, officials to townships, staff to villages.
    Source: the 2012 links of the term variants (a simple deterministic construction, not the
    solver). Raises ``ValueError`` naming the county if a slot cannot be filled.
    """
    f = world.facts
    county_of: dict[str, str] = f["county_of"]  # type: ignore[assignment]
    towns: dict[str, list[str]] = f["towns"]  # type: ignore[assignment]
    vcs_of: dict[str, list[str]] = f["vcs_of"]  # type: ignore[assignment]
    class1: set[str] = f["class1"]  # type: ignore[assignment]
    village_township = {d.code: d.parent for d in world.divisions if d.level == "village"}
    prev_target: dict[str, str] = {}
    if previous:
        for tier in ("township", "village"):
            for h, t in previous[tier]:
                prev_target[h] = t
    unit_level = {u["id"]: u["level"] for u in world.units}
    links: dict[str, list[tuple[str, str]]] = {"county": sorted((d, c) for d, c in dept_county.items()),
                                                "township": [], "village": []}
    depts_of: dict[str, list[str]] = defaultdict(list)
    for d, c in sorted(dept_county.items()):
        depts_of[c].append(d)
    officials: dict[str, list[Person]] = defaultdict(list)
    pool: dict[str, list[Person]] = defaultdict(list)
    for p in world.people:
        lvl = unit_level[p.unit]
        c = dept_county[p.unit] if lvl == "province" else p.county
        if p.rank == "division":
            officials[c].append(p)
        else:
            pool[c].append(p)
    for c in sorted(vcs_of):
        ts = towns[c]
        offs = officials[c]
        if not len(ts) <= len(offs) <= 3 * len(ts):
            raise ValueError(f"county {c}: {len(offs)} officials for {len(ts)} townships (need between 1x and 3x)")
        for k, p in enumerate(offs):
            if county_of[p.hometown] == c:
                raise ValueError(f"county {c}: official {p.id} would serve his home county")
            t = ts[k % len(ts)]
            if prev_target.get(p.id) == t:
                t = ts[(k + 1) % len(ts)] if len(ts) > 1 else t
            links["township"].append((p.id, t))
        links["village"] += _station_county(c, sorted(vcs_of[c]), class1, pool[c], village_township, prev_target)
    for pairs in links.values():
        pairs.sort(key=lambda x: (x[1], x[0]))
    return links


def _station_county(c: str, vs: list[str], class1: set[str], pool: list[Person], village_township: dict[str, str],
                    prev_target: dict[str, str]) -> list[tuple[str, str]]:
    """Station a county's pool in its village committees: a section-level cadre in each class-1 village first,
    then one more in each class-1 village and one in every other, then the rest up to 4 per village;
    nobody in his home township or back in his previous village. Raises ``ValueError`` if stuck.
    """
    out: list[tuple[str, str]] = []
    used: set[str] = set()
    count: dict[str, int] = defaultdict(int)

    def ok(p: Person, v: str) -> bool:
        return p.hometown != village_township[v] and prev_target.get(p.id) != v

    def fill(slots_: list[str], candidates: list[Person]) -> None:
        it = 0
        for v in slots_:
            while it < len(candidates) and candidates[it].id in used:
                it += 1
            j = it
            while j < len(candidates) and (candidates[j].id in used or not ok(candidates[j], v)):
                j += 1
            if j >= len(candidates):
                raise ValueError(f"county {c}: no eligible person left for village {v}")
            used.add(candidates[j].id)
            count[v] += 1
            out.append((candidates[j].id, v))

    people = sorted(pool, key=lambda p: (p.rank != "section", p.id))
    fill([v for v in vs if v in class1], [p for p in people if p.rank == "section"])
    fill([v for v in vs if v in class1] + [v for v in vs if v not in class1], people)
    order = sorted(vs, key=lambda v: (count[v], v))
    k = 0
    for p in (p for p in people if p.id not in used):
        for _ in range(len(order)):
            v = order[k % len(order)]
            k += 1
            if count[v] < 4 and ok(p, v):
                count[v] += 1
                used.add(p.id)
                out.append((p.id, v))
                break
        else:
            raise ValueError(f"county {c}: no village left for {p.id}")
    return out
