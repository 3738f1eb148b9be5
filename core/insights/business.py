"""The Executive page's business view: cost per team, team comparison, ROI, adoption, service trend.

* **Team** — a workflow event's ``team`` field, else its ``repository``, else "(none)".
* **Cost** — agent hours of the team's finished steps × its rate (``cost_team_rates[team]``, else
  ``cost_per_agent_hour``) + ``cost_per_review_fixed`` × its completed reviews; cost per review =
  cost ÷ completed reviews.
* **ROI of the quality programme** — defects caught before release × ``cost_per_escaped_defect``
  (what they would have cost had they escaped) against the review cost of the same period:
  ``ROI % = (avoided − cost) / cost × 100``.
* **Process adoption** — QSE: share of the organisation's teams that ran a session in the range
  (core.programmes.organisation).
* **Service trend** — response time (mean p95 over endpoints, ms), error rate (mean
  ``api_errors_percent``) and availability (mean ``qms_agent_up`` × 100) per bucket.

Costs are shown only to viewers with ``view_costs`` (the page checks, as for cost per review).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.kpis import workflow as wf
from core.kpis.executive import EXEC_TYPES
from core.kpis.quality import DEFECT_EVENTS, defect_frame, found_between
from core.kpis.records import apply_filters, fields, load_events, within
from core.programmes.compliance import QseRules
from core.programmes.organisation import organisation_kpis
from core.programmes.qse_events import QseData
from core.programmes.views import EVENT_TYPES as QSE_TYPES
from core.query import series
from core.query.series import CACHE, quantum_ms

DAY_MS = 86_400_000
TEAM_SCHEMA = {
    "team": pl.String,
    "reviews": pl.Int64,
    "failed": pl.Int64,
    "completion_pct": pl.Float64,
    "cycle_h": pl.Float64,
    "agent_hours": pl.Float64,
    "cost_rate": pl.Float64,
    "cost": pl.Float64,
    "cost_per_review": pl.Float64,
}


def team_of() -> pl.Expr:
    """The team of an event: data.team, else data.repository, else "(none)"."""
    data = pl.col("data")
    return pl.coalesce(
        data.str.json_path_match("$.team"), data.str.json_path_match("$.repository"), pl.lit("(none)")
    ).alias("team")


def teams(events: pl.DataFrame, start_ms: int, end_ms: int, settings: Settings) -> pl.DataFrame:
    """Per team over [start, end): reviews, failures, completion %, mean cycle hours, agent hours, rate, cost."""
    read = fields(events, {"workflow_id": "workflow_id"}, {"duration_s": "duration_s"}).with_columns(team_of())
    ended = within(
        read.filter(pl.col("type").is_in(["workflow.workflow_completed", "workflow.workflow_failed"])), start_ms, end_ms
    )
    steps = read.filter(pl.col("type") == "workflow.step_completed")
    done = ended.filter(pl.col("type") == "workflow.workflow_completed")
    cycle = (
        steps.filter(pl.col("workflow_id").is_in(done["workflow_id"].implode()))
        .group_by("team", "workflow_id")
        .agg(pl.col("duration_s").sum())
        .group_by("team")
        .agg((pl.col("duration_s").mean() / 3600).alias("cycle_h"))
    )
    hours = (
        within(steps, start_ms, end_ms).group_by("team").agg((pl.col("duration_s").sum() / 3600).alias("agent_hours"))
    )
    outcome = ended.group_by("team").agg(
        (pl.col("type") == "workflow.workflow_completed").sum().cast(pl.Int64).alias("reviews"),
        (pl.col("type") == "workflow.workflow_failed").sum().cast(pl.Int64).alias("failed"),
    )
    rates = pl.DataFrame(
        {"team": list(settings.cost_team_rates), "own_rate": list(settings.cost_team_rates.values())},
        schema={"team": pl.String, "own_rate": pl.Float64},
    )
    frame = (
        outcome.join(hours, on="team", how="full", coalesce=True)
        .join(cycle, on="team", how="left")
        .join(rates, on="team", how="left")
        .with_columns(
            pl.col("reviews").fill_null(0),
            pl.col("failed").fill_null(0),
            pl.col("agent_hours").fill_null(0.0),
            pl.col("own_rate").fill_null(settings.cost_per_agent_hour).alias("cost_rate"),
        )
        .with_columns(
            (pl.col("agent_hours") * pl.col("cost_rate") + pl.col("reviews") * settings.cost_per_review_fixed).alias(
                "cost"
            ),
            pl.when(pl.col("reviews") + pl.col("failed") > 0)
            .then(pl.col("reviews") / (pl.col("reviews") + pl.col("failed")) * 100)
            .alias("completion_pct"),
        )
        .with_columns(pl.when(pl.col("reviews") > 0).then(pl.col("cost") / pl.col("reviews")).alias("cost_per_review"))
    )
    rounded = [pl.col(c).round(d) for c, d in (("completion_pct", 1), ("cycle_h", 2), ("agent_hours", 1))]
    money = [pl.col(c).round(2) for c in ("cost_rate", "cost", "cost_per_review")]
    return frame.select(list(TEAM_SCHEMA)).with_columns(*rounded, *money).sort("team")


@dataclass(frozen=True)
class Roi:
    """The quality programme's return: what caught defects would have cost against what reviewing cost."""

    caught: int  # defects found before release in the range
    escaped: int
    avoided: float  # caught × cost_per_escaped_defect
    cost: float  # review cost of the range
    roi_pct: float | None  # (avoided − cost) / cost × 100; None without cost


