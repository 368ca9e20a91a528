"""The independent checker: for every rule, a valid plan passes and a plan broken in one place is caught.

The valid plan is written by hand for instances/tiny (tests/data/tiny-plan/links.csv, reasoned
out from the tiny scheme: nesting, hometowns, areas, class-1 teams), not made by the solver.
"""

from __future__ import annotations

import ast
import copy
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from matcher.check import RULES, check_plan
from matcher.plan import Plan

ROOT = Path(__file__).resolve().parent.parent
LINKS = ROOT / "tests" / "data" / "tiny-plan" / "links.csv"

# tiny's places used below
XINJIAN = "522727100201"     # 新建村委会, 平塘, class 0
XINGLONG = "522727100202"    # 兴隆村委会, 平塘, class 2
XILIANG_V = "522727200201"   # 西凉村委会, 平塘, class 2
XINZHAI = "522727200202"     # 新寨村委会, 平塘, class 1 (two cadres, one section-level)
DATING = "522728100201"      # 大亭村委会, 罗甸
DONGDANG = "522728100202"    # 董当村委会, 罗甸, class 1, incumbent p17
NAPING = "522728100203"      # 纳坪村委会, 罗甸
MAHUAI = "522728101201"      # 麻怀村委会, 罗甸, class 2
BALIN = "522728101202"       # 八吝村委会, 罗甸, class 3
DONGJIA_V = "522728200201"   # 董架村委会, 罗甸, class 1
PINGYAN = "522728200202"     # 平岩村委会, 罗甸
RESIDENTS = "522727100001"   # 平湖社区居委会: a residents' committee, not a village-tier target
BIANWAI = "522728100000"     # 边外镇, incumbent p01
MOYANG = "522728101000"      # 沫阳镇
DONGJIA_T = "522728200000"   # 董架乡 (kind township)
XILIANG_T = "522727200000"   # 西凉乡 (kind township)


def hand_links() -> pd.DataFrame:
    """The hand-made valid plan's links (a fresh copy)."""
    a = pd.read_csv(LINKS, dtype=str, keep_default_na=False)
    a["start_year"] = a["start_year"].astype(int)
    a["pinned"] = a["pinned"] == "true"
    return a


def make_plan(inst, links: pd.DataFrame, uncovered: pd.DataFrame | None = None, **header) -> Plan:
    """A Plan through the solver's public constructor."""
    head = {"status": "OPTIMAL", "gap": 0.0}
    head.update(header)
    return Plan.from_assignments(inst, links, head, uncovered)


def variant(inst, edit: Callable | None):
    """A copy of the instance with an edit applied (the shared fixture stays untouched)."""
    if edit is None:
        return inst
    new = copy.copy(inst)
    new.scheme = copy.deepcopy(inst.scheme)
    new.units = inst.units.copy()
    new.people = inst.people.copy()
    new.incumbents = inst.incumbents.copy()
    edit(new)
    return new


def tier_raw(inst, tid: str) -> dict:
    return next(t for t in inst.scheme["tiers"] if t["id"] == tid)


# --- plan edits ---------------------------------------------------------------------------


def move(helper: str, target: str, tier: str = "village"):
    def edit(a: pd.DataFrame) -> pd.DataFrame:
        m = (a["helper"] == helper) & (a["tier"] == tier)
        assert m.sum() == 1
        a.loc[m, "target"] = target
        return a
    return edit


def add(tier: str, helper: str, target: str, start: int = 2012, pinned: bool = False):
    def edit(a: pd.DataFrame) -> pd.DataFrame:
        row = pd.DataFrame([{"tier": tier, "helper": helper, "target": target, "start_year": start, "pinned": pinned}])
        return pd.concat([a, row], ignore_index=True)
    return edit


def drop(helper: str, tier: str = "village"):
    def edit(a: pd.DataFrame) -> pd.DataFrame:
        return a[~((a["helper"] == helper) & (a["tier"] == tier))].reset_index(drop=True)
    return edit


def setcol(helper: str, column: str, value, tier: str = "village"):
    def edit(a: pd.DataFrame) -> pd.DataFrame:
        m = (a["helper"] == helper) & (a["tier"] == tier)
        assert m.sum() == 1
        a.loc[m, column] = value
        return a
    return edit


