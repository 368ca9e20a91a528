"""Shared fixtures: the tiny instance as a path and loaded (instances/tiny)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "instances" / "tiny"


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    """The tiny instance folder (CSV form): ``Path('instances/tiny')`` from the repository root, else absolute."""
    return Path("instances/tiny") if Path.cwd().resolve() == ROOT else TINY


@pytest.fixture(scope="session")
def tiny(tiny_path: Path):
    """The tiny instance, loaded and validated (shared: do not modify it; copy what you change)."""
    from matcher.instance import read_instance

    return read_instance(tiny_path)


@pytest.fixture(scope="module")
def inst():
    """A fresh tiny instance per test module (modules may edit it, e.g. a hostile name)."""
    from matcher.instance import read_instance

    return read_instance(TINY)


@pytest.fixture(scope="module")
def solved(inst):
    """tiny solved by the real solver (seed 0)."""
    from matcher.solver import solve

    return solve(inst, time_limit=30, seed=0)


@pytest.fixture
def process_log(tmp_path):
    """(wrap, pids): ``wrap(fn)`` is fn noting the id of the process that runs it; ``pids()`` the ids noted so far.

    For tests that must see a forked worker really do the work (the ids go to a file, which workers share).
    """
    path = tmp_path / "pids.txt"

    def wrap(real):
        def noted(*args, **kwargs):
            with open(path, "a") as f:
                f.write(f"{os.getpid()}\n")
            return real(*args, **kwargs)
        return noted

    def pids() -> set[str]:
        return set(path.read_text().split()) if path.exists() else set()

    return wrap, pids
