"""CLI commands of the planner's workflow: ``diff``, ``explain``, ``diagnose`` and ``replan``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from matcher.errors import MatcherError


def _lang(lang: str) -> str:
    if lang not in ("en", "zh"):
        typer.echo(f"error: --lang must be en or zh, not {lang!r}", err=True)
        raise typer.Exit(2)
    return lang


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2) from None


def _instance_for(plan: Any, instance: Path | None) -> Any:
    """The instance given, else the one the plan names in plan.json (relative to the working directory)."""
    from matcher.errors import PlanError
    from matcher.instance import read_instance

    if instance is None:
        path = (plan.header.get("instance") or {}).get("path")
        if not path:
            raise PlanError("the plan does not name its instance; pass --instance PATH")
        instance = Path(path)
        if not instance.exists():
            raise PlanError(f"the plan's instance {path} is not found from here; pass --instance PATH")
    return read_instance(instance)


def diff(
    plan_a: Path = typer.Argument(..., help="the base plan folder"),
    plan_b: Path = typer.Argument(..., help="the other plan folder"),
    out: Path | None = typer.Option(None, "--out", help="also write the diff as an Excel workbook (.xlsx)"),
    instance: Path | None = typer.Option(None, "--instance", help="instance folder for names and KPIs "
                                         "(default: plan B's instance if it is found)"),
    lang: str = typer.Option("en", "--lang", help="language of the summary and workbook headers: en or zh"),
    limit: int = typer.Option(10, "--limit", help="changed links listed per kind"),
    sheet_lang: str = typer.Option("zh", "--sheet-lang", help="language of the workbook's headers: zh (default) or en"),
) -> None:
    """Print what changed from PLAN_A to PLAN_B: moved, new and ended links per tier, KPI deltas."""
    from matcher.diff import diff_plans
    from matcher.plan import Plan

    lang = _lang(lang)
    try:
        a, b = Plan.load(plan_a), Plan.load(plan_b)
        inst = None
        if instance is not None:
            inst = _instance_for(b, instance)
        else:
            path = (b.header.get("instance") or {}).get("path")
            if path and Path(path).exists():
                inst = _instance_for(b, None)
        d = diff_plans(a, b, inst)
        typer.echo(d.summary(lang, limit=limit))
        if out is not None:
            if out.suffix.lower() != ".xlsx":
                raise MatcherError(f"--out {out}: expected a file name ending in .xlsx")
            d.to_excel(out, lang=_lang(sheet_lang))
            typer.echo(f"wrote {out}")
    except MatcherError as exc:
        _fail(exc)


def explain(
    plan_dir: Path = typer.Argument(..., help="plan folder"),
    person: str | None = typer.Option(None, "--person", help="a person (or unit) id"),
    place: str | None = typer.Option(None, "--place", help="a locality code or target id"),
    instance: Path | None = typer.Option(None, "--instance", help="instance folder (default: the plan's own)"),
    lang: str = typer.Option("zh", "--lang", help="zh (default) or en"),
    limit: int = typer.Option(15, "--limit", help="candidates listed per tier"),
) -> None:
    """Explain why a person went where he went, or who a place got and why the others were not chosen."""
    from matcher.explain import explain_person, explain_place
    from matcher.plan import Plan

    lang = _lang(lang)
    if (person is None) == (place is None):
        typer.echo("error: give exactly one of --person ID or --place CODE", err=True)
        raise typer.Exit(2)
    try:
        plan = Plan.load(plan_dir)
        inst = _instance_for(plan, instance)
        if person is not None:
            if person not in inst.people.index and person not in inst.units.index:
                raise MatcherError(f"--person {person}: no such person or unit in {inst.path}")
            ex = explain_person(inst, plan, person, limit=limit)
        else:
            assert place is not None
            if place not in inst.localities.index and place not in inst.targets.index:
                raise MatcherError(f"--place {place}: no such locality code or target id in {inst.path}")
            ex = explain_place(inst, plan, place, limit=limit)
        typer.echo(ex.text(lang))
    except MatcherError as exc:
        _fail(exc)


def diagnose(
    instance: Path = typer.Argument(..., help="instance folder (or its instance.xlsx)"),
    lang: str = typer.Option("en", "--lang", help="en or zh"),
    exact: bool = typer.Option(True, "--exact/--counting-only",
                               help="also search a minimal conflicting set of rules with CP-SAT (small instances)"),
    max_pairs: int = typer.Option(20000, "--max-pairs", help="skip the exact search above this many candidate pairs"),
    out: Path | None = typer.Option(None, "--out", help="write the shortages per area as CSV"),
) -> None:
    """Say why an instance cannot be fully covered: shortages per area, conflicting rules, cheapest relaxation.

    Exit 0 when feasible, 1 when a conflict or shortage is found, 2 on bad input.
    """
    from matcher.diagnose import diagnose as run
    from matcher.fileio import atomic_write_text
    from matcher.instance import read_instance

    lang = _lang(lang)
    try:
        inst = read_instance(instance)
        d = run(inst, exact=exact, max_pairs=max_pairs)
    except MatcherError as exc:
        _fail(exc)
        return
    typer.echo(d.text(lang))
    if out is not None:
        atomic_write_text(out, d.shortages.to_csv(index=False, lineterminator="\n"))
        typer.echo(f"wrote {out}")
    raise typer.Exit(0 if d.feasible else 1)


def replan(
    instance: Path = typer.Argument(..., help="instance folder of the new plan year"),
    base: Path = typer.Option(..., "--base", help="the plan in force (folder)"),
    departures: Path | None = typer.Option(None, "--departures", help="departures.csv: id, reason (mid-term)"),
    rotate: bool = typer.Option(False, "--rotate", help="next term: everyone rotates (default: mid-term refill)"),
    out: Path = typer.Option(..., "--out", help="folder for the new plan, moves.csv and replan.txt"),
    time_limit: float = typer.Option(60, "--time-limit"),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(2, "--workers"),
    lang: str = typer.Option("en", "--lang", help="en or zh"),
) -> None:
    """Mid-term: refill vacancies with the fewest moves. With --rotate: next term, everyone rotates."""
    from matcher.instance import read_instance
    from matcher.plan import Plan
    from matcher.replan import read_departures, replan_midterm, replan_rotation

    lang = _lang(lang)
    try:
        inst = read_instance(instance)
        base_plan = Plan.load(base)
        if rotate:
            if departures is not None:
                raise MatcherError("--departures is for a mid-term replan; leave it out with --rotate")
            r = replan_rotation(inst, base_plan, time_limit=time_limit, seed=seed, workers=workers)
        else:
            dep = read_departures(departures) if departures is not None else None
            r = replan_midterm(inst, base_plan, dep, time_limit=time_limit, seed=seed, workers=workers)
        r.save(out)
    except MatcherError as exc:
        _fail(exc)
        return
    typer.echo(r.summary(lang))
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add ``diff``, ``explain``, ``diagnose`` and ``replan`` to the ``matcher`` command."""
    app.command("diff")(diff)
    app.command("explain")(explain)
    app.command("diagnose")(diagnose)
    app.command("replan")(replan)
