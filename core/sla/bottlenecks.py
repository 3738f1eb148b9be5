"""Where time is lost: slow steps, long queues, saturated resources and the critical path. Pure.

Rules (seed §4.2, docs/sla.md):

* a **step** is a bottleneck when its mean duration exceeds 80 % of its SLA target;
* a **queue** is one when the mean wait before a step starts exceeds 80 % of its response target;
* a **resource** (agent) is one above 85 % mean utilisation, critical above 95 %.

Each is ranked by impact = items affected × mean time lost per item. For steps and queues
an item is affected when it took longer than the 80 % mark, and loses the time past it;
for a resource, every item it handled is affected and loses its queue wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from core.sla.definitions import SlaDefinition

STEP_SHARE = 0.8
RESOURCE_HIGH, RESOURCE_CRITICAL = 85.0, 95.0
REWORK_HEAVY = 0.2


@dataclass(frozen=True)
class Bottleneck:
    """One place where time is lost, with what to do about it."""

    kind: str  # step, queue or resource
    name: str
    severity: str
    items_affected: int
    time_lost_s: float  # mean per affected item
    detail: str
    recommendation: str

    @property
    def impact_s(self) -> float:
        """Items affected × mean time lost: the ranking key."""
        return self.items_affected * self.time_lost_s


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _step_bottleneck(items: pl.DataFrame, definition: SlaDefinition) -> Bottleneck | None:
    target = definition.target_s
    done = items.filter(~pl.col("open"))
    if target is None or done.is_empty():
        return None
    mean = float(done["duration_s"].mean())  # type: ignore[arg-type]
    if mean <= STEP_SHARE * target:
        return None
    mark = STEP_SHARE * target
    slow = done.filter(pl.col("duration_s") > mark)
    lost = float((slow["duration_s"] - mark).mean() or 0.0)  # type: ignore[arg-type]
    workflows = done["workflow_id"].n_unique()
    rework = done.filter(pl.col("attempt") > 1)["workflow_id"].n_unique() / workflows if workflows else 0.0
    detail = f"mean {_duration(mean)} is {mean / target:.0%} of the {_duration(target)} target"
    if rework > REWORK_HEAVY:
        advice = (
            f"Cut rework in {definition.name}: {rework:.0%} of workflows needed another attempt; "
            "catch the failing checks earlier (at DoR) or give authors the gate results sooner."
        )
    else:
        advice = (
            f"Shorten {definition.name}: automate its slowest checks or split it into parallel parts; "
            f"items run {_duration(lost)} past 80 % of the target on average."
        )
    return Bottleneck(
        "step", definition.name, "critical" if mean > target else "high", slow.height, lost, detail, advice
    )


def _queue_bottleneck(items: pl.DataFrame, definition: SlaDefinition) -> Bottleneck | None:
    limit = definition.response_s
    waits = items["queue_wait_s"].drop_nulls()
    if limit is None or waits.is_empty():
        return None
    mean = float(waits.mean())  # type: ignore[arg-type]
    if mean <= STEP_SHARE * limit:
        return None
    mark = STEP_SHARE * limit
    late = waits.filter(waits > mark)
    lost = float((late - mark).mean() or 0.0)  # type: ignore[arg-type]
    detail = f"mean wait {_duration(mean)} before work starts; response target {_duration(limit)}"
    advice = (
        f"Add reviewers for {definition.name} or raise their concurrency; "
        f"{late.len()} items waited past 80 % of the response target."
    )
    return Bottleneck(
        "queue", definition.name, "critical" if mean > limit else "high", late.len(), lost, detail, advice
    )


def _resource_bottlenecks(utilisation: pl.DataFrame, items: pl.DataFrame) -> list[Bottleneck]:
    found = []
    for resource, percent in (
        utilisation.filter(pl.col("percent") > RESOURCE_HIGH).select("resource", "percent").iter_rows()
    ):
        handled = items.filter(pl.col("agent_id") == resource)
        lost = float(handled["queue_wait_s"].drop_nulls().mean() or 0.0)  # type: ignore[arg-type]
        critical = percent > RESOURCE_CRITICAL
        detail = (
            f"busy {percent:.0f} % on average "
            f"(high above {RESOURCE_HIGH:.0f} %, critical above {RESOURCE_CRITICAL:.0f} %)"
        )
        advice = (
            f"Add capacity for {resource} now, or route its work to idle agents."
            if critical
            else f"Rebalance work away from {resource} or raise its capacity before queues build up."
        )
        found.append(
            Bottleneck("resource", resource, "critical" if critical else "high", handled.height, lost, detail, advice)
        )
    return found


def find_bottlenecks(
    steps: pl.DataFrame, definitions: Sequence[SlaDefinition], utilisation: pl.DataFrame
) -> list[Bottleneck]:
    """Every bottleneck, highest impact first (ties: critical first, then by name).

    ``steps`` are step items (core.sla.compliance.ITEM_SCHEMA) of the period;
    ``utilisation`` has ``resource`` and mean ``percent`` over the same period.
    """
    found: list[Bottleneck] = []
    for definition in definitions:
        if definition.kind != "step":
            continue
        items = steps.filter(pl.col("step") == definition.step)
        found += [b for b in (_step_bottleneck(items, definition), _queue_bottleneck(items, definition)) if b]
    found += _resource_bottlenecks(utilisation, steps)
    return sorted(found, key=lambda b: (-b.impact_s, b.severity != "critical", b.kind, b.name))


def as_frame(bottlenecks: Sequence[Bottleneck]) -> pl.DataFrame:
    """The ranking as a table for pages and reports."""
    rows = [
        (n + 1, b.kind, b.name, b.severity, b.items_affected, b.time_lost_s, b.impact_s, b.detail, b.recommendation)
        for n, b in enumerate(bottlenecks)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "rank": pl.Int64,
            "kind": pl.String,
            "name": pl.String,
            "severity": pl.String,
            "items_affected": pl.Int64,
            "time_lost_s": pl.Float64,
            "impact_s": pl.Float64,
            "detail": pl.String,
            "recommendation": pl.String,
        },
        orient="row",
    )


def critical_path(steps: pl.DataFrame, workflows: pl.DataFrame) -> pl.DataFrame:
    """The workflow's steps in order with the mean time each adds per workflow (wait + work, all attempts).

    Steps are ordered by their median start after the workflow began; the workflow runs
    them one after another, so every step is on the path and ``share`` says how much of
    the end-to-end time each holds. ``dominant`` marks the largest.
    """
    finished = steps.filter(~pl.col("open"))
    if finished.is_empty():
        return pl.DataFrame(
            schema={
                "order": pl.Int64,
                "step": pl.String,
                "workflows": pl.Int64,
                "wait_s": pl.Float64,
                "work_s": pl.Float64,
                "attempts": pl.Float64,
                "total_s": pl.Float64,
                "share": pl.Float64,
                "dominant": pl.Boolean,
            }
        )
    begun = workflows.select("workflow_id", pl.col("start_ms").alias("wf_start"))
    per_workflow = (
        finished.join(begun, on="workflow_id", how="left")
        .group_by("workflow_id", "step")
        .agg(
            pl.col("queue_wait_s").fill_null(0.0).sum().alias("wait_s"),
            pl.col("duration_s").sum().alias("work_s"),
            pl.len().alias("attempts"),
            (pl.col("start_ms").min() - pl.col("wf_start").first()).alias("offset_ms"),
        )
    )
    path = (
        per_workflow.group_by("step")
        .agg(
            pl.col("workflow_id").n_unique().alias("workflows"),
            pl.col("wait_s").mean(),
            pl.col("work_s").mean(),
            pl.col("attempts").cast(pl.Float64).mean(),
            pl.col("offset_ms").median().alias("offset"),
        )
        .with_columns((pl.col("wait_s") + pl.col("work_s")).alias("total_s"))
        .sort("offset", "step", nulls_last=True)
        .with_columns((pl.col("total_s") / pl.col("total_s").sum()).alias("share"))
    )
    return path.select(
        pl.int_range(1, pl.len() + 1).alias("order"),
        "step",
        "workflows",
        "wait_s",
        "work_s",
        "attempts",
        "total_s",
        "share",
        (pl.col("total_s") == pl.col("total_s").max()).alias("dominant"),
    )
