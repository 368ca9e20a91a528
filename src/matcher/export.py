"""A plan as tables for people and GIS: who links where, each place's coverage, and the files they go to.

The tables (:func:`link_table`, :func:`target_coverage`, :func:`key_figures`) are shared by the
interactive map (:mod:`matcher.maps`) and the briefing PDF (:mod:`matcher.brief`); the writers
(:func:`export_plan`) put them into an Excel workbook with Chinese headers, a GeoPackage for
QGIS/ArcGIS, a Parquet or a CSV file, chosen by the output's suffix. Every write is atomic.
"""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from matcher.errors import MatcherError, PlanError
from matcher.fileio import atomic_path, normalised_xlsx
from matcher.labels import check_lang, label, poverty_label, program_name, rank_label, tier_name
from matcher.membership import isin

LEVELS = ("province", "prefecture", "county", "township", "village")
STATUSES = ("covered", "poor_team", "short", "uncovered", "not_required")
EXPORT_SUFFIXES = (".xlsx", ".gpkg", ".parquet", ".csv")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Instance = Any  # matcher.instance.Instance (duck-typed: .scheme, .localities, .units, .people, .targets, .positions)
PlanLike = Any  # matcher.plan.Plan (duck-typed: .assignments, .uncovered, .header)


# ---------------------------------------------------------------------------------------------
# reading the instance and the plan
# ---------------------------------------------------------------------------------------------


def scheme_tiers(instance: Instance) -> list[dict[str, Any]]:
    """The scheme's tiers in scheme order (each a dict with id, name, name_en, helpers, targets ...)."""
    tiers = instance.scheme.get("tiers", [])
    return [dict(t) for t in tiers]


def _text(value: Any) -> str:
    """A cell as text: missing values become the empty string."""
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _int_or_none(value: Any) -> int | None:
    """A cell as int, or None when empty."""
    s = _text(value)
    if s == "":
        return None
    try:
        return int(float(s))
    except ValueError:
        return None


def _cell_values(value: Any) -> set[str]:
    """The values of a cell as a set of text (a list cell gives each item; ints compare as ints)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        s = _text(value)
        items = s.split(";") if ";" in s else [s]
    out: set[str] = set()
    for item in items:
        t = _text(item).strip()
        if t.endswith(".0") and t[:-2].lstrip("-").isdigit():
            t = t[:-2]
        out.add(t)
    return out


def matches_filter(table: pd.DataFrame, flt: Mapping[str, Any]) -> pd.Series:
    """Rows of ``table`` passing a scheme filter ``{column: [allowed values]}`` (columns ANDed).

    Source: docs/scheme-format.md, filters: a list column matches when it shares one value with the list.
    Keys that are not columns of ``table`` (``table``, ``unit_*``) are left to the solver's own rules.
    """
    mask = pd.Series(True, index=table.index)
    for column, allowed in flt.items():
        if column == "table" or column not in table.columns:
            continue
        allowed_set = {_text(a) for a in (allowed if isinstance(allowed, (list, tuple)) else [allowed])}
        col = table[column]
        sample = col.dropna().head(50).tolist()
        if any(isinstance(v, (list, tuple, set, frozenset, float)) or (isinstance(v, str) and ";" in v) for v in sample):
            mask &= col.map(lambda v: bool(_cell_values(v) & allowed_set))
        else:  # plain text or integer column: compare as text
            mask &= col.astype("string").fillna("").isin(allowed_set).to_numpy()
    return mask


def _target_table(instance: Instance, tier: Mapping[str, Any]) -> str:
    """``localities`` or ``targets``: which table a tier's targets come from."""
    return str(tier.get("targets", {}).get("table", "localities"))


