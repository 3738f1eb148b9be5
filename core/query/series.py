"""Range queries over one metric: select series, read the right tier, aggregate per bucket.

Results are long polars DataFrames, one row per (series, bucket):
``ts`` (Datetime ms, UTC, bucket start), ``series_id``, ``series`` (display text
``name{k="v"}``), ``labels`` (canonical JSON) and ``value``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.config import Settings, get_settings
from core.model import now_ms as clock_ms
from core.query.cache import TTLCache
from core.query.plan import RESOLUTION_MS, QueryPlan, plan
from core.rollup import BUCKET_COLUMNS, BUCKET_SCHEMA, compose, empty_buckets, raw_as_buckets
from core.selectors import Selector, as_selector
from core.store import schema

Agg = Literal["avg", "min", "max", "sum", "count", "last"]
AGGS: tuple[Agg, ...] = ("avg", "min", "max", "sum", "count", "last")
SERIES_SCHEMA = {"series_id": pl.Int64, "name": pl.String, "labels": pl.String, "series": pl.String}
RESULT_SCHEMA = pl.Schema({"ts": pl.Datetime("ms", "UTC"), "series_id": pl.Int64(), "series": pl.String(), "labels": pl.String(), "value": pl.Float64()})
MAX_SERIES = 2_000  # more than any chart can show; a selector this wide is a mistake

CACHE = TTLCache()


@dataclass(frozen=True)
class Buckets:
    """A query's plan, the series it selected, and their bucket rows (count/sum/min/max/last/last_ts)."""

    plan: QueryPlan
    series: pl.DataFrame
    frame: pl.DataFrame


def display_name(name: str, labels: dict[str, str]) -> str:
    """``name{k="v", ...}`` as Prometheus shows a series."""
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}" if inner else name


def _ph(connection: Connection) -> str:
    return "%s" if connection.dialect.name == "postgresql" else "?"


def find_series(engine: Engine, selector: str | Selector) -> pl.DataFrame:
    """Series matching ``selector``: series_id, name, labels (JSON), series (display text)."""
    sel = as_selector(selector)
    table = schema.series
    query = sa.select(table.c.id, table.c.name, table.c.labels).order_by(table.c.name, table.c.labels)
    if sel.exact_name is not None:
        query = query.where(table.c.name == sel.exact_name)
    rows = []
    with engine.connect() as connection:
        for sid, name, text in connection.execute(query):
            labels = json.loads(text)
            if sel.matches(name, labels):
                rows.append((sid, name, text, display_name(name, labels)))
    if len(rows) > MAX_SERIES:
        raise ValueError(f"selector {sel} matches {len(rows)} series; narrow it to at most {MAX_SERIES}")
    return pl.DataFrame(rows, schema=SERIES_SCHEMA, orient="row")


def _read(connection: Connection, tier: str, ids: Sequence[int], start: int, end: int) -> pl.DataFrame:
    if not ids:
        return empty_buckets()
    p = _ph(connection)
    marks = ", ".join([p] * len(ids))
    if tier == "raw":
        sql = f"SELECT series_id, ts, value FROM samples WHERE series_id IN ({marks}) AND ts >= {p} AND ts < {p}"
        rows = connection.exec_driver_sql(sql, (*ids, start, end)).fetchall()
        raw = pl.DataFrame(rows, schema={"series_id": pl.Int64, "ts": pl.Int64, "value": pl.Float64}, orient="row")
        return raw_as_buckets(raw)
    sql = (
        f'SELECT series_id, bucket, "count", "sum", "min", "max", "last", last_ts FROM samples_{tier} '
        f"WHERE series_id IN ({marks}) AND bucket >= {p} AND bucket < {p}"
    )
    rows = connection.exec_driver_sql(sql, (*ids, start, end)).fetchall()
    return pl.DataFrame(rows, schema=BUCKET_SCHEMA, orient="row")


def read_buckets(engine: Engine, series: pl.DataFrame, qplan: QueryPlan) -> pl.DataFrame:
    """Bucket rows for ``series`` as ``qplan`` says: tier rows, then the raw tail, composed to the step."""
    ids = series["series_id"].to_list()
    with engine.connect() as connection:
        if qplan.tail_from_ms is None:
            frame = _read(connection, qplan.tier, ids, qplan.start_ms, qplan.end_ms)
        else:
            frame = pl.concat([
                _read(connection, qplan.tier, ids, qplan.start_ms, qplan.tail_from_ms),
                _read(connection, "raw", ids, qplan.tail_from_ms, qplan.end_ms),
            ])
    if qplan.step_ms and (qplan.tier == "raw" or qplan.tail_from_ms is not None or qplan.step_ms != RESOLUTION_MS[qplan.tier]):
        frame = compose(frame, qplan.step_ms)
    return frame.select(BUCKET_COLUMNS).sort("series_id", "bucket")


