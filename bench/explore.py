"""Explore benchmark (issue #26): the Explore query path for 50 series over 24 h, and the page on a 400-series metric.

Dataset (a fresh SQLite file in the system temporary directory, removed afterwards unless --keep):

* ``bench_explore_cpu{host="h00".."h49"}``: 50 gauges scraped every 15 s for the last 48 h
  (576,000 samples: the 24 h Explore shows and the 24 h before, which its comparison card reads);
* ``bench_explore_wide{dc="dc0".."dc3", host="w000".."w399"}``: 400 gauges every 60 s for 24 h
  (576,000 samples);
* written through the ingest writer, then rolled up (1m/5m/1h) as the server's job would.

Figures:

* ``explore_query_p95_ms_50series_24h`` (and ``_p50_``) — in process, uncached (cache TTL 0), 60
  runs: what Explore asks the store for a 24 h view of the 50 series: the series
  (core.query.guard.guarded_series at max_data_points, so 5 min buckets from the 5m tier: 288 or 289 points
  a series) and the previous-period card (core.query.visible_comparison: one aggregate query);
* ``page_charts_ms_explore_400series`` — Explore run by Streamlit's AppTest on the 400-series metric at
  its default 24 h range, from pressing run to the script finished with its chart element built
  (the top 100 series, the notice and the card), query cache emptied before each run, median of 5.
  AppTest builds the chart's spec and data but no browser draws it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pages_read, record

HOUR = 3_600_000
DAY = 24 * HOUR
NARROW, WIDE = "bench_explore_cpu", "bench_explore_wide"
REPEATS = 60


def build(path: Path, now: int) -> dict[str, float]:
    """Write both metrics and roll them up; return how long that took."""
    from core.ingest.writer import write_batch
    from core.model import Sample
    from core.store.engine import make_engine
    from core.store.migrate import upgrade
    from core.store.rollup import run_rollup

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    rng = np.random.default_rng(26)
    started = time.perf_counter()
    batch: list[Sample] = []

    def add(name: str, labels: tuple[tuple[str, str], ...], stamps: np.ndarray) -> None:
        values = np.clip(40 + np.cumsum(rng.normal(0, 0.5, stamps.size)), 0, 100).round(2)
        for ts, value in zip(stamps.tolist(), values.tolist(), strict=True):
            batch.append(Sample(name, labels, value, ts, "gauge"))
            if len(batch) == 10_000:
                write_batch(engine, batch, ())
                batch.clear()

    narrow = np.arange(now - 2 * DAY - (now - 2 * DAY) % 15_000, now, 15_000)
    for i in range(50):
        add(NARROW, (("host", f"h{i:02d}"),), narrow)
    wide = np.arange(now - DAY - (now - DAY) % 60_000, now, 60_000)
    for i in range(400):
        add(WIDE, (("dc", f"dc{i % 4}"), ("host", f"w{i:03d}")), wide)
    if batch:
        write_batch(engine, batch, ())
    written = time.perf_counter() - started
    stats = run_rollup(engine, now)
    engine.dispose()
    print(f"  wrote {50 * narrow.size + 400 * wide.size:,} samples in {written:.1f} s, rollup {stats.seconds:.1f} s")
    return {"written_s": written, "rollup_s": stats.seconds}


def query_path(path: Path, now: int) -> dict[str, float]:
    """Explore's store work for 50 series × 24 h, uncached, in process."""
    from core import query
    from core.config import load_settings
    from core.query.guard import guarded_series
    from core.store.engine import make_engine

    engine = make_engine(f"sqlite:///{path}")
    settings = load_settings(query_cache_ttl_s=0, database_url=f"sqlite:///{path}")
    timings, points = [], 0
    for n in range(REPEATS + 3):
        end = now + n * 1000  # a new range each run, as a live view slides
        started = time.perf_counter()
        guarded = guarded_series(engine, NARROW, end - DAY, end, None, agg="avg", settings=settings, now_ms=end)
        card = query.visible_comparison(engine, NARROW, end - DAY, end, None, agg="avg", settings=settings, now_ms=end)
        elapsed = (time.perf_counter() - started) * 1000
        if n >= 3:  # the first runs start the SQLite read workers and warm the page cache
            timings.append(elapsed)
        points = guarded.frame.group_by("series_id").len()["len"].max()  # type: ignore[assignment]
        assert guarded.total == 50 and card.current is not None and card.previous is not None
    engine.dispose()
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    print(f"  50 series × 24 h: {points} points a series, p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms")
    return {"explore_query_p95_ms_50series_24h": p95, "explore_query_p50_ms_50series_24h": statistics.median(timings)}


def page_run(path: Path, runs: int = 5) -> dict[str, float]:
    """Explore in AppTest on the 400-series metric: run → chart built, median of ``runs``."""
    pages_read(f"sqlite:///{path}", path.parent)
    from streamlit.testing.v1 import AppTest

    from core import query
    from core.config import ROOT

    times = []
    for _ in range(runs + 1):
        at = AppTest.from_file(str(ROOT / "pages" / "explore.py"), default_timeout=120)
        at.run()
        next(s for s in at.selectbox if s.label == "Metric").set_value(WIDE)
        query.clear_cache()
        started = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - started) * 1000)
        if at.exception or at.error:
            raise RuntimeError([e.value for e in (*at.exception, *at.error)])
        charts = at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
        assert len(charts) == 1 and next(i.value for i in at.info).startswith("Showing 100 of 400 series")
    warm = times[1:]  # the first run pays the page's imports
    print(
        f"  Explore on 400 series: runs {', '.join(f'{t:.0f}' for t in times)} ms; median {statistics.median(warm):.0f}"
    )
    return {"page_charts_ms_explore_400series": statistics.median(warm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary database and print its path")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pulseboard-bench-explore-"))
    path = folder / "pulseboard.db"
    now = int(time.time() * 1000)
    try:
        build(path, now)
        figures = query_path(path, now)
        figures |= page_run(path)
        record(figures)
    finally:
        if args.keep:
            print(f"database kept at {path}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
