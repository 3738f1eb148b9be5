"""Per-feed freshness, recorded where data enters: one ``feeds`` row per feed, upserted in the batch's transaction.

A *feed* is one source of data, named by whoever calls :func:`core.ingest.ingest`: the
origin (``collector:system``, ``collector:prometheus:node:db-1:9100``, ``recording``,
``demo``) or a finer name (``api:<token name>``, ``files:<file name>``). Recording it here,
rather than deriving it from the samples later, is what makes it cheap and exact: ingest is
the one write path, the row costs one upsert per batch, it is committed or rolled back with
the data it describes, and reading every feed's freshness is a scan of a table with one
row per source instead of a max over every series. Judging the numbers (expected
interval, lag, ok/late/stale) is the read side's job: core/query/feeds.py.

The row also learns how often the feed delivers, for feeds nobody declared an interval
for (files dropped by hand, the recording job): the step by which the feed's newest data
time moves forward from one batch to the next, kept as a *decaying maximum* (a larger step
is taken at once, a smaller one lowers the estimate by a tenth). Data time rather than
arrival time, because lag is measured in data time, and because the batches of one delivery
(a file read in chunks, one batch per recording rule) move it once, not once per batch; a
maximum rather than a mean, so a burst cannot teach an interval so short that a healthy feed
later looks stale. Steps under :data:`MIN_STEP_MS` (older data, a repeat) are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.model import Event, Sample
from core.store import schema

MIN_STEP_MS = 1_000
MAX_FEED_CHARS = 256  # the column's width; longer names (a very long file name) are cut, not refused

# Portable upsert: SQLite and Postgres both read ``feeds.x`` as the stored row and ``excluded.x``
# as the new one, and divide integers as integers (the decay keeps gap_ms whole milliseconds).
_UPSERT = sa.text(
    "INSERT INTO feeds (feed, first_ms, last_write_ms, last_data_ms, batches, items, gaps, gap_ms, interval_ms) "
    "VALUES (:feed, :now, :now, :newest, 1, :items, 0, NULL, :interval) "
    "ON CONFLICT (feed) DO UPDATE SET "
    "last_write_ms = CASE WHEN excluded.last_write_ms > feeds.last_write_ms "
    "THEN excluded.last_write_ms ELSE feeds.last_write_ms END, "
    "last_data_ms = CASE WHEN excluded.last_data_ms > feeds.last_data_ms "
    "THEN excluded.last_data_ms ELSE feeds.last_data_ms END, "
    "batches = feeds.batches + 1, "
    "items = feeds.items + excluded.items, "
    "gaps = feeds.gaps + CASE WHEN excluded.last_data_ms - feeds.last_data_ms >= :min_step THEN 1 ELSE 0 END, "
    "gap_ms = CASE WHEN excluded.last_data_ms - feeds.last_data_ms < :min_step THEN feeds.gap_ms "
    "WHEN feeds.gap_ms IS NULL OR excluded.last_data_ms - feeds.last_data_ms > feeds.gap_ms * 9 / 10 "
    "THEN excluded.last_data_ms - feeds.last_data_ms "
    "ELSE feeds.gap_ms * 9 / 10 END, "
    "interval_ms = COALESCE(excluded.interval_ms, feeds.interval_ms)"
).bindparams(
    sa.bindparam("interval", type_=sa.BigInteger),
    sa.bindparam("newest", type_=sa.BigInteger),
    sa.bindparam("now", type_=sa.BigInteger),
)


@dataclass(frozen=True)
class FeedMark:
    """What one batch tells about its feed: the newest data time in it, how many items, a declared interval."""

    feed: str
    newest_ms: int
    items: int
    interval_ms: int | None = None


def feed_mark(
    feed: str, samples: Sequence[Sample], events: Sequence[Event], interval_s: float | None = None
) -> FeedMark | None:
    """The mark of a batch, or None for an empty one: a collector that found nothing new delivered no data."""
    if not samples and not events:
        return None
    newest = max(max((s.ts for s in samples), default=0), max((e.ts for e in events), default=0))
    interval = None if interval_s is None else max(1, round(interval_s * 1000))
    return FeedMark(feed.strip()[:MAX_FEED_CHARS] or "unnamed", newest, len(samples) + len(events), interval)


def record_feed(connection: Connection, mark: FeedMark, now: int) -> None:
    """Upsert ``mark``'s feed row inside the caller's transaction; ``now`` is the arrival time."""
    connection.execute(
        _UPSERT,
        {
            "feed": mark.feed,
            "now": now,
            "newest": mark.newest_ms,
            "items": mark.items,
            "interval": mark.interval_ms,
            "min_step": MIN_STEP_MS,
        },
    )


def forget_feeds(connection: Connection, names: Iterable[str]) -> int:
    """Delete feed rows (the demo's after a purge, so a removed source is not reported stale forever)."""
    wanted = list(names)
    if not wanted:
        return 0
    return connection.execute(sa.delete(schema.feeds).where(schema.feeds.c.feed.in_(wanted))).rowcount or 0
