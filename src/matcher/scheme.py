"""A program's rules as data: reading and checking ``scheme.toml`` (see docs/scheme-format.md).

``read_scheme(path_or_dict)`` returns a frozen :class:`Scheme`; ``check_scheme(raw)`` lists every
problem in a raw TOML dict (unknown keys with the nearest known key, wrong types, unknown tier ids,
unknown objective terms) as :class:`matcher.errors.Problem` objects, without raising.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matcher.errors import InstanceError, Problem

RANKS = ("department", "division", "section", "staff")
HELPER_TABLES = ("units", "people")
TARGET_TABLES = ("localities", "targets")
LEVELS = ("province", "prefecture", "county", "township", "village")
OBJECTIVE_TERMS = ("coverage", "continuity", "match", "strength", "travel", "balance")
# weights that are not priorities of their own but refine one (language refines match)
WEIGHT_KEYS = OBJECTIVE_TERMS + ("language",)
DEFAULT_ORDER = OBJECTIVE_TERMS

FilterValue = str | int | float | bool


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Filter:
    """A row filter: ``table`` and ``column -> allowed values`` (ANDed over columns).

    A list-valued cell matches when it shares one value with the allowed values. Columns
    ``unit_<col>`` on people filter by the person's unit's column ``<col>``.
    """

    table: str = ""
    columns: tuple[tuple[str, tuple[FilterValue, ...]], ...] = ()

    def as_dict(self) -> dict[str, tuple[FilterValue, ...]]:
        """The filter's columns as a plain dict."""
        return dict(self.columns)


@dataclass(frozen=True)
class Program:
    """The program's name, source and calendar."""

    name: str = ""
    name_en: str = ""
    source: str = ""
    plan_year: int = 0
    term_years: int = 3
    working_days: int = 250


@dataclass(frozen=True)
class Terms:
    """Terms of office: incumbents in force are pinned; listed tiers forbid returning."""

    pin_incumbents: bool = True
    no_return: tuple[str, ...] = ()


@dataclass(frozen=True)
class RankBudget:
    """Days per year at the grassroots for one rank."""

    min_days: float = 0.0
    max_days: float | None = None


@dataclass(frozen=True)
class Travel:
    """How straight-line distance becomes travel days."""

    detour: float = 1.4
    speed_kmh: float = 40.0
    hours_per_day: float = 8.0

    def round_trip_days(self, km: float) -> float:
        """Days one round trip of ``km`` straight-line kilometres costs."""
        return 2.0 * km * self.detour / self.speed_kmh / self.hours_per_day


@dataclass(frozen=True)
class Budget:
    """One time budget per person, by rank, shared by every tier the person is in."""

    ranks: tuple[tuple[str, RankBudget], ...] = ()
    travel: Travel = field(default_factory=Travel)

    def for_rank(self, rank: str) -> RankBudget | None:
        """The budget of ``rank``, or None when the scheme sets none."""
        return dict(self.ranks).get(rank)


@dataclass(frozen=True)
class ClassMin:
    """Targets matching ``where`` need at least ``min`` helpers."""

    where: Filter
    min: int


@dataclass(frozen=True)
class Composition:
    """A team of a target matching ``where`` includes >= ``min`` helpers matching ``helper_where``."""

    where: Filter
    helper_where: Filter
    min: int


@dataclass(frozen=True)
class RankByClass:
    """Targets matching ``where`` accept only helpers of these ranks."""

    where: Filter
    rank: tuple[str, ...]


@dataclass(frozen=True)
class Eligibility:
    """Pair-level rules: a pair that breaks one is never a candidate."""

    stay_in_area: tuple[tuple[str, str], ...] = ()
    hometown_avoid: str = ""
    max_distance_km: float = 0.0
    rank_by_class: tuple[RankByClass, ...] = ()


@dataclass(frozen=True)
class Quota:
    """With ``coverage = "quota"``: at least ``min`` targets matching ``where`` are covered."""

    where: Filter
    min: int


@dataclass(frozen=True)
class Tier:
    """One tier: a helper pool linked to a target set."""

    id: str
    name: str = ""
    name_en: str = ""
    helpers: Filter = field(default_factory=lambda: Filter("people"))
    targets: Filter = field(default_factory=lambda: Filter("localities"))
    coverage: str = "full"
    coverage_min: int = 1
    coverage_max: int = 1
    links_min: int = 0
    links_max: int = 1
    visit_days: float = 0.0
    visits_per_year: float = 0.0
    unit_share_max: float = 0.0
    continuity: bool = False
    nest_in: str = ""
    class_min: tuple[ClassMin, ...] = ()
    composition: tuple[Composition, ...] = ()
    eligibility: Eligibility = field(default_factory=Eligibility)
    quota: tuple[Quota, ...] = ()
    forbidden: tuple[tuple[str, str], ...] = ()  # (helper, target) pairs never linked in this tier


