"""Databases: Pulseboard's own store (unless ``db_watch_store`` is off) and any in ``db_watch_urls``.

One collector per database, so a slow or unreachable server never delays the others.
Every sample carries ``database`` (the database name, or the file name of an SQLite
file) and ``driver`` (``postgresql`` or ``sqlite``), never the URL, so a password cannot
reach a label; logs show the URL with its password masked.

**Postgres** is read over SQLAlchemy from views every role may read, no extension:
``pg_stat_activity`` (connections, slow queries, lock waits), ``pg_settings``
(``max_connections``), ``pg_stat_database`` (transactions, block hits and reads, and
from PG 14 ``active_time``) and ``pg_database_size``. Connections are server-wide (the
limit is); queries and lock waits are those of the watched database. Sessions of other
roles show their state only to superusers and members of ``pg_read_all_stats``
(``pg_monitor``), so a less privileged watcher undercounts slow queries and lock waits.
Counters become rates between two collections through
:class:`~collectors.fields.CounterRates`.

**SQLite** is read from the file system (file and WAL sizes) and through a read-only
``sqlite3`` connection (page and freelist counts), which never creates a missing file
or changes the watched database's journal mode. Only for Pulseboard's own store is
``db_connection_pool_used_percent`` reported: it is the share of the app's SQLAlchemy
pool in use, which an outside watcher of any other file cannot see.

A database that cannot be read yields ``up{job="database"} 0`` and a warning naming
it (logged when it goes down or the reason changes, not on every run), never an
exception.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from collectors.fields import CounterRates, MetricSpec
from core.config import Settings, anchor_sqlite_url, redact_url_passwords
from core.model import Batch, Sample, canonical_labels

log = logging.getLogger(__name__)

JOB = "database"
SQLITE_TIMEOUT_S = 2.0  # a reader waits this long for a rollback-journal writer before the run counts as failed
PG_VERSION_ACTIVE_TIME = 140_000  # pg_stat_database.active_time exists from PostgreSQL 14

_DB = ("database", "driver")
SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "up", '1 if the last collection could read the database, else 0 (job="database").', "1", False, ("job", *_DB)
    ),
    MetricSpec(
        "db_size_bytes",
        "Size on disk: pg_database_size, or the SQLite main file (WAL not included).",
        "bytes",
        labels=_DB,
    ),
    MetricSpec(
        "db_connection_pool_used_percent",
        "Postgres: db_connections_used ÷ db_connections_max × 100. SQLite, own store only: connections the app's "
        "SQLAlchemy pool has checked out ÷ (pool size + max overflow) × 100.",
        "percent",
        labels=_DB,
    ),
    MetricSpec(
        "db_connections_used", "Postgres: client connections open on the server (all databases).", "1", labels=_DB
    ),
    MetricSpec("db_connections_max", "Postgres: the server's max_connections.", "1", labels=_DB),
    MetricSpec(
        "db_transactions_per_second",
        "Postgres: commits plus rollbacks in the database per second.",
        "1/s",
        True,
        _DB,
    ),
    MetricSpec(
        "db_cache_hit_percent",
        "Postgres: block reads served from shared buffers over the interval, blks_hit ÷ (blks_hit + blks_read) × 100 "
        "(omitted for an interval without block reads).",
        "percent",
        True,
        _DB,
    ),
    MetricSpec(
        "db_query_duration_seconds",
        "Postgres 14 or later: mean active time per transaction over the interval, Δactive_time ÷ Δtransactions "
        "(omitted for an interval without transactions).",
        "seconds",
        True,
        _DB,
    ),
    MetricSpec(
        "db_slow_queries",
        "Postgres: queries in the database active for longer than db_slow_query_s.",
        "1",
        labels=_DB,
    ),
    MetricSpec(
        "db_longest_query_seconds",
        "Postgres: how long the longest-running active query in the database has run (0 when none is active).",
        "seconds",
        labels=_DB,
    ),
    MetricSpec(
        "db_lock_waiting_sessions",
        "Postgres: sessions in the database waiting for a lock (wait_event_type 'Lock').",
        "1",
        labels=_DB,
    ),
    MetricSpec("db_pages", "SQLite: pages in the database, WAL included (PRAGMA page_count).", "1", labels=_DB),
    MetricSpec("db_freelist_pages", "SQLite: unused pages (PRAGMA freelist_count).", "1", labels=_DB),
    MetricSpec("db_wal_size_bytes", "SQLite: size of the -wal file (0 when there is none).", "bytes", labels=_DB),
)

_CLIENT = "backend_type = 'client backend'"
_HERE = "datname = current_database()"
_MINE_ACTIVE = f"{_HERE} AND {_CLIENT} AND state = 'active' AND pid <> pg_backend_pid()"
_AGE = "extract(epoch FROM clock_timestamp() - query_start)"
PG_ACTIVITY = sa.text(
    f"SELECT count(*) FILTER (WHERE {_CLIENT}), "
    f"count(*) FILTER (WHERE {_MINE_ACTIVE} AND {_AGE} > :slow), "
    f"coalesce(max({_AGE}) FILTER (WHERE {_MINE_ACTIVE}), 0), "
    f"count(*) FILTER (WHERE {_HERE} AND wait_event_type = 'Lock') "
    "FROM pg_stat_activity"
)
PG_MAX_CONNECTIONS = sa.text("SELECT setting::int FROM pg_settings WHERE name = 'max_connections'")
PG_SIZE = sa.text("SELECT pg_database_size(current_database())")
PG_VERSION = sa.text("SELECT current_setting('server_version_num')::int")
PG_STATEMENT_TIMEOUT = sa.text("SELECT set_config('statement_timeout', :ms, true)")


def _pg_counters(version: int) -> sa.TextClause:
    active = "active_time" if version >= PG_VERSION_ACTIVE_TIME else "NULL"
    return sa.text(
        f"SELECT xact_commit + xact_rollback, blks_hit, blks_read, {active} FROM pg_stat_database WHERE {_HERE}"
    )


@dataclass(frozen=True, slots=True)
class WatchedDatabase:
    """A database to watch, named the way its labels and logs name it."""

    url: URL

    @property
    def driver(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "sqlite" if self.url.get_backend_name() == "sqlite" else "postgresql"

    @property
    def path(self) -> Path:
        """The SQLite file (absolute)."""
        return Path(self.url.database or "").absolute()

    @property
    def database(self) -> str:
        """The ``database`` label: the database name, or the SQLite file name."""
        if self.driver == "sqlite":
            return self.path.name
        return self.url.database or self.url.username or "postgres"  # libpq's default is the user name

    @property
    def shown(self) -> str:
        """The URL for logs, password masked."""
        return self.url.render_as_string(hide_password=True)

    @property
    def key(self) -> tuple[str, ...]:
        """What makes two URLs the same database (user and password aside)."""
        if self.driver == "sqlite":
            return ("sqlite", str(self.path.resolve()))
        return ("postgresql", self.url.host or "", str(self.url.port or 5432), self.database)


def pool_used_percent(engine: Engine) -> float | None:
    """Share of a SQLAlchemy QueuePool in use: checked out ÷ (size + max overflow) × 100; None for other pools."""
    pool = engine.pool
    if not isinstance(pool, sa.pool.QueuePool):
        return None
    overflow = getattr(pool, "_max_overflow", None)  # QueuePool keeps it private; -1 means unlimited
    if not isinstance(overflow, int) or overflow < 0 or pool.size() + overflow <= 0:
        return None
    return 100.0 * pool.checkedout() / (pool.size() + overflow)


class DatabaseCollector:
    """One database's size, connections, throughput and waits; ``up`` 0 when it cannot be read.

    ``engine`` is the store's engine when the database is Pulseboard's own store: Postgres
    is then read through its pool, and for SQLite its pool use is reported. Without one, a
    Postgres collector opens its own single-connection pool on first use.
    """

    shared = True  # one replica reads it (collectors.base)

    def __init__(
        self,
        target: WatchedDatabase,
        *,
        engine: Engine | None = None,
        interval: float = 15.0,
        slow_query_s: float = 5.0,
        max_gap_intervals: float = 3.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target = target
        self.name = f"database:{target.driver}:{target.database}"
        self.interval = interval
        self.slow_query_s = slow_query_s
        self._engine = engine
        self._clock = clock
        self._rates = CounterRates(max_gap_intervals * interval)
        self._labels = canonical_labels({"database": target.database, "driver": target.driver})
        self._up_labels = canonical_labels({"database": target.database, "driver": target.driver, "job": JOB})
        self._down_reason: str | None = None  # the failure last logged; None while the database answers
        self._pg_version: int | None = None

    def collect(self) -> Batch:
        """Read the database once; never raises for a database that is down, missing or refusing."""
        now = self._clock()
        ts = int(now * 1000)
        try:
            readings = self._read_sqlite() if self.target.driver == "sqlite" else self._read_postgres(now)
        except (sa.exc.SQLAlchemyError, sqlite3.Error, OSError) as error:
            self._went_down(error)
            return Batch((Sample("up", self._up_labels, 0.0, ts, "gauge"),))
        if self._down_reason is not None:
            log.info("database %s (%s) can be read again", self.target.database, self.target.shown)
            self._down_reason = None
        samples = [Sample(name, self._labels, float(value), ts, "gauge") for name, value in readings]
        samples.append(Sample("up", self._up_labels, 1.0, ts, "gauge"))
        return Batch(tuple(samples))

    def _went_down(self, error: BaseException) -> None:
        reason = self._reason(error)
        if reason != self._down_reason:
            log.warning("database %s (%s) cannot be read: %s", self.target.database, self.target.shown, reason)
        else:
            log.debug("database %s (%s) still cannot be read: %s", self.target.database, self.target.shown, reason)
        self._down_reason = reason

    def _reason(self, error: BaseException) -> str:
        """One line saying why, with no password in it."""
        cause = error.orig if isinstance(error, sa.exc.DBAPIError) and error.orig is not None else error
        text = " ".join(str(cause).split()) or type(cause).__name__
        password = self.target.url.password
        if password:
            text = text.replace(str(password), "***")
        return redact_url_passwords(text)

    # --- Postgres ---------------------------------------------------------------------------------------------------

    def _postgres_engine(self) -> Engine:
        if self._engine is None:
            self._engine = sa.create_engine(
                self.target.url,
                pool_size=1,
                max_overflow=0,
                pool_pre_ping=True,
                connect_args={"connect_timeout": max(2, min(10, int(self.interval)))},
            )
        return self._engine

    def _read_postgres(self, now: float) -> list[tuple[str, float]]:
        with self._postgres_engine().connect() as connection:
            timeout_ms = int(max(1.0, min(10.0, self.interval)) * 1000)
            connection.execute(PG_STATEMENT_TIMEOUT, {"ms": str(timeout_ms)})  # this transaction only
            if self._pg_version is None:
                self._pg_version = int(connection.execute(PG_VERSION).scalar_one())
            used, slow, longest, lock_waiting = connection.execute(PG_ACTIVITY, {"slow": self.slow_query_s}).one()
            max_connections = int(connection.execute(PG_MAX_CONNECTIONS).scalar_one())
            size = int(connection.execute(PG_SIZE).scalar_one())
            counters = connection.execute(_pg_counters(self._pg_version)).one_or_none()
        readings: list[tuple[str, float]] = [
            ("db_size_bytes", size),
            ("db_connections_used", used),
            ("db_connections_max", max_connections),
            ("db_slow_queries", slow),
            ("db_longest_query_seconds", float(longest)),
            ("db_lock_waiting_sessions", lock_waiting),
        ]
        if max_connections > 0:
            readings.append(("db_connection_pool_used_percent", 100.0 * used / max_connections))
        if counters is not None:  # a database without a stats row yet has no rates either
            readings += self._pg_rates(now, *counters)
        return readings

    def _pg_rates(
        self, now: float, transactions: int, hits: int, reads: int, active_ms: float | None
    ) -> list[tuple[str, float]]:
        rates = self._rates
        per_second = rates.rate("transactions", float(transactions), now)
        hit_rate, read_rate = rates.rate("blks_hit", float(hits), now), rates.rate("blks_read", float(reads), now)
        found: list[tuple[str, float]] = []
        if per_second is not None:
            found.append(("db_transactions_per_second", per_second))
        if hit_rate is not None and read_rate is not None and hit_rate + read_rate > 0:
            found.append(("db_cache_hit_percent", 100.0 * hit_rate / (hit_rate + read_rate)))
        if active_ms is not None:
            active_rate = rates.rate("active_ms", float(active_ms), now)
            if active_rate is not None and per_second:
                found.append(("db_query_duration_seconds", active_rate / per_second / 1000.0))
        return found

    # --- SQLite -----------------------------------------------------------------------------------------------------

    def _read_sqlite(self) -> list[tuple[str, float]]:
        path = self.target.path
        size = path.stat().st_size  # a missing file is FileNotFoundError, which names the path
        uri = f"{path.as_uri()}?mode=ro"  # read-only: never creates the file, never changes its journal mode
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=SQLITE_TIMEOUT_S)) as connection:
            pages = int(connection.execute("PRAGMA page_count").fetchone()[0])
            free = int(connection.execute("PRAGMA freelist_count").fetchone()[0])
        wal = path.with_name(path.name + "-wal")
        wal_size = wal.stat().st_size if wal.exists() else 0
        readings: list[tuple[str, float]] = [
            ("db_size_bytes", size),
            ("db_wal_size_bytes", wal_size),
            ("db_pages", pages),
            ("db_freelist_pages", free),
        ]
        if self._engine is not None and (used := pool_used_percent(self._engine)) is not None:
            readings.append(("db_connection_pool_used_percent", used))
        return readings


def _watched(url: str, number: int) -> WatchedDatabase | None:
    try:
        return WatchedDatabase(sa.engine.make_url(anchor_sqlite_url(url)))
    except (sa.exc.ArgumentError, ValueError):  # core.config checks this too; settings built in code skip that
        log.error("db_watch_urls entry %d (%s) is not a database URL; not watched", number, redact_url_passwords(url))
        return None


def build(settings: Settings, engine: Engine | None) -> list[DatabaseCollector]:
    """The store (when there is one and ``db_watch_store``) and every ``db_watch_urls`` entry, each once."""
    candidates: list[tuple[WatchedDatabase, Engine | None]] = []
    if settings.db_watch_store and engine is not None and engine.url.database not in (None, "", ":memory:"):
        candidates.append((WatchedDatabase(engine.url), engine))
    for number, url in enumerate(settings.db_watch_urls, 1):
        if (target := _watched(url, number)) is not None:
            candidates.append((target, None))
    collectors: dict[str, DatabaseCollector] = {}
    keys: set[tuple[str, ...]] = set()
    for target, own in candidates:
        if target.key in keys:
            log.info("database %s is listed twice; watching it once", target.shown)
            continue
        collector = DatabaseCollector(
            target,
            engine=own,
            interval=settings.db_interval_s,
            slow_query_s=settings.db_slow_query_s,
            max_gap_intervals=settings.collector_max_gap_intervals,
        )
        if collector.name in collectors:
            log.error(
                "databases %s and %s would share the labels database=%s, driver=%s; watching only the first",
                collectors[collector.name].target.shown,
                target.shown,
                target.database,
                target.driver,
            )
            continue
        keys.add(target.key)
        collectors[collector.name] = collector
    return list(collectors.values())