_QUANTA_MS = (60_000, 30_000, 15_000, 10_000, 5_000, 2_000, 1_000)


def quantum_ms(start_ms: int, end_ms: int) -> int:
    """Range-bucket size for cache keys: the largest of 1 s … 60 s within 1/600 of the span (half a pixel)."""
    return next((q for q in _QUANTA_MS if q <= (end_ms - start_ms) // 600), _QUANTA_MS[-1])


def buckets(
    engine: Engine,
    selector: str | Selector,
    start_ms: int,
    end_ms: int,
    *,
    step_ms: int | None = None,
    settings: Settings | None = None,
    now_ms: int | None = None,
) -> Buckets:
    """Plan, select and read; cached per (engine, selector, step, range bucket) for ``query_cache_ttl_s``."""
    settings = settings or get_settings()
    sel = as_selector(selector)
    now = clock_ms() if now_ms is None else now_ms
    q = quantum_ms(start_ms, end_ms)
    start, end, now = start_ms - start_ms % q, -(-end_ms // q) * q, -(-now // q) * q
    key = ("buckets", id(engine), str(engine.url), str(sel), step_ms, start, end, now)

    def compute() -> Buckets:
        qplan = plan(start, end, now, settings, step_ms)
        found = find_series(engine, sel)
        return Buckets(qplan, found, read_buckets(engine, found, qplan))

    return CACHE.get(key, settings.query_cache_ttl_s, compute)


def value_expr(agg: Agg) -> pl.Expr:
    """The per-bucket value for an aggregation, from bucket columns."""
    if agg not in AGGS:
        raise ValueError(f"unknown aggregation {agg!r}; use one of {', '.join(AGGS)}")
    if agg == "avg":
        return (pl.col("sum") / pl.col("count")).alias("value")
    return pl.col(agg).cast(pl.Float64).alias("value")


def to_result(found: Buckets, value: pl.Expr) -> pl.DataFrame:
    """Join bucket values to series names in the result shape."""
    if found.frame.is_empty():
        return pl.DataFrame(schema=RESULT_SCHEMA)
    return (
        found.frame.with_columns(value)
        .join(found.series.select("series_id", "series", "labels"), on="series_id")
        .select(pl.col("bucket").cast(pl.Datetime("ms", "UTC")).alias("ts"), "series_id", "series", "labels", "value")
        .sort("series", "ts")
    )


def series(
    engine: Engine,
    selector: str | Selector,
    start_ms: int,
    end_ms: int,
    *,
    step_ms: int | None = None,
    agg: Agg = "avg",
    settings: Settings | None = None,
    now_ms: int | None = None,
) -> pl.DataFrame:
    """One value per (series, bucket) for every series ``selector`` matches over ``[start_ms, end_ms)``.

    The tier is chosen by :func:`core.query.plan.plan`; ``agg`` picks avg, min, max,
    sum, count or last within each bucket (exact at every tier).
    """
    expr = value_expr(agg)
    return to_result(buckets(engine, selector, start_ms, end_ms, step_ms=step_ms, settings=settings, now_ms=now_ms), expr)


def rate(
    engine: Engine,
    selector: str | Selector,
    start_ms: int,
    end_ms: int,
    *,
    step_ms: int | None = None,
    settings: Settings | None = None,
    now_ms: int | None = None,
) -> pl.DataFrame:
    """Per-second increase of counters between consecutive bucket ends, resets counted from zero.

    Uses each bucket's last value and time, so it is exact at every tier except that a
    reset *inside* one bucket is only seen if the value went down across buckets.
    """
    found = buckets(engine, selector, start_ms, end_ms, step_ms=step_ms, settings=settings, now_ms=now_ms)
    frame = found.frame
    previous = pl.col("last").shift(1).over("series_id")
    increase = pl.when(pl.col("last") >= previous).then(pl.col("last") - previous).otherwise(pl.col("last"))
    seconds = (pl.col("last_ts") - pl.col("last_ts").shift(1).over("series_id")) / 1000.0
    frame = frame.with_columns((increase / seconds).alias("rate")).filter(pl.col("rate").is_not_null() & pl.col("rate").is_finite())
    return to_result(Buckets(found.plan, found.series, frame), pl.col("rate").alias("value"))


def metric_names(engine: Engine) -> list[str]:
    """Every metric name in the store, sorted."""
    with engine.connect() as connection:
        return list(connection.scalars(sa.select(schema.series.c.name).distinct().order_by(schema.series.c.name)))


def label_values(engine: Engine, name: str) -> dict[str, list[str]]:
    """For one metric: each label name and the values it takes."""
    found = find_series(engine, Selector(name))
    values: dict[str, set[str]] = {}
    for text in found["labels"]:
        for key, value in json.loads(text).items():
            values.setdefault(key, set()).add(value)
    return {key: sorted(vals) for key, vals in sorted(values.items())}
