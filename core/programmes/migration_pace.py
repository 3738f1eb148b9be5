"""How sure the migration's estimated completion is: its 80 % interval, from how steady each phase's pace has been.

core.programmes.migration.forecast runs each running phase at its *average* pace since it started, and a
phase not started for its planned length after its dependencies. That gives one date. How far to trust it
depends on how much the pace moves from day to day, which the progress reports show:

* **Daily rates.** A phase's last progress reading of each UTC day over the last :data:`RECENT_DAYS`
  days; between consecutive ones, the progress gained per day (a gap of several days is one rate over the
  gap). Each rate is divided by the phase's average pace (the estimate's), so phases of different sizes
  pool: 1.0 is "as fast as on average".
* **Spread.** The 10th and 90th percentiles of those relative rates (linear interpolation), from the
  phase's own rates when it has :data:`MIN_RATES` of them, else from every running phase's rates pooled.
  The remaining time of the estimate is scaled by ``1 / p90`` (fast end) and ``1 / p10`` (slow end):
  the end reached if the rest goes at a fast or a slow recent day's pace throughout. Scales are kept at
  ≤ 1 and ≥ 1, so the interval always holds the estimate (when the recent pace has moved away from the
  average, one bound is the estimate itself).
* **Phases without rates of their own** — not started, or running at 0 % — take their planned length ×
  the pooled scales, after their dependencies' fast (slow) ends: every phase at its fast end together,
  then every phase at its slow end. Phases of one programme share people and causes, so their paces
  move together; this is wider than treating them as independent, on purpose.
* A slow-end percentile at or below 0 (a phase gained nothing on at least about one recent day in ten)
  leaves the interval **without an upper bound**; fewer than :data:`MIN_RATES` rates in all leave it
  **without an interval** — both say so rather than guess. A finished programme's interval is its
  completion date.

Deliberately a rule over days, not a fitted model: a migration reports a few dozen daily readings, and
the 10th–90th percentile of what happened recently is something a programme manager can check by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

DAY_MS = 86_400_000
RECENT_DAYS = 14  # the pace of the last two weeks: older days say less about how the rest will go
MIN_RATES = 3  # daily rates needed before their spread says anything
LOW_Q, HIGH_Q = 0.1, 0.9  # the 80 % interval


def settle(
    rows: dict[str, dict[str, Any]], ends: dict[str, float | None], now_ms: int, scale: float = 1.0
) -> tuple[dict[str, float], dict[str, float | None]]:
    """Place each phase whose end is still ``None``: at its planned start, not before now nor before each phase it
    depends on ends, for its planned length × ``scale``. Returns (starts of the placed phases, every end).

    ``rows`` maps phase id to a row with ``depends_on``, ``planned_start_ms`` and ``planned_end_ms``. An end may be
    ``math.inf`` (no upper bound): phases after it then end at infinity too. A dependency cycle is cut where it
    closes. A walk in dependency order over a handful of phases.
    """
    ends = dict(ends)
    starts: dict[str, float] = {}

    def walk(pid: str, trail: frozenset[str] = frozenset()) -> float | None:
        row = rows[pid]
        if ends[pid] is not None or pid in trail:
            return ends[pid]
        deps = [walk(d, trail | {pid}) for d in row["depends_on"] if d in rows]
        planned_start = row["planned_start_ms"]
        start = max([now_ms, *(d for d in deps if d is not None), *([planned_start] if planned_start else [])])
        span = (row["planned_end_ms"] - planned_start) if planned_start and row["planned_end_ms"] else 0
        starts[pid], ends[pid] = start, start + (span * scale if span > 0 else 0)
        return ends[pid]

    for pid in rows:
        walk(pid)
    return starts, ends


def daily_rates(readings: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """id, rate: percent gained per day between consecutive daily readings of the last :data:`RECENT_DAYS` days.

    ``readings`` has id, ts and progress (percent); the last reading of each UTC day counts.
    """
    recent = readings.filter(
        (pl.col("ts") <= now_ms) & (pl.col("ts") > now_ms - RECENT_DAYS * DAY_MS) & pl.col("progress").is_not_null()
    )
    daily = (
        recent.sort("ts")
        .group_by("id", (pl.col("ts") // DAY_MS).alias("day"), maintain_order=True)
        .agg(pl.col("ts").last(), pl.col("progress").last())
        .sort("id", "ts")
    )
    rate = pl.col("progress").diff().over("id") / (pl.col("ts").diff().over("id") / DAY_MS)
    return daily.select("id", rate.alias("rate")).drop_nulls()


@dataclass(frozen=True)
class Spread:
    """Scales of a phase's remaining time: ``fast`` (≤ 1) at the 90th-percentile pace, ``slow`` (≥ 1, ``inf`` when
    the 10th-percentile pace is no progress) at the 10th; from ``rates`` daily rates."""

    fast: float
    slow: float
    rates: int


def spread(relative: pl.Series) -> Spread | None:
    """The spread of relative daily rates (rate ÷ the phase's average pace); ``None`` below :data:`MIN_RATES`."""
    values = relative.drop_nulls()
    if values.len() < MIN_RATES:
        return None
    low = float(values.quantile(LOW_Q, interpolation="linear"))  # type: ignore[arg-type]
    high = float(values.quantile(HIGH_Q, interpolation="linear"))  # type: ignore[arg-type]
    fast = min(1.0, 1 / high) if high > 0 else 1.0
    slow = max(1.0, 1 / low) if low > 0 else math.inf
    return Spread(fast, slow, values.len())


@dataclass(frozen=True)
class Interval:
    """The 80 % interval of the estimated completion and of each phase's forecast end, and what it rests on."""

    low_ms: int | None
    high_ms: int | None  # None with low_ms set: no upper bound
    note: str
    phases: pl.DataFrame  # id, forecast_low_ms, forecast_high_ms


def _ms(value: float | None) -> int | None:
    return None if value is None or math.isinf(value) else round(value)


def interval(table: pl.DataFrame, readings: pl.DataFrame, now_ms: int) -> Interval:
    """The interval around :func:`core.programmes.migration.forecast`'s ends (``table`` is its answer) from the
    phases' progress ``readings`` (id, ts, progress) — the rule of the module docstring."""
    schema = {"id": pl.String, "forecast_low_ms": pl.Int64, "forecast_high_ms": pl.Int64}
    if table.is_empty():
        return Interval(None, None, "", pl.DataFrame(schema=schema))
    began = pl.coalesce("started_ms", "planned_start_ms")
    paced = (pl.col("status") != "completed") & (pl.col("status") != "not_started")
    paced = paced & (pl.col("progress") > 0) & (pl.col("progress_ms") > began)
    average = table.filter(paced).select(
        "id", (pl.col("progress") / ((pl.col("progress_ms") - began) / DAY_MS)).alias("avg")
    )
    relative = daily_rates(readings, now_ms).join(average, on="id").select("id", pl.col("rate") / pl.col("avg"))
    pooled = spread(relative["rate"])
    own = {pid: spread(group["rate"]) for (pid,), group in relative.group_by("id")}
    rows = {row["id"]: row for row in table.iter_rows(named=True)}
    done = all(row["status"] == "completed" for row in rows.values())
    bounds: dict[str, tuple[float | None, float | None]] = {}
    for pid, row in rows.items():
        start = row["started_ms"] if row["started_ms"] is not None else row["planned_start_ms"]
        if row["status"] == "completed":
            bounds[pid] = (row["completed_ms"], row["completed_ms"])
        elif row["status"] == "not_started" or pooled is None:
            bounds[pid] = (None, None)  # placed after its dependencies below (or, without rates, not at all)
        elif pid in average["id"].to_list():  # at its average pace: the remaining time is scaled
            pace = own.get(pid) or pooled
            left = (row["progress_ms"] - start) * (100 - row["progress"]) / row["progress"]  # at the average pace
            bounds[pid] = tuple(  # type: ignore[assignment]
                max(row["progress_ms"] + (left * f if left else 0), now_ms) for f in (pace.fast, pace.slow)
            )
        else:  # running at 0 %: its planned length from when it started
            length = max((row["planned_end_ms"] or 0) - (row["planned_start_ms"] or 0), 0)
            bounds[pid] = tuple(  # type: ignore[assignment]
                max(start + (length * f if length else 0), now_ms) for f in (pooled.fast, pooled.slow)
            )
    if pooled is None:
        low = high = {pid: b[0] for pid, b in bounds.items()}
    else:
        low = settle(rows, {pid: b[0] for pid, b in bounds.items()}, now_ms, pooled.fast)[1]
        high = settle(rows, {pid: b[1] for pid, b in bounds.items()}, now_ms, pooled.slow)[1]
    phases = pl.DataFrame([(pid, _ms(low[pid]), _ms(high[pid])) for pid in rows], schema=schema, orient="row")
    if done:
        end = max(float(r["completed_ms"]) for r in rows.values())
        return Interval(_ms(end), _ms(end), "completed", phases)
    if pooled is None:
        have = relative.height
        note = (
            f"No interval yet: it needs {MIN_RATES} daily progress rates of running phases from the last "
            f"{RECENT_DAYS} days (have {have})"
        )
        return Interval(None, None, note, phases)
    lows, highs = [v for v in low.values() if v is not None], [v for v in high.values() if v is not None]
    top = max(highs) if highs else None
    note = (
        f"80 % interval: the ends at the 10th and 90th percentile of {relative.height} daily progress rates from the "
        f"last {RECENT_DAYS} days"
    )
    if top is not None and math.isinf(top):
        note += "; no upper bound, as a phase gained nothing on its slower recent days"
    return Interval(_ms(max(lows)) if lows else None, _ms(top), note, phases)
