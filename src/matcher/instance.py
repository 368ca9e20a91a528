"""The instance: reading an instance folder (CSV files or one instance.xlsx) into typed tables.

``read_instance(path)`` reads the five tables, the scheme and the optional geometry of an
instance folder (format: docs/instance-format.md), checks them with :mod:`matcher.validate`
and returns an :class:`Instance`. Every problem found is collected and raised at once as an
:class:`~matcher.errors.InstanceError`; nothing else escapes for bad input.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import pandas as pd
import shapely

from matcher.errors import InstanceError, Problem

if TYPE_CHECKING:
    import geopandas as gpd

# --------------------------------------------------------------------------- the format

LEVELS: tuple[str, ...] = ("province", "prefecture", "county", "township", "village")
"""Locality levels from the root down; a parent is exactly one level up."""

ANCESTOR_LEVELS: tuple[str, ...] = ("province", "prefecture", "county", "township")
"""Levels that get a derived ancestor column in localities and targets."""

UNIT_LEVELS: tuple[str, ...] = ("province", "prefecture", "county")
SEAT_LEVELS: tuple[str, ...] = ("county", "township", "village")
RANKS: tuple[str, ...] = ("department", "division", "section", "staff")
GENDERS: tuple[str, ...] = ("F", "M")
POSITIONS: tuple[str, ...] = ("surveyed", "schematic")
TOWNSHIP_KINDS: tuple[str, ...] = ("town", "township", "ethnic_township", "subdistrict")
VILLAGE_KINDS: tuple[str, ...] = ("village_committee", "residents_committee")
LOCALITY_KINDS: dict[str, tuple[str, ...]] = {"township": TOWNSHIP_KINDS, "village": VILLAGE_KINDS}
"""Allowed ``kind`` values by locality level (other levels take any text)."""
TARGET_KINDS: tuple[str, ...] = ("enterprise", "industrial_park", "key_project", "household", "party_member")

TAGS: tuple[str, ...] = (
    "agriculture", "forestry", "water", "transport", "energy", "industry", "commerce", "tourism",
    "education", "health", "finance", "natural_resources", "environment", "housing", "social_security",
    "civil_affairs", "culture", "science", "law", "public_security", "planning", "statistics",
    "ethnic_affairs", "poverty_alleviation", "party_building", "mining", "labour", "land",
    "disaster_relief", "ecommerce",
)
"""The shared vocabulary of unit functions, place needs and people's skills."""

ETHNIC_GROUPS: tuple[str, ...] = (
    "Miao", "Buyi", "Dong", "Yi", "Shui", "Tujia", "Gelao", "Hui", "Zhuang", "Yao", "Qiang", "Tibetan",
)
"""Ethnic groups with their own language, as named in ethnic_groups and languages."""

GEOMETRY_LAYERS: dict[str, str] = {
    "province": "province", "prefecture": "prefectures", "county": "counties",
    "township": "townships", "village": "villages",
}
"""Geometry layer (file name without extension) holding the shapes of each level."""


@dataclass(frozen=True)
class Column:
    """One column of a table: its type, whether the column and its cells are required."""

    name: str
    type: str = "text"  # text | int | float | list | enum
    required: bool = False  # the column must be present
    nonempty: bool = False  # every cell must be filled
    choices: tuple[str, ...] = ()


