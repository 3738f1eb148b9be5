"""The database collector against a real Postgres server and real SQLite files.

Postgres tests use a database of this module's own on the test server (so its slow
queries and lock waits are only the ones a test makes); conditions that take a
moment to show (a query becoming slow, a session waiting on a lock, counters being
published) are polled for, never waited for with a fixed sleep.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from collectors.database import SPECS, DatabaseCollector, WatchedDatabase, build
from collectors.runner import build_collectors
from core.config import ROOT, ConfigError, load_settings
from core.ingest import ingest
from core.model import Batch
from core.store.engine import make_engine
from tests.conftest import POSTGRES_ADMIN_URL

PASSWORD = "Pw-n0t-f0r-logs"
DECLARED = {spec.name for spec in SPECS}


class Clock:
    """A clock the test moves, so rates have a known elapsed time."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def values(batch: Batch) -> dict[str, float]:
    """Sample values by name (a collector's samples share one label set, ``up`` aside)."""
    assert {s.name for s in batch.samples} <= DECLARED
    return {s.name: s.value for s in batch.samples}


def poll(collect: Callable[[], Batch], until: Callable[[dict[str, float]], bool], what: str, timeout: float = 10.0):
    """Collect until ``until`` holds for the readings; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = values(collect())
        if until(found):
            return found
        assert time.monotonic() < deadline, f"{what} not seen within {timeout} s; last readings {found}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def pg_url(postgres_url: str) -> Iterator[str]:
    """URL of a Postgres database of this module's own (postgres_url skips, or fails in CI, without a server)."""
    name = f"pulseboard_dbwatch_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    """The module's database as a store engine (the pool the collector uses for Pulseboard's own store)."""
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def side(pg_url: str) -> Iterator[Engine]:
    """Another client of the module's database, one real session per connect()."""
    engine = sa.create_engine(pg_url, poolclass=NullPool)
    yield engine
    engine.dispose()


def pg_collector(engine: Engine, **options: object) -> DatabaseCollector:
    return DatabaseCollector(WatchedDatabase(engine.url), engine=engine, **options)  # type: ignore[arg-type]


# --- Postgres -----------------------------------------------------------------------------------------------------


def test_postgres_connections_limit_and_size_are_the_servers(pg):
    collector = pg_collector(pg)
    with pg.connect() as held:
        max_connections = int(held.exec_driver_sql("SHOW max_connections").scalar_one())
        size = int(held.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())
        batch = collector.collect()
    found = values(batch)
    assert found["up"] == 1
    assert found["db_connections_used"] >= 2  # the held connection and the collector's own
    assert found["db_connections_max"] == max_connections
    assert found["db_connection_pool_used_percent"] == pytest.approx(
        100 * found["db_connections_used"] / max_connections
    )
    assert found["db_size_bytes"] == size > 0
    assert found["db_slow_queries"] == found["db_longest_query_seconds"] == found["db_lock_waiting_sessions"] == 0
    assert "db_transactions_per_second" not in found  # a rate needs two collections
    labels = {dict(s.labels)["database"] for s in batch.samples}
    assert labels == {pg.url.database} and collector.name == f"database:postgresql:{pg.url.database}"


def test_postgres_size_grows_after_inserting_data(pg, side):
    collector = pg_collector(pg)
    with side.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS growth (id serial PRIMARY KEY, body text)")
    before = values(collector.collect())["db_size_bytes"]
    with side.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO growth (body) SELECT repeat(md5(g::text), 8) FROM generate_series(1, 5000) g"
        )
    after = values(collector.collect())["db_size_bytes"]
    assert after > before + 5000 * 256 * 0.9  # 5000 rows of 256 characters


def test_transactions_per_second_count_commits_between_two_collections(pg, side):
    clock = Clock()
    collector = pg_collector(pg, clock=clock)
    values(collector.collect())
    committed = 25
    with side.connect() as connection:  # one session; closing it makes Postgres publish its counters
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS ticks (n int)")
        connection.commit()
        for n in range(committed - 1):
            connection.exec_driver_sql(f"INSERT INTO ticks VALUES ({n})")
            connection.commit()
    counted = 0.0
    seen: dict[str, float] = {}

    def tick() -> Batch:
        clock.now += 1.0  # each collection is one second after the last, so a rate is the count itself
        return collector.collect()

    def enough(found: dict[str, float]) -> bool:
        nonlocal counted
        counted += found.get("db_transactions_per_second", 0.0)
        seen.update(found)
        return counted >= committed

    poll(tick, enough, f"{committed} committed transactions")
    assert seen["db_transactions_per_second"] > 0
    assert 0 <= seen["db_cache_hit_percent"] <= 100  # the inserts touched blocks
    assert math.isfinite(seen["db_query_duration_seconds"]) and seen["db_query_duration_seconds"] >= 0  # PG >= 14


