"""The Excel workbook form of an instance: the empty template and a filled workbook from tables.

``write_template(out)`` writes ``instance.xlsx`` with the five data sheets (English column
names in row 1, so the loader reads them), a frozen header, drop-down lists for the enum
columns, Chinese explanations as header comments and in a ``notes`` sheet (English with
``lang="en"``). ``write_workbook(out, rows)`` writes the same workbook filled with rows.
Both are written atomically and byte-for-byte deterministically (fixed zip times and
document dates).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matcher.errors import MatcherError
from matcher.fileio import atomic_write_bytes
from matcher.instance import (
    GENDERS,
    LEVELS,
    POSITIONS,
    RANKS,
    TABLES,
    TARGET_KINDS,
    TOWNSHIP_KINDS,
    UNIT_LEVELS,
    VILLAGE_KINDS,
    parse_float,
    parse_int,
)

FIXED_TIME = dt.datetime(2012, 1, 1, 0, 0, 0)
"""The document date written into every workbook, so the same content is the same bytes."""

MAX_ROWS = 100_000
"""Rows covered by the drop-down lists and text formats of the template."""

SHEET_TITLES: dict[str, tuple[str, str]] = {
    "localities": ("行政区划（省、市州、县、乡镇、村）", "administrative divisions (province to village)"),
    "targets": ("其他帮扶对象（企业、园区、项目、农户、党员）", "other targets (enterprises, parks, projects, households, party members)"),
    "units": ("帮扶单位（部门、机关）", "helping units (departments, agencies)"),
    "people": ("干部", "cadres"),
    "incumbents": ("现有结对（任期内）", "links in force"),
}

COLUMN_NOTES: dict[str, dict[str, tuple[str, str]]] = {
    "localities": {
        "code": ("区划代码（12位统计用区划代码），必填、唯一", "12-digit statistical division code; required, unique"),
        "name": ("名称，如 花溪区", "name, e.g. 花溪区"),
        "level": ("层级：province 省 / prefecture 市州 / county 县 / township 乡镇 / village 村",
                  "level: province / prefecture / county / township / village"),
        "parent": ("上级区划代码（省留空），上级须恰好高一级", "parent's code (empty for the province), exactly one level up"),
        "kind": (("类型：乡镇 town 镇 / township 乡 / ethnic_township 民族乡 / subdistrict 街道；"
                  "村 village_committee 村委会 / residents_committee 居委会"),
                 "kind: town / township / ethnic_township / subdistrict; village_committee / residents_committee"),
        "poverty_class": ("贫困类别：0 非贫困，1 一类贫困，2 二类，3 三类；县 1 = 国家扶贫开发重点县",
                          "poverty class: 0 not poor, 1 class-1, 2, 3; counties: 1 = national poverty county"),
        "population": ("人口（人）", "residents"),
        "ethnic_groups": ("有本民族语言的少数民族，英文，分号分隔，如 Miao;Buyi", "ethnic groups, English, ';'-separated"),
        "needs": ("需求标签，分号分隔，见 notes 表", "needs tags, ';'-separated, see the notes sheet"),
        "lon": ("经度（WGS84，度）", "longitude (WGS84 degrees)"),
        "lat": ("纬度（WGS84，度）", "latitude (WGS84 degrees)"),
        "position": ("位置类型：surveyed 实测 / schematic 示意", "position: surveyed / schematic"),
    },
    "targets": {
        "id": ("编号，必填、唯一", "id; required, unique"),
        "name": ("名称", "name"),
        "kind": ("类型：enterprise 企业 / industrial_park 园区 / key_project 重点项目 / household 农户 / party_member 党员",
                 "kind: enterprise / industrial_park / key_project / household / party_member"),
        "locality": ("所在区划代码（任一级）", "code of the locality it lies in (any level)"),
        "category": ("类别，如 difficult 困难企业 / promising 成长型 / upgrading 转型升级", "category"),
        "poverty_class": ("贫困类别，同区划表", "poverty class, as for localities"),
        "needs": ("需求标签，分号分隔", "needs tags, ';'-separated"),
        "size": ("规模：职工数、人数或投资（万元）", "size: employees, members or investment (10k yuan)"),
    },
    "units": {
        "id": ("单位编号，必填，与干部编号也不得重复", "unit id; unique across units and people"),
        "name": ("单位名称，如 贵州省农业委员会", "unit name"),
        "level": ("单位层级：province 省直 / prefecture 市州直 / county 县直", "level: province / prefecture / county"),
        "locality": ("驻地区划代码（县级或以下）", "seat: code of a county-level locality or below"),
        "function": ("职能标签，分号分隔，第一个为主要职能", "function tags, ';'-separated, main one first"),
        "headcount": ("编制人数（不少于本表所列干部数）", "staff on the books (>= people listed)"),
        "strength": ("帮扶实力（项目、资金），默认等于编制人数", "strength to help; default headcount"),
    },
    "people": {
        "id": ("干部编号，必填、唯一", "person id; required, unique"),
        "name": ("姓名", "name"),
        "unit": ("所在单位编号", "id of the person's unit"),
        "rank": ("职级：department 厅局级 / division 县处级 / section 乡科级 / staff 科员及以下",
                 "rank: department / division / section / staff"),
        "role": ("职务，如 处长、科长", "role, free text"),
        "gender": ("性别：F 女 / M 男", "gender: F / M"),
        "birth_year": ("出生年份", "birth year"),
        "hometown": ("籍贯区划代码（用于回避）", "hometown locality code (for avoidance rules)"),
        "skills": ("专长标签，分号分隔", "skill tags, ';'-separated"),
        "languages": ("会讲的少数民族语言，分号分隔，如 Miao", "languages beside Mandarin, ';'-separated"),
    },
    "incumbents": {
        "tier": ("层级编号，见 scheme.toml 的 tiers.id", "tier id from scheme.toml"),
        "helper": ("帮扶方：单位编号或干部编号", "helper: unit id or person id"),
        "target": ("帮扶对象：区划代码或对象编号", "target: locality code or target id"),
        "start_year": ("开始年份（不晚于规划年份）", "year the link began (not after the plan year)"),
    },
}
"""A Chinese and an English explanation of every column, shown as header comments and in notes."""

ENUM_LISTS: dict[str, dict[str, tuple[str, ...]]] = {
    "localities": {"level": LEVELS, "kind": TOWNSHIP_KINDS + VILLAGE_KINDS, "position": POSITIONS},
    "targets": {"kind": TARGET_KINDS},
    "units": {"level": UNIT_LEVELS},
    "people": {"rank": RANKS, "gender": GENDERS},
}
"""Drop-down lists offered in the template, by sheet and column."""

NOTES: dict[str, tuple[str, str]] = {
    "title": ("干部结对帮扶基础数据模板（matcher）", "Instance template (matcher)"),
    "intro": (("每个数据表第一行是英文列名，请勿修改；从第二行起每行一条记录。代码和编号按文本填写；"
               "列表用英文分号分隔（如 Miao;Buyi）。规则写在同一文件夹的 scheme.toml 中。"),
              ("Row 1 of each data sheet holds the English column names: do not change them. One record per row "
               "from row 2. Codes and ids are text; lists are ';'-separated (Miao;Buyi). The rules are in "
               "scheme.toml in the same folder.")),
    "sheet": ("表", "sheet"),
    "column": ("列", "column"),
    "required": ("必填", "required"),
    "meaning": ("说明", "meaning"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "tags": ("标签词表（需求、职能、专长共用）", "tag vocabulary (needs, functions and skills)"),
    "ethnic": ("少数民族语言（ethnic_groups、languages 两列用英文名）", "ethnic groups and languages (English names)"),
}


def _text(key: tuple[str, str], lang: str) -> str:
    return key[0] if lang == "zh" else key[1]


def _check_lang(lang: str) -> None:
    if lang not in ("zh", "en"):
        raise MatcherError(f"unknown language {lang!r}; expected zh or en")


def deterministic_xlsx(data: bytes) -> bytes:
    """Rewrite an .xlsx so that its bytes depend only on its content: fixed zip times and document dates.

    Source: the team rule "same input + seed = same bytes; no timestamps in outputs".
    """
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            zi = zipfile.ZipInfo(info.filename, date_time=(2012, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, body)
    return out.getvalue()


def _build(rows: Mapping[str, Sequence[Sequence[Any]]] | None, lang: str,
           extra: Mapping[str, Sequence[str]] | None = None) -> bytes:
    """The workbook's bytes: data sheets (optionally filled, extra columns after the known ones), drop-downs,
    comments, notes."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    from matcher.instance import ETHNIC_GROUPS, TAGS

    wb = Workbook()
    wb.remove(wb.active)
    head_font = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    for name, cols in TABLES.items():
        ws = wb.create_sheet(name)
        for j, col in enumerate(cols, start=1):
            c = ws.cell(row=1, column=j, value=col.name)
            c.font = head_font
            c.fill = head_fill
            note = _text(COLUMN_NOTES[name][col.name], lang)
            req = _text(NOTES["required"], lang) if col.nonempty else ""
            c.comment = Comment(f"{note}{'（' + req + '）' if req and lang == 'zh' else (' (' + req + ')' if req else '')}",
                                "matcher", width=300, height=120)
            letter = get_column_letter(j)
            ws.column_dimensions[letter].width = max(12, len(col.name) + 4)
            if col.type in ("text", "list", "enum"):
                ws.column_dimensions[letter].number_format = "@"
        ws.freeze_panes = "A2"
        for col_name, values in ENUM_LISTS.get(name, {}).items():
            j = [c.name for c in cols].index(col_name) + 1
            letter = get_column_letter(j)
            dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True,
                                showErrorMessage=True, errorTitle=col_name,
                                error=("请从下拉列表中选择：" if lang == "zh" else "Choose from the list: ")
                                + ", ".join(values))
            dv.add(f"{letter}2:{letter}{MAX_ROWS}")
            ws.add_data_validation(dv)
        more = list((extra or {}).get(name, ()))
        for j, h in enumerate(more, start=len(cols) + 1):
            ws.cell(row=1, column=j, value=h).font = head_font
            ws.column_dimensions[get_column_letter(j)].width = max(12, len(h) + 4)
        kinds = [c.type for c in cols] + ["text"] * len(more)
        for i, row in enumerate((rows or {}).get(name, ()), start=2):
            for j, (kind, value) in enumerate(zip(kinds, row, strict=False), start=1):
                ws.cell(row=i, column=j, value=_typed(value, kind))
    notes = wb.create_sheet("notes")
    notes["A1"] = _text(NOTES["title"], lang)
    notes["A1"].font = Font(bold=True, size=14)
    notes["A2"] = _text(NOTES["intro"], lang)
    notes["A2"].alignment = Alignment(wrap_text=True)
    notes.merge_cells("A2:D2")
    notes.row_dimensions[2].height = 60
    r = 4
    for k in ("sheet", "column", "required", "meaning"):
        notes.cell(row=r, column=("sheet", "column", "required", "meaning").index(k) + 1,
                   value=_text(NOTES[k], lang)).font = head_font
    for name, cols in TABLES.items():
        r += 1
        notes.cell(row=r, column=1, value=name).font = head_font
        notes.cell(row=r, column=4, value=_text(SHEET_TITLES[name], lang))
        for col in cols:
            r += 1
            notes.cell(row=r, column=1, value=name)
            notes.cell(row=r, column=2, value=col.name)
            notes.cell(row=r, column=3, value=_text(NOTES["yes" if col.nonempty else "no"], lang))
            notes.cell(row=r, column=4, value=_text(COLUMN_NOTES[name][col.name], lang))
    r += 2
    notes.cell(row=r, column=1, value=_text(NOTES["tags"], lang)).font = head_font
    notes.cell(row=r + 1, column=1, value="; ".join(TAGS))
    notes.cell(row=r + 3, column=1, value=_text(NOTES["ethnic"], lang)).font = head_font
    notes.cell(row=r + 4, column=1, value="; ".join(ETHNIC_GROUPS))
    for letter, width in zip("ABCD", (14, 16, 8, 90), strict=True):
        notes.column_dimensions[letter].width = width
    wb.properties.creator = "matcher"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    buf = io.BytesIO()
    wb.save(buf)
    return _fix_core_dates(deterministic_xlsx(buf.getvalue()))


