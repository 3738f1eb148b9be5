"""Helpers over query results: group by label, top-k, previous-period comparison, event percentiles.

All but :func:`compare_previous` and :func:`event_percentiles` are pure: DataFrame in,
DataFrame out, written as polars expressions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.query import aggregate
from core.query.plan import plan
from core.query.selectors import Selector, as_selector
from core.query.series import CACHE, Agg, find_series, quantum_ms
from core.store import schema

QUANTILES = (0.5, 0.9, 0.95, 0.99)
_SCALAR = {
    "avg": pl.col("sum").sum() / pl.col("count").sum(),
    "min": pl.col("min").min(),
    "max": pl.col("max").max(),
    "sum": pl.col("sum").sum(),
    "count": pl.col("count").sum().cast(pl.Float64),
    "last": pl.col("last").sort_by("last_ts").last(),
}
_OVER_VALUES = {
    "avg": pl.col("value").mean(),
    "min": pl.col("value").min(),
    "max": pl.col("value").max(),
    "sum": pl.col("value").sum(),
    "count": pl.col("value").count().cast(pl.Float64),
    "last": pl.col("value").sort_by("ts").last(),
}


def _agg(table: dict[str, pl.Expr], agg: str) -> pl.Expr:
    if agg not in table:
        raise ValueError(f"unknown aggregation {agg!r}; use one of {', '.join(table)}")
    return table[agg].alias("value")


def label_column(key: str) -> pl.Expr:
    """A label's value (``""`` when absent) from the ``labels`` JSON column."""
    return pl.col("labels").str.json_path_match(f"$.{key}").fill_null("").alias(key)


def group_by_label(frame: pl.DataFrame, by: Sequence[str], agg: Agg = "sum") -> pl.DataFrame:
    """Combine series sharing the ``by`` label values, per timestamp: ts, <by...>, series, value."""
    keys = list(by)
    grouped = frame.with_columns(*(label_column(k) for k in keys)).group_by("ts", *keys).agg(_agg(_OVER_VALUES, agg))
    name = pl.concat_str([pl.lit(f"{k}=") + pl.col(k) for k in keys], separator=", ") if keys else pl.lit("all")
    return grouped.with_columns(name.alias("series")).sort("series", "ts")


def summarize(frame: pl.DataFrame, agg: Agg = "avg") -> pl.DataFrame:
    """One row per series: its ``agg`` over the whole result (series_id, series, labels, value)."""
    return frame.group_by("series_id", "series", "labels").agg(_agg(_OVER_VALUES, agg)).sort("value", descending=True)


def top_k(frame: pl.DataFrame, k: int, agg: Agg = "avg", *, largest: bool = True) -> pl.DataFrame:
    """The rows of the ``k`` series with the largest (or smallest) ``agg`` over the range."""
    ranked = summarize(frame, agg).sort("value", descending=largest, nulls_last=True).head(k)
    return frame.join(ranked.select("series_id"), on="series_id", how="semi")


@dataclass(frozen=True)
class Comparison:
    """A value over a range next to the same value one period earlier."""

    current: float | None
    previous: float | None
    offset_ms: int

    @property
    def change_pct(self) -> float | None:
        """Relative change in percent; None when either side is missing or the previous is zero."""
        if self.current is None or self.previous is None or self.previous == 0:
            return None
        return (self.current - self.previous) / abs(self.previous) * 100.0

    @property
    def text(self) -> str:
        """'↑ 12% vs yesterday', '↓ 3.5% vs last week', '→ 0% vs previous hour', or why there is none."""
        period = period_name(self.offset_ms)
        pct = self.change_pct
        if pct is None:
            return (
                f"no data {period}"
                if self.previous is None or self.current is None
                else f"new vs {period.removeprefix('vs ')}"
            )
        arrow = "↑" if pct > 0.05 else "↓" if pct < -0.05 else "→"
        shown = f"{abs(pct):.0f}" if abs(pct) >= 10 else f"{abs(pct):.1f}".rstrip("0").rstrip(".")
        return f"{arrow} {shown}% {period}"


def period_name(offset_ms: int) -> str:
    """'vs yesterday' for one day back, 'vs last week' for seven, and so on."""
    names = {
        3_600_000: "vs previous hour",
        86_400_000: "vs yesterday",
        7 * 86_400_000: "vs last week",
        30 * 86_400_000: "vs last month",
    }
    return names.get(offset_ms, "vs previous period")


def scalar(frame: pl.DataFrame, agg: Agg) -> float | None:
    """One number for a whole bucket frame (all series together), exact from the bucket columns."""
    if frame.is_empty():
        return None
    value = frame.select(_agg(_SCALAR, agg)).item()
    return None if value is None else float(value)


