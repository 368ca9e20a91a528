"""The public names of ``import matcher`` are the functions and classes, and stay so after any import."""

from __future__ import annotations

import subprocess
import sys


def test_public_names_are_callables_even_after_their_modules_load() -> None:
    code = (
        "import matcher, matcher.solver, matcher.plan, matcher.check, matcher.instance\n"
        "from matcher import solve, read_instance, Plan, check_plan, Scenario\n"
        "assert callable(matcher.solve) and matcher.solve is solve and solve.__module__ == 'matcher.solver'\n"
        "assert callable(matcher.solve)  # a second look: no submodule has replaced it\n"
        "assert isinstance(Plan, type) and callable(read_instance) and callable(check_plan)\n"
        "import matcher.maps; assert hasattr(matcher.maps, 'coverage_map')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_solve_twice_through_the_package(tiny) -> None:
    import matcher

    a = matcher.solve(tiny, time_limit=30, seed=0)
    b = matcher.solve(tiny, time_limit=30, seed=0)
    assert a.assignments.equals(b.assignments)
