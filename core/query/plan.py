"""Which tier answers a query: the coarsest that still draws about 300 points and still holds the range.

Rule (docs/query.md):

1. Without an explicit step, take the coarsest of 1h, 5m, 1m whose buckets give at
   least :data:`MIN_POINTS` points over the range; if none does, raw samples. With
   the default 300 that is raw up to 5 h, 1m up to 25 h, 5m up to 12.5 d, 1h beyond.
   With a step, take the coarsest tier whose bucket width divides the step.
2. A tier is usable only where retention still keeps it: if the range starts before
   ``now - retention(tier)``, move to the next coarser tier (1h keeps 400 d).
3. Rollups lag raw data by up to a couple of rollup intervals, so the newest buckets
   (from ``now - 2 × rollup interval``, floored to the bucket) are computed from raw
   samples on the fly: the finer data fills in what the coarse tier does not have yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Settings

TIERS = ("raw", "1m", "5m", "1h")
RESOLUTION_MS = {"raw": 0, "1m": 60_000, "5m": 300_000, "1h": 3_600_000}
MIN_POINTS = 300
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class QueryPlan:
    """How one range query is answered."""

    tier: str
    step_ms: int  # width of the returned buckets; 0 means raw samples as stored
    start_ms: int  # inclusive, aligned down to step_ms
    end_ms: int  # exclusive
    tail_from_ms: int | None  # buckets from here on come from raw samples (rollup lag)


def retention_ms(settings: Settings) -> dict[str, int]:
    """How far back each tier holds data, in milliseconds."""
    return {
        "raw": int(settings.retention_raw_hours * HOUR_MS),
        "1m": int(max(settings.retention_1m_days * DAY_MS, settings.retention_raw_hours * HOUR_MS + HOUR_MS)),
        "5m": int(settings.retention_5m_days * DAY_MS),
        "1h": int(settings.retention_1h_days * DAY_MS),
    }


def choose_tier(start_ms: int, end_ms: int, now_ms: int, settings: Settings, step_ms: int | None = None) -> str:
    """The tier for ``[start_ms, end_ms)`` under the rule in this module's docstring."""
    span = max(end_ms - start_ms, 1)
    if step_ms:
        fits = [
            t
            for t in TIERS
            if RESOLUTION_MS[t] == 0 or (RESOLUTION_MS[t] <= step_ms and step_ms % RESOLUTION_MS[t] == 0)
        ]
    else:
        fits = ["raw"] + [t for t in TIERS[1:] if span // RESOLUTION_MS[t] >= MIN_POINTS]
    keeps = retention_ms(settings)
    for tier in TIERS[TIERS.index(fits[-1]) :]:
        if start_ms >= now_ms - keeps[tier]:
            return tier
    return TIERS[-1]


def plan(start_ms: int, end_ms: int, now_ms: int, settings: Settings, step_ms: int | None = None) -> QueryPlan:
    """Tier, bucket width, aligned range and raw tail for a query."""
    if end_ms <= start_ms:
        raise ValueError(f"empty time range: start {start_ms} is not before end {end_ms}")
    if step_ms is not None and step_ms <= 0:
        raise ValueError(f"step must be positive, got {step_ms} ms")
    tier = choose_tier(start_ms, end_ms, now_ms, settings, step_ms)
    resolution = RESOLUTION_MS[tier]
    step = max(step_ms or 0, resolution)
    if step and step % max(resolution, 1):
        step += resolution - step % resolution  # a coarser tier than asked: round the step up to whole buckets
    start = start_ms - start_ms % step if step else start_ms
    tail = None
    if tier != "raw":
        lag = max(int(2 * settings.rollup_interval_s * 1000), 60_000)
        tail = max(now_ms - lag, start)
        tail -= tail % step
        if tail >= end_ms:
            tail = None
    return QueryPlan(tier, step, start, end_ms, tail)
