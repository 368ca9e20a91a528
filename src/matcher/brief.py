"""The briefing: static coverage maps with key figures, one page per tier, as PDF, PNG or SVG.

``write_brief(plan, out, instance=None, lang="zh", date=None, compare=None)`` (``matcher brief``)
draws each tier's targets coloured by coverage over the county outlines, with legend, scale bar,
north arrow, title, date and data-source note, beside a key-figures table. Given a second plan
(``compare``) it adds a page with the links that moved, are new or ended. Text is Chinese by default,
drawn with a CJK font (:mod:`matcher.fonts`) that is embedded in the PDF; the date printed is the
plan year or ``date``, never today's clock, so the same plan gives the same file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from matcher.errors import MatcherError
from matcher.export import (
    as_plan,
    check_plan_fits,
    plan_assignments,
    plan_year,
    positions,
    scheme_tiers,
    target_coverage,
    tier_figures,
)
from matcher.fileio import atomic_path
from matcher.fonts import cjk_rc
from matcher.labels import check_lang, has_label, label, program_name, tier_name
from matcher.maps import STATUS_COLORS, STATUS_ORDER, resolve_instance
from matcher.membership import isin

Instance = Any
PlanLike = Any

PAGE_SIZE = (11.69, 8.27)  # A4 landscape, inches
BRIEF_SUFFIXES = (".pdf", ".png", ".svg")
DIFF_COLORS = {"new": "#2e7d32", "ended": "#c62828", "moved": "#ef6c00"}


def _nice_length(km: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above ``km`` (for a scale bar)."""
    if km <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(km))
    for m in (5, 2, 1):
        if m * p <= km:
            return m * p
    return p


