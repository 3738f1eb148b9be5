"""Which tier answers a query: the screen decides the step, the step decides the tier.

Rule (docs/query.md):

1. A caller that draws (Explore, dashboards, ``/api/v1/query``) passes ``max_points``
   (``max_data_points``, 1,000 by default: about a chart's width in pixels); without an
   explicit step the step is then :func:`step_for` the range and those points, as Grafana's
   "max data points" does: range ÷ points, rounded up to a tier's bucket (1 s … 30 s of raw
   samples, 1 min, 5 min, 1 h, then 2 h … 7 d and whole hours from the 1h tier), so no series
   has more than ``max_points`` buckets. With a computed or an explicit step, take the
   coarsest tier whose bucket width divides the step. Without either (alert rules, SLAs and
   KPIs, which read data, not pixels), take the coarsest of 1h, 5m, 1m whose buckets give at
   least :data:`MIN_POINTS` points over the range; if none does, raw samples as stored.
2. A tier is usable only where retention still keeps it: if the range starts before
   ``now - retention(tier)``, move to the next coarser tier (1h keeps 400 d).
3. Rollups lag raw data by up to a couple of rollup intervals, so the newest buckets
   (from ``now - 2 × rollup interval``, floored to the bucket) are computed from raw
   samples on the fly: the finer data fills in what the coarse tier does not have yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.config import Settings

TIERS = ("raw", "1m", "5m", "1h")
RESOLUTION_MS = {"raw": 0, "1m": 60_000, "5m": 300_000, "1h": 3_600_000}
MIN_POINTS = 300
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SECOND_MS = 1_000
RAW_STEPS_MS = (1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000)  # below the finest tier: whole seconds of raw
COARSE_MULTIPLES = (1, 2, 3, 6, 12, 24, 48, 168)  # of the coarsest tier: 1 h … 2 d, a week


def step_candidates(tiers: Mapping[str, int]) -> list[int]:
    """The steps :func:`step_for` may choose, ascending: each is read from one tier without waste.

    Below the finest rollup tier, whole seconds of raw samples; then each tier's own bucket
    (1 min, 5 min, 1 h); past the coarsest, a few of its multiples (2 h … 7 d). A step between
    two tiers (2 min, 15 min) is not offered: it would read the finer tier's rows, several
    for each point drawn, where the coarser tier's bucket is still within the budget.
    """
    widths = sorted({w for w in tiers.values() if w > 0})
    if not widths:
        return list(RAW_STEPS_MS)
    raw = [s for s in RAW_STEPS_MS if s < widths[0]]
    return sorted({*raw, *widths[:-1], *(widths[-1] * m for m in COARSE_MULTIPLES)})


def step_for(range_ms: int, max_points: int, tiers: Mapping[str, int] = RESOLUTION_MS) -> int:
    """The bucket width for a chart of ``range_ms`` that may draw at most ``max_points`` points per series.

    The smallest candidate step (:func:`step_candidates`) that is at least ``range ÷ (max_points − 1)``:
    buckets are aligned to multiples of the step, so a range that starts mid-bucket touches one
    bucket more than range ÷ step, and this keeps even that case within ``max_points``. Past the
    largest candidate the step is the next whole multiple of the coarsest tier.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    if range_ms <= 0:
        raise ValueError(f"empty time range: {range_ms} ms")
    least = -(-range_ms // (max_points - 1))  # ceil: ceil(range / step) + 1 <= max_points
    for step in step_candidates(tiers):
        if step >= least:
            return step
    coarsest = max([*tiers.values(), SECOND_MS])
    return -(-least // coarsest) * coarsest


def step_text(step_ms: int) -> str:
    """'5 min buckets', '30 s buckets', '2 h buckets', '1 d buckets' or 'raw samples' (step 0)."""
    if step_ms <= 0:
        return "raw samples"
    for unit, width in (("d", DAY_MS), ("h", HOUR_MS), ("min", 60_000), ("s", 1_000)):
        if step_ms % width == 0:
            return f"{step_ms // width} {unit} buckets"
    return f"{step_ms} ms buckets"


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
    """The tier for ``[start_ms, end_ms)`` under the rule in this module's docstring.

    Without a step the coarsest tier still giving :data:`MIN_POINTS` points over the range is taken.
    """
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


def plan(
    start_ms: int,
    end_ms: int,
    now_ms: int,
    settings: Settings,
    step_ms: int | None = None,
    max_points: int | None = None,
) -> QueryPlan:
    """Tier, bucket width, aligned range and raw tail for a query.

    Without ``step_ms`` but with ``max_points`` the step is :func:`step_for` the range and
    those points, so the answer has at most that many points per series; without both, the
    :data:`MIN_POINTS` rule of the module docstring.
    """
    if end_ms <= start_ms:
        raise ValueError(f"empty time range: start {start_ms} is not before end {end_ms}")
    if step_ms is not None and step_ms <= 0:
        raise ValueError(f"step must be positive, got {step_ms} ms")
    if max_points is not None and max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    if step_ms is None and max_points is not None:
        step_ms = step_for(end_ms - start_ms, max_points)
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
