"""The generalised assignment problem (GAP) benchmark files as :class:`matcher.model.AssignmentProblem`.

OR-Library ``gapinfo`` format (one instance per file, whitespace-separated integers):
``m n``, then costs ``c[i][j]`` (m rows of n), loads ``a[i][j]`` (m rows of n), capacities ``b[i]``.
Agents become helpers with a time budget (capacity), jobs become targets needing exactly one helper,
and ``a[i][j]`` is the pair's load: the same model as a people tier with a shared days budget.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.errors import InstanceError, Problem
from matcher.model import AssignmentProblem


@dataclass(frozen=True)
class GapInstance:
    """A GAP instance: costs and loads (agents x jobs) and capacities (agents)."""

    name: str
    cost: np.ndarray
    load: np.ndarray
    capacity: np.ndarray

    @property
    def agents(self) -> int:
        """Number of agents."""
        return int(self.cost.shape[0])

    @property
    def jobs(self) -> int:
        """Number of jobs."""
        return int(self.cost.shape[1])


def read_gap(path: str | os.PathLike[str]) -> GapInstance:
    """Read one GAP instance file (token stream, see the module docstring)."""
    path = Path(path)
    tokens = path.read_text(encoding="utf-8").split()
    try:
        vals = [int(t) for t in tokens]
    except ValueError as exc:
        raise InstanceError(
            [
                Problem(
                    path.name,
                    None,
                    None,
                    f"expected whitespace-separated integers ({exc})",
                )
            ]
        ) from exc
    if len(vals) < 2:
        raise InstanceError(
            [Problem(path.name, None, None, "expected 'm n' at the start")]
        )
    m, n = vals[0], vals[1]
    want = 2 + 2 * m * n + m
    if len(vals) != want:
        raise InstanceError(
            [
                Problem(
                    path.name,
                    None,
                    None,
                    f"expected {want} numbers for {m} agents x {n} jobs, found {len(vals)}",
                )
            ]
        )
    a = np.array(vals[2:], dtype=np.int64)
    cost = a[: m * n].reshape(m, n)
    load = a[m * n : 2 * m * n].reshape(m, n)
    cap = a[2 * m * n :]
    return GapInstance(path.name, cost, load, cap)


def gap_problem(g: GapInstance, sense: str = "min") -> AssignmentProblem:
    """The GAP as an assignment problem: every job gets exactly one agent within the agents' capacities.

    ``sense="max"`` negates costs around their maximum (cost' = max - cost), so minimising cost' maximises cost.
    """
    m, n = g.cost.shape
    gi, gj = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    ii, jj = gi.ravel(), gj.ravel()
    feasible = g.load[ii, jj] <= g.capacity[ii]
    ii, jj = ii[feasible], jj[feasible]
    c = g.cost[ii, jj].astype(float)
    if sense == "max":
        c = float(g.cost.max()) - c
    pairs = pd.DataFrame(
        {
            "tier": "gap",
            "helper": [f"a{i}" for i in ii],
            "target": [f"j{j}" for j in jj],
            "unit": [f"a{i}" for i in ii],
            "pinned": False,
            "continues": False,
            "visiting": True,
            "load": g.load[ii, jj].astype(np.int64),
            "cost_match": 0.0,
            "cost_strength": 0.0,
            "cost_travel": c / 10.0,  # travel is scaled by 10: exact integers
        }
    )
    targets = pd.DataFrame(
        {
            "tier": "gap",
            "target": [f"j{j}" for j in range(n)],
            "required": 1,
            "max": 1,
            "hard": True,
        }
    )
    helpers = pd.DataFrame(
        {
            "tier": "gap",
            "helper": [f"a{i}" for i in range(m)],
            "links_min": 0,
            "links_max": n,
        }
    )
    budgets = pd.DataFrame(
        {
            "helper": [f"a{i}" for i in range(m)],
            "min_load": 0,
            "max_load": g.capacity.astype(np.int64),
        }
    )
    return AssignmentProblem(
        pairs=pairs,
        targets=targets,
        helpers=helpers,
        budgets=budgets,
        order=("travel",),
        weights={"travel": 1.0},
    )


def gap_cost(g: GapInstance, chosen_pairs: pd.DataFrame) -> int:
    """The original cost of an assignment (sum of c[i][j] over the chosen pairs)."""
    i = chosen_pairs["helper"].str[1:].astype(int).to_numpy()
    j = chosen_pairs["target"].str[1:].astype(int).to_numpy()
    return int(g.cost[i, j].sum())


def best_known(folder: str | os.PathLike[str]) -> dict[tuple[str, str], int]:
    """best_known.csv as {(instance, sense): value}."""
    with open(Path(folder) / "best_known.csv", encoding="utf-8", newline="") as fh:
        return {
            (r["instance"], r["sense"]): int(r["best_known"])
            for r in csv.DictReader(fh)
        }


def default_gap_folder() -> Path:
    """The shared GAP folder: ``<repo>/../shared/bench/gap`` (``MATCHER_GAP_DIR`` overrides it)."""
    env = os.environ.get("MATCHER_GAP_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "gap"


def assignment_hint(prob: AssignmentProblem, assign: np.ndarray) -> np.ndarray:
    """The pairs of :func:`gap_problem` an assignment (``assign[j]`` = agent of job j) chooses: bool per pair row."""
    i = prob.pairs["helper"].str[1:].astype(int).to_numpy()
    j = prob.pairs["target"].str[1:].astype(int).to_numpy()
    return np.asarray(assign)[j] == i
