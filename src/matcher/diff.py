"""The difference between two plans: moved, new and ended links per tier, KPI deltas, who and where.

A planner compares a base plan with a what-if plan (or last term's plan with this term's) and must
answer: which links changed, which people and places are affected, and what the change costs.
``diff_plans(plan_a, plan_b, instance=None) -> PlanDiff`` answers with DataFrames; ``PlanDiff.summary``
prints it, ``PlanDiff.to_excel`` writes a workbook with Chinese headers (atomic write).
"""

from __future__ import annotations

import datetime
import html
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from matcher.errors import PlanError
from matcher.fileio import atomic_path, normalised_xlsx

if TYPE_CHECKING:  # pragma: no cover
    import folium

    from matcher.instance import Instance

PlanLike = Any  # a matcher.plan.Plan, a plan folder path, or an assignments DataFrame

LINK_COLUMNS = ["tier", "helper", "target"]

#: Column headers shown to users, by language. Code keeps the English identifiers.
HEADERS: dict[str, dict[str, str]] = {
    "zh": {
        "tier": "层级", "tier_name": "层级名称", "helper": "帮扶方编号", "helper_name": "帮扶方",
        "unit": "所在单位", "target": "对象编号", "target_name": "帮扶对象", "change": "变化",
        "from_target": "原对象编号", "from_name": "原对象", "to_target": "新对象编号", "to_name": "新对象",
        "kpi": "指标", "a": "方案A", "b": "方案B", "delta": "变化量",
        "before": "调整前帮扶方", "after": "调整后帮扶方", "n_before": "调整前人数", "n_after": "调整后人数",
        "kept": "保留", "moved": "调动", "new": "新增", "ended": "结束", "item": "项目", "value": "数值",
        "county": "所在县", "changes": "变化内容",
    },
    "en": {
        "tier": "tier", "tier_name": "tier name", "helper": "helper id", "helper_name": "helper",
        "unit": "unit", "target": "target id", "target_name": "target", "change": "change",
        "from_target": "from (id)", "from_name": "from", "to_target": "to (id)", "to_name": "to",
        "kpi": "KPI", "a": "plan A", "b": "plan B", "delta": "delta",
        "before": "helpers before", "after": "helpers after", "n_before": "count before", "n_after": "count after",
        "kept": "kept", "moved": "moved", "new": "new", "ended": "ended", "item": "item", "value": "value",
        "county": "county", "changes": "changes",
    },
}

SHEETS: dict[str, dict[str, str]] = {
    "zh": {"summary": "概况", "moved": "调动", "new": "新增", "ended": "结束", "kpis": "指标变化",
           "people": "涉及人员", "places": "涉及地点"},
    "en": {"summary": "summary", "moved": "moved", "new": "new", "ended": "ended", "kpis": "KPI deltas",
           "people": "people", "places": "places"},
}

CHANGE_WORDS: dict[str, dict[str, str]] = {
    "zh": {"moved": "调动", "new": "新增", "ended": "结束", "kept": "保留"},
    "en": {"moved": "moved", "new": "new", "ended": "ended", "kept": "kept"},
}


def _as_assignments(plan: PlanLike, label: str) -> pd.DataFrame:
    """Return the assignments table of a Plan, a plan folder or a DataFrame, as text columns."""
    if isinstance(plan, pd.DataFrame):
        table = plan
    elif isinstance(plan, (str, Path)):
        from matcher.plan import Plan

        table = Plan.load(plan).assignments
    elif hasattr(plan, "assignments"):
        table = plan.assignments
    else:
        raise PlanError(f"{label}: expected a Plan, a plan folder or an assignments table, got {type(plan).__name__}")
    missing = [c for c in LINK_COLUMNS if c not in table.columns]
    if missing:
        raise PlanError(f"{label}: assignments lack column(s) {', '.join(missing)} (see docs/plan-format.md)")
    out = table.reset_index(drop=True).copy()
    for c in LINK_COLUMNS:
        out[c] = out[c].astype(str)
    return out