@dataclass(frozen=True)
class Objective:
    """Lexicographic priorities (first most important) and weights inside a priority."""

    order: tuple[str, ...] = DEFAULT_ORDER
    weights: tuple[tuple[str, float], ...] = ()

    def weight(self, term: str) -> float:
        """The weight of ``term`` (1.0 if unset; ``language`` defaults to 2.0)."""
        return dict(self.weights).get(term, 2.0 if term == "language" else 1.0)


@dataclass(frozen=True)
class Scheme:
    """A whole scheme.toml, parsed, checked and with defaults filled in."""

    program: Program
    terms: Terms
    budget: Budget
    tiers: tuple[Tier, ...]
    objective: Objective
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def tier(self, tier_id: str) -> Tier:
        """The tier named ``tier_id`` (KeyError if none)."""
        for t in self.tiers:
            if t.id == tier_id:
                return t
        raise KeyError(tier_id)

    @property
    def tier_ids(self) -> tuple[str, ...]:
        """Tier ids in scheme order."""
        return tuple(t.id for t in self.tiers)


# --------------------------------------------------------------------------- the vocabulary

# key -> expected type name; a dict value is a nested table; "filter" is a column filter table
_FILTER = "filter"
_TIER_KEYS: dict[str, Any] = {
    "id": "str", "name": "str", "name_en": "str",
    "helpers": _FILTER, "targets": _FILTER,
    "coverage": "str", "coverage_min": "int", "coverage_max": "int",
    "links_min": "int", "links_max": "int",
    "visit_days": "number", "visits_per_year": "number", "unit_share_max": "number",
    "continuity": "bool", "nest_in": "str",
    "class_min": [{"where": _FILTER, "min": "int"}],
    "composition": [{"where": _FILTER, "helper_where": _FILTER, "min": "int"}],
    "eligibility": {
        "stay_in_area": "str_table",
        "hometown_avoid": "str",
        "max_distance_km": "number",
        "rank_by_class": [{"where": _FILTER, "rank": "str_list"}],
    },
    "quota": [{"where": _FILTER, "min": "int"}],
    "forbidden": "pair_list",
}
_RANK_BUDGET = {"min_days": "number", "max_days": "number"}
VOCABULARY: dict[str, Any] = {
    "program": {
        "name": "str", "name_en": "str", "source": "str",
        "plan_year": "int", "term_years": "int", "working_days": "int",
    },
    "terms": {"pin_incumbents": "bool", "no_return": "str_list"},
    "budget": {**{r: _RANK_BUDGET for r in RANKS},
               "travel": {"detour": "number", "speed_kmh": "number", "hours_per_day": "number"}},
    "tiers": [_TIER_KEYS],
    "objective": {"order": "str_list", "weights": {k: "number" for k in WEIGHT_KEYS}},
}

_TYPE_WORDS = {
    "str": "text", "int": "an integer", "number": "a number", "bool": "true or false",
    "str_list": "a list of text", "str_table": "a table of text values",
    "pair_list": 'a list of [helper, target] pairs of text, e.g. [["p21", "522727100202"]]',
    _FILTER: "a filter table (column = [values])",
}


def _is_type(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "str_table":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == "pair_list":
        return isinstance(value, list) and all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v) for v in value)
    raise ValueError(kind)


def _nearest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(known)}"


def _check_filter(value: Any, path: str, file: str, tables: tuple[str, ...] | None) -> list[Problem]:
    out: list[Problem] = []
    if not isinstance(value, dict):
        return [Problem(file, None, path, f"expected {_TYPE_WORDS[_FILTER]}, found {type(value).__name__}")]
    for col, allowed in value.items():
        if col == "table":
            if tables is None:
                out.append(Problem(file, None, f"{path}.table", "'table' is only allowed in a tier's helpers/targets"))
            elif allowed not in tables:
                out.append(Problem(file, None, f"{path}.table",
                                   f"expected one of {', '.join(tables)}, found {allowed!r}"))
            continue
        vals = allowed if isinstance(allowed, list) else [allowed]
        if not all(isinstance(v, str | int | float | bool) for v in vals):
            out.append(Problem(file, None, f"{path}.{col}",
                               "expected a list of allowed values (text or numbers)"))
    if tables is not None and "table" not in value:
        out.append(Problem(file, None, f"{path}.table", f"missing; expected one of {', '.join(tables)}"))
    return out


