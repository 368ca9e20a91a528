"""Words shown to users (map legends, Excel headers, PDF titles), in Chinese and English.

Code, identifiers and the CLI stay English; everything a 组织部 user reads goes through
:func:`label`, so one table holds every user-facing word and the English switch is one argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from matcher.errors import MatcherError

LANGS: Final = ("zh", "en")

# key -> (Chinese, English)
_LABELS: Final[dict[str, tuple[str, str]]] = {
    # administrative levels (also the path columns of the workbook)
    "level.province": ("省", "Province"),
    "level.prefecture": ("市（州）", "Prefecture"),
    "level.county": ("县（市、区）", "County"),
    "level.township": ("乡（镇）", "Township"),
    "level.village": ("村", "Village"),
    # ranks of people
    "rank.department": ("厅局级", "department level"),
    "rank.division": ("县处级", "division level"),
    "rank.section": ("乡科级", "section level"),
    "rank.staff": ("科员及以下", "staff"),
    # unit levels
    "unit_level.province": ("省直", "provincial"),
    "unit_level.prefecture": ("市（州）直", "prefectural"),
    "unit_level.county": ("县直", "county"),
    # link state
    "pinned.true": ("留任（任期未满）", "kept (term not ended)"),
    "pinned.false": ("新派", "new"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    # coverage status of a target
    "status.covered": ("已覆盖", "covered"),
    "status.short": ("力量不足", "short of helpers"),
    "status.uncovered": ("未覆盖", "not covered"),
    "status.poor_team": ("贫困村已派工作组", "poor, team in place"),
    "status.not_required": ("未要求覆盖", "not required"),
    # poverty classes
    "poverty.0": ("非贫困", "not poor"),
    "poverty.1": ("一类贫困", "class-1 poor"),
    "poverty.2": ("二类贫困", "class-2 poor"),
    "poverty.3": ("三类贫困", "class-3 poor"),
    "poverty.county.1": ("国家扶贫开发重点县", "national poverty county"),
    # map
    "map.base.coverage": ("县：覆盖情况", "Counties: coverage"),
    "map.base.department": ("县：帮扶部门", "Counties: helping department"),
    "map.base.poverty": ("县：贫困类别", "Counties: poverty class"),
    "map.base.helpers": ("县：帮扶人数", "Counties: number of helpers"),
    "map.tiles": ("在线底图（需联网）", "Online base map (needs internet)"),
    "map.search": ("查找人员或地点", "Find a person or a place"),
    "map.search.none": ("没有找到", "nothing found"),
    "map.legend": ("图例", "Legend"),
    "map.schematic_note": (
        "注意：带“示意”标记的点位是在县内生成的示意位置，不是实际地理位置。",
        "Note: points marked 'schematic' are stand-in positions generated inside their county, not surveyed places.",
    ),
    "brief.schematic_note": (
        "注意：图中点位为在县内生成的示意位置，不是实际地理位置。",
        "Note: the points on this map are stand-in positions generated inside their county, not surveyed places.",
    ),
    "brief.schematic_shapes": (
        "注意：县界为示意图形，不是实际边界。",
        "Note: the county outlines are drawn for orientation, not surveyed boundaries.",
    ),
    "map.schematic_cells": (
        "乡镇范围为示意图形（按乡镇点位划分），不是实际行政区界线。",
        "Township cells are schematic shapes drawn around the township points, not administrative boundaries.",
    ),
    "map.schematic": ("示意位置", "schematic position"),
    "map.helpers_in_county": ("县内帮扶人员", "helpers in the county"),
    "map.nobody": ("暂无帮扶", "no helper"),
    "map.counties_drawn": ("县", "counties"),
    "map.no_geometry": ("无县界数据，县以点表示", "no county boundaries: counties drawn as points"),
    "map.department_other": ("其他部门", "other departments"),
    "map.points": ("各层级帮扶对象", "targets of every tier"),
    "map.helpers_count": ("帮扶人数", "helpers"),
    # people/links in popups and sheets
    "col.tier": ("帮扶层级", "Tier"),
    "col.target_code": ("对象代码", "Target code"),
    "col.target_name": ("帮扶对象", "Target"),
    "col.target_kind": ("对象类型", "Target kind"),
    "col.poverty_class": ("贫困类别", "Poverty class"),
    "col.helper_id": ("帮扶者编号", "Helper id"),
    "col.helper_name": ("帮扶者", "Helper"),
    "col.unit": ("所在单位", "Unit"),
    "col.rank": ("职级", "Rank"),
    "col.start_year": ("起始年份", "Start year"),
    "col.end_year": ("届满年份", "Term ends"),
    "col.pinned": ("是否留任", "Kept from last term"),
    "col.distance_km": ("距离（公里）", "Distance (km)"),
    "col.status": ("覆盖情况", "Coverage"),
    "col.required": ("应派人数", "Required"),
    "col.assigned": ("已派人数", "Assigned"),
    "col.short": ("缺口", "Short"),
    "col.reason": ("原因", "Reason"),
    "col.name": ("名称", "Name"),
    "col.code": ("代码", "Code"),
    "col.helpers": ("帮扶者", "Helpers"),
    "col.helper_units": ("帮扶单位", "Helping units"),
    "col.n_helpers": ("帮扶人数", "Number of helpers"),
    "col.schematic": ("示意位置", "Schematic position"),
    "col.lon": ("经度", "Longitude"),
    "col.lat": ("纬度", "Latitude"),
    "col.item": ("项目", "Item"),
    "col.value": ("数值", "Value"),
    # key figures
    "kpi.targets": ("帮扶对象数", "targets"),
    "kpi.covered": ("已覆盖对象", "targets covered"),
    "kpi.coverage_rate": ("覆盖率", "coverage"),
    "kpi.links": ("结对数", "links"),
    "kpi.helpers": ("帮扶者数", "helpers linked"),
    "kpi.pinned": ("留任结对", "links kept"),
    "kpi.new": ("新派结对", "new links"),
    "kpi.uncovered": ("未达要求的对象", "targets below minimum"),
    "kpi.counties_covered": ("已覆盖县", "counties covered"),
    "kpi.officials_linked": ("联系乡镇干部", "officials linked to townships"),
    "kpi.staff_stationed": ("驻村干部", "staff stationed in villages"),
    "kpi.poor_full_teams": ("一类贫困村工作组配齐", "class-1 poor villages with full teams"),
    "kpi.uncovered_places": ("未覆盖地点", "uncovered places"),
    "kpi.title": ("主要数据", "Key figures"),
    # objective priorities (the scheme's [objective] order)
    "term.coverage": ("覆盖缺口", "coverage"),
    "term.continuity": ("连续性", "continuity"),
    "term.match": ("需求匹配", "match"),
    "term.strength": ("强弱搭配", "strength"),
    "term.travel": ("路程（公里）", "travel"),
    "term.balance": ("负荷均衡", "balance"),
    # sheets and pages
    "sheet.summary": ("汇总", "Summary"),
    "sheet.uncovered": ("未覆盖", "Uncovered"),
    "brief.date": ("日期", "Date"),
    "brief.source": ("数据来源", "Source"),
    "brief.plan_year": ("计划年度", "Plan year"),
    "brief.north": ("北", "N"),
    "brief.km": ("公里", "km"),
    "brief.diff_title": ("两个方案的对比", "Comparison of two plans"),
    "brief.diff.new": ("新增结对", "new links"),
    "brief.diff.ended": ("结束结对", "ended links"),
    "brief.diff.moved": ("调整（同一人换地点）", "moved (same helper, other target)"),
    "brief.diff.kept": ("不变", "unchanged"),
    "brief.program": ("工作名称", "Program"),
    "brief.status": ("求解状态", "Solver status"),
    "solver.OPTIMAL": ("最优（已证明）", "optimal (proven)"),
    "solver.FEASIBLE": ("可行（未证明最优）", "feasible (not proven optimal)"),
    "solver.INFEASIBLE": ("不可行", "infeasible"),
    "solver.UNKNOWN": ("未知", "unknown"),
    "brief.method": ("方法", "Method"),
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is a supported user language, else raise a clear error."""
    if lang not in LANGS:
        raise MatcherError(f"language {lang!r} is not supported: expected one of {', '.join(LANGS)}")
    return lang


