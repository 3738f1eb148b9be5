"""The read side of the store: every page, the API and alert rules query through here.

* :func:`series` — one value per (series, bucket) for a Prometheus-style selector,
  from the tier :func:`plan` picks (docs/query.md), as a polars DataFrame;
* :func:`rate` — per-second rate of counters; :func:`event_percentiles` — p50/p90/p95/p99
  of an event field; :func:`group_by_label`, :func:`top_k`, :func:`summarize` — pure
  reshaping of results; :func:`compare_previous` — "↑ 12% vs yesterday";
* :func:`metric_names`, :func:`label_values`, :func:`find_series` — what exists;
* :mod:`core.query.promql` — PromQL evaluated as Prometheus evaluates it, for the
  Prometheus-compatible API (operators in promql_ops, range functions in promql_range);
* :func:`visible_metric_names`, :func:`visible_label_values`, :func:`visible_series`,
  :func:`visible_comparison` — the same for one viewer: cost and per-person metrics and
  labels left out for roles that may not see them (core/query/visible.py).

Results are cached per (query, range bucket) for ``query_cache_ttl_s`` seconds in a
process-wide cache that does not need Streamlit; treat returned frames as read-only.

May import store, auth (who may see what), config, model and selfmetrics; never ui or streamlit.
"""

from __future__ import annotations

from core.query.analysis import (
    QUANTILES,
    Comparison,
    compare_previous,
    event_percentiles,
    group_by_label,
    label_column,
    period_name,
    scalar,
    summarize,
    top_k,
)
from core.query.plan import MIN_POINTS, RESOLUTION_MS, TIERS, QueryPlan, choose_tier, plan, retention_ms
from core.query.series import AGGS, CACHE, Agg, Buckets, buckets, find_series, label_values, metric_names, rate, series
from core.query.visible import (
    ExploreAgg,
    redact_series,
    visible_comparison,
    visible_label_values,
    visible_metric_names,
    visible_selector,
    visible_series,
)


def clear_cache() -> None:
    """Drop every cached query result (after bulk rewrites, and between tests)."""
    CACHE.clear()


__all__ = [
    "AGGS",
    "MIN_POINTS",
    "QUANTILES",
    "RESOLUTION_MS",
    "TIERS",
    "Agg",
    "Buckets",
    "Comparison",
    "ExploreAgg",
    "QueryPlan",
    "buckets",
    "choose_tier",
    "clear_cache",
    "compare_previous",
    "event_percentiles",
    "find_series",
    "group_by_label",
    "label_column",
    "label_values",
    "metric_names",
    "period_name",
    "plan",
    "rate",
    "redact_series",
    "retention_ms",
    "scalar",
    "series",
    "summarize",
    "top_k",
    "visible_comparison",
    "visible_label_values",
    "visible_metric_names",
    "visible_selector",
    "visible_series",
]
