"""The coverage map in a real headless Chromium with the network blocked.

Needs Debian's chromium (scripts/setup.sh installs it). Without it the test fails and says so;
set MATCHER_SKIP_BROWSER=1 to skip on purpose.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from matcher.instance import read_instance
from matcher.maps import coverage_map, save_map

pytestmark = pytest.mark.browser

from handmade import hand_plan  # noqa: E402  (tests/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("MATCHER_CHROMIUM", "/usr/bin/chromium")
HOSTILE = "<img src=x onerror=alert(1)>"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("MATCHER_SKIP_BROWSER") == "1":
        pytest.skip("MATCHER_SKIP_BROWSER=1")
    if not Path(CHROMIUM).is_file():
        yield None  # each test then fails with the fix (a fixture error would hide it among errors)
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_offline(browser, html_path: Path):
    """Open a file with every non-file request aborted; return (page, external requests, console errors, dialogs)."""
    if browser is None:
        pytest.fail(f"{CHROMIUM} not found: run scripts/setup.sh to install Debian's chromium "
                    "(or set MATCHER_SKIP_BROWSER=1 to skip the browser tests on purpose)")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    external: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            external.append(url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(html_path.resolve().as_uri())
    page.wait_for_function("window.matcherMap && window.matcherMap.stats.ready", timeout=30000)
    return page, external, errors, dialogs


def test_map_opens_offline_draws_everything_and_shows_hostile_name_as_text(browser, tmp_path):
    inst = read_instance(ROOT / "instances" / "tiny")
    inst.people.loc["p07", "name"] = HOSTILE  # a village cadre of 董当村委会
    plan = hand_plan(inst)
    html = save_map(coverage_map(plan, inst), tmp_path / "map.html")
    page, external, errors, dialogs = open_offline(browser, html)
    stats = page.evaluate("window.matcherMap.stats")
    assert stats["counties"] == len(inst.geometry("counties"))
    assert stats["points"] == {"township": 5, "village": 12}
    # the canvas really has the polygons drawn: some pixels carry the coverage colour
    assert page.locator("canvas.leaflet-zoom-animated").count() >= 1
    # search the hostile name, open the popup
    page.fill(".mm-search input", "<img")
    page.locator(".mm-hit").first.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5000)
    assert HOSTILE in popup.inner_text()
    assert page.locator(".leaflet-popup-content img").count() == 0
    assert page.locator("img[src='x']").count() == 0
    assert "董当村委会" in popup.inner_text()
    # switch colouring: the legend follows
    page.get_by_text("县：贫困类别").click()
    assert "国家扶贫开发重点县" in page.locator(".mm-legend").inner_text()
    page.get_by_text("县：覆盖情况").click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map-tiny.png"))
    assert external == [], f"requests left the file: {external}"
    assert errors == [], f"console errors: {errors}"
    assert dialogs == [], f"a script ran from a name: {dialogs}"
    page.close()


def test_solved_plan_in_english_search_finds_place_and_person(browser, tmp_path):
    from matcher.solver import solve

    inst = read_instance(ROOT / "instances" / "tiny")
    plan = solve(inst, time_limit=30, seed=0)
    html = save_map(coverage_map(plan, inst, lang="en"), tmp_path / "map.html")
    page, external, errors, _ = open_offline(browser, html)
    stats = page.evaluate("window.matcherMap.stats")
    from matcher.export import scheme_tiers, target_coverage

    for tier in scheme_tiers(inst)[1:]:  # every target of the township and village tiers is drawn
        assert stats["points"][tier["id"]] == len(target_coverage(inst, plan, tier))
    assert page.evaluate("window.matcherMap.search('罗甸').length") >= 1
    # 王建国 (p01) keeps his township link from 2011 (pinned): search finds him there
    township = plan.assignments.query("tier == 'township' and helper == 'p01'")["target"].iloc[0]
    name = inst.localities.loc[township, "name"]
    hits = page.evaluate("window.matcherMap.search('王建国').map(h => h[2])")
    assert any(name in h for h in hits), hits
    page.fill(".mm-search input", "zzzz-nobody")
    assert "nothing found" in page.locator(".mm-results").inner_text()
    assert "Legend" in page.locator(".mm-legend").inner_text()
    assert external == [] and errors == []
    page.close()
