"""Mid-term replanning (vacancies refilled with the fewest moves) and next-term rotation.

Mid-term (e.g. Guizhou 2013): some cadres left (promoted, ill, transferred, retired). Everyone else keeps
the post of his three-year term: the base plan's links become incumbents in force (pinned), the departed
are removed, and the solver fills only what is missing. Every change against the base plan is a *move*,
listed with the reason it was needed (the vacancy it fills, the new cadre who must take a post).

Next term (e.g. Guizhou 2015): the base plan's links have ended; everyone rotates, nobody returns to the
same place in the scheme's ``no_return`` tiers, and department -> county pairs continue where the tier asks
for ``continuity``. The result lists who rotated where and checks that nobody returned.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from matcher.diff import PlanDiff, diff_plans
from matcher.errors import InstanceError, Problem
from matcher.fileio import atomic_write_text
from matcher.membership import isin
from matcher.scenario import Scenario

if TYPE_CHECKING:  # pragma: no cover
    from matcher.instance import Instance
    from matcher.plan import Plan

DEPARTURE_REASONS = ("promoted", "ill", "transferred", "retired", "left")
REASON_ZH = {"promoted": "提拔", "ill": "因病", "transferred": "调动", "retired": "退休", "left": "离开"}


def read_departures(path: str | Path) -> pd.DataFrame:
    """Read departures.csv (``id`` required; ``reason`` one of promoted/ill/transferred/retired/left; others kept).

    Bad input raises InstanceError naming the file, row (header = row 1) and column.
    """
    path = Path(path)
    name = path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InstanceError([Problem(name, None, None, f"file not found: {path}")]) from None
    except UnicodeDecodeError as exc:
        raise InstanceError([Problem(name, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InstanceError([Problem(name, None, None, "empty file; expected a header row with 'id' and 'reason'")])
    header = [h.strip() for h in rows[0]]
    problems: list[Problem] = []
    if "id" not in header:
        problems.append(Problem(name, 1, "id", "missing column 'id' (the departing person's id)"))
        raise InstanceError(problems)
    records = []
    seen: set[str] = set()
    for i, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        rec = {h: (r[j].strip() if j < len(r) else "") for j, h in enumerate(header)}
        if not rec["id"]:
            problems.append(Problem(name, i, "id", "empty; expected a person id from people.csv"))
        elif rec["id"] in seen:
            problems.append(Problem(name, i, "id", f"person '{rec['id']}' is listed twice"))
        seen.add(rec["id"])
        reason = rec.get("reason", "") or "left"
        if reason not in DEPARTURE_REASONS:
            problems.append(Problem(name, i, "reason", f"found {reason!r}; expected one of {', '.join(DEPARTURE_REASONS)}"))
        rec["reason"] = reason
        records.append(rec)
    if problems:
        raise InstanceError(problems)
    cols = header + (["reason"] if "reason" not in header else [])
    return pd.DataFrame(records, columns=cols).astype(str)


@dataclass
class Replan:
    """A replanned term: the new plan, its diff against the base, and every move with its reason."""

    plan: Plan
    diff: PlanDiff
    moves: pd.DataFrame  # tier, helper, helper_name, change, from_target, to_target, target_name, reason, reason_zh
    kind: str  # "midterm" or "rotation"
    facts: dict[str, Any] = field(default_factory=dict)

    def summary(self, lang: str = "en") -> str:
        """The moves in plain sentences."""
        zh = lang == "zh"
        lines = []
        f = self.facts
        if self.kind == "midterm":
            lines.append(
                f"年中调整：{f.get('departed', 0)} 名干部离开，留下 {f.get('vacancies', 0)} 个空缺；"
                f"{f.get('kept', 0)} 个帮扶关系保持不变，调整 {len(self.moves) - f.get('unfilled', 0)} 处，"
                f"{f.get('unfilled', 0)} 个空缺未能补上。" if zh else
                f"Mid-term: {f.get('departed', 0)} cadre(s) left, leaving {f.get('vacancies', 0)} vacancy(ies); "
                f"{f.get('kept', 0)} link(s) kept, {len(self.moves) - f.get('unfilled', 0)} change(s), "
                f"{f.get('unfilled', 0)} vacancy(ies) not refilled.")
        else:
            lines.append(
                f"换届轮换：{f.get('rotated', 0)} 名干部轮换，{f.get('returned', 0)} 人回到原地（应为 0），"
                f"部门—县帮扶关系延续 {f.get('continued', 0)} 对（可延续 {f.get('continuable', 0)} 对）。" if zh else
                f"Next term: {f.get('rotated', 0)} helper(s) rotated, {f.get('returned', 0)} returned to the same place "
                f"(must be 0), {f.get('continued', 0)} of {f.get('continuable', 0)} department-county pair(s) continued.")
        for r in self.moves.head(40).itertuples(index=False):
            lines.append(f"  [{r.tier}] {r.helper_name or r.helper} ({r.helper}): "
                         f"{r.from_target or '-'} -> {r.to_target or '-'}: {r.reason_zh if zh else r.reason}")
        if len(self.moves) > 40:
            lines.append(f"  …… 另有 {len(self.moves) - 40} 处" if zh else f"  ... and {len(self.moves) - 40} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary("en")

    def save(self, folder: str | Path) -> Path:
        """Write the plan folder plus moves.csv and replan.txt / replan.zh.txt (each file atomic; plan.json last)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        self.moves.to_csv(buf, index=False, lineterminator="\n")
        atomic_write_text(folder / "moves.csv", buf.getvalue())
        atomic_write_text(folder / "replan.txt", self.summary("en") + "\n")
        atomic_write_text(folder / "replan.zh.txt", self.summary("zh") + "\n")
        check = None
        try:
            from matcher.check import check_plan

            check = check_plan(self.plan._instance, self.plan) if self.plan._instance is not None else None
        except ImportError:  # pragma: no cover - the checker is another engineer's module
            check = None
        self.plan.save(folder, check=check)
        return folder