TABLES: dict[str, tuple[Column, ...]] = {
    "localities": (
        Column("code", required=True, nonempty=True),
        Column("name", required=True, nonempty=True),
        Column("level", "enum", True, True, LEVELS),
        Column("parent", required=True),
        Column("kind"),
        Column("poverty_class", "int"),
        Column("population", "int"),
        Column("ethnic_groups", "list"),
        Column("needs", "list"),
        Column("lon", "float"),
        Column("lat", "float"),
        Column("position", "enum", choices=POSITIONS),
    ),
    "targets": (
        Column("id", required=True, nonempty=True),
        Column("name", required=True, nonempty=True),
        Column("kind", "enum", True, True, TARGET_KINDS),
        Column("locality", required=True, nonempty=True),
        Column("category"),
        Column("poverty_class", "int"),
        Column("needs", "list"),
        Column("size", "int"),
    ),
    "units": (
        Column("id", required=True, nonempty=True),
        Column("name", required=True, nonempty=True),
        Column("level", "enum", True, True, UNIT_LEVELS),
        Column("locality", required=True, nonempty=True),
        Column("function", "list", True, True),
        Column("headcount", "int", True, True),
        Column("strength", "float"),
    ),
    "people": (
        Column("id", required=True, nonempty=True),
        Column("name", required=True, nonempty=True),
        Column("unit", required=True, nonempty=True),
        Column("rank", "enum", True, True, RANKS),
        Column("role"),
        Column("gender", "enum", True, True, GENDERS),
        Column("birth_year", "int"),
        Column("hometown"),
        Column("skills", "list"),
        Column("languages", "list"),
    ),
    "incumbents": (
        Column("tier", required=True, nonempty=True),
        Column("helper", required=True, nonempty=True),
        Column("target", required=True, nonempty=True),
        Column("start_year", "int", True, True),
    ),
}
"""Every table's known columns, in the order of docs/instance-format.md."""

KEYS: dict[str, str] = {"localities": "code", "targets": "id", "units": "id", "people": "id"}
REQUIRED_TABLES: tuple[str, ...] = ("localities", "units", "people")
WORKBOOK = "instance.xlsx"
SCHEME = "scheme.toml"


# --------------------------------------------------------------------------- raw tables


