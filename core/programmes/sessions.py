"""QSE sessions: which are in a range, their state at its end, and one session's detail with a projection.

A session is *in* a range when it had an event before the range ended and had not completed
before it began; its state (status, current phase, progress, compliance, failing gates) is what
its events said at the range's end, so the same functions answer "now" and "at the end of last
week". The projection is deliberately simple — the hours each phase took against its plan so far,
extended over the phases still to come — so it can be checked by hand; statistical forecasting
lives in core.analytics.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.programmes.compliance import (
    QseRules,
    band_of,
    before,
    criteria,
    evidence_counts,
    recommendations,
    session_compliance,
)
from core.programmes.qse_events import HOUR_MS, QseData

STATUSES = ("in_progress", "completed", "abandoned")
RISKS = ("low", "medium", "high")


def status_at(end_ms: int) -> pl.Expr:
    """A session's status at ``end_ms``: its outcome once its completion event is before then, else in_progress."""
    done = pl.col("completed_ms").is_not_null() & (pl.col("completed_ms") < end_ms)
    return pl.when(done).then(pl.col("outcome")).otherwise(pl.lit("in_progress"))


def in_scope(data: QseData, start_ms: int, end_ms: int, filters: dict[str, str] | None = None) -> list[str]:
    """Ids of the sessions active in [start, end) that match ``filters`` (team, template, status at the end)."""
    frame = data.sessions.filter(
        (pl.col("first_ms") < end_ms) & (pl.col("completed_ms").is_null() | (pl.col("completed_ms") >= start_ms))
    ).with_columns(status_at(end_ms).alias("status"))
    for name, wanted in (filters or {}).items():
        if wanted and name in ("team", "template", "status"):
            frame = frame.filter(pl.col(name) == wanted)
    return frame["session_id"].to_list()


def matching(data: QseData, filters: dict[str, str] | None = None) -> list[str]:
    """Ids of every session whose team and template match ``filters``, whenever it ran."""
    frame = data.sessions
    for name, wanted in (filters or {}).items():
        if wanted and name in ("team", "template"):
            frame = frame.filter(pl.col(name) == wanted)
    return frame["session_id"].to_list()


def failing_gates(data: QseData, end_ms: int) -> pl.DataFrame:
    """Gates whose latest evaluation before ``end_ms`` failed: session_id, phase, gate, score, ts."""
    latest = before(data.gates, end_ms).sort("ts").group_by("session_id", "phase", "gate").agg(pl.all().last())
    return latest.filter(~pl.col("passed")).select("session_id", "phase", "gate", "score", "ts")


def phases_at(data: QseData, end_ms: int) -> pl.DataFrame:
    """Every phase started before ``end_ms``, as it stood then: running (no completion yet) or done.

    Adds hours (actual, or elapsed while running) and ratio = hours ÷ planned hours.
    """
    seen = data.phases.filter(pl.coalesce("actual_start_ms", "completed_ms") < end_ms)
    done = pl.col("completed_ms").is_not_null() & (pl.col("completed_ms") < end_ms)
    elapsed = (end_ms - pl.col("actual_start_ms")) / HOUR_MS
    return seen.with_columns(
        done.alias("done"),
        pl.when(done).then(pl.col("actual_hours")).otherwise(elapsed).alias("hours"),
    ).with_columns(pl.when(pl.col("planned_hours") > 0).then(pl.col("hours") / pl.col("planned_hours")).alias("ratio"))


