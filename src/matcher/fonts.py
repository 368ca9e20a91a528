"""Finding a font with Chinese glyphs for static maps and PDFs, and making matplotlib use it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from matcher.errors import MatcherError

# (file, family name matplotlib gives the face we want), best first
CJK_FONT_CANDIDATES: Final = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", "Noto Serif CJK SC"),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "WenQuanYi Micro Hei"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "WenQuanYi Zen Hei"),
    ("/System/Library/Fonts/PingFang.ttc", "PingFang SC"),
    ("C:/Windows/Fonts/msyh.ttc", "Microsoft YaHei"),
    ("C:/Windows/Fonts/simhei.ttf", "SimHei"),
)

_registered: dict[str, str] = {}


def find_cjk_font() -> tuple[Path, str]:
    """Return (font file, family name) of the first CJK font found on this machine.

    ``MATCHER_CJK_FONT`` (a font file, optionally ``file::family``) overrides the search.
    Raises :class:`MatcherError` with the fix (run scripts/setup.sh) when none is installed.
    """
    override = os.environ.get("MATCHER_CJK_FONT", "")
    if override:
        file, _, family = override.partition("::")
        if not Path(file).is_file():
            raise MatcherError(f"MATCHER_CJK_FONT={override!r}: no such font file")
        return Path(file), family
    for file, family in CJK_FONT_CANDIDATES:
        if Path(file).is_file():
            return Path(file), family
    tried = ", ".join(f for f, _ in CJK_FONT_CANDIDATES)
    raise MatcherError(
        "no font with Chinese glyphs found (tried " + tried + "); install one with scripts/setup.sh "
        "(Debian: apt-get install fonts-noto-cjk) or set MATCHER_CJK_FONT=/path/to/font.ttc"
    )


def use_cjk_font() -> str:
    """Register the CJK font with matplotlib and return its family name, for ``rcParams['font.family']``.

    The PDF embeds the used glyphs as a Type 3 font with a ToUnicode map (text stays searchable):
    Noto Sans CJK is an OpenType/CFF font, which matplotlib's TrueType embedding (``pdf.fonttype = 42``)
    writes as a CIDFontType2 that poppler flags as mismatched, and subsetting it takes seconds.
    """
    from matplotlib import font_manager

    file, family = find_cjk_font()
    key = str(file)
    if key not in _registered:
        before = {f.name for f in font_manager.fontManager.ttflist}
        font_manager.fontManager.addfont(key)
        added = sorted({f.name for f in font_manager.fontManager.ttflist} - before)
        names = {f.name for f in font_manager.fontManager.ttflist if Path(f.fname) == file}
        if not family or family not in names:
            family = sorted(names)[0] if names else (added[0] if added else family)
        _registered[key] = family
    return _registered[key]


def cjk_rc() -> dict[str, object]:
    """matplotlib rcParams that draw Chinese with the CJK font and embed it in PDF and SVG output."""
    family = use_cjk_font()
    return {
        "font.family": [family, "DejaVu Sans"],
        "axes.unicode_minus": False,
        "pdf.fonttype": 3,
        "svg.fonttype": "path",
        "svg.hashsalt": "matcher",
        "text.parse_math": False,  # names are text: a '$' in a name must not start mathtext
    }
