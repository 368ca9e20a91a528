"""What-if scenarios: an instance with edits a planner reads aloud, cheap to copy, solved warm from a base plan.

>>> s = Scenario(read_instance("instances/guizhou"))
>>> s3 = s.set_class_min("village", {"poverty_class": [1]}, 3)      # poor villages need teams of three
>>> plan3 = s3.solve(base=plan)                                      # warm start from the base plan
>>> diff_plans(plan, plan3, s3.instance)

A Scenario holds its base instance and a tuple of edits; every method returns a new Scenario (the
base is never changed), so copies cost nothing. ``scenario.instance`` applies the edits to copies of
the tables and the scheme dict (no file is written); ``scenario.save(dir)`` writes an instance folder
in docs/instance-format.md that ``read_instance`` loads.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import math
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from matcher.candidates import scheme_and_context
from matcher.errors import InstanceError, Problem
from matcher.fileio import atomic_write_text
from matcher.membership import isin

if TYPE_CHECKING:  # pragma: no cover
    from matcher.candidates import Context
    from matcher.instance import Instance
    from matcher.plan import Plan
    from matcher.scheme import Scheme, Tier

Apply = Callable[["Instance"], "Instance"]

#: Columns written for each table by ``Scenario.save`` (docs/instance-format.md), in order.
TABLE_COLUMNS: dict[str, list[str]] = {
    "localities": ["code", "name", "level", "parent", "kind", "poverty_class", "population", "ethnic_groups",
                   "needs", "lon", "lat", "position"],
    "targets": ["id", "name", "kind", "locality", "category", "poverty_class", "needs", "size"],
    "units": ["id", "name", "level", "locality", "function", "headcount", "strength"],
    "people": ["id", "name", "unit", "rank", "role", "gender", "birth_year", "hometown", "skills", "languages"],
    "incumbents": ["tier", "helper", "target", "start_year"],
}
#: Columns the loader derives; they are not written back.
DERIVED_COLUMNS = {"province", "prefecture", "county", "township", "area"}
ANCESTOR_LEVELS = ("province", "prefecture", "county", "township")


@dataclass(frozen=True)
class Edit:
    """One change to an instance, with the sentence that describes it in English and Chinese."""

    kind: str
    text_en: str
    text_zh: str
    apply: Apply = field(repr=False, compare=False)
    data: tuple[Any, ...] = ()


def _replace(inst: Instance, **changes: Any) -> Instance:
    """A shallow copy of ``inst`` with some attributes replaced (dataclass or plain object)."""
    if dataclasses.is_dataclass(inst):
        return dataclasses.replace(inst, **changes)
    out = copy.copy(inst)
    for k, v in changes.items():
        setattr(out, k, v)
    return out


def _tier_index(scheme: Mapping[str, Any], tier: str) -> int:
    """Position of tier ``tier`` in the scheme's tiers list; a clear error if there is none."""
    ids = [str(t.get("id")) for t in scheme.get("tiers", [])]
    if tier not in ids:
        raise InstanceError([Problem("scheme.toml", None, "tiers", f"no tier '{tier}'; the tiers are {', '.join(ids)}")])
    return ids.index(tier)


def _require(table: pd.DataFrame, ids: Iterable[str], file: str, what: str) -> None:
    """Raise InstanceError naming every id of ``ids`` that is not in ``table``'s index."""
    missing = [i for i in ids if i not in table.index]
    if missing:
        raise InstanceError([Problem(file, None, "id" if file != "localities.csv" else "code",
                                     f"no {what} '{m}' in the instance") for m in missing])


def _as_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, tuple):
        return v
    if isinstance(v, list):
        return tuple(str(x) for x in v)
    if v is None or (isinstance(v, float) and pd.isna(v)) or v == "":
        return ()
    if isinstance(v, str):
        return tuple(x for x in v.split(";") if x)
    return (str(v),)