def session_table(data: QseData, ids: list[str], end_ms: int, rules: QseRules) -> pl.DataFrame:
    """One row per session in ``ids``, newest first: what it is, where it stands, how compliant it is.

    Columns: session, template, team, status, phase (the running one, or ``after <last>``),
    progress (% of its planned phases completed; 100 once completed), compliance (%), band, trend
    (points against its previous assessment), gates_failed, overrun (the running phase's hours ÷
    plan), started (Datetime).
    """
    info = data.sessions.filter(pl.col("session_id").is_in(ids)).with_columns(status_at(end_ms).alias("status"))
    now = phases_at(data, end_ms).filter(pl.col("session_id").is_in(ids))
    per_phase = (
        now.sort("session_id", pl.coalesce("actual_start_ms", "completed_ms"))
        .group_by("session_id")
        .agg(
            pl.col("done").sum().alias("phases_done"),
            pl.len().alias("phases_seen"),
            pl.col("phase").filter(~pl.col("done")).last().alias("running"),
            pl.col("ratio").filter(~pl.col("done")).last().alias("overrun"),
            pl.col("phase").filter(pl.col("done")).last().alias("last_done"),
        )
    )
    compliance = session_compliance(data.assessments.filter(pl.col("session_id").is_in(ids)), rules, end_ms)
    failing = failing_gates(data, end_ms).group_by("session_id").agg(pl.len().alias("gates_failed"))
    planned = pl.max_horizontal(pl.col("planned_phases").list.len().fill_null(0), pl.col("phases_seen").fill_null(0))
    progress = pl.col("phases_done").fill_null(0) / pl.when(planned > 0).then(planned).otherwise(None) * 100
    return (
        info.join(per_phase, on="session_id", how="left")
        .join(compliance, on="session_id", how="left")
        .join(failing, on="session_id", how="left")
        .with_columns(
            pl.when(pl.col("status") != "in_progress")
            .then(pl.lit("—"))
            .otherwise(pl.coalesce("running", pl.format("after {}", pl.col("last_done")), pl.lit("not started")))
            .alias("phase"),
            pl.when(pl.col("status") == "completed").then(100.0).otherwise(progress).round(1).alias("progress"),
            (pl.col("overall") * 100).round(1).alias("compliance"),
            pl.col("band").fill_null("not assessed"),
            pl.col("trend_points").round(1).alias("trend"),
            pl.col("gates_failed").fill_null(0).cast(pl.Int64),
            pl.when(pl.col("status") == "in_progress").then(pl.col("overrun").round(2)).alias("overrun"),
            pl.from_epoch(pl.coalesce("started_ms", "first_ms"), time_unit="ms")
            .dt.replace_time_zone("UTC")
            .alias("started"),
        )
        .select(
            pl.col("session_id").alias("session"),
            "template",
            "team",
            "status",
            "phase",
            "progress",
            "compliance",
            "band",
            "trend",
            "gates_failed",
            "overrun",
            "started",
        )
        .sort("started", "session", descending=True)
    )


@dataclass(frozen=True)
class Prediction:
    """A session's projected completion: work hours so far extended at the rate its phases ran against plan."""

    completion_ms: int | None  # when it will complete (or did)
    planned_hours: float | None  # work hours planned for every phase (phases not started: the template's usual plan)
    predicted_hours: float | None  # work hours it will have taken at its rate so far
    ratio: float | None  # predicted ÷ planned
    risk: str  # low / medium / high, or done
    reasons: tuple[str, ...]


def template_plan(data: QseData) -> pl.DataFrame:
    """The usual planned hours of each template's phases (median over its sessions): template, phase, planned_hours."""
    return (
        data.phases.join(data.sessions.select("session_id", "template"), on="session_id", how="left")
        .filter(pl.col("planned_hours").is_not_null())
        .group_by("template", "phase")
        .agg(pl.col("planned_hours").median())
    )


