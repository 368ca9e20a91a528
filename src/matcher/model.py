"""The optimisation core: an assignment problem over candidate pairs, solved with CP-SAT in lexicographic stages.

:class:`AssignmentProblem` is plain tables (no geography): candidate pairs with their cost parts,
targets with required/maximum helpers, helpers with link bounds, time budgets, unit caps,
nesting arcs, composition groups and quotas. :func:`from_frames` builds one from the candidate
frames of :mod:`matcher.candidates`; :mod:`matcher.gap` builds one from a GAP benchmark file.

:func:`solve_problem` minimises the objective priorities in order ("stages"): each stage
minimises one priority's integer expression, then fixes it (``== value`` when proven optimal,
``<= value`` otherwise) before the next. Every stage reports its value and CP-SAT's proven bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model

# integer scale of each priority's costs: value = integer / scale
SCALES: dict[str, int] = {"coverage": 1, "continuity": 1, "match": 100, "strength": 100, "travel": 10, "balance": 1}
DAY_SCALE = 100  # time budgets in 1/100 day


@dataclass
class AssignmentProblem:
    """An assignment problem as tables; see the module docstring."""

    pairs: pd.DataFrame  # tier, helper, target, unit, pinned, continues, visiting, load, cost_match, cost_strength, cost_travel
    targets: pd.DataFrame  # tier, target, required, max, quota_tier
    helpers: pd.DataFrame  # tier, helper, links_min, links_max
    budgets: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["helper", "min_load", "max_load"]))
    unit_caps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["tier", "unit", "cap", "distinct"]))
    nesting: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["child", "parent"]))
    compositions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["group", "pair", "min"]))
    quotas: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["quota", "tier", "target", "min"]))
    order: tuple[str, ...] = ("coverage", "continuity", "match", "strength", "travel", "balance")
    weights: dict[str, float] = field(default_factory=dict)
    balance_tiers: tuple[str, ...] = ()


@dataclass
class Stage:
    """One lexicographic stage: the priority, its value and proven bound (natural units), status, seconds."""

    term: str
    value: float
    bound: float
    status: str
    seconds: float


@dataclass
class Solution:
    """The chosen pairs and each stage's figures."""

    chosen: np.ndarray  # bool per pair row
    stages: list[Stage]
    status: str  # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN
    method: str

    @property
    def objective(self) -> dict[str, float]:
        """Each priority's value."""
        return {s.term: s.value for s in self.stages}

    @property
    def bound(self) -> dict[str, float]:
        """Each priority's proven lower bound."""
        return {s.term: s.bound for s in self.stages}


def _int_costs(prob: AssignmentProblem, term: str) -> np.ndarray:
    w = prob.weights.get(term, 1.0)
    col = {"match": "cost_match", "strength": "cost_strength", "travel": "cost_travel"}[term]
    return np.rint(prob.pairs[col].to_numpy(dtype=float) * w * SCALES[term]).astype(np.int64)


def _status_name(code: int) -> str:
    return {cp_model.OPTIMAL: "OPTIMAL", cp_model.FEASIBLE: "FEASIBLE", cp_model.INFEASIBLE: "INFEASIBLE",
            cp_model.MODEL_INVALID: "MODEL_INVALID"}.get(code, "UNKNOWN")


