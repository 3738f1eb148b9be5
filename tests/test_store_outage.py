"""Store outages in-process, on real stores: what each failure is called, the API backlog, the banner, the self-alert.

Every failure here is produced for real — a second connection holding SQLite's write lock or a
Postgres table lock, a file the file system refuses to write (chmod; ``chattr +i`` for root, whom
mode bits do not stop), SQLite's own "database or disk is full", a Postgres session in read-only
mode, a port nothing listens on — and classified by core.store.outage as the API and the pages
see it. The live-server modules (tests/test_store_outage_live_*.py) prove the HTTP contract.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from core.alerts import store as alert_store
from core.alerts.engine import evaluate_all
from core.alerts.rules import load_yaml
from core.config import ROOT, Settings
from core.ingest import BatchRejected, ingest
from core.ingest.backlog import Backlog, backlog_for
from core.model import Batch, Event, Sample
from core.store import schema
from core.store.engine import make_engine
from core.store.outage import HEALTH, describe_outage, store_label
from tests.alert_support import T0, alert_settings, feed
from tests.live import free_port
from tests.store_faults import unwritable

TS = 1_767_225_600_000


def outage_of(action) -> str | None:
    """The condition ``action()``'s exception is classified as (None: not an outage); fails if nothing raised."""
    try:
        action()
    except Exception as error:
        found = describe_outage(error)
        return None if found is None else found.condition
    raise AssertionError("the action did not fail")