def predict(data: QseData, session_id: str, end_ms: int, rules: QseRules) -> Prediction:
    """Project one session at ``end_ms``.

    * rate r = (actual hours of completed phases + hours of the running one) ÷ (their planned hours,
      the running one counted up to its plan) — 1 before any work;
    * remaining = the running phase's plan × r − its hours so far (not below 0) + the planned hours of
      phases not started × r; predicted hours = hours so far + remaining, ratio = predicted ÷ planned;
    * completion = end + remaining × (calendar hours since the start ÷ work hours so far), so nights
      and gaps between phases carry on as they did;
    * risk: high when the ratio or the running phase reaches ``delay_multiplier``, a gate is failing
      or compliance is critical; medium from a ratio of 1.2 or a warning band; else low.
    """
    info = data.sessions.filter(pl.col("session_id") == session_id)
    if info.is_empty():
        return Prediction(None, None, None, None, "low", ())
    row = info.row(0, named=True)
    seen = phases_at(data, end_ms).filter(pl.col("session_id") == session_id)
    done, running = seen.filter(pl.col("done")), seen.filter(~pl.col("done"))
    if row["completed_ms"] is not None and row["completed_ms"] < end_ms:
        planned = float(done["planned_hours"].sum()) or None
        actual = float(done["actual_hours"].sum()) or None
        ratio = None if planned is None or actual is None else actual / planned
        return Prediction(row["completed_ms"], planned, actual, ratio, "done", ())
    usual = template_plan(data).filter(pl.col("template") == row["template"]).drop("template")
    todo = pl.DataFrame({"phase": row["planned_phases"] or []}, schema={"phase": pl.String}).filter(
        ~pl.col("phase").is_in(seen["phase"].implode())
    )
    fallback = seen["planned_hours"].mean()  # a phase the template never ran: this session's usual phase
    todo_hours = float(
        todo.join(usual, on="phase", how="left")["planned_hours"].fill_null(fallback or 0.0).sum()  # type: ignore[arg-type]
    )
    a_done, p_done = float(done["actual_hours"].sum()), float(done["planned_hours"].sum())
    e = float(running["hours"].sum())
    p = float(running["planned_hours"].sum())
    credited = p_done + min(e, p)
    rate = (a_done + e) / credited if credited > 0 else 1.0
    remaining = max(p * rate - e, 0.0) + todo_hours * rate
    so_far = a_done + e
    planned_total = p_done + p + todo_hours
    predicted = so_far + remaining
    first = row["started_ms"] if row["started_ms"] is not None else row["first_ms"]
    calendar = (end_ms - first) / HOUR_MS
    factor = max(calendar / so_far, 1.0) if so_far > 0 else 1.0
    completion = int(end_ms + remaining * factor * HOUR_MS)
    ratio = predicted / planned_total if planned_total > 0 else None
    reasons: list[tuple[str, str]] = []
    if ratio is not None and ratio >= rules.delay_multiplier:
        reasons.append(("high", f"projected at {ratio:.2f}× its planned hours"))
    elif ratio is not None and ratio >= 1.2:
        reasons.append(("medium", f"projected at {ratio:.2f}× its planned hours"))
    for phase, phase_ratio in running.select("phase", "ratio").iter_rows():
        if phase_ratio is not None and phase_ratio > rules.delay_multiplier:
            reasons.append(("high", f"{phase} has run {phase_ratio:.2f}× its planned hours"))
    for gate in failing_gates(data, end_ms).filter(pl.col("session_id") == session_id)["gate"].to_list():
        reasons.append(("high", f"gate {gate} failed"))
    latest = session_compliance(data.assessments.filter(pl.col("session_id") == session_id), rules, end_ms)
    if latest.height:
        level = str(latest["band"][0])
        if level in ("critical", "warning"):
            reasons.append(("high" if level == "critical" else "medium", f"compliance in the {level} band"))
    risk = next((level for level in ("high", "medium") if any(r == level for r, _ in reasons)), "low")
    return Prediction(completion, planned_total, predicted, ratio, risk, tuple(text for _, text in reasons))


@dataclass(frozen=True)
class SessionView:
    """Everything the session detail shows."""

    header: dict[str, object]
    gantt: pl.DataFrame
    deliverables: pl.DataFrame
    gates: pl.DataFrame
    criteria: pl.DataFrame
    trend: pl.DataFrame
    evidence: pl.DataFrame
    prediction: Prediction
    recommendations: pl.DataFrame


def _datetime(column: str) -> pl.Expr:
    return pl.from_epoch(column, time_unit="ms").dt.replace_time_zone("UTC")


