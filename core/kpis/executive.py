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

Performance predictions (:func:`predictions`) are forecasts (core.analytics.forecast: Prophet, or
seasonal-naive where it backtests better; logistic between 0 and 100 %) of the quality score, SLA adherence
and workflow completion rate from their last :data:`HISTORY_DAYS` daily values (:func:`daily_history`), fitted
by the forecast job (core.forecasting.job) for the whole organisation and stored; the page reads them
(:func:`load_predictions`) and only works out the value :data:`HORIZON_DAYS` days ahead with its 80 % interval
and the day the forecast crosses each target, so no model is fitted while a person waits.

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

from core.analytics.forecast import Forecast, crossing
from core.auth.access import Viewer, can
from core.config import Settings, get_settings
from core.kpis import workflow as wf
from core.kpis.quality import COMPLIANCE_EVENT, DEFECT_EVENTS, GATE_OUTCOMES, compliance, defect_frame, defect_kpis
from core.kpis.records import apply_filters, fields, flag, load_events, within
from core.query import series
from core.query.series import CACHE, quantum_ms
from core.sla import compliance as sla
from core.sla.definitions import DEFAULTS, SlaDefinition
from core.store.forecasts import StoredForecast
from core.store.forecasts import load as load_stored

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
    return compute_prepared(prepare(events, now_ms), utilisation_pct, start_ms, end_ms, settings)


@dataclass(frozen=True)
class Prepared:
    """What :func:`compute` reads from a frame whatever the window: the JSON fields are parsed once per frame,
    not once per period (the page computes this period and the one before from the same frame)."""

    events: pl.DataFrame
    now_ms: int
    defects: pl.DataFrame  # core.kpis.quality.defect_frame of the defect events
    work: pl.DataFrame  # core.kpis.workflow.outcome_fields
    sla_items: tuple[pl.DataFrame, pl.DataFrame]  # core.kpis.workflow.sla_items


def prepare(events: pl.DataFrame, now_ms: int) -> Prepared:
    """The window-independent part of :func:`compute` for ``events``."""
    return Prepared(
        events,
        now_ms,
        defect_frame(events.filter(pl.col("type").is_in(DEFECT_EVENTS))),
        wf.outcome_fields(events),
        wf.sla_items(events.filter(pl.col("type").is_in(wf.WORKFLOW_TYPES)), now_ms),
    )


def compute_prepared(
    ready: Prepared, utilisation_pct: float | None, start_ms: int, end_ms: int, settings: Settings
) -> ExecutiveKpis:
    """:func:`compute` from what :func:`prepare` returned."""
    current = within(ready.events, start_ms, end_ms)
    gates = current.filter(pl.col("type").is_in(GATE_SCORE_TYPES))
    defects = defect_kpis(ready.defects, start_ms=start_ms, end_ms=end_ms, day_start_ms=end_ms)
    checks = compliance(current.filter(pl.col("type") == COMPLIANCE_EVENT))
    done = wf.outcomes_of(ready.work, start_ms, end_ms)
    sla = wf.adherence_of(ready.sla_items, start_ms, end_ms)
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
    """KPIs now and one period earlier, the trend frame and open critical defects."""

    current: ExecutiveKpis
    previous: ExecutiveKpis
    trends: pl.DataFrame
    critical_open: int


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
    # one read serves the period and the one before it (the predictions' daily history is the job's)
    lo = start_ms - span - wf.OPEN_LOOKBACK_MS
    events = within(apply_filters(load_events(engine, EXEC_TYPES, lo, end_ms, settings=settings), filters), lo, end_ms)

    def utilisation(a: int, b: int) -> float | None:
        frame = series(engine, "qms_agent_load_percent", a, b, settings=settings)
        value = frame["value"].mean() if frame.height else None
        return None if value is None else float(value)  # type: ignore[arg-type]

    ready = prepare(events, now_ms)
    current = compute_prepared(ready, utilisation(start_ms, end_ms), start_ms, end_ms, settings)
    previous = compute_prepared(ready, utilisation(start_ms - span, start_ms), start_ms - span, start_ms, settings)
    defects = defect_kpis(ready.defects, start_ms=start_ms, end_ms=end_ms, day_start_ms=end_ms)
    return ExecutiveData(
        current,
        previous,
        trends(events, start_ms, end_ms, step_ms),
        defects.critical_open,
    )


