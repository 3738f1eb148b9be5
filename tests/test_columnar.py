"""Columnar reads (core.store.columnar): the ADBC/Arrow path and the engine's row path give the same frames.

Both paths run here for real on SQLite and Postgres (the ``engine`` fixture): the ADBC drivers
are installed, and the row path is what a store without them gets. PromQL answers are compared
between the two paths for every kind of raw read the engine makes (all samples in a range,
each step's latest sample, a rollup tier past the raw horizon).
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy.engine import Engine

from core.ingest.writer import write_batch
from core.model import Sample
from core.query import promql
from core.query.promql import evaluate
from core.store import columnar, make_engine
from core.store.rollup import RAW_HORIZON, run_rollup, write_state

NOW = 1_800_000_000_000
START = (NOW - 3 * 3_600_000) // 60_000 * 60_000
SCHEMA: dict[str, pl.DataType] = {"series_id": pl.Int64(), "ts": pl.Int64(), "value": pl.Float64()}
SQL = "SELECT series_id, ts, value FROM samples WHERE series_id IN (?, ?, ?) AND ts >= ? AND ts <= ? ORDER BY 1, 2"


def _load(engine: Engine, *, infinities: bool = True) -> list[int]:
    """Three gauges and a counter with awkward values: integers, negatives, tiny, huge, infinities.

    Ingest refuses infinities, so the rollup never meets them; written here straight to the store.
    """
    awkward = [0.0, -1.5, 1e-300, 1.7976931348623157e308, 42.0, 0.1 + 0.2]
    awkward += [math.inf, -math.inf] if infinities else [7.0, -7.0]
    samples = []
    for i in range(3 * 240):  # every 15 s for 3 hours
        t = START + i * 15_000
        samples.append(Sample.of("temp", {"room": "a"}, awkward[i % len(awkward)], t, "gauge"))
        samples.append(Sample.of("temp", {"room": "b"}, float(i % 17) - 8, t + 7_000, "gauge"))
        if i % 3:
            samples.append(Sample.of("temp", {"room": "c"}, i / 7, t, "gauge"))
        samples.append(Sample.of("hits_total", {"room": "a"}, float((i * 5) % 400), t, "counter"))
    write_batch(engine, samples, [])
    with engine.connect() as connection:
        return [row[0] for row in connection.exec_driver_sql("SELECT id FROM series ORDER BY id")]


def test_adbc_serves_both_stores(engine: Engine) -> None:
    """The drivers are pinned and installed, so neither backend silently runs the slow path in tests."""
    assert columnar.available(engine)


def test_both_paths_give_identical_frames(engine: Engine) -> None:
    ids = _load(engine)
    params = (*ids[:3], START, NOW)
    fast = columnar.fetch_adbc(engine, SQL, params, SCHEMA)
    rows = columnar.fetch_rows(engine, SQL, params, SCHEMA)
    assert fast.schema == rows.schema == pl.Schema(SCHEMA)
    assert fast.height == rows.height > 1_500
    assert fast.equals(rows)
    assert np.isinf(fast["value"].to_numpy()).sum() >= 2  # infinities survive both ways
    assert 1.7976931348623157e308 in fast["value"].to_list() and 1e-300 in fast["value"].to_list()


def test_an_empty_answer_keeps_the_schema_on_both_paths(engine: Engine) -> None:
    ids = _load(engine)
    params = (*ids[:3], NOW + 1, NOW + 2)
    fast = columnar.fetch_adbc(engine, SQL, params, SCHEMA)
    rows = columnar.fetch_rows(engine, SQL, params, SCHEMA)
    assert fast.height == rows.height == 0
    assert fast.schema == rows.schema == pl.Schema(SCHEMA)


def test_a_wrong_column_count_is_an_error_not_a_silent_frame(engine: Engine) -> None:
    _load(engine)
    with pytest.raises(ValueError, match="returned 2 columns, 3 expected"):
        columnar.fetch_adbc(engine, "SELECT series_id, ts FROM samples WHERE ts >= ?", (START,), SCHEMA)


QUERIES = [
    'temp{room="a"}',  # each step's latest sample (seek per step at a 60 s step)
    "avg(temp)",
    "sum by (room) (temp)",
    "rate(hits_total[5m])",  # every raw sample in the range
    "max_over_time(temp[10m])",
    "temp offset 7m",
]


@pytest.mark.parametrize("step_ms", [15_000, 60_000])
def test_promql_answers_the_same_through_either_path(
    engine: Engine,
    settings,
    monkeypatch: pytest.MonkeyPatch,
    step_ms: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _load(engine)
    monkeypatch.setattr(columnar, "SMALL_READ_ROWS", 0)  # these answers are small: make them use ADBC too
    start, end = START + 600_000, START + 2 * 3_600_000
    answers = {}
    for path in ("adbc", "rows"):
        if path == "rows":
            monkeypatch.setattr(columnar, "available", lambda _engine: False)
        answers[path] = [
            evaluate(engine, query, start, end, step_ms, settings=settings, now_ms=NOW) for query in QUERIES
        ]
        if path == "adbc":  # every read really went through ADBC, none fell back on a driver error
            assert not [r for r in caplog.records if r.name == columnar.__name__], caplog.text
    for query, fast, rows in zip(QUERIES, answers["adbc"], answers["rows"], strict=True):
        assert fast.labels == rows.labels, query
        assert fast.present.any(), query
        np.testing.assert_array_equal(fast.present, rows.present, err_msg=query)
        np.testing.assert_array_equal(fast.values[fast.present], rows.values[rows.present], err_msg=query)


def test_rollup_tier_reads_match_too(engine: Engine, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _load(engine, infinities=False)
    run_rollup(engine)
    with engine.begin() as connection:
        write_state(connection, RAW_HORIZON, NOW)
        connection.exec_driver_sql("DELETE FROM samples")
    at = START + 2 * 3_600_000
    fast = evaluate(engine, "temp", at - 3_600_000, at, 60_000, settings=settings, now_ms=NOW)
    monkeypatch.setattr(columnar, "available", lambda _engine: False)
    rows = evaluate(engine, "temp", at - 3_600_000, at, 60_000, settings=settings, now_ms=NOW)
    assert fast.present.sum() > 100  # type: ignore[union-attr]
    np.testing.assert_array_equal(fast.values, rows.values)  # type: ignore[union-attr]


def test_concurrent_readers_each_get_their_own_connection(engine: Engine) -> None:
    ids = _load(engine)
    params = (*ids[:3], START, NOW)
    expected = columnar.fetch_rows(engine, SQL, params, SCHEMA)
    results: list[pl.DataFrame] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(5):
                results.append(columnar.fetch_adbc(engine, SQL, params, SCHEMA))
        except BaseException as error:  # reported by the assert below
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 40
    assert all(result.equals(expected) for result in results)
    if engine.dialect.name == "postgresql":  # SQLite reads run in the worker processes, not in this pool
        idle = [len(pool) for pool in columnar._pools.values()]
        assert idle and max(idle) <= columnar.POOL_SIZE


def test_close_all_empties_the_pools(engine: Engine) -> None:
    ids = _load(engine)
    columnar.fetch_adbc(engine, SQL, (*ids[:3], START, NOW), SCHEMA)
    if engine.dialect.name == "postgresql":
        assert columnar._pools
    columnar.close_all()
    assert not columnar._pools
    assert columnar.fetch_adbc(engine, SQL, (*ids[:3], START, NOW), SCHEMA).height > 0  # opens afresh


def test_a_killed_worker_is_replaced(sqlite_engine: Engine) -> None:
    ids = _load(sqlite_engine)
    expected = columnar.fetch_rows(sqlite_engine, SQL, (*ids[:3], START, NOW), SCHEMA)
    columnar.fetch_adbc(sqlite_engine, SQL, (*ids[:3], START, NOW), SCHEMA)
    for pid in columnar.worker_pids():
        os.kill(pid, signal.SIGKILL)  # as the out-of-memory killer would
    for _ in range(columnar.SQLITE_WORKERS):  # each dead worker fails one read, which the engine then answers
        assert columnar.fetch(sqlite_engine, SQL, (*ids[:3], START, NOW), SCHEMA).equals(expected)
    assert columnar.fetch_adbc(sqlite_engine, SQL, (*ids[:3], START, NOW), SCHEMA).equals(expected)  # new workers


def test_sqlite_reads_run_in_a_worker_process_not_beside_pythons_sqlite(sqlite_engine: Engine) -> None:
    """The driver's own SQLite copy must not share this process's POSIX locks (see core.store.sqlite_reader)."""
    ids = _load(sqlite_engine)
    columnar.fetch_adbc(sqlite_engine, SQL, (*ids[:3], START, NOW), SCHEMA)
    with columnar._sqlite_worker() as worker:
        assert worker.ask(("pid",)) == worker.process.pid != os.getpid()
    assert "adbc_driver_sqlite.dbapi" not in sys.modules  # never loaded here


def test_a_failing_query_reports_the_workers_error_and_keeps_the_worker(sqlite_engine: Engine) -> None:
    _load(sqlite_engine)
    assert columnar.fetch_adbc(sqlite_engine, "SELECT 1 WHERE 1 > ?", (0,), {"a": pl.Int64()}).item() == 1
    before = set(columnar.worker_pids())
    with pytest.raises(RuntimeError, match="no such table: nowhere"):
        columnar.fetch_adbc(sqlite_engine, "SELECT 1 FROM nowhere WHERE 1 > ?", (0,), {"a": pl.Int64()})
    assert columnar.fetch_adbc(sqlite_engine, "SELECT 1 WHERE 1 > ?", (0,), {"a": pl.Int64()}).item() == 1
    assert before and set(columnar.worker_pids()) == before  # the same workers: none was replaced


def test_sqlite_stores_adbc_cannot_serve_use_the_engine(tmp_path: Path) -> None:
    memory = make_engine("sqlite://")
    assert not columnar.available(memory)
    assert columnar.fetch(memory, "SELECT ?, ?", (1, 2.5), {"a": pl.Int64(), "b": pl.Float64()}).row(0) == (1, 2.5)
    missing = make_engine(f"sqlite:///{tmp_path / 'not-yet.db'}")
    assert not columnar.available(missing)  # the engine creates the file with its pragmas, not ADBC


def test_a_replaced_sqlite_file_is_read_afresh(tmp_path: Path) -> None:
    """A store file replaced under the same name (a restore) is not read through a pooled handle to the old one."""
    path = tmp_path / "store.db"
    for value in (1.0, 2.0):
        fresh = make_engine(f"sqlite:///{tmp_path / f'v{value}.db'}")
        with fresh.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (v REAL NOT NULL)")
            connection.exec_driver_sql(f"INSERT INTO t VALUES ({value})")
        fresh.dispose()
        shutil.copy(tmp_path / f"v{value}.db", tmp_path / "incoming.db")
        (tmp_path / "incoming.db").replace(path)
        engine = make_engine(f"sqlite:///{path}")
        assert columnar.fetch_adbc(engine, "SELECT v FROM t WHERE v > ?", (0,), {"v": pl.Float64()}).item() == value
        engine.dispose()


def test_postgres_placeholders_are_numbered_in_order() -> None:
    assert columnar._numbered("a IN (?, ?) AND ts >= ?") == "a IN ($1, $2) AND ts >= $3"


def test_the_primary_key_serves_the_range_read(engine: Engine) -> None:
    """``(series_id, ts)`` is the samples table's key (clustered on SQLite: WITHOUT ROWID): a range read seeks it."""
    ids = _load(engine)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1]) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + SQL, (*ids[:3], START, NOW))
            )
            assert "SEARCH samples USING PRIMARY KEY (series_id=? AND ts>? AND ts<?)" in plan
            assert "TEMP B-TREE" not in plan  # rows come out in key order, no sort
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")  # a tiny table would be scanned anyway
            sql = SQL.replace("?", "%s")
            plan = " ".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + sql, (*ids[:3], START, NOW)))
            assert "samples_pkey" in plan