def locality_paths(instance: Instance) -> pd.DataFrame:
    """Each locality's administrative path: code -> names and codes at province ... village level.

    Columns ``province`` ... ``village`` hold names, ``<level>_code`` codes; a locality's own level is filled too.
    """
    loc = instance.localities
    name = {str(k): _text(v) for k, v in loc["name"].items()}
    level = {str(k): _text(v) for k, v in loc["level"].items()}
    parent = {str(k): _text(v) for k, v in loc["parent"].items()}
    rows: dict[str, dict[str, str]] = {}
    for code in name:
        row = {lv: "" for lv in LEVELS} | {f"{lv}_code": "" for lv in LEVELS}
        c, steps = code, 0
        while c and c in name and steps < 10:
            lv = level[c]
            if lv in LEVELS:
                row[lv] = name[c]
                row[f"{lv}_code"] = c
            c, steps = parent.get(c, ""), steps + 1
        rows[code] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def tier_targets(instance: Instance, tier: Mapping[str, Any]) -> pd.DataFrame:
    """The targets of a tier (those passing its ``targets`` filter), with name, locality, poverty class.

    Columns: ``name``, ``locality`` (code of the place: the locality itself or the target's locality),
    ``level``, ``kind``, ``poverty_class`` (int or None). Index: target code or id, as text.
    """
    flt = dict(tier.get("targets", {}))
    if _target_table(instance, tier) == "targets":
        table = instance.targets if instance.targets is not None else pd.DataFrame(columns=["name", "kind", "locality"])
        sel = table[matches_filter(table, flt)]
        out = pd.DataFrame(
            {
                "name": sel["name"].map(_text),
                "locality": sel["locality"].map(_text),
                "level": "target",
                "kind": sel["kind"].map(_text) if "kind" in sel else "",
                "poverty_class": sel["poverty_class"].map(_int_or_none) if "poverty_class" in sel else None,
            },
            index=sel.index.map(str),
        )
    else:
        table = instance.localities
        sel = table[matches_filter(table, flt)]
        out = pd.DataFrame(
            {
                "name": sel["name"].map(_text),
                "locality": sel.index.map(str),
                "level": sel["level"].map(_text),
                "kind": sel["kind"].map(_text) if "kind" in sel else "",
                "poverty_class": sel["poverty_class"].map(_int_or_none) if "poverty_class" in sel else None,
            },
            index=sel.index.map(str),
        )
    out.index.name = "target"
    return out


def helper_table(instance: Instance) -> pd.DataFrame:
    """Every helper (units and people) by id: name, unit id, unit name, rank (people only), kind."""
    units = instance.units
    people = instance.people
    unit_name = {str(k): _text(v) for k, v in units["name"].items()}
    u = pd.DataFrame(
        {"name": units["name"].map(_text), "unit": units.index.map(str), "unit_name": units["name"].map(_text),
         "rank": "", "kind": "unit"},
        index=units.index.map(str),
    )
    p = pd.DataFrame(
        {"name": people["name"].map(_text), "unit": people["unit"].map(_text),
         "unit_name": people["unit"].map(lambda x: unit_name.get(_text(x), _text(x))),
         "rank": people["rank"].map(_text), "kind": "person"},
        index=people.index.map(str),
    )
    out = pd.concat([u, p])
    out.index.name = "helper"
    return out


def positions(instance: Instance) -> pd.DataFrame:
    """lon, lat and a schematic flag for every locality code (rows without a position are dropped)."""
    pos = instance.positions
    out = pd.DataFrame(index=pos.index.map(str))
    out["lon"] = pd.to_numeric(pos["lon"], errors="coerce").to_numpy()
    out["lat"] = pd.to_numeric(pos["lat"], errors="coerce").to_numpy()
    sch = pos["schematic"] if "schematic" in pos.columns else pd.Series(False, index=pos.index)
    out["schematic"] = [str(v).lower() in ("true", "1", "schematic", "yes") for v in sch]
    return out.dropna(subset=["lon", "lat"])


def plan_assignments(plan: PlanLike) -> pd.DataFrame:
    """The plan's assignments with text ids, a bool ``pinned`` and an int ``start_year``."""
    a = getattr(plan, "assignments", None)
    if not isinstance(a, pd.DataFrame):
        raise PlanError("the plan has no assignments table (expected plan.assignments, see docs/plan-format.md)")
    missing = [c for c in ("tier", "helper", "target", "start_year", "pinned") if c not in a.columns]
    if missing:
        raise PlanError(f"assignments.csv lacks column(s) {', '.join(missing)} (see docs/plan-format.md)")
    out = a.copy()
    # typed columns (a solved or loaded plan) take the fast path: the same values and dtypes as the cell
    # by cell conversion, which costs 0.14 s on Guizhou's 26,098 links and ran 40 times for one workbook
    for c in ("tier", "helper", "target"):
        out[c] = out[c].fillna("") if isinstance(out[c].dtype, pd.StringDtype) else out[c].map(_text)
    if out["pinned"].dtype != bool:
        out["pinned"] = out["pinned"].map(lambda v: str(v).strip().lower() in ("true", "1", "yes"))
    if out["start_year"].dtype != "int64":
        out["start_year"] = out["start_year"].map(_int_or_none)
    if "distance_km" in out.columns:
        out["distance_km"] = pd.to_numeric(out["distance_km"], errors="coerce")
    return out.reset_index(drop=True)


