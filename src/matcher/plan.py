"""The Plan: who helps whom (assignments), what is left short (uncovered), and the header (plan.json).

docs/plan-format.md is the contract. ``Plan.from_assignments(instance, assignments, header)`` is
the constructor the solver uses; ``Plan.save(dir)`` writes the folder atomically and
deterministically (``plan.json`` last); ``Plan.load(dir)`` reads it back and raises
``matcher.errors.PlanError`` naming file, row and column for anything damaged.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from matcher.errors import PlanError, Problem
from matcher.fileio import atomic_write_text, folder_sha256

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matcher.check import CheckReport

PLAN_FORMAT = "matcher-plan/1"

ASSIGNMENT_COLUMNS = ["tier", "helper", "target", "start_year", "pinned", "distance_km",
                      "cost_match", "cost_strength", "cost_travel"]
"""The columns of assignments.csv, in file order."""

UNCOVERED_COLUMNS = ["tier", "target", "required", "assigned", "short", "reason"]
"""The columns of uncovered.csv, in file order."""

_TEXT = ("tier", "helper", "target")
_COSTS = ("cost_match", "cost_strength", "cost_travel")
_FILES = ("assignments.csv", "uncovered.csv", "summary.txt", "summary.zh.txt", "check.txt", "plan.json")


def _fmt_float(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    x = round(float(value), digits)
    if x == 0:
        x = 0.0  # no "-0.0"
    return f"{x:.{digits}f}"


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _json_clean(value: Any) -> Any:
    """Plain JSON values: NaN becomes null, numpy scalars become Python numbers, tuples lists."""
    if isinstance(value, dict):
        return {str(k): _json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (AttributeError, ValueError):
            pass
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return value  # repr is exact and deterministic: the writer's own rounding is kept
    if value is pd.NA:
        return None
    return value


@dataclass(repr=False)
class Plan:
    """A plan: assignments (one row per link), uncovered targets, and the plan.json header.

    Build one with ``Plan.from_assignments`` (solver) or ``Plan.load`` (a saved folder).
    """

    assignments: pd.DataFrame
    uncovered: pd.DataFrame
    header: dict[str, Any]
    instance_path: str | None = None
    tier_order: list[str] = field(default_factory=list)
    check_text: str | None = None
    _instance: Any = field(default=None, repr=False, compare=False)

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def from_assignments(
        cls,
        instance: Any,
        assignments: pd.DataFrame,
        header: dict[str, Any] | None = None,
        uncovered: pd.DataFrame | None = None,
    ) -> Plan:
        """Make a Plan from the solver's links: fill defaults and distance_km, validate columns, sort.

        ``assignments`` needs ``tier``, ``helper`` and ``target``; ``start_year`` defaults to the
        plan year, ``pinned`` to false, costs to 0, a missing ``distance_km`` is measured from the
        helper's unit seat. ``header`` is plan.json's content; format, version, instance path and
        hash, plan year and program names are filled in when absent.
        """
        from matcher import __version__
        from matcher.check import InstanceView, read_tiers

        missing = [c for c in _TEXT if c not in assignments.columns]
        if missing:
            raise PlanError(f"assignments lack column(s) {', '.join(missing)}; expected {', '.join(ASSIGNMENT_COLUMNS)}")
        scheme = dict(getattr(instance, "scheme", None) or {})
        program = scheme.get("program") or {}
        head = dict(header or {})
        head.setdefault("format", PLAN_FORMAT)
        head.setdefault("matcher_version", __version__)
        path = getattr(instance, "path", None)
        if path is not None and "instance" not in head:
            head["instance"] = {"path": str(path), "sha256": folder_sha256(path)}
        if "plan_year" not in head and program.get("plan_year") is not None:
            head["plan_year"] = int(program["plan_year"])
        if "program" not in head and program:
            head["program"] = {"name": str(program.get("name", "")), "name_en": str(program.get("name_en", ""))}
        a = assignments.copy().reset_index(drop=True)
        for col in _TEXT:
            a[col] = a[col].astype(str)
        if "start_year" not in a:
            a["start_year"] = head.get("plan_year")
        if "pinned" not in a:
            a["pinned"] = False
        for col in _COSTS:
            if col not in a:
                a[col] = 0.0
        view = InstanceView(instance)
        if "distance_km" not in a:
            a["distance_km"] = float("nan")
        dist = pd.to_numeric(a["distance_km"], errors="coerce").astype(float)
        todo = dist.isna()
        if todo.any():
            dist[todo] = pd.Series([view.distance_km(h, t) for h, t in zip(a.loc[todo, "helper"], a.loc[todo, "target"])],
                                   index=dist.index[todo], dtype=float)
        a["distance_km"] = dist
        problems = _typed_columns(a, "assignments")
        if problems:
            raise PlanError(_problem_text("assignments are not in the plan format", problems))
        a["distance_km"] = a["distance_km"].round(1)  # as saved: the plan in memory is the plan on disk
        for col in _COSTS:
            a[col] = a[col].round(4)
        order = list(read_tiers(scheme))
        unc = _empty_uncovered() if uncovered is None else uncovered.copy()
        for col in UNCOVERED_COLUMNS:
            if col not in unc:
                unc[col] = "" if col == "reason" else 0
        plan = cls(assignments=a, uncovered=unc, header=head,
                   instance_path=str(path) if path is not None else None, tier_order=order, _instance=instance)
        plan._sort()
        return plan

    def _sort(self) -> None:
        known = list(self.tier_order)
        for t in sorted(set(self.assignments["tier"].tolist()) | set(self.uncovered["tier"].astype(str).tolist())):
            if t not in known:
                known.append(t)
        self.tier_order = known
        rank = {t: i for i, t in enumerate(known)}
        a = self.assignments
        a = a.assign(_r=a["tier"].map(rank)).sort_values(["_r", "target", "helper"], kind="stable")
        self.assignments = a.drop(columns="_r").reset_index(drop=True)[
            ASSIGNMENT_COLUMNS + sorted(c for c in a.columns if c not in ASSIGNMENT_COLUMNS and c != "_r")]
        u = self.uncovered
        u = u.assign(_r=u["tier"].astype(str).map(rank)).sort_values(["_r", "target"], kind="stable")
        self.uncovered = u.drop(columns="_r").reset_index(drop=True)

    # --- header fields --------------------------------------------------------------------
    @property
    def status(self) -> str:
        """OPTIMAL, FEASIBLE (time limit; see gap) or INFEASIBLE, as plan.json says."""
        return str(self.header.get("status", "UNKNOWN"))

    @property
    def gap(self) -> float | None:
        """The proven optimality gap on the combined weighted objective (None if unknown)."""
        g = self.header.get("gap")
        return None if g is None else float(g)

    @property
    def bound(self) -> dict[str, Any]:
        """The proven bound per objective term."""
        return dict(self.header.get("bound") or {})

    @property
    def objective(self) -> dict[str, Any]:
        """The objective value per term."""
        return dict(self.header.get("objective") or {})

    @property
    def plan_year(self) -> int | None:
        """The year the plan starts."""
        y = self.header.get("plan_year")
        return None if y is None else int(y)

    @property
    def tiers(self) -> list[str]:
        """The tier ids, in scheme order."""
        return list(self.tier_order)

    def tier(self, tier_id: str) -> pd.DataFrame:
        """The links of one tier (a copy); PlanError naming the known tiers for an unknown id."""
        if tier_id not in self.tier_order and tier_id not in (self.header.get("tiers") or {}):
            raise PlanError(f"no tier '{tier_id}' in this plan; tiers: {', '.join(self.tier_order) or '(none)'}")
        return self.assignments[self.assignments["tier"] == tier_id].reset_index(drop=True)

    # --- figures --------------------------------------------------------------------------
    def kpis(self, instance: Any) -> dict[str, Any]:
        """Key figures of the plan on its instance (coverage, loads, time budgets, travel, match)."""
        from matcher.kpi import plan_kpis

        return plan_kpis(instance, self)

    def diff(self, base: Any, instance: Any | None = None) -> Any:
        """What changed from ``base`` (the earlier plan) to this plan: moved, new and ended links per tier.

        ``plan_b.diff(plan_a)`` is ``matcher.diff.diff_plans(plan_a, plan_b, instance)``; the instance
        (default: the one this plan is attached to) adds names and KPI deltas.
        """
        from matcher.diff import diff_plans

        return diff_plans(base, self, instance if instance is not None else self._instance)

    def summary(self, lang: str = "en") -> str:
        """One screen about the plan: program, year, status, gap, per-tier links and coverage, KPIs."""
        from matcher.kpi import summary_text

        kpis = self.header.get("kpis")
        if kpis is None and self._instance is not None:
            kpis = self.kpis(self._instance)
        return summary_text(self, kpis, lang=lang)

    def __str__(self) -> str:
        return self.summary("en")

    def _repr_html_(self) -> str:
        """Jupyter: the summary as preformatted text (escaped)."""
        import html

        return f"<pre>{html.escape(self.summary('en'))}</pre>"

    def __repr__(self) -> str:
        per_tier = ", ".join(f"{t}={int((self.assignments['tier'] == t).sum())}" for t in self.tier_order)
        return (f"Plan(status={self.status!r}, gap={self.gap!r}, links: {per_tier or 'none'}, "
                f"uncovered={len(self.uncovered)}, instance={self.instance_path!r})")

    @property
    def instance(self) -> Any:
        """The instance the plan was made from or attached to (None after ``load`` until ``attach``)."""
        return self._instance

    # --- files ----------------------------------------------------------------------------
    def attach(self, instance: Any) -> Plan:
        """Remember the instance (for KPIs in the summary and in plan.json); returns self."""
        self._instance = instance
        return self

    def save(self, folder: str | Path, check: CheckReport | None = None) -> Path:
        """Write the plan folder: CSVs, summaries, check.txt, then plan.json last (every file atomic).

        Same plan = same bytes: rows sorted per docs/plan-format.md, floats fixed, ``true``/``false``,
        plan.json with sorted keys and indent 2. With ``check`` (a CheckReport), check.txt is its
        verdict and plan.json's ``check`` its counts. KPIs go into plan.json when the instance is known.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._sort()
        if self._instance is not None:
            self.header["kpis"] = self.kpis(self._instance)
        self.header["tier_order"] = list(self.tier_order)
        if check is not None:
            self.header["check"] = check.counts()
            self.check_text = check.text("en")
        plan_json = folder / "plan.json"
        if plan_json.exists():
            plan_json.unlink()  # the folder is incomplete until plan.json is written again
        atomic_write_text(folder / "assignments.csv", self._assignments_csv())
        atomic_write_text(folder / "uncovered.csv", self._uncovered_csv())
        atomic_write_text(folder / "summary.txt", self.summary("en"))
        atomic_write_text(folder / "summary.zh.txt", self.summary("zh"))
        if self.check_text is not None:
            atomic_write_text(folder / "check.txt", self.check_text)
        elif (folder / "check.txt").exists():
            (folder / "check.txt").unlink()  # a stale verdict of another plan
        atomic_write_text(plan_json, json.dumps(_json_clean(self.header), sort_keys=True, indent=2,
                                                ensure_ascii=False) + "\n")
        return folder

    def _assignments_csv(self) -> str:
        a = self.assignments
        extra = [c for c in a.columns if c not in ASSIGNMENT_COLUMNS]
        rows = []
        for r in zip(*(a[c].tolist() for c in ASSIGNMENT_COLUMNS + extra)):
            tier, helper, target, start, pinned, dist, cm, cs, ct = r[:9]
            rows.append([str(tier), str(helper), str(target), _cell(None if pd.isna(start) else int(start)),
                         "true" if bool(pinned) else "false", _fmt_float(dist, 1),
                         _fmt_float(cm, 4), _fmt_float(cs, 4), _fmt_float(ct, 4)] + [_cell(v) for v in r[9:]])
        return _csv_text(ASSIGNMENT_COLUMNS + extra, rows)

    def _uncovered_csv(self) -> str:
        u = self.uncovered
        extra = [c for c in u.columns if c not in UNCOVERED_COLUMNS]
        rows = []
        for r in u[UNCOVERED_COLUMNS + extra].itertuples(index=False, name=None):
            tier, target, req, ass, short, reason = r[:6]
            rows.append([str(tier), str(target), str(int(req)), str(int(ass)), str(int(short)),
                         _cell(reason)] + [_cell(v) for v in r[6:]])
        return _csv_text(UNCOVERED_COLUMNS + extra, rows)

    @classmethod
    def load(cls, folder: str | Path) -> Plan:
        """Read a plan folder; PlanError (file, row, column, what was expected) if it is missing or damaged."""
        folder = Path(folder)
        if not folder.is_dir():
            raise PlanError(f"{folder}: no such plan folder (expected a folder written by `matcher solve --out`)")
        pj = folder / "plan.json"
        if not pj.is_file():
            raise PlanError(f"{pj}: missing. plan.json is written last, so the folder is incomplete "
                            "(an interrupted write) or not a plan folder")
        try:
            header = json.loads(pj.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise PlanError(f"{pj}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise PlanError(f"{pj}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
        if not isinstance(header, dict):
            raise PlanError(f"{pj}: expected a JSON object, found {type(header).__name__}")
        fmt = header.get("format")
        if fmt != PLAN_FORMAT:
            raise PlanError(f"{pj}: format {fmt!r}, expected {PLAN_FORMAT!r} (a plan of another format or version)")
        head_problems = _check_header(header)
        if head_problems:
            raise PlanError(_problem_text(f"{pj}: unexpected content", head_problems))
        assignments = _read_csv(folder / "assignments.csv", ASSIGNMENT_COLUMNS)
        problems = _typed_columns(assignments, "assignments.csv", from_text=True)
        uncovered = _read_csv(folder / "uncovered.csv", UNCOVERED_COLUMNS)
        problems += _typed_uncovered(uncovered)
        if problems:
            raise PlanError(_problem_text(f"{folder}: damaged plan", problems))
        order: list[str] = []
        saved_order = header.get("tier_order")
        saved_order = [str(t) for t in saved_order] if isinstance(saved_order, list) else []
        for t in saved_order + list(assignments["tier"]) + list(header.get("tiers") or {}) + list(uncovered["tier"]):
            if t not in order:
                order.append(t)
        check = folder / "check.txt"
        inst = header.get("instance") or {}
        return cls(assignments=assignments, uncovered=uncovered, header=header,
                   instance_path=inst.get("path"), tier_order=order,
                   check_text=check.read_text(encoding="utf-8") if check.is_file() else None)


_HEADER_TYPES: dict[str, tuple[type, ...]] = {
    "instance": (dict,), "program": (dict,), "plan_year": (int,), "status": (str,), "gap": (int, float),
    "objective": (dict,), "bound": (dict,), "tiers": (dict,), "check": (dict,), "kpis": (dict,), "method": (str,),
}


def _check_header(header: dict[str, Any]) -> list[Problem]:
    """plan.json fields of the wrong JSON type (null is allowed)."""
    problems = []
    for key, types in _HEADER_TYPES.items():
        value = header.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            want = " or ".join({"dict": "an object", "int": "an integer", "float": "a number", "str": "text"}[t.__name__]
                               for t in types)
            problems.append(Problem("plan.json", None, key, f"expected {want}, found {json.dumps(value)[:40]}"))
    return problems


def _empty_uncovered() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=(str if c in ("tier", "target", "reason") else "int64"))
                         for c in UNCOVERED_COLUMNS})


