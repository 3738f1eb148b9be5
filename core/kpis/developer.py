"""The Developer page's figures: review queue, workflow steps, API and database performance, errors, deployments.

Pure functions take polars frames (from core.kpis.records or core.query) and return
frames or dataclasses; the few functions that take an ``engine`` only gather inputs
through core.query and core.kpis.records and hand them to a pure function.

Per-person figures (one reviewer's queue, feedback time per reviewer) go through
core.auth.access: a viewer without ``view_people`` sees team totals and their own queue only.
Every event field read here is defined in docs/events.md; metric names in docs/metrics.md.

Longer than most modules: it is every figure of the Developer page (queue, steps, API, database,
errors, deployment impact); the pure pieces are small functions tested one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy.engine import Engine

from core.auth.access import Viewer, can, redact
from core.config import Settings
from core.kpis.records import apply_filters, fields, filter_values, load_events, within
from core.query import event_percentiles, label_column, series
from core.query.selectors import build_selector

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
PIPELINE = (
    "dor_validation",
    "progress_review",
    "dod_validation",
    "final_qms_review",
)  # DESIGN.md's QMS steps, in order
STEP_EVENTS = ("workflow.step_started", "workflow.step_completed")
ERROR_EVENT = "system.error_occurred"
QUEUE_LOOKBACK_MS = 3 * DAY_MS  # a review still open after this is treated as abandoned, not pending
IMPACT_WINDOW_MS = HOUR_MS
STEP_WINDOW_MS = 4 * HOUR_MS  # "workflow performance by step" looks at the last 4 h whatever the page range (issue 5)
STALE_AFTER_S = 900  # no workflow or API data for this long: the page warns that its sources went quiet
ERROR_PCT_WARNING, ERROR_PCT_CRITICAL = 1.0, 5.0

API_LATENCY = "api_request_duration_seconds"  # labels: endpoint, quantile ("0.5", "0.95", "0.99")
API_RATE = "api_requests_per_second"  # label: endpoint
API_ERRORS = "api_errors_percent"  # label: endpoint
API_REQUEST_EVENT = (
    "system.api_request"  # one request: data endpoint, duration_ms, status (HTTP code); used where no API metrics exist
)
DB_METRICS: dict[str, str] = {  # panel name → metric (labels ``database``, ``driver`` optional; collectors/database.py)
    "Query time (ms)": "db_query_duration_seconds",
    "Pool in use (%)": "db_connection_pool_used_percent",
    "Sessions waiting on locks": "db_lock_waiting_sessions",
}
DB_SCALE = {
    "db_query_duration_seconds": 1000.0,
    "db_connection_pool_used_percent": 1.0,
    "db_lock_waiting_sessions": 1.0,
}
IMPACT_METRICS: tuple[tuple[str, str, float], ...] = (  # (label, selector, scale)
    ("API p95 latency (ms)", str(build_selector(API_LATENCY, {"quantile": ["0.95"]})), 1000.0),
    ("API error rate (%)", API_ERRORS, 1.0),
    ("Workflow step time (s)", "qms_step_duration_seconds", 1.0),
)
STEP_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "type": pl.String(),
        "ts": pl.Int64(),
        "workflow_id": pl.String(),
        "step": pl.String(),
        "attempt": pl.String(),
        "reviewer": pl.String(),
        "repository": pl.String(),
        "status": pl.String(),
        "duration_s": pl.Float64(),
        "queue_wait_s": pl.Float64(),
    }
)


def step_frame(events: pl.DataFrame) -> pl.DataFrame:
    """Step events with their fields as columns (:data:`STEP_SCHEMA`); ``reviewer`` is the event's agent_id."""
    read = fields(
        events,
        {
            "workflow_id": "workflow_id",
            "step": "step",
            "attempt": "attempt",
            "reviewer": "agent_id",
            "repository": "repository",
            "status": "status",
        },
        {"duration_s": "duration_s", "queue_wait_s": "queue_wait_s"},
    )
    return read.select(STEP_SCHEMA.names()).cast(STEP_SCHEMA)


