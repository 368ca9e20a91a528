"""What the one-county instances (Baoxing, Xuchang Jian'an) build alike: scheme text, rosters, the folder.

``scheme_toml`` writes a scheme.toml from sections and tiers given as data (the shared
``[terms]`` and ``[objective]`` sections included), ``Roster`` draws a county's leadership
and department units with their cadres, ``write_county_instance`` writes the instance folder.
The county modules keep only what differs: their places, numbers and tiers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matcher.build import rosters
from matcher.build.county import CountyGeo, locality_rows, read_county
from matcher.build.sources import PackageReader
from matcher.build.tables import (
    LOCALITY_COLUMNS,
    PEOPLE_COLUMNS,
    TARGET_COLUMNS,
    UNIT_COLUMNS,
    write_csv,
)
from matcher.build.write import write_geometry
from matcher.fileio import atomic_write_text

TomlValue = str | int | float | bool | Sequence["TomlValue"] | Mapping[str, "TomlValue"]

TERMS: dict[str, TomlValue] = {"pin_incumbents": True, "no_return": []}
"""[terms] of both programs: incumbents keep their link, no tier forbids a return."""

OBJECTIVE_ORDER = ["coverage", "match", "strength", "travel", "balance"]
"""[objective] order of both programs (no continuity: no previous term to continue)."""

OBJECTIVE_WEIGHTS: dict[str, TomlValue] = {"coverage": 1.0, "match": 1.0, "language": 2.0, "strength": 1.0,
                                           "travel": 1.0, "balance": 1.0}
"""[objective.weights] of both programs."""

WORKING_DAYS = 250


# --------------------------------------------------------------------------- scheme text


def toml_value(value: TomlValue) -> str:
    """One value as TOML text: quoted strings, lists in brackets, tables inline (``{ a = 1, b = [2] }``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def toml_table(header: str, keys: Mapping[str, TomlValue]) -> str:
    """A table: its ``[header]`` line (``[[...]]`` headers as given), then one ``key = value`` line a key."""
    return "\n".join([header, *(f"{k} = {toml_value(v)}" for k, v in keys.items())])


@dataclass(frozen=True)
class TierText:
    """One ``[[tiers]]`` table of a one-county scheme, with its sub-tables (eligibility, quotas)."""

    id: str
    name: str
    name_en: str
    helpers: Mapping[str, TomlValue]
    targets: Mapping[str, TomlValue]
    coverage: str
    coverage_min: int
    coverage_max: int
    links_min: int
    links_max: int
    visit_days: int
    visits_per_year: int
    nest_in: str = ""
    eligibility: Mapping[str, TomlValue] = field(default_factory=dict)
    quota: Sequence[Mapping[str, TomlValue]] = ()

    def toml(self) -> str:
        """The tier as TOML: the keys in docs/scheme-format.md order, then ``[tiers.eligibility]``, ``[[tiers.quota]]``."""
        keys: dict[str, TomlValue] = {
            "id": self.id, "name": self.name, "name_en": self.name_en, "helpers": self.helpers, "targets": self.targets,
            "coverage": self.coverage, "coverage_min": self.coverage_min, "coverage_max": self.coverage_max,
            "links_min": self.links_min, "links_max": self.links_max,
            "visit_days": self.visit_days, "visits_per_year": self.visits_per_year,
        }
        if self.nest_in:
            keys["nest_in"] = self.nest_in
        parts = [toml_table("[[tiers]]", keys)]
        if self.eligibility:
            parts.append(toml_table("[tiers.eligibility]", self.eligibility))
        parts += [toml_table("[[tiers.quota]]", q) for q in self.quota]
        return "\n\n".join(parts)


def scheme_toml(comment: str, program: Mapping[str, TomlValue], budget: Mapping[str, TomlValue],
                tiers: Sequence[TierText]) -> str:
    """A one-county scheme.toml: the comment, [program] (250 working days), the shared [terms], [budget],
    the tiers and the shared [objective]."""
    sections = [
        comment.rstrip("\n"),
        toml_table("[program]", {**program, "working_days": WORKING_DAYS}),
        toml_table("[terms]", TERMS),
        toml_table("[budget]", budget),
        *(t.toml() for t in tiers),
        toml_table("[objective]", {"order": OBJECTIVE_ORDER}),
        toml_table("[objective.weights]", OBJECTIVE_WEIGHTS),
    ]
    return "\n\n".join(sections) + "\n"


# --------------------------------------------------------------------------- the county and its draws


def open_county(cd: PackageReader, ec: PackageReader, county6: str, echarts_file: str, geometry: Path | None,
                seed: int) -> tuple[CountyGeo, np.random.Generator]:
    """A county's geography (``read_county``) and the one seeded generator its builder draws everything from."""
    return read_county(cd, ec, county6, echarts_file, geometry), np.random.Generator(np.random.PCG64(seed))


# --------------------------------------------------------------------------- units and cadres


@dataclass(frozen=True)
class Cadres:
    """How a county's cadres are drawn: id prefix, plan year, share of women, homes, minority language."""

    prefix: str                  # person ids: prefix + 3-digit number
    plan_year: int
    share_f: float
    homes: Sequence[str]         # hometown codes, drawn uniformly
    language: str                # the minority language some cadres speak
    language_homes: frozenset[str]
    language_share: float        # of the cadres from those homes


@dataclass
class Roster:
    """A county's units (all seated at the county seat) and their cadres, drawn in order from one generator."""

    rng: np.random.Generator
    cadres: Cadres
    seat: str
    units: list[dict[str, object]] = field(default_factory=list)
    people: list[dict[str, object]] = field(default_factory=list)

    def add_unit(self, uid: str, name: str, functions: str, kind: str, members: Sequence[tuple[str, str]],
                 extra_headcount: tuple[int, int]) -> None:
        """A county-level unit with its members (rank, role): headcount = 3 x members + a draw in ``extra_headcount``."""
        hc = 3 * len(members) + int(self.rng.integers(*extra_headcount))
        self.units.append({"id": uid, "name": name, "level": "county", "locality": self.seat, "function": functions,
                           "headcount": hc, "strength": f"{hc:.1f}", "kind": kind})
        for rank, role in members:
            self.people.append(self.cadre(uid, rank, role, functions))

    def cadre(self, unit: str, rank: str, role: str, functions: str) -> dict[str, object]:
        """The next person: a drawn home, name, gender, birth year, skills from the unit's functions, language."""
        c, rng = self.cadres, self.rng
        home = c.homes[int(rng.integers(len(c.homes)))]
        return {"id": f"{c.prefix}{len(self.people) + 1:03d}", "name": rosters.person_name(rng), "unit": unit,
                "rank": rank, "role": role, "gender": rosters.gender(rng, c.share_f),
                "birth_year": rosters.birth_year(rng, rank, c.plan_year), "hometown": home,
                "skills": rosters.skills_for(rng, functions, rosters.SKILL_POOL),
                "languages": c.language if home in c.language_homes and rng.random() < c.language_share else ""}


# --------------------------------------------------------------------------- the folder


def write_county_instance(out: Path, scheme: str, geo: CountyGeo, extra: dict[str, dict[str, object]],
                          roster: Roster, targets: list[dict[str, object]]) -> None:
    """Write a one-county instance folder: scheme.toml, the four tables (units with their kind) and geometry."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "scheme.toml", scheme)
    write_csv(out / "localities.csv", LOCALITY_COLUMNS, locality_rows(geo, extra))
    write_csv(out / "units.csv", UNIT_COLUMNS + ["kind"], roster.units)
    write_csv(out / "people.csv", PEOPLE_COLUMNS, roster.people)
    write_csv(out / "targets.csv", TARGET_COLUMNS, targets)
    write_geometry(out, [geo.shape], geo.places, {d.code: d.name for d in geo.divisions})
