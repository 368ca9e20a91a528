"""Xuchang Jian'an 万人助企联乡帮村 (Henan, 建安区 411003): cadres help enterprises and villages; county-level cadres link key enterprises and townships.

Source: 许昌“万人助企联乡帮村”报道 (2021, the campaign's first year): 建安区共选派478名干部, 联系362家企业, 分包全区382个村(社区);
其中派出29名县级干部, 联系58家重点企业, 分管16个乡镇(街道办)和尚集产业集聚区.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matcher.build.onecounty import Cadres, Roster, TierText, open_county, scheme_toml, write_county_instance
from matcher.build.sources import PackageReader

SEED = 411003
COUNTY = "411003"
ECHARTS_FILE = "he2_nan2_xu3_chang1.geojson"
SEAT = "411003001000"  # 许由街道
N_CADRES_TOTAL = 478    # the seed's 478 include the 29 county-level cadres
N_LEADERS = 29
N_ENTERPRISES = 362     # including the 58 key enterprises
N_KEY = 58
INDUSTRIAL = {"411003102000": 4.0, "411003100000": 2.0, "411003101000": 1.5}  # 尚集 (产业集聚区), 将官池, 五女店
HUI_TOWNSHIPS = {"411003208000"}  # 艾庄回族乡

LEADERSHIP = [("L1", "中共许昌市建安区委员会", "party_building;planning", 9), ("L2", "许昌市建安区人民政府", "planning;finance", 10),
              ("L3", "许昌市建安区人大常委会", "law;planning", 5), ("L4", "政协许昌市建安区委员会", "culture;commerce", 5)]
DEPARTMENTS = [
    ("区委办公室", "party_building;planning"), ("区委组织部", "party_building"), ("区委宣传部", "culture"),
    ("区纪委监委", "law"), ("区委统战部", "ethnic_affairs;commerce"), ("区委政法委", "law;public_security"),
    ("区发展和改革委员会", "planning;industry"), ("区工业和信息化局", "industry;ecommerce"), ("区财政局", "finance"),
    ("区教育局", "education"), ("区科学技术局", "science;industry"), ("区民政局", "civil_affairs"),
    ("区司法局", "law"), ("区人力资源和社会保障局", "labour;social_security"), ("区自然资源局", "natural_resources;land"),
    ("区生态环境分局", "environment"), ("区住房和城乡建设局", "housing"), ("区交通运输局", "transport"),
    ("区水利局", "water"), ("区农业农村局", "agriculture"), ("区商务局", "commerce;ecommerce"),
    ("区文化广电和旅游局", "culture;tourism"), ("区卫生健康委员会", "health"), ("区退役军人事务局", "social_security"),
    ("区应急管理局", "disaster_relief;public_security"), ("区审计局", "finance;law"), ("区市场监督管理局", "commerce;law"),
    ("区统计局", "statistics"), ("区医疗保障局", "health;social_security"), ("区乡村振兴局", "poverty_alleviation;agriculture"),
    ("区城市管理局", "housing;planning"), ("区税务局", "finance"), ("区人民法院", "law"), ("区人民检察院", "law"),
    ("区公安分局", "public_security"), ("区工商业联合会", "commerce;industry"), ("区总工会", "labour"),
    ("区供销合作社", "commerce;agriculture"), ("区林业局", "forestry"), ("区行政审批服务局", "commerce;planning"),
]
PRODUCTS = [  # (product, needs)
    ("发制品", "industry;commerce;labour"), ("纺织", "industry;labour"), ("食品", "industry;agriculture"),
    ("机械制造", "industry;science"), ("电气设备", "industry;energy;science"), ("新型建材", "industry;environment"),
    ("汽车零部件", "industry;science"), ("物流", "transport;commerce"), ("农业科技", "agriculture;science"),
    ("电子商务", "ecommerce;commerce"), ("再生金属", "industry;environment"), ("蜂产品", "agriculture;ecommerce"),
]
NAME_WORDS = list("瑞鑫恒泰华盛宏达永兴金源中原昌隆嘉禾豫丰天成博远新锐福顺康宁利民润通")
CATEGORIES = ["difficult", "promising", "upgrading"]

CADRES = {"table": "people", "rank": ["section", "staff"]}
LEADERS = {"table": "people", "role": ["county_leader"]}

SCHEME = scheme_toml(
    """# Xuchang Jian'an 万人助企联乡帮村 (2021). Built by scripts/build_instances.py: do not edit by hand.