DAY_MS = 86_400_000
HISTORY_DAYS = 28
HORIZON_DAYS = 7
PREDICTED = ("Quality score %", "SLA adherence %", "Completion rate %")  # the daily series :func:`predictions` projects


@dataclass(frozen=True)
class Prediction:
    """One KPI ``HORIZON_DAYS`` ahead from its stored forecast: the value with its 80 % interval, and when the
    forecast crosses ``target``; ``message`` says why there is none (too little history)."""

    kpi: str
    latest: float | None  # the newest daily value
    predicted: float | None
    lower: float | None
    upper: float | None
    target: float | None
    crossing_ms: int | None  # when the forecast crosses the target within the horizon (None: it does not)
    direction: str  # "falls below" or "reaches": which way it crosses
    days: int  # daily values the forecast was fitted to
    model: str = ""
    fitted_ms: int | None = None
    message: str = ""


def load_predictions(engine: Engine) -> list[StoredForecast]:
    """The Executive predictions the forecast job stored (empty until its first run)."""
    return load_stored(engine, "executive")


def prediction(stored: StoredForecast, target: float | None) -> Prediction:
    """A :class:`Prediction` from one stored forecast, held against ``target``."""
    result = stored.result
    fitted = Forecast.from_json(result.get("forecast", {"status": "insufficient"}))
    latest, days = result.get("latest"), int(result.get("days", 0))
    if not fitted.ok:
        message = fitted.message or "no forecast"
        return Prediction(
            stored.target, latest, None, None, None, target, None, "", days, "", stored.fitted_ms, message
        )
    crossing_ms, direction = None, ""
    if target is not None:
        below = (latest if latest is not None else float(fitted.yhat[0])) < target
        direction = "reaches" if below else "falls below"
        crossing_ms = crossing(fitted, target, ">=" if below else "<").when_ms
    return Prediction(
        stored.target,
        latest,
        float(fitted.yhat[-1]),
        float(fitted.q[0.1][-1]),
        float(fitted.q[0.9][-1]),
        target,
        crossing_ms,
        direction,
        days,
        fitted.model,
        stored.fitted_ms,
    )


def predictions(stored: Sequence[StoredForecast], targets: Mapping[str, float | None]) -> list[Prediction]:
    """A :class:`Prediction` for every KPI named in ``targets`` that has a stored forecast, in that order."""
    by_kpi = {s.target: s for s in stored}
    return [prediction(by_kpi[kpi], target) for kpi, target in targets.items() if kpi in by_kpi]


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


def prediction_table(found: Sequence[Prediction], now_ms: int) -> pl.DataFrame:
    """The predictions as the page shows them.

    Columns: KPI, newest daily value, value in N days, 80 % interval, target note, model and when it was fitted.
    """

    def note(p: Prediction) -> str:
        if p.predicted is None:
            return p.message
        if p.target is None:
            return ""
        if p.crossing_ms is not None:
            day = np.datetime64(p.crossing_ms, "ms").astype("datetime64[D]")
            return (
                f"will {'reach' if p.direction == 'reaches' else 'fall below'} target {round(p.target, 1):g}% on {day}"
            )
        side = "below" if p.direction == "reaches" else "above"
        return f"stays {side} target {round(p.target, 1):g}% for the next {HORIZON_DAYS} days"

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    def age(ms: int | None) -> str:
        return "" if ms is None else f"{max(now_ms - ms, 0) / 60_000:.0f} min ago"

    return pl.DataFrame(
        [
            (
                p.kpi.removesuffix(" %"),
                rounded(p.latest),
                rounded(p.predicted),
                "" if p.lower is None or p.upper is None else f"{p.lower:.1f} – {p.upper:.1f}",
                note(p),
                p.days,
                p.model.replace("_", "-"),
                age(p.fitted_ms),
            )
            for p in found
        ],
        schema={
            "KPI (%)": pl.String,
            "latest day": pl.Float64,
            f"in {HORIZON_DAYS} days": pl.Float64,
            "80 % interval": pl.String,
            "vs target": pl.String,
            "daily values": pl.Int64,
            "model": pl.String,
            "fitted": pl.String,
        },
        orient="row",
    )
