"""Instances made from the shipped ones for tests (imported by name: tests/ is on sys.path)."""

from __future__ import annotations

import shutil
from pathlib import Path

TINY = Path(__file__).resolve().parent.parent / "instances" / "tiny"


def tiny_one_county_each(folder: Path) -> Path:
    """A copy of tiny in ``folder``: every department helping exactly one county and no incumbents (the bound's setting)."""
    dst = folder / "tiny-one-county"
    shutil.copytree(TINY, dst)
    (dst / "incumbents.csv").unlink()
    s = (dst / "scheme.toml").read_text(encoding="utf-8")
    old = "links_min = 0\nlinks_max = 1\nvisit_days = 0\nvisits_per_year = 0\ncontinuity = true"
    assert old in s
    (dst / "scheme.toml").write_text(s.replace(old, old.replace("links_min = 0", "links_min = 1")), encoding="utf-8")
    return dst
