"""What it means when the store refuses us: locked, unreachable, read-only, full — or a real bug.

Every caller that must survive a store outage (the API answering 202/503 instead of a
traceback, pages drawing a banner, collectors spooling) asks :func:`describe_outage`
whether an exception is "try again later" and, if so, which condition. One classifier
keeps those answers the same everywhere; it reads the driver's own codes (SQLite's
extended result code, Postgres' SQLSTATE) rather than message text where they exist,
because messages change between versions and languages.

The description is meant to be shown: it names the condition and the driver's first
line, never the SQL, its parameters or a password (SQLAlchemy's ``str(error)`` holds
all three). :data:`HEALTH` remembers since when this process has seen the store
refuse it, so a banner can say "since 12:03".
"""

from __future__ import annotations

import errno
import re
import sqlite3
import threading
from dataclasses import dataclass, replace

import sqlalchemy as sa

from core.model import now_ms

CONDITIONS = {
    "locked": "locked by another writer for longer than the busy timeout",
    "busy": "too busy: no connection or lock was free in time",
    "read_only": "read-only",
    "disk_full": "full: no space left for the write",
    "unreachable": "unreachable",
    "io_error": "failing with I/O errors",
    "damaged": "damaged (not a readable database)",
    "unavailable": "unavailable",
}
# SQLite primary result codes (the low byte of the extended code).
_SQLITE = {5: "locked", 6: "locked", 15: "locked", 8: "read_only", 3: "read_only", 13: "disk_full"}
_SQLITE |= {14: "unreachable", 10: "io_error", 11: "damaged", 26: "damaged"}
# Postgres SQLSTATE: exact codes first, then classes (first two characters).
_SQLSTATE = {"55P03": "locked", "40P01": "locked", "40001": "locked", "25006": "read_only", "53100": "disk_full"}
_SQLSTATE |= {"53300": "busy", "57014": "busy", "53200": "busy", "57P01": "unavailable", "57P02": "unavailable"}
_SQLSTATE |= {"57P03": "unavailable", "58030": "io_error"}
_SQLSTATE_CLASS = {"08": "unreachable", "53": "busy", "57": "unavailable"}
_OS = {errno.EROFS: "read_only", errno.EACCES: "read_only", errno.EPERM: "read_only", errno.ENOSPC: "disk_full"}
_OS |= {errno.EDQUOT: "disk_full", errno.EIO: "io_error"}
_SECRETS = (
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
    (re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE), r"\1***"),
)


@dataclass(frozen=True)
class Outage:
    """One refusal: its ``condition`` (a key of :data:`CONDITIONS`), the driver's ``detail``, since when."""

    condition: str
    detail: str
    since_ms: int | None = None

    @property
    def what(self) -> str:
        """``"locked by another writer …"``: the condition in words."""
        return CONDITIONS[self.condition]

    def sentence(self, store: str = "the store") -> str:
        """``"The store (SQLite file …) is read-only: attempt to write a readonly database"``."""
        return f"{store[:1].upper()}{store[1:]} is {self.what}: {self.detail}"


def _driver_line(error: BaseException) -> str:
    """The driver's first message line, without SQL, parameters or credentials."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text[:300]


def describe_outage(error: BaseException) -> Outage | None:
    """The outage ``error`` means, or None when it is not one (a bug, a constraint, bad SQL: not "retry later").

    A Postgres :class:`sqlalchemy.exc.OperationalError` whose code is not recognised still
    counts as ``unavailable``: the DB-API reserves that class for errors outside the
    program's control, and treating one as a bug would lose the batch that met it. SQLite
    is the exception: it raises OperationalError for "no such table" and syntax errors as
    well, so there only the result codes listed here count.
    """
    original = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    detail = _driver_line(original if original is not None else error)
    if isinstance(original, sqlite3.Error) and getattr(original, "sqlite_errorcode", None) is not None:
        # SQLite raises OperationalError for bad SQL and missing tables too (SQLITE_ERROR): those are bugs.
        condition = _SQLITE.get(original.sqlite_errorcode & 0xFF)
        return Outage(condition, detail) if condition else None
    sqlstate = getattr(original, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        condition = _SQLSTATE.get(sqlstate) or _SQLSTATE_CLASS.get(sqlstate[:2])
        if condition:
            return Outage(condition, detail)
    if isinstance(error, sa.exc.TimeoutError):  # the pool had no connection free in time
        return Outage("busy", detail)
    if isinstance(error, sa.exc.DisconnectionError | sa.exc.InterfaceError | ConnectionError):
        return Outage("unreachable", detail)
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return Outage("unreachable", detail)
    if isinstance(error, sa.exc.OperationalError):
        # A connection that could not be made (psycopg: "connection failed: … Connection refused") has no SQLSTATE.
        return Outage("unreachable" if sqlstate is None and "connect" in detail.lower() else "unavailable", detail)
    if isinstance(error, TimeoutError):
        return Outage("busy", detail)
    if isinstance(error, OSError) and error.errno in _OS:  # e.g. the SQLite folder cannot be created
        return Outage(_OS[error.errno], detail)
    return None


def store_label(url: str) -> str:
    """Which store, for people: ``SQLite file data/pulseboard.db`` or ``postgresql at db.internal:5432/pulseboard``.

    Never the user name or password.
    """
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {parsed.database or ':memory:'}"
    where = f"{parsed.host or 'localhost'}{f':{parsed.port}' if parsed.port else ''}/{parsed.database or ''}"
    return f"{parsed.get_backend_name()} at {where}"


class StoreHealth:
    """Since when this process has seen the store refuse it; cleared by the next write that succeeds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Outage | None = None

    @property
    def current(self) -> Outage | None:
        """The outage going on (with ``since_ms``), or None while the store answers."""
        return self._current

    def failed(self, outage: Outage, at_ms: int | None = None) -> Outage:
        """Note ``outage``; returns it with the time the store first refused (this outage's start)."""
        with self._lock:
            since = self._current.since_ms if self._current is not None else None
            self._current = replace(outage, since_ms=since or at_ms or now_ms())
            return self._current

    def succeeded(self) -> None:
        """A write went through: the outage, if any, is over."""
        with self._lock:
            self._current = None


HEALTH = StoreHealth()