def _base_links(base: Plan | pd.DataFrame) -> pd.DataFrame:
    a = base.assignments if hasattr(base, "assignments") else base
    out = a[["tier", "helper", "target", "start_year"]].copy()
    for c in ("tier", "helper", "target"):
        out[c] = out[c].astype(str)
    out["start_year"] = pd.to_numeric(out["start_year"], errors="coerce").astype("Int64")
    return out.reset_index(drop=True)


def _with_incumbents(instance: Instance, links: pd.DataFrame) -> Instance:
    """The instance with ``links`` as its incumbents (those whose helper and target still exist)."""
    people = set(instance.people.index.astype(str)) | set(instance.units.index.astype(str))
    places = set(instance.localities.index.astype(str)) | set(instance.targets.index.astype(str))
    keep = isin(links["helper"], people) & isin(links["target"], places)
    inc = links[keep].reset_index(drop=True)
    inc["start_year"] = inc["start_year"].astype(instance.incumbents["start_year"].dtype
                                                if len(instance.incumbents) else "Int64")
    return dataclasses.replace(instance, incumbents=inc)


def _names(instance: Instance) -> dict[str, str]:
    out: dict[str, str] = {}
    for table in (instance.localities, instance.targets, instance.units, instance.people):
        if len(table) and "name" in table.columns:
            out.update({str(k): str(v) for k, v in table["name"].items()})
    return out