def _check_table(raw: Any, spec: dict[str, Any], path: str, file: str) -> list[Problem]:
    out: list[Problem] = []
    if not isinstance(raw, dict):
        return [Problem(file, None, path or None, f"expected a table, found {type(raw).__name__}")]
    known = list(spec)
    for key, value in raw.items():
        kpath = f"{path}.{key}" if path else key
        if key not in spec:
            out.append(Problem(file, None, kpath, f"unknown key '{key}'{_nearest(key, known)}"))
            continue
        kind = spec[key]
        if isinstance(kind, dict):
            out += _check_table(value, kind, kpath, file)
        elif isinstance(kind, list):
            if not isinstance(value, list):
                out.append(Problem(file, None, kpath, f"expected an array of tables ([[{kpath}]]), found {type(value).__name__}"))
                continue
            for i, item in enumerate(value, start=1):
                out += _check_table(item, kind[0], f"{kpath}[{i}]", file)
        elif kind == _FILTER:
            tables = HELPER_TABLES if key == "helpers" else TARGET_TABLES if key == "targets" else None
            out += _check_filter(value, kpath, file, tables)
        elif not _is_type(value, kind):
            out.append(Problem(file, None, kpath, f"expected {_TYPE_WORDS[kind]}, found {value!r}"))
    return out