@dataclass
class RawTable:
    """A table as read from its file: a header and rows of stripped text cells.

    ``rownums[i]`` is the spreadsheet row of ``rows[i]`` (the header is row 1). Rows are padded
    with empty cells to the header's length; blank rows are dropped.
    """

    name: str
    file: str
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    rownums: list[int] = field(default_factory=list)
    present: bool = False
    readable: bool = True
    _columns: dict[str, tuple[int, list[str]]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def usable(self) -> bool:
        """Present, decoded and with a header: its rows can be checked and referenced."""
        return self.present and self.readable and bool(self.header)

    def col(self, name: str) -> list[str]:
        """The cells of one column ('' for every row when the column is absent); built once per column and row count.

        The validation rules ask for the same columns many times (96 times on Guizhou): the list is kept,
        and it is a shared list, so callers must not change it.
        """
        if name not in self.header:
            return [""] * len(self.rows)
        hit = self._columns.get(name)
        if hit is None or hit[0] != len(self.rows):
            j = self.header.index(name)
            hit = (len(self.rows), [r[j] for r in self.rows])
            self._columns[name] = hit
        return hit[1]


def _clean_header(cells: list[str]) -> list[str]:
    return [c.strip().lstrip("\ufeff").strip() for c in cells]


def _rows_to_table(table: RawTable, records: list[list[str]], problems: list[Problem]) -> None:
    """Fill ``table`` from records (header first), noting rows longer than the header."""
    if not records:
        table.header = []
        return
    table.header = _clean_header(records[0])
    width = len(table.header)
    for i, rec in enumerate(records[1:], start=2):
        cells = [c.strip() for c in rec]
        if not any(cells):
            continue
        if len(cells) > width:
            extra = cells[width:]
            if any(extra):
                problems.append(Problem(table.file, i, None,
                                        f"row has {len(cells)} cells but the header has {width} columns; "
                                        "expected one cell per header column (a stray comma?)"))
            cells = cells[:width]
        cells += [""] * (width - len(cells))
        table.rows.append(cells)
        table.rownums.append(i)


def _encoding_hint(data: bytes) -> str:
    """Say so when undecodable bytes read as GB18030, the encoding of 'CSV' saved by Chinese Excel."""
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        return ""
    return ", it looks like GBK/GB18030 (Excel's plain 'CSV' on Chinese Windows)"


def read_csv_table(folder: Path, name: str, problems: list[Problem]) -> RawTable:
    """Read ``<folder>/<name>.csv`` as text cells; undecodable or malformed files become problems."""
    file = f"{name}.csv"
    table = RawTable(name, file)
    path = folder / file
    if not path.is_file():
        return table
    table.present = True
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(Problem(file, line, None,
                                f"not UTF-8 text (byte 0x{data[exc.start]:02x} at byte {exc.start})"
                                f"{_encoding_hint(data)}; expected a UTF-8 file (in Excel: Save As 'CSV UTF-8')"))
        table.readable = False
        return table
    if "\x00" in text:
        problems.append(Problem(file, None, None, "file contains NUL bytes; expected a UTF-8 text CSV file"))
        table.readable = False
        return table
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        problems.append(Problem(file, None, None, f"not a readable CSV file ({exc}); expected comma-separated UTF-8 text"))
        table.readable = False
        return table
    _rows_to_table(table, records, problems)
    return table


def _xlsx_cell(value: Any) -> str:
    """A workbook cell as the text a CSV would hold (codes typed as numbers stay whole)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def read_xlsx_tables(xlsx: Path, problems: list[Problem]) -> dict[str, RawTable]:
    """Read the five sheets of ``instance.xlsx`` as text cells; a broken workbook is one problem."""
    import openpyxl  # imported here: only workbook instances need it

    tables = {name: RawTable(name, f"{xlsx.name}[{name}]") for name in TABLES}
    try:
        wb = openpyxl.load_workbook(xlsx, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any reason the workbook cannot be opened is one problem
        problems.append(Problem(xlsx.name, None, None,
                                f"cannot open the workbook ({type(exc).__name__}: {exc}); expected an .xlsx file"))
        for t in tables.values():
            t.present, t.readable = True, False
        return tables
    try:
        for name, table in tables.items():
            if name not in wb.sheetnames:
                continue
            table.present = True
            ws = wb[name]
            records = [[_xlsx_cell(v) for v in row] for row in ws.iter_rows(min_row=1, min_col=1, values_only=True)]
            _rows_to_table(table, records, problems)
    except Exception as exc:  # noqa: BLE001 - a corrupt sheet is reported, not raised
        problems.append(Problem(xlsx.name, None, None, f"cannot read the workbook ({type(exc).__name__}: {exc})"))
        for t in tables.values():
            t.readable = False
    finally:
        wb.close()
    return tables


# --------------------------------------------------------------------------- cell parsing


MAX_INT = 10**15
"""The largest whole number a cell may hold (counts, years, sizes): beyond it is an input error."""


def parse_int(text: str) -> int | None:
    """An integer cell: ``12``, ``12.0`` (as Excel writes it) or ``+12``; ``None`` if not one or beyond MAX_INT."""
    t = text.strip()
    try:
        v = int(t)
    except ValueError:
        try:
            f = float(t)
        except ValueError:
            return None
        if not (math.isfinite(f) and f.is_integer()):
            return None
        v = int(f)
    return v if abs(v) <= MAX_INT else None


def parse_float(text: str) -> float | None:
    """A finite float cell, ``None`` if not one."""
    try:
        f = float(text.strip())
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def parse_list(text: str) -> tuple[str, ...]:
    """A list cell: ``Miao;Buyi`` -> ``('Miao', 'Buyi')``; empty items dropped."""
    return tuple(s.strip() for s in text.split(";") if s.strip())


# --------------------------------------------------------------------------- the Instance


@dataclass
class Instance:
    """One program's data: places, helpers, links in force and the scheme (docs/instance-format.md)."""

    path: Path
    scheme: dict[str, Any]
    localities: pd.DataFrame
    targets: pd.DataFrame
    units: pd.DataFrame
    people: pd.DataFrame
    incumbents: pd.DataFrame
    tree: nx.DiGraph
    positions: pd.DataFrame
    warnings: list[Problem] = field(default_factory=list)
    geometry_files: dict[str, tuple[Path, str | None]] = field(default_factory=dict, repr=False)
    _geometry_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def geometry(self, layer: str) -> gpd.GeoDataFrame | None:
        """The GeoDataFrame of a geometry layer ('counties', 'townships', ...) in EPSG:4326, or None.

        Read on first use and kept; indexed by nothing in particular, with a ``code`` column (text).
        """
        if layer in self._geometry_cache:
            return self._geometry_cache[layer]
        where = self.geometry_files.get(layer)
        gdf = None
        if where is not None:
            gdf = read_geometry_layer(*where)
        self._geometry_cache[layer] = gdf
        return gdf

    def ancestor(self, code: str, level: str) -> str | None:
        """The code of ``code``'s ancestor at ``level`` (itself at its own level, None above it)."""
        if code not in self.localities.index:
            raise KeyError(f"unknown locality code {code!r}")
        if level == "village":
            return code if self.localities.at[code, "level"] == "village" else None
        if level not in ANCESTOR_LEVELS:
            raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
        v = self.localities.at[code, level]
        return v if isinstance(v, str) else None

    @property
    def plan_year(self) -> int | None:
        """The scheme's plan year (``[program] plan_year``)."""
        y = self.scheme.get("program", {}).get("plan_year")
        return int(y) if isinstance(y, int) else None

    def summary(self) -> str:
        """The one-screen summary printed by ``matcher validate``."""
        from matcher.validate import summarize

        return summarize(self)


def read_geometry_layer(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    """Read one geometry layer with geopandas, reprojected to EPSG:4326, ``code`` as text."""
    import geopandas as gpd

    gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    elif gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    if "code" in gdf.columns:
        gdf["code"] = gdf["code"].map(lambda v: "" if v is None else _xlsx_cell(v))
    return gdf


def find_geometry(folder: Path) -> dict[str, tuple[Path, str | None]]:
    """The geometry layers of an instance: ``geometry/<layer>.geojson`` or layers of ``geometry.gpkg``."""
    out: dict[str, tuple[Path, str | None]] = {}
    gdir = folder / "geometry"
    for gpkg in (gdir / "geometry.gpkg", folder / "geometry.gpkg"):
        if gpkg.is_file():
            try:
                import pyogrio

                for name, _ in pyogrio.list_layers(gpkg):
                    out[str(name)] = (gpkg, str(name))
            except Exception:  # noqa: BLE001 - reported by the validator when it reads the file
                out["?"] = (gpkg, None)
            break
    if gdir.is_dir():
        for p in sorted(gdir.glob("*.geojson")):
            out[p.stem] = (p, None)
    return out


def resolve_folder(path: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """The instance folder and its workbook (if the path names one or the folder holds one)."""
    p = Path(path)
    if p.suffix.lower() == ".xlsx":
        return p.parent, p
    if p.is_file() and p.suffix.lower() in (".csv", ".toml"):
        p = p.parent  # a file of the instance names its folder
    xlsx = p / WORKBOOK
    return p, (xlsx if xlsx.is_file() else None)


def read_raw(path: str | os.PathLike[str]) -> tuple[Path, dict[str, RawTable], list[Problem]]:
    """Read an instance's tables as text, with the file-level problems (missing, mixed, undecodable)."""
    folder, xlsx = resolve_folder(path)
    problems: list[Problem] = []
    if not folder.is_dir():
        problems.append(Problem(str(folder), None, None, "no such folder; expected an instance folder"))
        return folder, {n: RawTable(n, f"{n}.csv") for n in TABLES}, problems
    csvs = sorted(f"{n}.csv" for n in TABLES if (folder / f"{n}.csv").is_file())
    if xlsx is not None:
        if not xlsx.is_file():
            problems.append(Problem(xlsx.name, None, None, "no such workbook"))
            return folder, {n: RawTable(n, f"{xlsx.name}[{n}]") for n in TABLES}, problems
        if csvs:
            problems.append(Problem(
                xlsx.name, None, None,
                f"the folder holds both {xlsx.name} and CSV files ({', '.join(csvs)}); "
                "expected one form only: remove the workbook or the CSV files"))
        tables = read_xlsx_tables(xlsx, problems)
    else:
        tables = {n: read_csv_table(folder, n, problems) for n in TABLES}
    return folder, tables, problems


def read_instance(path: str | os.PathLike[str], *, validate: bool = True) -> Instance:
    """Read an instance folder (or its instance.xlsx) into an :class:`Instance`.

    With ``validate`` (the default) every problem of docs/instance-format.md is collected and
    raised at once as :class:`InstanceError`; warnings (unknown tags) are kept in
    ``Instance.warnings``. With ``validate=False`` only unreadable files raise.
    """
    from matcher import validate as v

    folder, tables, problems = read_raw(path)
    scheme, scheme_problems = v.read_scheme_raw(folder)
    geometry_files = find_geometry(folder)
    geometry_cache: dict[str, Any] = {}
    if validate:
        problems += scheme_problems
        try:
            problems += v.validate_tables(tables, scheme)
            if not scheme_problems:
                text = (folder / SCHEME).read_bytes().decode("utf-8-sig")
                problems += v.check_scheme_columns(tables, scheme, text)
            loc = tables["localities"]
            if loc.usable and "code" in loc.header:
                levels = dict(zip(loc.col("code"), loc.col("level"), strict=True))
                problems += v.check_geometry_codes(geometry_files, set(levels), levels, geometry_cache)
        except Exception as exc:  # noqa: BLE001 - a bug in a check must still end as a clear error
            problems.append(Problem(str(folder), None, None, f"internal error while checking the instance "
                                                             f"({type(exc).__name__}: {exc}); please report it"))
    else:
        problems = [p for p in problems + scheme_problems if p.row is None and p.column is None]
    if any(p.severity == "error" for p in problems):
        raise InstanceError(problems, str(path))
    try:
        inst = build_instance(folder, tables, scheme, geometry_files, geometry_cache)
    except InstanceError:
        raise
    except Exception as exc:
        what = "internal error while building" if validate else "cannot build"
        raise InstanceError([Problem(str(folder), None, None,
                                     f"{what} the instance ({type(exc).__name__}: {exc}); run matcher validate")],
                            str(path)) from exc
    inst.warnings = [p for p in problems if p.severity != "error"]
    if validate:
        inst.warnings += unknown_forbidden_pairs(inst)
    return inst


def unknown_forbidden_pairs(inst: Instance) -> list[Problem]:
    """A tier's forbidden pair names a helper (unit or person) and a target (locality or target) of the instance.

    Source: docs/scheme-format.md, Forbidden pairs: a pair naming no helper or target forbids nothing, so it is
    reported as a warning (a typo would otherwise leave the link allowed without a word).
    """
    helpers = set(inst.units.index.astype(str)) | set(inst.people.index.astype(str))
    targets = set(inst.localities.index.astype(str)) | set(inst.targets.index.astype(str))
    out: list[Problem] = []
    for i, tier in enumerate(inst.scheme.get("tiers") or [], start=1):
        for j, pair in enumerate(tier.get("forbidden") or [], start=1) if isinstance(tier, dict) else ():
            helper, target = (str(x) for x in pair)
            missing = [f"no {what} '{key}'" for what, key, known in (("helper", helper, helpers), ("target", target, targets))
                       if key not in known]
            if missing:
                out.append(Problem(SCHEME, None, f"tiers[{i}].forbidden[{j}]",
                                   f"{' and '.join(missing)} in the instance: the pair forbids nothing", "warning"))
    return out


# --------------------------------------------------------------------------- building typed tables


def _parsed_once(cells: list[str], parse: Callable[[str], Any], empty: Any = None) -> list[Any]:
    """Each cell parsed (``empty`` for an empty one), each distinct text once: codes, classes and tag lists repeat."""
    seen: dict[str, Any] = {"": empty}
    out = []
    for c in cells:
        v = seen.get(c, seen)
        if v is seen:
            v = seen[c] = parse(c)
        out.append(v)
    return out


def _typed_frame(table: RawTable, key: str | None) -> pd.DataFrame:
    """A table's cells converted per :data:`TABLES`; unknown columns kept as text."""
    specs = {c.name: c for c in TABLES[table.name]}
    data: dict[str, Any] = {}
    n = len(table.rows)
    names = [c.name for c in TABLES[table.name]] + [h for h in table.header if h and h not in specs]
    for name in names:
        cells = table.col(name)
        spec = specs.get(name)
        kind = spec.type if spec else "text"
        if kind == "int":
            data[name] = pd.array(_parsed_once(cells, parse_int), dtype="Int64")
        elif kind == "float":
            data[name] = pd.array([parse_float(c) if c else None for c in cells], dtype="Float64").astype(float)
        elif kind == "list":
            data[name] = pd.Series(_parsed_once(cells, parse_list, ()), dtype=object)
        else:
            data[name] = pd.Series([c if c else None for c in cells], dtype="str")
    frame = pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in data.items()},
                         index=pd.RangeIndex(n))
    for name in names:  # keep list columns as object tuples (pandas would otherwise infer)
        spec = specs.get(name)
        if spec is not None and spec.type == "list":
            frame[name] = pd.Series(list(data[name]), dtype=object)
    if key is not None:
        frame = frame.set_index(key, drop=True)
        frame.index = pd.Index([str(i) for i in frame.index], dtype="str", name=key)
    return frame


def _ancestors(loc: pd.DataFrame) -> pd.DataFrame:
    """The derived columns province/prefecture/county/township: each locality's ancestor codes."""
    codes = loc.index.tolist()
    parent_of = {c: (p if isinstance(p, str) else None) for c, p in zip(codes, loc["parent"].tolist(), strict=True)}
    level_of = dict(zip(codes, loc["level"].tolist(), strict=True))
    memo: dict[str, dict[str, str]] = {}
    for start in codes:
        path: list[str] = []
        seen: set[str] = set()
        c: str | None = start
        while c is not None and c in level_of and c not in memo and c not in seen:
            seen.add(c)
            path.append(c)
            c = parent_of.get(c)
        base = dict(memo.get(c, {})) if c is not None else {}
        for code in reversed(path):  # from the topmost down
            base = dict(base)
            if level_of[code] in ANCESTOR_LEVELS:
                base[level_of[code]] = code
            memo[code] = base
    data = {lvl: pd.array([memo[c].get(lvl) for c in codes], dtype="str") for lvl in ANCESTOR_LEVELS}
    return pd.DataFrame(data, index=loc.index)


def derive_positions(loc: pd.DataFrame, geometry: dict[str, Any]) -> pd.DataFrame:
    """A position for every locality: its own lon/lat, else its polygon's centroid, else its children's mean.

    Localities still without a position take their parent's. Every derived position is
    schematic (a stand-in, not a surveyed point), as is a locality's own position marked
    ``schematic``. ``geometry`` maps a level to a GeoDataFrame with a ``code`` column.
    """
    codes = loc.index.tolist()
    level_of = dict(zip(codes, loc["level"].tolist(), strict=True))
    parent_of = {c: (p if isinstance(p, str) else None) for c, p in zip(codes, loc["parent"].tolist(), strict=True)}
    pos: dict[str, tuple[float, float]] = {}
    schematic: dict[str, bool] = {}
    for c, x, y, kind in zip(codes, loc["lon"].astype(float).tolist(), loc["lat"].astype(float).tolist(),
                             loc["position"].tolist(), strict=True):
        if not (math.isnan(x) or math.isnan(y)):
            pos[c] = (float(x), float(y))
            schematic[c] = kind == "schematic"
    children: dict[str, list[str]] = {}
    for c in codes:
        p = parent_of[c]
        if p is not None:
            children.setdefault(p, []).append(c)
    for level in reversed(LEVELS):
        todo = [c for c in codes if level_of[c] == level and c not in pos]
        if not todo:
            continue
        gdf = geometry.get(level)
        if gdf is not None and len(gdf) and "code" in gdf.columns:
            want = set(todo)
            g = gdf[[c in want for c in gdf["code"]]].drop_duplicates("code")
            if len(g):
                geoms = g.geometry.to_numpy()
                cent = shapely.centroid(geoms)
                inside = shapely.covers(geoms, cent)
                use = np.where(inside, cent, shapely.point_on_surface(geoms))
                for c, x, y in zip(g["code"], shapely.get_x(use), shapely.get_y(use), strict=True):
                    if not (math.isnan(x) or math.isnan(y)):
                        pos[c] = (float(x), float(y))
                        schematic[c] = True  # a centroid stands in for the seat: not a surveyed point
        for c in todo:
            if c in pos:
                continue
            pts = [pos[k] for k in children.get(c, ()) if k in pos]
            if pts:
                pos[c] = (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
                schematic[c] = True
    for level in LEVELS[1:]:
        for c in codes:
            p = parent_of[c]
            if level_of[c] == level and c not in pos and p in pos:
                pos[c] = pos[p]
                schematic[c] = True
    nan = (float("nan"), float("nan"))
    return pd.DataFrame({"lon": [pos.get(c, nan)[0] for c in codes], "lat": [pos.get(c, nan)[1] for c in codes],
                         "schematic": [schematic.get(c, True) for c in codes]}, index=loc.index)


def build_instance(folder: Path, tables: dict[str, RawTable], scheme: dict[str, Any],
                   geometry_files: dict[str, tuple[Path, str | None]],
                   geometry_cache: dict[str, Any] | None = None) -> Instance:
    """Build the typed tables of a checked instance (derived columns, tree, positions)."""
    loc = _typed_frame(tables["localities"], "code")
    loc["poverty_class"] = loc["poverty_class"].fillna(0).astype("Int64")
    anc = _ancestors(loc)
    for col in ANCESTOR_LEVELS:
        loc[col] = anc[col]

    anc_of = {lvl: dict(zip(anc.index.tolist(), anc[lvl].tolist(), strict=True)) for lvl in ANCESTOR_LEVELS}

    def _na(v: Any) -> Any:
        return v if isinstance(v, str) else None

    targets = _typed_frame(tables["targets"], "id")
    targets["poverty_class"] = targets["poverty_class"].fillna(0).astype("Int64")
    for col in ANCESTOR_LEVELS:
        targets[col] = pd.array([_na(anc_of[col].get(c)) for c in targets["locality"].tolist()], dtype="str")

    units = _typed_frame(tables["units"], "id")
    head = units["headcount"].astype(float)
    units["strength"] = units["strength"].fillna(head).astype(float)
    units["area"] = pd.array(
        [_na(anc_of[lvl].get(seat)) if lvl in ANCESTOR_LEVELS else None
         for seat, lvl in zip(units["locality"].tolist(), units["level"].tolist(), strict=True)], dtype="str")

    people = _typed_frame(tables["people"], "id")
    inc = _typed_frame(tables["incumbents"], None)

    tree = nx.DiGraph()
    codes = loc.index.tolist()
    known = set(codes)
    tree.add_nodes_from((c, {"name": n, "level": lv})
                        for c, n, lv in zip(codes, loc["name"].tolist(), loc["level"].tolist(), strict=True))
    tree.add_edges_from((p, c) for c, p in zip(codes, loc["parent"].tolist(), strict=True)
                        if isinstance(p, str) and p in known)

    inst = Instance(folder, scheme, loc, targets, units, people, inc, tree, pd.DataFrame(),
                    geometry_files=geometry_files, _geometry_cache=dict(geometry_cache or {}))
    geoms: dict[str, Any] = {}
    for level, layer in GEOMETRY_LAYERS.items():
        if layer in geometry_files and ((loc["level"] == level) & (loc["lon"].isna() | loc["lat"].isna())).any():
            geoms[level] = inst.geometry(layer)
    inst.positions = derive_positions(loc, geoms)
    return inst