@dataclass(frozen=True)
class Scenario:
    """An instance and a list of edits; each method returns a new Scenario with one more edit."""

    base: Instance
    edits: tuple[Edit, ...] = ()
    name: str = "scenario"

    # ------------------------------------------------------------------ plumbing

    def _with(self, edit: Edit) -> Scenario:
        return Scenario(self.base, self.edits + (edit,), self.name)

    def named(self, name: str) -> Scenario:
        """The same scenario under another name (used in reports and saved folders)."""
        return Scenario(self.base, self.edits, name)

    @cached_property
    def instance(self) -> Instance:
        """The base instance with every edit applied, in order, to copies of its tables and scheme."""
        inst = _replace(
            self.base,
            scheme=copy.deepcopy(self.base.scheme),
            localities=self.base.localities.copy(),
            targets=self.base.targets.copy(),
            units=self.base.units.copy(),
            people=self.base.people.copy(),
            incumbents=self.base.incumbents.copy(),
        )
        for e in self.edits:
            inst = e.apply(inst)
        return inst

    def describe(self, lang: str = "en") -> str:
        """The edits as numbered sentences, in English or Chinese."""
        if not self.edits:
            return "未作修改。" if lang == "zh" else "No changes."
        return "\n".join(f"{i}. {e.text_zh if lang == 'zh' else e.text_en}" for i, e in enumerate(self.edits, 1))

    def __str__(self) -> str:
        return f"Scenario '{self.name}' on {self.base.path}:\n{self.describe()}"

    @property
    def plan_year(self) -> int:
        """The plan year of the edited scheme."""
        return int(self.instance.scheme["program"]["plan_year"])

    # ------------------------------------------------------------------ people

    def add_people(self, people: pd.DataFrame | Sequence[Mapping[str, Any]]) -> Scenario:
        """Add cadres (rows in the people.csv columns); their units' headcounts grow to hold them."""
        rows = people if isinstance(people, pd.DataFrame) else pd.DataFrame(list(people))
        rows = rows.reset_index() if "id" not in rows.columns else rows.reset_index(drop=True)
        rows = rows.copy()
        for col in ("skills", "languages"):
            if col in rows.columns:
                rows[col] = rows[col].map(_as_list)
        n = len(rows)

        def apply(inst: Instance) -> Instance:
            problems = []
            for i, r in enumerate(rows.to_dict("records"), start=2):
                if str(r.get("id")) in inst.people.index or str(r.get("id")) in inst.units.index:
                    problems.append(Problem("people.csv", i, "id", f"id '{r.get('id')}' is already used"))
                if str(r.get("unit")) not in inst.units.index:
                    problems.append(Problem("people.csv", i, "unit", f"unknown unit '{r.get('unit')}'"))
            if problems:
                raise InstanceError(problems)
            add = rows.copy()
            add["id"] = add["id"].astype(str)
            add = add.set_index("id")
            for col in inst.people.columns:
                if col not in add.columns:
                    add[col] = [() if col in ("skills", "languages") else "" for _ in range(len(add))]
            people_t = pd.concat([inst.people, add[inst.people.columns]])
            units = inst.units.copy()
            listed = people_t.groupby("unit").size()
            for u, k in listed.items():
                if u in units.index and int(units.at[u, "headcount"]) < int(k):
                    units.at[u, "headcount"] = int(k)
            return _replace(inst, people=people_t, units=units)

        return self._with(Edit("add_people", f"Add {n} cadre(s).", f"新增干部 {n} 名。", apply))

    def add_staff(self, unit: str, count: int, *, rank: str = "staff", prefix: str | None = None) -> Scenario:
        """Add ``count`` new cadres of ``rank`` to ``unit``, skills = unit functions.

        The headcount grows by ``count``, or more where a tier's unit share cap (``unit_share_max``) would
        otherwise keep some of the unit's people from taking a post.
        """
        prefix = prefix or f"{unit}-new"

        def apply(inst: Instance) -> Instance:
            _require(inst.units, [unit], "units.csv", "unit")
            u = inst.units.loc[unit]
            funcs = _as_list(u["function"])
            ids = [f"{prefix}{i:03d}" for i in range(1, count + 1)]
            clash = [i for i in ids if i in inst.people.index or i in inst.units.index]
            if clash:
                raise InstanceError([Problem("people.csv", None, "id", f"id '{c}' is already used") for c in clash])
            add = pd.DataFrame(index=pd.Index(ids, name=inst.people.index.name or "id"))
            for col in inst.people.columns:
                add[col] = [() if col in ("skills", "languages") else "" for _ in ids]
            add["name"] = [f"{u['name']}新增干部{i}" for i in range(1, count + 1)]
            add["unit"] = unit
            add["rank"] = rank
            add["gender"] = ["F" if i % 2 else "M" for i in range(count)]
            if "skills" in add.columns:
                add["skills"] = [funcs for _ in ids]
            if "birth_year" in add.columns:
                add["birth_year"] = pd.NA
            add = add.astype({c: inst.people[c].dtype for c in add.columns
                              if str(inst.people[c].dtype) in ("Int64", "float64")})
            people_t = pd.concat([inst.people, add])
            units = inst.units.copy()
            hc = int(units.at[unit, "headcount"]) + count
            # new staff on the books: enough headcount that every tier's unit share cap still admits
            # all of the unit's listed people (a third of the headcount away at once: 3 on the books each)
            mine = people_t[people_t["unit"] == unit]
            for t in inst.scheme.get("tiers", []):
                share = float(t.get("unit_share_max", 0) or 0)
                if share > 0 and t.get("helpers", {}).get("table") == "people":
                    ranks = t["helpers"].get("rank")
                    n = int(mine["rank"].isin(ranks).sum()) if ranks else len(mine)
                    hc = max(hc, math.ceil(n / share - 1e-9))
            units.at[unit, "headcount"] = hc
            return _replace(inst, people=people_t, units=units)

        return self._with(Edit("add_staff", f"Unit {unit} gains {count} {rank} cadre(s).",
                               f"单位 {unit} 新增{_RANK_ZH.get(rank, rank)} {count} 名。", apply))

    def remove_people(self, ids: Iterable[str], reason: str = "left") -> Scenario:
        """Remove cadres (promoted, ill, transferred); their links in force end and leave vacancies."""
        ids = [str(i) for i in ids]

        def apply(inst: Instance) -> Instance:
            _require(inst.people, ids, "people.csv", "person")
            people_t = inst.people.drop(index=ids)
            inc = inst.incumbents[~isin(inst.incumbents["helper"].astype(str), ids)].reset_index(drop=True)
            return _replace(inst, people=people_t, incumbents=inc)

        return self._with(Edit("remove_people", f"Remove {len(ids)} cadre(s) ({reason}): {', '.join(ids[:10])}"
                               + ("..." if len(ids) > 10 else "") + ".",
                               f"{len(ids)} 名干部离开（{_REASON_ZH.get(reason, reason)}）：{'、'.join(ids[:10])}"
                               + ("等" if len(ids) > 10 else "") + "。", apply))

    # ------------------------------------------------------------------ units

    def merge_units(self, keep: str, absorb: str, *, name: str | None = None) -> Scenario:
        """Merge unit ``absorb`` into unit ``keep``: its people, headcount, strength, functions and links move over."""

        def apply(inst: Instance) -> Instance:
            _require(inst.units, [keep, absorb], "units.csv", "unit")
            units = inst.units.copy()
            a, b = units.loc[keep], units.loc[absorb]
            units.at[keep, "headcount"] = int(a["headcount"]) + int(b["headcount"])
            if "strength" in units.columns:
                units.at[keep, "strength"] = float(a["strength"]) + float(b["strength"])
            funcs = list(_as_list(a["function"]))
            funcs += [f for f in _as_list(b["function"]) if f not in funcs]
            units.at[keep, "function"] = tuple(funcs)
            if name:
                units.at[keep, "name"] = name
            units = units.drop(index=absorb)
            people_t = inst.people.copy()
            people_t.loc[people_t["unit"] == absorb, "unit"] = keep
            inc = inst.incumbents.copy()
            inc.loc[inc["helper"].astype(str) == absorb, "helper"] = keep
            inc = inc.drop_duplicates(subset=["tier", "helper", "target"], keep="first").reset_index(drop=True)
            return _replace(inst, units=units, people=people_t, incumbents=inc)

        label = f" as {name}" if name else ""
        return self._with(Edit("merge_units", f"Merge unit {absorb} into {keep}{label}.",
                               f"单位 {absorb} 并入 {keep}" + (f"，更名为{name}" if name else "") + "。", apply))

    def drop_unit(self, unit: str) -> Scenario:
        """Drop a unit with all its people; their links in force end."""

        def apply(inst: Instance) -> Instance:
            _require(inst.units, [unit], "units.csv", "unit")
            gone = set(inst.people.index[inst.people["unit"] == unit]) | {unit}
            inc = inst.incumbents[~isin(inst.incumbents["helper"].astype(str), gone)].reset_index(drop=True)
            return _replace(inst, units=inst.units.drop(index=unit), people=inst.people.drop(index=list(gone - {unit})),
                            incumbents=inc)

        return self._with(Edit("drop_unit", f"Drop unit {unit} and its people.", f"撤销单位 {unit} 及其人员。", apply))

    # ------------------------------------------------------------------ targets

    def close_target(self, target: str) -> Scenario:
        """Close a target: a village or township no longer needs help, or an enterprise leaves the program.

        A target in targets.csv and a locality without children are removed; a locality with children
        (a township) is kept in the tree and marked ``open = "no"``, every tier's target filter then asks
        ``open = ["yes"]``.
        """

        def apply(inst: Instance) -> Instance:
            inc = inst.incumbents[inst.incumbents["target"].astype(str) != target].reset_index(drop=True)
            if target in inst.targets.index:
                return _replace(inst, targets=inst.targets.drop(index=target), incumbents=inc)
            _require(inst.localities, [target], "localities.csv", "target")
            has_children = bool((inst.localities["parent"].astype(str) == target).any())
            inside = (inst.targets["locality"].astype(str) == target).any() if len(inst.targets) else False
            if not has_children and not inside:
                locs = inst.localities.drop(index=target)
                changes: dict[str, Any] = {"localities": locs, "incumbents": inc}
                if getattr(inst, "positions", None) is not None and target in inst.positions.index:
                    changes["positions"] = inst.positions.drop(index=target)
                if getattr(inst, "tree", None) is not None and target in inst.tree:
                    tree = inst.tree.copy()
                    tree.remove_node(target)
                    changes["tree"] = tree
                return _replace(inst, **changes)
            locs = inst.localities.copy()
            if "open" not in locs.columns:
                locs["open"] = "yes"
            locs.at[target, "open"] = "no"
            scheme = inst.scheme
            for t in scheme.get("tiers", []):
                if t.get("targets", {}).get("table") == "localities":
                    t["targets"]["open"] = ["yes"]
            return _replace(inst, localities=locs, incumbents=inc, scheme=scheme)

        return self._with(Edit("close_target", f"Close target {target}.", f"对象 {target} 不再帮扶。", apply))

    def add_target(self, row: Mapping[str, Any]) -> Scenario:
        """Add a target to targets.csv (an enterprise, a key project, a household) in a known locality."""
        row = dict(row)

        def apply(inst: Instance) -> Instance:
            tid = str(row.get("id", ""))
            loc = str(row.get("locality", ""))
            problems = []
            if not tid or tid in inst.targets.index:
                problems.append(Problem("targets.csv", None, "id", f"id '{tid}' is empty or already used"))
            if loc not in inst.localities.index:
                problems.append(Problem("targets.csv", None, "locality", f"unknown locality '{loc}'"))
            if problems:
                raise InstanceError(problems)
            new = {c: row.get(c, "") for c in inst.targets.columns}
            new["needs"] = _as_list(row.get("needs", ()))
            if "poverty_class" in new:
                new["poverty_class"] = int(row.get("poverty_class", 0) or 0)
            for lvl in ANCESTOR_LEVELS:
                if lvl in inst.targets.columns:
                    new[lvl] = inst.localities.at[loc, lvl] if lvl in inst.localities.columns else pd.NA
            add = pd.DataFrame([new], index=pd.Index([tid], name=inst.targets.index.name or "id"))
            targets = pd.concat([inst.targets, add]) if len(inst.targets) else add
            return _replace(inst, targets=targets)

        return self._with(Edit("add_target", f"Add target {row.get('id')} ({row.get('name', '')}).",
                               f"新增帮扶对象 {row.get('id')}（{row.get('name', '')}）。", apply))

    # ------------------------------------------------------------------ rules

    def set_rule(self, tier: str, key: str, value: Any) -> Scenario:
        """Set a tier's rule parameter (e.g. ``coverage_max``, ``unit_share_max``, ``eligibility.max_distance_km``)."""

        def apply(inst: Instance) -> Instance:
            t = inst.scheme["tiers"][_tier_index(inst.scheme, tier)]
            *parents, last = key.split(".")
            for p in parents:
                t = t.setdefault(p, {})
            t[last] = copy.deepcopy(value)
            return inst

        return self._with(Edit("set_rule", f"In tier {tier}, set {key} = {value!r}.",
                               f"在{tier}层级中，将 {key} 设为 {value!r}。", apply))

    def set_class_min(self, tier: str, where: Mapping[str, Sequence[Any]], minimum: int) -> Scenario:
        """Targets matching ``where`` need at least ``minimum`` helpers (e.g. poor villages need teams of three)."""
        where = {k: list(v) for k, v in where.items()}

        def apply(inst: Instance) -> Instance:
            t = inst.scheme["tiers"][_tier_index(inst.scheme, tier)]
            rules = t.setdefault("class_min", [])
            for r in rules:
                if {k: list(v) for k, v in r.get("where", {}).items()} == where:
                    r["min"] = int(minimum)
                    break
            else:
                rules.append({"where": where, "min": int(minimum)})
            if int(t.get("coverage_max", 1)) < minimum:
                t["coverage_max"] = int(minimum)
            return inst

        cond = ", ".join(f"{k} in {v}" for k, v in where.items())
        return self._with(Edit("set_class_min", f"In tier {tier}, targets with {cond} need at least {minimum} helpers.",
                               f"在{tier}层级中，满足 {cond} 的对象至少需要 {minimum} 名帮扶人员。", apply))

    def set_coverage(self, tier: str, *, minimum: int | None = None, maximum: int | None = None) -> Scenario:
        """Change how many helpers every target of ``tier`` needs (minimum) and may have (maximum)."""

        def apply(inst: Instance) -> Instance:
            t = inst.scheme["tiers"][_tier_index(inst.scheme, tier)]
            if minimum is not None:
                t["coverage_min"] = int(minimum)
            if maximum is not None:
                t["coverage_max"] = int(maximum)
            return inst

        return self._with(Edit("set_coverage", f"In tier {tier}, coverage min={minimum} max={maximum}.",
                               f"在{tier}层级中，每个对象帮扶人数下限 {minimum}、上限 {maximum}。", apply))

    def set_priority(self, order: Sequence[str]) -> Scenario:
        """Change the objective's priority order (first is most important)."""
        order = list(order)

        def apply(inst: Instance) -> Instance:
            inst.scheme.setdefault("objective", {})["order"] = list(order)
            return inst

        return self._with(Edit("set_priority", f"Objective priorities: {' > '.join(order)}.",
                               f"目标优先次序：{' > '.join(order)}。", apply))

    def set_weight(self, term: str, weight: float) -> Scenario:
        """Change one objective weight (inside its priority), e.g. ``travel`` or ``language``."""

        def apply(inst: Instance) -> Instance:
            inst.scheme.setdefault("objective", {}).setdefault("weights", {})[term] = float(weight)
            return inst

        return self._with(Edit("set_weight", f"Weight of {term} = {weight}.", f"目标权重 {term} 设为 {weight}。", apply))

    def force_link(self, tier: str, helper: str, target: str) -> Scenario:
        """Force a link: written as an incumbent starting in the plan year, so it is in force and pinned.

        This uses the term rule of docs/scheme-format.md (an in-force incumbent is pinned), which every
        solver and the checker already honour; the link still counts in every constraint.
        """

        def apply(inst: Instance) -> Instance:
            _tier_index(inst.scheme, tier)
            year = int(inst.scheme["program"]["plan_year"])
            row = pd.DataFrame([{"tier": tier, "helper": helper, "target": target, "start_year": year}])
            row["start_year"] = row["start_year"].astype(inst.incumbents["start_year"].dtype)
            inc = pd.concat([inst.incumbents, row], ignore_index=True)
            inc = inc.drop_duplicates(subset=["tier", "helper", "target"], keep="last").reset_index(drop=True)
            return _replace(inst, incumbents=inc)

        return self._with(Edit("force_link", f"Force {helper} -> {target} in tier {tier}.",
                               f"指定 {helper} 帮扶 {target}（{tier}）。", apply))

    def forbid_link(self, tier: str, helper: str, target: str) -> Scenario:
        """Forbid a link: the pair joins the tier's ``forbidden`` list in the scheme (an incumbent link ends).

        The scheme key (docs/scheme-format.md, ``tiers[].forbidden``) is what every solve reads and the
        checker verifies, so a saved scenario solved with ``matcher solve`` never uses the pair either.
        """

        def apply(inst: Instance) -> Instance:
            raw = inst.scheme["tiers"][_tier_index(inst.scheme, tier)]
            pairs = raw.setdefault("forbidden", [])
            if [helper, target] not in pairs:
                pairs.append([helper, target])
            inc = inst.incumbents
            keep = ~((inc["tier"] == tier) & (inc["helper"].astype(str) == helper) & (inc["target"].astype(str) == target))
            return _replace(inst, incumbents=inc[keep].reset_index(drop=True))

        return self._with(Edit("forbid_link", f"Forbid {helper} -> {target} in tier {tier}.",
                               f"禁止 {helper} 帮扶 {target}（{tier}）。", apply, (tier, helper, target)))

    def set_plan_year(self, year: int) -> Scenario:
        """Move the plan year (e.g. to 2015: the 2012 terms end and everyone rotates)."""

        def apply(inst: Instance) -> Instance:
            inst.scheme["program"]["plan_year"] = int(year)
            inc = inst.incumbents
            return _replace(inst, incumbents=inc[inc["start_year"].astype(int) <= int(year)].reset_index(drop=True))

        return self._with(Edit("set_plan_year", f"Plan year {year}.", f"规划年度改为 {year} 年。", apply))

    # ------------------------------------------------------------------ slices

    def within(self, areas: Sequence[str], *, departments: Sequence[str] | None = None,
               people: Iterable[str] | None = None) -> Scenario:
        """Keep only the places inside ``areas`` (county or prefecture codes) and the helpers who serve them.

        A slice for quick what-ifs and notebooks: county units of the kept counties stay whole; a
        prefecture unit keeps a share of its people (and headcount) equal to the slice's share of its
        prefecture's villages; province-level helpers are ``departments`` if given, else the units already
        linked to the kept places in the first tier's incumbents, else the first units by id, one per
        target of the first tier. With ``people``, prefecture units and departments keep exactly those
        people (plus their people in no link of the incumbents) instead of a scaled share.
        """
        areas = [str(a) for a in areas]
        exact = set(map(str, people)) if people is not None else None

        def apply(inst: Instance) -> Instance:
            _require(inst.localities, areas, "localities.csv", "area")
            loc = inst.localities
            inside = pd.Series(False, index=loc.index)
            for a in areas:
                lvl = str(loc.at[a, "level"])
                inside |= loc[lvl].astype(str) == a if lvl in loc.columns else loc.index == a
            keep_codes = set(loc.index[inside])
            for a in areas:  # the ancestors, so the tree keeps one root
                keep_codes |= {str(loc.at[a, lv]) for lv in ANCESTOR_LEVELS if lv in loc.columns
                               and not pd.isna(loc.at[a, lv]) and str(loc.at[a, lv])}
            locs = loc[isin(loc.index, keep_codes)]
            villages = loc[loc["level"] == "village"]
            kept_villages = villages[isin(villages.index, keep_codes)]
            units = inst.units
            area_of = units["area"].astype(str) if "area" in units.columns else units["locality"].astype(str)
            tiers = inst.scheme.get("tiers", [])
            first = tiers[0] if tiers else {}
            kept_units: list[str] = []
            frac: dict[str, float] = {}
            for u, lvl in units["level"].items():
                if lvl == "county" and area_of[u] in keep_codes:
                    kept_units.append(u)
                elif lvl == "prefecture" and area_of[u] in keep_codes:
                    n_all = int((villages["prefecture"].astype(str) == area_of[u]).sum())
                    n_in = int((kept_villages["prefecture"].astype(str) == area_of[u]).sum())
                    if n_in:
                        kept_units.append(u)
                        frac[u] = n_in / max(n_all, 1)
            provincial = units.index[units["level"] == "province"]
            if departments is not None:
                chosen = [str(d) for d in departments]
            else:
                inc = inst.incumbents
                tier0 = str(first.get("id", ""))
                linked = inc[(inc["tier"].astype(str) == tier0) & isin(inc["target"].astype(str), keep_codes)]
                chosen = sorted(set(linked["helper"].astype(str)) & set(provincial))
                if not chosen and first.get("helpers", {}).get("table") == "units":
                    n_targets = int(locs["level"].isin(first.get("targets", {}).get("level", [])).sum())
                    chosen = sorted(provincial)[:max(1, n_targets)]
            kept_units += [d for d in chosen if d in units.index]
            people = inst.people[isin(inst.people["unit"], kept_units)]
            units_out = units.loc[[u for u in units.index if u in set(kept_units)]].copy()
            # a department serves one county: scale its roster to the slice's size (division officials to
            # townships, the others to villages), relative to an average county of the whole instance
            from matcher.candidates import filter_mask

            n_counties = max(1, int((loc["level"] == "county").sum()))
            kept_counties = max(1, int((locs["level"] == "county").sum()))
            rank_frac: dict[str, float] = {}
            for t in tiers:
                if t.get("helpers", {}).get("table") != "people" or t.get("targets", {}).get("table") != "localities":
                    continue
                flt = {k: v for k, v in t["targets"].items() if k != "table"}
                n_all = int(filter_mask(loc, flt).sum()) / n_counties
                n_in = int(filter_mask(locs, flt).sum()) / kept_counties
                for r in t["helpers"].get("rank", []):
                    rank_frac.setdefault(str(r), min(1.0, n_in / max(n_all, 1e-9)))
            for d in chosen:
                if d in units_out.index:
                    frac.setdefault(d, -1.0)
            home = people["hometown"].astype(str) if "hometown" in people.columns else pd.Series("", index=people.index)
            home_in = isin(home, keep_codes) | home.map(lambda h: any(h.startswith(a[:6]) for a in areas if a.endswith("000000")))
            inc_all = inst.incumbents
            linked_here = set(inc_all.loc[isin(inc_all["target"].astype(str), keep_codes), "helper"].astype(str))
            drop: list[str] = []
            for u, f in frac.items():
                mine = people[people["unit"] == u]
                keep_n = 0
                if exact is not None:
                    keep = [i for i in mine.index if i in exact]
                    drop += [i for i in mine.index if i not in exact]
                    units_out.at[u, "headcount"] = max(len(keep), round(int(units_out.at[u, "headcount"])
                                                                        * len(keep) / max(len(mine), 1)))
                    continue
                for rank, group in mine.groupby("rank"):
                    share = f if f >= 0 else rank_frac.get(str(rank), 1.0)
                    order = sorted(group.index, key=lambda i: (i not in linked_here, bool(home_in[i]), i))
                    k = round(len(order) * share)
                    drop += order[k:]
                    keep_n += k
                units_out.at[u, "headcount"] = max(keep_n, round(int(units_out.at[u, "headcount"])
                                                                  * keep_n / max(len(mine), 1)))
            people = people.drop(index=drop)
            # a kept unit seated outside the slice (a prefecture bureau in the prefecture's seat district)
            # is re-seated at the first kept county, so its area and travel are measured inside the slice
            first_county = sorted(locs.index[locs["level"] == "county"])
            for u in units_out.index:
                if str(units_out.at[u, "level"]) != "province" and str(units_out.at[u, "locality"]) not in keep_codes \
                        and first_county:
                    units_out.at[u, "locality"] = first_county[0]
            helpers = set(people.index) | set(units_out.index)
            inc = inst.incumbents
            inc = inc[isin(inc["helper"].astype(str), helpers)].reset_index(drop=True)
            targets = inst.targets
            if len(targets):
                targets = targets[isin(targets["locality"].astype(str), keep_codes)]
                inc = inc[isin(inc["target"].astype(str), keep_codes | set(targets.index))].reset_index(drop=True)
            else:
                inc = inc[isin(inc["target"].astype(str), keep_codes)].reset_index(drop=True)
            changes: dict[str, Any] = {"localities": locs, "units": units_out, "people": people,
                                       "incumbents": inc, "targets": targets}
            if getattr(inst, "positions", None) is not None:  # seats of provincial units stay for travel
                seats = set(units_out["locality"].astype(str))
                changes["positions"] = inst.positions[isin(inst.positions.index, keep_codes | seats)]
            if getattr(inst, "tree", None) is not None:
                changes["tree"] = inst.tree.subgraph(keep_codes).copy()
            return _replace(inst, **changes)

        return self._with(Edit("within", f"Keep only {', '.join(areas)} and the helpers who serve them.",
                               f"只保留 {'、'.join(areas)} 及其帮扶力量。", apply))

    # ------------------------------------------------------------------ use

    def forbidden_links(self) -> set[tuple[str, str, str]]:
        """Every (tier, helper, target) the scenario's scheme forbids (its own edits and the base's ``forbidden``)."""
        return {(str(t.get("id")), str(h), str(g)) for t in self.instance.scheme.get("tiers", [])
                for h, g in t.get("forbidden", []) or []}

    def solve(self, base: Plan | None = None, *, time_limit: float = 60, seed: int = 0, workers: int = 2,
              warm: bool = True) -> Plan:
        """Solve the scenario; with ``base``, warm-start from that plan's links (a CP-SAT hint).

        Without ``base``, forbidden links or ``warm``, this is ``matcher.solver.solve``. Otherwise
        :func:`warm_solve` runs the same pipeline (candidate pairs, counting diagnosis, lexicographic
        CP-SAT stages) with the base plan as the first stage's hint and the forbidden pairs removed.
        """
        from matcher.solver import solve

        forbidden = self.forbidden_links()
        if (base is None or not warm) and not forbidden:
            return solve(self.instance, time_limit=time_limit, seed=seed, workers=workers)
        return warm_solve(self.instance, base, forbidden=forbidden, time_limit=time_limit, seed=seed,
                          workers=workers)

    def solve_local(self, base: Plan, areas: Sequence[str], *, time_limit: float = 60, seed: int = 0,
                    workers: int = 2, fewest_moves: bool = False) -> Plan:
        """Re-plan only ``areas`` (county codes) after a local change; keep the base plan everywhere else.

        For a change confined to a few counties (a county gains staff, a village closes), only those
        counties' links need to move: the county's department (first tier) stays, the cadres linked there
        in the base plan and the county's own staff are re-planned together, warm-started from the base
        plan; every other link of the base plan is kept as it is. The result is a full plan; check it with
        ``check_plan``. Its figures are those of its combined links on the whole edited instance: every link's
        distance and cost parts recomputed there, on the solver's grid (``model.costs_on_grid``), each priority
        summed as the model counts it, and uncovered.csv listing the whole plan's shortfalls. Nothing is proven
        of the whole plan beyond the base plan's bound where that still bounds the scenario (no edits, or only
        forbidden links the base instance did not pin), else beyond coverage and continuity at 0; the header's
        ``bound_note`` says which, and ``local`` holds the re-planned part's own solve figures.
        A base link outside ``areas`` is kept only while the edited instance still admits it: a link whose helper
        or target the scenario removed (remove_people, drop_unit, merge_units, close_target), that it forbids or
        no longer finds eligible (forbid_link, set_rule, set_plan_year's no_return) is not kept; its county is
        re-planned too, with the areas. So is every county where the combined links break a hard rule (an
        incumbent forced there, new staff of a unit there without a post, a cap exceeded), up to four times;
        then SolveError, never a plan that breaks a hard rule. ``local.areas`` lists the counties re-planned,
        ``local.widened`` each one added and why, ``local.dropped`` broken links no county holds (dropped);
        a place that cannot be refilled is in uncovered.csv with the re-plan's reason. Every link is pinned
        exactly when it is an incumbent in force of the edited instance, and starts in its plan year otherwise.
        With ``fewest_moves``, the base links inside the areas that still hold are pinned too (as incumbents in
        force, besides the slice's own incumbents), so
        only what the change requires moves: new cadres are placed, vacancies refilled (as a mid-term
        replan does); without it, the areas are re-optimised from the base plan as a hint.
        Approximation: a prefecture unit is re-seated inside the area while solving (travel of its
        links is measured from there during the solve, and from its real seat in the returned plan).
        """
        from matcher.errors import SolveError

        full = self.instance
        asked = [str(x) for x in areas]
        a = base.assignments.copy()
        for c in ("tier", "helper", "target"):
            a[c] = a[c].astype(str)
        scheme, ctx = scheme_and_context(full)
        both = (full, self.base)
        area_of = _area_finder(both)
        faults = link_faults(ctx, a)
        # base links the scenario broke where no area can re-plan them (a province-level target) are dropped
        lost = (faults != "") & a["target"].map(lambda t: area_of(t) is None)
        dropped = [{"tier": tid, "helper": h, "target": t, "reason": why} for tid, h, t, why
                   in zip(a.loc[lost, "tier"], a.loc[lost, "helper"], a.loc[lost, "target"], faults[lost])]
        a, faults = a[~lost].reset_index(drop=True), faults[~lost].reset_index(drop=True)
        areas, widened = list(asked), {}
        broken_out = a[(faults != "") & ~_in_areas(both, a, areas)]
        _widen(areas, widened, [(area_of(t), f"{tid} {h} -> {t}: {why}") for tid, h, t, why
                                in zip(broken_out["tier"], broken_out["helper"], broken_out["target"],
                                       faults[broken_out.index])])
        for _ in range(_MAX_WIDENINGS):
            here = _in_areas(both, a, areas)
            plan_local = self._solve_areas(a, here, faults, areas, time_limit=time_limit, seed=seed,
                                           workers=workers, fewest_moves=fewest_moves)
            spliced = with_terms(ctx, pd.concat([a[~here], plan_local.assignments], ignore_index=True))
            frames = link_frames(ctx, spliced)
            broken = hard_breaks(ctx, frames)
            if not len(broken):
                break
            before = len(areas)
            _widen(areas, widened, [(c, f"{r.rule} in tier {r.tier}: {r.message}")
                                    for r in broken.itertuples(index=False)
                                    for c in _areas_of_break(r, frames, ctx, area_of)])
            if len(areas) == before:
                raise SolveError("the local re-plan breaks hard rules in no area it can re-plan:\n"
                                 + "\n".join(f"  - {m}" for m in broken["message"].head(20)))
        else:
            raise SolveError(f"the local re-plan still breaks hard rules after widening its areas "
                             f"{_MAX_WIDENINGS} times:\n" + "\n".join(f"  - {m}" for m in broken["message"].head(20)))
        return self._local_plan(base, spliced, frames, scheme, ctx, plan_local, asked, areas, widened, dropped)

    def _solve_areas(self, a: pd.DataFrame, here: pd.Series, faults: pd.Series, areas: list[str], *,
                     time_limit: float, seed: int, workers: int, fewest_moves: bool) -> Plan:
        """Solve the slice of ``areas``: its staff and the base plan's helpers there, warm from their base links.

        Source: Scenario.within (the slice) and warm_solve; the base links there that the scenario broke
        (``faults``) are neither hinted nor pinned
        """
        full = self.instance
        loc = full.localities
        codes = _area_codes([full], areas)
        tiers = full.scheme.get("tiers", [])
        unit_tiers = {str(t["id"]) for t in tiers if t.get("helpers", {}).get("table") == "units"}
        depts = sorted(set(a.loc[here & a["tier"].isin(unit_tiers), "helper"]) & set(full.units.index.astype(str)))
        linked_anywhere = set(a.loc[~here | (faults == ""), "helper"])
        linked_here = set(a.loc[here & ~a["tier"].isin(unit_tiers), "helper"])
        unit_of = {str(k): str(v) for k, v in zip(full.people.index.tolist(), full.people["unit"].tolist())}
        level = {str(k): str(v) for k, v in full.units["level"].items()}
        area = {str(k): str(v) for k, v in full.units["area"].items()} if "area" in full.units.columns else {}
        # provincial units whose people serve here in the base plan stay in the slice too
        depts = sorted(set(depts) | {unit_of[p] for p in linked_here if level.get(unit_of.get(p, "")) == "province"})
        ancestors = set()
        for ar in areas:
            ancestors |= {str(loc.at[ar, lv]) for lv in ("province", "prefecture", "county") if lv in loc.columns
                          and not pd.isna(loc.at[ar, lv])}

        def local_unit(u: str) -> bool:
            return u in depts or (level.get(u) != "province" and (area.get(u) in codes or area.get(u) in ancestors))

        free = {p for p in set(full.people.index.astype(str)) - linked_anywhere if local_unit(unit_of.get(p, ""))}
        keep_people = linked_here | free
        local = self.within(areas, departments=depts, people=keep_people)
        local_base = a[here & (faults == "")]
        if fewest_moves:
            year = int(full.scheme["program"]["plan_year"])
            local_inst = local.instance
            pinned = local_base[["tier", "helper", "target"]].copy()
            pinned["start_year"] = pd.to_numeric(local_base["start_year"], errors="coerce").fillna(year).astype(int)
            pinned["start_year"] = pinned["start_year"].where(pinned["start_year"] <= year, year)
            helpers = set(local_inst.people.index.astype(str)) | set(local_inst.units.index.astype(str))
            places = set(local_inst.localities.index.astype(str)) | set(local_inst.targets.index.astype(str))
            pinned = pinned[isin(pinned["helper"], helpers) & isin(pinned["target"], places)]
            # the slice's own incumbents first (forced links, ended terms for no_return), then the base links
            own = local_inst.incumbents.astype({"tier": str, "helper": str, "target": str})
            pinned = pd.concat([own, pinned], ignore_index=True).drop_duplicates(["tier", "helper", "target"])
            pinned["start_year"] = pinned["start_year"].astype(local_inst.incumbents["start_year"].dtype
                                                              if len(local_inst.incumbents) else "Int64")
            local = Scenario(_replace(local_inst, incumbents=pinned.reset_index(drop=True)), (), self.name)
        return warm_solve(local.instance, _LinksOnly(local_base), forbidden=self.forbidden_links(),
                          time_limit=time_limit, seed=seed, workers=workers)

    def _local_plan(self, base: Plan, spliced: pd.DataFrame, frames: Mapping[str, pd.DataFrame], scheme: Scheme,
                    ctx: Context, plan_local: Plan, asked: list[str], areas: list[str],
                    widened: Mapping[str, list[str]], dropped: list[dict[str, str]]) -> Plan:
        """The whole plan of a local re-plan: its combined links with their figures, what was widened and why.

        Source: solver._make_plan (plan.json header); the figures as plan_with_figures counts them
        """
        more = [c for c in areas if c not in asked]
        how = ("province solver, proven optimal there" if plan_local.header.get("method", "").startswith("province")
               and plan_local.status == "OPTIMAL" else "warm-started CP-SAT")
        method = f"local re-plan of {', '.join(asked)} ({how}); rest of the base plan kept"
        if more:
            method += (f"; also re-planned {', '.join(more)}, where the scenario broke base links "
                       "(see local.widened)")
        local = {"areas": areas, "asked": asked,
                 "widened": [{"area": c, "reasons": list(widened[c])} for c in more], "dropped": dropped,
                 "status": plan_local.status, "gap": plan_local.gap, "objective": plan_local.objective,
                 "method": plan_local.header.get("method"), "wall_s": plan_local.header.get("wall_s")}
        return plan_with_figures(self.instance, base, spliced, frames, scheme, ctx, method,
                                 lambda values: self._base_bound(base, values),
                                 {"local": local, "scenario": self.describe()},
                                 [plan_local.uncovered, base.uncovered])

    def _base_bound(self, base: Plan, values: Mapping[str, float]) -> tuple[dict[str, float], str]:
        """The base plan's proven bound, where it still bounds every plan of this scenario; else none, and why.

        Source: the lexicographic objective (docs/scheme-format.md): a bound proven for the base plan's instance
        holds for a scenario whose plans are all plans of that instance with the same costs (only forbidding links
        it did not pin); a priority's bound counts only while every earlier priority sits at its own bound.
        """
        bound = base.header.get("bound")
        why = _why_not_a_restriction(self, base)
        if not isinstance(bound, dict) or not bound:
            why = why or "the base plan has no proven bound"
        if why:
            return {}, f"no whole-plan bound: {why}; the re-planned part's own figures are under 'local'"
        carried: dict[str, float] = {}
        for term, value in values.items():
            known = isinstance(bound.get(term), (int, float))
            if not known and term not in _COUNTS:
                break
            b = float(bound[term]) if known else 0.0
            b = max(b, 0.0) if term in _COUNTS else b
            if value < b - _TOL * max(1.0, abs(b)):
                return {}, (f"no whole-plan bound: the combined links' {term} {value:g} is below the base plan's bound "
                            f"{b:g}, so that bound is not one of this instance")
            carried[term] = b
            if value > b + _TOL * max(1.0, abs(b)):
                break  # later priorities' bounds hold only for plans at this one's bound
        return carried, ("whole-plan bound: the base plan's, which still holds: the scenario "
                         + ("only forbids links the base instance did not pin" if self.edits else "has no edits")
                         + ", so each of its plans is a plan of the base plan's instance with the same costs")

    def save(self, folder: str | Path) -> Path:
        """Write the edited instance as a folder in docs/instance-format.md (CSV + scheme.toml), atomically per file.

        Geometry files of the base instance are copied. ``read_instance(folder)`` loads the result.
        """
        folder = Path(folder)
        inst = self.instance
        folder.mkdir(parents=True, exist_ok=True)
        for table, cols in TABLE_COLUMNS.items():
            df = getattr(inst, table)
            if table == "targets" and len(df) == 0 and not (Path(self.base.path) / "targets.csv").exists():
                continue
            if table == "incumbents":
                frame = df.reset_index(drop=True)
            else:
                frame = df.reset_index()
                frame = frame.rename(columns={frame.columns[0]: cols[0]})
            extra = [c for c in frame.columns if c not in cols and c not in DERIVED_COLUMNS and c != "index"]
            frame = frame[[c for c in cols if c in frame.columns] + extra]
            atomic_write_text(folder / f"{table}.csv", _to_csv(frame))
        atomic_write_text(folder / "scheme.toml", dump_toml(inst.scheme))  # forbidden links: tiers[].forbidden
        geo = Path(self.base.path) / "geometry"
        if geo.is_dir():
            for f in sorted(geo.iterdir()):
                if f.is_file():
                    target = folder / "geometry" / f.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    from matcher.fileio import atomic_write_bytes

                    atomic_write_bytes(target, f.read_bytes())
        return folder


