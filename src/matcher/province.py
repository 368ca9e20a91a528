"""Province-scale solving: the county tier first (MIP with coupling rows), then every lower tier as min-cost flows.

``solve_province(instance, time_limit=60, seed=0, workers=2)`` returns a :class:`matcher.plan.Plan`
like :func:`matcher.solver.solve`, for instances too large for one candidate-pair table (Guizhou
2012: 2,829 division officials, 23,168 village staff, 13,689 villages).

Structure does the work:

1. The top tier (units helping counties, ~9 k pairs) is first solved as a min-cost flow without
   coupling; if that optimum satisfies the coupling it is kept (proven optimal), otherwise (Guizhou:
   30 counties would get more officials than 3 x their towns) a HiGHS MIP solves it in lexicographic
   stages (CP-SAT if the MIP finds nothing), with coupling constraints so that the lower tiers stay
   feasible: a county's chosen units bring at most as many nested helpers as its targets can take,
   no unit takes a county where one of its nested helpers could link nothing (hometown avoidance),
   every unit with nested helpers gets a county, and a first stage minimises the counted shortfall
   of helpers for the lower tiers.
2. Each lower tier, given the links of the tier it nests in, is cut into chunks (one per county):
   a chunk's candidate pairs are built by the steps of :func:`matcher.candidates.build_tier_frames`
   on slices of the tier's helper and target frames (the chunk's targets and the helpers that may
   reach them), so every eligibility and cost rule of :mod:`matcher.rules` applies unchanged; only
   compact numpy arrays are kept. Chunks that share helpers (prefecture staff) are solved together.
3. A group of chunks is a min-cost flow (OR-Tools ``SimpleMinCostFlow``): helper -> [lead slot]
   -> target -> sink; a target's first ``required`` units and a composition's first ``min`` units
   earn a coverage bonus. Priorities are combined with lexicographic weights while the weighted
   costs stay in OR-Tools' exact range (coverage, match and strength together on Guizhou); then the
   flow is restricted to that optimum's face (node potentials from a shortest-path-tree flow: an arc
   with a non-zero reduced cost keeps its flow in every optimum) and the next priorities (travel)
   are minimised on it. Each tier's result is the exact lexicographic optimum given its parent.

The lower tiers are exact given the top tier's links; the top tier's choice is fixed first, so the
whole plan has status FEASIBLE with per-tier gaps (as :func:`matcher.model.solve_decomposed` does
for nested tiers solved in order).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit
from ortools.graph.python import min_cost_flow
from ortools.sat.python import cp_model

from matcher import helperclasses, pairarrays, priorprices, processes, rules, wholebound
from matcher.candidates import (
    Context,
    TierFrames,
    build_tier_frames,
    context_from_instance,
    filter_mask,
    helper_frame,
    scheme_and_context,
    target_frame,
)
from matcher.errors import SolveError
from matcher.membership import isin
from matcher.model import SCALES, Solution, Stage, costs_on_grid, drop_forbidden
from matcher.scheme import Scheme, Tier, read_scheme

Progress = Callable[[str, dict[str, Any]], None]

COST_LIMIT = 2**62
"""Largest |arc cost| x (nodes + 1) a min-cost flow may use (OR-Tools scales costs by the node count)."""

STAGE_LIMIT = 2**46
"""Largest |arc cost| x (nodes + 1) one lexicographic flow solve takes on before the next term gets its own solve.

Cost scaling runs one refinement phase per factor of its cost range, so two solves over narrower
ranges beat one over their product: on the Guizhou village groups [coverage, match] + [strength,
travel] solve faster than [coverage, match, strength] + [travel], to the same optimum
(bench/bench_flow_stages.py; figures in bench/RESULTS.md).
"""

FLOW_TERMS = ("match", "strength", "travel")


# --------------------------------------------------------------------------- small helpers


def _int_cost(values: pd.Series | np.ndarray, ctx: Context, term: str) -> np.ndarray:
    """A cost part as the integers the solver minimises (as :mod:`matcher.model` scales them)."""
    w = ctx.scheme.objective.weight(term)
    return np.rint(np.asarray(values, dtype=float) * w * SCALES[term]).astype(np.int64)


def _parent_level(parent: Tier) -> str:
    return str(dict(parent.targets.columns).get("level", ("county",))[0])


def _restricted_context(ctx: Context, tier: Tier, helper_ids: pd.Index, target_ids: pd.Index) -> Context:
    """A Context whose helper table and target table hold only a chunk's rows (other tables whole)."""
    tt = dict(ctx.target_tables)
    tt[tier.targets.table] = ctx.target_tables[tier.targets.table].loc[target_ids]
    people = ctx.people.loc[helper_ids] if tier.helpers.table == "people" else ctx.people
    units = ctx.units
    return Context(scheme=ctx.scheme, localities=ctx.localities, units=units, people=people,
                   incumbents=ctx.incumbents, target_tables=tt, positions=ctx.positions)


# --------------------------------------------------------------------------- stage 1: the top tier with coupling


@dataclass
class Coupling:
    """What the tiers nested in the top tier need from it, per unit and per area (county)."""

    child: Tier
    per_unit: pd.Series      # nested helpers of each top-tier unit (they must all be placed in its areas)
    must_local: pd.Series    # per area: helpers forced into the area by stay_in_area at the area's level
    flexible: pd.Series      # per area: helpers who may serve it but also other areas (prefecture staff)
    flexible_group: pd.Series  # per area: the group (prefecture) sharing the flexible helpers
    group_flexible: pd.Series  # per group: its flexible helpers
    required: pd.Series      # per area: the child tier's required helpers
    capacity: pd.Series      # per area: the child tier's most helpers (coverage_max x targets)
    optional_units: pd.Series  # per unit: nested helpers whose links_min is 0 (not forced)
    forbidden: set[tuple[str, str]]  # (unit, area): a nested helper of the unit could not serve anywhere in the area


def _couplings(ctx: Context, top: Tier) -> list[Coupling]:
    """Per child tier nested in ``top``: the counts its coupling constraints use."""
    if top.helpers.table != "units":
        return []
    level = _parent_level(top)
    out = []
    for child in ctx.scheme.tiers:
        if child.nest_in != top.id or child.helpers.table != "people":
            continue
        h = helper_frame(ctx, child)
        t = target_frame(ctx, child)
        area = t["t_" + level].astype(str)
        req = rules.required_helpers(t, child, ctx).clip(upper=child.coverage_max)
        required = req.groupby(area).sum()
        capacity = pd.Series(child.coverage_max, index=t.index).groupby(area).sum() * max(child.links_max, 1)
        stay = dict(child.eligibility.stay_in_area)
        top_units = set(helper_frame(ctx, top).index)
        nested = h["unit"].isin(top_units)
        per_unit = h[nested].groupby("unit").size() * child.links_min
        optional_units = h[nested].groupby("unit").size() * (child.links_max if child.links_min == 0 else 0)
        must_local = pd.Series(0, index=required.index, dtype=int)
        flexible = pd.Series(0, index=required.index, dtype=int)
        group = pd.Series("", index=required.index, dtype=object)
        group_flex = pd.Series(dtype=int)
        a_anc = t.drop_duplicates("t_" + level).set_index("t_" + level)
        for ulevel, alevel in stay.items():
            hh = h[(h["unit_level"] == ulevel) & ~nested]
            if alevel == level:
                must_local = must_local.add(hh.groupby("u_" + alevel).size() * max(child.links_min, 0), fill_value=0)
            else:
                g = hh.groupby("u_" + alevel).size() * child.links_max
                grp = a_anc["t_" + alevel].reindex(required.index).astype(str)
                flexible = flexible.add(grp.map(g).fillna(0), fill_value=0)
                group = grp
                group_flex = g
        must_local = must_local.reindex(required.index, fill_value=0).astype(int)
        flexible = flexible.reindex(required.index, fill_value=0).astype(int)
        forbidden = hometown_blocks(h[nested], child, level) if child.links_min >= 1 else set()
        out.append(Coupling(child, per_unit, must_local, flexible, group, group_flex, required, capacity,
                            optional_units, forbidden))
    return out


def hometown_blocks(helpers: pd.DataFrame, child: Tier, level: str) -> set[tuple[str, str]]:
    """A unit may not take an area where one of its nested helpers could link nothing (his hometown covers it).

    Source: cadre avoidance (回避制度) with Guizhou 2012 帮联驻 处长联乡 inside the department's county
    """
    avoid = child.eligibility.hometown_avoid
    levels = ["province", "prefecture", "county"]
    if avoid not in levels or level not in levels or levels.index(avoid) > levels.index(level):
        return set()
    home = helpers["home_" + avoid].astype(str)
    # the helper's hometown at the avoidance level contains every area below it: block the areas of that level
    out: set[tuple[str, str]] = set()
    for u, hcode in zip(helpers["unit"], home):
        if hcode:
            out.add((str(u), hcode))
    return out


def _forbidden_mask(p: pd.DataFrame, top: Tier, couplings: list[Coupling]) -> np.ndarray:
    """Top-tier pairs a coupling forbids (a nested helper of the unit could serve nowhere in the area)."""
    out = np.zeros(len(p), dtype=bool)
    for c in couplings:
        if c.forbidden:
            col = "t_" + (c.child.eligibility.hometown_avoid or _parent_level(top))
            keys = list(zip(p["helper"].astype(str).tolist(), p[col].astype(str).tolist()))
            out |= np.array([k in c.forbidden for k in keys], dtype=bool) & ~p["pinned"].to_numpy(dtype=bool)
    return out


def coupling_holds(p: pd.DataFrame, chosen: np.ndarray, couplings: list[Coupling]) -> bool:
    """The lower tiers' capacity rows hold for a choice of top-tier pairs, with no counted shortfall.

    Source: Guizhou 2012 帮联驻, 处长联乡 and 干部驻村 inside the departments' counties (每乡有处长, 每村有干部)
    """
    ch = p[chosen]
    for c in couplings:
        brought = ch["helper"].map(c.per_unit).fillna(0).groupby(ch["target"]).sum()
        extra = ch["helper"].map(c.optional_units).fillna(0).groupby(ch["target"]).sum()
        b = brought.reindex(c.required.index, fill_value=0)
        bmax = b + extra.reindex(c.required.index, fill_value=0)
        loc = c.must_local.reindex(c.required.index, fill_value=0)
        if ((b + loc) > c.capacity.reindex(c.required.index, fill_value=0)).any():
            return False
        if ((bmax + loc + c.flexible.reindex(c.required.index, fill_value=0)) < c.required).any():
            return False
        if len(c.group_flexible):
            for g, areas in c.flexible_group.groupby(c.flexible_group, sort=True):
                if not g:
                    continue
                tot = int((b + loc).reindex(areas.index).sum())
                cap = int(c.capacity.reindex(areas.index).fillna(0).sum())
                if tot + int(c.group_flexible.get(g, 0)) * (1 if c.child.links_min else 0) > cap:
                    return False
    return True


def _top_by_flow(ctx: Context, top: Tier, frames: TierFrames, couplings: list[Coupling]
                 ) -> tuple[np.ndarray, list[Stage]] | None:
    """The top tier as a min-cost flow without the coupling rows; kept only when its optimum satisfies them.

    Source: a relaxation's optimum that is feasible for the full problem is the full problem's optimum
    """
    p = frames.pairs
    if top.links_max > 1 or p["continues"].any() or not len(p):
        return None
    allowed = ~_forbidden_mask(p, top, couplings)
    sub = np.flatnonzero(allowed)
    h_pos = pd.Series(np.arange(len(frames.helpers)), index=frames.helpers.index)
    t_pos = pd.Series(np.arange(len(frames.targets)), index=frames.targets.index)
    hp = p["helper"].iloc[sub].map(h_pos).to_numpy(dtype=np.int32)
    tp = p["target"].iloc[sub].map(t_pos).to_numpy(dtype=np.int32)
    must_units: set[str] = set()
    for c in couplings:
        must_units |= set(c.per_unit.index[c.per_unit > 0])
    must = np.array([top.links_min >= 1 or h in must_units for h in frames.helpers.index], dtype=bool)
    req = rules.required_helpers(frames.targets, top, ctx).to_numpy(dtype=np.int64)
    costs = {term: _int_cost(p["cost_" + term].iloc[sub], ctx, term) for term in FLOW_TERMS}
    order = np.lexsort((tp, hp))
    try:
        r = _solve_flow(len(frames.helpers), must, len(frames.targets), req, np.zeros(len(req), dtype=np.int64),
                        top.coverage_max, hp[order], tp[order], np.zeros(len(sub), dtype=bool),
                        p["pinned"].to_numpy(dtype=bool)[sub][order], {k: v[order] for k, v in costs.items()})
    except _FlowInfeasible:
        return None
    if len(r.unplaced):
        return None
    chosen = np.zeros(len(p), dtype=bool)
    chosen[sub[order[r.chosen]]] = True
    if not coupling_holds(p, chosen, couplings):
        return None
    ch = p[chosen]
    w_bal = int(round(ctx.scheme.objective.weight("balance")))
    bal = float(w_bal * ch.groupby("unit").size().max()) if p["unit"].nunique() >= 2 and len(ch) else 0.0
    stages = [Stage("coverage", float(r.coverage), float(r.coverage), "OPTIMAL", 0.0),
              Stage("continuity", 0.0, 0.0, "OPTIMAL", 0.0)]
    stages += [Stage(k, r.values[k] / SCALES[k], r.values[k] / SCALES[k], "OPTIMAL", 0.0) for k in FLOW_TERMS]
    if top.links_max == 1 and bal <= w_bal:  # every unit holds at most one link: the balance minimum
        stages.append(Stage("balance", bal, bal, "OPTIMAL", 0.0))
    else:
        return None
    order_terms = list(ctx.scheme.objective.order)
    return chosen, [s for s in stages if s.term in order_terms]