def pipeline_order(steps: Sequence[str]) -> list[str]:
    """Steps in pipeline order, unknown steps after, alphabetically."""
    return sorted(set(steps), key=lambda s: (PIPELINE.index(s) if s in PIPELINE else len(PIPELINE), s))


# --- review queue -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewQueue:
    """One reviewer's (or, with ``reviewer=None``, everybody's) open reviews and recent pace."""

    reviewer: str | None
    pending: int
    completed_today: int
    avg_feedback_s: float | None  # queue wait + review time of steps completed in the range
    items: pl.DataFrame  # the open reviews: workflow_id, repository, step, waiting_since (Datetime), waiting_h


def may_see_reviewer(viewer: Viewer, reviewer: str | None) -> bool:
    """Team totals are for everyone; a named reviewer's figures need ``view_people`` unless it is the viewer."""
    return reviewer is None or reviewer == viewer.username or can(viewer, "view_people")


def reviewers(steps: pl.DataFrame, viewer: Viewer) -> list[str]:
    """Reviewers the viewer may pick: everyone with ``view_people``, else only themselves if they review."""
    names = sorted(r for r in steps["reviewer"].unique().to_list() if r)
    return names if can(viewer, "view_people") else [n for n in names if n == viewer.username]


def open_reviews(steps: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """Started steps with no completion yet (same workflow, step and attempt), started before ``now_ms``."""
    keys = ["workflow_id", "step", "attempt"]
    started = steps.filter((pl.col("type") == "workflow.step_started") & (pl.col("ts") <= now_ms))
    done = steps.filter((pl.col("type") == "workflow.step_completed") & (pl.col("ts") <= now_ms)).select(keys).unique()
    return started.join(done, on=keys, how="anti", nulls_equal=True)


def review_queue(
    steps: pl.DataFrame, reviewer: str | None, viewer: Viewer, *, now_ms: int, day_start_ms: int, since_ms: int
) -> ReviewQueue | None:
    """The queue panel; None when ``viewer`` may not see ``reviewer``'s figures.

    ``steps`` is a :func:`step_frame` covering at least the last :data:`QUEUE_LOOKBACK_MS`;
    pending counts open reviews started in that lookback, completed today those with
    ts ≥ ``day_start_ms``, and feedback time averages queue wait + review time over
    steps completed since ``since_ms``.
    """
    if not may_see_reviewer(viewer, reviewer):
        return None
    mine = steps if reviewer is None else steps.filter(pl.col("reviewer") == reviewer)
    pending = open_reviews(mine.filter(pl.col("ts") >= now_ms - QUEUE_LOOKBACK_MS), now_ms)
    completed = mine.filter((pl.col("type") == "workflow.step_completed") & (pl.col("ts") <= now_ms))
    today = completed.filter(pl.col("ts") >= day_start_ms).height
    recent = completed.filter(pl.col("ts") >= since_ms)
    feedback = (
        recent.select((pl.col("queue_wait_s").fill_null(0.0) + pl.col("duration_s")).mean()).item()
        if recent.height
        else None
    )
    items = pending.sort("ts").select(
        "workflow_id",
        "repository",
        "step",
        pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("waiting_since"),
        ((now_ms - pl.col("ts")) / HOUR_MS).round(2).alias("waiting_h"),
    )
    return ReviewQueue(reviewer, pending.height, today, None if feedback is None else float(feedback), items)


def feedback_by_reviewer(steps: pl.DataFrame, viewer: Viewer, *, since_ms: int, now_ms: int) -> pl.DataFrame | None:
    """Per reviewer: reviews completed since ``since_ms``, average feedback hours, open now; None if redacted."""
    completed = steps.filter((pl.col("type") == "workflow.step_completed") & pl.col("ts").is_between(since_ms, now_ms))
    table = completed.group_by("reviewer").agg(
        pl.len().alias("completed"),
        ((pl.col("queue_wait_s").fill_null(0.0) + pl.col("duration_s")).mean() / 3600).round(2).alias("avg_feedback_h"),
    )
    pending = (
        open_reviews(steps.filter(pl.col("ts") >= now_ms - QUEUE_LOOKBACK_MS), now_ms)
        .group_by("reviewer")
        .agg(pl.len().alias("open"))
    )
    table = table.join(pending, on="reviewer", how="full", coalesce=True).with_columns(
        pl.col("completed", "open").fill_null(0)
    )
    shown = redact(table.sort("reviewer"), viewer)
    return shown if "reviewer" in shown.columns else None


# --- workflow steps ----------------------------------------------------------------------------------------------


def step_summary(steps: pl.DataFrame, percentiles: pl.DataFrame) -> pl.DataFrame:
    """Per step: completed, failed, failure %, p50/p95/p99 time and average queue wait (seconds), p95 in minutes.

    ``percentiles`` is :func:`core.query.event_percentiles` of ``duration_s`` by ``step``.
    """
    completed = steps.filter(pl.col("type") == "workflow.step_completed")
    counts = completed.group_by("step").agg(
        pl.len().alias("completed"),
        (pl.col("status") == "failed").sum().alias("failed"),
        pl.col("queue_wait_s").mean().alias("avg_wait_s"),
    )
    pct = (
        percentiles.select(
            "step", pl.col("p50").alias("p50_s"), pl.col("p95").alias("p95_s"), pl.col("p99").alias("p99_s")
        )
        if not percentiles.is_empty()
        else pl.DataFrame(schema={"step": pl.String, "p50_s": pl.Float64, "p95_s": pl.Float64, "p99_s": pl.Float64})
    )
    table = counts.join(pct, on="step", how="left").with_columns(
        (pl.col("failed") / pl.col("completed") * 100).round(1).alias("failure_pct"),
        pl.col("failed").cast(pl.Int64),
        pl.col("completed").cast(pl.Int64),
        pl.col("p50_s", "p95_s", "p99_s", "avg_wait_s").round(1),
    )
    order = pipeline_order(table["step"].to_list())
    return (
        table.with_columns(pl.col("step").replace_strict({s: i for i, s in enumerate(order)}, default=0).alias("_o"))
        .sort("_o")
        .select(
            "step",
            "completed",
            "failed",
            "failure_pct",
            "p50_s",
            "p95_s",
            "p99_s",
            "avg_wait_s",
            (pl.col("p95_s") / 60).round(1).alias("p95_min"),
        )
    )


def load_steps(
    engine: Engine, start_ms: int, end_ms: int, filters: Mapping[str, str], settings: Settings | None = None
) -> pl.DataFrame:
    """Step events in [start, end) after the page filters, as a :func:`step_frame`."""
    events = within(load_events(engine, STEP_EVENTS, start_ms, end_ms, settings=settings), start_ms, end_ms)
    return step_frame(apply_filters(events, filters))


def step_performance(
    engine: Engine, start_ms: int, end_ms: int, filters: Mapping[str, str], settings: Settings | None = None
) -> pl.DataFrame:
    """:func:`step_summary` for the range, percentiles from the query layer."""
    steps = load_steps(engine, start_ms, end_ms, filters, settings)
    pct = event_percentiles(
        engine, "workflow.step_completed", "duration_s", start_ms, end_ms, by="step", settings=settings, where=filters
    )
    return step_summary(steps, pct)


def step_trend(
    engine: Engine,
    step: str,
    start_ms: int,
    end_ms: int,
    filters: Mapping[str, str],
    step_ms: int,
    settings: Settings | None = None,
) -> pl.DataFrame:
    """One step's p50/p95 time per ``step_ms`` bucket, long: ts, percentile, seconds (for the drill-down chart)."""
    pct = event_percentiles(
        engine,
        "workflow.step_completed",
        "duration_s",
        start_ms,
        end_ms,
        by="step",
        step_ms=step_ms,
        settings=settings,
        where=filters,
    )
    if pct.is_empty():
        return pl.DataFrame(schema={"ts": pl.Datetime("ms", "UTC"), "percentile": pl.String, "seconds": pl.Float64})
    return (
        pct.filter(pl.col("step") == step)
        .unpivot(["p50", "p95"], index="ts", variable_name="percentile", value_name="seconds")
        .sort("ts")
    )


# --- API and database --------------------------------------------------------------------------------------------


def endpoint_table(latency: pl.DataFrame, rate: pl.DataFrame, errors: pl.DataFrame) -> pl.DataFrame:
    """Per endpoint over the range: p50/p95/p99 (ms, mean of the reported quantile), requests/s, error %.

    Inputs are :func:`core.query.series` results of :data:`API_LATENCY`, :data:`API_RATE`, :data:`API_ERRORS`.
    """
    lat = (
        latency.with_columns(label_column("endpoint"), label_column("quantile"))
        .group_by("endpoint")
        .agg(
            *(
                (pl.col("value").filter(pl.col("quantile") == q).mean() * 1000).round(1).alias(name)
                for q, name in (("0.5", "p50_ms"), ("0.95", "p95_ms"), ("0.99", "p99_ms"))
            ),
        )
    )
    rps = (
        rate.with_columns(label_column("endpoint"))
        .group_by("endpoint")
        .agg(pl.col("value").mean().round(2).alias("requests_per_s"))
    )
    err = (
        errors.with_columns(label_column("endpoint"))
        .group_by("endpoint")
        .agg(pl.col("value").mean().round(2).alias("error_pct"))
    )
    table = lat.join(rps, on="endpoint", how="full", coalesce=True).join(err, on="endpoint", how="full", coalesce=True)
    return table.filter(pl.col("endpoint") != "").sort("endpoint")


def endpoint_series(latency: pl.DataFrame, quantile: str = "0.95") -> pl.DataFrame:
    """One latency quantile per endpoint over time: ts, endpoint, ms."""
    return (
        latency.with_columns(label_column("endpoint"), label_column("quantile"))
        .filter(pl.col("quantile") == quantile)
        .select("ts", "endpoint", (pl.col("value") * 1000).round(1).alias("ms"))
        .sort("endpoint", "ts")
    )


@dataclass(frozen=True)
class ApiPerformance:
    """The API panel: the per-endpoint table and the p95 latency lines."""

    table: pl.DataFrame
    p95: pl.DataFrame


def request_table(percentiles: pl.DataFrame, requests: pl.DataFrame, span_ms: int) -> pl.DataFrame:
    """Per endpoint from request events: p50/p95/p99 (ms), requests/s over the span, error % (status ≥ 400).

    ``percentiles`` is :func:`core.query.event_percentiles` of ``duration_ms`` by ``endpoint``;
    ``requests`` the events with ``endpoint`` and ``status`` columns.
    """
    counts = requests.group_by("endpoint").agg(
        (pl.len() / (span_ms / 1000)).round(2).alias("requests_per_s"),
        ((pl.col("status") >= 400).mean() * 100).round(2).alias("error_pct"),
    )
    if percentiles.is_empty():
        return pl.DataFrame(
            schema={
                "endpoint": pl.String,
                "p50_ms": pl.Float64,
                "p95_ms": pl.Float64,
                "p99_ms": pl.Float64,
                "requests_per_s": pl.Float64,
                "error_pct": pl.Float64,
            }
        )
    return (
        percentiles.select("endpoint", *(pl.col(f"p{q}").round(1).alias(f"p{q}_ms") for q in (50, 95, 99)))
        .join(counts, on="endpoint", how="left")
        .filter(pl.col("endpoint") != "")
        .sort("endpoint")
    )


def api_performance(engine: Engine, start_ms: int, end_ms: int, settings: Settings | None = None) -> ApiPerformance:
    """The three API metrics through core.query, per endpoint; endpoints without metrics come from request events."""
    latency = series(engine, API_LATENCY, start_ms, end_ms, settings=settings)
    table = endpoint_table(
        latency,
        series(engine, API_RATE, start_ms, end_ms, settings=settings),
        series(engine, API_ERRORS, start_ms, end_ms, settings=settings),
    )
    p95 = endpoint_series(latency)
    requests = fields(
        within(load_events(engine, (API_REQUEST_EVENT,), start_ms, end_ms, settings=settings), start_ms, end_ms),
        {"endpoint": "endpoint"},
        {"status": "status"},
    )
    requests = requests.filter(~pl.col("endpoint").is_in(table["endpoint"].implode()))
    if requests.height:
        pct = event_percentiles(
            engine, API_REQUEST_EVENT, "duration_ms", start_ms, end_ms, by="endpoint", settings=settings
        )
        pct = pct.filter(pl.col("endpoint").is_in(requests["endpoint"].unique().implode()))
        table = pl.concat([table, request_table(pct, requests, end_ms - start_ms)], how="diagonal_relaxed").sort(
            "endpoint"
        )
        step = max(60_000, (end_ms - start_ms) // 120 // 60_000 * 60_000)
        lines = event_percentiles(
            engine, API_REQUEST_EVENT, "duration_ms", start_ms, end_ms, by="endpoint", step_ms=step, settings=settings
        )
        lines = lines.filter(pl.col("endpoint").is_in(requests["endpoint"].unique().implode()))
        p95 = pl.concat([p95, lines.select("ts", "endpoint", pl.col("p95").round(1).alias("ms"))]).sort(
            "endpoint", "ts"
        )
    return ApiPerformance(table, p95)


def metric_lines(frames: Mapping[str, pl.DataFrame], scale: Mapping[str, float]) -> pl.DataFrame:
    """Several metrics' query results as one long frame: ts, metric, series, value (scaled)."""
    parts = [
        f.select("ts", pl.lit(name).alias("metric"), "series", (pl.col("value") * scale.get(name, 1.0)).alias("value"))
        for name, f in frames.items()
        if not f.is_empty()
    ]
    return (
        pl.concat(parts)
        if parts
        else pl.DataFrame(
            schema={"ts": pl.Datetime("ms", "UTC"), "metric": pl.String, "series": pl.String, "value": pl.Float64}
        )
    )


def database_performance(engine: Engine, start_ms: int, end_ms: int, settings: Settings | None = None) -> pl.DataFrame:
    """Query time (ms), pool use (%) and sessions waiting on locks, long, labelled by panel name."""
    frames = {
        label: series(engine, metric, start_ms, end_ms, settings=settings) for label, metric in DB_METRICS.items()
    }
    return metric_lines(frames, {label: DB_SCALE[metric] for label, metric in DB_METRICS.items()})


# --- errors and deployments ----------------------------------------------------------------------------------------


def error_frame(events: pl.DataFrame) -> pl.DataFrame:
    """Error events with ``error_type``, component, severity, message.

    ``error_type`` is data.error_type, else data.kind, else "unknown".
    """
    read = fields(
        events,
        {
            "error_type": "error_type",
            "kind": "kind",
            "component": "component",
            "severity": "severity",
            "message": "message",
        },
    )
    return read.select(
        "id",
        "ts",
        pl.coalesce("error_type", "kind", pl.lit("unknown")).alias("error_type"),
        "component",
        "severity",
        "message",
    )


def error_timeline(errors: pl.DataFrame, step_ms: int) -> pl.DataFrame:
    """Errors per ``step_ms`` bucket and type: ts (Datetime, bucket start), error_type, count."""
    return (
        errors.group_by((pl.col("ts") - pl.col("ts") % step_ms).alias("bucket"), "error_type")
        .agg(pl.len().alias("count").cast(pl.Int64))
        .select(pl.from_epoch("bucket", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"), "error_type", "count")
        .sort("ts", "error_type")
    )


def error_points(errors: pl.DataFrame) -> pl.DataFrame:
    """One point per error for the timeline: ts (Datetime), error_type, label (component: message), severity."""
    label = pl.concat_str([pl.col("component").fill_null("?"), pl.col("message").fill_null("")], separator=": ")
    return errors.select(
        pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"),
        "error_type",
        label.alias("label"),
        pl.col("severity").fill_null("unknown"),
    ).sort("ts")


def window_means(
    frame: pl.DataFrame, at_ms: int, window_ms: int = IMPACT_WINDOW_MS
) -> tuple[float | None, float | None]:
    """Mean ``value`` of a query result over [at − window, at) and [at, at + window)."""
    ts = pl.col("ts").dt.epoch("ms")

    def mean(lo: int, hi: int) -> float | None:
        value = frame.filter((ts >= lo) & (ts < hi))["value"].mean()
        return None if value is None else float(value)  # type: ignore[arg-type]

    return mean(at_ms - window_ms, at_ms), mean(at_ms, at_ms + window_ms)


def impact_rows(
    deployment: Mapping[str, object],
    metric: str,
    frame: pl.DataFrame,
    scale: float = 1.0,
    window_ms: int = IMPACT_WINDOW_MS,
) -> dict[str, object]:
    """One table row: the metric's mean before and after the deployment, the change and the change in %."""
    before, after = window_means(frame, int(deployment["ts"]), window_ms)  # type: ignore[call-overload]
    before = None if before is None else before * scale
    after = None if after is None else after * scale
    delta = None if before is None or after is None else after - before
    pct = None if delta is None or not before else delta / abs(before) * 100
    return {
        "deployment": deployment["id"],
        "ts": deployment["ts"],
        "component": deployment["component"],
        "version": deployment["version"],
        "metric": metric,
        "before": before,
        "after": after,
        "delta": delta,
        "delta_pct": pct,
    }


def deployment_impact(
    engine: Engine,
    deployments: pl.DataFrame,
    *,
    limit: int = 8,
    window_ms: int = IMPACT_WINDOW_MS,
    now_ms: int | None = None,
    settings: Settings | None = None,
) -> pl.DataFrame:
    """Before/after means of :data:`IMPACT_METRICS` around the newest ``limit`` deployments (1-minute buckets)."""
    rows = []
    for deployment in deployments.sort("ts", descending=True).head(limit).iter_rows(named=True):
        lo, hi = deployment["ts"] - window_ms, deployment["ts"] + window_ms
        for label, selector, scale in IMPACT_METRICS:
            frame = series(engine, selector, lo, hi, step_ms=60_000, settings=settings, now_ms=now_ms)
            rows.append(impact_rows(deployment, label, frame, scale, window_ms))
    schema = {
        "deployment": pl.String,
        "ts": pl.Int64,
        "component": pl.String,
        "version": pl.String,
        "metric": pl.String,
        "before": pl.Float64,
        "after": pl.Float64,
        "delta": pl.Float64,
        "delta_pct": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(
        pl.col("before", "after", "delta", "delta_pct").round(2)
    )


def filter_options(
    engine: Engine, start_ms: int, end_ms: int, settings: Settings | None = None
) -> dict[str, list[str]]:
    """Values offered by the page filters: repositories of step events, components of errors and deployments, teams."""
    steps = load_events(engine, (*STEP_EVENTS, ERROR_EVENT, "system.deployment"), start_ms, end_ms, settings=settings)
    return {name: filter_values(steps, name) for name in ("component", "team", "repository")}


def impact_summary(impact: pl.DataFrame) -> pl.DataFrame:
    """One row per deployment (newest first): time, component, version, and per metric "before → after (±x%)"."""
    if impact.is_empty():
        return pl.DataFrame(schema={"deployed": pl.Datetime("ms", "UTC"), "component": pl.String, "version": pl.String})

    def num(column: str) -> pl.Expr:
        return pl.col(column).map_elements(lambda v: f"{v:,.4g}", return_dtype=pl.String)

    change = (
        pl.when(pl.col("delta_pct").is_not_null())
        .then(
            pl.format(
                " ({}%)", pl.col("delta_pct").round(1).map_elements(lambda v: f"{v:+.1f}", return_dtype=pl.String)
            )
        )
        .otherwise(pl.lit(""))
    )
    text = (
        pl.when(pl.col("before").is_null() | pl.col("after").is_null())
        .then(pl.lit("no data"))
        .otherwise(pl.concat_str([num("before"), pl.lit(" → "), num("after"), change]))
    )
    wide = impact.with_columns(text.alias("cell")).pivot(
        "metric", index=["deployment", "ts", "component", "version"], values="cell"
    )
    return wide.sort("ts", descending=True).select(
        pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("deployed"),
        "component",
        "version",
        *[label for label, _, _ in IMPACT_METRICS if label in wide.columns],
    )