_RANK_ZH = {"department": "厅局级干部", "division": "县处级干部", "section": "乡科级干部", "staff": "一般干部"}
_REASON_ZH = {"promoted": "提拔", "ill": "因病", "transferred": "调动", "retired": "退休", "left": "离开"}


def _cell(v: Any) -> str:
    """One CSV cell: lists joined by ';', NA empty, integral floats of int columns as ints."""
    if isinstance(v, (tuple, list)):
        return ";".join(str(x) for x in v)
    if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if not v.is_integer() else str(int(v)) if abs(v) < 1e15 else repr(v)
    return str(v)


def _to_csv(frame: pd.DataFrame) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(frame.columns))
    for row in frame.itertuples(index=False):
        w.writerow([_cell(v) for v in row])
    return buf.getvalue()


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else _toml_value(k)


def dump_toml(data: Mapping[str, Any]) -> str:
    """Write a scheme dict as TOML (tables, arrays of tables, inline tables for filters); round-trips with tomllib."""
    lines: list[str] = []

    def table(d: Mapping[str, Any], path: str, array: bool = False) -> None:
        scalars = {k: v for k, v in d.items() if not _is_subtable(v)}
        subs = {k: v for k, v in d.items() if _is_subtable(v)}
        if path:
            lines.append(("[[" + path + "]]") if array else ("[" + path + "]"))
        for k, v in scalars.items():
            lines.append(f"{_key(k)} = {_toml_value(v)}")
        for k, v in subs.items():
            sub_path = f"{path}.{_key(k)}" if path else _key(k)
            if isinstance(v, Mapping):
                lines.append("")
                table(v, sub_path)
            else:
                for item in v:
                    lines.append("")
                    table(item, sub_path, array=True)

    table(data, "")
    text = "\n".join(lines).lstrip("\n") + "\n"
    tomllib.loads(text)  # never write a scheme we cannot read back
    return text


