"""Live migration metrics: throughput, failed records, operation time and memory over the range, each with its
sparkline and the same figure over the range before, so "is it faster or slower than before?" reads at a glance.

Every figure is derived from raw input, whatever sent it (docs/migration.md, "Live metrics"):

* **throughput** (records/s) — records of ``migration.batch_completed`` events (``records``, else
  ``succeeded + failed``) over the range's seconds; per bucket, the bucket's records over its seconds;
* **failed records** (per minute) — the batches' ``failed`` records over the range's minutes;
* **operation time** (seconds, median) — ``migration.operation_timed`` durations of the *new* system, else
  (no such events in either range) the values of the series the plan compares old vs new; the median per
  bucket, and per system for the old-vs-new chart;
* **memory** (bytes) — ``system_memory_used_bytes`` of every host reporting it, summed per bucket (the mean
  of those sums over the range).

Buckets start at the range's start, every ``step_ms``; the last one may be shorter (a custom range ending
now), and rates divide by the time a bucket really covers. A range with no input for a figure has no value
(None) rather than a made-up zero; inside a range that has input, a bucket without a batch is a true 0
records/s. Pure functions over event frames (core.kpis.records.load_events' columns) and core.query result
frames; core.programmes.migration_store reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.kpis.records import number, text

BATCH = "migration.batch_completed"
TIMED = "migration.operation_timed"
LIVE_TYPES = (BATCH, TIMED)
MEMORY_SELECTOR = "system_memory_used_bytes"
Schema = dict[str, pl.DataType | type[pl.DataType]]
TREND_SCHEMA: Schema = {"ts": pl.Datetime("ms", "UTC"), "value": pl.Float64}
SYSTEM_TREND_SCHEMA: Schema = {"ts": pl.Datetime("ms", "UTC"), "series": pl.String, "value": pl.Float64}
TIMING_POINTS: Schema = {"ts": pl.Int64, "system": pl.String, "value": pl.Float64}


@dataclass(frozen=True)
class LiveMetric:
    """One live figure: its value over the range, the same over the range before, and a value per bucket."""

    key: str  # throughput | failures | latency | memory
    value: float | None
    previous: float | None
    trend: pl.DataFrame  # TREND_SCHEMA, one row per bucket of the range

    @property
    def change_pct(self) -> float | None:
        """(value − previous) ÷ previous × 100; None without both or when the previous is 0."""
        if self.value is None or self.previous is None or self.previous == 0:
            return None
        return (self.value - self.previous) / abs(self.previous) * 100


@dataclass(frozen=True)
class Live:
    """The four live metrics and the operation time per bucket for each system (old vs new)."""

    throughput: LiveMetric
    failures: LiveMetric
    latency: LiveMetric
    memory: LiveMetric
    latency_by_system: pl.DataFrame  # SYSTEM_TREND_SCHEMA: series "old" / "new"
    latency_source: str  # "events", "series" or "" (none)

    @property
    def metrics(self) -> list[LiveMetric]:
        return [self.throughput, self.failures, self.latency, self.memory]

    @property
    def has_data(self) -> bool:
        """Any of the four has a value in the range."""
        return any(m.value is not None for m in self.metrics)


def grid(start_ms: int, end_ms: int, step_ms: int) -> pl.DataFrame:
    """The range's buckets: bucket (start, epoch ms) and seconds (how long each really is)."""
    starts = pl.int_range(start_ms, end_ms, step_ms, eager=True, dtype=pl.Int64).alias("bucket")
    return pl.DataFrame(starts).with_columns(
        ((pl.min_horizontal(pl.col("bucket") + step_ms, pl.lit(end_ms)) - pl.col("bucket")) / 1000).alias("seconds")
    )


def _in(frame: pl.DataFrame, start_ms: int, end_ms: int) -> pl.DataFrame:
    return frame.filter(pl.col("ts").is_between(start_ms, end_ms, closed="left"))


def _bucket(start_ms: int, step_ms: int) -> pl.Expr:
    return start_ms + (pl.col("ts") - start_ms) // step_ms * step_ms


