"""Why a plan is what it is: for a link, a place or a person, each rule's part in words.

The words are the rule functions' own docstrings (``matcher.rules.RULES``): the first line states the
rule, the second its source in the program. Costs are the candidate pairs' cost parts
(``matcher.candidates``), weighted as the scheme's objective weighs them.

``explain_person(instance, plan, person)``, ``explain_place(instance, plan, target)`` and
``explain_link(instance, plan, tier, helper, target)`` return an :class:`Explanation` (a table of
candidates with reasons, and sentences in Chinese or English).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from matcher.candidates import scheme_and_context
from matcher.errors import PlanError
from matcher.membership import isin

if TYPE_CHECKING:  # pragma: no cover
    from matcher.candidates import Context
    from matcher.instance import Instance
    from matcher.scheme import Scheme, Tier

COST_PARTS = ("match", "strength", "travel")

#: Chinese words for rule names and statuses (the English text is the rule's docstring).
RULE_ZH: dict[str, str] = {
    "stay_in_area": "市县单位干部只在本地区帮扶（本县、本州市）",
    "hometown_avoid": "回避：不在本人籍贯所在地区帮扶",
    "max_distance": "距离限制：单位驻地到帮扶对象不超过规定公里数",
    "rank_by_class": "一类贫困村只接受规定职级的干部",
    "no_return": "任期届满轮换后不得回到原帮扶对象",
    "link_budget": "单个联系点所需天数不得超过该职级的年度时间预算",
    "nesting": "部门帮县、处长联乡：处级干部联系的乡镇须在其单位帮扶的县内",
    "pool": "不在该层级的帮扶人员范围内",
    "match": "需求与专长匹配（单位职能、个人技能、少数民族语言）",
    "strength": "实力强的单位帮扶更贫困的地方",
    "travel": "路程：单位驻地到帮扶对象的直线距离",
}
STATUS_WORDS: dict[str, dict[str, str]] = {
    "chosen": {"en": "chosen", "zh": "已选定"},
    "ineligible": {"en": "ineligible", "zh": "不符合条件"},
    "costlier": {"en": "eligible but costlier", "zh": "符合条件但代价更高"},
    "needed_elsewhere": {"en": "needed elsewhere", "zh": "已安排在别处"},
    "unused": {"en": "eligible, not needed", "zh": "符合条件，未被选用"},
}


def _rule_text(name: str, lang: str) -> str:
    """The rule's first docstring line (English) or its Chinese gloss."""
    from matcher import rules

    if lang == "zh" and name in RULE_ZH:
        return RULE_ZH[name]
    spec = rules.RULES.get(name)
    if spec is not None:
        return spec.text
    if name == "nesting":
        return (rules.nesting.__doc__ or "").strip().splitlines()[0]
    if name == "pool":
        return "not in the tier's pool of helpers"
    return name


def _rule_source(name: str) -> str:
    from matcher import rules

    spec = rules.RULES.get(name)
    return spec.source if spec is not None else ""


@dataclass
class PairTable:
    """All pairs of one tier for some helpers or targets, with the eligibility rules each breaks."""

    tier: Tier
    pairs: pd.DataFrame  # tier, helper, target, distance_km, days, pinned, cost_*, weighted, fails (tuple)


