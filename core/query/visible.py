"""The query layer as one viewer may see it: Explore's pickers and results without cost or per-person data.

A metric whose name contains a sensitive word of :data:`core.auth.access.SENSITIVE_WORDS`
(``review_cost_usd``) is hidden from a viewer without the permission guarding it, and so is
a sensitive label key (``reviewer``): it is left out of the label pickers, and stripped from
results, where series that differed only in hidden labels are merged into one (their
values combined per bucket as :func:`~core.query.group_by_label` does). A selector that
names a hidden metric, or matches on a hidden label, is refused with
:class:`~core.auth.access.NotAllowed`; a selector without a fixed metric name is narrowed so
that hidden metrics never match.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

import polars as pl
from sqlalchemy.engine import Engine

from core.auth.access import NotAllowed, Viewer, hidden_by
from core.config import Settings, get_settings
from core.model import canonical_labels, labels_json
from core.query.analysis import Comparison, compare_previous
from core.query.selectors import Matcher, Selector, as_selector, escape_regex
from core.query.series import RESULT_SCHEMA, Agg, display_name, label_values, metric_names, rate, series

ExploreAgg = Agg | Literal["rate"]
# How the series that only hidden labels told apart are combined, per bucket.
_MERGE = {
    "avg": pl.col("value").mean(),
    "min": pl.col("value").min(),
    "max": pl.col("value").max(),
    "sum": pl.col("value").sum(),
    "count": pl.col("value").sum(),
    "last": pl.col("value").sum(),
    "rate": pl.col("value").sum(),
}


def visible_metric_names(engine: Engine, viewer: Viewer | None) -> list[str]:
    """The metric names ``viewer`` may see, sorted."""
    return [name for name in metric_names(engine) if hidden_by(name, viewer) is None]


def visible_label_values(engine: Engine, name: str, viewer: Viewer | None) -> dict[str, list[str]]:
    """For one metric ``viewer`` may see: each label they may see and its values."""
    _refuse_metric(name, viewer)
    return {key: values for key, values in label_values(engine, name).items() if hidden_by(key, viewer) is None}


def _refuse_metric(name: str, viewer: Viewer | None) -> None:
    permission = hidden_by(name, viewer)
    if permission is not None:
        raise NotAllowed(viewer, permission, f"query the metric {name!r}")


def visible_selector(engine: Engine, selector: str | Selector, viewer: Viewer | None) -> Selector:
    """``selector`` as ``viewer`` may run it; raises :class:`NotAllowed` naming the hidden metric or label.

    A selector that fixes no metric name gets a ``__name__!~`` matcher excluding the
    stored metrics hidden from the viewer, so a regex over names cannot reach them.
    """
    sel = as_selector(selector)
    for matcher in sel.matchers:
        permission = hidden_by(matcher.label, viewer)
        if permission is not None:
            raise NotAllowed(viewer, permission, f"select series by the label {matcher.label!r}")
    if sel.exact_name is not None:
        _refuse_metric(sel.exact_name, viewer)
        return sel
    hidden = [name for name in metric_names(engine) if hidden_by(name, viewer) is not None]
    if not hidden:
        return sel
    return Selector(sel.name, (*sel.matchers, Matcher("__name__", "!~", "|".join(escape_regex(n) for n in hidden))))


def redact_series(frame: pl.DataFrame, viewer: Viewer | None, agg: ExploreAgg = "avg") -> pl.DataFrame:
    """A result frame (:data:`~core.query.series.RESULT_SCHEMA`) without the labels ``viewer`` may not see.

    Pure. Series left identical once those labels are gone become one series, its value
    per bucket the mean (avg), min, max or sum (sum, count, last, rate) of theirs.
    """
    if frame.is_empty():
        return frame
    keys = {key for text in frame["labels"].unique() for key in json.loads(text)}
    if all(hidden_by(key, viewer) is None for key in keys):
        return frame
    rows = []
    for sid, text, shown in frame.select("series_id", "labels", "series").unique("series_id").iter_rows():
        labels = {k: v for k, v in json.loads(text).items() if hidden_by(k, viewer) is None}
        rows.append((sid, labels_json(canonical_labels(labels)), display_name(shown.split("{", 1)[0], labels)))
    names = pl.DataFrame(rows, schema={"series_id": pl.Int64, "labels": pl.String, "series": pl.String}, orient="row")
    names = names.with_columns(pl.col("series_id").min().over("series").alias("merged_id"))  # one id per merged series
    return (
        frame.drop("labels", "series")
        .join(names, on="series_id")
        .group_by("ts", "merged_id", "series", "labels")
        .agg(_MERGE[agg].alias("value"))
        .rename({"merged_id": "series_id"})
        .select(RESULT_SCHEMA.names())
        .sort("series", "ts")
    )


def visible_series(
    engine: Engine,
    selector: str | Selector,
    start_ms: int,
    end_ms: int,
    viewer: Viewer | None,
    *,
    agg: ExploreAgg = "avg",
    step_ms: int | None = None,
    settings: Settings | None = None,
    now_ms: int | None = None,
    max_points: int | None = None,
    only: Sequence[int] | None = None,
) -> pl.DataFrame:
    """:func:`~core.query.series` (or :func:`~core.query.rate` for ``agg="rate"``) as ``viewer`` may see it.

    What a viewer reads is drawn: without ``step_ms`` it comes at most ``max_points`` (default
    the ``max_data_points`` setting) points per series. ``only`` keeps just those of the
    selected series' ids (:mod:`core.query.guard`'s top N).
    """
    sel = visible_selector(engine, selector, viewer)
    if step_ms is None and max_points is None:
        max_points = (settings or get_settings()).max_data_points
    if agg == "rate":
        frame = rate(
            engine,
            sel,
            start_ms,
            end_ms,
            step_ms=step_ms,
            settings=settings,
            now_ms=now_ms,
            max_points=max_points,
            only=only,
        )
    else:
        frame = series(
            engine,
            sel,
            start_ms,
            end_ms,
            step_ms=step_ms,
            agg=agg,
            settings=settings,
            now_ms=now_ms,
            max_points=max_points,
            only=only,
        )
    return redact_series(frame, viewer, agg)


def visible_comparison(
    engine: Engine,
    selector: str | Selector,
    start_ms: int,
    end_ms: int,
    viewer: Viewer | None,
    *,
    agg: ExploreAgg = "avg",
    settings: Settings | None = None,
    now_ms: int | None = None,
) -> Comparison:
    """``agg`` over the range against the range before it, over every series the viewer may select together.

    For ``rate`` the figure is the mean total per-second rate (all series summed per bucket).
    """
    sel = visible_selector(engine, selector, viewer)
    if agg != "rate":
        return compare_previous(engine, sel, start_ms, end_ms, agg=agg, settings=settings, now_ms=now_ms)
    span = end_ms - start_ms

    def total(start: int, end: int) -> float | None:
        frame = rate(engine, sel, start, end, settings=settings, now_ms=now_ms)
        if frame.is_empty():
            return None
        return float(frame.group_by("ts").agg(pl.col("value").sum())["value"].mean())  # type: ignore[arg-type]

    return Comparison(total(start_ms, end_ms), total(start_ms - span, end_ms - span), span)
