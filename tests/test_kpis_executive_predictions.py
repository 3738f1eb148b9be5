"""Executive performance predictions: a linear-trend projection checked against series worked out by hand."""

from __future__ import annotations

import math

import polars as pl
import pytest

from core.kpis import executive as ex

DAY = ex.DAY_MS
T0 = 1_755_388_800_000  # 2025-08-17 00:00 UTC


def daily(values: list[float], series: str = "Quality score %") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts_ms": [T0 + n * DAY for n in range(len(values))],
            "series": [series] * len(values),
            "value": [float(v) for v in values],
        }
    )


def test_a_noisy_series_gives_the_hand_worked_value_and_band():
    # x = 0..3 days, y = 1, 3, 2, 4: x̄ = 1.5, ȳ = 2.5, Sxx = 5, Sxy = 4 → slope 0.8 a day; fitted 1.3, 2.1, 2.9, 3.7;
    # residuals −0.3, 0.9, −0.9, 0.3 → SSE 1.8, s² = 1.8 / 2 = 0.9.
    # Seven days after day 3 (x = 10): ŷ = 2.5 + 0.8 · 8.5 = 9.3,
    # se = √0.9 · √(1 + 1/4 + 8.5² / 5) = √0.9 · √15.7 ≈ 3.7590, band ± 2 se ≈ 1.782 … 16.818
    p = ex.project(daily([1, 3, 2, 4]), now_ms=T0 + 3 * DAY, horizon_days=7)
    assert p is not None
    assert p.predicted == pytest.approx(9.3)
    se = math.sqrt(0.9) * math.sqrt(15.7)
    assert (p.lower, p.upper) == (pytest.approx(9.3 - 2 * se), pytest.approx(9.3 + 2 * se))
    assert p.latest == 4 and p.days == 4


def test_a_falling_series_says_when_it_falls_below_target():
    # 95, 94, 93, 92, 91 on days 0..4 (exact line, −1 a day): in 7 days from day 4: 84, no band;
    # it reaches 85 on day 10 and drops under it just after → "falls below" with the crossing on day 10
    p = ex.project(daily([95, 94, 93, 92, 91]), now_ms=T0 + 4 * DAY, target=85)
    assert p is not None
    assert p.predicted == pytest.approx(84) and p.upper - p.lower == pytest.approx(0, abs=1e-6)
    assert p.direction == "falls below"
    assert p.crossing_ms is not None and abs(p.crossing_ms - (T0 + 10 * DAY)) <= 1
    table = ex.prediction_table([p])
    assert table["vs target"][0] == "will fall below target 85% on 2025-08-27"
    assert table["in 7 days"][0] == 84.0


def test_a_rising_series_below_target_says_when_it_reaches_it_and_percentages_stay_within_100():
    p = ex.project(daily([80, 82, 84, 86]), now_ms=T0 + 3 * DAY, target=90)
    assert p is not None
    assert p.predicted == pytest.approx(100.0)  # 86 + 7 · 2 = 100
    assert (
        p.direction == "reaches" and p.crossing_ms is not None and abs(p.crossing_ms - (T0 + 5 * DAY)) <= 1
    )  # 86 + 2 · 2 = 90 on day 5
    steep = ex.project(daily([80, 85, 90, 95]), now_ms=T0 + 3 * DAY)
    assert steep is not None and steep.predicted == 100.0 and steep.upper == 100.0  # 130 clipped


def test_no_crossing_within_the_horizon_and_too_little_history():
    p = ex.project(daily([99, 99, 98.9, 99]), now_ms=T0 + 3 * DAY, target=85)
    assert p is not None and p.crossing_ms is None
    assert ex.prediction_table([p])["vs target"][0] == "stays above target 85% for the next 7 days"
    assert ex.project(daily([90, 91]), now_ms=T0 + 2 * DAY) is None


def test_predictions_take_each_named_series_in_order():
    history = pl.concat(
        [daily([95, 94, 93, 92, 91]), daily([90, 91, 92], "SLA adherence %"), daily([50, 60], "Completion rate %")]
    )
    found = ex.predictions(
        history, {"SLA adherence %": 95.0, "Quality score %": 85.0, "Completion rate %": 90.0}, T0 + 4 * DAY
    )
    assert [p.kpi for p in found] == ["SLA adherence %", "Quality score %"]  # completion has only 2 days
    assert found[0].target == 95.0


def test_daily_sla_matches_the_period_figure_on_one_day():
    from core.kpis import workflow
    from tests.test_kpis_roles import wf_events  # four workflows on one day, the figures test_kpis_roles checks

    events = wf_events()
    start = int(events["ts"].min())
    day_start = start - start % DAY
    now = day_start + 2 * DAY
    per_day = ex.daily_sla(events, day_start, day_start + DAY, now)
    whole = workflow.sla_adherence(events, day_start, day_start + DAY, now)
    assert per_day.height == 1
    assert per_day["value"][0] == pytest.approx(whole.within_pct)
