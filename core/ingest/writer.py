"""Write a validated batch in one transaction: all of it or none of it.

Series ids are resolved through a per-engine cache so the hot path is one
``executemany`` of plain tuples (SQLite) or one binary COPY (Postgres). A repeated
(series, ts) overwrites the value, which makes re-sending a batch harmless; a repeated
event id is counted and skipped.
"""

from __future__ import annotations

import struct
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.ingest.feeds import FeedMark, record_feed
from core.model import Event, Sample, labels_json, now_ms, series_fingerprint
from core.store import schema
from core.store.leases import fence
from core.store.rollup import mark_dirty, mark_dirty_sql

CHUNK = 500  # keeps IN (...) lists under every backend's parameter limit


@dataclass(frozen=True)
class WriteResult:
    """What one batch changed in the store."""

    samples_written: int = 0
    series_created: int = 0
    events_written: int = 0
    events_duplicate: int = 0


class SeriesCache:
    """fingerprint -> series id, filled only with ids that are committed."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, fingerprint: str) -> int | None:
        return self._ids.get(fingerprint)

    def update(self, found: dict[str, int]) -> None:
        with self._lock:
            self._ids.update(found)

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()


_caches: weakref.WeakKeyDictionary[Engine, SeriesCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def series_cache(engine: Engine) -> SeriesCache:
    """The series-id cache belonging to ``engine``."""
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = SeriesCache()
        return cache


def forget_series(engine: Engine) -> None:
    """Drop cached series ids after series were deleted (demo purge, retention, tests)."""
    series_cache(engine).clear()


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _lookup(connection: Connection, fingerprints: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    table = schema.series
    for chunk in _chunks(fingerprints):
        rows = connection.execute(sa.select(table.c.fingerprint, table.c.id).where(table.c.fingerprint.in_(chunk)))
        found.update({fp: sid for fp, sid in rows})
    return found


def _insert_ignore(connection: Connection, table: sa.Table, key: str) -> sa.Insert:
    """INSERT that skips rows whose ``key`` already exists, in the backend's dialect."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=[key])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=[key])


def resolve_series(
    connection: Connection, samples: Sequence[Sample], cache: SeriesCache
) -> tuple[list[int], dict[str, int], int]:
    """Series id for each sample, the ids not yet cached, and how many series were created."""
    keys: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    for sample in samples:
        key = (sample.name, sample.labels)
        if key not in keys:
            keys[key] = series_fingerprint(*key)
    ids = {fp: cache.get(fp) for fp in keys.values()}
    missing = [fp for fp, sid in ids.items() if sid is None]
    fresh: dict[str, int] = {}
    created = 0
    if missing:
        fresh = _lookup(connection, missing)
        absent = set(missing) - set(fresh)
        if absent:
            kinds = {(s.name, s.labels): s.kind for s in samples}
            stamp = now_ms()
            rows: list[dict[str, object]] = [
                {
                    "fingerprint": fp,
                    "name": name,
                    "labels": labels_json(labels),
                    "kind": kinds[(name, labels)],
                    "created_ms": stamp,
                }
                for (name, labels), fp in keys.items()
                if fp in absent
            ]
            connection.execute(_insert_ignore(connection, schema.series, "fingerprint"), rows)
            fresh.update(_lookup(connection, sorted(absent)))
            created = len(absent)
        ids.update(fresh)
    return [ids[keys[(s.name, s.labels)]] for s in samples], fresh, created  # type: ignore[misc]


_UPSERT_SAMPLES = (
    "INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?) "
    "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value"
)


_COPY_ROW = struct.Struct(">hiiiqid")  # binary COPY row: 3 fields, each (length, value): int4, int8, float8
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_COPY_TRAILER = b"\xff\xff"


_MERGE = "INSERT INTO samples (series_id, ts, value) SELECT series_id, ts, value FROM samples_incoming"


def _merge_staged(cursor: Any) -> None:
    """Move the staged rows into ``samples``; a (series, ts) already stored takes the new value.

    A plain INSERT costs the server half what ON CONFLICT DO UPDATE does, and new points are
    the usual case, so it is tried first under a savepoint; only a batch that overlaps stored
    points (a resend) is rolled back to it and upserted.
    """
    from psycopg.errors import UniqueViolation  # here: only a Postgres store needs psycopg loaded

    cursor.execute("SAVEPOINT samples_plain")
    try:
        cursor.execute(_MERGE)
    except UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT samples_plain")
        cursor.execute(f"{_MERGE} ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value")
    cursor.execute("RELEASE SAVEPOINT samples_plain")


