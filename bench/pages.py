"""Role-page benchmark: script run time (AppTest), browser time to all charts drawn, ingest → visible latency.

Dataset — the demo simulator's history stretched to 90 days, in a SQLite file
(default pulseboard-bench-pages/pulseboard.db in the system temporary directory, reused for ten minutes; --rebuild):

* ``DemoWorkload(seed 7)`` generates every demo event (PRs through the 4 QMS steps with
  agents, gates, defects, compliance checks; queue-depth, agent-status, error and
  deployment events; QSE sessions; migration) for the last 90 days: on the order of
  10^5–10^6 events;
* demo samples (queue depths, step durations, agent load/up, workflow counts, API
  rate/latency/errors per endpoint, migration figures; ~75 series) every 5 minutes
  for the last 14 days and every 15 minutes before that, as the demo's own back-fill does;
* core.store.rollup then builds the 1m/5m/1h tiers and core.store.retention trims raw samples to
  the default 24 h, as a running server would.

Figures: ``page_imports_ms`` — importing what the page scripts import (Streamlit's
widgets, Altair, polars, and every module the role pages name in their
import lines), once per server process, measured on its own before any page runs;
``page_warmup_ms`` — core.ui.warmup.warm_up, the one-time work the server does at start in the
background (Streamlit's pandas/pyarrow for the first table, the SQLite read workers), also once
per process; ``page_script_ms_<page>`` — median of 5 warm AppTest runs
of the page script at its default range (first run, which fills the query caches but no
longer pays the one-time imports or warm-up, reported separately as ``..._cold``);
``page_charts_ms_<page>`` — in Debian Chromium against a live server on that store,
navigation start → at least the page's usual number of charts (:data:`MIN_CHARTS`) drawn
and every chart drawn, median of 3;
``ingest_to_visible_ms`` — a ``qms_queue_depth`` sample POSTed to /api/v1/metrics →
its value shown on the Operations page with the refresh at 1 s, median of 5.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pages_read, record

PAGES = ("overview", "executive", "operations", "developer", "qa")
# charts each page draws at its default range on the 90-day dataset (AppTest count): the browser timing waits for these
MIN_CHARTS = {"overview": 3, "executive": 5, "operations": 5, "developer": 2, "qa": 6}
PAGE_IMPORTS = (
    "streamlit",
    "altair",
    "polars",
    "core.ui.login",
    "core.ui.chrome",
    "core.ui.widgets",
    "core.ui.quality_charts",
    "core.query.inventory",
    "core.kpis.overview",
    "core.kpis.executive",
    "core.kpis.operations",
    "core.kpis.developer",
    "core.kpis.quality",
    "core.kpis.alerting",
    "core.kpis.records",
)
DAY = 86_400_000


def page_modules(pages: tuple[str, ...] = PAGES) -> list[str]:
    """The modules the role page scripts import at their top (``import x`` / ``from x import``), in order."""
    from core.config import ROOT

    found: dict[str, None] = {}
    for page in pages:
        for node in ast.parse((ROOT / "pages" / f"{page}.py").read_text()).body:
            if isinstance(node, ast.Import):
                found.update(dict.fromkeys(alias.name for alias in node.names))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
                found[node.module] = None
    return list(found)


FRESH_FOR_S = 600  # a dataset older than this is rebuilt: its "now" has moved on and live panels empty out


def needs_building(path: Path) -> bool:
    """Whether the dataset at ``path`` is missing or older than :data:`FRESH_FOR_S`.

    Its history ends when it was built, and Operations' live panels (agents, queues) show only the
    last minutes: an hour-old copy draws fewer charts and the browser timings would wait for them.
    """
    built = Path(f"{path}.built")  # the store file's own time moves with every page run that writes to it
    return not path.exists() or not built.exists() or time.time() - float(built.read_text()) > FRESH_FOR_S


def build_dataset(path: Path, days: int = 90) -> dict[str, int]:
    """Fill a fresh SQLite store with ``days`` of demo history, its derived series, rolled up and retention-trimmed.

    The recording rules derive their series from the demo's events (at most their back-fill, 30 days, back),
    as the running app's job would.
    """
    from collectors.demo import BACKFILL_STEP, DemoCollector, DemoWorkload
    from core.config import load_settings
    from core.recording.job import evaluate_recording_rules
    from core.store.engine import make_engine
    from core.store.migrate import upgrade
    from core.store.retention import run_retention
    from core.store.rollup import run_rollup

    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", ".built"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    settings = load_settings(database_url=url, data_dir=path.parent, demo=False, collectors=False)
    engine = make_engine(url)
    upgrade(engine)
    now = int(time.time() * 1000)
    collector = DemoCollector(engine, settings)
    collector.workload = DemoWorkload(7, now)
    started = time.perf_counter()
    collector.generate(now - days * DAY, now, BACKFILL_STEP)
    generated = time.perf_counter() - started
    evaluate_recording_rules(engine, settings, now=now)
    run_rollup(engine, now)
    run_retention(engine, settings, now, max_seconds=600)
    from core.ingest.demo_data import STATE
    from core.store.collector_state import put_state

    with engine.begin() as connection:
        put_state(connection, STATE, "state", {"anchor_ms": now, "watermark_ms": now, "seed": 7})
    with engine.connect() as connection:
        counts = {
            t: int(connection.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one())
            for t in ("events", "series", "samples", "samples_1m", "samples_5m", "samples_1h")
        }
    engine.dispose()
    Path(f"{path}.built").write_text(str(now / 1000))
    print(f"  dataset: {days} days in {generated:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return counts


def script_times(path: Path, runs: int = 5) -> dict[str, float]:
    """Median warm AppTest run time per page (and the cold first run), in ms."""
    pages_read(f"sqlite:///{path}", path.parent)
    from streamlit.testing.v1 import AppTest

    from core.config import ROOT

    figures: dict[str, float] = {}
    import importlib

    # One-time cost of a fresh interpreter, paid by whichever page runs first (it used to be counted in
    # page_script_ms_overview_cold): reported on its own so the cold figures compare the pages' own work.
    started = time.perf_counter()
    for module in (*PAGE_IMPORTS, *page_modules()):
        importlib.import_module(module)
    figures["page_imports_ms"] = (time.perf_counter() - started) * 1000
    # What the server does once at start, in the background (app.py's lifespan), before any viewer comes
    from core.config import get_settings
    from core.store import get_engine
    from core.ui.warmup import warm_up

    started = time.perf_counter()
    warm_up(get_engine(get_settings()))
    figures["page_warmup_ms"] = (time.perf_counter() - started) * 1000
    for page in PAGES:
        times = []
        for _ in range(runs + 1):
            at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=120)
            started = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - started) * 1000)
            if at.exception:
                raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
        figures[f"page_script_ms_{page}_cold"] = times[0]
        figures[f"page_script_ms_{page}"] = statistics.median(times[1:])
    return figures


def browser_times(path: Path, tmp: Path, runs: int = 3) -> dict[str, float]:
    """Navigation → all charts drawn per page, and POST → visible on Operations at 1 s refresh, in ms."""
    import shutil

    import httpx
    from playwright.sync_api import sync_playwright

    from tests.live import CHROMIUM, CHROMIUM_ARGS, live_server

    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, tmp / "pulseboard.db")
    figures: dict[str, float] = {}
    env = {"PULSEBOARD_AUTH": "off", "PULSEBOARD_COLLECTORS": "false", "PULSEBOARD_DEMO": "0"}
    with live_server(tmp, env=env, timeout_s=180) as server, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(server.url + "/")  # warm the server's caches and imports once
        page.wait_for_selector(
            "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg", timeout=120_000
        )
        for name in PAGES:
            times = []
            for _ in range(runs):
                page.goto("about:blank")
                started = time.perf_counter()
                page.goto(f"{server.url}/{'' if name == 'overview' else name}")
                page.wait_for_function(ALL_CHARTS_DRAWN, arg=MIN_CHARTS[name], timeout=120_000, polling=50)
                times.append((time.perf_counter() - started) * 1000)
            figures[f"page_charts_ms_{name}"] = statistics.median(times)
        page.goto(f"{server.url}/operations?refresh=1+s")
        page.wait_for_function(ALL_CHARTS_DRAWN, arg=MIN_CHARTS["operations"], timeout=120_000, polling=50)
        latencies = []
        for n in range(5):
            value = 700 + n * 11
            started = time.perf_counter()
            httpx.post(
                f"{server.url}/api/v1/metrics",
                json=[{"name": "qms_queue_depth", "labels": {"queue": "bench_probe"}, "value": value}],
                headers=server.headers,
            ).raise_for_status()
            page.wait_for_function(
                "v => document.body.innerText.includes(v)", arg=f"bench_probe {value}", timeout=30_000, polling=50
            )
            latencies.append((time.perf_counter() - started) * 1000)
        figures["ingest_to_visible_ms"] = statistics.median(latencies)
        browser.close()
    return figures


# At least `least` chart containers, every one drawn (canvas or svg inside), the app not running, and no error box.
# Only displayed charts count: one in a tab not opened (QA's test-results trend) is drawn when its tab is.
ALL_CHARTS_DRAWN = """(least) => {
  const charts = [...document.querySelectorAll("[data-testid='stVegaLiteChart']")]
    .filter(c => c.getClientRects().length > 0);
  const running = document.querySelector("[data-testid='stStatusWidget']");
  return charts.length >= least && !running && charts.every(c => c.querySelector('canvas, svg'))
         && !document.querySelector("[data-testid='stException']");
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "pulseboard-bench-pages" / "pulseboard.db"
    )
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    if args.rebuild or needs_building(args.db):
        build_dataset(args.db, args.days)
    record(script_times(args.db))  # kept even if the browser part fails
    if not args.no_browser:
        record(browser_times(args.db, args.db.parent / "live"))


if __name__ == "__main__":
    main()
