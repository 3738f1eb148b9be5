"""Baselines: what a series usually does at this hour of the week, and drift away from it.

A baseline is the mean and standard deviation of a series' hourly values, per hour of the week
(slot 0 = Monday 00:00 UTC … 167) and over the whole history (slot -1, the rolling baseline). The
band at a time is ``mean ± sigma × spread`` of that time's slot when the slot holds at least
``min_samples`` hourly values, else of the rolling baseline; ``spread`` is the standard deviation,
but at least 5 % of the mean's size, so a series that never moved (0 % errors) still has a band
a real change can leave without every wobble being one. A band around a non-negative expected value
stops at 0 (durations, rates and percentages cannot go below it).

A series *drifts* when its newest values have all been outside the band (on the same side) for at
least ``drift_minutes``: one spike is an anomaly, not a new normal. Pure functions over polars frames
plus :func:`refresh` and :func:`load`, which read and write the ``baselines`` table.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import Settings
from core.query import series as read_series
from core.store import schema
from core.store.leases import fence

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
ROLLING = -1
SPREAD_FLOOR = 0.05  # the band's spread is at least this share of |mean|
BASELINE_SCHEMA = {
    "series": pl.String,
    "slot": pl.Int64,
    "mean": pl.Float64,
    "std": pl.Float64,
    "n": pl.Int64,
}


def slot(ts: pl.Expr) -> pl.Expr:
    """Hour of the week (Monday 00:00 UTC = 0) of epoch-millisecond times; 1970-01-01 was a Thursday (slot 72)."""
    return ((ts // HOUR_MS + 72) % 168).cast(pl.Int64)


def compute(hourly: pl.DataFrame) -> pl.DataFrame:
    """Baselines from hourly values (columns series, ts in epoch ms, value): one row per slot and a rolling row."""
    if hourly.is_empty():
        return pl.DataFrame(schema=BASELINE_SCHEMA)
    stats = [
        pl.col("value").mean().alias("mean"),
        pl.col("value").std(ddof=1).fill_null(0.0).alias("std"),
        pl.len().cast(pl.Int64).alias("n"),
    ]
    clean = hourly.filter(pl.col("value").is_finite())
    per_slot = clean.group_by("series", slot(pl.col("ts")).alias("slot")).agg(stats)
    rolling = clean.group_by("series").agg(stats).with_columns(pl.lit(ROLLING, pl.Int64).alias("slot"))
    return pl.concat([per_slot, rolling.select(per_slot.columns)]).select(list(BASELINE_SCHEMA)).sort("series", "slot")


def bands(values: pl.DataFrame, baselines: pl.DataFrame, *, sigma: float, min_samples: int) -> pl.DataFrame:
    """``values`` (series, ts epoch ms, value) with expected, lo and hi from their slot's baseline (or the rolling one).

    Series without any baseline get nulls.
    """
    own = baselines.filter(pl.col("slot") != ROLLING).select(
        "series", "slot", pl.col("mean").alias("s_mean"), pl.col("std").alias("s_std"), pl.col("n").alias("s_n")
    )
    rolling = baselines.filter(pl.col("slot") == ROLLING).select(
        "series", pl.col("mean").alias("r_mean"), pl.col("std").alias("r_std")
    )
    use_slot = pl.col("s_n").fill_null(0) >= min_samples
    expected = pl.when(use_slot).then(pl.col("s_mean")).otherwise(pl.col("r_mean"))
    spread = pl.when(use_slot).then(pl.col("s_std")).otherwise(pl.col("r_std"))
    width = sigma * pl.max_horizontal(spread, SPREAD_FLOOR * expected.abs())
    return (
        values.with_columns(slot(pl.col("ts")).alias("slot"))
        .join(own, on=["series", "slot"], how="left")
        .join(rolling, on="series", how="left")
        .with_columns(expected.alias("expected"), width.alias("width"))
        .select(
            *values.columns,
            "expected",
            pl.when(pl.col("expected") >= 0)
            .then((pl.col("expected") - pl.col("width")).clip(lower_bound=0.0))
            .otherwise(pl.col("expected") - pl.col("width"))
            .alias("lo"),
            (pl.col("expected") + pl.col("width")).alias("hi"),
        )
    )


@dataclass(frozen=True)
class Drift:
    """A series whose newest values have stayed outside its band since ``since_ms``."""

    series: str
    direction: str  # above or below
    since_ms: int
    minutes: float
    value: float  # mean of the values outside the band
    expected: float  # mean expected value over the same time


def drifts(banded: pl.DataFrame, *, min_minutes: float, step_ms: int) -> list[Drift]:
    """Series whose newest run of out-of-band values (same side) lasts at least ``min_minutes``.

    ``banded`` is :func:`bands` output of recent values at ``step_ms`` spacing; a run's length is
    its first to last time plus one step.
    """
    if banded.is_empty():
        return []
    side = pl.when(pl.col("value") > pl.col("hi")).then(1).when(pl.col("value") < pl.col("lo")).then(-1).otherwise(0)
    runs = (
        banded.filter(pl.col("expected").is_not_null())
        .sort("series", "ts")
        .with_columns(side.alias("side"))
        .with_columns((pl.col("side") != pl.col("side").shift(1)).fill_null(True).cum_sum().over("series").alias("run"))
    )
    last = runs.group_by("series").agg(pl.col("run").last())
    tail = (
        runs.join(last, on=["series", "run"])
        .group_by("series")
        .agg(
            pl.col("side").first(),
            pl.col("ts").min().alias("since"),
            pl.col("ts").max().alias("until"),
            pl.col("value").mean(),
            pl.col("expected").mean(),
        )
        .filter(pl.col("side") != 0)
        .with_columns(((pl.col("until") - pl.col("since") + step_ms) / 60_000).alias("minutes"))
        .filter(pl.col("minutes") >= min_minutes)
        .sort("series")
    )
    return [
        Drift(r["series"], "above" if r["side"] > 0 else "below", r["since"], r["minutes"], r["value"], r["expected"])
        for r in tail.iter_rows(named=True)
    ]


def epoch_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """A core.query result (ts Datetime) as series, ts (epoch ms), value."""
    return frame.select("series", pl.col("ts").dt.epoch("ms").alias("ts"), pl.col("value").cast(pl.Float64))


def read_values(
    engine: Engine, settings: Settings, start_ms: int, end_ms: int, step_ms: int, now_ms: int | None = None
) -> pl.DataFrame:
    """Every baselined series (settings.baseline_selectors) over [start, end) at ``step_ms``: series, ts, value."""
    frames = [
        epoch_frame(read_series(engine, s, start_ms, end_ms, step_ms=step_ms, settings=settings, now_ms=now_ms))
        for s in settings.baseline_selectors
    ]
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema={"series": pl.String, "ts": pl.Int64, "value": pl.Float64})
    return pl.concat(frames).unique(["series", "ts"], keep="first").sort("series", "ts")


def _row_id(name: str, slot_no: int) -> str:
    return hashlib.sha256(f"{name}\x00{slot_no}".encode()).hexdigest()


def save(engine: Engine, baselines: pl.DataFrame, computed_ms: int) -> None:
    """Replace the stored baselines with ``baselines`` in one transaction (series not in it lose theirs)."""
    table = schema.baselines
    rows = [{**r, "id": _row_id(r["series"], r["slot"]), "computed_ms": computed_ms} for r in baselines.to_dicts()]
    with engine.begin() as connection:
        fence(connection)  # a replica whose insights lease moved on replaces nothing
        connection.execute(sa.delete(table))
        for first in range(0, len(rows), 2_000):
            connection.execute(table.insert(), rows[first : first + 2_000])


def load(engine: Engine) -> tuple[pl.DataFrame, int | None]:
    """The stored baselines and when they were computed (None: never)."""
    table = schema.baselines
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.series, table.c.slot, table.c.mean, table.c.std, table.c.n, table.c.computed_ms)
        ).fetchall()
    frame = pl.DataFrame([r[:5] for r in rows], schema=BASELINE_SCHEMA, orient="row")
    return frame, (max(r[5] for r in rows) if rows else None)


def refresh(engine: Engine, settings: Settings, now_ms: int) -> int:
    """Recompute every baseline from the last ``baseline_days`` of hourly values and store them; returns rows."""
    end = now_ms - now_ms % HOUR_MS  # whole hours only: a half-filled hour would pull its slot down
    hourly = read_values(engine, settings, end - settings.baseline_days * DAY_MS, end, HOUR_MS, now_ms)
    computed = compute(hourly)
    save(engine, computed, now_ms)
    return computed.height
