"""The instance's rules of form: one function per rule, each returning the problems it finds.

Every problem names the file (or ``instance.xlsx[sheet]``), the spreadsheet row (header = 1),
the column and what was expected (docs/instance-format.md). :func:`validate_tables` runs them
all; ``read_instance`` raises if any problem is an error. Also the one-screen summary.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from matcher.errors import Problem
from matcher.instance import (
    ANCESTOR_LEVELS,
    ETHNIC_GROUPS,
    KEYS,
    LEVELS,
    LOCALITY_KINDS,
    MAX_INT,
    REQUIRED_TABLES,
    SCHEME,
    SEAT_LEVELS,
    TABLES,
    TAGS,
    WORKBOOK,
    RawTable,
    parse_float,
    parse_int,
)

if TYPE_CHECKING:
    from matcher.instance import Instance

Tables = dict[str, RawTable]


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _nearest(word: str, known: list[str] | tuple[str, ...]) -> str:
    m = difflib.get_close_matches(word, list(known), n=1, cutoff=0.5)
    return f" (did you mean '{m[0]}'?)" if m else ""


def _keys(table: RawTable, column: str) -> set[str] | None:
    """The keys of a table, or None when the table cannot be read (so references are not checked)."""
    if not table.usable or column not in table.header:
        return None
    return {c for c in table.col(column) if c}


def _cells(table: RawTable, column: str) -> Iterator[tuple[int, str]]:
    """(spreadsheet row, cell) of one column, only when the column is present (an iterator: read it once)."""
    if column not in table.header:
        return iter(())
    return zip(table.rownums, table.col(column), strict=True)


# --------------------------------------------------------------------------- scheme


def read_scheme_raw(folder: Path) -> tuple[dict[str, Any], list[Problem]]:
    """The instance's scheme.toml parsed as TOML, with its problems (missing, not UTF-8, syntax, keys).

    Source: docs/scheme-format.md (unknown keys are reported with the nearest known key).
    """
    path = folder / SCHEME
    if not path.is_file():
        return {}, [Problem(SCHEME, None, None, "file not found; expected the program's rules in scheme.toml "
                                                "(see docs/scheme-format.md)")]
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return {}, [Problem(SCHEME, line, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); expected a UTF-8 file")]
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        return {}, [Problem(SCHEME, int(m.group(1)) if m else None, None, f"not valid TOML: {exc}")]
    raw_problems = [locate_scheme_key(text, p) for p in check_scheme_keys(raw)]
    return raw, raw_problems


def locate_scheme_key(text: str, problem: Problem) -> Problem:
    """A scheme problem's line: the line of its key (``tiers[2].coverage_min``) in the TOML text.

    Source: docs/scheme-format.md (problems name the table path; the line helps find it).
    """
    if problem.row is not None or not problem.column:
        return problem
    parts = re.findall(r"([A-Za-z0-9_]+)(?:\[(\d+)\])?", problem.column)
    if not parts:
        return problem
    lines = text.splitlines()
    start, end = 0, len(lines)
    table: list[str] = []
    for name, idx in parts[:-1]:
        table.append(name)
        header = re.compile(r"^\s*\[\[?\s*" + re.escape(".".join(table)) + r"\s*\]\]?\s*(#.*)?$")
        hits = [i for i in range(start, end) if header.match(lines[i])]
        if idx:
            k = int(idx) - 1
            if k >= len(hits):
                return problem
            start = hits[k] + 1
            later = hits[k + 1:] if k + 1 < len(hits) else []
            end = later[0] if later else end
        elif hits:
            start = hits[0] + 1
    key = parts[-1][0]
    pat = re.compile(r"^\s*" + re.escape(key) + r"\s*=|[{,]\s*" + re.escape(key) + r"\s*=")
    for i in range(start, end):
        if pat.search(lines[i]):
            return Problem(problem.file, i + 1, problem.column, problem.message, problem.severity)
    return problem


def check_scheme_keys(raw: dict[str, Any]) -> list[Problem]:
    """A scheme's keys must be known and its values of the documented types.

    Source: docs/scheme-format.md; the check itself is ``matcher.scheme.check_scheme``.
    """
    try:
        from matcher.scheme import check_scheme
    except ImportError:  # the scheme module is optional for reading an instance
        return []
    try:
        return list(check_scheme(raw, SCHEME))
    except Exception as exc:  # noqa: BLE001 - a crash in the scheme check must not become a traceback
        return [Problem(SCHEME, None, None, f"the scheme could not be checked ({type(exc).__name__}: {exc})")]


def _filter_columns(tables: Tables, table: str, helper: bool) -> set[str]:
    """The columns a scheme filter may name on ``table`` (as the solver's frames hold them)."""
    t = tables.get(table)
    cols = set(t.header) if t is not None else set()
    cols |= {KEYS.get(table, "")} - {""}
    if table in ("localities", "targets"):
        cols |= set(ANCESTOR_LEVELS) | {"locality"}
    if table in ("units", "people"):
        ucols = set(tables["units"].header) | {"area", "id", "seat"}
        cols |= {f"unit_{c}" for c in ucols}
    if table == "units":
        cols |= {"area", "rank", "hometown", "skills", "languages", "seat"}
    return cols


def check_scheme_columns(tables: Tables, scheme: dict[str, Any], text: str = "") -> list[Problem]:
    """Every column a scheme filter names exists in the table it filters (a misspelt column selects nothing).

    Source: docs/scheme-format.md, filters (`column = [allowed values]` over the table's columns).
    """
    out: list[Problem] = []
    tiers = scheme.get("tiers")
    if not isinstance(tiers, list) or not all(t.usable for t in tables.values() if t.present):
        return out

    def check(flt: Any, table: str, helper: bool, path: str) -> None:
        if not isinstance(flt, dict) or table not in TABLES or not tables[table].usable:
            return
        known = _filter_columns(tables, table, helper)
        for col in flt:
            if col != "table" and col not in known:
                p = Problem(SCHEME, None, f"{path}.{col}",
                            f"filter column '{col}' is not a column of {table}{_nearest(col, sorted(known))}; "
                            f"expected a column of {tables[table].file}")
                out.append(locate_scheme_key(text, p) if text else p)

    for i, t in enumerate(tiers, start=1):
        if not isinstance(t, dict):
            continue
        h = _dict(t.get("helpers"))
        g = _dict(t.get("targets"))
        ht, tt = str(h.get("table", "people")), str(g.get("table", "localities"))
        check(h, ht, True, f"tiers[{i}].helpers")
        check(g, tt, False, f"tiers[{i}].targets")
        for key in ("class_min", "composition", "quota"):
            items = _list(t.get(key))
            for j, item in enumerate(items, start=1):
                if isinstance(item, dict):
                    check(item.get("where"), tt, False, f"tiers[{i}].{key}[{j}].where")
                    if key == "composition":
                        check(item.get("helper_where"), ht, True, f"tiers[{i}].{key}[{j}].helper_where")
        elig = _dict(t.get("eligibility"))
        rbc = _list(elig.get("rank_by_class"))
        for j, item in enumerate(rbc, start=1):
            if isinstance(item, dict):
                check(item.get("where"), tt, False, f"tiers[{i}].eligibility.rank_by_class[{j}].where")
    return out


# --------------------------------------------------------------------------- files and columns


def check_tables_present(tables: Tables) -> list[Problem]:
    """The tables localities, units and people must be present (targets and incumbents are optional).

    Source: docs/instance-format.md, folder layout.
    """
    out = []
    for name in REQUIRED_TABLES:
        t = tables[name]
        if not t.readable:
            continue  # already reported as undecodable
        if not t.present:
            what = "sheet" if "[" in t.file else "file"
            out.append(Problem(t.file, None, None, f"{what} not found; expected the {name} table"))
        elif not t.header:
            out.append(Problem(t.file, 1, None, "empty; expected a header row with the column names"))
    return out


def check_required_columns(table: RawTable) -> list[Problem]:
    """Every required column must be in the header, spelled as in the format.

    Source: docs/instance-format.md, the tables' `required` columns.
    """
    if not table.usable:
        return []
    out = []
    for col in TABLES[table.name]:
        if col.required and col.name not in table.header:
            out.append(Problem(table.file, 1, col.name, f"required column '{col.name}' is missing"
                                                         f"{_nearest(col.name, [h for h in table.header if h])}"))
    seen: Counter[str] = Counter(h for h in table.header if h)
    for h, n in sorted(seen.items()):
        if n > 1:
            out.append(Problem(table.file, 1, h, f"column '{h}' appears {n} times; expected once"))
    return out


_TYPE_WORDS = {"text": "a value", "int": "a whole number", "float": "a number",
               "list": "a value (several separated by ';')", "enum": "a value"}


def check_column_spelling(table: RawTable) -> list[Problem]:
    """A header that looks like a misspelt known column is a warning (extra columns are otherwise kept).

    Source: docs/instance-format.md ("Columns not listed below are kept and ignored").
    """
    if not table.usable:
        return []
    known = [c.name for c in TABLES[table.name]]
    missing = [c for c in known if c not in table.header]
    out = []
    for h in table.header:
        if h and h not in known:
            m = difflib.get_close_matches(h, missing, n=1, cutoff=0.8)
            if m:
                out.append(Problem(table.file, 1, h, f"column '{h}' is not a known column and is kept as extra data; "
                                                     f"did you mean '{m[0]}'?", "warning"))
    return out


def check_not_empty(tables: Tables) -> list[Problem]:
    """An instance has at least its root locality; a tier's helper and target tables have rows.

    Source: docs/instance-format.md (exactly one root); docs/scheme-format.md (tiers link tables).
    """
    out: list[Problem] = []
    loc = tables["localities"]
    if loc.usable and not loc.rows:
        out.append(Problem(loc.file, 2, None, "no rows; expected at least the province"))
    return out


def check_tier_tables(tables: Tables, scheme: dict[str, Any]) -> list[Problem]:
    """A tier that links a table the instance leaves empty can link nothing: a warning.

    Source: docs/scheme-format.md, helpers.table / targets.table.
    """
    out: list[Problem] = []
    tiers = _list(scheme.get("tiers"))
    for i, t in enumerate(tiers, start=1):
        if not isinstance(t, dict):
            continue
        for side, default in (("helpers", "people"), ("targets", "localities")):
            name = _dict(t.get(side)).get("table", default)
            if name in tables and tables[name].readable and not tables[name].rows:
                out.append(Problem(SCHEME, None, f"tiers[{i}].{side}.table",
                                   f"tier '{t.get('id', i)}' links {name}, but {tables[name].file} has no rows",
                                   "warning"))
    return out


def check_cells(table: RawTable) -> list[Problem]:
    """Required cells are filled, numbers are numbers and enums take one of their values.

    Source: docs/instance-format.md, column types.
    """
    out = []
    for col in TABLES[table.name]:
        good: set[str] = set()  # cells of this column already found well-formed (codes and classes repeat)
        for row, cell in _cells(table, col.name):
            if cell in good:
                continue
            if not cell:
                if col.nonempty:
                    want = f"one of {', '.join(col.choices)}" if col.choices else _TYPE_WORDS[col.type]
                    out.append(Problem(table.file, row, col.name, f"empty; expected {want}"))
                continue
            if col.type == "int" and parse_int(cell) is None:
                big = parse_float(cell) is not None and abs(parse_float(cell) or 0) > MAX_INT
                what = "is too large" if big else "is not a whole number"
                out.append(Problem(table.file, row, col.name, f"'{cell}' {what}; expected an integer"
                                   + (f" up to {MAX_INT:,}" if big else "")))
            elif col.type == "float" and parse_float(cell) is None:
                out.append(Problem(table.file, row, col.name, f"'{cell}' is not a number; expected a decimal number"))
            elif col.type == "enum" and cell not in col.choices:
                out.append(Problem(table.file, row, col.name,
                                   f"'{cell}' is not allowed; expected one of {', '.join(col.choices)}"
                                   f"{_nearest(cell, col.choices)}"))
            else:
                good.add(cell)
    return out


def check_ranges(table: RawTable) -> list[Problem]:
    """Counts are not negative, poverty classes are 0-3, lon/lat are degrees.

    Source: docs/instance-format.md, column meanings.
    """
    bounds = {"poverty_class": (0, 3), "population": (0, None), "size": (0, None), "headcount": (0, None),
              "lon": (-180, 180), "lat": (-90, 90), "strength": (0, None)}
    out = []
    for col, (lo, hi) in bounds.items():
        for row, cell in _cells(table, col):
            v = parse_float(cell) if cell else None
            if v is None:
                continue
            if v < lo or (hi is not None and v > hi):
                want = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
                out.append(Problem(table.file, row, col, f"{cell} is out of range; expected a value {want}"))
    return out


def check_locality_kind(table: RawTable) -> list[Problem]:
    """A township's kind is town/township/ethnic_township/subdistrict; a village's village_committee/residents_committee.

    Source: docs/instance-format.md, localities.kind (镇/乡/民族乡/街道, 村委会/居委会).
    """
    out: list[Problem] = []
    if "kind" not in table.header:
        return out
    for row, cell, level in zip(table.rownums, table.col("kind"), table.col("level"), strict=True):
        allowed = LOCALITY_KINDS.get(level)
        if cell and allowed and cell not in allowed:
            out.append(Problem(table.file, row, "kind", f"'{cell}' is not a kind of {level}; expected one of "
                                                        f"{', '.join(allowed)}{_nearest(cell, allowed)}"))
    return out


def check_lonlat_pairs(table: RawTable) -> list[Problem]:
    """lon and lat are given together or not at all.

    Source: docs/instance-format.md, localities.lon/lat.
    """
    out: list[Problem] = []
    if "lon" not in table.header and "lat" not in table.header:
        return out
    for row, lon, lat in zip(table.rownums, table.col("lon"), table.col("lat"), strict=True):
        if bool(lon) != bool(lat):
            missing = "lat" if lon else "lon"
            out.append(Problem(table.file, row, missing, f"empty while {'lon' if lon else 'lat'} is given; "
                                                         "expected both lon and lat or neither"))
    return out


# --------------------------------------------------------------------------- keys and references


def check_unique_keys(table: RawTable) -> list[Problem]:
    """Codes and ids are unique within their table.

    Source: docs/instance-format.md (`unique`).
    """
    key = KEYS.get(table.name)
    if key is None:
        return []
    first: dict[str, int] = {}
    out = []
    for row, cell in _cells(table, key):
        if not cell:
            continue
        if cell in first:
            out.append(Problem(table.file, row, key, f"duplicate {key} '{cell}' (first at row {first[cell]}); "
                                                     f"expected each {key} once"))
        else:
            first[cell] = row
    return out


def check_helper_ids_disjoint(tables: Tables) -> list[Problem]:
    """A helper id names one thing: no id is both a unit and a person.

    Source: docs/instance-format.md, units.id (unique across units and people).
    """
    units = {c for _, c in _cells(tables["units"], "id") if c}
    people = tables["people"]
    return [Problem(people.file, row, "id", f"id '{c}' is also a unit id in {tables['units'].file}; "
                                           "expected ids unique across units and people")
            for row, c in _cells(people, "id") if c in units]


def _check_refs(table: RawTable, column: str, known: set[str] | None, what: str) -> list[Problem]:
    if known is None or not table.usable:
        return []  # the referenced table could not be read: already reported
    return [Problem(table.file, row, column, f"'{cell}' is not {what}")
            for row, cell in _cells(table, column) if cell and cell not in known]


def check_references(tables: Tables) -> list[Problem]:
    """Every reference names an existing row: parent, unit, hometown, seats, target localities.

    Source: docs/instance-format.md (parent, people.unit, people.hometown, units.locality, targets.locality).
    """
    loc = tables["localities"]
    codes = _keys(loc, "code")
    units = _keys(tables["units"], "id")
    lf = loc.file
    return (
        _check_refs(loc, "parent", codes, f"a code in {lf}; expected the parent's code")
        + _check_refs(tables["people"], "unit", units, f"an id in {tables['units'].file}; expected the person's unit")
        + _check_refs(tables["people"], "hometown", codes, f"a code in {lf}; expected a locality code or empty")
        + _check_refs(tables["units"], "locality", codes, f"a code in {lf}; expected the code of the unit's seat")
        + _check_refs(tables["targets"], "locality", codes, f"a code in {lf}; expected the target's locality")
    )


# --------------------------------------------------------------------------- the tree


def check_tree(loc: RawTable) -> list[Problem]:
    """The localities form one tree rooted at the province: one root, no cycle, no level skipped.

    Source: docs/instance-format.md, localities (exactly one root; parent exactly one level up).
    """
    out: list[Problem] = []
    if "code" not in loc.header or "parent" not in loc.header:
        return out
    rows: dict[str, tuple[int, str, str]] = {}
    for row, code, parent, level in zip(loc.rownums, loc.col("code"), loc.col("parent"), loc.col("level"),
                                        strict=True):
        if code and code not in rows:
            rows[code] = (row, parent, level)
    roots = [(row, code, level) for code, (row, parent, level) in rows.items() if not parent]
    if not roots and rows:
        out.append(Problem(loc.file, None, "parent", "no root; expected exactly one locality (the province) "
                                                     "with an empty parent"))
    for row, code, level in roots[1:]:
        out.append(Problem(loc.file, row, "parent", f"'{code}' is a second root (first root '{roots[0][1]}' at row "
                                                    f"{roots[0][0]}); expected one root, every other locality "
                                                    "with a parent"))
    for row, code, level in roots[:1]:
        if level in LEVELS and level != "province":
            out.append(Problem(loc.file, row, "level", f"the root '{code}' is a {level}; expected the root to be "
                                                       "the province"))
    # cycles: follow parents with colouring
    state: dict[str, int] = {}
    for start in rows:
        path: list[str] = []
        c = start
        while c in rows and state.get(c, 0) == 0:
            state[c] = 1
            path.append(c)
            c = rows[c][1]
        if c in rows and state.get(c) == 1:  # back on the current path: a cycle
            cyc = path[path.index(c):]
            first = min(cyc, key=lambda k: rows[k][0])
            out.append(Problem(loc.file, rows[first][0], "parent",
                               f"cycle in the tree: {' -> '.join(cyc + [c])}; expected parents leading up to the root"))
        for p in path:
            state[p] = 2
    for code, (row, parent, level) in rows.items():
        if parent and parent in rows and level in LEVELS:
            plevel = rows[parent][2]
            if plevel in LEVELS and LEVELS.index(plevel) != LEVELS.index(level) - 1:
                want = LEVELS[LEVELS.index(level) - 1] if level != "province" else "none (the province is the root)"
                out.append(Problem(loc.file, row, "parent", f"parent '{parent}' is a {plevel}, but '{code}' is a "
                                                            f"{level}; expected a parent of level {want}"))
    return out


def check_unit_seats(tables: Tables) -> list[Problem]:
    """A unit sits in a county-level locality or below, inside the area of its own level.

    Source: docs/instance-format.md, units.locality (a unit's seat; area = ancestor at the unit's level).
    """
    loc = tables["localities"]
    level_of = dict(zip(loc.col("code"), loc.col("level"), strict=True))
    units = tables["units"]
    out = []
    for row, seat, level in zip(units.rownums, units.col("locality"), units.col("level"), strict=True):
        sl = level_of.get(seat)
        if sl in LEVELS and sl not in SEAT_LEVELS:
            out.append(Problem(units.file, row, "locality", f"seat '{seat}' is a {sl}; expected a locality at county "
                                                            "level or below (the district or county the unit sits in)"))
    return out


def check_headcount(tables: Tables) -> list[Problem]:
    """A unit's headcount is at least the number of its people listed.

    Source: docs/instance-format.md, units.headcount.
    """
    people = Counter(c for _, c in _cells(tables["people"], "unit") if c)
    units = tables["units"]
    out = []
    for row, uid, head in zip(units.rownums, units.col("id"), units.col("headcount"), strict=True):
        n = parse_int(head) if head else None
        if n is not None and people.get(uid, 0) > n:
            out.append(Problem(units.file, row, "headcount",
                               f"{n} is smaller than the {people[uid]} people listed for '{uid}' in "
                               f"{tables['people'].file}; expected headcount >= people listed"))
    return out


# --------------------------------------------------------------------------- incumbents


def check_incumbents(tables: Tables, scheme: dict[str, Any]) -> list[Problem]:
    """Incumbent links name a tier of the scheme, an existing helper and target, began by the plan year, once each.

    Source: docs/instance-format.md, incumbents.csv; docs/scheme-format.md, [terms].
    """
    inc = tables["incumbents"]
    if not inc.present:
        return []
    tiers = _list(scheme.get("tiers"))
    tier_table = {}
    for t in tiers:
        if isinstance(t, dict) and isinstance(t.get("id"), str):
            h = _dict(t.get("helpers"))
            g = _dict(t.get("targets"))
            tier_table[t["id"]] = (h.get("table", "people"), g.get("table", "localities"))
    plan_year = (scheme.get("program") or {}).get("plan_year") if isinstance(scheme.get("program"), dict) else None
    units = _keys(tables["units"], "id")
    people = _keys(tables["people"], "id")
    codes = _keys(tables["localities"], "code")
    targets = _keys(tables["targets"], "id") if tables["targets"].present else set()
    out: list[Problem] = []
    first_row: dict[tuple[str, str, str], int] = {}
    if not inc.usable:
        return out
    for row, tier, helper, target, year in zip(inc.rownums, inc.col("tier"), inc.col("helper"), inc.col("target"),
                                               inc.col("start_year"), strict=True):
        ht, tt = tier_table.get(tier, (None, None))
        if tier and tier_table and tier not in tier_table:
            out.append(Problem(inc.file, row, "tier", f"'{tier}' is not a tier of {SCHEME}; expected one of "
                                                      f"{', '.join(tier_table)}{_nearest(tier, list(tier_table))}"))
        if helper:
            pool = units if ht == "units" else people if ht == "people" else (
                None if units is None or people is None else units | people)
            if pool is not None and helper not in pool:
                what = {"units": "a unit id", "people": "a person id"}.get(ht or "", "a unit or person id")
                out.append(Problem(inc.file, row, "helper", f"'{helper}' is not {what}; expected a helper "
                                                            "listed in units or people"))
        if target:
            pool = codes if tt == "localities" else targets if tt == "targets" else (
                None if codes is None or targets is None else codes | targets)
            if pool is not None and target not in pool:
                what = {"localities": "a locality code", "targets": "a target id"}.get(tt or "",
                                                                                      "a locality code or target id")
                out.append(Problem(inc.file, row, "target", f"'{target}' is not {what}; expected a target listed "
                                                            "in localities or targets"))
        link = (tier, helper, target)
        if all(link) and link in first_row:
            out.append(Problem(inc.file, row, "target", f"duplicate link {tier}: {helper} -> {target} (first at row "
                                                        f"{first_row[link]}); expected each link once"))
        elif all(link):
            first_row[link] = row
        y = parse_int(year) if year else None
        if y is not None and isinstance(plan_year, int) and y > plan_year:
            out.append(Problem(inc.file, row, "start_year", f"{y} is after the plan year {plan_year}; expected a link "
                                                            "that began by the plan year"))
    return out


# --------------------------------------------------------------------------- tags (warnings)


def check_tags(tables: Tables) -> list[Problem]:
    """Function, needs and skills tags come from the shared vocabulary; languages from the ethnic groups.

    Source: docs/instance-format.md, tag vocabularies (an unknown tag is a warning, not an error).
    """
    out = []
    lists = [("localities", "needs", TAGS), ("targets", "needs", TAGS), ("units", "function", TAGS),
             ("people", "skills", TAGS), ("localities", "ethnic_groups", ETHNIC_GROUPS),
             ("people", "languages", ETHNIC_GROUPS)]
    for name, col, vocab in lists:
        t = tables[name]
        good: set[str] = set()  # cells whose tags are all known (tag lists repeat)
        for row, cell in _cells(t, col):
            if cell in good:
                continue
            unknown = [tag for tag in (s.strip() for s in cell.split(";")) if tag and tag not in vocab]
            if not unknown:
                good.add(cell)
            for tag in unknown:
                out.append(Problem(t.file, row, col, f"unknown tag '{tag}'{_nearest(tag, vocab)}; "
                                                     "expected a tag from docs/instance-format.md", "warning"))
    return out


# --------------------------------------------------------------------------- geometry


def check_geometry_codes(files: dict[str, tuple[Path, str | None]], codes: set[str],
                         levels: dict[str, str] | None = None, cache: dict[str, Any] | None = None) -> list[Problem]:
    """Every geometry feature has a readable shape and a ``code`` that is a locality code (of the layer's level).

    Source: docs/instance-format.md, geometry/ (features keyed by code; layers counties, townships, ...).
    Layers read here are kept in ``cache`` (layer -> GeoDataFrame) so the loader reads them once.
    """
    import warnings

    import shapely

    from matcher.instance import GEOMETRY_LAYERS, read_geometry_layer

    layer_level = {v: k for k, v in GEOMETRY_LAYERS.items()}
    out = []
    for layer, (path, sub) in sorted(files.items()):
        name = f"geometry/{path.name}" + (f"[{sub}]" if sub else "")
        if layer not in layer_level:
            out.append(Problem(name, None, None, f"'{layer}' is not a known layer and is not used"
                                                 f"{_nearest(layer, list(layer_level))}; expected one of "
                                                 f"{', '.join(layer_level)}", "warning"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's notes on odd rings: judged below
                df = read_geometry_layer(path, sub)
            cent = shapely.centroid(df.geometry.to_numpy())
            bad = [i for i, (g, c) in enumerate(zip(df.geometry, cent, strict=True))
                   if g is None or g.is_empty or c is None or c.is_empty]
        except Exception as exc:  # noqa: BLE001 - an unreadable geometry file is one problem
            out.append(Problem(name, None, None, f"cannot read ({type(exc).__name__}: {exc}); expected GeoJSON "
                                                 "or a GeoPackage with closed, valid shapes in WGS84"))
            continue
        for i in bad:
            out.append(Problem(name, i + 1, "geometry", f"feature {i + 1} has no usable shape; expected a valid "
                                                        "polygon or point"))
        if "code" not in df.columns:
            out.append(Problem(name, None, "code", "no 'code' property; expected each feature keyed by its "
                                                   "locality code"))
            continue
        if cache is not None:
            cache[layer] = df
        for i, c in enumerate(df["code"].tolist()):
            if c not in codes:
                out.append(Problem(name, i + 1, "code", f"feature {i + 1} has code '{c}', which is not in "
                                                        "localities; expected a locality code"))
            elif levels is not None and layer in layer_level and levels.get(c) != layer_level[layer]:
                out.append(Problem(name, i + 1, "code", f"feature {i + 1} has code '{c}' of a {levels.get(c)}; "
                                                        f"expected a {layer_level[layer]} in layer {layer}",
                                   "warning"))
    return out


# --------------------------------------------------------------------------- all together


def validate_tables(tables: Tables, scheme: dict[str, Any]) -> list[Problem]:
    """Every problem in an instance's tables (file and column problems first, then rows)."""
    out = check_tables_present(tables)
    for t in tables.values():
        out += check_required_columns(t) + check_column_spelling(t)
    out += check_not_empty(tables) + check_tier_tables(tables, scheme)
    for t in tables.values():
        if t.present:
            out += check_cells(t) + check_ranges(t) + check_unique_keys(t)
    out += check_locality_kind(tables["localities"]) + check_lonlat_pairs(tables["localities"])
    out += check_helper_ids_disjoint(tables)
    out += check_references(tables)
    out += check_tree(tables["localities"])
    out += check_unit_seats(tables)
    out += check_headcount(tables)
    out += check_incumbents(tables, scheme)
    out += check_tags(tables)
    return out


def problems_by_file(problems: list[Problem]) -> dict[str, list[Problem]]:
    """Problems grouped by file in a stable order (scheme first, then tables, then geometry)."""
    order = [SCHEME, WORKBOOK] + [f"{n}.csv" for n in TABLES]
    groups: dict[str, list[Problem]] = {}
    for p in sorted(problems, key=lambda p: (p.file not in order, order.index(p.file) if p.file in order else 0,
                                             p.file, p.row or 0, p.column or "")):
        groups.setdefault(p.file, []).append(p)
    return groups


def _counts(values: Any, order: tuple[str, ...] = ()) -> str:
    c = Counter(str(v) for v in values if not pd.isna(v))
    keys = [k for k in order if k in c] + sorted(k for k in c if k not in order)
    return ", ".join(f"{k} {c[k]}" for k in keys) if keys else "none"


def summarize(inst: Instance) -> str:
    """The one-screen summary of an instance: counts by level, kind, rank, tier; the scheme."""
    loc = inst.localities
    prog = inst.scheme.get("program", {})
    lines = [f"instance {inst.path}",
             f"scheme   {prog.get('name', '?')}",
             f"         {prog.get('name_en', '')}".rstrip(),
             f"         plan year {prog.get('plan_year', '?')}, term {prog.get('term_years', '?')} years",
             f"localities {len(loc)}: {_counts(loc['level'], LEVELS)}"]
    for level in LEVELS:
        sub = loc[loc["level"] == level]
        if len(sub) and sub["kind"].notna().any():
            lines.append(f"  {level} by kind: {_counts(sub['kind'].fillna('(none)'))}")
    poor = loc[loc["poverty_class"] > 0]
    if len(poor):
        lines.append("  poor by level and class: " + ", ".join(
            f"{lv} class {c}: {n}" for (lv, c), n in sorted(
                Counter(zip(poor["level"], poor["poverty_class"], strict=True)).items(),
                key=lambda kv: (LEVELS.index(kv[0][0]), kv[0][1]))))
    lines.append(f"units {len(inst.units)}: {_counts(inst.units['level'], LEVELS)}")
    lines.append(f"people {len(inst.people)}: {_counts(inst.people['rank'], ('department', 'division', 'section', 'staff'))}"
                 f"; {_counts(inst.people['gender'], ('F', 'M'))}")
    lines.append(f"targets {len(inst.targets)}: {_counts(inst.targets['kind'])}")
    inc_line = f"incumbents {len(inst.incumbents)}: {_counts(inst.incumbents['tier'])}"
    term = prog.get("term_years")
    if len(inst.incumbents) and isinstance(inst.plan_year, int) and isinstance(term, int):
        y = inst.plan_year
        start = inst.incumbents["start_year"]
        in_force = int(((start <= y) & (start + term > y)).fillna(False).sum())
        inc_line += f" ({in_force} in force in {y}, {len(inst.incumbents) - in_force} ended)"
    lines.append(inc_line)
    tiers = inst.scheme.get("tiers", [])
    lines.append(f"tiers {len(tiers)}:")
    for t in tiers:
        h, g = t.get("helpers", {}), t.get("targets", {})

        def filt(d: dict[str, Any]) -> str:
            return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                            for k, v in d.items() if k != "table")

        lines.append(f"  {t.get('id')}: {t.get('name', '')} ({t.get('name_en', '')}): "
                     f"{h.get('table', 'people')}[{filt(h)}] -> {g.get('table', 'localities')}[{filt(g)}], "
                     f"{t.get('coverage_min', 1)}-{t.get('coverage_max', '?')} helpers per target, "
                     f"{t.get('links_min', 0)}-{t.get('links_max', 1)} links per helper"
                     + (f", nested in {t['nest_in']}" if t.get("nest_in") else ""))
    geo = sorted(inst.geometry_files)
    lines.append(f"geometry: {', '.join(geo) if geo else 'none'}; positions schematic "
                 f"{int(inst.positions['schematic'].sum())}/{len(inst.positions)}")
    if inst.warnings:
        lines.append(f"warnings {len(inst.warnings)}")
    return "\n".join(lines)


__all__ = [name for name in dir() if name.startswith("check_")] + [
    "read_scheme_raw", "validate_tables", "summarize", "problems_by_file", "ANCESTOR_LEVELS"]