def replan_midterm(instance: Instance, base: Plan | None, departures: pd.DataFrame | None = None, *,
                   time_limit: float = 60, seed: int = 0, workers: int = 2) -> Replan:
    """Refill the vacancies left by departures with the fewest moves; everyone else keeps his post.

    The base plan's links are made incumbents in force (pinned, with their own start year); departed
    cadres (``departures.id``, and anyone of the base plan no longer in people.csv) are removed.
    Pinned links cannot move, so the only changes are the vacancies refilled and the new cadres placed.
    With ``base=None`` the links in force are the instance's incumbents, plus the departed cadres' links
    named in ``departures`` (columns tier, target), as in guizhou-2013's departures.csv.
    """
    from matcher.solver import solve

    departures = departures if departures is not None else pd.DataFrame(columns=["id", "reason"])
    if base is None:
        base = _links_in_force(instance, departures)
    dep_ids = [i for i in departures["id"].astype(str) if i in instance.people.index]
    scen = Scenario(instance)
    if dep_ids:
        scen = scen.remove_people(dep_ids, reason="left")
    inst = scen.instance
    links = _base_links(base)
    gone = set(links["helper"]) - set(inst.people.index.astype(str)) - set(inst.units.index.astype(str))
    inst = _with_incumbents(inst, links)
    plan = solve(inst, time_limit=time_limit, seed=seed, workers=workers)
    plan.attach(inst)
    d = diff_plans(base, plan, inst)
    reason_of = dict(zip(departures["id"].astype(str), departures["reason"].astype(str))) if len(departures) else {}
    names = _names(instance)
    for _, r in base.assignments.iterrows():  # names of the departed come from the base instance
        names.setdefault(str(r["helper"]), str(r["helper"]))
    if len(departures) and "name" in departures.columns:
        names.update({str(k): str(v) for k, v in zip(departures["id"], departures["name"]) if v})
    # vacancies: (tier, target) -> the departed helpers who held it
    vac: dict[tuple[str, str], list[str]] = {}
    for r in links.itertuples(index=False):
        if r.helper in gone:
            vac.setdefault((r.tier, r.target), []).append(r.helper)
    base_helpers = set(links["helper"])
    rows = []
    for r in d.links[d.links["change"] != "kept"].itertuples(index=False):
        target = r.to_target or r.from_target
        if r.change == "ended" and r.helper in gone:
            why = reason_of.get(r.helper, "left")
            en = f"{names.get(r.helper, r.helper)} left ({why}): the post at {names.get(target, target)} fell vacant"
            zh = f"{names.get(r.helper, r.helper)}（{REASON_ZH.get(why, why)}）离开，{names.get(target, target)} 出现空缺"
        elif r.change in ("new", "moved") and (r.tier, target) in vac:
            who = vac[(r.tier, target)]
            whys = ", ".join(f"{names.get(h, h)} ({reason_of.get(h, 'left')})" for h in who)
            en = f"fills the vacancy at {names.get(target, target)} left by {whys}"
            zh = f"填补 {names.get(target, target)} 的空缺（原帮扶人：" + "、".join(
                f"{names.get(h, h)}，{REASON_ZH.get(reason_of.get(h, 'left'), '离开')}" for h in who) + "）"
        elif r.change == "new" and r.helper not in base_helpers:
            en = f"newly assigned cadre placed at {names.get(target, target)} (every cadre of the tier takes a post)"
            zh = f"新到岗干部安排到 {names.get(target, target)}（本层级每名干部都应有联系点）"
        elif r.change == "new":
            en = f"new link at {names.get(target, target)} to restore coverage"
            zh = f"为恢复覆盖，新增到 {names.get(target, target)} 的帮扶关系"
        else:
            en = "link changed (not pinned: not an incumbent in force)"
            zh = "帮扶关系调整（非任期内在任联系）"
        rows.append({"tier": r.tier, "helper": r.helper, "helper_name": names.get(r.helper, ""), "change": r.change,
                     "from_target": r.from_target, "to_target": r.to_target,
                     "target_name": names.get(target, ""), "reason": en, "reason_zh": zh})
    unc = plan.uncovered
    unc_reason = {(str(t), str(g)): str(r) for t, g, r in zip(unc["tier"], unc["target"], unc["reason"])}
    refilled = {(r["tier"], r["to_target"]) for r in rows if r["change"] in ("new", "moved")}
    unfilled = 0
    for (tier, target), who in sorted(vac.items()):
        if (tier, target) in refilled or (tier, target) not in unc_reason:
            continue
        unfilled += 1
        rows.append({"tier": tier, "helper": "", "helper_name": "", "change": "unfilled", "from_target": target,
                     "to_target": "", "target_name": names.get(target, ""),
                     "reason": f"vacancy at {names.get(target, target)} not refilled: {unc_reason[(tier, target)]}",
                     "reason_zh": f"{names.get(target, target)} 的空缺未能补上：{unc_reason[(tier, target)]}"})
    moves = pd.DataFrame(rows, columns=["tier", "helper", "helper_name", "change", "from_target", "to_target",
                                        "target_name", "reason", "reason_zh"])
    facts = {"unfilled": unfilled, "departed": len(gone), "vacancies": sum(len(v) for v in vac.values()),
             "kept": int((d.links["change"] == "kept").sum()),
             "uncovered": len(plan.uncovered)}
    return Replan(plan, d, moves, "midterm", facts)


