"""Resource use while the migration runs: the hosts' CPU and memory, and the processes that use the most.

Read from what the system collector (and agents on other hosts) writes (docs/collectors.md): host-wide
``system_cpu_percent`` and ``system_memory_used_percent``, and for the top-N processes by CPU and by memory
``process_cpu_percent{name,pid}`` (% of one core) and ``process_resident_bytes{name,pid}``.

A **consumer** is a process name on a host: its pids are added per bucket (a worker pool, a restarted
process), then averaged over the buckets it was reported in and its peak taken. The collector reports only
the top N processes at each reading, so a consumer's mean is "while it was among the top", which is what a
ranking of the heaviest needs. Pure functions over core.query result frames (ts, series_id, series, labels,
value); core.programmes.migration_store reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

CPU = "process_cpu_percent"
MEMORY = "process_resident_bytes"
HOST_CPU = "system_cpu_percent"
HOST_MEMORY = "system_memory_used_percent"
CONSUMER_SCHEMA = {
    "host": pl.String,
    "process": pl.String,
    "cpu_mean": pl.Float64,
    "cpu_peak": pl.Float64,
    "memory_mean": pl.Float64,
    "memory_peak": pl.Float64,
    "pids": pl.Int64,
}


def _per_process(frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """(host, process) → mean and peak of the per-bucket sum over its pids, and how many pids were seen."""
    if frame.is_empty():
        return pl.DataFrame(
            schema={"host": pl.String, "process": pl.String, f"{prefix}_mean": pl.Float64, f"{prefix}_peak": pl.Float64}
        )
    labels = pl.col("labels")
    named = frame.select(
        "ts",
        labels.str.json_path_match("$.host").fill_null("").alias("host"),
        labels.str.json_path_match("$.name").fill_null("?").alias("process"),
        labels.str.json_path_match("$.pid").alias("pid"),
        pl.col("value").cast(pl.Float64),
    ).filter(pl.col("value").is_finite())
    summed = named.group_by("host", "process", "ts").agg(pl.col("value").sum(), pl.col("pid").unique().alias("pids"))
    return summed.group_by("host", "process").agg(
        pl.col("value").mean().alias(f"{prefix}_mean"),
        pl.col("value").max().alias(f"{prefix}_peak"),
        pl.col("pids").explode().n_unique().alias(f"{prefix}_pids"),
    )


def consumers(cpu: pl.DataFrame, memory: pl.DataFrame) -> pl.DataFrame:
    """Every process reported over the range with its CPU (% of one core) and resident memory (bytes), mean and
    peak, heaviest CPU first (:data:`CONSUMER_SCHEMA`)."""
    both = _per_process(cpu, "cpu").join(
        _per_process(memory, "memory"), on=["host", "process"], how="full", coalesce=True
    )
    if both.is_empty():
        return pl.DataFrame(schema=CONSUMER_SCHEMA)
    pids = pl.max_horizontal(*(c for c in ("cpu_pids", "memory_pids") if c in both.columns)).fill_null(0)
    return (
        both.with_columns(pids.cast(pl.Int64).alias("pids"))
        .select(list(CONSUMER_SCHEMA))
        .cast(CONSUMER_SCHEMA)  # type: ignore[arg-type]
        .sort(["cpu_mean", "memory_mean"], descending=True, nulls_last=True)
    )


def top(table: pl.DataFrame, by: str, k: int = 5) -> pl.DataFrame:
    """The ``k`` consumers with the largest ``by`` (cpu_mean or memory_mean), largest first."""
    return table.filter(pl.col(by).is_not_null()).sort(by, descending=True).head(k)


@dataclass(frozen=True)
class HostUse:
    """One host-wide resource over the range: the mean and peak of the hosts' mean per bucket, and that per bucket."""

    mean: float | None
    peak: float | None
    hosts: int
    trend: pl.DataFrame  # ts, value


def host_use(frame: pl.DataFrame) -> HostUse:
    """A core.query result of a host-wide percentage (``system_cpu_percent``, ``system_memory_used_percent``): per
    bucket the mean over the hosts reporting it, then the mean and the peak of those over the range."""
    if frame.is_empty():
        return HostUse(None, None, 0, pl.DataFrame(schema={"ts": pl.Datetime("ms", "UTC"), "value": pl.Float64}))
    trend = frame.group_by("ts").agg(pl.col("value").mean()).sort("ts")
    hosts = frame.select(pl.col("labels").str.json_path_match("$.host").n_unique()).item()
    return HostUse(float(trend["value"].mean()), float(trend["value"].max()), int(hosts), trend)  # type: ignore[arg-type]
