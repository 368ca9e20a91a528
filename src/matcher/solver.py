"""Solve an instance: scheme -> candidate pairs -> counting diagnosis -> CP-SAT stages -> Plan.

``solve(instance, time_limit=60, seed=0, workers=2)`` returns a :class:`matcher.plan.Plan` with a
proven bound per objective priority (plan.json ``bound``) and the gap. Before solving, counting
arguments name places that cannot be covered ("Wangmo county: 212 village slots, 180 eligible
staff: 32 short"); a plan that breaks a hard rule of :mod:`matcher.rules` is never returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from matcher import rules
from matcher.candidates import Context, TierFrames, build_all, scheme_and_context
from matcher.errors import SolveError
from matcher.model import from_frames, solve_decomposed, term_values
from matcher.scheme import Scheme

Progress = Callable[[str, dict[str, Any]], None]


class InfeasibleError(SolveError):
    """The hard rules cannot all hold; ``findings`` name the reasons in English and Chinese."""

    def __init__(self, message: str, findings: list[Finding]):
        self.findings = findings
        lines = [message] + [f"  - {f.en}" for f in findings[:30]]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Finding:
    """One counting argument: where, how short, and the sentence in English and Chinese."""

    tier: str
    place: str
    short: int
    hard: bool
    en: str
    zh: str


# --------------------------------------------------------------------------- diagnosis by counting


def _name(ctx: Context, tier_table: str, code: str) -> str:
    table = ctx.target_tables.get(tier_table)
    if table is not None and code in table.index and "name" in table.columns:
        return str(table.at[code, "name"])
    if code in ctx.localities.index:
        return str(ctx.localities.at[code, "name"])
    return code


def _area_level(frames: TierFrames) -> str | None:
    """The level at which a tier's targets are grouped for counting (their county, if below county)."""
    levels = set(frames.targets["t_county"].astype(str)) - {""} if "t_county" in frames.targets else set()
    if not levels or len(levels) == len(frames.targets):
        return None
    return "county"


def diagnose(ctx: Context, frames: dict[str, TierFrames]) -> list[Finding]:
    """Counting arguments before solving: targets and areas that cannot get the helpers they require.

    Per target: distinct eligible helpers < required. Per county (tiers below county level): the
    county's required slots > what the helpers eligible there can supply (sum of their links_max).
    Per helper: fewer eligible targets than links_min (hard: the plan is infeasible).
    """
    out: list[Finding] = []
    for tier in ctx.scheme.tiers:
        f = frames[tier.id]
        p = f.pairs
        req = rules.required_helpers(f.targets, tier, ctx)
        elig = p.groupby("target")["helper"].nunique().reindex(f.targets.index, fill_value=0)
        for t in f.targets.index[(elig < req).to_numpy()]:
            k, r = int(elig[t]), int(req[t])
            nm = _name(ctx, tier.targets.table, t)
            out.append(Finding(tier.id, t, r - k, False,
                               f"{nm} ({tier.name_en}): requires {r} helper(s), only {k} eligible: {r - k} short",
                               f"{nm}（{tier.name}）：需要 {r} 名，符合条件的只有 {k} 名，缺 {r - k} 名"))
        if _area_level(f) and len(p):
            area = f.targets["t_county"].astype(str)
            slots = req.groupby(area).sum()
            h_area = p.drop_duplicates(["helper", "t_county"])
            supply = h_area.groupby("t_county").size() * tier.links_max
            for a, s in slots.items():
                sup = int(min(supply.get(a, 0), s + 10**9))
                if sup < s:
                    nm = _name(ctx, "localities", a)
                    out.append(Finding(tier.id, a, int(s - sup), False,
                                       f"{nm}: {int(s)} {tier.id} slots, at most {sup} links from eligible helpers: at least {int(s - sup)} short",
                                       f"{nm}：{tier.name} 需 {int(s)} 个名额，符合条件的帮扶者最多只能提供 {sup} 个，至少缺 {int(s - sup)} 个"))
        if tier.links_min > 0:
            n = p.groupby("helper")["target"].nunique().reindex(f.helpers.index, fill_value=0)
            for h in f.helpers.index[(n < tier.links_min).to_numpy()]:
                nm = str(f.helpers.at[h, "name"]) if "name" in f.helpers.columns else h
                out.append(Finding(tier.id, h, int(tier.links_min - n[h]), True,
                                   f"{nm} ({h}) must have {tier.links_min} link(s) in tier {tier.id} but has {int(n[h])} eligible target(s)",
                                   f"{nm}（{h}）在“{tier.name}”中应有 {tier.links_min} 个联系点，但符合条件的只有 {int(n[h])} 个"))
        if tier.links_min > 0 and tier.helpers.table == "people" and tier.unit_share_max > 0:
            head = pd.to_numeric(ctx.units["headcount"], errors="coerce").fillna(0)
            cap = rules.unit_share_cap(head, tier.unit_share_max)
            listed = f.helpers.groupby("unit").size()
            for u, k in listed.items():
                c = int(cap.get(u, 0))
                if k > c:
                    nm = str(ctx.units.at[u, "name"]) if u in ctx.units.index else u
                    out.append(Finding(tier.id, u, int(k - c), True,
                                       f"{nm} ({u}): {k} people must each take a link in tier {tier.id}, "
                                       f"but at most {c} ({tier.unit_share_max:.0%} of headcount {int(head.get(u, 0))}) may",
                                       f"{nm}（{u}）：{k} 人均须在“{tier.name}”中承担任务，但最多只能派出 {c} 人"
                                       f"（编制 {int(head.get(u, 0))} 人的 {tier.unit_share_max:.0%}）"))
        total_min = tier.links_min * len(f.helpers)
        total_max = tier.coverage_max * len(f.targets) if tier.coverage == "full" else 10**12
        if total_min > total_max:
            out.append(Finding(tier.id, "", int(total_min - total_max), True,
                               f"tier {tier.id}: {len(f.helpers)} helpers need at least {total_min} links, "
                               f"but {len(f.targets)} targets take at most {total_max}",
                               f"“{tier.name}”：{len(f.helpers)} 名帮扶者至少需 {total_min} 个联系点，"
                               f"但 {len(f.targets)} 个对象最多只能接纳 {total_max} 个"))
    return out