def draw_scale_bar(ax: Any, lang: str) -> None:
    """A two-segment scale bar in the lower left of a map in metres (projected CRS)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length_km = _nice_length((x1 - x0) / 1000 / 5)
    length = length_km * 1000
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.05
    h = (y1 - y0) * 0.012
    ax.add_patch(_rect(bx, by, length / 2, h, "black"))
    ax.add_patch(_rect(bx + length / 2, by, length / 2, h, "white"))
    ax.text(bx, by + h * 1.8, "0", ha="center", va="bottom", fontsize=7)
    km = f"{length_km:g} {label('brief.km', lang)}"
    ax.text(bx + length, by + h * 1.8, km, ha="center", va="bottom", fontsize=7)


def _rect(x: float, y: float, w: float, h: float, color: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=color, edgecolor="black", linewidth=0.6, zorder=10)


def draw_north_arrow(ax: Any, lang: str) -> None:
    """A north arrow in the upper right of a map (projected CRS with north up)."""
    ax.annotate(
        label("brief.north", lang), xy=(0.95, 0.95), xytext=(0.95, 0.84), xycoords="axes fraction",
        ha="center", va="center", fontsize=10, fontweight="bold",
        arrowprops={"facecolor": "black", "width": 4, "headwidth": 10, "headlength": 9},
    )


def _layers(instance: Instance) -> tuple[Any, Any]:
    """(county polygons or None, locality points) as GeoDataFrames in a local metric CRS."""
    import geopandas as gpd

    pos = positions(instance)
    points = gpd.GeoDataFrame(pos, geometry=gpd.points_from_xy(pos["lon"], pos["lat"]), crs="EPSG:4326")
    counties = instance.geometry("counties") if hasattr(instance, "geometry") else None
    if counties is not None and len(counties):
        if counties.crs is None:
            counties = counties.set_crs(4326)
        counties = counties.copy()
        counties["code"] = counties["code"].map(str)
    crs = (counties if counties is not None and len(counties) else points).estimate_utm_crs()
    return (counties.to_crs(crs) if counties is not None and len(counties) else None), points.to_crs(crs)


def _shapes_schematic(counties: Any) -> bool:
    """True if any county outline is marked ``schematic`` (drawn for orientation, not surveyed)."""
    if counties is None or "schematic" not in counties.columns:
        return False
    return bool(counties["schematic"].map(lambda v: str(v).lower() in ("true", "1")).any())


def _tier_level(tier: Mapping[str, Any]) -> str:
    return str((tier.get("targets", {}).get("level") or ["target"])[0])


def _legend(ax: Any, handles: list[Any], title: str) -> None:
    leg = ax.legend(handles=handles, title=title, loc="lower right", fontsize=8, title_fontsize=9, frameon=True, framealpha=0.9)
    leg.set_zorder(20)


def _page_frame(fig: Any, title: str, subtitle: str, source: str, schematic: bool, lang: str, shapes_schematic: bool = False,
                cells: bool = False) -> None:
    """Title, subtitle (tier, date), the schematic-position notes and the data source of a page."""
    fig.text(0.03, 0.955, title, fontsize=15, fontweight="bold", ha="left", va="center")
    fig.text(0.03, 0.915, subtitle, fontsize=10, ha="left", va="center", color="#333333")
    notes = []
    if schematic:
        notes.append(label("brief.schematic_note", lang))
    if shapes_schematic:
        notes.append(label("brief.schematic_shapes", lang))
    if cells:
        notes.append(label("map.schematic_cells", lang))
    notes.append(f"{label('brief.source', lang)}{'：' if lang == 'zh' else ': '}{source}")
    fig.text(0.03, 0.03, _wrap("\n".join(notes), 150 if lang == "zh" else 190), fontsize=7.5, ha="left", va="bottom", color="#333333")


def _wrap(text: str, width: int) -> str:
    """Wrap each line at ``width`` display columns (CJK characters count double)."""
    import textwrap

    out = []
    for line in text.split("\n"):
        if all(ord(ch) < 0x2E80 for ch in line):  # no CJK: break at spaces
            out.extend(textwrap.wrap(line, width) or [""])
            continue
        cur, w = "", 0
        for ch in line:
            cw = 2 if ord(ch) > 0x2E80 else 1
            if w + cw > width:
                out.append(cur)
                cur, w = "", 0
            cur += ch
            w += cw
        out.append(cur)
    return "\n".join(out)


def _figures_table(fig: Any, rows: list[tuple[str, str]], highlight: set[int], lang: str) -> None:
    """The key-figures table in the right-hand column of a page."""
    ax = fig.add_axes((0.70, 0.16, 0.27, 0.70))
    ax.axis("off")
    ax.set_title(label("kpi.title", lang), fontsize=12, fontweight="bold", loc="left")
    text = [[_wrap(k, 32), v] for k, v in rows]
    table = ax.table(cellText=text, colWidths=[0.70, 0.30], loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    n_lines = sum(t[0].count("\n") + 1 for t in text)
    table.set_fontsize(8.5 if n_lines <= 20 else 7.5 if n_lines <= 30 else 6.5)
    row_h = min(0.055, 0.98 / max(n_lines, 1))
    for (r, c), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        cell.set_height(row_h * (text[r][0].count("\n") + 1))
        if r in highlight:
            cell.set_facecolor("#eef4ff")
            cell.get_text().set_fontweight("bold")
        if c == 1:
            cell.get_text().set_horizontalalignment("right")


def _overall_rows(instance: Instance, plan: PlanLike, lang: str) -> tuple[list[tuple[str, str]], dict[str, list[int]]]:
    """Key-figure rows for the table (per tier, then uncovered places) and which rows belong to each tier."""
    rows: list[tuple[str, str]] = []
    by_tier: dict[str, list[int]] = {}
    sep = "：" if lang == "zh" else ": "
    total_short = 0
    for tier in scheme_tiers(instance):
        f = tier_figures(instance, plan, tier)
        name = tier_name(tier, lang)
        start = len(rows)
        rows.append((f"{name}{sep}{label('kpi.covered', lang)}", f"{f['covered']} / {f['required']}"))
        rows.append((f"{name}{sep}{label('kpi.links', lang)}", f"{f['links']}"))
        rows.append((f"{name}{sep}{label('kpi.helpers', lang)}", f"{f['helpers']}"))
        rows.append((f"{name}{sep}{label('kpi.pinned', lang)} / {label('kpi.new', lang)}", f"{f['pinned']} / {f['links'] - f['pinned']}"))
        if f["poor"] and any(rule for rule in tier.get("class_min", []) or []):
            rows.append((f"{name}{sep}{label('kpi.poor_full_teams', lang)}", f"{f['poor_full']} / {f['poor']}"))
        by_tier[tier["id"]] = list(range(start, len(rows)))
        total_short += f["short"] + f["uncovered"]
    rows.append((label("kpi.uncovered_places", lang), str(total_short)))
    return rows, by_tier


def _subtitle(instance: Instance, plan: PlanLike, lang: str, date: str | None, extra: str) -> str:
    year = plan_year(instance, plan)
    when = f"{label('brief.date', lang)}{'：' if lang == 'zh' else ': '}{date}" if date else f"{label('brief.plan_year', lang)} {year}"
    header = getattr(plan, "header", None) or {}
    status = str(header.get("status", "")) if isinstance(header, Mapping) else ""
    shown = label(f"solver.{status}", lang) if has_label(f"solver.{status}") else status
    bits = [extra, when] + ([f"{label('brief.status', lang)} {shown}"] if status else [])
    return "  ·  ".join(b for b in bits if b)


def _source(instance: Instance, plan: PlanLike) -> str:
    header = getattr(plan, "header", None) or {}
    inst = (header.get("instance") or {}) if isinstance(header, Mapping) else {}
    src = str(instance.scheme.get("program", {}).get("source", ""))
    path = str(inst.get("path", "") or getattr(instance, "path", ""))
    return "; ".join(x for x in [src, f"matcher {path}" if path else ""] if x)


def tier_page(instance: Instance, plan: PlanLike, tier: Mapping[str, Any], lang: str = "zh", date: str | None = None) -> Any:
    """One briefing page for a tier: coverage map, legend, scale bar, north arrow, key figures, notes."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    counties, points = _layers(instance)
    cov = target_coverage(instance, plan, tier)
    level = _tier_level(tier)
    fig = plt.figure(figsize=PAGE_SIZE)
    ax = fig.add_axes((0.03, 0.10, 0.64, 0.78))
    ax.set_axis_off()
    present = [s for s in STATUS_ORDER if (cov["status"] == s).any()]
    handles: list[Any] = []
    schematic = False
    shapes_schematic = _shapes_schematic(counties)
    cells = False
    if level == "county" and counties is not None:
        c = counties.merge(cov[["status"]], left_on="code", right_index=True, how="left")
        c["status"] = c["status"].fillna("not_required")
        c.plot(ax=ax, color=c["status"].map(STATUS_COLORS), edgecolor="#444444", linewidth=0.6)
        handles = [Patch(facecolor=STATUS_COLORS[s], edgecolor="#444444", label=label(f"status.{s}", lang)) for s in present]
    else:
        if counties is not None:
            counties.plot(ax=ax, color="#f2efe9", edgecolor="#777777", linewidth=0.5)
        if level == "township":
            cells = _township_cells(ax, instance, cov, points.crs)
        pts = points.loc[points.index.intersection(cov["locality"].unique())]
        cv = cov[isin(cov["locality"], pts.index)]
        if len(cv):
            geo = pts.loc[cv["locality"]].geometry.to_numpy()
            if tier.get("targets", {}).get("table") == "targets":  # many targets per place: spread them
                geo = _spread(list(cv["locality"]), geo, points.crs)
            size = 120 if level == "county" else 18 if level == "township" else (6 if len(cv) > 3000 else 14)
            for s in reversed(STATUS_ORDER):  # draw problems last, on top
                sel = (cv["status"] == s).to_numpy()
                if sel.any():
                    xs = [g.x for g in geo[sel]]
                    ys = [g.y for g in geo[sel]]
                    ax.scatter(xs, ys, s=size, c=STATUS_COLORS[s], edgecolors="#222222", linewidths=0.3, zorder=5)
            schematic = schematic or bool(pts.loc[cv["locality"], "schematic"].any())
        handles = [Line2D([], [], marker="o", linestyle="", markersize=7, markerfacecolor=STATUS_COLORS[s],
                          markeredgecolor="#222222", label=label(f"status.{s}", lang)) for s in present]
    _frame_extent(ax, counties, points, cov)
    if level == "county":
        _county_names(ax, instance, counties, points, cov)
    draw_scale_bar(ax, lang)
    draw_north_arrow(ax, lang)
    _legend(ax, handles, label("col.status", lang))
    rows, by_tier = _overall_rows(instance, plan, lang)
    _figures_table(fig, rows, set(by_tier.get(str(tier["id"]), [])), lang)
    _page_frame(fig, f"{program_name(instance.scheme, lang)}", _subtitle(instance, plan, lang, date, tier_name(tier, lang)),
                _source(instance, plan), schematic, lang, shapes_schematic, cells)
    return fig


