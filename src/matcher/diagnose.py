"""Why a scenario cannot be fully covered: shortages by area, a minimal conflicting set of rules, the cheapest relaxation.

Three steps, cheapest first:

1. **Counting by area** (any size): per tier, a max-flow from helper groups (unit x rank, with the unit's
   share cap) to the areas they may serve (the county of each target; ``stay_in_area`` and ``rank_by_class``
   decide who may go where; composition slots such as "one section-level per class-1 village" are their own
   demand). Flow short of the demand proves infeasibility; the same network with one slack arc per area
   ("one more eligible helper in this county", cost 1) solved as a min-cost flow gives the fewest extra
   helpers and where they are needed. Pair-level rules (hometown avoidance, distance) are relaxed here, so
   this step finds every shortage that counting can prove, never a false one.
2. **Minimal conflicting set** (small instances, ``max_pairs``): a CP-SAT model over every pair with one
   assumption literal per rule group (coverage per county, composition, class minimum, links per helper,
   unit share, each eligibility rule, nesting, pinned incumbents); the solver's sufficient assumptions are
   shrunk by deletion to a minimal set: removing any one of them restores feasibility.
3. **Relaxations** of the minimal set: for each rule group in it, by how much it must be relaxed
   (how many fewer helpers, how many more), in plain English and Chinese sentences.

This module builds its own small CP-SAT feasibility model: the diagnosis IS a solve of its own
(assumptions over rule groups), which the plan solver does not offer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matcher.candidates import Context
    from matcher.instance import Instance
    from matcher.scheme import Scheme, Tier

LEVEL_ZH = {"province": "省", "prefecture": "市州", "county": "县", "township": "乡镇", "village": "村"}


@dataclass
class Diagnosis:
    """The verdict: shortages per area, a minimal conflicting set of rule groups, relaxations, sentences."""

    shortages: pd.DataFrame  # tier, area, area_name, required, supply, short (counting proof per area)
    relaxation: pd.DataFrame  # tier, area, area_name, extra_helpers (fewest extra helpers, by min-cost flow)
    conflict: list[str] = field(default_factory=list)  # minimal conflicting rule groups (CP-SAT), if computed
    conflict_status: str = "not computed"
    relaxations: list[dict[str, Any]] = field(default_factory=list)
    lines_en: list[str] = field(default_factory=list)
    lines_zh: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        """True when neither counting nor the exact model found a conflict."""
        return self.shortages.empty and not self.conflict

    def text(self, lang: str = "en") -> str:
        """The diagnosis in plain sentences."""
        return "\n".join(self.lines_zh if lang == "zh" else self.lines_en)

    def __str__(self) -> str:
        return self.text("en")


# --------------------------------------------------------------------------- counting by area


def _area_level(tier: Tier, targets: pd.DataFrame) -> str:
    """The level at which a tier's targets are grouped: their county, or themselves at county level and above."""
    levels = set(targets["level"]) if "level" in targets.columns else set()
    return "county" if levels & {"township", "village"} or "t_county" in targets.columns and \
        (targets["t_county"].astype(str) != "").any() and not levels <= {"county", "prefecture", "province"} \
        else "self"


