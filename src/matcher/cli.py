"""The ``matcher`` command line: a thin shell over the library, one module per command group."""

from __future__ import annotations

import importlib
import sys

import typer

from matcher.commands import COMMAND_MODULES
from matcher.errors import MatcherError

app = typer.Typer(
    name="matcher",
    help="Assignment plans for programs that pair cadres with places.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Assignment plans for programs that pair cadres with places."""


@app.command()
def version() -> None:
    """Print matcher's version."""
    from matcher import __version__

    typer.echo(f"matcher {__version__}")


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"matcher.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"matcher.commands.{name}":
                continue  # that command group is not built yet
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Entry point of the console script: MatcherError becomes a message and exit code 2."""
    try:
        app()
    except MatcherError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