def _check_semantics(raw: dict[str, Any], file: str) -> list[Problem]:
    """Cross-key checks: tier ids, references, ranges, objective terms."""
    out: list[Problem] = []
    program = raw.get("program", {}) if isinstance(raw.get("program"), dict) else {}
    if "plan_year" not in program:
        out.append(Problem(file, None, "program.plan_year", "missing; expected the year the plan starts, e.g. 2012"))
    if _is_type(program.get("term_years", 3), "int") and program.get("term_years", 3) < 1:
        out.append(Problem(file, None, "program.term_years", "expected a term of at least 1 year"))
    tiers = raw.get("tiers")
    if not isinstance(tiers, list) or not tiers:
        out.append(Problem(file, None, "tiers", "missing; expected at least one [[tiers]] table"))
        tiers = []
    ids: list[str] = []
    for i, t in enumerate(tiers, start=1):
        if not isinstance(t, dict):
            continue
        p = f"tiers[{i}]"
        tid = t.get("id")
        if not isinstance(tid, str) or not tid:
            out.append(Problem(file, None, f"{p}.id", "missing; expected a tier id such as 'village'"))
        elif tid in ids:
            out.append(Problem(file, None, f"{p}.id", f"tier id '{tid}' is used twice"))
        else:
            ids.append(tid)
        cov = t.get("coverage", "full")
        if cov not in ("full", "quota"):
            out.append(Problem(file, None, f"{p}.coverage", f"expected 'full' or 'quota', found {cov!r}"))
        if cov == "quota" and not t.get("quota"):
            out.append(Problem(file, None, f"{p}.quota", "coverage = 'quota' needs at least one [[tiers.quota]] table"))
        for lo, hi in (("coverage_min", "coverage_max"), ("links_min", "links_max")):
            a, b = t.get(lo, 1 if lo == "coverage_min" else 0), t.get(hi, 1)
            if _is_type(a, "int") and _is_type(b, "int"):
                if a < 0 or b < 0:
                    out.append(Problem(file, None, f"{p}.{lo}", "expected a count of 0 or more"))
                elif a > b:
                    out.append(Problem(file, None, f"{p}.{lo}", f"{lo} = {a} is above {hi} = {b}"))
        share = t.get("unit_share_max", 0.0)
        if _is_type(share, "number") and not 0 <= share <= 1:
            out.append(Problem(file, None, f"{p}.unit_share_max", f"expected a share between 0 and 1, found {share}"))
        nest = t.get("nest_in", "")
        if isinstance(nest, str) and nest:
            if nest == tid:
                out.append(Problem(file, None, f"{p}.nest_in", f"tier '{tid}' cannot nest in itself"))
            elif nest not in ids:
                known = [x.get("id") for x in tiers if isinstance(x, dict) and isinstance(x.get("id"), str)]
                if nest in known:
                    out.append(Problem(file, None, f"{p}.nest_in",
                                       f"tier '{nest}' must come before tier '{tid}' (tiers are listed in nesting order)"))
                else:
                    out.append(Problem(file, None, f"{p}.nest_in",
                                       f"unknown tier id '{nest}'{_nearest(nest, [k for k in known if k])}"))
        elig = t.get("eligibility", {})
        if isinstance(elig, dict):
            sia = elig.get("stay_in_area", {})
            if isinstance(sia, dict):
                for k, v in sia.items():
                    for what, val in (("unit level", k), ("area level", v)):
                        if val not in LEVELS[:3] and isinstance(val, str):
                            out.append(Problem(file, None, f"{p}.eligibility.stay_in_area.{k}",
                                               f"{what} {val!r}: expected one of province, prefecture, county"))
            ha = elig.get("hometown_avoid", "")
            if isinstance(ha, str) and ha and ha not in LEVELS:
                out.append(Problem(file, None, f"{p}.eligibility.hometown_avoid",
                                   f"expected a level ({', '.join(LEVELS)}) or '' (off), found {ha!r}"))
            for j, rbc in enumerate(elig.get("rank_by_class", []) or [], start=1):
                if isinstance(rbc, dict) and isinstance(rbc.get("rank"), list):
                    for r in rbc["rank"]:
                        if r not in RANKS:
                            out.append(Problem(file, None, f"{p}.eligibility.rank_by_class[{j}].rank",
                                               f"unknown rank {r!r}{_nearest(str(r), list(RANKS))}"))
        for sub in ("class_min", "composition", "quota"):
            for j, item in enumerate(t.get(sub, []) or [], start=1):
                if isinstance(item, dict):
                    if "min" not in item:
                        out.append(Problem(file, None, f"{p}.{sub}[{j}].min", "missing; expected a count"))
                    if "where" not in item:
                        out.append(Problem(file, None, f"{p}.{sub}[{j}].where", "missing; expected a filter table"))
                    if sub == "composition" and "helper_where" not in item:
                        out.append(Problem(file, None, f"{p}.{sub}[{j}].helper_where", "missing; expected a filter table"))
    terms = raw.get("terms", {})
    if isinstance(terms, dict) and isinstance(terms.get("no_return"), list):
        for j, tid in enumerate(terms["no_return"], start=1):
            if isinstance(tid, str) and tid not in ids:
                out.append(Problem(file, None, f"terms.no_return[{j}]", f"unknown tier id '{tid}'{_nearest(tid, ids)}"))
    obj = raw.get("objective", {})
    if isinstance(obj, dict) and isinstance(obj.get("order"), list):
        seen: set[str] = set()
        for j, term in enumerate(obj["order"], start=1):
            if isinstance(term, str) and term not in OBJECTIVE_TERMS:
                out.append(Problem(file, None, f"objective.order[{j}]",
                                   f"unknown objective term '{term}'{_nearest(term, list(OBJECTIVE_TERMS))}"))
            elif term in seen:
                out.append(Problem(file, None, f"objective.order[{j}]", f"objective term '{term}' is listed twice"))
            seen.add(term)
    budget = raw.get("budget", {})
    if isinstance(budget, dict):
        for r in RANKS:
            rb = budget.get(r)
            if isinstance(rb, dict):
                lo, hi = rb.get("min_days", 0), rb.get("max_days")
                if _is_type(lo, "number") and _is_type(hi, "number") and lo > hi:
                    out.append(Problem(file, None, f"budget.{r}.min_days", f"min_days = {lo} is above max_days = {hi}"))
    return out


def check_scheme(raw: Mapping[str, Any], file: str = "scheme.toml") -> list[Problem]:
    """Every problem in a raw scheme dict: unknown keys, wrong types, bad references.

    Problems have ``row=None`` and ``column`` = the dotted key path (``tiers[2].coverage_min``,
    tiers counted from 1 in file order). Nothing is raised.
    """
    raw = dict(raw)
    return _check_table(raw, VOCABULARY, "", file) + _check_semantics(raw, file)


# --------------------------------------------------------------------------- building


def _filter(raw: Any, default_table: str = "") -> Filter:
    raw = dict(raw or {})
    table = str(raw.pop("table", default_table))
    cols = []
    for col in sorted(raw):
        v = raw[col]
        vals = tuple(v) if isinstance(v, list) else (v,)
        cols.append((col, vals))
    return Filter(table, tuple(cols))


