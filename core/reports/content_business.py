"""Executive and SLA report contents, from the functions behind the Executive, Overview, SLA and Capacity pages.

Executive: health score and what drags it down, SLA compliance, business KPIs against the previous period,
cost, trends, highlights (KPIs that improved), concerns (medium/high risks), recommendations (SLA bottlenecks
and capacity), capacity projection. SLA: compliance per SLA against its objective, budget, breaches and action
items. Each figure keeps the domain value it shows (:class:`core.reports.model.Figure`), which the tests compare.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.forecasting import view as capacity
from core.insights.view import report_table
from core.kpis import operations
from core.kpis.executive import ExecutiveKpis, load_executive, risks
from core.kpis.overview import load_overview
from core.reports.charts import bars, lines
from core.reports.model import Figure, Section, num, pct
from core.sla.report import SlaReport, build_report

DAY_MS = 86_400_000
# (field, label, unit, higher is better)
KPI_ROWS = (
    ("quality_score", "Quality score", "", True),
    ("defect_detection_pct", "Defect detection", " %", True),
    ("compliance_pct", "Compliance adherence", " %", True),
    ("completion_pct", "Completion rate", " %", True),
    ("sla_pct", "SLA adherence", " %", True),
    ("review_cycle_h", "Review cycle time", " h", False),
    ("time_to_merge_h", "Time to merge", " h", False),
    ("utilisation_pct", "Agent utilisation", " %", False),
    ("cost_per_review", "Cost per review", "", False),
)


def step_for(start_ms: int, end_ms: int) -> int:
    """Trend bucket: hourly up to two days, daily beyond."""
    return 3_600_000 if end_ms - start_ms <= 2 * DAY_MS else DAY_MS


def kpi_table(now: ExecutiveKpis, before: ExecutiveKpis) -> pl.DataFrame:
    """KPI, this period, previous period, change (None where either is missing)."""
    rows = []
    for name, label, unit, _ in KPI_ROWS:
        a, b = getattr(now, name), getattr(before, name)
        rows.append((label + (f" ({unit.strip()})" if unit else ""), a, b, None if a is None or b is None else a - b))
    frame = pl.DataFrame(
        rows,
        schema={"KPI": pl.String, "this period": pl.Float64, "previous": pl.Float64, "change": pl.Float64},
        orient="row",
    )
    return frame.with_columns(pl.col("this period", "previous", "change").round(2))


def highlights(now: ExecutiveKpis, before: ExecutiveKpis) -> list[str]:
    """KPIs that moved the right way against the previous period."""
    out = []
    for name, label, unit, higher in KPI_ROWS:
        a, b = getattr(now, name), getattr(before, name)
        if a is not None and b is not None and a != b and (a > b) == higher:
            out.append(f"{label} improved to {a:,.1f}{unit} (from {b:,.1f}{unit}).")
    return out


def executive(
    engine: Engine, settings: Settings, start_ms: int, end_ms: int, now_ms: int, filters: Mapping[str, str]
) -> tuple[list[Section], bool]:
    """Sections of the Executive report and whether the period had any data."""
    data = load_executive(engine, start_ms, end_ms, now_ms, step_for(start_ms, end_ms), filters, None, settings)
    k, before = data.current, data.previous
    overview = load_overview(engine, start_ms, end_ms, filters, settings)
    sla = build_report(engine, settings, start_ms, end_ms, now_ms)
    has_data = k.reviews > 0 or k.quality_score is not None or not data.trends.is_empty()
    summary = Section(
        "Executive summary",
        figures=(
            Figure("Health score", overview.health.score, num(overview.health.score, "{:.0f}"), overview.health.band),
            Figure(
                "SLA compliance",
                sla.overall_compliance,
                pct(None if sla.overall_compliance is None else sla.overall_compliance * 100, 0),
                "share of SLAs that met every objective",
            ),
            Figure("Quality score", k.quality_score, num(k.quality_score)),
            Figure("SLA adherence", k.sla_pct, pct(k.sla_pct), f"target {pct(k.sla_target_pct)}"),
            Figure("Completion rate", k.completion_pct, pct(k.completion_pct)),
            Figure("Reviews completed", k.reviews, f"{k.reviews:,}"),
            Figure("Cost per review", k.cost_per_review, num(k.cost_per_review, "{:,.2f}")),
            Figure("Critical defects open", data.critical_open, f"{data.critical_open:,}"),
        ),
    )
    drags = overview.health.drags
    health = Section(
        "Health score: what drags it down",
        table=drags.select("component", pl.col("score").round(1), pl.col("points_lost").round(1), "detail")
        if drags.height
        else None,
    )
    kpis = Section("Business KPIs vs the previous period", table=kpi_table(k, before) if has_data else None)
    cost = Section(
        "Cost",
        figures=(
            Figure("Cost per review", k.cost_per_review, num(k.cost_per_review, "{:,.2f}")),
            Figure(
                "Review cost in period",
                None if k.cost_per_review is None else k.cost_per_review * k.reviews,
                num(None if k.cost_per_review is None else k.cost_per_review * k.reviews, "{:,.0f}"),
                f"{k.reviews:,} reviews × cost per review",
            ),
        )
        if k.cost_per_review is not None
        else (),
        empty="No cost figure: no reviews completed in this period.",
    )
    trend_frame = data.trends.filter(pl.col("series") != "Time to merge (h)")
    trend = Section("Trends", chart=lines(trend_frame, "ts", "value", "series", "%") if trend_frame.height else None)
    risk = risks(
        k, before, overview_queues(engine, start_ms, end_ms, filters, settings), *_agents(overview), data.critical_open
    )
    concerns = risk.filter(pl.col("level") != "low")
    ranking = capacity.ranking(capacity.load(engine).capacity, now_ms) if has_data else pl.DataFrame()
    recs = [f"{b.name}: {b.recommendation}" for b in sla.bottlenecks[:5]]
    if ranking.height:
        recs += [
            f"{r['resource']} {r['instance']}: {r['recommended capacity']} ({r['urgency']})"
            for r in ranking.filter(pl.col("urgency").is_in(["critical", "high", "warning"]))
            .head(3)
            .iter_rows(named=True)
        ]
    insights = report_table(
        engine, settings, start_ms, end_ms, sla.bottlenecks
    )  # the Insights page's list, dismissals applied
    sections = [
        summary,
        health,
        kpis,
        cost,
        trend,
        Section("Highlights", notes=tuple(highlights(k, before)), empty="No KPI improved against the previous period."),
        Section("Areas of concern", table=concerns if concerns.height else None, empty="No medium or high risk."),
        Section("Recommendations", notes=tuple(recs), empty="No bottleneck or capacity action needed."),
        Section(
            "Insights: findings by impact",
            table=insights.select("impact", "kind", "finding", "estimated improvement", "shown on")
            if insights.height
            else None,
            empty="No regression, drift or optimisation opportunity (docs/insights.md) in this period.",
        ),
        Section(
            "Capacity projection",
            table=ranking.select(
                "resource", "instance", "now", "reaches threshold", "full", "recommended capacity", "urgency"
            )
            if ranking.height
            else None,
            empty="No capacity forecast stored yet (the forecast job fits them in the background).",
        ),
    ]
    return sections, has_data


def overview_queues(
    engine: Engine, start_ms: int, end_ms: int, filters: Mapping[str, str], settings: Settings
) -> pl.DataFrame:
    """Newest queue depths at the period's end (the Executive page's backlog risk)."""
    return operations.load_ops(engine, end_ms - 3_600_000, end_ms, filters, settings).queues


def _agents(overview: object) -> tuple[int, int]:
    up, total = overview.strip.agents_up  # type: ignore[attr-defined]
    return total - up, total


def sla_frame(report: SlaReport) -> pl.DataFrame:
    """One row per SLA: objective, compliance, met, budget left, breaches, escalations (shares in %)."""
    rows = [
        (
            line.name,
            line.kind,
            line.objective * 100,
            line.items,
            None if line.compliance is None else line.compliance * 100,
            "—" if line.met is None else "met" if line.met else "missed",
            None if line.budget_remaining is None else line.budget_remaining * 100,
            line.breaches,
            line.escalations,
        )
        for line in report.lines
    ]
    schema = {
        "SLA": pl.String,
        "kind": pl.String,
        "objective %": pl.Float64,
        "items": pl.Int64,
        "compliance %": pl.Float64,
        "verdict": pl.String,
        "budget left %": pl.Float64,
        "breaches": pl.Int64,
        "escalations": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.col(pl.Float64).round(2))


def sla(engine: Engine, settings: Settings, start_ms: int, end_ms: int, now_ms: int) -> tuple[list[Section], bool]:
    """Sections of the SLA report (core.sla.report.build_report, as the SLA page and its Markdown download)."""
    report = build_report(engine, settings, start_ms, end_ms, now_ms)
    frame = sla_frame(report)
    has_data = any(line.items for line in report.lines)
    breaches = report.breaches
    total_breaches = sum(line.breaches or 0 for line in report.lines)
    missed = frame.filter(pl.col("verdict") == "missed")
    actions = [f"{b.name} ({b.severity}): {b.recommendation}" for b in report.bottlenecks]
    actions += [
        f"{r['SLA']}: compliance {r['compliance %']:.1f} % below objective {r['objective %']:.1f} %"
        for r in missed.iter_rows(named=True)
    ]
    chart_frame = frame.drop_nulls("compliance %")
    sections = [
        Section(
            "Summary",
            figures=(
                Figure(
                    "SLAs met",
                    report.overall_compliance,
                    pct(None if report.overall_compliance is None else report.overall_compliance * 100, 0),
                ),
                Figure(
                    "SLAs measured",
                    sum(1 for line in report.lines if line.met is not None),
                    str(sum(1 for line in report.lines if line.met is not None)),
                ),
                Figure("Breaches", total_breaches, f"{total_breaches:,}"),
                Figure(
                    "Escalations",
                    sum(line.escalations for line in report.lines),
                    f"{sum(line.escalations for line in report.lines):,}",
                ),
            )
            if has_data
            else (),
        ),
        Section(
            "Compliance per SLA vs objective",
            table=frame if has_data else None,
            chart=bars(chart_frame, "SLA", "compliance %", "compliance %", "verdict")
            if has_data and chart_frame.height
            else None,
        ),
        Section(
            "Breaches, largest first",
            table=breaches.sort("over_pct", descending=True, nulls_last=True).select(
                pl.col("sla").alias("SLA"),
                "severity",
                pl.from_epoch("ts", time_unit="ms").alias("when"),
                pl.col("workflow_id").alias("item"),
                pl.col("duration_s").round(1).alias("took s"),
                pl.col("target_s").round(1).alias("target s"),
                pl.col("over_pct").round(1).alias("over %"),
                "escalated",
            )
            if breaches.height
            else None,
            empty="No breach in this period.",
            limit=100,
            more_note="; the largest 100 are listed, the SLA page's JSON download lists every breach",
        ),
        Section("Action items", notes=tuple(actions), empty="No action needed: every measured SLA met its objective."),
    ]
    return sections, has_data
