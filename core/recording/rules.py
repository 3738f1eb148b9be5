"""The registry of recording rules: each a named, pure function from events to one series per label set.

A rule is evaluated at many instants at once (a back-fill after a fresh start or an outage, or
the one instant of a regular tick), so every function takes the event frame and an array of
evaluation times and answers one row per (time, label set) that has a value: columns ``ts``,
``value`` and the rule's label columns. A time with nothing to measure (no finished workflow in
the past hour) has no row rather than a made-up zero, so an alert on it sees "no data".

Definitions (docs/metrics.md lists them with their inputs):

* ``qms_workflows_completed_per_hour`` / ``qms_workflows_failed_per_hour`` — workflows that
  completed / failed in the hour before each instant (0 is a value here: nothing finished).
* ``qms_workflow_failure_percent`` — failed ÷ (completed + failed) of that hour, in percent.
* ``qms_workflows_active`` — workflows created (``workflow.pr_created``) and not yet completed
  or failed, among those created in the rule's look-back (7 days).
* ``qms_quality_score_percent`` — mean quality-gate score of the past hour's gate runs, in
  percent: ``metrics.score`` (0–1) where the gate sends one, else 1 for a pass and 0 for a fail.
* ``qms_step_duration_seconds{step}`` — mean work time (``duration_s``) of the step's
  completions in the past hour.
* ``qse_compliance_score_percent{template}`` — ``overall_compliance`` of the template's latest
  ``qse.compliance_scored`` assessment of the past 7 days, in percent (assessments are sparse:
  a few a week per template).
* ``qse_compliance_drop_percent{template}`` — how many points that assessment is below the
  template's baseline, the mean of its (up to) 5 assessments before it within 30 days (0 when at
  or above).
* ``qse_compliance_degradation_percent{scope, session_id, template, team}`` — points a QSE
  score is below its previous assessment (0 at or above it, and for a first assessment). Scope
  ``session``: the session's latest assessment (overall recomputed with the qse weights) against
  the one before, while the session is open and the latest is at most 7 days old. Scope
  ``organisation`` (no other label): the mean of every assessment in the past 7 days against the
  mean of the 7 days before (core.programmes.compliance.organisation_drop).
* ``qse_phase_overrun_ratio{session_id, template, team}`` — for an open session, the hours its
  latest started phase has run (or ran, until the next one starts) ÷ that phase's planned hours.
* ``qse_gates_failing{session_id, template, team}`` — for an open session with a gate evaluated,
  how many of its gates failed their latest evaluation.
* ``migration_success_rate_percent`` — records that succeeded ÷ records attempted in the
  past hour's ``migration.batch_completed`` events, in percent.
* ``migration_schedule_delay_days{phase}`` — for each phase in progress, how many days after
  its planned end it will finish if it keeps its rate so far (start → latest progress).
* ``migration_rollbacks_per_hour`` — ``migration.rollback`` events and issues resolved by a
  rollback (``migration.issue_resolved``, ``resolution_type: rollback``) in the past hour; 0 while
  batches run without one.
* ``migration_performance_regression_percent{operation}`` — over the past hour's
  ``migration.operation_timed`` events, how many percent slower (median) the new system ran the
  operation than the old when the difference is significant (Mann–Whitney, p < 0.05), else 0; no
  value with fewer than 5 timings of either system (core.programmes.migration_stats).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from core.config import get_settings
from core.kpis.records import fields, flag, iso_ms
from core.programmes import qse_events as qse
from core.programmes.compliance import organisation_drop
from core.programmes.migration_stats import slowdown_percent

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
BASELINE_MS = 7 * DAY_MS  # how long a QSE assessment stands for its template
BASELINE_ASSESSMENTS, BASELINE_SPAN_MS = 5, 30 * DAY_MS  # what the latest one is compared with
SESSION_LOOKBACK_MS = 30 * DAY_MS  # how long ago a QSE session may have started and still be followed

Evaluate = Callable[[pl.DataFrame, np.ndarray], pl.DataFrame]


@dataclass(frozen=True)
class RecordingRule:
    """One derived series: what it reads, how far back, how often, and the function that computes it."""

    name: str
    help: str
    reads: tuple[str, ...]  # event types (exact)
    lookback_ms: int  # history one evaluation needs before its instant
    step_ms: int  # evaluated at multiples of this
    labels: tuple[str, ...]
    evaluate: Evaluate


def _empty(labels: tuple[str, ...] = ()) -> pl.DataFrame:
    return pl.DataFrame(schema={"ts": pl.Int64, **dict.fromkeys(labels, pl.String), "value": pl.Float64})


def _in_window(sorted_ts: np.ndarray, at: np.ndarray, window_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Index ranges [lo, hi) of the times in (t - window, t] for each t."""
    return np.searchsorted(sorted_ts, at - window_ms, "right"), np.searchsorted(sorted_ts, at, "right")


