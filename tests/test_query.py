"""The query layer: tier choice, values per tier, helpers, cache, and SQLite/Postgres agreement."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import numpy as np
import polars as pl
import pytest
from sqlalchemy.engine import Engine

from core import query, selfmetrics
from core.config import load_settings
from core.ingest.writer import write_batch
from core.model import Event, Sample
from core.query.cache import TTLCache
from core.store import schema
from core.store.rollup import run_rollup

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
NOW = 498_611 * HOUR  # hour-aligned, in 2026
SETTINGS = load_settings()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    query.clear_cache()
    yield
    query.clear_cache()


@pytest.mark.parametrize(
    ("span", "tier"),
    [
        (HOUR, "raw"),
        (5 * HOUR - MIN, "raw"),
        (5 * HOUR, "1m"),  # 300 one-minute points
        (6 * HOUR, "1m"),
        (24 * HOUR, "1m"),  # 5m would give 288 < 300
        (25 * HOUR, "5m"),
        (7 * DAY, "5m"),
        (12 * DAY, "5m"),
        (12 * DAY + 12 * HOUR, "1h"),
        (30 * DAY, "1h"),
        (90 * DAY, "1h"),
    ],
)
def test_recent_ranges_pick_the_coarsest_tier_with_300_points(span: int, tier: str) -> None:
    assert query.plan(NOW - span, NOW, NOW, SETTINGS).tier == tier


@pytest.mark.parametrize(
    ("span", "tier", "step"),
    [
        (HOUR, "raw", 5_000),  # 3.6 s a point at 1,000 points: 5 s buckets of raw samples
        (6 * HOUR, "raw", 30_000),
        (12 * HOUR, "1m", MIN),  # 43.2 s: the 1m tier's minute (720 points)
        (24 * HOUR, "5m", 5 * MIN),  # 86.5 s: rounded up to the 5m tier's bucket (288 points)
        (3 * DAY, "5m", 5 * MIN),  # 864 points
        (4 * DAY, "1h", HOUR),  # 346 s: 1 h (96 points)
        (7 * DAY, "1h", HOUR),
        (30 * DAY, "1h", HOUR),
        (90 * DAY, "1h", 3 * HOUR),
    ],
)
def test_a_chart_takes_the_step_of_its_max_points_and_the_coarsest_tier_serving_it(
    span: int, tier: str, step: int
) -> None:
    planned = query.plan(NOW - span, NOW, NOW, SETTINGS, max_points=SETTINGS.max_data_points)
    assert (planned.tier, planned.step_ms) == (tier, step)
    assert span // step < SETTINGS.max_data_points
    with pytest.raises(ValueError, match="max_points must be at least 2"):
        query.plan(NOW - DAY, NOW, NOW, SETTINGS, max_points=1)


@pytest.mark.parametrize("agg", ["avg", "max"])
def test_a_chart_of_24_h_reads_at_most_its_max_points_per_series(engine: Engine, agg: str) -> None:
    _tiered_store(engine)
    frame = query.series(
        engine,
        'probe_value{host="a"}',
        NOW - DAY,
        NOW,
        agg=agg,
        now_ms=NOW,
        settings=SETTINGS,
        max_points=100,  # type: ignore[arg-type]
    )
    assert frame.height == 24  # 864 s a point: the 1h tier's hour
    assert set(frame["value"].to_list()) <= {4.0, 1.0}  # 1h rows, and the raw tail


@pytest.mark.parametrize(
    ("start_ago", "span", "tier"),
    [
        (3 * DAY, HOUR, "1m"),  # raw is gone after 24 h
        (10 * DAY, DAY, "5m"),  # 1m is gone after 7 d
        (60 * DAY, 5 * DAY, "1h"),  # 5m is gone after 30 d
        (500 * DAY, HOUR, "1h"),  # nothing keeps it; the coarsest is the best guess
    ],
)
def test_ranges_past_a_tiers_retention_fall_back_to_a_coarser_one(start_ago: int, span: int, tier: str) -> None:
    assert query.plan(NOW - start_ago, NOW - start_ago + span, NOW, SETTINGS).tier == tier


def test_explicit_step_takes_the_coarsest_tier_dividing_it() -> None:
    assert query.plan(NOW - DAY, NOW, NOW, SETTINGS, step_ms=10 * MIN) == query.QueryPlan(
        "5m", 10 * MIN, NOW - DAY, NOW, NOW - 10 * MIN
    )
    assert query.plan(NOW - DAY, NOW, NOW, SETTINGS, step_ms=90_000).tier == "raw"
    assert query.plan(NOW - 10 * DAY, NOW - 9 * DAY, NOW, SETTINGS, step_ms=MIN).step_ms == 5 * MIN  # rounded up


def _tiered_store(engine: Engine) -> int:
    """One series whose value says where it came from: raw 1, 1m 2, 5m 3, 1h 4."""
    write_batch(engine, [Sample("probe_value", (("host", "a"),), 1.0, ts) for ts in range(NOW - DAY, NOW, 30_000)], ())
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM rollup_dirty")
        sid = connection.exec_driver_sql("SELECT id FROM series").scalar_one()
        for value, (tier, step, days) in enumerate((("1m", MIN, 7), ("5m", 5 * MIN, 30), ("1h", HOUR, 400)), start=2):
            connection.execute(
                schema.ROLLUP_TABLES[tier].insert(),
                [
                    {
                        "series_id": sid,
                        "bucket": b,
                        "count": 2,
                        "sum": 2.0 * value,
                        "min": value,
                        "max": value,
                        "last": value,
                        "last_ts": b,
                    }
                    for b in range(NOW - days * DAY, NOW, step)
                ],
            )
    return int(sid)


@pytest.mark.parametrize(
    ("start_ago", "span", "value", "points"),
    [
        (HOUR, HOUR, 1.0, 120),
        (DAY, DAY, 2.0, 1440),
        (7 * DAY, 7 * DAY, 3.0, 2016),
        (30 * DAY, 30 * DAY, 4.0, 720),
        (90 * DAY, 90 * DAY, 4.0, 2160),
        (3 * DAY, HOUR, 2.0, 60),
    ],
)
def test_series_reads_the_planned_tier(engine: Engine, start_ago: int, span: int, value: float, points: int) -> None:
    _tiered_store(engine)
    frame = query.series(
        engine, 'probe_value{host="a"}', NOW - start_ago, NOW - start_ago + span, now_ms=NOW, settings=SETTINGS
    )
    qplan = query.plan(NOW - start_ago, NOW - start_ago + span, NOW, SETTINGS)
    tail = qplan.tail_from_ms or NOW
    body = frame.filter(pl.col("ts").dt.epoch("ms") < tail)
    assert frame.height == points
    assert body["value"].unique().to_list() == [value]
    assert frame.filter(pl.col("ts").dt.epoch("ms") >= tail)["value"].unique().to_list() in (
        [],
        [1.0],
    )  # fresh tail from raw


def test_aggregations_and_the_raw_tail(engine: Engine) -> None:
    values = [3.0, -1.0, 4.0, 1.5]  # one minute, four samples
    start = NOW - 10 * MIN
    write_batch(engine, [Sample("m", (), v, start + i * 15_000) for i, v in enumerate(values)], ())
    write_batch(engine, [Sample("m", (), 9.0, NOW - 20_000)], ())  # newer than the last rollup run
    run_rollup(engine)
    write_batch(engine, [Sample("m", (), 11.0, NOW - 10_000)], ())  # not rolled up yet: comes from the tail
    want = {"avg": 1.875, "min": -1.0, "max": 4.0, "sum": 7.5, "count": 4.0, "last": 1.5}
    for agg, expected in want.items():
        frame = query.series(engine, "m", NOW - 6 * HOUR, NOW, agg=agg, now_ms=NOW, settings=SETTINGS)  # type: ignore[arg-type]
        assert frame["value"][0] == expected, agg
        assert (
            frame["value"][-1] == {"avg": 10.0, "min": 9.0, "max": 11.0, "sum": 20.0, "count": 2.0, "last": 11.0}[agg]
        )
    with pytest.raises(ValueError, match="unknown aggregation"):
        query.series(engine, "m", NOW - HOUR, NOW, agg="median", now_ms=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("span", [HOUR, 2 * DAY])
def test_counter_rate_handles_resets(engine: Engine, span: int) -> None:
    start = NOW - span
    counter, points = 0.0, []
    for i, ts in enumerate(range(start, NOW, 10_000)):
        counter = 0.0 if i == 200 else counter + 5.0  # a reset
        points.append(Sample("requests_total", (("job", "api"),), counter, ts))
    write_batch(engine, points, ())
    run_rollup(engine)
    frame = query.rate(engine, "requests_total", start, NOW, now_ms=NOW, settings=SETTINGS)
    assert frame.height > 50
    assert frame["value"].min() >= 0.0 and frame["value"].max() == pytest.approx(0.5)
    assert frame["value"].median() == pytest.approx(0.5)


def test_event_duration_percentiles(engine: Engine) -> None:
    events = [
        Event(
            f"e{i}",
            "workflow.quality_gate_executed",
            NOW - HOUR + i * 1000,
            "qms",
            {"agent_id": f"ag{i % 2}", "metrics": {"execution_time": float(i)}},
        )
        for i in range(1, 101)
    ]
    events.append(Event("other", "system.deployment", NOW - HOUR, "ci", {"metrics": {"execution_time": 1e9}}))
    write_batch(engine, [], events)
    frame = query.event_percentiles(engine, "workflow.*", "metrics.execution_time", NOW - DAY, NOW, settings=SETTINGS)
    assert frame.row(0, named=True) == pytest.approx(
        {"count": 100, "p50": 50.5, "p90": 90.1, "p95": 95.05, "p99": 99.01}
    )
    by_agent = query.event_percentiles(
        engine,
        "workflow.quality_gate_executed",
        "metrics.execution_time",
        NOW - DAY,
        NOW,
        by="agent_id",
        settings=SETTINGS,
    )
    assert by_agent["agent_id"].to_list() == ["ag0", "ag1"] and by_agent["count"].to_list() == [50, 50]


def _frame() -> pl.DataFrame:
    rows = []
    for host, env, base in (("a", "prod", 1.0), ("b", "prod", 10.0), ("c", "dev", 100.0)):
        for minute in range(3):
            rows.append((minute * MIN, f'm{{host="{host}"}}', f'{{"env":"{env}","host":"{host}"}}', base + minute))
    frame = pl.DataFrame(rows, schema=["ts", "series", "labels", "value"], orient="row")
    return frame.with_columns(
        pl.col("ts").cast(pl.Datetime("ms", "UTC")), pl.col("series").rank("dense").cast(pl.Int64).alias("series_id")
    )


def test_group_by_label_top_k_and_summary_are_pure_frame_operations() -> None:
    frame = _frame()
    grouped = query.group_by_label(frame, ["env"], agg="sum")
    assert grouped.filter(pl.col("env") == "prod")["value"].to_list() == [11.0, 13.0, 15.0]
    assert set(grouped["series"]) == {"env=prod", "env=dev"}
    assert query.top_k(frame, 1)["series"].unique().to_list() == ['m{host="c"}']
    assert query.top_k(frame, 2, largest=False)["series"].unique().sort().to_list() == ['m{host="a"}', 'm{host="b"}']
    assert query.summarize(frame, "max")["value"].to_list() == [102.0, 12.0, 3.0]


def test_comparison_with_the_previous_period(engine: Engine) -> None:
    write_batch(
        engine, [Sample("q", (), 100.0 if ts < NOW - DAY else 112.0, ts) for ts in range(NOW - 2 * DAY, NOW, MIN)], ()
    )
    run_rollup(engine)
    comparison = query.compare_previous(engine, "q", NOW - DAY, NOW, now_ms=NOW, settings=SETTINGS)
    assert comparison.change_pct == pytest.approx(12.0)
    assert comparison.text == "↑ 12% vs yesterday"
    assert query.Comparison(95.0, 100.0, 7 * DAY).text == "↓ 5% vs last week"
    assert query.Comparison(1.0, None, HOUR).text == "no data vs previous hour"


def test_discovery_lists_names_and_label_values(engine: Engine) -> None:
    write_batch(
        engine,
        [Sample("b_metric", (("env", e), ("host", h)), 1.0, NOW) for e in ("dev", "prod") for h in ("x", "y")]
        + [Sample("a_metric", (), 1.0, NOW)],
        (),
    )
    assert query.metric_names(engine) == ["a_metric", "b_metric"]
    assert query.label_values(engine, "b_metric") == {"env": ["dev", "prod"], "host": ["x", "y"]}
    assert query.find_series(engine, 'b_metric{env="prod", host!~"y"}')["series"].to_list() == [
        'b_metric{env="prod", host="x"}'
    ]


def test_cache_computes_once_for_concurrent_viewers_and_expires() -> None:
    now = [0.0]
    cache = TTLCache(max_entries=2, clock=lambda: now[0])
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.05)
        return len(calls)

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", 10, slow))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [1] * 8 and len(calls) == 1
    now[0] = 11.0
    assert cache.get("k", 10, slow) == 2
    cache.get("x", 10, lambda: 0)
    cache.get("y", 10, lambda: 0)
    assert cache.get("k", 10, slow) == 3  # evicted: at most two entries


def test_cache_sweeps_expired_entries_and_keeps_under_its_byte_bound() -> None:
    now = [0.0]
    cache = TTLCache(max_entries=1_000, max_bytes=10 * 80_000, clock=lambda: now[0])
    frame = pl.DataFrame({"v": np.arange(10_000, dtype=np.float64)})  # 80 kB
    for n in range(50):  # a live panel: a new range bucket every 2 s, 10 s TTL
        cache.get(("panel", n), 10, lambda: frame.clone())
        now[0] += 2.0
    assert len(cache) <= 6  # what is older than 10 s has gone, not only what the count pushes out
    assert cache.size_bytes == sum(80_000 for _ in range(len(cache)))
    for n in range(50):  # all within the TTL: the byte bound holds, least recently used first
        cache.get(("burst", n), 3_600, lambda: frame.clone())
    assert cache.size_bytes <= 10 * 80_000 and len(cache) == 10
    assert cache.get(("burst", 49), 3_600, lambda: pl.DataFrame()).height == 10_000  # the newest stayed
    huge = pl.DataFrame({"v": np.zeros(200_000)})
    assert cache.get("huge", 3_600, lambda: huge).height == 200_000  # served, but bigger than the cache: not kept
    assert cache.size_bytes <= 10 * 80_000


def test_series_results_are_shared_within_the_ttl(engine: Engine) -> None:
    write_batch(engine, [Sample("c", (), 1.0, NOW - MIN)], ())
    first = query.series(engine, "c", NOW - HOUR, NOW, now_ms=NOW, settings=SETTINGS)
    write_batch(engine, [Sample("c", (), 2.0, NOW - 2 * MIN)], ())
    shared = query.series(engine, "c", NOW - HOUR + 1, NOW - 1, now_ms=NOW - 1, settings=SETTINGS)  # same range bucket
    assert shared.equals(first) and shared.height == 1
    fresh = query.series(engine, "c", NOW - HOUR, NOW, now_ms=NOW, settings=load_settings(query_cache_ttl_s=0))
    assert fresh.height == 2


def test_sqlite_and_postgres_return_identical_results(sqlite_engine: Engine, pg_engine: Engine) -> None:
    rng = random.Random(7)
    points = [
        Sample("load", (("host", h),), round(rng.uniform(0, 100), 3), NOW - rng.randrange(0, 2 * DAY // 1000) * 1000)
        for h in ("a", "b", "c")
        for _ in range(3000)
    ]
    frames = []
    for engine in (sqlite_engine, pg_engine):
        write_batch(engine, points, ())
        run_rollup(engine)
        query.clear_cache()
        per_engine = []
        for span in (HOUR, DAY, 2 * DAY):
            for agg in query.AGGS:
                per_engine.append(
                    query.series(
                        engine, 'load{host=~"a|b"}', NOW - span, NOW, agg=agg, now_ms=NOW, settings=SETTINGS
                    ).drop("series_id")
                )
        per_engine.append(query.rate(engine, "load", NOW - DAY, NOW, now_ms=NOW, settings=SETTINGS).drop("series_id"))
        frames.append(per_engine)
    for on_sqlite, on_postgres in zip(*frames, strict=True):
        assert on_sqlite.height > 0
        assert on_sqlite.equals(on_postgres) or on_sqlite.with_columns(pl.col("value").round(9)).equals(
            on_postgres.with_columns(pl.col("value").round(9))
        )


def _query_count(kind: str) -> float:
    return selfmetrics.REGISTRY.get_sample_value("pulseboard_query_seconds_count", {"query": kind}) or 0.0


def test_store_reads_are_timed_by_query_kind_and_cache_hits_are_not(engine: Engine) -> None:
    write_batch(engine, [Sample("timed", (("selector_text", "x"),), 1.0, NOW - MIN)], ())
    series_before, rate_before = _query_count("series"), _query_count("rate")
    query.series(engine, 'timed{selector_text="x"}', NOW - HOUR, NOW, now_ms=NOW, settings=SETTINGS)
    assert _query_count("series") == series_before + 1
    query.series(engine, 'timed{selector_text="x"}', NOW - HOUR, NOW, now_ms=NOW, settings=SETTINGS)  # a cache hit
    assert _query_count("series") == series_before + 1
    query.rate(engine, "timed", NOW - HOUR, NOW, now_ms=NOW, settings=SETTINGS)
    assert _query_count("rate") == rate_before + 1
    labels = {
        sample.labels["query"]
        for family in selfmetrics.REGISTRY.collect()
        if family.name == "pulseboard_query_seconds"
        for sample in family.samples
    }
    assert not any("timed" in label for label in labels)  # the selector never becomes a label


def test_sqlite_and_postgres_agree_on_the_5m_and_1h_tiers_and_event_percentiles(
    sqlite_engine: Engine, pg_engine: Engine
) -> None:
    rng = random.Random(11)
    span = 20 * DAY  # past the 5m tier's 14 days: read from the 1h tier
    assert query.plan(NOW - span, NOW, NOW, SETTINGS).tier == "1h"
    assert query.plan(NOW - 7 * DAY, NOW, NOW, SETTINGS).tier == "5m"
    points = [
        Sample("load", (("host", h),), round(rng.uniform(0, 100), 3), NOW - rng.randrange(1, span // 1000) * 1000)
        for h in ("a", "b", "c")
        for _ in range(3000)
    ]
    counter = [
        Sample("jobs_total", (("job", "x"),), float(i * 3 if i != 700 else 0), NOW - span + i * 1_200_000)
        for i in range(1440)
    ]
    events = [
        Event(
            f"gate-{i}",
            "workflow.quality_gate_executed",
            NOW - rng.randrange(1, span // 1000) * 1000,
            "qms",
            {"agent_id": f"ag{i % 3}", "metrics": {"execution_time": round(rng.expovariate(1 / 40), 3)}},
        )
        for i in range(600)
    ]
    frames = []
    for engine in (sqlite_engine, pg_engine):
        write_batch(engine, points + counter, events)
        run_rollup(engine)
        query.clear_cache()
        per_engine = []
        for days in (7, 20):
            for agg in query.AGGS:
                per_engine.append(
                    query.series(
                        engine, 'load{host=~"a|b"}', NOW - days * DAY, NOW, agg=agg, now_ms=NOW, settings=SETTINGS
                    ).drop("series_id")
                )
            per_engine.append(
                query.rate(engine, "jobs_total", NOW - days * DAY, NOW, now_ms=NOW, settings=SETTINGS).drop("series_id")
            )
            for by in (None, "agent_id"):
                per_engine.append(
                    query.event_percentiles(
                        engine,
                        "workflow.quality_gate_*",
                        "metrics.execution_time",
                        NOW - days * DAY,
                        NOW,
                        by=by,
                        settings=SETTINGS,
                    )
                )
        frames.append(per_engine)
    for on_sqlite, on_postgres in zip(*frames, strict=True):
        assert on_sqlite.height > 0
        assert on_sqlite.columns == on_postgres.columns
        numeric = [c for c, t in on_sqlite.schema.items() if t.is_float()]
        assert on_sqlite.with_columns(pl.col(numeric).round(9)).equals(
            on_postgres.with_columns(pl.col(numeric).round(9))
        )
    hourly = frames[0][len(query.AGGS) + 3]  # the first 20-day series: one row per hour bucket and series
    assert hourly.height > 300 and (hourly["ts"].dt.epoch("ms") % HOUR == 0).all()
