"""Rollup tiers: fold raw samples into 1-minute, 5-minute and 1-hour buckets.

Each bucket holds count, sum, min, max and the last value with its time, so avg, min,
max, last and counter rates are exact at every tier and buckets compose: a 5m or 1h
bucket is computed from the 1m buckets inside it.

Work is incremental. Ingest calls :func:`mark_dirty` (on Postgres, runs :func:`mark_dirty_sql`)
in the same transaction as the samples it writes, upserting one ``rollup_dirty`` row per
touched (series, minute) and bumping its ``mark``. :func:`run_rollup` then, per chunk of dirty minutes:

* minutes at or after the raw horizon (raw samples still complete there) are
  recomputed from raw, so a late or overwritten sample simply corrects its bucket and
  a re-run writes the same rows again (idempotent);
* the 5m and 1h buckets containing them are recomputed from the 1m tier;
* minutes before the raw horizon (retention already deleted their raw samples) can
  only hold samples that arrived after that deletion: these are merged into the
  existing 1m/5m/1h buckets and then deleted, so they are counted exactly once;
* a dirty row is deleted only if its mark is unchanged, so a write that lands while
  the chunk is being computed is picked up by the next run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy.engine import Connection, Engine

from core.store.leases import fence

MINUTE_MS = 60_000
TIER_MS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000}
RAW_HORIZON = "raw_horizon"
CHUNK_KEYS = 5_000  # dirty (series, minute) rows per transaction: bounds how long ingest waits
_UNION_TERMS = 200  # range sub-selects per statement (SQLite allows 500)

BUCKET_SCHEMA = {
    "series_id": pl.Int64,
    "bucket": pl.Int64,
    "count": pl.Int64,
    "sum": pl.Float64,
    "min": pl.Float64,
    "max": pl.Float64,
    "last": pl.Float64,
    "last_ts": pl.Int64,
}
BUCKET_COLUMNS = tuple(BUCKET_SCHEMA)
Key = tuple[int, int]


@dataclass
class RollupStats:
    """What one :func:`run_rollup` call did."""

    minutes: int = 0
    raw_samples: int = 0
    late_samples: int = 0
    rows_written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIER_MS, 0))
    seconds: float = 0.0


def _ph(connection: Connection) -> str:
    return "%s" if connection.dialect.name == "postgresql" else "?"


def mark_dirty(connection: Connection, rows: Iterable[tuple[int, int, float]]) -> None:
    """Queue the (series, minute) buckets of just-written ``(series_id, ts, value)`` rows for rollup."""
    keys = sorted({(sid, ts - ts % MINUTE_MS) for sid, ts, _ in rows})  # sorted: one lock order on Postgres
    if keys:
        p = _ph(connection)
        connection.exec_driver_sql(
            f"INSERT INTO rollup_dirty (series_id, bucket, mark) VALUES ({p}, {p}, 1) "
            "ON CONFLICT (series_id, bucket) DO UPDATE SET mark = rollup_dirty.mark + 1",
            keys,  # type: ignore[arg-type]
        )


def mark_dirty_sql(staged: str) -> str:
    """:func:`mark_dirty` as one Postgres statement over rows already staged server-side in table ``staged``.

    The writer stages each batch for COPY; deriving the (series, minute) keys there costs one
    statement instead of a round trip per key. Same keys, same lock order, same mark bump.
    """
    return (
        f"INSERT INTO rollup_dirty (series_id, bucket, mark) SELECT DISTINCT series_id, ts - ts % {MINUTE_MS}, 1 "
        f"FROM {staged} ORDER BY 1, 2 ON CONFLICT (series_id, bucket) DO UPDATE SET mark = rollup_dirty.mark + 1"
    )


def read_state(connection: Connection, name: str, default: int = 0) -> int:
    """A watermark from ``rollup_state``."""
    p = _ph(connection)
    value = connection.exec_driver_sql(f"SELECT value FROM rollup_state WHERE name = {p}", (name,)).scalar()
    return default if value is None else int(value)


def write_state(connection: Connection, name: str, value: int) -> None:
    """Set a watermark in ``rollup_state``."""
    p = _ph(connection)
    connection.exec_driver_sql(
        f"INSERT INTO rollup_state (name, value) VALUES ({p}, {p}) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def empty_buckets() -> pl.DataFrame:
    """A bucket frame with no rows."""
    return pl.DataFrame(schema=BUCKET_SCHEMA)


def raw_as_buckets(raw: pl.DataFrame, columns: Sequence[str] = BUCKET_COLUMNS[2:]) -> pl.DataFrame:
    """Raw ``(series_id, ts, value)`` rows as one-sample buckets (only ``columns``), so every tier composes alike."""
    as_bucket = {
        "count": pl.lit(1, pl.Int64),
        "sum": pl.col("value"),
        "min": pl.col("value"),
        "max": pl.col("value"),
        "last": pl.col("value"),
        "last_ts": pl.col("ts").cast(pl.Int64),
    }
    return raw.select(
        pl.col("series_id").cast(pl.Int64),
        pl.col("ts").cast(pl.Int64).alias("bucket"),
        *(as_bucket[c].alias(c) for c in columns),
    )


_COMPOSE = {
    "count": pl.col("count").sum(),
    "sum": pl.col("sum").sum(),
    "min": pl.col("min").min(),
    "max": pl.col("max").max(),
    "last": pl.col("last").sort_by("last_ts", maintain_order=True).last(),
    "last_ts": pl.col("last_ts").max(),
}


def compose(buckets: pl.DataFrame, step_ms: int) -> pl.DataFrame:
    """Merge buckets into ``step_ms``-wide ones, from whichever bucket columns are present.

    On equal ``last_ts`` the later row wins.
    """
    columns = [c for c in BUCKET_COLUMNS[2:] if c in buckets.columns]
    return (
        buckets.with_columns(pl.col("bucket") - pl.col("bucket") % step_ms)
        .group_by("series_id", "bucket", maintain_order=True)
        .agg(_COMPOSE[c].alias(c) for c in columns)
        .select("series_id", "bucket", *columns)
    )


def key_ranges(keys: Iterable[Key], width_ms: int, max_gap: int = 0) -> list[tuple[int, int, int]]:
    """(series_id, start, end) ranges covering each key's bucket; runs closer than ``max_gap`` buckets merge."""
    ranges: list[tuple[int, int, int]] = []
    for sid, bucket in sorted(keys):
        if ranges and ranges[-1][0] == sid and bucket <= ranges[-1][2] + max_gap * width_ms:
            ranges[-1] = (sid, ranges[-1][1], bucket + width_ms)
        else:
            ranges.append((sid, bucket, bucket + width_ms))
    return ranges


