"""CLI commands ``matcher check INSTANCE PLAN_DIR`` (the independent checker) and ``matcher show PLAN_DIR``."""

from __future__ import annotations

from pathlib import Path

import typer

from matcher.errors import MatcherError

_KIND_STYLE = {"error": "red", "declared shortfall": "yellow", "warning": "cyan"}
_KIND_ZH = {"error": "违规", "declared shortfall": "已说明的缺口", "warning": "提示"}


def _lang(lang: str) -> str:
    if lang not in ("en", "zh"):
        typer.echo(f"error: --lang must be en or zh, not {lang!r}", err=True)
        raise typer.Exit(2)
    return lang


def check(
    instance: Path = typer.Argument(..., help="instance folder (or its instance.xlsx)"),
    plan_dir: Path = typer.Argument(..., help="plan folder written by `matcher solve --out`"),
    lang: str = typer.Option("en", "--lang", help="language of the details: en or zh"),
    limit: int = typer.Option(200, "--limit", help="show at most this many violations (0 = all)"),
) -> None:
    """Check a plan against every hard rule of the instance's scheme; exit 0 if none is broken, 1 otherwise.

    Coverage shortfalls the plan declares in uncovered.csv are printed but do not fail the check.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from matcher.check import check_plan
    from matcher.instance import read_instance
    from matcher.plan import Plan

    lang = _lang(lang)
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = 200  # piped to a file: do not fold the details into a narrow column
    try:
        plan = Plan.load(plan_dir)  # first: a bad folder is reported before the instance is read
        inst = read_instance(instance)
        report = check_plan(inst, plan)
    except MatcherError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    v = report.violations
    if len(v):
        shown = v if limit <= 0 else v.head(limit)
        table = Table(title="违规清单" if lang == "zh" else "Violations", show_lines=False)
        heads = (("类别", "规则", "层级", "帮扶者", "对象", "说明") if lang == "zh"
                 else ("kind", "rule", "tier", "helper", "target", "detail"))
        for col in heads:
            table.add_column(col, overflow="fold")
        for r in shown.to_dict("records"):
            style = _KIND_STYLE.get(str(r["kind"]), "")
            kind = _KIND_ZH.get(str(r["kind"]), str(r["kind"])) if lang == "zh" else str(r["kind"])
            table.add_row(f"[{style}]{escape(kind)}[/{style}]" if style else escape(kind), escape(str(r["rule"])),
                          escape(str(r["tier"])), escape(f"{r['helper']} {r['helper_name']}".strip()),
                          escape(f"{r['target']} {r['target_name']}".strip()),
                          escape(str(r["detail_zh"] if lang == "zh" else r["detail"])))
        console.print(table)
        if len(shown) < len(v):
            console.print(f"... {len(v) - len(shown)} more (use --limit 0 to see all)")
    head = report.text(lang, limit=0).splitlines()[0]
    style = "green" if report.ok else "red"
    console.print(f"[{style} bold]{escape(head)}[/{style} bold]")
    raise typer.Exit(0 if report.ok else 1)


def show(
    plan_dir: Path = typer.Argument(..., help="plan folder written by `matcher solve --out`"),
    lang: str = typer.Option("en", "--lang", help="language of the summary: en or zh"),
    instance: Path | None = typer.Option(None, "--instance", help="instance folder, to recompute the key figures"),
) -> None:
    """Print a plan's one-screen summary (program, status, gap, coverage per tier, key figures)."""
    from matcher.plan import Plan

    lang = _lang(lang)
    try:
        plan = Plan.load(plan_dir)
        if instance is not None:
            from matcher.instance import read_instance

            inst = read_instance(instance)
            plan.header["kpis"] = plan.kpis(inst)
    except MatcherError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(plan.summary(lang), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``check`` and ``show`` to the matcher CLI."""
    app.command("check")(check)
    app.command("show")(show)
