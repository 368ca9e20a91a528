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

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model

from matcher.membership import isin

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
    parts: list[dict[str, Any]] = field(default_factory=list)  # per group of tiers: tiers, objective, bound, status, method

    @property
    def objective(self) -> dict[str, float]:
        """Each priority's value."""
        return {s.term: s.value for s in self.stages}

    @property
    def bound(self) -> dict[str, float]:
        """Each priority's proven lower bound."""
        return {s.term: s.bound for s in self.stages}


COST_COLUMNS: dict[str, str] = {"match": "cost_match", "strength": "cost_strength", "travel": "cost_travel"}
"""The pair column of each cost priority."""


def _int_costs(prob: AssignmentProblem, term: str) -> np.ndarray:
    w = prob.weights.get(term, 1.0)
    return np.rint(prob.pairs[COST_COLUMNS[term]].to_numpy(dtype=float) * w * SCALES[term]).astype(np.int64)


def costs_on_grid(pairs: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """Each pair's cost parts as the model counts them: weight x cost a whole number of 1/SCALES units.

    Source: docs/scheme-format.md (Objective): a plan's match, strength and travel are the sums of its links' costs
    times their weights. The model minimises integers; rounding the pairs' costs here, once, makes the costs a plan's
    links carry the very costs the solver minimised (no per-pair rounding hidden inside the model).
    """
    out = pairs.copy()
    for term, col in COST_COLUMNS.items():
        if col not in out.columns:
            continue
        w = float(weights.get(term, 1.0))
        step = SCALES[term] * (w if w > 0 else 1.0)
        out[col] = np.rint(out[col].to_numpy(dtype=float) * step) / step
    return out


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
        hard_cov = prob.targets["hard"].to_numpy(dtype=bool) if "hard" in prob.targets.columns \
            else np.zeros(len(prob.targets), dtype=bool)
        for row, hard in zip(prob.targets.itertuples(index=False), hard_cov):
            idx = by_target.get((row.tier, row.target), [])
            s = sum(self.x[i] for i in idx)
            m.add(s <= int(row.max))
            req = int(row.required)
            if hard:  # a requirement that is a hard rule (GAP: every job gets its agent)
                m.add(s >= req)
            elif req > 0:
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
                  progress: Callable[[str, dict[str, Any]], None] | None = None, deterministic: bool = True,
                  hint: np.ndarray | None = None) -> Solution:
    """Minimise the priorities of ``prob.order`` one after another with CP-SAT; see the module docstring.

    With ``deterministic`` and ``workers > 1`` CP-SAT interleaves its workers (same input + seed =
    same answer when every stage finishes); without it the workers run in parallel (faster, for benchmarks).
    ``hint`` (bool per row of ``prob.pairs``) is a starting solution for the first stage; None = no hint.
    """
    t0 = time.monotonic()
    if hint is not None and len(hint) != len(prob.pairs):
        raise ValueError(f"hint has {len(hint)} values, expected one per pair ({len(prob.pairs)})")
    b = _Builder(prob)
    m = b.m
    stages: list[Stage] = []
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = max(1, int(workers))
    if workers > 1 and deterministic:
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
        if k == 0:  # without a first solution there is no plan: the first stage may take half the time
            share = max(share, 0.5 * left)
        if deterministic:  # stop on CP-SAT's deterministic clock (machine load cannot change the plan); wall time caps it at 2x
            solver.parameters.max_deterministic_time = share
            solver.parameters.max_time_in_seconds = 2 * share
        else:
            solver.parameters.max_time_in_seconds = share
        expr = b.terms[term]
        m.minimize(expr)
        if k == 0 and hint is not None:
            m.clear_hints()
            for v, val in zip(b.x, np.asarray(hint, dtype=bool)):
                m.add_hint(v, bool(val))
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


