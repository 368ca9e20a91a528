"""Deterministic CSV writing for instance tables (fixed columns, sorted rows, ``\\n`` line ends)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from matcher.fileio import atomic_write_text

LOCALITY_COLUMNS = ["code", "name", "level", "parent", "kind", "poverty_class", "population",
                    "ethnic_groups", "needs", "lon", "lat", "position"]
TARGET_COLUMNS = ["id", "name", "kind", "locality", "category", "poverty_class", "needs", "size"]
UNIT_COLUMNS = ["id", "name", "level", "locality", "function", "headcount", "strength"]
PEOPLE_COLUMNS = ["id", "name", "unit", "rank", "role", "gender", "birth_year", "hometown", "skills", "languages"]
INCUMBENT_COLUMNS = ["tier", "helper", "target", "start_year"]
DEPARTURE_COLUMNS = ["id", "name", "unit", "reason", "tier", "target"]


def cell(value: object) -> str:
    """A value as CSV text: ``None`` empty, floats with 6 decimals, lists joined by ``;``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return str(value)


def csv_text(columns: Sequence[str], rows: Iterable[dict[str, object]]) -> str:
    """CSV text with the given columns in order (missing keys empty), ``\\n`` line ends."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([cell(r.get(c)) for c in columns])
    return buf.getvalue()


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, object]]) -> None:
    """Write a table atomically (rows in the order given: callers sort them)."""
    atomic_write_text(path, csv_text(columns, rows))