def _tier(t: dict[str, Any]) -> Tier:
    e = t.get("eligibility", {}) or {}
    elig = Eligibility(
        stay_in_area=tuple(sorted((str(k), str(v)) for k, v in (e.get("stay_in_area") or {}).items())),
        hometown_avoid=str(e.get("hometown_avoid", "")),
        max_distance_km=float(e.get("max_distance_km", 0.0)),
        rank_by_class=tuple(RankByClass(_filter(r.get("where")), tuple(r.get("rank", ())))
                            for r in e.get("rank_by_class", []) or []),
    )
    cmin = int(t.get("coverage_min", 1))
    return Tier(
        id=str(t["id"]),
        name=str(t.get("name", t["id"])),
        name_en=str(t.get("name_en", t.get("name", t["id"]))),
        helpers=_filter(t.get("helpers"), "people"),
        targets=_filter(t.get("targets"), "localities"),
        coverage=str(t.get("coverage", "full")),
        coverage_min=cmin,
        coverage_max=int(t.get("coverage_max", max(cmin, 1))),
        links_min=int(t.get("links_min", 0)),
        links_max=int(t.get("links_max", 1)),
        visit_days=float(t.get("visit_days", 0.0)),
        visits_per_year=float(t.get("visits_per_year", 0.0)),
        unit_share_max=float(t.get("unit_share_max", 0.0)),
        continuity=bool(t.get("continuity", False)),
        nest_in=str(t.get("nest_in", "")),
        class_min=tuple(ClassMin(_filter(c.get("where")), int(c["min"])) for c in t.get("class_min", []) or []),
        composition=tuple(Composition(_filter(c.get("where")), _filter(c.get("helper_where")), int(c["min"]))
                          for c in t.get("composition", []) or []),
        eligibility=elig,
        quota=tuple(Quota(_filter(q.get("where")), int(q["min"])) for q in t.get("quota", []) or []),
        forbidden=tuple(sorted({(str(h), str(g)) for h, g in t.get("forbidden", []) or []})),
    )


def build_scheme(raw: Mapping[str, Any]) -> Scheme:
    """Build a :class:`Scheme` from a raw dict already checked by :func:`check_scheme`."""
    p = dict(raw.get("program", {}))
    program = Program(
        name=str(p.get("name", "")), name_en=str(p.get("name_en", p.get("name", ""))),
        source=str(p.get("source", "")), plan_year=int(p.get("plan_year", 0)),
        term_years=int(p.get("term_years", 3)), working_days=int(p.get("working_days", 250)),
    )
    tr = dict(raw.get("terms", {}))
    terms = Terms(pin_incumbents=bool(tr.get("pin_incumbents", True)), no_return=tuple(tr.get("no_return", ())))
    b = dict(raw.get("budget", {}))
    tv = dict(b.get("travel", {}))
    budget = Budget(
        ranks=tuple((r, RankBudget(float(b[r].get("min_days", 0.0)),
                                   None if b[r].get("max_days") is None else float(b[r]["max_days"])))
                    for r in RANKS if r in b),
        travel=Travel(float(tv.get("detour", 1.4)), float(tv.get("speed_kmh", 40.0)), float(tv.get("hours_per_day", 8.0))),
    )
    o = dict(raw.get("objective", {}))
    objective = Objective(
        order=tuple(o.get("order", DEFAULT_ORDER)),
        weights=tuple(sorted((k, float(v)) for k, v in (o.get("weights") or {}).items())),
    )
    tiers = tuple(_tier(dict(t)) for t in raw.get("tiers", []))
    return Scheme(program, terms, budget, tiers, objective, raw=raw)


def load_scheme_toml(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[Problem]]:
    """Read a scheme.toml (or a folder holding one) into a raw dict, with TOML syntax problems."""
    path = Path(path)
    if path.is_dir():
        path = path / "scheme.toml"
    name = path.name
    if not path.exists():
        return {}, [Problem(str(path), None, None, "file not found; expected the program's rules in scheme.toml")]
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return {}, [Problem(name, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        return {}, [Problem(name, None, None, f"not valid TOML: {exc}")]


def read_scheme(path_or_dict: str | os.PathLike[str] | Mapping[str, Any], file: str = "scheme.toml") -> Scheme:
    """Read and check a scheme; raise :class:`InstanceError` listing every problem if it is unusable."""
    if isinstance(path_or_dict, Mapping):
        raw: dict[str, Any] = dict(path_or_dict)
        problems: list[Problem] = []
    else:
        raw, problems = load_scheme_toml(path_or_dict)
        file = Path(path_or_dict).name if not Path(path_or_dict).is_dir() else "scheme.toml"
    if not problems:
        problems = check_scheme(raw, file)
    if any(p.severity == "error" for p in problems):
        raise InstanceError(problems, path=None if isinstance(path_or_dict, Mapping) else str(path_or_dict))
    return build_scheme(raw)