def _solve_top_milp(ctx: Context, top: Tier, frames: TierFrames, couplings: list[Coupling], *, time_limit: float,
                    progress: Progress | None, priced: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                    alone: tuple[np.ndarray, np.ndarray] | None = None, known: dict[str, float] | None = None,
                    priced_travel: bool = True, earlier: list[tuple[np.ndarray, np.ndarray, float]] | None = None
                    ) -> tuple[np.ndarray, list[Stage], str, float] | None:
    """The top tier with its coupling rows as a HiGHS MIP, one lexicographic stage per priority (None if it finds nothing).

    Source: Guizhou 2012 帮联驻, 部门帮县 with 处长联乡/干部驻村 capacity inside each county

    ``alone`` (with ``priced``): per pair, the extra priced W1 when its unit is its target's only unit, and
    whether the unit may be alone there at all; a binary per target says "exactly one unit" (see
    :func:`alone_rows`). ``known`` gives stages whose optimum is already known (an earlier MIP with the same
    rows): they become rows at that value without a solve, as do stages whose costs are all zero.
    ``priced_travel=False`` leaves out the priced travel stage (nobody uses the choice's travel).
    ``earlier`` (with ``priced``): earlier rounds' priced W1 as cuts (per-pair prices, alone prices, constant
    relative to this round's): the W1 stage then minimises a variable above every round's priced W1 (each is
    a lower bound on every plan, so their maximum is too), see :func:`cut_rows`.
    """
    from scipy import sparse
    from scipy.optimize import LinearConstraint

    if top.links_max != 1:
        return None  # balance (largest unit load) is then not constant: CP-SAT handles it
    p = frames.pairs
    n = len(p)
    t_pos = pd.Series(np.arange(len(frames.targets)), index=frames.targets.index)
    h_pos = pd.Series(np.arange(len(frames.helpers)), index=frames.helpers.index)
    ti = p["target"].map(t_pos).to_numpy(dtype=np.int64)
    hi = p["helper"].map(h_pos).to_numpy(dtype=np.int64)
    req = rules.required_helpers(frames.targets, top, ctx).to_numpy(dtype=np.int64)
    areas = [(c, a) for c in couplings for a in c.required.index]
    ns, na = len(req), len(areas)
    earlier = earlier if priced is not None else None
    with_extra = [alone[0]] if alone is not None else []
    with_extra += [e[1] for e in (earlier or [])]
    use_alone = priced is not None and (alone is not None or any(e.any() for e in with_extra))
    extra_at = (np.flatnonzero(np.any(np.vstack(with_extra) > 0, axis=0)) if use_alone
                else np.zeros(0, dtype=np.int64))
    n_alone = (ns + len(extra_at)) if use_alone else 0
    n_eta = 1 if earlier else 0
    nv = n + ns + na + n_alone + n_eta
    r_i: list[np.ndarray] = []
    c_i: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lo: list[float] = []
    up: list[float] = []

    def row(cols: np.ndarray, coef: np.ndarray, a: float, b: float) -> None:
        r_i.append(np.full(len(cols), len(lo)))
        c_i.append(cols)
        vals.append(coef.astype(float))
        lo.append(a)
        up.append(b)

    by_t = pd.Series(np.arange(n)).groupby(ti).indices
    by_h = pd.Series(np.arange(n)).groupby(hi).indices
    for j in range(ns):
        idx = np.asarray(by_t.get(j, []), dtype=np.int64)
        row(np.append(idx, n + j), np.ones(len(idx) + 1), float(req[j]), np.inf)
        row(idx, np.ones(len(idx)), 0.0, float(top.coverage_max))
    must_units: set[str] = set()
    for c in couplings:
        must_units |= set(c.per_unit.index[c.per_unit > 0])
    for k, h in enumerate(frames.helpers.index):
        idx = np.asarray(by_h.get(k, []), dtype=np.int64)
        row(idx, np.ones(len(idx)), float(max(top.links_min, 1 if h in must_units else 0)), float(top.links_max))
    helpers_s = p["helper"].astype(str)
    for q, (c, a) in enumerate(areas):
        idx = np.asarray(by_t.get(int(t_pos[a]), []), dtype=np.int64) if a in t_pos.index else np.zeros(0, dtype=np.int64)
        pu = helpers_s.iloc[idx].map(c.per_unit).fillna(0).to_numpy(dtype=float)
        po = pu + helpers_s.iloc[idx].map(c.optional_units).fillna(0).to_numpy(dtype=float)
        loc = int(c.must_local.get(a, 0))
        row(idx, pu, -np.inf, float(int(c.capacity.get(a, 0)) - loc))
        row(np.append(idx, n + ns + q), np.append(po, 1.0), float(int(c.required[a]) - loc - int(c.flexible.get(a, 0))), np.inf)
    for c in couplings:
        if not len(c.group_flexible):
            continue
        for g, grp in c.flexible_group.groupby(c.flexible_group, sort=True):
            if not g:
                continue
            idx = np.concatenate([np.asarray(by_t.get(int(t_pos[a]), []), dtype=np.int64)
                                  for a in grp.index if a in t_pos.index] or [np.zeros(0, dtype=np.int64)])
            pu = helpers_s.iloc[idx].map(c.per_unit).fillna(0).to_numpy(dtype=float)
            cap = int(c.capacity.reindex(grp.index).fillna(0).sum())
            fixed = int(c.must_local.reindex(grp.index).fillna(0).sum()) + \
                int(c.group_flexible.get(g, 0)) * (1 if c.child.links_min else 0)
            row(idx, pu, -np.inf, float(cap - fixed))
    if n_alone:
        alone_rows(row, ti, n, ns, na, req > 0, extra_at,
                   alone[1] if alone is not None else np.zeros(n, dtype=bool))
    if earlier:
        assert priced is not None
        last_extra = alone[0] if alone is not None else np.zeros(n)
        cut_rows(row, n, n + ns + na + ns, extra_at, nv - 1, [(priced[0], last_extra, 0.0), *earlier])
    A = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(r_i), np.concatenate(c_i))), shape=(len(lo), nv))
    ub = np.concatenate([np.where(_forbidden_mask(p, top, couplings), 0, 1), req,
                         [int(c.required[a]) for c, a in areas], np.ones(n_alone), np.full(n_eta, np.inf)]).astype(float)
    lb = np.zeros(nv)
    lb[nv - n_eta:] = -np.inf
    lb[:n][p["pinned"].to_numpy(dtype=bool)] = 1
    cons = [LinearConstraint(A, np.array(lo), np.array(up))]
    cont = p["continues"].to_numpy(dtype=bool)
    pad = np.zeros(n_alone + n_eta)
    costs = {"coupling": np.concatenate([np.zeros(n + ns), np.ones(na), pad]),
             "coverage": np.concatenate([np.zeros(n), np.ones(ns), np.zeros(na), pad]),
             "continuity": np.concatenate([-cont.astype(float), np.zeros(ns + na), pad])}
    offset = {"continuity": float(cont.sum())}
    scale = {"coupling": 1, "coverage": 1, "continuity": 1}
    for term in FLOW_TERMS:
        costs[term] = np.concatenate([_int_cost(p["cost_" + term], ctx, term), np.zeros(ns + na), pad]).astype(float)
        scale[term] = SCALES[term]
    order = ["coupling"] + [t for t in ctx.scheme.objective.order if t in costs]
    if priced is not None:  # re-choose for the whole plan: the pairs' priced costs replace their own costs
        c1, c2, blocked = priced
        ub[:n][blocked] = 0
        for term in FLOW_TERMS:
            del costs[term]
        extra = np.zeros(n_alone + n_eta)
        if earlier:  # the cuts' variable is the objective
            extra[-1] = 1.0
            costs["priced_w1"] = np.concatenate([np.zeros(n + ns + na), extra])
        else:
            if n_alone and alone is not None:
                extra[ns:] = alone[0][extra_at]
            costs["priced_w1"] = np.concatenate([c1, np.zeros(ns + na), extra])
        costs["priced_w2"] = np.concatenate([c2, np.zeros(ns + na), pad])
        scale.update({"priced_w1": 1, "priced_w2": 1})
        order = ["coupling", "coverage", "continuity", "priced_w1"] + (["priced_w2"] if priced_travel else [])
    integral = np.ones(nv)
    integral[n + ns + na:] = 0  # the "alone" columns are continuous: exact for integral pairs (alone_rows)
    # (and so is the cuts' variable)
    t0 = time.monotonic()
    x = None
    stages: list[Stage] = []
    status = "OPTIMAL"
    coupling_value = 0.0
    tail, tail_w = _merged_tail(order, costs, hi, n)
    if tail:  # the last two priorities in one stage with lexicographic weights
        order = order[:-2] + ["+".join(tail)]
        costs[order[-1]] = tail_w[0] * costs[tail[0]] + tail_w[1] * costs[tail[1]]

    def solve_stage(term: str, seconds: float) -> Any:
        return highs_milp(costs[term], cons, integral, lb, ub, seconds)

    for k, term in enumerate(order):
        if (known is not None and term in known) or not costs[term].any():
            val = float((known or {}).get(term, 0.0))
            cons.append(LinearConstraint(costs[term][None, :], -np.inf, val + 0.5))
            v_nat = (round(val) + offset.get(term, 0.0)) / scale[term]
            if term == "coupling":
                coupling_value = v_nat
            else:
                stages.append(Stage(term, v_nat, v_nat, "OPTIMAL", 0.0))
            continue
        if term == "coverage" and x is not None:  # each county's shortfall column at the least the plan leaves
            x = x.copy()
            x[n:n + ns] = np.maximum(0, req - np.bincount(ti, weights=np.rint(x[:n]), minlength=ns))
        if _least_already(costs[term], lb, x):  # the plan at hand already costs 0, the least possible
            cons.append(LinearConstraint(costs[term][None, :], -np.inf, 0.5))
            v_nat = offset.get(term, 0.0) / scale[term]
            if term == "coupling":
                coupling_value = v_nat
            else:
                stages.append(Stage(term, v_nat, v_nat, "OPTIMAL", 0.0))
            if progress:
                progress("stage", {"tier": top.id, "term": term, "value": v_nat, "bound": v_nat, "status": "OPTIMAL"})
            continue
        ts = time.monotonic()
        res = solve_stage(term, max(1.0, (time_limit - (time.monotonic() - t0)) / (len(order) - k)))
        if "+" in term:  # the merged tail (the last stage)
            x, merged = _tail_stages(res, x, costs, tail, tail_w[0], hi, n, integral, offset, scale,
                                     time.monotonic() - ts)
            if x is None:
                return None
            for st_ in merged:
                if st_.status != "OPTIMAL":
                    status = "FEASIBLE"
                stages.append(st_)
                cons.append(LinearConstraint(costs[st_.term][None, :], -np.inf, float(costs[st_.term] @ x) + 0.5))
                if progress:
                    progress("stage", {"tier": top.id, "term": st_.term, "value": st_.value, "bound": st_.bound,
                                       "status": st_.status})
            continue
        if res.x is None:
            if x is None:
                return None
            val = float(costs[term] @ x)  # the previous stage's plan stands
            bnd = float(getattr(res, "mip_dual_bound", None) or 0.0)
            name = "FEASIBLE"
        else:
            x = np.where(integral > 0, np.rint(res.x), res.x)  # continuous columns (alone products, cuts) as they are
            val = float(costs[term] @ x)
            bnd = float(res.mip_dual_bound) if getattr(res, "mip_dual_bound", None) is not None else val
            name = "OPTIMAL" if res.status == 0 else "FEASIBLE"
        if name != "OPTIMAL":
            status = "FEASIBLE"
        cons.append(LinearConstraint(costs[term][None, :], -np.inf, val + 0.5))
        v_nat = (round(val) + offset.get(term, 0.0)) / scale[term]
        b_nat = (min(math.ceil(bnd - 1e-6), round(val)) + offset.get(term, 0.0)) / scale[term]
        if term.startswith("priced"):  # float costs: keep HiGHS's own figures
            v_nat, b_nat = val, min(bnd, val)
        if term == "coupling":
            coupling_value = v_nat
        else:
            stages.append(Stage(term, v_nat, b_nat, name, time.monotonic() - ts))
        if progress:
            progress("stage", {"tier": top.id, "term": term, "value": v_nat, "bound": b_nat, "status": name})
    if x is None:  # every stage was known or cost nothing: any plan within the rows
        res = highs_milp(np.zeros(nv), cons, integral, lb, ub, max(1.0, time_limit - (time.monotonic() - t0)))
        if res.x is None:
            return None
        x = np.where(integral > 0, np.rint(res.x), res.x)
    chosen = x[:n] > 0.5
    if "balance" in ctx.scheme.objective.order and priced is None:
        w_bal = int(round(ctx.scheme.objective.weight("balance")))
        bal = float(w_bal) if chosen.any() and p["unit"].nunique() >= 2 else 0.0
        stages.append(Stage("balance", bal, bal, "OPTIMAL", 0.0))
    return chosen, stages, status, coupling_value


def _top_milp_short_free_first(ctx: Context, top: Tier, frames: TierFrames, couplings: list[Coupling], *,
                               time_limit: float, progress: Progress | None) -> tuple[np.ndarray, list[Stage], str, float] | None:
    """The top tier's MIP, first with no coupling or coverage shortfall allowed; only if that finds nothing, stage by stage.

    Source: 全覆盖 (every county covered) and the coupling rows (部门帮县 with 处长联乡/干部驻村 inside the county)
    Both shortfalls cost at least 0, so a plan with none is optimal in both: their two stages need no MIP
    of their own, and the next stage's MIP (with the same two rows at 0) is the one the stage-by-stage
    solve would run. When such a plan does not exist (or is not found in time), every stage is solved.
    """
    told: list[bool] = []

    def tell_known() -> None:  # the two stages, told once the MIP has a plan
        if progress is not None and not told:
            told.append(True)
            for term in ("coupling", "coverage"):
                progress("stage", {"tier": top.id, "term": term, "value": 0.0, "bound": 0.0, "status": "OPTIMAL"})

    def relay(event: str, info: dict[str, Any]) -> None:
        tell_known()
        if progress is not None:
            progress(event, info)

    first = _solve_top_milp(ctx, top, frames, couplings, time_limit=time_limit, progress=relay,
                            known={"coupling": 0.0, "coverage": 0.0})
    if first is None:
        return _solve_top_milp(ctx, top, frames, couplings, time_limit=time_limit, progress=progress)
    tell_known()  # also when no stage of its own was solved
    return first


PRIOR_PRICES = True
"""Where the solve makes one top-tier choice only (:func:`prior_applies`), make it for the whole plan's match.

The top tier's own optimum (its stages, status and bounds) is still solved and reported; the choice that
the lower tiers are solved for minimises the top tier's own match plus, per (unit, county), the least
match each of the unit's nested people could find in the county (:mod:`matcher.priorprices`). On Guizhou
at ``--time-limit 10`` the plan's match is 34,465.0 instead of 35,311.8 and the proven match gap 1.12 %
instead of 3.86 % (bench/RESULTS.md). False: the tier's own optimum is the choice.
"""


def prior_applies(time_limit: float) -> bool:
    """The a-priori prices choose the top tier only when no later choice follows (no round after the first, no last choice).

    Source: measured on Guizhou (bench/RESULTS.md, 2026-12-03): with the prices as the first choice the
    rounds' later re-choices were worse than those made from the tier's own optimum (match 34,414.1
    against 34,352.6 at --time-limit 60, 34,381.5 against 34,334.6 at 300), so there they start as before.
    """
    return PRIOR_PRICES and not tries_last_choice(time_limit) and rounds_for(time_limit) == 1


def prior_prices(ctx: Context, top: Tier, top_frames: TierFrames, tables: dict[str, pairarrays.TierTables]
                 ) -> np.ndarray | None:
    """Per top-tier pair: the nested tiers' a-priori match of its people in its target area (None: nothing to price).

    Source: nesting (部门帮县 -> 处长联乡/干部驻村): the county a department gets is where its officials and
    staff serve, so their match there is part of the pair's cost (matcher.priorprices)
    """
    if top.links_max != 1 or not tables or not len(top_frames.pairs):
        return None
    level = _parent_level(top)
    total = np.zeros(len(top_frames.pairs), dtype=np.int64)
    for tt in tables.values():
        total += priorprices.nested_match_prices(tt, nesting_keys(tt.helpers, top).to_numpy(), top_frames.pairs, level)
    return total if total.any() else None


def _prior_choice(ctx: Context, top: Tier, frames: TierFrames, couplings: list[Coupling], prior: np.ndarray, *,
                  time_limit: float) -> np.ndarray | None:
    """The top tier chosen for the whole plan: least own match plus the nested tiers' a-priori prices.

    Source: the objective's match is summed over the tiers (部门帮县, 处长联乡, 干部驻村); the coupling rows
    keep the nested tiers feasible. Both shortfalls are held at 0 (None when no choice allows that; the
    caller then solves the tier's own stages, shortfalls first). Ties are left to HiGHS (deterministic): a strength stage after the priced match
    took 8-9 s on Guizhou for a plan 4 match units (0.01 %) better.
    """
    p = frames.pairs
    c1 = (_int_cost(p["cost_match"], ctx, "match") + prior).astype(float)
    res = _solve_top_milp(ctx, top, frames, couplings, time_limit=time_limit, progress=None,
                          priced=(c1, np.zeros(len(p)), np.zeros(len(p), dtype=bool)),
                          known={"coupling": 0.0, "coverage": 0.0}, priced_travel=False)
    return None if res is None else res[0]


PRIOR_METHOD = ("; the choice is the whole plan's: HiGHS MIP over the tier's own match plus the nested tiers' "
                "a-priori match (each department's people at their best-matching targets of the county), its own "
                "costs above the tier's own optimum by its gap")
"""What the top tier's method says when the a-priori prices made its choice."""


def _called(f: Callable[[], Any]) -> Any:
    """``f()``: the task of :func:`_own_beside`'s workers."""
    return f()


def _own_beside(own: Callable[..., Any], here: Callable[[], Any], workers: int) -> tuple[Any, Any]:
    """``here()`` and the top tier's own MIP ``own`` at once, in two forked workers (processes.map_largest_first).

    Source: the two MIPs share nothing they write, and each is the same deterministic code wherever it
    runs. With one worker, where no process can be forked, or when a worker dies, both run here in turn.
    """
    first, second = processes.map_largest_first(_called, [(here,), (functools.partial(own, progress=None),)],
                                                [1, 0], workers)
    return first, second


def _own_figures(ctx: Context, top: Tier, frames: TierFrames, best: dict[str, Any],
                 own: tuple[np.ndarray, list[Stage], str, float] | None, say: Progress) -> None:
    """Give the kept plan's top tier its own figures: the chosen links' own costs against the tier's own optimum.

    Source: the header's per-tier gap is the tier's own (docs/solver.md); without the own MIP's result
    (it found no plan in time) the bounds are 0, which every plan's costs are above.
    """
    info = best["tier_info"][top.id]
    chosen = best["chosen_top"]
    if own is None:
        base = [Stage(t, 0.0, 0.0, "FEASIBLE", 0.0) for t in ctx.scheme.objective.order if t in FLOW_TERMS]
    else:
        base = own[1]
        for st in base:
            say("stage", {"tier": top.id, "term": st.term, "value": st.value, "bound": st.bound, "status": st.status})
    stages = _own_stages(ctx, frames, chosen, base)
    info["stages"] = stages
    info["status"] = "OPTIMAL" if own is not None and all(st.status == "OPTIMAL" for st in stages) else "FEASIBLE"


MIP_OPTIONS: dict[str, Any] = {"mip_rel_gap": 0.0, "mip_heuristic_run_root_reduced_cost": False}
"""HiGHS options of the top tier's MIPs besides the time limit.

The root reduced-cost heuristic is off: on Guizhou's priced top-tier MIP it spent 1.5 of 4.3 s at the root
and the MIP proves the same optimum without it (2.9 s; bench/RESULTS.md, 2026-12-03).
"""


@dataclass
class MilpResult:
    """A HiGHS MIP's outcome as :func:`scipy.optimize.milp` states it: x (None without a solution), status, dual bound."""

    x: np.ndarray | None
    status: int  # 0 optimal, 1 time limit, 2 infeasible, 3 unbounded, 4 other
    mip_dual_bound: float | None