def fetch_ranges(connection: Connection, table: str, ranges: Sequence[tuple[int, int, int]]) -> pl.DataFrame:
    """Rows of ``samples`` (as one-sample buckets) or of a tier table inside the given ranges."""
    raw = table == "samples"
    columns = "series_id, ts, value" if raw else 'series_id, bucket, "count", "sum", "min", "max", "last", last_ts'
    time_col = "ts" if raw else "bucket"
    p = _ph(connection)
    rows: list[tuple[object, ...]] = []
    for start in range(0, len(ranges), _UNION_TERMS):
        part = ranges[start : start + _UNION_TERMS]
        term = f"SELECT {columns} FROM {table} WHERE series_id = {p} AND {time_col} >= {p} AND {time_col} < {p}"
        sql = " UNION ALL ".join([term] * len(part))
        rows.extend(connection.exec_driver_sql(sql, tuple(v for r in part for v in r)).fetchall())  # type: ignore[arg-type]
    if raw:
        frame = pl.DataFrame(rows, schema={"series_id": pl.Int64, "ts": pl.Int64, "value": pl.Float64}, orient="row")
        return raw_as_buckets(frame)
    return pl.DataFrame(rows, schema=BUCKET_SCHEMA, orient="row")


def upsert_buckets(connection: Connection, tier: str, frame: pl.DataFrame) -> int:
    """Write bucket rows into ``samples_<tier>``, replacing existing ones."""
    if frame.is_empty():
        return 0
    p = _ph(connection)
    connection.exec_driver_sql(
        f'INSERT INTO samples_{tier} (series_id, bucket, "count", "sum", "min", "max", "last", last_ts) '
        f"VALUES ({', '.join([p] * 8)}) ON CONFLICT (series_id, bucket) DO UPDATE SET "
        '"count" = excluded."count", "sum" = excluded."sum", "min" = excluded."min", '
        '"max" = excluded."max", "last" = excluded."last", last_ts = excluded.last_ts',
        frame.select(BUCKET_COLUMNS).rows(),  # type: ignore[arg-type]
    )
    return frame.height


def _delete_keys(
    connection: Connection, table: str, column: str, keys: Sequence[tuple[int, ...]], extra: str = ""
) -> None:
    if keys:
        p = _ph(connection)
        connection.exec_driver_sql(
            f"DELETE FROM {table} WHERE series_id = {p} AND {column} = {p}{extra}",
            list(keys),  # type: ignore[arg-type]
        )


