"""The runner and its spool: store outages lose nothing, order is kept, failures stay contained.

Outages are real: on SQLite another connection holds a write transaction on the
file; on Postgres the database stops accepting connections and ours are terminated
with pg_terminate_backend.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.runner import COLLECTORS, REPLAY_JOB, build_collectors, build_scheduler, store_unavailable
from collectors.selfstats import (
    OWN_SPECS,
    SelfStatsCollector,
    bucket_quantile,
    database_size,
    last_up_ms,
    newest_sample_ms,
    stored_specs,
)
from collectors.spool import Spool, SpoolingSink, decode, encode
from core import query, selfmetrics
from core.ingest import ingest
from core.model import Batch, Event, Sample

DOCS = Path(__file__).resolve().parent.parent / "docs" / "collectors.md"
POSTGRES_ADMIN_URL = os.environ.get("PULSEBOARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BASE_TS = 1_700_000_000_000


class Counting:
    """A collector whose n-th batch holds three samples valued n and one event."""

    def __init__(self, name: str = "counting", interval: float = 1.0) -> None:
        self.name, self.interval, self.runs = name, interval, 0

    def collect(self) -> Batch:
        self.runs += 1
        ts = BASE_TS + self.runs * 1000
        samples = tuple(Sample.of("test_runs_total", {"copy": str(c)}, self.runs, ts, "counter") for c in range(3))
        return Batch(
            samples, (Event(f"evt-{self.name}-{self.runs}", "system.test_ran", ts, "tests", {"n": self.runs}),)
        )


class Failing:
    name, interval = "failing", 0.02

    def collect(self) -> Batch:
        raise RuntimeError("source exploded")


def counter(name: str, **labels: str) -> float:
    return selfmetrics.REGISTRY.get_sample_value(name, labels) or 0.0


def stored(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        samples = connection.execute(sa.text("SELECT count(*) FROM samples")).scalar_one()
        events = connection.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
    return samples, events


@pytest.fixture
def quick_engine(engine: Engine) -> Engine:
    """``engine`` with SQLite's busy timeout cut to 50 ms, so a locked file fails fast."""
    if engine.dialect.name == "sqlite":
        engine.dispose()
        sa.event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=50"))
        with engine.connect():  # connecting runs journal-mode pragmas, which would wait out the lock at full timeout
            pass
    return engine