def _target_requirements(ctx: Context, tier: Tier) -> pd.DataFrame:
    """Per target: required helpers, composition slots, allowed ranks (rank_by_class), and area code."""
    from matcher import candidates as cand
    from matcher import rules

    tf = cand.target_frame(ctx, tier)
    if tf.empty:
        return pd.DataFrame(columns=["required", "comp", "ranks", "area"])
    req = rules.required_helpers(tf, tier, ctx)
    comp = pd.Series(0, index=tf.index, dtype=int)
    for c in tier.composition:
        comp = comp.where(~cand.filter_mask(tf, c.where), np.maximum(comp, c.min))
    ranks = pd.Series([None] * len(tf), index=tf.index, dtype=object)
    for rbc in tier.eligibility.rank_by_class:
        m = cand.filter_mask(tf, rbc.where)
        ranks[m] = [tuple(sorted(set(r or rbc.rank) & set(rbc.rank))) for r in ranks[m]]
    level = "county" if (tf.get("level", pd.Series(dtype=object)).isin(["township", "village"]).any()
                         or tier.targets.table == "targets") else "self"
    area = tf["t_county"].astype(str) if level == "county" else pd.Series(tf.index.astype(str), index=tf.index)
    area = area.where(area != "", pd.Series(tf.index.astype(str), index=tf.index))
    return pd.DataFrame({"required": req.astype(int), "comp": np.minimum(comp, req).astype(int),
                         "ranks": ranks, "area": area, "t_prefecture": tf["t_prefecture"].astype(str),
                         "t_county": tf["t_county"].astype(str), "t_province": tf["t_province"].astype(str)})


def _helper_groups(ctx: Context, tier: Tier) -> pd.DataFrame:
    """Helper groups (unit, rank, composition kind) with their count of link slots and the unit's share cap."""
    from matcher import candidates as cand
    from matcher import rules

    hf = cand.helper_frame(ctx, tier)
    if hf.empty:
        return pd.DataFrame(columns=["unit", "rank", "comp", "slots"])
    comp_ok = pd.Series(False, index=hf.index)
    for c in tier.composition:
        comp_ok |= cand.filter_mask(hf, c.helper_where)
    g = pd.DataFrame({"unit": hf["unit"].astype(str), "rank": hf["rank"].astype(str), "comp": comp_ok,
                      "unit_level": hf["unit_level"].astype(str)})
    for lv in ("province", "prefecture", "county"):
        g["u_" + lv] = hf["u_" + lv].astype(str)
    groups = g.groupby(["unit", "rank", "comp", "unit_level", "u_province", "u_prefecture", "u_county"],
                       as_index=False).size().rename(columns={"size": "count"})
    groups["slots"] = groups["count"] * int(tier.links_max)
    if tier.unit_share_max and tier.helpers.table == "people":
        cap = rules.unit_share_cap(ctx.units["headcount"].astype(float), tier.unit_share_max)
        groups["unit_cap"] = groups["unit"].map(cap).fillna(0).astype(int)
    else:
        groups["unit_cap"] = -1
    return groups


def _name(ctx: Context, code: str) -> str:
    loc = ctx.localities
    if code in loc.index:
        return str(loc.at[code, "name"])
    t = ctx.target_tables.get("targets")
    if t is not None and code in t.index and "name" in t.columns:
        return str(t.at[code, "name"])
    return code


