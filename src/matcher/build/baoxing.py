"""Baoxing 挂包帮 (Sichuan, 宝兴县 511827): leaders link a township, a village and a household; departments take villages; section chiefs help a poor party member and a poor household.

Source: 宝兴县“领导挂点、部门包村、干部帮户”(2010-2012): 26名县级领导干部定点联系一个乡镇、
一个村(社区)、一户农村困难党员或贫困户; 部门包村; 64名科级干部各帮扶一名困难党员和一户贫困户.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from matcher.build import rosters
from matcher.build.county import spread
from matcher.build.onecounty import Cadres, Roster, TierText, open_county, scheme_toml, write_county_instance
from matcher.build.sources import PackageReader

SEED = 511827
COUNTY = "511827"
ECHARTS_FILE = "si4_chuan1_ya3_an1.geojson"
SEAT = "511827100000"  # 穆坪镇, the county seat
N_LEADERS = 26
N_CHIEFS = 64
N_CLASS1 = 12

LEADERSHIP = [  # (id, name, functions, leaders)
    ("L1", "中共宝兴县委", "party_building;planning", 9),
    ("L2", "宝兴县人民政府", "planning;finance", 9),
    ("L3", "宝兴县人大常委会", "law;planning", 4),
    ("L4", "政协宝兴县委员会", "culture;planning", 4),
]
DEPARTMENTS = [  # (suffix, functions)
    ("县委办公室", "party_building;planning"), ("县委组织部", "party_building"), ("县委宣传部", "culture;party_building"),
    ("县纪委", "law;party_building"), ("县发展和改革局", "planning;energy"), ("县经济和信息化局", "industry;energy"),
    ("县财政局", "finance"), ("县教育局", "education"), ("县卫生局", "health"), ("县农业局", "agriculture"),
    ("县林业局", "forestry;environment"), ("县水务局", "water"), ("县交通运输局", "transport"),
    ("县国土资源局", "natural_resources;mining;land"), ("县住房和城乡建设局", "housing;planning"),
    ("县民政局", "civil_affairs;disaster_relief"), ("县人力资源和社会保障局", "labour;social_security"),
    ("县文化旅游局", "tourism;culture"), ("县商务局", "commerce;ecommerce"), ("县环境保护局", "environment"),
    ("县安全生产监督管理局", "mining;public_security"), ("县扶贫和移民工作局", "poverty_alleviation;housing"),
    ("县统计局", "statistics"), ("县审计局", "finance;law"), ("县公安局", "public_security;law"),
    ("县人民法院", "law"), ("县人民检察院", "law"), ("县司法局", "law"),
    ("县供销合作社", "commerce;agriculture"), ("县畜牧局", "agriculture;health"),
]
TOWNSHIP_NEEDS = {  # township code -> needs (marble at 灵关, pandas and 夹金山 tourism, 2013 earthquake)
    "511827100000": ["tourism", "housing", "disaster_relief"],
    "511827101000": ["mining", "industry", "agriculture", "disaster_relief"],
    "511827102000": ["agriculture", "transport", "disaster_relief"],
    "511827201000": ["tourism", "forestry", "agriculture"],
    "511827202000": ["tourism", "agriculture", "ethnic_affairs"],
    "511827205000": ["agriculture", "water"],
    "511827206000": ["agriculture", "forestry"],
}
TIBETAN_TOWNSHIPS = {"511827202000"}  # 硗碛 (formerly 硗碛藏族乡)
HOUSEHOLD_NEEDS = ["health", "education", "housing", "labour", "agriculture", "social_security"]

LEADERS = {"table": "people", "role": ["county_leader"]}
CHIEFS = {"table": "people", "role": ["section_chief"]}
CLASS1_QUOTA = [{"where": {"poverty_class": [1]}, "min": N_CLASS1}]

SCHEME = scheme_toml(
    """# Baoxing 挂包帮 (2010-2012). Built by scripts/build_instances.py: do not edit by hand.