def _is_subtable(v: Any) -> bool:
    """Tables become [sections] unless they are filters (flat dicts of lists/scalars, written inline)."""
    if isinstance(v, Mapping):
        return any(isinstance(x, (Mapping, list)) and _is_subtable_list_or_map(x) for x in v.values()) or \
            not all(isinstance(x, (list, str, int, float, bool)) for x in v.values()) or _is_section(v)
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _is_subtable_list_or_map(x: Any) -> bool:
    return isinstance(x, Mapping) or (isinstance(x, list) and bool(x) and all(isinstance(i, Mapping) for i in x))


def _is_section(v: Mapping[str, Any]) -> bool:
    # a table with scalar values that is not a filter (no list values) reads better as a section
    return bool(v) and not any(isinstance(x, list) for x in v.values()) and "table" not in v


_TOL = 1e-9
"""Relative tolerance when a figure is compared with a bound."""

_MAX_WIDENINGS = 4
"""How many times a local re-plan widens its areas to the counties where its combined links break a hard rule."""


def _area_codes(instances: Sequence[Instance], areas: Sequence[str]) -> set[str]:
    """Every locality code inside ``areas`` (county or prefecture codes), in any of ``instances``.

    Source: Scenario.within (a place is inside an area when its ancestor at the area's level is the area)
    """
    codes: set[str] = set()
    for inst in instances:
        loc = inst.localities
        for ar in areas:
            if ar in loc.index:
                lvl = str(loc.at[ar, "level"])
                codes |= set(loc.index[loc[lvl].astype(str) == ar]) if lvl in loc.columns else {ar}
    return codes