def window_count(ts: np.ndarray, at: np.ndarray, window_ms: int) -> np.ndarray:
    """How many of ``ts`` fall in (t - window, t] for each evaluation time t."""
    lo, hi = _in_window(np.sort(ts), at, window_ms)
    return (hi - lo).astype(np.float64)


def window_mean(ts: np.ndarray, values: np.ndarray, at: np.ndarray, window_ms: int) -> np.ndarray:
    """Mean of ``values`` whose time falls in (t - window, t]; NaN where none does."""
    order = np.argsort(ts, kind="stable")
    lo, hi = _in_window(ts[order], at, window_ms)
    sums = np.concatenate([[0.0], np.cumsum(values[order])])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(hi > lo, (sums[hi] - sums[lo]) / np.maximum(hi - lo, 1), np.nan)


def _series(at: np.ndarray, values: np.ndarray, **labels: str) -> pl.DataFrame:
    """Rows (ts, labels…, value) for the finite values."""
    keep = np.isfinite(values)
    frame = pl.DataFrame({"ts": at[keep].astype(np.int64), "value": values[keep].astype(np.float64)})
    return frame.with_columns(pl.lit(v, pl.String).alias(k) for k, v in labels.items()).select("ts", *labels, "value")


def _times(events: pl.DataFrame, kind: str) -> np.ndarray:
    return events.filter(pl.col("type") == kind)["ts"].to_numpy()


# --- workflows -------------------------------------------------------------------------------------------------------

COMPLETED, FAILED, CREATED = "workflow.workflow_completed", "workflow.workflow_failed", "workflow.pr_created"


