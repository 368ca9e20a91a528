"""The program's rules, one function each, vectorised over candidate pairs or a plan's links.

Every rule is registered in :data:`RULES` with its kind:

- ``eligibility``: ``f(pairs, tier, ctx) -> Series[bool]``, True where the pair is allowed; a pair
  that breaks one is never a candidate (see :mod:`matcher.candidates`).
- ``hard``: ``f(links, tier, ctx, plan) -> DataFrame`` of violations (empty when satisfied);
  ``links`` are the tier's chosen pairs (candidate-pair columns), ``plan`` maps every tier id to
  its links (for rules across tiers).
- ``soft``: with an objective ``term``; coverage rules return shortfall rows like hard rules,
  cost rules return ``Series[float]`` per pair.

A rule's docstring: first line the rule, second line its source in the program. The model
(:mod:`matcher.model`) turns hard rules into constraints and soft ones into objective terms;
:func:`evaluate` applies them all to a plan, which is the solver's own self-check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from matcher.candidates import Context, TierFrames, filter_mask, target_frame
from matcher.membership import isin
from matcher.scheme import Filter, Tier

VIOLATION_COLUMNS = ["rule", "tier", "helper", "target", "amount", "message", "message_zh"]


@dataclass(frozen=True)
class RuleSpec:
    """A registered rule: its name, kind (hard/soft/eligibility), objective term and function."""

    name: str
    kind: str
    function: Callable[..., Any]
    term: str = ""

    @property
    def text(self) -> str:
        """The rule in words (first docstring line)."""
        return (self.function.__doc__ or "").strip().splitlines()[0]

    @property
    def source(self) -> str:
        """The rule's source in the program (second docstring line)."""
        lines = [ln.strip() for ln in (self.function.__doc__ or "").strip().splitlines() if ln.strip()]
        return lines[1].removeprefix("Source:").strip() if len(lines) > 1 and lines[1].startswith("Source:") else ""


def _violations(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=VIOLATION_COLUMNS)


def _target_where(pairs: pd.DataFrame, flt: Filter, tier: Tier, ctx: Context) -> pd.Series:
    """Pairs whose target matches ``flt`` (evaluated on the tier's target table)."""
    key = ("targets", tier.id)
    if key not in ctx.cache:
        ctx.cache[key] = target_frame(ctx, tier)
    tf = ctx.cache[key]
    ok = filter_mask(tf, flt)
    return pairs["target"].map(ok).fillna(False).astype(bool)


# --------------------------------------------------------------------------- helpers for terms


def in_force_incumbents(ctx: Context, tier: Tier) -> pd.DataFrame:
    """Incumbent links of ``tier`` in force in the plan year, whose helper and target still exist."""
    inc = ctx.incumbents
    if inc is None or inc.empty or not ctx.scheme.terms.pin_incumbents:
        return pd.DataFrame(columns=["tier", "helper", "target", "start_year"])
    y, term = ctx.plan_year, ctx.scheme.program.term_years
    inc = inc[inc["tier"].astype(str) == tier.id]
    start = pd.to_numeric(inc["start_year"], errors="coerce")
    inc = inc[(start <= y) & (y < start + term)]
    htable = ctx.units if tier.helpers.table == "units" else ctx.people
    ttable = ctx.target_tables.get(tier.targets.table, pd.DataFrame())
    inc = inc[isin(inc["helper"].astype(str), htable.index) & isin(inc["target"].astype(str), ttable.index)]
    return inc.astype({"helper": str, "target": str}).reset_index(drop=True)


def ended_incumbents(ctx: Context, tier: Tier) -> pd.DataFrame:
    """Incumbent links of ``tier`` whose term has ended by the plan year."""
    inc = ctx.incumbents
    if inc is None or inc.empty:
        return pd.DataFrame(columns=["tier", "helper", "target", "start_year"])
    inc = inc[inc["tier"].astype(str) == tier.id]
    start = pd.to_numeric(inc["start_year"], errors="coerce")
    inc = inc[start + ctx.scheme.program.term_years <= ctx.plan_year]
    return inc.astype({"helper": str, "target": str}).reset_index(drop=True)


