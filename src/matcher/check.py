"""The independent checker: every hard rule of a scheme, re-derived from the instance's tables.

``check_plan(instance, plan) -> CheckReport`` reads the raw ``instance.scheme`` dict and the
instance's tables itself. It shares no code with the model builder (it never imports
``matcher.scheme``, ``matcher.rules``, ``matcher.candidates``, ``matcher.model`` or
``matcher.solver``): its own filter matching, its own ancestor lookups, its own haversine
distance. A plan the solver got wrong in the same way as the checker would therefore need two
independent mistakes. docs/scheme-format.md is the specification.

Each rule is one function ``rule_<name>(ctx) -> list[Violation]`` registered in ``RULES``; its
docstring's first line states the rule and its second line the rule's source in the program.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matcher.plan import Plan

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), for straight-line distances."""

LEVELS = ("province", "prefecture", "county", "township", "village")

VIOLATION_COLUMNS = ["rule", "kind", "tier", "helper", "target", "detail", "detail_zh", "helper_name", "target_name"]
ERROR = "error"
DECLARED = "declared shortfall"
WARNING = "warning"

_ABS_TOL = 1e-6


# --------------------------------------------------------------------------------------------
# Small independent building blocks: distance, value normalisation, filters, tier text
# --------------------------------------------------------------------------------------------


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in km between two WGS84 points (degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return False


def norm_value(value: Any) -> str | None:
    """One cell value as comparable text: integers as integers (``1``, ``1.0`` -> ``"1"``), blanks as None."""
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    try:  # numpy scalars
        import numpy as np

        if isinstance(value, np.integer):
            return str(int(value))
        if isinstance(value, np.floating):
            return norm_value(float(value))
        if isinstance(value, np.bool_):
            return "true" if bool(value) else "false"
    except ImportError:  # pragma: no cover
        pass
    text = str(value).strip()
    return text or None


_CELL_CACHE: dict[Any, frozenset[str]] = {}


def cell_values(value: Any) -> frozenset[str]:
    """The set of values a cell holds: a list cell (tuple, list, ``a;b`` text) holds several."""
    try:
        return _CELL_CACHE[value]
    except (KeyError, TypeError):
        pass
    out = _cell_values(value)
    try:
        if len(_CELL_CACHE) > 500_000:
            _CELL_CACHE.clear()
        _CELL_CACHE[value] = out
    except TypeError:  # an unhashable cell (list, array)
        pass
    return out


def _cell_values(value: Any) -> frozenset[str]:
    if isinstance(value, (tuple, list, set, frozenset)):
        items: Iterable[Any] = value
    elif hasattr(value, "tolist") and not isinstance(value, (str, bytes)) and getattr(value, "ndim", 0) == 1:
        items = value.tolist()
    elif isinstance(value, str) and ";" in value:
        items = value.split(";")
    else:
        items = [value]
    out = {norm_value(v) for v in items}
    out.discard(None)
    return frozenset(out)  # type: ignore[arg-type]


def _allowed(spec_value: Any) -> frozenset[str]:
    if isinstance(spec_value, (list, tuple, set)):
        return frozenset(v for v in (norm_value(x) for x in spec_value) if v is not None)
    v = norm_value(spec_value)
    return frozenset([v]) if v is not None else frozenset()


def filter_mask(
    table: pd.DataFrame,
    spec: dict[str, Any] | None,
    *,
    units: pd.DataFrame | None = None,
    where: str = "filter",
) -> tuple[pd.Series, list[str]]:
    """Rows of ``table`` passing a scheme filter ``{column: [allowed values]}`` (columns ANDed).

    A list cell passes when it shares one value with the allowed list. On a people table,
    ``unit_<col>`` filters a person by his unit's column (``unit_id`` by the unit's id). The
    index's name (``code``, ``id``) may be used as a column. Returns the mask and the problems
    (a filter column the table does not have: nobody passes).
    """
    mask = pd.Series(True, index=table.index, dtype=bool)
    problems: list[str] = []
    for key, spec_value in (spec or {}).items():
        if key == "table":
            continue
        allowed = _allowed(spec_value)
        column: pd.Series | None = None
        if key in table.columns:
            column = table[key]
        elif key == table.index.name or key in ("id", "code"):
            column = pd.Series(table.index, index=table.index)
        elif key.startswith("unit_") and units is not None and "unit" in table.columns:
            sub = key[len("unit_"):]
            if sub in units.columns:
                column = table["unit"].map(units[sub])
            elif sub in ("id", units.index.name):
                column = table["unit"]
        if column is None:
            problems.append(f"{where}: column '{key}' does not exist in the filtered table")
            mask[:] = False
            continue
        memo: dict[Any, bool] = {}
        hits = []
        for v in column.tolist():
            try:
                hit = memo[v]
            except KeyError:
                hit = memo[v] = bool(cell_values(v) & allowed)
            except TypeError:
                hit = bool(cell_values(v) & allowed)
            hits.append(hit)
        mask &= pd.Series(hits, index=table.index, dtype=bool)
    return mask, problems


def _num(raw: dict[str, Any], key: str, default: float | None) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class TierText:
    """One ``[[tiers]]`` table of scheme.toml as the checker reads it.

    Defaults for absent keys: helpers from ``people``, targets from ``localities``, coverage
    ``full``, coverage_min 1, coverage_max max(coverage_min, 1), links 0..1, no visits, no unit cap.
    """

    id: str
    raw: dict[str, Any]
    name: str
    name_en: str
    helper_table: str
    target_table: str
    coverage: str
    coverage_min: float
    coverage_max: float | None
    links_min: float
    links_max: float | None
    visit_days: float
    visits_per_year: float
    unit_share_max: float
    nest_in: str | None

    @property
    def helpers(self) -> dict[str, Any]:
        """The helper filter."""
        return dict(self.raw.get("helpers") or {})

    @property
    def targets(self) -> dict[str, Any]:
        """The target filter."""
        return dict(self.raw.get("targets") or {})

    def list_of(self, key: str) -> list[dict[str, Any]]:
        """A list of sub-tables (``class_min``, ``composition``, ``quota``)."""
        value = self.raw.get(key) or []
        if isinstance(value, dict):
            value = [value]
        return [v for v in value if isinstance(v, dict)]

    @property
    def eligibility(self) -> dict[str, Any]:
        """The pair-level eligibility table."""
        return dict(self.raw.get("eligibility") or {})

    @property
    def target_levels(self) -> list[str]:
        """The locality levels of the tier's targets (empty for targets-table tiers)."""
        if self.target_table != "localities":
            return []
        level = self.targets.get("level")
        if level is None:
            return []
        return [str(v) for v in (level if isinstance(level, (list, tuple)) else [level])]


def read_tiers(scheme: dict[str, Any]) -> dict[str, TierText]:
    """The tiers of a raw scheme dict, in scheme order, keyed by id."""
    out: dict[str, TierText] = {}
    for i, raw in enumerate(scheme.get("tiers") or []):
        if not isinstance(raw, dict):
            continue
        tid = str(raw.get("id", f"tier{i + 1}"))
        helpers = raw.get("helpers") or {}
        targets = raw.get("targets") or {}
        out[tid] = TierText(
            id=tid,
            raw=raw,
            name=str(raw.get("name", tid)),
            name_en=str(raw.get("name_en", raw.get("name", tid))),
            helper_table=str(helpers.get("table", "people")),
            target_table=str(targets.get("table", "localities")),
            coverage=str(raw.get("coverage", "full")),
            coverage_min=_num(raw, "coverage_min", 1.0) or 0.0,
            coverage_max=_num(raw, "coverage_max", max(_num(raw, "coverage_min", 1.0) or 0.0, 1.0)),
            links_min=_num(raw, "links_min", 0.0) or 0.0,
            links_max=_num(raw, "links_max", 1.0),
            visit_days=_num(raw, "visit_days", 0.0) or 0.0,
            visits_per_year=_num(raw, "visits_per_year", 0.0) or 0.0,
            unit_share_max=_num(raw, "unit_share_max", 0.0) or 0.0,
            nest_in=(str(raw["nest_in"]) if raw.get("nest_in") else None),
        )
    return out


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


# --------------------------------------------------------------------------------------------
# Lookups over the instance's tables
# --------------------------------------------------------------------------------------------


class InstanceView:
    """Lookups the checker derives itself from an instance: ancestors, seats, positions, distances."""

    def __init__(self, instance: Any):
        self.instance = instance
        self.scheme: dict[str, Any] = dict(getattr(instance, "scheme", None) or {})
        self.localities: pd.DataFrame = _frame(getattr(instance, "localities", None))
        self.targets: pd.DataFrame = _frame(getattr(instance, "targets", None))
        self.units: pd.DataFrame = _frame(getattr(instance, "units", None))
        self.people: pd.DataFrame = _frame(getattr(instance, "people", None))
        self.incumbents: pd.DataFrame = _frame(getattr(instance, "incumbents", None), indexed=False)
        loc = self.localities
        self.parent: dict[str, str | None] = {c: norm_value(p) for c, p in _pairs(loc, "parent")}
        self.level: dict[str, str] = {c: str(v) for c, v in _pairs(loc, "level")}
        self.pos: dict[str, tuple[float, float]] = {}
        positions = getattr(instance, "positions", None)
        for frame in (loc, positions):
            if frame is None or not isinstance(frame, pd.DataFrame) or "lon" not in frame or "lat" not in frame:
                continue
            for code, lon, lat in zip(map(str, frame.index.tolist()), frame["lon"].tolist(), frame["lat"].tolist()):
                if not _is_missing(lon) and not _is_missing(lat):
                    self.pos[code] = (float(lon), float(lat))
        self._target_loc: dict[str, str] = {i: str(v) for i, v in _pairs(self.targets, "locality")}
        self._person_unit: dict[str, str] = {i: str(v) for i, v in _pairs(self.people, "unit")}
        self._unit_seat: dict[str, str] = {i: str(v) for i, v in _pairs(self.units, "locality")}
        self._anc: dict[tuple[str, str], str | None] = {}
        self._cols: dict[tuple[str, str], dict[str, Any]] = {}

    def col(self, table: str, column: str) -> dict[str, Any]:
        """One column of a table (``localities``, ``targets``, ``units``, ``people``) as a dict by id."""
        key = (table, column)
        if key not in self._cols:
            frame: pd.DataFrame = getattr(self, table)
            self._cols[key] = dict(_pairs(frame, column))
        return self._cols[key]

    def name_of(self, key: str, tables: tuple[str, ...]) -> str:
        """The (Chinese) name of an id in the first of ``tables`` that has it, or ""."""
        for table in tables:
            name = self.col(table, "name").get(key)
            if name is not None:
                return norm_value(name) or ""
        return ""

    # --- places --------------------------------------------------------------------------
    def ancestor_at(self, code: str | None, level: str) -> str | None:
        """The locality at ``level`` on the path from ``code`` to the root (``code`` itself if at that level)."""
        if code is None:
            return None
        key = (code, level)
        if key in self._anc:
            return self._anc[key]
        seen: set[str] = set()
        cur: str | None = code
        found: str | None = None
        while cur is not None and cur in self.level and cur not in seen:
            if self.level[cur] == level:
                found = cur
                break
            seen.add(cur)
            cur = self.parent.get(cur)
        self._anc[key] = found
        return found

    def target_place(self, target: str) -> str | None:
        """The locality a target lies in: the code itself, or a targets.csv row's locality."""
        if target in self.level:
            return target
        return self._target_loc.get(target)

    def position(self, code: str | None) -> tuple[float, float] | None:
        """A locality's position, or its nearest ancestor's."""
        seen: set[str] = set()
        while code is not None and code not in seen:
            if code in self.pos:
                return self.pos[code]
            seen.add(code)
            code = self.parent.get(code)
        return None

    # --- helpers -------------------------------------------------------------------------
    def is_unit(self, helper: str) -> bool:
        """True when the id names a unit."""
        return helper in self._unit_seat

    def is_person(self, helper: str) -> bool:
        """True when the id names a person."""
        return helper in self._person_unit

    def helper_unit(self, helper: str) -> str | None:
        """The helper's unit: the unit itself, or a person's unit."""
        if helper in self._unit_seat:
            return helper
        return self._person_unit.get(helper)

    def helper_seat(self, helper: str) -> str | None:
        """The locality where the helper's unit sits (travel starts there)."""
        unit = self.helper_unit(helper)
        return self._unit_seat.get(unit) if unit is not None else None

    def unit_area(self, unit: str, level: str) -> str | None:
        """The unit's own area at ``level``: the ancestor of its seat at that level."""
        return self.ancestor_at(self._unit_seat.get(unit), level)

    def distance_km(self, helper: str, target: str) -> float:
        """Straight-line km from the helper's unit seat to the target (NaN if a position is unknown)."""
        a = self.position(self.helper_seat(helper))
        b = self.position(self.target_place(target))
        if a is None or b is None:
            return float("nan")
        return haversine_km(a[0], a[1], b[0], b[1])

    def helper_exists(self, helper: str) -> bool:
        """True when the helper is a unit or a person of the instance."""
        return helper in self._unit_seat or helper in self._person_unit

    def target_exists(self, target: str) -> bool:
        """True when the target is a locality or a targets.csv row of the instance."""
        return target in self.level or target in self._target_loc

    # --- pools ---------------------------------------------------------------------------
    def helper_table(self, tier: TierText) -> pd.DataFrame:
        """The table a tier's helpers come from."""
        return self.people if tier.helper_table == "people" else self.units

    def target_table(self, tier: TierText) -> pd.DataFrame:
        """The table a tier's targets come from."""
        return self.targets if tier.target_table == "targets" else self.localities

    def helper_pool(self, tier: TierText) -> tuple[set[str], list[str]]:
        """The ids passing the tier's helper filter, and filter problems."""
        table = self.helper_table(tier)
        mask, problems = filter_mask(table, tier.helpers, units=self.units, where=f"tiers.{tier.id}.helpers")
        return {str(i) for i in table.index[mask.to_numpy()].tolist()}, problems

    def target_set(self, tier: TierText) -> tuple[set[str], list[str]]:
        """The ids passing the tier's target filter, and filter problems."""
        table = self.target_table(tier)
        mask, problems = filter_mask(table, tier.targets, where=f"tiers.{tier.id}.targets")
        return {str(i) for i in table.index[mask.to_numpy()].tolist()}, problems

    def targets_where(self, tier: TierText, spec: dict[str, Any] | None, ids: Iterable[str]) -> tuple[set[str], list[str]]:
        """The subset of target ids matching a ``where`` filter."""
        table = self.target_table(tier)
        wanted = [i for i in ids if i in table.index]
        sub = table.loc[wanted] if wanted else table.iloc[0:0]
        mask, problems = filter_mask(sub, spec, where=f"tiers.{tier.id}.where")
        return {str(i) for i in sub.index[mask.to_numpy()].tolist()}, problems

    def helpers_where(self, tier: TierText, spec: dict[str, Any] | None, ids: Iterable[str]) -> tuple[set[str], list[str]]:
        """The subset of helper ids matching a ``helper_where`` filter (people may use ``unit_*``)."""
        table = self.helper_table(tier)
        wanted = [i for i in ids if i in table.index]
        sub = table.loc[wanted] if wanted else table.iloc[0:0]
        mask, problems = filter_mask(sub, spec, units=self.units, where=f"tiers.{tier.id}.helper_where")
        return {str(i) for i in sub.index[mask.to_numpy()].tolist()}, problems

    def required(self, tier: TierText, ids: Iterable[str]) -> tuple[dict[str, int], list[str]]:
        """Helpers each target needs: ``coverage_min`` raised by every matching ``class_min``."""
        ids = list(ids)
        req = {t: int(math.ceil(tier.coverage_min - _ABS_TOL)) for t in ids}
        problems: list[str] = []
        for cm in tier.list_of("class_min"):
            hit, probs = self.targets_where(tier, cm.get("where"), ids)
            problems += probs
            m = int(cm.get("min", 0) or 0)
            for t in hit:
                req[t] = max(req[t], m)
        return req, problems


def _pairs(frame: pd.DataFrame, column: str) -> Iterable[tuple[str, Any]]:
    """(id, value) of one column as plain Python values (empty if the column is absent)."""
    if column not in frame.columns:
        return []
    return zip(map(str, frame.index.tolist()), frame[column].tolist())


def _frame(value: Any, indexed: bool = True) -> pd.DataFrame:
    if isinstance(value, pd.DataFrame):
        return value
    return pd.DataFrame()


# --------------------------------------------------------------------------------------------
# Program-level terms, read from the raw scheme
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """The program's year and term rules (``[program]``, ``[terms]``), with the documented defaults."""

    plan_year: int | None
    term_years: int
    pin_incumbents: bool
    no_return: frozenset[str]


def read_terms(scheme: dict[str, Any], tiers: dict[str, TierText]) -> Terms:
    """The plan year, term length, pinning and no-return tiers of a raw scheme dict."""
    program = scheme.get("program") or {}
    terms = scheme.get("terms") or {}
    year = program.get("plan_year")
    no_return_raw = terms.get("no_return", [])
    if no_return_raw is True:
        no_return = frozenset(tiers)
    elif isinstance(no_return_raw, (list, tuple)):
        no_return = frozenset(str(v) for v in no_return_raw)
    else:
        no_return = frozenset()
    no_return |= frozenset(t for t, tt in tiers.items() if tt.raw.get("no_return") is True)
    return Terms(
        plan_year=int(year) if year is not None else None,
        term_years=int(program.get("term_years", terms.get("term_years", 3)) or 3),
        pin_incumbents=bool(terms.get("pin_incumbents", True)),
        no_return=no_return,
    )


# --------------------------------------------------------------------------------------------
# The check context: everything the rules look at, derived once
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One broken rule, located by tier, helper and target, in English and Chinese."""

    rule: str
    tier: str
    helper: str
    target: str
    detail: str
    detail_zh: str
    kind: str = ERROR


@dataclass
class Context:
    """A plan and an instance, with the lookups every rule needs."""

    view: InstanceView
    plan: Plan
    tiers: dict[str, TierText]
    terms: Terms
    links: pd.DataFrame
    pools: dict[str, set[str]] = field(default_factory=dict)
    target_sets: dict[str, set[str]] = field(default_factory=dict)
    problems: list[Violation] = field(default_factory=list)
    in_force: dict[tuple[str, str, str], int] = field(default_factory=dict)
    ended: set[tuple[str, str, str]] = field(default_factory=set)
    exempt: set[tuple[str, str, str]] = field(default_factory=set)
    declared: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _by_tier: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def tier_links(self, tid: str) -> pd.DataFrame:
        """The plan's links of one tier."""
        if tid not in self._by_tier:
            self._by_tier[tid] = self.links[self.links["tier"] == tid]
        return self._by_tier[tid]

    def scheme_problem(self, tid: str, message: str) -> None:
        """Record a scheme text the checker cannot apply (once per message)."""
        v = Violation("scheme", tid, "", "", message, f"方案无法核对：{message}")
        if v not in self.problems:
            self.problems.append(v)


def build_context(instance: Any, plan: Plan) -> Context:
    """Derive pools, target sets, in-force incumbents and declared shortfalls for one check."""
    view = InstanceView(instance)
    tiers = read_tiers(view.scheme)
    terms = read_terms(view.scheme, tiers)
    links = plan.assignments.copy()
    for col in ("tier", "helper", "target"):  # plain Python strings: fast to iterate (not Arrow-backed)
        links[col] = pd.Series([norm_value(v) or "" for v in links[col].tolist()], index=links.index, dtype=object)
    if "pinned" not in links:
        links["pinned"] = False
    links["pinned"] = pd.Series([v.strip().lower() == "true" if isinstance(v, str) else (False if _is_missing(v) else bool(v))
                                 for v in links["pinned"].tolist()], index=links.index, dtype=bool)
    if "start_year" not in links:
        links["start_year"] = pd.NA
    links = links.reset_index(drop=True)
    ctx = Context(view=view, plan=plan, tiers=tiers, terms=terms, links=links)
    for tid, tier in tiers.items():
        pool, p1 = view.helper_pool(tier)
        tset, p2 = view.target_set(tier)
        ctx.pools[tid] = pool
        ctx.target_sets[tid] = tset
        for msg in p1 + p2:
            ctx.scheme_problem(tid, msg)
    inc = view.incumbents
    if terms.plan_year is not None and len(inc) and {"tier", "helper", "target", "start_year"} <= set(inc.columns):
        y = terms.plan_year
        for tier_id, helper, target, start in zip(inc["tier"], inc["helper"], inc["target"], inc["start_year"]):
            if _is_missing(start):
                continue
            key = (str(tier_id), str(helper), str(target))
            s = int(start)
            if not (view.helper_exists(key[1]) and view.target_exists(key[2])):
                continue
            if s <= y < s + terms.term_years:
                ctx.in_force[key] = s
            elif s + terms.term_years <= y:
                ctx.ended.add(key)
    ctx.ended -= set(ctx.in_force)
    if terms.pin_incumbents:
        for tier_id, helper, target, pinned in zip(links["tier"], links["helper"], links["target"], links["pinned"]):
            if pinned and (tier_id, helper, target) in ctx.in_force:
                ctx.exempt.add((tier_id, helper, target))
    unc = plan.uncovered
    if unc is not None and len(unc):
        for _, row in unc.iterrows():
            ctx.declared[(str(row.get("tier")), str(row.get("target")))] = dict(row)
    return ctx


def _counts(links: pd.DataFrame, by: str) -> Counter[str]:
    return Counter(links.drop_duplicates(["helper", "target"])[by].tolist())


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


def rule_plan_year(ctx: Context) -> list[Violation]:
    """The plan is made for the scheme's plan year.

    Source: every program is planned for one year (Guizhou 2012 帮联驻: plan_year 2012).
    """
    year = ctx.plan.header.get("plan_year")
    want = ctx.terms.plan_year
    if want is None or year is None or int(year) == want:
        return []
    return [Violation("plan_year", "", "", "", f"plan.json says plan year {year}, the scheme says {want}",
                      f"方案年份为 {year}，规则文件为 {want}")]


def rule_known_tier(ctx: Context) -> list[Violation]:
    """Every link belongs to a tier of the scheme.

    Source: scheme.toml [[tiers]]: the program's tiers (部门帮县、处长联乡、干部驻村).
    """
    out: list[Violation] = []
    for tid, helper, target in zip(ctx.links["tier"], ctx.links["helper"], ctx.links["target"]):
        if tid not in ctx.tiers:
            out.append(Violation("known_tier", tid, helper, target,
                                 f"tier '{tid}' is not a tier of the scheme ({', '.join(ctx.tiers)})",
                                 f"层级 '{tid}' 不在规则文件中"))
    return out


def rule_helper_pool(ctx: Context) -> list[Violation]:
    """Every link's helper is in its tier's helper pool (the `helpers` filter).

    Source: Guizhou 2012 帮联驻: 省直部门帮县, 处级干部联乡, 干部驻村 (each tier has its own helpers).
    """
    out: list[Violation] = []
    for tid, helper, target in zip(ctx.links["tier"], ctx.links["helper"], ctx.links["target"]):
        if tid not in ctx.tiers or (tid, helper, target) in ctx.exempt:
            continue
        if helper not in ctx.pools[tid]:
            if not ctx.view.helper_exists(helper):
                d, z = f"helper '{helper}' is not a unit or person of the instance", f"帮扶者 '{helper}' 不存在"
            else:
                d = f"helper '{helper}' does not pass the helper filter {ctx.tiers[tid].helpers}"
                z = f"帮扶者 '{helper}' 不符合该层级的帮扶者条件"
            out.append(Violation("helper_pool", tid, helper, target, d, z))
    return out


def rule_target_set(ctx: Context) -> list[Violation]:
    """Every link's target is in its tier's target set (the `targets` filter).

    Source: Guizhou 2012 帮联驻: 88个县, 1446个乡镇, 17672个村 (each tier has its own targets).
    """
    out: list[Violation] = []
    for tid, helper, target in zip(ctx.links["tier"], ctx.links["helper"], ctx.links["target"]):
        if tid not in ctx.tiers or (tid, helper, target) in ctx.exempt:
            continue
        if target not in ctx.target_sets[tid]:
            if not ctx.view.target_exists(target):
                d, z = f"target '{target}' is not a locality or target of the instance", f"帮扶对象 '{target}' 不存在"
            else:
                d = f"target '{target}' does not pass the target filter {ctx.tiers[tid].targets}"
                z = f"帮扶对象 '{target}' 不符合该层级的对象条件"
            out.append(Violation("target_set", tid, helper, target, d, z))
    return out


def rule_duplicate(ctx: Context) -> list[Violation]:
    """A (tier, helper, target) link appears at most once.

    Source: every program: one helper links one target once (一对一结对).
    """
    dup = ctx.links[ctx.links.duplicated(["tier", "helper", "target"], keep="first")]
    return [Violation("duplicate", t, h, g, "the link appears more than once", "同一结对重复出现")
            for t, h, g in zip(dup["tier"], dup["helper"], dup["target"])]


def rule_coverage(ctx: Context) -> list[Violation]:
    """Every target of a full-coverage tier has at least coverage_min helpers, raised by its class_min.

    Source: Guizhou 2012 帮联驻: 全覆盖 (every county, township and village), 一类贫困村 two staff each.
    """
    out: list[Violation] = []
    for tid, tier in ctx.tiers.items():
        if tier.coverage != "full":
            continue
        counts = _counts(ctx.tier_links(tid), "target")
        req, probs = ctx.view.required(tier, sorted(ctx.target_sets[tid]))
        for p in probs:
            ctx.scheme_problem(tid, p)
        for target in sorted(req):
            need, have = req[target], counts.get(target, 0)
            if have >= need:
                continue
            declared = (tid, target) in ctx.declared
            kind = DECLARED if declared else ERROR
            tail = " (declared in uncovered.csv)" if declared else " (not declared in uncovered.csv)"
            out.append(Violation("coverage", tid, "", target,
                                 f"{have} helper(s), {need} required: {need - have} short{tail}",
                                 f"已有 {have} 名，需要 {need} 名，缺 {need - have} 名"
                                 + ("（已在未覆盖清单中说明）" if declared else "（未在未覆盖清单中说明）"),
                                 kind))
    return out


def rule_coverage_max(ctx: Context) -> list[Violation]:
    """No target has more than coverage_max helpers in a tier.

    Source: scheme.toml coverage_max (spread helpers: Guizhou 2012 帮联驻 full coverage with few per place).
    """
    out: list[Violation] = []
    for tid, tier in ctx.tiers.items():
        if tier.coverage_max is None:
            continue
        counts = _counts(ctx.tier_links(tid), "target")
        for target, have in sorted(counts.items()):
            if have > tier.coverage_max + _ABS_TOL:
                out.append(Violation("coverage_max", tid, "", target,
                                     f"{have} helpers, at most {_fmt(tier.coverage_max)} allowed",
                                     f"帮扶者 {have} 名，超过上限 {_fmt(tier.coverage_max)} 名"))
    return out


def rule_composition(ctx: Context) -> list[Violation]:
    """The team of a target matching `where` includes at least `min` helpers matching `helper_where`.

    Source: Guizhou 2012 帮联驻: teams in class-1 poor villages (一类贫困村工作组) include a section-level cadre.
    """
    out: list[Violation] = []
    for tid, tier in ctx.tiers.items():
        rules = tier.list_of("composition")
        if not rules:
            continue
        tl = ctx.tier_links(tid).drop_duplicates(["helper", "target"])
        team: dict[str, list[str]] = defaultdict(list)
        for h, t in zip(tl["helper"], tl["target"]):
            team[t].append(h)
        for comp in rules:
            hit, p1 = ctx.view.targets_where(tier, comp.get("where"), ctx.target_sets[tid])
            good, p2 = ctx.view.helpers_where(tier, comp.get("helper_where"), set(tl["helper"]))
            for p in p1 + p2:
                ctx.scheme_problem(tid, p)
            need = int(comp.get("min", 1) or 0)
            for target in sorted(hit):
                have = sum(1 for h in team.get(target, []) if h in good)
                if have >= need:
                    continue
                declared = (tid, target) in ctx.declared
                out.append(Violation("composition", tid, "", target,
                                     f"team has {have} helper(s) matching {comp.get('helper_where')}, {need} required",
                                     f"工作队中符合条件 {comp.get('helper_where')} 的只有 {have} 名，需要 {need} 名",
                                     DECLARED if declared else ERROR))
    return out


def rule_quota(ctx: Context) -> list[Violation]:
    """In a quota tier, each quota's `where` category has at least `min` covered targets.

    Source: Xuchang Jian'an 万人助企联乡帮村: enterprises helped by category (困难、成长、升级企业).
    """
    out: list[Violation] = []
    for tid, tier in ctx.tiers.items():
        quotas = tier.list_of("quota")
        if not quotas:
            continue
        counts = _counts(ctx.tier_links(tid), "target")
        need_each = max(1, int(math.ceil(tier.coverage_min - _ABS_TOL)))
        for i, q in enumerate(quotas, start=1):
            hit, probs = ctx.view.targets_where(tier, q.get("where"), ctx.target_sets[tid])
            for p in probs:
                ctx.scheme_problem(tid, p)
            covered = sum(1 for t in hit if counts.get(t, 0) >= need_each)
            need = int(q.get("min", 0) or 0)
            if covered < need:
                declared = (tid, f"quota[{i}]") in ctx.declared or any((tid, t) in ctx.declared for t in hit)
                out.append(Violation("quota", tid, "", "",
                                     f"quota {q.get('where')}: {covered} covered target(s), {need} required",
                                     f"配额 {q.get('where')}：已覆盖 {covered} 个，需要 {need} 个",
                                     DECLARED if declared else ERROR))
    return out


def rule_links_min(ctx: Context) -> list[Violation]:
    """Every helper of a tier's pool has at least links_min links in that tier.

    Source: Baoxing 挂包帮: each county leader links one township, one village and one poor household.
    """
    out: list[Violation] = []
    for tid, tier in ctx.tiers.items():
        if tier.links_min <= 0:
            continue
        counts = _counts(ctx.tier_links(tid), "helper")
        for helper in sorted(ctx.pools[tid]):
            have = counts.get(helper, 0)
            if have + _ABS_TOL < tier.links_min:
                out.append(Violation("links_min", tid, helper, "",
                                     f"{have} link(s), at least {_fmt(tier.links_min)} required",
                                     f"结对 {have} 个，至少需要 {_fmt(tier.links_min)} 个"))
    return out


def rule_links_max(ctx: Context) -> list[Violation]:
    """No helper has more than links_max links in a tier.

    Source: Guizhou 2012 帮联驻: 每名处级干部联系一个乡镇 (one township per official).
    """
    out: list[Violation] = []
    for tid, tier in ctx.tiers.items():
        if tier.links_max is None:
            continue
        counts = _counts(ctx.tier_links(tid), "helper")
        for helper, have in sorted(counts.items()):
            if have > tier.links_max + _ABS_TOL:
                out.append(Violation("links_max", tid, helper, "",
                                     f"{have} links, at most {_fmt(tier.links_max)} allowed",
                                     f"结对 {have} 个，超过上限 {_fmt(tier.links_max)} 个"))
    return out


def rule_unit_share(ctx: Context) -> list[Violation]:
    """People of a unit linked in a tier are at most floor(unit_share_max x headcount).

    Source: Guizhou 2012 帮联驻: a unit keeps its own work going (at most a third of its staff stationed at once).
    """
    out: list[Violation] = []
    units = ctx.view.units
    heads = ctx.view.col("units", "headcount")
    for tid, tier in ctx.tiers.items():
        if tier.unit_share_max <= 0:
            continue
        tl = ctx.tier_links(tid)
        persons = sorted({h for h in tl["helper"] if ctx.view.is_person(h)})
        per_unit: Counter[str] = Counter(ctx.view.helper_unit(p) or "" for p in persons)
        for unit, n in sorted(per_unit.items()):
            if unit not in units.index or "headcount" not in units:
                continue
            raw_head = heads.get(unit)
            if _is_missing(raw_head):
                continue
            head = float(raw_head)  # type: ignore[arg-type]  # not missing: a number
            cap = math.floor(tier.unit_share_max * head + 1e-9)
            if n > cap:
                out.append(Violation("unit_share", tid, unit, "",
                                     f"unit {unit} has {n} people linked, at most {cap} "
                                     f"({tier.unit_share_max:g} of headcount {_fmt(head)})",
                                     f"单位 {unit} 派出 {n} 人，上限 {cap} 人"
                                     f"（编制 {_fmt(head)} 人的 {tier.unit_share_max:g}）"))
    return out


def link_days(ctx: Context, tier: TierText, helper: str, target: str) -> float:
    """Days per year one link costs its helper: visit_days + visits_per_year x round-trip travel days."""
    travel = (ctx.view.scheme.get("budget") or {}).get("travel") or {}
    detour = float(travel.get("detour", 1.4))
    speed = float(travel.get("speed_kmh", 40))
    hours = float(travel.get("hours_per_day", 8))
    days = tier.visit_days
    if tier.visits_per_year:
        km = ctx.view.distance_km(helper, target)
        if not math.isnan(km):
            days += tier.visits_per_year * 2 * km * detour / speed / hours
    return days


def rule_budget(ctx: Context) -> list[Violation]:
    """A person's days over all his links lie within his rank's [min_days, max_days].

    Source: Guizhou 2012 帮联驻: officials spend a third to half of their working days at the grassroots.
    """
    budget = ctx.view.scheme.get("budget") or {}
    people = ctx.view.people
    if not len(people) or "rank" not in people:
        return []
    days: dict[str, float] = defaultdict(float)
    counted: set[str] = set()
    seen: set[tuple[str, str, str]] = set()
    for tid, helper, target in zip(ctx.links["tier"], ctx.links["helper"], ctx.links["target"]):
        tier = ctx.tiers.get(tid)
        if tier is None or not ctx.view.is_person(helper) or (tid, helper, target) in seen:
            continue
        seen.add((tid, helper, target))
        days[helper] += link_days(ctx, tier, helper, target)
        if tier.visit_days > 0:
            counted.add(helper)
    out: list[Violation] = []
    for helper in sorted(counted):
        rank = str(ctx.view.col("people", "rank").get(helper))
        limits = budget.get(rank)
        if not isinstance(limits, dict):
            continue
        d = days[helper]
        lo, hi = limits.get("min_days"), limits.get("max_days")
        if hi is not None and d > float(hi) + 1e-6:
            out.append(Violation("budget", "", helper, "", f"{d:.2f} days a year, at most {_fmt(float(hi))} for rank {rank}",
                                 f"每年 {d:.2f} 天，{rank} 级上限 {_fmt(float(hi))} 天"))
        if lo is not None and d < float(lo) - 1e-6:
            out.append(Violation("budget", "", helper, "", f"{d:.2f} days a year, at least {_fmt(float(lo))} for rank {rank}",
                                 f"每年 {d:.2f} 天，{rank} 级下限 {_fmt(float(lo))} 天"))
    return out


def rule_nesting(ctx: Context) -> list[Violation]:
    """With nest_in = P, a link's target lies in a target of P that the helper's unit helps in P.

    Source: Guizhou 2012 帮联驻: 部门帮县、处长联乡 (a department's officials link townships of its county).
    """
    out: list[Violation] = []
    for tid, tier in ctx.tiers.items():
        parent_id = tier.nest_in
        if parent_id is None:
            continue
        parent = ctx.tiers.get(parent_id)
        if parent is None:
            ctx.scheme_problem(tid, f"nest_in = '{parent_id}' is not a tier of the scheme")
            continue
        levels = parent.target_levels
        if len(levels) != 1:
            ctx.scheme_problem(tid, f"nest_in = '{parent_id}': that tier's targets must be localities of one level")
            continue
        level = levels[0]
        pl = ctx.tier_links(parent_id)
        parent_links = set(zip(pl["helper"], pl["target"]))
        pool = ctx.pools[parent_id]
        tl = ctx.tier_links(tid)
        for helper, target in zip(tl["helper"], tl["target"]):
            unit = helper if parent.helper_table == "people" else ctx.view.helper_unit(helper)
            if unit is None or unit not in pool:
                continue
            area = ctx.view.ancestor_at(ctx.view.target_place(target), level)
            if area is None or (unit, area) not in parent_links:
                out.append(Violation("nesting", tid, helper, target,
                                     f"{unit} is a helper of tier '{parent_id}' but is not linked there to "
                                     f"{area or 'the target'}'s {level}" if area is None else
                                     f"{unit} is a helper of tier '{parent_id}' but does not help {level} {area}, "
                                     f"in which the target lies",
                                     f"{unit} 未在“{parent.name}”中帮扶该对象所在的{level} {area or ''}"))
    return out


def _eligible_links(ctx: Context, tid: str) -> pd.DataFrame:
    tl = ctx.tier_links(tid)
    keep = [(tid, h, t) not in ctx.exempt for h, t in zip(tl["helper"], tl["target"])]
    return tl[keep] if len(tl) else tl


def rule_stay_in_area(ctx: Context) -> list[Violation]:
    """A helper whose unit has a level named in stay_in_area links targets in the unit's own area at the given level.

    Source: Guizhou 2012 帮联驻: county staff are stationed in their own county, prefecture staff in their prefecture.
    """
    out: list[Violation] = []
    units = ctx.view.units
    for tid, tier in ctx.tiers.items():
        rule = tier.eligibility.get("stay_in_area") or {}
        if not rule or "level" not in units:
            continue
        tl = _eligible_links(ctx, tid)
        for helper, target in zip(tl["helper"], tl["target"]):
            unit = ctx.view.helper_unit(helper)
            if unit is None or unit not in units.index:
                continue
            ulevel = str(ctx.view.col("units", "level").get(unit))
            area_level = rule.get(ulevel)
            if not area_level:
                continue
            area = ctx.view.unit_area(unit, str(area_level))
            where = ctx.view.ancestor_at(ctx.view.target_place(target), str(area_level))
            if area is None or where != area:
                out.append(Violation("stay_in_area", tid, helper, target,
                                     f"unit {unit} ({ulevel} level) must stay in its own {area_level} {area}; "
                                     f"the target lies in {where}",
                                     f"{ulevel}级单位 {unit} 的人员须在本{area_level} {area} 内帮扶，对象位于 {where}"))
    return out


def rule_hometown_avoid(ctx: Context) -> list[Violation]:
    """A person does not link a target in his hometown's area at the hometown_avoid level.

    Source: cadre avoidance (任职回避): no posting in one's home county.
    """
    out: list[Violation] = []
    people = ctx.view.people
    if "hometown" not in people:
        return out
    for tid, tier in ctx.tiers.items():
        level = tier.eligibility.get("hometown_avoid") or ""
        if not level:
            continue
        tl = _eligible_links(ctx, tid)
        for helper, target in zip(tl["helper"], tl["target"]):
            if helper not in people.index:
                continue
            home = norm_value(ctx.view.col("people", "hometown").get(helper))
            home_area = ctx.view.ancestor_at(home, str(level))
            if home_area is None:
                continue
            if ctx.view.ancestor_at(ctx.view.target_place(target), str(level)) == home_area:
                out.append(Violation("hometown_avoid", tid, helper, target,
                                     f"the target lies in the helper's home {level} {home_area}",
                                     f"对象位于帮扶者家乡所在{level} {home_area}，应回避"))
    return out


def rule_max_distance(ctx: Context) -> list[Violation]:
    """A link's straight-line distance from the helper's unit seat is at most max_distance_km (0 = no limit).

    Source: scheme.toml eligibility.max_distance_km (helpers within reach of their place).
    """
    out: list[Violation] = []
    for tid, tier in ctx.tiers.items():
        limit = float(tier.eligibility.get("max_distance_km", 0) or 0)
        if limit <= 0:
            continue
        tl = _eligible_links(ctx, tid)
        for helper, target in zip(tl["helper"], tl["target"]):
            km = ctx.view.distance_km(helper, target)
            if math.isnan(km):
                out.append(Violation("max_distance", tid, helper, target,
                                     f"distance unknown (no position for the unit seat or the target), at most {limit:g} km",
                                     f"距离无法计算（单位驻地或对象缺少坐标），上限 {limit:g} 公里"))
            elif km > limit + 1e-9:
                out.append(Violation("max_distance", tid, helper, target,
                                     f"{km:.1f} km from the unit seat, at most {limit:g} km",
                                     f"距单位驻地 {km:.1f} 公里，上限 {limit:g} 公里"))
    return out


def rule_rank_by_class(ctx: Context) -> list[Violation]:
    """Targets matching a rank_by_class `where` accept only helpers of the listed ranks.

    Source: Guizhou 2012 帮联驻: class-1 poor villages get section-level cadres and staff stationed full time.
    """
    out: list[Violation] = []
    people = ctx.view.people
    for tid, tier in ctx.tiers.items():
        rules = tier.eligibility.get("rank_by_class") or []
        if isinstance(rules, dict):
            rules = [rules]
        if not rules or "rank" not in people:
            continue
        tl = _eligible_links(ctx, tid)
        for rbc in rules:
            hit, probs = ctx.view.targets_where(tier, rbc.get("where"), set(tl["target"]))
            for p in probs:
                ctx.scheme_problem(tid, p)
            ranks = _allowed(rbc.get("rank", []))
            for helper, target in zip(tl["helper"], tl["target"]):
                if target not in hit or helper not in people.index:
                    continue
                rank = norm_value(ctx.view.col("people", "rank").get(helper))
                if rank not in ranks:
                    out.append(Violation("rank_by_class", tid, helper, target,
                                         f"rank {rank} may not link a target matching {rbc.get('where')} "
                                         f"(allowed: {', '.join(sorted(ranks))})",
                                         f"{rank} 级不能帮扶符合 {rbc.get('where')} 的对象"))
    return out


def rule_incumbent_kept(ctx: Context) -> list[Violation]:
    """Every in-force incumbent link is in the plan, pinned, with its own start_year.

    Source: Guizhou 2012 帮联驻: 一驻三年不变 (a link lasts its three-year term).
    """
    if not ctx.terms.pin_incumbents:
        return []
    have: dict[tuple[str, str, str], tuple[bool, Any]] = {}
    for tid, h, t, pinned, start in zip(ctx.links["tier"], ctx.links["helper"], ctx.links["target"],
                                        ctx.links["pinned"], ctx.links["start_year"]):
        have.setdefault((tid, h, t), (bool(pinned), start))
    out: list[Violation] = []
    for key, start in sorted(ctx.in_force.items()):
        tid, h, t = key
        if key not in have:
            out.append(Violation("incumbent_kept", tid, h, t,
                                 f"incumbent link started {start} is in force in {ctx.terms.plan_year} but missing",
                                 f"{start} 年开始的结对仍在任期内，但方案中缺少"))
            continue
        pinned, got = have[key]
        if not pinned:
            out.append(Violation("incumbent_kept", tid, h, t, "incumbent link in force but not marked pinned",
                                 "仍在任期内的结对未标记为保留"))
        if _is_missing(got) or int(got) != start:
            out.append(Violation("incumbent_kept", tid, h, t, f"start_year {got}, the incumbent started {start}",
                                 f"开始年份为 {got}，应为 {start}"))
    return out


def rule_pinned(ctx: Context) -> list[Violation]:
    """Only in-force incumbent links are marked pinned.

    Source: Guizhou 2012 帮联驻: 一驻三年不变 (only a link whose term runs on is kept as it is).
    """
    out: list[Violation] = []
    for tid, h, t, pinned in zip(ctx.links["tier"], ctx.links["helper"], ctx.links["target"], ctx.links["pinned"]):
        if pinned and not (ctx.terms.pin_incumbents and (tid, h, t) in ctx.in_force):
            out.append(Violation("pinned", tid, h, t, "marked pinned but not an incumbent link in force",
                                 "标记为保留，但不是仍在任期内的原有结对"))
    return out


def rule_start_year(ctx: Context) -> list[Violation]:
    """A new (not pinned) link starts in the plan year.

    Source: Guizhou 2012 帮联驻: links start with the plan (2012) and last the term.
    """
    year = ctx.terms.plan_year
    if year is None:
        return []
    out: list[Violation] = []
    for tid, h, t, pinned, start in zip(ctx.links["tier"], ctx.links["helper"], ctx.links["target"],
                                        ctx.links["pinned"], ctx.links["start_year"]):
        if pinned:
            continue
        if _is_missing(start) or int(start) != year:
            out.append(Violation("start_year", tid, h, t, f"new link starts in {start}, expected the plan year {year}",
                                 f"新结对开始年份为 {start}，应为 {year}"))
    return out


def rule_no_return(ctx: Context) -> list[Violation]:
    """In a no_return tier, a helper whose term at a target ended does not link that target again.

    Source: Guizhou 帮联驻 rotation: after the three-year term cadres rotate (轮换), not back to the same place.
    """
    out: list[Violation] = []
    for tid, h, t in zip(ctx.links["tier"], ctx.links["helper"], ctx.links["target"]):
        if tid in ctx.terms.no_return and (tid, h, t) in ctx.ended:
            out.append(Violation("no_return", tid, h, t, "the helper's term at this target has ended; no return",
                                 "该帮扶者在此地的任期已满，不得重返"))
    return out


def forbidden_pairs(ctx: Context, tier: TierText) -> set[tuple[str, str]]:
    """The (helper, target) pairs a tier's ``forbidden`` key lists; a malformed entry is a scheme problem."""
    raw = tier.raw.get("forbidden") or []
    out: set[tuple[str, str]] = set()
    for entry in raw if isinstance(raw, list) else [raw]:
        if isinstance(entry, (list, tuple)) and len(entry) == 2 and all(norm_value(x) for x in entry):
            out.add((str(norm_value(entry[0])), str(norm_value(entry[1]))))
        else:
            ctx.scheme_problem(tier.id, f"forbidden entry {entry!r} is not a [helper, target] pair")
    return out


def rule_forbidden(ctx: Context) -> list[Violation]:
    """A tier's forbidden (helper, target) pairs are not linked (in-force pinned incumbents exempt).

    Source: the program's avoidance decisions, written as tiers[].forbidden in scheme.toml (docs/scheme-format.md).
    """
    out: list[Violation] = []
    for tid, tier in ctx.tiers.items():
        banned = forbidden_pairs(ctx, tier)
        if not banned:
            continue
        links = ctx.tier_links(tid)
        for h, t in zip(links["helper"], links["target"]):
            if (h, t) in banned and (tid, h, t) not in ctx.exempt:
                out.append(Violation("forbidden", tid, h, t, "the scheme forbids this link (tiers.forbidden)",
                                     "方案禁止此帮扶关系（tiers.forbidden）"))
    return out


def rule_uncovered_list(ctx: Context) -> list[Violation]:
    """uncovered.csv tells the truth: each row's target is in its tier and its counts match the plan.

    Source: docs/plan-format.md uncovered.csv (an honest plan declares every shortfall).
    """
    out: list[Violation] = []
    unc = ctx.plan.uncovered
    if unc is None or not len(unc):
        return out
    for (tid, target), row in sorted(ctx.declared.items()):
        tier = ctx.tiers.get(tid)
        if tier is None:
            out.append(Violation("uncovered_list", tid, "", target, f"tier '{tid}' is not a tier of the scheme",
                                 f"层级 '{tid}' 不存在"))
            continue
        quota = re.fullmatch(r"quota\[(\d+)\]", target)
        if quota is not None:
            out.extend(_quota_row(ctx, tier, target, int(quota.group(1)), row))
            continue
        if target not in ctx.target_sets[tid]:
            out.append(Violation("uncovered_list", tid, "", target, "listed as uncovered but not a target of the tier",
                                 "列为未覆盖，但不是该层级的对象"))
            continue
        have = _counts(ctx.tier_links(tid), "target").get(target, 0)
        try:
            assigned, required, short = (int(str(row.get(k))) for k in ("assigned", "required", "short"))
        except (TypeError, ValueError):
            out.append(Violation("uncovered_list", tid, "", target, "required/assigned/short are not integers",
                                 "required/assigned/short 不是整数"))
            continue
        if assigned != have:
            out.append(Violation("uncovered_list", tid, "", target, f"listed with {assigned} assigned, the plan has {have}",
                                 f"清单写已派 {assigned} 名，方案实有 {have} 名"))
        if short != required - assigned or short <= 0:
            out.append(Violation("uncovered_list", tid, "", target,
                                 f"short = {short}, but required - assigned = {required - assigned}",
                                 f"缺额 {short} 与 需要-已派 = {required - assigned} 不符"))
        if tier.coverage == "full":
            need, _ = ctx.view.required(tier, [target])
            if required < need[target]:
                out.append(Violation("uncovered_list", tid, "", target,
                                     f"listed as requiring {required}, the scheme requires {need[target]}",
                                     f"清单写需要 {required} 名，规则要求 {need[target]} 名"))
            elif have >= need[target] and not _composition_short(ctx, tier, target):
                out.append(Violation("uncovered_list", tid, "", target,
                                     f"listed as uncovered, but its {have} helper(s) meet the scheme's "
                                     f"{need[target]} and its team composition",
                                     f"列为未覆盖，但已有 {have} 名，满足规则要求的 {need[target]} 名及队伍构成"))
    return out


def _quota_row(ctx: Context, tier: TierText, label: str, index: int, row: dict[str, Any]) -> list[Violation]:
    """An uncovered.csv row ``quota[i]`` declares the shortfall of the tier's i-th quota (1-based)."""
    quotas = tier.list_of("quota")
    if not 1 <= index <= len(quotas):
        return [Violation("uncovered_list", tier.id, "", label, f"tier '{tier.id}' has {len(quotas)} quota(s), no {label}",
                          f"该层级只有 {len(quotas)} 个配额，没有 {label}")]
    q = quotas[index - 1]
    counts = _counts(ctx.tier_links(tier.id), "target")
    need_each = max(1, int(math.ceil(tier.coverage_min - _ABS_TOL)))
    hit, _ = ctx.view.targets_where(tier, q.get("where"), ctx.target_sets[tier.id])
    real = int(q.get("min", 0) or 0) - sum(1 for t in hit if counts.get(t, 0) >= need_each)
    try:
        short = int(str(row.get("short")))
    except (TypeError, ValueError):
        short = -1
    if short != real or real <= 0:
        return [Violation("uncovered_list", tier.id, "", label,
                          f"{label} listed {short} short, the plan is {max(real, 0)} short of that quota",
                          f"{label} 写缺 {short} 个，方案实缺 {max(real, 0)} 个")]
    return []


def _composition_short(ctx: Context, tier: TierText, target: str) -> bool:
    """True when a target's team misses a composition rule of its tier."""
    tl = ctx.tier_links(tier.id)
    team = set(tl.loc[tl["target"] == target, "helper"])
    for comp in tier.list_of("composition"):
        hit, _ = ctx.view.targets_where(tier, comp.get("where"), [target])
        if not hit:
            continue
        good, _ = ctx.view.helpers_where(tier, comp.get("helper_where"), team)
        if len(good) < int(comp.get("min", 1) or 0):
            return True
    return False


def rule_distance(ctx: Context) -> list[Violation]:
    """A link's distance_km is the straight-line distance from the helper's unit seat to the target.

    Source: docs/plan-format.md distance_km (travel is what the time budget and the travel objective use).
    """
    out: list[Violation] = []
    if "distance_km" not in ctx.links:
        return out
    for tid, h, t, km in zip(ctx.links["tier"], ctx.links["helper"], ctx.links["target"], ctx.links["distance_km"]):
        mine = ctx.view.distance_km(h, t)
        if math.isnan(mine) or _is_missing(km):
            continue
        if abs(float(km) - mine) > max(0.15, 0.005 * mine):
            out.append(Violation("distance", tid, h, t, f"distance_km {float(km):.1f}, the checker measures {mine:.1f}",
                                 f"距离写为 {float(km):.1f} 公里，核对为 {mine:.1f} 公里"))
    return out


def rule_instance_hash(ctx: Context) -> list[Violation]:
    """The plan belongs to the instance: plan.json's instance sha256 matches the instance folder (warning).

    Source: docs/plan-format.md plan.json instance.sha256.
    """
    from matcher.fileio import folder_sha256

    path = getattr(ctx.view.instance, "path", None)
    want = (ctx.plan.header.get("instance") or {}).get("sha256")
    if path is None or not want:
        return []
    try:
        have = folder_sha256(path)
    except OSError:
        return []
    if have == want:
        return []
    return [Violation("instance_hash", "", "", "",
                      f"plan.json names instance sha256 {str(want)[:12]}..., the instance folder {path} hashes to "
                      f"{have[:12]}...: the plan was made for another version of the instance",
                      f"方案对应的实例哈希 {str(want)[:12]}... 与实例目录 {have[:12]}... 不符：方案可能针对另一版本的实例",
                      WARNING)]


def objective_weight(scheme: dict[str, Any], term: str) -> float:
    """The scheme's weight of an objective term ([objective.weights], 1 when unset or unreadable)."""
    weights = (scheme.get("objective") or {}).get("weights") or {}
    value = weights.get(term, 1.0) if isinstance(weights, dict) else 1.0
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 1.0


def rule_objective_figures(ctx: Context) -> list[Violation]:
    """plan.json's match, strength and travel objective equal the weighted sums of the links' cost columns (warning).

    Source: docs/plan-format.md: cost_match, cost_strength, cost_travel are each link's share of the objective;
    docs/scheme-format.md: each priority is its weighted sum.
    """
    objective = ctx.plan.header.get("objective")
    if not isinstance(objective, dict):
        return []
    out: list[Violation] = []
    for term in ("match", "strength", "travel"):
        col = f"cost_{term}"
        value = objective.get(term)
        if col not in ctx.links or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        w = objective_weight(ctx.view.scheme, term)
        total = w * float(pd.to_numeric(ctx.links[col], errors="coerce").fillna(0.0).sum())
        if abs(total - float(value)) > max(0.01, 1e-3 * abs(total)):
            times = "" if w == 1.0 else f"{w:g} x "
            out.append(Violation("objective_figures", "", "", "",
                                 f"plan.json objective {term} = {float(value):g}, {times}the links' {col} sum to {total:.4f}",
                                 f"方案目标值 {term} = {float(value):g}，{times}各结对 {col} 之和为 {total:.4f}", WARNING))
    return out


RuleFunction = Callable[[Context], list[Violation]]

RULES: dict[str, RuleFunction] = {
    "plan_year": rule_plan_year,
    "known_tier": rule_known_tier,
    "helper_pool": rule_helper_pool,
    "target_set": rule_target_set,
    "duplicate": rule_duplicate,
    "coverage": rule_coverage,
    "coverage_max": rule_coverage_max,
    "composition": rule_composition,
    "quota": rule_quota,
    "links_min": rule_links_min,
    "links_max": rule_links_max,
    "unit_share": rule_unit_share,
    "budget": rule_budget,
    "nesting": rule_nesting,
    "stay_in_area": rule_stay_in_area,
    "hometown_avoid": rule_hometown_avoid,
    "max_distance": rule_max_distance,
    "rank_by_class": rule_rank_by_class,
    "incumbent_kept": rule_incumbent_kept,
    "pinned": rule_pinned,
    "start_year": rule_start_year,
    "no_return": rule_no_return,
    "forbidden": rule_forbidden,
    "uncovered_list": rule_uncovered_list,
    "distance": rule_distance,
    "instance_hash": rule_instance_hash,
    "objective_figures": rule_objective_figures,
}
"""Every rule the checker verifies, by name (the ``rule`` column of a report)."""


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass
class CheckReport:
    """The checker's verdict: one row per violation (errors, declared shortfalls, warnings)."""

    violations: pd.DataFrame
    links_checked: int

    @property
    def errors(self) -> pd.DataFrame:
        """Violations that make the plan wrong."""
        return self.violations[self.violations["kind"] == ERROR]

    @property
    def declared(self) -> pd.DataFrame:
        """Coverage shortfalls the plan lists honestly in uncovered.csv."""
        return self.violations[self.violations["kind"] == DECLARED]

    @property
    def warnings(self) -> pd.DataFrame:
        """Things worth knowing that do not make the plan wrong (e.g. another instance version)."""
        return self.violations[self.violations["kind"] == WARNING]

    @property
    def ok(self) -> bool:
        """True when no hard rule is broken (declared shortfalls and warnings allowed)."""
        return len(self.errors) == 0

    def counts(self) -> dict[str, int]:
        """Numbers for plan.json's ``check`` field."""
        return {"violations": int(len(self.errors)), "declared_shortfalls": int(len(self.declared)),
                "warnings": int(len(self.warnings)), "links_checked": int(self.links_checked)}

    def text(self, lang: str = "en", limit: int | None = None) -> str:
        """The verdict as plain text: a first line, then one line per violation (up to ``limit``)."""
        zh = lang == "zh"
        e, d, w = len(self.errors), len(self.declared), len(self.warnings)
        if e == 0:
            head = (f"通过：0 项违规，已核对 {self.links_checked} 个结对" if zh
                    else f"OK: 0 violations, {self.links_checked} links checked")
        else:
            head = (f"未通过：{e} 项违规，已核对 {self.links_checked} 个结对" if zh
                    else f"FAILED: {e} violation(s), {self.links_checked} links checked")
        if d:
            head += f"；{d} 项已说明的覆盖缺口" if zh else f"; {d} declared shortfall(s)"
        if w:
            head += f"；{w} 项提示" if zh else f"; {w} warning(s)"
        lines = [head]
        rows = self.violations if limit is None else self.violations.head(limit)
        for r in rows.to_dict("records"):
            where = ", ".join(f"{k}={r[k]}" for k in ("tier", "helper", "target") if r[k])
            lines.append(f"[{r['kind']}] {r['rule']} {where}: {r['detail_zh'] if zh else r['detail']}")
        if limit is not None and len(self.violations) > limit:
            lines.append(f"... 另有 {len(self.violations) - limit} 项" if zh
                         else f"... and {len(self.violations) - limit} more")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.text("en")

    def _repr_html_(self) -> str:
        """Jupyter: the verdict and the first 200 violations as a table (every cell escaped)."""
        import html

        head = html.escape(self.text("en", limit=0).splitlines()[0])
        table = self.violations.head(200).to_html(index=False, escape=True) if len(self.violations) else ""
        return f"<p><b>{head}</b></p>{table}"


def check_plan(instance: Any, plan: Plan, rules: Iterable[str] | None = None) -> CheckReport:
    """Verify every hard rule of the instance's scheme on a plan; return the violations found.

    ``rules`` limits the check to some rule names (all by default).
    """
    ctx = build_context(instance, plan)
    found: list[Violation] = []
    for name in (list(rules) if rules is not None else list(RULES)):
        found.extend(RULES[name](ctx))
    found.extend(ctx.problems)
    view = ctx.view
    frame = pd.DataFrame(
        [{"rule": v.rule, "kind": v.kind, "tier": v.tier, "helper": v.helper, "target": v.target,
          "detail": v.detail, "detail_zh": v.detail_zh,
          "helper_name": view.name_of(v.helper, ("people", "units")),
          "target_name": view.name_of(v.target, ("localities", "targets"))} for v in found],
        columns=VIOLATION_COLUMNS,
    )
    order = {name: i for i, name in enumerate([*RULES, "scheme"])}
    if len(frame):
        frame["_o"] = frame["rule"].map(order).fillna(len(order))
        frame = frame.sort_values(["_o", "tier", "target", "helper", "detail"], kind="stable").drop(columns="_o")
        frame = frame.reset_index(drop=True)
    return CheckReport(violations=frame, links_checked=int(len(ctx.links)))
