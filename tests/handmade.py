"""The hand-written tiny plan used by the map, briefing and export tests (every coverage status occurs in it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from matcher.plan import Plan

HAND = Path(__file__).resolve().parent / "data" / "tiny-plan-for-maps"


def hand_plan(instance):
    """The hand-written tiny plan (every coverage status occurs in it) as a Plan."""
    a = pd.read_csv(HAND / "assignments.csv", dtype=str, keep_default_na=False)
    a["start_year"] = a["start_year"].astype(int)
    a["pinned"] = a["pinned"] == "true"
    u = pd.read_csv(HAND / "uncovered.csv", dtype={"tier": str, "target": str, "reason": str})
    return Plan.from_assignments(instance, a, uncovered=u)
