"""Developer: my review queue, workflow steps, API and database performance, errors and deployment impact."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.dashboards import builtin
from core.kpis import developer as dev
from core.kpis.records import apply_filters, load_deployments, load_events, marks, newest_event_ms, within
from core.model import now_ms
from core.ui import chrome, export, gate_thresholds_view
from core.ui import widgets as w
from core.ui.login import require_page
from core.ui.text import md_escape

ALL_REVIEWERS = "All reviewers"
QUEUE = (
    w.KpiConfig(
        title="Pending reviews",
        format="{:,.0f}",
        delta_good="down",
        help="Steps started and not completed (last 3 days).",
        empty="Send workflow.step_started / step_completed events with agent_id.",
    ),
    w.KpiConfig(title="Completed today", format="{:,.0f}", help="workflow.step_completed since 00:00 UTC."),
    w.KpiConfig(
        title="Average feedback time",
        unit="h",
        format="{:,.2f}",
        delta_good="down",
        help="Queue wait + review time of the steps completed in the range (queue_wait_s + duration_s).",
    ),
)
STEPS = w.BarConfig(
    title="p95 time per step (click a step for its detail)",
    category="step",
    value="p95_min",
    unit="minutes",
    pick=True,
    sort=list(dev.PIPELINE),
    extra_tooltip=["p50_s", "p95_s", "completed", "failure_pct"],
    empty=(
        "No steps completed in the last 4 hours. Send workflow.step_completed events (step, duration_s, "
        "queue_wait_s, status)."
    ),
)
STEP_TABLE = w.TableConfig(title="Steps")
API_TABLE = w.TableConfig(title="Endpoints (range averages)")
DB = w.TrendConfig(
    title="Database",
    color="series",
    empty="No database metrics. The database collector records "
    + ", ".join(dev.DB_METRICS.values())
    + " for the store and every database in db_watch_urls (query time needs Postgres 14 or later); other sources "
    "can send them (label database optional) to /api/v1/metrics.",
)
ERRORS = w.TimelineConfig(
    title="Errors by type (hover a point for its message)",
    lane="error_type",
    empty=f"No errors in this range. {dev.ERROR_EVENT} events (data.error_type or kind, component, severity, "
    "message) appear here.",
)
IMPACT = w.TableConfig(
    title="Mean in the hour before → the hour after each deployment (change)",
    empty="No deployments in this range. Post system.deployment events (component, version, commit) or configure "
    "the deployments collector's git repository.",
)

viewer = require_page("developer")
ctx = chrome.page(
    "developer",
    viewer,
    default_range="24h",
    filter_options=dev.filter_options,
    caption=(
        "Reviews, workflow steps, API, database, errors and deployments. Every figure is computed from stored "
        "events and samples."
    ),
)
# panels with levels: core/dashboards/defaults/developer.json, with an admin's levels on top
API = builtin.panels(ctx.engine, "developer")["api-p95"]


@chrome.live(ctx)
def review_queue() -> None:
    win, now = ctx.window(), now_ms()
    steps = dev.load_steps(ctx.engine, min(win.start_ms, now - dev.QUEUE_LOOKBACK_MS), win.end_ms, ctx.filters)
    chrome.freshness(
        newest_event_ms(ctx.engine, ("workflow.*",)), stale_after_s=dev.STALE_AFTER_S, what="workflow event"
    )
    chrome.section("My review queue")
    who = st.selectbox("Reviewer", [ALL_REVIEWERS, *dev.reviewers(steps, viewer)], key="reviewer", bind="query-params")
    queue = dev.review_queue(
        steps,
        None if who in (None, ALL_REVIEWERS) else str(who),
        viewer,
        now_ms=now,
        day_start_ms=now - now % dev.DAY_MS,
        since_ms=win.start_ms,
    )
    if queue is None:
        chrome.empty("Per-person review figures are not shown to your role; team totals are under “All reviewers”.")
        return
    feedback = None if queue.avg_feedback_s is None else queue.avg_feedback_s / 3600
    chrome.kpi_row(
        list(zip(QUEUE, (float(queue.pending), float(queue.completed_today), feedback), strict=True)),
        ctx=ctx,
        per_row=3,
    )
    if queue.items.height:
        with st.expander(f"Open reviews ({queue.items.height})"):
            export.table(queue.items, hide_index=True, width="stretch", panel="review-queue")
    people = dev.feedback_by_reviewer(steps, viewer, since_ms=win.start_ms, now_ms=now)
    if people is not None and people.height and queue.reviewer is None:
        with st.expander("Feedback time per reviewer"):
            export.table(people, hide_index=True, width="stretch", panel="feedback-per-reviewer")


@chrome.live(ctx)
def workflow_steps() -> None:
    end = ctx.window().end_ms
    start = end - dev.STEP_WINDOW_MS  # a fixed last-4-hours view: how the pipeline runs now, not over the page range
    chrome.section(
        "Workflow performance by step (last 4 h)",
        "Time each pipeline step took (p50/p95/p99), failures and queue wait over the last 4 hours, whatever the time "
        "range above.",
    )
    table = dev.step_performance(ctx.engine, start, end, ctx.filters)
    left, right = st.columns([3, 2])
    with left:
        step = chrome.widget(STEPS, table, ctx=ctx, key="step-pick")
    with right:
        chrome.widget(
            STEP_TABLE, table.select("step", "completed", "failure_pct", "p50_s", "p95_s", "avg_wait_s"), ctx=ctx
        )
    if step:
        trend = dev.step_trend(ctx.engine, step, start, end, ctx.filters, 10 * 60_000)
        deployments = marks(load_deployments(ctx.engine, start, end))
        chrome.widget(
            w.TrendConfig(
                title=f"{md_escape(step)}: p50 and p95 time, last 4 h (10-min buckets)",
                y="seconds",
                color="percentile",
                unit="seconds",
            ),
            trend,
            ctx=ctx,
            deployments=deployments,
        )


@chrome.live(ctx)
def api_and_database() -> None:
    win = ctx.window()
    deployments = marks(load_deployments(ctx.engine, win.start_ms, win.end_ms))
    chrome.section(
        "API performance per endpoint",
        "Dotted vertical lines are deployments; dashed lines the warning and critical levels.",
    )
    api = dev.api_performance(ctx.engine, win.start_ms, win.end_ms)
    chrome.widget(API, api.p95, ctx=ctx, deployments=deployments)
    if api.table.height:
        chrome.widget(API_TABLE, api.table, ctx=ctx)
    chrome.section("Database performance", "Query time (ms), connection pool in use (%) and sessions waiting on locks.")
    db = dev.database_performance(ctx.engine, win.start_ms, win.end_ms)
    if db.is_empty():
        chrome.widget(DB, db, ctx=ctx)
    for column, metric in zip(
        st.columns(max(1, db["metric"].n_unique())), db["metric"].unique(maintain_order=True), strict=False
    ):
        one = db.filter(pl.col("metric") == metric)
        with column:  # one database: the title says it all, a legend repeating the selector would only be cut off
            chrome.widget(
                DB.model_copy(
                    update={
                        "title": md_escape(metric),
                        "unit": metric,
                        "color": "series" if one["series"].n_unique() > 1 else None,
                    }
                ),
                one,
                ctx=ctx,
                deployments=deployments,
            )


@chrome.live(ctx)
def errors_and_deployments() -> None:
    win = ctx.window()
    deployments = load_deployments(ctx.engine, win.start_ms, win.end_ms)
    chrome.section("Error timeline", "Each error in the range, one lane per error type, coloured by severity.")
    events = within(load_events(ctx.engine, (dev.ERROR_EVENT,), win.start_ms, win.end_ms), win.start_ms, win.end_ms)
    errors = dev.error_frame(apply_filters(events, ctx.filters))
    chrome.widget(ERRORS, dev.error_points(errors), ctx=ctx)
    chrome.section(
        "Deployment impact", "Mean of each metric in the hour before and the hour after the newest deployments."
    )
    chrome.widget(
        IMPACT, dev.impact_summary(dev.deployment_impact(ctx.engine, apply_filters(deployments, ctx.filters))), ctx=ctx
    )


review_queue()
workflow_steps()
api_and_database()
errors_and_deployments()
window = ctx.window()
gate_thresholds_view.section(ctx.engine, viewer, window.start_ms, window.end_ms, ctx.filters)