def highs_milp(c: np.ndarray, cons: list[Any], integral: np.ndarray, lb: np.ndarray, ub: np.ndarray,
               seconds: float) -> MilpResult:
    """Minimise ``c @ x`` over the rows ``cons`` (scipy LinearConstraints) and column bounds with HiGHS (MIP_OPTIONS).

    Source: the top tier's lexicographic stages (部门帮县); HiGHS directly rather than through
    scipy.optimize.milp, whose options do not reach the heuristics (MIP_OPTIONS)
    """
    import highspy
    from scipy import sparse

    from matcher.model import _quiet_highs, highs_model

    A = sparse.vstack([sparse.csr_matrix(k.A) for k in cons], format="csc")  # the column form highs_model passes on
    lo = np.concatenate([np.broadcast_to(np.asarray(k.lb, dtype=float), (k.A.shape[0],)) for k in cons])
    up = np.concatenate([np.broadcast_to(np.asarray(k.ub, dtype=float), (k.A.shape[0],)) for k in cons])
    h = _quiet_highs()
    for key, value in MIP_OPTIONS.items():
        h.setOptionValue(key, value)
    h.setOptionValue("time_limit", float(seconds))
    lp = highs_model(c, A, lb, ub, lo, up, integral)
    with processes.native_stdout_dropped():
        h.passModel(lp)
        # HiGHS keeps one thread scheduler per process: one set up for another thread count (the network LP's
        # single thread, matcher.model) refuses this run, and worker threads left behind would not survive a fork
        highspy.Highs.resetGlobalScheduler(True)
        try:
            h.run()
        finally:
            highspy.Highs.resetGlobalScheduler(True)
    st = h.getModelStatus()
    M = highspy.HighsModelStatus
    status = {M.kOptimal: 0, M.kTimeLimit: 1, M.kIterationLimit: 1, M.kSolutionLimit: 1, M.kInfeasible: 2,
              M.kUnbounded: 3, M.kUnboundedOrInfeasible: 2}.get(st, 4)
    info = h.getInfo()
    has_x = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value, dtype=float) if has_x else None
    bound = float(info.mip_dual_bound) if status in (0, 1) and np.isfinite(info.mip_dual_bound) else None
    return MilpResult(x, status, bound)


def _least_already(cost: np.ndarray, lb: np.ndarray, x: np.ndarray | None) -> bool:
    """A lexicographic stage needs no solve when its integer costs cannot go below 0 and the plan at hand costs exactly 0.

    Source: the scheme's [objective] order (each stage's optimum kept as a row); 0 is then a proven bound
    (Guizhou: once the coupling stage's plan covers every county, the coverage stage has nothing to do)
    """
    if x is None or not np.array_equal(cost, np.rint(cost)):  # integer costs only (priced stages are not)
        return False
    used = cost != 0
    return bool((cost >= 0).all() and (lb[used] >= 0).all() and float(cost @ x) == 0.0)


def _merged_tail(order: list[str], costs: dict[str, np.ndarray], hi: np.ndarray, n: int
                 ) -> tuple[list[str], list[int]]:
    """The last two priorities of the top tier's MIP and their weights, when both are pair costs that one weighted stage can hold exactly (empty otherwise).

    Source: the scheme's [objective] order (strength, then travel, on Guizhou); measured on Guizhou's county
    tier (bench/RESULTS.md): the two as separate MIPs 0.8 + 5.2 s, as one with lexicographic weights 3.2-3.4 s,
    the same optimum (the second MIP spends its time proving the first one's plan optimal again).
    """
    if len(order) < 2 or not all(t in FLOW_TERMS and costs[t].any() for t in order[-2:]):
        return [], []
    tail = order[-2:]
    w = _tail_weights(costs, tail, hi, n)
    if sum(wx * _cost_range(costs[t], hi, n)[1] for t, wx in zip(tail, w)) >= 2**50:
        return [], []  # beyond doubles' exact integers, with room for HiGHS's tolerances
    return tail, w


def _cost_range(cost: np.ndarray, hi: np.ndarray, n: int) -> tuple[int, int]:
    """Least and largest total of an integer pair cost over choices with at most one pair per helper (the top tier's links_max = 1)."""
    c = cost[:n]
    per = pd.Series(c).groupby(hi)
    return int(np.minimum(per.min().to_numpy(), 0).sum()), int(np.maximum(per.max().to_numpy(), 0).sum())


def _tail_weights(costs: dict[str, np.ndarray], tail: list[str], hi: np.ndarray, n: int) -> list[int]:
    """Weights making the tail's weighted sum lexicographic: the first exceeds the second's whole range."""
    lo, up = _cost_range(costs[tail[1]], hi, n)
    return lexicographic_weights([0, up - lo])


def _tail_stages(res: Any, x: np.ndarray | None, costs: dict[str, np.ndarray], tail: list[str], w0: int, hi: np.ndarray,
                 n: int, integral: np.ndarray, offset: dict[str, float], scale: dict[str, float], seconds: float
                 ) -> tuple[np.ndarray | None, list[Stage]]:
    """The two stages of a merged tail from its MIP result: values, and bounds that hold lexicographically.

    Source: the scheme's [objective] order; with W (``w0``) the first term's weight and R the second's range, every plan
    has W * a + b >= B (the MIP's dual bound), so a >= (B - max b) / W, and a plan no worse in ``a`` than
    this one has b >= B - W * a.
    """
    name = "OPTIMAL" if res.x is not None and res.status == 0 else "FEASIBLE"
    if res.x is not None:
        x = np.where(integral > 0, np.rint(res.x), res.x)
    if x is None:
        return None, []
    a, b = round(float(costs[tail[0]] @ x)), round(float(costs[tail[1]] @ x))
    bnd = getattr(res, "mip_dual_bound", None)
    if name == "OPTIMAL" or bnd is None:
        lb_a, lb_b = (a, b) if name == "OPTIMAL" else (_cost_range(costs[tail[0]], hi, n)[0],
                                                       _cost_range(costs[tail[1]], hi, n)[0])
    else:
        big = math.ceil(float(bnd) - 1e-6)
        lb_a = min(a, math.ceil((big - _cost_range(costs[tail[1]], hi, n)[1]) / w0))
        lb_b = min(b, big - w0 * a)
    nat = lambda t, v: (v + offset.get(t, 0.0)) / scale[t]
    return x, [Stage(tail[0], nat(tail[0], a), nat(tail[0], lb_a), name, seconds),
               Stage(tail[1], nat(tail[1], b), nat(tail[1], lb_b), name, 0.0)]


def alone_rows(row: Callable[[np.ndarray, np.ndarray, float, float], None], ti: np.ndarray, n: int, ns: int, na: int,
               needed: np.ndarray, extra_at: np.ndarray, alone_blocked: np.ndarray) -> None:
    """Rows that price a unit alone in its county: a target with one unit needs that unit's "alone" column at 1.

    Source: Guizhou 2012 帮联驻, 部门帮县/处长联乡 (a county helped by one department has only its officials)

    Columns: pairs x (0..n), shortfalls (n..n+ns), coupling slacks, then w per target and z per priced pair
    (``extra_at``), all continuous in [0, 1]. ``z_i <= x_i`` is pair i alone in its target, the pair that
    carries an alone price; ``w_t <= sum of x over t's other pairs`` stands for the pairs with no alone price
    (their z would cost nothing, so one column per target does). ``sum x_t + w_t + sum z_t + 2 * short_t >= 2``:
    with one unit in t, its z (or w) must be 1; with two, nothing is forced. A pair whose unit cannot be alone
    there has no column (its z is held at 0). Exact for integral x. Against binaries s_t with products
    ``y_i >= x_i + s_t - 1`` (the earlier form) the relaxation is tighter and HiGHS solved Guizhou's priced
    MIP in 2.2-2.6 s instead of 8.1-8.6 s, with the same choice.
    """
    s0 = n + ns + na
    z_of = np.full(n, -1, dtype=np.int64)
    z_of[extra_at] = s0 + ns + np.arange(len(extra_at))
    free = (z_of < 0) & ~alone_blocked  # may be alone at no alone price
    by_t = pd.Series(np.arange(n)).groupby(ti).indices
    for j in np.flatnonzero(needed):  # a target that needs no unit has no row: nothing charges its pairs
        idx = np.asarray(by_t.get(j, []), dtype=np.int64)
        zs = z_of[idx][z_of[idx] >= 0]
        row(np.concatenate([idx, [s0 + j], zs, [n + j]]),
            np.concatenate([np.ones(len(idx) + 1 + len(zs)), [2.0]]), 2.0, np.inf)
        fr = idx[free[idx]]
        row(np.concatenate([[s0 + j], fr]), np.concatenate([[1.0], -np.ones(len(fr))]), -np.inf, 0.0)
    for i in extra_at:
        if alone_blocked[i]:
            row(np.array([z_of[i]]), np.array([1.0]), -np.inf, 0.0)
        else:
            row(np.array([z_of[i], i]), np.array([1.0, -1.0]), -np.inf, 0.0)


def cut_rows(row: Callable[[np.ndarray, np.ndarray, float, float], None], n: int, y0: int, extra_at: np.ndarray,
             eta: int, cuts: list[tuple[np.ndarray, np.ndarray, float]]) -> None:
    """Rows eta >= c . x + e . y + k, one per round's priced W1 (a Benders-like master of Lagrangian cuts).

    Source: weak duality: every round's Lagrangian bound holds for every plan, so their maximum does too
    ``y`` are the alone columns z of :func:`alone_rows` (columns y0 + k for the pairs ``extra_at``).
    """
    for c, e, k in cuts:
        xs = np.flatnonzero(c)
        ys = np.flatnonzero(e[extra_at])
        row(np.concatenate([[eta], xs, y0 + ys]), np.concatenate([[1.0], -c[xs], -e[extra_at][ys]]), float(k), np.inf)


def _sum_of(costs: np.ndarray) -> Callable[[np.ndarray], int]:
    """A function giving the total of ``costs`` over a boolean choice of pairs."""
    return lambda ch: int(costs[ch].sum())


def _solve_top(ctx: Context, top: Tier, frames: TierFrames, couplings: list[Coupling], *, time_limit: float,
               seed: int, workers: int, progress: Progress | None) -> tuple[np.ndarray, list[Stage], str, float]:
    """The top tier's lexicographic CP-SAT solve with coupling rows; returns chosen pairs, stages, status, coupling shortfall.

    Source: Guizhou 2012 帮联驻, 部门帮县 then 处长联乡/干部驻村 inside the county (nesting makes the county choice bind)
    """
    p = frames.pairs
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{i}") for i in range(len(p))]
    for i in np.flatnonzero(p["pinned"].to_numpy(dtype=bool)):
        m.add(x[i] == 1)
    by_target = p.groupby("target", sort=True).indices
    by_helper = p.groupby("helper", sort=True).indices
    req = rules.required_helpers(frames.targets, top, ctx)
    shorts = []
    for t in frames.targets.index:
        idx = by_target.get(t, [])
        s = sum(x[i] for i in idx)
        m.add(s <= top.coverage_max)
        r = int(req[t])
        if r > 0:
            sh = m.new_int_var(0, r, f"short_{t}")
            m.add(s + sh >= r)
            shorts.append(sh)
    must_link: set[str] = set()
    for c in couplings:
        must_link |= set(c.per_unit.index[c.per_unit > 0])
    for i in np.flatnonzero(_forbidden_mask(p, top, couplings)):
        m.add(x[i] == 0)
    for h in frames.helpers.index:
        idx = by_helper.get(h, [])
        s = sum(x[i] for i in idx)
        lo = max(top.links_min, 1 if h in must_link else 0)
        if lo > 0:
            m.add(s >= lo)
        m.add(s <= top.links_max)
    # coupling: nested helpers brought into an area fit it; shortfall of helpers for the lower tiers is minimised first
    coupling_short = []
    for c in couplings:
        brought: dict[str, Any] = {}
        brought_max: dict[str, Any] = {}
        for t_key, idx in by_target.items():
            t = str(t_key)
            brought[t] = sum(int(c.per_unit.get(p["helper"].iat[i], 0)) * x[i] for i in idx)
            brought_max[t] = sum(int(c.per_unit.get(p["helper"].iat[i], 0) + c.optional_units.get(p["helper"].iat[i], 0))
                                 * x[i] for i in idx)
        for area in c.required.index:
            b = brought.get(area, 0)
            m.add(b + int(c.must_local.get(area, 0)) <= int(c.capacity.get(area, 0)))
            r = int(c.required[area])
            supply = brought_max.get(area, 0) + int(c.must_local.get(area, 0)) + int(c.flexible.get(area, 0))
            sh = m.new_int_var(0, r, f"cshort_{c.child.id}_{area}")
            m.add(supply + sh >= r)
            coupling_short.append(sh)
        if len(c.group_flexible):  # a group (prefecture): everyone forced into it fits its areas together
            for g, areas in c.flexible_group.groupby(c.flexible_group, sort=True):
                if not g:
                    continue
                tot = sum(brought.get(a, 0) + int(c.must_local.get(a, 0)) for a in areas.index)
                cap = int(c.capacity.reindex(areas.index).fillna(0).sum())
                m.add(tot + int(c.group_flexible.get(g, 0)) * (1 if c.child.links_min else 0) <= cap)
    terms: dict[str, Any] = {"coupling": sum(coupling_short) if coupling_short else 0,
                             "coverage": sum(shorts) if shorts else 0}
    cont = np.flatnonzero(p["continues"].to_numpy(dtype=bool))
    terms["continuity"] = (len(cont) - sum(x[i] for i in cont)) if len(cont) else 0
    scale = {"coupling": 1, "coverage": 1, "continuity": 1, "balance": 1}
    for term, col in (("match", "cost_match"), ("strength", "cost_strength"), ("travel", "cost_travel")):
        c_ = _int_cost(p[col], ctx, term)
        nz = np.flatnonzero(c_)
        terms[term] = cp_model.LinearExpr.weighted_sum([x[i] for i in nz], [int(c_[i]) for i in nz]) if len(nz) else 0
        scale[term] = SCALES[term]
    groups = p.groupby("unit", sort=True).indices
    if len(groups) >= 2:
        hi = m.new_int_var(0, len(p), "maxload")
        for _, ii in sorted(groups.items()):
            m.add(sum(x[i] for i in ii) <= hi)
        terms["balance"] = int(round(ctx.scheme.objective.weight("balance"))) * hi
    order = ["coupling"] + [t for t in ctx.scheme.objective.order if t in terms]
    # each term's integer value for a choice of pairs, without the solver (used when a stage runs out of time)
    tcode = p["target"].map(pd.Series(np.arange(len(frames.targets)), index=frames.targets.index)).to_numpy(dtype=np.int64)
    req_arr = req.to_numpy(dtype=np.int64)
    ucode = pd.factorize(p["unit"], sort=True)[0]
    w_bal = int(round(ctx.scheme.objective.weight("balance")))
    int_costs = {term: _int_cost(p["cost_" + term], ctx, term) for term in FLOW_TERMS}
    value_of: dict[str, Callable[[np.ndarray], int]] = {
        "coverage": lambda ch: int(np.clip(req_arr - np.bincount(tcode[ch], minlength=len(req_arr)), 0, None).sum()),
        "continuity": lambda ch: int(len(cont) - ch[cont].sum()),
        "balance": lambda ch: w_bal * int(np.bincount(ucode[ch]).max(initial=0)) if ch.any() else 0,
        **{term: _sum_of(c) for term, c in int_costs.items()},
    }
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = max(1, int(workers))
    if workers > 1:
        solver.parameters.interleave_search = True
    t0 = time.monotonic()
    chosen = np.zeros(len(p), dtype=bool)
    stages: list[Stage] = []
    status = "OPTIMAL"
    coupling_value = 0.0
    active = [t for t in order if not isinstance(terms[t], int)]
    if not active:
        solver.parameters.max_time_in_seconds = max(0.1, time_limit)
        st = solver.solve(m)
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            raise SolveError(f"tier '{top.id}': no assignment satisfies the hard rules and the lower tiers' capacity")
        chosen = np.array([solver.boolean_value(v) for v in x], dtype=bool)
    for k, term in enumerate(active):
        left = time_limit - (time.monotonic() - t0)
        share = max(0.05, left / (len(active) - k))
        if k == 0:
            share = max(share, 0.5 * left)
        solver.parameters.max_deterministic_time = share
        solver.parameters.max_time_in_seconds = 2 * share
        m.minimize(terms[term])
        if k > 0:
            m.clear_hints()
            for v, val in zip(x, chosen):
                m.add_hint(v, bool(val))
        ts = time.monotonic()
        st = solver.solve(m)
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if k == 0:
                raise SolveError(
                    f"tier '{top.id}': no assignment satisfies the hard rules together with the lower tiers' capacity "
                    f"(a unit's nested helpers exceed what any county it may help can take); status "
                    f"{'INFEASIBLE' if st == cp_model.INFEASIBLE else 'UNKNOWN'} after {share:.1f} s")
            # out of time before a solution: the previous stage's plan stands, with CP-SAT's bound if it has one
            val = value_of[term](chosen)
            bnd = max(0, int(math.ceil(solver.best_objective_bound - 1e-6))) if st != cp_model.INFEASIBLE else val
            name = "FEASIBLE"
        else:
            val = int(round(solver.objective_value))
            bnd = int(math.ceil(solver.best_objective_bound - 1e-6))
            chosen = np.array([solver.boolean_value(v) for v in x], dtype=bool)
            name = "OPTIMAL" if st == cp_model.OPTIMAL else "FEASIBLE"
        if name != "OPTIMAL":
            status = "FEASIBLE"
        m.add(terms[term] == val if name == "OPTIMAL" else terms[term] <= val)
        if term == "coupling":
            coupling_value = float(val)
        else:
            stages.append(Stage(term, val / scale[term], min(bnd, val) / scale[term], name, time.monotonic() - ts))
        if progress:
            progress("stage", {"tier": top.id, "term": term, "value": val / scale[term],
                               "bound": min(bnd, val) / scale[term], "status": name})
    return chosen, stages, status, coupling_value


