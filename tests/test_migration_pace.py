"""The 80 % interval of the migration's estimated completion (core.programmes.migration_pace), worked out by hand.

The fixture programme: Alpha (days 0–28) then Gamma (days 28–56, after Alpha); planned end day 56. Alpha started
on day 0 and reports its progress every day; the schedule is read on day 20.5.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import polars as pl
import pytest

from core.programmes.migration import migration_view, schedule
from core.programmes.migration_pace import daily_rates, spread
from core.programmes.migration_plan import parse_plan

DAY = 86_400_000
T0 = int(datetime(2025, 1, 6, tzinfo=UTC).timestamp() * 1000)
NOW = T0 + round(20.5 * DAY)
PLAN = parse_plan(
    """\
name: Pace fixture
start: 2025-01-06
phases:
  - {id: a, name: Alpha, start_week: 0, end_week: 4}
  - {id: c, name: Gamma, start_week: 4, end_week: 8, depends_on: [a]}
"""
)


def day(n: float) -> int:
    return T0 + round(n * DAY)


def events(readings: dict[float, float], *, phase: str = "a", completed: dict[str, float] | None = None):
    """A phase_started event on day 0, then one progress reading per (day, percent); ``completed`` phases end then."""
    rows = [("a-start", "migration.phase_started", day(0), {"phase_id": "a", "status": "in_progress", "progress": 0})]
    for n, (at, pct) in enumerate(readings.items()):
        data = {"phase_id": phase, "status": "in_progress", "progress": pct}
        rows.append((f"p{n}", "migration.phase_progress", day(at), data))
    for pid, at in (completed or {}).items():
        rows.append((f"{pid}-done", "migration.phase_completed", day(at), {"phase_id": pid, "progress": 100}))
    return pl.DataFrame(
        [(i, k, ts, "fixture", json.dumps(d)) for i, k, ts, d in rows],
        schema={"id": pl.String, "type": pl.String, "ts": pl.Int64, "source": pl.String, "data": pl.String},
        orient="row",
    ).sort("ts")


# Alpha reads 20 % on day 10 (2 %/day on average so far) and then gains, day by day to day 20:
#   1, 3, 2, 2, 1, 3, 2, 2, 2, 2  (% per day; 40 % on day 20, still 2 %/day on average)
# Sorted: 1 1 2 2 2 2 2 2 3 3. Linear percentiles of 10 values sit at ranks 0.9 and 8.1: p10 = 1, p90 = 3,
# i.e. 0.5 and 1.5 × the average pace. Fast end: the remaining time × 1/1.5; slow end: × 1/0.5.
STEADY_ISH = {10: 20, 11: 21, 12: 24, 13: 26, 14: 28, 15: 29, 16: 32, 17: 34, 18: 36, 19: 38, 20: 40}


def test_daily_rates_are_percent_per_day_between_the_last_readings_of_each_day():
    readings = pl.DataFrame(
        {"id": ["a"] * 4, "ts": [day(1), day(2.2), day(2.9), day(5.9)], "progress": [10.0, 11.0, 14.0, 20.0]}
    )
    rates = daily_rates(readings, day(6))
    # day 2's last reading (2.9, 14 %) counts: (14 − 10) / 1.9 days, then (20 − 14) / 3 days over the gap
    assert rates["rate"].to_list() == pytest.approx([4 / 1.9, 2.0])
    # readings older than 14 days are not recent: day 1 drops out on day 15.5, leaving one rate
    assert daily_rates(readings, day(15.5))["rate"].to_list() == pytest.approx([2.0])


def test_the_interval_is_the_end_at_the_10th_and_90th_percentile_pace_by_hand():
    s = schedule(events(STEADY_ISH), PLAN, NOW)
    a = s.phases.filter(pl.col("id") == "a").row(0, named=True)
    c = s.phases.filter(pl.col("id") == "c").row(0, named=True)
    # Alpha at 2 %/day from day 0: 100 % on day 50 — 30 days left after its reading on day 20
    assert (a["forecast_end_ms"] - T0) / DAY == pytest.approx(50)
    assert (a["forecast_low_ms"] - T0) / DAY == pytest.approx(20 + 30 / 1.5)  # day 40
    assert (a["forecast_high_ms"] - T0) / DAY == pytest.approx(20 + 30 / 0.5)  # day 80
    # Gamma (28 days) waits for Alpha: estimate 50 + 28 = 78; fast end 40 + 28 / 1.5; slow end 80 + 28 / 0.5
    assert (c["forecast_end_ms"] - T0) / DAY == pytest.approx(78)
    assert (c["forecast_low_ms"] - T0) / DAY == pytest.approx(40 + 28 / 1.5, abs=1e-6)
    assert (c["forecast_high_ms"] - T0) / DAY == pytest.approx(136)
    assert (s.eta_ms - T0) / DAY == pytest.approx(78)
    assert (s.eta_low_ms - T0) / DAY == pytest.approx(40 + 28 / 1.5, abs=1e-6)
    assert (s.eta_high_ms - T0) / DAY == pytest.approx(136)
    assert "10 daily progress rates" in s.eta_interval
    # planned end day 56: the estimate passes it, so the migration is still late (slip 22 days)
    assert s.slip_days == 22.0


def test_the_view_and_its_summary_carry_the_interval():
    empty = pl.DataFrame(schema={"operation": pl.String, "system": pl.String, "value": pl.Float64, "source": pl.String})
    v = migration_view(events(STEADY_ISH), events({}).clear(), empty, PLAN, start_ms=NOW - 7 * DAY, now_ms=NOW)
    assert (v.eta_low_ms, v.eta_ms, v.eta_high_ms) == (
        schedule(events(STEADY_ISH), PLAN, NOW).eta_low_ms,
        day(78),
        day(136),
    )
    summary = v.summary()
    assert summary["estimated_completion"] == "2025-03-25T00:00:00Z"  # day 78
    assert summary["estimated_completion_high"] == "2025-05-22T00:00:00Z"  # day 136
    assert summary["estimated_completion_low"] == "2025-03-05T16:00:00Z"  # day 58.67


def test_a_recent_pace_faster_than_the_average_keeps_the_estimate_inside_the_interval():
    # 20 % by day 10, then 3 %/day: average 50 / 20 = 2.5 %/day, every recent day 1.2 × that.
    steady = {10 + n: 20 + 3 * n for n in range(11)}
    s = schedule(events(steady), PLAN, NOW)
    a = s.phases.filter(pl.col("id") == "a").row(0, named=True)
    # estimate: day 0 + 20 × 100 / 50 = day 40, 20 days left; fast end × 1/1.2 = day 20 + 16.67, slow end = the estimate
    assert (a["forecast_end_ms"] - T0) / DAY == pytest.approx(40)
    assert (a["forecast_low_ms"] - T0) / DAY == pytest.approx(20 + 20 / 1.2, abs=1e-6)
    assert a["forecast_high_ms"] == a["forecast_end_ms"]


def test_days_without_progress_leave_no_upper_bound():
    # gains 0, 0, 2, 2, 2, 2, 3, 3, 3, 3: p10 at rank 0.9 is 0 — at that pace Alpha never finishes
    stalled = {10: 20, 11: 20, 12: 20, 13: 22, 14: 24, 15: 26, 16: 28, 17: 31, 18: 34, 19: 37, 20: 40}
    s = schedule(events(stalled), PLAN, NOW)
    assert s.eta_high_ms is None and "no upper bound" in s.eta_interval
    assert (s.eta_low_ms - T0) / DAY == pytest.approx(40 + 28 / 1.5, abs=1e-6)  # p90 still 3 %/day
    assert s.eta_ms == day(78)


def test_no_progress_yet_gives_no_interval():
    s = schedule(events({5: 0, 10: 0, 15: 0, 20: 0}), PLAN, NOW)
    # Alpha at 0 %: its planned 28 days from day 0; Gamma after it, day 56 — but no pace to measure a spread by
    assert s.eta_ms == day(56)
    assert s.eta_low_ms is None and s.eta_high_ms is None
    assert "No interval yet" in s.eta_interval and "(have 0)" in s.eta_interval


def test_a_single_observation_gives_no_interval():
    s = schedule(events({20: 40}), PLAN, NOW)  # one reading in the last 14 days: no rate at all
    assert s.eta_ms == day(78) and s.eta_low_ms is None and s.eta_high_ms is None
    two = schedule(events({19: 38, 20: 40}), PLAN, NOW)  # one rate: fewer than three
    assert two.eta_low_ms is None and "(have 1)" in two.eta_interval


def test_a_finished_migration_has_its_completion_date_as_its_interval():
    done = {**STEADY_ISH}
    s = schedule(
        events(done, completed={"a": 22}).vstack(
            events({}, phase="c", completed={"c": 45}).filter(pl.col("type") == "migration.phase_completed")
        ),
        PLAN,
        day(50),
    )
    assert s.done
    assert s.eta_ms == s.eta_low_ms == s.eta_high_ms == day(45)
    assert s.eta_interval == "completed"


def test_spread_scales_stay_around_one():
    assert spread(pl.Series([1.0, 1.0])) is None  # too few rates
    both = spread(pl.Series([0.5, 1.0, 1.5]))
    assert both is not None and both.fast == pytest.approx(1 / 1.4) and both.slow == pytest.approx(1 / 0.6)
    never = spread(pl.Series([0.0, 0.0, 0.0]))
    assert never is not None and never.fast == 1.0 and math.isinf(never.slow)


def test_the_page_words_the_interval_as_short_as_it_reads_unambiguously():
    from core.ui.migration_frames import day_range, eta_text

    mar = int(datetime(2026, 3, 10, tzinfo=UTC).timestamp() * 1000)
    assert day_range(mar, mar + 11 * DAY) == "10–21 Mar 2026"
    assert day_range(mar - 10 * DAY, mar + 11 * DAY) == "28 Feb – 21 Mar 2026"
    assert day_range(mar - 80 * DAY, mar) == "20 Dec 2025 – 10 Mar 2026"
    assert day_range(mar, mar + DAY // 3) == "10 Mar 2026"
    assert day_range(mar, None) == "from 10 Mar 2026"
    empty = pl.DataFrame(schema={"operation": pl.String, "system": pl.String, "value": pl.Float64, "source": pl.String})

    def headline(readings: dict[float, float]) -> str:
        return eta_text(migration_view(events(readings), events({}).clear(), empty, PLAN, start_ms=0, now_ms=NOW))

    assert headline(STEADY_ISH) == "25 Mar 2025 (80 %: 05 Mar – 22 May 2025)"  # days 78, 58.67, 136
    assert headline({20: 40}) == "25 Mar 2025 (no interval yet)"
