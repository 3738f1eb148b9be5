"""Compliance of workflow SLAs from step events, and of metric SLAs from series: pure polars.

Items come from events (docs/events.md): a *step item* is one attempt at one step of one
workflow (``workflow.step_started`` joined to ``workflow.step_completed`` on workflow id,
step and attempt); a *workflow item* is one workflow (``workflow.pr_created`` joined to
``workflow.workflow_completed`` / ``workflow_failed``). An item still running at ``now``
is *open*; its duration so far is ``now - start``.

For a window ``[now - w, now)`` an SLA counts the items that ended in the window plus the
open items already over target (a stuck item must not hide). Over those it reports the
share within target, the success rate, the share answered within ``response_s``, and the
items over target with how far over. See docs/sla.md.

Slightly over 300 lines: step items, workflow items and breaches are one derivation and stay
together.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.sla.definitions import SlaDefinition

WINDOWS_S: dict[str, int] = {"1 h": 3_600, "24 h": 86_400, "7 d": 7 * 86_400, "30 d": 30 * 86_400}
EVENT_SCHEMA = {"ts": pl.Int64, "type": pl.String, "data": pl.String}
ITEM_SCHEMA = pl.Schema(
    {
        "workflow_id": pl.String,
        "step": pl.String,
        "attempt": pl.Int64,
        "agent_id": pl.String,
        "start_ms": pl.Int64,
        "end_ms": pl.Int64,
        "duration_s": pl.Float64,
        "queue_wait_s": pl.Float64,
        "ok": pl.Boolean,
        "open": pl.Boolean,
    }
)
BREACH_SCHEMA = pl.Schema(
    {
        "workflow_id": pl.String,
        "step": pl.String,
        "attempt": pl.Int64,
        "start_ms": pl.Int64,
        "end_ms": pl.Int64,
        "duration_s": pl.Float64,
        "target_s": pl.Float64,
        "over_s": pl.Float64,
        "over_pct": pl.Float64,
        "open": pl.Boolean,
        "escalated": pl.Boolean,
    }
)
END_TO_END = "end_to_end"


def _field(name: str, dtype: pl.DataType | type[pl.DataType] = pl.String) -> pl.Expr:
    return pl.col("data").str.json_path_match(f"$.{name}").cast(dtype, strict=False).alias(name)


def step_items(events: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """Step attempts (:data:`ITEM_SCHEMA`) from ``workflow.step_started`` / ``step_completed`` events.

    ``ok`` is ``status == "passed"``; a completion without a start keeps ``end - duration``
    as its start; a start without a completion is open at ``now_ms``.
    """
    keys = ["workflow_id", "step", "attempt"]
    started = (
        events.filter(pl.col("type") == "workflow.step_started")
        .select(
            _field("workflow_id"),
            _field("step"),
            _field("attempt", pl.Int64).fill_null(1),
            _field("agent_id"),
            _field("queue_wait_s", pl.Float64),
            pl.col("ts").alias("start_ms"),
        )
        .unique(keys, keep="first")
    )
    completed = (
        events.filter(pl.col("type") == "workflow.step_completed")
        .select(
            _field("workflow_id"),
            _field("step"),
            _field("attempt", pl.Int64).fill_null(1),
            _field("agent_id").alias("agent_done"),
            _field("status"),
            _field("duration_s", pl.Float64).alias("reported_s"),
            _field("queue_wait_s", pl.Float64).alias("wait_done"),
            pl.col("ts").alias("end_ms"),
        )
        .unique(keys, keep="first")
    )
    joined = started.join(completed, on=keys, how="full", coalesce=True)
    duration = pl.coalesce(pl.col("reported_s"), (pl.col("end_ms") - pl.col("start_ms")) / 1000.0)
    return (
        joined.select(
            "workflow_id",
            "step",
            "attempt",
            pl.coalesce("agent_id", "agent_done").alias("agent_id"),
            pl.coalesce(pl.col("start_ms"), pl.col("end_ms") - (pl.col("reported_s") * 1000).cast(pl.Int64)).alias(
                "start_ms"
            ),
            "end_ms",
            pl.when(pl.col("end_ms").is_null())
            .then((now_ms - pl.col("start_ms")) / 1000.0)
            .otherwise(duration)
            .alias("duration_s"),
            pl.coalesce("queue_wait_s", "wait_done").alias("queue_wait_s"),
            (pl.col("status") == "passed").fill_null(False).alias("ok"),
            pl.col("end_ms").is_null().alias("open"),
        )
        .filter(pl.col("workflow_id").is_not_null())
        .cast(ITEM_SCHEMA)
    )


def workflow_items(events: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """Whole workflows (:data:`ITEM_SCHEMA`, step ``end_to_end``): created → completed (ok) or failed."""
    created = (
        events.filter(pl.col("type") == "workflow.pr_created")
        .select(_field("workflow_id"), pl.col("ts").alias("start_ms"))
        .unique("workflow_id", keep="first")
    )
    ended = (
        events.filter(pl.col("type").is_in(["workflow.workflow_completed", "workflow.workflow_failed"]))
        .select(
            _field("workflow_id"),
            _field("duration_s", pl.Float64).alias("reported_s"),
            pl.col("ts").alias("end_ms"),
            (pl.col("type") == "workflow.workflow_completed").alias("ok"),
        )
        .unique("workflow_id", keep="first")
    )
    joined = created.join(ended, on="workflow_id", how="full", coalesce=True)
    return (
        joined.select(
            "workflow_id",
            pl.lit(END_TO_END).alias("step"),
            pl.lit(1).alias("attempt"),
            pl.lit(None, pl.String).alias("agent_id"),
            pl.coalesce(pl.col("start_ms"), pl.col("end_ms") - (pl.col("reported_s") * 1000).cast(pl.Int64)).alias(
                "start_ms"
            ),
            "end_ms",
            pl.when(pl.col("end_ms").is_null())
            .then((now_ms - pl.col("start_ms")) / 1000.0)
            .otherwise(pl.coalesce(pl.col("reported_s"), (pl.col("end_ms") - pl.col("start_ms")) / 1000.0))
            .alias("duration_s"),
            pl.lit(None, pl.Float64).alias("queue_wait_s"),
            pl.col("ok").fill_null(False),
            pl.col("end_ms").is_null().alias("open"),
        )
        .filter(pl.col("workflow_id").is_not_null())
        .cast(ITEM_SCHEMA)
    )


def items_for(definition: SlaDefinition, steps: pl.DataFrame, workflows: pl.DataFrame) -> pl.DataFrame:
    """The items a step or workflow SLA measures."""
    if definition.kind == "workflow":
        return workflows
    if definition.kind == "step":
        return steps.filter(pl.col("step") == definition.step)
    raise ValueError(f"SLA {definition.id} is a {definition.kind} SLA; its items come from metrics")


def in_window(items: pl.DataFrame, definition: SlaDefinition, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Items ended in ``[start_ms, end_ms)``, plus items open at ``end_ms`` that are already over target."""
    target = definition.target_s or 0.0
    ended = pl.col("end_ms").is_between(start_ms, end_ms, closed="left")
    stuck = pl.col("open") & (pl.col("duration_s") > target) & (pl.col("start_ms") < end_ms)
    return items.filter(ended | stuck)