class _Builder:
    """Variables and constraints of the CP-SAT model, kept so stages can reuse them."""

    def __init__(self, prob: AssignmentProblem):
        self.prob = prob
        m = self.m = cp_model.CpModel()
        p = prob.pairs
        n = len(p)
        self.x = [m.new_bool_var(f"x{i}") for i in range(n)]
        for i in np.flatnonzero(p["pinned"].to_numpy(dtype=bool)):
            m.add(self.x[i] == 1)
        self.terms: dict[str, Any] = {}
        self.term_scale: dict[str, int] = {}
        by_target = p.groupby(["tier", "target"], sort=True).indices
        by_helper = p.groupby(["tier", "helper"], sort=True).indices
        shorts = []
        # coverage of each target (soft below the requirement, hard above the maximum)
        for row in prob.targets.itertuples(index=False):
            idx = by_target.get((row.tier, row.target), [])
            s = sum(self.x[i] for i in idx)
            m.add(s <= int(row.max))
            req = int(row.required)
            if req > 0:
                sh = m.new_int_var(0, req, f"short_{row.tier}_{row.target}")
                m.add(s + sh >= req)
                shorts.append(sh)
        # quotas: covered targets per category
        if len(prob.quotas):
            covered: dict[tuple[str, str], Any] = {}
            for q, g in prob.quotas.groupby("quota", sort=True):
                cov_vars = []
                for tier, target in zip(g["tier"], g["target"]):
                    key = (tier, target)
                    if key not in covered:
                        idx = by_target.get(key, [])
                        c = m.new_bool_var(f"cov_{tier}_{target}")
                        if len(idx):
                            m.add_max_equality(c, [self.x[i] for i in idx])
                        else:
                            m.add(c == 0)
                        covered[key] = c
                    cov_vars.append(covered[key])
                need = int(g["min"].iloc[0])
                sh = m.new_int_var(0, need, f"qshort_{q}")
                m.add(sum(cov_vars) + sh >= need)
                shorts.append(sh)
        # composition: a team includes enough helpers of a kind
        if len(prob.compositions):
            for gname, g in prob.compositions.groupby("group", sort=True):
                need = int(g["min"].iloc[0])
                sh = m.new_int_var(0, need, f"cshort_{gname}")
                members = [self.x[int(i)] for i in g["pair"] if int(i) >= 0]
                m.add(sum(members) + sh >= need)
                shorts.append(sh)
        self.terms["coverage"] = sum(shorts) if shorts else 0
        # links per helper
        for row in prob.helpers.itertuples(index=False):
            idx = by_helper.get((row.tier, row.helper), [])
            s = sum(self.x[i] for i in idx)
            if row.links_min > 0:
                m.add(s >= int(row.links_min))
            m.add(s <= int(row.links_max))
        # unit caps: people of a unit linked in a tier
        if len(prob.unit_caps):
            by_unit = p.groupby(["tier", "unit"], sort=True).indices
            lmax = {(r.tier, r.helper): int(r.links_max) for r in prob.helpers.itertuples(index=False)}
            for row in prob.unit_caps.itertuples(index=False):
                idx = by_unit.get((row.tier, row.unit), [])
                if not len(idx):
                    continue
                people: dict[str, list[int]] = {}
                for i in idx:
                    people.setdefault(p["helper"].iat[i], []).append(i)
                terms = []
                for h, ii in sorted(people.items()):
                    if lmax.get((row.tier, h), 1) <= 1:
                        terms.append(sum(self.x[i] for i in ii))
                    else:
                        y = m.new_bool_var(f"busy_{row.tier}_{h}")
                        m.add_max_equality(y, [self.x[i] for i in ii])
                        terms.append(y)
                m.add(sum(terms) <= int(row.cap))
        # nesting: a child link needs its parent link
        for c, par in zip(prob.nesting["child"], prob.nesting["parent"]):
            m.add_implication(self.x[int(c)], self.x[int(par)])
        # time budgets across tiers
        if len(prob.budgets):
            load = p["load"].to_numpy(dtype=np.int64)
            visiting = p["visiting"].to_numpy(dtype=bool)
            by_h = p.groupby("helper", sort=True).indices
            for row in prob.budgets.itertuples(index=False):
                idx = by_h.get(row.helper, [])
                if not len(idx):
                    continue
                s = sum(int(load[i]) * self.x[i] for i in idx if load[i])
                if row.max_load is not None and not (isinstance(row.max_load, float) and math.isnan(row.max_load)):
                    if sum(int(load[i]) for i in idx) > int(row.max_load):
                        m.add(s <= int(row.max_load))
                vis = [self.x[i] for i in idx if visiting[i]]
                if row.min_load and vis:
                    y = m.new_bool_var(f"visits_{row.helper}")
                    m.add_max_equality(y, vis)
                    m.add(s >= int(row.min_load)).only_enforce_if(y)
        # continuity: previous pairs dropped
        cont = np.flatnonzero(p["continues"].to_numpy(dtype=bool))
        self.terms["continuity"] = (len(cont) - sum(self.x[i] for i in cont)) if len(cont) else 0
        self.term_scale.update(coverage=1, continuity=1)
        for term in ("match", "strength", "travel"):
            c = _int_costs(prob, term)
            nz = np.flatnonzero(c)
            self.terms[term] = cp_model.LinearExpr.weighted_sum([self.x[i] for i in nz], [int(c[i]) for i in nz]) \
                if len(nz) else 0
            self.term_scale[term] = SCALES[term]
        # balance: the largest unit load in the listed tiers
        bal = []
        for tier in prob.balance_tiers:
            sub = p.index[p["tier"] == tier]
            groups = p.loc[sub].groupby("unit", sort=True).indices
            if len(groups) < 2:
                continue
            hi = m.new_int_var(0, len(sub), f"maxload_{tier}")
            for _, ii in sorted(groups.items()):
                m.add(sum(self.x[sub[i]] for i in ii) <= hi)
            bal.append(hi)
        w = prob.weights.get("balance", 1.0)
        self.terms["balance"] = sum(int(round(w)) * b for b in bal) if bal else 0
        self.term_scale["balance"] = 1
        self.shorts = shorts


