"""Concurrent viewers of the Operations page: the server's CPU and RSS, and how late each viewer sees new data.

Setup: the role-page dataset of bench/pages.py (90 days of demo history, rolled up; built if missing),
copied for a live server (``streamlit run app.py``, tests/live.py) with the demo simulator and every
collector and job on, login off (bound to 127.0.0.1). One Debian Chromium; each viewer is its own
browser context (own cookies and Streamlit session) on ``/operations`` at the refresh ``--refresh``
(10 s by default, the page's own default). For each level (1, 10, 25 viewers; more contexts are opened
for each higher level) every viewer's page is loaded and its charts drawn, the server is left 5 s to
settle, then for ``--window`` seconds (60) a ``qms_queue_depth`` sample for queue ``bench_probe`` with
a new value is POSTed to /api/v1/metrics every refresh + 1.3 s, and:

* ``viewers_<n>_server_cpu_pct`` — CPU time of the server process (all threads) and of its child
  processes alive at the window's end (the SQLite read workers; a forecast fit's Stan process), over
  the window, in % of one core (200 = both cores of this machine);
* ``viewers_<n>_server_rss_mb`` — the server process's largest RSS sampled each second in the window
  (its read workers not included);
* ``viewers_<n>_update_p50_ms`` / ``_p95_ms`` — update latency, refresh tick → visible: for every
  viewer × probe value, from the viewer's last message to the server before the value showed (its
  live panels' refresh tick, which asks the server to rerun them) to the moment the value showed in
  its "Queue depths" caption. A script injected in each page records both (a MutationObserver on the
  captions, a wrapper of WebSocket.send), so the figure is the server's rerun under that many viewers
  plus the page drawing it, without the wait for the next tick;
* ``viewers_<n>_ingest_visible_p50_ms`` / ``_p95_ms`` — from the POST's answer (the sample is stored)
  to the value showing: the same plus the wait for the next tick (up to one refresh interval; browser
  and server share this machine's clock); ``viewers_<n>_update_missed`` counts viewer × value pairs
  never shown;
* ``viewers_<n>_browser_cpu_pct`` and ``viewers_<n>_loadavg_1m`` — Chromium's CPU over the same window
  and the machine's 1-minute load average at its end: clients and server share 2 cores here, so
  these say how much of the latency is the machine rather than the server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import record

LEVELS = (1, 10, 25)
SEEN_WAIT_S = 15.0  # after the window, beyond one refresh interval, for the last probe to show
SETTLE_S = 5.0
PROBE_QUEUE = "bench_probe"

# Installed in every viewer's page before it loads: when each probe value first shows in a caption, and when the page
# sent each message to the server (a fragment's refresh tick is one), both as Date.now() in ms.
INIT = """(() => {
  const probe = window.__probe = {seen: {}, sends: []};
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    probe.sends.push(Date.now());
    if (probe.sends.length > 1000) probe.sends.shift();
    return send.call(this, data);
  };
  const check = () => {
    for (const el of document.querySelectorAll("[data-testid='stCaptionContainer']")) {
      for (const m of el.textContent.matchAll(/%s (\\d+)/g)) {
        if (!(m[1] in probe.seen)) probe.seen[m[1]] = Date.now();
      }
    }
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, characterData: true});
})();"""


def browser_processes() -> list[Any]:
    """This script's Chromium processes (children of Playwright's driver, which is our child)."""
    import psutil

    return [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]


def tree_cpu(processes: list[Any]) -> dict[int, float]:
    """User + system CPU seconds (every thread) per process id; processes gone meanwhile are left out."""
    import psutil

    out = {}
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        out[proc.pid] = times.user + times.system
    return out


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two :func:`tree_cpu` snapshots; a process started in between counts in full."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


# At least `least` chart containers, every one drawn, no error box. Unlike bench/pages.py's ALL_CHARTS_DRAWN the
# status widget is not waited out: at a 1 s refresh on a busy server some fragment is nearly always running.
CHARTS_DRAWN = """(least) => {
  const charts = [...document.querySelectorAll("[data-testid='stVegaLiteChart']")]
    .filter(c => c.getClientRects().length > 0);
  return charts.length >= least && charts.every(c => c.querySelector('canvas, svg'))
         && !document.querySelector("[data-testid='stException']");
}"""


def open_viewer(browser: Any, url: str, charts: int) -> Any:
    """A new browser context (its own session) on the Operations page with the probe watcher, its charts drawn."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.add_init_script(INIT % PROBE_QUEUE)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(CHARTS_DRAWN, arg=charts, timeout=180_000, polling=500)
    return page


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values`` by the nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(server: Any, pages: list[Any], window_s: float, refresh_s: float, first_value: int) -> dict[str, float]:
    """One level: CPU, RSS and update latency over ``window_s`` with ``pages`` viewing."""
    import httpx
    import psutil

    process = psutil.Process(server.process.pid)

    def server_tree() -> dict[int, float]:
        return tree_cpu([process, *process.children(recursive=True)])

    time.sleep(SETTLE_S)
    rss = []
    browser_before = tree_cpu(browser_processes())
    before, started = server_tree(), time.monotonic()
    posted: dict[str, float] = {}
    value = first_value
    next_probe = started
    every = refresh_s + 1.3  # longer than a refresh, so each viewer can show every value; the phase drifts
    while (now := time.monotonic()) < started + window_s:
        rss.append(process.memory_info().rss)
        if now >= next_probe:
            httpx.post(
                f"{server.url}/api/v1/metrics",
                json=[{"name": "qms_queue_depth", "labels": {"queue": PROBE_QUEUE}, "value": value}],
                headers=server.headers,
                timeout=30,
            ).raise_for_status()
            posted[str(value)] = time.time() * 1000
            value += 1
            next_probe += every
        time.sleep(min(1.0, max(0.05, next_probe - time.monotonic())))
    elapsed = time.monotonic() - started
    cpu = spent(before, server_tree())
    browser = spent(browser_before, tree_cpu(browser_processes()))
    load = os.getloadavg()[0]
    time.sleep(refresh_s + SEEN_WAIT_S)  # the last probe's refresh
    ticks, ingest, missed = [], [], 0
    for page in pages:
        probe = page.evaluate("() => ({seen: window.__probe.seen, sends: window.__probe.sends})")
        for key, at in posted.items():
            shown = probe["seen"].get(key)
            if shown is None:
                missed += 1
                continue
            ingest.append(max(0.0, shown - at))
            tick = max((t for t in probe["sends"] if t <= shown), default=None)
            if tick is not None:
                ticks.append(shown - tick)
    n = len(pages)
    figures = {
        f"viewers_{n}_server_cpu_pct": cpu / elapsed * 100,
        f"viewers_{n}_server_rss_mb": max(rss) / 2**20,
        f"viewers_{n}_update_missed": float(missed),
        f"viewers_{n}_browser_cpu_pct": browser / elapsed * 100,
        f"viewers_{n}_loadavg_1m": load,
    }
    if ticks:
        figures[f"viewers_{n}_update_p50_ms"] = statistics.median(ticks)
        figures[f"viewers_{n}_update_p95_ms"] = percentile(ticks, 0.95)
    if ingest:
        figures[f"viewers_{n}_ingest_visible_p50_ms"] = statistics.median(ingest)
        figures[f"viewers_{n}_ingest_visible_p95_ms"] = percentile(ingest, 0.95)
    print(f"  {n} viewers: {len(ingest)} updates seen, {missed} missed, load {load:.1f}", flush=True)
    return figures


