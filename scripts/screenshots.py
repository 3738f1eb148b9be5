"""Screenshots of the role pages for docs/screenshots/: a live server with demo data, Debian Chromium.

    .venv/bin/python scripts/screenshots.py [overview executive operations ...]

Starts the app like tests/live.py does (demo on, login off on localhost) on a copy of a
store that already holds 30 days of demo history (built once with bench/pages.py's
``build_dataset``: with the system collector running, a fresh store is not empty by the
time the demo looks, so the demo would not back-fill), then saves ``<page>.png`` at 1920 px and
``<page>-mobile.png`` at 375 px (``<page>-1024.png`` with --tablet) after every chart drew.
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
ALL_CHARTS_DRAWN = """() => {
  const charts = [...document.querySelectorAll("[data-testid='stVegaLiteChart']")];
  // pages without charts (Alerts' first tab) are ready once their title is drawn and nothing runs
  return !!document.querySelector("h1") && !document.querySelector("[data-testid='stStatusWidget']")
         && charts.every(c => c.querySelector('canvas, svg'));
}"""


def main(pages: list[str], tablet: bool) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    from bench.pages import build_dataset

    seed = Path(tempfile.gettempdir()) / "pulseboard-screenshots" / "pulseboard.db"
    if not seed.exists() or time.time() - seed.stat().st_mtime > 6 * 3600:
        build_dataset(seed, 30)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(seed, Path(tmp) / "pulseboard.db")
        shoot(Path(tmp), pages, tablet)


def shoot(tmp: Path, pages: list[str], tablet: bool) -> None:
    from playwright.sync_api import sync_playwright

    with live_server(tmp, env={"PULSEBOARD_DEMO": "1", "PULSEBOARD_AUTH": "off"}, timeout_s=180) as server:
        time.sleep(15)  # the demo catches up from its watermark and the rollup job runs once
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            sizes = [("", 1920, 1080), ("-mobile", 375, 812)] + ([("-1024", 1024, 768)] if tablet else [])
            for name in pages:
                for suffix, width, height in sizes:
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(f"{server.url}/{'' if name == 'overview' else name}?refresh=Off")
                    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=120_000, polling=200)
                    page.wait_for_timeout(1500)  # let Vega finish its transitions
                    # Streamlit scrolls inside its main block: grow the viewport to the content to capture all of it.
                    tall = page.evaluate("Math.max(...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer], section')].map(e => e.scrollHeight))")
                    page.set_viewport_size({"width": width, "height": max(height, int(tall) + 40)})
                    page.wait_for_timeout(1500)
                    errors = page.locator("[data-testid='stException']").count()
                    page.screenshot(path=str(OUT / f"{name}{suffix}.png"), full_page=True)
                    print(f"{name}{suffix}.png ({width} px){' — ERROR BOX' if errors else ''}")
                    page.close()
            if "overview" in pages:  # the dark theme, as a viewer whose system prefers dark sees it
                page = browser.new_page(viewport={"width": 1920, "height": 1400}, color_scheme="dark")
                page.goto(f"{server.url}/operations?refresh=Off")
                page.wait_for_function(ALL_CHARTS_DRAWN, timeout=120_000, polling=200)
                page.wait_for_timeout(2500)
                page.screenshot(path=str(OUT / "operations-dark.png"))
                print("operations-dark.png (1920 px, dark)")
                page.close()
            browser.close()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args or ["overview", "executive", "operations"], "--tablet" in sys.argv)