def as_plan(plan: PlanLike | str | Path) -> tuple[PlanLike, Path | None]:
    """A Plan and its folder: a plan folder path is loaded with ``Plan.load``; a Plan is returned as is."""
    if isinstance(plan, (str, Path)):
        from matcher.plan import Plan

        return Plan.load(plan), Path(plan)
    return plan, None


def check_plan_fits(instance: Instance, plan: PlanLike) -> None:
    """Every link of the plan names a tier, helper and target of the instance, else PlanError.

    Source: docs/plan-format.md: a plan belongs to one instance (its tiers, helpers and targets).
    The message names assignments.csv, the row as a spreadsheet shows it, the column and the unknown value.
    """
    a = plan_assignments(plan)
    tiers = {str(t["id"]) for t in scheme_tiers(instance)}
    helpers = set(instance.units.index.map(str)) | set(instance.people.index.map(str))
    targets = set(instance.localities.index.map(str))
    if getattr(instance, "targets", None) is not None:
        targets |= set(instance.targets.index.map(str))
    problems: list[str] = []
    for i, (tier, helper, target) in enumerate(zip(a["tier"], a["helper"], a["target"])):
        for column, value, known, what in (("tier", tier, tiers, "a tier id of scheme.toml"),
                                           ("helper", helper, helpers, "a unit or person id"),
                                           ("target", target, targets, "a locality code or target id")):
            if value not in known:
                problems.append(f"assignments.csv, row {i + 2}, column '{column}': {value!r} is not {what} of the instance")
    if problems:
        path = getattr(instance, "path", "")
        more = f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise PlanError(f"the plan does not belong to the instance {path}: {len(problems)} unknown id(s)\n  "
                        + "\n  ".join(problems[:5]) + more + "\n(pass the plan's own instance with --instance PATH)")


def plan_uncovered(plan: PlanLike) -> pd.DataFrame:
    """The plan's uncovered targets (tier, target, required, assigned, short, reason), possibly empty."""
    u = getattr(plan, "uncovered", None)
    cols = ["tier", "target", "required", "assigned", "short", "reason"]
    if not isinstance(u, pd.DataFrame) or u.empty:
        return pd.DataFrame(columns=cols)
    out = u.copy()
    for c in ("tier", "target", "reason"):
        if c in out.columns:
            out[c] = out[c].map(_text)
    for c in ("required", "assigned", "short"):
        if c in out.columns:
            out[c] = out[c].map(lambda v: _int_or_none(v) or 0)
    return out


def plan_year(instance: Instance, plan: PlanLike | None = None) -> int:
    """The plan year: the plan header's ``plan_year``, else the scheme's ``[program].plan_year``."""
    header = getattr(plan, "header", None) or {}
    year = header.get("plan_year") if isinstance(header, Mapping) else None
    if year is None:
        year = instance.scheme.get("program", {}).get("plan_year")
    return int(year) if year is not None else 0


def term_years(instance: Instance) -> int:
    """Years a link lasts (``[program].term_years``, default 3: 一驻三年不变)."""
    return int(instance.scheme.get("program", {}).get("term_years", 3))


def target_required(tier: Mapping[str, Any], targets: pd.DataFrame, instance: Instance) -> pd.Series:
    """Helpers each target of a tier needs: ``coverage_min`` raised by matching ``class_min`` (0 for quota tiers).

    Source: docs/scheme-format.md, Coverage: coverage_min (raised by matching class_min) <= helpers.
    """
    if str(tier.get("coverage", "full")) == "quota":
        return pd.Series(0, index=targets.index)
    req = pd.Series(int(tier.get("coverage_min", 1)), index=targets.index)
    source = instance.targets if _target_table(instance, tier) == "targets" else instance.localities
    source = source.copy()
    source.index = source.index.map(str)
    source = source.loc[targets.index.intersection(source.index)]
    for rule in tier.get("class_min", []) or []:
        hit = matches_filter(source, dict(rule.get("where", {})))
        req.loc[hit[hit].index] = req.loc[hit[hit].index].clip(lower=int(rule.get("min", 0)))
    return req


