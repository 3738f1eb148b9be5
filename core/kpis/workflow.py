"""The review workflow as the Overview, Executive and Operations pages count it.

Pure functions over ``workflow.*`` event frames (core.kpis.records.load_events):

* :func:`open_workflows` / :func:`pipeline_counts` — where every open workflow is now:
  at which of the four steps, and whether it waits, is being worked on, or is being
  reworked after a failed gate (Operations pipeline, drill-down table);
* :func:`outcomes` — completed, failed, completion rate, time to merge, review cycle
  time and agent hours over a window (Overview KPI strip, Executive efficiency);
* :func:`sla_adherence` — share of step/workflow SLA items within their target, using
  core.sla's item model and definitions;
* :func:`cost_per_review` — the configurable cost model (settings ``cost_per_agent_hour``,
  ``cost_per_review_fixed``).

Fields read (docs/events.md): workflow_id, repository, step, attempt, agent_id, status,
duration_s, queue_wait_s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.kpis.records import apply_filters, fields, load_events, within
from core.sla import compliance as sla
from core.sla.definitions import DEFAULTS, SlaDefinition

HOUR_MS = 3_600_000
STEPS = ("dor_validation", "progress_review", "dod_validation", "final_qms_review")
STEP_LABELS = {
    "dor_validation": "Pending DoR",
    "progress_review": "In review",
    "dod_validation": "Awaiting DoD",
    "final_qms_review": "Final approval",
}
STATES = ("waiting", "in progress", "rework")
WORKFLOW_TYPES = (
    "workflow.pr_created",
    "workflow.step_started",
    "workflow.step_completed",
    "workflow.workflow_completed",
    "workflow.workflow_failed",
)
ENDED = ["workflow.workflow_completed", "workflow.workflow_failed"]
OPEN_LOOKBACK_MS = 3 * 24 * HOUR_MS  # a workflow silent for longer is abandoned, not pending (as on the Developer page)
OPEN_SCHEMA = pl.Schema(
    {
        "workflow_id": pl.String(),
        "repository": pl.String(),
        "step": pl.String(),
        "state": pl.String(),
        "agent_id": pl.String(),
        "since_ms": pl.Int64(),
    }
)


def open_workflows(events: pl.DataFrame) -> pl.DataFrame:
    """One row per workflow without a completed/failed event: its current step and state (:data:`OPEN_SCHEMA`).

    The newest step event decides: ``step_started`` → in progress at that step; a passed
    ``step_completed`` → waiting for the next step; a failed one → rework at that step;
    only ``pr_created`` → waiting for DoR validation.
    """
    read = fields(
        events,
        {
            "workflow_id": "workflow_id",
            "repository": "repository",
            "step": "step",
            "status": "status",
            "agent_id": "agent_id",
        },
    )
    closed = read.filter(pl.col("type").is_in(["workflow.workflow_completed", "workflow.workflow_failed"]))[
        "workflow_id"
    ]
    live = read.filter(pl.col("workflow_id").is_not_null() & ~pl.col("workflow_id").is_in(closed.implode()))
    if live.is_empty():
        return pl.DataFrame(schema=OPEN_SCHEMA)
    order = {"workflow.pr_created": 0, "workflow.step_started": 1, "workflow.step_completed": 2}
    latest = (
        live.filter(pl.col("type").is_in(list(order)))
        .with_columns(pl.col("type").replace_strict(order, return_dtype=pl.Int8).alias("rank"))
        .sort("ts", "rank")
        .group_by("workflow_id")
        .agg(pl.all().last(), pl.col("repository").drop_nulls().first().alias("repo"))
    )
    nxt = dict(zip(STEPS, [*STEPS[1:], None], strict=True))
    step = (
        pl.when(pl.col("type") == "workflow.pr_created")
        .then(pl.lit(STEPS[0]))
        .when((pl.col("type") == "workflow.step_completed") & (pl.col("status") == "passed"))
        .then(pl.col("step").replace_strict(nxt, default=None, return_dtype=pl.String))
        .otherwise(pl.col("step"))
    )
    state = (
        pl.when(pl.col("type") == "workflow.step_started")
        .then(pl.lit("in progress"))
        .when((pl.col("type") == "workflow.step_completed") & (pl.col("status") != "passed"))
        .then(pl.lit("rework"))
        .otherwise(pl.lit("waiting"))
    )
    agent = (
        pl.when(pl.col("type") == "workflow.step_started").then(pl.col("agent_id")).otherwise(pl.lit(None, pl.String))
    )
    return (
        latest.select(
            "workflow_id",
            pl.col("repo").alias("repository"),
            step.alias("step"),
            state.alias("state"),
            agent.alias("agent_id"),
            pl.col("ts").alias("since_ms"),
        )
        .filter(pl.col("step").is_not_null())
        .cast(OPEN_SCHEMA)
        .sort("since_ms")
    )


def pipeline_counts(open_frame: pl.DataFrame, steps: Sequence[str] = STEPS) -> pl.DataFrame:
    """Counts per step and state, every (step, state) present (zeros included): step, label, state, count."""
    grid = pl.DataFrame({"step": [s for s in steps for _ in STATES], "state": list(STATES) * len(steps)})
    counted = open_frame.group_by("step", "state").agg(pl.len().cast(pl.Int64).alias("count"))
    return (
        grid.join(counted, on=["step", "state"], how="left")
        .with_columns(pl.col("count").fill_null(0))
        .with_columns(pl.col("step").replace_strict(STEP_LABELS, default=pl.col("step")).alias("label"))
        .select("step", "label", "state", "count")
    )


@dataclass(frozen=True)
class Outcomes:
    """Workflow figures over one window."""

    completed: int
    failed: int
    completion_pct: float | None  # completed / (completed + failed)
    time_to_merge_h: float | None  # mean created → completed of workflows completed in the window
    review_cycle_h: float | None  # mean hands-on review time (sum of step durations) of those workflows
    agent_hours: float  # step work finished in the window, in agent hours
    step_wait_s: pl.DataFrame  # step, mean queue wait (s), started steps


def outcomes(events: pl.DataFrame, start_ms: int, end_ms: int) -> Outcomes:
    """Outcomes of workflows that ended in [start, end); ``events`` must reach back far enough to hold their steps."""
    return outcomes_of(outcome_fields(events), start_ms, end_ms)


def outcome_fields(events: pl.DataFrame) -> pl.DataFrame:
    """The events :func:`outcomes_of` reads, with their fields parsed: once for several windows of one frame."""
    # Only these types are read: parsing the JSON of the others (gates, defects on the Executive page) is wasted.
    return fields(
        events.filter(pl.col("type").is_in([*ENDED, "workflow.step_completed", "workflow.step_started"])),
        {"workflow_id": "workflow_id", "step": "step"},
        {"duration_s": "duration_s", "queue_wait_s": "queue_wait_s"},
    )


def outcomes_of(read: pl.DataFrame, start_ms: int, end_ms: int) -> Outcomes:
    """:func:`outcomes` from a frame :func:`outcome_fields` prepared."""
    ended = within(read.filter(pl.col("type").is_in(ENDED)), start_ms, end_ms)
    done = ended.filter(pl.col("type") == "workflow.workflow_completed")
    failed = ended.height - done.height
    merge = done["duration_s"].mean()
    steps = read.filter(pl.col("type") == "workflow.step_completed")
    per_wf = (
        steps.filter(pl.col("workflow_id").is_in(done["workflow_id"].implode()))
        .group_by("workflow_id")
        .agg(pl.col("duration_s").sum())
    )
    cycle = per_wf["duration_s"].mean()
    hours = float(within(steps, start_ms, end_ms)["duration_s"].sum()) / 3600.0
    started = within(read.filter(pl.col("type") == "workflow.step_started"), start_ms, end_ms)
    waits = (
        started.group_by("step")
        .agg(pl.col("queue_wait_s").mean().round(1).alias("wait_s"), pl.len().alias("started"))
        .sort("step")
    )
    return Outcomes(
        done.height,
        failed,
        done.height / ended.height * 100 if ended.height else None,
        None if merge is None else float(merge) / 3600,  # type: ignore[arg-type]
        None if cycle is None else float(cycle) / 3600,  # type: ignore[arg-type]
        hours,
        waits,
    )


@dataclass(frozen=True)
class SlaAdherence:
    """Step and workflow SLA items within target over a window, against the item-weighted objective."""

    items: int
    within_pct: float | None
    target_pct: float | None
    by_sla: pl.DataFrame  # sla, items, within_pct, objective_pct


def sla_adherence(
    events: pl.DataFrame, start_ms: int, end_ms: int, now_ms: int, definitions: Sequence[SlaDefinition] = DEFAULTS
) -> SlaAdherence:
    """How many step/workflow items in [start, end) met their SLA target (core.sla's definitions and item model)."""
    return adherence_of(sla_items(events, now_ms), start_ms, end_ms, definitions)


def sla_items(events: pl.DataFrame, now_ms: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Step and workflow SLA items of ``events`` as of ``now_ms``: built once for several windows of one frame."""
    return sla.step_items(events, now_ms), sla.workflow_items(events, now_ms)


def adherence_of(
    items: tuple[pl.DataFrame, pl.DataFrame],
    start_ms: int,
    end_ms: int,
    definitions: Sequence[SlaDefinition] = DEFAULTS,
) -> SlaAdherence:
    """:func:`sla_adherence` from the items :func:`sla_items` built."""
    steps, workflows = items
    rows = []
    for definition in definitions:
        if definition.kind not in ("step", "workflow") or not definition.enabled:
            continue
        measured = sla.item_compliance(sla.items_for(definition, steps, workflows), definition, start_ms, end_ms)
        if measured.total and measured.within_target is not None:
            rows.append((definition.name, measured.total, measured.within_target * 100, definition.objective * 100))
    frame = pl.DataFrame(
        rows,
        schema={"sla": pl.String, "items": pl.Int64, "within_pct": pl.Float64, "objective_pct": pl.Float64},
        orient="row",
    )
    total = int(frame["items"].sum()) if frame.height else 0
    if not total:
        return SlaAdherence(0, None, None, frame)
    weighted = (frame["items"] * frame["within_pct"]).sum() / total
    target = (frame["items"] * frame["objective_pct"]).sum() / total
    return SlaAdherence(
        total, float(weighted), float(target), frame.with_columns(pl.col("within_pct", "objective_pct").round(2))
    )


def cost_per_review(
    agent_hours: float, reviews: int, cost_per_agent_hour: float, fixed_per_review: float
) -> float | None:
    """(agent hours × hourly cost) / reviews + fixed cost per review; None without reviews."""
    if reviews <= 0:
        return None
    return agent_hours * cost_per_agent_hour / reviews + fixed_per_review


def load_workflow_events(
    engine: Engine, start_ms: int, end_ms: int, filters: Mapping[str, str], settings: Settings | None = None
) -> pl.DataFrame:
    """Workflow events from ``start - 3 days`` (so open workflows and cycle times are whole) to ``end``, filtered."""
    events = load_events(engine, WORKFLOW_TYPES, start_ms - OPEN_LOOKBACK_MS, end_ms, settings=settings)
    return apply_filters(events, filters)