def replan_rotation(instance: Instance, base: Plan | None = None, *, plan_year: int | None = None,
                    time_limit: float = 60, seed: int = 0, workers: int = 2) -> Replan:
    """Next term: the base plan's links end; everyone rotates, nobody returns, continuity where asked.

    ``plan_year`` defaults to the base plan's year plus the scheme's term_years. With ``base=None`` the
    previous term is the instance's incumbents (as in guizhou-2015) and the plan year is the scheme's.
    """
    from matcher.solver import solve

    if base is None:
        base = _links_in_force(instance, None, in_force_only=False)
        plan_year = int(instance.scheme["program"]["plan_year"]) if plan_year is None else plan_year
    term = int(instance.scheme["program"].get("term_years", 3))
    base_year = int(base.header.get("plan_year") or instance.scheme["program"]["plan_year"]) \
        if base.header.get("plan_year") else int(instance.scheme["program"]["plan_year"]) - term
    year = int(plan_year if plan_year is not None else base_year + term)
    scen = Scenario(instance)
    if int(instance.scheme["program"]["plan_year"]) != year:
        scen = scen.set_plan_year(year)
    inst = _with_incumbents(scen.instance, _base_links(base))
    plan = solve(inst, time_limit=time_limit, seed=seed, workers=workers)
    plan.attach(inst)
    d = diff_plans(base, plan, inst)
    names = _names(inst)
    no_return = set(inst.scheme.get("terms", {}).get("no_return", []))
    cont_tiers = {str(t["id"]) for t in inst.scheme.get("tiers", []) if t.get("continuity")}
    old = set(zip(d.links["tier"], d.links["helper"], d.links["from_target"]))
    new_links = plan.assignments
    returned = [(t, h, g) for t, h, g in zip(new_links["tier"], new_links["helper"], new_links["target"])
                if t in no_return and (t, h, g) in old]
    rows = []
    for r in d.links.itertuples(index=False):
        if r.change == "kept":
            if r.tier in cont_tiers:
                en, zh = "pair continued (continuity asked by the scheme)", "帮扶关系延续（方案要求保持连续）"
            else:
                en, zh = "same place again", "仍在原地"
        elif r.change == "moved":
            en = f"rotated from {names.get(r.from_target, r.from_target)} to {names.get(r.to_target, r.to_target)}"
            zh = f"由 {names.get(r.from_target, r.from_target)} 轮换到 {names.get(r.to_target, r.to_target)}"
        elif r.change == "ended":
            en, zh = "term ended, no new post in this tier", "任期届满，本层级无新联系点"
        else:
            en, zh = "new post this term", "本届新安排"
        rows.append({"tier": r.tier, "helper": r.helper, "helper_name": names.get(r.helper, ""), "change": r.change,
                     "from_target": r.from_target, "to_target": r.to_target,
                     "target_name": names.get(r.to_target or r.from_target, ""), "reason": en, "reason_zh": zh})
    moves = pd.DataFrame(rows, columns=["tier", "helper", "helper_name", "change", "from_target", "to_target",
                                        "target_name", "reason", "reason_zh"])
    continuable = int(sum(1 for r in d.links.itertuples(index=False) if r.tier in cont_tiers and r.from_target))
    continued = int(sum(1 for r in d.links.itertuples(index=False) if r.tier in cont_tiers and r.change == "kept"))
    facts = {"rotated": int((d.links["change"] == "moved").sum()), "returned": len(returned),
             "continued": continued, "continuable": continuable, "plan_year": year}
    return Replan(plan, d, moves, "rotation", facts)


