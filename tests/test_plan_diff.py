"""Plan.diff: ``plan_b.diff(plan_a)`` lists what changed from plan A to plan B."""

from __future__ import annotations

import pandas as pd

from matcher.plan import Plan


def _plan(tiny, rows: list[tuple[str, str, str]]) -> Plan:
    frame = pd.DataFrame(rows, columns=["tier", "helper", "target"])
    frame["start_year"] = 2012
    frame["pinned"] = False
    return Plan.from_assignments(tiny, frame, {"status": "FEASIBLE"})


def test_plan_diff_is_base_to_self(tiny) -> None:
    people = list(tiny.people.index)
    villages = [c for c, r in tiny.localities.iterrows() if r["level"] == "village"]
    a = _plan(tiny, [("village", people[0], villages[0]), ("village", people[1], villages[1])])
    b = _plan(tiny, [("village", people[0], villages[2]), ("village", people[2], villages[3])])
    d = b.diff(a)
    assert list(d.moved["helper"]) == [people[0]]
    assert list(d.new["helper"]) == [people[2]]
    assert list(d.ended["helper"]) == [people[1]]
    # the other way round, new and ended swap
    r = a.diff(b)
    assert list(r.new["helper"]) == [people[1]] and list(r.ended["helper"]) == [people[2]]
