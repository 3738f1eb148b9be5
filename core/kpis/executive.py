"""The Executive page's figures: quality and efficiency KPIs, cost, trends, SLA adherence, risks.

Definitions (every one computed from stored events/samples; docs/events.md names the fields):

* quality score — mean gate score (``metrics.score`` × 100) of the gate runs in the range;
* defect detection rate — share of defects found before release (core.kpis.quality);
* false-positive rate — share of resolved defects closed as not a defect
  (``resolution``/``resolution_type`` = ``false_positive`` or ``not_a_defect``, or
  ``false_positive: true``); None until defects carry that field;
* compliance adherence — share of passed ``qa.compliance_check`` events;
* review cycle time, time to merge, completion rate — core.kpis.workflow.outcomes;
* agent utilisation — mean of ``qms_agent_load_percent`` over the range;
* SLA adherence — core.kpis.workflow.sla_adherence; cost per review — the cost model in
  settings, and only for viewers with ``view_costs`` (:func:`for_viewer`).

Performance predictions (:func:`predictions`) are a linear-trend projection
(core.analytics.linear_trend.LinearTrend, least squares) of the quality score, SLA adherence and
workflow completion rate from their last :data:`HISTORY_DAYS` daily values
(:func:`daily_history`, read with the page's own events): the value :data:`HORIZON_DAYS` days ahead with a ≈ 95 %
prediction band (± 2 standard errors of a new observation) and the day the line crosses
the target, when it does within the horizon. The forecasting issue's better models
can replace the line behind the same function.

Longer than most modules: it is every figure of the Executive page, read from one pass over the
period's events; the pure pieces are small functions tested one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import fields as dc_fields

import numpy as np
import polars as pl
from sqlalchemy.engine import Engine

from core.analytics.linear_trend import LinearTrend
from core.auth.access import Viewer, can
from core.config import Settings, get_settings
from core.kpis import workflow as wf
from core.kpis.quality import COMPLIANCE_EVENT, DEFECT_EVENTS, GATE_OUTCOMES, compliance, defect_frame, defect_kpis
from core.kpis.records import apply_filters, fields, flag, load_events, within
from core.query import series
from core.query.series import CACHE, quantum_ms
from core.sla import compliance as sla
from core.sla.definitions import DEFAULTS, SlaDefinition

FALSE_POSITIVE = ("false_positive", "not_a_defect")
GATE_SCORE_TYPES = (*GATE_OUTCOMES, "workflow.quality_gate_executed")


@dataclass(frozen=True)
class ExecutiveKpis:
    """The headline numbers for one window (None: no data for it)."""

    quality_score: float | None
    defect_detection_pct: float | None
    false_positive_pct: float | None
    compliance_pct: float | None
    review_cycle_h: float | None
    completion_pct: float | None
    utilisation_pct: float | None
    sla_pct: float | None
    sla_target_pct: float | None
    time_to_merge_h: float | None
    cost_per_review: float | None
    reviews: int


def quality_score(gate_events: pl.DataFrame) -> float | None:
    """Mean ``metrics.score`` × 100 over gate outcome events (executed events only where a source sends no outcomes)."""
    scored = fields(gate_events, numbers={"score": "metrics.score"})
    outcomes = scored.filter(pl.col("type").is_in(GATE_OUTCOMES))
    use = outcomes if outcomes.height else scored
    value = use["score"].mean()
    return None if value is None else float(value) * 100  # type: ignore[arg-type]


def false_positive_pct(defect_events: pl.DataFrame) -> float | None:
    """Share of resolved defects closed as false positives; None when no resolution says either way."""
    resolved = fields(
        defect_events.filter(pl.col("type") == "qa.defect_resolved"),
        {"resolution": "resolution", "resolution_type": "resolution_type", "flag": "false_positive"},
    )
    said = resolved.filter(pl.any_horizontal(pl.col("resolution", "resolution_type", "flag").is_not_null()))
    if said.is_empty():
        return None
    hit = said.filter(
        pl.col("resolution").is_in(FALSE_POSITIVE)
        | pl.col("resolution_type").is_in(FALSE_POSITIVE)
        | (pl.col("flag").str.to_lowercase() == "true")
    )
    return hit.height / said.height * 100


def compute(
    events: pl.DataFrame, utilisation_pct: float | None, start_ms: int, end_ms: int, now_ms: int, settings: Settings
) -> ExecutiveKpis:
    """Every KPI for [start, end) from one frame of workflow, gate, defect and compliance events.

    The frame reaches 3 days before start.
    """
    current = within(events, start_ms, end_ms)
    gates = current.filter(pl.col("type").is_in(GATE_SCORE_TYPES))
    defects = defect_kpis(
        defect_frame(events.filter(pl.col("type").is_in(DEFECT_EVENTS))),
        start_ms=start_ms,
        end_ms=end_ms,
        day_start_ms=end_ms,
    )
    checks = compliance(current.filter(pl.col("type") == COMPLIANCE_EVENT))
    done = wf.outcomes(events, start_ms, end_ms)
    sla = wf.sla_adherence(events.filter(pl.col("type").is_in(wf.WORKFLOW_TYPES)), start_ms, end_ms, now_ms)
    cost = wf.cost_per_review(
        done.agent_hours, done.completed, settings.cost_per_agent_hour, settings.cost_per_review_fixed
    )
    return ExecutiveKpis(
        quality_score(gates),
        defects.prevention_pct,
        false_positive_pct(current.filter(pl.col("type").is_in(DEFECT_EVENTS))),
        checks.passed_pct,
        done.review_cycle_h,
        done.completion_pct,
        utilisation_pct,
        sla.within_pct,
        sla.target_pct,
        done.time_to_merge_h,
        cost,
        done.completed,
    )


def for_viewer(kpis: ExecutiveKpis, viewer: Viewer | None) -> ExecutiveKpis:
    """The KPIs with cost figures removed for viewers without ``view_costs``."""
    if viewer is None or can(viewer, "view_costs"):
        return kpis
    return replace(kpis, **{f.name: None for f in dc_fields(kpis) if "cost" in f.name.split("_")})  # type: ignore[arg-type]


def trends(events: pl.DataFrame, start_ms: int, end_ms: int, step_ms: int) -> pl.DataFrame:
    """Quality and efficiency per bucket (long: ts, series, value).

    Series: quality score, compliance, completion rate, time to merge. Same definitions as :func:`compute`, grouped
    by bucket in one pass each.
    """
    part = within(events, start_ms, end_ms).with_columns((pl.col("ts") - pl.col("ts") % step_ms).alias("bucket"))
    gates = fields(part.filter(pl.col("type").is_in(GATE_OUTCOMES)), numbers={"score": "metrics.score"})
    checks = part.filter(pl.col("type") == COMPLIANCE_EVENT).with_columns(flag("passed").alias("passed"))
    ended = fields(
        part.filter(pl.col("type").is_in(["workflow.workflow_completed", "workflow.workflow_failed"])),
        numbers={"duration_s": "duration_s"},
    ).with_columns((pl.col("type") == "workflow.workflow_completed").alias("ok"))
    frames = [
        gates.group_by("bucket")
        .agg((pl.col("score").mean() * 100).alias("value"))
        .with_columns(pl.lit("Quality score %").alias("series")),
        checks.group_by("bucket")
        .agg((pl.col("passed").cast(pl.Float64).mean() * 100).alias("value"))
        .with_columns(pl.lit("Compliance %").alias("series")),
        ended.group_by("bucket")
        .agg((pl.col("ok").cast(pl.Float64).mean() * 100).alias("value"))
        .with_columns(pl.lit("Completion rate %").alias("series")),
        ended.filter(pl.col("ok"))
        .group_by("bucket")
        .agg((pl.col("duration_s").mean() / 3600).alias("value"))
        .with_columns(pl.lit("Time to merge (h)").alias("series")),
    ]
    frame = pl.concat(
        [f.select("bucket", "series", pl.col("value").cast(pl.Float64).round(2)) for f in frames]
    ).drop_nulls("value")
    return frame.select(
        pl.from_epoch("bucket", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"), "series", "value"
    ).sort("series", "ts")


def risks(
    kpis: ExecutiveKpis,
    previous: ExecutiveKpis,
    queues: pl.DataFrame,
    agents_down: int,
    agents_total: int,
    critical_open: int,
) -> pl.DataFrame:
    """Risk assessment: one row per risk (risk, level low/medium/high, score 1–3, reason), most severe first."""
    rows: list[tuple[str, str, str]] = []
    if kpis.utilisation_pct is not None:
        level = "high" if kpis.utilisation_pct >= 85 else "medium" if kpis.utilisation_pct >= 70 else "low"
        rows.append(("Agent capacity", level, f"utilisation {kpis.utilisation_pct:.0f}% (medium ≥ 70, high ≥ 85)"))
    if kpis.sla_pct is not None and kpis.sla_target_pct is not None:
        gap = kpis.sla_target_pct - kpis.sla_pct
        level = "high" if gap > 2 else "medium" if gap > 0 else "low"
        rows.append(
            ("SLA adherence", level, f"{kpis.sla_pct:.1f}% within target vs objective {kpis.sla_target_pct:.1f}%")
        )
    if kpis.quality_score is not None and previous.quality_score is not None:
        drop = previous.quality_score - kpis.quality_score
        level = "high" if drop > 5 else "medium" if drop > 2 else "low"
        rows.append(
            ("Quality trend", level, f"quality score {kpis.quality_score:.1f} ({-drop:+.1f} vs previous period)")
        )
    if queues.height:
        worst = (
            "high"
            if (queues["level"] == "critical").any()
            else "medium"
            if (queues["level"] == "warning").any()
            else "low"
        )
        deepest = queues.sort("depth", descending=True).row(0, named=True)
        rows.append(("Review backlog", worst, f"deepest queue {deepest['queue']} at {deepest['depth']:g}"))
    if agents_total:
        share = agents_down / agents_total
        rows.append(
            (
                "Agent availability",
                "high" if share >= 0.2 else "medium" if agents_down else "low",
                f"{agents_down} of {agents_total} agents down",
            )
        )
    rows.append(("Critical defects", "high" if critical_open else "low", f"{critical_open} critical defects open"))
    rank = {"high": 0, "medium": 1, "low": 2}
    frame = pl.DataFrame(rows, schema={"risk": pl.String, "level": pl.String, "reason": pl.String}, orient="row")
    score = pl.col("level").replace_strict({"high": 3, "medium": 2, "low": 1}, return_dtype=pl.Int8).alias("score")
    return (
        frame.with_columns(score)
        .select("risk", "level", "score", "reason")
        .sort(pl.col("level").replace_strict(rank, return_dtype=pl.Int8), "risk")
    )


EXEC_TYPES = (*wf.WORKFLOW_TYPES, *GATE_SCORE_TYPES, *DEFECT_EVENTS, COMPLIANCE_EVENT)


@dataclass(frozen=True)
class ExecutiveData:
    """KPIs now and one period earlier, the trend frame and open critical defects.

    Also the daily history that the predictions read.
    """

    current: ExecutiveKpis
    previous: ExecutiveKpis
    trends: pl.DataFrame
    critical_open: int
    history: pl.DataFrame  # :func:`daily_history` of the last HISTORY_DAYS whole days


def load_executive(
    engine: Engine,
    start_ms: int,
    end_ms: int,
    now_ms: int,
    step_ms: int,
    filters: Mapping[str, str],
    viewer: Viewer | None,
    settings: Settings | None = None,
) -> ExecutiveData:
    """Read the events of this and the previous period once, and compute both (costs dropped per viewer).

    The result is shared between viewers for ``query_cache_ttl_s`` per range bucket (as core.query's results are).
    """
    settings = settings or get_settings()
    q = quantum_ms(start_ms, end_ms)
    start_ms, end_ms = start_ms - start_ms % q, -(-end_ms // q) * q
    key = ("executive", id(engine), str(engine.url), start_ms, end_ms, step_ms, tuple(sorted(filters.items())))
    data = CACHE.get(
        key, settings.query_cache_ttl_s, lambda: _load(engine, start_ms, end_ms, now_ms, step_ms, filters, settings)
    )
    return replace(data, current=for_viewer(data.current, viewer), previous=for_viewer(data.previous, viewer))


def _load(
    engine: Engine,
    start_ms: int,
    end_ms: int,
    now_ms: int,
    step_ms: int,
    filters: Mapping[str, str],
    settings: Settings,
) -> ExecutiveData:
    span = end_ms - start_ms
    history_end = now_ms - now_ms % DAY_MS
    history_start = history_end - HISTORY_DAYS * DAY_MS
    # one read serves the period, the one before it and the predictions' daily history
    # (reading them apart cost twice the time)
    lo = min(start_ms - span, history_start) - wf.OPEN_LOOKBACK_MS
    read = apply_filters(load_events(engine, EXEC_TYPES, lo, max(end_ms, history_end), settings=settings), filters)
    events = read.filter(
        pl.col("ts").is_between(start_ms - span - wf.OPEN_LOOKBACK_MS, end_ms, closed="left")
    )  # what the KPIs parse

    def utilisation(a: int, b: int) -> float | None:
        frame = series(engine, "qms_agent_load_percent", a, b, settings=settings)
        value = frame["value"].mean() if frame.height else None
        return None if value is None else float(value)  # type: ignore[arg-type]

    current = compute(events, utilisation(start_ms, end_ms), start_ms, end_ms, now_ms, settings)
    previous = compute(events, utilisation(start_ms - span, start_ms), start_ms - span, start_ms, now_ms, settings)
    defects = defect_kpis(
        defect_frame(events.filter(pl.col("type").is_in(DEFECT_EVENTS))),
        start_ms=start_ms,
        end_ms=end_ms,
        day_start_ms=end_ms,
    )
    return ExecutiveData(
        current,
        previous,
        trends(events, start_ms, end_ms, step_ms),
        defects.critical_open,
        daily_history(read, history_start, history_end, now_ms),
    )


DAY_MS = 86_400_000
HISTORY_DAYS = 28
HORIZON_DAYS = 7
PREDICTED = ("Quality score %", "SLA adherence %", "Completion rate %")  # the daily series :func:`predictions` projects


@dataclass(frozen=True)
class Prediction:
    """One KPI projected ``horizon_days`` ahead: the value with its band, and when it crosses ``target``."""

    kpi: str
    latest: float  # the newest daily value
    predicted: float
    lower: float
    upper: float
    target: float | None
    crossing_ms: int | None  # when the trend line crosses the target within the horizon (None: it does not)
    direction: str  # "falls below" or "reaches": which way it crosses
    days: int  # daily values the line was fitted to


def project(
    history: pl.DataFrame,
    *,
    now_ms: int,
    kpi: str = "",
    target: float | None = None,
    horizon_days: int = HORIZON_DAYS,
    bounds: tuple[float, float] = (0.0, 100.0),
) -> Prediction | None:
    """The least-squares line through ``history``, read ``horizon_days`` after ``now_ms``.

    ``history`` has columns ts_ms and value, one row a day.

    The band is ± 2 standard errors of a new observation at that time,
    ``s · sqrt(1 + 1/n + (t − t̄)² / Σ(tᵢ − t̄)²)`` with ``s² = SSE / (n − 2)``; values are clipped to
    ``bounds`` (percentages stay within 0–100). None with fewer than 3 daily values.
    """
    frame = history.drop_nulls("value").sort("ts_ms")
    ts, ys = frame["ts_ms"].to_numpy().astype(np.float64), frame["value"].to_numpy().astype(np.float64)
    line = LinearTrend().fit(ts, ys)
    if line is None:
        return None
    at = now_ms + horizon_days * DAY_MS
    n = len(ys)
    residuals = ys - np.array([line.at(int(t)) for t in ts])
    s = float(np.sqrt((residuals**2).sum() / (n - 2))) if n > 2 else 0.0
    spread = float(((ts - ts.mean()) ** 2).sum())
    se = s * float(np.sqrt(1 + 1 / n + (at - ts.mean()) ** 2 / spread))
    predicted = line.at(at)
    crossing, direction = None, ""
    if target is not None:
        below = line.at(now_ms) < target
        direction = "reaches" if below else "falls below"
        when = line.crossing_ms(target, ">=" if below else "<", now_ms)
        crossing = when if when is not None and now_ms < when <= at else None
    lo, hi = bounds

    def clip(v: float) -> float:
        return float(min(max(v, lo), hi))

    return Prediction(
        kpi,
        float(ys[-1]),
        clip(predicted),
        clip(predicted - 2 * se),
        clip(predicted + 2 * se),
        target,
        crossing,
        direction,
        n,
    )


def predictions(
    history: pl.DataFrame, targets: Mapping[str, float | None], now_ms: int, horizon_days: int = HORIZON_DAYS
) -> list[Prediction]:
    """A :class:`Prediction` for every series of ``history`` named in ``targets``, in that order.

    ``history`` is long: ts_ms, series, value.
    """
    out = []
    for name, target in targets.items():
        found = project(
            history.filter(pl.col("series") == name), now_ms=now_ms, kpi=name, target=target, horizon_days=horizon_days
        )
        if found is not None:
            out.append(found)
    return out


def daily_sla(
    events: pl.DataFrame, start_ms: int, end_ms: int, now_ms: int, definitions: Sequence[SlaDefinition] = DEFAULTS
) -> pl.DataFrame:
    """SLA adherence per UTC day in [start, end) (ts_ms, series, value).

    Weighted by items, as core.kpis.workflow.sla_adherence is.
    """
    steps, workflows = sla.step_items(events, now_ms), sla.workflow_items(events, now_ms)
    items = [
        (d, sla.items_for(d, steps, workflows)) for d in definitions if d.kind in ("step", "workflow") and d.enabled
    ]
    rows = []
    for day in range(start_ms - start_ms % DAY_MS, end_ms, DAY_MS):
        total = within = 0.0
        for definition, its in items:
            measured = sla.item_compliance(its, definition, day, day + DAY_MS)
            if measured.total and measured.within_target is not None:
                total += measured.total
                within += measured.total * measured.within_target * 100
        if total:
            rows.append((day, "SLA adherence %", within / total))
    return pl.DataFrame(rows, schema={"ts_ms": pl.Int64, "series": pl.String, "value": pl.Float64}, orient="row")


def daily_history(events: pl.DataFrame, start_ms: int, end_ms: int, now_ms: int) -> pl.DataFrame:
    """Quality score, completion rate and SLA adherence per whole UTC day in [start, end).

    Columns ts_ms (noon of the day), series, value.

    ``end`` is today's midnight in use: today is not over, its value would be noisier than the rest.
    """
    per_day = (
        trends(events, start_ms, end_ms, DAY_MS)
        .filter(pl.col("series").is_in(PREDICTED))
        .select(pl.col("ts").dt.epoch("ms").alias("ts_ms"), "series", "value")
    )
    sla_days = daily_sla(events.filter(pl.col("type").is_in(wf.WORKFLOW_TYPES)), start_ms, end_ms, now_ms)
    return pl.concat([per_day, sla_days]).with_columns(pl.col("ts_ms") + DAY_MS // 2).sort("series", "ts_ms")


def prediction_table(found: Sequence[Prediction]) -> pl.DataFrame:
    """The predictions as the page shows them.

    Columns: KPI, newest daily value, value in N days, band, target and the crossing note.
    """

    def note(p: Prediction) -> str:
        if p.target is None:
            return ""
        if p.crossing_ms is not None:
            day = np.datetime64(p.crossing_ms, "ms").astype("datetime64[D]")
            return (
                f"will {'reach' if p.direction == 'reaches' else 'fall below'} target {round(p.target, 1):g}% on {day}"
            )
        side = "below" if p.direction == "reaches" else "above"
        return f"stays {side} target {round(p.target, 1):g}% for the next {HORIZON_DAYS} days"

    return pl.DataFrame(
        [
            (
                p.kpi.removesuffix(" %"),
                round(p.latest, 1),
                round(p.predicted, 1),
                f"{p.lower:.1f} – {p.upper:.1f}",
                note(p),
                p.days,
            )
            for p in found
        ],
        schema={
            "KPI (%)": pl.String,
            "latest day": pl.Float64,
            f"in {HORIZON_DAYS} days": pl.Float64,
            "≈95 % band": pl.String,
            "vs target": pl.String,
            "daily values": pl.Int64,
        },
        orient="row",
    )
