"""Each registered rule, one satisfying and one violating case, without the solver.

Cases are driven from ``matcher.rules.RULES``: a registered rule without cases fails the suite.
Facts come from instances/tiny (read by the real loader) or are small hand-made frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from matcher import rules
from matcher.candidates import Context, build_tier_frames, context_from_instance, pairs_for
from matcher.instance import read_instance
from matcher.scheme import Filter, Quota, read_scheme

TINY = Path(__file__).resolve().parents[1] / "instances" / "tiny"


@pytest.fixture(scope="module")
def instance() -> Any:
    return read_instance(TINY)


def fresh(instance: Any, **tier_changes: dict[str, Any]) -> Context:
    """A context over tiny, with some tier fields replaced (tier id -> {field: value})."""
    scheme = read_scheme(instance.scheme)
    tiers = tuple(dataclasses.replace(t, **tier_changes.get(t.id, {})) for t in scheme.tiers)
    return context_from_instance(instance, dataclasses.replace(scheme, tiers=tiers))


def links(ctx: Context, tier: str, keys: list[tuple[str, str]]) -> pd.DataFrame:
    return pairs_for(ctx, ctx.scheme.tier(tier), keys)


def elig(name: str, ctx: Context, tier: str, good: tuple[str, str], bad: tuple[str, str]) -> tuple[Any, Any]:
    t = ctx.scheme.tier(tier)
    p = links(ctx, tier, [good, bad])
    assert len(p) == 2
    p["days"] = rules.link_days(p, t, ctx)
    res = rules.RULES[name].function(p, t, ctx)
    return res.iloc[[0]], res.iloc[[1]]


def hard(name: str, ctx_good: Context, ctx_bad: Context, tier: str, good: list, bad: list,
         others: dict[str, list] | None = None) -> tuple[Any, Any]:
    out = []
    for ctx, keys in ((ctx_good, good), (ctx_bad, bad)):
        plan = {tid: links(ctx, tid, ks) for tid, ks in (others or {}).items()}
        plan[tier] = links(ctx, tier, keys) if keys else links(ctx, tier, [("p01", "x")])
        out.append(rules.RULES[name].function(plan[tier], ctx.scheme.tier(tier), ctx, plan))
    return out[0], out[1]


DIV = [("p01", "522728100000"), ("p02", "522728200000"), ("p03", "522728101000"),
       ("p04", "522728100000"), ("p05", "522727200000"), ("p06", "522727100000")]
VILLAGES = ["522727100201", "522727100202", "522727200201", "522727200202", "522727200203", "522728100201",
            "522728100202", "522728100203", "522728101201", "522728101202", "522728200201", "522728200202"]
CLASS1 = ["522727200202", "522728100202", "522728200201"]


def _no_return(inst: Any) -> tuple[Any, Any]:
    ctx = fresh(inst)
    ctx.incumbents = pd.concat([ctx.incumbents, pd.DataFrame(
        [{"tier": "village", "helper": "p10", "target": "522727200202", "start_year": 2008}])], ignore_index=True)
    return elig("no_return", ctx, "village", ("p10", "522727200201"), ("p10", "522727200202"))


def _continuity(inst: Any) -> tuple[Any, Any]:
    ctx = fresh(inst)
    ctx.cache[("frames", "county")] = build_tier_frames(ctx, ctx.scheme.tier("county"))
    return hard("continuity", ctx, ctx, "county", [("D01", "522728000000"), ("D03", "522727000000")],
                [("D02", "522728000000"), ("D03", "522727000000")])


def _cost(name: str, inst: Any, tier: str, good: dict[str, Any], bad: dict[str, Any]) -> tuple[Any, Any]:
    ctx = fresh(inst)
    base = {"skills": (), "unit_function": (), "needs": (), "ethnic_groups": (), "languages": (),
            "unit_strength": 220.0, "poverty_class": 0, "distance_km": 0.0}
    p = pd.DataFrame([{**base, **good}, {**base, **bad}])
    res = rules.RULES[name].function(p, ctx.scheme.tier(tier), ctx)
    return res.iloc[[0]], res.iloc[[1]]


def _balance(inst: Any) -> tuple[Any, Any]:
    ctx = fresh(inst)
    spread = links(ctx, "village", [("p07", "522727100201"), ("p10", "522727100202"), ("p13", "522727200201")])
    piled = links(ctx, "village", [("p07", "522727100201"), ("p08", "522727100202"), ("p09", "522727200201")])
    t = ctx.scheme.tier("village")
    return rules.balance(spread, t, ctx, {}), rules.balance(piled, t, ctx, {})


CASES: dict[str, Callable[[Any], tuple[Any, Any]]] = {
    "stay_in_area": lambda i: elig("stay_in_area", fresh(i), "village", ("p18", "522728100201"), ("p18", "522727100201")),
    "hometown_avoid": lambda i: elig("hometown_avoid", fresh(i), "village", ("p18", "522728100201"), ("p17", "522727100201")),
    "max_distance": lambda i: elig("max_distance", fresh(i, village={"eligibility": dataclasses.replace(
        read_scheme(i.scheme).tier("village").eligibility, max_distance_km=50.0)}), "village",
        ("p20", "522728101202"), ("p07", "522728101202")),
    "rank_by_class": lambda i: elig("rank_by_class", fresh(i), "village", ("p07", "522728100202"), ("p01", "522728100202")),
    "no_return": _no_return,
    "link_budget": lambda i: (elig("link_budget", fresh(i), "township", ("p01", "522728100000"), ("p02", "522728200000"))[0],
                              elig("link_budget", fresh(i, township={"visit_days": 124.5}), "township",
                                   ("p01", "522728100000"), ("p02", "522728200000"))[1]),
    "pinned_incumbents": lambda i: hard("pinned_incumbents", fresh(i), fresh(i), "township", DIV, DIV[1:]),
    "coverage_max": lambda i: hard("coverage_max", fresh(i), fresh(i, county={"coverage_max": 1}), "county",
                                   [("D01", "522728000000"), ("D02", "522728000000")],
                                   [("D01", "522728000000"), ("D02", "522728000000")]),
    "links_per_helper": lambda i: hard("links_per_helper", fresh(i), fresh(i), "township", DIV,
                                       DIV[1:] + [("p02", "522728101000")]),
    "unit_share": lambda i: hard("unit_share", fresh(i), fresh(i, village={"unit_share_max": 0.05}), "village",
                                 [("p18", "522728100201"), ("p19", "522728100203")],
                                 [("p18", "522728100201"), ("p19", "522728100203")]),
    "nesting": lambda i: hard("nesting", fresh(i), fresh(i), "township", [("p01", "522728100000")],
                              [("p01", "522727100000")], others={"county": [("D01", "522728000000")]}),
    "time_budget": lambda i: hard("time_budget", fresh(i), fresh(i, township={"visit_days": 40.0}), "township",
                                  [("p01", "522728100000")], [("p01", "522728100000")]),
    "coverage_min": lambda i: hard("coverage_min", fresh(i), fresh(i), "village",
                                   [(f"p{k:02d}", v) for v in VILLAGES for k in (7, 10 if v in CLASS1 else 7)],
                                   [("p07", v) for v in VILLAGES]),
    "composition": lambda i: hard("composition", fresh(i), fresh(i), "village", [("p07", v) for v in CLASS1],
                                  [("p08", v) for v in CLASS1]),
    "quota": lambda i: hard("quota", *(2 * [fresh(i, village={"coverage": "quota", "quota": (
        Quota(Filter("", (("poverty_class", (1,)),)), 2),)})]), "village",
        [("p07", CLASS1[0]), ("p08", CLASS1[1])], [("p07", CLASS1[0]), ("p08", CLASS1[0])]),
    "continuity": _continuity,
    "match": lambda i: _cost("match", i, "village", {"needs": ("health",), "skills": ("health",)},
                             {"needs": ("health",), "skills": ("transport",)}),
    "strength": lambda i: _cost("strength", i, "county", {"poverty_class": 0, "unit_strength": 10.0},
                                {"poverty_class": 1, "unit_strength": 10.0}),
    "travel": lambda i: _cost("travel", i, "village", {"distance_km": 0.0}, {"distance_km": 100.0}),
    "balance": _balance,
}


def test_every_registered_rule_has_cases() -> None:
    assert set(CASES) == set(rules.RULES), set(rules.RULES) ^ set(CASES)


def test_every_rule_states_its_source() -> None:
    for spec in rules.RULES.values():
        assert spec.text and spec.source, spec.name
        assert spec.kind in ("hard", "soft", "eligibility")


@pytest.mark.parametrize("name", sorted(rules.RULES))
def test_rule_cases(name: str, instance: Any) -> None:
    spec = rules.RULES[name]
    good, bad = CASES[name](instance)
    if spec.kind == "eligibility":
        assert bool(good.all()) and not bool(bad.any()), (good, bad)
    elif name == "balance":
        assert good["amount"].sum() < bad["amount"].sum()
    elif isinstance(good, pd.Series):  # per-pair costs: the good pair costs less
        assert float(good.iloc[0]) == 0.0 and float(bad.iloc[0]) > 0.0, (good, bad)
    else:
        assert good.empty, good.to_dict("records")
        assert len(bad) > 0 and (bad["rule"] == name).all() and bad["message"].str.len().min() > 0
        assert bad["message_zh"].str.len().min() > 0
