"""scheme.toml reading and checking: the documented example parses, mistakes are located."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest

from matcher.errors import InstanceError
from matcher.scheme import check_scheme, read_scheme

DOC = Path(__file__).resolve().parents[1] / "docs" / "scheme-format.md"


@pytest.fixture()
def raw() -> dict:
    text = re.search(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    return tomllib.loads(text)


def test_documented_example_is_clean(raw: dict) -> None:
    assert check_scheme(raw) == []
    s = read_scheme(raw)
    assert s.tier_ids == ("county", "township", "village")
    assert s.tier("township").nest_in == "county"
    assert s.tier("village").class_min[0].min == 2
    assert s.budget.for_rank("division").min_days == 83
    assert s.objective.order[0] == "coverage"


def test_defaults_fill_missing_keys() -> None:
    s = read_scheme({"program": {"plan_year": 2020}, "tiers": [{"id": "t"}]})
    t = s.tier("t")
    assert (t.coverage, t.coverage_min, t.links_max) == ("full", 1, 1)
    assert s.program.term_years == 3 and s.terms.pin_incumbents


@pytest.mark.parametrize(
    ("edit", "column", "words"),
    [
        (lambda r: r["tiers"][1].update(nest_inn="county"), "tiers[2].nest_inn", "did you mean 'nest_in'"),
        (lambda r: r["tiers"][0].update(coverage_min="one"), "tiers[1].coverage_min", "integer"),
        (lambda r: r["tiers"][1].update(nest_in="countyy"), "tiers[2].nest_in", "unknown tier id 'countyy'"),
        (lambda r: r["tiers"][0].update(nest_in="village"), "tiers[1].nest_in", "must come before"),
        (lambda r: r["terms"]["no_return"].append("vilage"), "terms.no_return[3]", "did you mean 'village'"),
        (lambda r: r["objective"]["order"].append("travle"), "objective.order[7]", "unknown objective term"),
        (lambda r: r["objective"]["weights"].update(cost=1.0), "objective.weights.cost", "unknown key"),
        (lambda r: r["tiers"][0].update(coverage_min=3), "tiers[1].coverage_min", "above coverage_max"),
        (lambda r: r["tiers"][0]["helpers"].pop("table"), "tiers[1].helpers.table", "missing"),
        (lambda r: r.update(progam={}), "progam", "did you mean 'program'"),
    ],
)
def test_mistakes_are_located(raw: dict, edit, column: str, words: str) -> None:
    bad = copy.deepcopy(raw)
    edit(bad)
    problems = check_scheme(bad, file="x/scheme.toml")
    assert any(p.column == column and words in p.message and p.row is None for p in problems), problems
    with pytest.raises(InstanceError):
        read_scheme(bad)


def test_bad_toml_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "scheme.toml").write_text("[program\nplan_year = 1", encoding="utf-8")
    with pytest.raises(InstanceError, match="not valid TOML"):
        read_scheme(tmp_path)