def chain(*edits):
    def edit(a: pd.DataFrame) -> pd.DataFrame:
        for e in edits:
            a = e(a)
        return a
    return edit


def swap(h1: str, h2: str, tier: str = "village"):
    def edit(a: pd.DataFrame) -> pd.DataFrame:
        m1 = (a["helper"] == h1) & (a["tier"] == tier)
        m2 = (a["helper"] == h2) & (a["tier"] == tier)
        t1, t2 = a.loc[m1, "target"].item(), a.loc[m2, "target"].item()
        a.loc[m1, "target"], a.loc[m2, "target"] = t2, t1
        return a
    return edit


# --- instance edits -----------------------------------------------------------------------


def headcount(unit: str, n: int):
    def edit(inst) -> None:
        inst.units.loc[unit, "headcount"] = n
    return edit


def quota_townships(inst) -> None:
    t = tier_raw(inst, "township")
    t["coverage"] = "quota"
    t["quota"] = [{"where": {"kind": ["township"]}, "min": 2}]


def staff_only_in_class2(inst) -> None:
    elig = tier_raw(inst, "village").setdefault("eligibility", {})
    elig.setdefault("rank_by_class", []).append({"where": {"poverty_class": [2]}, "rank": ["staff"]})


def ended_incumbent(inst) -> None:
    row = pd.DataFrame([{"tier": "village", "helper": "p22", "target": XINGLONG, "start_year": 2008}])
    row["start_year"] = row["start_year"].astype(inst.incumbents["start_year"].dtype)
    inst.incumbents = pd.concat([inst.incumbents, row], ignore_index=True)


def division_min_days(n: float):
    def edit(inst) -> None:
        inst.scheme["budget"]["division"]["min_days"] = n
    return edit


def household_tier(inst) -> None:
    """A tier over targets.csv nested in a people tier: an official helps a household or firm in his township."""
    inst.scheme["tiers"].append({
        "id": "household", "name": "处长帮户", "name_en": "officials help a household or firm",
        "helpers": {"table": "people", "rank": ["division"]},
        "targets": {"table": "targets", "kind": ["household", "enterprise"]},
        "coverage": "full", "coverage_min": 1, "coverage_max": 1, "links_min": 0, "links_max": 1,
        "nest_in": "township",
    })


def forbid(*pairs: tuple[str, str], tier: str = "village"):
    """The scheme forbids these (helper, target) pairs in a tier (scheme key tiers[].forbidden)."""
    def edit(inst) -> None:
        tier_raw(inst, tier).setdefault("forbidden", []).extend([list(p) for p in pairs])
    return edit


HOUSEHOLD_LINKS = chain(add("household", "p01", "T03"),   # T03 lies in 董当村, in p01's township 边外镇
                        add("household", "p02", "T01"),   # T01 lies in 沫阳镇, p02's township
                        add("household", "p06", "T02"))   # T02 lies in 西凉乡, p06's township


def _km(lon1, lat1, lon2, lat2) -> float:
    """The test's own great-circle distance (spherical law of cosines), independent of the checker's."""
    r = 6371.0088
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return r * math.acos(max(-1.0, min(1.0, c)))


def village_distances(inst) -> dict[tuple[str, str], float]:
    """Distances of the hand plan's village links, from the CSV positions (seat -> village)."""
    loc = inst.localities
    a = hand_links()
    a = a[a["tier"] == "village"]
    out = {}
    for h, t in zip(a["helper"], a["target"]):
        seat = inst.units.at[inst.people.at[h, "unit"], "locality"]
        out[(h, t)] = _km(loc.at[seat, "lon"], loc.at[seat, "lat"], loc.at[t, "lon"], loc.at[t, "lat"])
    return out


def max_distance(delta: float):
    def edit(inst) -> None:
        far = max(village_distances(inst).values())
        tier_raw(inst, "village")["eligibility"]["max_distance_km"] = far + delta
    return edit


# --- the cases ----------------------------------------------------------------------------


@dataclass
class Case:
    """One rule broken in one place: (rule, tier, helper, target) must be reported."""

    name: str
    rule: str
    expect: tuple[str, str, str]
    break_plan: Callable | None = None
    valid_instance: Callable | None = None      # the instance the valid plan passes on
    broken_instance: Callable | None = None     # default: the same as valid_instance
    uncovered: list[dict] = field(default_factory=list)
    header: dict = field(default_factory=dict)
    kind: str = "error"
    valid_plan: Callable | None = None          # an edit of the hand plan that makes it valid on valid_instance


