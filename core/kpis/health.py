"""The overall health score (0–100) on the Overview, and what drags it down.

The score is the weighted mean of component scores, each 0–100 and each computed from
stored data by a pure function below; components without data are left out (and
listed as such), never counted as healthy. Bands (seed §7.2): ≥ 95 excellent, ≥ 85
good, ≥ 70 warning, ≥ 50 poor, below 50 critical. "What drags it down" ranks the
components by the points they cost: weight × (100 − score) / total weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

BANDS: tuple[tuple[float, str], ...] = (
    (95.0, "excellent"),
    (85.0, "good"),
    (70.0, "warning"),
    (50.0, "poor"),
    (float("-inf"), "critical"),
)
WEIGHTS = {
    "Availability": 3.0,
    "API errors": 2.0,
    "API latency": 2.0,
    "Queues": 2.0,
    "Quality gates": 2.0,
    "Alerts": 2.0,
    "Workflow success": 1.0,
    "Resources": 1.0,
    "Performance": 2.0,
}
P95_TARGET_S = 0.5  # core.sla's default API p95 target


@dataclass(frozen=True)
class Component:
    """One input to the score: its 0–100 score (None without data) and what it is based on."""

    name: str
    score: float | None
    detail: str
    weight: float = 1.0


@dataclass(frozen=True)
class Health:
    """The score, its band, and the components ranked by the points they cost.

    Each component: name, score, weight, points_lost, detail.
    """

    score: float | None
    band: str
    drags: pl.DataFrame


def band(score: float | None) -> str:
    """The band name for a score ('no data' for None)."""
    if score is None:
        return "no data"
    return next(name for limit, name in BANDS if score >= limit)


def health(components: Sequence[Component]) -> Health:
    """Weighted mean of the components that have data, and each one's cost in points."""
    measured = [c for c in components if c.score is not None]
    total = sum(c.weight for c in measured)
    score = sum(c.weight * c.score for c in measured if c.score is not None) / total if total else None
    rows = [
        (
            c.name,
            None if c.score is None else round(c.score, 1),
            c.weight,
            None if c.score is None or not total else round(c.weight * (100 - c.score) / total, 1),
            c.detail,
        )
        for c in components
    ]
    drags = pl.DataFrame(
        rows,
        schema={
            "component": pl.String,
            "score": pl.Float64,
            "weight": pl.Float64,
            "points_lost": pl.Float64,
            "detail": pl.String,
        },
        orient="row",
    ).sort("points_lost", descending=True, nulls_last=True)
    shown = None if score is None else round(score, 1)
    return Health(shown, band(shown), drags)  # band the shown value: "85.0 warning" would read as a contradiction


def _clamp(value: float) -> float:
    return max(0.0, min(100.0, value))


def availability(agents_up: int, agents_total: int) -> Component:
    """Share of review agents up."""
    if not agents_total:
        return Component("Availability", None, "no agent samples (qms_agent_up)", WEIGHTS["Availability"])
    return Component(
        "Availability", agents_up / agents_total * 100, f"{agents_up}/{agents_total} agents up", WEIGHTS["Availability"]
    )


def api_errors(error_pct: float | None) -> Component:
    """100 at 0 % errors, minus 20 points per percent (0 at 5 %)."""
    if error_pct is None:
        return Component("API errors", None, "no api_errors_percent samples", WEIGHTS["API errors"])
    return Component(
        "API errors", _clamp(100 - 20 * error_pct), f"{error_pct:.2f}% of requests failing", WEIGHTS["API errors"]
    )


def api_latency(p95_s: float | None, target_s: float = P95_TARGET_S) -> Component:
    """100 while p95 is within target; loses one point per percent over it."""
    if p95_s is None:
        return Component("API latency", None, "no api_request_duration_seconds p95 samples", WEIGHTS["API latency"])
    over = max(0.0, p95_s / target_s - 1) * 100
    return Component(
        "API latency",
        _clamp(100 - over),
        f"p95 {p95_s * 1000:.0f} ms (target {target_s * 1000:.0f} ms)",
        WEIGHTS["API latency"],
    )


