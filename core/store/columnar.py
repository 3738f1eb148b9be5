"""Columnar reads of many numeric rows: Arrow batches from an ADBC driver instead of one Python tuple per row.

Why: a PromQL or chart query over 50 series for a day reads about 290,000 ``(series_id, ts,
value)`` rows, and making a Python tuple (and three Python numbers) per row through the
DB-API cursor cost several times more than the store's own work. ADBC drivers
(``adbc-driver-sqlite``, ``adbc-driver-postgresql``) hand the result over as Arrow columns,
which become a polars frame, and numpy arrays from it, without a Python object per value.

SQLAlchemy stays the owner of the store's connections everywhere else; this module opens
its own ADBC connections from the engine's URL (the SQLite file, or the Postgres DSN without
SQLAlchemy's ``+psycopg``), keeps up to :data:`POOL_SIZE` idle ones per URL, and gives each to
one thread at a time. They run in autocommit, so an idle connection never holds a read
transaction (a SQLite snapshot that blocks checkpoints, or an ``idle in transaction`` on
Postgres). Where ADBC cannot serve — the drivers are not installed, an in-memory SQLite,
a driver error such as a locked file — the same SQL runs through the engine's DB-API cursor
and the rows are packed into numpy arrays in one pass (:func:`fetch_rows`), with the same
result: tests/test_columnar.py checks both paths give identical frames.

SQL is written once with ``?`` placeholders and bound parameters (never values in the text);
they become ``$1, $2 …`` for ADBC on Postgres and ``%s`` for psycopg. Every column read this
way must be numeric and NOT NULL.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

POOL_SIZE = 4  # idle ADBC connections kept per store URL
MAX_URLS = 8  # stores with pooled connections (tests open many short-lived ones)
SQLITE_BUSY_TIMEOUT_MS = 10_000  # as core.store.engine's connections wait

Params = Sequence[int | float]

_pools: dict[str, list[Any]] = {}
_lock = threading.Lock()
_PLACEHOLDER = re.compile(r"\?")


def _driver(url: sa.engine.URL) -> tuple[Any, str, str] | None:
    """The ADBC DB-API module, connection URI and pool key for ``url``, or None where ADBC cannot serve it.

    A SQLite store's key includes the file's device and inode: a file replaced under the same
    name (a restore) gets new connections instead of reading the old one through a pooled handle.
    A file that does not exist yet is left to the engine, which creates it with its pragmas.
    """
    try:
        if url.get_backend_name() == "sqlite":
            path = url.database
            if not path or path == ":memory:" or path.startswith("file:"):
                return None
            try:
                status = os.stat(path)
            except OSError:
                return None
            import adbc_driver_sqlite.dbapi as sqlite_dbapi

            return sqlite_dbapi, path, f"{os.path.abspath(path)}|{status.st_dev}|{status.st_ino}"
        if url.get_backend_name() == "postgresql":
            import adbc_driver_postgresql.dbapi as postgres_dbapi

            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            return postgres_dbapi, dsn, dsn
    except ImportError:
        return None
    return None


def available(engine: Engine) -> bool:
    """Whether reads from ``engine``'s store can go through ADBC here (driver installed, a file or server store)."""
    return _driver(engine.url) is not None


@contextmanager
def _adbc_connection(engine: Engine) -> Iterator[Any]:
    """An ADBC connection to ``engine``'s store for this thread alone, back to the pool after use."""
    found = _driver(engine.url)
    if found is None:
        raise LookupError("no ADBC driver for this store")
    module, uri, key = found
    with _lock:
        idle = _pools.get(key)
        connection = idle.pop() if idle else None
    if connection is None:
        connection = _open(module, uri, sqlite=engine.url.get_backend_name() == "sqlite")
    healthy = False
    try:
        yield connection
        healthy = True
    finally:
        if healthy:
            _release(key, connection)
        else:
            _close(connection)


def _open(module: Any, uri: str, *, sqlite: bool) -> Any:
    """A new autocommit ADBC connection; on SQLite with the engine's busy timeout.

    A WAL reader rarely waits, but one opening while others open or a checkpoint runs may
    meet a lock for a moment: it waits as the engine's connections do instead of failing.
    """
    connection = module.connect(uri, autocommit=True)
    if sqlite:
        cursor = connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.fetchall()
        finally:
            cursor.close()
    return connection


def _release(key: str, connection: Any) -> None:
    with _lock:
        idle = _pools.pop(key, [])
        _pools[key] = idle  # most recently used store last
        if len(idle) < POOL_SIZE:
            idle.append(connection)
            connection = None
        dropped = [] if len(_pools) <= MAX_URLS else _pools.pop(next(iter(_pools)))
    for extra in ([connection] if connection is not None else []) + dropped:
        _close(extra)


def _close(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # closing a broken connection must not hide the error that broke it
        log.debug("closing an ADBC connection failed", exc_info=True)


def close_all() -> None:
    """Close every pooled ADBC connection (at shutdown, between tests, before a store file is replaced)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for connection in itertools.chain.from_iterable(pools):
        _close(connection)


atexit.register(close_all)  # before interpreter teardown, when a driver's own finaliser can no longer run


def _numbered(sql: str) -> str:
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda _match: f"${next(counter)}", sql)


def _frame(columns: Sequence[np.ndarray | pl.Series], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (column.alias(name) if isinstance(column, pl.Series) else pl.Series(name, column)).cast(dtype)
            for (name, dtype), column in zip(schema.items(), columns, strict=True)
        ]
    )


def fetch_adbc(engine: Engine, sql: str, params: Params, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows of ``sql`` as a frame of ``schema`` through ADBC (Arrow columns, no Python row objects).

    Raises LookupError where ADBC cannot serve the store and the driver's own error on failure.
    """
    postgres = engine.url.get_backend_name() == "postgresql"
    with _adbc_connection(engine) as connection:
        cursor = connection.cursor()
        try:
            cursor.execute(_numbered(sql) if postgres else sql, tuple(params))
            table = cursor.fetch_arrow_table()
        finally:
            cursor.close()
    if table.num_columns != len(schema):
        raise ValueError(f"the query returned {table.num_columns} columns, {len(schema)} expected")
    frame = pl.from_arrow(table, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return _frame(frame.get_columns(), schema)


def fetch_rows(engine: Engine, sql: str, params: Params, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The same frame as :func:`fetch_adbc` through the engine's DB-API cursor, packed into numpy in one pass.

    Every value is read as float64 (epoch-ms times and row ids are far below 2**53, so exact)
    and cast to its column's type, which beats building a polars frame from row tuples.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            sql = _PLACEHOLDER.sub("%s", sql)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, tuple(params))
            rows = cursor.fetchall()
        finally:
            cursor.close()
    width = len(schema)
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=width * len(rows))
    table = flat.reshape(len(rows), width)
    return _frame([table[:, i] for i in range(width)], schema)


def fetch(engine: Engine, sql: str, params: Params, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows of ``sql`` (``?`` placeholders, numeric NOT NULL columns) as a polars frame of ``schema``.

    Through ADBC where it can serve the store, else (or when the driver fails) through the
    engine's own connection: same frame either way.
    """
    if available(engine):
        try:
            return fetch_adbc(engine, sql, params, schema)
        except Exception:  # any driver trouble: the engine's own path still answers
            log.warning("ADBC read failed; reading through the engine instead", exc_info=True)
    return fetch_rows(engine, sql, params, schema)


__all__ = ["POOL_SIZE", "available", "close_all", "fetch", "fetch_adbc", "fetch_rows"]