def _reason(ctx: Context, tier_id: str, target: str, findings: list[Finding], frames: TierFrames) -> tuple[str, str]:
    """Why a target is short, in English and Chinese: its own count, its county's count, or competition."""
    for f in findings:
        if f.tier == tier_id and f.place == target:
            return f.en, f.zh
    county = frames.targets.at[target, "t_county"] if "t_county" in frames.targets.columns else ""
    for f in findings:
        if f.tier == tier_id and f.place == county:
            return f.en, f.zh
    return ("eligible helpers are all needed by other targets (shortfall minimised over the whole plan)",
            "符合条件的帮扶者均已安排到其他对象（全局缺口已最小化）")


# --------------------------------------------------------------------------- solving


METHODS = ("auto", "model", "province")
"""How :func:`solve` solves: ``auto`` picks (see :func:`solve`), ``model`` builds one model, ``province`` runs
the province solver (:mod:`matcher.province`)."""


def solve(instance: Any, *, time_limit: float = 60, seed: int = 0, workers: int = 2,
          progress: Progress | None = None, method: str = "auto") -> Any:
    """Solve an instance into a Plan (docs/plan-format.md) with a proven bound and gap.

    ``method="auto"`` (the default): an instance too big for one model goes to the province solver; one
    the province solver supports with at least ``province.PROVINCE_FIRST_PAIRS`` candidate pairs (a
    county or prefecture slice of Guizhou) is solved by the province solver first, and that plan is
    returned when its bound proves it optimal, else one model gets the time left and the
    lexicographically better plan is returned; a smaller or unsupported one is one model.
    Raises :class:`InfeasibleError` when hard rules cannot hold (with counting findings), and
    :class:`SolveError` when no plan is found within the time limit.
    """
    from matcher.province import dispatch, solve_province

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    t0 = time.monotonic()
    way = method if method != "auto" else dispatch(instance)
    if way == "province":  # too many pairs for one model: nested tiers in order, flows per area
        return solve_province(instance, time_limit=time_limit, seed=seed, workers=workers, progress=progress)
    if way == "province-first":
        first = province_attempt(instance, time_limit=time_limit, seed=seed, workers=workers, progress=progress)
        if first is not None and first.status == "OPTIMAL":
            return first
        left = model_seconds(first, time_limit, t0)
        model = _solve_model(instance, time_limit=left, seed=seed, workers=workers, progress=progress, t0=t0)
        return model if first is None else _better_plan(first, model)
    return _solve_model(instance, time_limit=time_limit, seed=seed, workers=workers, progress=progress, t0=t0)


MODEL_MIN_SECONDS = 5.0
"""Seconds one model always gets after the province solver's plan was not proven optimal."""


def province_attempt(instance: Any, *, time_limit: float, seed: int, workers: int,
                     progress: Progress | None = None) -> Any | None:
    """The province solver's plan on the province-first path; None where it could not prove its plan or a rule stops it.

    Source: province.dispatch ('province-first'): on a Guizhou county slice the province solver proves its
    plan optimal in about a second, where one CP-SAT model had not proven it in 30 s. None before any
    solving where no whole-plan bound can exist (incumbents in the top tier: ``provable_only``), and
    when the province solver meets a rule it does not take (SolveError); hard rules that cannot hold
    (InfeasibleError) are raised.
    """
    from matcher.province import solve_province

    try:
        return solve_province(instance, time_limit=time_limit, seed=seed, workers=workers, progress=progress,
                              provable_only=True)
    except InfeasibleError:
        raise
    except SolveError:
        return None