CASES = [
    Case("plan year", "plan_year", ("", "", ""), header={"plan_year": 2013}),
    Case("unknown tier", "known_tier", ("bogus", "p22", XINJIAN), add("bogus", "p22", XINJIAN)),
    Case("division official stationed in a village", "helper_pool", ("village", "p01", XINJIAN),
         add("village", "p01", XINJIAN)),
    Case("unknown helper", "helper_pool", ("village", "nobody", XINJIAN), add("village", "nobody", XINJIAN)),
    Case("residents' committee is no village", "target_set", ("village", "p22", RESIDENTS), move("p22", RESIDENTS)),
    Case("same link twice", "duplicate", ("village", "p22", XINJIAN), add("village", "p22", XINJIAN)),
    Case("village left without staff", "coverage", ("village", "", XINJIAN), move("p22", XINGLONG)),
    Case("class-1 village with one cadre", "coverage", ("village", "", XINZHAI), move("p21", XINGLONG)),
    Case("declared shortfall", "coverage", ("village", "", XINJIAN), move("p22", XINGLONG),
         uncovered=[{"tier": "village", "target": XINJIAN, "required": 1, "assigned": 0, "short": 1,
                     "reason": "test: declared"}], kind="declared shortfall"),
    Case("five cadres in one village", "coverage_max", ("village", "", DONGJIA_V),
         chain(move("p14", DONGJIA_V), move("p16", DONGJIA_V), move("p20", DONGJIA_V))),
    Case("class-1 team without a section-level cadre", "composition", ("village", "", XINZHAI), swap("p21", "p22")),
    Case("quota of townships (乡) not met", "quota", ("township", "", ""), move("p03", MOYANG, "township"),
         valid_instance=quota_townships),
    Case("quota shortfall declared as quota[1]", "quota", ("township", "", ""), move("p03", MOYANG, "township"),
         valid_instance=quota_townships, kind="declared shortfall",
         uncovered=[{"tier": "township", "target": "quota[1]", "required": 1, "assigned": 0, "short": 1,
                     "reason": "quota {'kind': ['township']}: 1 covered, 2 required"}]),
    Case("quota row with a wrong count", "uncovered_list", ("township", "", "quota[1]"),
         move("p03", MOYANG, "township"), valid_instance=quota_townships,
         uncovered=[{"tier": "township", "target": "quota[1]", "required": 3, "assigned": 0, "short": 3,
                     "reason": "test: wrong"}]),
    Case("staff member without a village", "links_min", ("village", "p22", ""), drop("p22")),
    Case("staff member in two villages", "links_max", ("village", "p22", ""), add("village", "p22", XINGLONG)),
    Case("county bureau over a third of headcount", "unit_share", ("village", "C01", ""),
         valid_instance=headcount("C01", 12), broken_instance=headcount("C01", 11)),
    Case("official over his days", "budget", ("", "p04", ""), add("township", "p04", DONGJIA_T)),
    Case("official under his days", "budget", ("", "p05", ""), valid_instance=division_min_days(83),
         broken_instance=division_min_days(95)),
    Case("household outside the official's township", "nesting", ("household", "p02", "T03"),
         lambda a: swap("p01", "p02", "household")(a), valid_instance=household_tier, valid_plan=HOUSEHOLD_LINKS),
    Case("household helped twice", "coverage_max", ("household", "", "T03"), add("household", "p05", "T03"),
         valid_instance=household_tier, valid_plan=HOUSEHOLD_LINKS),
    Case("household tier link to a village", "target_set", ("household", "p03", DONGJIA_V),
         add("household", "p03", DONGJIA_V), valid_instance=household_tier, valid_plan=HOUSEHOLD_LINKS),
    Case("official outside his department's county", "nesting", ("township", "p06", MOYANG),
         move("p06", MOYANG, "township")),
    Case("county staff outside their county", "stay_in_area", ("village", "p22", DATING), move("p22", DATING)),
    Case("posted to the home county", "hometown_avoid", ("village", "p08", NAPING), move("p08", NAPING)),
    Case("too far from the unit", "max_distance", None, valid_instance=max_distance(+0.5),  # type: ignore[arg-type]
         broken_instance=max_distance(-0.5)),
    Case("section chief in a staff-only village", "rank_by_class", ("village", "p10", MAHUAI), swap("p10", "p11"),
         valid_instance=staff_only_in_class2),
    Case("incumbent dropped", "incumbent_kept", ("village", "p17", DONGDANG),
         chain(move("p17", PINGYAN), setcol("p17", "pinned", False), setcol("p17", "start_year", 2012))),
    Case("incumbent with a new start year", "incumbent_kept", ("township", "p01", BIANWAI),
         setcol("p01", "start_year", 2012, "township")),
    Case("new link marked pinned", "pinned", ("village", "p22", XINJIAN), setcol("p22", "pinned", True)),
    Case("new link starting before the plan year", "start_year", ("village", "p22", XINJIAN),
         setcol("p22", "start_year", 2011)),
    Case("back to the village of an ended term", "no_return", ("village", "p22", XINGLONG), swap("p22", "p23"),
         valid_instance=ended_incumbent),
    Case("a link the scheme forbids", "forbidden", ("village", "p22", XINJIAN),
         valid_instance=forbid(("p22", XINGLONG)), broken_instance=forbid(("p22", XINGLONG), ("p22", XINJIAN))),
    Case("uncovered.csv lists a covered village", "uncovered_list", ("village", "", XINJIAN),
         uncovered=[{"tier": "village", "target": XINJIAN, "required": 1, "assigned": 0, "short": 1,
                     "reason": "test: false"}]),
    Case("uncovered.csv lists a covered village with consistent counts", "uncovered_list", ("village", "", XINJIAN),
         uncovered=[{"tier": "village", "target": XINJIAN, "required": 2, "assigned": 1, "short": 1,
                     "reason": "test: false"}]),
    Case("composition shortfall declared", "composition", ("village", "", XINZHAI), swap("p21", "p22"),
         uncovered=[{"tier": "village", "target": XINZHAI, "required": 3, "assigned": 2, "short": 1,
                     "reason": "no section-level cadre left"}], kind="declared shortfall"),
    Case("distance_km misreported", "distance", ("village", "p22", XINJIAN), setcol("p22", "distance_km", 999.0)),
    Case("objective travel that is not the links' sum", "objective_figures", ("", "", ""),
         lambda a: a.assign(cost_travel=1.5), header={"objective": {"travel": 30.0}}, kind="warning"),
    Case("plan of another instance version", "instance_hash", ("", "", ""),
         header={"instance": {"path": "instances/tiny", "sha256": "0" * 64}}, kind="warning"),
]