def _copy_upsert_postgres(connection: Connection, rows: list[tuple[int, int, float]]) -> None:
    """COPY into a temporary table, then merge: several times faster than row inserts.

    The rows go as one binary COPY buffer packed by ``struct`` (a Python call per row to
    psycopg's ``write_row`` cost as much as the server's merge), and the rollup's dirty
    minutes are derived from the staged rows on the server, in one statement.
    """
    # One INSERT may not touch a row twice, so a repeated (series, ts) keeps its last value.
    rows = list({(sid, ts): (sid, ts, value) for sid, ts, value in rows}.values())
    pack = _COPY_ROW.pack
    data = b"".join([_COPY_HEADER, *[pack(3, 4, sid, 8, ts, 8, value) for sid, ts, value in rows], _COPY_TRAILER])
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS samples_incoming "
            "(series_id integer, ts bigint, value double precision) ON COMMIT DELETE ROWS"
        )
        with cursor.copy("COPY samples_incoming (series_id, ts, value) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(data)
        _merge_staged(cursor)
        cursor.execute(mark_dirty_sql("samples_incoming"))
        cursor.execute("DELETE FROM samples_incoming")


def write_samples(
    connection: Connection, samples: Sequence[Sample], cache: SeriesCache
) -> tuple[int, dict[str, int], int]:
    """Upsert samples; returns how many were written, ids to cache after commit, series created."""
    if not samples:
        return 0, {}, 0
    series_ids, fresh, created = resolve_series(connection, samples, cache)
    rows = [(sid, s.ts, s.value) for sid, s in zip(series_ids, samples, strict=True)]
    if connection.dialect.name == "postgresql":
        _copy_upsert_postgres(connection, rows)  # marks the rollup's dirty minutes too
    else:
        connection.exec_driver_sql(_UPSERT_SAMPLES, rows)  # type: ignore[arg-type]
        mark_dirty(connection, rows)
    return len(samples), fresh, created


def write_events(connection: Connection, events: Sequence[Event]) -> tuple[int, int]:
    """Insert events not already stored; returns (written, duplicates)."""
    unique = list({e.id: e for e in reversed(events)}.values())[::-1]  # first of a repeated id wins
    received = now_ms()
    rows: list[dict[str, object]] = [
        {
            "id": e.id,
            "type": e.type,
            "ts": e.ts,
            "source": e.source,
            "data": e.data,
            "metadata": e.metadata,
            "received_ms": received,
        }
        for e in unique
    ]
    # ON CONFLICT DO NOTHING ... RETURNING yields only the ids actually inserted: no pre-lookup,
    # which on Postgres degraded to sequential scans while a freshly loaded table had no statistics.
    statement = _insert_ignore(connection, schema.events, "id").returning(schema.events.c.id)
    written = len(connection.execute(statement, rows).all()) if rows else 0
    return written, len(events) - written


def write_batch(
    engine: Engine, samples: Sequence[Sample], events: Sequence[Event], *, feed: FeedMark | None = None
) -> WriteResult:
    """Store samples and events in one transaction; nothing is kept if any part fails.

    ``feed``'s row is upserted last in the same transaction, so it is held only for the
    commit and a failed batch does not make its feed look fresh.
    """
    cache = series_cache(engine)
    for attempt in (1, 2):
        try:
            with engine.begin() as connection:
                fence(connection)  # in a leased job (recording rules, shared collectors): only the lease holder writes
                written, fresh, created = write_samples(connection, samples, cache)
                events_written, duplicates = write_events(connection, events) if events else (0, 0)
                if feed is not None:
                    record_feed(connection, feed, now_ms())
            break
        except sa.exc.IntegrityError:
            # A series another process deleted may still be cached here: forget and retry once.
            cache.clear()
            if attempt == 2:
                raise
    cache.update(fresh)
    return WriteResult(written, created, events_written, duplicates)