def _key_frame(keys: Iterable[Key]) -> pl.DataFrame:
    return pl.DataFrame(list(keys), schema={"series_id": pl.Int64, "bucket": pl.Int64}, orient="row")


def _recompute(connection: Connection, source: str, tier: str, keys: set[Key]) -> int:
    """Rebuild the ``tier`` buckets named by ``keys`` from ``source``; buckets left without data are deleted."""
    step = TIER_MS[tier]
    source_step = MINUTE_MS if source == "samples" else TIER_MS[source.removeprefix("samples_")]
    # Neighbouring buckets are fetched in one range; recomputing them too is harmless and exact.
    ranges = key_ranges(keys, step, max_gap=max(1, 10 * source_step // step))
    fresh = compose(fetch_ranges(connection, source, ranges), step).join(_key_frame(keys), on=["series_id", "bucket"])
    written = upsert_buckets(connection, tier, fresh)
    gone = keys - set(fresh.select("series_id", "bucket").iter_rows())
    _delete_keys(connection, f"samples_{tier}", "bucket", sorted(gone))
    return written


def _merge_late(connection: Connection, keys: set[Key], stats: RollupStats) -> None:
    """Fold raw samples that arrived after retention passed their minute into every tier, then drop them."""
    late = fetch_ranges(connection, "samples", key_ranges(keys, MINUTE_MS))
    if late.is_empty():
        return
    for tier, step in TIER_MS.items():
        delta = compose(late, step)
        existing = fetch_ranges(
            connection, f"samples_{tier}", key_ranges(delta.select("series_id", "bucket").iter_rows(), step)
        )
        stats.rows_written[tier] += upsert_buckets(connection, tier, compose(pl.concat([existing, delta]), step))
    _delete_keys(connection, "samples", "ts", late.select("series_id", "bucket").rows())
    stats.late_samples += late.height


def _roll_chunk(connection: Connection, dirty: list[tuple[int, int, int]], stats: RollupStats) -> None:
    horizon = read_state(connection, RAW_HORIZON)
    recent = {(sid, b) for sid, b, _ in dirty if b >= horizon}
    old = {(sid, b) for sid, b, _ in dirty if b < horizon}
    if old:
        _merge_late(connection, old, stats)
    if recent:
        raw = fetch_ranges(connection, "samples", key_ranges(recent, MINUTE_MS, max_gap=10))
        stats.raw_samples += raw.height
        fresh = compose(raw, MINUTE_MS).join(_key_frame(recent), on=["series_id", "bucket"])
        stats.rows_written["1m"] += upsert_buckets(connection, "1m", fresh)
        _delete_keys(
            connection, "samples_1m", "bucket", sorted(recent - set(fresh.select("series_id", "bucket").iter_rows()))
        )
        for tier in ("5m", "1h"):
            step = TIER_MS[tier]
            stats.rows_written[tier] += _recompute(
                connection, "samples_1m", tier, {(sid, b - b % step) for sid, b in recent}
            )
    _delete_keys(connection, "rollup_dirty", "bucket", dirty, f" AND mark = {_ph(connection)}")
    stats.minutes += len(dirty)


def run_rollup(engine: Engine, now_ms: int | None = None, *, chunk: int = CHUNK_KEYS) -> RollupStats:
    """Bring the 1m/5m/1h tiers up to date with every sample written so far; safe to re-run.

    ``now_ms`` is accepted for the scheduler's uniform job signature; rollups do not
    depend on the clock. Each chunk of dirty minutes is one transaction.
    """
    del now_ms
    started = time.perf_counter()
    stats = RollupStats()
    after: tuple[int, int] = (-1, -1)
    while True:
        with engine.begin() as connection:
            p = _ph(connection)
            dirty = [
                (int(s), int(b), int(m))
                for s, b, m in connection.exec_driver_sql(
                    "SELECT series_id, bucket, mark FROM rollup_dirty "
                    f"WHERE (series_id, bucket) > ({p}, {p}) ORDER BY series_id, bucket LIMIT {int(chunk)}",
                    after,
                )
            ]
            if dirty:
                fence(connection)  # a replica whose rollup lease moved on writes no tier
                _roll_chunk(connection, dirty, stats)
        if len(dirty) < chunk:
            break
        after = dirty[-1][:2]
    stats.seconds = time.perf_counter() - started
    return stats


__all__ = ["RollupStats", "compose", "mark_dirty", "mark_dirty_sql", "raw_as_buckets", "run_rollup"]