def pair_table(instance: Instance, tier_id: str, *, helpers: list[str] | None = None,
               targets: list[str] | None = None, ctx: tuple[Scheme, Context] | None = None,
               nesting: bool = True) -> PairTable:
    """Every (helper, target) pair of ``tier_id`` among the given helpers/targets, eligible or not.

    ``fails`` lists the eligibility rules (``matcher.rules.RULES`` of kind eligibility, plus ``nesting``)
    that the pair breaks; eligible pairs carry their cost parts and the weighted cost. ``nesting=False``
    leaves the nesting rule to the caller (who may check it against a plan's parent links instead).
    """
    from matcher import candidates as cand
    from matcher import rules

    scheme, context = ctx or scheme_and_context(instance)
    tier = scheme.tier(tier_id)
    hf = context.cache.get(("explain.helpers", tier.id))
    if hf is None:
        hf = context.cache[("explain.helpers", tier.id)] = cand.helper_frame(context, tier)
    tf = context.cache.get(("explain.targets", tier.id))
    if tf is None:
        tf = context.cache[("explain.targets", tier.id)] = cand.target_frame(context, tier)
    if helpers is not None:
        hf = hf[isin(hf.index, helpers)]
    if targets is not None:
        tf = tf[isin(tf.index, targets)]
    free = dataclasses.replace(tier, eligibility=dataclasses.replace(tier.eligibility, stay_in_area=()))
    pairs = cand._cross(hf, tf, free)
    if pairs.empty:
        return PairTable(tier, pd.DataFrame(columns=["tier", "helper", "target", "fails"]))
    pairs["tier"] = tier.id
    for c in cand.PAIR_COLUMNS:
        if c not in pairs.columns:
            pairs[c] = ""
    pairs["distance_km"] = np.nan_to_num(cand.haversine_km(pairs["seat_lon"], pairs["seat_lat"],
                                                           pairs["t_lon"], pairs["t_lat"]))
    pairs = pairs[cand.PAIR_COLUMNS + ["distance_km"]].copy().reset_index(drop=True)
    pairs["days"] = rules.link_days(pairs, tier, context)
    pairs["pinned"] = rules.pinned_mask(pairs, tier, context)
    fails: list[list[str]] = [[] for _ in range(len(pairs))]
    for name, spec in rules.RULES.items():
        if spec.kind != "eligibility":
            continue
        bad = ~(spec.function(pairs, tier, context) | pairs["pinned"])
        for i in np.flatnonzero(bad.to_numpy()):
            fails[i].append(name)
    if tier.nest_in and nesting:
        parent_tier = scheme.tier(tier.nest_in)
        parent = cand.build_tier_frames(context, parent_tier)
        ok = rules.nesting_eligible(pairs, tier, parent) | pairs["pinned"]
        for i in np.flatnonzero((~ok).to_numpy()):
            fails[i].append("nesting")
    forbidden = {(str(h), str(t)) for h, t in instance.scheme["tiers"][list(scheme.tier_ids).index(tier_id)]
                 .get("forbidden", [])}
    if forbidden:
        for i, (h, t) in enumerate(zip(pairs["helper"], pairs["target"])):
            if (h, t) in forbidden:
                fails[i].append("forbidden")
    pairs["fails"] = [tuple(f) for f in fails]
    pairs["cost_match"] = rules.match_cost(pairs, tier, context)
    pairs["cost_strength"] = rules.strength_cost(pairs, tier, context)
    pairs["cost_travel"] = rules.travel_cost(pairs, tier, context)
    w = scheme.objective
    pairs["weighted"] = sum(w.weight(p) * pd.to_numeric(pairs[f"cost_{p}"], errors="coerce").fillna(0.0)
                            for p in COST_PARTS)
    # the solver minimises priorities in order (lexicographic): rank candidates the same way
    order = [p for p in w.order if p in COST_PARTS] + [p for p in COST_PARTS if p not in w.order]
    pairs["lex"] = [tuple(round(w.weight(p) * float(r[f"cost_{p}"]), 6) for p in order)
                    for _, r in pairs[[f"cost_{p}" for p in COST_PARTS]].iterrows()]
    return PairTable(tier, pairs)


def _tiers_of(instance: Instance, helper: str | None = None, target: str | None = None) -> list[str]:
    """Tier ids whose helper table (or target table) holds the id."""
    out = []
    for t in instance.scheme.get("tiers", []):
        if helper is not None:
            table = instance.units if t.get("helpers", {}).get("table") == "units" else instance.people
            if helper in table.index:
                out.append(str(t["id"]))
        if target is not None:
            table = instance.targets if t.get("targets", {}).get("table") == "targets" else instance.localities
            if target in table.index:
                out.append(str(t["id"]))
    return out


