"""The many-series guard: a selector matching more series than a chart can tell apart shows the top N.

Why: ``cpu_percent`` over 400 hosts draws 400 lines nobody can read and reads 400 series'
buckets. Past ``max_series_shown`` (100) Explore and ``/api/v1/query`` keep the N series
with the largest max, mean or last value over the range — ranked in the store
(:func:`core.query.aggregate.rank`), then only those N read — say how many were left out,
and offer to aggregate by a label instead (:func:`offer_labels`: "avg by host").

Pure except :func:`guarded_series`, which reads through the viewer-aware query functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy.engine import Engine

from core.auth.access import Viewer
from core.config import Settings, get_settings
from core.model import now_ms as clock_ms
from core.query import aggregate
from core.query.aggregate import Combine, Stat
from core.query.analysis import group_by_label, top_k
from core.query.plan import plan
from core.query.selectors import Selector
from core.query.series import Agg, find_series
from core.query.visible import ExploreAgg, visible_selector, visible_series

RANK_AGG: dict[str, Agg] = {"max": "max", "mean": "avg", "min": "min", "last": "last"}  # a stat as a frame agg


@dataclass(frozen=True)
class Guarded:
    """A result cut to the top series: the frame, how many series matched, how many are shown, ranked by what."""

    frame: pl.DataFrame
    total: int
    shown: int
    stat: Stat
    labels: dict[str, int]  # label key -> distinct values among the matching series (for the aggregation offer)
    step_ms: int  # the bucket width the series were read at

    @property
    def left_out(self) -> int:
        """Series that matched but are not in the frame."""
        return self.total - self.shown

    @property
    def notice(self) -> str | None:
        """'showing 100 of 400 series (largest max) — 300 left out', or None when nothing was left out."""
        if self.left_out <= 0:
            return None
        return f"showing {self.shown:,} of {self.total:,} series (largest {self.stat}) — {self.left_out:,} left out"


def label_spread(found: pl.DataFrame) -> dict[str, int]:
    """Each label key of the matching series and how many distinct values it takes (pure)."""
    values: dict[str, set[str]] = {}
    for text in found["labels"]:
        for key, value in json.loads(text).items():
            values.setdefault(key, set()).add(value)
    return {key: len(vals) for key, vals in sorted(values.items())}


def offer_labels(spread: dict[str, int], total: int) -> list[str]:
    """Labels worth aggregating by: more than one value and fewer groups than series, fewest groups first."""
    useful = [k for k, n in spread.items() if 1 < n < total]
    return sorted(useful, key=lambda k: (spread[k], k))


def guarded_series(
    engine: Engine,
    selector: str | Selector,
    start_ms: int,
    end_ms: int,
    viewer: Viewer | None,
    *,
    agg: ExploreAgg = "avg",
    stat: Stat = "max",
    limit: int | None = None,
    max_points: int | None = None,
    step_ms: int | None = None,
    settings: Settings | None = None,
    now_ms: int | None = None,
) -> Guarded:
    """:func:`~core.query.visible_series` cut to the ``limit`` (``max_series_shown``) series largest by ``stat``.

    The ranking is over the raw values (max, mean, min or last of the samples in the range),
    in the store; for ``agg="rate"`` it is over the rates, in Python, since a counter's own
    max says nothing about how fast it grows.
    """
    if stat not in aggregate.STATS:
        raise ValueError(f"unknown statistic {stat!r}; use one of {', '.join(aggregate.STATS)}")
    settings = settings or get_settings()
    shown_at_most = limit or settings.max_series_shown
    sel = visible_selector(engine, selector, viewer)
    found = find_series(engine, sel)
    total = found.height
    spread = label_spread(found)
    now = clock_ms() if now_ms is None else now_ms
    max_points = None if step_ms is not None else max_points or settings.max_data_points
    qplan = plan(start_ms, end_ms, now, settings, step_ms, max_points)

    def read(only: list[int] | None = None) -> pl.DataFrame:
        return visible_series(
            engine,
            sel,
            start_ms,
            end_ms,
            viewer,
            agg=agg,
            step_ms=step_ms,
            settings=settings,
            now_ms=now_ms,
            max_points=max_points,
            only=only,
        )

    if total <= shown_at_most:
        return Guarded(read(), total, total, stat, spread, qplan.step_ms)
    if agg == "rate":
        frame = top_k(read(), shown_at_most, RANK_AGG[stat])
        return Guarded(frame, total, frame["series_id"].n_unique(), stat, spread, qplan.step_ms)
    ranked = aggregate.rank(engine, found["series_id"].to_list(), qplan, stat)
    keep = ranked.sort("value", "series_id", descending=[True, False], nulls_last=True).head(shown_at_most)
    return Guarded(read(keep["series_id"].to_list()), total, keep.height, stat, spread, qplan.step_ms)


def grouped_series(
    engine: Engine,
    selector: str | Selector,
    start_ms: int,
    end_ms: int,
    viewer: Viewer | None,
    by: Sequence[str],
    *,
    agg: ExploreAgg = "avg",
    max_points: int | None = None,
    settings: Settings | None = None,
    now_ms: int | None = None,
) -> pl.DataFrame:
    """The selected series combined per ``by`` label values and bucket: summed for sum, count and rate, else averaged.

    avg, min, max, sum and count are combined in the store (:func:`core.query.aggregate.across`:
    400 series come back as a few group lines, not 400 series' buckets); last and rate are
    read per series and combined here (:func:`core.query.group_by_label`). Columns: ``ts``,
    one per ``by`` label, ``value``, ``series`` (``host=a``).
    """
    combine: Combine = "sum" if agg in ("sum", "count", "rate") else "avg"
    sel = visible_selector(engine, selector, viewer)
    if agg in aggregate.STORE_AGGS:
        return aggregate.across(
            engine,
            sel,
            start_ms,
            end_ms,
            agg=agg,  # type: ignore[arg-type]
            combine=combine,
            by=by,
            max_points=max_points,
            settings=settings,
            now_ms=now_ms,
        )
    frame = visible_series(
        engine, sel, start_ms, end_ms, viewer, agg=agg, settings=settings, now_ms=now_ms, max_points=max_points
    )
    return group_by_label(frame, by, combine)


__all__ = ["Guarded", "grouped_series", "guarded_series", "label_spread", "offer_labels"]
