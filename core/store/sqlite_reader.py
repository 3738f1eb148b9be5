"""The worker side of columnar SQLite reads: runs in its own process, never in the server's.

Why a separate process: the ADBC SQLite driver carries its own copy of SQLite, and Python's
``sqlite3`` (SQLAlchemy's driver) uses the system one. SQLite's locks are POSIX advisory
locks, which belong to a process, not to a connection: with two copies in one process, one
copy closing a file drops the other's locks, and neither sees the other's WAL read marks, so
a checkpoint could overwrite pages a read still needs ("multiple copies of SQLite linked into
the same application" is on SQLite's own list of ways to corrupt a database). In a worker
process the ADBC copy is the only one there, and its locks meet the server's as any two
processes' do. ``core.store.columnar`` hands the worker SQL and parameters and gets an Arrow
table back.

A worker is ``python -P core/store/sqlite_reader.py`` (stdlib, pyarrow and the driver only),
started by the server with pipes for its standard input and output (not multiprocessing,
whose spawned children re-import the main module — under Streamlit, the page script being run).
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from collections import OrderedDict
from typing import Any

MAX_FILES = 8  # open store files per worker (tests open many short-lived ones)
BUSY_TIMEOUT_MS = 10_000  # as core.store.engine's connections wait for a lock

_connections: OrderedDict[str, Any] = OrderedDict()


def _connection(path: str, key: str) -> Any:
    found = _connections.pop(key, None)
    if found is None:
        import adbc_driver_sqlite.dbapi as dbapi

        found = dbapi.connect(path, autocommit=True)  # autocommit: no read transaction left open between reads
        cursor = found.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.fetchall()
        finally:
            cursor.close()
    _connections[key] = found  # most recently used last
    while len(_connections) > MAX_FILES:
        _connections.popitem(last=False)[1].close()
    return found


def read(path: str, key: str, sql: str, params: tuple[int | float, ...], spool: str) -> str:
    """Run ``sql`` on the SQLite file ``path`` (``key`` names its inode) and write the rows to an Arrow IPC file.

    Returns the file's name, in the folder ``spool`` (a memory file system where there is one):
    the caller maps it without a copy and deletes it — far cheaper than pickling the table
    through the worker pipe. A connection that failed is closed and not reused; the caller
    decides what to do with the error.
    """
    import pyarrow as pa

    connection = _connection(path, key)
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(sql, params)
            table = cursor.fetch_arrow_table()
        finally:
            cursor.close()
    except Exception:
        _connections.pop(key, None)
        connection.close()
        raise
    descriptor, name = tempfile.mkstemp(prefix="pb-read-", suffix=".arrow", dir=spool)
    try:
        with os.fdopen(descriptor, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    except BaseException:
        os.unlink(name)
        raise
    return name


def serve() -> None:
    """The worker's loop: one pickled request on stdin, one pickled answer on stdout, until stdin closes.

    Requests are ``("read", path, key, sql, params, spool)`` or ``("pid",)``; answers are
    ``("ok", value)`` or ``("error", "Type: message")``. Stdin closes when the server that
    started the worker exits or is killed, so a worker never outlives it.
    """
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the answer stream
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        try:
            value: Any = os.getpid() if request[0] == "pid" else read(*request[1:])
            answer: tuple[str, Any] = ("ok", value)
        except Exception as error:  # noqa: BLE001 - reported to the caller, which reads through its engine
            answer = ("error", f"{type(error).__name__}: {error}")
        pickle.dump(answer, answers)
        answers.flush()


if __name__ == "__main__":
    serve()
