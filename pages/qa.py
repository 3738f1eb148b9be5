"""Quality (QA): quality gates, defects, compliance, test suites, coverage and the quality risk matrix."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.dashboards import builtin
from core.kpis import quality as qa
from core.kpis.records import load_deployments, marks, newest_event_ms
from core.ui import chrome, export, gate_thresholds_view, quality_charts, test_results_view
from core.ui import widgets as w
from core.ui.login import require_page
from core.ui.text import md_escape

GATE_KPIS = (
    w.KpiConfig(
        title="Gates executed",
        format="{:,.0f}",
        empty="Send workflow.quality_gate_passed / _failed events (gate_name, metrics.execution_time).",
    ),
    w.KpiConfig(title="Gates passed", format="{:,.0f}"),
    w.KpiConfig(title="Gates failed", format="{:,.0f}", delta_good="down"),
    w.KpiConfig(
        title="Average gate time",
        unit="min",
        format="{:,.1f}",
        delta_good="down",
        help="Mean metrics.execution_time of the gate runs.",
    ),
)
DEFECT_KPIS = (
    w.KpiConfig(
        title="Defects found today",
        format="{:,.0f}",
        delta_good="down",
        empty="Send qa.defect_found / qa.defect_resolved events.",
    ),
    w.KpiConfig(
        title="Critical defects (open)",
        format="{:,.0f}",
        delta_good="down",
        help="Critical defects found in the range, not yet resolved.",
    ),
    w.KpiConfig(
        title="Resolution time",
        unit="h",
        format="{:,.1f}",
        delta_good="down",
        help="Mean hours to resolve, over defects resolved in the range.",
    ),
    w.KpiConfig(
        title="Prevention rate",
        unit="%",
        format="{:,.1f}",
        help="Share of the range's defects found before release (not escaped).",
    ),
)
BY_COMPONENT = w.BarConfig(
    title="Defects by component (click one for its root causes)",
    category="component",
    value="count",
    color="severity",
    pick=True,
    unit="defects",
    integer=True,
    empty=(
        "No defects in this range. qa.defect_found events (defect_id, severity, component or repository, root_cause "
        "or category)."
    ),
)
BY_CAUSE = w.BarConfig(
    title="Defects by root cause", category="root_cause", value="count", color="severity", unit="defects", integer=True
)
COMPLIANCE_KPIS = (
    w.KpiConfig(
        title="Compliance checks passed",
        unit="%",
        format="{:,.1f}",
        empty="Send qa.compliance_check events (policy, passed, score).",
    ),
    w.KpiConfig(
        title="Audit readiness", unit="%", format="{:,.1f}", help="Mean score of the compliance checks in the range."
    ),
    w.KpiConfig(
        title="Policy violations", format="{:,.0f}", delta_good="down", help="Failed compliance checks in the range."
    ),
    w.KpiConfig(
        title="Remediation pending",
        format="{:,.0f}",
        delta_good="down",
        help="Failed checks with no later passing check for the same workflow and policy.",
    ),
)
SUITES = w.BarConfig(
    title="Failed % per suite, latest run (click a suite for its history)",
    category="suite",
    value="fail_pct",
    unit="% failed",
    pick=True,
    thresholds=w.Thresholds(warning=100 - qa.SUITE_PASSING_PCT, critical=100 - qa.SUITE_WARNING_PCT),
    extra_tooltip=["pass_pct", "failed", "tests", "status"],
    empty=(
        "No JUnit runs in this range. Drop reports in the inbox under junit/<component>/<phase>/ or POST them to "
        "/api/v1/junit."
    ),
)

viewer = require_page("qa")
ctx = chrome.page(
    "qa",
    viewer,
    default_range="7d",
    filter_options=qa.filter_options,
    caption=(
        "Quality gates, defects, compliance, test suites, coverage and risk. Every figure is computed from stored "
        "events and JUnit runs."
    ),
)
# panels with levels: core/dashboards/defaults/qa.json, with an admin's levels on top
PANELS = builtin.panels(ctx.engine, "qa")
GATES, GATE_TREND, COVERAGE = (PANELS[k] for k in ("gate-failure-rate", "gate-failure-trend", "coverage"))


@chrome.live(ctx)
def gates_panel() -> None:
    win = ctx.window()
    data = qa.load_quality(ctx.engine, win.start_ms, win.end_ms, ctx.filters)
    chrome.freshness(
        newest_event_ms(ctx.engine, (*qa.GATE_EVENTS, *qa.DEFECT_EVENTS, qa.COMPLIANCE_EVENT)),
        stale_after_s=qa.STALE_AFTER_S,
        what="quality event",
    )
    chrome.section("Quality gates")
    totals = qa.gate_totals(data.gates)
    minutes = None if totals.avg_time_s is None else totals.avg_time_s / 60
    chrome.kpi_row(
        list(
            zip(GATE_KPIS, (float(totals.executed), float(totals.passed), float(totals.failed), minutes), strict=True)
        ),
        ctx=ctx,
    )
    left, right = st.columns(2)
    with left:
        gate = chrome.widget(GATES, qa.gate_summary(data.gates), ctx=ctx, key="gate-pick")
    with right:
        lines = [qa.gate_trend(data.gates, win.step_ms(30), combined=True)]
        if gate:
            lines.append(qa.gate_trend(data.gates.filter(pl.col("gate") == gate), win.step_ms(30)))
        chrome.widget(
            GATE_TREND,
            pl.concat(lines),
            ctx=ctx,
            deployments=marks(load_deployments(ctx.engine, win.start_ms, win.end_ms)),
        )
    if gate:
        st.markdown(f"**{md_escape(gate)}** — execution time percentiles (s) and newest runs")
        export.table(
            qa.gate_time_percentiles(ctx.engine, gate, win.start_ms, win.end_ms, ctx.filters),
            hide_index=True,
            width="stretch",
            panel="gate-time-percentiles",
        )
        export.table(qa.gate_runs(data.gates, gate), hide_index=True, width="stretch", height=240, panel="gate-runs")

    chrome.section("Defects")
    found = qa.found_between(data.defects, win.start_ms, win.end_ms)
    k = qa.defect_kpis(
        data.defects, start_ms=win.start_ms, end_ms=win.end_ms, day_start_ms=win.end_ms - win.end_ms % qa.DAY_MS
    )
    chrome.kpi_row(
        list(
            zip(
                DEFECT_KPIS,
                (float(k.found_today), float(k.critical_open), k.avg_resolution_h, k.prevention_pct),
                strict=True,
            )
        ),
        ctx=ctx,
    )
    left, right = st.columns(2)
    with left:
        component = chrome.widget(BY_COMPONENT, qa.defects_by(found, "component"), ctx=ctx, key="component-pick")
    with right:
        scope = found.filter(pl.col("component") == component) if component else found
        chrome.widget(
            BY_CAUSE.model_copy(
                update={"title": f"Root causes — {md_escape(component)}" if component else BY_CAUSE.title}
            ),
            qa.defects_by(scope, "root_cause"),
            ctx=ctx,
        )

    chrome.section("Compliance")
    c = qa.compliance(data.compliance_events)
    chrome.kpi_row(
        list(
            zip(
                COMPLIANCE_KPIS,
                (c.passed_pct, c.audit_readiness_pct, float(c.violations), float(c.remediation_pending)),
                strict=True,
            )
        ),
        ctx=ctx,
    )
    if c.by_policy.height:
        export.table(c.by_policy, hide_index=True, width="stretch", panel="coverage-by-policy")

    chrome.section(
        "Test suites", "From stored JUnit runs: the newest run of each suite, and its pass % over its last runs."
    )
    suites = qa.suite_table(data.runs)
    suite = chrome.widget(SUITES, suites, ctx=ctx, key="suite-pick")
    if suites.height:
        export.table(
            suites.drop("component", "fail_pct"),
            hide_index=True,
            width="stretch",
            column_config={
                "trend": st.column_config.LineChartColumn("trend (pass %, last runs)"),
                "pass_pct": st.column_config.NumberColumn("pass %", format="%.1f"),
                "time_s": st.column_config.NumberColumn("time (s)"),
            },
            panel="test-suites",
        )
    if suite:
        chrome.widget(
            w.TrendConfig(title=f"{md_escape(suite)}: pass % per run", y="pass_pct", color=None, unit="% passed"),
            qa.suite_history(data.runs, suite),
            ctx=ctx,
        )
    test_results_view.section(ctx, data.runs)

    chrome.section("Coverage and quality risk")
    left, right = st.columns(2)
    with left:
        chrome.widget(COVERAGE, qa.coverage(data.gates), ctx=ctx)
    with right:
        matrix = qa.risk_matrix(data.gates, found)
        st.markdown(
            "**Quality risk matrix** (click a cell for its components)",
            help=(
                "Likelihood: the component's gate failure %; impact: its defects' mean severity. Risk = likelihood × "
                "impact."
            ),
        )
        if matrix.is_empty():
            chrome.empty("No gate runs or defects in this range to assess risk from.")
            return
        state = export.chart(
            quality_charts.risk_matrix(qa.risk_cells(matrix)),
            width="stretch",
            on_select="rerun",
            selection_mode="pick",
            key="risk-pick",
            height=300,
            panel="risk-matrix",
        )
        likelihood, impact = chrome.picked(state, "likelihood_level"), chrome.picked(state, "impact_level")
        chosen = (
            matrix.filter((pl.col("likelihood_level") == likelihood) & (pl.col("impact_level") == impact))
            if likelihood
            else matrix
        )
        export.table(
            chosen.select("component", "risk", "gate_fail_pct", "defects", "mean_severity"),
            hide_index=True,
            width="stretch",
            panel="risk-components",
        )


gates_panel()
window = ctx.window()
gate_thresholds_view.section(ctx.engine, viewer, window.start_ms, window.end_ms, ctx.filters)