def _in_areas(instances: Sequence[Instance], links: pd.DataFrame, areas: Sequence[str]) -> pd.Series:
    """Links whose target (a locality, or a target's locality) lies inside ``areas``, in any of ``instances``.

    Source: Scenario.solve_local (the links a local re-plan moves); the base instance too, for closed places
    """
    codes = _area_codes(instances, areas)
    t_loc: dict[str, str] = {}
    for inst in instances:
        if len(inst.targets):
            t_loc.update({str(k): str(v) for k, v in inst.targets["locality"].items()})
    return links["target"].map(lambda t: t in codes or t_loc.get(t) in codes).astype(bool)


def _area_finder(instances: Sequence[Instance]) -> Callable[[str], str | None]:
    """The area a place is re-planned in: its county, else its prefecture (None above that).

    Source: Scenario.within (areas are county or prefecture codes); the base instance too, for closed places
    """
    found: dict[str, str] = {}
    for inst in reversed(list(instances)):
        for table in (inst.localities, inst.targets):
            for lvl in ("prefecture", "county"):
                if len(table) and lvl in table.columns:
                    found.update({str(k): str(v) for k, v in zip(table.index.tolist(), table[lvl].tolist())
                                   if not pd.isna(v) and str(v)})
    return found.get


def _widen(areas: list[str], widened: dict[str, list[str]], found: Iterable[tuple[str | None, str]]) -> None:
    """Add each area of ``found`` to ``areas`` (once), and its reason to ``widened`` for every added area.

    Source: Scenario.solve_local (the places a scenario's edits break are re-planned, and the plan says why)
    """
    for area, why in found:
        if area is None:
            continue
        if area not in areas:
            areas.append(area)
            widened[area] = []
        if area in widened and why not in widened[area]:
            widened[area].append(why)


