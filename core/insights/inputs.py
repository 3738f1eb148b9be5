"""Read what the opportunity rules need from the store: small per-subject means, one query each.

Kept apart from the rules (core.insights.opportunities) so the rules stay pure and testable on
hand-made frames; this module only reads through core.query, core.sla and core.programmes.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.insights.opportunities import Inputs
from core.kpis.records import load_events, within
from core.programmes.compliance import QseRules
from core.programmes.qse_events import QseData
from core.programmes.templates import effectiveness
from core.programmes.views import EVENT_TYPES
from core.query import label_column, series
from core.sla.report import build_report

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def label_means(
    engine: Engine, selector: str, label: str, start_ms: int, end_ms: int, settings: Settings, column: str
) -> pl.DataFrame:
    """Mean of every series of ``selector`` over [start, end) per value of ``label``: label, column, days of data."""
    frame = series(engine, selector, start_ms, end_ms, step_ms=HOUR_MS, settings=settings)
    schema = {label: pl.String, column: pl.Float64, "days": pl.Float64}
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        frame.with_columns(label_column(label))
        .group_by(label)
        .agg(
            pl.col("value").mean().alias(column),
            ((pl.col("ts").max() - pl.col("ts").min()).dt.total_milliseconds() + HOUR_MS) / DAY_MS,
        )
        .rename({"ts": "days"})
        .select(list(schema))
        .sort(label)
    )


def qse_frames(engine: Engine, settings: Settings, start_ms: int, end_ms: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(template effectiveness, per-team gate counts and pass rate) of QSE sessions in [start, end)."""
    rules = QseRules.of(settings)
    events = within(load_events(engine, EVENT_TYPES, start_ms - 30 * DAY_MS, end_ms), start_ms - 30 * DAY_MS, end_ms)
    data = QseData.of(events, rules.weights)
    templates = effectiveness(data, start_ms, end_ms, rules)
    gates = (
        data.gates.filter((pl.col("ts") >= start_ms) & (pl.col("ts") < end_ms))
        .join(data.sessions.select("session_id", "team"), on="session_id")
        .with_columns(pl.col("team").fill_null("(no team)"))
        .group_by("team")
        .agg(pl.len().alias("gates"), (pl.col("passed").cast(pl.Float64).mean() * 100).alias("gate_pass_pct"))
        .sort("team")
    )
    return templates, gates


def gather(
    engine: Engine, settings: Settings, start_ms: int, end_ms: int, bottlenecks: Sequence[object] | None = None
) -> Inputs:
    """Every rule's input for [start, end); the host rule always looks back ``opportunity_host_days``.

    ``bottlenecks``: the SLA report's, when the caller has built it already (the reports do); else built here.
    """
    queries = label_means(engine, "db_query_duration_seconds", "database", start_ms, end_ms, settings, "mean_s")
    caches = label_means(engine, "db_cache_hit_percent", "database", start_ms, end_ms, settings, "hit_pct")
    host_start = end_ms - int(settings.opportunity_host_days * DAY_MS)
    cpu = label_means(engine, "system_cpu_percent", "host", host_start, end_ms, settings, "cpu_pct")
    mem = label_means(engine, "system_memory_used_percent", "host", host_start, end_ms, settings, "mem_pct")
    hosts = cpu.join(mem.drop("days"), on="host", how="inner")
    load = label_means(
        engine,
        settings.sla_utilisation_selector,
        settings.sla_utilisation_label,
        start_ms,
        end_ms,
        settings,
        "load_pct",
    ).rename({settings.sla_utilisation_label: "agent"})
    templates, teams = qse_frames(engine, settings, start_ms, end_ms)
    return Inputs(
        queries=queries.with_columns((pl.col("mean_s") * 1000).alias("mean_ms")),
        caches=caches,
        hosts=hosts,
        bottlenecks=list(
            build_report(engine, settings, start_ms, end_ms).bottlenecks if bottlenecks is None else bottlenecks
        ),
        agents=load,
        templates=templates,
        teams=teams,
    )