@contextlib.contextmanager
def store_outage(engine: Engine) -> Iterator[None]:
    """The store refuses writes until the block ends."""
    if engine.dialect.name == "sqlite":
        holder = sqlite3.connect(str(engine.url.database), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    database = engine.url.database
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
        yield
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        admin.dispose()


def recording_sink(engine: Engine, settings, delivered: list[int], retry_s: float = 0.0) -> SpoolingSink:
    def send(batch: Batch, origin: str) -> None:
        ingest(engine, batch, origin=origin, settings=settings)
        delivered.append(int(batch.samples[0].value))

    return SpoolingSink(
        send, Spool(settings.data_dir / "spool", settings.spool_max_bytes), store_unavailable, retry_s=retry_s
    )


def test_store_outage_spools_then_replays_everything_in_order(quick_engine, settings):
    engine, source, delivered = quick_engine, Counting(), []
    sink = recording_sink(engine, settings, delivered)
    scheduler = build_scheduler(settings, engine, [source], sink=sink)
    job = "collector:counting"
    origin = {"origin": job}
    written_before = counter("pulseboard_spool_written_batches_total", **origin)
    replayed_before = counter("pulseboard_spool_replayed_batches_total", **origin)

    assert scheduler.run_once(job) and scheduler.run_once(job)
    with store_outage(engine):
        for _ in range(5):
            assert scheduler.run_once(job), "an outage is not a collector failure"
        assert len(sink.spool) == 5
    assert stored(engine) == (2 * 3, 2)
    assert scheduler.run_once(job), "the store is back: backlog first, then this batch"

    assert delivered == [1, 2, 3, 4, 5, 6, 7, 8]
    assert stored(engine) == (8 * 3, 8)
    assert len(sink.spool) == 0 and sink.spool.pending() == []
    assert counter("pulseboard_spool_written_batches_total", **origin) - written_before == 6
    assert counter("pulseboard_spool_replayed_batches_total", **origin) - replayed_before == 6
    with engine.connect() as connection:
        values = connection.execute(sa.text("SELECT ts, value FROM samples ORDER BY ts")).all()
    assert sorted({(ts - BASE_TS) // 1000 for ts, _ in values}) == list(range(1, 9))
    assert all(value == (ts - BASE_TS) // 1000 for ts, value in values)


def test_default_wiring_spools_during_outage_and_replay_job_catches_up(quick_engine, settings):
    engine = quick_engine
    scheduler = build_scheduler(settings.model_copy(update={"spool_retry_s": 0.01}), engine, [Counting()])
    assert set(scheduler.status()) == {"collector:counting", REPLAY_JOB}
    with store_outage(engine):
        for _ in range(3):
            assert scheduler.run_once("collector:counting")
        assert scheduler.run_once(REPLAY_JOB), "replaying into a dead store waits, it does not fail"
    assert len(list((settings.data_dir / "spool").glob("*.jsonl"))) == 3
    time.sleep(0.02)  # past spool_retry_s, so the replay job tries again
    assert scheduler.run_once(REPLAY_JOB)
    assert stored(engine) == (9, 3)
    assert list((settings.data_dir / "spool").glob("*.jsonl")) == []


def test_batches_left_by_a_previous_run_are_replayed_at_start(engine, settings):
    leftover = Spool(settings.data_dir / "spool", settings.spool_max_bytes)
    source = Counting()
    for _ in range(4):
        leftover.put(source.collect(), "collector:counting")
    scheduler = build_scheduler(settings, engine, [])
    assert scheduler.run_once(REPLAY_JOB)
    assert stored(engine) == (12, 4)


def test_a_collector_that_raises_is_counted_backed_off_and_never_stops_the_others(engine, settings):
    good = Counting("good", 0.02)
    scheduler = build_scheduler(settings, engine, [Failing(), good])
    errors_before = counter("pulseboard_job_errors_total", job="collector:failing")
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while (good.runs < 12 or scheduler.status()["collector:failing"].errors < 2) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        scheduler.stop()
    failing = scheduler.status()["collector:failing"]
    assert good.runs >= 12 and failing.errors >= 2
    assert failing.last_error == "RuntimeError: source exploded"
    assert counter("pulseboard_job_errors_total", job="collector:failing") - errors_before == failing.errors
    assert failing.runs < good.runs, "the failing collector is retried with growing delays"
    assert stored(engine)[0] >= 12 * 3


def test_full_spool_refuses_new_batches_loudly_and_keeps_old_ones(tmp_path, caplog):
    batch = Counting().collect()
    size = len(encode(batch, "collector:counting"))
    spool = Spool(tmp_path / "spool", max_bytes=2 * size + 10)
    refused_before = counter("pulseboard_spool_refused_batches_total", origin="collector:counting")
    with caplog.at_level(logging.ERROR, logger="collectors.spool"):
        results = [spool.put(batch, "collector:counting") for _ in range(4)]
    assert results == [True, True, False, False]
    assert len(spool) == 2 and len(spool.pending()) == 2
    assert counter("pulseboard_spool_refused_batches_total", origin="collector:counting") - refused_before == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "is full" in errors[0] and "PULSEBOARD_SPOOL_MAX_BYTES" in errors[0]


def test_spool_files_are_complete_json_lines_and_crash_leftovers_are_ignored(tmp_path):
    folder = tmp_path / "spool"
    folder.mkdir()
    (folder / ".000000000007-1.jsonl.tmp").write_text('{"format": "pulseboard-spool", "vers')  # crash mid-write
    spool = Spool(folder, 1_000_000)
    assert list(folder.iterdir()) == [] and len(spool) == 0
    batch = Batch(
        (Sample.of("temp_celsius_total", {"site": "Zürich", "q": 'a "b"'}, math.inf, BASE_TS, "counter"),),
        (Event("e-1", "system.deployment", BASE_TS, "ci", {"v": [1, 2]}, {"tags": ["x"]}),),
    )
    spool.put(batch, "collector:x")
    spool.put(Counting().collect(), "collector:y")
    first, second = spool.pending()
    assert first.name < second.name and not list(folder.glob(".*"))
    assert spool.load(first) == ("collector:x", batch)
    assert Spool(folder, 1_000_000).pending() == [first, second], "a restarted process sees the same queue"
    assert decode(encode(batch, "o")) == ("o", batch)


def test_unreadable_and_unstorable_spooled_batches_are_quarantined_not_lost(engine, settings, caplog):
    spool = Spool(settings.data_dir / "spool", settings.spool_max_bytes)
    spool.put(Batch((Sample.of("bad name!", {}, 1.0, BASE_TS),)), "collector:broken")
    spool.put(Counting().collect(), "collector:counting")
    (settings.data_dir / "spool" / "000000000099-1.jsonl").write_text("not a spool file\n")
    sink = SpoolingSink(lambda b, o: ingest(engine, b, origin=o, settings=settings), spool, store_unavailable)
    with caplog.at_level(logging.ERROR, logger="collectors.spool"):
        assert sink.flush() == 1
    rejected = sorted(p.name for p in (settings.data_dir / "spool" / "rejected").iterdir())
    assert len(rejected) == 2 and "000000000099-1.jsonl" in rejected
    assert stored(engine) == (3, 1)
    assert sum("moved to" in r.getMessage() for r in caplog.records) == 2


def test_registry_builds_the_builtin_collectors_and_survives_a_broken_entry(settings, caplog):
    with caplog.at_level(logging.ERROR, logger="collectors.runner"):
        built = build_collectors(settings, None, (*COLLECTORS, "collectors.no_such_module:build"))
    assert {"system", "selfstats"} <= {c.name for c in built}
    assert any("collectors.no_such_module:build" in r.getMessage() for r in caplog.records)


def test_store_errors_are_classified():
    assert store_unavailable(sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")))
    assert store_unavailable(ConnectionRefusedError())
    assert not store_unavailable(sa.exc.IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not store_unavailable(ValueError("bad batch"))


def test_selfstats_stores_database_size_and_interval_timings(engine, settings):
    clock = [1000.0]
    stats = SelfStatsCollector(15, database_size=lambda: database_size(engine), clock=lambda: clock[0], host="h")
    assert database_size(engine) > 0
    stats.collect()
    selfmetrics.QUERY_SECONDS.labels("selfstats_test").observe(0.02)
    selfmetrics.QUERY_SECONDS.labels("selfstats_test").observe(0.2)
    clock[0] += 15
    batch = stats.collect()
    values = {(s.name, dict(s.labels).get("query")): s.value for s in batch.samples}
    assert values[("pulseboard_database_bytes", None)] == database_size(engine)
    assert values[("pulseboard_query_mean_seconds", "selfstats_test")] == pytest.approx(0.11)
    assert values[("pulseboard_query_observations_total", "selfstats_test")] >= 2
    assert ingest(engine, batch, origin="collector:selfstats", settings=settings).samples_written == len(batch.samples)
    declared = {spec.name for spec in stored_specs()}
    assert {s.name for s in batch.samples} <= declared


def test_selfstats_keeps_reporting_while_the_store_is_down(quick_engine):
    stats = SelfStatsCollector(15, database_size=lambda: database_size(quick_engine))
    with store_outage(quick_engine):
        batch = stats.collect()
    assert any(s.name == "pulseboard_spool_batches" for s in batch.samples)


@pytest.mark.parametrize(
    ("buckets", "expected"),
    [
        ([(0.1, 0), (0.5, 10), (math.inf, 10)], 0.48),
        ([(0.1, 10), (math.inf, 10)], 0.095),
        ([(0.1, 0), (math.inf, 5)], 0.1),
        ([(math.inf, 0)], None),
    ],
)
def test_p95_from_bucket_differences(buckets, expected):
    assert bucket_quantile(0.95, buckets) == (pytest.approx(expected) if expected is not None else None)


def test_every_self_metric_is_documented():
    text = DOCS.read_text()
    missing = [spec.name for spec in stored_specs() if f"`{spec.name}`" not in text]
    assert not missing, f"add to docs/collectors.md (python -m collectors docs prints the tables): {missing}"


METRICS_DOCS = DOCS.parent / "metrics.md"
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def sla(sla_id: str):
    from core.sla.definitions import DEFAULTS

    return next(d for d in DEFAULTS if d.id == sla_id)


def one_hour(engine: Engine, settings, sla_id: str, now: int):
    from core.sla.status import statuses

    query.clear_cache()  # the Postgres engine is shared by the session, and so would be cached results
    return statuses(engine, settings, [sla(sla_id)], now_ms=now)[0].compliance["1 h"]


def test_selfstats_measures_data_freshness_from_the_store_leaving_its_own_series_out(engine, settings):
    clock = [T0 / 1000]
    stats = SelfStatsCollector(15, clock=lambda: clock[0], host="h", newest_sample_ms=lambda: newest_sample_ms(engine))
    assert not [
        s for s in stats.collect().samples if s.name == "pulseboard_data_freshness_seconds"
    ]  # nothing stored yet
    ingest(
        engine,
        Batch(
            (
                Sample.of("cpu_usage_percent", {"host": "h"}, 12.0, T0 - 30_000),
                Sample.of("pulseboard_database_bytes", {"host": "h"}, 1.0, T0 - 1_000),
                Sample.of("up", {"host": "h", "job": "pulseboard"}, 1.0, T0 - 1_000),
                Sample.of("temperature_celsius", {"host": "h"}, 40.0, T0 - 20_000),
            )
        ),
        origin="test",
        settings=settings,
    )
    assert newest_sample_ms(engine) == T0 - 20_000
    for _ in range(10):  # a stale store: the newest foreign sample is 20 s old, then older
        batch = stats.collect()
        ingest(engine, batch, origin="collector:selfstats", settings=settings)
        clock[0] += 15
    ages = query.series(
        engine,
        "pulseboard_data_freshness_seconds",
        T0 - 60_000,
        T0 + 3_600_000,
        agg="last",
        settings=settings,
        now_ms=T0 + 150_000,
    )
    assert ages["value"].to_list()[:2] == [20.0, 35.0]
    stale = one_hour(engine, settings, "data_freshness", T0 + 150_001)
    assert stale.total >= 1 and stale.within_target == 0.0

    ingest(
        engine,
        Batch((Sample.of("cpu_usage_percent", {"host": "h"}, 13.0, int(clock[0] * 1000) - 2_000),)),
        origin="test",
        settings=settings,
    )
    fresh = next(s for s in stats.collect().samples if s.name == "pulseboard_data_freshness_seconds")
    assert fresh.value == pytest.approx(2.0) and dict(fresh.labels) == {"host": "h"}


def test_page_runs_become_the_page_load_series_the_sla_reads(engine, settings):
    with pytest.raises(ValueError, match="seconds"):
        selfmetrics.record_page_run("overview", -1.0)
    with pytest.raises(ValueError, match="page name"):
        selfmetrics.record_page_run(" ", 1.0)
    runs = selfmetrics.PageRuns()
    stats = SelfStatsCollector(15, clock=lambda: T0 / 1000, host="h", page_runs=runs)
    runs.record("sla_test_page", 0.4)
    runs.record("sla_test_page", 3.5)
    runs.record("sla_test_other", 0.2)
    batch = stats.collect()
    loads = {dict(s.labels)["page"]: s.value for s in batch.samples if s.name == "pulseboard_page_load_seconds"}
    assert loads == {"sla_test_page": 3.5, "sla_test_other": 0.2}  # the slowest run of each page
    assert not [
        s for s in stats.collect().samples if s.name == "pulseboard_page_load_seconds"
    ]  # drained: nothing new ran
    ingest(engine, batch, origin="collector:selfstats", settings=settings)
    result = one_hour(engine, settings, "dashboard_page_load", T0 + 1)
    assert result.total == 2 and result.within_target == pytest.approx(0.5)

    selfmetrics.record_page_run("sla_test_global", 0.25)  # the module-level function the page hook calls
    default = SelfStatsCollector(15, clock=lambda: T0 / 1000, host="h")
    assert ("sla_test_global", 0.25) in {
        (dict(s.labels)["page"], s.value) for s in default.collect().samples if s.name == "pulseboard_page_load_seconds"
    }


def test_selfstats_writes_up_for_pulseboard_and_fills_an_outage_with_zeros(engine, settings):
    clock = [T0 / 1000]
    first = SelfStatsCollector(15, clock=lambda: clock[0], host="h", last_up_ms=lambda host: last_up_ms(engine, host))
    for _ in range(4):
        batch = first.collect()
        assert [(s.value, dict(s.labels)) for s in batch.samples if s.name == "up"] == [
            (1.0, {"host": "h", "job": "pulseboard"})
        ]
        ingest(engine, batch, origin="collector:selfstats", settings=settings)
        clock[0] += 15
    assert last_up_ms(engine, "h") == T0 + 45_000
    assert last_up_ms(engine, "elsewhere") is None
    assert one_hour(engine, settings, "uptime", T0 + 60_000).availability == 1.0

    clock[0] += 600  # Pulseboard was down ten minutes, then starts again
    restarted = SelfStatsCollector(
        15, clock=lambda: clock[0], host="h", last_up_ms=lambda host: last_up_ms(engine, host)
    )
    ups = [s for s in restarted.collect().samples if s.name == "up"]
    zeros = [s for s in ups if s.value == 0.0]
    assert len(zeros) == 40 and zeros[0].ts == T0 + 60_000 and zeros[-1].ts == T0 + 645_000
    assert ups[-1].value == 1.0 and ups[-1].ts == int(clock[0] * 1000)
    ingest(engine, Batch(tuple(ups)), origin="collector:selfstats", settings=settings)
    uptime = one_hour(engine, settings, "uptime", int(clock[0] * 1000) + 1)
    assert 0.0 < uptime.availability < 0.2
    clock[0] += 15
    assert [s.value for s in restarted.collect().samples if s.name == "up"] == [1.0]  # zeros only once, at start-up


def test_own_sla_series_are_documented():
    text = METRICS_DOCS.read_text()
    missing = [spec.name for spec in OWN_SPECS if f"`{spec.name}" not in text]
    assert not missing, f"add to docs/metrics.md: {missing}"
