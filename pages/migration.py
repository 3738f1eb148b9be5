"""Migration health: is the migration on track — health, schedule, components, issues, tests, old vs new speed.

Everything comes from core.programmes.migration_store — load_view (the function behind
`python -m core.cli stats`) over the plan file (docs/migration.md) and the stored migration.*
events, JUnit runs and old/new timings; load_live and load_resources for the live metrics and the
resource use — and this script only lays the widgets out.
"""

from __future__ import annotations

import streamlit as st

from core.programmes.migration_plan import PlanError
from core.programmes.migration_store import (
    load_live,
    load_resources,
    load_view,
    newest_migration_ms,
    plan_from_settings,
)
from core.ui import chrome
from core.ui import migration_frames as mf
from core.ui import widgets as w
from core.ui.login import require_page
from core.ui.text import md_escape

STALE_AFTER_S = 2 * 3600  # batches arrive every few minutes while a migration runs
LIVE_STEP_MS = 5 * 60_000  # sparkline buckets: never finer than the few minutes between batches
EMPTY = (
    "No migration data yet. Send `migration.*` events — `migration.phase_progress` (phase_id, status, "
    "progress, planned_start, planned_end), `migration.component_status`, `migration.batch_completed`, "
    "`migration.issue_detected` / `_resolved`, `migration.rollback`, `migration.operation_timed` (operation, "
    "system old|new, duration_s) — to `POST /api/v1/events` or as `*.events.jsonl` in the inbox; JUnit reports "
    "with component `migration`; and describe the plan in `migration.yaml`. See docs/migration.md."
)
KPIS = (
    w.KpiConfig(title="Progress", unit="%", format="{:,.1f}", help="Phase progress weighted by planned length."),
    w.KpiConfig(
        title="Schedule slip",
        unit="days",
        format="{:+,.1f}",
        delta_good="down",
        thresholds=w.Thresholds(warning=0.05, critical=14),
        help="Forecast completion minus the planned end (docs/migration.md, Forecast).",
    ),
    w.KpiConfig(
        title="Blockers",
        format="{:,.0f}",
        delta_good="down",
        thresholds=w.Thresholds(warning=1, critical=1),
        help="Open critical issues and blocked phases.",
    ),
    w.KpiConfig(
        title="Success rate",
        unit="%",
        format="{:,.2f}",
        thresholds=w.Thresholds(warning=95, critical=90, higher_is_worse=False),
        help="Records that passed verification over records migrated, in the range's batches.",
        empty="Send migration.batch_completed events (records, succeeded, failed).",
    ),
    w.KpiConfig(
        title="Rollbacks",
        format="{:,.0f}",
        delta_good="down",
        thresholds=w.Thresholds(warning=1, critical=3),
        help="migration.rollback events and issues resolved by a rollback, in the range.",
    ),
    w.KpiConfig(
        title="Performance Δ",
        unit="%",
        format="{:+,.1f}",
        delta_good="down",
        help="Median time of the new system against the old, mean over the compared operations; negative = faster.",
        empty="Send migration.operation_timed events or series labelled system=old|new.",
    ),
    w.KpiConfig(title="Open issues", format="{:,.0f}", delta_good="down"),
    w.KpiConfig(title="Components migrated", format="{:,.0f}", help="Components at 100 % migration progress."),
)
ROADMAP = w.RoadmapConfig(
    title="Timeline: planned (dashed) and forecast (filled) per phase, milestones ◆, today",
    help="Forecast: a running phase at its rate so far; a phase not started waits for its dependencies.",
    empty="No phases yet: describe them in migration.yaml or send migration.phase_progress events.",
)
MILESTONES = w.TableConfig(title="Milestones", empty="The plan names no milestones.")
COMPONENTS = w.TableConfig(
    title="Component health: old vs new",
    progress=["Migrated"],
    empty="Send migration.component_status events (component, old/new health and version, migration_progress).",
)
ISSUES_BY = w.BarConfig(
    title="Open issues by component",
    category="component",
    value="count",
    color="severity",
    unit="open issues",
    integer=True,
    empty="No open migration issues.",
)
ISSUES = w.TableConfig(
    title="Issues (open, and resolved in the range)", empty="No open issues and none resolved in this range."
)
SUITES = w.TableConfig(
    title="Test suites (newest run; trend: pass % of the last runs)",
    progress=["Pass %"],
    trend=["Trend"],
    empty="No JUnit runs with component `migration` (POST /api/v1/junit or the inbox's junit/migration/).",
)
DELTA = w.DeltaConfig(
    title="Median time, new vs old (Δ %; right of 0 is slower)",
    unit="Δ median %",
    thresholds=w.Thresholds(warning=10),
    extra_tooltip=["old p50 (s)", "new p50 (s)", "samples old / new", "p"],
    empty="No old/new timings: send migration.operation_timed events or series labelled system=old|new.",
)
PERFORMANCE = w.TableConfig(title="Old vs new per operation", empty="No old/new timings in this range.")
LIVE = (
    w.KpiConfig(
        title="Throughput",
        unit="records/s",
        format="{:,.1f}",
        help="Records of the range's migration.batch_completed events per second; sparkline per bucket.",
        empty="Send migration.batch_completed events (records, succeeded, failed).",
    ),
    w.KpiConfig(
        title="Failed records",
        unit="/min",
        format="{:,.2f}",
        delta_good="down",
        help="Records that failed verification (the batches' failed) per minute.",
        empty="Send migration.batch_completed events (records, succeeded, failed).",
    ),
    w.KpiConfig(
        title="Operation time (new)",
        unit="s",
        format="{:,.3f}",
        delta_good="down",
        help="Median duration of the new system's migration.operation_timed events (else of the series labelled "
        "system=new); the chart below has both systems.",
        empty="Send migration.operation_timed events (operation, system old|new, duration_s).",
    ),
    w.KpiConfig(
        title="Memory used (hosts)",
        unit="GB",
        format="{:,.2f}",
        delta_good="down",
        help="system_memory_used_bytes summed over the hosts reporting it, mean over the range.",
        empty="The system collector (or an agent on the migration's hosts) reports system_memory_used_bytes.",
    ),
)
LATENCY = w.TrendConfig(
    title="Operation time: old vs new system (median per bucket)",
    unit="s",
    zero=False,
    annotations=False,
    empty="No old/new timings in this range.",
)
LIVE_EMPTY = (
    "No live migration metrics in this range: throughput and failed records come from migration.batch_completed "
    "events, operation time from migration.operation_timed events (or series labelled system=old|new), memory from "
    "the system collector's system_memory_used_bytes. Pick a longer range, or see docs/migration.md."
)
TOP_CPU = w.BarConfig(
    title="Top processes by CPU (mean % of one core)",
    category="process",
    value="CPU %",
    unit="% of one core",
    extra_tooltip=["peak %", "pids"],
    empty="No process metrics: the system collector reports the top processes (setting system_top_n).",
)
TOP_MEMORY = w.BarConfig(
    title="Top processes by memory (mean resident MB)",
    category="process",
    value="memory MB",
    unit="MB",
    extra_tooltip=["peak MB", "pids"],
    empty="No process metrics: the system collector reports the top processes (setting system_top_n).",
)
HOSTS = (
    w.KpiConfig(
        title="Host CPU",
        unit="%",
        format="{:,.1f}",
        thresholds=w.Thresholds(warning=80, critical=95),
        help="system_cpu_percent: the mean over the hosts reporting it, then over the range.",
        empty="The system collector (or an agent on the migration's hosts) reports system_cpu_percent.",
    ),
    w.KpiConfig(
        title="Host memory",
        unit="%",
        format="{:,.1f}",
        thresholds=w.Thresholds(warning=80, critical=95),
        help="system_memory_used_percent: the mean over the hosts reporting it, then over the range.",
        empty="The system collector (or an agent on the migration's hosts) reports system_memory_used_percent.",
    ),
)
BLOCKERS = w.TableConfig(title="Blockers")
ROLLBACKS = w.TableConfig(title="Rollbacks in the range")