def test_every_rule_has_a_case() -> None:
    """No rule of the registry goes untested."""
    assert set(RULES) <= {c.rule for c in CASES}


def _expected(case: Case, inst) -> tuple[str, str, str]:
    if case.expect is not None:
        return case.expect
    # max_distance: the farthest link of the hand plan, by the test's own distance
    d = village_distances(inst)
    helper, target = max(d, key=d.get)
    return ("village", helper, target)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule(tiny, case: Case) -> None:
    valid_inst = variant(tiny, case.valid_instance)
    base = hand_links() if case.valid_plan is None else case.valid_plan(hand_links())
    valid = check_plan(valid_inst, make_plan(valid_inst, base))
    assert valid.ok, str(valid)
    assert len(valid.violations) == 0, str(valid)

    broken_inst = variant(tiny, case.broken_instance or case.valid_instance)
    links = base.copy()
    if case.break_plan is not None:
        links = case.break_plan(links)
    unc = pd.DataFrame(case.uncovered) if case.uncovered else None
    header = {"status": "OPTIMAL", "gap": 0.0, **case.header}
    plan = Plan.from_assignments(broken_inst, links, header, unc)
    report = check_plan(broken_inst, plan)
    tier, helper, target = _expected(case, broken_inst)
    v = report.violations
    hit = v[(v["rule"] == case.rule) & (v["tier"] == tier) & (v["helper"] == helper) & (v["target"] == target)]
    assert len(hit) >= 1, f"expected {case.rule} {tier}/{helper}/{target}, got:\n{report}"
    assert set(hit["kind"]) == {case.kind}
    # an error fails the plan; a declared shortfall or a warning alone does not
    assert report.ok == (case.kind != "error"), str(report)
    assert hit["detail"].str.len().min() > 10 and hit["detail_zh"].str.len().min() > 5
    if helper in tiny.people.index:
        assert set(hit["helper_name"]) == {tiny.people.at[helper, "name"]}
    if target in tiny.localities.index:
        assert set(hit["target_name"]) == {tiny.localities.at[target, "name"]}