def drop_forbidden(frames: Any, forbidden: Iterable[tuple[str, str]]) -> Any:
    """A tier's candidate frames without its forbidden (helper, target) pairs; pinned incumbents stay.

    Source: docs/scheme-format.md, ``tiers[].forbidden``: a forbidden pair is never a candidate (an incumbent
    whose term has not ended is pinned whatever the rules say, as for every eligibility rule).
    """
    banned = {(str(h), str(t)) for h, t in forbidden}
    p = frames.pairs
    if not banned or not len(p):
        return frames
    keys = zip(p["helper"].astype(str), p["target"].astype(str))
    drop = np.fromiter((k in banned for k in keys), dtype=bool, count=len(p)) & ~p["pinned"].to_numpy(dtype=bool)
    if not drop.any():
        return frames
    dropped = {**frames.dropped, "forbidden": frames.dropped.get("forbidden", 0) + int(drop.sum())}
    return dataclasses.replace(frames, pairs=p[~drop].reset_index(drop=True), dropped=dropped)


def from_frames(ctx: Any, frames: dict[str, Any]) -> AssignmentProblem:
    """Turn a scheme's candidate frames (:func:`matcher.candidates.build_all`) into an :class:`AssignmentProblem`.

    Each tier's forbidden pairs (``tiers[].forbidden``) are left out first (:func:`drop_forbidden`).
    """
    from matcher.candidates import filter_mask
    from matcher.rules import nesting_key, required_helpers, unit_share_cap

    scheme = ctx.scheme
    frames = {**frames, **{t.id: drop_forbidden(frames[t.id], t.forbidden) for t in scheme.tiers}}
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
            good = p.index[filter_mask(p, c.helper_where) & isin(p["target"], tm)]
            members = pd.DataFrame({"target": p.loc[good, "target"].to_numpy(), "pair": good.to_numpy() + offsets[t.id]})
            for tgt in tm:
                ii = members.loc[members["target"] == tgt, "pair"].tolist() or [-1]
                comps.append(pd.DataFrame({"group": f"{t.id}:{j}:{tgt}", "pair": ii, "min": c.min}))
        if t.nest_in:
            parent = scheme.tier(t.nest_in)
            pf = frames[parent.id]
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
        lmax = {t.id: t.links_max for t in scheme.tiers}
        per = people_pairs.groupby(["helper", "tier"], sort=True).agg(rank=("rank", "first"), most=("load", "max"),
                                                                     least=("load", "min"))
        per["most"] = per["most"] * per.index.get_level_values("tier").map(lmax).to_numpy()
        per = per.groupby(level="helper").agg(rank=("rank", "first"), most=("most", "sum"), least=("least", "min"))
        for h, rank, most, least in zip(per.index, per["rank"], per["most"], per["least"]):
            rb = scheme.budget.for_rank(str(rank))
            if rb is None:
                continue
            lo = int(math.floor(rb.min_days * DAY_SCALE + 1e-6))
            hi = None if rb.max_days is None else int(math.floor(rb.max_days * DAY_SCALE + 1e-6))
            # redundant parts are left out: every single link reaches the minimum, all links together fit the maximum
            lo = 0 if least >= lo else lo
            hi = None if hi is None or most <= hi else hi
            if lo or hi is not None:
                budgets.append((h, lo, hi))
    balance_tiers = tuple(t.id for t in scheme.tiers)
    weights = {k: scheme.objective.weight(k) for k in ("coverage", "continuity", "match", "strength", "travel", "balance")}
    return AssignmentProblem(
        pairs=costs_on_grid(pairs, weights),
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


# --------------------------------------------------------------------------- network LP (HiGHS), exact lexicographic stages


def flow_shaped(prob: AssignmentProblem) -> bool:
    """True when the problem's constraint matrix is totally unimodular (so LP vertices are integral plans).

    Rows over pairs form two laminar families: per target (coverage, composition subsets of a
    target's pairs) and per helper inside its unit (links, unit caps with at most one link per
    helper). Quotas, nesting and time budgets are not of this shape.
    """
    if len(prob.quotas) or len(prob.nesting) or len(prob.budgets):
        return False
    if len(prob.unit_caps):
        capped = set(zip(prob.unit_caps["tier"], prob.unit_caps["unit"]))
        lmax = prob.helpers.set_index(["tier", "helper"])["links_max"]
        hu = prob.pairs.drop_duplicates(["tier", "helper"])
        for t, h, u in zip(hu["tier"], hu["helper"], hu["unit"]):
            if (t, u) in capped and int(lmax.get((t, h), 1)) > 1:
                return False
    return True


def solve_network_lp(prob: AssignmentProblem, *, progress: Callable[[str, dict[str, Any]], None] | None = None
                     ) -> Solution:
    """Exact lexicographic optimum of a flow-shaped problem with HiGHS dual simplex, stage by stage.

    Each stage minimises one priority; then every column with a non-zero reduced cost is fixed at
    its bound and every row with a non-zero dual is made tight (complementary slackness: this is
    exactly the set of optimal solutions of the stage), and the next priority is minimised on it.
    Bounds only move to integers, so the matrix stays totally unimodular and the final vertex is
    integral. Balance (largest unit load) is found last by bisection on the unit rows.
    """
    from scipy import sparse

    p = prob.pairs
    n = len(p)
    rows_i: list[np.ndarray] = []
    rows_j: list[np.ndarray] = []
    lo: list[float] = []
    hi: list[float] = []
    n_rows = 0
    extra_cols: list[tuple[int, float]] = []  # (row, upper bound) of shortfall columns, cost 1 in the coverage stage

    def add_rows(groups: dict[Any, np.ndarray], lows: list[float], highs: list[float]) -> list[int]:
        nonlocal n_rows
        ids = []
        for (_, idx), a, b in zip(groups.items(), lows, highs):
            rows_i.append(np.full(len(idx), n_rows, dtype=np.int64))
            rows_j.append(np.asarray(idx, dtype=np.int64))
            lo.append(a)
            hi.append(b)
            ids.append(n_rows)
            n_rows += 1
        return ids

    by_target = p.groupby(["tier", "target"], sort=True).indices
    tg = prob.targets.set_index(["tier", "target"])
    keys = [k for k in tg.index if k in by_target]
    req = {k: int(tg.at[k, "required"]) for k in tg.index}
    cov_rows = add_rows({k: by_target[k] for k in keys}, [req[k] for k in keys], [np.inf] * len(keys))
    for r, k in zip(cov_rows, keys):
        if req[k] > 0:
            extra_cols.append((r, float(req[k])))
    add_rows({k: by_target[k] for k in keys}, [0.0] * len(keys), [float(tg.at[k, "max"]) for k in keys])
    missing_short = sum(req[k] for k in tg.index if k not in by_target)  # targets without any candidate
    by_helper = p.groupby(["tier", "helper"], sort=True).indices
    hl = prob.helpers.set_index(["tier", "helper"])
    hkeys = list(by_helper)
    add_rows({k: by_helper[k] for k in hkeys}, [float(hl.at[k, "links_min"]) for k in hkeys],
             [float(hl.at[k, "links_max"]) for k in hkeys])
    for h in hl.index:
        if h not in by_helper and int(hl.at[h, "links_min"]) > 0:
            return Solution(np.zeros(n, dtype=bool), [], "INFEASIBLE", "network LP")
    by_unit = p.groupby(["tier", "unit"], sort=True).indices
    caps = {(r.tier, r.unit): float(r.cap) for r in prob.unit_caps.itertuples(index=False)}
    ukeys = list(by_unit)
    unit_rows = add_rows({k: by_unit[k] for k in ukeys}, [0.0] * len(ukeys), [caps.get(k, np.inf) for k in ukeys])
    if len(prob.compositions):
        for gname, g in prob.compositions.groupby("group", sort=True):
            members = np.array([int(i) for i in g["pair"] if int(i) >= 0], dtype=np.int64)
            need = float(g["min"].iloc[0])
            (r,) = add_rows({gname: members}, [need], [np.inf])
            extra_cols.append((r, need))
    m_short = len(extra_cols)
    ncol = n + m_short
    ri = np.concatenate(rows_i + [np.array([r for r, _ in extra_cols], dtype=np.int64)])
    rj = np.concatenate(rows_j + [np.arange(n, ncol, dtype=np.int64)])
    A = sparse.csr_matrix((np.ones(len(ri)), (ri, rj)), shape=(n_rows, ncol))
    row_lo, row_hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    col_lo = np.zeros(ncol)
    col_hi = np.concatenate([np.ones(n), np.array([u for _, u in extra_cols], dtype=float)])
    col_lo[:n][p["pinned"].to_numpy(dtype=bool)] = 1.0
    cont = p["continues"].to_numpy(dtype=bool)
    costs: dict[str, np.ndarray] = {
        "coverage": np.concatenate([np.zeros(n), np.ones(m_short)]),
        "continuity": np.concatenate([-cont.astype(float), np.zeros(m_short)]),
    }
    for term in ("match", "strength", "travel"):
        costs[term] = np.concatenate([_int_costs(prob, term).astype(float), np.zeros(m_short)])
    const = {"coverage": float(missing_short), "continuity": float(cont.sum())}

    import highspy

    inf = highspy.kHighsInf
    h = _quiet_highs()
    h.setOptionValue("solver", "simplex")
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("threads", 1)
    h.passModel(highs_model(np.zeros(ncol), A, col_lo, col_hi, row_lo, row_hi))
    all_cols = np.arange(ncol, dtype=np.int32)
    all_rows = np.arange(n_rows, dtype=np.int32)

    def set_rows() -> None:
        h.changeRowsBounds(n_rows, all_rows, np.where(np.isfinite(row_lo), row_lo, -inf),
                           np.where(np.isfinite(row_hi), row_hi, inf))

    class _Res:
        def __init__(self) -> None:
            st = h.getModelStatus()
            self.status = 0 if st == highspy.HighsModelStatus.kOptimal else (
                2 if st == highspy.HighsModelStatus.kInfeasible else 4)
            sol = h.getSolution()
            self.x = np.asarray(sol.col_value, dtype=float)
            self.col_dual = np.asarray(sol.col_dual, dtype=float)
            self.row_dual = np.asarray(sol.row_dual, dtype=float)
            self.fun = float(h.getInfo().objective_function_value)

    def lp(c: np.ndarray) -> Any:
        h.changeColsCost(ncol, all_cols, c)
        h.changeColsBounds(ncol, all_cols, col_lo, col_hi)
        set_rows()
        h.run()
        return _Res()

    stages: list[Stage] = []
    x = np.zeros(ncol)
    order = [t for t in prob.order if t in costs and (np.any(costs[t]) or t == "coverage")]
    # consecutive priorities are merged into one LP with integer weights while the weighted costs stay
    # small enough for exact simplex arithmetic (< 1e9): the higher weight exceeds any total of the lower
    cap_t = prob.targets.set_index(["tier", "target"])["max"]
    tgt_max = p.set_index(["tier", "target"]).index.map(cap_t).to_numpy(dtype=float)

    tcode, tuniq = pd.factorize(pd.MultiIndex.from_arrays([p["tier"].to_numpy(), p["target"].to_numpy()]))
    tmax = np.zeros(len(tuniq))
    tmax[tcode] = tgt_max

    def span(c: np.ndarray) -> float:
        """An upper bound on |total| of cost vector c over any plan (each target holds at most its max)."""
        a = np.zeros(len(tuniq))
        np.maximum.at(a, tcode, np.abs(c[:n]))
        return float((a * tmax).sum() + np.abs(c[n:]).sum())

    groups: list[list[str]] = []
    for term in order:
        if groups:
            g = groups[-1]
            combined = [costs[t] for t in g] + [costs[term]]
            weight, total = 1.0, 0.0
            for c in reversed(combined):
                total += weight * span(c)
                weight = total + 1.0
            if total < 1e9:
                g.append(term)
                continue
        groups.append([term])
    for g in groups:
        ts = time.monotonic()
        c = np.zeros(ncol)
        weights: dict[str, float] = {}
        weight = 1.0
        for t in reversed(g):
            weights[t] = weight
            c = c + weight * costs[t]
            weight = span(c) + 1.0
        res = lp(c)
        if res.status != 0:
            status = "INFEASIBLE" if res.status == 2 else "UNKNOWN"
            return Solution(np.zeros(n, dtype=bool), stages, status, "network LP")
        x = res.x
        for term in g:
            raw = float(costs[term] @ np.rint(x))
            val = raw / (1 if term in ("coverage", "continuity") else SCALES[term]) + const.get(term, 0.0)
            stages.append(Stage(term, val, val, "OPTIMAL", time.monotonic() - ts))
            if progress:
                progress("stage", {"term": term, "value": val, "bound": val, "status": "OPTIMAL"})
        # restrict to the optimal face of this stage
        tol = 1e-7
        fix_lo = res.col_dual > tol
        fix_hi = res.col_dual < -tol
        col_hi[fix_lo] = col_lo[fix_lo]
        col_lo[fix_hi] = col_hi[fix_hi]
        act = A @ x
        tight = np.abs(res.row_dual) > tol
        row_lo[tight] = np.rint(act[tight])
        row_hi[tight] = np.rint(act[tight])
    xi = np.rint(x[:n])
    if np.max(np.abs(x[:n] - xi), initial=0.0) > 1e-6:
        raise RuntimeError("network LP returned a fractional vertex")
    chosen = xi > 0.5
    # balance: the smallest largest-unit-load keeping every earlier stage optimal (bisection on unit rows)
    if "balance" in prob.order and prob.balance_tiers:
        ts = time.monotonic()
        loads = np.asarray(A[unit_rows] @ np.concatenate([xi, np.zeros(m_short)])).ravel()
        best_hi = int(loads.max()) if len(loads) else 0
        lo_b = 0
        saved = row_hi[unit_rows].copy()
        zero = np.zeros(ncol)
        best_x = xi
        while lo_b < best_hi:
            mid = (lo_b + best_hi) // 2
            row_hi[unit_rows] = np.minimum(saved, mid)
            res = lp(zero)
            if res.status == 0:
                best_hi, best_x = mid, np.rint(res.x[:n])
            else:
                lo_b = mid + 1
        row_hi[unit_rows] = np.minimum(saved, best_hi)
        chosen = best_x > 0.5
        stages.append(Stage("balance", term_values(prob, chosen)["balance"], float(best_hi) * round(prob.weights.get("balance", 1.0)),
                            "OPTIMAL", time.monotonic() - ts))
    final = term_values(prob, chosen)
    for st_ in stages:
        st_.value = final[st_.term]
        st_.bound = min(st_.bound, st_.value)
    return Solution(chosen, stages, "OPTIMAL",
                    "network LP (HiGHS dual simplex), exact lexicographic stages")


def _subproblem(prob: AssignmentProblem, tiers: set[str]) -> tuple[AssignmentProblem, np.ndarray]:
    """The part of ``prob`` on some tiers, with pair indices renumbered; returns it and the kept pair rows."""
    keep = np.flatnonzero(prob.pairs["tier"].isin(tiers).to_numpy())
    remap = np.full(len(prob.pairs), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    pairs = prob.pairs.iloc[keep].reset_index(drop=True)
    comps = prob.compositions
    if len(comps):
        comps = comps[comps["group"].str.split(":").str[0].isin(tiers)].copy()
        comps["pair"] = [remap[int(i)] if int(i) >= 0 else -1 for i in comps["pair"]]
    nest = prob.nesting
    if len(nest):
        nest = nest[(remap[nest["child"].to_numpy()] >= 0)]
        nest = pd.DataFrame({"child": remap[nest["child"].to_numpy()], "parent": remap[nest["parent"].to_numpy()]})
    helpers_here = set(pairs["helper"])
    budgets = prob.budgets[isin(prob.budgets["helper"], helpers_here)] if len(prob.budgets) else prob.budgets
    sub = AssignmentProblem(
        pairs=pairs, targets=prob.targets[prob.targets["tier"].isin(tiers)].reset_index(drop=True),
        helpers=prob.helpers[prob.helpers["tier"].isin(tiers)].reset_index(drop=True), budgets=budgets.reset_index(drop=True),
        unit_caps=prob.unit_caps[prob.unit_caps["tier"].isin(tiers)].reset_index(drop=True) if len(prob.unit_caps) else prob.unit_caps,
        nesting=nest.reset_index(drop=True), compositions=comps.reset_index(drop=True) if len(comps) else comps,
        quotas=prob.quotas[prob.quotas["tier"].isin(tiers)].reset_index(drop=True) if len(prob.quotas) else prob.quotas,
        order=prob.order, weights=prob.weights, balance_tiers=tuple(t for t in prob.balance_tiers if t in tiers))
    return sub, keep


def tier_components(prob: AssignmentProblem, tier_order: list[str]) -> list[list[str]]:
    """Groups of tiers coupled by nesting or by a time budget that binds across tiers (others solve apart)."""
    parent = {t: t for t in tier_order}

    def find(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb, key=tier_order.index)] = min(ra, rb, key=tier_order.index)

    tiers = prob.pairs["tier"].to_numpy()
    for c, par in zip(prob.nesting["child"], prob.nesting["parent"]):
        union(str(tiers[int(c)]), str(tiers[int(par)]))
    if len(prob.budgets):
        sub = prob.pairs[isin(prob.pairs["helper"], prob.budgets["helper"]) & prob.pairs["visiting"]]
        for _, ts in sub.groupby("helper")["tier"]:
            u = sorted(set(ts), key=tier_order.index)
            for t in u[1:]:
                union(u[0], t)
    groups: dict[str, list[str]] = {}
    for t in tier_order:
        groups.setdefault(find(t), []).append(t)
    return [groups[k] for k in sorted(groups, key=tier_order.index)]


def solve_decomposed(prob: AssignmentProblem, tier_order: list[str], *, time_limit: float = 60.0, seed: int = 0,
                     workers: int = 2, progress: Callable[[str, dict[str, Any]], None] | None = None,
                     cpsat_max_pairs: int = 60000) -> Solution:
    """Solve independent groups of tiers apart (network LP where flow-shaped, else CP-SAT) and add them up.

    The lexicographic optimum of a sum of independent parts is the union of the parts' optima, so
    splitting loses nothing. A group of nested tiers too large for one CP-SAT model is solved tier
    by tier in nesting order, each parent's links fixed before its children (method says so; its
    bound is then only the parts' own bounds, not a bound for the whole plan: status FEASIBLE).
    """
    t0 = time.monotonic()
    chosen = np.zeros(len(prob.pairs), dtype=bool)
    parts: list[tuple[str, Solution]] = []
    methods: list[str] = []
    exact = True
    comps = tier_components(prob, tier_order)
    subs = {tuple(c): _subproblem(prob, set(c)) for c in comps}
    # network LP groups first (fast, no time limit needed), then CP-SAT groups share the time left by size
    flow = {tuple(c): flow_shaped(subs[tuple(c)][0]) for c in comps}
    comps = [c for c in comps if flow[tuple(c)]] + [c for c in comps if not flow[tuple(c)]]
    sizes = {tuple(c): 0 if flow[tuple(c)] else len(subs[tuple(c)][0].pairs) for c in comps}
    for n_done, comp in enumerate(comps):
        left = time_limit - (time.monotonic() - t0)
        rest = sum(sizes[tuple(c)] for c in comps[n_done:])
        share = max(1.0, left * sizes[tuple(comp)] / max(1, rest))
        sub, keep = subs[tuple(comp)]
        if progress:
            progress("phase", {"text": f"tiers {', '.join(comp)}: {len(sub.pairs)} pairs"})
        if len(sub.pairs) > cpsat_max_pairs and len(comp) > 1 and len(sub.nesting) and not len(sub.budgets):
            exact = False
            fixed = np.zeros(len(sub.pairs), dtype=bool)
            allowed = np.ones(len(sub.pairs), dtype=bool)
            for t in comp:  # nesting order = scheme order
                child = sub.nesting["child"].to_numpy()
                par = sub.nesting["parent"].to_numpy()
                blocked = child[~fixed[par]]
                allowed[blocked] = False
                ts_sub, ts_keep = _subproblem(sub, {t})
                ts_sub.nesting = pd.DataFrame(columns=["child", "parent"], dtype=np.int64)
                mask = allowed[ts_keep]
                ts_sub2, k2 = _subproblem(_filter_pairs(ts_sub, mask), {t})
                sol = _solve_one(ts_sub2, share / len(comp), seed, workers, progress, cpsat_max_pairs)
                if sol.status not in ("OPTIMAL", "FEASIBLE"):
                    return Solution(chosen, [], sol.status, "decomposed")
                idx = ts_keep[np.flatnonzero(mask)][k2][sol.chosen]
                fixed[idx] = True
                parts.append((t, sol))
                methods.append(f"{t}: {sol.method.split(',')[0]}")
            chosen[keep[fixed]] = True
        else:
            sol = _solve_one(sub, share, seed, workers, progress, cpsat_max_pairs)
            if sol.status not in ("OPTIMAL", "FEASIBLE"):
                return Solution(chosen, [], sol.status, "decomposed")
            chosen[keep[sol.chosen]] = True
            parts.append(("+".join(comp), sol))
            methods.append(f"{'+'.join(comp)}: {sol.method.split(',')[0]}")
    final = term_values(prob, chosen)
    stages = []
    for term in prob.order:
        if not any(term in s.objective for _, s in parts):
            continue
        bound = sum(s.bound.get(term, 0.0) for _, s in parts) if exact else 0.0
        statuses = [st.status for _, s in parts for st in s.stages if st.term == term]
        stages.append(Stage(term, final[term], min(bound, final[term]),
                            "OPTIMAL" if exact and all(x == "OPTIMAL" for x in statuses) else "FEASIBLE",
                            0.0))
    status = "OPTIMAL" if all(s.status == "OPTIMAL" for s in stages) and exact else "FEASIBLE"
    kind = "decomposed into independent tier groups" if exact else "decomposed (nested tiers solved in order, parents fixed)"
    part_rows = []
    for name, sol in parts:
        part_rows.append({"tiers": name.split("+"), "objective": sum(sol.objective.values()),
                          "bound": sum(sol.bound.values()) if exact else None,
                          "status": sol.status if exact else "FEASIBLE", "method": sol.method})
    return Solution(chosen, stages, status, f"{kind}: " + "; ".join(methods), parts=part_rows)


def _filter_pairs(prob: AssignmentProblem, mask: np.ndarray) -> AssignmentProblem:
    out = AssignmentProblem(**{**prob.__dict__})
    out.pairs = prob.pairs[mask].reset_index(drop=True)
    remap = np.full(len(prob.pairs), -1, dtype=np.int64)
    remap[np.flatnonzero(mask)] = np.arange(int(mask.sum()))
    if len(prob.compositions):
        c = prob.compositions.copy()
        c["pair"] = [remap[int(i)] if int(i) >= 0 else -1 for i in c["pair"]]
        out.compositions = c
    return out


def _solve_one(sub: AssignmentProblem, time_limit: float, seed: int, workers: int,
               progress: Callable[[str, dict[str, Any]], None] | None, cpsat_max_pairs: int) -> Solution:
    if flow_shaped(sub):
        try:
            return solve_network_lp(sub, progress=progress)
        except RuntimeError:
            pass  # fractional vertex (should not happen): CP-SAT below
    return solve_problem(sub, time_limit=time_limit, seed=seed, workers=workers, progress=progress)


def highs_model(cost: np.ndarray, A: Any, col_lo: np.ndarray, col_hi: np.ndarray, row_lo: np.ndarray,
                row_hi: np.ndarray, integral: np.ndarray | None = None) -> Any:
    """The HiGHS model (highspy.HighsLp) minimising ``cost @ x`` over ``row_lo <= A x <= row_hi`` and the column bounds.

    Source: the network LP here and the top tier's MIP (matcher.province.highs_milp) state their models
    alike; infinite bounds become HiGHS's, ``integral`` (nonzero: integer) makes it a MIP.
    """
    import highspy
    from scipy import sparse

    inf = highspy.kHighsInf
    finite = lambda v, sign: np.where(np.isfinite(v), v, sign * inf)
    csc = sparse.csc_matrix(A)
    model = highspy.HighsLp()
    model.num_col_, model.num_row_ = csc.shape[1], csc.shape[0]
    model.col_cost_ = np.asarray(cost, dtype=float)
    model.col_lower_, model.col_upper_ = finite(col_lo, -1), finite(col_hi, 1)
    model.row_lower_, model.row_upper_ = finite(row_lo, -1), finite(row_hi, 1)
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = csc.indptr.astype(np.int32)
    model.a_matrix_.index_ = csc.indices.astype(np.int32)
    model.a_matrix_.value_ = csc.data.astype(float)
    if integral is not None:
        model.integrality_ = [highspy.HighsVarType.kInteger if v else highspy.HighsVarType.kContinuous
                              for v in integral]
    return model


def _quiet_highs() -> Any:
    """A HiGHS instance with its output off (its start banner goes to the C stdout, so it is muted there)."""
    import os
    import sys

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h
