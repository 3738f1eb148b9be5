"""Live migration metrics and resource use, worked out by hand: throughput, failed records, operation time and
memory against the range before; the processes using the most CPU and memory; and both read from a real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest

from core.model import Event, Sample
from core.programmes.migration_live import live_metrics, series_points
from core.programmes.migration_resources import consumers, host_use, top

MIN, HOUR = 60_000, 3_600_000
T0 = int(datetime(2025, 3, 3, 9, tzinfo=UTC).timestamp() * 1000)
STEP = 15 * MIN


def events(*rows: tuple[str, int, dict]) -> pl.DataFrame:
    return pl.DataFrame(
        [(f"e{n}", kind, ts, "t", json.dumps(data)) for n, (kind, ts, data) in enumerate(rows)],
        schema={"id": pl.String, "type": pl.String, "ts": pl.Int64, "source": pl.String, "data": pl.String},
        orient="row",
    )


def result(*rows: tuple[int, dict, float]) -> pl.DataFrame:
    """Rows shaped like a core.query.series result."""
    return pl.DataFrame(
        [(ts, n, "s", json.dumps(labels), value) for n, (ts, labels, value) in enumerate(rows)],
        schema={"ts": pl.Int64, "series_id": pl.Int64, "series": pl.String, "labels": pl.String, "value": pl.Float64},
        orient="row",
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"))


def batch(ts: int, **data: float) -> tuple[str, int, dict]:
    return ("migration.batch_completed", ts, data)


def timed(ts: int, system: str, seconds: float) -> tuple[str, int, dict]:
    return ("migration.operation_timed", ts, {"operation": "register", "system": system, "duration_s": seconds})


ACTIVITY = events(
    batch(T0 - 30 * MIN, records=450, succeeded=450, failed=0),  # the range before
    batch(T0 + 1 * MIN, records=600, succeeded=594, failed=6),
    batch(T0 + 20 * MIN, succeeded=297, failed=3),  # no records field: succeeded + failed = 300
    timed(T0 - 10 * MIN, "new", 1.5),  # the range before
    timed(T0 + 5 * MIN, "new", 2.0),
    timed(T0 + 5 * MIN, "old", 5.0),
    timed(T0 + 10 * MIN, "NEW", 4.0),  # the system is read case-blind
    timed(T0 + 50 * MIN, "new", 3.0),
    timed(T0 + 50 * MIN, "beta", 99.0),  # neither old nor new: not a timing of the migration
)
NO_SERIES = series_points(pl.DataFrame())
MEMORY = pl.DataFrame(
    {"ts": [T0 - 30 * MIN, T0, T0 + 30 * MIN], "value": [3e9, 6e9, 5e9]}  # host sums: (4 + 2) GB, then 5 GB
)


def test_live_metrics_by_hand():
    live = live_metrics(ACTIVITY, NO_SERIES, MEMORY, start_ms=T0, end_ms=T0 + HOUR, step_ms=STEP)
    # 600 + 300 records in 3,600 s = 0.25 records/s; the hour before: 450 / 3,600 = 0.125 → +100 %
    assert live.throughput.value == pytest.approx(0.25) and live.throughput.previous == pytest.approx(0.125)
    assert live.throughput.change_pct == pytest.approx(100.0)
    # per 15-minute bucket: 600 / 900 s, 300 / 900 s, then two buckets without a batch: a true 0
    assert live.throughput.trend["value"].to_list() == pytest.approx([2 / 3, 1 / 3, 0.0, 0.0])
    assert live.throughput.trend["ts"].dt.epoch("ms").to_list() == [T0, T0 + STEP, T0 + 2 * STEP, T0 + 3 * STEP]
    # 6 + 3 failed records in 60 minutes = 0.15 per minute; none before: a previous of 0 gives no change %
    assert live.failures.value == pytest.approx(0.15) and live.failures.previous == 0.0
    assert live.failures.change_pct is None
    assert live.failures.trend["value"].to_list() == pytest.approx([0.4, 0.2, 0.0, 0.0])  # 6 / 15 min, 3 / 15 min
    # the new system's timings 2, 4, 3 s: median 3; before, 1.5 → +100 %
    assert live.latency.value == 3.0 and live.latency.previous == 1.5 and live.latency_source == "events"
    assert live.latency.trend["value"].to_list() == [3.0, 3.0]  # median(2, 4) in the first bucket, 3 in the last
    by_system = live.latency_by_system.select(pl.col("ts").dt.epoch("ms"), "series", "value").rows()
    assert by_system == [(T0, "new", 3.0), (T0, "old", 5.0), (T0 + 3 * STEP, "new", 3.0)]
    # memory: the mean of the host sums in the range, (6 + 5) / 2 GB; before, 3 GB
    assert live.memory.value == 5.5e9 and live.memory.previous == 3e9
    assert live.has_data


def test_operation_time_falls_back_to_the_old_new_series_and_nothing_is_no_value():
    series = series_points(
        result((T0 + MIN, {"system": "new"}, 0.2), (T0 + 2 * MIN, {"system": "new"}, 0.4), (T0, {"system": "old"}, 1))
    )
    batches_only = ACTIVITY.filter(pl.col("type") == "migration.batch_completed")
    live = live_metrics(batches_only, series, MEMORY.clear(), start_ms=T0, end_ms=T0 + HOUR, step_ms=STEP)
    assert live.latency_source == "series" and live.latency.value == pytest.approx(0.3)  # median(0.2, 0.4)
    assert live.latency.previous is None and live.memory.value is None and live.memory.trend.is_empty()
    empty = live_metrics(ACTIVITY.clear(), NO_SERIES, MEMORY.clear(), start_ms=T0, end_ms=T0 + HOUR, step_ms=STEP)
    assert not empty.has_data and [m.value for m in empty.metrics] == [None] * 4  # no made-up zeros
    assert empty.throughput.trend.is_empty()


def test_a_short_last_bucket_divides_by_the_time_it_covers():
    """A range of 20 minutes in 15-minute buckets: the last covers 5 minutes; 60 records in it are 0.2 records/s."""
    activity = events(batch(T0 + 16 * MIN, records=60, succeeded=60, failed=0))
    live = live_metrics(activity, NO_SERIES, MEMORY.clear(), start_ms=T0, end_ms=T0 + 20 * MIN, step_ms=STEP)
    assert live.throughput.trend["value"].to_list() == pytest.approx([0.0, 0.2])
    assert live.throughput.value == pytest.approx(60 / 1200)


CPU = result(
    (T0, {"host": "a", "name": "worker", "pid": "1"}, 50.0),
    (T0, {"host": "a", "name": "worker", "pid": "2"}, 30.0),  # the same process name: added per bucket
    (T0 + MIN, {"host": "a", "name": "worker", "pid": "1"}, 70.0),
    (T0, {"host": "a", "name": "postgres", "pid": "9"}, 90.0),
)
RSS = result(
    (T0, {"host": "a", "name": "worker", "pid": "1"}, 100e6),
    (T0, {"host": "a", "name": "postgres", "pid": "9"}, 500e6),
    (T0 + MIN, {"host": "a", "name": "postgres", "pid": "9"}, 300e6),
)


def test_top_consumers_by_hand():
    table = consumers(CPU, RSS)
    # worker: buckets 50 + 30 = 80 and 70 → mean 75, peak 80, two pids; postgres: 90, memory (500 + 300) / 2 MB
    assert table.select("process", "cpu_mean", "cpu_peak", "memory_mean", "memory_peak", "pids").rows() == [
        ("postgres", 90.0, 90.0, 400e6, 500e6, 1),
        ("worker", 75.0, 80.0, 100e6, 100e6, 2),
    ]
    assert top(table, "memory_mean", 1)["process"].to_list() == ["postgres"]
    assert consumers(CPU.clear(), RSS.clear()).is_empty()
    memory_only = consumers(CPU.clear(), RSS)
    assert memory_only["cpu_mean"].null_count() == 2 and top(memory_only, "cpu_mean").is_empty()


def test_host_use_is_the_mean_over_hosts_per_bucket_then_over_the_range():
    """Bucket 1: hosts at 20 and 40 % → 30; bucket 2: one host at 60 % → 60. Mean (30 + 60) / 2 = 45, peak 60."""
    use = host_use(result((T0, {"host": "a"}, 20.0), (T0, {"host": "b"}, 40.0), (T0 + MIN, {"host": "a"}, 60.0)))
    assert (use.mean, use.peak, use.hosts) == (45.0, 60.0, 2) and use.trend["value"].to_list() == [30.0, 60.0]
    nothing = host_use(result())
    assert (nothing.mean, nothing.peak, nothing.hosts) == (None, None, 0) and nothing.trend.is_empty()


def test_live_metrics_and_resources_read_from_the_store(engine, tmp_path):
    """The same figures through the store (SQLite and Postgres): events through the migration's event read,
    memory and processes through core.query."""
    from core.config import load_settings
    from core.ingest.writer import write_batch
    from core.model import now_ms
    from core.programmes.migration_store import load_live, load_resources
    from core.store.rollup import run_rollup

    shift = (now_ms() - 3 * HOUR) // HOUR * HOUR - T0  # recent, so the query reads the raw tier
    t0 = T0 + shift
    rows = json.loads(ACTIVITY.write_json())
    write_batch(engine, [], [Event(r["id"], r["type"], r["ts"] + shift, "t", json.loads(r["data"])) for r in rows])
    samples = [
        Sample.of("system_memory_used_bytes", {"host": "a"}, 4e9, t0),
        Sample.of("system_memory_used_bytes", {"host": "b"}, 2e9, t0),
        Sample.of("system_memory_used_bytes", {"host": "a"}, 5e9, t0 + 30 * MIN),
        Sample.of("system_memory_used_bytes", {"host": "a"}, 3e9, t0 - 30 * MIN),
        Sample.of("process_cpu_percent", {"host": "a", "name": "postgres", "pid": "9"}, 90.0, t0),
        Sample.of("process_resident_bytes", {"host": "a", "name": "postgres", "pid": "9"}, 500e6, t0),
    ]
    write_batch(engine, samples, [])
    run_rollup(engine, t0 + 2 * HOUR)
    settings = load_settings(
        database_url=engine.url.render_as_string(hide_password=False), data_dir=tmp_path, demo=False, collectors=False
    ).model_copy(update={"query_cache_ttl_s": 0.0})
    live = load_live(engine, start_ms=t0, end_ms=t0 + HOUR, step_ms=STEP, plan=None, settings=settings)
    assert live.throughput.value == pytest.approx(0.25) and live.latency.value == 3.0
    assert live.memory.value == 5.5e9 and live.memory.previous == 3e9
    used = load_resources(engine, start_ms=t0, end_ms=t0 + HOUR, step_ms=STEP, settings=settings)
    assert used.consumers.select("process", "cpu_mean", "memory_mean").rows() == [("postgres", 90.0, 500e6)]
    assert used.cpu.mean is None and used.memory.hosts == 0  # no host CPU or memory % series were written