def test_the_promql_read_binds_its_ids_and_times(engine: Engine) -> None:
    """No value is formatted into the SQL text: ids and times are parameters (one prepared shape per id count)."""
    captured: list[tuple[str, tuple]] = []
    original = columnar.fetch

    def spy(engine_, sql, params, schema, **options):
        captured.append((sql, tuple(params)))
        return original(engine_, sql, params, schema, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columnar, "fetch", spy)
        promql._fetch_latest(engine, [11, 12], 1_000_000, 1_120_000, 60_000)
        promql._fetch(engine, "SELECT series_id, ts, value FROM samples WHERE series_id IN (?) AND ts >= ?", (7, 5))
    for sql, params in captured:
        assert "11" not in sql and "1000000" not in sql and "1120000" not in sql
        assert sql.count("?") == len(params)


def test_rows_out_of_key_order_are_sorted_and_ordered_ones_kept() -> None:
    rows = pl.DataFrame({"series_id": [2, 1, 1], "ts": [5, 3, 1], "value": [0.5, 0.3, 0.1]})
    assert promql._in_key_order(rows).rows() == [(1, 1, 0.1), (1, 3, 0.3), (2, 5, 0.5)]
    ordered = rows.sort("series_id", "ts")
    assert promql._in_key_order(ordered) is ordered