def _load(plan: PlanLike) -> Any:
    """Turn a plan folder path into a Plan; leave Plans and DataFrames as they are."""
    if isinstance(plan, (str, Path)):
        from matcher.plan import Plan

        return Plan.load(plan)
    return plan


def _flatten(prefix: str, value: Any, out: dict[str, float]) -> None:
    """Flatten nested KPI dicts to dotted keys, keeping numbers only."""
    if isinstance(value, Mapping):
        for k in sorted(value, key=str):
            _flatten(f"{prefix}.{k}" if prefix else str(k), value[k], out)
    elif isinstance(value, bool):
        out[prefix] = float(value)
    elif isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        out[prefix] = float(value)
    elif hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            v = value.item()
        except (ValueError, AttributeError):
            return
        if isinstance(v, (int, float)):
            out[prefix] = float(v)


def basic_kpis(assignments: pd.DataFrame, tiers: list[str]) -> dict[str, float]:
    """KPIs computed from the assignments table alone: links, pinned links, km and cost parts per tier."""
    out: dict[str, float] = {}
    for tier in tiers:
        rows = assignments[assignments["tier"] == tier]
        out[f"{tier}.links"] = float(len(rows))
        out[f"{tier}.targets"] = float(rows["target"].nunique())
        out[f"{tier}.helpers"] = float(rows["helper"].nunique())
        if "pinned" in rows.columns:
            pinned = rows["pinned"].astype(str).str.lower().isin(["true", "1"])
            out[f"{tier}.pinned"] = float(pinned.sum())
        for col in ("distance_km", "cost_match", "cost_strength", "cost_travel"):
            if col in rows.columns:
                out[f"{tier}.{col}"] = round(float(pd.to_numeric(rows[col], errors="coerce").fillna(0).sum()), 3)
    return out


def _kpis_of(plan: Any, assignments: pd.DataFrame, tiers: list[str], instance: Instance | None) -> dict[str, float]:
    """All numeric KPIs of a plan: the basic ones, the plan's objective, and Plan.kpis(instance) if available."""
    out = basic_kpis(assignments, tiers)
    header = getattr(plan, "header", None)
    if isinstance(header, Mapping):
        _flatten("objective", header.get("objective", {}), out)
    if instance is not None and hasattr(plan, "kpis"):
        try:
            kp = plan.kpis(instance)
        except Exception:  # noqa: BLE001 - KPIs are a bonus in a diff; the link diff stands without them
            kp = None
        if isinstance(kp, Mapping):
            _flatten("kpi", kp, out)
    return out


