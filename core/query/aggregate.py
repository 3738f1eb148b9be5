"""Aggregates the store computes: across series per bucket, one figure per series, one figure per period.

Why: a chart of "avg by host" over 400 series, the ranking that picks the 100 series Explore
draws, and the previous-period card each need one small answer, but computed in Python they
pull every series' buckets through the driver first (400 series × 720 buckets is 288,000 rows
to add up into a few thousand). Here the same rows are reduced by a ``GROUP BY`` in SQLite or
Postgres, and only the answer comes back (through :mod:`core.store.columnar`).

Every query reads what :func:`core.query.plan.plan` says a chart of the same range reads: the
tier's rows up to the raw tail, raw samples from there, each row standing for a bucket with
count, sum, min, max, last and last_ts, so the figures equal those :mod:`core.query.series` and
:mod:`core.query.analysis` compute from the pulled frames (tests/test_query_aggregate.py checks
both stores against them).

* :func:`across` — one value per (label group, bucket): per series first (avg, min, max, sum or
  count within the bucket), then combined across the group's series (avg, sum, min or max),
  as :func:`core.query.group_by_label` does in Python. ``last`` and ``rate`` are left to Python.
* :func:`rank` — one figure per series over the range (max, mean, min or last), for top-N.
* :func:`period_figures` — one figure over all matching series for several ranges at once
  (the Explore card's "this range" and "the range before").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.model import now_ms as clock_ms
from core.query.plan import HOUR_MS, QueryPlan, plan, step_for
from core.query.selectors import Selector, as_selector
from core.query.series import CACHE, Agg, find_series, quantum_ms
from core.store import columnar

Combine = Literal["avg", "sum", "min", "max"]
Stat = Literal["max", "mean", "min", "last"]
COMBINES: tuple[Combine, ...] = ("avg", "sum", "min", "max")
STATS: tuple[Stat, ...] = ("max", "mean", "min", "last")
STORE_AGGS: tuple[Agg, ...] = ("avg", "min", "max", "sum", "count")  # per-series values the store computes
_FLOAT = "DOUBLE PRECISION"  # a REAL in SQLite, and it keeps Postgres' SUM(bigint) from becoming numeric
# The per-series value within one bucket, over the uniform source rows (see _sources).
_WITHIN = {
    "avg": f"CAST(SUM(s) AS {_FLOAT}) / CAST(SUM(c) AS {_FLOAT})",
    "min": "MIN(mn)",
    "max": "MAX(mx)",
    "sum": f"CAST(SUM(s) AS {_FLOAT})",
    "count": f"CAST(SUM(c) AS {_FLOAT})",
}
_STAT = {"max": "MAX(mx)", "min": "MIN(mn)", "mean": _WITHIN["avg"]}


def _pieces(qplan: QueryPlan, coarse: bool) -> list[tuple[str, int, int]]:
    """(tier or "raw", start, end) spans that together read ``qplan``'s range exactly once.

    ``coarse`` (whole-range figures, not per bucket) reads the whole hours inside the tier's
    span from the 1h tier, which holds the same samples' count, sum, min, max and last: a
    24 h figure then reads about 24 rows a series where 1m rows would be 1,440.
    """
    if qplan.tier == "raw":
        return [("raw", qplan.start_ms, qplan.end_ms)]
    body_end = qplan.end_ms if qplan.tail_from_ms is None else qplan.tail_from_ms
    spans = [(qplan.tier, qplan.start_ms, body_end)]
    hours_from, hours_to = -(-qplan.start_ms // HOUR_MS) * HOUR_MS, body_end - body_end % HOUR_MS
    if coarse and qplan.tier != "1h" and hours_to > hours_from:
        spans = [
            (qplan.tier, qplan.start_ms, hours_from),
            ("1h", hours_from, hours_to),
            (qplan.tier, hours_to, body_end),
        ]
    if qplan.tail_from_ms is not None:
        spans.append(("raw", qplan.tail_from_ms, qplan.end_ms))
    return [(tier, lo, hi) for tier, lo, hi in spans if hi > lo]


def _sources(
    qplan: QueryPlan, ids: Sequence[int], period: int = 0, *, coarse: bool = False
) -> tuple[list[str], list[int]]:
    """SELECTs giving uniform rows ``p, series_id, t, c, s, mn, mx, lst, lts`` for ``qplan``: tier rows, then raw."""
    marks = ", ".join(["?"] * len(ids))
    selects: list[str] = []
    params: list[int] = []
    for tier, lo, hi in _pieces(qplan, coarse):
        if tier == "raw":
            selects.append(
                f"SELECT {int(period)} AS p, series_id, ts AS t, 1 AS c, value AS s, value AS mn, value AS mx, "
                f"value AS lst, ts AS lts FROM samples WHERE series_id IN ({marks}) AND ts >= ? AND ts < ?"
            )
        else:
            selects.append(
                f'SELECT {int(period)} AS p, series_id, bucket AS t, "count" AS c, "sum" AS s, "min" AS mn, '
                f'"max" AS mx, "last" AS lst, last_ts AS lts FROM samples_{tier} '
                f"WHERE series_id IN ({marks}) AND bucket >= ? AND bucket < ?"
            )
        params += [*ids, lo, hi]
    return selects, params


def window(
    start_ms: int, end_ms: int, now: int | None, settings: Settings, step_ms: int | None, max_points: int | None
) -> tuple[int, int, int, int]:
    """The range, clock and step a chart of the same range uses (series.buckets' cache quantum and step)."""
    q = quantum_ms(start_ms, end_ms)
    clock = clock_ms() if now is None else now
    start, end, clock = start_ms - start_ms % q, -(-end_ms // q) * q, -(-clock // q) * q
    step = step_ms if step_ms is not None else step_for(end - start, max_points or settings.max_data_points)
    return start, end, clock, step


def across(
    engine: Engine,
    selector: str | Selector,
    start_ms: int,
    end_ms: int,
    *,
    agg: Agg = "avg",
    combine: Combine = "avg",
    by: Sequence[str] = (),
    step_ms: int | None = None,
    max_points: int | None = None,
    settings: Settings | None = None,
    now_ms: int | None = None,
    only: Sequence[int] | None = None,
) -> pl.DataFrame:
    """``combine`` by ``by`` of each series' ``agg`` per bucket, computed in the store.

    Columns as :func:`core.query.group_by_label` gives them: ``ts``, one per ``by`` label (``""``
    where a series lacks it), ``value`` and ``series`` (``host=a, …``, or ``all`` without ``by``).
    ``only`` restricts the selected series to those ids (a viewer's visible ones).
    """
    if agg not in _WITHIN:
        raise ValueError(f"the store aggregates {', '.join(STORE_AGGS)} across series, not {agg!r}")
    if combine not in COMBINES:
        raise ValueError(f"unknown combination {combine!r}; use one of {', '.join(COMBINES)}")
    settings = settings or get_settings()
    sel = as_selector(selector)
    start, end, now, step = window(start_ms, end_ms, now_ms, settings, step_ms, max_points)
    keys = tuple(by)
    key = ("across", id(engine), str(engine.url), str(sel), agg, combine, keys, step, start, end, now, only)

    def compute() -> pl.DataFrame:
        qplan = plan(start, end, now, settings, step)
        found = find_series(engine, sel)
        if only is not None:
            found = found.filter(pl.col("series_id").is_in(list(only)))
        return _across(engine, found, qplan, agg, combine, keys)

    return CACHE.get(key, settings.query_cache_ttl_s, compute)


def _group_numbers(found: pl.DataFrame, by: Sequence[str]) -> tuple[dict[int, int], list[tuple[str, ...]]]:
    """Each series' group number, and each group's label values in ``by`` order."""
    groups: dict[tuple[str, ...], int] = {}
    number: dict[int, int] = {}
    for sid, text in found.select("series_id", "labels").iter_rows():
        labels = json.loads(text)
        values = tuple(labels.get(k, "") for k in by)
        number[int(sid)] = groups.setdefault(values, len(groups))
    return number, list(groups)


def _across(
    engine: Engine, found: pl.DataFrame, qplan: QueryPlan, agg: Agg, combine: Combine, by: Sequence[str]
) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {"ts": pl.Datetime("ms", "UTC"), **{k: pl.String() for k in by}}
    schema |= {"value": pl.Float64(), "series": pl.String()}
    if found.is_empty():
        return pl.DataFrame(schema=schema)
    number, groups = _group_numbers(found, by)
    ids = list(number)
    selects, params = _sources(qplan, ids)
    if by and len(groups) > 1:
        group = "CASE series_id " + " ".join(["WHEN ? THEN ?"] * len(ids)) + " END"
        group_params = [v for sid in ids for v in (sid, number[sid])]
    else:
        group, group_params = "0", []
    bucket = f"t - (t % {int(qplan.step_ms)})"  # an int of the plan's, written out: Postgres must see one expression
    sql = (
        f"SELECT g, b, {combine.upper()}(v) AS value FROM ("
        f"SELECT {group} AS g, {bucket} AS b, {_WITHIN[agg]} AS v "
        f"FROM ({' UNION ALL '.join(selects)}) u GROUP BY series_id, {bucket}"
        ") per GROUP BY g, b"
    )
    rows = columnar.fetch(
        engine,
        sql,
        (*group_params, *params),
        {"g": pl.Int64(), "b": pl.Int64(), "value": pl.Float64()},
    )
    names = pl.DataFrame(
        [(n, *values) for n, values in enumerate(groups)],
        schema={"g": pl.Int64, **dict.fromkeys(by, pl.String)},
        orient="row",
    )
    title = pl.concat_str([pl.lit(f"{k}=") + pl.col(k) for k in by], separator=", ") if by else pl.lit("all")
    return (
        rows.join(names, on="g")
        .select(pl.col("b").cast(pl.Datetime("ms", "UTC")).alias("ts"), *by, "value")
        .with_columns(title.alias("series"))
        .sort("series", "ts")
    )


def rank(engine: Engine, ids: Sequence[int], qplan: QueryPlan, stat: Stat) -> pl.DataFrame:
    """One figure per series over ``qplan``'s range (``series_id``, ``value``), computed in the store."""
    schema: dict[str, pl.DataType] = {"series_id": pl.Int64(), "value": pl.Float64()}
    if not ids:
        return pl.DataFrame(schema=schema)
    selects, params = _sources(qplan, ids, coarse=True)
    union = " UNION ALL ".join(selects)
    if stat == "last":
        sql = (
            "SELECT series_id, lst AS value FROM (SELECT series_id, lst, "
            f"ROW_NUMBER() OVER (PARTITION BY series_id ORDER BY lts DESC) AS n FROM ({union}) u) r WHERE n = 1"
        )
    elif stat in _STAT:
        sql = f"SELECT series_id, {_STAT[stat]} AS value FROM ({union}) u GROUP BY series_id"
    else:
        raise ValueError(f"unknown statistic {stat!r}; use one of {', '.join(STATS)}")
    return columnar.fetch(engine, sql, params, schema, at_most_rows=len(ids))


def period_figures(engine: Engine, found: pl.DataFrame, plans: Sequence[QueryPlan], agg: Agg) -> list[float | None]:
    """``agg`` over all of ``found``'s series for each plan's range, in one query (None where a range has no data)."""
    if agg not in _WITHIN and agg != "last":
        raise ValueError(f"unknown aggregation {agg!r}; use one of {', '.join((*STORE_AGGS, 'last'))}")
    if found.is_empty():
        return [None] * len(plans)
    ids = found["series_id"].to_list()
    selects: list[str] = []
    params: list[int] = []
    for period, qplan in enumerate(plans):
        more, values = _sources(qplan, ids, period, coarse=True)
        selects += more
        params += values
    union = " UNION ALL ".join(selects)
    if agg == "last":
        sql = (
            "SELECT p, lst AS value FROM (SELECT p, lst, "
            f"ROW_NUMBER() OVER (PARTITION BY p ORDER BY lts DESC) AS n FROM ({union}) u) r WHERE n = 1"
        )
    else:
        sql = f"SELECT p, {_WITHIN[agg]} AS value FROM ({union}) u GROUP BY p"
    rows = columnar.fetch(engine, sql, params, {"p": pl.Int64(), "value": pl.Float64()}, at_most_rows=len(plans))
    by_period = dict(rows.iter_rows())
    return [by_period.get(n) for n in range(len(plans))]


__all__ = ["COMBINES", "STATS", "STORE_AGGS", "Combine", "Stat", "across", "period_figures", "rank"]