@dataclass
class LinksInForce:
    """The links of the term in force, in the shape of a plan (``assignments`` and ``header``)."""

    assignments: pd.DataFrame
    header: dict[str, Any] = field(default_factory=dict)


def _links_in_force(instance: Instance, departures: pd.DataFrame | None, *, in_force_only: bool = True) -> LinksInForce:
    """The instance's incumbents (in force, or all) plus the departed cadres' links (departures tier/target)."""
    inc = instance.incumbents.copy()
    year = int(instance.scheme["program"]["plan_year"])
    term = int(instance.scheme["program"].get("term_years", 3))
    start = pd.to_numeric(inc["start_year"], errors="coerce")
    if in_force_only:
        inc = inc[(start <= year) & (year < start + term)]
    links = inc[["tier", "helper", "target", "start_year"]].astype({"tier": str, "helper": str, "target": str})
    if departures is not None and {"tier", "target"} <= set(departures.columns):
        places = set(instance.localities.index.astype(str)) | set(instance.targets.index.astype(str))
        dep = departures[(departures["tier"].astype(str) != "") & isin(departures["target"].astype(str), places)]
        first = int(pd.to_numeric(links["start_year"], errors="coerce").min()) if len(links) else year
        extra = pd.DataFrame({"tier": dep["tier"].astype(str), "helper": dep["id"].astype(str),
                              "target": dep["target"].astype(str), "start_year": first})
        links = pd.concat([links, extra], ignore_index=True)
    years = pd.to_numeric(links["start_year"], errors="coerce")
    header = {"plan_year": int(years.max()) if len(links) else year}
    return LinksInForce(links.reset_index(drop=True), header)


