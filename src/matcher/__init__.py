"""matcher: assignment plans for programs that pair cadres with places (帮联驻, 挂包帮, 助企联乡帮村).

The public surface: ``read_instance``, ``read_scheme``, ``solve``, ``Plan``, ``check_plan``,
``Scenario`` and ``maps``. Names are imported lazily so that ``import matcher`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from matcher.errors import InstanceError, MatcherError, PlanError, Problem, SolveError

__version__ = "0.1.0"

_LAZY = {
    "read_instance": "matcher.instance",
    "Instance": "matcher.instance",
    "read_scheme": "matcher.scheme",
    "Scheme": "matcher.scheme",
    "solve": "matcher.solver",
    "Plan": "matcher.plan",
    "check_plan": "matcher.check",
    "Scenario": "matcher.scenario",
    "maps": "matcher.maps",
}

__all__ = ["InstanceError", "MatcherError", "PlanError", "Problem", "SolveError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if name == "maps" else getattr(module, name)
    raise AttributeError(f"module 'matcher' has no attribute {name!r}")
