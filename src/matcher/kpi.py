"""Key figures of a plan (coverage, loads, time budgets, travel, match) and its one-screen summary.

The figures use the checker's own lookups (``matcher.check``: filters, ancestors, distances), not
the model's, so that the numbers a user reads are re-derived from the instance.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from matcher.check import (
    Context,
    InstanceView,
    build_context,
    cell_values,
    link_days,
    norm_value,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matcher.plan import Plan


def _stats(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0, "min": 0.0, "mean": 0.0, "max": 0.0}
    return {"n": len(values), "min": round(min(values), 4), "mean": round(sum(values) / len(values), 4),
            "max": round(max(values), 4)}


def _share(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def _place_attr(view: InstanceView, target: str, column: str) -> Any:
    """A target's attribute, from targets.csv or localities.csv."""
    for table in ("targets", "localities"):
        values = view.col(table, column)
        if target in values:
            return values[target]
    return None


def _languages_needed(view: InstanceView, target: str) -> frozenset[str]:
    """The ethnic languages of a target's place, or of its nearest ancestor that lists any."""
    code = view.target_place(target)
    seen: set[str] = set()
    while code is not None and code not in seen:
        if code in view.col("localities", "ethnic_groups"):
            groups = cell_values(view.col("localities", "ethnic_groups")[code])
            if groups:
                return groups
        seen.add(code)
        code = view.parent.get(code)
    return frozenset()


def _helper_tags(view: InstanceView, helper: str) -> frozenset[str]:
    if view.is_person(helper):
        return cell_values(view.col("people", "skills").get(helper))
    if view.is_unit(helper):
        return cell_values(view.col("units", "function").get(helper))
    return frozenset()


def _tier_kpis(ctx: Context, tid: str) -> dict[str, Any]:
    """Coverage by level and poverty class, helpers, travel, for one tier."""
    view = ctx.view
    tier = ctx.tiers[tid]
    tl = ctx.tier_links(tid).drop_duplicates(["helper", "target"])
    counts = Counter(tl["target"])
    tset = sorted(ctx.target_sets[tid])
    req, _ = view.required(tier, tset)
    full = tier.coverage == "full"
    need_each = {t: (req[t] if full else max(1, req[t])) for t in tset}
    covered = [t for t in tset if counts.get(t, 0) >= need_each[t]]
    by_level: dict[str, dict[str, int]] = defaultdict(lambda: {"targets": 0, "covered": 0, "helpers": 0, "required": 0})
    by_class: dict[str, dict[str, int]] = defaultdict(lambda: {"targets": 0, "covered": 0, "helpers": 0, "required": 0})
    covered_set = set(covered)
    for t in tset:
        level = norm_value(_place_attr(view, t, "level" if tier.target_table == "localities" else "kind")) or "?"
        pc = norm_value(_place_attr(view, t, "poverty_class")) or "0"
        for bucket, key in ((by_level, level), (by_class, pc)):
            bucket[key]["targets"] += 1
            bucket[key]["covered"] += int(t in covered_set)
            bucket[key]["helpers"] += int(counts.get(t, 0))
            bucket[key]["required"] += int(req[t]) if full else 0
    km = [view.distance_km(h, t) for h, t in zip(tl["helper"], tl["target"])]
    km = [k for k in km if not math.isnan(k)]
    helpers_required = sum(req.values()) if full else 0
    return {
        "name": tier.name,
        "name_en": tier.name_en,
        "links": int(len(tl)),
        "helpers": int(tl["helper"].nunique()),
        "pool": len(ctx.pools[tid]),
        "targets": len(tset),
        "covered": len(covered),
        "coverage": _share(len(covered), len(tset)),
        "helpers_required": int(helpers_required),
        "helpers_short": int(sum(max(0, req[t] - counts.get(t, 0)) for t in tset)) if full else 0,
        "by_level": {k: dict(v) for k, v in sorted(by_level.items())},
        "by_poverty_class": {k: dict(v) for k, v in sorted(by_class.items())},
        "travel_km_total": round(sum(km), 1),
        "travel_km_mean": round(sum(km) / len(km), 1) if km else 0.0,
    }