def place_free_helpers(instance: Instance, base: Plan, *, areas: list[str] | None = None,
                       time_limit: float = 10.0, seed: int = 0) -> Plan:
    """Fewest moves: keep every link of ``base``; place only the helpers who lack a link, where coverage needs them.

    After a local change (a county gains staff, a cadre leaves) nothing else has to move. The helpers of
    each tier with fewer links than ``links_min`` in ``base`` (new staff) are placed on the tier's targets
    (within ``areas`` if given) by a small CP-SAT model of its own: eligible pairs only (every eligibility
    rule, and nesting in the base plan's parent links), each target's remaining room (coverage_max), each
    unit's remaining share cap; shortfalls below the required team size and composition are filled first,
    then the weighted cost parts are minimised. A base link the instance no longer admits (its helper or target
    gone, a forbidden or no longer eligible pair) is dropped and listed in the header's ``fewest_moves.dropped``
    with its reason; its helper, if still there, is free and placed again. A placement that breaks a hard rule
    over all tiers (a time budget) raises SolveError rather than return a plan the checker rejects.
    The plan's figures are those of its links as Scenario.solve_local counts them (every link costed on the
    solver's grid, each priority summed as the model does, uncovered.csv listing every shortfall); nothing is
    proven beyond coverage and continuity at 0, and ``bound_note`` says so.
    """
    import math as _math

    from ortools.sat.python import cp_model

    from matcher import candidates as cand
    from matcher import rules
    from matcher.candidates import scheme_and_context
    from matcher.explain import pair_table
    from matcher.scenario import (
        hard_breaks,
        link_faults,
        link_frames,
        plan_with_figures,
        with_terms,
    )

    a = base.assignments.copy()
    for c in ("tier", "helper", "target"):
        a[c] = a[c].astype(str)
    # base links the instance no longer admits are dropped (their helpers are free again), with the reason why
    whole_scheme, whole = scheme_and_context(instance)
    faults = link_faults(whole, a)
    dropped = [{"tier": t, "helper": h, "target": g, "reason": why} for t, h, g, why
               in zip(a["tier"].tolist(), a["helper"].tolist(), a["target"].tolist(), faults.tolist()) if why]
    a = a[(faults == "").to_numpy()].reset_index(drop=True)
    # only people with fewer links than the tiers their rank may need can be free: build the frames
    # over them alone (a superset of the free helpers; the tier filters are applied in full below)
    raw = instance.scheme.get("tiers", [])
    links_of = a["helper"].value_counts().to_dict()
    need_of_rank: dict[str, int] = {}
    for rank in set(instance.people["rank"].astype(str)):
        need_of_rank[rank] = sum(int(t.get("links_min", 0) or 0) for t in raw
                                 if t.get("helpers", {}).get("table") == "people"
                                 and rank in t["helpers"].get("rank", [rank]))
    maybe = [p for p, r in zip(instance.people.index.astype(str).tolist(), instance.people["rank"].astype(str).tolist())
             if int(links_of.get(p, 0)) < need_of_rank.get(r, 0)]
    narrow = dataclasses.replace(instance, people=instance.people.loc[maybe])
    scheme, ctx = scheme_and_context(narrow)
    codes: set[str] | None = None
    if areas:
        loc = instance.localities
        inside = pd.Series(False, index=loc.index)
        for ar in areas:
            inside |= loc[str(loc.at[ar, "level"])].astype(str) == ar
        codes = set(loc.index[inside])
    year = int(scheme.program.plan_year)
    model = cp_model.CpModel()
    x: dict[tuple[str, str, str], Any] = {}
    cost: dict[tuple[str, str, str], int] = {}
    rows: dict[tuple[str, str, str], Any] = {}
    shorts: list[Any] = []
    unit_of = {str(k): str(v) for k, v in zip(instance.people.index.tolist(), instance.people["unit"].tolist())}
    for tier in scheme.tiers:
        have = a[a["tier"] == tier.id]
        hf = ctx.cache.get(("explain.helpers", tier.id))
        if hf is None:
            hf = ctx.cache[("explain.helpers", tier.id)] = cand.helper_frame(ctx, tier)
        n_links = have.groupby("helper").size()
        free = [h for h in hf.index if int(n_links.get(h, 0)) < tier.links_min]
        if not free:
            continue
        tf = ctx.cache.get(("explain.targets", tier.id))
        if tf is None:
            tf = ctx.cache[("explain.targets", tier.id)] = cand.target_frame(ctx, tier)
        if codes is not None:
            tf = tf[[str(c) in codes for c in tf["locality"]]]
        pt = pair_table(narrow, tier.id, helpers=free, targets=list(tf.index), ctx=(scheme, ctx),
                        nesting=False).pairs
        pt = pt[pt["fails"].map(len) == 0]
        if tier.nest_in and len(pt):
            parent = scheme.tier(tier.nest_in)
            plevel = rules._parent_level(ctx, parent)
            plinks = set(zip(a.loc[a["tier"] == parent.id, "helper"], a.loc[a["tier"] == parent.id, "target"]))
            punits = set(pd.Index(ctx.cache.get(("explain.helpers", parent.id), cand.helper_frame(ctx, parent)).index))
            ok = [(u not in punits) or ((u, str(anc)) in plinks)
                  for u, anc in zip(pt["unit"].astype(str), pt["t_" + plevel].astype(str))]
            pt = pt[ok]
        count = have.groupby("target").size()
        req = rules.required_helpers(tf, tier, ctx)
        for r in pt.itertuples(index=False):
            k = (tier.id, str(r.helper), str(r.target))
            x[k] = model.new_bool_var(f"x[{k}]")
            cost[k] = round(100 * float(r.weighted))
            rows[k] = r
        by_t: dict[str, list[Any]] = {}
        by_h: dict[str, list[Any]] = {}
        for (tid, h, t), v in x.items():
            if tid == tier.id:
                by_t.setdefault(t, []).append(v)
                by_h.setdefault(h, []).append(v)
        for h in free:
            vs = by_h.get(h, [])
            need = tier.links_min - int(n_links.get(h, 0))
            room = tier.links_max - int(n_links.get(h, 0))
            model.add(cp_model.LinearExpr.sum(vs) <= room)
            sh = model.new_int_var(0, need, f"unplaced[{tier.id},{h}]")
            model.add(cp_model.LinearExpr.sum(vs) + sh >= need)
            shorts.append(sh)
        for t, vs in by_t.items():
            n = int(count.get(t, 0))
            model.add(cp_model.LinearExpr.sum(vs) <= max(0, tier.coverage_max - n))
            lack = max(0, int(req.get(t, 0)) - n)
            if lack:
                sh = model.new_int_var(0, lack, f"short[{tier.id},{t}]")
                model.add(cp_model.LinearExpr.sum(vs) + sh >= lack)
                shorts.append(sh)
        if tier.unit_share_max and tier.helpers.table == "people":
            caps = rules.unit_share_cap(instance.units["headcount"].astype(float), tier.unit_share_max)
            used = have["helper"].map(unit_of).value_counts()
            per_unit: dict[str, list[Any]] = {}
            for (tid, h, t), v in x.items():
                if tid == tier.id:
                    per_unit.setdefault(unit_of.get(h, h), []).append(v)
            for u, vs in per_unit.items():
                model.add(cp_model.LinearExpr.sum(vs) <= max(0, int(caps.get(u, 0)) - int(used.get(u, 0))))
    total_cost = sum(cost.values()) + 1
    model.minimize(total_cost * cp_model.LinearExpr.sum(shorts)
                   + cp_model.LinearExpr.weighted_sum(list(x.values()), [cost[k] for k in x]))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.linearization_level = 2
    st = solver.solve(model)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        from matcher.errors import SolveError

        raise SolveError("no placement of the new helpers found (" + solver.status_name(st) + ")")
    chosen = [k for k, v in x.items() if solver.boolean_value(v)]
    new_rows = []
    for k in chosen:
        r = rows[k]
        new_rows.append({"tier": k[0], "helper": k[1], "target": k[2], "start_year": year, "pinned": False,
                         "distance_km": round(float(r.distance_km), 1), "cost_match": float(r.cost_match),
                         "cost_strength": float(r.cost_strength), "cost_travel": float(r.cost_travel)})
    out = pd.concat([a, pd.DataFrame(new_rows, columns=list(a.columns))], ignore_index=True) if new_rows else a
    out = with_terms(whole, out)
    frames = link_frames(whole, out)
    broken = hard_breaks(whole, frames)
    if len(broken):
        from matcher.errors import SolveError

        raise SolveError("the fewest-moves placement breaks hard rules (re-plan the areas with Scenario.solve_local):\n"
                         + "\n".join(f"  - {m}" for m in broken["message"].head(20)))
    unc_rows = []
    for s in shorts:
        v = int(solver.value(s))
        name = s.name
        if v and name.startswith("short["):
            tid, t = name[len("short["):-1].split(",", 1)
            unc_rows.append({"tier": tid, "target": t, "reason": "no free eligible helper left after the base plan",
                             "reason_zh": "基础方案之外已无可用的合格帮扶人员"})
    method = "fewest moves: base plan kept, helpers without a link placed by a small CP-SAT model"
    note = ("no whole-plan bound: a fewest-moves placement is given an instance, not the edits that made it from the "
            "base plan's, so that plan's bound is not known to hold; only coverage and continuity at 0 are proven")
    extra = {"fewest_moves": {"placed": len(chosen), "status": solver.status_name(st), "dropped": dropped,
                              "unplaced_or_short": round(_math.fsum(solver.value(s) for s in shorts))}}
    return plan_with_figures(instance, base, out, frames, whole_scheme, whole, method, lambda values: ({}, note),
                             extra, [pd.DataFrame(unc_rows, columns=["tier", "target", "reason", "reason_zh"]),
                                     base.uncovered])
