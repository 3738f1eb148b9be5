"""Technical report contents: per-component health and metrics, bottlenecks, performance regressions with their
likely cause, resource use and the capacity plan — from the functions behind the Overview, Operations, Developer,
SLA and Capacity pages.

A regression is a deployment after which a Developer-page impact metric moved the wrong way by more than
:data:`REGRESSION_PCT`; the deployment (component, version) is named as the likely cause, as the Developer
page's deployment-impact table suggests.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.forecasting import view as capacity
from core.insights.view import report_table
from core.kpis import developer, operations
from core.kpis.overview import load_overview
from core.kpis.records import load_deployments
from core.reports.charts import lines
from core.reports.model import Figure, Section, num
from core.sla.report import build_report

REGRESSION_PCT = 10.0
HIGHER_IS_BETTER = ("throughput", "requests per", "success")  # where a drop is the regression (not "error rate")


def regressions(impact: pl.DataFrame, threshold_pct: float = REGRESSION_PCT) -> pl.DataFrame:
    """Deployment × metric rows whose change is a regression of more than ``threshold_pct`` %, worst first."""
    better_up = pl.col("metric").str.to_lowercase().str.contains("|".join(HIGHER_IS_BETTER))
    worse = pl.when(better_up).then(-pl.col("delta_pct")).otherwise(pl.col("delta_pct"))
    return (
        impact.filter(worse > threshold_pct)
        .with_columns(worse.alias("worse_pct"))
        .sort("worse_pct", descending=True)
        .select(
            pl.from_epoch("ts", time_unit="ms").alias("deployed"),
            "metric",
            "before",
            "after",
            pl.col("delta_pct").alias("change %"),
            pl.format("deployment {} of {} {}", pl.col("deployment"), pl.col("component"), pl.col("version")).alias(
                "likely cause"
            ),
        )
    )


def resource_summary(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Per resource panel and series: mean, p95 and peak over the period."""
    parts = [
        frame.group_by("series").agg(
            pl.lit(name).alias("resource"),
            pl.col("value").mean().alias("mean"),
            pl.col("value").quantile(0.95).alias("p95"),
            pl.col("value").max().alias("peak"),
        )
        for name, frame in frames.items()
        if frame.height
    ]
    if not parts:
        return pl.DataFrame()
    return (
        pl.concat(parts).select("resource", "series", pl.col("mean", "p95", "peak").round(2)).sort("resource", "series")
    )


def technical(
    engine: Engine, settings: Settings, start_ms: int, end_ms: int, now_ms: int, filters: Mapping[str, str]
) -> tuple[list[Section], bool]:
    """Sections of the Technical report and whether the period had any data."""
    overview = load_overview(engine, start_ms, end_ms, filters, settings)
    span = end_ms - start_ms
    step = max(span // 200, 60_000)
    frames = operations.resource_frames(engine, start_ms, end_ms, step, settings)
    resources = resource_summary(frames)
    sla = build_report(engine, settings, start_ms, end_ms, now_ms)
    deployments = load_deployments(engine, start_ms, end_ms, settings=settings)
    impact = developer.deployment_impact(engine, deployments, now_ms=now_ms, settings=settings)
    found = regressions(impact)
    api = developer.api_performance(engine, start_ms, end_ms, settings)
    ranking = capacity.ranking(capacity.load(engine).capacity, now_ms)
    components = overview.components
    has_data = bool(resources.height or any(line.items for line in sla.lines) or deployments.height)
    bottlenecks = pl.DataFrame(
        [
            (b.kind, b.name, b.severity, b.items_affected, round(b.time_lost_s / 60, 1), b.detail, b.recommendation)
            for b in sla.bottlenecks
        ],
        schema={
            "kind": pl.String,
            "where": pl.String,
            "severity": pl.String,
            "items": pl.Int64,
            "min lost / item": pl.Float64,
            "detail": pl.String,
            "recommendation": pl.String,
        },
        orient="row",
    )
    cpu = frames.get("CPU %", pl.DataFrame())
    insights = report_table(
        engine, settings, start_ms, end_ms, sla.bottlenecks
    )  # the Insights page's list, dismissals applied
    sections = [
        Section(
            "Summary",
            figures=(
                Figure(
                    "Health score", overview.health.score, num(overview.health.score, "{:.0f}"), overview.health.band
                ),
                Figure("Components", components.height, str(components.height)),
                Figure("Bottlenecks", len(sla.bottlenecks), str(len(sla.bottlenecks))),
                Figure("Regressions", found.height, str(found.height), f"after {deployments.height} deployment(s)"),
            )
            if has_data
            else (),
        ),
        Section(
            "Component health",
            table=components.select([c for c in components.columns if c in ("name", "status", "detail", "kind")])
            if components.height
            else None,
        ),
        Section(
            "Health score components",
            table=overview.health.drags.select(
                "component", pl.col("score").round(1), pl.col("points_lost").round(1), "detail"
            )
            if overview.health.drags.height
            else None,
        ),
        Section(
            "API per endpoint",
            table=api.table if getattr(api, "table", None) is not None and api.table.height else None,
            empty="No API request metrics in this period.",
        ),
        Section("Bottlenecks", table=bottlenecks if bottlenecks.height else None, empty="No bottleneck found."),
        Section(
            "Performance regressions and likely cause",
            table=found if found.height else None,
            empty=f"No metric moved the wrong way by more than {REGRESSION_PCT:g} % after a deployment.",
        ),
        Section(
            "Insights: findings by impact",
            table=insights if insights.height else None,
            empty="No regression, drift or optimisation opportunity (docs/insights.md) in this period.",
        ),
        Section(
            "Resource use",
            table=resources if resources.height else None,
            chart=lines(cpu, "ts", "value", "series", "CPU %") if cpu.height else None,
        ),
        Section(
            "Capacity plan",
            table=ranking.select(
                "resource", "instance", "now", "reaches threshold", "full", "peak", "recommended capacity", "urgency"
            )
            if ranking.height
            else None,
            empty="No capacity forecast stored yet.",
        ),
    ]
    return sections, has_data