def _class1_teams(ctx: Context, tid: str) -> dict[str, int] | None:
    """Teams complete in class-1 targets: enough helpers (class_min) and the composition rule met."""
    tier = ctx.tiers[tid]
    rules = tier.list_of("class_min")
    if not rules:
        return None
    view = ctx.view
    tl = ctx.tier_links(tid).drop_duplicates(["helper", "target"])
    team: dict[str, list[str]] = defaultdict(list)
    for h, t in zip(tl["helper"], tl["target"]):
        team[t].append(h)
    hit: set[str] = set()
    for cm in rules:
        h, _ = view.targets_where(tier, cm.get("where"), ctx.target_sets[tid])
        hit |= h
    req, _ = view.required(tier, sorted(hit))
    complete = {t for t in hit if len(team.get(t, [])) >= req[t]}
    for comp in tier.list_of("composition"):
        where, _ = view.targets_where(tier, comp.get("where"), hit)
        good, _ = view.helpers_where(tier, comp.get("helper_where"), set(tl["helper"]))
        need = int(comp.get("min", 1) or 0)
        complete -= {t for t in where if sum(1 for x in team.get(t, []) if x in good) < need}
    return {"targets": len(hit), "complete": len(complete)}


def _unit_loads(ctx: Context) -> dict[str, Any]:
    """Links per unit (its own and its people's) and the share of its headcount linked."""
    view = ctx.view
    links: Counter[str] = Counter()
    persons: dict[str, set[str]] = defaultdict(set)
    for h in ctx.links["helper"]:
        unit = view.helper_unit(h)
        if unit is None:
            continue
        links[unit] += 1
        if view.is_person(h):
            persons[unit].add(h)
    shares = []
    per_unit = {}
    for unit in sorted(view.units.index.astype(str)):
        head = view.col("units", "headcount").get(unit)
        share = len(persons[unit]) / float(head) if head is not None and norm_value(head) and float(head) > 0 else 0.0
        shares.append(share)
        per_unit[unit] = {"links": links.get(unit, 0), "people": len(persons[unit]), "share": round(share, 4)}
    return {"links": _stats([float(links.get(u, 0)) for u in per_unit]), "share": _stats(shares), "per_unit": per_unit}


def _budget_days(ctx: Context) -> dict[str, Any]:
    """Days per year per person across tiers (visit days + travel), for people with budgeted days."""
    days: dict[str, float] = defaultdict(float)
    for tid, h, t in ctx.links[["tier", "helper", "target"]].drop_duplicates().itertuples(index=False, name=None):
        tier = ctx.tiers.get(tid)
        if tier is None or not ctx.view.is_person(h):
            continue
        days[h] += link_days(ctx, tier, h, t)
    return _stats([days[h] for h in sorted(days) if days[h] > 0])


def _match(ctx: Context) -> dict[str, Any]:
    """Links whose helper's function/skills meet a need of the target; language matches in minority areas."""
    view = ctx.view
    n = matched = minority = spoken = 0
    for h, t in ctx.links[["helper", "target"]].drop_duplicates().itertuples(index=False, name=None):
        needs = cell_values(_place_attr(view, t, "needs"))
        n += 1
        if needs & _helper_tags(view, h):
            matched += 1
        langs = _languages_needed(view, t)
        if langs and view.is_person(h):
            minority += 1
            if cell_values(view.col("people", "languages").get(h)) & langs:
                spoken += 1
    return {"links": n, "matched": matched, "share": _share(matched, n),
            "minority_links": minority, "language_matched": spoken, "language_share": _share(spoken, minority)}


def plan_kpis(instance: Any, plan: Plan) -> dict[str, Any]:
    """All key figures of a plan on its instance, as plain JSON-able values."""
    ctx = build_context(instance, plan)
    tiers = {tid: _tier_kpis(ctx, tid) for tid in ctx.tiers}
    teams = {tid: v for tid in ctx.tiers if (v := _class1_teams(ctx, tid)) is not None}
    return {
        "tiers": tiers,
        "class1_teams": teams,
        "units": _unit_loads(ctx),
        "days_per_person": _budget_days(ctx),
        "match": _match(ctx),
        "uncovered": {"targets": int(len(plan.uncovered)),
                      "helpers_short": int(plan.uncovered["short"].astype(int).sum()) if len(plan.uncovered) else 0},
    }


# --------------------------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------------------------

_ZH = {
    "OPTIMAL": "最优", "FEASIBLE": "可行（未证明整体最优）", "INFEASIBLE": "不可行", "UNKNOWN": "未知",
}