def outcomes(items: pl.DataFrame, definition: SlaDefinition, now_ms: int) -> pl.DataFrame:
    """One row per counted item for the error budget: ``ts``, ``bad`` and ``weight``.

    ``ts`` is the item's end (just before now if it is open); ``bad`` means over target.
    """
    target = definition.target_s or 0.0
    counted = items.filter(~pl.col("open") | (pl.col("duration_s") > target))
    return counted.select(
        pl.coalesce(pl.col("end_ms"), pl.lit(now_ms - 1)).alias("ts"),  # windows are [now - w, now)
        (pl.col("duration_s") > target).cast(pl.Float64).alias("bad"),
        pl.lit(1.0).alias("weight"),
    ).sort("ts")


def breaching(items: pl.DataFrame, definition: SlaDefinition) -> pl.DataFrame:
    """Items over target (:data:`BREACH_SCHEMA`), worst first: by how much and whether past escalation."""
    target = definition.target_s or 0.0
    escalation = definition.escalation_s
    escalated = (pl.col("duration_s") > escalation) if escalation is not None else pl.lit(False)
    return (
        items.filter(pl.col("duration_s") > target)
        .select(
            "workflow_id",
            "step",
            "attempt",
            "start_ms",
            "end_ms",
            "duration_s",
            pl.lit(target).alias("target_s"),
            (pl.col("duration_s") - target).alias("over_s"),
            ((pl.col("duration_s") / target - 1) * 100).alias("over_pct"),
            "open",
            escalated.alias("escalated"),
        )
        .cast(BREACH_SCHEMA)
        .sort("over_s", descending=True)
    )