def test_a_long_query_in_another_session_is_slow(pg, side):
    collector = pg_collector(pg, slow_query_s=0.2)
    pids: list[int] = []
    outcome: list[BaseException] = []

    def sleep() -> None:
        with side.connect() as connection:
            pids.append(int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()))
            try:
                connection.exec_driver_sql("SELECT pg_sleep(30)")
            except sa.exc.DBAPIError as error:  # cancelled below
                outcome.append(error)

    sleeper = threading.Thread(target=sleep)
    sleeper.start()
    try:
        found = poll(collector.collect, lambda f: f["db_slow_queries"] >= 1, "pg_sleep counted as a slow query")
        assert found["db_longest_query_seconds"] >= 0.2
    finally:
        deadline = time.monotonic() + 10
        while not pids and time.monotonic() < deadline:
            time.sleep(0.01)
        with side.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_cancel_backend({pids[0]})")
        sleeper.join(10)
    assert outcome and not sleeper.is_alive()
    assert poll(collector.collect, lambda f: f["db_slow_queries"] == 0, "the cancelled query gone")["up"] == 1


def test_a_session_waiting_on_a_lock_is_counted(pg, side):
    collector = pg_collector(pg)
    with side.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS locked (n int)")

    def wait_for_the_lock() -> None:
        with side.connect() as connection:
            connection.exec_driver_sql("SELECT * FROM locked")

    with side.connect() as holder:
        holder.exec_driver_sql("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")  # until the rollback below
        waiter = threading.Thread(target=wait_for_the_lock)
        waiter.start()
        try:
            poll(collector.collect, lambda f: f["db_lock_waiting_sessions"] >= 1, "a session waiting on the lock")
        finally:
            holder.rollback()
            waiter.join(10)
    assert not waiter.is_alive()
    assert values(collector.collect())["db_lock_waiting_sessions"] == 0


def test_password_is_in_no_label_and_no_log(pg_url, caplog):
    with_password = sa.engine.make_url(pg_url).set(password=PASSWORD)
    unreachable = with_password.set(host="127.0.0.1", port=1, database="gone")
    settings = load_settings(
        db_watch_store=False,
        db_watch_urls=[u.render_as_string(hide_password=False) for u in (with_password, unreachable)],
    )
    collectors = build(settings, None)
    assert [c.name for c in collectors] == [f"database:postgresql:{with_password.database}", "database:postgresql:gone"]
    with caplog.at_level(logging.DEBUG, logger="collectors.database"):
        reachable, down = (c.collect() for c in collectors)
        down_again = collectors[1].collect()
    assert values(reachable)["up"] == 1 and values(down) == values(down_again) == {"up": 0.0}
    labels = [value for batch in (reachable, down) for s in batch.samples for _, value in s.labels]
    assert PASSWORD not in " ".join(labels)
    assert PASSWORD not in caplog.text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "a database that stays down is warned about once"
    assert "database gone" in warnings[0] and "127.0.0.1:1" in warnings[0] and "***" in warnings[0]


def test_a_bad_watch_url_stops_start_up_without_showing_its_password(monkeypatch):
    monkeypatch.setenv("PULSEBOARD_DB_WATCH_URLS", f'["mysql://u:{PASSWORD}@h/db"]')
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "PULSEBOARD_DB_WATCH_URLS" in str(error.value) and "must start with sqlite:///" in str(error.value)
    assert PASSWORD not in str(error.value)
    monkeypatch.setenv("PULSEBOARD_DB_WATCH_URLS", f'["postgresql://u:{PASSWORD}@h:notaport/db"]')
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "not a valid database URL" in str(error.value) and PASSWORD not in str(error.value)
    monkeypatch.setenv("PULSEBOARD_DB_WATCH_URLS", '["postgresql://u@h/db", "sqlite:///data/x.db"]')
    assert load_settings().db_watch_urls == ["postgresql+psycopg://u@h/db", "sqlite:///data/x.db"]


# --- SQLite -------------------------------------------------------------------------------------------------------


