"""The briefing PDF/PNG/SVG: one page per tier, CJK font embedded, no missing glyphs, real rendering."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from matcher.brief import write_brief
from matcher.errors import MatcherError

from handmade import hand_plan  # noqa: E402  (tests/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def glyph_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r".*Glyph .* missing.*")
        warnings.filterwarnings("error", message=r".*findfont: Font family .* not found.*")
        yield


def pdf_fonts(path: Path) -> set[str]:
    """BaseFont names of the fonts embedded in a PDF: Type 3 glyph procedures or an embedded font file."""
    from pypdf import PdfReader

    found: set[str] = set()
    for page in PdfReader(path).pages:
        fonts = page["/Resources"].get("/Font", {})
        for ref in fonts.values():
            font = ref.get_object()
            if font.get("/Subtype") == "/Type3" and len(font["/CharProcs"].get_object()) > 0:
                found.add(str(font["/BaseFont"]))
            descs = [font] + [d.get_object() for d in font.get("/DescendantFonts", [])]
            for d in descs:
                fd = d.get("/FontDescriptor")
                if fd is not None and any(k in fd.get_object() for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                    found.add(str(font["/BaseFont"]))
    return found


def test_pdf_has_a_page_per_tier_with_embedded_cjk_font(inst, solved, tmp_path):
    from pypdf import PdfReader

    out = write_brief(solved, tmp_path / "brief.pdf", inst)[0]
    reader = PdfReader(out)
    assert len(reader.pages) == len(inst.scheme["tiers"])
    assert any("CJK" in f for f in pdf_fonts(out)), pdf_fonts(out)
    text = reader.pages[2].extract_text()
    assert "主要数据" in text and "干部驻村" in text and "计划年度 2012" in text
    again = write_brief(solved, tmp_path / "again.pdf", inst)[0]
    assert again.read_bytes() == out.read_bytes()  # same plan, same bytes (no clock in the file)


def test_pdf_page_renders_with_coverage_colours(inst, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm not found: run scripts/setup.sh (Debian poppler-utils)")
    from PIL import Image

    out = write_brief(hand_plan(inst), tmp_path / "brief.pdf", inst, date="2012-06-30")[0]
    from pypdf import PdfReader

    assert "日期：2012-06-30" in PdfReader(out).pages[0].extract_text()
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "3", "-l", "3", str(out), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    px = np.asarray(Image.open(png).convert("RGB")).astype(int)
    ink = (px.sum(axis=2) < 600).mean()
    assert ink > 0.01  # not blank
    def has(colour: str) -> bool:
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        return bool((np.abs(px - rgb).sum(axis=2) < 40).any())
    assert has("#c62828") and has("#f9a825") and has("#2e7d32")  # uncovered, short and covered villages drawn




def test_english_png_and_svg_pages(inst, solved, tmp_path):
    pngs = write_brief(solved, tmp_path / "brief.png", inst, lang="en")
    assert [p.name for p in pngs] == ["brief.png", "brief-2.png", "brief-3.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    svgs = write_brief(solved, tmp_path / "brief.svg", inst, lang="en")
    assert len(svgs) == 3 and "<svg" in svgs[0].read_text(encoding="utf-8")
    with pytest.raises(MatcherError, match="unknown briefing format"):
        write_brief(solved, tmp_path / "brief.docx", inst)


def test_compare_adds_a_diff_page(inst, solved, tmp_path):
    from pypdf import PdfReader

    other = hand_plan(inst)
    out = write_brief(solved, tmp_path / "brief.pdf", inst, compare=other)[0]
    reader = PdfReader(out)
    assert len(reader.pages) == len(inst.scheme["tiers"]) + 1
    text = reader.pages[-1].extract_text()
    assert "两个方案的对比" in text and "新增结对" in text and "结束结对" in text


def test_cli_brief(inst, solved, tmp_path):
    plan_dir = solved.save(tmp_path / "plan")
    r = subprocess.run(["matcher", "brief", str(plan_dir), "--out", str(tmp_path / "b.png"),
                        "--instance", str(ROOT / "instances" / "tiny"), "--lang", "en"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b-3.png").read_bytes()[:4] == b"\x89PNG"
    bad = subprocess.run(["matcher", "brief", str(plan_dir), "--out", str(tmp_path / "b.pdf"), "--lang", "fr",
                          "--instance", str(ROOT / "instances" / "tiny")], capture_output=True, text=True)
    assert bad.returncode == 2 and "language 'fr'" in bad.stderr and "Traceback" not in bad.stderr


def test_every_label_has_chinese_and_english():
    from matcher.labels import LANGS, all_labels

    zh, en = all_labels("zh"), all_labels("en")
    assert LANGS == ("zh", "en") and zh.keys() == en.keys()
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert any(ord(ch) > 0x2E80 for ch in zh[key]), f"{key}: Chinese label without Chinese: {zh[key]!r}"
        assert not any(0x4E00 <= ord(ch) <= 0x9FFF for ch in en[key]), f"{key}: English label with Chinese: {en[key]!r}"


def test_cjk_font_is_found_and_used():
    from matcher.fonts import cjk_rc, find_cjk_font

    path, family = find_cjk_font()
    assert path.is_file()
    rc = cjk_rc()
    assert rc["font.family"][0] in ("Noto Sans CJK SC", family) and rc["text.parse_math"] is False


def test_subtitle_names_the_solver_status_in_the_reader_s_language(tiny) -> None:
    """The page header says 最优（已证明） or 'optimal (proven)', not the solver's code word."""
    from types import SimpleNamespace

    from matcher.brief import _subtitle

    plan = SimpleNamespace(header={"status": "OPTIMAL", "plan_year": 2012}, assignments=None)
    zh = _subtitle(tiny, plan, "zh", None, "")
    en = _subtitle(tiny, plan, "en", None, "")
    assert "最优（已证明）" in zh and "OPTIMAL" not in zh
    assert "optimal (proven)" in en
