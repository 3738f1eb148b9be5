"""Columnar reads of many numeric rows: Arrow batches from an ADBC driver instead of one Python tuple per row.

Why: a PromQL or chart query over 50 series for a day reads about 290,000 ``(series_id, ts,
value)`` rows, and making a Python tuple (and three Python numbers) per row through the
DB-API cursor cost several times more than the store's own work. ADBC drivers
(``adbc-driver-sqlite``, ``adbc-driver-postgresql``) hand the result over as Arrow columns,
which become a polars frame, and numpy arrays from it, without a Python object per value.

SQLAlchemy stays the owner of the store's connections everywhere else. On Postgres this
module opens its own ADBC connections from the engine's URL (the DSN without SQLAlchemy's
``+psycopg``), keeps up to :data:`POOL_SIZE` idle ones per store and gives each to one thread at
a time. On SQLite the reads run in a small pool of worker processes
(:mod:`core.store.sqlite_reader` says why: the driver's own copy of SQLite must not share a
process with Python's) that return Arrow tables; a file is keyed by its inode, so a file
replaced under the same name (a restore) is opened afresh. Every ADBC connection runs in
autocommit, so an idle one never holds a read transaction (a SQLite snapshot that blocks
checkpoints, or an ``idle in transaction`` on Postgres). Where ADBC cannot serve — the drivers
are not installed, an in-memory SQLite or a file not created yet, a driver or worker error —
the same SQL runs through the engine's DB-API cursor and the rows are packed into numpy arrays
in one pass (:func:`fetch_rows`), with the same result: tests/test_columnar.py checks both
paths give identical frames.

SQL is written once with ``?`` placeholders and bound parameters (never values in the text);
they become ``$1, $2 …`` for ADBC on Postgres and ``%s`` for psycopg. Every column read this
way must be numeric and NOT NULL.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import pickle
import queue
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

POOL_SIZE = 4  # idle ADBC connections kept per Postgres store
MAX_URLS = 8  # Postgres stores with pooled connections (tests open many short-lived ones)
SQLITE_WORKERS = 2  # processes reading SQLite stores
READERS = min(SQLITE_WORKERS, POOL_SIZE)  # reads one caller may run side by side on either backend
SMALL_READ_ROWS = 5_000  # answers known to be this small skip ADBC (see fetch)
MAX_FAILURES = 5  # ADBC reads of one store failing in a row: read it through the engine from then on
MAX_BROKEN_WORKERS = 3  # workers dying in a row: stop starting them, read through the engine

Params = Sequence[int | float]

_pools: dict[str, list[Any]] = {}
_workers_refused = False  # this process cannot start worker processes: SQLite reads go through the engine
_failures: dict[str, int] = {}  # store key -> ADBC reads failed in a row
_lock = threading.Lock()
_SPOOL = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()  # where workers leave results
_PLACEHOLDER = re.compile(r"\?")


def _driver(url: sa.engine.URL) -> tuple[str, str, str] | None:
    """``(backend, connection URI or path, key)`` for reading ``url``'s store through ADBC, or None where it cannot.

    A SQLite store's key includes the file's device and inode (see the module docstring). A
    file that does not exist yet is left to the engine, which creates it with its pragmas.
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
            import adbc_driver_sqlite  # noqa: F401 - installed, or the engine's path serves

            if _workers_refused:
                return None

            full = os.path.abspath(path)
            return "sqlite", full, f"{full}|{status.st_dev}|{status.st_ino}"
        if url.get_backend_name() == "postgresql":
            import adbc_driver_postgresql  # noqa: F401

            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            return "postgresql", dsn, dsn
    except ImportError:
        return None
    return None


def available(engine: Engine) -> bool:
    """Whether reads from ``engine``'s store go through ADBC here (driver installed, a file or server store,
    and not given up on after :data:`MAX_FAILURES` failed reads in a row)."""
    found = _driver(engine.url)
    return found is not None and _failures.get(found[2], 0) < MAX_FAILURES


@contextmanager
def _postgres_connection(dsn: str) -> Iterator[Any]:
    """An ADBC connection to the Postgres server ``dsn`` for this thread alone, back to the pool after use."""
    import adbc_driver_postgresql.dbapi as dbapi

    with _lock:
        idle = _pools.get(dsn)
        connection = idle.pop() if idle else None
    if connection is None:
        connection = dbapi.connect(dsn, autocommit=True)
    healthy = False
    try:
        yield connection
        healthy = True
    finally:
        if healthy:
            _release(dsn, connection)
        else:
            _close(connection)


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