def solve_problem(prob: AssignmentProblem, *, time_limit: float = 60.0, seed: int = 0, workers: int = 2,
                  progress: Callable[[str, dict[str, Any]], None] | None = None) -> Solution:
    """Minimise the priorities of ``prob.order`` one after another with CP-SAT; see the module docstring."""
    t0 = time.monotonic()
    b = _Builder(prob)
    m = b.m
    stages: list[Stage] = []
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = max(1, int(workers))
    if workers > 1:
        solver.parameters.interleave_search = True  # deterministic parallel search
    terms = [t for t in prob.order if not isinstance(b.terms.get(t, 0), int)]
    chosen = np.zeros(len(prob.pairs), dtype=bool)
    overall = "OPTIMAL"
    if not terms:  # nothing to minimise: feasibility only
        terms = []
        solver.parameters.max_time_in_seconds = max(0.1, time_limit)
        st = solver.solve(m)
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return Solution(chosen, [], _status_name(st) if st == cp_model.INFEASIBLE else "UNKNOWN", "cp-sat")
        chosen = np.array([solver.boolean_value(v) for v in b.x], dtype=bool)
    for k, term in enumerate(terms):
        left = time_limit - (time.monotonic() - t0)
        share = max(0.05, left / (len(terms) - k))
        solver.parameters.max_time_in_seconds = share
        expr = b.terms[term]
        m.minimize(expr)
        if k > 0:
            m.clear_hints()
            for v, val in zip(b.x, chosen):
                m.add_hint(v, bool(val))
        ts = time.monotonic()
        st = solver.solve(m)
        name = _status_name(st)
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if k == 0:
                return Solution(chosen, stages, "INFEASIBLE" if st == cp_model.INFEASIBLE else "UNKNOWN", "cp-sat")
            # out of time before finding a solution: keep the previous stage's plan, which satisfies all fixed stages
            val = int(round(term_values(prob, chosen, scaled=True)[term]))
            bnd = max(0, int(math.ceil(solver.best_objective_bound - 1e-6))) if st != cp_model.INFEASIBLE else val
            name = "FEASIBLE"
        else:
            val = int(round(solver.objective_value))
            bnd = int(math.ceil(solver.best_objective_bound - 1e-6))
            chosen = np.array([solver.boolean_value(v) for v in b.x], dtype=bool)
        scale = b.term_scale[term]
        stages.append(Stage(term, val / scale, min(bnd, val) / scale, name, time.monotonic() - ts))
        if name != "OPTIMAL":
            overall = "FEASIBLE"
        m.add(expr == val if name == "OPTIMAL" else expr <= val)
        if progress:
            progress("stage", {"term": term, "value": val / scale, "bound": bnd / scale, "status": name})
    # a stage fixed with "<=" (not proven optimal) may still improve in later stages: report the final plan's values
    final = term_values(prob, chosen)
    for st_ in stages:
        st_.value = final[st_.term]
        st_.bound = min(st_.bound, st_.value)
    return Solution(chosen, stages, overall, f"cp-sat, lexicographic stages ({', '.join(terms) or 'feasibility'})")