# --------------------------------------------------------------------------- stage 2: lower tiers, chunked pairs


@dataclass
class ChunkArrays:
    """A chunk's candidate pairs as compact arrays (global helper and target positions, integer costs)."""

    helper: np.ndarray     # int32 position in the tier's helper index
    target: np.ndarray     # int32 position in the tier's target index
    lead: np.ndarray       # bool: counts for the composition rule at its target
    pinned: np.ndarray     # bool
    costs: dict[str, np.ndarray]  # term -> int64 (scaled as the model scales it)
    dropped: dict[str, int]


def _chunk_helpers(ctx: Context, tier: Tier, helpers: pd.DataFrame, area_codes: dict[str, str],
                   parent_links: pd.DataFrame | None, parent: Tier | None, pinned_here: set[str]) -> pd.Index:
    """Helpers that may reach a chunk (one area): by stay_in_area, by the parent tier's links, or free."""
    stay = dict(tier.eligibility.stay_in_area)
    ok = pd.Series(True, index=helpers.index)
    for ulevel, alevel in stay.items():
        m = helpers["unit_level"] == ulevel
        ok &= ~m | (helpers["u_" + alevel].astype(str) == area_codes.get(alevel, ""))
    if parent is not None and parent_links is not None:
        level = _parent_level(parent)
        pool = set(parent_links.attrs.get("pool", ()))
        key = helpers.index.to_series() if parent.helpers.table == "people" else helpers["unit"]
        here = set(parent_links.loc[parent_links["target"] == area_codes.get(level, ""), "helper"])
        nested = isin(key, pool)
        ok &= ~nested | isin(key, here)
    if pinned_here:
        ok |= isin(helpers.index, pinned_here)
    return helpers.index[ok.to_numpy()]


MATCH_HELPER_COLUMNS = ("skills", "unit_function", "languages")
MATCH_TARGET_COLUMNS = ("needs", "ethnic_groups")


def profile_codes(frame: pd.DataFrame, cols: tuple[str, ...]) -> pd.Series:
    """One integer per row of ``frame``, equal for rows whose ``cols`` are equal (the match-cost profile)."""
    if not len(frame):
        return pd.Series(dtype=np.int64)
    return pd.Series(pd.factorize(pairarrays.profile_text(frame, cols), sort=True)[0], index=frame.index)


def match_by_profile(pairs: pd.DataFrame, helper_codes: pd.Series, target_codes: pd.Series, tier: Tier,
                     ctx: Context) -> pd.Series:
    """rules.match_cost evaluated once per (helper profile, target profile) and spread to the pairs.

    Source: rules.match_cost reads only a helper's skills, unit function and languages and a target's
    needs and ethnic groups, so pairs sharing those get the same cost (codes from :func:`profile_codes`)
    """
    if not len(pairs):
        return rules.match_cost(pairs, tier, ctx)
    hc = pairs["helper"].map(helper_codes).fillna(-1).to_numpy(dtype=np.int64)
    tc = pairs["target"].map(target_codes).fillna(-1).to_numpy(dtype=np.int64)
    if (hc < 0).any() or (tc < 0).any():
        return rules.match_cost(pairs, tier, ctx)
    combo = hc * (int(tc.max()) + 1) + tc
    _, first, inverse = np.unique(combo, return_index=True, return_inverse=True)
    values = rules.match_cost(pairs.iloc[first], tier, ctx).to_numpy(dtype=float)
    return pd.Series(values[inverse.ravel()], index=pairs.index)


def _build_chunk(ctx: Context, tier: Tier, helpers: pd.DataFrame, targets: pd.DataFrame, helper_ids: pd.Index,
                 target_ids: pd.Index, parent_frames: TierFrames | None,
                 codes: tuple[pd.Series, pd.Series] | None = None) -> TierFrames:
    """The chunk's candidate frames: build_tier_frames' steps on slices of the tier's helper and target frames.

    Same steps and rules as :func:`matcher.candidates.build_tier_frames` (every eligibility rule of
    :data:`matcher.rules.RULES`, nesting, pinned incumbents, costs); the helper and target frames are
    computed once for the tier and sliced here instead of being rebuilt per chunk.
    """
    from matcher.candidates import (
        PAIR_COLUMNS,
        _add_pinned_outside,
        _cross,
        haversine_km,
    )

    sub = _restricted_context(ctx, tier, helper_ids, target_ids)
    h = helpers.loc[helper_ids]
    t = targets.loc[target_ids]
    sub.cache[("targets", tier.id)] = t
    sub.cache[("helpers", tier.id)] = h
    pairs = _cross(h, t, tier)
    pairs["tier"] = tier.id
    for c in PAIR_COLUMNS:
        if c not in pairs.columns:
            pairs[c] = ""
    dist: Any = haversine_km(pairs["seat_lon"], pairs["seat_lat"], pairs["t_lon"], pairs["t_lat"]) if len(pairs) else []
    pairs["distance_km"] = pd.Series(dist, index=pairs.index, dtype=float).fillna(0.0)
    pairs = pairs[PAIR_COLUMNS + ["distance_km"]].copy()
    pairs["days"] = rules.link_days(pairs, tier, sub)
    # without incumbents of the tier, no pair is pinned and no pair returns: those two per-pair lookups are skipped
    no_incumbents = rules.in_force_incumbents(sub, tier).empty and rules.ended_incumbents(sub, tier).empty
    pairs["pinned"] = False if no_incumbents else rules.pinned_mask(pairs, tier, sub)
    dropped: dict[str, int] = {}
    for name, spec in rules.RULES.items():
        if spec.kind != "eligibility":
            continue
        if no_incumbents and spec.function is rules.no_return:
            dropped[name] = 0
            continue
        ok = spec.function(pairs, tier, sub) | pairs["pinned"]
        dropped[name] = int((~ok).sum())
        pairs = pairs[ok]
    if parent_frames is not None:
        ok = rules.nesting_eligible(pairs, tier, parent_frames)
        dropped["nesting"] = int((~ok | pairs["pinned"]).sum() - pairs["pinned"].sum()) if len(pairs) else 0
        pairs = pairs[ok | pairs["pinned"]]
    pairs = _add_pinned_outside(sub, tier, h, t, pairs)
    hc, tc = codes or (profile_codes(h, MATCH_HELPER_COLUMNS), profile_codes(t, MATCH_TARGET_COLUMNS))
    pairs["cost_match"] = match_by_profile(pairs, hc, tc, tier, sub)
    pairs["cost_strength"] = rules.strength_cost(pairs, tier, sub)
    pairs["cost_travel"] = rules.travel_cost(pairs, tier, sub)
    pairs["continues"] = rules.continuity_pairs(pairs, tier, sub)
    pairs = pairs.sort_values(["helper", "target"], kind="stable").reset_index(drop=True)
    return TierFrames(tier, h, t, pairs, dropped)


@dataclass
class NestingCodes:
    """A nested tier's helpers and targets coded for the nesting test: who must hold the parent link, and where."""

    key: np.ndarray          # per helper: code of the parent-tier helper (his unit or himself), -1 if not nested
    area: np.ndarray         # per target: code of its area at the parent tier's target level
    links: np.ndarray        # key * n_areas + area of every parent link
    n_areas: int


def nesting_keys(helpers: pd.DataFrame, parent: Tier) -> pd.Series:
    """Each nested helper's parent-tier helper: his unit, or himself where the parent tier links people."""
    return (helpers.index.to_series() if parent.helpers.table == "people" else helpers["unit"]).astype(str)


def _nesting_codes(helpers: pd.DataFrame, targets: pd.DataFrame, parent: TierFrames) -> NestingCodes:
    """Code the parent tier's links for :func:`_chunk_arrays` (same test as rules.nesting_eligible)."""
    level = _parent_level(parent.tier)
    pool = pd.Index(parent.helpers.index.astype(str))
    key = pool.get_indexer(nesting_keys(helpers, parent.tier))
    area_codes, areas = pd.factorize(targets["t_" + level].astype(str))
    lk = pool.get_indexer(parent.pairs["helper"].astype(str))
    la = pd.Index(areas).get_indexer(parent.pairs["target"].astype(str))
    ok = (lk >= 0) & (la >= 0)
    n_areas = max(len(areas), 1)
    return NestingCodes(key.astype(np.int64), area_codes.astype(np.int64),
                        np.unique(lk[ok].astype(np.int64) * n_areas + la[ok]), n_areas)


def _chunk_helper_positions(tables: pairarrays.TierTables, tier: Tier, nest: NestingCodes | None, tpos: np.ndarray,
                            pinned_here: np.ndarray) -> np.ndarray:
    """Helpers that may reach a chunk, as positions: :func:`_chunk_helpers` on the coded columns."""
    ok = np.ones(len(tables.helpers), dtype=bool)
    if not len(tpos):
        return np.zeros(0, dtype=np.int64)
    for ulevel, alevel in tier.eligibility.stay_in_area:
        m = tables.h_unit_level == ulevel
        ok &= ~m | (tables.h_area[alevel] == tables.t_area[alevel][tpos[0]])
    if nest is not None:
        areas = np.unique(nest.area[tpos])
        linked = nest.links[np.isin(nest.links % nest.n_areas, areas)] // nest.n_areas
        ok &= (nest.key < 0) | np.isin(nest.key, linked)
    ok[pinned_here] = True
    return np.flatnonzero(ok)


def _chunk_arrays(tables: pairarrays.TierTables, hpos: np.ndarray, tpos: np.ndarray, nest: NestingCodes | None,
                  lead_helper: np.ndarray, lead_target: np.ndarray) -> ChunkArrays:
    """A chunk's candidate pairs built as arrays (matcher.pairarrays), with the nesting test and lead flags."""
    allowed = None
    if nest is not None:
        hs, ts = np.sort(hpos), np.sort(tpos)
        k = np.repeat(nest.key[hs], len(ts))
        a = np.tile(nest.area[ts], len(hs))
        allowed = (k < 0) | np.isin(k * nest.n_areas + a, nest.links)
    b = pairarrays.chunk_pairs(tables, hpos, tpos, allowed)
    hp, tp = b.helper.astype(np.int32), b.target.astype(np.int32)
    return ChunkArrays(helper=hp, target=tp, lead=lead_helper[hp] & lead_target[tp], pinned=b.pinned,
                       costs=b.costs, dropped=b.dropped)


def _forbidden_codes(tier: Tier, h_pos: pd.Series, t_pos: pd.Series) -> np.ndarray:
    """The tier's forbidden pairs as codes helper position * n_targets + target position (sorted, unique).

    Source: docs/scheme-format.md, ``tiers[].forbidden`` (a scenario's 不得安排 pairs); pairs naming nobody
    in the tier are ignored (the instance loader warns about them)
    """
    codes = [int(h_pos[str(h)]) * len(t_pos) + int(t_pos[str(t)]) for h, t in tier.forbidden
             if str(h) in h_pos.index and str(t) in t_pos.index]
    return np.unique(np.asarray(codes, dtype=np.int64))


def _without_forbidden(arr: ChunkArrays, banned: np.ndarray, n_targets: int) -> ChunkArrays:
    """A chunk without its forbidden pairs (counted under ``forbidden``); pinned incumbents stay.

    Source: docs/scheme-format.md, ``tiers[].forbidden`` (as model.drop_forbidden)
    """
    if not len(banned) or not len(arr.helper):
        return arr
    drop = np.isin(arr.helper.astype(np.int64) * n_targets + arr.target, banned) & ~arr.pinned
    if not drop.any():
        return arr
    keep = ~drop
    dropped = {**arr.dropped, "forbidden": arr.dropped.get("forbidden", 0) + int(drop.sum())}
    return ChunkArrays(arr.helper[keep], arr.target[keep], arr.lead[keep], arr.pinned[keep],
                       {k: v[keep] for k, v in arr.costs.items()}, dropped)


def _chosen_rows(ctx: Context, tier: Tier, helpers: pd.DataFrame, targets: pd.DataFrame,
                 keys: pd.DataFrame, codes: tuple[pd.Series, pd.Series]) -> pd.DataFrame:
    """Full pair rows (the columns build_tier_frames gives) for chosen (helper, target) keys, costs included.

    The keys were candidates, so eligibility is not evaluated again; columns are joined as
    candidates._cross joins them (a target column that a helper also has gets the suffix _t).
    """
    from matcher.candidates import PAIR_COLUMNS, haversine_km

    sub = _restricted_context(ctx, tier, pd.Index(sorted(set(keys["helper"]))), pd.Index(sorted(set(keys["target"]))))
    hr = helpers.loc[keys["helper"].to_numpy()].reset_index(names="helper")
    tr = targets.loc[keys["target"].to_numpy()].reset_index(names="target")
    tr = tr.rename(columns={c: c + "_t" for c in set(hr.columns) & set(tr.columns)})
    pairs = pd.concat([hr, tr], axis=1)
    pairs["tier"] = tier.id
    for c in PAIR_COLUMNS:
        if c not in pairs.columns:
            pairs[c] = ""
    pairs["distance_km"] = pd.Series(haversine_km(pairs["seat_lon"], pairs["seat_lat"], pairs["t_lon"], pairs["t_lat"]),
                                     index=pairs.index, dtype=float).fillna(0.0)
    pairs = pairs[PAIR_COLUMNS + ["distance_km"]].copy()
    pairs["days"] = rules.link_days(pairs, tier, sub)
    no_incumbents = rules.in_force_incumbents(sub, tier).empty
    pairs["pinned"] = False if no_incumbents else rules.pinned_mask(pairs, tier, sub)
    pairs["cost_match"] = match_by_profile(pairs, codes[0], codes[1], tier, sub)
    pairs["cost_strength"] = rules.strength_cost(pairs, tier, sub)
    pairs["cost_travel"] = rules.travel_cost(pairs, tier, sub)
    pairs["continues"] = rules.continuity_pairs(pairs, tier, sub)
    return pairs.reset_index(drop=True)


def _compact(f: TierFrames, tier: Tier, ctx: Context, h_pos: pd.Series, t_pos: pd.Series,
             lead_helper: np.ndarray, lead_target: np.ndarray) -> ChunkArrays:
    """A chunk's pairs as arrays; ``lead`` marks pairs counting for the composition (helper kind x target class)."""
    p = f.pairs
    hp = p["helper"].map(h_pos).to_numpy(dtype=np.int32)
    tp = p["target"].map(t_pos).to_numpy(dtype=np.int32)
    return ChunkArrays(
        helper=hp, target=tp, lead=lead_helper[hp] & lead_target[tp], pinned=p["pinned"].to_numpy(dtype=bool),
        costs={term: _int_cost(p["cost_" + term], ctx, term) for term in FLOW_TERMS},
        dropped=dict(f.dropped))


# --------------------------------------------------------------------------- the min-cost flow


@dataclass
class FlowResult:
    """Chosen pair rows of a flow group and its figures (integer, scaled as the model scales them)."""

    chosen: np.ndarray            # bool per pair
    coverage: int
    values: dict[str, int]
    unplaced: np.ndarray          # helper positions with links_min > 0 and no candidate pair
    stages: list[list[str]]       # the terms minimised together in each flow solve
    weights: list[list[int]] = dataclasses.field(default_factory=list)  # per solve: the weight of each term
    potentials: list[np.ndarray] = dataclasses.field(default_factory=list)  # per solve: node potentials proving it
    layout: tuple[int, int, int] = (0, 0, 0)  # first helper node, first lead node, first target node
    amount: np.ndarray | None = None  # flow per pair (more than 1 where helpers are merged)


def lexicographic_weights(spans: list[int]) -> list[int]:
    """Weights making a weighted sum lexicographic: each weight exceeds the largest total change of all lower terms.

    Source: the scheme's [objective] order (coverage first, then match, strength, travel)
    """
    weights = [1]
    total = spans[-1]
    for s in reversed(spans[:-1]):
        weights.insert(0, total + 1)
        total = weights[0] * s + total
    return weights