def queues(depths: pl.DataFrame) -> Component:
    """Worst queue: 100 below warning, 80 → 40 from warning to critical, 20 at or past critical.

    ``depths`` has columns queue, depth, warning, critical.
    """
    if depths.is_empty():
        return Component("Queues", None, "no queue depth samples or events", WEIGHTS["Queues"])
    scores = depths.select(
        "queue",
        "depth",
        pl.when(pl.col("depth") < pl.col("warning"))
        .then(100.0)
        .when(pl.col("depth") < pl.col("critical"))
        .then(80.0 - 40.0 * (pl.col("depth") - pl.col("warning")) / (pl.col("critical") - pl.col("warning")))
        .otherwise(20.0)
        .alias("score"),
    ).sort("score")
    queue, depth, score = scores.row(0)
    return Component("Queues", float(score), f"deepest: {queue} at {depth:g}", WEIGHTS["Queues"])


def quality_gates(pass_pct: float | None, runs: int) -> Component:
    """The gate pass rate of the last 24 hours, as is."""
    if pass_pct is None:
        return Component("Quality gates", None, "no quality gate runs in 24 h", WEIGHTS["Quality gates"])
    return Component(
        "Quality gates", pass_pct, f"{pass_pct:.1f}% of {runs} gate runs passed (24 h)", WEIGHTS["Quality gates"]
    )


def workflow_success(completion_pct: float | None, ended: int) -> Component:
    """The workflow completion rate of the last 24 hours, as is."""
    if completion_pct is None:
        return Component("Workflow success", None, "no workflow ended in 24 h", WEIGHTS["Workflow success"])
    return Component(
        "Workflow success",
        completion_pct,
        f"{completion_pct:.1f}% of {ended} workflows completed (24 h)",
        WEIGHTS["Workflow success"],
    )


def resources(cpu_pct: float | None, memory_pct: float | None) -> Component:
    """100 up to 80 % use; loses 5 points per percent above, on the busier of CPU and memory."""
    used = [v for v in (cpu_pct, memory_pct) if v is not None]
    if not used:
        return Component("Resources", None, "no system collector samples", WEIGHTS["Resources"])
    worst = max(used)
    text = ", ".join(f"{n} {v:.0f}%" for n, v in (("CPU", cpu_pct), ("memory", memory_pct)) if v is not None)
    return Component("Resources", _clamp(100 - 5 * max(0.0, worst - 80)), text, WEIGHTS["Resources"])


def alerts(by_severity: dict[str, int] | None) -> Component:
    """100 minus 25 per firing critical, 10 per error, 5 per warning alert; None when alerting is not available."""
    if by_severity is None:
        return Component("Alerts", None, "alerting not available", WEIGHTS["Alerts"])
    cost = 25 * by_severity.get("critical", 0) + 10 * by_severity.get("error", 0) + 5 * by_severity.get("warning", 0)
    text = ", ".join(f"{n} {s}" for s, n in by_severity.items() if n) or "no firing alerts"
    return Component("Alerts", _clamp(100 - cost), text, WEIGHTS["Alerts"])


def performance(stored: Mapping[str, Any] | None, now_ms: int, max_age_ms: int) -> Component:
    """The mean per-component performance score the insights job stored (latency, errors and saturation
    against baselines, docs/insights.md); None when the job has not run or its scores are older than ``max_age_ms``.
    """
    weight = WEIGHTS["Performance"]
    stored = stored or {}
    computed, overall = stored.get("computed_ms"), stored.get("overall")
    if not isinstance(computed, int) or not isinstance(overall, int | float) or now_ms - computed > max_age_ms:
        return Component("Performance", None, "no current baseline scores (insights job)", weight)
    rows = [r for r in stored.get("components") or [] if isinstance(r, dict) and r.get("score") is not None]
    text = f"{len(rows)} components against their baselines"
    if rows:
        worst = min(rows, key=lambda r: float(r["score"]))
        text += f"; lowest {worst['component']} at {float(worst['score']):.0f}"
    return Component("Performance", _clamp(float(overall)), text, weight)
