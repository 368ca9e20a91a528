"""The Plan: construction from the solver's links, deterministic save, load, damaged folders, KPIs, summary."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pandas as pd
import pytest

import matcher.plan as plan_module
from matcher.check import check_plan
from matcher.errors import PlanError
from matcher.plan import ASSIGNMENT_COLUMNS, UNCOVERED_COLUMNS, Plan

ROOT = Path(__file__).resolve().parent.parent
LINKS = ROOT / "tests" / "data" / "tiny-plan" / "links.csv"
FILES = ["assignments.csv", "uncovered.csv", "summary.txt", "summary.zh.txt", "check.txt", "plan.json"]


def hand_links() -> pd.DataFrame:
    a = pd.read_csv(LINKS, dtype=str, keep_default_na=False)
    a["start_year"] = a["start_year"].astype(int)
    a["pinned"] = a["pinned"] == "true"
    return a


def make(inst, links: pd.DataFrame | None = None, **header) -> Plan:
    head = {"status": "FEASIBLE", "gap": 0.0123, "objective": {"coverage": 0, "travel": 12.5},
            "bound": {"coverage": 0, "travel": 12.0}, "tiers": {}}
    head.update(header)
    return Plan.from_assignments(inst, hand_links() if links is None else links, head)


def saved(inst, folder: Path, links: pd.DataFrame | None = None) -> Path:
    p = make(inst, links).attach(inst)
    return p.save(folder, check=check_plan(inst, p))


def _km(lon1, lat1, lon2, lat2) -> float:
    r = 6371.0088
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    return r * math.acos(max(-1.0, min(1.0, math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl))))


# --- construction -------------------------------------------------------------------------


def test_from_assignments_fills_defaults_and_distance(tiny) -> None:
    links = hand_links()[["tier", "helper", "target"]]  # the bare minimum
    p = Plan.from_assignments(tiny, links, {})
    a = p.assignments
    assert list(a.columns) == ASSIGNMENT_COLUMNS
    assert (a["start_year"] == 2012).all() and not a["pinned"].any()
    assert (a[["cost_match", "cost_strength", "cost_travel"]] == 0).all().all()
    loc, units = tiny.localities, tiny.units
    row = a[(a["tier"] == "county") & (a["helper"] == "D03")].iloc[0]
    seat = units.at["D03", "locality"]
    # the county has no lon/lat in localities.csv: its position is the mean of its children (instance.positions)
    pos = tiny.positions
    want = _km(loc.at[seat, "lon"], loc.at[seat, "lat"], pos.at[row["target"], "lon"], pos.at[row["target"], "lat"])
    assert row["distance_km"] == pytest.approx(want, abs=0.05)
    h = p.header
    assert h["format"] == "matcher-plan/1" and h["plan_year"] == 2012
    assert h["instance"]["path"] == str(tiny.path) and len(h["instance"]["sha256"]) == 64
    assert h["program"]["name"].startswith("贵州省")


def test_from_assignments_sorts_by_scheme_tier_order(tiny) -> None:
    shuffled = hand_links().sample(frac=1.0, random_state=7).reset_index(drop=True)
    a = Plan.from_assignments(tiny, shuffled, {}).assignments
    tiers = [t["id"] for t in tiny.scheme["tiers"]]
    assert list(dict.fromkeys(a["tier"])) == tiers  # county, township, village: scheme order, not alphabetical
    for t in tiers:
        sub = a[a["tier"] == t]
        assert list(zip(sub["target"], sub["helper"])) == sorted(zip(sub["target"], sub["helper"]))


def test_from_assignments_refuses_links_without_ids(tiny) -> None:
    with pytest.raises(PlanError, match="helper"):
        Plan.from_assignments(tiny, hand_links().drop(columns="helper"), {})
    bad = hand_links()
    bad["pinned"] = bad["pinned"].astype(object)
    bad.loc[3, "pinned"] = "maybe"
    with pytest.raises(PlanError, match="pinned"):
        Plan.from_assignments(tiny, bad, {})


def test_header_properties_and_tier(tiny) -> None:
    p = make(tiny)
    assert p.status == "FEASIBLE" and p.gap == pytest.approx(0.0123)
    assert p.objective["travel"] == 12.5 and p.bound["travel"] == 12.0
    village = p.tier("village")
    assert len(village) == 17 and set(village["tier"]) == {"village"}
    assert p.tiers == ["county", "township", "village"]
    with pytest.raises(PlanError, match="no tier 'hamlet'.*county, township, village"):
        p.tier("hamlet")


# --- files --------------------------------------------------------------------------------


def test_save_load_round_trip_is_byte_identical(tiny, tmp_path: Path) -> None:
    first = saved(tiny, tmp_path / "a")
    assert sorted(f.name for f in first.iterdir()) == sorted(FILES)
    loaded = Plan.load(first)
    second = loaded.save(tmp_path / "b")
    for name in FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    pd.testing.assert_frame_equal(loaded.assignments, make(tiny).assignments, check_dtype=False)
    assert loaded.header == json.loads((first / "plan.json").read_text(encoding="utf-8"))


def test_save_is_deterministic_whatever_the_row_order(tiny, tmp_path: Path) -> None:
    a = saved(tiny, tmp_path / "a")
    b = saved(tiny, tmp_path / "b", hand_links().sample(frac=1.0, random_state=3).reset_index(drop=True))
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_saved_format(tiny, tmp_path: Path) -> None:
    folder = saved(tiny, tmp_path / "p")
    text = (folder / "assignments.csv").read_text(encoding="utf-8")
    assert "\r" not in text
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ASSIGNMENT_COLUMNS
    assert {r[4] for r in rows[1:]} == {"true", "false"}
    assert all(len(r[5].split(".")[1]) == 1 for r in rows[1:])  # distance_km with one decimal
    assert (folder / "uncovered.csv").read_text(encoding="utf-8") == ",".join(UNCOVERED_COLUMNS) + "\n"
    raw = (folder / "plan.json").read_text(encoding="utf-8")
    head = json.loads(raw)
    assert raw == json.dumps(head, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert head["check"]["violations"] == 0 and head["kpis"]["tiers"]["village"]["covered"] == 12
    assert (folder / "check.txt").read_text(encoding="utf-8").startswith("OK: 0 violations, 26 links checked")
    assert "状态" in (folder / "summary.zh.txt").read_text(encoding="utf-8")
    assert "2012" in (folder / "summary.txt").read_text(encoding="utf-8")


def test_interrupted_save_leaves_no_plan_json(tiny, tmp_path: Path, monkeypatch) -> None:
    """plan.json is written last: a save that dies half-way leaves a folder Plan.load refuses."""
    folder = saved(tiny, tmp_path / "p")
    real = plan_module.atomic_write_text

    def failing(target, text):
        if Path(target).name == "uncovered.csv":
            raise OSError("disk full")
        real(target, text)

    monkeypatch.setattr(plan_module, "atomic_write_text", failing)
    with pytest.raises(OSError):
        make(tiny).save(folder)
    monkeypatch.undo()
    with pytest.raises(PlanError, match="plan.json: missing"):
        Plan.load(folder)
    assert not [f for f in folder.iterdir() if f.name.endswith(".tmp")]


def _damage(folder: Path, name: str, edit) -> None:
    path = folder / name
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


DAMAGES = [
    ("no folder", None, r"no such plan folder"),
    ("plan.json missing", lambda f: (f / "plan.json").unlink(), r"plan.json: missing"),
    ("plan.json not JSON", lambda f: _damage(f, "plan.json", lambda t: t[:40]), r"plan.json: not valid JSON.*line"),
    ("plan.json of another format", lambda f: _damage(f, "plan.json", lambda t: t.replace("matcher-plan/1", "matcher-plan/9")),
     r"format 'matcher-plan/9', expected 'matcher-plan/1'"),
    ("plan.json instance not an object", lambda f: _damage(f, "plan.json", lambda t: t.replace(
        '"instance": {', '"instance": "x", "was": {', 1)), r"column 'instance': expected an object, found \"x\""),
    ("plan.json gap as text", lambda f: _damage(f, "plan.json", lambda t: t.replace('"gap": 0.0123', '"gap": "small"')),
     r"column 'gap': expected an integer or a number"),
    ("plan.json a list", lambda f: (f / "plan.json").write_text("[1, 2]", encoding="utf-8"), r"expected a JSON object"),
    ("assignments.csv missing", lambda f: (f / "assignments.csv").unlink(), r"assignments.csv: missing"),
    ("column missing", lambda f: _damage(f, "assignments.csv", lambda t: t.replace(",pinned,", ",pin,", 1)),
     r"assignments.csv, row 1: missing column\(s\) pinned"),
    ("bad pinned", lambda f: _damage(f, "assignments.csv", lambda t: t.replace(",true,", ",yes,", 1)),
     r"assignments.csv, row 3, column 'pinned': expected true or false, found 'yes'"),
    ("bad start_year", lambda f: _damage(f, "assignments.csv", lambda t: t.replace(",2012,", ",MMXII,", 1)),
     r"column 'start_year': expected a year"),
    ("bad distance", lambda f: _damage(f, "assignments.csv", lambda t: t.replace(",103.0,", ",far,", 1)),
     r"column 'distance_km': expected a number, found 'far'"),
    ("ragged row", lambda f: _damage(f, "assignments.csv", lambda t: t + "village,p99\n"),
     r"assignments.csv, row 28: 2 cells, expected 9"),
    ("empty id", lambda f: _damage(f, "assignments.csv", lambda t: t.replace("county,D03,", "county,,", 1)),
     r"row 2, column 'helper': expected an id"),
    ("uncovered.csv missing", lambda f: (f / "uncovered.csv").unlink(), r"uncovered.csv: missing"),
    ("uncovered.csv bad count", lambda f: _damage(f, "uncovered.csv", lambda t: t + "village,522727100201,1,0,one,x\n"),
     r"uncovered.csv, row 2, column 'short': expected an integer"),
    ("binary junk", lambda f: (f / "plan.json").write_bytes(b"\xff\xfe\x00junk"), r"plan.json: not"),
]


@pytest.mark.parametrize("name,damage,message", DAMAGES, ids=[d[0] for d in DAMAGES])
def test_damaged_folder_gives_plan_error(tiny, tmp_path: Path, name, damage, message) -> None:
    folder = saved(tiny, tmp_path / "p")
    if damage is None:
        folder = tmp_path / "nowhere"
    else:
        damage(folder)
    with pytest.raises(PlanError, match=message):
        Plan.load(folder)


# --- figures ------------------------------------------------------------------------------


def test_kpis_on_the_hand_plan(tiny) -> None:
    p = make(tiny)
    k = p.kpis(tiny)
    loc = pd.read_csv(tiny.path / "localities.csv", dtype=str, keep_default_na=False)
    villages = loc[(loc["level"] == "village") & (loc["kind"] == "village_committee")]
    village = k["tiers"]["village"]
    assert village["targets"] == len(villages) == village["covered"]
    assert village["links"] == 17 and village["helpers"] == 17
    assert village["helpers_required"] == len(villages) + int((villages["poverty_class"] == "1").sum())
    assert village["by_poverty_class"]["1"] == {"targets": 3, "covered": 3, "helpers": 6, "required": 6}
    assert village["by_level"]["village"]["helpers"] == 17
    assert k["tiers"]["county"]["targets"] == 2 and k["tiers"]["township"]["targets"] == 5
    assert k["class1_teams"]["village"] == {"targets": 3, "complete": 3}
    # time budgets: only the six division officials have budgeted days (84 visit days + travel)
    d = k["days_per_person"]
    assert d["n"] == 6 and 84 < d["min"] <= d["mean"] <= d["max"] <= 125
    # the unit with the most linked people: D01 (p01, p02, p07, p08, p09 -> 5 of 180) or C01 (4 of 25)
    assert k["units"]["share"]["max"] == pytest.approx(4 / 25, abs=1e-4)
    assert k["units"]["per_unit"]["D01"]["links"] == 6  # its county link and five people's links
    m = k["match"]
    assert 0 < m["matched"] < m["links"] == 26


def test_match_kpis_counted_from_the_csv_files(tiny) -> None:
    """Needs and language matches, recounted here from the raw CSV files."""
    read = lambda name: pd.read_csv(tiny.path / name, dtype=str, keep_default_na=False).set_index(  # noqa: E731
        "code" if name == "localities.csv" else "id")
    loc, people, units = read("localities.csv"), read("people.csv"), read("units.csv")
    tags = lambda text: {x for x in text.split(";") if x}  # noqa: E731
    links = hand_links()
    matched = minority = spoken = 0
    for helper, target in zip(links["helper"], links["target"]):
        have = tags(people.at[helper, "skills"]) if helper in people.index else tags(units.at[helper, "function"])
        matched += bool(have & tags(loc.at[target, "needs"]))
        code, groups = target, set()
        while code and not groups:  # the place's ethnic groups, or its nearest ancestor's
            groups = tags(loc.at[code, "ethnic_groups"])
            code = loc.at[code, "parent"]
        if groups and helper in people.index:
            minority += 1
            spoken += bool(tags(people.at[helper, "languages"]) & groups)
    m = make(tiny).kpis(tiny)["match"]
    assert (m["links"], m["matched"], m["minority_links"], m["language_matched"]) == (len(links), matched, minority, spoken)


def test_kpis_see_a_broken_team(tiny) -> None:
    links = hand_links()
    links.loc[(links["helper"] == "p21"), "target"] = "522727100201"  # the class-1 village 新寨 loses its section chief
    k = make(tiny, links).kpis(tiny)
    assert k["class1_teams"]["village"] == {"targets": 3, "complete": 2}
    assert k["tiers"]["village"]["covered"] == 11 and k["tiers"]["village"]["helpers_short"] == 1


def test_summary_in_english_and_chinese(tiny) -> None:
    p = make(tiny).attach(tiny)
    en, zh = p.summary("en"), p.summary("zh")
    assert str(p) == en
    assert "status FEASIBLE" in en and "gap 1.2 %" in en and "village" in en and "12/12" in en
    assert "Guizhou" in en
    assert "状态 可行" in zh and "干部驻村" in zh and "贵州省" in zh
    assert len(en.splitlines()) <= 25 and len(zh.splitlines()) <= 25  # one screen


def test_cli_show(tiny, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from matcher.cli import app

    folder = saved(tiny, tmp_path / "p")
    r = CliRunner().invoke(app, ["show", str(folder), "--lang", "zh"])
    assert r.exit_code == 0, r.output
    assert r.output == (folder / "summary.zh.txt").read_text(encoding="utf-8")
    r = CliRunner().invoke(app, ["show", str(tmp_path / "none")])
    assert r.exit_code == 2 and "no such plan folder" in r.output


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


_FUZZ_BASE: dict[str, bytes] = {}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=st.sampled_from(["assignments.csv", "uncovered.csv", "plan.json"]),
       cut=st.floats(0.0, 1.0), junk=st.text(max_size=12))
def test_any_damage_is_a_plan_error_or_a_plan(tiny, tmp_path_factory, file: str, cut: float, junk: str) -> None:
    """Whatever is spliced into a plan file, Plan.load returns a plan or raises PlanError: never a traceback."""
    if not _FUZZ_BASE:
        base = tmp_path_factory.mktemp("fuzz-base")
        p = make(tiny)
        p.uncovered = pd.DataFrame([{"tier": "village", "target": "522727100201", "required": 1, "assigned": 0,
                                     "short": 1, "reason": "测试"}])
        p.save(base)
        _FUZZ_BASE.update({f.name: f.read_bytes() for f in base.iterdir()})
    folder = tmp_path_factory.mktemp("fuzz")
    for name, data in _FUZZ_BASE.items():
        (folder / name).write_bytes(data)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    i = int(cut * len(text))
    path.write_text(text[:i] + junk + text[i + len(junk):], encoding="utf-8")
    try:
        loaded = Plan.load(folder)
    except PlanError as exc:
        assert str(exc)
    else:
        assert list(loaded.assignments.columns[:9]) == ASSIGNMENT_COLUMNS


def test_repr_is_one_line(tiny) -> None:
    text = repr(make(tiny))
    assert text == ("Plan(status='FEASIBLE', gap=0.0123, links: county=3, township=6, village=17, uncovered=0, "
                    "instance='instances/tiny')") or "\n" not in text and "village=17" in text


def test_an_empty_plan_keeps_its_tiers(tiny, tmp_path: Path) -> None:
    p = Plan.from_assignments(tiny, pd.DataFrame(columns=["tier", "helper", "target"]), {})
    p.save(tmp_path / "empty")
    q = Plan.load(tmp_path / "empty")
    assert q.tiers == ["county", "township", "village"] and len(q.tier("village")) == 0
    assert "village" in q.summary()


def test_summary_shows_each_tier_gap_beside_the_whole_plan_gap(tiny) -> None:
    """A decomposed solve's per-tier gaps are shown, so an unknown whole-plan gap is not read as a bad tier."""
    frame = pd.DataFrame({"tier": ["village"], "helper": [tiny.people.index[0]],
                          "target": [next(c for c, r in tiny.localities.iterrows() if r["level"] == "village")],
                          "start_year": [2012], "pinned": [False]})
    header = {"status": "FEASIBLE", "gap": 0.9, "tiers": {"county": {"gap": 0.0}, "village": {"gap": 0.0005}}}
    plan = Plan.from_assignments(tiny, frame, header)
    en, zh = plan.summary("en"), plan.summary("zh")
    assert "Gap per tier: county 0.0 %, village 0.1 %" in en and "gap 90.0 %" in en
    assert "各层级差距：部门帮县 0.0 %，干部驻村 0.1 %" in zh and "可行（未证明整体最优）" in zh


def test_summary_lists_priorities_in_their_order_with_chinese_names(tiny) -> None:
    """The objective line follows the plan's stages (not the alphabet); the Chinese summary names each priority."""
    frame = pd.DataFrame({"tier": ["village"], "helper": [tiny.people.index[0]],
                          "target": [next(c for c, r in tiny.localities.iterrows() if r["level"] == "village")],
                          "start_year": [2012], "pinned": [False]})
    header = {"status": "FEASIBLE", "objective": {"balance": 1.0, "travel": 3.0, "match": 2.0},
              "bound": {"match": 1.0}, "stages": [{"term": "match"}, {"term": "travel"}, {"term": "balance"}]}
    plan = Plan.from_assignments(tiny, frame, header)
    assert "Objective: match 2, travel 3, balance 1" in plan.summary("en")
    zh = plan.summary("zh")
    assert "目标值：需求匹配 2，路程（公里） 3，负荷均衡 1" in zh and "下界（已证明）：需求匹配 1 (50.0 %)" in zh
