"""Engines for the store, with the SQLite settings a busy single-file database needs.

SQLite gets WAL (readers never block the writer), a busy timeout (a second writer
waits instead of failing), foreign keys on and incremental auto-vacuum (set before
the first table exists, so retention can hand space back). Postgres uses psycopg 3.

The HTTP API asks for a second engine per store with a short lock timeout
(``get_engine(settings, lock_timeout_s=...)``): a request must answer within about two
seconds, so it may wait only briefly for a locked or busy store before it spools its
batch, while background jobs keep the patient default. On SQLite every engine asks the
file system at each checkout whether the file may be written (``_honour_file_mode``), so a
store made read-only, or writable again, is seen at once rather than through a handle
opened before the change.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.store.columnar import close_all

SQLITE_BUSY_TIMEOUT_MS = 10_000

_engines: dict[tuple[str, float | None], Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _quick_sqlite_pragmas(busy_timeout_ms: int) -> Any:
    """Pragmas of a short-timeout connection: no journal-mode switch, which would wait for a lock to set nothing.

    WAL is a property of the file, set by the default engine when it first opened it.
    """

    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return apply


def _honour_file_mode(path: str) -> Any:
    """On every checkout, make the connection query-only while the file system refuses writes to ``path``.

    SQLite checks permissions when it opens a file, and reuses the descriptors of a
    process's earlier connections for later ones, so a store file made read-only (chmod,
    ``chattr +i``, a restore by another user) would still be written through a descriptor
    opened before — or refused long after it became writable again. Asking the file system
    at each checkout (one access() call) makes Pulseboard see what an operator sees.
    """

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        refused = os.path.exists(path) and not os.access(path, os.W_OK)  # a new file is created writable
        if record.info.get("query_only") != refused:
            dbapi_connection.execute(f"PRAGMA query_only={int(refused)}")
            record.info["query_only"] = refused

    return checkout


def make_engine(url: str, *, lock_timeout_s: float | None = None) -> Engine:
    """A new engine for ``url``; SQLite parent folders are created on demand.

    ``lock_timeout_s`` bounds every wait for the store: SQLite's busy timeout; on Postgres
    the lock timeout, the pool checkout and the connect timeout (libpq's minimum is 2 s).
    """
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if lock_timeout_s is not None:
            engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": lock_timeout_s})
            sa.event.listen(engine, "connect", _quick_sqlite_pragmas(max(1, round(lock_timeout_s * 1000))))
        else:
            engine = sa.create_engine(
                url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            )
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        if path and path != ":memory:":
            sa.event.listen(engine, "checkout", _honour_file_mode(path))
        return engine
    if lock_timeout_s is not None:
        waits = {
            "connect_timeout": max(2, round(lock_timeout_s)),
            "options": f"-c lock_timeout={max(1, round(lock_timeout_s * 1000))}",
        }
        return sa.create_engine(
            url, pool_size=5, max_overflow=5, pool_pre_ping=True, pool_timeout=lock_timeout_s, connect_args=waits
        )
    return sa.create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def get_engine(settings: Settings | None = None, *, lock_timeout_s: float | None = None) -> Engine:
    """The process-wide engine for the configured store, migrated to head on first use.

    With ``lock_timeout_s``, a second process-wide engine on the same store that waits at
    most that long for a lock or a connection (see the module docstring); the default
    engine is created (and the store migrated) first.
    """
    from core.store.migrate import upgrade

    settings = settings or get_settings()
    url = settings.resolved_database_url
    if lock_timeout_s is not None:
        get_engine(settings)
    with _lock:
        engine = _engines.get((url, lock_timeout_s))
        if engine is None:
            engine = make_engine(url, lock_timeout_s=lock_timeout_s)
            if lock_timeout_s is None:
                upgrade(engine)
            _engines[(url, lock_timeout_s)] = engine
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (the engines' and the columnar reads' ADBC ones); at shutdown, between tests."""
    close_all()
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
