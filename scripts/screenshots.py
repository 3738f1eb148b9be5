"""Screenshots of the pages for docs/screenshots/: the app as `make run` starts it, in Debian Chromium.

    .venv/bin/python scripts/screenshots.py [PAGE ...] [--tablet] [--contrast]

where each PAGE is one of overview, executive, operations, developer, qa, sla, alerts,
explore, qse or migration (all of them when none is named).

Starts the app like tests/live.py does on an empty store, demo on and login off on
localhost, every collector and job running, and waits until the demo has back-filled its
30 days, the recording rules have derived their series from those events and the rollup
has run: what a user sees a minute after their first `make run`, nothing added by hand.

Each page is saved whole as ``<page>.png`` at 1920 px and ``<page>-mobile.png`` at 375 px
(``<page>-1024.png`` with --tablet; ``<page>-contrast.png`` at 1920 px in high contrast with 130 % text with
--contrast, the link form ``?contrast=high&text=130`` of the sidebar's Accessibility settings), plus
``operations-dark.png`` in the dark theme and
``qse-session.png``, the QSE page with its newest running session opened.
Streamlit scrolls inside its main container, so a full-page screenshot of the window
would stop at the first screen: the window is grown to the main container's scroll
height (charts below the fold draw once on screen and may grow it; repeated until the
height settles) and every chart must have drawn before the capture.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import CHROMIUM, CHROMIUM_ARGS, live_server  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PAGES = (
    "overview",
    "executive",
    "operations",
    "developer",
    "qa",
    "sla",
    "alerts",
    "explore",
    "qse",
    "migration",
    "capacity",
    "insights",
    "reports",
    "dashboards",
)
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


def main(pages: list[str], tablet: bool, contrast: bool = False) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        shoot(Path(tmp), pages, tablet, contrast)


def wait_until_demo_is_ready(store: Path, timeout_s: float = 600.0) -> None:
    """Until the demo's back-fill is stored, every recording rule has caught up and the 1-minute tier has data."""
    import sqlalchemy as sa

    from core.ingest.demo_data import STATE as DEMO
    from core.recording.job import STATE as RECORDING
    from core.recording.rules import RULES
    from core.store import schema

    engine = sa.create_engine(f"sqlite:///{store}")
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                state = schema.collector_state
                namespaces = connection.execute(sa.select(state.c.collector, state.c.key)).all()
                rolled = connection.scalar(sa.select(sa.func.count()).select_from(schema.samples_1m))
            demo_done = (DEMO, "state") in namespaces
            recorded = {key for collector, key in namespaces if collector == RECORDING}
            if demo_done and recorded >= {rule.name for rule in RULES} and rolled:
                return
            time.sleep(2)
    finally:
        engine.dispose()
    raise TimeoutError(f"the demo did not finish its back-fill within {timeout_s:.0f} s")


def wait_for_forecasts(store: Path, timeout_s: float = 600.0) -> None:
    """Until the forecast job has finished the refit the demo asked for after its back-fill (Capacity page)."""
    import sqlalchemy as sa

    from core.store import schema
    from core.store.forecasts import STATE

    engine = sa.create_engine(f"sqlite:///{store}")
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                state = schema.collector_state
                rows = dict(
                    connection.execute(sa.select(state.c.key, state.c.value).where(state.c.collector == STATE)).all()
                )
            request, progress = rows.get("request") or {}, rows.get("progress") or {}
            if request and progress.get("finished", 0) > request.get("at", 0) and not progress.get("running"):
                return
            time.sleep(2)
    finally:
        engine.dispose()
    raise TimeoutError(f"the forecast job did not finish within {timeout_s:.0f} s")


def wait_for_insights(store: Path, since_ms: int, timeout_s: float = 600.0) -> None:
    """Until the insights job has scored components since ``since_ms`` (the back-fill's end: its baselines then
    hold the demo's history), for the Insights and Overview pages; the job runs every insights_interval_s."""
    import sqlalchemy as sa

    from core.insights.job import STATE
    from core.store import schema

    engine = sa.create_engine(f"sqlite:///{store}")
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                state = schema.collector_state
                scores = connection.scalar(
                    sa.select(state.c.value).where(state.c.collector == STATE, state.c.key == "scores")
                )
            if scores and scores.get("components") and scores.get("computed_ms", 0) >= since_ms:
                return
            time.sleep(2)
    finally:
        engine.dispose()
    raise TimeoutError(f"the insights job did not score components within {timeout_s:.0f} s")


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


def shoot(tmp: Path, pages: list[str], tablet: bool, contrast: bool = False) -> None:
    from playwright.sync_api import sync_playwright

    with live_server(tmp, env={"PULSEBOARD_DEMO": "1", "PULSEBOARD_AUTH": "off"}, timeout_s=180) as server:
        wait_until_demo_is_ready(tmp / "pulseboard.db")
        ready_ms = int(time.time() * 1000)
        if "capacity" in pages:
            wait_for_forecasts(tmp / "pulseboard.db")
        if {"insights", "overview"} & set(pages):
            wait_for_insights(tmp / "pulseboard.db", ready_ms)
        if "reports" in pages:  # one generated report, so the history is not empty
            generate_report(tmp / "pulseboard.db", tmp / "executive.pdf")
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
                if contrast:  # the sidebar's Accessibility settings, given in the link
                    capture(
                        browser,
                        f"{server.url}/{'' if name == 'overview' else name}?refresh=Off&contrast=high&text=130",
                        OUT / f"{name}-contrast.png",
                        1920,
                        1080,
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
            if "dashboards" in pages:  # the provisioned dashboard as a wall screen shows it (no sidebar, no header)
                capture(
                    browser, f"{server.url}/dashboards?kiosk=1&d=qms-wall", OUT / "dashboards-kiosk.png", 1920, 1080
                )
            if "qse" in pages:  # the session detail, opened on the newest session that has started a phase
                session = newest_qse_session(tmp / "pulseboard.db")
                if session:
                    capture(
                        browser, f"{server.url}/qse?refresh=Off&session={session}", OUT / "qse-session.png", 1920, 1080
                    )
            browser.close()


def generate_report(store: Path, out: Path) -> None:
    """An Executive PDF of the last 30 days through ``python -m core.cli report``, recorded in the report history."""
    import os
    import subprocess

    env = os.environ | {"PULSEBOARD_DATABASE_URL": f"sqlite:///{store}", "PULSEBOARD_DEMO": "0"}
    command = [sys.executable, "-m", "core.cli", "report", "--type", "executive", "--range", "30d", "--out", str(out)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=600)


def newest_qse_session(store: Path) -> str | None:
    """The session id of the newest qse.phase_started event in the store."""
    import json

    import sqlalchemy as sa

    from core.store import schema

    engine = sa.create_engine(f"sqlite:///{store}")
    try:
        with engine.connect() as connection:
            events = schema.events
            data = connection.scalar(
                sa.select(sa.cast(events.c.data, sa.Text))
                .where(events.c.type == "qse.phase_started")
                .order_by(events.c.ts.desc())
                .limit(1)
            )
    finally:
        engine.dispose()
    return None if data is None else str(json.loads(data)["session_id"])


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args or list(PAGES), "--tablet" in sys.argv, "--contrast" in sys.argv)
