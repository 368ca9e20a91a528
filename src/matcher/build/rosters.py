"""Synthetic rosters: departments, agencies, person names, ranks, hometowns, skills and languages (seeded)."""

from __future__ import annotations

import numpy as np

# 101 Guizhou provincial departments (names in the style of 2012), function tags (first = main), size weight.
GUIZHOU_DEPARTMENTS: list[tuple[str, str, int]] = [
    ("中共贵州省委办公厅", "party_building;planning", 2),
    ("中共贵州省委组织部", "party_building", 3),
    ("中共贵州省委宣传部", "culture;party_building", 2),
    ("中共贵州省委统战部", "ethnic_affairs;party_building", 2),
    ("中共贵州省委政法委员会", "law;public_security", 2),
    ("中共贵州省委政策研究室", "planning;agriculture", 1),
    ("中共贵州省委农村工作领导小组办公室", "agriculture;poverty_alleviation", 1),
    ("中共贵州省直属机关工作委员会", "party_building", 1),
    ("中共贵州省委党校", "party_building;education", 2),
    ("中共贵州省委党史研究室", "culture;party_building", 1),
    ("中共贵州省纪律检查委员会", "law;party_building", 3),
    ("中共贵州省委老干部局", "social_security;party_building", 1),
    ("中共贵州省委机构编制委员会办公室", "planning", 1),
    ("贵州省人大常委会办公厅", "law;planning", 2),
    ("贵州省政协办公厅", "planning;culture", 2),
    ("贵州省人民政府办公厅", "planning;finance", 3),
    ("贵州省发展和改革委员会", "planning;energy;industry", 3),
    ("贵州省经济和信息化委员会", "industry;energy;ecommerce", 3),
    ("贵州省教育厅", "education", 3),
    ("贵州省科学技术厅", "science;agriculture", 2),
    ("贵州省民族宗教事务委员会", "ethnic_affairs;culture", 2),
    ("贵州省公安厅", "public_security;law", 3),
    ("贵州省监察厅", "law", 2),
    ("贵州省民政厅", "civil_affairs;social_security;disaster_relief", 3),
    ("贵州省司法厅", "law", 2),
    ("贵州省财政厅", "finance", 3),
    ("贵州省人力资源和社会保障厅", "social_security;labour", 3),
    ("贵州省国土资源厅", "natural_resources;land;mining", 3),
    ("贵州省环境保护厅", "environment", 2),
    ("贵州省住房和城乡建设厅", "housing;planning", 3),
    ("贵州省交通运输厅", "transport", 3),
    ("贵州省水利厅", "water", 3),
    ("贵州省农业委员会", "agriculture;poverty_alleviation", 3),
    ("贵州省林业厅", "forestry;environment", 3),
    ("贵州省商务厅", "commerce;ecommerce", 2),
    ("贵州省文化厅", "culture", 2),
    ("贵州省卫生厅", "health", 3),
    ("贵州省人口和计划生育委员会", "health;social_security", 2),
    ("贵州省审计厅", "finance;law", 2),
    ("贵州省人民政府外事办公室", "commerce", 1),
    ("贵州省人民政府国有资产监督管理委员会", "industry;finance", 2),
    ("贵州省地方税务局", "finance", 3),
    ("贵州省环境保护监察总队", "environment;law", 1),
    ("贵州省工商行政管理局", "commerce;law", 3),
    ("贵州省质量技术监督局", "industry;science", 2),
    ("贵州省新闻出版广电局", "culture", 2),
    ("贵州省体育局", "culture;education", 1),
    ("贵州省安全生产监督管理局", "mining;industry;public_security", 2),
    ("贵州省统计局", "statistics", 2),
    ("贵州省旅游局", "tourism;culture", 2),
    ("贵州省食品药品监督管理局", "health", 2),
    ("贵州省扶贫开发办公室", "poverty_alleviation;agriculture", 2),
    ("贵州省人民政府法制办公室", "law", 1),
    ("贵州省人民政府研究室", "planning", 1),
    ("贵州省生态移民局", "housing;poverty_alleviation", 1),
    ("贵州省人民防空办公室", "disaster_relief;public_security", 1),
    ("贵州省粮食局", "agriculture;commerce", 2),
    ("贵州省物价局", "commerce;finance", 1),
    ("贵州省文物局", "culture;tourism", 1),
    ("贵州省中医药管理局", "health", 1),
    ("贵州省能源局", "energy;mining", 2),
    ("贵州省煤矿安全监察局", "mining;public_security", 2),
    ("贵州省地质矿产勘查开发局", "mining;natural_resources;land", 3),
    ("贵州省有色金属和核工业地质勘查局", "mining;natural_resources", 2),
    ("贵州省煤田地质局", "mining;natural_resources", 2),
    ("贵州省地震局", "disaster_relief;science", 1),
    ("贵州省气象局", "disaster_relief;agriculture;science", 2),
    ("贵州省通信管理局", "transport;ecommerce", 1),
    ("贵州省邮政管理局", "transport;ecommerce", 1),
    ("贵州省供销合作社联合社", "commerce;agriculture", 2),
    ("贵州省农业科学院", "agriculture;science", 2),
    ("贵州省社会科学院", "science;planning", 1),
    ("贵州省档案局", "culture", 1),
    ("贵州省信访局", "civil_affairs;law", 1),
    ("贵州省机关事务管理局", "planning", 1),
    ("贵州省公共资源交易中心", "finance;commerce", 1),
    ("贵州省高级人民法院", "law", 3),
    ("贵州省人民检察院", "law", 3),
    ("贵州省总工会", "labour;social_security", 2),
    ("共青团贵州省委", "education;party_building", 1),
    ("贵州省妇女联合会", "social_security;health", 1),
    ("贵州省科学技术协会", "science;education", 1),
    ("贵州省文学艺术界联合会", "culture", 1),
    ("贵州省残疾人联合会", "social_security;health", 1),
    ("贵州省工商业联合会", "commerce;industry", 1),
    ("贵州省归国华侨联合会", "commerce", 1),
    ("贵州日报社", "culture", 2),
    ("贵州广播电视台", "culture", 2),
    ("贵州大学", "education;science;agriculture", 3),
    ("贵州师范大学", "education", 2),
    ("贵州民族大学", "education;ethnic_affairs", 2),
    ("贵州财经大学", "education;finance", 2),
    ("贵阳医学院", "health;education", 2),
    ("遵义医学院", "health;education", 2),
    ("贵州省农村信用社联合社", "finance;agriculture", 3),
    ("贵州省交通建设集团有限公司", "transport;industry", 2),
    ("贵州省水利投资（集团）有限责任公司", "water;finance", 2),
    ("贵州省公路局", "transport", 2),
    ("贵州省水土保持监测站", "water;environment", 1),
    ("贵州省移民开发局", "housing;poverty_alleviation", 1),
    ("贵州省疾病预防控制中心", "health", 2),
]

