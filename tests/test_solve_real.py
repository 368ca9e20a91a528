"""The real instances solve into plans the independent checker accepts (Baoxing, Xuchang Jian'an)."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher.check import check_plan
from matcher.instance import read_instance
from matcher.solver import solve

INSTANCES = Path(__file__).resolve().parents[1] / "instances"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["baoxing", "xuchang-jianan"])
def test_real_instance_solves_and_checks_clean(name: str) -> None:
    folder = INSTANCES / name
    if not (folder / "scheme.toml").exists():
        pytest.skip(f"instances/{name} is not built yet")
    inst = read_instance(folder)
    plan = solve(inst, time_limit=30, seed=0, workers=2)
    assert plan.status in ("OPTIMAL", "FEASIBLE")
    report = check_plan(inst, plan)
    assert report.ok, report.errors.head(20).to_dict("records")
    assert plan.gap is not None and 0.0 <= plan.gap < 0.05
    for term, v in plan.objective.items():
        assert plan.bound[term] <= v + 1e-9
    assert plan.objective["coverage"] == plan.uncovered["short"].sum()
