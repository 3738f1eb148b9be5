"""The insights job: refresh stale baselines and score every component against them.

Registered in app.py's scheduler as a singleton every ``insights_interval_s``. Baselines are
recomputed when older than ``baseline_refresh_s`` (an hour: they describe weeks, a new hour adds
little), and on every run while some series has less than a day of history (a fresh install, or the
demo still back-filling: a baseline of its first minutes would stand for an hour). The component
scores are computed every run, from the last 15 minutes, and stored in ``collector_state``
(:data:`STATE`, key ``scores``), where core.kpis.overview reads them for the Overview health score,
so the Overview never computes baselines while a person waits.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.insights import baselines, score
from core.model import now_ms as clock_ms
from core.store.collector_state import put_state

STATE = "insights"  # collector_state namespace: key "scores" (read by core.kpis.overview)
RECENT_MS = 15 * 60_000
YOUNG_HOURS = 24  # below a day of history every run recomputes (a fresh install, the demo back-filling)


@dataclass(frozen=True)
class JobReport:
    """What one run did."""

    refreshed: bool
    baseline_rows: int
    components: int


def recent_bands(engine: Engine, settings: Settings, now_ms: int, table: pl.DataFrame) -> pl.DataFrame:
    """The mean of each baselined series over the last 15 minutes, with its band at the newest time."""
    recent = baselines.read_values(engine, settings, now_ms - RECENT_MS, now_ms, 60_000, now_ms)
    latest = recent.group_by("series").agg(pl.col("ts").max(), pl.col("value").mean())
    return baselines.bands(latest, table, sigma=settings.baseline_band_sigma, min_samples=settings.baseline_min_samples)


def run_insights(engine: Engine, settings: Settings, now_ms: int | None = None) -> JobReport:
    """One run: baselines if stale, then the component scores, stored for the Overview."""
    now = clock_ms() if now_ms is None else now_ms
    table, computed = baselines.load(engine)
    rows, refreshed = table.height, False
    rolling = table.filter(pl.col("slot") == baselines.ROLLING)["n"]
    young = not rolling.len() or int(rolling.min()) < YOUNG_HOURS  # type: ignore[arg-type]
    if computed is None or now - computed >= settings.baseline_refresh_s * 1000 or young:
        rows, refreshed = baselines.refresh(engine, settings, now), True
        table, _ = baselines.load(engine)
    components = score.component_scores(score.signal_scores(recent_bands(engine, settings, now, table)))
    put_state(
        engine,
        STATE,
        "scores",
        {"computed_ms": now, "overall": score.overall(components), "components": components.to_dicts()},
    )
    return JobReport(refreshed, rows, components.height)