def _fix_core_dates(data: bytes) -> bytes:
    """openpyxl stamps docProps/core.xml with the save time: replace it with the fixed date."""
    import re

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>" + stamp + rb"\g<2>", body)
            dst.writestr(info, body)
    return out.getvalue()


def _typed(value: Any, kind: str) -> Any:
    """A cell value as Excel should hold it: numbers for int/float columns, text otherwise."""
    if value is None:
        return None
    if isinstance(value, tuple | list):
        value = ";".join(map(str, value))
    text = str(value).strip()
    if text == "" or text.lower() in ("nan", "<na>", "none"):
        return None
    if kind == "int":
        v = parse_int(text)
        return v if v is not None else text
    if kind == "float":
        f = parse_float(text)
        return f if f is not None else text
    return text


def write_template(out: str | os.PathLike[str], *, lang: str = "zh") -> Path:
    """Write the empty instance workbook template to ``out`` atomically; return the path."""
    _check_lang(lang)
    atomic_write_bytes(out, _build(None, lang))
    return Path(out)


def write_workbook(out: str | os.PathLike[str], rows: Mapping[str, Sequence[Sequence[Any]]], *,
                   lang: str = "zh", extra: Mapping[str, Sequence[str]] | None = None) -> Path:
    """Write an instance workbook filled with ``rows`` atomically.

    ``rows`` maps a sheet to rows whose cells follow the format's columns, then the sheet's
    ``extra`` columns (kept as text, as the loader keeps them).
    """
    _check_lang(lang)
    atomic_write_bytes(out, _build(rows, lang, extra))
    return Path(out)


def csv_folder_to_workbook(folder: str | os.PathLike[str], out: str | os.PathLike[str], *, lang: str = "zh") -> Path:
    """Convert an instance's CSV tables to one instance.xlsx (the format's columns first, then extra columns).

    Unreadable CSV files raise :class:`~matcher.errors.InstanceError` naming them.
    """
    from matcher.errors import InstanceError
    from matcher.instance import read_csv_table

    problems: list[Any] = []
    rows: dict[str, list[list[str]]] = {}
    extra: dict[str, list[str]] = {}
    for name, cols in TABLES.items():
        t = read_csv_table(Path(folder), name, problems)
        known = [c.name for c in cols]
        extra[name] = [h for h in t.header if h and h not in known]
        order = known + extra[name]
        rows[name] = [[r[t.header.index(c)] if c in t.header else "" for c in order] for r in t.rows]
    if problems:
        raise InstanceError(problems, str(folder))
    return write_workbook(out, rows, lang=lang, extra=extra)
