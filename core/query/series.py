"""Range queries over one metric: select series, read the right tier, aggregate per bucket.

Results are long polars DataFrames, one row per (series, bucket):
``ts`` (Datetime ms, UTC, bucket start), ``series_id``, ``series`` (display text
``name{k="v"}``), ``labels`` (canonical JSON) and ``value``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.model import now_ms as clock_ms
from core.query.cache import TTLCache
from core.query.plan import RESOLUTION_MS, QueryPlan, plan, step_for
from core.query.selectors import Selector, as_selector
from core.selfmetrics import QUERY_SECONDS, add_memory_pool
from core.store import columnar, schema
from core.store.rollup import BUCKET_COLUMNS, BUCKET_SCHEMA, compose, empty_buckets, raw_as_buckets

Agg = Literal["avg", "min", "max", "sum", "count", "last"]
AGGS: tuple[Agg, ...] = ("avg", "min", "max", "sum", "count", "last")
SERIES_SCHEMA = {"series_id": pl.Int64, "name": pl.String, "labels": pl.String, "series": pl.String}
RESULT_SCHEMA = pl.Schema(
    {
        "ts": pl.Datetime("ms", "UTC"),
        "series_id": pl.Int64(),
        "series": pl.String(),
        "labels": pl.String(),
        "value": pl.Float64(),
    }
)
MAX_SERIES = 2_000  # more than any chart can show; a selector this wide is a mistake

CACHE = TTLCache()
add_memory_pool("query_cache", lambda: CACHE.size_bytes)  # estimated, as the cache bounds itself


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


_SERIES_SQL = "SELECT id, name, labels FROM series{where} ORDER BY name, labels"


def find_series(engine: Engine, selector: str | Selector) -> pl.DataFrame:
    """Series matching ``selector``: series_id, name, labels (JSON), series (display text).

    Every query starts here (a Prometheus-compatible read of one series spends a fifth of its time
    in it), so the statement is plain SQL and the driver's own tuples are read: no SQLAlchemy
    statement built and no Row made per series.
    """
    sel = as_selector(selector)
    mark = "%s" if engine.dialect.name == "postgresql" else "?"
    by_name = sel.exact_name is not None
    sql = _SERIES_SQL.format(where=f" WHERE name = {mark}" if by_name else "")
    with engine.connect() as connection:
        result = connection.exec_driver_sql(sql, (sel.exact_name,) if by_name else ())
        try:
            found = result.cursor.fetchall()
        finally:
            result.close()
    ids, names, texts, shown = [], [], [], []
    for sid, name, text in found:
        labels = json.loads(text)
        if sel.matches(name, labels):
            ids.append(sid)
            names.append(name)
            texts.append(text)
            shown.append(display_name(name, labels))
    if len(ids) > MAX_SERIES:
        raise ValueError(f"selector {sel} matches {len(ids)} series; narrow it to at most {MAX_SERIES}")
    return pl.DataFrame({"series_id": ids, "name": names, "labels": texts, "series": shown}, schema=SERIES_SCHEMA)


AGG_COLUMNS: dict[str, tuple[str, ...]] = {
    "avg": ("count", "sum"),
    "min": ("min",),
    "max": ("max",),
    "sum": ("sum",),
    "count": ("count",),
    "last": ("last", "last_ts"),
    "rate": ("last", "last_ts"),
}


def _read(engine: Engine, tier: str, ids: Sequence[int], start: int, end: int, columns: Sequence[str]) -> pl.DataFrame:
    """Rows of ``tier`` for ``ids`` in ``[start, end)``, columnar (ADBC/Arrow where available, core.store.columnar).

    A 24-hour raw read of 50 series is about 400,000 rows: made into Python tuples by the
    DB-API cursor they cost more than the store's own work, as Arrow columns they do not.
    """
    if not ids:
        return empty_buckets().select("series_id", "bucket", *columns)
    where = f"WHERE series_id IN ({', '.join(['?'] * len(ids))}) AND {{t}} >= ? AND {{t}} < ?"
    if tier == "raw":
        sql = "SELECT series_id, ts, value FROM samples " + where.format(t="ts")
        raw = columnar.fetch(
            engine, sql, (*ids, start, end), {"series_id": pl.Int64(), "ts": pl.Int64(), "value": pl.Float64()}
        )
        return raw_as_buckets(raw, columns)
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = f"SELECT series_id, bucket, {quoted} FROM samples_{tier} " + where.format(t="bucket")
    types: dict[str, pl.DataType] = {"series_id": pl.Int64(), "bucket": pl.Int64()} | {
        c: BUCKET_SCHEMA[c]() for c in columns
    }
    return columnar.fetch(engine, sql, (*ids, start, end), types)


def read_buckets(
    engine: Engine, series: pl.DataFrame, qplan: QueryPlan, columns: Sequence[str] = BUCKET_COLUMNS[2:]
) -> pl.DataFrame:
    """Bucket rows for ``series`` as ``qplan`` says: tier rows, then the raw tail, composed to the step."""
    ids = series["series_id"].to_list()
    native = qplan.tier != "raw" and qplan.step_ms == RESOLUTION_MS[qplan.tier]
    if qplan.tail_from_ms is None:
        body, tail = _read(engine, qplan.tier, ids, qplan.start_ms, qplan.end_ms, columns), None
    else:
        body = _read(engine, qplan.tier, ids, qplan.start_ms, qplan.tail_from_ms, columns)
        tail = _read(engine, "raw", ids, qplan.tail_from_ms, qplan.end_ms, columns)
    if qplan.step_ms and not native:
        body = compose(body, qplan.step_ms)
    if tail is not None:
        body = pl.concat([body, compose(tail, qplan.step_ms)])
    return body


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
    columns: Sequence[str] = BUCKET_COLUMNS[2:],
    kind: str = "buckets",
    max_points: int | None = None,
    only: Sequence[int] | None = None,
) -> Buckets:
    """Plan, select and read ``columns``, cached for ``query_cache_ttl_s``.

    Without ``step_ms`` but with ``max_points`` the step is :func:`~core.query.plan.step_for`
    the range and those points: at most that many buckets per series.
    ``only`` keeps just those series ids of the selected ones (the top N a guard chose).
    The cache key is (engine, selector, step, columns, range bucket, only).

    Each cache miss, i.e. each real read of the store, is timed in ``pulseboard_query_seconds``
    under ``kind``, a short fixed name of the caller (never the selector, which would make
    one time series per query text).
    """
    settings = settings or get_settings()
    sel = as_selector(selector)
    now = clock_ms() if now_ms is None else now_ms
    q = quantum_ms(start_ms, end_ms)
    start, end, now = start_ms - start_ms % q, -(-end_ms // q) * q, -(-now // q) * q
    if step_ms is None and max_points is not None:
        step_ms = step_for(end - start, max_points)
    kept = None if only is None else tuple(sorted(only))
    key = ("buckets", id(engine), str(engine.url), str(sel), step_ms, tuple(columns), start, end, now, kept)

    def compute() -> Buckets:
        started = time.perf_counter()
        qplan = plan(start, end, now, settings, step_ms)
        found = find_series(engine, sel)
        if kept is not None:
            found = found.filter(pl.col("series_id").is_in(kept))
        result = Buckets(qplan, found, read_buckets(engine, found, qplan, columns))
        QUERY_SECONDS.labels(kind).observe(time.perf_counter() - started)
        return result

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
    max_points: int | None = None,
    only: Sequence[int] | None = None,
) -> pl.DataFrame:
    """One value per (series, bucket) for every series ``selector`` matches over ``[start_ms, end_ms)``.

    The tier is chosen by :func:`core.query.plan.plan`; ``agg`` picks avg, min, max,
    sum, count or last within each bucket (exact at every tier). Without ``step_ms``, a
    chart passes ``max_points`` (``max_data_points``) to get at most that many buckets per series.
    """
    expr = value_expr(agg)
    found = buckets(
        engine,
        selector,
        start_ms,
        end_ms,
        step_ms=step_ms,
        settings=settings,
        now_ms=now_ms,
        columns=AGG_COLUMNS[agg],
        kind="series",
        max_points=max_points,
        only=only,
    )
    return to_result(found, expr)


def rate(
    engine: Engine,
    selector: str | Selector,
    start_ms: int,
    end_ms: int,
    *,
    step_ms: int | None = None,
    settings: Settings | None = None,
    now_ms: int | None = None,
    max_points: int | None = None,
    only: Sequence[int] | None = None,
) -> pl.DataFrame:
    """Per-second increase of counters between consecutive bucket ends, resets counted from zero.

    Uses each bucket's last value and time, so it is exact at every tier except that a
    reset *inside* one bucket is only seen if the value went down across buckets.
    """
    found = buckets(
        engine,
        selector,
        start_ms,
        end_ms,
        step_ms=step_ms,
        settings=settings,
        now_ms=now_ms,
        columns=AGG_COLUMNS["rate"],
        kind="rate",
        max_points=max_points,
        only=only,
    )
    frame = found.frame.sort("series_id", "bucket")
    previous = pl.col("last").shift(1).over("series_id")
    increase = pl.when(pl.col("last") >= previous).then(pl.col("last") - previous).otherwise(pl.col("last"))
    seconds = (pl.col("last_ts") - pl.col("last_ts").shift(1).over("series_id")) / 1000.0
    frame = frame.with_columns((increase / seconds).alias("rate")).filter(
        pl.col("rate").is_not_null() & pl.col("rate").is_finite()
    )
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
