"""Migration health: whether a system migration is on track, from its plan and its ``migration.*`` events.

One call, :func:`migration_view`, answers everything the Migration page, the ``stats`` command and
its HTML report show, so the three cannot disagree: overall health by the explicit rules of
:func:`health` (docs/migration.md, "Health"), progress, the forecast completion, blockers, success
rate, rollbacks, the phase timeline, component health old vs new, issues, and the old-vs-new
performance comparison per operation.

Inputs are frames, never the store: ``state`` — the phase, component and issue events from far
enough back to know each one's latest state (they are sparse); ``activity`` — batches, rollbacks
and operation timings inside the range (they are many); ``timings`` — old/new performance samples
from stored series (:func:`series_timings`); and the optional plan (core.programmes.migration_plan).
Event frames have the columns core.kpis.records.load_events returns (id, type, ts, source, data).

Longer than most modules: every figure of the view, the forecast and the health rules that judge
them sit together, so a rule and the number it reads are read side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import polars as pl

from core.kpis.quality import suite_status
from core.kpis.records import iso_ms, number, text
from core.programmes.migration_pace import interval, settle
from core.programmes.migration_plan import HealthRules, Plan, PlannedMilestone, PlannedPhase, needs_anchor, place
from core.programmes.migration_stats import compare, slowdown_percent

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
STATE_HISTORY_MS = 400 * DAY_MS  # how far back phase/component/issue events are read (older ones are retained less)

PHASE_STARTED = "migration.phase_started"
PHASE_PROGRESS = "migration.phase_progress"
PHASE_COMPLETED = "migration.phase_completed"
COMPONENT = "migration.component_status"
ISSUE_DETECTED = "migration.issue_detected"
ISSUE_RESOLVED = "migration.issue_resolved"
BATCH = "migration.batch_completed"
ROLLBACK = "migration.rollback"
TIMED = "migration.operation_timed"
PHASE_TYPES = (PHASE_STARTED, PHASE_PROGRESS, PHASE_COMPLETED)
STATE_TYPES = (*PHASE_TYPES, COMPONENT, ISSUE_DETECTED, ISSUE_RESOLVED)
ACTIVITY_TYPES = (BATCH, ROLLBACK, TIMED)
LEVELS = ("healthy", "at risk", "critical")
SEVERITIES = ("critical", "error", "warning", "info")


def _of(events: pl.DataFrame, *kinds: str) -> pl.DataFrame:
    return events.filter(pl.col("type").is_in(kinds))


def _upto(events: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    return events.filter(pl.col("ts") <= now_ms)


# --- phases and the schedule -----------------------------------------------------------------------------------------

PHASE_SCHEMA = {
    "order": pl.Int64,
    "id": pl.String,
    "name": pl.String,
    "in_plan": pl.Boolean,
    "status": pl.String,
    "progress": pl.Float64,
    "risk": pl.String,
    "planned_start_ms": pl.Int64,
    "planned_end_ms": pl.Int64,
    "started_ms": pl.Int64,
    "completed_ms": pl.Int64,
    "progress_ms": pl.Int64,
    "depends_on": pl.List(pl.String),
}


def phase_events(state: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """Each phase's latest event at or before ``now_ms``, with when it started and completed.

    A phase completed at its ``actual_end`` when an event carries one, else at its ``phase_completed``
    event or its first progress of 100 %; it started at its ``actual_start``, else at its
    ``phase_started`` event or its first event in progress. A tool that reports every phase's status
    daily (with the actual times) thus gives the right history even for phases that ended before
    the oldest event still stored.
    """
    read = _upto(_of(state, *PHASE_TYPES), now_ms).select(
        "ts",
        "type",
        text("phase_id").alias("id"),
        text("name").alias("name"),
        text("status").alias("status"),
        number("progress").clip(0, 100).alias("progress"),
        text("risk_level").alias("risk"),
        iso_ms(text("planned_start")).alias("planned_start_ms"),
        iso_ms(text("planned_end")).alias("planned_end_ms"),
        iso_ms(text("actual_start")).alias("actual_start_ms"),
        iso_ms(text("actual_end")).alias("actual_end_ms"),
    )
    read = read.filter(pl.col("id").is_not_null()).sort("ts")
    done = (pl.col("type") == PHASE_COMPLETED) | (pl.col("progress") >= 100) | (pl.col("status") == "completed")
    begun = (pl.col("type") == PHASE_STARTED) | (pl.col("status") == "in_progress") | (pl.col("progress") > 0)
    return read.group_by("id", maintain_order=True).agg(
        pl.col("name").drop_nulls().last(),
        pl.col("status").drop_nulls().last(),
        pl.col("progress").drop_nulls().last(),
        pl.col("ts").filter(pl.col("progress").is_not_null()).last().alias("progress_ms"),
        pl.col("risk").drop_nulls().last(),
        pl.col("planned_start_ms").drop_nulls().last(),
        pl.col("planned_end_ms").drop_nulls().last(),
        pl.coalesce(pl.col("actual_start_ms").drop_nulls().first(), pl.col("ts").filter(begun | done).first()).alias(
            "started_ms"
        ),
        pl.coalesce(pl.col("actual_end_ms").filter(done).drop_nulls().first(), pl.col("ts").filter(done).first()).alias(
            "completed_ms"
        ),
        pl.col("ts").first().alias("first_ms"),
    )


def phases(state: pl.DataFrame, planned: list[PlannedPhase] | None, now_ms: int) -> pl.DataFrame:
    """The plan's phases in plan order (then phases only the events name), with their latest state.

    Planned dates come from the plan where it has the phase, else from the events' planned_start/end.
    Status: ``completed`` once completed, else the latest event's (``in_progress``, ``blocked``, …),
    ``not_started`` for a planned phase with no event yet.
    """
    seen = phase_events(state, now_ms)
    plan_rows = pl.DataFrame(
        [(n, p.id, p.name, p.start_ms, p.end_ms, list(p.depends_on), p.risk) for n, p in enumerate(planned or [])],
        schema={
            "order": pl.Int64,
            "id": pl.String,
            "plan_name": pl.String,
            "plan_start_ms": pl.Int64,
            "plan_end_ms": pl.Int64,
            "depends_on": pl.List(pl.String),
            "plan_risk": pl.String,
        },
        orient="row",
    )
    merged = plan_rows.join(seen, on="id", how="full", coalesce=True)
    unplanned_order = pl.col("first_ms").rank("ordinal").cast(pl.Int64) + len(planned or [])
    out = merged.with_columns(
        pl.coalesce("order", unplanned_order).alias("order"),
        pl.col("plan_name").is_not_null().alias("in_plan"),
        pl.coalesce("plan_name", "name", "id").alias("name"),
        pl.when(pl.col("completed_ms").is_not_null())
        .then(pl.lit("completed"))
        .otherwise(pl.coalesce("status", pl.lit("not_started")))
        .alias("status"),
        pl.when(pl.col("completed_ms").is_not_null())
        .then(pl.lit(100.0))
        .otherwise(pl.col("progress").fill_null(0.0))
        .alias("progress"),
        pl.coalesce("risk", "plan_risk", pl.lit("low")).alias("risk"),
        pl.coalesce("plan_start_ms", "planned_start_ms").alias("planned_start_ms"),
        pl.coalesce("plan_end_ms", "planned_end_ms").alias("planned_end_ms"),
        pl.col("depends_on").fill_null(pl.lit([], pl.List(pl.String))),
    )
    return out.select(list(PHASE_SCHEMA)).cast(PHASE_SCHEMA).sort("order")  # type: ignore[arg-type]


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def forecast(table: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """Add forecast_start_ms, forecast_end_ms and delay_days (forecast end − planned end, + = late) to phases.

    * completed: it ended when it completed;
    * in progress (or blocked) with progress > 0: at its rate so far — started + (latest progress time −
      started) × 100 / progress — and not before now (the rule behind ``migration_schedule_delay_days``);
      at 0 %: its planned length from when it started, not before now;
    * not started: at its planned start, not before now nor before every phase it depends on is forecast
      to end, for its planned length. This is where a late phase pushes the phases after it.
    """
    if table.is_empty():
        return table.with_columns(
            pl.lit(None, pl.Int64).alias("forecast_start_ms"),
            pl.lit(None, pl.Int64).alias("forecast_end_ms"),
            pl.lit(None, pl.Float64).alias("delay_days"),
        )
    length = (pl.col("planned_end_ms") - pl.col("planned_start_ms")).clip(lower_bound=0)
    began = pl.coalesce("started_ms", "planned_start_ms")
    rate_eta = began + (pl.col("progress_ms") - began) * 100 / pl.col("progress")
    running = pl.col("status") != "not_started"
    table = table.with_columns(
        pl.when(pl.col("status") == "completed")
        .then(began)
        .when(running)
        .then(began)
        .otherwise(None)
        .alias("forecast_start_ms"),
        pl.when(pl.col("status") == "completed")
        .then(pl.col("completed_ms"))
        .when(running & (pl.col("progress") > 0) & (pl.col("progress_ms") > began))
        .then(pl.max_horizontal(rate_eta, pl.lit(now_ms)))
        .when(running)
        .then(pl.max_horizontal(began + length, pl.lit(now_ms)))
        .otherwise(None)
        .cast(pl.Int64)
        .alias("forecast_end_ms"),
    )
    # not-started phases wait for their dependencies: walk them in dependency order (a handful of phases)
    rows = {row["id"]: row for row in table.iter_rows(named=True)}
    starts, ends = settle(
        rows, dict(zip(table["id"].to_list(), table["forecast_end_ms"].to_list(), strict=True)), now_ms
    )
    settled = pl.DataFrame(
        [(pid, _int(starts.get(pid)), _int(ends[pid])) for pid in rows],
        schema={"id": pl.String, "settled_start": pl.Int64, "settled_end": pl.Int64},
        orient="row",
    )
    return (
        table.join(settled, on="id", how="left")
        .with_columns(
            pl.coalesce("forecast_start_ms", "settled_start").alias("forecast_start_ms"),
            pl.col("settled_end").alias("forecast_end_ms"),
        )
        .drop("settled_start", "settled_end")
        .with_columns(((pl.col("forecast_end_ms") - pl.col("planned_end_ms")) / DAY_MS).round(2).alias("delay_days"))
    )


def progress_readings(state: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """id, ts, progress of every phase event at or before ``now_ms`` that reports a progress (the pace's evidence)."""
    return (
        _upto(_of(state, *PHASE_TYPES), now_ms)
        .select(text("phase_id").alias("id"), "ts", number("progress").clip(0, 100).alias("progress"))
        .filter(pl.col("id").is_not_null() & pl.col("progress").is_not_null())
    )


def weighted_progress(table: pl.DataFrame) -> float | None:
    """Overall progress in percent: each phase's progress weighted by its planned length (1 day when unknown)."""
    if table.is_empty():
        return None
    weight = ((pl.col("planned_end_ms") - pl.col("planned_start_ms")) / DAY_MS).fill_null(1.0).clip(lower_bound=1.0)
    value = table.select((pl.col("progress") * weight).sum() / weight.sum()).item()
    return None if value is None else round(float(value), 1)


def milestones(planned: list[PlannedMilestone], table: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """Each milestone's status: completed (its phase completed by the due time), completed late, missed
    (due, phase not completed), pending; a milestone with no phase is passed once due."""
    done = dict(zip(table["id"].to_list(), table["completed_ms"].to_list(), strict=True)) if table.height else {}
    rows = []
    for m in planned:
        completed = done.get(m.phase) if m.phase else None
        if m.phase is None:
            status = "passed" if now_ms >= m.due_ms else "pending"
        elif completed is not None:
            status = "completed" if completed <= m.due_ms else "completed late"
        else:
            status = "missed" if now_ms > m.due_ms else "pending"
        rows.append((m.name, m.phase, m.due_ms, completed, status))
    return pl.DataFrame(
        rows,
        schema={
            "name": pl.String,
            "phase": pl.String,
            "due_ms": pl.Int64,
            "completed_ms": pl.Int64,
            "status": pl.String,
        },
        orient="row",
    )


# --- components, issues, batches, rollbacks --------------------------------------------------------------------------


def components(state: pl.DataFrame, plan: Plan | None, now_ms: int) -> pl.DataFrame:
    """Each component's latest ``migration.component_status`` (plan components first, in plan order)."""
    latest = (
        _upto(_of(state, COMPONENT), now_ms)
        .sort("ts")
        .select(
            "ts",
            text("component").alias("id"),
            text("old_version").alias("old_version"),
            text("new_version").alias("new_version"),
            number("migration_progress").clip(0, 100).alias("migration_pct"),
            text("old_health").alias("old_health"),
            text("new_health").alias("new_health"),
            number("tests_passed").alias("tests_passed"),
            number("tests_total").alias("tests_total"),
            number("perf_delta_percent").alias("perf_delta_pct"),
            number("error_rate").alias("error_rate"),
            number("response_time_p95_s").alias("p95_s"),
        )
        .filter(pl.col("id").is_not_null())
        .group_by("id")
        .last()
    )
    planned = pl.DataFrame(
        [(n, c.id, c.name or c.id, c.tests_total) for n, c in enumerate(plan.components if plan else [])],
        schema={"order": pl.Int64, "id": pl.String, "name": pl.String, "plan_tests": pl.Float64},
        orient="row",
    )
    merged = planned.join(latest, on="id", how="full", coalesce=True)
    return (
        merged.with_columns(
            pl.coalesce("order", pl.lit(10_000)).alias("order"),
            pl.coalesce("name", "id").alias("name"),
            pl.coalesce("tests_total", "plan_tests").alias("tests_total"),
            pl.col("ts").alias("updated_ms"),
        )
        .drop("plan_tests", "ts")
        .sort("order", "id")
    )


ISSUE_SCHEMA = {
    "issue_id": pl.String,
    "severity": pl.String,
    "component": pl.String,
    "title": pl.String,
    "detected_ms": pl.Int64,
    "resolved_ms": pl.Int64,
    "resolution": pl.String,
    "affected_datasets": pl.Float64,
    "affected_users": pl.Float64,
    "downtime_min": pl.Float64,
    "impact": pl.String,
}


def issues(state: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """One row per issue: severity, component, title, when detected and resolved (as of ``now_ms``), impact."""
    read = (
        _upto(_of(state, ISSUE_DETECTED, ISSUE_RESOLVED), now_ms)
        .sort("ts")
        .select(
            "ts",
            "type",
            text("issue_id").alias("issue_id"),
            text("severity").str.to_lowercase().alias("severity"),
            text("component").alias("component"),
            text("title").alias("title"),
            text("resolution_type").alias("resolution"),
            number("affected_datasets").alias("affected_datasets"),
            number("affected_users").alias("affected_users"),
            number("estimated_downtime_min").alias("downtime_min"),
            text("impact").alias("impact"),
        )
        .filter(pl.col("issue_id").is_not_null())
    )
    detected = pl.col("type") == ISSUE_DETECTED
    resolved = pl.col("type") == ISSUE_RESOLVED
    out = read.group_by("issue_id", maintain_order=True).agg(
        pl.col("severity").drop_nulls().first(),
        pl.col("component").drop_nulls().first(),
        pl.col("title").drop_nulls().first(),
        pl.coalesce(pl.col("ts").filter(detected).first(), pl.col("ts").first()).alias("detected_ms"),
        pl.col("ts").filter(resolved).last().alias("resolved_ms"),
        pl.col("resolution").drop_nulls().last(),
        pl.col("affected_datasets").drop_nulls().last(),
        pl.col("affected_users").drop_nulls().last(),
        pl.col("downtime_min").drop_nulls().last(),
        pl.col("impact").drop_nulls().last(),
    )
    return out.select(list(ISSUE_SCHEMA)).cast(ISSUE_SCHEMA)  # type: ignore[arg-type]


def issue_table(table: pl.DataFrame, start_ms: int, now_ms: int) -> pl.DataFrame:
    """Open issues and those resolved in the range, most severe and oldest first: age in hours, impact text."""
    rank = {s: n for n, s in enumerate(SEVERITIES)}
    impact = pl.concat_str(
        [
            pl.when(pl.col("affected_datasets") > 0).then(
                pl.format("{} datasets", pl.col("affected_datasets").cast(pl.Int64))
            ),
            pl.when(pl.col("affected_users") > 0).then(pl.format("{} users", pl.col("affected_users").cast(pl.Int64))),
            pl.when(pl.col("downtime_min") > 0).then(
                pl.format("{} min down", pl.col("downtime_min").round(0).cast(pl.Int64))
            ),
            pl.col("impact"),
        ],
        separator=" · ",
        ignore_nulls=True,
    )
    is_open = pl.col("resolved_ms").is_null()
    return (
        table.filter(is_open | (pl.col("resolved_ms") >= start_ms))
        .with_columns(
            pl.when(is_open)
            .then(pl.lit("open"))
            .otherwise(pl.format("resolved ({})", pl.col("resolution")))
            .fill_null("resolved")
            .alias("state"),
            ((pl.coalesce("resolved_ms", pl.lit(now_ms)) - pl.col("detected_ms")) / HOUR_MS).round(1).alias("age_h"),
            pl.when(impact == "").then(pl.lit("—")).otherwise(impact).alias("impact"),
            pl.col("severity").replace_strict(rank, default=len(rank), return_dtype=pl.Int64).alias("rank"),
        )
        .sort(is_open.not_(), "rank", "detected_ms")
        .select("issue_id", "severity", "state", "component", "title", "detected_ms", "age_h", "impact")
    )


def issue_counts(table: pl.DataFrame, by: str) -> pl.DataFrame:
    """Open issues counted by ``by`` (severity or component) and severity: columns ``by``, severity, count."""
    open_ = table.filter(pl.col("resolved_ms").is_null())
    keys = [by] if by == "severity" else [by, "severity"]
    return open_.with_columns(pl.col(by).fill_null("unknown")).group_by(keys).agg(pl.len().alias("count")).sort(keys)


def batches(activity: pl.DataFrame, start_ms: int, end_ms: int) -> dict[str, float | int | None]:
    """Records migrated in the range: batches, records, succeeded, failed, success rate %, datasets touched."""
    read = activity.filter((pl.col("type") == BATCH) & pl.col("ts").is_between(start_ms, end_ms, closed="left"))
    read = read.select(
        number("succeeded").alias("ok"), number("failed").alias("bad"), text("dataset").alias("dataset")
    ).drop_nulls(["ok", "bad"])
    ok, bad = float(read["ok"].sum()), float(read["bad"].sum())
    return {
        "batches": read.height,
        "records": int(ok + bad),
        "succeeded": int(ok),
        "failed": int(bad),
        "success_rate_pct": round(ok / (ok + bad) * 100, 2) if ok + bad > 0 else None,
        "datasets": read["dataset"].drop_nulls().n_unique(),
    }


def rollbacks(activity: pl.DataFrame, state: pl.DataFrame, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Rollbacks in the range: ``migration.rollback`` events and issues resolved by a rollback.

    Columns ts, what (batch or issue id), component (or dataset), reason.
    """
    direct = activity.filter(pl.col("type") == ROLLBACK).select(
        "ts",
        pl.coalesce(text("batch_id"), text("phase_id"), pl.col("id")).alias("what"),
        pl.coalesce(text("component"), text("dataset")).alias("component"),
        text("reason").alias("reason"),
    )
    by_issue = state.filter(
        (pl.col("type") == ISSUE_RESOLVED) & (text("resolution_type").str.to_lowercase() == "rollback")
    ).select(
        "ts",
        text("issue_id").alias("what"),
        text("component").alias("component"),
        pl.format("issue: {}", text("title")).alias("reason"),
    )
    both = pl.concat([direct, by_issue]).cast(
        {"ts": pl.Int64, "what": pl.String, "component": pl.String, "reason": pl.String}
    )
    return both.filter(pl.col("ts").is_between(start_ms, end_ms, closed="left")).unique(maintain_order=True).sort("ts")


# --- performance -----------------------------------------------------------------------------------------------------

TIMING_SCHEMA = {"operation": pl.String, "system": pl.String, "value": pl.Float64, "source": pl.String}


def event_timings(activity: pl.DataFrame, start_ms: int, end_ms: int) -> pl.DataFrame:
    """``migration.operation_timed`` events in the range as (operation, system, value seconds, source "events")."""
    return (
        activity.filter((pl.col("type") == TIMED) & pl.col("ts").is_between(start_ms, end_ms, closed="left"))
        .select(
            text("operation").alias("operation"),
            text("system").str.to_lowercase().alias("system"),
            number("duration_s").alias("value"),
            pl.lit("events").alias("source"),
        )
        .filter(pl.col("system").is_in(["old", "new"]) & pl.col("operation").is_not_null())
        .cast(TIMING_SCHEMA)  # type: ignore[arg-type]
    )


def series_timings(frame: pl.DataFrame) -> pl.DataFrame:
    """Stored series tagged ``system=old|new`` as (operation, system, value, source "series").

    ``frame`` has columns name, labels (JSON) and value (one row per bucket); the operation is the
    series' ``operation`` label, else its metric name in words (``migration_response_time_seconds`` →
    "response time").
    """
    if frame.is_empty():
        return pl.DataFrame(schema=TIMING_SCHEMA)
    labels = pl.col("labels")
    return (
        frame.select(
            pl.coalesce(labels.str.json_path_match("$.operation"), _metric_operation(pl.col("name"))).alias(
                "operation"
            ),
            labels.str.json_path_match("$.system").str.to_lowercase().alias("system"),
            pl.col("value").cast(pl.Float64),
            pl.lit("series").alias("source"),
        )
        .filter(pl.col("system").is_in(["old", "new"]) & pl.col("value").is_finite())
        .cast(TIMING_SCHEMA)  # type: ignore[arg-type]
    )


def _metric_operation(name: pl.Expr) -> pl.Expr:
    return name.str.strip_prefix("migration_").str.strip_suffix("_seconds").str.replace_all("_", " ")


PERF_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "operation": pl.String,
    "source": pl.String,
    "old_n": pl.Int64,
    "new_n": pl.Int64,
    **{f"{side}_{stat}": pl.Float64 for side in ("old", "new") for stat in ("p50", "p95", "p99", "mean", "std")},
    **{f"delta_{stat}_pct": pl.Float64 for stat in ("p50", "p95", "p99", "mean", "std")},
    "p_value": pl.Float64,
    "regression": pl.Boolean,
    "verdict": pl.String,
}


def performance(timings: pl.DataFrame, rules: HealthRules) -> pl.DataFrame:
    """Per operation (and source): old vs new p50/p95/p99/mean/std, Δ % of each, sample sizes, p and the flag.

    Δ % = (new − old) / old × 100: timings, so positive is slower. Regression: the median more than
    ``rules.regression_percent`` slower and Mann–Whitney p below ``rules.significance``.
    """
    rows = []
    for (operation, source), group in timings.group_by("operation", "source", maintain_order=True):
        old = group.filter(pl.col("system") == "old")["value"].to_numpy()
        new = group.filter(pl.col("system") == "new")["value"].to_numpy()
        c = compare(old, new, regression_percent=rules.regression_percent, alpha=rules.significance)
        stats = ("p50", "p95", "p99", "mean", "std")
        row: dict[str, object] = {"operation": operation, "source": source, "old_n": c.old.n, "new_n": c.new.n}
        for side, d in (("old", c.old), ("new", c.new)):
            row |= {f"{side}_{s}": getattr(d, s) for s in stats}
        for s in stats:
            o, n = getattr(c.old, s), getattr(c.new, s)
            row[f"delta_{s}_pct"] = None if o in (None, 0) or n is None else round((n - o) / abs(o) * 100, 1)
        row |= {"p_value": c.p_value, "regression": c.regression, "verdict": c.verdict}
        rows.append(row)
    return pl.DataFrame(rows, schema=PERF_SCHEMA).sort("regression", "operation", descending=[True, False])


def regression_percent(timings: pl.DataFrame, rules: HealthRules | None = None) -> dict[str, float]:
    """Per operation, how many percent slower (median) the new system is when that is significant; else 0.

    Operations with too few timings on either side are left out; what the recording rule
    ``migration_performance_regression_percent`` writes for the same timings.
    """
    rules = rules or HealthRules()
    out = {}
    for (operation,), group in timings.group_by("operation"):
        old = group.filter(pl.col("system") == "old")["value"].to_numpy()
        new = group.filter(pl.col("system") == "new")["value"].to_numpy()
        value = slowdown_percent(old, new, regression_percent=rules.regression_percent, alpha=rules.significance)
        if value is not None:
            out[str(operation)] = value
    return out


SUITE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "suite": pl.String,
    "pass_pct": pl.Float64,
    "failed": pl.Int64,
    "skipped": pl.Int64,
    "tests": pl.Int64,
    "time_s": pl.Float64,
    "trend": pl.List(pl.Float64),
    "status": pl.String,
    "last_ms": pl.Int64,
    "runs": pl.Int64,
}


def suite_grid(runs: pl.DataFrame, trend_runs: int = 10) -> pl.DataFrame:
    """Per test suite, from its newest run: pass % (passed ÷ executed), failed, time, the pass % of its last runs.

    ``runs`` are stored JUnit runs (suite, ts, tests, failures, errors, skipped, duration_s); status uses
    the QA page's bands, so a suite reads the same on both pages.
    """
    if runs.is_empty():
        return pl.DataFrame(schema=SUITE_SCHEMA)
    executed = pl.col("tests") - pl.col("skipped")
    failed = pl.col("failures") + pl.col("errors")
    scored = runs.sort("ts").with_columns(
        pl.when(executed > 0).then(((executed - failed) / executed * 100).round(1)).alias("pass_pct"),
        failed.alias("failed"),
    )
    grid = scored.group_by("suite").agg(
        pl.col("pass_pct").last(),
        pl.col("failed").last(),
        pl.col("skipped").last(),
        pl.col("tests").last(),
        pl.col("duration_s").last().round(1).alias("time_s"),
        pl.col("pass_pct").tail(trend_runs).alias("trend"),
        pl.col("ts").last().alias("last_ms"),
        pl.len().alias("runs"),
    )
    status = suite_status(pl.col("pass_pct"))
    return grid.with_columns(status.alias("status")).select(list(SUITE_SCHEMA)).cast(SUITE_SCHEMA).sort("suite")  # type: ignore[arg-type]


# --- health ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One health rule that tripped: its level, the rule's name, what was seen, what to do."""

    level: str  # at risk | critical
    rule: str
    message: str
    action: str


def health(
    *,
    success_rate_pct: float | None,
    slip_days: float | None,
    phases_table: pl.DataFrame,
    issues_table: pl.DataFrame,
    rollback_count: int,
    performance_table: pl.DataFrame,
    components_table: pl.DataFrame,
    milestones_table: pl.DataFrame,
    rules: HealthRules,
) -> tuple[str, list[Finding]]:
    """Overall health and the findings behind it; the worst finding decides (docs/migration.md, "Health").

    critical — success rate below ``success_critical_below``; the forecast completion more than
    ``programme_late_critical_days`` after the planned end; an open critical issue or a blocked phase
    (blockers); ``rollbacks_critical`` rollbacks or more.
    at risk — success rate below ``success_at_risk_below``; the forecast completion after the planned
    end, or a phase not yet completed forecast more than ``phase_late_days`` past its planned end; an
    open error issue; a rollback; an operation flagged as a performance regression; a component whose
    new version is failing; a missed milestone.
    healthy — none of these.
    """
    found: list[Finding] = []
    r = rules
    if success_rate_pct is not None:
        if success_rate_pct < r.success_critical_below:
            found.append(
                Finding(
                    "critical",
                    "success rate",
                    f"success rate {success_rate_pct:.1f} % (< {r.success_critical_below:g} %)",
                    "Stop new batches and find why records fail verification.",
                )
            )
        elif success_rate_pct < r.success_at_risk_below:
            found.append(
                Finding(
                    "at risk",
                    "success rate",
                    f"success rate {success_rate_pct:.1f} % (< {r.success_at_risk_below:g} %)",
                    "Look at the failing batches' datasets.",
                )
            )
    if slip_days is not None and slip_days > r.programme_late_critical_days:
        found.append(
            Finding(
                "critical",
                "schedule",
                f"forecast completion {slip_days:.1f} days after the planned end "
                f"(> {r.programme_late_critical_days:g})",
                "Re-plan: the end date cannot hold.",
            )
        )
    elif slip_days is not None and slip_days > 0:
        found.append(
            Finding(
                "at risk",
                "schedule",
                f"forecast completion {slip_days:.1f} days after the planned end",
                "Add capacity to the late phases or move the end date.",
            )
        )
    late = phases_table.filter((pl.col("status") != "completed") & (pl.col("delay_days") > r.phase_late_days)).sort(
        "delay_days", descending=True
    )
    for name, days in late.select("name", "delay_days").iter_rows():
        found.append(
            Finding(
                "at risk",
                "phase late",
                f"{name} forecast {days:.1f} days past its planned end (> {r.phase_late_days:g})",
                f"Unblock or add people to {name}.",
            )
        )
    blocked = phases_table.filter(pl.col("status") == "blocked")["name"].to_list()
    open_ = issues_table.filter(pl.col("resolved_ms").is_null())
    critical_issues = open_.filter(pl.col("severity") == "critical")
    if blocked or critical_issues.height:
        what = [f"phase {b} blocked" for b in blocked] + [
            f"{t or i} ({c or 'no component'})"
            for i, t, c in critical_issues.select("issue_id", "title", "component").iter_rows()
        ]
        found.append(
            Finding(
                "critical",
                "blockers",
                f"{len(what)} blocker(s): " + "; ".join(what[:3]) + (" …" if len(what) > 3 else ""),
                "Resolve the critical issues before the next batch.",
            )
        )
    errors = open_.filter(pl.col("severity") == "error").height
    if errors:
        found.append(Finding("at risk", "issues", f"{errors} open error issue(s)", "Triage the open error issues."))
    if rollback_count >= r.rollbacks_critical:
        found.append(
            Finding(
                "critical",
                "rollbacks",
                f"{rollback_count} rollbacks in the range (≥ {r.rollbacks_critical})",
                "Pause and find what keeps failing.",
            )
        )
    elif rollback_count >= r.rollbacks_at_risk:
        found.append(
            Finding("at risk", "rollbacks", f"{rollback_count} rollback(s) in the range", "Check what was rolled back.")
        )
    regressed = performance_table.filter(pl.col("regression"))
    for operation, change in regressed.select("operation", "delta_p50_pct").iter_rows():
        found.append(
            Finding(
                "at risk",
                "performance",
                f"{operation}: new system {change:+.1f} % (median), significant",
                f"Profile {operation} on the new system.",
            )
        )
    if "new_health" in components_table.columns:
        for name in components_table.filter(pl.col("new_health") == "failing")["name"].to_list():
            found.append(
                Finding("at risk", "components", f"{name}: new version failing", f"Check {name}'s new version.")
            )
    for name in milestones_table.filter(pl.col("status") == "missed")["name"].to_list():
        found.append(Finding("at risk", "milestones", f"milestone missed: {name}", "Agree a new date for it."))
    found.sort(key=lambda f: -LEVELS.index(f.level))
    level = max((f.level for f in found), key=LEVELS.index, default="healthy")
    return level, found


# --- the view --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigrationView:
    """Everything the page, the stats command and the report show, as of ``now_ms`` over ``[start_ms, now_ms)``."""

    name: str
    start_ms: int
    now_ms: int
    plan_file: str | None
    health: str
    findings: list[Finding]
    progress_pct: float | None
    week: int | None
    weeks_total: int | None
    programme_start_ms: int | None
    planned_end_ms: int | None
    eta_ms: int | None
    slip_days: float | None
    batches: dict[str, float | int | None]
    rollbacks: pl.DataFrame
    blockers: pl.DataFrame
    phases: pl.DataFrame
    milestones: pl.DataFrame
    components: pl.DataFrame
    issues: pl.DataFrame
    performance: pl.DataFrame
    perf_delta_pct: float | None
    datasets_total: int | None
    components_done: int
    components_total: int
    has_data: bool
    notes: list[str] = field(default_factory=list)
    suites: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SUITE_SCHEMA))
    eta_low_ms: int | None = None  # the 80 % interval of eta_ms (Schedule)
    eta_high_ms: int | None = None
    eta_interval: str = ""

    def with_suites(self, suites: pl.DataFrame) -> MigrationView:
        """The same view with the test-suite grid (read separately: test runs are not events)."""
        return replace(self, suites=suites, has_data=self.has_data or not suites.is_empty())

    @property
    def regressions(self) -> int:
        """Operations flagged as performance regressions."""
        return int(self.performance["regression"].sum()) if self.performance.height else 0

    def summary(self) -> dict[str, object]:
        """The headline figures as plain JSON-ready data (``stats summary --json``)."""

        def iso(ms: int | None) -> str | None:
            from datetime import UTC, datetime

            return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        return {
            "name": self.name,
            "range": {"start": iso(self.start_ms), "end": iso(self.now_ms)},
            "plan": self.plan_file,
            "health": self.health,
            "findings": [f.__dict__ for f in self.findings],
            "progress_percent": self.progress_pct,
            "week": self.week,
            "weeks_total": self.weeks_total,
            "planned_end": iso(self.planned_end_ms),
            "estimated_completion": iso(self.eta_ms),
            "estimated_completion_low": iso(self.eta_low_ms),
            "estimated_completion_high": iso(self.eta_high_ms),
            "estimated_completion_interval": self.eta_interval,
            "slip_days": self.slip_days,
            "success_rate_percent": self.batches["success_rate_pct"],
            "batches": self.batches["batches"],
            "records": self.batches["records"],
            "records_failed": self.batches["failed"],
            "datasets_touched": self.batches["datasets"],
            "datasets_total": self.datasets_total,
            "components_done": self.components_done,
            "components_total": self.components_total,
            "rollbacks": self.rollbacks.height,
            "blockers": self.blockers.height,
            "open_issues": {
                s: int(self.issues.filter((pl.col("state") == "open") & (pl.col("severity") == s)).height)
                for s in SEVERITIES
            },
            "performance_delta_percent": self.perf_delta_pct,
            "regressions": self.regressions,
            "phases": [
                {
                    "id": r["id"],
                    "name": r["name"],
                    "status": r["status"],
                    "progress_percent": r["progress"],
                    "delay_days": r["delay_days"],
                }
                for r in self.phases.iter_rows(named=True)
            ],
            "performance": json.loads(self.performance.write_json()),
            "test_suites": json.loads(self.suites.drop("trend").write_json()),
        }


def anchor(state: pl.DataFrame, plan: Plan, now_ms: int) -> int:
    """Where a plan in weeks starts when it names no date (a UTC midnight).

    Each phase the events know with a ``planned_start`` and the plan places in weeks says where week 0
    is (planned start − start week); the earliest of those wins. Without such a phase: the first
    migration event's day, else today.
    """
    weeks = pl.DataFrame(
        [(p.id, p.start_week) for p in plan.phases if p.start_week is not None],
        schema={"id": pl.String, "start_week": pl.Float64},
        orient="row",
    )
    starts = (
        _of(state, *PHASE_TYPES)
        .select(text("phase_id").alias("id"), iso_ms(text("planned_start")).alias("planned_start_ms"))
        .drop_nulls()
        .join(weeks, on="id")
        .select((pl.col("planned_start_ms") - pl.col("start_week") * WEEK_MS).min())
        .item()
    )
    if starts is None and state.height:
        starts = state["ts"].min()
    start = int(starts) if starts is not None else now_ms
    return start - start % DAY_MS


@dataclass(frozen=True)
class Schedule:
    """Where the programme stands against its plan as of ``now_ms``: the one answer to "when will it be done?".

    The Migration page, the ``stats`` command, the read API and the Capacity page's migration ETAs all read
    :func:`schedule`, so the estimated completion and its 80 % interval are the same wherever they are shown.
    """

    now_ms: int
    phases: pl.DataFrame  # :func:`phases` + :func:`forecast` columns
    milestones: pl.DataFrame
    progress_pct: float | None
    programme_start_ms: int | None  # the earliest planned start
    planned_end_ms: int | None  # the latest planned end
    eta_ms: int | None  # the estimated completion: the latest forecast end
    slip_days: float | None  # eta − planned end, in days (+ = late)
    week: int | None
    weeks_total: int | None
    notes: list[str] = field(default_factory=list)
    eta_low_ms: int | None = None  # the 80 % interval of eta_ms (core.programmes.migration_pace)
    eta_high_ms: int | None = None  # None with eta_low_ms set: no upper bound
    eta_interval: str = ""  # what the interval rests on, or why there is none

    @property
    def done(self) -> bool:
        """Every phase completed."""
        return bool(self.phases.height) and bool((self.phases["status"] == "completed").all())


def schedule(state: pl.DataFrame, plan: Plan | None, now_ms: int) -> Schedule:
    """The phases with their forecast, milestones, progress and the estimated completion as of ``now_ms``.

    ``state`` holds the phase events (other types are ignored); ``plan`` places the phases (weeks anchored
    on the events when it names no start). Estimated completion = the latest phase forecast end
    (:func:`forecast`); slip = that minus the latest planned end; week *n* of *N* counted from the
    earliest planned start. The 80 % interval of the completion and of each phase's end (``forecast_low_ms``,
    ``forecast_high_ms``) comes from how steady each running phase's daily progress has been
    (core.programmes.migration_pace.interval).
    """
    planned_phases: list[PlannedPhase] | None = None
    planned_milestones: list[PlannedMilestone] = []
    notes: list[str] = []
    if plan is not None:
        origin = anchor(state, plan, now_ms) if needs_anchor(plan) else 0
        planned_phases, planned_milestones = place(plan, origin)
        if needs_anchor(plan) and not _of(state, *PHASE_TYPES).height:
            notes.append(
                "The plan counts weeks from a start it does not name and no phase event places it: week 0 is the "
                "day of the first migration event (or today)."
            )
    table = forecast(phases(state, planned_phases, now_ms), now_ms)
    spread = interval(table, progress_readings(state, now_ms), now_ms)
    table = table.join(spread.phases, on="id", how="left")
    marks = milestones(planned_milestones, table, now_ms)

    def ms(value: object) -> int | None:
        return None if value is None else int(value)  # type: ignore[call-overload]

    planned_end = ms(table["planned_end_ms"].max()) if table.height else None
    first_start = ms(table["planned_start_ms"].min()) if table.height else None
    eta = ms(table["forecast_end_ms"].max()) if table.height else None
    slip = None if eta is None or planned_end is None else round((eta - planned_end) / DAY_MS, 1)
    week = weeks_total = None
    if first_start is not None and planned_end is not None:
        week = max(1, (now_ms - first_start) // WEEK_MS + 1)
        weeks_total = -(-(planned_end - first_start) // WEEK_MS)
    return Schedule(
        now_ms=now_ms,
        phases=table,
        milestones=marks,
        progress_pct=weighted_progress(table),
        programme_start_ms=first_start,
        planned_end_ms=planned_end,
        eta_ms=eta,
        slip_days=slip,
        week=week,
        weeks_total=weeks_total,
        notes=notes,
        eta_low_ms=spread.low_ms,
        eta_high_ms=spread.high_ms,
        eta_interval=spread.note,
    )


def migration_view(
    state: pl.DataFrame,
    activity: pl.DataFrame,
    timings: pl.DataFrame,
    plan: Plan | None,
    *,
    start_ms: int,
    now_ms: int,
    plan_file: str | None = None,
) -> MigrationView:
    """The migration as of ``now_ms``: states from ``state``, rates over ``[start_ms, now_ms)`` from ``activity``,
    the old/new comparison from ``timings`` (event timings are added from ``activity``)."""
    rules = plan.health if plan else HealthRules()
    sched = schedule(state, plan, now_ms)
    table, marks, slip = sched.phases, sched.milestones, sched.slip_days
    comps = components(state, plan, now_ms)
    all_issues = issues(state, now_ms)
    listed = issue_table(all_issues, start_ms, now_ms)
    backs = rollbacks(activity, state, start_ms, now_ms)
    moved = batches(activity, start_ms, now_ms)
    perf = performance(pl.concat([event_timings(activity, start_ms, now_ms), timings.cast(TIMING_SCHEMA)]), rules)  # type: ignore[arg-type]
    deltas = perf["delta_p50_pct"].drop_nulls()
    perf_delta = round(float(deltas.mean()), 1) if deltas.len() else None  # type: ignore[arg-type]
    level, found = health(
        success_rate_pct=moved["success_rate_pct"],  # type: ignore[arg-type]
        slip_days=slip,
        phases_table=table,
        issues_table=all_issues,
        rollback_count=backs.height,
        performance_table=perf,
        components_table=comps,
        milestones_table=marks,
        rules=rules,
    )
    blockers = pl.concat(
        [
            table.filter(pl.col("status") == "blocked").select(
                pl.lit("phase").alias("kind"),
                pl.col("id").alias("what"),
                pl.col("name").alias("title"),
                pl.lit(None, pl.String).alias("component"),
                pl.col("progress_ms").alias("since_ms"),
            ),
            all_issues.filter(pl.col("resolved_ms").is_null() & (pl.col("severity") == "critical")).select(
                pl.lit("critical issue").alias("kind"),
                pl.col("issue_id").alias("what"),
                "title",
                "component",
                pl.col("detected_ms").alias("since_ms"),
            ),
        ]
    )
    has_data = bool(state.height or activity.height or timings.height)
    return MigrationView(
        name=plan.name if plan else "Migration",
        start_ms=start_ms,
        now_ms=now_ms,
        plan_file=plan_file,
        health=level if has_data or plan is not None else "no data",
        findings=found,
        progress_pct=sched.progress_pct,
        week=sched.week,
        weeks_total=sched.weeks_total,
        programme_start_ms=sched.programme_start_ms,
        planned_end_ms=sched.planned_end_ms,
        eta_ms=sched.eta_ms,
        eta_low_ms=sched.eta_low_ms,
        eta_high_ms=sched.eta_high_ms,
        eta_interval=sched.eta_interval,
        slip_days=slip,
        batches=moved,
        rollbacks=backs,
        blockers=blockers,
        phases=table,
        milestones=marks,
        components=comps,
        issues=listed,
        performance=perf,
        perf_delta_pct=perf_delta,
        datasets_total=plan.datasets_total if plan else None,
        components_done=int(comps.filter(pl.col("migration_pct") >= 100).height)
        if "migration_pct" in comps.columns
        else 0,
        components_total=comps.height,
        has_data=has_data,
        notes=sched.notes,
    )


def recent_operations(events: pl.DataFrame, limit: int = 20, kinds: tuple[str, ...] = ()) -> pl.DataFrame:
    """The newest migration events as one line each (``stats show``): ts, type, subject, detail.

    ``kinds`` keeps only types ending in one of them (``batch_completed``, ``rollback``, …).
    """
    frame = events.filter(pl.col("type").str.starts_with("migration."))
    if kinds:
        frame = frame.filter(pl.any_horizontal(pl.col("type").str.ends_with(k) for k in kinds))
    frame = frame.sort("ts", "id", descending=True).head(limit)
    kind = pl.col("type").str.strip_prefix("migration.")
    subject = pl.coalesce(
        text("batch_id"), text("issue_id"), text("phase_id"), text("operation"), text("component"), pl.col("id")
    )

    def t(path: str) -> pl.Expr:  # one missing field must not blank the whole line
        return text(path).fill_null("?")

    def n(path: str, integer: bool = False) -> pl.Expr:
        value = number(path)
        return (value.cast(pl.Int64) if integer else value).cast(pl.String).fill_null("?")

    detail = (
        pl.when(pl.col("type") == BATCH)
        .then(
            pl.format(
                "{}: {} records, {} failed, {} s",
                t("dataset"),
                n("records", True),
                n("failed", True),
                n("duration_s"),
            )
        )
        .when(pl.col("type").is_in(PHASE_TYPES))
        .then(pl.format("{} {} {} %", t("name"), t("status"), n("progress")))
        .when(pl.col("type") == COMPONENT)
        .then(pl.format("{} %, new {}", n("migration_progress"), t("new_health")))
        .when(pl.col("type").is_in([ISSUE_DETECTED, ISSUE_RESOLVED]))
        .then(pl.format("{} {}: {}", t("severity"), t("component"), t("title")))
        .when(pl.col("type") == ROLLBACK)
        .then(pl.format("{} {}", pl.coalesce(text("component"), text("dataset")).fill_null("?"), t("reason")))
        .when(pl.col("type") == TIMED)
        .then(pl.format("on the {} system: {} s", t("system"), n("duration_s")))
        .otherwise(pl.col("data").str.slice(0, 80))
    )
    return frame.select("ts", kind.alias("type"), subject.alias("subject"), detail.fill_null("").alias("detail"))


def perf_samples_frame(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    """A series-shaped frame (name, labels JSON, value) from tuples; for tests and fixtures."""
    return pl.DataFrame(rows, schema={"name": pl.String, "labels": pl.String, "value": pl.Float64}, orient="row")
