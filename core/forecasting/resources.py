"""The capacity resources and what a forecast says about each: time to threshold, peak, recommendation, urgency.

Following the QMS seed's capacity planner (§4.2): a resource is "running out" when its forecast crosses
``capacity_threshold_percent`` (80 %) of its capacity; the recommended capacity is the projected peak × 1.2
(20 % headroom); urgency follows how soon the crossing comes. Percent series have a capacity of 100 %;
queue depth and database size take theirs from ``capacity_limits`` (a database without one shows its growth
and projected size but no time to threshold — there is no honest default for "how big may it get").

:func:`summarise` turns one fitted series into the JSON the job stores; :func:`urgency` is computed by the page
against its own clock, so a stored forecast ages correctly between refits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analytics.forecast import Fitted, crossing
from core.config import Settings

HEADROOM = 1.2  # recommended capacity = projected peak × 1.2 (QMS seed §4.2: "20% buffer")
HORIZONS_S = (86_400.0, 7 * 86_400.0, 30 * 86_400.0)
HORIZON_LABELS = {86_400: "24 h", 604_800: "7 d", 2_592_000: "30 d"}
HIDDEN_LABELS = ("source", "job", "driver", "device", "fstype")  # kept in the data, not in the resource's name
HISTORY_POINTS = 400  # history kept with a stored forecast for its chart


@dataclass(frozen=True)
class Resource:
    """One kind of capacity: the metric that measures it, its unit and where its capacity comes from."""

    key: str
    title: str
    metric: str
    unit: str  # "%", "items" or "bytes"
    full_word: str = "full"  # "disk full in 12 days"

    def capacity(self, settings: Settings) -> float | None:
        """100 for percentages; else ``capacity_limits[metric]`` (None when unset or not positive)."""
        if self.unit == "%":
            return 100.0
        value = settings.capacity_limits.get(self.metric)
        return float(value) if value is not None and value > 0 else None


RESOURCES: tuple[Resource, ...] = (
    Resource("cpu", "CPU", "system_cpu_percent", "%"),
    Resource("memory", "Memory", "system_memory_used_percent", "%"),
    Resource("disk", "Disk", "system_filesystem_used_percent", "%"),
    Resource("queue", "Queue", "qms_queue_depth", "items"),
    Resource("db_size", "Database size", "db_size_bytes", "bytes"),
    Resource("db_connections", "DB connections", "db_connection_pool_used_percent", "%", "exhausted"),
)


def resource(key: str) -> Resource:
    """The resource called ``key``."""
    return next(r for r in RESOURCES if r.key == key)


def instance_name(labels: dict[str, str]) -> str:
    """``host-a /var`` from a series' labels: the labels that tell instances apart, values only."""
    shown = [v for k, v in sorted(labels.items(), key=lambda kv: (kv[0] != "host", kv[0])) if k not in HIDDEN_LABELS]
    return " ".join(shown) or "—"


def _thinned(ts: np.ndarray, values: np.ndarray, points: int = HISTORY_POINTS) -> dict[str, list[Any]]:
    """At most ``points`` evenly picked history buckets: enough for a chart, small in the store."""
    pick = np.unique(np.linspace(0, len(ts) - 1, min(points, len(ts))).astype(int)) if len(ts) else np.zeros(0, int)
    return {"ts": ts[pick].tolist(), "value": [float(f"{v:.6g}") for v in values[pick]]}


def _cross(fitted: Fitted, level: float | None, op: str = ">=") -> dict[str, Any] | None:
    if level is None or not fitted.forecast.ok:
        return None
    found = crossing(fitted.forecast, level, op)
    return {
        "level": level,
        "when": found.when_ms,
        "earliest": found.earliest_ms,
        "latest": found.latest_ms,
        "probability": round(found.probability, 3),
    }


def summarise(res: Resource, fitted: Fitted, horizon_s: float, settings: Settings) -> dict[str, Any]:
    """What the job stores for one series and horizon: forecast, history, crossings, peak and recommendation."""
    fc = fitted.forecast
    labels = json.loads(fitted.labels)
    capacity = res.capacity(settings)
    threshold = None if capacity is None else capacity * settings.capacity_threshold_percent / 100
    history = fitted.history
    ts, values = history["ts"].to_numpy(), history["value"].to_numpy()
    out: dict[str, Any] = {
        "resource": res.key,
        "series": fitted.series,
        "labels": labels,
        "instance": instance_name(labels),
        "unit": res.unit,
        "capacity": capacity,
        "threshold": threshold,
        "horizon_s": horizon_s,
        "latest": float(values[-1]) if len(values) else None,
        "latest_ms": int(ts[-1]) if len(ts) else None,
        "history": _thinned(ts, values),
        "forecast": fc.to_json(),
    }
    if not fc.ok:
        return out
    peak = float(np.max(fc.yhat))
    out |= {
        "peak": peak,
        "peak_hi80": float(np.max(fc.q[0.9])),
        "recommended": peak * HEADROOM,
        "cross_threshold": _cross(fitted, threshold),
        "cross_full": _cross(fitted, capacity),
    }
    return out


URGENCY = ("critical", "high", "medium", "low", "ok")
DAY_MS = 86_400_000


def urgency(summary: dict[str, Any], now_ms: int) -> str:
    """critical: at or past the threshold now, or the forecast crosses it within a day; high: within 7 days;
    medium: within 30 days; low: only the 80 % interval's upper bound crosses within 30 days; ok: neither.

    Unknown ("—") without a forecast or a threshold.
    """
    threshold = summary.get("threshold")
    cross = summary.get("cross_threshold")
    if threshold is None or cross is None:
        return "—"
    if summary.get("latest") is not None and summary["latest"] >= threshold:
        return "critical"
    when, earliest = cross.get("when"), cross.get("earliest")
    if when is not None:
        wait = when - now_ms
        return "critical" if wait <= DAY_MS else "high" if wait <= 7 * DAY_MS else "medium"
    return "low" if earliest is not None else "ok"