@dataclass
class Explanation:
    """A table of candidates with a status and reason each, and the explanation as sentences."""

    subject: str
    kind: str  # "person", "place" or "link"
    table: pd.DataFrame
    lines_en: list[str] = field(default_factory=list)
    lines_zh: list[str] = field(default_factory=list)

    def text(self, lang: str = "zh") -> str:
        """The explanation in Chinese (``zh``) or English (``en``)."""
        return "\n".join(self.lines_zh if lang == "zh" else self.lines_en)

    def __str__(self) -> str:
        return self.text("en")


def _name(instance: Instance, ident: str) -> str:
    for table in (instance.people, instance.units, instance.localities, instance.targets):
        if len(table) and ident in table.index and "name" in table.columns:
            return str(table.at[ident, "name"])
    return ident


def _assignments(plan: Any) -> pd.DataFrame:
    a = plan.assignments if hasattr(plan, "assignments") else plan
    a = a.copy()
    for c in ("tier", "helper", "target"):
        a[c] = a[c].astype(str)
    return a


def _cost_words(row: pd.Series, scheme: Scheme, lang: str) -> str:
    parts = []
    for p in COST_PARTS:
        v = float(row.get(f"cost_{p}", 0.0) or 0.0)
        wv = scheme.objective.weight(p) * v
        parts.append(f"{_rule_text(p, lang) if lang == 'zh' else p} {wv:.2f}")
    return "; ".join(parts)


def _status(pairs: pd.DataFrame, links: pd.DataFrame, tier: str) -> pd.DataFrame:
    """Status of each pair: chosen, ineligible, needed_elsewhere (helper used at another target), costlier/unused."""
    chosen = set(zip(links.loc[links["tier"] == tier, "helper"], links.loc[links["tier"] == tier, "target"]))
    busy = set(links.loc[links["tier"] == tier, "helper"])
    st = []
    for h, t, f in zip(pairs["helper"], pairs["target"], pairs["fails"]):
        if (h, t) in chosen:
            st.append("chosen")
        elif f:
            st.append("ineligible")
        elif h in busy:
            st.append("needed_elsewhere")
        else:
            st.append("unused")
    out = pairs.copy()
    out["status"] = st
    return out


def explain_link(instance: Instance, plan: Any, tier: str, helper: str, target: str) -> Explanation:
    """Why ``helper`` is linked to ``target`` in ``tier``: each cost part with its rule, and the best alternative."""
    scheme, ctx = scheme_and_context(instance)
    links = _assignments(plan)
    pt = pair_table(instance, tier, targets=[target], ctx=(scheme, ctx)).pairs
    pt = _status(pt, links, tier)
    me = pt[pt["helper"] == helper]
    en: list[str] = []
    zh: list[str] = []
    hn, tn = _name(instance, helper), _name(instance, target)
    tname = scheme.tier(tier).name or tier
    en.append(f"{hn} ({helper}) -> {tn} ({target}), tier {tier} ({scheme.tier(tier).name_en or tier}):")
    zh.append(f"{hn}（{helper}）帮扶 {tn}（{target}），{tname}：")
    if me.empty:
        en.append("  this helper is not in the tier's pool of helpers.")
        zh.append("  该人员不在本层级的帮扶人员范围内。")
        return Explanation(f"{tier}:{helper}->{target}", "link", pt, en, zh)
    r = me.iloc[0]
    if bool(r["pinned"]):
        en.append(f"  pinned: an incumbent whose term has not ended ({_rule_text('pinned_incumbents', 'en')}).")
        zh.append("  任期未满的在任联系，保持不变（一驻三年不变）。")
    for name in r["fails"]:
        en.append(f"  breaks: {_rule_text(name, 'en')} (source: {_rule_source(name)})")
        zh.append(f"  不符合：{_rule_text(name, 'zh')}")
    for p in COST_PARTS:
        v = float(r[f"cost_{p}"])
        w = scheme.objective.weight(p)
        en.append(f"  {p}: {v:.2f} x weight {w:g} = {v * w:.2f}  ({_rule_text(p, 'en')})")
        zh.append(f"  {_rule_text(p, 'zh')}：{v:.2f} × 权重 {w:g} = {v * w:.2f}")
    en.append(f"  total weighted cost {float(r['weighted']):.2f}; distance {float(r['distance_km']):.1f} km")
    zh.append(f"  加权代价合计 {float(r['weighted']):.2f}；距离 {float(r['distance_km']):.1f} 公里")
    alts = pt[(pt["helper"] != helper) & (pt["fails"].map(len) == 0)].sort_values(["lex", "helper"])
    if alts.empty:
        en.append("  no other eligible helper for this place.")
        zh.append("  该地点没有其他符合条件的人选。")
    else:
        a = alts.iloc[0]
        d = float(a["weighted"]) - float(r["weighted"])
        where = ""
        if a["status"] == "needed_elsewhere":
            other = links[(links["tier"] == tier) & (links["helper"] == a["helper"])]["target"].tolist()
            where = f", needed at {', '.join(_name(instance, o) for o in other)}"
        en.append(f"  best alternative: {_name(instance, a['helper'])} ({a['helper']}), cost {float(a['weighted']):.2f} "
                  f"({d:+.2f}){where}")
        zh.append(f"  最佳替代人选：{_name(instance, a['helper'])}（{a['helper']}），代价 {float(a['weighted']):.2f}"
                  f"（{d:+.2f}）" + ("，已安排在 " + "、".join(_name(instance, o) for o in other) if where else ""))
    return Explanation(f"{tier}:{helper}->{target}", "link", pt, en, zh)