def model_seconds(first: Any | None, time_limit: float, t0: float) -> float:
    """The time limit of one model after a province attempt that started at ``t0``: the whole limit when there was
    no plan, else what is left of it, and never less than MODEL_MIN_SECONDS."""
    if first is None:
        return time_limit
    return max(MODEL_MIN_SECONDS, time_limit - (time.monotonic() - t0))


def _better_plan(first: Any, model: Any) -> Any:
    """The lexicographically better of the province solver's plan and one model's; on a tie, the model's (its bound is its own proof).

    Source: the scheme's [objective] order (coverage, continuity, match, strength, travel, balance)
    """
    order = [k for k in first.objective if k in model.objective]
    a = tuple(round(float(first.objective[k]), 6) for k in order)
    b = tuple(round(float(model.objective[k]), 6) for k in order)
    if a < b:
        first.header["method"] = (f"{first.header['method']}; better than one model given the time left "
                                  f"({', '.join(f'{k} {v:g}' for k, v in zip(order, b))})")
        return first
    return model


def _solve_model(instance: Any, *, time_limit: float, seed: int, workers: int, progress: Progress | None,
                 t0: float) -> Any:
    """The instance as one model (CP-SAT in lexicographic stages, an exact network LP where a tier is flow-shaped)."""
    say = progress or (lambda event, info: None)
    scheme, ctx = scheme_and_context(instance)
    say("phase", {"text": "candidate pairs"})
    frames = build_all(ctx)
    for tid, f in frames.items():
        ctx.cache[("frames", tid)] = f
        say("tier", {"tier": tid, "helpers": len(f.helpers), "targets": len(f.targets), "pairs": len(f.pairs)})
    findings = diagnose(ctx, frames)
    hard = [f for f in findings if f.hard]
    if hard:
        raise InfeasibleError("the hard rules cannot all hold:", hard)
    say("phase", {"text": "model"})
    prob = from_frames(ctx, frames)
    sol = solve_decomposed(prob, [t.id for t in scheme.tiers], time_limit=time_limit, seed=seed, workers=workers,
                           progress=progress)
    if sol.status == "INFEASIBLE":
        raise InfeasibleError("the hard rules cannot all hold (CP-SAT proved it); counting findings:", findings)
    if sol.status not in ("OPTIMAL", "FEASIBLE"):
        raise SolveError(f"no plan found within {time_limit} s; try a longer --time-limit")
    chosen = prob.pairs[sol.chosen]
    plan_links = {t.id: chosen[chosen["tier"] == t.id] for t in scheme.tiers}
    violations = rules.evaluate(ctx, plan_links)
    broken = violations[violations["rule"].map(lambda r: rules.RULES[r].kind == "hard")]
    if len(broken):
        raise SolveError("internal error: the solver's plan breaks hard rules:\n"
                         + "\n".join(f"  - {m}" for m in broken["message"].head(20)))
    values = term_values(prob, sol.chosen)
    for s in sol.stages:  # the model's figures must be the plan's figures
        if abs(values[s.term] - s.value) > 1e-6 * max(1.0, abs(s.value)):
            raise SolveError(f"internal error: stage {s.term} reports {s.value}, the plan has {values[s.term]}")
    return _make_plan(instance, ctx, scheme, frames, prob, sol, chosen, findings, violations,
                      time_limit=time_limit, seed=seed, workers=workers, wall=time.monotonic() - t0)