# County-level cadres link two key enterprises each and a township; the other cadres each help
# at most one enterprise and take one or two villages (today's map has 454 village-level units
# against the seed's 382, and 449 cadres below county level).""",
    program={
        "name": "建安区“万人助企联乡帮村”",
        "name_en": "Jian'an: ten thousand cadres help enterprises, link townships and villages",
        "source": "许昌“万人助企联乡帮村”报道 (2021): 建安区共选派478名干部, 联系362家企业, 分包全区382个村(社区); "
                  "其中29名县级干部联系58家重点企业, 分管16个乡镇(街道办)",
        "plan_year": 2021,
        "term_years": 1,
    },
    budget={"division": {"max_days": 80}, "section": {"max_days": 100}, "staff": {"max_days": 100},
            "travel": {"detour": 1.3, "speed_kmh": 40, "hours_per_day": 8}},
    tiers=[
        TierText("leader_township", "县级干部分包乡镇", "county-level cadres link a township", LEADERS,
                 {"table": "localities", "level": ["township"]}, "full", 1, 2, 1, 1, 24, 12),
        TierText("leader_enterprise", "县级干部联系重点企业", "county-level cadres link key enterprises", LEADERS,
                 {"table": "targets", "kind": ["enterprise"], "category": ["key"]}, "full", 1, 1, 2, 2, 6, 6),
        TierText("cadre_enterprise", "干部助企", "cadres help an enterprise", CADRES,
                 {"table": "targets", "kind": ["enterprise"], "category": ["difficult", "promising", "upgrading"]},
                 "full", 1, 2, 0, 1, 12, 12),
        TierText("cadre_village", "干部帮村", "cadres take villages", CADRES,
                 {"table": "localities", "level": ["village"]}, "full", 1, 2, 1, 2, 24, 12),
    ],
)


def write_xuchang(cd: PackageReader, ec: PackageReader, out: Path, geometry: Path | None = None) -> None:
    """Build the Xuchang Jian'an instance into ``out``."""
    geo, rng = open_county(cd, ec, COUNTY, ECHARTS_FILE, geometry, SEED)
    towns = geo.level("township")
    villages = geo.level("village")

    extra: dict[str, dict[str, object]] = {geo.county.code: {"poverty_class": 0, "needs": ["industry", "agriculture", "commerce"]}}
    for t in towns:
        tneeds = {"industry"} if t.code in INDUSTRIAL else ({"housing", "commerce"} if t.kind == "subdistrict" else {"agriculture"})
        extra[t.code] = {"needs": sorted(tneeds), "ethnic_groups": ["Hui"] if t.code in HUI_TOWNSHIPS else []}
    for v in villages:
        vneeds = {"agriculture"} if v.kind == "village_committee" else {"housing"}
        vneeds.add(["water", "transport", "education", "health", "ecommerce", "labour"][int(rng.integers(6))])
        extra[v.code] = {"poverty_class": 0, "needs": sorted(vneeds), "population": int(rng.integers(400, 4000)),
                         "ethnic_groups": ["Hui"] if v.parent in HUI_TOWNSHIPS else []}

    # enterprises: in townships, more in the industrial ones; 58 key enterprises among them
    w = np.array([INDUSTRIAL.get(t.code, 0.3 if t.kind == "subdistrict" else 0.8) for t in towns])
    targets: list[dict[str, object]] = []
    key_idx = {int(i) for i in rng.choice(N_ENTERPRISES, size=N_KEY, replace=False)}
    for i in range(N_ENTERPRISES):
        t = towns[int(rng.choice(len(towns), p=w / w.sum()))]
        product, needs = PRODUCTS[int(rng.integers(len(PRODUCTS)))]
        brand = NAME_WORDS[int(rng.integers(len(NAME_WORDS)))] + NAME_WORDS[int(rng.integers(len(NAME_WORDS)))]
        key = i in key_idx
        cat = "key" if key else CATEGORIES[int(rng.integers(3))]
        targets.append({"id": f"E{i + 1:03d}", "name": f"许昌{brand}{product}有限公司", "kind": "enterprise",
                        "locality": t.code, "category": cat, "poverty_class": 0, "needs": needs,
                        "size": int(rng.integers(200, 3000) if key else rng.integers(10, 400))})

    homes = [t.code for t in towns] + ["411000000000"]
    roster = Roster(rng, Cadres("JA", 2021, 0.3, homes, "Hui", frozenset(HUI_TOWNSHIPS), 0.2), SEAT)
    for uid, name, funcs, k in LEADERSHIP:
        roster.add_unit(uid, name, funcs, "leadership", [("division", "county_leader")] * k, (20, 60))
    assert len(roster.people) == N_LEADERS
    rest = N_CADRES_TOTAL - N_LEADERS
    per = [rest // len(DEPARTMENTS) + (1 if j < rest % len(DEPARTMENTS) else 0) for j in range(len(DEPARTMENTS))]
    for j, ((suffix, funcs), k) in enumerate(zip(DEPARTMENTS, per)):
        members = [("section", "section_chief") if m < max(2, k // 3) else ("staff", "") for m in range(k)]
        roster.add_unit(f"U{j + 1:02d}", "建安" + suffix, funcs, "department", members, (10, 80))

    write_county_instance(Path(out), SCHEME, geo, extra, roster, targets)