@contextlib.contextmanager
def store_lock(engine: Engine) -> Iterator[None]:
    """Another session holds the lock writers need: SQLite's write lock, or Postgres' lock on the samples table."""
    if engine.dialect.name == "sqlite":
        holder = sqlite3.connect(str(engine.url.database), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.exec_driver_sql("LOCK TABLE samples IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            transaction.rollback()


def one(name: str, ts: int = TS, value: float = 1.0) -> Batch:
    return Batch((Sample.of(name, {"k": "v"}, value, ts),))


def values(engine: Engine, name: str) -> list[float]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(schema.samples.c.value)
            .join(schema.series, schema.series.c.id == schema.samples.c.series_id)
            .where(schema.series.c.name == name)
        )
        return [float(v) for (v,) in rows]


def wait_for(condition, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """The test's settings with a 0.2 s API lock timeout and a fast replay."""
    return settings.model_copy(update={"api_store_timeout_s": 0.2, "spool_retry_s": 0.05})


# --- what each failure is called ---------------------------------------------------------------------------------


def test_sqlite_failures_are_named_by_their_result_code(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = Path(str(sqlite_engine.url.database))
    quick = make_engine(str(sqlite_engine.url), lock_timeout_s=0.1)
    with store_lock(sqlite_engine):
        assert outage_of(lambda: ingest(quick, one("locked_total"))) == "locked"

    full = sqlite3.connect(str(path), isolation_level=None)
    pages = full.execute("PRAGMA page_count").fetchone()[0]
    full.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own "database or disk is full", on this connection
    assert outage_of(lambda: full.execute("CREATE TABLE filler AS SELECT randomblob(1000000) AS x")) == "disk_full"
    full.close()

    copy = tmp_path / "copy.db"
    shutil.copy(path, copy)
    with unwritable(copy):
        opened = sqlite3.connect(str(copy))
        assert outage_of(lambda: opened.execute("CREATE TABLE more (x)")) == "read_only"
        opened.close()

    folder = make_engine(f"sqlite:///{tmp_path}")  # a folder where the file should be
    assert outage_of(lambda: folder.connect()) == "unreachable"
    assert outage_of(lambda: sqlite_engine.connect().exec_driver_sql("SELECT * FROM no_such_table")) is None

    def lease() -> None:
        with sqlite_engine.begin() as connection:
            connection.execute(sa.insert(schema.job_leases).values(job="j", owner="h", expires_ms=1))

    lease()
    assert outage_of(lease) is None, "a constraint is a bug or bad data, never 'try later'"


def test_a_store_file_made_read_only_is_read_only_for_connections_opened_before(sqlite_engine: Engine) -> None:
    """SQLite reuses a process's open descriptors; the engine asks the file system at each checkout instead."""
    ingest(sqlite_engine, one("before_total"))  # the pool now holds a connection opened for writing
    with unwritable(Path(str(sqlite_engine.url.database))):
        assert outage_of(lambda: ingest(sqlite_engine, one("during_total"))) == "read_only"
        assert values(sqlite_engine, "before_total") == [1.0], "still readable"
    ingest(sqlite_engine, one("after_total"))
    assert values(sqlite_engine, "during_total") == [] and values(sqlite_engine, "after_total") == [1.0]


def test_postgres_failures_are_named_by_their_sqlstate(pg_engine: Engine) -> None:
    port = free_port()  # nothing listens there
    stopped = make_engine(f"postgresql+psycopg://pulse:s3cret-pw@127.0.0.1:{port}/pulseboard", lock_timeout_s=0.5)
    started = time.perf_counter()
    try:
        stopped.connect()
    except sa.exc.OperationalError as error:
        found = describe_outage(error)
    assert time.perf_counter() - started < 2.0
    assert found is not None and found.condition == "unreachable" and "Connection refused" in found.detail
    assert "s3cret" not in found.detail and "s3cret" not in store_label(str(stopped.url))
    stopped.dispose()

    def read_only_insert() -> None:
        with pg_engine.begin() as connection:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")  # what a standby or a read-only database does
            connection.execute(sa.insert(schema.job_leases).values(job="j", owner="h", expires_ms=1))

    assert outage_of(read_only_insert) == "read_only"
    quick = make_engine(pg_engine.url.render_as_string(hide_password=False), lock_timeout_s=0.2)
    with store_lock(pg_engine):
        started = time.perf_counter()
        assert outage_of(lambda: ingest(quick, one("pg_locked_total"))) == "locked"
        assert time.perf_counter() - started < 2.0
    quick.dispose()
    assert outage_of(lambda: pg_engine.connect().exec_driver_sql("SELECT * FROM no_such_table")) is None


# --- the API's backlog ------------------------------------------------------------------------------------------


def test_backlog_spools_during_a_lock_keeps_order_and_replays_once(engine: Engine, quick: Settings) -> None:
    backlog = Backlog(quick)
    try:
        assert backlog.submit(one("order_total", value=1.0)).status == "stored"
        with store_lock(engine):
            first = backlog.submit(one("order_total", value=2.0))
            assert first.status == "spooled" and first.outage is not None and first.outage.condition == "locked"
            assert backlog.submit(one("order_total", value=2.0)).status == "duplicate"
            with pytest.raises(BatchRejected):
                backlog.submit(Batch((Sample.of("bad name", {}, 1.0, TS),)))  # invalid: refused, never kept
            assert len(backlog) == 1
        correction = backlog.submit(one("order_total", value=3.0))  # store back, backlog waiting: queues behind it
        assert correction.status == "spooled"
        wait_for(lambda: len(backlog) == 0)
        assert values(engine, "order_total") == [3.0], "replayed in order: the correction was not overwritten"
        assert HEALTH.current is None
    finally:
        backlog.stop()


def test_a_batch_replayed_twice_after_a_crash_is_stored_once(engine: Engine, quick: Settings) -> None:
    events = (Event("crash-e1", "system.test", TS, "tests", {"n": 1}),)
    batch = Batch(tuple(Sample.of("crash_total", {"n": str(i)}, i, TS + i) for i in range(3)), events)
    backlog = Backlog(quick)
    with store_lock(engine):
        assert backlog.submit(batch).status == "spooled"
    backlog.stop()  # no replay thread: this test replays by hand
    (spooled,) = backlog.spool.pending()
    kept = spooled.read_bytes()
    assert backlog.flush() == 1
    spooled.write_bytes(kept)  # the process died after storing the batch and before deleting its file
    restarted = Backlog(quick)
    restarted.stop()
    assert len(restarted) == 1 and restarted.flush() == 1
    assert sorted(values(engine, "crash_total")) == [0.0, 1.0, 2.0]
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(schema.events)) == 1


def test_batches_left_by_a_previous_run_are_replayed_when_the_api_starts(engine: Engine, quick: Settings) -> None:
    earlier = Backlog(quick)
    with store_lock(engine):
        assert earlier.submit(one("leftover_total")).status == "spooled"
    earlier.stop()
    backlog = backlog_for(quick)  # what the first API request (or health probe) of the next run does
    try:
        wait_for(lambda: values(engine, "leftover_total") == [1.0])
    finally:
        backlog.stop()


# --- the banner ---------------------------------------------------------------------------------------------------


def banner_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, script: str) -> AppTest:
    from core.config import get_settings

    monkeypatch.setenv("PULSEBOARD_DATABASE_URL", url)
    monkeypatch.setenv("PULSEBOARD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        at = AppTest.from_file(str(ROOT / script), default_timeout=60)
        at.run()
    finally:
        get_settings.cache_clear()
    return at


@pytest.mark.parametrize("script", ["pages/navigation.py", "pages/overview.py"])
def test_pages_show_a_banner_not_a_traceback_when_the_store_cannot_be_opened(monkeypatch, tmp_path, script) -> None:
    folder = tmp_path / "not-a-database"
    folder.mkdir()
    closed = f"postgresql+psycopg://pulse:s3cret-pw@127.0.0.1:{free_port()}/pulseboard"
    stores = {f"sqlite:///{folder}": "unable to open database file", closed: "Connection refused"}
    for url, detail in stores.items():
        at = banner_run(monkeypatch, tmp_path, url, script)
        assert not at.exception, [e.value for e in at.exception]
        (error,) = at.error
        assert error.value.startswith("**Store unavailable**") and detail in error.value, error.value
        assert "Failing since" in error.value and "will appear here once the store is back" in error.value
        assert store_label(url) in error.value
        shown = " ".join(str(e.value) for e in [*at.error, *at.caption, *at.markdown, *at.info, *at.warning])
        assert "s3cret" not in shown and "Traceback" not in shown and "SELECT" not in shown
        assert any("What to check" in c.value for c in at.caption)


def test_a_live_panel_that_meets_an_outage_shows_the_banner(monkeypatch, tmp_path) -> None:
    def script() -> None:
        import streamlit as st

        from core.store.engine import make_engine
        from core.ui.outage import guarded

        @st.fragment
        @guarded
        def panel() -> None:
            with make_engine(st.session_state["url"]).connect() as connection:
                connection.exec_driver_sql("SELECT 1")

        st.title("page")
        panel()

    at = AppTest.from_function(script, default_timeout=60)
    at.session_state["url"] = f"postgresql+psycopg://pulse:pw@127.0.0.1:{free_port()}/pulseboard"
    at.run()
    assert not at.exception and at.title[0].value == "page"
    assert at.error and at.error[0].value.startswith("**Store unavailable**")


# --- the self-alert -----------------------------------------------------------------------------------------------


def test_store_unavailable_fires_on_a_replica_whose_store_refused_writes(engine: Engine, settings, tmp_path) -> None:
    cfg = alert_settings(settings, tmp_path)
    rule = next(r for r in load_yaml((ROOT / "alert_rules.yaml").read_text()) if r.name == "store_unavailable")
    alert_store.save_rule(engine, rule, "tester")
    # 15 s apart as the self-metrics collector stores them: up for 10 min, refused for 5, up again
    feed(engine, "pulseboard_store_up", {"host": "replica-2"}, [1.0] * 40 + [0.0] * 20 + [1.0] * 40)
    feed(engine, "pulseboard_store_up", {"host": "replica-1"}, [1.0] * 100)
    states = {}
    for minute in range(0, 25):
        now = T0 + minute * 60_000 + 1
        evaluate_all(engine, cfg, now)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(schema.alerts.c.labels, schema.alerts.c.state, schema.alerts.c.summary).where(
                    schema.alerts.c.rule == "store_unavailable"
                )
            ).all()
        states[minute] = {labels: (state, summary) for labels, state, summary in rows}
    firing = [m for m, found in states.items() if any(state == "firing" for state, _ in found.values())]
    assert firing and all('"host":"replica-2"' in labels for m in firing for labels in states[m])
    assert 12 <= firing[0] <= 14, firing  # the 5m avg drops below 0.5 at ~12:30 (more than half refused), for 1m
    assert firing[-1] <= 17 and "resolved" in [s for s, _ in states[24].values()]
    (summary,) = [s for state, s in states[firing[0]].values() if state == "firing"]
    assert summary.startswith("Pulseboard's store refused writes on replica-2 (up ")
