"""The Insights page's data: ranked findings, component scores, and a series' chart with its band.

:func:`load_insights` reads once per range (cached in core.query's TTL cache like the other views);
pages draw, they never compute statistics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.insights import baselines, dismissals, findings, inputs, opportunities, regressions
from core.insights.job import STATE
from core.kpis.records import load_deployments, marks
from core.programmes.migration_plan import PlanError
from core.programmes.migration_store import load_view, plan_from_settings
from core.query.series import CACHE
from core.store.collector_state import get_state

log = logging.getLogger(__name__)
MIN_MS = 60_000
MAX_DEPLOYMENTS = 40  # newest deployments of the range tested for regressions


@dataclass(frozen=True)
class InsightsView:
    """Everything the page draws for one range."""

    findings: list[findings.Finding]  # ranked, dismissals not applied
    regressions: list[regressions.Regression]
    baselines_ms: int | None  # when baselines were computed (None: not yet)
    scores: dict[str, object] | None  # the job's stored component scores
    series: list[str]  # baselined series in the range, for the chart picker


def step_for(start_ms: int, end_ms: int) -> int:
    """1 minute up to 6 hours of range, else about 360 points (whole minutes)."""
    return max(MIN_MS, (end_ms - start_ms) // 360 // MIN_MS * MIN_MS)


def _migration(engine: Engine, settings: Settings, start_ms: int, end_ms: int) -> list[findings.Finding]:
    try:
        plan, plan_file = plan_from_settings(settings)
    except PlanError as error:  # a broken plan is the Migration page's to report; events still count
        log.info("insights: migration plan unusable (%s); reading events only", error)
        plan, plan_file = None, None
    view = load_view(engine, start_ms=start_ms, end_ms=end_ms, plan=plan, plan_file=plan_file, settings=settings)
    return findings.from_migration(view.performance)


def deployment_regressions(
    engine: Engine, settings: Settings, start_ms: int, end_ms: int
) -> list[regressions.Regression]:
    """Regressions after the newest :data:`MAX_DEPLOYMENTS` deployments in [start, end).

    Values are read around each deployment at one-minute steps (a long range would otherwise be read at the
    hourly tier, too coarse for a two-hour window), wide enough for sparse history (regressions.window_for).
    """
    reach = max(int(settings.regression_window_s * 1000), regressions.MIN_SIDE * 15 * MIN_MS)
    deploys = load_deployments(engine, start_ms, end_ms, settings=settings).tail(MAX_DEPLOYMENTS)
    if deploys.is_empty():
        return []
    first, last = int(deploys["ts"].min()), int(deploys["ts"].max())  # type: ignore[arg-type]
    around = load_deployments(engine, first - reach, last + reach, settings=settings)
    parts = [baselines.read_values(engine, settings, t - reach, t + reach, MIN_MS) for t in deploys["ts"].unique()]
    values = pl.concat(parts).unique(["series", "ts"]).sort("series", "ts")
    wanted = set(deploys["id"].to_list())
    return [r for r in regressions.detect(values, around, settings) if r.deployment_id in wanted]


def _load(
    engine: Engine, settings: Settings, start_ms: int, end_ms: int, bottlenecks: Sequence[object] | None = None
) -> InsightsView:
    table, computed = baselines.load(engine)
    found = deployment_regressions(engine, settings, start_ms, end_ms)
    recent_start = end_ms - max(int(settings.drift_minutes * 4 * MIN_MS), 3_600_000)
    recent = baselines.read_values(engine, settings, recent_start, end_ms, MIN_MS)
    banded = baselines.bands(
        recent, table, sigma=settings.baseline_band_sigma, min_samples=settings.baseline_min_samples
    )
    drifts = baselines.drifts(banded, min_minutes=settings.drift_minutes, step_ms=MIN_MS)
    chances = opportunities.find(inputs.gather(engine, settings, start_ms, end_ms, bottlenecks), settings)
    listed = findings.rank(
        [
            *findings.from_regressions(found),
            *_migration(engine, settings, start_ms, end_ms),
            *(findings.from_drift(d) for d in drifts),
            *(findings.from_opportunity(o) for o in chances),
        ]
    )
    names = sorted(set(table.filter(pl.col("slot") == baselines.ROLLING)["series"]) | set(recent["series"]))
    return InsightsView(listed, found, computed, get_state(engine, STATE, "scores"), names)


def load_insights(engine: Engine, settings: Settings, start_ms: int, end_ms: int) -> InsightsView:
    """The view of [start, end), shared between viewers for ``query_cache_ttl_s`` per minute of range."""
    start, end = start_ms - start_ms % MIN_MS, end_ms - end_ms % MIN_MS
    key = ("insights", id(engine), str(engine.url), start, end)
    return CACHE.get(key, settings.query_cache_ttl_s, lambda: _load(engine, settings, start, end))


def hidden(engine: Engine) -> dict[str, dismissals.Dismissal]:
    """Dismissals in force now (read fresh: a click must show at once)."""
    return dismissals.hidden(engine)


def band_chart(
    engine: Engine, settings: Settings, name: str, start_ms: int, end_ms: int, found: list[regressions.Regression]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(values with expected/lo/hi, deployment marks, regression marks) for one series over [start, end).

    Values come from :func:`baselines.read_values` filtered to ``name``; anything else with the band.
    """
    step = step_for(start_ms, end_ms)
    table, _ = baselines.load(engine)
    values = baselines.read_values(engine, settings, start_ms, end_ms, step).filter(pl.col("series") == name)
    banded = baselines.bands(
        values, table, sigma=settings.baseline_band_sigma, min_samples=settings.baseline_min_samples
    ).with_columns(pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC"))
    deploys = marks(load_deployments(engine, start_ms, end_ms, settings=settings))
    return banded, deploys, regressions.chart_marks([r for r in found if r.series == name])


REPORT_ROWS = 15


def report_table(
    engine: Engine, settings: Settings, start_ms: int, end_ms: int, bottlenecks: Sequence[object] | None = None
) -> pl.DataFrame:
    """The findings of [start, end) not dismissed or snoozed now, ranked by impact, for the Executive and Technical
    reports: impact, kind, finding, detail, effort, estimated improvement, confidence, shown on (the first
    :data:`REPORT_ROWS`).
    """
    view = load_insights(engine, settings, start_ms, end_ms) if bottlenecks is None else None
    found = (view or _load(engine, settings, start_ms, end_ms, bottlenecks)).findings  # a report has the SLA's already
    shown, _ = findings.split(found, dismissals.hidden(engine))
    table = findings.table(shown[:REPORT_ROWS]).drop("id")
    details = pl.Series("detail", [f.detail for f in shown[:REPORT_ROWS]], pl.String)
    return table.insert_column(3, details)