def _pair_in(pairs: pd.DataFrame, links: pd.DataFrame) -> pd.Series:
    keys = set(zip(links["helper"].astype(str).tolist(), links["target"].astype(str).tolist()))
    return pd.Series([(h, t) in keys for h, t in zip(pairs["helper"].tolist(), pairs["target"].tolist())],
                     index=pairs.index, dtype=bool)


def pinned_mask(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """Pairs that are incumbents in force (pinned)."""
    return _pair_in(pairs, in_force_incumbents(ctx, tier))


def link_days(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """Days per year one link costs its helper: visit days plus the trips' travel days."""
    travel = ctx.scheme.budget.travel
    km = pd.to_numeric(pairs["distance_km"], errors="coerce").fillna(0.0)
    return tier.visit_days + tier.visits_per_year * travel.round_trip_days(1.0) * km


def required_helpers(targets: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """Helpers each target requires: coverage_min raised by matching class minimums (0 under quotas)."""
    if tier.coverage == "quota":
        return pd.Series(0, index=targets.index, dtype=int)
    req = pd.Series(tier.coverage_min, index=targets.index, dtype=int)
    for cm in tier.class_min:
        req = req.where(~filter_mask(targets, cm.where), np.maximum(req, cm.min))
    return req


# --------------------------------------------------------------------------- eligibility rules


def stay_in_area(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """Staff of a county-level unit stay in their own county, of a prefecture-level unit in their own prefecture.

    Source: Guizhou 2012 帮联驻 (市县干部驻本地村) ; Baoxing 挂包帮 (县级领导联系本县乡镇)
    """
    ok = pd.Series(True, index=pairs.index)
    for ulevel, area in tier.eligibility.stay_in_area:
        m = pairs["unit_level"] == ulevel
        ok &= ~m | (pairs["u_" + area].astype(str) == pairs["t_" + area].astype(str))
    return ok


def hometown_avoid(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """A helper may not link a target in his hometown's area at the avoidance level.

    Source: cadre avoidance rules (回避制度) applied to Guizhou 2012 帮联驻 links
    """
    lv = tier.eligibility.hometown_avoid
    if not lv or lv == "village":
        if lv == "village":
            return pairs["hometown"].astype(str) != pairs["locality"].astype(str)
        return pd.Series(True, index=pairs.index)
    home = pairs["home_" + lv].astype(str)
    return (home == "") | (home != pairs["t_" + lv].astype(str))


def max_distance(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """A helper's unit seat lies within max_distance_km of the target (0 = no limit).

    Source: Xuchang Jian'an 万人助企联乡帮村 (就近联系, 便于经常走访)
    """
    lim = tier.eligibility.max_distance_km
    if not lim:
        return pd.Series(True, index=pairs.index)
    return pd.to_numeric(pairs["distance_km"], errors="coerce").fillna(0.0) <= lim


def rank_by_class(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """Targets of a given poverty class accept only helpers of the listed ranks.

    Source: Guizhou 2012 帮联驻 (一类贫困村由科级以上干部带队驻村)
    """
    ok = pd.Series(True, index=pairs.index)
    for rbc in tier.eligibility.rank_by_class:
        m = _target_where(pairs, rbc.where, tier, ctx)
        ok &= ~m | pairs["rank"].isin(rbc.rank)
    return ok


def no_return(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """A helper whose term at a target has ended may not return to it in a no-return tier.

    Source: Guizhou 2012 帮联驻, 一驻三年不变 then rotate (轮换)
    """
    if tier.id not in ctx.scheme.terms.no_return:
        return pd.Series(True, index=pairs.index)
    return ~_pair_in(pairs, ended_incumbents(ctx, tier))


def link_budget(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """One link alone must fit in its helper's yearly days budget for his rank.

    Source: Guizhou 2012 帮联驻 (处级干部每年驻乡时间不少于三分之一)
    """
    ok = pd.Series(True, index=pairs.index)
    if tier.helpers.table != "people":
        return ok
    for rank, rb in ctx.scheme.budget.ranks:
        if rb.max_days is not None:
            ok &= ~(pairs["rank"] == rank) | (pairs["days"] <= rb.max_days + 1e-9)
    return ok


# --------------------------------------------------------------------------- hard rules on links


def pinned_incumbents(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Incumbents whose three-year term has not ended keep their link.

    Source: Guizhou 2012 帮联驻, 一驻三年不变
    """
    inc = in_force_incumbents(ctx, tier)
    have = set(zip(links["helper"].astype(str).tolist(), links["target"].astype(str).tolist()))
    return _violations([
        dict(rule="pinned_incumbents", tier=tier.id, helper=h, target=t, amount=1,
             message=f"incumbent {h} -> {t} (since {y}) is in force and must be kept",
             message_zh=f"在任帮扶关系 {h} -> {t}（{y}年起）未满任期，应保留")
        for h, t, y in zip(inc["helper"].tolist(), inc["target"].tolist(), inc["start_year"].tolist())
        if (h, t) not in have
    ])


def coverage_max(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A target has at most coverage_max helpers in a tier.

    Source: Guizhou 2012 帮联驻 (每村驻村工作组人数) ; Baoxing 挂包帮
    """
    n = links.groupby("target").size()
    over = n[n > tier.coverage_max]
    return _violations([
        dict(rule="coverage_max", tier=tier.id, helper="", target=t, amount=int(k - tier.coverage_max),
             message=f"{t} has {k} helpers, at most {tier.coverage_max} allowed",
             message_zh=f"{t} 有 {k} 名帮扶者，最多 {tier.coverage_max} 名")
        for t, k in over.items()
    ])


def links_per_helper(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each helper has between links_min and links_max links in a tier.

    Source: Baoxing 挂包帮 (每名县级领导联系一个乡镇、一个村、一户贫困户)
    """
    key = ("helpers", tier.id)
    if key not in ctx.cache:
        from matcher.candidates import helper_frame
        ctx.cache[key] = helper_frame(ctx, tier)
    pool = ctx.cache[key].index
    n = links.groupby("helper").size().reindex(pool.union(pd.Index(links["helper"].unique())), fill_value=0)
    rows = []
    for h, k in n.items():
        if k > tier.links_max or (k < tier.links_min and h in pool):
            bound = tier.links_max if k > tier.links_max else tier.links_min
            rows.append(dict(rule="links_per_helper", tier=tier.id, helper=h, target="", amount=int(abs(k - bound)),
                             message=f"{h} has {k} links, expected {tier.links_min}..{tier.links_max}",
                             message_zh=f"{h} 有 {k} 个联系点，应为 {tier.links_min}..{tier.links_max} 个"))
    return _violations(rows)


def unit_share_cap(unit: pd.Series, share: float) -> pd.Series:
    """floor(share * headcount), the most people of a unit one tier may take."""
    return np.floor(unit * share + 1e-9).astype(int)


def unit_share(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """At most unit_share_max of a unit's headcount is linked in a people tier at once.

    Source: Guizhou 2012 帮联驻 (单位派出干部不超过在编人数的三分之一, 保证本单位工作)
    """
    if tier.helpers.table != "people" or tier.unit_share_max <= 0:
        return _violations([])
    n = links.drop_duplicates("helper").groupby("unit").size()
    head = pd.to_numeric(ctx.units["headcount"], errors="coerce").fillna(0)
    cap = unit_share_cap(head, tier.unit_share_max)
    rows = []
    for u, k in n.items():
        c = int(cap.get(u, 0))
        if k > c:
            rows.append(dict(rule="unit_share", tier=tier.id, helper=u, target="", amount=int(k - c),
                             message=f"unit {u} sends {k} people, at most {c} ({tier.unit_share_max:.0%} of headcount)",
                             message_zh=f"单位 {u} 派出 {k} 人，最多 {c} 人（编制的 {tier.unit_share_max:.0%}）"))
    return _violations(rows)


def nesting(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A nested link's target lies in a place its helper's unit helps in the parent tier.

    Source: Guizhou 2012 帮联驻, 部门帮县、处长联乡 (处长联系本部门所帮县的乡镇)
    """
    if not tier.nest_in or tier.nest_in not in plan:
        return _violations([])
    parent = ctx.scheme.tier(tier.nest_in)
    plinks = plan[tier.nest_in]
    level = _parent_level(ctx, parent)
    parent_pool = _parent_units(ctx, parent)
    have = set(zip(plinks["helper"].astype(str).tolist(), plinks["target"].astype(str).tolist()))
    rows = []
    keys = links["helper"] if parent.helpers.table == "people" else links["unit"]
    for h, t, u, anc in zip(links["helper"].tolist(), links["target"].tolist(), keys.tolist(),
                            links["t_" + level].tolist()):
        if u in parent_pool and (u, anc) not in have:
            rows.append(dict(rule="nesting", tier=tier.id, helper=h, target=t, amount=1,
                             message=f"{h}'s unit {u} does not help {anc} in tier {parent.id}",
                             message_zh=f"{h} 所在单位 {u} 未在“{parent.name}”中帮扶 {anc}"))
    return _violations(rows)


def _parent_level(ctx: Context, parent: Tier) -> str:
    levels = dict(parent.targets.columns).get("level", ("county",))
    return str(levels[0])


def _parent_units(ctx: Context, parent: Tier) -> set[str]:
    key = ("helpers", parent.id)
    if key not in ctx.cache:
        from matcher.candidates import helper_frame
        ctx.cache[key] = helper_frame(ctx, parent)
    return set(ctx.cache[key].index)


def nesting_key(pairs: pd.DataFrame, parent: Tier) -> pd.Series:
    """Who must hold the parent link: the helper himself when the parent tier links people, else his unit."""
    return pairs["helper"] if parent.helpers.table == "people" else pairs["unit"]


def nesting_eligible(pairs: pd.DataFrame, tier: Tier, parent: TierFrames) -> pd.Series:
    """Pairs of a nested tier whose (unit, ancestor) is a candidate of the parent tier, or whose unit is not nested."""
    level = str(dict(parent.tier.targets.columns).get("level", ("county",))[0])
    pool = set(parent.helpers.index)
    have = set(zip(parent.pairs["helper"], parent.pairs["target"]))
    keys = nesting_key(pairs, parent.tier)
    return pd.Series([(u not in pool) or ((u, a) in have) for u, a in zip(keys, pairs["t_" + level])],
                     index=pairs.index, dtype=bool)


def time_budget(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A person's days over all his links (visits plus travel) lie within his rank's min and max.

    Source: Guizhou 2012 帮联驻 (处级干部每年到联系乡镇时间不少于三分之一) ; checked once, at the first people tier
    """
    people_tiers = [t for t in ctx.scheme.tiers if t.helpers.table == "people"]
    if not people_tiers or tier.id != people_tiers[0].id:
        return _violations([])
    allp = pd.concat([plan[t.id][["helper", "rank", "days"]].assign(tier=t.id) for t in people_tiers if t.id in plan]
                     or [pd.DataFrame(columns=["helper", "rank", "days", "tier"])])
    visiting = {t.id for t in people_tiers if t.visit_days > 0 or t.visits_per_year > 0}
    allp = allp.assign(days=pd.to_numeric(allp["days"], errors="coerce").fillna(0.0).astype(float),
                       visiting=allp["tier"].isin(visiting))
    per = allp.groupby(["helper", "rank"], sort=True).agg(days=("days", "sum"), visiting=("visiting", "any"))
    rows = []
    for rank, g in per[per["visiting"]].groupby(level="rank", sort=False):
        rb = ctx.scheme.budget.for_rank(str(rank))
        if rb is None:
            continue
        over = g["days"] > rb.max_days + 1e-6 if rb.max_days is not None else pd.Series(False, index=g.index)
        under = g["days"] < rb.min_days - 1e-6
        for (h, _), d, o, u in zip(g.index, g["days"].to_numpy(dtype=float), over.to_numpy(), under.to_numpy()):
            if o:
                rows.append((h, rank, 0, dict(
                    rule="time_budget", tier=tier.id, helper=h, target="", amount=d - rb.max_days,
                    message=f"{h} needs {d:.1f} days a year, at most {rb.max_days:g}",
                    message_zh=f"{h} 每年需 {d:.1f} 天，最多 {rb.max_days:g} 天")))
            if u:
                rows.append((h, rank, 1, dict(
                    rule="time_budget", tier=tier.id, helper=h, target="", amount=rb.min_days - d,
                    message=f"{h} spends {d:.1f} days a year at the grassroots, at least {rb.min_days:g} required",
                    message_zh=f"{h} 每年下基层 {d:.1f} 天，至少应 {rb.min_days:g} 天")))
    rows.sort(key=lambda r: r[:3])  # in (helper, rank) order, as the groups are
    return _violations([r[3] for r in rows])


# --------------------------------------------------------------------------- coverage (soft, first priority)


def coverage_min(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every target gets at least coverage_min helpers, raised by class minimums (full coverage).

    Source: Guizhou 2012 帮联驻, 全覆盖; 一类贫困村两名干部 (class minimum)
    """
    tf = _targets(ctx, tier)
    req = required_helpers(tf, tier, ctx)
    n = links.groupby("target").size().reindex(tf.index, fill_value=0)
    short = (req - n).clip(lower=0)
    return _violations([
        dict(rule="coverage_min", tier=tier.id, helper="", target=t, amount=int(s),
             message=f"{t} has {int(n[t])} of {int(req[t])} helpers required",
             message_zh=f"{t} 有 {int(n[t])} 名帮扶者，需要 {int(req[t])} 名")
        for t, s in short[short > 0].items()
    ])


def composition(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A team at a matching target includes at least min helpers of the required kind (e.g. one section-level).

    Source: Guizhou 2012 帮联驻 (一类贫困村驻村工作组由科级干部带队)
    """
    tf = _targets(ctx, tier)
    rows = []
    for c in tier.composition:
        tm = filter_mask(tf, c.where)
        good = links[filter_mask(links, c.helper_where)] if len(links) else links
        n = good.groupby("target").size().reindex(tf.index[tm], fill_value=0)
        for t, k in n[n < c.min].items():
            rows.append(dict(rule="composition", tier=tier.id, helper="", target=t, amount=int(c.min - k),
                             message=f"{t}'s team has {k} helper(s) matching {c.helper_where.as_dict()}, needs {c.min}",
                             message_zh=f"{t} 工作组中符合 {c.helper_where.as_dict()} 的有 {k} 人，需要 {c.min} 人"))
    return _violations(rows)


def quota(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """With quotas instead of full coverage, each category gets at least its number of covered targets.

    Source: Xuchang Jian'an 万人助企联乡帮村 (29名县级干部联系58家重点企业和16个乡镇)
    """
    if tier.coverage != "quota":
        return _violations([])
    tf = _targets(ctx, tier)
    covered = set(links["target"])
    rows = []
    for i, q in enumerate(tier.quota, start=1):
        m = filter_mask(tf, q.where)
        k = int(sum(t in covered for t in tf.index[m]))
        if k < q.min:
            rows.append(dict(rule="quota", tier=tier.id, helper="", target=f"quota[{i}]", amount=q.min - k,
                             message=f"{k} covered targets matching {q.where.as_dict()}, quota {q.min}",
                             message_zh=f"符合 {q.where.as_dict()} 的已覆盖 {k} 个，指标 {q.min} 个"))
    return _violations(rows)


def _targets(ctx: Context, tier: Tier) -> pd.DataFrame:
    key = ("targets", tier.id)
    if key not in ctx.cache:
        ctx.cache[key] = target_frame(ctx, tier)
    return ctx.cache[key]


# --------------------------------------------------------------------------- costs (soft, per pair)


def match_cost(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """A link is penalised for each target need its helper's expertise misses, and in minority areas for a missing language.

    Source: Guizhou 2012 帮联驻 (部门职能对口县的需求, 干部专长对口村的需求) ; language: 民族地区选派懂民族语言的干部

    A helper's expertise is his skills and his unit's main (first) function (for a unit helper, all its
    functions); the cost is the share of the target's needs it misses, plus the language weight when
    the target has ethnic groups and the helper speaks none of their languages. Evaluated on bit masks
    of the distinct values of each column, so a million pairs cost no Python loop over rows.
    """
    w_lang = ctx.scheme.objective.weight("language")
    n = len(pairs)
    if not n:
        return pd.Series(np.zeros(0), index=pairs.index)
    need_code, needs = _distinct_tuples(pairs["needs"])
    vocab = _vocabulary(needs)
    tags = _expertise_bits(pairs, tier, vocab)
    n_needs = np.array([len(x) for x in needs], dtype=float)[need_code]
    lang = None
    if tier.helpers.table == "people":
        eg_code, egs = _distinct_tuples(pairs["ethnic_groups"])
        lg_code, lgs = _distinct_tuples(pairs["languages"])
        lvocab = _vocabulary(egs)
        lang = (_tag_bits(egs, lvocab)[eg_code], np.array([len(x) > 0 for x in egs], dtype=bool)[eg_code],
                _tag_bits(lgs, lvocab)[lg_code])
    return pd.Series(_match_from_bits(_tag_bits(needs, vocab)[need_code], n_needs, tags, lang, w_lang), index=pairs.index)


def match_cost_grid(helpers: pd.DataFrame, targets: pd.DataFrame, tier: Tier, ctx: Context) -> np.ndarray:
    """match_cost for every (helper row, target row) at once: a (helpers x targets) array.

    Source: the match rule of :func:`match_cost` (same bit masks, same arithmetic, same rounding), laid
    out as a grid so a table of (helper profile, target profile) costs is one call.
    """
    w_lang = ctx.scheme.objective.weight("language")
    if not len(helpers) or not len(targets):
        return np.zeros((len(helpers), len(targets)))
    need_code, needs = _distinct_tuples(targets["needs"])
    vocab = _vocabulary(needs)
    tags = _expertise_bits(helpers, tier, vocab)[:, None, :]
    n_needs = np.array([len(x) for x in needs], dtype=float)[need_code][None, :]
    lang = None
    if tier.helpers.table == "people":
        eg_code, egs = _distinct_tuples(targets["ethnic_groups"])
        lg_code, lgs = _distinct_tuples(helpers["languages"])
        lvocab = _vocabulary(egs)
        lang = (_tag_bits(egs, lvocab)[eg_code][None, :, :],
                np.array([len(x) > 0 for x in egs], dtype=bool)[eg_code][None, :],
                _tag_bits(lgs, lvocab)[lg_code][:, None, :])
    return _match_from_bits(_tag_bits(needs, vocab)[need_code][None, :, :], n_needs, tags, lang, w_lang)


def _expertise_bits(helpers: pd.DataFrame, tier: Tier, vocab: dict[Any, int]) -> np.ndarray:
    """A helper's expertise as tag bits: his skills and his unit's main (first) function; a unit helper's every function."""
    skill_code, skills = _distinct_tuples(helpers["skills"])
    func_code, funcs = _distinct_tuples(helpers["unit_function"])
    tags = _tag_bits(skills, vocab)[skill_code] | _tag_bits([f[:1] for f in funcs], vocab)[func_code]
    if tier.helpers.table == "units":
        tags |= _tag_bits(funcs, vocab)[func_code]
    return tags


def _match_from_bits(need_bits: np.ndarray, n_needs: np.ndarray, tags: np.ndarray,
                  lang: tuple[np.ndarray, np.ndarray, np.ndarray] | None, w_lang: float) -> np.ndarray:
    """The share of needs the expertise misses, plus ``w_lang`` where the target has ethnic groups and no language is shared.

    Arrays broadcast (bit words on the last axis): one row per pair, or a (helpers x targets) grid.
    ``lang`` is (ethnic group bits, has ethnic groups, language bits), None for unit helpers.
    """
    missed = np.bitwise_count(need_bits & ~tags).sum(axis=-1).astype(float)
    miss = np.divide(missed, n_needs, out=np.zeros(missed.shape), where=n_needs > 0)
    no_lang = np.zeros(missed.shape)
    if lang is not None:
        eg_bits, has_eg, lg_bits = lang
        no_lang = (has_eg & ~(eg_bits & lg_bits).any(axis=-1)).astype(float)
    return np.round(miss + w_lang * no_lang, 4)


def _distinct_tuples(col: pd.Series) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Codes of a column of tag tuples and its distinct values (each as a tuple)."""
    values = col.to_numpy(dtype=object)
    try:
        codes, uniq = pd.factorize(values)
    except TypeError:  # unhashable cells (lists): as tuples
        codes, uniq = pd.factorize(np.array([tuple(v) for v in values] + [()], dtype=object)[:-1])
    return codes.astype(np.int64), [tuple(v) if isinstance(v, (tuple, list)) else () for v in uniq]


def _vocabulary(values: list[tuple[Any, ...]]) -> dict[Any, int]:
    """Bit position of every tag that occurs in ``values`` (in order of first occurrence)."""
    vocab: dict[Any, int] = {}
    for v in values:
        for x in v:
            vocab.setdefault(x, len(vocab))
    return vocab


def _tag_bits(values: list[tuple[Any, ...]], vocab: dict[Any, int]) -> np.ndarray:
    """One row of 64-bit words per value: bit j set when the value holds tag j of ``vocab`` (others ignored)."""
    out = np.zeros((len(values), max(1, (len(vocab) + 63) // 64)), dtype=np.uint64)
    for i, v in enumerate(values):
        for x in v:
            j = vocab.get(x)
            if j is not None:
                out[i, j >> 6] |= np.uint64(1) << np.uint64(j & 63)
    return out


def strength_cost(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """Stronger units go to poorer places: a link costs the target's need times the unit's missing strength.

    Source: Guizhou 2012 帮联驻 (实力强的部门帮扶贫困程度深的县)
    """
    s = pd.to_numeric(pairs["unit_strength"], errors="coerce").fillna(0.0)
    smax = float(pd.to_numeric(ctx.units.get("strength", ctx.units["headcount"]), errors="coerce")
                 .fillna(pd.to_numeric(ctx.units["headcount"], errors="coerce")).max() or 1.0)
    pc = pd.to_numeric(pairs["poverty_class"], errors="coerce").fillna(0).astype(int)
    need = pc.map(lambda c: 0 if c <= 0 else max(4 - c, 1)).astype(float)
    return (need * (1.0 - s / max(smax, 1e-9))).round(4)


def travel_cost(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """A link costs the straight-line km from its helper's unit seat to the target.

    Source: Xuchang Jian'an 万人助企联乡帮村 (就近就便) ; Guizhou 2012 travel time in the days budget
    """
    return pd.to_numeric(pairs["distance_km"], errors="coerce").fillna(0.0).round(1)


def continuity_pairs(pairs: pd.DataFrame, tier: Tier, ctx: Context) -> pd.Series:
    """A link that continues the previous term's pair of a continuity tier is preferred; each such pair dropped costs 1.

    Source: Guizhou 2012 帮联驻 (部门帮县关系保持稳定, 不脱钩)
    """
    if not tier.continuity:
        return pd.Series(False, index=pairs.index)
    prev = pd.concat([ended_incumbents(ctx, tier), in_force_incumbents(ctx, tier)])
    return _pair_in(pairs, prev)


def continuity(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each previous-term pair of a continuity tier that could continue (is a candidate) and does not costs 1.

    Source: Guizhou 2012 帮联驻 (部门帮县关系保持稳定, 不脱钩)
    """
    if not tier.continuity:
        return _violations([])
    tf = ctx.cache.get(("frames", tier.id))
    if tf is None:
        return _violations([])
    cand = tf.pairs[tf.pairs["continues"]]
    have = set(zip(links["helper"], links["target"]))
    return _violations([
        dict(rule="continuity", tier=tier.id, helper=h, target=t, amount=1,
             message=f"{h} -> {t} of the previous term is not continued",
             message_zh=f"上一任期的 {h} -> {t} 未延续")
        for h, t in zip(cand["helper"], cand["target"]) if (h, t) not in have
    ])


def balance(links: pd.DataFrame, tier: Tier, ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Load is spread across units: the spread is the largest number of a tier's links held by one unit.

    Source: Guizhou 2012 帮联驻 (各部门任务均衡)
    """
    if links.empty:
        return _violations([])
    n = links.groupby("unit").size()
    return _violations([dict(rule="balance", tier=tier.id, helper=str(n.idxmax()), target="", amount=int(n.max()),
                             message=f"unit {n.idxmax()} holds {int(n.max())} links of tier {tier.id}",
                             message_zh=f"单位 {n.idxmax()} 在该层承担 {int(n.max())} 个联系点")])


RULES: dict[str, RuleSpec] = {s.name: s for s in [
    RuleSpec("stay_in_area", "eligibility", stay_in_area),
    RuleSpec("hometown_avoid", "eligibility", hometown_avoid),
    RuleSpec("max_distance", "eligibility", max_distance),
    RuleSpec("rank_by_class", "eligibility", rank_by_class),
    RuleSpec("no_return", "eligibility", no_return),
    RuleSpec("link_budget", "eligibility", link_budget),
    RuleSpec("pinned_incumbents", "hard", pinned_incumbents),
    RuleSpec("coverage_max", "hard", coverage_max),
    RuleSpec("links_per_helper", "hard", links_per_helper),
    RuleSpec("unit_share", "hard", unit_share),
    RuleSpec("nesting", "hard", nesting),
    RuleSpec("time_budget", "hard", time_budget),
    RuleSpec("coverage_min", "soft", coverage_min, term="coverage"),
    RuleSpec("composition", "soft", composition, term="coverage"),
    RuleSpec("quota", "soft", quota, term="coverage"),
    RuleSpec("continuity", "soft", continuity, term="continuity"),
    RuleSpec("match", "soft", match_cost, term="match"),
    RuleSpec("strength", "soft", strength_cost, term="strength"),
    RuleSpec("travel", "soft", travel_cost, term="travel"),
    RuleSpec("balance", "soft", balance, term="balance"),
]}


def evaluate(ctx: Context, plan: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every hard-rule violation and coverage/continuity shortfall of a plan (links per tier)."""
    out = []
    for tier in ctx.scheme.tiers:
        links = plan.get(tier.id)
        if links is None:
            continue
        for spec in RULES.values():
            if spec.kind == "hard" or spec.term in ("coverage", "continuity"):
                out.append(spec.function(links, tier, ctx, plan))
    out = [o for o in out if len(o)]
    return pd.concat(out, ignore_index=True) if out else _violations([])


def ceil_int(x: float) -> int:
    """Smallest integer >= x (with a tolerance for float noise)."""
    return int(math.ceil(x - 1e-9))