def _township_cells(ax: Any, instance: Instance, cov: pd.DataFrame, crs: Any) -> bool:
    """Shade the townships' cells (``geometry/townships`` polygons) in their coverage colour; True if drawn."""
    geo = instance.geometry("townships") if hasattr(instance, "geometry") else None
    if geo is None or not len(geo):
        return False
    geo = geo[geo.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].copy()
    geo["code"] = geo["code"].map(str)
    geo = geo[isin(geo["code"], cov.index)]
    if not len(geo):
        return False
    if geo.crs is None:
        geo = geo.set_crs(4326)
    geo = geo.to_crs(crs)
    colours = geo["code"].map(cov["status"]).map(STATUS_COLORS)
    geo.plot(ax=ax, color=colours, alpha=0.3, edgecolor="#777777", linewidth=0.2, zorder=2)
    return True


def _county_names(ax: Any, instance: Instance, counties: Any, points: Any, cov: pd.DataFrame, limit: int = 40) -> None:
    """Write each target county's name on the county page, when there are at most ``limit`` (more would overlap)."""
    if len(cov) > limit:
        return
    if counties is not None:
        where = {c: g.representative_point() for c, g in zip(counties["code"], counties.geometry) if g is not None}
    else:
        where = {c: g for c, g in zip(points.index, points.geometry)}
    from matplotlib import patheffects

    size = 9 if len(cov) <= 10 else 7
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    for code, name in zip(cov.index, cov["name"]):
        p = where.get(code)
        if p is not None:
            ax.annotate(name, xy=(p.x, p.y), xytext=(0, -9 if counties is None else 0), textcoords="offset points",
                        ha="center", va="center", fontsize=size, color="#1a1a1a", zorder=8, path_effects=halo)