def test_sqlite_store_sizes_match_the_files_and_grow(sqlite_engine):
    path = Path(sqlite_engine.url.database)
    collector = DatabaseCollector(WatchedDatabase(sqlite_engine.url), engine=sqlite_engine)

    def pragma(name: str) -> int:
        with sqlite_engine.connect() as connection:
            return int(connection.exec_driver_sql(f"PRAGMA {name}").scalar_one())

    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE growth (body TEXT)")
    before = values(collector.collect())
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
            "INSERT INTO growth SELECT hex(randomblob(128)) FROM n"
        )
    after = values(collector.collect())
    assert after["up"] == 1
    assert after["db_size_bytes"] == os.stat(path).st_size > 0
    assert after["db_wal_size_bytes"] == os.stat(f"{path}-wal").st_size > 0  # the store runs in WAL mode
    assert after["db_pages"] == pragma("page_count") > before["db_pages"]
    assert after["db_freelist_pages"] == pragma("freelist_count")
    assert after["db_size_bytes"] + after["db_wal_size_bytes"] > before["db_size_bytes"] + before["db_wal_size_bytes"]
    with sqlite_engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpointed = values(collector.collect())
    assert checkpointed["db_size_bytes"] == os.stat(path).st_size > after["db_size_bytes"]
    assert checkpointed["db_wal_size_bytes"] == os.stat(f"{path}-wal").st_size == 0


def test_sqlite_store_pool_use_is_the_apps_pool(sqlite_engine):
    collector = DatabaseCollector(WatchedDatabase(sqlite_engine.url), engine=sqlite_engine)
    capacity = sqlite_engine.pool.size() + 10  # make_engine keeps SQLAlchemy's default max_overflow of 10
    assert values(collector.collect())["db_connection_pool_used_percent"] == 0
    with sqlite_engine.connect(), sqlite_engine.connect():
        assert values(collector.collect())["db_connection_pool_used_percent"] == pytest.approx(100 * 2 / capacity)


def test_a_watched_sqlite_file_is_read_only(tmp_path, caplog):
    path = tmp_path / "other.db"
    settings = load_settings(db_watch_store=False, db_watch_urls=[f"sqlite:///{path}"])
    (collector,) = build(settings, None)
    with caplog.at_level(logging.INFO, logger="collectors.database"):
        assert values(collector.collect()) == {"up": 0.0}  # missing: not created
    assert not path.exists()
    assert "database other.db" in caplog.text and "No such file" in caplog.text
    with sqlite3.connect(path) as connection:  # a rollback-journal database of another program
        connection.execute("CREATE TABLE t (x)")
        connection.execute("INSERT INTO t VALUES (1)")
    connection.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="collectors.database"):
        found = values(collector.collect())
    assert "can be read again" in caplog.text
    assert found["up"] == 1 and found["db_size_bytes"] == path.stat().st_size and found["db_wal_size_bytes"] == 0
    assert "db_connection_pool_used_percent" not in found  # another program's pool cannot be seen
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    connection.close()
    assert not Path(f"{path}-wal").exists()


# --- both stores, wiring, docs ------------------------------------------------------------------------------------


def test_the_store_is_watched_by_default_and_its_batches_are_stored(engine, settings):
    (collector,) = build(settings, engine)
    assert collector.interval == settings.db_interval_s == 15.0
    assert collector.name in {c.name for c in build_collectors(settings, engine)}
    batch = collector.collect()
    found = values(batch)
    assert found["up"] == 1 and found["db_size_bytes"] > 0 and "db_connection_pool_used_percent" in found
    assert ingest(engine, batch, origin=f"collector:{collector.name}", settings=settings).samples_written == len(
        batch.samples
    )
    assert build(settings.model_copy(update={"db_watch_store": False}), engine) == []
    assert build(settings, None) == []  # the push agent has no store


def test_each_database_is_watched_once_and_label_clashes_are_refused(sqlite_engine, tmp_path, caplog):
    store = sqlite_engine.url.database
    elsewhere = tmp_path / "elsewhere" / Path(store).name
    settings = load_settings(db_watch_urls=[f"sqlite:///{store}", f"sqlite:///{elsewhere}", "sqlite:///data/a.db"])
    with caplog.at_level(logging.INFO, logger="collectors.database"):
        built = build(settings, sqlite_engine)
    assert [c.name for c in built] == [f"database:sqlite:{Path(store).name}", "database:sqlite:a.db"]
    assert "db_connection_pool_used_percent" in values(built[0].collect())  # the store keeps its pool figure
    assert built[1].target.path == ROOT / "data" / "a.db"  # relative paths are under the project folder
    assert "listed twice" in caplog.text
    assert "would share the labels" in caplog.text and str(elsewhere) in caplog.text


def test_every_metric_is_documented_as_generated():
    generated = subprocess.run(
        [sys.executable, "-m", "collectors", "docs"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    section = generated[generated.index("### Database collector") : generated.index("### Self metrics")]
    assert section.strip() in (ROOT / "docs" / "collectors.md").read_text(), "paste `python -m collectors docs`"