def explain_place(instance: Instance, plan: Any, target: str, *, limit: int = 15) -> Explanation:
    """A place's candidates in each tier, ranked, with the reason each was or was not chosen."""
    scheme, ctx = scheme_and_context(instance)
    links = _assignments(plan)
    tiers = _tiers_of(instance, target=target)
    if not tiers:
        raise PlanError(f"no target '{target}' in the instance's localities or targets")
    en, zh, frames = [], [], []
    for tier in tiers:
        pt = pair_table(instance, tier, targets=[target], ctx=(scheme, ctx)).pairs
        if pt.empty:
            continue
        pt = _status(pt, links, tier)
        order = {"chosen": 0, "needed_elsewhere": 1, "unused": 2, "ineligible": 3}
        pt = pt.assign(_o=pt["status"].map(order)).sort_values(["_o", "lex", "helper"]).drop(columns="_o")
        chosen_rows = pt[pt["status"] == "chosen"]
        best_chosen = max(chosen_rows["lex"]) if len(chosen_rows) else None
        best_w = float(chosen_rows.loc[chosen_rows["lex"] == best_chosen, "weighted"].iloc[0]) if len(chosen_rows) else 0.0
        t = scheme.tier(tier)
        en.append(f"{_name(instance, target)} ({target}), tier {tier} ({t.name_en or tier}): "
                  f"{int((pt['status'] == 'chosen').sum())} chosen of {len(pt)} candidates")
        zh.append(f"{_name(instance, target)}（{target}），{t.name or tier}：{len(pt)} 名候选中选定 "
                  f"{int((pt['status'] == 'chosen').sum())} 名")
        reasons_en, reasons_zh = [], []
        for _, r in pt.iterrows():
            st = r["status"]
            if st == "ineligible":
                e = "ineligible: " + "; ".join(_rule_text(n, "en") for n in r["fails"])
                z = "不符合条件：" + "；".join(_rule_text(n, "zh") for n in r["fails"])
            elif st == "needed_elsewhere":
                other = links[(links["tier"] == tier) & (links["helper"] == r["helper"])]["target"].tolist()
                e = f"needed elsewhere: linked to {', '.join(_name(instance, o) for o in other)}"
                z = f"已安排在别处：{'、'.join(_name(instance, o) for o in other)}"
            elif st == "chosen":
                e = f"chosen, cost {float(r['weighted']):.2f}" + (" (pinned incumbent)" if r["pinned"] else "")
                z = f"已选定，代价 {float(r['weighted']):.2f}" + ("（任期未满，保持不变）" if r["pinned"] else "")
            else:
                if best_chosen is not None and r["lex"] > best_chosen:
                    st = "costlier"
                    e = f"eligible but costlier (priorities in order): {float(r['weighted']):.2f} vs {best_w:.2f}"
                    z = f"符合条件但代价更高（按目标优先次序）：{float(r['weighted']):.2f}，已选人员 {best_w:.2f}"
                else:
                    e = f"eligible, cost {float(r['weighted']):.2f}, not needed (team full or other rules)"
                    z = f"符合条件，代价 {float(r['weighted']):.2f}，未被选用（名额已满或受其他规则限制）"
            reasons_en.append(e)
            reasons_zh.append(z)
            pt.loc[r.name, "status"] = st
        pt["reason"] = reasons_en
        pt["reason_zh"] = reasons_zh
        for (_, r), e, z in list(zip(pt.iterrows(), reasons_en, reasons_zh))[:limit]:
            en.append(f"  {_name(instance, r['helper'])} ({r['helper']}): {e}")
            zh.append(f"  {_name(instance, r['helper'])}（{r['helper']}）：{z}")
        if len(pt) > limit:
            en.append(f"  ... and {len(pt) - limit} more")
            zh.append(f"  …… 另有 {len(pt) - limit} 名")
        frames.append(pt)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return Explanation(target, "place", table, en, zh)