def _spread(localities: list[str], geo: Any, crs: Any) -> Any:
    """Targets sharing a place's position, spread on a small ring (see :func:`matcher.maps.spread_stacked`)."""
    import geopandas as gpd

    from matcher.maps import spread_stacked

    g = gpd.GeoSeries(list(geo), crs=crs).to_crs(4326)
    lon, lat, _ = spread_stacked(localities, list(g.x), list(g.y))
    return gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(crs).to_numpy()


def _frame_extent(ax: Any, counties: Any, points: Any, cov: pd.DataFrame) -> None:
    """Fit the map to the counties (or to the tier's points) with a margin, equal aspect."""
    pad = 0.08
    if counties is not None:
        minx, miny, maxx, maxy = counties.total_bounds
    else:  # no outlines: frame every known position, with room for scale bar, arrow and legend
        minx, miny, maxx, maxy = points.total_bounds
        pad = 0.2
    w, h = max(maxx - minx, 1000.0), max(maxy - miny, 1000.0)
    ax.set_xlim(minx - pad * w, maxx + pad * w)
    ax.set_ylim(miny - (pad + 0.06) * h, maxy + pad * h)
    ax.set_aspect("equal", adjustable="box")


def diff_page(instance: Instance, plan: PlanLike, other: PlanLike, lang: str = "zh", date: str | None = None) -> Any:
    """A page comparing ``other`` (before) with ``plan`` (after): moved, new and ended links on a map, with counts."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from matcher.diff import diff_plans

    d = diff_plans(other, plan, instance)
    counties, points = _layers(instance)
    target_loc: dict[str, str] = {}
    for tier in scheme_tiers(instance):
        for p in (plan, other):
            target_loc.update({str(k): str(v) for k, v in target_coverage(instance, p, tier)["locality"].items()})
    fig = plt.figure(figsize=PAGE_SIZE)
    ax = fig.add_axes((0.03, 0.10, 0.64, 0.78))
    ax.set_axis_off()
    if counties is not None:
        counties.plot(ax=ax, color="#f2efe9", edgecolor="#777777", linewidth=0.5)

    def xy(codes: pd.Series) -> tuple[list[float], list[float]]:
        locs = [target_loc.get(t, t) for t in codes]
        locs = [c for c in locs if c in points.index]
        g = points.loc[locs].geometry
        return [p.x for p in g], [p.y for p in g]

    layers = [("ended", d.ended["target"] if len(d.ended) else pd.Series(dtype=str), "x", 40),
              ("new", d.new["target"] if len(d.new) else pd.Series(dtype=str), "o", 28),
              ("moved", d.moved["to_target"] if len(d.moved) else pd.Series(dtype=str), "D", 28)]
    handles = []
    for kind, codes, marker, size in layers:
        xs, ys = xy(codes)
        if xs:
            ax.scatter(xs, ys, s=size, c=DIFF_COLORS[kind], marker=marker, linewidths=1.2 if marker == "x" else 0.3,
                       edgecolors=None if marker == "x" else "#222222", zorder=6)
        if kind == "moved" and len(d.moved):
            fx, fy = xy(d.moved["from_target"])
            tx, ty = xy(d.moved["to_target"])
            for a, b, c, e in zip(fx, fy, tx, ty):
                ax.annotate("", xy=(c, e), xytext=(a, b), arrowprops={"arrowstyle": "->", "color": DIFF_COLORS["moved"], "lw": 0.8}, zorder=5)
        handles.append(Line2D([], [], marker=marker, linestyle="", markersize=8, color=DIFF_COLORS[kind],
                              markeredgecolor=DIFF_COLORS[kind] if marker == "x" else "#222222", label=f"{label(f'brief.diff.{kind}', lang)} ({len(codes)})"))
    all_codes = pd.concat([d.new.get("target", pd.Series(dtype=str)), d.ended.get("target", pd.Series(dtype=str))])
    cov = pd.DataFrame({"locality": [target_loc.get(t, t) for t in all_codes]})
    _frame_extent(ax, counties, points, cov)
    draw_scale_bar(ax, lang)
    draw_north_arrow(ax, lang)
    _legend(ax, handles, label("brief.diff_title", lang))
    rows = []
    sep = "：" if lang == "zh" else ": "
    names = {t["id"]: tier_name(t, lang) for t in scheme_tiers(instance)}
    for r in d.counts().itertuples(index=False):
        for kind in ("kept", "moved", "new", "ended"):
            rows.append((f"{names.get(r.tier, r.tier)}{sep}{label(f'brief.diff.{kind}', lang)}", str(getattr(r, kind))))
    _figures_table(fig, rows, set(), lang)
    schematic = bool(points["schematic"].any())
    _page_frame(fig, f"{program_name(instance.scheme, lang)}", _subtitle(instance, plan, lang, date, label("brief.diff_title", lang)),
                _source(instance, plan), schematic, lang, _shapes_schematic(counties))
    return fig


def brief_figures(plan: PlanLike, instance: Instance | None = None, lang: str = "zh", date: str | None = None,
                  compare: PlanLike | None = None) -> list[Any]:
    """The briefing's pages as matplotlib figures: one per tier, then the comparison page if ``compare``."""
    check_lang(lang)
    plan, plan_dir = as_plan(plan)
    instance = resolve_instance(plan, instance, plan_dir)
    check_plan_fits(instance, plan)
    if compare is not None:
        compare, _ = as_plan(compare)
        check_plan_fits(instance, compare)
    import matplotlib

    rc: Any = cjk_rc()
    with matplotlib.rc_context(rc):
        figs = [tier_page(instance, plan, tier, lang, date) for tier in scheme_tiers(instance)]
        if compare is not None:
            figs.append(diff_page(instance, plan, compare, lang, date))
    return figs