def link_table(instance: Instance, plan: PlanLike, lang: str = "zh", *, paths: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per link with everything a reader needs: tier, place path, helper, unit, rank, term.

    Columns (English ids; :func:`localised` turns them into user headers): tier, tier_name, province,
    prefecture, county, township, village, target, target_name, poverty_class, helper, helper_name,
    unit_name, rank, start_year, end_year, pinned, distance_km. Rows keep the plan's order.
    """
    check_lang(lang)
    a = plan_assignments(plan)
    helpers = helper_table(instance)
    paths = locality_paths(instance) if paths is None else paths
    tiers = {t["id"]: t for t in scheme_tiers(instance)}
    years = term_years(instance)
    rows = []
    target_cache: dict[str, pd.DataFrame] = {}
    for tier_id in a["tier"].unique():
        tier = tiers.get(tier_id, {"id": tier_id})
        target_cache[tier_id] = tier_targets(instance, tier) if tier_id in tiers else pd.DataFrame()
    target_recs = {k: v.to_dict("index") for k, v in target_cache.items()}
    path_recs = paths.to_dict("index")
    helper_recs = helpers.to_dict("index")
    no_path = {lv: "" for lv in LEVELS}
    rec: Any
    for rec in a.itertuples(index=False):
        tier = tiers.get(rec.tier, {"id": rec.tier})
        t = target_recs[rec.tier].get(rec.target)
        if t is not None:
            tname, tloc, tpov = t["name"], t["locality"], t["poverty_class"]
        else:  # a pinned incumbent outside today's filter: look it up directly
            tname, tloc, tpov = _lookup_target(instance, rec.target)
        path = path_recs.get(tloc, no_path)
        h = helper_recs.get(rec.helper)
        rows.append(
            {
                "tier": rec.tier,
                "tier_name": tier_name(tier, lang),
                **{lv: path[lv] for lv in LEVELS},
                "target": rec.target,
                "target_name": tname,
                "poverty_class": poverty_label(_int_or_none(tpov), lang, level=str((tier.get("targets", {}).get("level") or [""])[0])),
                "helper": rec.helper,
                "helper_name": h["name"] if h is not None else rec.helper,
                "unit_name": h["unit_name"] if h is not None else "",
                "rank": rank_label(h["rank"], lang) if h is not None and h["rank"] else "",
                "start_year": rec.start_year,
                "end_year": (rec.start_year + years - 1) if rec.start_year is not None else None,
                "pinned": label("yes" if rec.pinned else "no", lang),
                "distance_km": float(getattr(rec, "distance_km", float("nan"))),
            }
        )
    cols = ["tier", "tier_name", *LEVELS, "target", "target_name", "poverty_class", "helper", "helper_name",
            "unit_name", "rank", "start_year", "end_year", "pinned", "distance_km"]
    out = pd.DataFrame(rows, columns=cols)
    out["start_year"] = out["start_year"].astype("Int64")
    out["end_year"] = out["end_year"].astype("Int64")
    return out


def _lookup_target(instance: Instance, target: str) -> tuple[str, str, int | None]:
    """(name, locality code, poverty class) of any locality or target id."""
    loc = instance.localities
    if target in loc.index:
        r = loc.loc[target]
        return _text(r["name"]), target, _int_or_none(r.get("poverty_class"))
    if instance.targets is not None and target in instance.targets.index:
        r = instance.targets.loc[target]
        return _text(r["name"]), _text(r["locality"]), _int_or_none(r.get("poverty_class"))
    return target, "", None


def target_coverage(instance: Instance, plan: PlanLike, tier: Mapping[str, Any]) -> pd.DataFrame:
    """Each target of a tier with its helpers and coverage status.

    Source: docs/plan-format.md (uncovered.csv) and docs/scheme-format.md (coverage, class_min).
    Columns: name, locality, level, kind, poverty_class, required, n_helpers, short, status
    (covered / poor_team / short / uncovered / not_required), helpers (list of helper ids).
    A target whose minimum was raised by a ``class_min`` rule (class-1 poor villages' teams) and
    that has its full team is ``poor_team``.
    """
    targets = tier_targets(instance, tier).copy()
    a = plan_assignments(plan)
    a = a[a["tier"] == tier["id"]]
    extra = sorted(set(a["target"]) - set(targets.index))
    if extra:  # pinned incumbents outside today's filter still show
        add = pd.DataFrame(
            [dict(zip(("name", "locality", "poverty_class"), _lookup_target(instance, t))) for t in extra],
            index=pd.Index(extra, name="target"),
        )
        add["level"], add["kind"] = "", ""
        targets = pd.concat([targets, add[targets.columns]])
    helpers: dict[str, list[str]] = {}
    for t, h in zip(a["target"], a["helper"]):
        helpers.setdefault(t, []).append(h)
    targets["helpers"] = [helpers.get(t, []) for t in targets.index]
    targets["n_helpers"] = targets["helpers"].map(len)
    targets["required"] = target_required(tier, targets, instance).reindex(targets.index).fillna(0).astype(int)
    unc = plan_uncovered(plan)
    unc = unc[unc["tier"] == tier["id"]].set_index("target")
    if len(unc):
        required = targets["required"].to_dict()
        n_helpers = targets["n_helpers"].to_dict()
        for t, r in zip(unc.index, unc.to_dict("records")):
            if t in required:
                required[t] = max(int(r.get("required", 0)), int(n_helpers[t]) + int(r.get("short", 0)))
        targets["required"] = [required[t] for t in targets.index]
    targets["short"] = (targets["required"] - targets["n_helpers"]).clip(lower=0)

    base_min = int(tier.get("coverage_min", 1))
    req, n, short = targets["required"].to_numpy(), targets["n_helpers"].to_numpy(), targets["short"].to_numpy()
    targets["status"] = [
        "not_required" if (r == 0 and k == 0) else "uncovered" if k == 0 else "short" if sh > 0
        else "poor_team" if r > base_min else "covered"
        for r, k, sh in zip(req, n, short)
    ]
    return targets


def key_figures(instance: Instance, plan: PlanLike, lang: str = "zh") -> list[tuple[str, str]]:
    """The briefing's key figures as (label, value) rows, per tier then overall.

    Per tier: targets covered of targets, links (kept / new), helpers linked; class-1 poor targets
    with full teams; and the number of places below their minimum.
    """
    check_lang(lang)
    rows: list[tuple[str, str]] = []
    a = plan_assignments(plan)
    total_uncovered = 0
    for tier in scheme_tiers(instance):
        cov = target_coverage(instance, plan, tier)
        links = a[a["tier"] == tier["id"]]
        name = tier_name(tier, lang)
        required = cov[cov["required"] > 0]
        covered = int((required["short"] == 0).sum())
        rows.append((f"{name}：{label('kpi.covered', lang)}" if lang == "zh" else f"{name}: {label('kpi.covered', lang)}",
                     f"{covered} / {len(required)}"))
        rows.append((f"{name}：{label('kpi.links', lang)}" if lang == "zh" else f"{name}: {label('kpi.links', lang)}",
                     f"{len(links)}（{label('kpi.pinned', lang)} {int(links['pinned'].sum())}）" if lang == "zh"
                     else f"{len(links)} ({int(links['pinned'].sum())} {label('kpi.pinned', lang)})"))
        poor = cov[cov["poverty_class"] == 1]
        if len(poor) and int(tier.get("coverage_min", 1)) < int(poor["required"].max() or 0):
            full = int((poor["short"] == 0).sum())
            rows.append(((f"{name}：" if lang == "zh" else f"{name}: ") + label("kpi.poor_full_teams", lang), f"{full} / {len(poor)}"))
        total_uncovered += int((required["short"] > 0).sum())
    rows.append((label("kpi.uncovered_places", lang), str(total_uncovered)))
    return rows


def tier_figures(instance: Instance, plan: PlanLike, tier: Mapping[str, Any]) -> dict[str, int]:
    """Counts of one tier: targets, required, covered, short, uncovered, poor (class 1), poor_full, links, pinned, helpers."""
    cov = target_coverage(instance, plan, tier)
    a = plan_assignments(plan)
    links = a[a["tier"] == tier["id"]]
    req = cov[cov["required"] > 0]
    poor = cov[cov["poverty_class"] == 1]
    return {
        "targets": len(cov),
        "required": len(req),
        "covered": int((req["short"] == 0).sum()),
        "short": int(((req["short"] > 0) & (req["n_helpers"] > 0)).sum()),
        "uncovered": int((req["n_helpers"] == 0).sum()),
        "poor": len(poor),
        "poor_full": int((poor["short"] == 0).sum()),
        "links": len(links),
        "pinned": int(links["pinned"].sum()),
        "helpers": int(links["helper"].nunique()),
    }


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------


def localised(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Rename a table's English column ids to the user's headers (省/市/县/乡/村 ... in Chinese)."""
    names = {lv: label(f"level.{lv}", lang) for lv in LEVELS}
    names |= {
        "tier": label("col.tier", lang) + ("代码" if lang == "zh" else " id"), "tier_name": label("col.tier", lang),
        "target": label("col.target_code", lang), "target_name": label("col.target_name", lang),
        "poverty_class": label("col.poverty_class", lang), "helper": label("col.helper_id", lang),
        "helper_name": label("col.helper_name", lang), "unit_name": label("col.unit", lang),
        "rank": label("col.rank", lang), "start_year": label("col.start_year", lang),
        "end_year": label("col.end_year", lang), "pinned": label("col.pinned", lang),
        "distance_km": label("col.distance_km", lang), "required": label("col.required", lang),
        "assigned": label("col.assigned", lang), "short": label("col.short", lang), "reason": label("col.reason", lang),
        "name": label("col.name", lang), "code": label("col.code", lang), "status": label("col.status", lang),
        "n_helpers": label("col.n_helpers", lang), "helpers": label("col.helpers", lang),
        "helper_units": label("col.helper_units", lang), "schematic": label("col.schematic", lang),
        "lon": label("col.lon", lang), "lat": label("col.lat", lang),
    }
    return frame.rename(columns={c: names.get(c, c) for c in frame.columns})


def export_plan(plan: PlanLike | str | Path, instance: Instance, out: str | Path, lang: str = "zh") -> Path:
    """Write a plan (or a plan folder) to ``out``; the suffix picks the format: .xlsx, .gpkg, .parquet or .csv."""
    check_lang(lang)
    plan, _ = as_plan(plan)
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise MatcherError(f"{out}: unknown export format {suffix or '(no suffix)'!r}; expected one of {', '.join(EXPORT_SUFFIXES)}")
    check_plan_fits(instance, plan)
    if suffix == ".xlsx":
        write_workbook(plan, instance, out, lang)
    elif suffix == ".gpkg":
        write_geopackage(plan, instance, out, lang)
    elif suffix == ".parquet":
        with atomic_path(out) as tmp:
            link_table(instance, plan, lang).to_parquet(tmp, index=False)
    elif suffix == ".csv":
        with atomic_path(out) as tmp:
            localised(link_table(instance, plan, lang), lang).to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    else:
        raise MatcherError(f"{out}: unknown export format {suffix or '(no suffix)'!r}; expected one of {', '.join(EXPORT_SUFFIXES)}")
    return out


def _as_text_cell(cell: Any, value: Any) -> None:
    """Put ``value`` in an openpyxl cell; text that Excel would run as a formula is stored as text.

    Source: issue 5, cells that begin with =, +, -, @ are written as text (no formula injection).
    """
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        cell.value = None
        return
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # numpy scalar -> python
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
        if value.startswith(FORMULA_PREFIXES):
            cell.quotePrefix = True


def _display_width(value: Any) -> int:
    """Characters of a value as Excel shows them (CJK characters count double)."""
    s = _text(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)


def _write_sheet(ws: Any, frame: pd.DataFrame) -> None:
    """Fill a sheet: bold frozen header, autofilter, column widths that fit, text-safe cells."""
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for j, col in enumerate(frame.columns, start=1):
        c = ws.cell(row=1, column=j)
        _as_text_cell(c, str(col))
        c.font, c.fill = bold, fill
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        for j, value in enumerate(row, start=1):
            _as_text_cell(ws.cell(row=i, column=j), value)
    for j, col in enumerate(frame.columns, start=1):
        widths = [_display_width(col)] + [_display_width(v) for v in frame.iloc[:, j - 1].head(2000)]
        ws.column_dimensions[get_column_letter(j)].width = min(max(widths) + 2, 60)
    ws.freeze_panes = "A2"
    if len(frame.columns):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{max(len(frame) + 1, 1)}"


def _sheet_title(name: str, used: set[str]) -> str:
    """A valid, unique Excel sheet title (max 31 characters, none of []:*?/\\)."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31] or "sheet"
    title, n = clean, 2
    while title in used:
        title = f"{clean[:28]}_{n}"
        n += 1
    used.add(title)
    return title


def summary_table(instance: Instance, plan: PlanLike, lang: str = "zh") -> pd.DataFrame:
    """The workbook's summary sheet: program, plan year, solver status, then the key figures."""
    header = getattr(plan, "header", None) or {}
    rows = [
        (label("brief.program", lang), program_name(instance.scheme, lang)),
        (label("brief.plan_year", lang), str(plan_year(instance, plan))),
        (label("brief.status", lang), _text(header.get("status", ""))),
        (label("brief.method", lang), _text(header.get("method", ""))),
        (label("brief.source", lang), _text(instance.scheme.get("program", {}).get("source", ""))),
    ]
    rows = [r for r in rows if r[1]]
    rows += key_figures(instance, plan, lang)
    return pd.DataFrame(rows, columns=[label("col.item", lang), label("col.value", lang)])


def write_workbook(plan: PlanLike, instance: Instance, out: str | Path, lang: str = "zh") -> Path:
    """Write the plan as an Excel workbook: summary, one sheet per tier (one row per link), uncovered.

    Headers are Chinese by default, the header row is frozen with filters, widths fit the text,
    formula-shaped text stays text, and the bytes depend only on the plan (fixed zip times).
    """
    from openpyxl import Workbook

    out = Path(out)
    links = link_table(instance, plan, lang)
    wb = Workbook()
    used: set[str] = set()
    ws = wb.active
    ws.title = _sheet_title(label("sheet.summary", lang), used)
    _write_sheet(ws, summary_table(instance, plan, lang))
    for tier in scheme_tiers(instance):
        rows = links[links["tier"] == tier["id"]].drop(columns=["tier"])
        ws = wb.create_sheet(_sheet_title(tier_name(tier, lang), used))
        _write_sheet(ws, localised(rows, lang))
    unc = plan_uncovered(plan)
    if not unc.empty:
        names = {t["id"]: tier_name(t, lang) for t in scheme_tiers(instance)}
        unc = unc.assign(tier=unc["tier"].map(lambda t: names.get(t, t)),
                         target_name=unc["target"].map(lambda t: _lookup_target(instance, t)[0]))
        unc = unc[["tier", "target", "target_name", "required", "assigned", "short", "reason"]]
        unc = unc.rename(columns={"tier": "tier_name"})
    else:
        unc = pd.DataFrame(columns=["tier_name", "target", "target_name", "required", "assigned", "short", "reason"])
    ws = wb.create_sheet(_sheet_title(label("sheet.uncovered", lang), used))
    _write_sheet(ws, localised(unc, lang))
    stamp = dt.datetime(plan_year(instance, plan) or 2000, 1, 1)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "matcher"
    buf = io.BytesIO()
    wb.save(buf)
    data = normalised_xlsx(buf.getvalue(), stamp)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return out


def place_layers(instance: Instance, plan: PlanLike, lang: str = "zh") -> dict[str, Any]:
    """GeoDataFrames of counties (polygons where the instance has them), townships and villages.

    Each row: code, name, the path names, poverty class, and per tier whose targets are at that
    level its status, helpers (names joined by ';'), helper units and number of helpers; plus
    ``n_helpers_all`` (links of every tier to the place or to places inside it) and ``schematic``.
    """
    import geopandas as gpd

    loc = instance.localities.copy()
    loc.index = loc.index.map(str)
    paths = locality_paths(instance)
    pos = positions(instance)
    helpers = helper_table(instance)
    a = plan_assignments(plan)
    # links to places at or below each locality (via the target's locality path)
    target_loc: dict[str, str] = {}
    for tier in scheme_tiers(instance):
        target_loc.update({str(k): str(v) for k, v in tier_targets(instance, tier)["locality"].items()})
    a["locality"] = a["target"].map(lambda t: target_loc.get(t, t))
    coverage = {tier["id"]: target_coverage(instance, plan, tier) for tier in scheme_tiers(instance)}
    layers: dict[str, Any] = {}
    for level in ("county", "township", "village"):
        rows = loc[loc["level"].map(_text) == level]
        frame = pd.DataFrame({"code": rows.index, "name": rows["name"].map(_text).to_numpy()})
        for lv in LEVELS[: LEVELS.index(level)]:
            col = paths[lv].to_dict()
            frame[lv] = [col.get(c, "") for c in rows.index]
        frame["poverty_class"] = [_int_or_none(v) for v in rows.get("poverty_class", pd.Series(None, index=rows.index))]
        frame["poverty_class"] = frame["poverty_class"].astype("Int64")
        for tier in scheme_tiers(instance):
            cov = coverage[tier["id"]]
            cov = cov[isin(cov["locality"], rows.index) & (cov.index == cov["locality"])]
            if cov.empty:
                continue
            tid = tier["id"]
            recs = cov[["status", "helpers", "n_helpers"]].to_dict("index")
            hname, hunit = helpers["name"].to_dict(), helpers["unit_name"].to_dict()
            status_word = {s: label(f"status.{s}", lang) for s in STATUSES}
            frame[f"{tid}_status"] = [status_word[recs[c]["status"]] if c in recs else "" for c in rows.index]
            frame[f"{tid}_helpers"] = [";".join(hname[h] for h in recs[c]["helpers"] if h in hname) if c in recs else ""
                                       for c in rows.index]
            frame[f"{tid}_units"] = [";".join(sorted({hunit[h] for h in recs[c]["helpers"] if h in hunit})) if c in recs else ""
                                     for c in rows.index]
            frame[f"{tid}_n"] = [int(recs[c]["n_helpers"]) if c in recs else 0 for c in rows.index]
        code_col = f"{level}_code"
        code_of = paths[code_col].to_dict()
        inside = a["locality"].map(lambda c: code_of.get(c, ""))
        counts = a.groupby(inside)["helper"].nunique().to_dict()
        frame["n_helpers_all"] = [int(counts.get(c, 0)) for c in rows.index]
        sch = pos["schematic"].to_dict()
        frame["schematic"] = [bool(sch.get(c, True)) for c in rows.index]
        geom = None
        if level == "county" and hasattr(instance, "geometry"):
            g = instance.geometry("counties")
            if g is not None and len(g):
                g = g.set_index(g["code"].map(str))
                if g.crs is not None and g.crs.to_epsg() != 4326:
                    g = g.to_crs(4326)
                geom = [g.geometry.get(c) for c in rows.index]
        if geom is None or all(x is None for x in geom):
            lon, lat = pos["lon"].to_dict(), pos["lat"].to_dict()
            geom = gpd.points_from_xy([lon.get(c) for c in rows.index], [lat.get(c) for c in rows.index])
        layers[level] = gpd.GeoDataFrame(frame, geometry=list(geom), crs="EPSG:4326")
    return layers


def write_geopackage(plan: PlanLike, instance: Instance, out: str | Path, lang: str = "zh") -> Path:
    """Write counties, townships and villages (with coverage attributes and helpers) and the links as a GeoPackage.

    Layer and column names stay ASCII for GIS tools; values (names, status) are in the user's language.
    """
    out = Path(out)
    layers = place_layers(instance, plan, lang)
    links = link_table(instance, plan, lang)
    stamp = f"{plan_year(instance, plan) or 2000}-01-01T00:00:00.000Z"
    with atomic_path(out) as tmp:
        tmp.unlink()
        for name in ("counties", "townships", "villages"):
            gdf = layers[name[:-1] if name != "counties" else "county"] if name == "counties" else layers[name[:-1]]
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
        import pyogrio

        pyogrio.write_dataframe(links.astype({"start_year": "float64", "end_year": "float64"}), tmp, layer="links", driver="GPKG")
        con = sqlite3.connect(tmp)
        try:
            con.execute("UPDATE gpkg_contents SET last_change = ?", (stamp,))
            con.commit()
            con.execute("VACUUM")
        finally:
            con.close()
    return out


def write_links_csv(frame: pd.DataFrame, out: Path) -> None:
    """Write a table as UTF-8 CSV with a BOM (Excel opens Chinese text correctly)."""
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")

