"""The planner's notebooks run top to bottom (nbclient, a real kernel), and each .ipynb matches its .py twin.

The notebooks are the documentation a planner follows; running them in CI keeps them true. Each cell
has a time limit (600 s: notebook 01 plans the whole province, about 2.5 minutes); the others plan one
county or two to stay quick (see each notebook).
"""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
CELL_TIMEOUT = int(os.environ.get("MATCHER_NOTEBOOK_CELL_TIMEOUT", "600"))


def test_there_are_five_notebooks() -> None:
    assert len(NOTEBOOKS) == 5, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("script", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_ipynb_is_clean_and_paired(script: Path) -> None:
    """The committed .ipynb has no outputs and the same cells as the .py percent file."""
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.exists(), f"run: jupytext --to ipynb {script.relative_to(ROOT)}"
    nb = nbformat.read(ipynb, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{ipynb.name} has outputs"
    py = jupytext.read(script)
    assert [c.source for c in nb.cells] == [c.source for c in py.cells], f"{ipynb.name} differs from {script.name}"


@pytest.mark.slow
@pytest.mark.parametrize("script", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(script: Path, tmp_path: Path) -> None:
    from nbclient import NotebookClient

    nb = jupytext.read(script)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    nbformat.write(nb, tmp_path / script.with_suffix(".ipynb").name)  # executed copy, for a look when it fails