@dataclass(frozen=True)
class PlanDiff:
    """What changed from plan A to plan B.

    ``links``: every link of either plan with ``change`` in kept / moved / new / ended (moved links appear once,
    with ``from_target`` and ``to_target``). ``moved``, ``new``, ``ended``: the changed links per tier.
    ``kpis``: KPI, value in A, value in B, delta. ``people``: helpers whose links changed.
    ``places``: targets whose team changed, with the helpers before and after.
    """

    links: pd.DataFrame
    moved: pd.DataFrame
    new: pd.DataFrame
    ended: pd.DataFrame
    kpis: pd.DataFrame
    people: pd.DataFrame
    places: pd.DataFrame
    tiers: list[str] = field(default_factory=list)
    tier_names: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the two plans have the same links."""
        return self.moved.empty and self.new.empty and self.ended.empty

    def counts(self) -> pd.DataFrame:
        """Per tier: links kept, moved, new and ended."""
        rows = []
        for tier in self.tiers:
            sub = self.links[self.links["tier"] == tier]
            rows.append({
                "tier": tier,
                "kept": int((sub["change"] == "kept").sum()),
                "moved": int((sub["change"] == "moved").sum()),
                "new": int((sub["change"] == "new").sum()),
                "ended": int((sub["change"] == "ended").sum()),
            })
        return pd.DataFrame(rows, columns=["tier", "kept", "moved", "new", "ended"])

    def summary(self, lang: str = "en", limit: int = 10) -> str:
        """A readable account of the diff: counts per tier, the first changed links, KPI deltas."""
        zh = lang == "zh"
        lines: list[str] = []
        if self.empty:
            lines.append("两个方案的帮扶关系完全相同。" if zh else "The two plans have the same links.")
        counts = self.counts()
        for r in counts.itertuples(index=False):
            name = self.tier_names.get(r.tier, {}).get("zh" if zh else "en", r.tier)
            if zh:
                lines.append(f"{name}（{r.tier}）：保留 {r.kept}，调动 {r.moved}，新增 {r.new}，结束 {r.ended}")
            else:
                lines.append(f"{name} ({r.tier}): {r.kept} kept, {r.moved} moved, {r.new} new, {r.ended} ended")
        for kind, table in (("moved", self.moved), ("new", self.new), ("ended", self.ended)):
            if table.empty:
                continue
            word = CHANGE_WORDS["zh" if zh else "en"][kind]
            lines.append(f"\n{word}（前 {min(limit, len(table))} 条，共 {len(table)} 条）：" if zh
                         else f"\n{word.capitalize()} (first {min(limit, len(table))} of {len(table)}):")
            for r in table.head(limit).to_dict("records"):
                who = r.get("helper_name") or r["helper"]
                if kind == "moved":
                    a = r.get("from_name") or r["from_target"]
                    b = r.get("to_name") or r["to_target"]
                    lines.append(f"  [{r['tier']}] {who} ({r['helper']}): {a} -> {b}")
                else:
                    t = r.get("target_name") or r["target"]
                    lines.append(f"  [{r['tier']}] {who} ({r['helper']}): {t} ({r['target']})")
        changed = self.kpis[self.kpis["delta"].abs() > 1e-9] if not self.kpis.empty else self.kpis
        if not changed.empty:
            lines.append("\n指标变化：" if zh else "\nKPI deltas:")
            for r in changed.head(3 * limit).itertuples(index=False):
                lines.append(f"  {r.kpi}: {_fmt(r.a)} -> {_fmt(r.b)} ({r.delta:+g})")
        lines.append(
            f"\n涉及人员 {len(self.people)} 名，涉及地点 {len(self.places)} 个。" if zh
            else f"\n{len(self.people)} helper(s) and {len(self.places)} place(s) affected."
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary("en")

    def to_excel(self, path: str | Path, lang: str = "zh") -> Path:
        """Write the diff as a workbook (summary, moved, new, ended, KPIs, people, places), atomically.

        Headers are Chinese by default (``lang="en"`` for English); cells starting with = + - @ stay text;
        no timestamps, so the same diff gives the same bytes.
        """
        path = Path(path)
        heads = HEADERS[lang]
        sheets = SHEETS[lang]
        counts = self.counts()
        summary = counts.rename(columns=heads)
        frames = {
            sheets["summary"]: summary,
            sheets["moved"]: _localise(self.moved, lang),
            sheets["new"]: _localise(self.new, lang),
            sheets["ended"]: _localise(self.ended, lang),
            sheets["kpis"]: _localise(self.kpis, lang),
            sheets["people"]: _localise(self.people, lang),
            sheets["places"]: _localise(self.places, lang),
        }
        from openpyxl import Workbook

        wb = Workbook()
        wb.remove(wb.active)
        for name, frame in frames.items():
            ws = wb.create_sheet(name)
            ws.append([str(c) for c in frame.columns])
            for row in frame.itertuples(index=False):
                ws.append([_plain(v) for v in row])
            for cells in ws.iter_rows(min_row=2):
                for cell in cells:
                    if isinstance(cell.value, str):
                        cell.data_type = "s"  # never a formula (=, +, -, @ stay text)
                        if cell.value[:1] in "=+-@":
                            cell.quotePrefix = True
            ws.freeze_panes = "A2"
            if frame.shape[1] and len(frame):
                ws.auto_filter.ref = ws.dimensions
            for i, col in enumerate(frame.columns, start=1):
                width = max([_width(str(col))] + [_width(str(v)) for v in frame.iloc[:200, i - 1]])
                ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(60, width + 2)
        stamp = datetime.datetime(2000, 1, 1)
        wb.properties.created = stamp
        wb.properties.modified = stamp
        wb.properties.creator = "matcher"
        buf = io.BytesIO()
        wb.save(buf)
        with atomic_path(path) as tmp:
            tmp.write_bytes(normalised_xlsx(buf.getvalue(), stamp))
        return path

    def map(self, instance: Instance, lang: str = "zh") -> folium.Map:
        """A folium map of the changed links: moved (orange), new (green), ended (grey), helper seat to place."""
        return diff_map(self, instance, lang=lang)


def _fmt(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _width(s: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)


def _plain(v: Any) -> Any:
    """A cell value openpyxl accepts: numpy scalars as Python numbers, NA as empty."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item") and not isinstance(v, str):
        return v.item()
    return v