def term_values(prob: AssignmentProblem, chosen: np.ndarray, *, scaled: bool = False) -> dict[str, float]:
    """Each priority's value for a choice of pairs, computed directly from the tables (no solver).

    With ``scaled`` the integer values the CP-SAT stages minimise; otherwise natural units.
    """
    p = prob.pairs
    ch = np.asarray(chosen, dtype=bool)
    out: dict[str, float] = {}
    n = p.loc[ch].groupby(["tier", "target"]).size()
    t = prob.targets.set_index(["tier", "target"])
    have = n.reindex(t.index, fill_value=0)
    short = float(np.clip(t["required"] - have, 0, None).sum())
    if len(prob.quotas):
        covered = set(n.index)
        for _, g in prob.quotas.groupby("quota", sort=True):
            k = sum((a, b) in covered for a, b in zip(g["tier"], g["target"]))
            short += max(0, int(g["min"].iloc[0]) - k)
    if len(prob.compositions):
        for _, g in prob.compositions.groupby("group", sort=True):
            k = sum(bool(ch[int(i)]) for i in g["pair"] if int(i) >= 0)
            short += max(0, int(g["min"].iloc[0]) - k)
    out["coverage"] = short
    cont = p["continues"].to_numpy(dtype=bool)
    out["continuity"] = float((cont & ~ch).sum())
    for term in ("match", "strength", "travel"):
        c = _int_costs(prob, term)
        v = float(c[ch].sum())
        out[term] = v if scaled else v / SCALES[term]
    bal = 0.0
    for tier in prob.balance_tiers:
        sub = p[(p["tier"] == tier)]
        if sub["unit"].nunique() < 2:
            continue
        loads = sub.loc[ch[sub.index]].groupby("unit").size()
        bal += round(prob.weights.get("balance", 1.0)) * float(loads.max() if len(loads) else 0)
    out["balance"] = bal
    return out