def link_faults(ctx: Context, links: pd.DataFrame) -> pd.Series:
    """Why each link no longer holds on the edited instance ('' where it does), one reason per link.

    Source: candidates.build_tier_frames (a candidate is a helper and a target of its tier passing every
    eligibility rule, never a forbidden pair; an incumbent in force is pinned whatever the rules say)
    """
    out = pd.Series("", index=links.index, dtype=object)
    known = set(ctx.scheme.tier_ids)
    out[~links["tier"].astype(str).isin(known)] = "its tier is no longer in the scheme"
    for tier in ctx.scheme.tiers:
        sub = links[links["tier"].astype(str) == tier.id]
        if len(sub):
            out[sub.index] = _tier_link_faults(ctx, tier, sub)
    return out


def _tier_link_faults(ctx: Context, tier: Tier, links: pd.DataFrame) -> list[str]:
    """Why each link of one tier is no candidate of the edited instance ('' where it is, or where it is pinned).

    Source: candidates.helper_frame and target_frame (the tier's pools), tiers[].forbidden, rules.RULES of kind
    eligibility, rules.pinned_mask (in-force incumbents exempt)
    """
    import numpy as np

    from matcher import candidates as cand
    from matcher import rules

    pools = []
    for what, build in (("helpers", cand.helper_frame), ("targets", cand.target_frame)):
        if (what, tier.id) not in ctx.cache:
            ctx.cache[(what, tier.id)] = build(ctx, tier)
        pools.append(set(ctx.cache[(what, tier.id)].index.astype(str)))
    helpers, targets = pools
    h_table = ctx.units if tier.helpers.table == "units" else ctx.people
    t_table = ctx.target_tables.get(tier.targets.table, pd.DataFrame())
    banned = set(tier.forbidden)
    why = []
    for h, t in zip(links["helper"].astype(str).tolist(), links["target"].astype(str).tolist()):
        why.append(f"{h} is no longer in the instance" if h not in h_table.index
                   else f"{h} is no longer a helper of tier {tier.id}" if h not in helpers
                   else f"{t} is no longer in the instance" if t not in t_table.index
                   else f"{t} is no longer a target of tier {tier.id}" if t not in targets
                   else "the scheme forbids this link" if (h, t) in banned else "")
    pairs = _link_pairs(ctx, tier, links.reset_index(drop=True))
    if len(pairs):
        pairs["days"] = rules.link_days(pairs, tier, ctx)
        for name, spec in rules.RULES.items():
            if spec.kind != "eligibility":
                continue
            for i in np.flatnonzero(~spec.function(pairs, tier, ctx).to_numpy(dtype=bool)):
                j = int(pairs["link"].iat[i])
                why[j] = why[j] or f"it breaks the eligibility rule {name}"
    pinned = rules.pinned_mask(links.astype({"helper": str, "target": str}), tier, ctx).to_numpy(dtype=bool)
    return ["" if p else w for p, w in zip(pinned, why)]


def with_terms(ctx: Context, links: pd.DataFrame) -> pd.DataFrame:
    """The links with ``pinned`` and ``start_year`` of the edited instance: an incumbent in force is pinned with its
    own start year, every other link starts in the plan year.

    Source: rules.in_force_incumbents; the checker's rules incumbent_kept, pinned and start_year
    """
    from matcher import rules

    held: dict[tuple[str, str, str], int] = {}
    for tier in ctx.scheme.tiers:
        inc = rules.in_force_incumbents(ctx, tier)
        held.update({(tier.id, h, t): int(y) for h, t, y in zip(inc["helper"].tolist(), inc["target"].tolist(),
                                                                 inc["start_year"].tolist())})
    out = links.reset_index(drop=True).copy()
    keys = list(zip(out["tier"].astype(str).tolist(), out["helper"].astype(str).tolist(),
                    out["target"].astype(str).tolist()))
    out["pinned"] = [k in held for k in keys]
    out["start_year"] = [held.get(k, ctx.plan_year) for k in keys]
    return out


def link_frames(ctx: Context, links: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each tier's pair rows for exactly the plan's links, with the days each link costs its helper.

    Source: _link_pairs; rules.link_days (the time budget rule reads ``days``)
    """
    from matcher import rules

    frames = {}
    for tier in ctx.scheme.tiers:
        pairs = _link_pairs(ctx, tier, links[links["tier"].astype(str) == tier.id])
        pairs["days"] = rules.link_days(pairs, tier, ctx) if len(pairs) else 0.0
        frames[tier.id] = pairs
    return frames


def hard_breaks(ctx: Context, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every hard-rule violation of a plan's links (pinned incumbents, coverage_max, links, unit share, nesting, days).

    Source: rules.evaluate, the rules of kind hard; time_budget reads only the helpers with a link in a tier with
    visits (it skips every other helper), so it is given only those (on Guizhou 1 s instead of 9 s)
    """
    from matcher import rules

    visiting = {t.id for t in ctx.scheme.tiers if t.helpers.table == "people" and (t.visit_days or t.visits_per_year)}
    visitors = set().union(*(set(frames[t]["helper"]) for t in visiting if t in frames))
    budgeted = {t: f[isin(f["helper"], visitors)] for t, f in frames.items()}
    found = [spec.function(frames[tier.id], tier, ctx, budgeted if name == "time_budget" else dict(frames))
             for tier in ctx.scheme.tiers if tier.id in frames
             for name, spec in rules.RULES.items() if spec.kind == "hard"]
    found = [f for f in found if len(f)]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=["rule", "tier", "helper", "target",
                                                                                   "amount", "message", "message_zh"])