def gantt(data: QseData, session_id: str, end_ms: int) -> pl.DataFrame:
    """Planned and actual bars per phase: task, kind (planned / actual), start, end (Datetime), hours, status.

    A running phase's actual bar ends at ``end_ms``; a phase without planned times has no planned bar.
    """
    seen = phases_at(data, end_ms).filter(pl.col("session_id") == session_id).with_row_index("order")
    status = pl.when(pl.col("done")).then(pl.lit("done")).otherwise(pl.lit("running"))
    planned = seen.filter(pl.col("planned_start_ms").is_not_null() & pl.col("planned_end_ms").is_not_null()).select(
        "order",
        pl.col("phase").alias("task"),
        pl.lit("planned").alias("kind"),
        _datetime("planned_start_ms").alias("start"),
        _datetime("planned_end_ms").alias("end"),
        pl.col("planned_hours").round(1).alias("hours"),
        pl.lit("plan").alias("status"),
    )
    actual = seen.select(
        "order",
        pl.col("phase").alias("task"),
        pl.lit("actual").alias("kind"),
        _datetime("actual_start_ms").alias("start"),
        pl.when(pl.col("done"))
        .then(_datetime("actual_end_ms"))
        .otherwise(pl.from_epoch(pl.lit(end_ms, pl.Int64), time_unit="ms").dt.replace_time_zone("UTC"))
        .alias("end"),
        pl.col("hours").round(1),
        status.alias("status"),
    )
    return pl.concat([planned, actual]).sort("order", "kind", descending=[False, True]).drop("order")


def session_view(data: QseData, session_id: str, end_ms: int, rules: QseRules) -> SessionView | None:
    """The detail of one session as it stood at ``end_ms``; None when no event names it."""
    if data.sessions.filter(pl.col("session_id") == session_id).is_empty():
        return None
    table = session_table(data, [session_id], end_ms, rules).row(0, named=True)
    mine = pl.col("session_id") == session_id
    deliverables = before(data.deliverables.filter(mine), end_ms).select(
        "phase",
        "deliverable",
        (pl.col("quality_score") * 100).round(1).alias("quality"),
        _datetime("ts").alias("completed"),
    )
    latest = (
        before(data.gates.filter(mine), end_ms)
        .sort("ts")
        .group_by("phase", "gate")
        .agg(pl.all().last(), pl.len().alias("evaluations"))
    )
    gates = latest.sort("ts").select(
        "phase",
        "gate",
        pl.when(pl.col("passed")).then(pl.lit("passed")).otherwise(pl.lit("failed")).alias("result"),
        (pl.col("score") * 100).round(1).alias("score"),
        "evaluations",
        _datetime("ts").alias("evaluated"),
    )
    scores = criteria(data.assessments, rules, end_ms, [session_id])
    counts = evidence_counts(data.evidence, end_ms, [session_id])
    assessed = before(data.assessments.filter(mine), end_ms)
    trend = assessed.unpivot(["overall", "cof_mean", "ucl_mean"], index=["ts"], variable_name="series").select(
        _datetime("ts").alias("ts"),
        pl.col("series").replace_strict({"overall": "overall", "cof_mean": "COF mean", "ucl_mean": "UCL mean"}),
        (pl.col("value") * 100).alias("value"),
    )
    proof = before(data.evidence.filter(mine), end_ms).select(
        "framework",
        "criterion",
        "artefact",
        (pl.col("score") * 100).round(1).alias("score"),
        "phase",
        "recorded_by",
        _datetime("ts").alias("recorded"),
    )
    header: dict[str, object] = dict(table)
    header["title"] = data.sessions.filter(mine)["title"][0]
    header["band"] = band_of(None if table["compliance"] is None else table["compliance"] / 100, rules)
    return SessionView(
        header,
        gantt(data, session_id, end_ms),
        deliverables,
        gates,
        scores.join(counts, on=["framework", "criterion"], how="left"),
        trend,
        proof,
        predict(data, session_id, end_ms, rules),
        recommendations(scores, counts, rules, trend_points=table["trend"]),
    )