def test_max_distance_flags_only_links_over_the_limit(tiny) -> None:
    inst = variant(tiny, max_distance(-0.5))
    report = check_plan(inst, make_plan(inst, hand_links()))
    d = village_distances(inst)
    limit = max(d.values()) - 0.5
    want = {("village", h, t) for (h, t), km in d.items() if km > limit}
    v = report.violations
    got = set(zip(v["tier"], v["helper"], v["target"]))
    assert got == want


def test_declared_shortfall_passes_but_is_printed(tiny) -> None:
    links = move("p22", XINGLONG)(hand_links())
    unc = pd.DataFrame([{"tier": "village", "target": XINJIAN, "required": 1, "assigned": 0, "short": 1,
                         "reason": "no eligible helper"}])
    report = check_plan(tiny, make_plan(tiny, links, unc))
    assert report.ok
    assert len(report.declared) == 1
    assert "1 declared shortfall" in str(report)


def test_pinned_incumbents_are_exempt_from_filters(tiny) -> None:
    """An in-force incumbent whose helper no longer passes the pool filter stays valid (it is pinned)."""
    inst = variant(tiny, lambda i: tier_raw(i, "village")["helpers"].update({"rank": ["section"]}))
    report = check_plan(inst, make_plan(inst, hand_links()))
    pool = report.violations[report.violations["rule"] == "helper_pool"]
    assert "p12" not in set(pool["helper"])          # p12 is staff, pinned since 2010
    assert {"p08", "p09", "p22"} <= set(pool["helper"])  # staff with new links are caught


def test_forbidden_spares_pinned_incumbents_and_flags_bad_entries(tiny) -> None:
    """Forbidding an in-force incumbent's pair does not break the pinned link; an entry that is no pair is a scheme problem."""
    inst = variant(tiny, forbid(("p17", DONGDANG), ("p22",)))  # type: ignore[arg-type]
    report = check_plan(inst, make_plan(inst, hand_links()))
    v = report.violations
    assert not (v["rule"] == "forbidden").any(), str(report)  # p17 -> 董当 is pinned since 2011
    assert ((v["rule"] == "scheme") & v["detail"].str.contains("forbidden")).any(), str(report)


def test_unknown_filter_column_is_reported_not_raised(tiny) -> None:
    inst = variant(tiny, lambda i: tier_raw(i, "county")["targets"].update({"colour": ["red"]}))
    report = check_plan(inst, make_plan(inst, hand_links()))
    assert (report.violations["rule"] == "scheme").any()
    assert "colour" in " ".join(report.violations["detail"])
    assert not report.ok


def test_report_text_in_both_languages(tiny) -> None:
    report = check_plan(tiny, make_plan(tiny, drop("p22")(hand_links())))
    en, zh = report.text("en"), report.text("zh")
    assert en.startswith("FAILED:") and "links_min" in en
    assert zh.startswith("未通过") and "结对" in zh