def _problem_text(head: str, problems: list[Problem]) -> str:
    lines = [f"{head}: {len(problems)} problem(s)"] + [f"  - {p}" for p in problems[:30]]
    if len(problems) > 30:
        lines.append(f"  ... and {len(problems) - 30} more")
    return "\n".join(lines)


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise PlanError(f"{path}: missing (a plan folder has {', '.join(_FILES)})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise PlanError(f"{path.name}: empty file; expected a header row with {', '.join(required)}")
    head = [h.strip() for h in rows[0]]
    missing = [c for c in required if c not in head]
    if missing:
        raise PlanError(f"{path.name}, row 1: missing column(s) {', '.join(missing)}; expected {', '.join(required)}")
    problems = []
    body = []
    for i, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(head):
            problems.append(Problem(path.name, i, None, f"{len(row)} cells, expected {len(head)} (one per column)"))
            continue
        body.append(row)
    if problems:
        raise PlanError(_problem_text(f"{path.name}: damaged", problems))
    frame = pd.DataFrame(body, columns=head, dtype=str) if body else pd.DataFrame({h: pd.Series([], dtype=str) for h in head})
    frame.attrs["file"] = path.name
    return frame


def _typed_columns(a: pd.DataFrame, file: str, from_text: bool = False) -> list[Problem]:
    """Convert assignments columns to their types in place; problems name row and column."""
    problems: list[Problem] = []
    for col in ASSIGNMENT_COLUMNS:
        if col not in a:
            problems.append(Problem(file, None, col, "column missing"))
    if problems:
        return problems
    years: list[int] = []
    pins: list[bool] = []
    floats: dict[str, list[float]] = {c: [] for c in ("distance_km", *_COSTS)}
    for i, (y, p) in enumerate(zip(a["start_year"].tolist(), a["pinned"].tolist()), start=2):
        try:
            if isinstance(y, str):
                years.append(int(y.strip()))
            else:
                years.append(int(y))
                if isinstance(y, float) and not y.is_integer():
                    raise ValueError
        except (TypeError, ValueError):
            problems.append(Problem(file, i, "start_year", f"expected a year (integer), found {y!r}"))
            years.append(0)
        if isinstance(p, str):
            s = p.strip().lower()
            if s in ("true", "false"):
                pins.append(s == "true")
            else:
                problems.append(Problem(file, i, "pinned", f"expected true or false, found {p!r}"))
                pins.append(False)
        else:
            pins.append(bool(p))
    for col, vals in floats.items():
        for i, v in enumerate(a[col].tolist(), start=2):
            try:
                x = float(v) if not (isinstance(v, str) and v.strip() == "") else float("nan")
                if col != "distance_km" and math.isnan(x):
                    raise ValueError
                vals.append(x)
            except (TypeError, ValueError):
                problems.append(Problem(file, i, col, f"expected a number, found {v!r}"))
                vals.append(float("nan"))
    for col in _TEXT:
        for i, v in enumerate(a[col].tolist(), start=2):
            if not isinstance(v, str) or not v.strip():
                problems.append(Problem(file, i, col, "expected an id, found an empty cell"))
    if not problems:
        a["start_year"] = pd.Series(years, index=a.index, dtype="int64")
        a["pinned"] = pd.Series(pins, index=a.index, dtype=bool)
        for col, vals in floats.items():
            a[col] = pd.Series(vals, index=a.index, dtype=float)
    return problems


def _typed_uncovered(u: pd.DataFrame) -> list[Problem]:
    problems: list[Problem] = []
    for col in ("required", "assigned", "short"):
        vals = []
        for i, v in enumerate(u[col], start=2):
            try:
                vals.append(int(str(v).strip()))
            except ValueError:
                problems.append(Problem("uncovered.csv", i, col, f"expected an integer, found {v!r}"))
                vals.append(0)
        u[col] = pd.Series(vals, index=u.index, dtype="int64")
    return problems