@njit(cache=True, nogil=True)
def _cost_range_by(n: int, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per helper 0..n-1: the largest cost of his arcs (0 if none is above 0) and the least (int64 max where none)."""
    hi_ = np.zeros(n, dtype=np.int64)
    lo_ = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    for a in range(len(h)):
        if c[a] > hi_[h[a]]:
            hi_[h[a]] = c[a]
        if c[a] < lo_[h[a]]:
            lo_[h[a]] = c[a]
    return hi_, lo_


def _helper_span(n_helpers: int, must: np.ndarray, h: np.ndarray, c: np.ndarray, count: np.ndarray | None = None) -> int:
    """Largest total change of a per-pair cost when each helper sends one unit, or ``count`` units (0 for optional helpers' bypass)."""
    hi_, lo_ = _cost_range_by(int(n_helpers), np.ascontiguousarray(h, dtype=np.int64),
                              np.ascontiguousarray(c, dtype=np.int64))
    lo_ = np.where(lo_ == np.iinfo(np.int64).max, 0, lo_)
    lo_ = np.where(must, lo_, np.minimum(lo_, 0))
    span = (hi_ - lo_).clip(min=0)
    return int(span.sum() if count is None else (span * count).sum())


def _solve_flow(n_helpers: int, must: np.ndarray, n_targets: int, required: np.ndarray, comp_min: np.ndarray,
                tmax: int, hp: np.ndarray, tp: np.ndarray, lead: np.ndarray, pinned: np.ndarray,
                costs: dict[str, np.ndarray], spans: dict[str, int] | None = None,
                keep_potentials: bool = False, count: np.ndarray | None = None, pair_cap: np.ndarray | None = None,
                relay_of: np.ndarray | None = None, relay_cap: np.ndarray | None = None) -> FlowResult:
    """Exact lexicographic (coverage, match, strength, travel) assignment by min-cost flows on shrinking optimal faces.

    Source: Guizhou 2012 帮联驻, 全覆盖 + 一类贫困村两名干部、一名科级 (coverage and composition as flow bonuses)

    ``spans`` (optional) gives each term's largest total change over a larger arc set that these
    arcs are a subset of, so the weights stay lexicographic for it; ``keep_potentials`` keeps every
    solve's node potentials (for the whole-plan bound). Merged helpers (:mod:`matcher.helperclasses`):
    ``count`` gives each helper node's supply, ``pair_cap`` each pair arc's capacity, and ``relay_of`` /
    ``relay_cap`` relay nodes numbered after the helpers (a pair's ``hp`` may name one) fed by their
    helper node; the result's ``amount`` is the flow on each pair.
    """
    n_relays = 0 if relay_of is None else len(relay_of)
    count_ = np.ones(n_helpers, dtype=np.int64) if count is None else np.asarray(count, dtype=np.int64)
    owner_of = np.arange(n_helpers + n_relays, dtype=np.int64)
    if n_relays:
        owner_of[n_helpers:] = relay_of
    # a helper with a pinned pair keeps only it
    if pinned.any():
        has_pin = np.zeros(n_helpers, dtype=bool)
        has_pin[owner_of[hp[pinned]]] = True
        pair_idx = np.flatnonzero(pinned | ~has_pin[owner_of[hp]])
        h, t, lead_p = hp[pair_idx], tp[pair_idx], lead[pair_idx]
        pair_cost = {term: costs[term][pair_idx] for term in FLOW_TERMS}
    else:  # every pair: the caller's arrays, not copies (a province's largest group has millions of arcs)
        pair_idx = np.arange(len(hp))
        h, t, lead_p, pair_cost = hp, tp, lead, costs
    n_pairs = len(pair_idx)
    S, K, H0 = 0, 1, 2
    L0 = H0 + n_helpers + n_relays
    T0 = L0 + n_targets
    n_nodes = T0 + n_targets
    ti = np.arange(n_targets, dtype=np.int32)
    req = np.minimum(required, tmax).astype(np.int64)
    opt = np.flatnonzero(~must).astype(np.int32)
    deg = np.bincount(owner_of[h], minlength=n_helpers)
    p_cap = np.ones(n_pairs, dtype=np.int64) if pair_cap is None else np.asarray(pair_cap, dtype=np.int64)[pair_idx]
    ri = np.arange(n_relays, dtype=np.int32)
    r_of = np.zeros(0, dtype=np.int32) if relay_of is None else np.asarray(relay_of, dtype=np.int32)
    unplaced = np.flatnonzero(must & (deg == 0))
    senders = np.flatnonzero(must & (deg > 0))
    n_opt = int(count_[opt].sum())
    # arcs: pairs | lead bonus | lead rest | target bonus | target rest | optional helpers | bypass | relays
    i32 = np.int32
    tails = np.concatenate([H0 + h.astype(i32, copy=False), L0 + ti, L0 + ti, T0 + ti, T0 + ti, np.full(len(opt), S, dtype=i32),
                            np.array([S], dtype=i32), H0 + r_of])
    heads = np.concatenate([np.where(lead_p, L0 + t.astype(i32, copy=False), T0 + t.astype(i32, copy=False)), T0 + ti, T0 + ti,
                            np.full(n_targets, K, dtype=i32), np.full(n_targets, K, dtype=i32), H0 + opt,
                            np.array([K], dtype=i32), H0 + n_helpers + ri])
    caps = np.concatenate([p_cap, comp_min, np.full(n_targets, tmax), req, tmax - req,
                           count_[opt], [n_opt], np.zeros(0) if relay_cap is None else relay_cap]).astype(np.int64)
    n_arcs = len(tails)
    # each term's cost on the pair arcs and on the other arcs (only coverage has costs there: its bonuses)
    bonus = np.zeros(n_arcs - n_pairs, dtype=np.int64)
    bonus[:n_targets] = -1
    bonus[2 * n_targets:3 * n_targets] = -1
    no_pair_cost = np.zeros(0, dtype=np.int64)
    rest_zero = np.zeros(n_arcs - n_pairs, dtype=np.int64)
    term_cost = {"coverage": (no_pair_cost, bonus), **{term: (pair_cost[term], rest_zero) for term in FLOW_TERMS}}
    supply = np.zeros(n_nodes, dtype=np.int64)
    supply[H0 + senders] = count_[senders]
    supply[S] = n_opt
    supply[K] = -(int(count_[senders].sum()) + n_opt)
    active = np.ones(n_arcs, dtype=bool)
    forced = np.zeros(n_arcs, dtype=np.int64)  # flow fixed by an earlier stage
    flow = np.zeros(n_arcs, dtype=np.int64)
    no_lo = np.zeros(n_arcs, dtype=np.int8)

    known_spans: dict[str, int] = {}  # this stage's spans (the active arcs change only between stages)

    def span(term: str) -> int:
        if spans is not None and term in spans:
            return int(spans[term])
        if term not in known_spans:
            known_spans[term] = _active_span(term)
        return known_spans[term]

    def _active_span(term: str) -> int:
        if term == "coverage":
            on = active[n_pairs:]
            return int((caps[n_pairs:][on] * (bonus[on] != 0)).sum())
        a = active[:n_pairs]
        if a.all():
            return _helper_span(n_helpers, must, owner_of[h], pair_cost[term], count_)
        return _helper_span(n_helpers, must, owner_of[h[a]], pair_cost[term][a], count_)

    def max_abs(term: str) -> int:
        pc, rc_ = term_cost[term]
        on_pairs = pc if active[:n_pairs].all() or not len(pc) else pc[active[:n_pairs]]
        return max(int(np.abs(on_pairs).max(initial=0)), int(np.abs(rc_[active[n_pairs:]]).max(initial=0)))

    terms = ["coverage", *FLOW_TERMS]
    groups_done: list[list[str]] = []
    weights_done: list[list[int]] = []
    pots: list[np.ndarray] = []
    k = 0
    while k < len(terms):
        group = [terms[k]]
        while k + len(group) < len(terms):  # add the next term while the weights stay in the exact range
            trial = group + [terms[k + len(group)]]
            w_ = lexicographic_weights([span(x) for x in trial])
            mag = sum(wx * max_abs(x) for x, wx in zip(trial, w_))
            if max(mag, 1) * (n_nodes + 1) * 4 >= min(COST_LIMIT, STAGE_LIMIT):
                break
            group = trial
        w = lexicographic_weights([span(x) for x in group])
        cost = np.zeros(n_arcs, dtype=np.int64)
        for x, wx in zip(group, w):
            pc, rc_ = term_cost[x]
            if len(pc):
                cost[:n_pairs] += wx * pc
            cost[n_pairs:] += wx * rc_
        mcf = min_cost_flow.SimpleMinCostFlow()
        if active.all():  # the first solve: every arc, no copies
            idx = None
            arcs = mcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, cost)
        else:
            idx = np.flatnonzero(active)
            arcs = mcf.add_arcs_with_capacity_and_unit_cost(tails[idx], heads[idx], caps[idx], cost[idx])
        for node in np.flatnonzero(supply):
            mcf.set_node_supply(int(node), int(supply[node]))
        st = mcf.solve()
        if st != mcf.OPTIMAL:
            names = {mcf.INFEASIBLE: "INFEASIBLE", mcf.UNBALANCED: "UNBALANCED", mcf.BAD_COST_RANGE: "BAD_COST_RANGE"}
            raise _FlowInfeasible(names.get(st, str(st)))
        flow[:] = 0
        if idx is None:
            flow[:] = mcf.flows(arcs)
        else:
            flow[idx] = mcf.flows(arcs)
        del mcf, arcs, idx
        groups_done.append(group)
        weights_done.append(list(w))
        k += len(group)
        if k >= len(terms) and not keep_potentials:
            break
        # restrict to this stage's optimal face: arcs with a non-zero reduced cost keep their flow in every optimum
        try:
            pot = wholebound.residual_distances(n_nodes, tails, heads, no_lo, caps, flow, cost, active)
        except ValueError as exc:
            raise _FlowInfeasible("potentials: the residual graph has a negative cycle (the flow is not optimal)") from exc
        pots.append(pot)
        if k >= len(terms):
            break
        sign = wholebound.reduced_signs(tails, heads, cost, pot, active)  # 0 off the active arcs
        if ((sign < 0) & (flow < caps)).any() or ((sign > 0) & (flow > 0)).any():
            raise _FlowInfeasible("internal: the potentials do not prove the flow optimal")
        fix = np.flatnonzero(sign)
        fixed_flow = np.where(sign[fix] < 0, caps[fix], 0)
        forced[fix] += fixed_flow
        moved = fixed_flow != 0  # only arcs fixed at a non-zero flow move supply
        np.subtract.at(supply, tails[fix[moved]], fixed_flow[moved])
        np.add.at(supply, heads[fix[moved]], fixed_flow[moved])
        active[fix] = False
        known_spans.clear()
        del sign, cost
    total = forced + flow
    amount = np.zeros(len(hp), dtype=np.int64)
    amount[pair_idx] = total[:n_pairs]
    chosen = amount > 0
    n_at = np.bincount(tp, weights=amount, minlength=n_targets).astype(np.int64)
    n_lead = np.bincount(tp[lead], weights=amount[lead], minlength=n_targets).astype(np.int64)
    coverage = int(np.clip(required - n_at, 0, None).sum() + np.clip(comp_min - n_lead, 0, None).sum())
    values = {term: int((costs[term][chosen] * amount[chosen]).sum()) for term in FLOW_TERMS}
    return FlowResult(chosen, coverage, values, unplaced, groups_done, weights_done, pots, (H0, L0, T0), amount)


class _FlowInfeasible(Exception):
    pass


def _solve_merged(n_helpers: int, must: np.ndarray, n_targets: int, required: np.ndarray, comp_min: np.ndarray,
                  tmax: int, hp: np.ndarray, tp: np.ndarray, lead: np.ndarray, pinned: np.ndarray,
                  costs: dict[str, np.ndarray], key: np.ndarray | None = None, block: np.ndarray | None = None
                  ) -> FlowResult:
    """The exact lexicographic assignment of a flow group, its interchangeable helpers solved as one node each.

    Source: Guizhou 2012 帮联驻 (staff of one agency with the same rank, skills and languages; hometown
    avoidance by township); :mod:`matcher.helperclasses` says why merging keeps the optimum

    ``key`` proposes classes per helper and ``block`` gives each target's hometown-avoidance area;
    without them, or when no two helpers merge, this is :func:`_solve_flow`. The result is the same
    lexicographic optimum as :func:`_solve_flow` gives (the same figures; ties may be broken otherwise),
    stated per original pair.
    """
    args = (n_helpers, must, n_targets, required, comp_min, tmax, hp, tp, lead, pinned, costs)
    if key is None or block is None or not len(hp):
        return _solve_flow(*args)
    hc = helperclasses.helper_classes(n_helpers, must, hp, tp, lead, pinned, costs, key, block)
    if hc is None or hc.n_classes == n_helpers:
        return _solve_flow(*args)
    r = _solve_flow(hc.n_classes, hc.must, n_targets, required, comp_min, tmax, hc.tail, hc.target, hc.lead, hc.pinned,
                    hc.costs, count=hc.count, pair_cap=hc.cap, relay_of=hc.relay_class, relay_cap=hc.relay_cap)
    chosen = helperclasses.members_chosen(hc, r.amount, hp, tp, n_targets)
    n_at = np.bincount(tp[chosen], minlength=n_targets)
    n_lead = np.bincount(tp[chosen & lead], minlength=n_targets)
    coverage = int(np.clip(required - n_at, 0, None).sum() + np.clip(comp_min - n_lead, 0, None).sum())
    values = {term: int(costs[term][chosen].sum()) for term in FLOW_TERMS}
    if coverage != r.coverage or values != r.values:
        raise _FlowInfeasible("internal: the merged helpers' flow does not split into the same plan")
    unplaced = np.flatnonzero(np.isin(hc.class_of, r.unplaced))
    return FlowResult(chosen, coverage, values, unplaced, r.stages, r.weights)


FLOW_PROCESSES = 2
"""Processes that solve a lower tier's flow groups (at most ``workers``, Linux only); 1 solves them in this process.

Measured on Guizhou (bench/RESULTS.md, 2026-12-02, third session): 2 processes take the village phase
from 15.0 to 10.7 s; the run's peak memory (summed PSS of the process and its workers) is 1.61 GiB
against 1.45 GiB with one. The plan is the same either way.
"""

PARALLEL_MIN_PAIRS = 1_000_000
"""Candidate pairs of a tier below which its flow groups are solved in this process, one after another."""

def _solve_flows(flow_args: list[tuple], workers: int) -> list[FlowResult]:
    """Each flow group's exact result, in the groups' order; large tiers may use forked processes (FLOW_PROCESSES).

    Source: the groups share no helper and no target, so they are independent problems; each is solved
    by the same deterministic code wherever it runs, so the plan does not depend on ``workers``.
    OR-Tools' min-cost flow holds the GIL, so threads would not overlap: processes (fork, where the
    platform has it) inherit the groups' arrays without copying them. Largest groups go first.
    """
    sizes = [len(a[6]) for a in flow_args]
    n_proc = min(FLOW_PROCESSES, int(workers)) if sum(sizes) >= PARALLEL_MIN_PAIRS else 1
    return processes.map_largest_first(_solve_merged, flow_args, sizes, n_proc)


# --------------------------------------------------------------------------- the whole solve


def solve_province(instance: Any, *, time_limit: float = 60, seed: int = 0, workers: int = 2,
                   progress: Progress | None = None, provable_only: bool = False) -> Any:
    """Solve a province-scale instance into a Plan: top tier by CP-SAT with coupling, lower tiers by min-cost flows.

    Lower tiers must link each helper to at most one target (links_max = 1) with at most one
    composition rule and no quotas; otherwise a :class:`SolveError` says to use :func:`matcher.solver.solve`.
    With ``provable_only`` (the province-first path of ``solver.solve``) it returns None, before any
    solving, when the whole-plan bound cannot exist (``wholebound.top_tier_reason``: incumbents in the
    top tier, say), since then it could not prove its plan optimal.
    """
    from matcher.solver import InfeasibleError, _make_plan, diagnose

    t0 = time.monotonic()
    say = progress or (lambda event, info: None)
    timings: dict[str, float] = {}
    scheme, ctx = scheme_and_context(instance)
    tiers = list(scheme.tiers)
    top = tiers[0]
    why = supported(scheme)
    if why:
        raise SolveError(f"{why}; the province solver handles lower tiers with links_max = 1, full coverage, at most "
                         f"one composition rule, nested in '{top.id}' or not nested: use matcher.solver.solve")
    # ---- top tier
    ts = time.monotonic()
    say("phase", {"text": f"tier {top.id}: candidate pairs"})
    top_frames = drop_forbidden(build_tier_frames(ctx, top), top.forbidden)
    if provable_only and wholebound.top_tier_reason(top, top_frames.pairs):
        return None
    ctx.cache[("frames", top.id)] = top_frames
    findings = diagnose(_scheme_only(ctx, scheme, [top]), {top.id: top_frames})
    hard = [f for f in findings if f.hard]
    if hard:
        raise InfeasibleError("the hard rules cannot all hold:", hard)
    couplings = _couplings(ctx, top)
    top_left = mip_seconds(time_limit, 0.5)
    prefetched: dict[str, Prefetched | None] = {}
    nested = [t for t in tiers[1:] if t.nest_in == top.id]
    choice = (prior_applies(time_limit) and len(top_frames.pairs) > 0
              and top_frames.pairs.groupby("helper").size().max() >= 2)
    # the first choice for the whole plan's match, when no later choice follows (prior_applies)
    prior_mip = functools.partial(_prior_choice, ctx, top, top_frames, couplings, time_limit=top_left) if choice else None
    prior_top = None
    own_later: Callable[..., Any] | None = None  # the tier's own MIP, when solved after the prices' choice
    by_flow = _top_by_flow(ctx, top, top_frames, couplings)
    if by_flow is not None:
        chosen_top, top_stages = by_flow
        top_status, coupling_short = "OPTIMAL", 0.0
        top_method = ("min-cost flow without the coupling rows; its exact lexicographic optimum satisfies them "
                      "(no counted helper shortfall for the lower tiers), so it is the coupled optimum")
        prior = prior_prices(ctx, top, top_frames, nested_tables(ctx, nested)) if prior_mip is not None else None
        if prior is not None and all(st.value == 0 for st in top_stages if st.term == "coverage"):
            prior_top = prior_mip(prior)
    else:
        first_mip = functools.partial(_top_milp_short_free_first, ctx, top, top_frames, couplings, time_limit=top_left)
        # with the prices, the worker solves their MIP only: the tier's own optimum gives nothing but its own
        # figures, so it is solved later, beside the bound's priced MIP (_own_beside)
        by_milp, prior_top, prefetched = _mip_beside_prefetch(None if prior_mip is not None else first_mip, ctx, top,
                                                              top_frames, nested, progress=progress, workers=workers,
                                                              prior_call=prior_mip)
        if prior_mip is not None and prior_top is None:  # no choice without both shortfalls: the tier's own stages
            by_milp = first_mip(progress=progress)
        if prior_top is not None:
            own_later = first_mip
            chosen_top, top_stages, top_status, coupling_short = prior_top, [], "FEASIBLE", 0.0
            top_method = ("HiGHS MIP, lexicographic stages, with coupling rows for the nested tiers (counted helper "
                          "shortfall of the lower tiers minimised first: 0)")
        elif by_milp is not None:
            chosen_top, top_stages, top_status, coupling_short = by_milp
            top_method = ("HiGHS MIP, lexicographic stages, with coupling rows for the nested tiers "
                          f"(counted helper shortfall of the lower tiers minimised first: {coupling_short:g})")
        else:
            chosen_top, top_stages, top_status, coupling_short = _solve_top(
                ctx, top, top_frames, couplings, time_limit=top_left, seed=seed, workers=workers, progress=progress)
            top_method = ("cp-sat, lexicographic stages, with coupling rows for the nested tiers "
                          f"(counted helper shortfall of the lower tiers minimised first: {coupling_short:g})")
    if prior_top is not None and (own_later is not None or not np.array_equal(prior_top, chosen_top)):
        if own_later is None:  # the tier's own optimum is known (the flow's): its figures now
            top_stages = _own_stages(ctx, top_frames, prior_top, top_stages)
            top_status = "OPTIMAL" if all(st.status == "OPTIMAL" for st in top_stages) else "FEASIBLE"
        chosen_top = prior_top
        top_method += PRIOR_METHOD
        say("phase", {"text": f"tier {top.id}: chosen for the whole plan's match (nested tiers priced a priori)"})
    timings[top.id] = time.monotonic() - ts
    top_required = rules.required_helpers(top_frames.targets, top, ctx).to_numpy(dtype=np.int64)
    allowed_top = ~_forbidden_mask(top_frames.pairs, top, couplings)

    def round_for(chosen_top: np.ndarray, top_stages: list[Stage], top_status: str, top_method: str,
                  with_bound: bool = True) -> dict[str, Any]:
        """The lower tiers given a top-tier choice, and (``with_bound``) the whole-plan bound from their potentials."""
        st = _lower_given_top(ctx, tiers, top, top_frames, chosen_top, say, timings, workers=workers,
                              prefetched=prefetched)
        prefetched.clear()  # used up by this round
        st["tier_info"][top.id] = {"stages": top_stages, "status": top_status, "pairs": len(top_frames.pairs),
                                   "method": top_method}
        ts_ = time.monotonic()
        flows = [st["tier_info"][t.id].pop("flows", None) for t in tiers[1:]]
        st["bound"] = wholebound.WholeBound(reason="a lower tier was not solved as a flow")
        st["chosen_top"] = chosen_top
        if not with_bound and flows and all(f is not None for f in flows):
            # the plan's figures only: the earlier rounds' bounds hold for it too
            st["bound"] = None
            st["scaled"] = wholebound.plan_scaled(ctx, top_frames.pairs, chosen_top, flows)
            return st
        if flows and all(f is not None for f in flows):
            say("phase", {"text": "whole-plan bound (Lagrangian relaxation of the nesting)"})
            st["bound"] = wholebound.whole_plan_bound(ctx, top, top_frames.pairs, allowed_top, chosen_top,
                                                      top_frames.targets, top_required, flows, workers=workers)
            say("phase", {"text": f"whole-plan bound: {st['bound'].bounds or st['bound'].reason} "
                                  f"({time.monotonic() - ts_:.1f} s)"})
        timings["bound"] = timings.get("bound", 0.0) + time.monotonic() - ts_
        st["scaled"] = st["bound"].scaled
        return st

    own_done: tuple[np.ndarray, list[Stage], str, float] | None = None
    own_pending = own_later is not None  # the top tier's own figures are still to come
    best = round_for(chosen_top, top_stages, top_status, top_method)
    # the re-chosen top tier keeps the first MIP's optimum of its earlier stages (no coupling or coverage short)
    known_top = {"coupling": 0.0, "coverage": 0.0} if (
        coupling_short == 0 and all(st_.value == 0 for st_ in top_stages if st_.term == "coverage")) else {}
    rounds = [best["bound"]]
    tried = [chosen_top]
    n_rounds = 1
    while not rounds[-1].reason and best["bound"].bounds != best["bound"].values:
        # the top tier with the last round's priced costs (its potentials) and its coupling rows, as a HiGHS
        # MIP: its optimum tightens that round's bound, and its choice starts the next round if time allows
        last = rounds[-1]
        priced, shift, shift2 = _priced_top(last, top_frames.pairs)
        alone = _alone_priced(last)
        # the priced travel stage may bound travel only without alone prices; with them it would just break
        # ties of the priced W1 for the next round's choice, and on Guizhou it cost 4.7 s (round 1) and
        # 27.6 s (round 2) for the same plans at --time-limit 150 and 300 (bench/RESULTS.md): left out
        w2 = alone is None
        earlier_rounds = [r for r in rounds[:-1] if not r.reason and r.weight == last.weight]
        earlier = [_cut_of(r, last, top_frames.pairs, shift) for r in earlier_rounds]
        ts = time.monotonic()
        priced_milp = functools.partial(_solve_top_milp, ctx, top, top_frames, couplings,
                                        time_limit=mip_seconds(time_limit, 0.25), progress=progress, priced=priced)
        last_round = n_rounds >= rounds_for(time_limit)
        go_on = not last_round or tries_last_choice(time_limit)  # this MIP's choice may be tried next
        if go_on:  # its free pairs are built meanwhile (if the MIP repeats a choice, they go unused)
            by_milp, _, pre = _mip_beside_prefetch(
                functools.partial(priced_milp, alone=alone, known=known_top, priced_travel=w2, earlier=earlier),
                ctx, top, top_frames, nested, progress=progress, workers=workers,
                what="priced HiGHS MIP (the next round's choice)")
            prefetched.update(pre)
        elif own_later is not None:  # the tier's own MIP in a worker meanwhile (its figures only)
            by_milp, own_done = _own_beside(
                own_later, functools.partial(priced_milp, alone=alone, known=known_top, priced_travel=w2, earlier=earlier),
                workers)
            own_later = None
        else:
            by_milp = priced_milp(alone=alone, known=known_top, priced_travel=w2, earlier=earlier)
        if by_milp is None and known_top:  # the blocked pairs changed an earlier optimum: solve every stage
            by_milp = priced_milp(alone=alone, priced_travel=w2, earlier=earlier)
        if by_milp is not None:  # the MIP keeps the coupling rows: its dual bound tightens the last round's W1 bound
            if _milp_tightens(last, by_milp, top_frames.pairs, shift, shift2, with_alone=alone is not None,
                              earlier=earlier_rounds):
                # match proven: the travel bound for plans that close needs the MIP's second stage without the
                # alone prices (they hold for W1 only)
                plain = priced_milp()
                if plain is not None:
                    _milp_tightens(last, plain, top_frames.pairs, shift, shift2, with_alone=False)
            timings["bound"] = timings.get("bound", 0.0) + time.monotonic() - ts
        if by_milp is None or any(np.array_equal(by_milp[0], c) for c in tried):
            break
        if best["bound"].bounds == best["bound"].values:  # the tightened bound proves the best plan optimal
            break
        if not go_on:
            break
        n_rounds += 1
        tried.append(by_milp[0])
        new_top = by_milp[0]
        stages_new = _own_stages(ctx, top_frames, new_top, top_stages)
        cand = round_for(new_top, stages_new, "FEASIBLE",
                         "HiGHS MIP re-chosen for the whole plan (pairs priced by the lower tiers' node potentials), "
                         "coupling rows kept; its own costs are above the tier's own optimum by its gap",
                         with_bound=not last_round)
        if cand["bound"] is not None and cand["bound"].reason:
            break
        key = lambda st: tuple(st["scaled"][k] for k in ("match", "strength", "travel"))
        say("phase", {"text": f"round {n_rounds}: plan {key(cand)} vs best {key(best)}"
                              + (" (no bound of its own: the earlier rounds' bounds hold for it)" if last_round else "")})
        if key(cand) < key(best):
            best = cand
        if last_round:
            break
        rounds.append(cand["bound"])
    prefetched.clear()  # pairs built for a choice that was not tried
    if own_later is not None:  # no priced MIP ran: the tier's own MIP here
        own_done = own_later(progress=None)
    if own_pending:
        _own_figures(ctx, top, top_frames, best, own_done, say)
    bound = wholebound.combine(rounds, best["scaled"]) if not rounds[-1].reason else rounds[-1]
    chosen_top = best["chosen_top"]
    chosen_parts = [top_frames.pairs[chosen_top]] + best["parts"]
    frames_out = {top.id: top_frames, **best["frames"]}
    tier_info = best["tier_info"]
    findings.extend(best["findings"])
    # ---- plan
    ts = time.monotonic()
    weights = {k: scheme.objective.weight(k) for k in ("match", "strength", "travel")}
    chosen = costs_on_grid(pd.concat(chosen_parts, ignore_index=True), weights)  # links carry the minimised costs
    plan_links = {t.id: chosen[chosen["tier"] == t.id] for t in tiers}
    violations = rules.evaluate(ctx, plan_links)
    broken = violations[violations["rule"].map(lambda r: rules.RULES[r].kind == "hard")]
    if len(broken):
        raise SolveError("internal error: the province solver's plan breaks hard rules:\n"
                         + "\n".join(f"  - {m}" for m in broken["message"].head(20)))
    sol = _solution(scheme, tiers, tier_info, chosen, violations, bound)
    plan = _make_plan(instance, ctx, scheme, frames_out, None, sol, chosen, findings, violations,
                      time_limit=time_limit, seed=seed, workers=workers, wall=time.monotonic() - t0)
    for tid, info in tier_info.items():  # the lower tiers' frames hold only their links: put back the pair counts
        plan.header["tiers"][tid]["candidate_pairs"] = int(info["pairs"])
    timings["plan"] = time.monotonic() - ts
    say("timings", {k: round(v, 3) for k, v in timings.items()})
    return plan


_MIP_CALL: list[Any] = []
"""The top-tier MIP a forked worker solves, the queue for its progress events, and the MIP that takes the a-priori prices
(set before the fork, read by _run_mip_call and _run_prior_call)."""


def _run_mip_call() -> Any:
    """Solve _MIP_CALL[0] (in a forked worker process), its progress events put on the queue _MIP_CALL[1] as they come."""
    call, events = _MIP_CALL[:2]
    try:
        return call(progress=lambda event, info: events.put((event, info)))
    finally:
        events.close()
        events.join_thread()  # every event is in the queue's pipe before the result is sent


def _run_prior_call(prior: np.ndarray) -> Any:
    """Solve _MIP_CALL[2] with the a-priori prices (in the forked worker, after its first job if it had one)."""
    return _MIP_CALL[2](prior)


def nested_tables(ctx: Context, nested: list[Tier]) -> dict[str, pairarrays.TierTables]:
    """The coded tables of the nested tiers whose pairs are built as arrays (pairarrays.fast_path_reason)."""
    return {t.id: pairarrays.tier_tables(ctx, t, helper_frame(ctx, t), target_frame(ctx, t))
            for t in nested if not pairarrays.fast_path_reason(ctx, t)}


def _mip_beside_prefetch(call: Callable[..., Any] | None, ctx: Context, top: Tier, top_frames: TierFrames,
                         nested: list[Tier], *, progress: Progress | None, workers: int, what: str = "HiGHS MIP",
                         prior_call: Callable[[np.ndarray], Any] | None = None
                         ) -> tuple[Any, Any, dict[str, Prefetched | None]]:
    """A top-tier MIP (``call``, given ``progress=``), solved in a forked process while this one builds the nested tiers' free pairs.

    Source: the MIP (部门帮县) and the pairs of helpers outside the departments are independent work; the
    MIP's result is the same wherever it runs. Its progress events are passed on as they come once the
    pairs are built. With one worker, or where no process can be forked, the MIP runs here and nothing
    is built beforehand. With ``prior_call`` this process computes the a-priori prices (:func:`prior_prices`)
    once the worker has started, and the worker then solves ``prior_call(prices)`` too: its result comes
    second (None without prices). Returns the two results and the free pairs per tier id.
    """
    import multiprocessing
    import queue

    def prices() -> tuple[np.ndarray | None, dict[str, pairarrays.TierTables]]:
        tables = nested_tables(ctx, nested) if prior_call is not None else {}
        return (prior_prices(ctx, top, top_frames, tables) if tables else None), tables

    def here() -> tuple[Any, Any]:
        first = call(progress=progress) if call is not None else None
        prior, _ = prices()
        return first, (prior_call(prior) if prior_call is not None and prior is not None else None)

    if workers < 2 or not nested:
        return *here(), {}
    global _MIP_CALL
    pre: dict[str, Prefetched | None] = {}
    try:
        with processes.fork_pool(1) as pool:
            if pool is None:
                return *here(), {}
            events = multiprocessing.get_context("fork").Queue()
            _MIP_CALL = [call, events, prior_call]
            job = pool.submit(_run_mip_call) if call is not None else None
            if progress:
                progress("phase", {"text": f"tier {top.id}: {what} in a worker process; meanwhile the free "
                                           "helpers' candidate pairs of the nested tiers"})
            try:
                prior, tables = prices()
                job2 = pool.submit(_run_prior_call, prior) if prior is not None else None
                pre = {t.id: prefetch_free_pairs(ctx, t, top_frames, tables.get(t.id)) for t in nested}
                done = False
                while True:  # pass the MIP's events on as they come, then those still in the pipe
                    try:
                        event, info = events.get(timeout=0.1) if not done else events.get_nowait()
                    except queue.Empty:
                        if done:
                            break
                        done = job is None or job.done()
                        continue
                    if progress:
                        progress(event, info)
            finally:
                events.close()
            result = job.result() if job is not None else None
            second = job2.result() if job2 is not None else None
    except BrokenProcessPool:  # the worker died (killed for memory, say): solve the MIPs here
        return *here(), pre
    finally:
        _MIP_CALL = []
    return result, second, pre


def _milp_tightens(last: wholebound.WholeBound, by_milp: tuple[np.ndarray, list[Stage], str, float], pairs: pd.DataFrame,
                   shift: int, shift2: int, *, with_alone: bool, earlier: list[wholebound.WholeBound] | None = None
                   ) -> bool:
    """Tighten a round's bound with the priced top-tier MIP's dual bounds; True when the W1 bound became exact.

    Source: weak duality of the Lagrangian relaxation (docs/solver.md): the MIP keeps the coupling rows
    """
    pb = [st_.bound for st_ in by_milp[1] if st_.term == "priced_w1"]
    if not pb or last.priced1 is None or last.priced2 is None:
        return False
    tol = 1e-6 * max(1.0, abs(pb[0])) + 1e-3
    lb = math.floor((pb[0] - tol) * last.weight) + shift
    # the priced W1 are integers: when HiGHS's optimum is within half a unit of its dual bound,
    # the exact integer value of its choice is the minimum
    exact = _choice_w1(last, pairs, by_milp[0], with_alone=with_alone)
    if exact is None:  # cannot happen: the MIP's bounds keep the last round's blocked pairs out
        return False
    for r in earlier or []:  # the MIP minimised the largest of the rounds' priced W1: its choice's value is that
        v = _choice_w1(r, pairs, by_milp[0], with_alone=True)
        if v is not None:
            exact = max(exact, v + r.const1 - last.const1)
    if exact - (pb[0] * last.weight + shift) < 0.5:
        lb = exact
    last.lb1 = max(last.lb1, lb + last.const1)
    # travel: the MIP's second stage keeps the priced W1 within half a weight of its minimum, so
    # for plans whose W1 is that close, W2 >= its bound + alpha * (min W1 - const1) + const2
    pb2 = [st_.bound for st_ in by_milp[1] if st_.term == "priced_w2"]
    if pb2 and lb == exact and not with_alone and not earlier and all(a == b for a, b in zip(last.priced1, last.priced1u)):
        v1 = last.priced1[by_milp[0]]
        v2 = last.priced2[by_milp[0]]
        ex2 = sum(int(b) - last.alpha * int(a) for a, b in zip(v1, v2))
        low2 = math.floor(pb2[0] - 1e-6 * max(1.0, abs(pb2[0])) - 1e-3) + shift2
        if ex2 - (pb2[0] + shift2) < 0.5:
            low2 = ex2
        last.lb2_within = (exact + last.const1 + int(0.4 * last.weight), low2 + last.alpha * exact + last.const2)
    wholebound.set_scaled(last, last.bounds_for(**_hat(last)))
    w1_plan = last.weight * last.scaled["match"] + last.scaled["strength"]
    return lb == exact and w1_plan <= exact + last.const1 + int(0.4 * last.weight)


def _hat(b: wholebound.WholeBound) -> dict[str, int]:
    return {"m_hat": b.scaled["match"], "s_hat": b.scaled["strength"], "t_hat": b.scaled["travel"]}


MAX_ROUNDS = 3
"""Most top-tier choices tried (the first by the top tier's own costs, then re-chosen with priced costs)."""

ROUND_SECONDS = 150.0
"""Time limit that buys one more round (a Guizhou round takes about a minute on 2 cores)."""


LAST_CHOICE_SECONDS = 60.0
"""Time limit from which the last round's re-chosen top tier is tried too: its lower tiers, without a bound of its own.

On Guizhou that costs about 9 s and brings the plan of the first round's prices (match 2.7 % better);
the earlier rounds' bounds hold for it, so its gap is proven (bench/RESULTS.md).
"""


MIP_MIN_SECONDS = 30.0
"""Least clock time a top-tier HiGHS MIP is given, whatever the solve's limit (see :func:`mip_seconds`)."""


def mip_seconds(time_limit: float, share: float) -> float:
    """A top-tier HiGHS MIP may run for ``share`` of the solve's time limit, and never less than MIP_MIN_SECONDS.

    Source: determinism (same input, scheme and seed give the same plan and header). HiGHS stops on the
    clock, so a MIP cut short gives a plan or a dual bound that depends on the machine's load: on Guizhou
    at ``--time-limit 10`` the priced MIP's 2.5 s cut it short and the header's match bound moved
    between runs (33,948.2 or 33,948.6); it needs about 4 s, the first MIP about 2.5 s.
    """
    return max(MIP_MIN_SECONDS, time_limit * share)


def tries_last_choice(time_limit: float) -> bool:
    """Whether the top tier re-chosen by the last round's prices gets its lower tiers solved (no bound of its own).

    Source: determinism (the steps of a solve depend on its time limit only, never on the clock)
    """
    return time_limit >= LAST_CHOICE_SECONDS


def rounds_for(time_limit: float) -> int:
    """Rounds of top-tier choices for a time limit: one, plus one per ROUND_SECONDS, at most MAX_ROUNDS.

    Source: determinism (same input, scheme, seed and limits give the same plan on any machine), so the
    number of rounds depends on the time limit only, never on the clock
    """
    return max(1, min(MAX_ROUNDS, 1 + int(time_limit // ROUND_SECONDS)))


def _lower_given_top(ctx: Context, tiers: list[Tier], top: Tier, top_frames: TierFrames, chosen_top: np.ndarray,
                     say: Progress, timings: dict[str, float], workers: int = 1,
                     prefetched: dict[str, Prefetched | None] | None = None) -> dict[str, Any]:
    """Every lower tier solved exactly given the top tier's chosen pairs (``prefetched``: free pairs per tier id)."""
    from matcher.solver import InfeasibleError

    top_links = top_frames.pairs[chosen_top]
    parent_links = pd.DataFrame({"helper": top_links["helper"].astype(str), "target": top_links["target"].astype(str)})
    parent_links.attrs["pool"] = tuple(top_frames.helpers.index)
    parent_frames = TierFrames(top, top_frames.helpers, top_frames.targets, top_links.reset_index(drop=True))
    out: dict[str, Any] = {"parts": [], "frames": {}, "tier_info": {}, "findings": []}
    for tier in tiers[1:]:
        ts = time.monotonic()
        say("phase", {"text": f"tier {tier.id}: candidate pairs by county"})
        res = _solve_lower(ctx, tier, parent_frames if tier.nest_in else None,
                           parent_links if tier.nest_in else None, top if tier.nest_in else None, say,
                           workers=workers, prefetched=(prefetched or {}).get(tier.id))
        if len(res["unplaced_findings"]):
            raise InfeasibleError(f"tier '{tier.id}': some helpers cannot be placed:", res["unplaced_findings"])
        out["findings"].extend(res["findings"])
        out["parts"].append(res["links"])
        out["frames"][tier.id] = TierFrames(tier, res["helpers"], res["targets"], res["links"], res["dropped"])
        out["tier_info"][tier.id] = res
        timings[tier.id] = timings.get(tier.id, 0.0) + time.monotonic() - ts
    return out


def _priced_top(bound: wholebound.WholeBound, pairs: pd.DataFrame
                ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int, int]:
    """Per top-tier pair: priced W1 (in units of W1 / weight) and priced travel, shifted per unit; blocked pairs; the shift."""
    p1, p2, p1u = bound.priced1, bound.priced2, bound.priced1u
    assert p1 is not None and p2 is not None and p1u is not None
    blocked = np.array([v is None for v in p1], dtype=bool)
    v1 = [0 if v is None else int(v) for v in p1]
    v2 = [0 if (a is None or b is None) else int(b) - bound.alpha * int(a) for a, b in zip(p1u, p2)]
    units = pairs["helper"].astype(str).tolist()
    m1: dict[str, int] = {}
    m2: dict[str, int] = {}
    for u, x, y, bl in zip(units, v1, v2, blocked):
        if not bl:
            m1[u] = min(m1.get(u, x), x)
            m2[u] = min(m2.get(u, y), y)
    c1 = np.array([(x - m1.get(u, 0)) / bound.weight for u, x in zip(units, v1)], dtype=float)
    c2 = np.array([float(y - m2.get(u, 0)) for u, y in zip(units, v2)], dtype=float)
    return (np.where(blocked, 0.0, c1), np.where(blocked, 0.0, c2), blocked), sum(m1.values()), sum(m2.values())


def _alone_priced(bound: wholebound.WholeBound) -> tuple[np.ndarray, np.ndarray] | None:
    """Per top-tier pair: the extra W1 (in units of W1 / weight) when its unit is alone in the county, and the blocks."""
    if bound.alone_extra1 is None or bound.alone_blocked is None:
        return None
    extra = np.array([int(v) / bound.weight for v in bound.alone_extra1], dtype=float)
    if not extra.any() and not bound.alone_blocked.any():
        return None
    return extra, np.asarray(bound.alone_blocked, dtype=bool)


def _cut_of(r: wholebound.WholeBound, last: wholebound.WholeBound, pairs: pd.DataFrame, shift: int
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """An earlier round's priced W1 as a cut for the last round's MIP: per-pair prices, alone prices, constant.

    Source: weak duality (every round's Lagrangian bound holds for every plan); the constant is relative to
    the last round's shift and const1, in units of W1 / weight as the MIP's priced costs are
    """
    (c1, _c2, _blocked), shift_r, _ = _priced_top(r, pairs)
    al = _alone_priced(r)
    extra = al[0] if al is not None else np.zeros(len(pairs))
    return c1, extra, (shift_r + r.const1 - shift - last.const1) / last.weight


def _choice_w1(r: wholebound.WholeBound, pairs: pd.DataFrame, chosen: np.ndarray, *, with_alone: bool) -> int | None:
    """A round's priced W1 (without its constant) of a top-tier choice, alone prices included (None: a pair is blocked)."""
    vals = r.priced1[chosen] if r.priced1 is not None else [None]
    if any(v is None for v in vals):
        return None
    return sum(int(v) for v in vals) + (_alone_extra(r, pairs, chosen) if with_alone else 0)


def _alone_extra(bound: wholebound.WholeBound, pairs: pd.DataFrame, chosen: np.ndarray) -> int:
    """The exact extra W1 of a top-tier choice: the alone price of every chosen pair whose target has no other unit."""
    if bound.alone_extra1 is None:
        return 0
    tgt = pairs["target"].astype(str).to_numpy()
    counts = pd.Series(tgt[chosen]).value_counts()
    return sum(int(bound.alone_extra1[i]) for i in np.flatnonzero(chosen) if counts[tgt[i]] == 1)


def _own_stages(ctx: Context, frames: TierFrames, chosen: np.ndarray, base: list[Stage]) -> list[Stage]:
    """A top tier's stages for a choice made for the whole plan: its own costs, with the tier-alone bounds."""
    p = frames.pairs[chosen]
    out = []
    for s in base:
        if s.term in FLOW_TERMS:
            val = float(_int_cost(p["cost_" + s.term], ctx, s.term).sum()) / SCALES[s.term]
            out.append(Stage(s.term, val, min(s.bound, val), "FEASIBLE" if val > s.bound + 1e-9 else "OPTIMAL", 0.0))
        else:
            out.append(s)
    return out


def supported(scheme: Scheme) -> str:
    """Why the province solver cannot take a scheme ('' when it can): lower tiers must be flow-shaped.

    Source: matcher.province design (issue 4): one link per helper below the top tier, full coverage
    """
    tiers = list(scheme.tiers)
    for t in tiers[1:]:
        if t.links_max > 1:
            return f"tier '{t.id}': links_max = {t.links_max} (the province solver takes one link per helper)"
        if t.coverage == "quota":
            return f"tier '{t.id}': quota coverage"
        if len(t.composition) > 1:
            return f"tier '{t.id}': {len(t.composition)} composition rules (at most one)"
        if t.nest_in not in ("", tiers[0].id):
            return f"tier '{t.id}': nested in '{t.nest_in}', not in the top tier '{tiers[0].id}'"
    return ""


def province_applies(instance: Any) -> bool:
    """True when some tier has more candidate pairs before pruning than one model builds and the scheme is supported.

    Source: candidates.MAX_PAIRS (memory of one candidate-pair table) ; issue 4 (province scale)
    """
    return dispatch(instance) == "province"


PROVINCE_FIRST_PAIRS = 1_000
"""Candidate pairs (before pruning, all tiers) from which a supported instance that fits one model is solved
by the province solver first (``solver.solve``'s ``auto``).

Measured on the Guizhou slice of 龙里县 (1 department, 11 officials, 88 staff; 4,632 pairs): the province
solver's plan is proven optimal in 1.0 s, while one CP-SAT model had a worse plan after 5 s (match 186.45
vs 179.88) and after 30 s (strength 50.37 vs 44.83, not proven). On tiny (199 pairs) one model proves its
optimum in under a second (and the province solver gives no bound there: its top tier has an incumbent),
so small instances skip it.
"""


def dispatch(instance: Any) -> str:
    """How ``solver.solve`` solves an instance: ``province``, ``province-first`` or ``model``.

    Source: candidates.MAX_PAIRS (memory of one candidate-pair table) and PROVINCE_FIRST_PAIRS; issue 4
    ``province`` when some tier has more candidate pairs before pruning than one model builds (and the
    scheme is supported), ``province-first`` when a supported scheme's tiers have at least
    PROVINCE_FIRST_PAIRS pairs in all, ``model`` otherwise.
    """
    from matcher.candidates import MAX_PAIRS, estimate_pairs

    scheme = read_scheme(instance.scheme)
    if supported(scheme) or len(scheme.tiers) < 2:
        return "model"
    ctx = context_from_instance(instance, scheme)
    total = 0
    for tier in scheme.tiers:
        h = helper_frame(ctx, tier).reset_index(names="helper")
        t = target_frame(ctx, tier).reset_index(names="target")
        n = estimate_pairs(h, t, dict(tier.eligibility.stay_in_area))
        if n > MAX_PAIRS:
            return "province"
        total += n
    return "province-first" if total >= PROVINCE_FIRST_PAIRS else "model"


def _scheme_only(ctx: Context, scheme: Scheme, tiers: list[Tier]) -> Context:
    return dataclasses.replace(ctx, scheme=dataclasses.replace(scheme, tiers=tuple(tiers)), cache={})


@dataclasses.dataclass
class Prefetched:
    """A nested lower tier's pairs that do not depend on the top tier's choice, built while the top tier is solved."""

    tables: pairarrays.TierTables
    parts: dict[str, ChunkArrays]  # per chunk area: the candidate pairs of the helpers outside the top tier's pool


def _lead_flags(tier: Tier, helpers: pd.DataFrame, targets: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per helper and per target: counts for the tier's composition rule (a section-level cadre, a class-1 village).

    Source: Guizhou 2012 帮联驻, 一类贫困村 teams include a section-level leader (the tier's first composition rule)
    """
    lead_target = np.zeros(len(targets), dtype=bool)
    lead_helper = np.zeros(len(helpers), dtype=bool)
    if tier.composition:
        c = tier.composition[0]
        lead_target = filter_mask(targets, c.where).to_numpy(dtype=bool)
        lead_helper = filter_mask(helpers, c.helper_where).to_numpy(dtype=bool)
    return lead_helper, lead_target


def _chunk_area(targets: pd.DataFrame) -> pd.Series:
    """The area that cuts a lower tier into chunks: each target's county (its prefecture where counties are missing)."""
    chunk_col = "t_county" if (targets["t_county"].astype(str) != "").all() else "t_prefecture"
    return targets[chunk_col].astype(str)


def prefetch_free_pairs(ctx: Context, tier: Tier, top_frames: TierFrames,
                        tables: pairarrays.TierTables | None = None) -> Prefetched | None:
    """The candidate pairs of a nested tier's helpers outside the top tier's pool, chunk by chunk (None: not array-built).

    Source: 部门帮县 nests only the departments' own people (处长联乡, their staff 驻村); a county's or a
    prefecture's own staff may go wherever eligibility allows, whichever departments the top tier sends,
    so their pairs can be built before the top tier is solved (province.solve_province does it meanwhile).
    """
    if pairarrays.fast_path_reason(ctx, tier):
        return None
    helpers = helper_frame(ctx, tier)
    targets = target_frame(ctx, tier)
    h_pos = pd.Series(np.arange(len(helpers)), index=helpers.index)
    t_pos = pd.Series(np.arange(len(targets)), index=targets.index)
    if tables is None or not (tables.helpers.index.equals(helpers.index) and tables.targets.index.equals(targets.index)):
        tables = pairarrays.tier_tables(ctx, tier, helpers, targets)
    lead_helper, lead_target = _lead_flags(tier, helpers, targets)
    no_links = TierFrames(top_frames.tier, top_frames.helpers, top_frames.targets, top_frames.pairs.iloc[0:0])
    free = _nesting_codes(helpers, targets, no_links).key < 0
    inc = rules.in_force_incumbents(ctx, tier)
    parts: dict[str, ChunkArrays] = {}
    for area_code, tids in targets.groupby(_chunk_area(targets), sort=True).groups.items():
        pin_here = set(inc.loc[isin(inc["target"], tids), "helper"]) if len(inc) else set()
        tpos = t_pos[list(tids)].to_numpy()
        hpos = _chunk_helper_positions(tables, tier, None, tpos, h_pos[list(pin_here)].to_numpy())
        parts[str(area_code)] = _chunk_arrays(tables, hpos[free[hpos]], tpos, None, lead_helper, lead_target)
    return Prefetched(tables, parts)


def _joined_chunks(a: ChunkArrays, b: ChunkArrays) -> ChunkArrays:
    """One chunk holding the pairs of two chunks of the same area with disjoint helpers (their drop counts added)."""
    dropped = dict(a.dropped)
    for k, v in b.dropped.items():
        dropped[k] = dropped.get(k, 0) + v
    return ChunkArrays(np.concatenate([a.helper, b.helper]), np.concatenate([a.target, b.target]),
                       np.concatenate([a.lead, b.lead]), np.concatenate([a.pinned, b.pinned]),
                       {k: np.concatenate([a.costs[k], b.costs[k]]) for k in a.costs}, dropped)


def _local_positions(pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct positions (ascending) among ``pos`` (each < ``n``) and each entry's place among them."""
    seen = np.zeros(n, dtype=bool)
    seen[pos] = True
    distinct = np.flatnonzero(seen)
    place = np.zeros(n, dtype=np.int64)
    place[distinct] = np.arange(len(distinct))
    return distinct, place[pos]


def _helper_target_order(hl: np.ndarray, tl: np.ndarray, n_targets: int) -> np.ndarray:
    """The arcs' order by helper, then target (deterministic; each (helper, target) once in a group).

    The group's county chunks come in target order and each is in (helper, target) order, so a stable
    sort by helper alone usually gives it (a merge of sorted runs); otherwise a sort by the full key.
    """
    order = np.argsort(hl, kind="stable")
    key = hl[order].astype(np.int64) * n_targets + tl[order]
    if len(key) > 1 and (key[1:] <= key[:-1]).any():
        order = np.argsort(hl.astype(np.int64) * n_targets + tl)
    return order


MERGE_HELPERS = True
"""Lower tiers' flow groups merge interchangeable helpers into one node each (:func:`_solve_merged`); False: one node per helper."""


def _merge_codes(tier: Tier, helpers: pd.DataFrame, targets: pd.DataFrame, profile: pd.Series, lead_helper: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per helper a proposed class (unit, match profile, lead flag) and per target its hometown-avoidance area.

    Source: Guizhou 2012 帮联驻: staff of one agency with the same rank, skills and languages are
    interchangeable but for their home township (:mod:`matcher.helperclasses` checks each class)
    """
    unit = helpers["unit"].astype(str) if "unit" in helpers.columns else pd.Series(helpers.index, index=helpers.index)
    parts = pd.DataFrame({"u": pd.factorize(unit, sort=True)[0], "p": profile.reindex(helpers.index).to_numpy(),
                          "l": np.asarray(lead_helper, dtype=np.int64)})
    key = pd.factorize(pd.MultiIndex.from_frame(parts), sort=True)[0].astype(np.int64)
    level = tier.eligibility.hometown_avoid or ""
    col = "t_" + level
    if level == "village":  # each target is its own area
        block = np.arange(len(targets), dtype=np.int64)
    elif level and col in targets.columns:
        block = pd.factorize(targets[col].astype(str), sort=True)[0].astype(np.int64)
    else:
        block = np.zeros(len(targets), dtype=np.int64)
    return key, block


def _solve_lower(ctx: Context, tier: Tier, parent_frames: TierFrames | None, parent_links: pd.DataFrame | None,
                 parent: Tier | None, say: Progress, one_group: bool = False, workers: int = 1,
                 prefetched: Prefetched | None = None) -> dict[str, Any]:
    """One lower tier: chunks by county, groups of chunks sharing helpers, one min-cost flow per group.

    ``one_group`` solves all chunks as one flow (the benchmark's baseline: one exact min-cost flow over
    every candidate pair of the tier); ``workers`` caps the processes that solve the groups (see
    FLOW_PROCESSES); ``prefetched`` holds the pairs of the helpers outside the parent tier's pool, built
    beforehand (:func:`prefetch_free_pairs`); its parts are used up.
    """
    from matcher.solver import Finding

    t_start = time.monotonic()
    helpers = helper_frame(ctx, tier)
    targets = target_frame(ctx, tier)
    h_pos = pd.Series(np.arange(len(helpers)), index=helpers.index)
    t_pos = pd.Series(np.arange(len(targets)), index=targets.index)
    profiles = (profile_codes(helpers, MATCH_HELPER_COLUMNS), profile_codes(targets, MATCH_TARGET_COLUMNS))
    req = rules.required_helpers(targets, tier, ctx).to_numpy(dtype=np.int64)
    comp_min = np.zeros(len(targets), dtype=np.int64)
    lead_helper, lead_target = _lead_flags(tier, helpers, targets)
    if tier.composition:
        comp_min[lead_target] = tier.composition[0].min
    # unit share: with links_min >= 1 every listed helper is placed, so the cap is a count
    if tier.unit_share_max > 0 and tier.links_min >= 1:
        head = pd.to_numeric(ctx.units["headcount"], errors="coerce").fillna(0)
        cap = rules.unit_share_cap(head, tier.unit_share_max)
        listed = helpers.groupby("unit").size()
        over = [(str(u), int(k), int(cap.get(u, 0))) for u, k in listed.items() if k > int(cap.get(u, 0))]
        if over:
            from matcher.solver import InfeasibleError
            raise InfeasibleError(f"tier '{tier.id}': units list more people than they may send:", [
                Finding(tier.id, u, k - c_, True, f"unit {u}: {k} people must each take a link, at most {c_} may",
                        f"单位 {u}：{k} 人均须承担任务，最多只能派出 {c_} 人") for u, k, c_ in over])
    inc = rules.in_force_incumbents(ctx, tier)
    fast = pairarrays.fast_path_reason(ctx, tier)
    if prefetched is not None and (fast or not prefetched.tables.helpers.index.equals(helpers.index)
                                   or not prefetched.tables.targets.index.equals(targets.index)):
        prefetched = None  # built for other frames: not used
    tables = (prefetched.tables if prefetched is not None else pairarrays.tier_tables(ctx, tier, helpers, targets)
              ) if not fast else None
    nest = _nesting_codes(helpers, targets, parent_frames) if parent_frames is not None else None
    banned = _forbidden_codes(tier, h_pos, t_pos)
    area = _chunk_area(targets)
    chunks: list[ChunkArrays] = []
    chunk_helpers: list[np.ndarray] = []
    n_pairs = 0
    dropped: dict[str, int] = {}
    anc_cols = [c for c in targets.columns if c.startswith("t_") and c not in ("t_lon", "t_lat")]
    for area_code, tids in targets.groupby(area, sort=True).groups.items():
        codes = {c.removeprefix("t_"): str(targets.at[tids[0], c]) for c in anc_cols}
        pin_here = set(inc.loc[isin(inc["target"], tids), "helper"]) if len(inc) else set()
        if tables is not None:
            tpos = t_pos[list(tids)].to_numpy()
            hpos = _chunk_helper_positions(tables, tier, nest, tpos, h_pos[list(pin_here)].to_numpy())
            free_part = prefetched.parts.pop(str(area_code), None) if prefetched is not None else None
            if free_part is not None and nest is not None:  # the free helpers' pairs are built: add the nested ones
                nested = _chunk_arrays(tables, hpos[nest.key[hpos] >= 0], tpos, nest, lead_helper, lead_target)
                arr = _joined_chunks(free_part, nested)
                del free_part, nested
            else:
                arr = _chunk_arrays(tables, hpos, tpos, nest, lead_helper, lead_target)
        else:
            hids = _chunk_helpers(ctx, tier, helpers, codes, parent_links, parent, pin_here)
            f = _build_chunk(ctx, tier, helpers, targets, hids, pd.Index(tids), parent_frames, profiles)
            arr = _compact(f, tier, ctx, h_pos, t_pos, lead_helper, lead_target)
            del f
        arr = _without_forbidden(arr, banned, len(targets))
        for k, v in arr.dropped.items():
            dropped[k] = dropped.get(k, 0) + v
        n_pairs += len(arr.helper)
        chunks.append(arr)
        chunk_helpers.append(np.unique(arr.helper))
    t_pairs = time.monotonic() - t_start
    say("phase", {"text": f"tier {tier.id}: {n_pairs:,} candidate pairs in {len(chunks)} chunks ({t_pairs:.1f} s)"})
    # groups of chunks that share helpers (union-find over helper positions)
    par = list(range(len(chunks)))

    def find(i: int) -> int:
        while par[i] != i:
            par[i] = par[par[i]]
            i = par[i]
        return i

    owner = np.full(len(helpers), -1, dtype=np.int64)
    for i, hs in enumerate(chunk_helpers):
        prev = owner[hs]
        for j in np.unique(prev[prev >= 0]):
            a_, b_ = find(i), find(int(j))
            if a_ != b_:
                par[max(a_, b_)] = min(a_, b_)
        owner[hs] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(chunks)):
        groups.setdefault(0 if one_group else find(i), []).append(i)
    chunk_targets = [np.unique(t_pos[list(tids)].to_numpy())
                     for _, tids in targets.groupby(area, sort=True).groups.items()]
    must_all = np.full(len(helpers), tier.links_min >= 1)
    chosen_keys_h: list[np.ndarray] = []
    chosen_keys_t: list[np.ndarray] = []
    coverage = 0
    values = {k: 0 for k in FLOW_TERMS}
    solves: list[list[str]] = []
    unplaced_all: list[int] = []
    seen_helpers = np.zeros(len(helpers), dtype=bool)
    kept: list[wholebound.GroupFlow] = []
    pin_any = any(bool(ch.pinned.any()) for ch in chunks)
    n_chunks = len(chunks)
    elig = np.zeros(len(targets), dtype=np.int64)  # distinct eligible helpers per target (for the findings)
    for ch in chunks:  # a chunk holds each (helper, target) pair once
        elig += np.bincount(ch.target, minlength=len(targets))
    merge = MERGE_HELPERS and not one_group
    merge_key, merge_block = _merge_codes(tier, helpers, targets, profiles[0], lead_helper)
    prepared: list[tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []  # (g_h, g_t, lead, costs)
    flow_args: list[tuple] = []
    for g, members in sorted(groups.items()):
        hp = np.concatenate([chunks[i].helper for i in members])
        tp = np.concatenate([chunks[i].target for i in members])
        lead = np.concatenate([chunks[i].lead for i in members])
        pin = np.concatenate([chunks[i].pinned for i in members])
        costs = {k: np.concatenate([chunks[i].costs[k] for i in members]) for k in FLOW_TERMS}
        for i in members:
            chunks[i] = None  # type: ignore[call-overload]  # the group's arrays now hold its pairs: free the copy
        g_h, hl = _local_positions(hp, len(helpers))
        g_t, tl = _local_positions(tp, len(targets))
        seen_helpers[g_h] = True
        order = _helper_target_order(hl, tl, len(g_t))
        del hp, tp  # the group's local positions (hl, tl) and g_h, g_t give them back: one copy in memory
        hl, tl, lead, pin = hl[order].astype(np.int32), tl[order].astype(np.int32), lead[order], pin[order]
        costs = {k: v[order] for k, v in costs.items()}
        prepared.append((g_h, g_t, lead, costs))
        flow_args.append((len(g_h), must_all[g_h], len(g_t), req[g_t], comp_min[g_t], tier.coverage_max,
                          hl, tl, lead, pin, costs, *((merge_key[g_h], merge_block[g_t]) if merge else ())))
    try:
        results = _solve_flows(flow_args, workers)
    except _FlowInfeasible as exc:
        raise SolveError(f"tier '{tier.id}': the min-cost flow failed ({exc}); every helper has a candidate, "
                         f"so this is a capacity problem: the targets they may reach take fewer helpers") from exc
    for i, ((g_h, g_t, lead, costs), r) in enumerate(zip(prepared, results)):
        hl, tl = flow_args[i][6], flow_args[i][7]
        flow_args[i] = ()  # free the group's local arc ends once read
        hp, tp = g_h[hl].astype(np.int32), g_t[tl].astype(np.int32)  # the pairs' global positions
        del hl, tl
        unplaced_all.extend(g_h[r.unplaced].tolist())
        kept.append(wholebound.GroupFlow(hp, tp, lead, costs, r.chosen))
        chosen_keys_h.append(hp[r.chosen])
        chosen_keys_t.append(tp[r.chosen])
        coverage += r.coverage
        for k in FLOW_TERMS:
            values[k] += r.values[k]
        solves.append(["+".join(x) for x in r.stages])
    del flow_args, prepared
    # targets of no group (no chunk) and helpers of no chunk
    no_t = np.ones(len(targets), dtype=bool)
    for ct in chunk_targets:
        no_t[ct] = False
    coverage += int(req[no_t].sum() + comp_min[no_t].sum())
    never = np.flatnonzero(must_all & ~seen_helpers)
    unplaced_all.extend(never.tolist())
    unplaced_findings = []
    for j in sorted(set(unplaced_all)):
        h = helpers.index[j]
        nm = str(helpers.at[h, "name"]) if "name" in helpers.columns else h
        unplaced_findings.append(Finding(tier.id, h, tier.links_min, True,
                                         f"{nm} ({h}) must have {tier.links_min} link(s) in tier {tier.id} but has 0 eligible target(s)",
                                         f"{nm}（{h}）在“{tier.name}”中应有 {tier.links_min} 个联系点，但符合条件的只有 0 个"))
    t_flow = time.monotonic() - t_start - t_pairs
    say("phase", {"text": f"tier {tier.id}: {len(groups)} min-cost flow group(s) solved ({t_flow:.1f} s)"})
    # the chosen links as full pair rows (rebuilt per chunk from the chosen helpers only)
    ch_h = np.concatenate(chosen_keys_h) if chosen_keys_h else np.zeros(0, dtype=np.int64)
    ch_t = np.concatenate(chosen_keys_t) if chosen_keys_t else np.zeros(0, dtype=np.int64)
    keys = pd.DataFrame({"helper": helpers.index[ch_h], "target": targets.index[ch_t]})
    keys["area"] = keys["target"].map(area)
    rows = ([_chosen_rows(ctx, tier, helpers, targets, keys.sort_values(["helper", "target"]), profiles)]
            if len(keys) else [])
    links = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["tier", "helper", "target"])
    if len(links) != len(keys):
        raise SolveError(f"internal error: tier '{tier.id}': {len(keys)} links chosen, {len(links)} rebuilt")
    say("phase", {"text": f"tier {tier.id}: links rebuilt ({time.monotonic() - t_start - t_pairs - t_flow:.1f} s)"})
    # counting findings per target (fewer distinct eligible helpers than required)
    findings = []
    for j in np.flatnonzero(elig < req):
        tid = str(targets.index[int(j)])
        nm = str(targets.at[tid, "name"]) if "name" in targets.columns else tid
        n_el, r_ = int(elig[j]), int(req[j])
        findings.append(Finding(tier.id, tid, r_ - n_el, False,
                                f"{nm} ({tier.name_en}): requires {r_} helper(s), only {n_el} eligible: {r_ - n_el} short",
                                f"{nm}（{tier.name}）：需要 {r_} 名，符合条件的只有 {n_el} 名，缺 {r_ - n_el} 名"))
    stages = [Stage("coverage", float(coverage), float(coverage), "OPTIMAL", 0.0),
              Stage("continuity", 0.0, 0.0, "OPTIMAL", 0.0)]
    for k in FLOW_TERMS:
        stages.append(Stage(k, values[k] / SCALES[k], values[k] / SCALES[k], "OPTIMAL", 0.0))
    most = max(solves, key=len) if solves else []
    method = (f"min-cost flow (OR-Tools), {len(groups)} independent group(s) of {n_chunks} county chunk(s), "
              f"up to {len(most)} solve(s) per group ({' then '.join(most)}) each restricted to the previous optimal "
              "face by node potentials; exact lexicographic optimum given the parent tier's links; "
              "balance is fixed (each helper holds exactly one link)")
    return {"stages": stages, "status": "OPTIMAL", "pairs": n_pairs, "method": method,
            "links": links, "helpers": helpers, "targets": targets, "dropped": dropped, "findings": findings,
            "unplaced_findings": unplaced_findings,
            "flows": wholebound.TierFlows(tier, tables, kept, req, comp_min, lead_helper, lead_target,
                                          bool(tier.links_min >= 1 and not pin_any and tables is not None))}


def _solution(scheme: Scheme, tiers: list[Tier], tier_info: dict[str, dict[str, Any]], chosen: pd.DataFrame,
              violations: pd.DataFrame, whole: wholebound.WholeBound | None = None) -> Solution:
    """The whole plan's figures: per term the sum over tiers, with the whole-plan bounds of :mod:`matcher.wholebound`."""
    order = list(scheme.objective.order)
    values: dict[str, float] = {t: 0.0 for t in order}
    for info in tier_info.values():
        for s in info["stages"]:
            if s.term in values and s.term != "balance":
                values[s.term] += s.value
    # balance as the model defines it: per tier, the largest number of links held by one unit
    bal = 0.0
    for t in tiers:
        sub = chosen[chosen["tier"] == t.id]
        if sub["unit"].nunique() >= 2:
            bal += round(scheme.objective.weight("balance")) * float(sub.groupby("unit").size().max())
    values["balance"] = bal
    # whole-plan bounds that need no solver: coverage and continuity are never below 0, and when every
    # helper of every tier holds exactly one link, each unit's load (balance) is the same in every plan
    fixed_load = all(t.links_min == t.links_max == 1 for t in tiers)
    proven = whole.bounds if whole is not None and not whole.reason else {}
    stages = []
    for term in order:
        bnd = values[term] if term == "balance" and fixed_load else 0.0
        if term in proven:
            bnd = min(float(proven[term]), values[term])
        exact = (term in ("coverage", "continuity", "balance") or term in proven) and values[term] <= bnd + 1e-9
        stages.append(Stage(term, values[term], bnd, "OPTIMAL" if exact else "FEASIBLE", 0.0))
    parts = []
    for t in tiers:
        info = tier_info[t.id]
        obj = sum(s.value for s in info["stages"])
        bnd = sum(s.bound for s in info["stages"])
        parts.append({"tiers": [t.id], "objective": obj, "bound": bnd, "status": info["status"],
                      "method": info["method"] + ("" if t is tiers[0] else " (bound given the parent tier's links)")})
    method = ("province: nested tiers solved in order, parents fixed: "
              + "; ".join(f"{p['tiers'][0]}: {p['method'].split(',')[0]}" for p in parts))
    if proven:
        method += ("; whole-plan bound: Lagrangian relaxation of the nesting (lower tiers priced by their own "
                   "optimal node potentials, a department alone in its county priced exactly, top tier re-chosen "
                   f"by a min-cost flow and by a HiGHS MIP with its coupling rows and every round's bound as a cut, "
                   f"alpha {whole.alpha})")
    elif whole is not None:
        method += f"; no whole-plan bound: {whole.reason}"
    status = "OPTIMAL" if all(s.status == "OPTIMAL" for s in stages) else "FEASIBLE"
    return Solution(np.zeros(0, dtype=bool), stages, status, method, parts=parts)


__all__ = ["coupling_holds", "lexicographic_weights", "province_applies", "solve_province", "supported"]