def run(
    db: Path,
    tmp: Path,
    levels: tuple[int, ...],
    window_s: float,
    refresh_s: int,
    keep: Callable[[dict[str, float]], None],
) -> None:
    """Every level against one live server on a copy of ``db``; each level's figures go to ``keep`` as it ends."""
    from playwright.sync_api import sync_playwright

    from bench.pages import MIN_CHARTS
    from tests.live import CHROMIUM, CHROMIUM_ARGS, live_server

    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy(db, tmp / "pulseboard.db")
    env = {"PULSEBOARD_AUTH": "off", "PULSEBOARD_COLLECTORS": "true", "PULSEBOARD_DEMO": "1"}
    with live_server(tmp, env=env, timeout_s=180) as server, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        url = f"{server.url}/operations?refresh={refresh_s}+s"
        pages: list[Any] = []
        value = 7000
        for level in levels:
            while len(pages) < level:
                pages.append(open_viewer(browser, url, MIN_CHARTS["operations"]))
            keep(measure(server, pages, window_s, refresh_s, value))  # a later level's failure keeps this one
            value += 1000
        browser.close()


def show(figures: dict[str, float]) -> None:
    """Print ``figures`` without recording them."""
    for name, value in figures.items():
        print(f"  {name:<32} {value:>12,.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "pulseboard-bench-pages" / "pulseboard.db"
    )
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="viewer counts, comma-separated")
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured per level (30-60)")
    parser.add_argument("--refresh", type=int, default=10, help="the Operations refresh every viewer uses, seconds")
    parser.add_argument("--no-record", action="store_true", help="print, do not merge into bench/results.json")
    args = parser.parse_args()
    from bench.pages import build_dataset, needs_building

    if needs_building(args.db):
        build_dataset(args.db)
    levels = tuple(int(n) for n in args.levels.split(","))
    run(args.db, args.db.parent / "live-viewers", levels, args.window, args.refresh, show if args.no_record else record)


if __name__ == "__main__":
    main()