@pytest.mark.parametrize("agg", ["avg", "max", "last", "count"])
def test_chart_series_reads_match_through_either_path(
    engine: Engine,
    settings,
    monkeypatch: pytest.MonkeyPatch,
    agg: str,
) -> None:
    """core.query.series (pages, API, alert rules) reads raw samples and rollup rows the same way."""
    from core import query

    _load(engine, infinities=False)
    run_rollup(engine)
    answers = []
    for path in ("adbc", "rows"):
        if path == "rows":
            monkeypatch.setattr(columnar, "available", lambda _engine: False)
        query.clear_cache()
        answers.append(
            query.series(engine, "temp", START, START + 3 * 3_600_000, agg=agg, settings=settings, now_ms=NOW)  # type: ignore[arg-type]
        )
    fast, rows = answers
    assert fast.height > 100
    assert fast.equals(rows)


def test_workers_exit_when_their_process_is_killed(tmp_path: Path) -> None:
    """A server that dies without cleaning up (SIGKILL, OOM) leaves no read workers behind: their stdin closes."""
    import subprocess

    script = (
        "import os, sys\n"
        "from core.store import columnar\n"
        "with columnar._sqlite_worker() as worker:\n"
        "    print(worker.ask(('pid',)), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    worker = int(done.stdout.split()[0])
    for _ in range(300):  # a loaded machine may take a while to run the worker's exit
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail(f"read worker {worker} outlived its parent")


def test_a_store_adbc_keeps_failing_on_is_read_through_the_engine(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A DSN psycopg accepts but the ADBC driver does not must not cost a failed attempt on every read."""
    ids = _load(engine)
    expected = columnar.fetch_rows(engine, SQL, (*ids[:3], START, NOW), SCHEMA)
    calls = []

    def refused(*args: object) -> pl.DataFrame:
        calls.append(args)
        raise RuntimeError("driver refuses this store")

    monkeypatch.setattr(columnar, "fetch_adbc", refused)
    monkeypatch.setattr(columnar, "_failures", {})  # this test's count only: the Postgres store is shared
    for _ in range(columnar.MAX_FAILURES + 3):
        assert columnar.fetch(engine, SQL, (*ids[:3], START, NOW), SCHEMA).equals(expected)
    assert len(calls) == columnar.MAX_FAILURES
    assert not columnar.available(engine)
    assert "for good now" in caplog.text
    columnar._failures.clear()  # a restarted server tries again
    assert columnar.available(engine)


def test_answers_known_to_be_small_skip_adbc(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """One series' latest sample per step (1,441 rows for a day at 1 minute) costs less than a worker hop."""
    ids = _load(engine)

    def refused(*args: object) -> pl.DataFrame:
        raise AssertionError("a small answer went through ADBC")

    monkeypatch.setattr(columnar, "fetch_adbc", refused)
    small = columnar.fetch(engine, SQL, (*ids[:3], START, NOW), SCHEMA, at_most_rows=columnar.SMALL_READ_ROWS)
    assert small.equals(columnar.fetch_rows(engine, SQL, (*ids[:3], START, NOW), SCHEMA))
    rows = promql._fetch_latest(engine, ids[:1], START + 600_000, START + 3_600_000, 60_000)
    assert rows.height == 51


def test_reads_of_many_series_split_across_readers_give_the_same_answers(
    engine: Engine, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve series with gaps: every query answers the same read in one statement or in runs side by side."""
    samples = []
    for s in range(12):
        for i in range(3 * 240):  # every 15 s for 3 hours, a gap of 2.5-8 minutes every 40
            if (i + 7 * s) % 160 >= 10 + 2 * s:
                samples.append(Sample.of("load", {"host": f"h{s:02d}"}, float((i * (s + 3)) % 23), START + i * 15_000))
    write_batch(engine, samples, [])
    calls: list[int] = []
    original = columnar.fetch

    def counted(*args, **options):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(*args, **options)

    monkeypatch.setattr(columnar, "fetch", counted)
    monkeypatch.setattr(columnar, "SMALL_READ_ROWS", 100)  # these reads count as large, as a day's would
    queries = [("avg(load)", 60_000), ("load", 120_000), ("sum(rate(load[5m]))", 60_000), ("max(load)", 15_000)]
    for query, step in queries:
        answers = []
        for least in (10**6, promql.PARALLEL_MIN_SERIES):  # one statement, then the split
            monkeypatch.setattr(promql, "PARALLEL_MIN_SERIES", least)
            calls.clear()
            answers.append(evaluate(engine, query, START + 3_600_000, NOW, step, settings=settings, now_ms=NOW))
            reads = len(calls)
        assert reads == columnar.READERS, query  # the split did happen
        one, split = answers
        assert one.labels == split.labels and np.array_equal(one.present, split.present), query
        assert np.array_equal(np.where(one.present, one.values, 0), np.where(split.present, split.values, 0)), query
        if query == "load":
            assert 0 < one.present.sum() < one.present.size  # the longer gaps leave steps empty