# a prefecture's and a county's agencies that send staff to villages: (suffix, functions)
PREFECTURE_AGENCIES: list[tuple[str, str]] = [
    ("农业委员会", "agriculture;poverty_alleviation"),
    ("交通运输局", "transport"),
    ("水务局", "water"),
    ("卫生局", "health"),
    ("教育局", "education"),
    ("国土资源局", "natural_resources;land;mining"),
]
COUNTY_AGENCIES: list[tuple[str, str]] = [
    ("农业局", "agriculture"),
    ("扶贫开发办公室", "poverty_alleviation;agriculture"),
    ("交通运输局", "transport"),
    ("水务局", "water"),
    ("卫生和计划生育局", "health"),
    ("教育局", "education"),
]

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤蒙"
)
# surnames common among Guizhou's Miao, Buyi, Dong, Shui, Yi (more weight in their areas)
ETHNIC_SURNAMES = list("杨龙吴石韦罗王潘蒙陆岑韦欧吴")
GIVEN_CHARS = list(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红文斌玉兰海燕春梅晓东鹏飞丹成林云亮俊峰波宇凤"
    "琴萍辉健新宏德江胜利荣光学忠诚永祥瑞雪松青山长庆安康正方兴金银贵富顺发庆丰"
)

LANGUAGES_BY_MARK: list[tuple[str, str]] = [
    ("苗族", "Miao"), ("布依族", "Buyi"), ("侗族", "Dong"), ("彝族", "Yi"), ("水族", "Shui"),
    ("土家族", "Tujia"), ("仡佬族", "Gelao"), ("回族", "Hui"), ("壮族", "Zhuang"), ("瑶族", "Yao"),
    ("羌族", "Qiang"), ("藏族", "Tibetan"),
]


def ethnic_groups_of(name: str) -> list[str]:
    """Ethnic groups with their own language that an autonomous area's name states (e.g. 苗族侗族自治州 -> Miao;Dong).
    Source: the names of autonomous prefectures, counties and ethnic townships (民族区域自治).
    """
    return [lang for mark, lang in LANGUAGES_BY_MARK if mark in name]


def person_name(rng: np.random.Generator, ethnic: bool = False) -> str:
    """A plausible synthetic Chinese name: surname + one or two given characters."""
    pool = ETHNIC_SURNAMES if ethnic and rng.random() < 0.5 else SURNAMES
    s = pool[int(rng.integers(len(pool)))]
    n = 1 if rng.random() < 0.3 else 2
    return s + "".join(GIVEN_CHARS[int(rng.integers(len(GIVEN_CHARS)))] for _ in range(n))


def gender(rng: np.random.Generator, share_f: float = 0.3) -> str:
    """``F`` with probability ``share_f``, else ``M``."""
    return "F" if rng.random() < share_f else "M"


def birth_year(rng: np.random.Generator, rank: str, plan_year: int) -> int:
    """A birth year plausible for the rank in the plan year (older ranks are older)."""
    lo, hi = {"department": (48, 58), "division": (38, 55), "section": (30, 52), "staff": (23, 45)}[rank]
    return plan_year - int(rng.integers(lo, hi + 1))


def skills_for(rng: np.random.Generator, functions: str, extra_pool: list[str]) -> str:
    """Skills of a person: his unit's main function, sometimes a second function or a random tag."""
    funcs = functions.split(";")
    out = [funcs[0]]
    if len(funcs) > 1 and rng.random() < 0.5:
        out.append(funcs[1])
    if rng.random() < 0.4:
        t = extra_pool[int(rng.integers(len(extra_pool)))]
        if t not in out:
            out.append(t)
    return ";".join(sorted(out))


def languages_for(rng: np.random.Generator, groups: list[str], p: float) -> str:
    """Languages a person speaks beside Mandarin: with probability ``p`` one of the area's groups."""
    if groups and rng.random() < p:
        return groups[int(rng.integers(len(groups)))]
    return ""


SKILL_POOL = [
    "agriculture", "forestry", "water", "transport", "education", "health", "finance", "tourism",
    "ecommerce", "housing", "law", "party_building", "commerce", "environment", "culture",
]