def explain_person(instance: Instance, plan: Any, person: str, *, limit: int = 10) -> Explanation:
    """Why a person (or unit) went where they went: each link explained, and the next-best places."""
    scheme, ctx = scheme_and_context(instance)
    links = _assignments(plan)
    tiers = _tiers_of(instance, helper=person)
    if not tiers:
        raise PlanError(f"no person or unit '{person}' in the instance")
    en: list[str] = []
    zh: list[str] = []
    frames = []
    mine = links[links["helper"] == person]
    if mine.empty:
        en.append(f"{_name(instance, person)} ({person}) has no link in this plan.")
        zh.append(f"{_name(instance, person)}（{person}）在本方案中没有帮扶联系。")
    for r in mine.itertuples(index=False):
        ex = explain_link(instance, plan, r.tier, person, r.target)
        en += ex.lines_en
        zh += ex.lines_zh
    for tier in tiers:
        pt = pair_table(instance, tier, helpers=[person], ctx=(scheme, ctx)).pairs
        if pt.empty:
            continue
        pt = _status(pt, links, tier)
        ok = pt[pt["fails"].map(len) == 0].sort_values(["lex", "target"])
        bad = pt[pt["fails"].map(len) > 0]
        frames.append(pt)
        if tier in set(mine["tier"]):
            others = ok[ok["status"] != "chosen"].head(limit)
            if len(others):
                en.append(f"  next-best places in tier {tier}:")
                zh.append(f"  {scheme.tier(tier).name or tier}中的其他可选地点：")
            tl = links[links["tier"] == tier]
            for _, o in others.iterrows():
                held = tl.loc[tl["target"] == o["target"], "helper"].tolist()
                by_en = f"; held by {', '.join(_name(instance, h) for h in held)}" if held else "; nobody there"
                by_zh = f"；现由 {'、'.join(_name(instance, h) for h in held)} 帮扶" if held else "；暂无人帮扶"
                en.append(f"    {_name(instance, o['target'])} ({o['target']}): cost {float(o['weighted']):.2f}{by_en}")
                zh.append(f"    {_name(instance, o['target'])}（{o['target']}）：代价 {float(o['weighted']):.2f}{by_zh}")
        else:
            en.append(f"  tier {tier}: {len(ok)} eligible places, none taken")
            zh.append(f"  {scheme.tier(tier).name or tier}：可去 {len(ok)} 个地点，未安排")
        if len(bad):
            counts: dict[str, int] = {}
            for f in bad["fails"]:
                for n in f:
                    counts[n] = counts.get(n, 0) + 1
            for n, k in sorted(counts.items()):
                en.append(f"  {k} place(s) of tier {tier} excluded by: {_rule_text(n, 'en')}")
                zh.append(f"  {scheme.tier(tier).name or tier}中 {k} 个地点因以下规则排除：{_rule_text(n, 'zh')}")
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return Explanation(person, "person", table, en, zh)