# Six tiers sharing people: each county leader links one township, one village in it and one
# deep-poverty household in that village (nest_in a people tier: the same person links the
# ancestor); each department takes a village committee; each section chief helps one poor party
# member and one poor household.""",
    program={
        "name": "宝兴县“领导挂点、部门包村、干部帮户”",
        "name_en": "Baoxing: leaders link places, departments take villages, cadres help households",
        "source": "宝兴县 2010: 26名县级领导干部定点联系一个乡镇、一个村(社区)、一户困难党员或贫困户; 部门包村; 干部帮户",
        "plan_year": 2010,
        "term_years": 3,
    },
    budget={"division": {"max_days": 60}, "section": {"max_days": 40},
            "travel": {"detour": 1.6, "speed_kmh": 30, "hours_per_day": 8}},
    tiers=[
        TierText("leader_township", "领导挂点（乡镇）", "leaders link a township", LEADERS,
                 {"table": "localities", "level": ["township"]}, "full", 1, 5, 1, 1, 10, 4,
                 eligibility={"hometown_avoid": "township"}),
        TierText("leader_village", "领导挂点（村）", "leaders link a village", LEADERS,
                 {"table": "localities", "level": ["village"]}, "quota", 0, 1, 1, 1, 12, 6,
                 nest_in="leader_township", quota=CLASS1_QUOTA),
        TierText("leader_household", "领导帮户", "leaders help a household", LEADERS,
                 {"table": "targets", "kind": ["household"], "category": ["deep_poverty"]}, "full", 1, 1, 1, 1, 4, 4,
                 nest_in="leader_village"),
        TierText("department_village", "部门包村", "departments take a village", {"table": "units", "kind": ["department"]},
                 {"table": "localities", "level": ["village"], "kind": ["village_committee"]}, "quota", 0, 1, 1, 1, 0, 0,
                 quota=CLASS1_QUOTA),
        TierText("chief_party_member", "干部帮困难党员", "section chiefs help a poor party member", CHIEFS,
                 {"table": "targets", "kind": ["party_member"]}, "full", 1, 1, 1, 1, 6, 6),
        TierText("chief_household", "干部帮贫困户", "section chiefs help a poor household", CHIEFS,
                 {"table": "targets", "kind": ["household"], "category": ["poor"]}, "full", 1, 1, 1, 1, 6, 6),
    ],
)