def _make_plan(instance: Any, ctx: Context, scheme: Scheme, frames: dict[str, TierFrames], prob: Any, sol: Any,
               chosen: pd.DataFrame, findings: list[Finding], violations: pd.DataFrame, *,
               time_limit: float, seed: int, workers: int, wall: float) -> Any:
    from matcher.plan import Plan

    plan_year = scheme.program.plan_year
    start = pd.Series(plan_year, index=chosen.index, dtype=int)
    for tier in scheme.tiers:
        inc = rules.in_force_incumbents(ctx, tier)
        years = {(h, t): int(y) for h, t, y in zip(inc["helper"], inc["target"], inc["start_year"])}
        sub = chosen[(chosen["tier"] == tier.id) & chosen["pinned"]]
        for i, h, t in zip(sub.index, sub["helper"], sub["target"]):
            start[i] = years.get((h, t), plan_year)
    assignments = pd.DataFrame({
        "tier": chosen["tier"].astype(str), "helper": chosen["helper"].astype(str), "target": chosen["target"].astype(str),
        "start_year": start.astype(int), "pinned": chosen["pinned"].astype(bool),
        "distance_km": chosen["distance_km"].astype(float).round(1),
        "cost_match": chosen["cost_match"].astype(float), "cost_strength": chosen["cost_strength"].astype(float),
        "cost_travel": chosen["cost_travel"].astype(float),
    }).reset_index(drop=True)
    unc_rows = []
    cov = violations[violations["rule"].isin(["coverage_min", "composition", "quota"])]
    for tier in scheme.tiers:
        f = frames[tier.id]
        req = rules.required_helpers(f.targets, tier, ctx)
        n = chosen[chosen["tier"] == tier.id].groupby("target").size()
        sub = cov[cov["tier"] == tier.id]
        for t, g in sub.groupby("target", sort=True):
            r = int(req.get(t, 0)) if t in req.index else 0
            a = int(n.get(t, 0))
            short = int(g["amount"].sum())
            kinds = set(g["rule"])
            reason, reason_zh = _reason(ctx, tier.id, t, findings, f)
            if kinds == {"composition"}:
                reason = "; ".join(g["message"]) + f" ({reason})"
                reason_zh = "；".join(g["message_zh"]) + f"（{reason_zh}）"
            elif "quota" in kinds:
                reason, reason_zh = "; ".join(g["message"]), "；".join(g["message_zh"])
            unc_rows.append(dict(tier=tier.id, target=t, required=max(r, a + short), assigned=a, short=short,
                                 reason=reason, reason_zh=reason_zh))
    uncovered = pd.DataFrame(unc_rows, columns=["tier", "target", "required", "assigned", "short", "reason", "reason_zh"])
    obj, bnd = sol.objective, sol.bound
    tot_o, tot_b = sum(obj.values()), sum(bnd.values())
    gap = (tot_o - tot_b) / max(abs(tot_o), 1.0)
    tiers: dict[str, Any] = {}
    for part in sol.parts or [{"tiers": [t.id for t in scheme.tiers], "objective": tot_o,
                               "bound": tot_b, "status": sol.status, "method": sol.method}]:
        o, b = float(part["objective"]), part["bound"]
        for tid in part["tiers"]:
            tiers[tid] = {
                "links": int((chosen["tier"] == tid).sum()),
                "candidate_pairs": int(len(frames[tid].pairs)),
                # a group of tiers solved together shares one objective, bound and gap
                "group": part["tiers"], "objective": round(o, 6),
                "bound": None if b is None else round(float(b), 6),
                "gap": None if b is None else round((o - float(b)) / max(abs(o), 1.0), 9),
                "status": part["status"], "method": part["method"],
            }
    header = {
        "seed": int(seed), "time_limit_s": time_limit, "workers": int(workers),
        "status": sol.status, "method": sol.method,
        "lexicographic": "stages: each priority minimised in order, then fixed (== if proven optimal, <= otherwise)",
        "objective": {k: round(v, 6) for k, v in obj.items()},
        "bound": {k: round(v, 6) for k, v in bnd.items()},
        "gap": round(gap, 9),
        "first_gap": _first_gap(sol.stages),
        "stages": [{"term": s.term, "value": round(s.value, 6), "bound": round(s.bound, 6), "status": s.status}
                   for s in sol.stages],
        "tiers": tiers,
        "diagnosis": [{"tier": f.tier, "place": f.place, "short": f.short, "en": f.en, "zh": f.zh} for f in findings],
        "scheme_sha256": _scheme_sha(instance),
        "wall_s": round(wall, 3),
    }
    return Plan.from_assignments(instance, assignments, header, uncovered)


def _first_gap(stages: list[Any]) -> dict[str, Any] | None:
    """The first priority, in the scheme's order, whose value is not proven optimal, and its relative gap.

    Source: the lexicographic objective ([objective] order): a later priority's bound only counts once
    every earlier one is proven, so this is the gap a planner reads first (None when all are proven)
    """
    for s in stages:
        if s.value > s.bound + 1e-9:
            return {"term": s.term, "value": round(s.value, 6), "bound": round(s.bound, 6),
                    "gap": round((s.value - s.bound) / max(abs(s.value), 1e-9), 9)}
    return None


def _scheme_sha(instance: Any) -> str:
    import hashlib
    from pathlib import Path

    p = Path(getattr(instance, "path", "") or "") / "scheme.toml"
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""


def stage_table(plan: Any) -> list[tuple[str, float, float, str]]:
    """(priority, value, bound, status) per stage of a solved plan, for display."""
    return [(s["term"], s["value"], s["bound"], s["status"]) for s in plan.header.get("stages", [])]


__all__ = ["Finding", "InfeasibleError", "diagnose", "solve", "stage_table"]