@dataclass(frozen=True)
class Compliance:
    """One SLA over one window; shares are 0..1 or None when nothing was measured."""

    sla_id: str
    window_s: int
    total: int
    within_target: float | None
    success_rate: float | None
    response_share: float | None
    availability: float | None
    breaching: pl.DataFrame

    def met(self, definition: SlaDefinition) -> bool | None:
        """True when every measured figure meets its objective; None when nothing was measured."""
        checks = [
            (self.within_target, definition.objective),
            (self.success_rate, definition.objective),
            (self.response_share, definition.objective),
            (
                self.availability,
                definition.objective if definition.kind == "availability" else definition.availability_target,
            ),
        ]
        measured = [(value, goal) for value, goal in checks if value is not None and goal is not None]
        if not measured:
            return None
        return all(value >= goal for value, goal in measured)


def item_compliance(
    items: pl.DataFrame, definition: SlaDefinition, start_ms: int, end_ms: int, availability: float | None = None
) -> Compliance:
    """Compliance of a step or workflow SLA over ``[start_ms, end_ms)`` from its items."""
    counted = in_window(items, definition, start_ms, end_ms)
    total = counted.height
    target = definition.target_s or 0.0
    finished = counted.filter(~pl.col("open"))
    within = counted.filter(pl.col("duration_s") <= target).height / total if total else None
    success = finished["ok"].sum() / finished.height if finished.height else None
    response = None
    if definition.response_s is not None:
        waits = counted["queue_wait_s"].drop_nulls()
        response = float((waits <= definition.response_s).sum() / waits.len()) if waits.len() else None
    return Compliance(
        definition.id,
        (end_ms - start_ms) // 1000,
        total,
        within,
        None if success is None else float(success),
        response,
        availability,
        breaching(counted, definition),
    )


def metric_outcomes(values: pl.DataFrame, definition: SlaDefinition) -> pl.DataFrame:
    """Per-bucket outcomes of a metric SLA from a :func:`core.query.series` frame (ts, series, value).

    Latency: a bucket is bad when its value is over target. Availability: ``bad`` is the
    share of the bucket the metric was down (``1 - mean``). Each bucket weighs the same.
    """
    if definition.kind == "latency":
        bad = (pl.col("value") > (definition.target_s or 0.0)).cast(pl.Float64)
    elif definition.kind == "availability":
        bad = 1.0 - pl.col("value").clip(0.0, 1.0)
    else:
        raise ValueError(f"SLA {definition.id} is a {definition.kind} SLA; its outcomes come from items")
    return values.select(pl.col("ts").dt.epoch("ms").alias("ts"), bad.alias("bad"), pl.lit(1.0).alias("weight")).sort(
        "ts"
    )


def metric_compliance(values: pl.DataFrame, definition: SlaDefinition, start_ms: int, end_ms: int) -> Compliance:
    """Compliance of a latency or availability SLA over ``[start_ms, end_ms)`` from series values.

    Breaching rows name the series in ``workflow_id`` and the bucket in ``start_ms``.
    """
    frame = values.filter(pl.col("ts").dt.epoch("ms").is_between(start_ms, end_ms, closed="left"))
    total = frame.height
    good = None
    if total:
        good = 1.0 - float(metric_outcomes(frame, definition)["bad"].sum()) / total
    rows = pl.DataFrame(schema=BREACH_SCHEMA)
    if definition.kind == "latency" and total:
        target = definition.target_s or 0.0
        rows = (
            frame.filter(pl.col("value") > target)
            .select(
                pl.col("series").alias("workflow_id"),
                pl.lit(None, pl.String).alias("step"),
                pl.lit(None, pl.Int64).alias("attempt"),
                pl.col("ts").dt.epoch("ms").alias("start_ms"),
                pl.lit(None, pl.Int64).alias("end_ms"),
                pl.col("value").alias("duration_s"),
                pl.lit(target).alias("target_s"),
                (pl.col("value") - target).alias("over_s"),
                ((pl.col("value") / target - 1) * 100).alias("over_pct"),
                pl.lit(False).alias("open"),
                pl.lit(False).alias("escalated"),
            )
            .cast(BREACH_SCHEMA)
            .sort("over_s", descending=True)
        )
    within = good if definition.kind == "latency" else None
    availability = good if definition.kind == "availability" else None
    return Compliance(definition.id, (end_ms - start_ms) // 1000, total, within, None, None, availability, rows)