def from_frames(ctx: Any, frames: dict[str, Any]) -> AssignmentProblem:
    """Turn a scheme's candidate frames (:func:`matcher.candidates.build_all`) into an :class:`AssignmentProblem`."""
    from matcher.candidates import filter_mask
    from matcher.rules import required_helpers, unit_share_cap

    scheme = ctx.scheme
    parts = [frames[t.id].pairs for t in scheme.tiers]
    pairs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    visiting_tiers = {t.id for t in scheme.tiers if t.helpers.table == "people" and (t.visit_days or t.visits_per_year)}
    pairs["visiting"] = pairs["tier"].isin(visiting_tiers)
    pairs["load"] = np.where(pairs["tier"].isin(visiting_tiers),
                             np.ceil(pairs["days"].to_numpy(dtype=float) * DAY_SCALE - 1e-6), 0).astype(np.int64)
    pairs["pinned"] = pairs["pinned"].astype(bool)
    pairs["continues"] = pairs["continues"].astype(bool)
    targets, helpers, caps, quotas, comps = [], [], [], [], []
    nest_child, nest_parent = [], []
    offset = 0
    offsets: dict[str, int] = {}
    for t in scheme.tiers:
        offsets[t.id] = offset
        offset += len(frames[t.id].pairs)
    for t in scheme.tiers:
        f = frames[t.id]
        req = required_helpers(f.targets, t, ctx)
        targets.append(pd.DataFrame({"tier": t.id, "target": f.targets.index.astype(str),
                                     "required": req.to_numpy(), "max": t.coverage_max}))
        helpers.append(pd.DataFrame({"tier": t.id, "helper": f.helpers.index.astype(str),
                                     "links_min": t.links_min, "links_max": t.links_max}))
        if t.helpers.table == "people" and t.unit_share_max > 0:
            head = pd.to_numeric(ctx.units["headcount"], errors="coerce").fillna(0)
            cap = unit_share_cap(head, t.unit_share_max)
            caps.append(pd.DataFrame({"tier": t.id, "unit": cap.index.astype(str), "cap": cap.to_numpy(), "distinct": True}))
        if t.coverage == "quota":
            for i, q in enumerate(t.quota, start=1):
                ids = f.targets.index[filter_mask(f.targets, q.where)]
                quotas.append(pd.DataFrame({"quota": f"{t.id}:{i}", "tier": t.id, "target": ids.astype(str), "min": q.min}))
        p = f.pairs
        for j, c in enumerate(t.composition, start=1):
            tm = f.targets.index[filter_mask(f.targets, c.where)]
            good = p.index[filter_mask(p, c.helper_where) & p["target"].isin(tm)]
            members = pd.DataFrame({"target": p.loc[good, "target"].to_numpy(), "pair": good.to_numpy() + offsets[t.id]})
            for tgt in tm:
                ii = members.loc[members["target"] == tgt, "pair"].tolist() or [-1]
                comps.append(pd.DataFrame({"group": f"{t.id}:{j}:{tgt}", "pair": ii, "min": c.min}))
        if t.nest_in:
            parent = scheme.tier(t.nest_in)
            pf = frames[parent.id]
            if True:
                from matcher.rules import nesting_key

                level = str(dict(parent.targets.columns).get("level", ("county",))[0])
                pidx = {(h, g): i + offsets[parent.id] for i, (h, g) in enumerate(zip(pf.pairs["helper"], pf.pairs["target"]))}
                pool = set(pf.helpers.index)
                for i, (u, a) in enumerate(zip(nesting_key(p, parent), p["t_" + level])):
                    if u in pool and (u, a) in pidx:
                        nest_child.append(i + offsets[t.id])
                        nest_parent.append(pidx[(u, a)])
    budgets = []
    people_pairs = pairs[pairs["visiting"]]
    if len(people_pairs):
        ranks = people_pairs.drop_duplicates("helper").set_index("helper")["rank"]
        for h, rank in ranks.items():
            rb = scheme.budget.for_rank(str(rank))
            if rb is None:
                continue
            budgets.append((h, int(math.floor(rb.min_days * DAY_SCALE + 1e-6)),
                            None if rb.max_days is None else int(math.floor(rb.max_days * DAY_SCALE + 1e-6))))
    balance_tiers = tuple(t.id for t in scheme.tiers)
    weights = {k: scheme.objective.weight(k) for k in ("coverage", "continuity", "match", "strength", "travel", "balance")}
    return AssignmentProblem(
        pairs=pairs,
        targets=pd.concat(targets, ignore_index=True),
        helpers=pd.concat(helpers, ignore_index=True),
        budgets=pd.DataFrame(budgets, columns=["helper", "min_load", "max_load"]),
        unit_caps=pd.concat(caps, ignore_index=True) if caps else AssignmentProblem.__dataclass_fields__["unit_caps"].default_factory(),
        nesting=pd.DataFrame({"child": nest_child, "parent": nest_parent}, dtype=np.int64),
        compositions=pd.concat(comps, ignore_index=True) if comps else pd.DataFrame(columns=["group", "pair", "min"]),
        quotas=pd.concat(quotas, ignore_index=True) if quotas else pd.DataFrame(columns=["quota", "tier", "target", "min"]),
        order=tuple(scheme.objective.order),
        weights=weights,
        balance_tiers=balance_tiers,
    )