def _width(text: str) -> int:
    """Columns a text takes on a terminal (CJK characters take two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    """Pad to ``width`` terminal columns (left-aligned, or right-aligned)."""
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def tier_gaps(plan: Plan, names: dict[str, str] | None = None) -> list[str]:
    """Each tier's (or tier group's) proven gap from plan.json, e.g. ``village 0.0 %``; empty if none recorded.

    A decomposed solve proves each tier optimal given the tiers above it, while the whole plan's gap
    can stay unknown: both are shown so that neither is mistaken for the other. ``names`` labels the tiers.
    """
    tiers = plan.header.get("tiers") or {}
    return [f"{(names or {}).get(tid, tid)} {_pct(t['gap'])}" for tid, t in tiers.items()
            if isinstance(t, dict) and isinstance(t.get("gap"), (int, float))]


def _term(term: str, zh: bool) -> str:
    """An objective priority's name for the reader (Chinese labels where known)."""
    from matcher import labels

    key = f"term.{term}"
    return labels.label(key, "zh" if zh else "en") if labels.has_label(key) else term


def _in_priority_order(objective: dict[str, Any], header: dict[str, Any]) -> dict[str, Any]:
    """The objective's terms in the order the plan minimised them (its stages), the rest after them by name.

    Source: the scheme's [objective] order (a planner reads the priorities in the order they were decided)
    """
    stages = header.get("stages") if isinstance(header, dict) else None
    order = [str(s.get("term")) for s in stages if isinstance(s, dict)] if isinstance(stages, list) else []
    rank = {t: i for i, t in enumerate(dict.fromkeys(order))}
    return {k: objective[k] for k in sorted(objective, key=lambda k: (rank.get(k, len(rank)), k))}


