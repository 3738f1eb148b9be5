"""Retention: delete what is past its age, in small transactions, and hand space back.

Ages come from settings (defaults: raw 24 h, 1m 7 d, 5m 30 d, 1h 400 d, events 90 d,
compliance events 3 years). Every delete is bounded so ingest never waits long:

* raw samples are deleted in time slices walking forward from the *raw horizon*; each
  slice and the new horizon commit together, so the rollup job always knows that raw
  data at or after the horizon is complete. A slice never crosses a minute that is
  still waiting for its rollup, so nothing is deleted before it is in the 1m tier;
* rollup tiers are deleted a group of series at a time; the 1m tier always keeps the
  hours the 5m/1h tiers are still recomputed from (everything from the raw horizon's
  hour on);
* events are deleted a few thousand ids at a time; compliance events have their own age;
* logged SLA breaches (``sla_breaches``, the compliance report's evidence) are kept as long
  as compliance events and deleted the same way, by the time each crossed its target;
* on SQLite the freed pages are returned with ``PRAGMA incremental_vacuum``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.config import Settings
from core.model import now_ms as clock_ms
from core.store import schema
from core.store.leases import fence
from core.store.rollup import MINUTE_MS, RAW_HORIZON, TIER_MS, read_state, write_state

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
COMPLIANCE_EVENT_PREFIXES = ("qa.compliance", "qse.")
SERIES_PER_CHUNK = 100
EVENTS_PER_CHUNK = 5_000
BREACHES_PER_CHUNK = 5_000
RAW_ROWS_PER_SLICE = 50_000  # target rows per raw-delete transaction; the slice width adapts to it
VACUUM_PAGES_PER_STEP = 2_000


@dataclass
class RetentionStats:
    """What one :func:`run_retention` call removed."""

    deleted: dict[str, int] = field(default_factory=dict)
    raw_horizon_ms: int = 0
    raw_waiting_for_rollup: bool = False
    finished: bool = True
    vacuumed_pages: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Cutoffs:
    """Epoch-ms ages: rows strictly older than these are removed."""

    raw: int
    tiers: dict[str, int]
    events: int
    compliance: int


def cutoffs(settings: Settings, now_ms: int) -> Cutoffs:
    """The cutoffs the settings imply at ``now_ms`` (raw to the minute, tiers to their bucket)."""

    def floor(value: float, step: int) -> int:
        return int(value) - int(value) % step

    return Cutoffs(
        raw=floor(now_ms - settings.retention_raw_hours * HOUR_MS, MINUTE_MS),
        tiers={
            "1m": floor(now_ms - settings.retention_1m_days * DAY_MS, HOUR_MS),
            "5m": floor(now_ms - settings.retention_5m_days * DAY_MS, TIER_MS["5m"]),
            "1h": floor(now_ms - settings.retention_1h_days * DAY_MS, HOUR_MS),
        },
        events=int(now_ms - settings.retention_events_days * DAY_MS),
        compliance=int(now_ms - settings.retention_compliance_days * DAY_MS),
    )


def _oldest_raw(connection: Connection) -> int | None:
    # One primary-key seek per series: samples has no index on ts alone.
    value = connection.exec_driver_sql(
        "SELECT min((SELECT min(ts) FROM samples WHERE samples.series_id = series.id)) FROM series"
    ).scalar()
    return None if value is None else int(value)


class _Blocked(Exception):
    """A minute in the slice became dirty while it was being deleted; undo and stop."""


def _delete_raw(engine: Engine, cutoff: int, deadline: float, stats: RetentionStats) -> None:
    with engine.connect() as connection:
        horizon = read_state(connection, RAW_HORIZON)
        if horizon == 0:
            oldest = _oldest_raw(connection)
            horizon = cutoff if oldest is None else oldest - oldest % MINUTE_MS
    slice_ms = 10 * MINUTE_MS
    deleted = 0
    while horizon < cutoff:
        if time.monotonic() > deadline:
            stats.finished = False
            break
        with engine.connect() as connection:
            oldest_dirty = connection.exec_driver_sql("SELECT min(bucket) FROM rollup_dirty").scalar()
        end = min(horizon + slice_ms, cutoff)
        if oldest_dirty is not None and int(oldest_dirty) < end:
            end = max(horizon, int(oldest_dirty))
            stats.raw_waiting_for_rollup = True
            if end == horizon:
                break
        try:
            with engine.begin() as connection:
                write_state(connection, RAW_HORIZON, end)  # first statement: takes SQLite's write lock
                fence(connection)  # a replica whose retention lease moved on deletes nothing
                p = "%s" if connection.dialect.name == "postgresql" else "?"
                count = connection.exec_driver_sql(
                    f"DELETE FROM samples WHERE series_id IN (SELECT id FROM series) AND ts >= {p} AND ts < {p}",
                    (horizon, end),
                ).rowcount
                raced = connection.exec_driver_sql(
                    f"SELECT 1 FROM rollup_dirty WHERE bucket >= {p} AND bucket < {p} LIMIT 1", (horizon, end)
                ).first()
                if raced:
                    raise _Blocked
        except _Blocked:
            stats.raw_waiting_for_rollup = True
            break
        deleted += max(count, 0)
        horizon = end
        if count > RAW_ROWS_PER_SLICE:
            slice_ms = max(MINUTE_MS, slice_ms // 2 - slice_ms // 2 % MINUTE_MS)
        elif count < RAW_ROWS_PER_SLICE // 4:
            slice_ms = min(6 * HOUR_MS, slice_ms * 2)
    stats.deleted["samples"] = deleted
    stats.raw_horizon_ms = horizon


def _delete_tier(engine: Engine, tier: str, cutoff: int, deadline: float, stats: RetentionStats) -> None:
    table = schema.ROLLUP_TABLES[tier]
    with engine.connect() as connection:
        ids = list(connection.scalars(sa.select(schema.series.c.id).order_by(schema.series.c.id)))
    deleted = 0
    for start in range(0, len(ids), SERIES_PER_CHUNK):
        if time.monotonic() > deadline:
            stats.finished = False
            break
        with engine.begin() as connection:
            fence(connection)
            deleted += connection.execute(
                table.delete().where(
                    table.c.series_id.in_(ids[start : start + SERIES_PER_CHUNK]), table.c.bucket < cutoff
                )
            ).rowcount
    stats.deleted[table.name] = deleted


def _delete_events(engine: Engine, cut: Cutoffs, deadline: float, stats: RetentionStats) -> None:
    table = schema.events
    compliance = sa.or_(*(table.c.type.startswith(prefix, autoescape=True) for prefix in COMPLIANCE_EVENT_PREFIXES))
    deleted = 0
    for condition in (
        sa.and_(table.c.ts < cut.events, sa.not_(compliance)),
        sa.and_(table.c.ts < cut.compliance, compliance),
    ):
        while True:
            if time.monotonic() > deadline:
                stats.finished = False
                stats.deleted["events"] = deleted
                return
            with engine.begin() as connection:
                fence(connection)
                ids = sa.select(table.c.id).where(condition).limit(EVENTS_PER_CHUNK).scalar_subquery()
                count = connection.execute(table.delete().where(table.c.id.in_(ids))).rowcount
            deleted += count
            if count < EVENTS_PER_CHUNK:
                break
    stats.deleted["events"] = deleted


def _delete_breaches(engine: Engine, cutoff: int, deadline: float, stats: RetentionStats) -> None:
    table = schema.sla_breaches
    deleted = 0
    while True:
        if time.monotonic() > deadline:
            stats.finished = False
            break
        with engine.begin() as connection:
            fence(connection)
            ids = (
                sa.select(table.c.id)
                .where(table.c.ts < cutoff)
                .order_by(table.c.id)
                .limit(BREACHES_PER_CHUNK)
                .scalar_subquery()
            )
            count = connection.execute(table.delete().where(table.c.id.in_(ids))).rowcount
        deleted += count
        if count < BREACHES_PER_CHUNK:
            break
    stats.deleted[table.name] = deleted


def incremental_vacuum(engine: Engine, deadline: float) -> int:
    """Return free SQLite pages to the file system a step at a time; pages released."""
    if engine.dialect.name != "sqlite":
        return 0  # Postgres reuses space through autovacuum
    released = 0
    with engine.connect() as connection:
        if connection.exec_driver_sql("PRAGMA auto_vacuum").scalar() != 2:
            return 0
        while time.monotonic() < deadline:
            free = int(connection.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
            if not free:
                break
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES_PER_STEP})")
            cursor.fetchall()  # each step of the statement frees pages; run it to the end
            cursor.close()
            connection.commit()
            left = int(connection.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
            released += free - left
            if left >= free:
                break
    return released


def run_retention(
    engine: Engine, settings: Settings, now_ms: int | None = None, *, max_seconds: float = 20.0
) -> RetentionStats:
    """Delete raw samples, rollups, events and SLA breaches past their configured age; resumable if cut short."""
    started = time.perf_counter()
    deadline = time.monotonic() + max_seconds
    cut = cutoffs(settings, clock_ms() if now_ms is None else now_ms)
    stats = RetentionStats()
    _delete_raw(engine, cut.raw, deadline, stats)
    horizon_hour = stats.raw_horizon_ms - stats.raw_horizon_ms % HOUR_MS
    for tier, cutoff in cut.tiers.items():
        # 5m/1h buckets from the raw horizon's hour on are recomputed from 1m: keep those 1m rows.
        _delete_tier(engine, tier, min(cutoff, horizon_hour) if tier == "1m" else cutoff, deadline, stats)
    _delete_events(engine, cut, deadline, stats)
    _delete_breaches(engine, cut.compliance, deadline, stats)
    stats.vacuumed_pages = incremental_vacuum(engine, deadline)
    stats.seconds = time.perf_counter() - started
    return stats


__all__ = ["COMPLIANCE_EVENT_PREFIXES", "Cutoffs", "RetentionStats", "cutoffs", "incremental_vacuum", "run_retention"]
