"""CLI command ``matcher run INSTANCE --out DIR``: the Monday-morning job in one command.

Solve (with the independent check), then write the map, the workbook, the GeoPackage and the briefing
beside the plan, by calling the same functions as ``solve``, ``map``, ``export`` and ``brief``.
"""

from __future__ import annotations

from pathlib import Path

import typer


def run(
    instance: Path = typer.Argument(..., help="instance folder (or its instance.xlsx)"),
    out: Path = typer.Option(..., "--out", help="folder to write: plan/, map.html, plan.xlsx, plan.gpkg, brief.pdf"),
    time_limit: float = typer.Option(
        60.0, "--time-limit", help="seconds for the whole solve (a province solve sets its rounds by it and gives "
                                   "each top-tier MIP at least 30 s, so a very short limit is overrun)"),
    seed: int = typer.Option(0, "--seed", help="random seed (same input + seed = same plan)"),
    workers: int = typer.Option(2, "--workers", help="solver workers"),
    lang: str = typer.Option("zh", "--lang", help="language of map, workbook and briefing: zh or en"),
) -> None:
    """Solve an instance and write the plan, its map, workbook, GeoPackage and briefing PDF."""
    from matcher.commands.maps import brief_command, export_command, map_command
    from matcher.commands.reading import shared_instance
    from matcher.commands.solve import solve

    plan_dir = out / "plan"
    with shared_instance(instance):  # read once for the five steps (about 2 s each on Guizhou)
        solve(instance=instance, out=plan_dir, time_limit=time_limit, seed=seed, workers=workers, lang=lang,
              method="auto")
        map_command(plan=plan_dir, out=out / "map.html", instance=instance, lang=lang, tiles=True)
        export_command(plan=plan_dir, out=out / "plan.xlsx", instance=instance, lang=lang)
        export_command(plan=plan_dir, out=out / "plan.gpkg", instance=instance, lang=lang)
        brief_command(plan=plan_dir, out=out / "brief.pdf", instance=instance, lang=lang, date=None, compare=None)


def register(app: typer.Typer) -> None:
    """Add ``run`` to the CLI."""
    app.command(name="run")(run)