def write_baoxing(cd: PackageReader, ec: PackageReader, out: Path, geometry: Path | None = None) -> None:
    """Build the Baoxing instance into ``out``."""
    geo, rng = open_county(cd, ec, COUNTY, ECHARTS_FILE, geometry, SEED)
    towns = geo.level("township")
    villages = geo.level("village")
    by_town: dict[str, list[str]] = defaultdict(list)
    for v in villages:
        by_town[v.parent].append(v.code)

    # leaders' villages: 26 distinct villages, every township 1..5 of them (so the nested tiers fit)
    k = spread(N_LEADERS, [len(by_town[t.code]) for t in towns], 1, 5)
    leader_villages: list[str] = []
    for t, n in zip(towns, k):
        vs = sorted(by_town[t.code], key=lambda c: (c[9:] < "200", rng.random()))
        leader_villages += vs[:n]
    leader_villages.sort()
    vcs = [v.code for v in villages if v.kind == "village_committee"]
    cand1 = sorted(v for v in leader_villages if v in set(vcs))
    class1 = {cand1[int(i)] for i in rng.choice(len(cand1), size=N_CLASS1, replace=False)}

    extra: dict[str, dict[str, object]] = {}
    county = geo.county
    extra[county.code] = {"poverty_class": 0, "ethnic_groups": ["Tibetan"],
                          "needs": ["agriculture", "tourism", "disaster_relief", "mining"]}
    for t in towns:
        extra[t.code] = {"needs": TOWNSHIP_NEEDS.get(t.code, ["agriculture"]),
                         "ethnic_groups": ["Tibetan"] if t.code in TIBETAN_TOWNSHIPS else []}
    for v in villages:
        vneeds = set(["agriculture"] if v.kind == "village_committee" else ["housing"])
        tn = TOWNSHIP_NEEDS.get(v.parent, [])
        for tag in ("mining", "tourism", "forestry"):
            if tag in tn and rng.random() < 0.5:
                vneeds.add(tag)
        if v.code in class1:
            vneeds.add("poverty_alleviation")
        extra[v.code] = {"poverty_class": 1 if v.code in class1 else 0, "needs": sorted(vneeds),
                         "ethnic_groups": ["Tibetan"] if v.parent in TIBETAN_TOWNSHIPS else [],
                         "population": int(rng.integers(300, 2500))}
    # at least one mining village for the natural resources bureau
    lingguan = [v.code for v in villages if v.parent == "511827101000" and v.kind == "village_committee"]
    mining_village = extra[lingguan[0]]
    mining_village["needs"] = sorted({*list(mining_village["needs"]), "mining"})  # type: ignore[call-overload]

    homes = [t.code for t in towns] + ["511800000000"]
    roster = Roster(rng, Cadres("BX", 2010, 0.25, homes, "Tibetan", frozenset(TIBETAN_TOWNSHIPS), 0.5), SEAT)
    for uid, name, funcs, leaders in LEADERSHIP:
        roster.add_unit(uid, name, funcs, "leadership", [("division", "county_leader")] * leaders, (10, 40))
    chiefs = spread(N_CHIEFS, [3] * len(DEPARTMENTS), 2, 3)
    for j, ((suffix, funcs), nc) in enumerate(zip(DEPARTMENTS, chiefs)):
        roster.add_unit(f"U{j + 1:02d}", "宝兴" + suffix, funcs, "department", [("section", "section_chief")] * nc, (8, 60))

    targets: list[dict[str, object]] = []
    for i, hv in enumerate(leader_villages):
        targets.append({"id": f"H-D{i + 1:02d}", "name": f"{_village_name(geo, hv)}困难户{rosters.person_name(rng)[0]}某",
                        "kind": "household", "locality": hv, "category": "deep_poverty", "poverty_class": 1,
                        "needs": _pick(rng, HOUSEHOLD_NEEDS, 2), "size": int(rng.integers(1, 6))})
    vlist = [v.code for v in villages]
    for i in range(N_CHIEFS):
        hv = vlist[int(rng.integers(len(vlist)))]
        targets.append({"id": f"H-P{i + 1:02d}", "name": f"{_village_name(geo, hv)}贫困户{rosters.person_name(rng)[0]}某",
                        "kind": "household", "locality": hv, "category": "poor", "poverty_class": 1,
                        "needs": _pick(rng, HOUSEHOLD_NEEDS, 2), "size": int(rng.integers(1, 7))})
        hv = vlist[int(rng.integers(len(vlist)))]
        targets.append({"id": f"M-{i + 1:02d}", "name": f"{_village_name(geo, hv)}困难党员{rosters.person_name(rng)}",
                        "kind": "party_member", "locality": hv, "category": "poor_party_member", "poverty_class": 1,
                        "needs": _pick(rng, HOUSEHOLD_NEEDS, 1), "size": 1})
    targets.sort(key=lambda t: str(t["id"]))

    write_county_instance(Path(out), SCHEME, geo, extra, roster, targets)


def _village_name(geo: object, code: str) -> str:
    d = next(x for x in geo.divisions if x.code == code)  # type: ignore[attr-defined]
    return d.name.replace("村民委员会", "").replace("居民委员会", "").replace("村委会", "")


def _pick(rng: np.random.Generator, pool: list[str], k: int) -> list[str]:
    idx = rng.choice(len(pool), size=k, replace=False)
    return sorted(pool[int(i)] for i in idx)
