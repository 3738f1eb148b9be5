"""Operations: the live pipeline, agents, queues, resources, components, alerts, anomalies and errors.

Trend panels ask for about their width in points (:data:`PANEL_POINTS`, core.query.plan.step_for) and say
the bucket width they were drawn at; the heatmap keeps cells wide enough to read (:data:`HEATMAP_CELLS`).
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.auth.access import can
from core.kpis import alerting, operations, workflow
from core.kpis.developer import filter_options
from core.kpis.records import load_deployments, marks, newest_event_ms
from core.model import now_ms
from core.query import series
from core.query.feeds import feed_status
from core.query.plan import step_for, step_text
from core.query.selectors import build_selector
from core.ui import chrome, export
from core.ui import widgets as w
from core.ui.feeds_view import TABLE as FEEDS
from core.ui.feeds_view import table_frame
from core.ui.login import require_page
from core.ui.text import md_escape

PIPELINE = w.PipelineConfig(
    title="Workflow pipeline (open workflows per step)",
    order=list(workflow.STEP_LABELS.values()),
    empty="No open workflows: send workflow.pr_created and workflow.step_started/step_completed events.",
)
AGENTS = w.StatusGridConfig(
    title="Agent status", columns=6, empty="No agents: send qms_agent_load_percent / qms_agent_up samples."
)
QUEUES = w.BarConfig(
    title="Queue depths",
    category="queue",
    value="depth",
    unit="items waiting",
    color="level",
    pick=True,
    integer=True,
    thresholds=w.Thresholds(warning=operations.QUEUE_WARNING, critical=operations.QUEUE_CRITICAL),
    empty="No queues: send qms_queue_depth samples or system.queue_depth_updated events.",
)
WAITS = w.BarConfig(
    title="Mean queue wait before work starts",
    category="step",
    value="wait_s",
    unit="seconds",
    empty="No steps started in the range (workflow.step_started with queue_wait_s).",
)
HEATMAP = w.HeatmapConfig(
    title="Agent workload (load %)",
    x="ts",
    y="agent",
    unit="load %",
    pick=True,
    empty="Send qms_agent_load_percent samples.",
)
COMPONENTS = w.StatusGridConfig(title="Component status", columns=5, empty="No components reporting yet.")
ALERTS = w.AlertListConfig(title="Active alerts", empty="No alert is firing or pending.")
ANOMALIES = w.TableConfig(
    title="Anomalies, last hour",
    columns=["ts", "series", "observed", "expected", "score"],
    empty="No anomalies in the last hour (auto detector at medium sensitivity over 6 h of 5-min buckets).",
)
ERRORS = w.TimelineConfig(title="Errors over time", empty="No system.error_occurred events in the range.")
ERROR_TABLE = w.TableConfig(title="Recent errors", height=240, empty="No system.error_occurred events in the range.")
PANEL_POINTS = 300  # a quarter- or half-width trend panel is about 300 px wide: no more points than that per series
HEATMAP_CELLS = 120  # columns of the agent heatmap: fewer and wider, so each stays a few pixels wide
RESOURCE_LIMITS = {"CPU": (80.0, 90.0), "Memory": (80.0, 90.0), "Disk": (80.0, 90.0), "Network": (None, None)}

viewer = require_page("operations")
ctx = chrome.page(
    "operations", viewer, filter_options=filter_options, caption="What is happening right now, and where is it stuck?"
)


@chrome.live(ctx)
def live_state() -> None:
    win = ctx.window()
    ops = operations.load_ops(ctx.engine, win.start_ms, win.end_ms, ctx.filters, ctx.settings)
    events = workflow.load_workflow_events(ctx.engine, win.end_ms, win.end_ms + 1, ctx.filters, ctx.settings)
    open_now = workflow.open_workflows(events)
    counts = workflow.pipeline_counts(open_now)
    summary = operations.agent_summary(ops.agents)
    chrome.kpi_row(
        [(w.KpiConfig(title="Active workflows", format="{:,.0f}"), float(open_now.height))]
        + [
            (
                w.KpiConfig(title=s.replace("_", " ").capitalize(), format="{:,.0f}"),
                float(summary[s]) if summary["total"] else None,
            )
            for s in operations.AGENT_STATES
        ],
        ctx=ctx,
        per_row=3,
    )
    pipe_col, agent_col = st.columns([1, 1])
    with pipe_col:
        step = chrome.widget(
            PIPELINE, counts.with_columns(pl.col("label").alias("step")) if open_now.height else None, ctx=ctx
        )
        if step:
            code = {v: k for k, v in workflow.STEP_LABELS.items()}.get(step, step)
            st.caption(f"Open workflows at **{md_escape(step)}**")
            export.table(
                open_now.filter(pl.col("step") == code)
                .with_columns(pl.from_epoch("since_ms", time_unit="ms").dt.replace_time_zone("UTC").alias("since"))
                .drop("since_ms"),
                hide_index=True,
                width="stretch",
                panel="open-steps",
            )
        elif open_now.height:
            st.caption("Click a step to list its workflows.")
    with agent_col:
        agent = chrome.widget(AGENTS, ops.agents, ctx=ctx)
        if agent:
            st.caption(
                f"**{md_escape(agent)}** — {md_escape(ops.agents.filter(pl.col('name') == agent)['detail'].first())}; "
                "workflows it is working on:"
            )
            export.table(
                open_now.filter(pl.col("agent_id") == agent).drop("since_ms"),
                hide_index=True,
                width="stretch",
                panel="agent-open-items",
            )
    queue_col, comp_col = st.columns([1, 1])
    with queue_col:
        queue = chrome.widget(QUEUES, ops.queues, ctx=ctx)
        if ops.queues.height:
            st.caption(
                "Now: "
                + " · ".join(
                    f"{md_escape(q)} **{d:g}**" + ("" if lv == "ok" else f" ({lv})")
                    for q, d, lv in ops.queues.select("queue", "depth", "level").iter_rows()
                )
            )
        if queue:
            queue_step = step_for(win.span_ms, PANEL_POINTS)
            trend = series(
                ctx.engine,
                build_selector("qms_queue_depth", {"queue": [queue]}),
                win.start_ms,
                win.end_ms,
                step_ms=queue_step,
                settings=ctx.settings,
            )
            chrome.widget(
                w.TrendConfig(
                    title=f"{md_escape(queue)} depth over the range · {step_text(queue_step)}",
                    thresholds=QUEUES.thresholds,
                    color=None,
                    integer=True,
                ),
                trend,
                ctx=ctx,
            )
    with comp_col:
        component = chrome.widget(
            COMPONENTS,
            operations.component_status(ops.queues, ops.agents, ops.api_errors, ops.errors, win.end_ms),
            ctx=ctx,
        )
        if component:
            st.caption(f"Errors naming **{md_escape(component)}** in the range")
            export.table(
                operations.recent_errors(ops.errors).filter(pl.col("component") == component),
                hide_index=True,
                width="stretch",
                panel="recent-errors",
            )
    alerts_panel(win.end_ms)
    chrome.widget(FEEDS, table_frame(feed_status(ctx.engine, ctx.settings, now_ms())), ctx=ctx)
    newest = max(
        [
            t
            for t in (newest_event_ms(ctx.engine, ["workflow.*", "system.*"]), ops.queues["ts_ms"].max())
            if t is not None
        ],
        default=None,
    )
    chrome.freshness(newest, stale_after_s=max(120.0, 3 * (ctx.refresh_s or 10)))


def alerts_panel(now: int) -> None:
    frame = alerting.load_alerts(ctx.engine)
    if frame is None:
        st.markdown(f"**{ALERTS.title}**")
        chrome.empty("Alerting is not available yet in this installation.")
        return
    active = alerting.active_list(frame, now)
    chrome.widget(ALERTS, active.drop("fingerprint"), ctx=ctx)
    firing = active.filter((pl.col("state") == "firing") & pl.col("acknowledged_by").is_null())
    if firing.height and viewer is not None and can(viewer, "acknowledge_alerts"):
        with st.form("ack", border=False):
            labels = dict(
                zip(
                    firing["fingerprint"],
                    (f"{s} · {r} · {t}" for s, r, t in firing.select("severity", "rule", "summary").iter_rows()),
                    strict=True,
                )
            )
            chosen = st.selectbox("Acknowledge", list(labels), format_func=labels.__getitem__)
            comment = st.text_input("Comment", placeholder="who is on it, what is being done")
            if st.form_submit_button("Acknowledge", icon=":material/done:") and chosen:
                done = alerting.acknowledge(ctx.engine, chosen, viewer.username, comment)
                st.toast("Acknowledged." if done else "That alert is no longer firing.")


@chrome.live(ctx)
def live_history() -> None:
    win = ctx.window()
    cells = win.step_ms(HEATMAP_CELLS)
    heat_col, wait_col = st.columns([3, 2])
    with heat_col:
        load = series(
            ctx.engine, "qms_agent_load_percent", win.start_ms, win.end_ms, step_ms=cells, settings=ctx.settings
        )
        heatmap = HEATMAP.model_copy(
            update={"title": f"{HEATMAP.title} · {step_text(cells).replace('buckets', 'cells')}"}
        )
        chrome.widget(heatmap, operations.workload_heatmap(load), ctx=ctx)
    with wait_col:
        done = workflow.outcomes(
            workflow.load_workflow_events(ctx.engine, win.start_ms, win.end_ms, ctx.filters, ctx.settings),
            win.start_ms,
            win.end_ms,
        )
        chrome.widget(WAITS, done.step_wait_s, ctx=ctx)
    step = step_for(win.span_ms, PANEL_POINTS)
    chrome.section("Resource utilisation", f"{step_text(step).capitalize()}, at most {PANEL_POINTS} points per series.")
    frames = operations.resource_frames(ctx.engine, win.start_ms, win.end_ms, step, ctx.settings)
    deployments = marks(load_deployments(ctx.engine, win.start_ms, win.end_ms, settings=ctx.settings))
    for column, (name, frame) in zip(st.columns(4), frames.items(), strict=True):
        warning, critical = RESOURCE_LIMITS[name]
        with column:
            chrome.widget(
                w.TrendConfig(
                    title=name,
                    unit=operations.RESOURCES[name][1],
                    height=180,
                    color=None if frame["series"].n_unique() < 2 else "series",
                    thresholds=w.Thresholds(warning=warning, critical=critical),
                    empty=f"No {operations.RESOURCES[name][0]} samples: start the system collector.",
                ),
                frame,
                ctx=ctx,
                deployments=deployments,
            )
    anomaly_col, error_col = st.columns(2)  # half the page: the anomaly table's band and score columns stay in view
    with anomaly_col:
        chrome.widget(ANOMALIES, operations.load_anomalies(ctx.engine, win.end_ms, ctx.settings), ctx=ctx)
    with error_col:
        ops = operations.load_ops(ctx.engine, win.start_ms, win.end_ms, ctx.filters, ctx.settings)
        chrome.widget(ERRORS, operations.error_timeline(ops.errors), ctx=ctx)
        chrome.widget(ERROR_TABLE, operations.recent_errors(ops.errors), ctx=ctx)


live_state()
live_history()
