"""Display tables and series for the SLA page, built from statuses: pure, no Streamlit."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from core.sla.budget import OUTCOME_SCHEMA
from core.sla.status import SlaStatus

UNITS = ((86_400, "d"), (3_600, "h"), (60, "min"), (1, "s"))


def duration(seconds: float | None) -> str:
    """'15 min', '2 h', '1.5 h', '200 ms' — the way targets are written in the specification."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    for size, unit in UNITS:
        if seconds >= size:
            value = seconds / size
            return f"{value:.0f} {unit}" if abs(value - round(value)) < 0.05 else f"{value:.1f} {unit}"
    return f"{seconds:.1f} s"


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def budget_words(remaining: float | None) -> str:
    """'42 %' left; '0 %' once the budget is gone (see :func:`overspent_words`)."""
    return "–" if remaining is None else f"{max(remaining, 0.0) * 100:,.0f} %"


def overspent_words(remaining: float | None) -> str | None:
    """ "12× spent" when overspent, else None."""
    return None if remaining is None or remaining >= 0 else f"{1 - remaining:,.0f}× spent"


def verdict(met: bool | None) -> str:
    """Status word shown next to each SLA (never colour alone)."""
    return "no data" if met is None else "met" if met else "missed"


def alert_words(status: SlaStatus) -> str:
    """Firing burn-rate rules with their severity, then rules burning but held back and why (see BurnGuard)."""
    firing = [f"{a.rule.name} ({a.rule.severity})" for a in status.firing]
    held = [f"{a.rule.name} held: {a.held}" for a in status.alerts if a.burning and a.held]
    return ", ".join(firing + held)


def summary(statuses: Sequence[SlaStatus], window: str) -> pl.DataFrame:
    """One row per SLA for ``window``: targets, measured shares (%), verdict, budget left (%), burn rates."""
    rows = []
    for status in statuses:
        d, c = status.definition, status.compliance[window]
        rows.append(
            {
                "SLA": d.name,
                "status": verdict(c.met(d)) if d.enabled else "disabled",
                "within target %": _pct(c.within_target),
                "budget left %": _pct(status.budget.remaining),
                "burn 1 h": status.burn_rates["1 h"],
                "items": c.total,
                "target": duration(d.target_s) if d.kind != "availability" else "up",
                "objective %": _pct(d.objective),
                "success %": _pct(c.success_rate),
                "response %": _pct(c.response_share),
                "availability %": _pct(c.availability),
                "burn 6 h": status.burn_rates["6 h"],
                "burn 3 d": status.burn_rates["3 d"],
                "alerts": alert_words(status),
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None)


def windows(status: SlaStatus) -> pl.DataFrame:
    """The figures of one SLA for each standard window."""
    d = status.definition
    return pl.DataFrame(
        [
            {
                "window": label,
                "items": c.total,
                "within target %": _pct(c.within_target),
                "success %": _pct(c.success_rate),
                "availability %": _pct(c.availability),
                "status": verdict(c.met(d)),
            }
            for label, c in status.compliance.items()
            if label != "range"
        ],
        infer_schema_length=None,
    )


def good_share_trend(outcomes: pl.DataFrame, start_ms: int, end_ms: int, step_ms: int) -> pl.DataFrame:
    """Share of good items (%) per ``step_ms`` bucket: ``ts`` (Datetime), ``value``; empty buckets are left out."""
    inside = outcomes.cast(OUTCOME_SCHEMA).filter(pl.col("ts").is_between(start_ms, end_ms, closed="left"))  # type: ignore[arg-type]
    return (
        inside.with_columns((pl.col("ts") - (pl.col("ts") - start_ms) % step_ms).alias("bucket"))
        .group_by("bucket")
        .agg((100 * (1 - (pl.col("bad") * pl.col("weight")).sum() / pl.col("weight").sum())).alias("value"))
        .sort("bucket")
        .select(pl.col("bucket").cast(pl.Datetime("ms", "UTC")).alias("ts"), "value")
    )


def breaches_table(logged: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    """Logged breaches for display: when, SLA, item, took, over by, severity, escalated, impact."""
    if logged.is_empty():
        return pl.DataFrame(schema={"crossed": pl.Datetime("ms", "UTC"), "SLA": pl.String, "workflow": pl.String})
    return logged.select(
        pl.col("ts").cast(pl.Datetime("ms", "UTC")).alias("crossed"),
        pl.col("sla_id").replace_strict(names, default=pl.col("sla_id")).alias("SLA"),
        pl.col("over_s").map_elements(duration, return_dtype=pl.String).alias("over by"),
        pl.col("duration_s").map_elements(duration, return_dtype=pl.String).alias("took"),
        pl.col("workflow_id").alias("workflow"),
        "step",
        (pl.col("over_s") / pl.col("target_s") * 100).round(0).alias("over %"),
        "severity",
        "escalated",
        pl.when(pl.col("ended_ms").is_null()).then(pl.lit("open")).otherwise(pl.lit("ended")).alias("state"),
    )


def bottleneck_table(frame: pl.DataFrame) -> pl.DataFrame:
    """The bottleneck ranking with durations in words."""
    if frame.is_empty():
        return frame
    return frame.select(
        "rank",
        "kind",
        "name",
        "severity",
        pl.col("items_affected").alias("items"),
        pl.col("time_lost_s").map_elements(duration, return_dtype=pl.String).alias("lost per item"),
        (pl.col("impact_s") / 3600).round(1).alias("impact h"),
        "detail",
        "recommendation",
    )