def _trend(values: pl.DataFrame, start_ms: int, end_ms: int, step_ms: int, per_s: float | None) -> pl.DataFrame:
    """``values`` (bucket, value) on the full grid: a sum per bucket over its seconds × ``per_s`` (0 where there
    is none), or, with ``per_s`` None, the values as they are (absent buckets left out)."""
    if per_s is None:
        joined = values.sort("bucket")
    else:
        joined = grid(start_ms, end_ms, step_ms).join(values, on="bucket", how="left")
        joined = joined.with_columns((pl.col("value").fill_null(0.0) / pl.col("seconds") * per_s).alias("value"))
    return joined.select(pl.from_epoch("bucket", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"), "value").cast(
        TREND_SCHEMA  # type: ignore[arg-type]
    )


def batch_records(activity: pl.DataFrame) -> pl.DataFrame:
    """``migration.batch_completed`` events as ts, records (``records``, else succeeded + failed), failed."""
    return (
        activity.filter(pl.col("type") == BATCH)
        .select(
            "ts",
            pl.coalesce(number("records"), number("succeeded") + number("failed")).alias("records"),
            number("failed").alias("failed"),
        )
        .filter(pl.col("records").is_not_null())
    )


def _batch_metric(
    key: str, column: str, per_s: float, batches: pl.DataFrame, start_ms: int, end_ms: int, step_ms: int
) -> LiveMetric:
    span_ms = end_ms - start_ms

    def total(a: int, b: int) -> float | None:
        part = _in(batches, a, b)
        if part.is_empty():
            return None
        return float(part[column].fill_null(0).sum()) / ((b - a) / 1000) * per_s

    now = _in(batches, start_ms, end_ms)
    per_bucket = now.group_by(_bucket(start_ms, step_ms).alias("bucket")).agg(
        pl.col(column).fill_null(0).sum().alias("value")
    )
    trend = _trend(per_bucket, start_ms, end_ms, step_ms, per_s) if now.height else pl.DataFrame(schema=TREND_SCHEMA)
    return LiveMetric(key, total(start_ms, end_ms), total(start_ms - span_ms, start_ms), trend)


def event_timings(activity: pl.DataFrame) -> pl.DataFrame:
    """``migration.operation_timed`` events as ts, system (old/new), value (duration in seconds)."""
    return (
        activity.filter(pl.col("type") == TIMED)
        .select("ts", text("system").str.to_lowercase().alias("system"), number("duration_s").alias("value"))
        .filter(pl.col("system").is_in(["old", "new"]) & pl.col("value").is_finite())
        .cast(TIMING_POINTS)  # type: ignore[arg-type]
    )


def series_points(frame: pl.DataFrame) -> pl.DataFrame:
    """A core.query result of series labelled system=old|new as ts (epoch ms), system, value."""
    if frame.is_empty():
        return pl.DataFrame(schema=TIMING_POINTS)
    return (
        frame.select(
            pl.col("ts").dt.epoch("ms").alias("ts"),
            pl.col("labels").str.json_path_match("$.system").str.to_lowercase().alias("system"),
            pl.col("value").cast(pl.Float64),
        )
        .filter(pl.col("system").is_in(["old", "new"]) & pl.col("value").is_finite())
        .cast(TIMING_POINTS)  # type: ignore[arg-type]
    )


def _latency(points: pl.DataFrame, start_ms: int, end_ms: int, step_ms: int) -> tuple[LiveMetric, pl.DataFrame]:
    span_ms = end_ms - start_ms

    def median(a: int, b: int) -> float | None:
        part = _in(points, a, b).filter(pl.col("system") == "new")["value"]
        return None if part.is_empty() else float(part.median())  # type: ignore[arg-type]

    now = _in(points, start_ms, end_ms)
    per_system = (
        now.group_by(_bucket(start_ms, step_ms).alias("bucket"), pl.col("system").alias("series"))
        .agg(pl.col("value").median())
        .sort("bucket", "series")
    )
    by_system = per_system.select(
        pl.from_epoch("bucket", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"), "series", "value"
    ).cast(SYSTEM_TREND_SCHEMA)  # type: ignore[arg-type]
    new = per_system.filter(pl.col("series") == "new").select("bucket", "value")
    metric = LiveMetric(
        "latency",
        median(start_ms, end_ms),
        median(start_ms - span_ms, start_ms),
        _trend(new, start_ms, end_ms, step_ms, None),
    )
    return metric, by_system


def host_sum(frame: pl.DataFrame) -> pl.DataFrame:
    """A core.query result summed over its series per timestamp: ts (epoch ms), value."""
    if frame.is_empty():
        return pl.DataFrame(schema={"ts": pl.Int64, "value": pl.Float64})
    return frame.group_by(pl.col("ts").dt.epoch("ms").alias("ts")).agg(pl.col("value").sum()).sort("ts")


def _memory(totals: pl.DataFrame, start_ms: int, end_ms: int, step_ms: int) -> LiveMetric:
    span_ms = end_ms - start_ms

    def mean(a: int, b: int) -> float | None:
        part = _in(totals, a, b)["value"]
        return None if part.is_empty() else float(part.mean())  # type: ignore[arg-type]

    now = _in(totals, start_ms, end_ms)
    per_bucket = now.group_by(_bucket(start_ms, step_ms).alias("bucket")).agg(pl.col("value").mean())
    return LiveMetric(
        "memory",
        mean(start_ms, end_ms),
        mean(start_ms - span_ms, start_ms),
        _trend(per_bucket, start_ms, end_ms, step_ms, None),
    )


def live_metrics(
    activity: pl.DataFrame,
    series_timings: pl.DataFrame,
    memory: pl.DataFrame,
    *,
    start_ms: int,
    end_ms: int,
    step_ms: int,
) -> Live:
    """The live metrics over ``[start_ms, end_ms)`` against the range of the same length before it.

    ``activity``: batch and timing events of both ranges; ``series_timings``: :func:`series_points` of the
    plan's old/new series over both ranges; ``memory``: :func:`host_sum` of ``system_memory_used_bytes`` over
    both ranges.
    """
    batches = batch_records(activity)
    timed = event_timings(activity)
    source = "events" if timed.height else "series" if series_timings.height else ""
    latency, by_system = _latency(timed if timed.height else series_timings, start_ms, end_ms, step_ms)
    return Live(
        throughput=_batch_metric("throughput", "records", 1.0, batches, start_ms, end_ms, step_ms),
        failures=_batch_metric("failures", "failed", 60.0, batches, start_ms, end_ms, step_ms),
        latency=latency,
        memory=_memory(memory, start_ms, end_ms, step_ms),
        latency_by_system=by_system,
        latency_source=source,
    )