def _localise(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    out = frame.copy()
    if "change" in out.columns:
        out["change"] = out["change"].map(lambda c: CHANGE_WORDS[lang].get(c, c))
    return out.rename(columns=HEADERS[lang])


def _names(instance: Instance | None) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Helper names, helper units and target names from an instance (empty without one)."""
    if instance is None:
        return {}, {}, {}
    helper_name: dict[str, str] = {}
    helper_unit: dict[str, str] = {}
    target_name: dict[str, str] = {}
    units = instance.units
    people = instance.people
    helper_name.update({str(k): str(v) for k, v in units["name"].items()})
    helper_name.update({str(k): str(v) for k, v in people["name"].items()})
    unit_names = {str(k): str(v) for k, v in units["name"].items()}
    helper_unit.update({str(k): unit_names.get(str(u), str(u)) for k, u in people["unit"].items()})
    target_name.update({str(k): str(v) for k, v in instance.localities["name"].items()})
    if instance.targets is not None and len(instance.targets):
        target_name.update({str(k): str(v) for k, v in instance.targets["name"].items()})
    return helper_name, helper_unit, target_name


def _tier_order(a: pd.DataFrame, b: pd.DataFrame, instance: Instance | None) -> list[str]:
    order: list[str] = []
    if instance is not None:
        order = [str(t["id"]) for t in instance.scheme.get("tiers", [])]
    for t in list(a["tier"]) + list(b["tier"]):
        if t not in order:
            order.append(t)
    return order


def diff_plans(plan_a: PlanLike, plan_b: PlanLike, instance: Instance | None = None) -> PlanDiff:
    """Compare two plans link by link.

    In each tier, a helper who lost targets and gained targets has *moved* (lost and gained targets paired
    in sorted order); other lost links *ended*, other gained links are *new*. With an ``instance``, names,
    units and the plans' KPIs (``Plan.kpis``) are added.
    """
    pa, pb = _load(plan_a), _load(plan_b)
    a = _as_assignments(pa, "plan A")
    b = _as_assignments(pb, "plan B")
    tiers = _tier_order(a, b, instance)
    rank = {t: i for i, t in enumerate(tiers)}
    helper_name, helper_unit, target_name = _names(instance)

    keys_a = set(map(tuple, a[LINK_COLUMNS].to_numpy().tolist()))
    keys_b = set(map(tuple, b[LINK_COLUMNS].to_numpy().tolist()))
    gone: dict[tuple[str, str], list[str]] = {}
    came: dict[tuple[str, str], list[str]] = {}
    for tier, helper, target in keys_a - keys_b:
        gone.setdefault((tier, helper), []).append(target)
    for tier, helper, target in keys_b - keys_a:
        came.setdefault((tier, helper), []).append(target)

    moved_rows, new_rows, ended_rows = [], [], []
    for key in sorted(set(gone) | set(came), key=lambda k: (rank[k[0]], k[1])):
        g, c = sorted(gone.get(key, [])), sorted(came.get(key, []))
        n = min(len(g), len(c))
        for f, t in zip(g[:n], c[:n]):
            moved_rows.append({"tier": key[0], "helper": key[1], "from_target": f, "to_target": t})
        ended_rows += [{"tier": key[0], "helper": key[1], "target": t} for t in g[n:]]
        new_rows += [{"tier": key[0], "helper": key[1], "target": t} for t in c[n:]]

    def frame(rows: list[dict[str, str]], cols: list[str]) -> pd.DataFrame:
        df = pd.DataFrame(rows, columns=cols)
        if df.empty:
            return df.astype(str)
        df = df.sort_values(cols, key=lambda s: s.map(rank) if s.name == "tier" else s, kind="stable")
        return df.reset_index(drop=True)

    moved = frame(moved_rows, ["tier", "helper", "from_target", "to_target"])
    new = frame(new_rows, ["tier", "helper", "target"])
    ended = frame(ended_rows, ["tier", "helper", "target"])
    kept = frame([dict(zip(LINK_COLUMNS, k)) for k in keys_a & keys_b], LINK_COLUMNS)

    links = pd.concat(
        [
            kept.assign(change="kept", from_target=kept["target"], to_target=kept["target"]),
            moved.assign(change="moved", target=moved["to_target"]),
            new.assign(change="new", from_target="", to_target=new["target"]),
            ended.assign(change="ended", from_target=ended["target"], to_target=""),
        ],
        ignore_index=True,
    )[["tier", "helper", "target", "change", "from_target", "to_target"]]
    links = links.sort_values(["tier", "helper", "target"], key=lambda s: s.map(rank) if s.name == "tier" else s,
                              kind="stable").reset_index(drop=True)

    if helper_name:
        for df in (moved, new, ended):
            df.insert(2, "helper_name", df["helper"].map(lambda h: helper_name.get(h, "")))
            df.insert(3, "unit", df["helper"].map(lambda h: helper_unit.get(h, "")))
        moved.insert(moved.columns.get_loc("from_target") + 1, "from_name",
                     moved["from_target"].map(lambda t: target_name.get(t, "")))
        moved["to_name"] = moved["to_target"].map(lambda t: target_name.get(t, ""))
        new["target_name"] = new["target"].map(lambda t: target_name.get(t, ""))
        ended["target_name"] = ended["target"].map(lambda t: target_name.get(t, ""))

    # people affected
    changed = links[links["change"] != "kept"]
    people_rows = []
    for (tier, helper), sub in changed.groupby(["tier", "helper"], sort=False):
        parts = []
        for r in sub.itertuples(index=False):
            if r.change == "moved":
                parts.append(f"{r.from_target}->{r.to_target}")
            elif r.change == "new":
                parts.append(f"+{r.to_target}")
            else:
                parts.append(f"-{r.from_target}")
        people_rows.append({"tier": tier, "helper": helper, "helper_name": helper_name.get(helper, ""),
                            "unit": helper_unit.get(helper, ""), "changes": "; ".join(parts)})
    people = frame(people_rows, ["tier", "helper", "helper_name", "unit", "changes"])
    if not helper_name and not people.empty:
        people = people.drop(columns=["helper_name", "unit"])

    # places affected
    team_a = a.groupby(["tier", "target"])["helper"].apply(lambda s: sorted(s)).to_dict()
    team_b = b.groupby(["tier", "target"])["helper"].apply(lambda s: sorted(s)).to_dict()
    place_rows = []
    for key in set(team_a) | set(team_b):
        before, after = team_a.get(key, []), team_b.get(key, [])
        if before != after:
            place_rows.append({"tier": key[0], "target": key[1], "target_name": target_name.get(key[1], ""),
                               "n_before": len(before), "n_after": len(after),
                               "before": ";".join(before), "after": ";".join(after)})
    places = frame(place_rows, ["tier", "target", "target_name", "n_before", "n_after", "before", "after"])
    if not target_name and not places.empty:
        places = places.drop(columns=["target_name"])

    ka = _kpis_of(pa, a, tiers, instance)
    kb = _kpis_of(pb, b, tiers, instance)
    kpi_rows = []
    for k in sorted(set(ka) | set(kb)):
        va, vb = ka.get(k, 0.0), kb.get(k, 0.0)
        kpi_rows.append({"kpi": k, "a": va, "b": vb, "delta": round(vb - va, 6)})
    kpis = pd.DataFrame(kpi_rows, columns=["kpi", "a", "b", "delta"])

    tier_names: dict[str, dict[str, str]] = {}
    if instance is not None:
        for t in instance.scheme.get("tiers", []):
            tier_names[str(t["id"])] = {"zh": str(t.get("name", t["id"])), "en": str(t.get("name_en", t["id"]))}
    return PlanDiff(links=links, moved=moved, new=new, ended=ended, kpis=kpis, people=people, places=places,
                    tiers=tiers, tier_names=tier_names)


def diff_map(diff: PlanDiff, instance: Instance, lang: str = "zh") -> folium.Map:
    """Draw the changed links on a folium map: a line from the helper's seat to the place, coloured by change.

    Offline-friendly: no tile layer is added (the maps module owns the full coverage map; this is the diff layer).
    """
    import folium

    positions = instance.positions
    seat: dict[str, str] = {str(k): str(v) for k, v in instance.units["locality"].items()}
    unit_of = {str(k): str(v) for k, v in instance.people["unit"].items()}
    target_loc: dict[str, str] = {}
    if instance.targets is not None and len(instance.targets):
        target_loc = {str(k): str(v) for k, v in instance.targets["locality"].items()}

    def where_helper(h: str) -> tuple[float, float] | None:
        code = seat.get(unit_of.get(h, h))
        return _pos(positions, code)

    def where_target(t: str) -> tuple[float, float] | None:
        return _pos(positions, target_loc.get(t, t))

    pts = [p for p in (where_target(t) for t in diff.links["target"]) if p is not None]
    centre = (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)) if pts else (26.6, 106.7)
    fmap = folium.Map(location=list(centre), zoom_start=8, tiles=None, prefer_canvas=True)
    colours = {"moved": "#e67e22", "new": "#27ae60", "ended": "#7f8c8d"}
    words = CHANGE_WORDS[lang]
    for kind in ("ended", "moved", "new"):
        group = folium.FeatureGroup(name=f"{words[kind]}", show=True)
        table = {"moved": diff.moved, "new": diff.new, "ended": diff.ended}[kind]
        for r in table.to_dict("records"):
            target = r["to_target"] if kind == "moved" else r["target"]
            h, t = where_helper(r["helper"]), where_target(target)
            if t is None:
                continue
            label = html.escape(f"{words[kind]}: {r.get('helper_name') or r['helper']} -> " + (
                (r.get("to_name") or r["to_target"]) if kind == "moved" else (r.get("target_name") or r["target"])))
            if kind == "moved":
                f = where_target(r["from_target"])
                if f is not None:
                    folium.PolyLine([f, t], color=colours[kind], weight=2, dash_array="4", tooltip=label).add_to(group)
            elif h is not None:
                folium.PolyLine([h, t], color=colours[kind], weight=1.5, opacity=0.6, tooltip=label).add_to(group)
            folium.CircleMarker(t, radius=4, color=colours[kind], fill=True, tooltip=label).add_to(group)
        group.add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return fmap


def _pos(positions: pd.DataFrame, code: str | None) -> tuple[float, float] | None:
    if code is None or code not in positions.index:
        return None
    row = positions.loc[code]
    lat, lon = float(row["lat"]), float(row["lon"])
    if math.isnan(lat) or math.isnan(lon):
        return None
    return (lat, lon)