def completed_per_hour(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    return _series(at, window_count(_times(events, COMPLETED), at, HOUR_MS))


def failed_per_hour(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    return _series(at, window_count(_times(events, FAILED), at, HOUR_MS))


def failure_percent(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    done = window_count(_times(events, COMPLETED), at, HOUR_MS)
    failed = window_count(_times(events, FAILED), at, HOUR_MS)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _series(at, np.where(done + failed > 0, failed / (done + failed) * 100, np.nan))


def active_workflows(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    read = fields(events, {"workflow_id": "workflow_id"}).filter(pl.col("workflow_id").is_not_null())
    started = read.filter(pl.col("type") == CREATED).group_by("workflow_id").agg(pl.col("ts").min().alias("start"))
    ended = read.filter(pl.col("type").is_in([COMPLETED, FAILED])).group_by("workflow_id").agg(pl.col("ts").min())
    spans = started.join(ended, on="workflow_id", how="left")
    starts = np.sort(spans["start"].to_numpy())
    ends = np.sort(spans["ts"].drop_nulls().to_numpy())
    open_now = np.searchsorted(starts, at, "right") - np.searchsorted(ends, at, "right")
    return _series(at, np.maximum(open_now, 0).astype(np.float64))


GATE_TYPES = ("workflow.quality_gate_passed", "workflow.quality_gate_failed", "workflow.quality_gate_executed")


def quality_score(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    """Gate runs are the outcome events, or ``executed`` events where no outcome event names the same run."""
    read = fields(
        events.filter(pl.col("type").is_in(GATE_TYPES)),
        {"workflow_id": "workflow_id", "gate": "gate_name", "attempt": "attempt"},
        {"score": "metrics.score"},
    ).with_columns(
        pl.when(pl.col("type") == GATE_TYPES[2])
        .then(flag("passed"))
        .otherwise(pl.col("type") == GATE_TYPES[0])
        .alias("passed")
    )
    keys = ["workflow_id", "gate", "attempt"]
    outcomes = read.filter(pl.col("type") != GATE_TYPES[2])
    executed = read.filter(pl.col("type") == GATE_TYPES[2]).join(
        outcomes.select(keys).unique(), on=keys, how="anti", nulls_equal=True
    )
    runs = pl.concat([outcomes, executed]).with_columns(
        pl.coalesce(pl.col("score").clip(0, 1), pl.col("passed").cast(pl.Float64)).alias("score")
    )
    runs = runs.filter(pl.col("score").is_not_null())
    return _series(at, window_mean(runs["ts"].to_numpy(), runs["score"].to_numpy() * 100, at, HOUR_MS))


def step_duration(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    steps = fields(events, {"step": "step"}, {"duration_s": "duration_s"}).drop_nulls(["step", "duration_s"])
    parts = [
        _series(at, window_mean(g["ts"].to_numpy(), g["duration_s"].to_numpy(), at, HOUR_MS), step=step)
        for (step,), g in steps.group_by("step")
    ]
    return pl.concat(parts) if parts else _empty(("step",))


# --- QSE -------------------------------------------------------------------------------------------------------------


def _compliance(events: pl.DataFrame) -> pl.DataFrame:
    return fields(events, {"template": "template"}, {"score": "overall_compliance"}).drop_nulls(["template", "score"])


def _latest_and_baseline(ts: np.ndarray, score: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per instant: the latest assessment of the past 7 days, and the mean of up to the 5 before it within 30 days."""
    order = np.argsort(ts, kind="stable")
    ts, score = ts[order], score[order]
    latest = np.searchsorted(ts, at, "right") - 1
    fresh = (latest >= 0) & (at - ts[np.maximum(latest, 0)] <= BASELINE_MS)
    idx = np.maximum(latest, 0)
    lo = np.maximum(np.searchsorted(ts, ts[idx] - BASELINE_SPAN_MS, "left"), idx - BASELINE_ASSESSMENTS)
    sums = np.concatenate([[0.0], np.cumsum(score)])
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = np.where(fresh & (idx > lo), (sums[idx] - sums[lo]) / np.maximum(idx - lo, 1), np.nan)
    return np.where(fresh, score[idx], np.nan), baseline


def compliance_score(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    parts = []
    for (template,), g in _compliance(events).group_by("template"):
        latest, _ = _latest_and_baseline(g["ts"].to_numpy(), g["score"].to_numpy() * 100, at)
        parts.append(_series(at, latest, template=template))
    return pl.concat(parts) if parts else _empty(("template",))


def compliance_drop(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    parts = []
    for (template,), g in _compliance(events).group_by("template"):
        latest, baseline = _latest_and_baseline(g["ts"].to_numpy(), g["score"].to_numpy() * 100, at)
        parts.append(_series(at, np.maximum(baseline - latest, 0.0), template=template))
    return pl.concat(parts) if parts else _empty(("template",))


# --- QSE sessions ----------------------------------------------------------------------------------------------------

QSE_SESSION_LABELS = ("session_id", "template", "team")


def _open_sessions(events: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """Rows (column ``at``, ``session_id``) of sessions open at ``at``: seen by then and not completed yet."""
    info = qse.sessions(events).select(
        "session_id",
        "template",
        "team",
        pl.col("first_ms").alias("_session_first_ms"),
        pl.col("completed_ms").alias("_session_completed_ms"),
    )
    joined = rows.join(info, on="session_id", how="inner")
    return joined.filter(
        (pl.col("_session_first_ms") <= pl.col("at"))
        & (pl.col("_session_completed_ms").is_null() | (pl.col("at") < pl.col("_session_completed_ms")))
    )


def _session_series(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(pl.col("at").cast(pl.Int64).alias("ts"), *QSE_SESSION_LABELS, pl.col("value").cast(pl.Float64))


def _qse_weights() -> qse.Weights:
    """The configured weights (validated to sum to 1 at start-up), so the alert and the QSE page score alike."""
    settings = get_settings()
    return qse.Weights(settings.qse_cof_weight, settings.qse_ucl_weight)


def compliance_degradation(events: pl.DataFrame, at: np.ndarray, weights: qse.Weights | None = None) -> pl.DataFrame:
    assessed = qse.assessments(events, weights or _qse_weights())
    drops = assessed.sort("ts", "id").select(
        "ts",
        "session_id",
        ((pl.col("overall").shift(1).over("session_id") - pl.col("overall")) * 100)
        .clip(lower_bound=0.0)
        .fill_null(0.0)
        .alias("value"),
    )
    latest = _open_sessions(events, _latest_before(drops, at, "session_id", BASELINE_MS + 1))
    sessions = _session_series(latest).with_columns(pl.lit("session").alias("scope"))
    org = _series(at, organisation_drop(assessed, at), scope="organisation").with_columns(
        pl.lit(None, pl.String).alias(name) for name in QSE_SESSION_LABELS
    )
    columns = ["ts", "scope", *QSE_SESSION_LABELS, "value"]
    return pl.concat([sessions.select(columns), org.select(columns)]).sort("scope", "session_id", "ts")


def phase_overrun(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    started = (
        qse.phases(events)
        .filter(pl.col("planned_hours") > 0)
        .select(
            "session_id",
            pl.coalesce("started_ms", "actual_start_ms").alias("ts"),
            "actual_start_ms",
            "planned_hours",
            "completed_ms",
            "actual_hours",
        )
        .drop_nulls(["ts", "actual_start_ms"])
    )
    latest = _open_sessions(events, _latest_before(started, at, "session_id"))
    done = pl.col("completed_ms").is_not_null() & (pl.col("completed_ms") <= pl.col("at"))
    hours = pl.when(done).then(pl.col("actual_hours")).otherwise((pl.col("at") - pl.col("actual_start_ms")) / HOUR_MS)
    return _session_series(latest.with_columns((hours / pl.col("planned_hours")).round(4).alias("value"))).sort(
        "session_id", "ts"
    )


def gates_failing(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    evaluated = qse.gates(events).select(
        pl.concat_str("session_id", pl.lit("\x00"), pl.col("phase").fill_null(""), pl.lit("\x00"), "gate").alias("key"),
        "session_id",
        "ts",
        (~pl.col("passed")).cast(pl.Float64).alias("failed"),
    )
    latest = (
        _latest_before(evaluated, at, "key").group_by("at", "session_id").agg(pl.col("failed").sum().alias("value"))
    )
    return _session_series(_open_sessions(events, latest)).sort("session_id", "ts")


# --- migration -------------------------------------------------------------------------------------------------------


def _latest_before(frame: pl.DataFrame, at: np.ndarray, by: str, max_age_ms: int | None = None) -> pl.DataFrame:
    """For each (instant, ``by``) the newest row of ``frame`` at or before the instant (and not older than max age)."""
    if frame.is_empty():
        return frame.with_columns(pl.lit(None, pl.Int64).alias("at")).clear()
    instants = pl.DataFrame({"at": at.astype(np.int64)}).join(frame.select(by).unique(), how="cross")
    joined = instants.sort("at").join_asof(
        frame.sort("ts"), left_on="at", right_on="ts", by=by, strategy="backward", check_sortedness=False
    )
    joined = joined.filter(pl.col("ts").is_not_null())
    return joined.filter(pl.col("at") - pl.col("ts") < max_age_ms) if max_age_ms else joined


def migration_success_rate(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    batches = fields(events, numbers={"succeeded": "succeeded", "failed": "failed"}).drop_nulls(["succeeded", "failed"])
    ts = batches["ts"].to_numpy()
    ok = window_mean(ts, batches["succeeded"].to_numpy(), at, HOUR_MS)
    bad = window_mean(ts, batches["failed"].to_numpy(), at, HOUR_MS)  # means share their count: a ratio of sums
    with np.errstate(invalid="ignore", divide="ignore"):
        return _series(at, np.where(ok + bad > 0, ok / (ok + bad) * 100, np.nan))


def schedule_delay(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    read = fields(
        events,
        {"phase": "phase_id", "status": "status", "planned_start": "planned_start", "planned_end": "planned_end"},
        {"progress": "progress"},
    ).filter(pl.col("phase").is_not_null())
    started = (
        read.filter(pl.col("type") == "migration.phase_started")
        .group_by("phase")
        .agg(pl.col("ts").min().alias("started"))
    )
    progress = read.filter(pl.col("progress").is_not_null()).select(
        "ts",
        "phase",
        "status",
        "progress",
        iso_ms(pl.col("planned_start")).alias("planned_start_ms"),
        iso_ms(pl.col("planned_end")).alias("planned_end_ms"),
    )
    latest = _latest_before(progress, at, "phase").join(started, on="phase", how="left")
    delay = (
        latest.filter(
            (pl.col("status") == "in_progress") & (pl.col("progress") > 0) & pl.col("planned_end_ms").is_not_null()
        )
        .with_columns(pl.coalesce("started", "planned_start_ms").alias("began"))
        .filter(pl.col("began").is_not_null() & (pl.col("ts") > pl.col("began")))
        .with_columns(
            (pl.col("began") + (pl.col("ts") - pl.col("began")) * 100 / pl.col("progress").clip(0, 100)).alias("eta")
        )
        .select(
            pl.col("at").alias("ts"),
            "phase",
            ((pl.col("eta") - pl.col("planned_end_ms")) / DAY_MS).clip(lower_bound=0).round(2).alias("value"),
        )
    )
    return delay.cast({"ts": pl.Int64, "phase": pl.String, "value": pl.Float64}).sort("phase", "ts")


MIGRATION_ROLLBACK, MIGRATION_RESOLVED, MIGRATION_BATCH = (
    "migration.rollback",
    "migration.issue_resolved",
    "migration.batch_completed",
)
MIGRATION_TIMED = "migration.operation_timed"


def migration_rollbacks(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    """Rollback events and issues resolved by a rollback, counted over the past hour; the batches it also reads
    only say the migration is running, so an hour without a rollback is a 0 rather than no data."""
    rolled = events.filter(
        (pl.col("type") == MIGRATION_ROLLBACK)
        | (
            (pl.col("type") == MIGRATION_RESOLVED)
            & (pl.col("data").str.json_path_match("$.resolution_type").str.to_lowercase() == "rollback")
        )
    )
    return _series(at, window_count(rolled["ts"].to_numpy(), at, HOUR_MS))


def _slowdowns(old: np.ndarray, new: np.ndarray, windows: Iterable[tuple[int, int, int, int]]) -> np.ndarray:
    """slowdown_percent of each window's old[a:b] and new[c:d] (NaN: too few timings); neighbouring instants
    often see the same timings, so each distinct window is judged once."""
    seen: dict[tuple[int, int, int, int], float] = {}
    out = []
    for window in windows:
        if window not in seen:
            a, b, c, d = window
            value = slowdown_percent(old[a:b], new[c:d])
            seen[window] = np.nan if value is None else value
        out.append(seen[window])
    return np.array(out, dtype=np.float64)


def performance_regression(events: pl.DataFrame, at: np.ndarray) -> pl.DataFrame:
    """Per operation, the past hour's old and new timings compared at each instant (slices of sorted arrays)."""
    timed = fields(
        events.filter(pl.col("type") == MIGRATION_TIMED),
        {"operation": "operation", "system": "system"},
        {"value": "duration_s"},
    ).filter(pl.col("operation").is_not_null() & pl.col("value").is_finite())
    parts = []
    for (operation,), group in timed.group_by("operation"):
        sides = []
        for system in ("old", "new"):
            side = group.filter(pl.col("system").str.to_lowercase() == system).sort("ts")
            ts = side["ts"].to_numpy()
            sides.append((side["value"].to_numpy(), *_in_window(ts, at, HOUR_MS)))
        (old, old_lo, old_hi), (new, new_lo, new_hi) = sides
        values = _slowdowns(old, new, zip(old_lo, old_hi, new_lo, new_hi, strict=True))
        parts.append(_series(at, values, operation=str(operation)))
    return pl.concat(parts) if parts else _empty(("operation",))


RULES: tuple[RecordingRule, ...] = (
    RecordingRule(
        "qms_workflows_completed_per_hour",
        "Workflows completed in the past hour.",
        (COMPLETED,),
        HOUR_MS,
        MINUTE_MS,
        (),
        completed_per_hour,
    ),
    RecordingRule(
        "qms_workflows_failed_per_hour",
        "Workflows failed in the past hour.",
        (FAILED,),
        HOUR_MS,
        MINUTE_MS,
        (),
        failed_per_hour,
    ),
    RecordingRule(
        "qms_workflow_failure_percent",
        "Failed share of the workflows finished in the past hour, in percent.",
        (COMPLETED, FAILED),
        HOUR_MS,
        MINUTE_MS,
        (),
        failure_percent,
    ),
    RecordingRule(
        "qms_workflows_active",
        "Workflows created in the past 7 days and not yet completed or failed.",
        (CREATED, COMPLETED, FAILED),
        7 * DAY_MS,
        5 * MINUTE_MS,
        (),
        active_workflows,
    ),
    RecordingRule(
        "qms_quality_score_percent",
        "Mean quality-gate score of the past hour's gate runs, in percent.",
        GATE_TYPES,
        HOUR_MS,
        MINUTE_MS,
        (),
        quality_score,
    ),
    RecordingRule(
        "qms_step_duration_seconds",
        "Mean work time of each workflow step's completions in the past hour.",
        ("workflow.step_completed",),
        HOUR_MS,
        MINUTE_MS,
        ("step",),
        step_duration,
    ),
    RecordingRule(
        "qse_compliance_score_percent",
        "QSE overall compliance of the template's latest assessment (7 days), in percent.",
        ("qse.compliance_scored",),
        BASELINE_MS,
        15 * MINUTE_MS,
        ("template",),
        compliance_score,
    ),
    RecordingRule(
        "qse_compliance_drop_percent",
        "Points the template's latest assessment is below the mean of its 5 assessments before it.",
        ("qse.compliance_scored",),
        BASELINE_MS + BASELINE_SPAN_MS,
        15 * MINUTE_MS,
        ("template",),
        compliance_drop,
    ),
    RecordingRule(
        "qse_compliance_degradation_percent",
        "Points a QSE session's latest assessment (scope=session) or the organisation's past 7 days "
        "(scope=organisation) are below the assessment before.",
        (qse.SESSION_STARTED, qse.SESSION_COMPLETED, qse.COMPLIANCE),
        SESSION_LOOKBACK_MS,
        15 * MINUTE_MS,
        ("scope", *QSE_SESSION_LABELS),
        compliance_degradation,
    ),
    RecordingRule(
        "qse_phase_overrun_ratio",
        "Hours an open QSE session's latest phase has run over its planned hours.",
        (qse.SESSION_STARTED, qse.SESSION_COMPLETED, qse.PHASE_STARTED, qse.PHASE_COMPLETED),
        SESSION_LOOKBACK_MS,
        15 * MINUTE_MS,
        QSE_SESSION_LABELS,
        phase_overrun,
    ),
    RecordingRule(
        "qse_gates_failing",
        "Gates of an open QSE session whose latest evaluation failed.",
        (qse.SESSION_STARTED, qse.SESSION_COMPLETED, qse.GATE),
        SESSION_LOOKBACK_MS,
        15 * MINUTE_MS,
        QSE_SESSION_LABELS,
        gates_failing,
    ),
    RecordingRule(
        "migration_success_rate_percent",
        "Records that succeeded over records attempted in the past hour's migration batches, in percent.",
        ("migration.batch_completed",),
        HOUR_MS,
        5 * MINUTE_MS,
        (),
        migration_success_rate,
    ),
    RecordingRule(
        "migration_schedule_delay_days",
        "Days an in-progress migration phase will finish after its planned end at its rate so far.",
        ("migration.phase_started", "migration.phase_progress", "migration.phase_completed"),
        60 * DAY_MS,
        15 * MINUTE_MS,
        ("phase",),
        schedule_delay,
    ),
    RecordingRule(
        "migration_rollbacks_per_hour",
        "Migration rollbacks (rollback events and issues resolved by a rollback) in the past hour.",
        (MIGRATION_ROLLBACK, MIGRATION_RESOLVED, MIGRATION_BATCH),
        HOUR_MS,
        5 * MINUTE_MS,
        (),
        migration_rollbacks,
    ),
    RecordingRule(
        "migration_performance_regression_percent",
        "How many percent slower (median) the new system ran an operation than the old in the past hour, "
        "when significant (Mann-Whitney p < 0.05); else 0.",
        (MIGRATION_TIMED,),
        HOUR_MS,
        5 * MINUTE_MS,
        ("operation",),
        performance_regression,
    ),
)


def rule(name: str) -> RecordingRule:
    """The recording rule that writes ``name``."""
    for candidate in RULES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no recording rule writes {name!r}; known: {', '.join(r.name for r in RULES)}")
