"""Take the README's and docs/maps.md's pictures from a solved plan: the map (two views) and the briefing pages.

Usage: python3 scripts/screenshots.py OUT_DIR   (OUT_DIR as written by `matcher run INSTANCE --out OUT_DIR`)
Writes docs/img/map-guizhou.png, map-guizhou-popup.png and brief-guizhou-{counties,townships,villages}.png.
Needs Debian's chromium (scripts/setup.sh installs it); the map is opened with the network blocked.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def map_pictures(html: Path) -> None:
    """The map coloured by helping department, and a village popup found with the search box."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:", "blob:", "about:"))
                   else r.abort())
        page.goto(html.resolve().as_uri())
        page.wait_for_function("window.matcherMap && window.matcherMap.stats.ready", timeout=60000)
        page.get_by_text("县：帮扶部门").click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(IMG / "map-guizhou.png"))
        page.get_by_text("干部驻村").first.click()
        page.fill(".mm-search input", "村委会")
        page.locator(".mm-hit").first.click()
        page.locator(".leaflet-popup-content").wait_for(timeout=10000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(IMG / "map-guizhou-popup.png"))
        browser.close()


def brief_pictures(plan_dir: Path) -> None:
    """The three briefing pages as PNG, named by tier."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "matcher", "brief", str(plan_dir), "--out", f"{tmp}/b.png"], check=True)
        for src, name in (("b.png", "counties"), ("b-2.png", "townships"), ("b-3.png", "villages")):
            shutil.copyfile(Path(tmp) / src, IMG / f"brief-guizhou-{name}.png")


if __name__ == "__main__":
    out = Path(sys.argv[1])
    IMG.mkdir(parents=True, exist_ok=True)
    map_pictures(out / "map.html")
    brief_pictures(out / "plan")