def _areas_of_break(row: Any, frames: Mapping[str, pd.DataFrame], ctx: Context,
                    area_of: Callable[[str], str | None]) -> list[str | None]:
    """The areas a hard-rule violation lies in: its target's, else those of its helper's (or unit's) links or unit.

    Source: rules (a violation names its target, or its helper / unit when the rule counts links)
    """
    if row.target:
        return [area_of(str(row.target))]
    f = frames.get(str(row.tier), pd.DataFrame(columns=["helper", "unit", "target"]))
    mine = f[(f["helper"] == row.helper) | (f["unit"] == row.helper)]
    if len(mine):
        return sorted({area_of(str(t)) for t in mine["target"]} - {None})
    unit = str(ctx.people.at[row.helper, "unit"]) if row.helper in ctx.people.index else str(row.helper)
    held = [area_of(str(t)) for g in frames.values() for t in g.loc[g["helper"] == unit, "target"]]
    seat = ctx.units.at[unit, "area"] if unit in ctx.units.index and "area" in ctx.units.columns else None
    return held + [area_of(str(seat))] if seat is not None and not pd.isna(seat) else held


def plan_with_figures(instance: Instance, base: Plan, links: pd.DataFrame, frames: Mapping[str, pd.DataFrame],
                      scheme: Scheme, ctx: Context, method: str,
                      bound_of: Callable[[Mapping[str, float]], tuple[dict[str, float], str]],
                      extra: Mapping[str, Any], reasons_from: Sequence[pd.DataFrame | None]) -> Plan:
    """A plan of ``links`` (built from ``base``) whose header figures are those links': costs, priorities, bound.

    Source: solver._make_plan (plan.json header, uncovered.csv); every link costed on the solver's grid
    (_links_with_costs), each priority counted as model.term_values does (_plan_figures); ``bound_of`` says what
    is proven of those figures and why (plan.json ``bound_note``)
    """
    from matcher.plan import Plan as PlanClass

    weights = {term: scheme.objective.weight(term) for term in ("match", "strength", "travel")}
    links = _links_with_costs(links, frames, weights)
    shortfalls = _coverage_shortfalls(ctx, frames)
    values = _plan_figures(instance, scheme, ctx, links, frames, shortfalls)
    bound, note = bound_of(values)
    header = {k: v for k, v in base.header.items()
              if k not in ("kpis", "check", "wall_s", "instance", "tiers", "objective", "bound", "gap", "first_gap",
                           "stages", "status", "diagnosis", "bound_note")}
    header.update({"method": f"{method}; {note}", "plan_year": ctx.plan_year, "tiers": _tier_entries(links, scheme, method),
                   **extra})
    header.update(_figures_header(values, bound, note))
    uncovered = _uncovered_rows(ctx, links, shortfalls, reasons_from)
    return PlanClass.from_assignments(instance, links, header, uncovered)

_COUNTS = ("coverage", "continuity")
"""Priorities that count shortfalls, so are never below 0 whatever the plan (a bound no solver needs to prove)."""


def _why_not_a_restriction(scenario: Scenario, base: Plan) -> str:
    """Why a plan of ``scenario`` might not be a plan of ``base``'s instance at the same costs ('' when it is).

    Source: docs/plan-format.md (plan.json instance.sha256: the instance a plan was solved on); Scenario.forbid_link
    (a forbidden pair that is no incumbent only removes plans; every other edit can add plans or change costs).
    The base instance is taken to be its folder's (same sha256, same scheme): a table edited in memory outside a
    Scenario keeps the folder's path and is not seen here.
    """
    from matcher.fileio import folder_sha256

    path = getattr(scenario.base, "path", None)
    solved_on = (base.header.get("instance") or {}).get("sha256")
    if path is None or not solved_on or not Path(path).is_dir() or folder_sha256(path) != solved_on:
        return "the base plan was not solved on this scenario's base instance (instance sha256 differs or is missing)"
    scheme_file = Path(path) / "scheme.toml"
    if not scheme_file.is_file() or tomllib.loads(scheme_file.read_text("utf-8")) != scenario.base.scheme:
        return "the scenario's base scheme is not its folder's scheme.toml (edited in memory)"
    inc = scenario.base.incumbents
    held = set(zip(inc["tier"].astype(str), inc["helper"].astype(str), inc["target"].astype(str)))
    changes = sorted({e.kind for e in scenario.edits if e.kind != "forbid_link"})
    if changes:
        return f"the scenario changes the instance ({', '.join(changes)}), so the base plan's bound is not one of it"
    forbids_held = [e for e in scenario.edits if tuple(str(x) for x in e.data) in held]
    if forbids_held:
        return "the scenario forbids an incumbent link, which the base instance kept"
    return ""


def _link_pairs(ctx: Context, tier: Tier, links: pd.DataFrame) -> pd.DataFrame:
    """Pair rows (candidate-pair columns, distance and cost parts) for exactly the given links of one tier.

    Source: candidates.pairs_for and build_tier_frames (tier filters ignored, so pinned links outside them are costed
    too), joined row by row; ``link`` is each row's position in ``links`` (links naming nobody have no row).
    """
    import numpy as np

    from matcher import candidates as cand
    from matcher import rules
    from matcher.scheme import Filter

    every = dataclasses.replace(tier, helpers=Filter(tier.helpers.table), targets=Filter(tier.targets.table))
    if ("every helper", tier.id) not in ctx.cache:  # the unfiltered frames, built once per context
        ctx.cache[("every helper", tier.id)] = cand.helper_frame(ctx, every)
        ctx.cache[("every target", tier.id)] = cand.target_frame(ctx, every)
    h_all, t_all = ctx.cache[("every helper", tier.id)], ctx.cache[("every target", tier.id)]
    h_ids, t_ids = links["helper"].astype(str), links["target"].astype(str)
    known = (isin(h_ids, h_all.index) & isin(t_ids, t_all.index)).to_numpy()
    h = h_all.loc[h_ids[known].tolist()].reset_index(names="helper")
    t = t_all.loc[t_ids[known].tolist()].reset_index(names="target")
    pairs = pd.concat([h, t.rename(columns={c: c + "_t" for c in t.columns if c in h.columns})], axis=1)
    pairs["tier"] = tier.id
    for c in cand.PAIR_COLUMNS:
        if c not in pairs.columns:
            pairs[c] = ""
    pairs["distance_km"] = np.nan_to_num(cand.haversine_km(pairs["seat_lon"], pairs["seat_lat"], pairs["t_lon"],
                                                           pairs["t_lat"])) if len(pairs) else 0.0
    pairs = pairs[cand.PAIR_COLUMNS + ["distance_km"]].copy()
    pairs["cost_match"] = rules.match_cost(pairs, tier, ctx)
    pairs["cost_strength"] = rules.strength_cost(pairs, tier, ctx)
    pairs["cost_travel"] = rules.travel_cost(pairs, tier, ctx)
    pairs["link"] = np.flatnonzero(known)
    return pairs


def _links_with_costs(links: pd.DataFrame, frames: Mapping[str, pd.DataFrame], weights: Mapping[str, float]
                      ) -> pd.DataFrame:
    """Each link's distance and cost parts as the solver counts them: from its pair row, on the model's integer grid.

    Source: model.costs_on_grid (a plan's figures are its links' costs times the weights, docs/scheme-format.md)
    """
    from matcher.model import costs_on_grid

    out = links.reset_index(drop=True).copy()
    cols = ["distance_km", "cost_match", "cost_strength", "cost_travel"]
    for col in cols:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    for tid, pairs in frames.items():
        rows = out.index[out["tier"].astype(str) == tid][pairs["link"].to_numpy(dtype=int)]
        out.loc[rows, cols] = pairs[cols].to_numpy(dtype=float)
    out["distance_km"] = out["distance_km"].round(1)
    return costs_on_grid(out, dict(weights))


