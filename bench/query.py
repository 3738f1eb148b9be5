"""Time-series engine benchmark: rollup throughput, query latency per range, bytes per raw sample.

Dataset (a fresh SQLite file in the system temporary directory, removed afterwards unless --keep):

* 50 series ``bench_cpu_percent{host="h00".."h49", env="prod"|"dev"}`` (kind gauge);
* raw samples every 10 s for the last 24 h: 50 × 8,640 = 432,000 samples, written
  through the ingest writer in batches of 5,000 (so rollup bookkeeping is exercised);
* the rollup job then builds 1m/5m/1h buckets for those 24 h (this run is timed);
* older history as the tiers would hold it after retention: 1m buckets for days 1–7,
  5m for days 1–30, 1h for days 1–90 before the raw window (written directly).

Queries end "now" and are run uncached (cache TTL 0), 30 times each, for one series
(``host="h00"``) and for 20 series (``host=~"h0.|h1."``): 1 h, 24 h, 7 d, 30 d, 90 d.
Prints a table and merges the figures into bench/results.json.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import record  # type: ignore[import-not-found]

from core import query
from core.config import load_settings
from core.ingest.writer import write_batch
from core.model import Sample, now_ms
from core.store.engine import make_engine
from core.store.migrate import upgrade
from core.store.rollup import TIER_MS, run_rollup, upsert_buckets

SERIES = 50
RAW_STEP_MS = 10_000
DAY = 86_400_000
HISTORY_DAYS = {"1m": 7, "5m": 30, "1h": 90}
RANGES = {"1h": 3_600_000, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}
REPEATS = 30


def build(engine, now: int) -> dict[str, float]:
    rng = np.random.default_rng(42)
    raw_start = now - DAY
    stamps = np.arange(raw_start - raw_start % RAW_STEP_MS, now, RAW_STEP_MS)
    batch: list[Sample] = []
    started = time.perf_counter()
    for i in range(SERIES):
        labels = (("env", "prod" if i % 2 else "dev"), ("host", f"h{i:02d}"))
        values = np.clip(40 + np.cumsum(rng.normal(0, 0.5, stamps.size)), 0, 100).round(2)
        for ts, value in zip(stamps.tolist(), values.tolist(), strict=True):
            batch.append(Sample("bench_cpu_percent", labels, value, ts, "gauge"))
            if len(batch) == 5_000:
                write_batch(engine, batch, ())
                batch = []
    if batch:
        write_batch(engine, batch, ())
    ingest_s = time.perf_counter() - started
    raw_samples = SERIES * stamps.size

    stats = run_rollup(engine)
    figures = {
        "rollup_samples_per_s": stats.raw_samples / stats.seconds,
        "raw_samples": float(raw_samples),
        "ingest_s": ingest_s,
    }

    with engine.begin() as connection:
        sids = [r[0] for r in connection.exec_driver_sql("SELECT id FROM series ORDER BY id")]
        for tier, days in HISTORY_DAYS.items():
            step = TIER_MS[tier]
            end = raw_start - raw_start % step
            buckets = np.arange(end - days * DAY, end, step)
            per = int(step // RAW_STEP_MS)
            for sid in sids:
                avg = np.clip(40 + np.cumsum(rng.normal(0, 0.3, buckets.size)), 0, 100)
                frame = pl.DataFrame(
                    {
                        "series_id": sid,
                        "bucket": buckets,
                        "count": per,
                        "sum": avg * per,
                        "min": avg - rng.uniform(0, 5, buckets.size),
                        "max": avg + rng.uniform(0, 5, buckets.size),
                        "last": avg,
                        "last_ts": buckets + step - RAW_STEP_MS,
                    }
                )
                upsert_buckets(connection, tier, frame)
    return figures


def sizes(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        rows["_rows_samples"] = db.execute("SELECT count(*) FROM samples").fetchone()[0]
    return rows


def time_queries(engine, now: int) -> dict[str, dict[str, float]]:
    settings = load_settings(query_cache_ttl_s=0)
    selectors = {"1": 'bench_cpu_percent{host="h00"}', "20": 'bench_cpu_percent{host=~"h0.|h1."}'}
    out: dict[str, dict[str, float]] = {}
    for count, selector in selectors.items():
        for name, span in RANGES.items():
            timings, points, tier = [], 0, ""
            for _ in range(REPEATS):
                started = time.perf_counter()
                frame = query.series(engine, selector, now - span, now, settings=settings, now_ms=now)
                timings.append((time.perf_counter() - started) * 1000)
                points = frame.height
            tier = query.plan(now - span, now, now, settings).tier
            timings.sort()
            out[f"{count}:{name}"] = {
                "p50": statistics.median(timings),
                "p95": timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))],
                "points": points,
                "tier": tier,  # type: ignore[dict-item]
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary database and print its path")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pulseboard-bench-query-"))
    path = folder / "bench.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    now = now_ms()
    try:
        built = build(engine, now)
        size = sizes(path)
        timings = time_queries(engine, now)
    finally:
        engine.dispose()
    raw_rows = size["_rows_samples"]
    figures = {
        "rollup_samples_per_s": built["rollup_samples_per_s"],
        "bytes_per_raw_sample": size.get("samples", 0) / raw_rows,
    }
    print(f"\nDataset: {SERIES} series; raw every 10 s for 24 h = {raw_rows:,} samples; 1m 7 d, 5m 30 d, 1h 90 d\n")
    print(f"{'figure':<34}{'value':>14}  target")
    print(f"{'rollup_samples_per_s':<34}{built['rollup_samples_per_s']:>14,.0f}  report")
    print(f"{'bytes_per_raw_sample':<34}{figures['bytes_per_raw_sample']:>14.1f}  <= 40")
    total = path.stat().st_size
    print(f"{'(database file bytes, all tiers)':<34}{total:>14,}")
    for table in ("samples", "samples_1m", "samples_5m", "samples_1h"):
        print(f"{'  ' + table + ' bytes':<34}{size.get(table, 0):>14,}")
    print(f"\n{'query':<10}{'series':>7}{'tier':>6}{'points':>9}{'p50 ms':>9}{'p95 ms':>9}  target p95 <= 150")
    for key, row in timings.items():
        count, name = key.split(":")
        print(f"{name:<10}{count:>7}{row['tier']:>6}{int(row['points']):>9}{row['p50']:>9.1f}{row['p95']:>9.1f}")
        prefix = "query" if count == "1" else "query20"
        figures[f"{prefix}_p95_ms_{name}"] = row["p95"]
        figures[f"{prefix}_p50_ms_{name}"] = row["p50"]
    record(figures)
    if args.keep:
        print(f"database kept at {path}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
