"""CLI command ``matcher solve INSTANCE --out DIR``: solve, check independently, write the plan folder.

Exit codes: 0 a plan was written (even with uncovered targets, listed in the summary), 1 the plan
failed the independent checker (not written), 2 bad input, 3 the hard rules cannot all hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def solve(
    instance: Path = typer.Argument(..., help="instance folder (or its instance.xlsx)"),
    out: Path = typer.Option(..., "--out", help="plan folder to write"),
    time_limit: float = typer.Option(
        60.0, "--time-limit", help="seconds for the whole solve (a province solve sets its rounds by it and gives "
                                   "each top-tier MIP at least 30 s, so a very short limit is overrun)"),
    seed: int = typer.Option(0, "--seed", help="random seed (same input + seed = same plan)"),
    workers: int = typer.Option(2, "--workers", help="CP-SAT workers (deterministic interleaved search when > 1); "
                                "the province solver runs at most this many worker processes at a time (1: none)"),
    lang: str = typer.Option("en", "--lang", help="language of the printed summary: en or zh"),
    method: str = typer.Option("auto", "--method", help="auto (the default: the province solver for a province, "
                               "and first for a supported slice of one; one model otherwise), model (one CP-SAT/LP "
                               "model) or province (tiers in nesting order, flows per area, whole-plan bound)"),
) -> None:
    """Solve an instance into a plan with a proven bound; check it; write DIR (plan.json last)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from matcher.commands.reading import read_instance_for_command
    from matcher.errors import MatcherError
    from matcher.solver import InfeasibleError
    from matcher.solver import solve as solve_instance

    console = Console(highlight=False, soft_wrap=True, stderr=True)
    if lang not in ("en", "zh"):
        typer.echo(f"error: --lang must be en or zh, not {lang!r}", err=True)
        raise typer.Exit(2)
    from matcher.solver import METHODS

    if method not in METHODS:
        typer.echo(f"error: --method must be one of {', '.join(METHODS)}, not {method!r}", err=True)
        raise typer.Exit(2)

    def progress(event: str, info: dict[str, Any]) -> None:
        if event == "phase":
            console.print(f"[dim]… {escape(info['text'])}[/dim]")
        elif event == "tier":
            console.print(f"  tier [bold]{escape(info['tier'])}[/bold]: {info['helpers']} helpers, "
                          f"{info['targets']} targets, {info['pairs']} candidate pairs")
        elif event == "stage":
            where = f"{info['tier']}: " if "tier" in info else ""
            bound = f"bound {info['bound']:g}, " if "bound" in info else ""
            console.print(f"  stage {escape(where)}[bold]{escape(info['term'])}[/bold]: {info['value']:g} "
                          f"({bound}{info['status']})")

    try:
        with console.status("solving…"):
            inst = read_instance_for_command(instance)
            plan = solve_instance(inst, time_limit=time_limit, seed=seed, workers=workers, progress=progress,
                                  method=method)
    except InfeasibleError as exc:
        console.print("[red bold]infeasible:[/red bold] the hard rules cannot all hold")
        for f in exc.findings:
            console.print(f"  - {escape(f.zh if lang == 'zh' else f.en)}")
        raise typer.Exit(3) from None
    except MatcherError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    report = None
    try:
        from matcher.check import check_plan
    except ImportError:  # the checker is not built yet
        check_plan = None  # type: ignore[assignment]
    if check_plan is not None:
        report = check_plan(inst, plan)
        if not report.ok:
            table = Table(title="the plan fails the independent checker (not written)")
            for col in ("rule", "tier", "helper", "target", "detail"):
                table.add_column(col, overflow="fold")
            for r in report.errors.head(50).itertuples(index=False):
                table.add_row(escape(r.rule), escape(r.tier), escape(r.helper), escape(r.target), escape(r.detail))
            console.print(table)
            raise typer.Exit(1)
    plan.attach(inst)
    plan.save(out, check=report)
    typer.echo(plan.summary(lang))
    h = plan.header
    from matcher.kpi import tier_gaps

    gaps = tier_gaps(plan)
    per_tier = f" (per tier, given the tiers above: {', '.join(gaps)})" if gaps else ""
    fg = h.get("first_gap")
    first = f"; first priority not proven optimal: {fg['term']} within {fg['gap']:.2%}" if isinstance(fg, dict) else ""
    console.print(f"[green bold]plan written to {escape(str(out))}[/green bold]: status {h['status']}, "
                  f"gap {h['gap']:.4%}{per_tier}{first}, {len(plan.uncovered)} target(s) uncovered, "
                  f"{h['wall_s']:.1f} s")
    hint = _more_rounds_hint(h, time_limit)
    if hint:
        console.print(f"[dim]{escape(hint)}[/dim]")


def _more_rounds_hint(header: dict[str, Any], time_limit: float) -> str:
    """A province plan with a gap and steps to spare: say which --time-limit buys the next step ('' otherwise)."""
    from matcher.province import (
        LAST_CHOICE_SECONDS,
        MAX_ROUNDS,
        ROUND_SECONDS,
        rounds_for,
        tries_last_choice,
    )

    fg = header.get("first_gap")
    if not isinstance(fg, dict) or "whole-plan bound" not in str(header.get("method", "")):
        return ""
    top = header.get("tier_order", ["top"])[0]
    n = rounds_for(time_limit)
    if not tries_last_choice(time_limit):
        return (f"hint: --time-limit {LAST_CHOICE_SECONDS:g} starts from the {top} tier's own optimum and also "
                f"tries it re-chosen with the lower tiers' prices: usually a better {fg['term']} (docs/solver.md)")
    if n >= MAX_ROUNDS:
        return ""
    return (f"hint: --time-limit {ROUND_SECONDS * n:g} adds a round that re-chooses the {top} tier with the lower "
            f"tiers' prices and usually narrows the {fg['term']} gap (docs/solver.md)")


def register(app: typer.Typer) -> None:
    """Add ``solve`` to the CLI."""
    app.command(name="solve")(solve)