def _coverage_shortfalls(ctx: Context, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every coverage shortfall of the whole plan: helpers missing at a target, in a team's composition, in a quota.

    Source: rules.coverage_min, rules.composition and rules.quota (the coverage priority, model.term_values)
    """
    from matcher import rules

    found = [fn(frames[t.id], t, ctx, dict(frames)) for t in ctx.scheme.tiers
             for fn in (rules.coverage_min, rules.composition, rules.quota)]
    found = [f for f in found if len(f)]
    empty = pd.DataFrame(columns=["rule", "tier", "helper", "target", "amount", "message", "message_zh"])
    return pd.concat(found, ignore_index=True) if found else empty


def _continuity_dropped(instance: Instance, scheme: Scheme, ctx: Context, frames: Mapping[str, pd.DataFrame]) -> float:
    """Previous-term pairs of continuity tiers that could continue (are candidates) and are not links of the plan.

    Source: rules.continuity (the continuity priority, model.term_values); candidates: explain.pair_table with no
    failed eligibility rule
    """
    from matcher import rules
    from matcher.explain import pair_table

    dropped = 0
    for tier in scheme.tiers:
        if not tier.continuity:
            continue
        prev = pd.concat([rules.ended_incumbents(ctx, tier), rules.in_force_incumbents(ctx, tier)])
        links = frames[tier.id]
        before = set(zip(prev["helper"].astype(str), prev["target"].astype(str)))
        gone = before - set(zip(links["helper"], links["target"]))
        if not gone:
            continue
        pt = pair_table(instance, tier.id, helpers=sorted({h for h, _ in gone}), targets=sorted({t for _, t in gone}),
                        ctx=(scheme, ctx)).pairs
        ok = pt[pt["fails"].map(len) == 0] if len(pt) else pt
        dropped += sum((str(h), str(t)) in gone for h, t in zip(ok["helper"], ok["target"]))
    return float(dropped)


def _balance(scheme: Scheme, frames: Mapping[str, pd.DataFrame]) -> float:
    """The balance priority: per tier whose links span two units or more, the most links one unit holds, weighted.

    Source: rules.balance; province._solution (balance of a plan from its links)
    """
    w = round(scheme.objective.weight("balance"))
    loads = [frames[t.id].groupby("unit").size() for t in scheme.tiers]
    return float(sum(w * int(n.max()) for n in loads if len(n) >= 2))


def _plan_figures(instance: Instance, scheme: Scheme, ctx: Context, links: pd.DataFrame,
                  frames: Mapping[str, pd.DataFrame], shortfalls: pd.DataFrame) -> dict[str, float]:
    """Each priority's value for the plan's links, in the scheme's order: the figures of plan.json's ``objective``.

    Source: model.term_values (coverage, continuity, match, strength, travel, balance), from the links alone
    """
    def weighted(term: str) -> float:
        return scheme.objective.weight(term) * float(pd.to_numeric(links[f"cost_{term}"]).sum())

    every = {"coverage": lambda: float(shortfalls["amount"].sum()),
             "continuity": lambda: _continuity_dropped(instance, scheme, ctx, frames),
             "match": lambda: weighted("match"), "strength": lambda: weighted("strength"),
             "travel": lambda: weighted("travel"), "balance": lambda: _balance(scheme, frames)}
    return {term: round(every[term](), 6) for term in scheme.objective.order if term in every}


def _figures_header(values: Mapping[str, float], bound: Mapping[str, float], note: str) -> dict[str, Any]:
    """plan.json's status, objective, bound, gap, first_gap and stages for figures and what is proven of them.

    Source: solver._make_plan and solver._first_gap (a priority is optimal when its value meets its proven bound;
    coverage and continuity are counts, never below 0, as province._solution proves them)
    """
    proven = dict(bound)
    for term in _COUNTS:
        if term in values:
            proven[term] = max(proven.get(term, 0.0), 0.0)
    stages, first = [], None
    for term, value in values.items():
        b = proven.get(term)
        met = b is not None and value <= b + _TOL * max(1.0, abs(b))
        stages.append({"term": term, "value": value, "bound": None if b is None else round(b, 6),
                       "status": "OPTIMAL" if met else "FEASIBLE"})
        if not met and first is None and b is not None:
            first = {"term": term, "value": value, "bound": round(b, 6),
                     "gap": round((value - b) / max(abs(value), 1e-9), 9)}
    everything = all(t in proven for t in values)
    optimal = everything and all(s["status"] == "OPTIMAL" for s in stages)
    total = sum(values.values())
    gap = round((total - sum(proven[t] for t in values)) / max(abs(total), 1.0), 9) if everything else None
    return {"status": "OPTIMAL" if optimal else "FEASIBLE", "objective": dict(values),
            "bound": {t: round(b, 6) for t, b in proven.items()}, "gap": gap, "first_gap": first,
            "stages": stages, "bound_note": note}


def _tier_entries(links: pd.DataFrame, scheme: Scheme, method: str) -> dict[str, Any]:
    """plan.json's ``tiers``: each tier's links and how they were made (no per-tier bound: none is proven).

    Source: solver._make_plan (header ``tiers``); a local re-plan proves nothing per tier of the whole instance
    """
    n = links["tier"].astype(str).value_counts()
    return {t.id: {"links": int(n.get(t.id, 0)), "status": "FEASIBLE", "method": method} for t in scheme.tiers}


def _uncovered_rows(ctx: Context, links: pd.DataFrame, shortfalls: pd.DataFrame,
                    reasons_from: Sequence[pd.DataFrame | None]) -> pd.DataFrame:
    """uncovered.csv for the whole plan: one row per target (or quota) short of helpers, with the first known reason.

    Source: solver._make_plan (rows from the coverage shortfalls); reasons from the earlier lists of ``reasons_from``
    """
    from matcher import candidates as cand
    from matcher import rules

    reasons: dict[tuple[str, str], tuple[str, str]] = {}
    for u in reversed([u for u in reasons_from if u is not None and len(u)]):
        zh = u["reason_zh"] if "reason_zh" in u.columns else u["reason"]
        reasons.update({(str(t), str(g)): (str(r), str(z))
                        for t, g, r, z in zip(u["tier"], u["target"], u["reason"], zh)})
    rows = []
    for tier in ctx.scheme.tiers:
        sub = shortfalls[shortfalls["tier"] == tier.id]
        if not len(sub):
            continue
        req = rules.required_helpers(cand.target_frame(ctx, tier), tier, ctx)
        n = links[links["tier"].astype(str) == tier.id].groupby("target").size()
        for t, g in sub.groupby("target", sort=True):
            a, short = int(n.get(t, 0)), int(g["amount"].sum())
            reason, reason_zh = reasons.get((tier.id, str(t)), ("; ".join(g["message"]), "；".join(g["message_zh"])))
            rows.append({"tier": tier.id, "target": str(t), "required": max(int(req.get(t, 0)), a + short),
                         "assigned": a, "short": short, "reason": reason, "reason_zh": reason_zh})
    return pd.DataFrame(rows, columns=["tier", "target", "required", "assigned", "short", "reason", "reason_zh"])


def warm_solve(instance: Instance, base: Plan | None, *, forbidden: set[tuple[str, str, str]] | None = None,
               time_limit: float = 60, seed: int = 0, workers: int = 2) -> Plan:
    """Solve ``instance`` as ``matcher.solver.solve`` does, hinting CP-SAT with ``base``'s links, without forbidden pairs.

    The pipeline is the solver's own (``candidates.build_all``, ``solve.diagnose``, ``model.from_frames``,
    ``model.solve_problem`` with the base plan's links as the first stage's hint, ``solve._make_plan``).
    The scheme's forbidden pairs (``tiers[].forbidden``) and ``forbidden`` (tier, helper, target) are dropped
    from the candidate pairs before the counting diagnosis and the model (never pinned ones).
    """
    import time

    import numpy as np

    from matcher import model as mdl
    from matcher import province, rules
    from matcher import solver as slv
    from matcher.candidates import build_all
    from matcher.errors import SolveError

    t0 = time.monotonic()
    first = None  # links the scenario forbids are for the model only
    if not forbidden and province.dispatch(instance) == "province-first":
        first = slv.province_attempt(instance, time_limit=time_limit, seed=seed, workers=workers)
    if first is not None:
        first.header["warm_start"] = False
        if first.status == "OPTIMAL":  # proven: a hint could only have been a start
            return first
    time_limit = slv.model_seconds(first, time_limit, t0)
    scheme, ctx = scheme_and_context(instance)
    frames = build_all(ctx)
    extra = forbidden or set()
    for tier in scheme.tiers:
        banned = set(tier.forbidden) | {(h, t) for tid, h, t in extra if tid == tier.id}
        frames[tier.id] = mdl.drop_forbidden(frames[tier.id], banned)
    for tid, f in frames.items():
        ctx.cache[("frames", tid)] = f
    findings = slv.diagnose(ctx, frames)
    hard = [f for f in findings if f.hard]
    if hard:
        raise slv.InfeasibleError("the hard rules cannot all hold:", hard)
    prob = mdl.from_frames(ctx, frames)
    hint = None
    if base is not None:
        have = set(zip(base.assignments["tier"].astype(str), base.assignments["helper"].astype(str),
                       base.assignments["target"].astype(str)))
        hint = np.array([k in have for k in zip(prob.pairs["tier"].astype(str), prob.pairs["helper"].astype(str),
                                                 prob.pairs["target"].astype(str))], dtype=bool)
    sol = mdl.solve_problem(prob, time_limit=time_limit, seed=seed, workers=workers, hint=hint)
    if sol.status in ("INFEASIBLE", "UNKNOWN"):
        raise slv.InfeasibleError("the hard rules cannot all hold (CP-SAT):", findings) \
            if sol.status == "INFEASIBLE" else SolveError(f"no plan found within {time_limit} s")
    sol.method += ", warm-started from a base plan" if base is not None else ""
    picked = prob.pairs[sol.chosen]
    plan_links = {t.id: picked[picked["tier"] == t.id] for t in scheme.tiers}
    violations = rules.evaluate(ctx, plan_links)
    broken = violations[violations["rule"].map(lambda r: rules.RULES[r].kind == "hard")]
    if len(broken):
        raise SolveError("internal error: the warm-started plan breaks hard rules:\n"
                         + "\n".join(f"  - {msg}" for msg in broken["message"].head(20)))
    plan = slv._make_plan(instance, ctx, scheme, frames, prob, sol, picked, findings, violations,
                          time_limit=time_limit, seed=seed, workers=workers, wall=time.monotonic() - t0)
    plan.header["warm_start"] = base is not None
    if forbidden:
        plan.header["forbidden_links"] = sorted([list(f) for f in forbidden])
    return plan if first is None else slv._better_plan(first, plan)


@dataclass
class _LinksOnly:
    """A base plan given as its links only (what ``warm_solve`` reads from a plan)."""

    assignments: pd.DataFrame
