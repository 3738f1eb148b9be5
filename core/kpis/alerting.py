"""Alerts as the role pages show them: firing counts by severity, the active list, the last hour's critical ones.

Reads through core.alerts.store (the alerting module) when it is installed; without it
the loaders return None and pages show "alerting not available yet". The pure helpers
take the ``alerts`` table frame (core.alerts.store.alerts_frame).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import polars as pl
from sqlalchemy.engine import Engine

SEVERITIES = ("critical", "error", "warning", "info")  # core.alerts.rules.SEVERITIES, most severe first
ACTIVE = ("firing", "pending")


def _store() -> ModuleType | None:
    try:
        return importlib.import_module("core.alerts.store")
    except ImportError:
        return None


def by_severity(alerts: pl.DataFrame) -> dict[str, int]:
    """Firing alerts per severity, every severity present (most severe first)."""
    firing = alerts.filter(pl.col("state") == "firing")
    counts = dict(firing.group_by("severity").len().iter_rows()) if firing.height else {}
    return {s: int(counts.get(s, 0)) for s in SEVERITIES}


def active_list(alerts: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """Pending and firing alerts, most severe and oldest first.

    Columns: fingerprint, severity, state, rule, summary, since, acknowledged_by.
    """
    rank = {s: n for n, s in enumerate(SEVERITIES)}
    active = alerts.filter(pl.col("state").is_in(ACTIVE))
    return active.sort(
        pl.col("severity").replace_strict(rank, default=len(rank), return_dtype=pl.Int32), "active_since"
    ).select(
        "fingerprint",
        "severity",
        "state",
        "rule",
        "summary",
        pl.from_epoch(pl.coalesce("fired_at", "active_since"), time_unit="ms")
        .dt.replace_time_zone("UTC")
        .alias("since"),
        ((now_ms - pl.coalesce("fired_at", "active_since")) / 60_000).round(0).alias("minutes"),
        "acknowledged_by",
    )


def recent_severe(
    alerts: pl.DataFrame, since_ms: int, severities: tuple[str, ...] = ("critical", "error")
) -> pl.DataFrame:
    """Alerts of ``severities`` that fired at or after ``since_ms`` (still live or resolved since)."""
    return alerts.filter(pl.col("severity").is_in(severities) & (pl.col("fired_at") >= since_ms)).select(
        "severity",
        "state",
        "rule",
        "summary",
        pl.from_epoch("fired_at", time_unit="ms").dt.replace_time_zone("UTC").alias("fired"),
    )


def load_alerts(engine: Engine) -> pl.DataFrame | None:
    """The live alerts table, or None when the alerting module is not installed."""
    store = _store()
    if store is None:
        return None
    frame: pl.DataFrame = store.alerts_frame(engine)
    return frame


def acknowledge(engine: Engine, fingerprint: str, actor: str, comment: str = "") -> bool:
    """Acknowledge a firing alert through core.alerts (audited there); False when not possible."""
    store = _store()
    return bool(store is not None and store.acknowledge(engine, fingerprint, actor, comment))
