"""Overview: overall health and what drags it down, active alerts, KPIs, component status, what the store holds."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.dashboards import builtin
from core.kpis.developer import filter_options
from core.kpis.overview import load_overview
from core.model import now_ms
from core.query.feeds import feed_status
from core.query.inventory import latest_events, latest_samples, store_totals
from core.ui import chrome, export
from core.ui import widgets as w
from core.ui.feeds_view import STRIP as FEEDS
from core.ui.feeds_view import strip_frame
from core.ui.login import require_page
from core.ui.text import md_escape
from core.ui.timefmt import ago

DRAGS = w.BarConfig(
    title="What drags it down",
    category="component",
    value="points_lost",
    unit="points lost",
    extra_tooltip=["score", "detail"],
    empty="Every component with data is at 100.",
)
ALERTS = w.BarConfig(
    title="Active alerts by severity",
    category="severity",
    value="count",
    color="severity",
    sort=["critical", "error", "warning", "info"],
    integer=True,
    empty="No alert is firing.",
)
COMPONENTS = w.StatusGridConfig(
    title="Component status",
    columns=5,
    empty=(
        "No components yet: send qms_queue_depth / qms_agent_up / api_errors_percent samples or "
        "system.error_occurred events."
    ),
)

viewer = require_page("overview")
ctx = chrome.page(
    "overview",
    viewer,
    filter_options=filter_options,
    caption="Is everything healthy right now, and if not, what is dragging it down?",
)
# the KPI panels and their levels: core/dashboards/defaults/overview.json, with an admin's levels on top
PANELS = builtin.panels(ctx.engine, "overview")
HEALTH = PANELS["health-score"]
STRIP = tuple(
    PANELS[k]
    for k in ("active-workflows", "completed", "completion-rate", "time-to-merge", "gate-pass-rate", "agents-up")
)


@chrome.live(ctx)
def live_overview() -> None:
    win = ctx.window()
    data = load_overview(ctx.engine, win.start_ms, win.end_ms, ctx.filters, ctx.settings)
    gauge_col, drag_col, alert_col = st.columns([2, 3, 2])
    with gauge_col:
        chrome.widget(HEALTH, (data.health.score, data.health.band), ctx=ctx)
    with drag_col:
        drags = data.health.drags.filter(pl.col("points_lost") > 0)
        chrome.widget(DRAGS, drags, ctx=ctx)
        missing = data.health.drags.filter(pl.col("score").is_null())["component"].to_list()
        if missing:
            st.caption("Not scored (no data): " + ", ".join(md_escape(name) for name in missing))
    with alert_col:
        if data.alerts is None:
            st.markdown(f"**{ALERTS.title}**")
            chrome.empty("Alerting is not available yet in this installation.")
        else:
            counts = pl.DataFrame({"severity": list(data.alerts), "count": list(data.alerts.values())})
            chrome.widget(ALERTS, counts.filter(pl.col("count") > 0), ctx=ctx)
    s = data.strip
    chrome.kpi_row(
        [
            (STRIP[0], float(s.active_workflows) if s.active_workflows or s.completed[0] else None),
            (STRIP[1], w.KpiValue(*s.completed)),
            (STRIP[2], w.KpiValue(*s.completion_pct)),
            (STRIP[3], w.KpiValue(*s.time_to_merge_h)),
            (STRIP[4], w.KpiValue(*s.gate_pass_pct)),
            (
                STRIP[5],
                w.KpiValue(float(s.agents_up[0]) if s.agents_up[1] else None, note=f"of {s.agents_up[1]} agents"),
            ),
        ],
        ctx=ctx,
        per_row=3,
    )
    picked = chrome.widget(COMPONENTS, data.components, ctx=ctx)
    if picked:
        export.table(
            data.components.filter(pl.col("name") == picked), hide_index=True, width="stretch", panel="component"
        )
    elif data.components.height:
        st.caption("Click a component to see its detail.")
    chrome.widget(FEEDS, strip_frame(feed_status(ctx.engine, ctx.settings, now_ms())), ctx=ctx)
    totals = store_totals(ctx.engine)
    chrome.freshness(
        totals.newest_sample_ms or totals.newest_event_ms, stale_after_s=max(120.0, 3 * (ctx.refresh_s or 30))
    )


live_overview()

totals = store_totals(ctx.engine)
with st.expander("What is in the store", expanded=totals.series == 0 and totals.events_last_day == 0):
    series_col, samples_col, events_col, fresh_col = st.columns(4)
    series_col.metric("Series", f"{totals.series:,}")
    samples_col.metric("Samples, last hour", f"{totals.samples_last_hour:,}")
    events_col.metric("Events, last 24 h", f"{totals.events_last_day:,}")
    fresh_col.metric("Last sample", ago(totals.newest_sample_ms))
    if totals.series == 0 and totals.events_last_day == 0:
        st.info(
            "The store is empty. Send samples with `curl -X POST localhost:8501/api/v1/metrics "
            '-H \'Content-Type: application/json\' -d \'[{"name": "up", "labels": {"job": "demo"}, "value": 1}]\'`, '
            "or events to `/api/v1/events` (see docs/api.md), or start with PULSEBOARD_DEMO=1.",
            icon=":material/inbox:",
        )
    samples_tab, events_tab = st.tabs(["Latest samples", "Latest events"])
    with samples_tab:
        export.table(latest_samples(ctx.engine), hide_index=True, width="stretch", panel="latest-samples")
    with events_tab:
        export.table(latest_events(ctx.engine), hide_index=True, width="stretch", panel="latest-events")
