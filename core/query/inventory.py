"""What the store holds right now: the Overview page's proof that data is flowing.

Kept apart from the time-series query layer because these are catalogue questions
(how many series, what arrived last) rather than range queries over one series.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.model import now_ms
from core.store import schema


@dataclass(frozen=True)
class StoreTotals:
    """Headline counts for the store."""

    series: int
    samples_last_hour: int
    events_last_day: int
    newest_sample_ms: int | None
    newest_event_ms: int | None


def store_totals(engine: Engine, now: int | None = None) -> StoreTotals:
    """Series count and recent volume, cheap enough to run on every page refresh."""
    now = now_ms() if now is None else now
    s, e = schema.samples, schema.events
    with engine.connect() as connection:
        series = connection.execute(sa.select(sa.func.count()).select_from(schema.series)).scalar_one()
        recent = connection.execute(sa.select(sa.func.count()).where(s.c.ts >= now - 3_600_000)).scalar_one()
        events = connection.execute(sa.select(sa.func.count()).where(e.c.ts >= now - 86_400_000)).scalar_one()
        newest_sample = connection.execute(sa.select(sa.func.max(s.c.ts))).scalar()
        newest_event = connection.execute(sa.select(sa.func.max(e.c.received_ms))).scalar()
    return StoreTotals(series, recent, events, newest_sample, newest_event)


def latest_samples(engine: Engine, limit: int = 20) -> pl.DataFrame:
    """The newest value of the most recently updated series: name, labels, value, time."""
    s, series = schema.samples, schema.series
    newest = (
        sa.select(s.c.series_id, sa.func.max(s.c.ts).label("ts"))
        .group_by(s.c.series_id)
        .order_by(sa.desc("ts"))
        .limit(limit)
        .subquery()
    )
    query = (
        sa.select(series.c.name, series.c.labels, s.c.value, s.c.ts)
        .join(newest, sa.and_(s.c.series_id == newest.c.series_id, s.c.ts == newest.c.ts))
        .join(series, series.c.id == s.c.series_id)
        .order_by(s.c.ts.desc(), series.c.name)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pl.DataFrame(
        [(r.name, _labels_text(r.labels), r.value, r.ts) for r in rows],
        schema={"name": pl.String, "labels": pl.String, "value": pl.Float64, "ts": pl.Int64},
        orient="row",
    )
    return frame.with_columns(time=pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC")).drop("ts")


def latest_events(engine: Engine, limit: int = 20) -> pl.DataFrame:
    """The most recent events by their own timestamp: time, type, source, id."""
    e = schema.events
    query = sa.select(e.c.ts, e.c.type, e.c.source, e.c.id).order_by(e.c.ts.desc()).limit(limit)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"ts": pl.Int64, "type": pl.String, "source": pl.String, "id": pl.String},
        orient="row",
    )
    return frame.with_columns(time=pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC")).select(
        "time", "type", "source", "id"
    )


def _labels_text(raw: str) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in json.loads(raw).items())
