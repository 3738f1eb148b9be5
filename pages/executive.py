"""Executive: quality, efficiency and cost at a glance, their trends, SLA compliance, alerts and risks."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.auth.access import redact
from core.dashboards import builtin
from core.insights.business import load_business
from core.kpis import alerting, operations
from core.kpis.developer import filter_options
from core.kpis.executive import (
    HISTORY_DAYS,
    HORIZON_DAYS,
    load_executive,
    load_predictions,
    prediction_table,
    predictions,
    risks,
)
from core.kpis.records import load_deployments, marks, newest_event_ms
from core.query.timewindow import RANGE_LABELS
from core.ui import chrome
from core.ui import widgets as w
from core.ui.login import require_page

QUALITY_TREND = w.TrendConfig(
    title="Quality trend",
    y_title="%",
    empty=(
        "No gate or compliance events in the range: send workflow.quality_gate_passed/failed and "
        "qa.compliance_check events."
    ),
)
EFFICIENCY_TREND = w.TrendConfig(
    title="Efficiency trend",
    y_title="%",
    empty="No completed or failed workflows in the range: send workflow.workflow_completed/failed events.",
)
MERGE_TREND = w.TrendConfig(
    title="Time to merge",
    y_title="hours",
    color=None,
    empty="No completed workflows in the range: send workflow.workflow_completed with duration_s.",
)
RISKS = w.BarConfig(
    title="Risk assessment",
    category="risk",
    value="score",
    color="level",
    extra_tooltip=["reason"],
    integer=True,
    sort=None,
    empty="Not enough data to assess risks: send workflow events and qms_agent_* samples.",
)
ALERT_SUMMARY = w.TableConfig(
    title="Critical and error alerts, last hour", empty="No critical or error alert fired in the last hour."
)
PREDICTIONS = w.TableConfig(
    title=f"Performance predictions, next {HORIZON_DAYS} days (forecast)",
    help=(
        f"A forecast of each KPI's last {HISTORY_DAYS} daily values (Prophet, or seasonal-naive where it backtests "
        f"better), read {HORIZON_DAYS} days ahead with its 80 % interval; fitted in the background for the whole "
        "organisation (docs/forecasting.md). A trend, not a model of causes."
    ),
    empty="No predictions yet: the forecast job fits them within a minute of start (Capacity & forecasts page).",
)

SERVICE = (
    ("Response time p95 (ms)", "Response time (API p95)", "ms"),
    ("Error rate %", "Error rate (API)", "%"),
    ("Availability %", "Availability (agents up)", "%"),
)
SERVICE_EMPTY = "No samples in the range: send {}."
SERVICE_SOURCES = ("api_request_duration_seconds", "api_errors_percent", "qms_agent_up")
TEAMS = w.TableConfig(
    title="Team performance and cost",
    help=(
        "Per team (the event's team, else its repository): completed and failed reviews, completion %, mean "
        "review cycle, agent hours, the team's cost rate (cost_team_rates, else cost_per_agent_hour), cost and "
        "cost per review. Cost columns need the view_costs permission."
    ),
    progress=["completion_pct"],
    empty="No workflow ended in the range: send workflow.workflow_completed/failed and step events.",
)

viewer = require_page("executive")
ctx = chrome.page(
    "executive",
    viewer,
    default_range="7d",
    filter_options=filter_options,
    caption="Quality, efficiency and cost against the previous period of the same length.",
)
# the KPI panels and their levels: core/dashboards/defaults/executive.json, with an admin's levels on top
PANELS = builtin.panels(ctx.engine, "executive")
QUALITY = tuple(
    PANELS[k] for k in ("quality-score", "defect-detection-rate", "false-positive-rate", "compliance-adherence")
)
EFFICIENCY = tuple(
    PANELS[k] for k in ("review-cycle-time", "workflow-completion", "agent-utilisation", "sla-adherence")
)
BUSINESS = tuple(PANELS[k] for k in ("cost-per-review", "time-to-merge", "reviews-completed"))
ROI = tuple(
    PANELS[k]
    for k in (
        "defects-caught-before-release",
        "escape-cost-avoided",
        "review-cost",
        "quality-programme-roi",
        "process-adoption-qse",
    )
)


@chrome.live(ctx)
def executive() -> None:
    win = ctx.window()
    data = load_executive(
        ctx.engine, win.start_ms, win.end_ms, win.end_ms, win.step_ms(60), ctx.filters, viewer, ctx.settings
    )
    now, before = data.current, data.previous
    st.caption(f"Period over period: the selected range vs the {RANGE_LABELS.get(ctx.range_key, 'range')} before it.")
    chrome.kpi_row(
        [
            (c, w.KpiValue(getattr(now, f), getattr(before, f)))
            for c, f in zip(
                QUALITY, ("quality_score", "defect_detection_pct", "false_positive_pct", "compliance_pct"), strict=True
            )
        ],
        ctx=ctx,
    )
    chrome.kpi_row(
        [
            (c, w.KpiValue(getattr(now, f), getattr(before, f)))
            for c, f in zip(EFFICIENCY, ("review_cycle_h", "completion_pct", "utilisation_pct", "sla_pct"), strict=True)
        ],
        ctx=ctx,
    )
    cost = BUSINESS[0].model_copy(update={"unit": ctx.settings.cost_currency})
    chrome.kpi_row(
        [
            (cost, w.KpiValue(now.cost_per_review, before.cost_per_review)),
            (BUSINESS[1], w.KpiValue(now.time_to_merge_h, before.time_to_merge_h)),
            (BUSINESS[2], w.KpiValue(float(now.reviews), float(before.reviews))),
        ],
        ctx=ctx,
        per_row=4,
    )
    deployments = marks(load_deployments(ctx.engine, win.start_ms, win.end_ms, settings=ctx.settings))
    trend_col, gauge_col = st.columns([3, 1])
    with trend_col:
        trends = data.trends
        chrome.widget(
            QUALITY_TREND,
            trends.filter(pl.col("series").is_in(["Quality score %", "Compliance %"])),
            ctx=ctx,
            deployments=deployments,
        )
    with gauge_col:
        target = None if now.sla_target_pct is None else round(now.sla_target_pct, 1)
        gauge = w.GaugeConfig(
            title="SLA compliance",
            unit="%",
            lo=90.0 if (now.sla_pct or 0) >= 90 else 0.0,
            target=target,
            thresholds=w.Thresholds(warning=target, critical=(target - 2) if target else None, higher_is_worse=False),
        )
        chrome.widget(gauge, now.sla_pct, ctx=ctx)
        st.caption("Share of step and workflow SLA items within target; tick = item-weighted objective.")
    eff_col, merge_col = st.columns(2)
    with eff_col:
        chrome.widget(
            EFFICIENCY_TREND, trends.filter(pl.col("series") == "Completion rate %"), ctx=ctx, deployments=deployments
        )
    with merge_col:
        chrome.widget(
            MERGE_TREND, trends.filter(pl.col("series") == "Time to merge (h)"), ctx=ctx, deployments=deployments
        )
    business = load_business(ctx.engine, win.start_ms, win.end_ms, win.step_ms(60), ctx.filters, ctx.settings)
    st.markdown("**Service trend** · response time, error rate and availability")
    for column, (series, title, unit), source in zip(st.columns(3), SERVICE, SERVICE_SOURCES, strict=True):
        with column:
            config = w.TrendConfig(title=title, y_title=unit, color=None, empty=SERVICE_EMPTY.format(source))
            frame = business.service.filter(pl.col("series") == series)
            chrome.widget(config, frame if frame.height else None, ctx=ctx, deployments=deployments)
    chrome.section("Business view", "Cost per team, team comparison, the quality programme's return and adoption.")
    currency = ctx.settings.cost_currency
    value = business.roi
    defects = value.caught + value.escaped  # none found: no data, not zero caught
    chrome.kpi_row(
        [
            (ROI[0], w.KpiValue(float(value.caught) if defects else None)),
            (ROI[1].model_copy(update={"unit": currency}), w.KpiValue(value.avoided if defects else None)),
            (ROI[2].model_copy(update={"unit": currency}), w.KpiValue(value.cost or None)),
            (ROI[3], w.KpiValue(value.roi_pct)),
            (ROI[4], w.KpiValue(business.adoption_pct)),
        ],
        ctx=ctx,
        per_row=5,
    )
    chrome.widget(TEAMS, redact(business.teams, viewer), ctx=ctx)
    risk_col, alert_col = st.columns([3, 2])
    with risk_col:
        ops = operations.load_ops(ctx.engine, win.end_ms - 3_600_000, win.end_ms, ctx.filters, ctx.settings)
        down = ops.agents.filter(pl.col("status") == "down").height
        chrome.widget(RISKS, risks(now, before, ops.queues, down, ops.agents.height, data.critical_open), ctx=ctx)
    with alert_col:
        frame = alerting.load_alerts(ctx.engine)
        if frame is None:
            st.markdown(f"**{ALERT_SUMMARY.title}**")
            chrome.empty("Alerting is not available yet in this installation.")
        else:
            chrome.widget(ALERT_SUMMARY, alerting.recent_severe(frame, win.end_ms - 3_600_000), ctx=ctx)
    targets = {
        "Quality score %": QUALITY[0].thresholds.warning,
        "SLA adherence %": now.sla_target_pct,
        "Completion rate %": EFFICIENCY[1].thresholds.warning,
    }
    found = predictions(load_predictions(ctx.engine), targets)
    chrome.widget(PREDICTIONS, prediction_table(found, win.end_ms) if found else None, ctx=ctx)
    if found and ctx.filters:
        st.caption("Predictions cover every component, team and repository: the filters above do not apply to them.")
    chrome.freshness(
        newest_event_ms(ctx.engine, ["workflow.*", "qa.*"]),
        stale_after_s=max(300.0, 3 * (ctx.refresh_s or 30)),
        what="event",
    )


executive()