viewer = require_page("migration")
ctx = chrome.page(
    "migration",
    viewer,
    default_range="7d",
    filters=(),
    caption="Whether the migration is on track, judged against its plan (migration.yaml) from its migration.* "
    "events, JUnit runs and old/new timings. The same figures: `python -m core.cli stats summary`.",
)
try:
    plan, plan_file = plan_from_settings(ctx.settings)
except PlanError as error:  # the page still works from the events; the message names file, line and field
    st.error(f"The migration plan cannot be used — {md_escape(str(error))}", icon=":material/error:")
    plan, plan_file = None, None


@chrome.live(ctx)
def migration() -> None:
    win = ctx.window()
    view = load_view(ctx.engine, start_ms=win.start_ms, end_ms=win.end_ms, plan=plan, plan_file=plan_file)
    chrome.freshness(newest_migration_ms(ctx.engine), stale_after_s=STALE_AFTER_S, what="migration event")
    if not view.has_data:
        chrome.empty(EMPTY)
        if plan is None:
            return
        st.caption(f"The plan ({md_escape(plan_file or '')}) is loaded: its phases as planned.")
        chrome.widget(ROADMAP.model_copy(update={"order": mf.order(view)}), mf.roadmap(view), ctx=ctx)
        return

    chrome.section(view.name, f"Week {view.week} of {view.weeks_total}" if view.week else "")
    head, eta = st.columns([1, 3], vertical_alignment="center")
    head.markdown(
        f"### :{mf.HEALTH_BADGE.get(view.health, 'gray')}[{mf.HEALTH_ICON.get(view.health, '')} {view.health.upper()}]"
    )
    eta.markdown(
        f"**Estimated completion {mf.eta_text(view)}** · planned {mf.day(view.planned_end_ms)}"
        + (f" · {view.slip_days:+.1f} days" if view.slip_days else " · on plan")
    )
    if view.eta_interval and view.eta_interval != "completed":
        eta.caption(md_escape(view.eta_interval) + ".")
    for finding in view.findings:
        icon = ":material/error:" if finding.level == "critical" else ":material/warning:"
        st.markdown(f"{icon} **{finding.level}** — {md_escape(finding.message)}. {md_escape(finding.action)}")
    open_issues = int((view.issues["state"] == "open").sum()) if view.issues.height else 0
    values = (
        view.progress_pct,
        view.slip_days,
        float(view.blockers.height),
        view.batches["success_rate_pct"],
        float(view.rollbacks.height),
        view.perf_delta_pct,
        float(open_issues),
        float(view.components_done),
    )
    chrome.kpi_row(list(zip(KPIS, values, strict=True)), ctx=ctx)
    shown = [(c, f) for c, f in ((BLOCKERS, mf.blockers(view)), (ROLLBACKS, mf.rollbacks(view))) if f.height]
    for column, (config, frame) in zip(st.columns(2) if shown else [], shown, strict=False):
        with column:
            chrome.widget(config, frame, ctx=ctx)

    chrome.section("Timeline")
    chrome.widget(ROADMAP.model_copy(update={"order": mf.order(view)}), mf.roadmap(view), ctx=ctx)
    if view.milestones.height:
        chrome.widget(MILESTONES, mf.milestones(view), ctx=ctx)

    chrome.section("Components", "The latest migration.component_status of each component.")
    chrome.widget(COMPONENTS, mf.components(view), ctx=ctx)

    chrome.section("Live metrics", "Over the range; deltas against the range of the same length before it.")
    step = max(win.step_ms(60), LIVE_STEP_MS)
    live = load_live(ctx.engine, start_ms=win.start_ms, end_ms=win.end_ms, step_ms=step, plan=plan)
    if live.has_data:
        chrome.kpi_row(list(zip(LIVE, mf.live_kpis(live), strict=True)), ctx=ctx)
        chrome.widget(LATENCY, mf.latency_trend(live), ctx=ctx)
    else:
        chrome.empty(LIVE_EMPTY)

    chrome.section("Issues")
    left, right = st.columns([1, 2])
    with left:
        chrome.widget(ISSUES_BY, mf.issues_by_component(view), ctx=ctx)
    with right:
        chrome.widget(ISSUES, mf.issues(view), ctx=ctx)

    chrome.section("Test suites")
    chrome.widget(SUITES, mf.suites(view), ctx=ctx)

    chrome.section(
        "Performance: old vs new",
        "Regression: the median more than 10 % slower and the difference significant (Mann–Whitney, p < 0.05).",
    )
    chrome.widget(DELTA, mf.performance_chart(view), ctx=ctx)
    chrome.widget(PERFORMANCE, mf.performance_table(view), ctx=ctx)

    chrome.section(
        "Resource use", "Hosts' CPU and memory, and the processes using the most (while among each reading's top N)."
    )
    used = load_resources(ctx.engine, start_ms=win.start_ms, end_ms=win.end_ms, step_ms=step)
    chrome.kpi_row(list(zip(HOSTS, mf.host_kpis(used), strict=True)), ctx=ctx)
    left, right = st.columns(2)
    with left:
        chrome.widget(TOP_CPU, mf.top_cpu(used), ctx=ctx)
    with right:
        chrome.widget(TOP_MEMORY, mf.top_memory(used), ctx=ctx)


migration()