def count_shortages(instance: Instance) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per tier and area: demand, supply reachable by flow, and the fewest extra helpers needed (slack flow).

    Returns ``(shortages, relaxation)``; both empty when counting finds no shortage.
    """
    from ortools.graph.python import min_cost_flow

    from matcher.candidates import scheme_and_context

    scheme, ctx = scheme_and_context(instance)
    short_rows: list[dict[str, Any]] = []
    relax_rows: list[dict[str, Any]] = []
    for tier in scheme.tiers:
        if tier.coverage != "full":
            continue
        req = _target_requirements(ctx, tier)
        req = req[req["required"] > 0]
        if req.empty:
            continue
        groups = _helper_groups(ctx, tier)
        # demand nodes: (area, ranks signature); each has a composition part and a general part
        req = req.assign(sig=req["ranks"].map(lambda r: "" if r is None else ",".join(r)))
        dem = req.groupby(["area", "sig"], as_index=False).agg(
            required=("required", "sum"), comp=("comp", "sum"), t_province=("t_province", "first"),
            t_prefecture=("t_prefecture", "first"), t_county=("t_county", "first"))
        stay = dict(tier.eligibility.stay_in_area)
        smcf = min_cost_flow.SimpleMinCostFlow()
        nid: dict[Any, int] = {}

        def node(key: Any) -> int:
            if key not in nid:
                nid[key] = len(nid)
            return nid[key]

        src, sink = node("src"), node("sink")
        total = int(dem["required"].sum())
        for u, sub in groups.groupby("unit"):
            cap = int(sub["unit_cap"].iloc[0])
            un = node(("unit", u))
            smcf.add_arc_with_capacity_and_unit_cost(src, un, int(sub["slots"].sum()) if cap < 0 else
                                                     min(cap * int(tier.links_max), int(sub["slots"].sum())), 0)
            for g in sub.itertuples(index=False):
                gn = node(("group", g.unit, g.rank, bool(g.comp)))
                smcf.add_arc_with_capacity_and_unit_cost(un, gn, int(g.slots), 0)
                area_lv = stay.get(g.unit_level)
                for d in dem.itertuples(index=False):
                    if area_lv and getattr(d, "t_" + area_lv) != getattr(g, "u_" + area_lv):
                        continue
                    if d.sig and g.rank not in d.sig.split(","):
                        continue
                    if d.required - d.comp > 0:
                        smcf.add_arc_with_capacity_and_unit_cost(gn, node(("gen", d.area, d.sig)), int(g.slots), 0)
                    if g.comp and d.comp > 0:
                        smcf.add_arc_with_capacity_and_unit_cost(gn, node(("comp", d.area, d.sig)), int(g.slots), 0)
        for d in dem.itertuples(index=False):
            for kind, amount in (("gen", int(d.required - d.comp)), ("comp", int(d.comp))):
                if amount <= 0:
                    continue
                n = node((kind, d.area, d.sig))
                smcf.add_arc_with_capacity_and_unit_cost(n, sink, amount, 0)
                # slack: one more eligible helper for this area (the relaxation), cost 1
                smcf.add_arc_with_capacity_and_unit_cost(src, n, amount, 1)
        smcf.set_node_supply(src, total)
        smcf.set_node_supply(sink, -total)
        status = smcf.solve()
        if status != smcf.OPTIMAL:
            continue
        slack: dict[str, int] = {}
        for a in range(smcf.num_arcs()):
            if smcf.tail(a) == src and smcf.unit_cost(a) == 1 and smcf.flow(a) > 0:
                key = next(k for k, v in nid.items() if v == smcf.head(a))
                slack[key[1]] = slack.get(key[1], 0) + int(smcf.flow(a))
        if not slack:
            continue
        need = dem.groupby("area")["required"].sum()
        for area, extra in sorted(slack.items()):
            short_rows.append({"tier": tier.id, "area": area, "area_name": _name(ctx, area),
                               "required": int(need[area]), "supply": int(need[area]) - extra, "short": extra})
            relax_rows.append({"tier": tier.id, "area": area, "area_name": _name(ctx, area), "extra_helpers": extra})
    cols = ["tier", "area", "area_name", "required", "supply", "short"]
    return (pd.DataFrame(short_rows, columns=cols),
            pd.DataFrame(relax_rows, columns=["tier", "area", "area_name", "extra_helpers"]))


# --------------------------------------------------------------------------- minimal conflicting set (CP-SAT)


def _pairs_all_tiers(instance: Instance, scheme: Scheme) -> dict[str, pd.DataFrame]:
    from matcher.candidates import context_from_instance
    from matcher.explain import pair_table

    ctx = context_from_instance(instance, scheme)
    return {t.id: pair_table(instance, t.id, ctx=(scheme, ctx)).pairs for t in scheme.tiers}


def minimal_conflict(instance: Instance, *, max_pairs: int = 20000, time_limit: float = 10.0,
                     minimise: bool = True) -> tuple[str, list[str], dict[str, Any]]:
    """A minimal set of rule groups that cannot hold together, by CP-SAT assumptions then deletion.

    Returns ``(status, groups, info)``: status ``"conflict"`` (groups is minimal: drop any one and the rest
    is feasible), ``"feasible"``, ``"too large"`` (more than ``max_pairs`` pairs) or ``"unknown"`` (time).
    Groups are named ``coverage[tier:county]``, ``composition[tier:county]``, ``links_min[tier]``,
    ``links_max[tier]``, ``coverage_max[tier]``, ``unit_share[tier:unit]``, ``<eligibility rule>[tier]``,
    ``nesting[tier]``, ``pinned[tier]``, ``time_budget``.
    """
    from ortools.sat.python import cp_model

    from matcher import candidates as cand
    from matcher import rules
    from matcher.candidates import scheme_and_context

    scheme, ctx = scheme_and_context(instance)
    # every pair becomes a variable: check the size (helpers x targets per tier) before building anything
    bound = sum(len(cand.helper_frame(ctx, t)) * len(cand.target_frame(ctx, t)) for t in scheme.tiers)
    if bound > max_pairs:
        return "too large", [], {"pairs": bound}
    tables = _pairs_all_tiers(instance, scheme)
    n_pairs = sum(len(t) for t in tables.values())

    model = cp_model.CpModel()
    lits: dict[str, Any] = {}

    def lit(name: str) -> Any:
        if name not in lits:
            lits[name] = model.new_bool_var(name)
        return lits[name]

    def S(vs: list[Any]) -> Any:
        return cp_model.LinearExpr.sum(vs)

    x: dict[tuple[str, str, str], Any] = {}
    for tier in scheme.tiers:
        pt = tables[tier.id]
        for r in pt.itertuples(index=False):
            v = model.new_bool_var(f"x[{tier.id},{r.helper},{r.target}]")
            x[(tier.id, r.helper, r.target)] = v
            for f in r.fails:
                model.add(v == 0).only_enforce_if(lit(f"{f}[{tier.id}]"))
            if r.pinned:
                model.add(v == 1).only_enforce_if(lit(f"pinned[{tier.id}]"))
    days: dict[str, list[tuple[Any, float]]] = {}
    for tier in scheme.tiers:
        pt = tables[tier.id]
        if pt.empty:
            continue
        req_t = _target_requirements(ctx, tier)
        tf = cand.target_frame(ctx, tier)
        by_target = pt.groupby("target").groups
        by_helper = pt.groupby("helper").groups
        keys = list(zip(pt["helper"], pt["target"]))
        hf_ok = pd.Series(False, index=pt.index)
        hframe = cand.helper_frame(ctx, tier)
        for c in tier.composition:
            hmask = cand.filter_mask(hframe, c.helper_where)
            hf_ok |= pt["helper"].map(hmask).fillna(False).astype(bool)
        for t in tf.index:
            idx = by_target.get(t, [])
            vs = [x[(tier.id, keys[i][0], t)] for i in idx]
            area = req_t.at[t, "area"] if t in req_t.index else t
            required = int(req_t.at[t, "required"]) if t in req_t.index else 0
            base = tier.coverage_min if tier.coverage == "full" else 0
            if base > 0:
                model.add(S(vs) >= base).only_enforce_if(lit(f"coverage[{tier.id}:{area}]"))
            if required > base:
                model.add(S(vs) >= required).only_enforce_if(lit(f"class_min[{tier.id}:{area}]"))
            model.add(S(vs) <= tier.coverage_max).only_enforce_if(lit(f"coverage_max[{tier.id}]"))
            comp = int(req_t.at[t, "comp"]) if t in req_t.index else 0
            if comp > 0:
                cvs = [x[(tier.id, keys[i][0], t)] for i in idx if hf_ok[i]]
                model.add(S(cvs) >= comp).only_enforce_if(lit(f"composition[{tier.id}:{area}]"))
        hf = cand.helper_frame(ctx, tier)
        for h in hf.index:
            idx = by_helper.get(h, [])
            vs = [x[(tier.id, h, keys[i][1])] for i in idx]
            if tier.links_min > 0:
                model.add(S(vs) >= tier.links_min).only_enforce_if(lit(f"links_min[{tier.id}]"))
            model.add(S(vs) <= tier.links_max).only_enforce_if(lit(f"links_max[{tier.id}]"))
            for i in idx:
                days.setdefault(h, []).append((x[(tier.id, h, keys[i][1])], float(pt.at[i, "days"])))
        if tier.unit_share_max and tier.helpers.table == "people":
            cap = rules.unit_share_cap(ctx.units["headcount"].astype(float), tier.unit_share_max)
            for u, sub in pt.groupby("unit"):
                vs = [x[(tier.id, h, t)] for h, t in zip(sub["helper"], sub["target"])]
                model.add(S(vs) <= int(cap.get(u, 0))).only_enforce_if(lit(f"unit_share[{tier.id}:{u}]"))
        if tier.nest_in:
            parent = scheme.tier(tier.nest_in)
            plevel = rules._parent_level(ctx, parent)
            punits = set(tables[parent.id]["helper"])
            for i, (h, t) in enumerate(keys):
                u = str(pt.at[i, "unit"])
                if u not in punits or bool(pt.at[i, "pinned"]):
                    continue
                anc = str(pt.at[i, "t_" + plevel]) if ("t_" + plevel) in pt.columns else ""
                pv = x.get((parent.id, u, anc))
                if pv is None:
                    model.add(x[(tier.id, h, t)] == 0).only_enforce_if(lit(f"nesting[{tier.id}]"))
                else:
                    model.add_implication(x[(tier.id, h, t)], pv).only_enforce_if(lit(f"nesting[{tier.id}]"))
    people = ctx.people
    for h, items in days.items():
        if h not in people.index:
            continue
        rb = scheme.budget.for_rank(str(people.at[h, "rank"]))
        if rb is None or not any(d > 0 for _, d in items):
            continue
        scaled = [(v, int(round(d * 10))) for v, d in items]
        tot = sum(c * v for v, c in scaled)
        if rb.max_days is not None:
            model.add(tot <= int(math.floor(rb.max_days * 10 + 1e-6))).only_enforce_if(lit("time_budget"))
        if rb.min_days:
            any_link = model.new_bool_var(f"busy[{h}]")
            model.add_max_equality(any_link, [v for v, _ in scaled])
            model.add(tot >= int(math.ceil(rb.min_days * 10 - 1e-6))).only_enforce_if([any_link, lit("time_budget")])

    names = sorted(lits)

    def solve_with(active: list[str]) -> str:
        model.clear_assumptions()
        model.add_assumptions([lits[n] for n in active])
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = time_limit
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = 0
        solver.parameters.linearization_level = 2
        st = solver.solve(model)
        if st == cp_model.INFEASIBLE:
            core = [model.get_bool_var_from_proto_index(i).name for i in solver.sufficient_assumptions_for_infeasibility()]
            solve_with.core = core  # type: ignore[attr-defined]
            return "infeasible"
        return "feasible" if st in (cp_model.OPTIMAL, cp_model.FEASIBLE) else "unknown"

    st = solve_with(names)
    info: dict[str, Any] = {"pairs": n_pairs, "groups": len(names)}
    if st != "infeasible" or not minimise:
        return ("conflict" if st == "infeasible" else st), [], info
    core = sorted(solve_with.core)  # type: ignore[attr-defined]
    # deletion filter: drop each group in turn; keep it only if the rest becomes feasible without it
    i = 0
    while i < len(core):
        trial = core[:i] + core[i + 1:]
        if solve_with(trial) == "infeasible":
            core = sorted(set(trial) & set(solve_with.core)) if solve_with.core else trial  # type: ignore[attr-defined]
        else:
            i += 1
    info["core_size"] = len(core)
    return "conflict", core, info


# --------------------------------------------------------------------------- sentences


_GROUP_EN = {
    "coverage": "every target needs {n} helper(s) (coverage_min)",
    "class_min": "class minimums (e.g. class-1 poor villages need two)",
    "composition": "team composition (e.g. one section-level cadre in each class-1 village team)",
    "coverage_max": "at most coverage_max helpers per target",
    "links_min": "every helper takes at least links_min link(s)",
    "links_max": "each helper takes at most links_max link(s)",
    "unit_share": "a unit sends at most unit_share_max of its headcount",
    "nesting": "nesting (部门帮县、处长联乡): officials link townships of their department's county",
    "pinned": "incumbents whose term has not ended keep their link",
    "time_budget": "each person's yearly days budget",
    "forbidden": "links forbidden by the scenario",
}
_GROUP_ZH = {
    "coverage": "每个对象至少需要帮扶人员（覆盖下限）",
    "class_min": "分类最低人数（如一类贫困村需两名驻村干部）",
    "composition": "工作队构成（如一类贫困村工作队至少一名科级干部）",
    "coverage_max": "每个对象帮扶人数上限",
    "links_min": "每名干部至少联系的点数",
    "links_max": "每名干部最多联系的点数",
    "unit_share": "单位派出人数不超过编制的规定比例",
    "nesting": "部门帮县、处长联乡：处级干部联系本部门帮扶县的乡镇",
    "pinned": "任期未满的在任联系保持不变",
    "time_budget": "每人每年下基层天数预算",
    "forbidden": "情景中禁止的帮扶关系",
}


def _group_words(group: str, ctx_names: dict[str, str], lang: str) -> str:
    head, _, rest = group.partition("[")
    rest = rest.rstrip("]")
    tier, _, where = rest.partition(":")
    from matcher.explain import _rule_text

    if lang == "zh":
        base = _GROUP_ZH.get(head) or _rule_text(head, "zh")
        place = f"，{ctx_names.get(where, where)}" if where else ""
        return f"{base}（{tier}{place}）"
    base = _GROUP_EN.get(head, "").replace("{n}", "the minimum number of") or _rule_text(head, "en")
    place = f", {ctx_names.get(where, where)} ({where})" if where else ""
    return f"{base} [tier {tier}{place}]"


def diagnose(instance: Instance, *, exact: bool = True, max_pairs: int = 20000, time_limit: float = 10.0) -> Diagnosis:
    """Diagnose an instance: counting shortages per area, then (small instances) a minimal conflicting set."""
    from matcher.candidates import scheme_and_context

    shortages, relaxation = count_shortages(instance)
    scheme, ctx = scheme_and_context(instance)
    names = {str(k): str(v) for k, v in ctx.localities["name"].items()}
    names.update({str(k): str(v) for k, v in ctx.units["name"].items()})
    en: list[str] = []
    zh: list[str] = []
    for r in shortages.itertuples(index=False):
        tname = scheme.tier(r.tier)
        en.append(f"{r.area_name} ({r.area}), tier {r.tier} ({tname.name_en or r.tier}): {r.required} helper slots, "
                  f"at most {r.supply} can be filled by eligible helpers: {r.short} short.")
        zh.append(f"{r.area_name}（{r.area}），{tname.name or r.tier}：需要 {r.required} 个帮扶名额，"
                  f"符合条件的人员最多只能满足 {r.supply} 个，缺 {r.short} 人。")
    if not relaxation.empty:
        tot = int(relaxation["extra_helpers"].sum())
        en.append(f"Cheapest relaxation by staffing: at least {tot} more eligible helper(s) (counting bound): "
                  + "; ".join(f"{r.extra_helpers} in {r.area_name}" for r in relaxation.itertuples(index=False)) + ".")
        zh.append(f"按计数下界，至少需增派符合条件的人员 {tot} 名：" + "；".join(
            f"{r.area_name} {r.extra_helpers} 名" for r in relaxation.itertuples(index=False)) + "。")
    status, groups, info = ("not computed", [], {})
    relaxations: list[dict[str, Any]] = []
    if exact:
        status, groups, info = minimal_conflict(instance, max_pairs=max_pairs, time_limit=time_limit)
        if status == "conflict":
            en.append(f"Minimal conflicting set ({len(groups)} rule group(s); dropping any one restores feasibility):")
            zh.append(f"最小冲突规则组（共 {len(groups)} 组；放宽其中任意一组即可行）：")
            for g in groups:
                en.append(f"  - {_group_words(g, names, 'en')}")
                zh.append(f"  - {_group_words(g, names, 'zh')}")
            relaxations = _relax(instance, groups)
            for r in relaxations:
                en.append(f"Relax: {r['en']}")
                zh.append(f"放宽方案：{r['zh']}")
        elif status == "too large":
            en.append(f"(Exact conflict search skipped: up to {info['pairs']} pairs exceed {max_pairs}; counting above.)")
            zh.append(f"（规模较大（最多 {info['pairs']} 个候选对），未做精确冲突分析，以上为计数结果。）")
        elif status == "feasible" and shortages.empty:
            en.append("Feasible: every hard rule and full coverage can hold together.")
            zh.append("可行：所有硬性规则和全覆盖要求可以同时满足。")
    if not en:
        en.append("Counting finds no shortage in any area.")
        zh.append("按地区计数，未发现人员缺口。")
    return Diagnosis(shortages, relaxation, groups, status, relaxations, en, zh)


def _relax(instance: Instance, groups: list[str]) -> list[dict[str, Any]]:
    """For each numeric rule group of a conflict, the smallest change that makes the instance feasible.

    Tries the rule's parameter one step at a time (coverage/class minimum down, coverage_max, links_max and
    unit_share_max up) on a scenario and stops at the first feasible value (exact model).
    """
    from matcher.scenario import Scenario

    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for g in groups:
        head, _, rest = g.partition("[")
        tier = rest.rstrip("]").partition(":")[0]
        if (head, tier) in seen:
            continue
        seen.add((head, tier))
        t = next(x for x in instance.scheme["tiers"] if str(x["id"]) == tier) if tier else None
        trials: list[tuple[Scenario, str, str]] = []
        s = Scenario(instance)
        if head == "class_min" and t is not None:
            for cm in t.get("class_min", []):
                for m in range(int(cm["min"]) - 1, 0, -1):
                    trials.append((s.set_class_min(tier, cm["where"], m),
                                   f"in tier {tier}, class minimum {cm['where']} from {cm['min']} to {m}",
                                   f"{tier}层级中，{cm['where']} 的最低人数由 {cm['min']} 降为 {m}"))
        elif head == "coverage_max" and t is not None:
            for m in range(int(t.get("coverage_max", 1)) + 1, int(t.get("coverage_max", 1)) + 4):
                trials.append((s.set_coverage(tier, maximum=m), f"in tier {tier}, coverage_max to {m}",
                               f"{tier}层级中，每个对象帮扶人数上限提高到 {m}"))
        elif head == "links_max" and t is not None:
            for m in range(int(t.get("links_max", 1)) + 1, int(t.get("links_max", 1)) + 3):
                trials.append((s.set_rule(tier, "links_max", m), f"in tier {tier}, links_max to {m}",
                               f"{tier}层级中，每人最多联系点数提高到 {m}"))
        elif head == "unit_share" and t is not None:
            share = float(t.get("unit_share_max", 0.0))
            for k in range(1, 6):
                v = round(min(1.0, share + 0.1 * k), 4)
                trials.append((s.set_rule(tier, "unit_share_max", v), f"in tier {tier}, unit_share_max to {v}",
                               f"{tier}层级中，单位派出比例上限提高到 {v}"))
        for scen, en, zh in trials:
            st, _, _ = minimal_conflict(scen.instance, time_limit=5.0, minimise=False)
            if st == "feasible":
                out.append({"group": g, "en": en, "zh": zh})
                break
    return out