def summary_text(plan: Plan, kpis: dict[str, Any] | None, lang: str = "en") -> str:
    """The plan on one screen, in English (``en``) or Chinese (``zh``)."""
    zh = lang == "zh"
    h = plan.header
    prog = h.get("program") or {}
    name = (prog.get("name") if zh else prog.get("name_en") or prog.get("name")) or ""
    inst = h.get("instance") or {}
    gap = plan.gap
    tk = (kpis or {}).get("tiers") or {}
    names = {tid: (str(tk[tid].get("name") or tid) if zh else tid) if tid in tk else tid for tid in plan.tier_order}
    gaps = tier_gaps(plan, names)
    lines = []
    if zh:
        lines.append(f"方案：{name}" if name else "方案")
        lines.append(f"实例：{inst.get('path', '?')}（sha256 {str(inst.get('sha256', ''))[:12]}）")
        lines.append(f"规划年份 {h.get('plan_year', '?')} · 状态 {_ZH.get(plan.status, plan.status)} · "
                     f"最优性差距 {'未知' if gap is None else _pct(gap)}")
        if gaps:
            lines.append("各层级差距：" + "，".join(gaps))
        fg = h.get("first_gap")
        if isinstance(fg, dict):
            lines.append(f"首个未证明最优的目标：{_term(str(fg.get('term')), True)} {fg.get('value'):g}，已证明下界 {fg.get('bound'):g}"
                         f"（差距 {_pct(float(fg.get('gap', 0.0)))}）；此前各目标均已证明最优")
        if h.get("method"):
            lines.append(f"求解方法：{h['method']}")
    else:
        lines.append(f"Plan: {name}" if name else "Plan")
        lines.append(f"Instance: {inst.get('path', '?')} (sha256 {str(inst.get('sha256', ''))[:12]})")
        lines.append(f"Plan year {h.get('plan_year', '?')} · status {plan.status} · "
                     f"gap {'unknown' if gap is None else _pct(gap)}")
        if gaps:
            lines.append("Gap per tier: " + ", ".join(gaps))
        fg = h.get("first_gap")
        if isinstance(fg, dict):
            lines.append(f"First priority not proven optimal: {fg.get('term')} {fg.get('value'):g}, proven bound "
                         f"{fg.get('bound'):g} ({_pct(float(fg.get('gap', 0.0)))}); the priorities before it are optimal")
        if h.get("method"):
            lines.append(f"Method: {h['method']}")
    obj = _in_priority_order(plan.objective, plan.header)
    if obj:
        sep = "，" if zh else ", "
        lines.append(("目标值：" if zh else "Objective: ") + sep.join(
            f"{_term(k, zh)} {v:g}" if isinstance(v, (int, float)) else f"{_term(k, zh)} {v}" for k, v in obj.items()))
        bnd = plan.bound or {}
        if bnd:
            lines.append(("下界（已证明）：" if zh else "Proven bound: ") + sep.join(
                f"{_term(k, zh)} {float(bnd[k]):g}" + (f" ({_pct((float(v) - float(bnd[k])) / abs(float(v)))})"
                                            if isinstance(v, (int, float)) and v and k in bnd else "")
                for k, v in obj.items() if k in bnd))
    lines.append("")
    a = plan.assignments
    w = max([_width(n) for n in names.values()] + [8]) + 2
    if zh:
        lines.append(_pad("层级", w) + _pad("结对", 8, True) + _pad("帮扶者", 8, True) + "  覆盖（已覆盖/对象数）")
    else:
        lines.append(_pad("tier", w) + _pad("links", 8, True) + _pad("helpers", 8, True)
                     + "  coverage (covered/targets)")
    for tid in plan.tier_order:
        sub = a[a["tier"] == tid]
        k = tk.get(tid)
        cov = f"{k['covered']}/{k['targets']} ({_pct(k['coverage'])})" if k else ("未知" if zh else "?")
        label = "" if zh or not k else f"  {k.get('name_en', '')}"
        lines.append(_pad(names[tid], w) + _pad(str(len(sub)), 8, True) + _pad(str(sub["helper"].nunique()), 8, True)
                     + f"  {cov}{label}")
    n_unc = len(plan.uncovered)
    short = int(plan.uncovered["short"].astype(int).sum()) if n_unc else 0
    lines.append("")
    lines.append(f"未覆盖对象 {n_unc} 个（缺 {short} 名帮扶者）" if zh
                 else f"Uncovered: {n_unc} target(s), {short} helper(s) short")
    if kpis:
        for tid, t in (kpis.get("class1_teams") or {}).items():
            lines.append(f"{names.get(tid, tid)}：一类贫困对象工作队配齐 {t['complete']}/{t['targets']}" if zh
                         else f"{tid}: class-1 teams complete {t['complete']}/{t['targets']}")
        u = kpis.get("units") or {}
        if u:
            lines.append(f"单位负担：结对 平均 {u['links']['mean']:.1f} 最多 {u['links']['max']:g}；"
                         f"派出人员占编制 平均 {_pct(u['share']['mean'])} 最高 {_pct(u['share']['max'])}" if zh
                         else f"Unit load: links mean {u['links']['mean']:.1f} max {u['links']['max']:g}; "
                              f"share of headcount linked mean {_pct(u['share']['mean'])} max {_pct(u['share']['max'])}")
        d = kpis.get("days_per_person") or {}
        if d.get("n"):
            lines.append(f"每人每年下基层天数（{d['n']} 人）：最少 {d['min']:.1f} 平均 {d['mean']:.1f} 最多 {d['max']:.1f}" if zh
                         else f"Days per person per year ({d['n']} people): min {d['min']:.1f} mean {d['mean']:.1f} "
                              f"max {d['max']:.1f}")
        travel = ("，" if zh else ", ").join(
            f"{names.get(tid, tid)} {t['travel_km_total']:.0f} km ({t['travel_km_mean']:.1f})" for tid, t in tk.items())
        if travel:
            lines.append(("路程合计（平均每结对）：" if zh else "Travel total (mean per link): ") + travel)
        m = kpis.get("match") or {}
        if m:
            lines.append(f"需求匹配：{m['matched']}/{m['links']}（{_pct(m['share'])}）；少数民族地区语言匹配 "
                         f"{m['language_matched']}/{m['minority_links']}（{_pct(m['language_share'])}）" if zh
                         else f"Needs matched: {m['matched']}/{m['links']} ({_pct(m['share'])}); language in minority "
                              f"areas {m['language_matched']}/{m['minority_links']} ({_pct(m['language_share'])})")
    chk = h.get("check")
    if isinstance(chk, dict):
        lines.append(f"独立核对：{chk.get('violations', '?')} 项违规" if zh
                     else f"Independent check: {chk.get('violations', '?')} violation(s)")
    return "\n".join(lines) + "\n"
