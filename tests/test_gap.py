"""GAP benchmark (OR-Library gap1-12, min sense): the CP-SAT model reaches the published optimum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.errors import InstanceError
from matcher.gap import best_known, default_gap_folder, gap_cost, gap_problem, read_gap
from matcher.model import solve_problem

GAP = default_gap_folder()
pytestmark = pytest.mark.skipif(not (GAP / "best_known.csv").exists(), reason=f"GAP benchmark folder absent: {GAP}")

SAMPLE = ["gap1-1", "gap2-3", "gap3-5", "gap4-2", "gap5-1", "gap6-4", "gap7-2", "gap8-5",
          "gap9-1", "gap10-3", "gap11-4", "gap12-2"]


@pytest.mark.parametrize("name", SAMPLE)
def test_small_gap_reaches_published_minimum(name: str) -> None:
    g = read_gap(GAP / "instances" / name)
    prob = gap_problem(g)
    sol = solve_problem(prob, time_limit=20, seed=0, workers=2)
    chosen = prob.pairs[sol.chosen]
    # a feasible assignment: every job once, capacities kept
    assert sorted(chosen["target"]) == sorted(f"j{j}" for j in range(g.jobs))
    load = chosen.groupby("helper")["load"].sum()
    for h, used in load.items():
        assert used <= g.capacity[int(h[1:])]
    assert sol.status == "OPTIMAL"
    assert gap_cost(g, chosen) == best_known(GAP)[(name, "min")]
    assert sol.bound["travel"] * 10 == pytest.approx(gap_cost(g, chosen))


def test_max_sense_reaches_published_maximum() -> None:
    g = read_gap(GAP / "instances" / "gap1-1")
    prob = gap_problem(g, sense="max")
    sol = solve_problem(prob, time_limit=20, seed=0, workers=2)
    assert gap_cost(g, prob.pairs[sol.chosen]) == best_known(GAP)[("gap1-1", "max")]


def test_bad_file_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("2 3\n1 2 3\n", encoding="utf-8")
    with pytest.raises(InstanceError, match="expected 16 numbers"):
        read_gap(tmp_path / "bad")


def test_reader_shapes() -> None:
    g = read_gap(GAP / "instances" / "c05100")
    assert (g.agents, g.jobs) == (5, 100) and g.capacity.shape == (5,) and np.all(g.load > 0)