def roi(caught: int, escaped: int, review_cost: float, cost_per_escape: float) -> Roi:
    """ROI from the counts and costs (pure)."""
    avoided = caught * cost_per_escape
    return Roi(
        caught, escaped, avoided, review_cost, (avoided - review_cost) / review_cost * 100 if review_cost > 0 else None
    )


@dataclass(frozen=True)
class Business:
    """Everything the business view draws."""

    teams: pl.DataFrame
    roi: Roi
    adoption_pct: float | None
    teams_using: int
    teams_known: int
    service: pl.DataFrame  # ts, series, value


def service_trend(engine: Engine, start_ms: int, end_ms: int, step_ms: int, settings: Settings) -> pl.DataFrame:
    """Response time (ms), error rate (%) and availability (%) per bucket, long: ts, series, value."""
    parts = []
    for label, selector, scale in (
        ("Response time p95 (ms)", 'api_request_duration_seconds{quantile="0.95"}', 1000.0),
        ("Error rate %", "api_errors_percent", 1.0),
        ("Availability %", "qms_agent_up", 100.0),
    ):
        frame = series(engine, selector, start_ms, end_ms, step_ms=step_ms, settings=settings)
        if frame.height:
            parts.append(
                frame.group_by("ts")
                .agg((pl.col("value").mean() * scale).alias("value"))
                .with_columns(pl.lit(label).alias("series"))
            )
    if not parts:
        return pl.DataFrame(schema={"ts": pl.Datetime("ms", "UTC"), "series": pl.String, "value": pl.Float64})
    return pl.concat([p.select("ts", "series", "value") for p in parts]).sort("series", "ts")


def _load(
    engine: Engine, start_ms: int, end_ms: int, step_ms: int, filters: Mapping[str, str], settings: Settings
) -> Business:
    lo = start_ms - wf.OPEN_LOOKBACK_MS
    # The Executive KPIs' own read (this and the previous period): on the Executive page, which has just made it, a
    # cache hit instead of a second pass over the same events. Trimmed to exactly the rows a read of [lo, end) gives
    # (load_events widens a range to its cache quantum).
    shared = load_events(
        engine, EXEC_TYPES, start_ms - (end_ms - start_ms) - wf.OPEN_LOOKBACK_MS, end_ms, settings=settings
    )
    q = quantum_ms(lo, end_ms)
    events = apply_filters(
        within(
            shared.filter(pl.col("type").is_in([*wf.WORKFLOW_TYPES, *DEFECT_EVENTS])), lo - lo % q, -(-end_ms // q) * q
        ),
        filters,
    )
    per_team = teams(events.filter(pl.col("type").is_in(wf.WORKFLOW_TYPES)), start_ms, end_ms, settings)
    found = found_between(defect_frame(events.filter(pl.col("type").is_in(DEFECT_EVENTS))), start_ms, end_ms)
    escaped = int(found["escaped"].sum()) if found.height else 0
    value = roi(found.height - escaped, escaped, float(per_team["cost"].sum()), settings.cost_per_escaped_defect)
    rules = QseRules.of(settings)
    qse = QseData.of(load_events(engine, QSE_TYPES, start_ms - 30 * DAY_MS, end_ms, settings=settings), rules.weights)
    org = organisation_kpis(qse, start_ms, end_ms, rules)
    return Business(
        per_team,
        value,
        org.adoption_pct,
        org.teams_using,
        org.teams_known,
        service_trend(engine, start_ms, end_ms, step_ms, settings),
    )


def load_business(
    engine: Engine, start_ms: int, end_ms: int, step_ms: int, filters: Mapping[str, str], settings: Settings
) -> Business:
    """The business view of [start, end), cached per range bucket like the Executive KPIs."""
    q = quantum_ms(start_ms, end_ms)
    start_ms, end_ms = start_ms - start_ms % q, -(-end_ms // q) * q
    key = ("business", id(engine), str(engine.url), start_ms, end_ms, step_ms, tuple(sorted(filters.items())))
    return CACHE.get(
        key, settings.query_cache_ttl_s, lambda: _load(engine, start_ms, end_ms, step_ms, filters, settings)
    )