def compare_previous(
    engine: Engine,
    selector: str | Selector,
    start_ms: int,
    end_ms: int,
    *,
    agg: Agg = "avg",
    offset_ms: int | None = None,
    settings: Settings | None = None,
    now_ms: int | None = None,
) -> Comparison:
    """``agg`` over ``[start, end)`` and over the same window ``offset_ms`` earlier (default: one range length).

    Both figures come from one aggregate query in the store (:func:`core.query.aggregate.period_figures`)
    over the rows a chart of each range reads, not from a second full series read.
    """
    offset = offset_ms if offset_ms is not None else end_ms - start_ms
    if agg not in _SCALAR:
        raise ValueError(f"unknown aggregation {agg!r}; use one of {', '.join(_SCALAR)}")
    settings = settings or get_settings()
    sel = as_selector(selector)
    start, end, now, step = aggregate.window(start_ms, end_ms, now_ms, settings, None, None)
    before, before_end, _, _ = aggregate.window(start_ms - offset, end_ms - offset, now, settings, None, None)
    key = ("compare", id(engine), str(engine.url), str(sel), agg, step, start, end, before, before_end, now)

    def compute() -> Comparison:
        plans = [plan(start, end, now, settings, step), plan(before, before_end, now, settings, step)]
        current, previous = aggregate.period_figures(engine, find_series(engine, sel), plans, agg)
        return Comparison(current, previous, offset)

    return CACHE.get(key, settings.query_cache_ttl_s, compute)


def event_percentiles(
    engine: Engine,
    event_type: str,
    field: str,
    start_ms: int,
    end_ms: int,
    *,
    by: str | None = None,
    step_ms: int | None = None,
    quantiles: Sequence[float] = QUANTILES,
    settings: Settings | None = None,
    where: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Percentiles of a numeric event field (e.g. ``metrics.execution_time``) over a range.

    ``event_type`` is an exact type or a prefix ending in ``*`` (``workflow.*``);
    ``field`` and ``by`` are dotted paths into ``data`` (``by`` may also be ``source``
    or ``type``). ``where`` keeps events whose data field equals the value, or that do
    not carry the field at all (a page filter on ``repository`` must not hide events
    that have none). Columns: [ts if step] [by] count, p50, p90, ... (linear interpolation).
    """
    settings = settings or get_settings()
    q = quantum_ms(start_ms, end_ms)
    start, end = start_ms - start_ms % q, -(-end_ms // q) * q
    filters = tuple(sorted((k, v) for k, v in (where or {}).items() if v))
    key = ("events", id(engine), str(engine.url), event_type, field, by, step_ms, tuple(quantiles), start, end, filters)
    return CACHE.get(
        key,
        settings.query_cache_ttl_s,
        lambda: _event_percentiles(engine, event_type, field, start, end, by, step_ms, quantiles, filters),
    )


def _event_percentiles(
    engine: Engine,
    event_type: str,
    field: str,
    start: int,
    end: int,
    by: str | None,
    step_ms: int | None,
    quantiles: Sequence[float],
    filters: Sequence[tuple[str, str]] = (),
) -> pl.DataFrame:
    table = schema.events
    kind = (
        table.c.type.startswith(event_type[:-1], autoescape=True)
        if event_type.endswith("*")
        else table.c.type == event_type
    )
    query = sa.select(table.c.ts, table.c.type, table.c.source, sa.cast(table.c.data, sa.Text)).where(
        table.c.ts >= start, table.c.ts < end, kind
    )
    with engine.connect() as connection:
        rows = connection.execute(query).fetchall()
    frame = pl.DataFrame(
        rows, schema={"ts": pl.Int64, "type": pl.String, "source": pl.String, "data": pl.String}, orient="row"
    )
    for name, wanted in filters:
        value = pl.col("data").str.json_path_match(f"$.{name}")
        frame = frame.filter(value.is_null() | (value == wanted))
    frame = frame.with_columns(
        pl.col("data").str.json_path_match(f"$.{field}").cast(pl.Float64, strict=False).alias("x")
    )
    keys: list[str] = []
    if step_ms:
        frame = frame.with_columns((pl.col("ts") - pl.col("ts") % step_ms).cast(pl.Datetime("ms", "UTC")).alias("ts"))
        keys.append("ts")
    if by:
        group = pl.col(by) if by in ("source", "type") else pl.col("data").str.json_path_match(f"$.{by}").fill_null("")
        frame = frame.with_columns(group.alias(by))
        keys.append(by)
    stats = [pl.col("x").count().alias("count")] + [
        pl.col("x").quantile(p, interpolation="linear").alias(f"p{p * 100:g}") for p in quantiles
    ]
    frame = frame.filter(pl.col("x").is_not_null())
    if not keys:
        return frame.select(stats)
    return frame.group_by(keys).agg(stats).sort(keys)