class _Worker:
    """One ``python -P core/store/sqlite_reader.py`` process and its request/answer pipes; one caller at a time."""

    def __init__(self) -> None:
        # The file, not ``-m core.store.sqlite_reader``: the worker needs neither the package nor
        # SQLAlchemy (about 60 MB and half a second less); -P keeps its folder off sys.path.
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sqlite_reader.py")
        self.process = subprocess.Popen([sys.executable, "-P", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, request: tuple[Any, ...]) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            pickle.dump(request, self.process.stdin)
            self.process.stdin.flush()
            status, value = pickle.load(self.process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as error:
            raise WorkerGone(f"SQLite read worker {self.process.pid} is gone: {error}") from None
        if status != "ok":
            raise RuntimeError(f"SQLite read worker: {value}")
        return value

    def stop(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


class WorkerGone(RuntimeError):
    """A SQLite read worker died (killed, out of memory); it is replaced on the next read."""


_idle_workers: queue.LifoQueue[_Worker] = queue.LifoQueue()
_started_workers = 0
_broken_workers = 0  # workers that died, in a row


@contextmanager
def _sqlite_worker() -> Iterator[_Worker]:
    """A worker for this caller alone: an idle one, a new one while fewer than SQLITE_WORKERS run, else wait."""
    global _started_workers, _broken_workers, _workers_refused
    with _lock:
        start = _idle_workers.empty() and _started_workers < SQLITE_WORKERS
        if start:
            _started_workers += 1
    if start:
        try:
            worker = _Worker()
        except Exception:
            with _lock:
                _started_workers -= 1
                _workers_refused = True  # cannot start processes here: read through the engine from now on
            raise
    else:
        worker = _idle_workers.get()
    try:
        yield worker
    except WorkerGone:
        with _lock:
            _started_workers -= 1
            _broken_workers += 1
            _workers_refused = _broken_workers >= MAX_BROKEN_WORKERS
        worker.stop()
        raise
    except BaseException:
        _idle_workers.put(worker)  # the query failed, the worker is fine
        raise
    with _lock:
        _broken_workers = 0
    _idle_workers.put(worker)


def _read_sqlite(path: str, key: str, sql: str, params: Params) -> Any:
    """A ``pyarrow.Table`` read by a worker process, handed over as an Arrow IPC file mapped without a copy."""
    with _sqlite_worker() as worker:
        name = worker.ask(("read", path, key, sql, tuple(params), _SPOOL))
    try:
        return pa.ipc.open_file(pa.memory_map(name)).read_all()  # the table keeps the mapping, not the name
    finally:
        os.unlink(name)


def start_readers(engine: Engine) -> int:
    """Start the SQLite read workers not running yet and have each open ``engine``'s store; returns how many.

    Why: a worker's process start and its import of pyarrow and the driver take about half a second
    on a 2-core machine, which otherwise falls on the first chart a viewer opens. The server calls
    this once at start (core.ui.warmup); a store ADBC cannot read, or Postgres, needs nothing. Never
    waits for a busy worker: only missing ones are started.
    """
    global _started_workers
    found = _driver(engine.url)
    if found is None or found[0] != "sqlite" or not available(engine):
        return 0
    _, path, key = found
    with _lock:
        missing = max(SQLITE_WORKERS - _started_workers, 0)
        _started_workers += missing
    workers = []
    for _ in range(missing):  # all processes first: they start side by side
        try:
            workers.append(_Worker())
        except Exception:
            with _lock:
                _started_workers -= 1
            log.debug("could not start a SQLite read worker", exc_info=True)
    started = 0
    for worker in workers:
        try:
            os.unlink(worker.ask(("read", path, key, "SELECT 1", (), _SPOOL)))
        except WorkerGone:
            with _lock:
                _started_workers -= 1
            worker.stop()
            continue
        except Exception:  # a read that fails is the normal read path's to report (and fall back from)
            log.debug("SQLite read worker warm-up read failed", exc_info=True)
        _idle_workers.put(worker)
        started += 1
    return started


def worker_pids() -> list[int]:
    """Process ids of the idle SQLite read workers (for tests and diagnosis)."""
    with _lock:
        return [worker.process.pid for worker in list(_idle_workers.queue)]


def close_all() -> None:
    """Close every pooled Postgres ADBC connection (at shutdown, between tests).

    The SQLite read workers stay: they serve every store of the process, keep at most a few
    files open each (closing the least recently used), and cost a process start to replace.
    """
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for connection in itertools.chain.from_iterable(pools):
        _close(connection)


def _stop_workers() -> None:
    global _started_workers
    while True:
        try:
            worker = _idle_workers.get_nowait()
        except queue.Empty:
            return
        with _lock:
            _started_workers -= 1
        worker.stop()


atexit.register(close_all)  # before interpreter teardown, when a driver's own finaliser can no longer run
atexit.register(_stop_workers)


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
    found = _driver(engine.url)
    if found is None:
        raise LookupError("no ADBC driver for this store")
    backend, uri, key = found
    if backend == "sqlite":
        table = _read_sqlite(uri, key, sql, params)
    else:
        with _postgres_connection(uri) as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(_numbered(sql), tuple(params))
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


def fetch(
    engine: Engine, sql: str, params: Params, schema: dict[str, pl.DataType], *, at_most_rows: int | None = None
) -> pl.DataFrame:
    """The rows of ``sql`` (``?`` placeholders, numeric NOT NULL columns) as a polars frame of ``schema``.

    Through ADBC where it can serve the store, else (or when the driver fails) through the
    engine's own connection: same frame either way. A caller that knows the answer has at most
    :data:`SMALL_READ_ROWS` rows (``at_most_rows``) reads through the engine at once: a handful of
    tuples costs less than the hop to a SQLite worker process on a busy machine.
    """
    found = _driver(engine.url)
    small = at_most_rows is not None and at_most_rows <= SMALL_READ_ROWS
    if found is not None and not small and available(engine):
        key = found[2]
        try:
            frame = fetch_adbc(engine, sql, params, schema)
        except Exception:  # any driver trouble: the engine's own path still answers
            with _lock:
                _failures[key] = failed = _failures.get(key, 0) + 1
            given_up = " (for good now: the last reads all failed)" if failed >= MAX_FAILURES else ""
            log.warning("ADBC read failed; reading through the engine instead%s", given_up, exc_info=True)
        else:
            if key in _failures:
                with _lock:
                    _failures.pop(key, None)
            return frame
    return fetch_rows(engine, sql, params, schema)


__all__ = [
    "POOL_SIZE",
    "READERS",
    "SMALL_READ_ROWS",
    "SQLITE_WORKERS",
    "available",
    "close_all",
    "fetch",
    "fetch_adbc",
    "fetch_rows",
    "start_readers",
]
