"""Data for a dashboard widget from a selector or a PromQL query, as the viewer may see it.

``metric:<selector>`` reads buckets through core.query (the tier planner, the cache) and
``promql:<query>`` is evaluated in process by core.query.promql over the window's steps —
never over HTTP. Both answer in the series result shape (``ts``, ``series``, ``labels``,
``value``) that the chart widgets draw, and both go through the viewer's permissions: a
cost or per-person metric hidden from the viewer's roles is refused with the reason, the
same as in Explore. Variables are substituted (core.dashboards.variables) before parsing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.engine import Engine

from core.auth.access import NotAllowed, Viewer
from core.config import get_settings
from core.dashboards.variables import substitute
from core.query import promql, visible_label_values, visible_selector, visible_series
from core.query.promql_values import Scalar, String, Vector
from core.query.series import RESULT_SCHEMA, Agg, display_name


def variable_options(engine: Engine, metric: str, label: str, viewer: Viewer | None) -> list[str]:
    """The values ``label`` takes on ``metric`` that ``viewer`` may see (the choices of a variable)."""
    try:
        return visible_label_values(engine, metric, viewer).get(label, [])
    except NotAllowed:
        return []


def metric_frame(
    engine: Engine,
    selector: str,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    agg: Agg,
    viewer: Viewer | None,
    variables: Mapping[str, str],
) -> pl.DataFrame:
    """Buckets of every series ``selector`` (variables substituted) selects, as ``viewer`` may see them."""
    frame = visible_series(engine, substitute(selector, variables), start_ms, end_ms, viewer, agg=agg, step_ms=step_ms)
    return short_names(frame)


def short_names(frame: pl.DataFrame) -> pl.DataFrame:
    """Series named by what tells them apart: the one varying label's value (``review``), or ``k=v, …`` of the
    varying labels; a lone series by its metric name. Names that would collide stay as they were."""
    if frame.is_empty() or "labels" not in frame.columns:
        return frame
    parsed = {name: json.loads(text) for name, text in frame.select("series", "labels").unique().iter_rows()}
    if len(parsed) == 1:
        ((name, labels),) = parsed.items()
        mapping = {name: labels.get("__name__") or name.split("{")[0] or name}
    else:
        keys = sorted(set().union(*parsed.values()) - {"__name__"})
        varying = [key for key in keys if len({labels.get(key) for labels in parsed.values()}) > 1]
        if not varying:
            return frame
        mapping = {
            name: labels.get(varying[0], "")
            if len(varying) == 1
            else ", ".join(f"{key}={labels.get(key, '')}" for key in varying)
            for name, labels in parsed.items()
        }
    if len(set(mapping.values())) < len(mapping):
        return frame
    return frame.with_columns(pl.col("series").replace_strict(mapping, return_dtype=pl.String))


def selectors_in(node: Any) -> Iterator[Any]:
    """Every vector selector in a parsed PromQL tree."""
    if node is None:
        return
    if type(node).__name__ == "VectorSelector":
        yield node
        return
    for attribute in ("expr", "lhs", "rhs", "vector_selector", "param"):
        yield from selectors_in(getattr(node, attribute, None))
    args = getattr(node, "args", None)
    if args is not None:
        for arg in args if isinstance(args, list | tuple) else getattr(args, "args", []):
            yield from selectors_in(arg)


def promql_frame(
    engine: Engine,
    query: str,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    viewer: Viewer | None,
    variables: Mapping[str, str],
) -> pl.DataFrame:
    """``query`` (variables substituted) evaluated at every step of the window, in the series result shape.

    Raises PromQLError for a bad query and NotAllowed when it reads a metric or label hidden from ``viewer``
    (a selector without a metric name is refused for a viewer from whom some metrics are hidden).
    """
    text = substitute(query, variables)
    settings = get_settings()
    for node in selectors_in(promql.parse(text)):
        selector = promql.selector_of(node, settings)
        if visible_selector(engine, selector, viewer) != selector:
            raise NotAllowed(viewer, "view_costs", "run a query whose selector names no metric; name the metric")
    value = promql.evaluate(engine, text, start_ms, end_ms, step_ms, settings=settings)
    steps = promql.steps_for(start_ms, end_ms, step_ms)
    if isinstance(value, Scalar):
        value = Vector([{}], value.values.reshape(1, -1), np.isfinite(value.values).reshape(1, -1))
    if isinstance(value, String) or not isinstance(value, Vector):
        raise promql.PromQLError("a dashboard query must give numbers or an instant vector")
    rows: dict[str, list[Any]] = {"ts": [], "series_id": [], "series": [], "labels": [], "value": []}
    for index, labels in enumerate(value.labels):
        keep = value.present[index]
        count = int(keep.sum())
        name = display_name(labels.get("__name__", ""), {k: v for k, v in labels.items() if k != "__name__"})
        rows["ts"].extend(steps[keep].tolist())
        rows["series_id"].extend([index] * count)
        rows["series"].extend([name or "value"] * count)
        rows["labels"].extend([json.dumps(labels, sort_keys=True)] * count)
        rows["value"].extend(value.values[index][keep].tolist())
    if not rows["ts"]:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    schema = {**dict(RESULT_SCHEMA), "ts": pl.Int64()}
    return short_names(pl.DataFrame(rows, schema=schema).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))))
