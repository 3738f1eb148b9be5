"""Screenshots of the pages for docs/screenshots/: a live server with demo data, Debian Chromium.

    .venv/bin/python scripts/screenshots.py [PAGE ...] [--tablet] [--rebuild]

where each PAGE is one of overview, executive, operations, developer, qa, sla, alerts
or explore (all of them when none is named).

Starts the app like tests/live.py does (demo on, login off on localhost) on a copy of a
store that already holds 30 days of demo history (built once with bench/pages.py's
``build_dataset``: with the system collector running, a fresh store is not empty by the
time the demo looks, so the demo would not back-fill) plus what the demo does not simulate
and tests/test_browser_developer_qa.py adds (``exporter_batch``: database exporter samples,
coverage reports, recent errors and deployments), so every Developer and QA panel has data.

Each page is saved whole as ``<page>.png`` at 1920 px and ``<page>-mobile.png`` at 375 px
(``<page>-1024.png`` with --tablet), plus ``operations-dark.png`` in the dark theme.
Streamlit scrolls inside its main container, so a full-page screenshot of the window
would stop at the first screen: the window is grown to the main container's scroll
height (charts below the fold draw once on screen and may grow it; repeated until the
height settles) and every chart must have drawn before the capture.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import CHROMIUM, CHROMIUM_ARGS, live_server  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PAGES = ("overview", "executive", "operations", "developer", "qa", "sla", "alerts", "explore")
SIZES = (("", 1920, 1080), ("-mobile", 375, 812))
MAX_HEIGHT = 16_000
ALL_CHARTS_DRAWN = """() => {
  // charts in tabs not shown (Alerts) never draw: only the visible ones count
  const charts = [...document.querySelectorAll("[data-testid='stVegaLiteChart']")]
    .filter(c => c.getClientRects().length);
  // pages without charts (Alerts' first tab) are ready once their title is drawn and nothing runs
  return !!document.querySelector("h1") && !document.querySelector("[data-testid='stStatusWidget']")
         && charts.every(c => c.querySelector('canvas, svg'));
}"""
# the element Streamlit scrolls the page in (its name changed across versions), and how tall its content is
CONTENT_HEIGHT = """() => {
  const boxes = [
    "[data-testid='stAppScrollToBottomContainer']", "[data-testid='stMain']", "[data-testid='stAppViewContainer']",
  ].map(s => document.querySelector(s)).filter(Boolean);
  return Math.max(document.documentElement.scrollHeight, ...boxes.map(b => b.scrollHeight));
}"""
ELEMENTS = (
    '() => document.querySelectorAll("'
    "[data-testid='stElementContainer'], "
    "[data-testid='stVegaLiteChart'] canvas, "
    "[data-testid='stVegaLiteChart'] svg"
    '").length'
)
PROBLEMS = """() => ({
  errors: document.querySelectorAll("[data-testid='stException'], [data-testid='stAlertContentError']").length,
  undrawn: [...document.querySelectorAll("[data-testid='stVegaLiteChart']")]
    .filter(c => c.getClientRects().length && !c.querySelector('canvas, svg')).length,
})"""


def main(pages: list[str], tablet: bool, rebuild: bool) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    seed = Path(tempfile.gettempdir()) / "pulseboard-screenshots" / "pulseboard.db"
    if rebuild or not seed.exists() or time.time() - seed.stat().st_mtime > 6 * 3600:
        from bench.pages import build_dataset

        build_dataset(seed, 30, extra=add_exporter_data)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(seed, Path(tmp) / "pulseboard.db")
        shoot(Path(tmp), pages, tablet)


def settle(page) -> None:
    """Wait until the page has finished streaming in: every chart drawn and nothing added for two seconds in a row."""
    last = -1
    for _ in range(60):
        page.wait_for_function(ALL_CHARTS_DRAWN, timeout=120_000, polling=200)
        count = int(page.evaluate(ELEMENTS))
        if count == last:
            return
        last = count
        page.wait_for_timeout(2000)
    raise TimeoutError(f"{page.url} kept changing")


def add_exporter_data(engine, now: int, days: int = 30, chunk: int = 40_000) -> None:
    """tests/test_browser_developer_qa.py's exporter_batch over ``days``, in batches the ingest limit allows."""
    from core.ingest import ingest
    from core.model import Batch
    from tests.test_browser_developer_qa import exporter_batch

    batch = exporter_batch(now, days)
    for start in range(0, len(batch.samples), chunk):
        ingest(engine, Batch(batch.samples[start : start + chunk], ()), origin="screenshots")
    ingest(engine, Batch((), batch.events), origin="screenshots")


def capture(browser, url: str, path: Path, width: int, height: int, color_scheme: str = "light") -> None:
    """Open ``url`` at ``width``, grow the window to the whole page, wait for every chart, save ``path``."""
    page = browser.new_page(viewport={"width": width, "height": height}, color_scheme=color_scheme)
    try:
        page.goto(url)
        page.locator("h1").first.wait_for(timeout=120_000)
        settle(page)
        tall = 0
        for _ in range(6):  # growing the window draws the charts below the fold, which may make the page taller again
            content = int(page.evaluate(CONTENT_HEIGHT))
            if content <= tall:
                break
            tall = content
            page.set_viewport_size({"width": width, "height": min(max(height, tall), MAX_HEIGHT)})
            settle(page)
            page.wait_for_timeout(1000)  # Vega's resize transitions
        problems = page.evaluate(PROBLEMS)
        page.screenshot(path=str(path), full_page=True)
        note = "".join(f" — {n} {what}" for what, n in problems.items() if n)
        print(f"{path.name} ({width} × {min(max(height, tall), MAX_HEIGHT)} px){note}")
    finally:
        page.close()


def shoot(tmp: Path, pages: list[str], tablet: bool) -> None:
    from playwright.sync_api import sync_playwright

    with live_server(tmp, env={"PULSEBOARD_DEMO": "1", "PULSEBOARD_AUTH": "off"}, timeout_s=180) as server:
        time.sleep(15)  # the demo catches up from its watermark and the rollup job runs once
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            sizes = [*SIZES, *([("-1024", 1024, 768)] if tablet else [])]
            for name in pages:
                for suffix, width, height in sizes:
                    capture(
                        browser,
                        f"{server.url}/{'' if name == 'overview' else name}?refresh=Off",
                        OUT / f"{name}{suffix}.png",
                        width,
                        height,
                    )
            if "operations" in pages:  # the dark theme, as a viewer whose system prefers dark sees it
                capture(
                    browser,
                    f"{server.url}/operations?refresh=Off",
                    OUT / "operations-dark.png",
                    1920,
                    1080,
                    color_scheme="dark",
                )
            browser.close()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args or list(PAGES), "--tablet" in sys.argv, "--rebuild" in sys.argv)
