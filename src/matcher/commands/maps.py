"""CLI commands ``matcher map``, ``matcher brief`` and ``matcher export``: a plan as map, briefing and files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from matcher.errors import MatcherError


def _load(plan_dir: Path, instance: Path | None) -> tuple[Any, Any]:
    """Read a plan folder and its instance (``--instance`` or the path in plan.json)."""
    from matcher.commands.reading import read_instance_for_command
    from matcher.maps import resolve_instance
    from matcher.plan import Plan

    plan = Plan.load(plan_dir)
    if instance is not None:
        return plan, read_instance_for_command(instance)
    return plan, resolve_instance(plan, None, plan_dir=plan_dir)


def _writing(out: Path) -> Any:
    """Turn an operating-system error while writing ``out`` into a clear MatcherError."""
    import contextlib

    @contextlib.contextmanager
    def guard() -> Any:
        try:
            yield
        except OSError as exc:
            raise MatcherError(f"cannot write {out}: {exc.strerror or exc}") from None

    return guard()


def _check_lang(lang: str) -> str:
    from matcher.labels import check_lang

    return check_lang(lang)


def map_command(
    plan: Path = typer.Argument(..., help="plan folder written by `matcher solve --out`"),
    out: Path = typer.Option(..., "--out", "-o", help="the HTML file to write, e.g. map.html"),
    instance: Path | None = typer.Option(None, "--instance", help="instance folder (default: the one named in plan.json)"),
    lang: str = typer.Option("zh", "--lang", help="language of the map's text: zh or en"),
    tiles: bool = typer.Option(True, "--tiles/--no-tiles", help="offer an online base map (off until switched on)"),
) -> None:
    """Write the plan's interactive coverage map: one HTML file that opens offline."""
    from matcher.maps import coverage_map, save_map

    _check_lang(lang)
    p, inst = _load(plan, instance)
    with _writing(out):
        path = save_map(coverage_map(p, inst, lang, tiles=tiles), out)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def brief_command(
    plan: Path = typer.Argument(..., help="plan folder written by `matcher solve --out`"),
    out: Path = typer.Option(..., "--out", "-o", help="brief.pdf, brief.png or brief.svg (PNG/SVG: one file per page)"),
    instance: Path | None = typer.Option(None, "--instance", help="instance folder (default: the one named in plan.json)"),
    lang: str = typer.Option("zh", "--lang", help="language of the briefing: zh or en"),
    date: str | None = typer.Option(None, "--date", help="date printed on the pages (default: the plan year)"),
    compare: Path | None = typer.Option(None, "--compare", help="another plan folder: add a page of moved, new and ended links"),
) -> None:
    """Write the briefing: one page per tier with a coverage map and key figures (and a comparison page)."""
    from matcher.brief import write_brief
    from matcher.plan import Plan

    _check_lang(lang)
    p, inst = _load(plan, instance)
    other = Plan.load(compare) if compare is not None else None
    with _writing(out):
        paths = write_brief(p, out, inst, lang, date, other)
    for path in paths:
        typer.echo(f"wrote {path}")


def export_command(
    plan: Path = typer.Argument(..., help="plan folder written by `matcher solve --out`"),
    out: Path = typer.Option(..., "--out", "-o", help="plan.xlsx, plan.gpkg, plan.parquet or plan.csv"),
    instance: Path | None = typer.Option(None, "--instance", help="instance folder (default: the one named in plan.json)"),
    lang: str = typer.Option("zh", "--lang", help="language of headers and values: zh or en"),
) -> None:
    """Export the plan as an Excel workbook, a GeoPackage, a Parquet or a CSV file (by suffix)."""
    from matcher.export import EXPORT_SUFFIXES, export_plan

    _check_lang(lang)
    if out.suffix.lower() not in EXPORT_SUFFIXES:
        raise MatcherError(f"{out}: unknown export format {out.suffix or '(no suffix)'!r}; expected one of {', '.join(EXPORT_SUFFIXES)}")
    p, inst = _load(plan, instance)
    with _writing(out):
        path = export_plan(p, inst, out, lang)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``map``, ``brief`` and ``export`` to the CLI."""
    app.command("map")(map_command)
    app.command("brief")(brief_command)
    app.command("export")(export_command)