def test_checker_imports_nothing_of_the_model() -> None:
    """check.py shares no code with the model builder: no import of scheme, rules, candidates, model, solve."""
    forbidden = {"matcher.scheme", "matcher.rules", "matcher.candidates", "matcher.model", "matcher.solver",
                 "matcher.province"}
    src = (ROOT / "src" / "matcher" / "check.py").read_text(encoding="utf-8")
    names: set[str] = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            names.add(mod)
            names |= {f"{mod}.{a.name}" for a in node.names}
    bad = {n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden)}
    assert not bad, bad
    # and at run time: importing the checker (and running it through the CLI module) loads none of them
    code = ("import sys, matcher.check, matcher.kpi, matcher.plan; "
            "print(','.join(sorted(m for m in sys.modules if m.startswith('matcher.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.strip().split(","))
    assert not (loaded & forbidden), loaded & forbidden


def test_cli_check_exit_codes(tiny, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from matcher.cli import app

    good = make_plan(tiny, hand_links()).save(tmp_path / "good")
    bad = make_plan(tiny, add("village", "p22", XINGLONG)(hand_links())).save(tmp_path / "bad")
    runner = CliRunner()
    r = runner.invoke(app, ["check", str(tiny.path), str(good)])
    assert r.exit_code == 0, r.output
    assert "OK: 0 violations, 26 links checked" in r.output
    r = runner.invoke(app, ["check", str(tiny.path), str(bad), "--lang", "zh"])
    assert r.exit_code == 1, r.output
    assert "links_max" in r.output and "未通过" in r.output
    r = runner.invoke(app, ["check", str(tmp_path), str(good)])  # a folder that is no instance
    assert r.exit_code == 2 and "Traceback" not in r.output
    (bad / "plan.json").write_text("{", encoding="utf-8")
    r = runner.invoke(app, ["check", str(tiny.path), str(bad)])
    assert r.exit_code == 2
    assert "plan.json" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("name", ["tiny", "tiny-xlsx"])
def test_the_solvers_plan_passes_the_independent_checker(name: str) -> None:
    """Two independent readings of the scheme agree: the real solver's plan has no violation."""
    from matcher.instance import read_instance
    from matcher.solver import solve

    inst = read_instance(ROOT / "instances" / name)
    plan = solve(inst, time_limit=20, seed=0, workers=1)
    report = check_plan(inst, plan)
    assert report.ok and len(report.errors) == 0 and len(report.declared) == 0, str(report)
    # no warning either: the plan's objective figures are its links' costs (the model rounds no cost of its own)
    assert len(report.warnings) == 0, str(report)
    assert report.links_checked == len(plan.assignments) > 0
    a = plan.assignments
    for term in ("match", "strength", "travel"):
        assert plan.objective[term] == pytest.approx(float(a[f"cost_{term}"].sum()), abs=1e-6), term


def test_objective_figures_weigh_the_links_as_the_scheme_does(tiny) -> None:
    """A priority is its weighted sum: with travel weighing 2, plan.json's travel is twice the links' cost_travel."""
    links = hand_links().assign(cost_travel=1.5)
    total = 1.5 * len(links)

    def travel_weight(w: float) -> Callable:
        return lambda inst: inst.scheme.setdefault("objective", {}).setdefault("weights", {}).update(travel=w)

    doubled = variant(tiny, travel_weight(2.0))
    ok = check_plan(doubled, make_plan(doubled, links, objective={"travel": 2 * total}))
    assert len(ok.warnings) == 0, str(ok)
    plain = variant(tiny, travel_weight(1.0))
    off = check_plan(plain, make_plan(plain, links, objective={"travel": 2 * total}))
    assert list(off.warnings["rule"]) == ["objective_figures"], str(off)


# --- a property: one random move of a stationed cadre, judged by a small oracle of the test's own ---

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LOC = pd.read_csv(ROOT / "instances" / "tiny" / "localities.csv", dtype=str, keep_default_na=False).set_index("code")
_PEOPLE = pd.read_csv(ROOT / "instances" / "tiny" / "people.csv", dtype=str, keep_default_na=False).set_index("id")
_UNITS = pd.read_csv(ROOT / "instances" / "tiny" / "units.csv", dtype=str, keep_default_na=False).set_index("id")
_VILLAGES = sorted(_LOC.index[(_LOC["level"] == "village") & (_LOC["kind"] == "village_committee")])
_MOVABLE = sorted(hand_links().query("tier == 'village' and not pinned")["helper"])


def _up(code: str, level: str) -> str | None:
    while code:
        if _LOC.at[code, "level"] == level:
            return code
        code = _LOC.at[code, "parent"]
    return None


def _oracle_move_ok(helper: str, target: str) -> bool:
    """The tiny scheme's village rules for one moved cadre, written out plainly for this test."""
    links = hand_links()
    village = links[links["tier"] == "village"]
    old = village.loc[village["helper"] == helper, "target"].item()
    if old == target:
        return True
    team_old = [h for h in village.loc[village["target"] == old, "helper"] if h != helper]
    team_new = list(village.loc[village["target"] == target, "helper"]) + [helper]
    poor = _LOC.at[old, "poverty_class"] == "1"
    if len(team_old) < (2 if poor else 1):
        return False
    if poor and not any(_PEOPLE.at[h, "rank"] == "section" for h in team_old):
        return False
    if len(team_new) > 4:
        return False
    unit = _PEOPLE.at[helper, "unit"]
    level, seat = _UNITS.at[unit, "level"], _UNITS.at[unit, "locality"]
    if level in ("county", "prefecture") and _up(seat, level) != _up(target, level):
        return False
    home = _PEOPLE.at[helper, "hometown"]
    if home and _up(home, "county") is not None and _up(home, "county") == _up(target, "county"):
        return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(helper=st.sampled_from(_MOVABLE), target=st.sampled_from(_VILLAGES))
def test_random_move_agrees_with_a_plain_oracle(tiny, helper: str, target: str) -> None:
    report = check_plan(tiny, make_plan(tiny, move(helper, target)(hand_links())))
    assert report.ok == _oracle_move_ok(helper, target), str(report)


# --- the real Guizhou instance: the builder's 2012 links (an independent construction) ---------


def _guizhou_2012_links() -> pd.DataFrame:
    """The 2012 links the instance builder constructed (shipped as guizhou-2015's ended incumbents)."""
    a = pd.read_csv(ROOT / "instances" / "guizhou-2015" / "incumbents.csv", dtype=str, keep_default_na=False)
    return a.assign(start_year=2012, pinned=False)


@pytest.mark.slow
def test_guizhou_2012_links_pass_and_one_cadre_out_of_county_is_caught() -> None:
    from matcher.instance import read_instance

    inst = read_instance(ROOT / "instances" / "guizhou")
    links = _guizhou_2012_links()
    report = check_plan(inst, Plan.from_assignments(inst, links, {}))
    assert report.ok and len(report.violations) == 0, report.text(limit=20)
    assert report.links_checked == len(links) > 25_000
    # a county bureau's staff member moved to a village of another county
    unit_level = inst.people["unit"].map(inst.units["level"])
    county_staff = set(inst.people.index[unit_level == "county"])
    village = links[(links["tier"] == "village") & links["helper"].isin(county_staff)]
    i = village.index[0]
    helper, home_village = links.at[i, "helper"], links.at[i, "target"]
    county = inst.localities.at[home_village, "county"]
    other = inst.localities[(inst.localities["level"] == "village") & (inst.localities["county"] != county)
                            & (inst.localities["kind"] == "village_committee")].index[0]
    links.at[i, "target"] = other
    report = check_plan(inst, Plan.from_assignments(inst, links, {}))
    v = report.violations
    assert ((v["rule"] == "stay_in_area") & (v["helper"] == helper) & (v["target"] == other)).sum() == 1


@pytest.mark.slow
def test_guizhou_2015_nobody_returns_to_the_place_of_the_ended_term() -> None:
    from matcher.instance import read_instance

    inst = read_instance(ROOT / "instances" / "guizhou-2015")
    links = _guizhou_2012_links().assign(start_year=2015)
    report = check_plan(inst, Plan.from_assignments(inst, links, {}))
    v = report.violations
    no_return = v[v["rule"] == "no_return"]
    listed = set(inst.scheme["terms"]["no_return"])
    want = links[links["tier"].isin(listed)]
    assert set(zip(no_return["tier"], no_return["helper"], no_return["target"])) == set(
        zip(want["tier"], want["helper"], want["target"]))


@pytest.mark.parametrize("name", list(RULES))
def test_every_rule_states_itself_and_its_source(name: str) -> None:
    """One rule, one function: first docstring line the rule, then its source in the program."""
    lines = [line.strip() for line in (RULES[name].__doc__ or "").strip().splitlines()]
    assert len(lines) >= 3 and lines[0].endswith(")") or lines[0].endswith(".")
    assert lines[2].startswith("Source: ") and len(lines[2]) > 20


def test_html_view_escapes_names(tiny) -> None:
    """In Jupyter the report is a table; a hostile id stays text."""
    report = check_plan(tiny, make_plan(tiny, add("village", "<img src=x onerror=alert(1)>", XINJIAN)(hand_links())))
    page = report._repr_html_()
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.startswith("<p><b>FAILED:")
