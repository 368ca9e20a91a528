"""CLI commands ``matcher validate PATH`` and ``matcher template OUT.xlsx``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from matcher.errors import InstanceError, Problem


def _print_problems(problems: list[Problem], console: object, limit: int = 0) -> None:
    """Print problems as a numbered list grouped by file (at most ``limit`` per file; 0 = all)."""
    from matcher.validate import problems_by_file

    n = 0
    for file, group in problems_by_file(problems).items():
        console.print(f"[bold]{file}[/bold]", highlight=False)  # type: ignore[attr-defined]
        shown = group if limit <= 0 else group[:limit]
        for p in shown:
            n += 1
            where = []
            if p.row is not None:
                where.append(f"{'line' if file.endswith('.toml') else 'row'} {p.row}")
            if p.column:
                where.append(f"column '{p.column}'")
            tag = "[yellow]warning[/yellow]" if p.severity != "error" else "[red]error[/red]"
            loc = ", ".join(where)
            console.print(f"  {n:>3}. {tag} {loc + ': ' if loc else ''}{p.message}",  # type: ignore[attr-defined]
                          highlight=False, markup=True, soft_wrap=True)
        if len(shown) < len(group):
            n += len(group) - len(shown)
            console.print(f"       ... and {len(group) - len(shown)} more in this file "  # type: ignore[attr-defined]
                          "(--all shows every problem)")


def validate(path: Annotated[Path, typer.Argument(help="instance folder or its instance.xlsx")],
             show_all: Annotated[bool, typer.Option("--all", help="print every problem (default: 50 per file)")]
             = False) -> None:
    """Check an instance; print every problem by file (exit 1), or its summary (exit 0)."""
    from rich.console import Console
    from rich.markup import escape

    from matcher.instance import read_instance

    console = Console(highlight=False, soft_wrap=True)
    try:
        inst = read_instance(path)
    except InstanceError as exc:
        errors = exc.errors
        probs = [Problem(escape(p.file), p.row, escape(p.column) if p.column else p.column, escape(p.message),
                         p.severity) for p in exc.problems]
        console.print(f"[red bold]{len(errors)} error(s)[/red bold] in {escape(str(path))}"
                      + (f", {len(exc.problems) - len(errors)} warning(s)" if len(exc.problems) > len(errors) else ""))
        _print_problems(probs, console, 0 if show_all else 50)
        raise typer.Exit(1) from None
    console.print(escape(inst.summary()))
    if inst.warnings:
        _print_problems([Problem(escape(p.file), p.row, escape(p.column) if p.column else p.column,
                                 escape(p.message), p.severity) for p in inst.warnings], console)
    console.print("[green]OK[/green]")


def template(out: Annotated[Path, typer.Argument(help="the workbook to write, e.g. instance.xlsx")],
             lang: Annotated[str, typer.Option("--lang", help="language of the notes and comments: zh or en")] = "zh",
             source: Annotated[Path | None, typer.Option("--from", help="fill it with the CSV tables of this "
                                                                         "instance folder")] = None) -> None:
    """Write the empty instance workbook (five sheets, drop-downs, notes) to OUT, or fill it --from a CSV instance."""
    from matcher.template import csv_folder_to_workbook, write_template

    if lang not in ("zh", "en"):
        typer.echo(f"error: --lang must be zh or en, not {lang!r}", err=True)
        raise typer.Exit(2)
    if source is None:
        write_template(out, lang=lang)
    else:
        if not source.is_dir() or not any((source / f"{n}.csv").is_file() for n in ("localities", "units", "people")):
            typer.echo(f"error: {source} is not an instance folder with CSV tables", err=True)
            raise typer.Exit(2)
        try:
            csv_folder_to_workbook(source, out, lang=lang)
        except InstanceError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``template`` to the matcher CLI."""
    app.command("validate")(validate)
    app.command("template")(template)