def label(key: str, lang: str = "zh") -> str:
    """The user-facing word for ``key`` in ``lang`` ("zh" Chinese, "en" English)."""
    zh, en = _LABELS[key]
    return zh if check_lang(lang) == "zh" else en


def has_label(key: str) -> bool:
    """True if ``key`` names a known label."""
    return key in _LABELS


def rank_label(rank: str, lang: str = "zh") -> str:
    """The name of a person's rank (``division`` -> 县处级); an unknown rank is shown as is."""
    return label(f"rank.{rank}", lang) if has_label(f"rank.{rank}") else str(rank)


def poverty_label(poverty_class: int | None, lang: str = "zh", *, level: str = "") -> str:
    """The name of a poverty class; counties' class 1 is the national poverty county."""
    if poverty_class is None:
        return ""
    if level == "county" and poverty_class == 1:
        return label("poverty.county.1", lang)
    key = f"poverty.{poverty_class}"
    return label(key, lang) if has_label(key) else str(poverty_class)


def tier_name(tier: Mapping[str, Any], lang: str = "zh") -> str:
    """A tier's name from scheme.toml: ``name`` in Chinese, ``name_en`` in English (falling back to the id)."""
    if check_lang(lang) == "en":
        return str(tier.get("name_en") or tier.get("id"))
    return str(tier.get("name") or tier.get("id"))


def program_name(scheme: dict[str, object], lang: str = "zh") -> str:
    """The program's name from scheme.toml's ``[program]`` in the user's language."""
    program = scheme.get("program", {})
    assert isinstance(program, dict)
    if check_lang(lang) == "en":
        return str(program.get("name_en") or program.get("name") or "")
    return str(program.get("name") or program.get("name_en") or "")


def all_labels(lang: str) -> dict[str, str]:
    """Every label in ``lang`` (for the map's script, which renders text itself)."""
    i = 0 if check_lang(lang) == "zh" else 1
    return {k: v[i] for k, v in _LABELS.items()}