def page_paths(out: Path, n: int) -> list[Path]:
    """Where PNG/SVG pages go: page 1 to ``out``, page k to ``<stem>-<k><suffix>``."""
    return [out] + [out.with_name(f"{out.stem}-{k}{out.suffix}") for k in range(2, n + 1)]


def write_brief(plan: PlanLike, out: str | Path, instance: Instance | None = None, lang: str = "zh",
                date: str | None = None, compare: PlanLike | None = None, dpi: int = 150) -> list[Path]:
    """Write the briefing to ``out`` (.pdf: one file, all pages; .png/.svg: one file per page). Atomic writes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in BRIEF_SUFFIXES:
        raise MatcherError(f"{out}: unknown briefing format {suffix or '(no suffix)'!r}; expected one of {', '.join(BRIEF_SUFFIXES)}")
    figs = brief_figures(plan, instance, lang, date, compare)
    rc: Any = cjk_rc()
    try:
        with matplotlib.rc_context(rc):
            if suffix == ".pdf":
                with atomic_path(out) as tmp:
                    meta = {"Title": "matcher briefing", "Creator": "matcher", "Producer": "matcher", "CreationDate": None, "ModDate": None}
                    with PdfPages(tmp, metadata=meta) as pdf:
                        for f in figs:
                            pdf.savefig(f)
                return [out]
            paths = page_paths(out, len(figs))
            for f, p in zip(figs, paths):
                with atomic_path(p) as tmp:
                    if suffix == ".png":
                        f.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
                    else:
                        f.savefig(tmp, format="svg", metadata={"Date": None, "Creator": "matcher"})
            return paths
    finally:
        for f in figs:
            plt.close(f)
