"""Executive performance predictions: forecasts of daily KPI values (core.analytics.forecast), stored by the job
and read back as the page's table; checked against series whose trend is known."""

from __future__ import annotations

import numpy as np
import pytest

from core.analytics import forecast as fc
from core.kpis import executive as ex
from core.store.forecasts import StoredForecast

DAY = ex.DAY_MS
T0 = 1_755_388_800_000  # 2025-08-17 00:00 UTC
NOW = T0 + 28 * DAY


def stored(kpi: str, values: list[float]) -> StoredForecast:
    """What the forecast job stores for one KPI's daily values (noon of each day up to yesterday)."""
    ts = np.array([NOW - (len(values) - n) * DAY + DAY // 2 for n in range(len(values))], dtype=np.int64)
    found = fc.served(ts, np.array(values), ex.HORIZON_DAYS * 86_400.0, bounds=fc.PERCENT, step_ms=DAY)
    result = {"kpi": kpi, "latest": values[-1], "days": len(values), "forecast": found.to_json()}
    return StoredForecast("executive", kpi, ex.HORIZON_DAYS * 86_400, found.status, NOW, found.last_ms, 0.1, result)


@pytest.fixture(scope="module")
def falling() -> StoredForecast:
    """Quality falling half a point a day from 95 over four weeks, a little noise: 81.5 yesterday."""
    rng = np.random.default_rng(11)
    return stored("Quality score %", [95 - 0.5 * d + rng.normal(0, 0.2) for d in range(28)])


def test_a_falling_kpi_is_projected_with_its_interval_and_its_crossing(falling):
    p = ex.prediction(falling, 80.0)
    assert p.predicted == pytest.approx(81.5 - 0.5 * 7, abs=1.2)  # a week on the same slope
    assert p.lower is not None and p.upper is not None and p.lower < p.predicted < p.upper
    assert p.direction == "falls below" and p.crossing_ms is not None
    assert abs(p.crossing_ms - (NOW + 3 * DAY)) <= 2 * DAY  # 81.5 − 0.5 · 3 = 80
    assert p.days == 28 and p.model in ("prophet", "seasonal_naive")
    table = ex.prediction_table([p], NOW + 5 * 60_000)
    assert table["vs target"][0].startswith("will fall below target 80% on 2025-09-")
    assert table["fitted"][0] == "5 min ago" and table["in 7 days"][0] == pytest.approx(p.predicted, abs=0.05)


def test_a_target_far_away_is_not_crossed_and_percentages_stay_within_100(falling):
    p = ex.prediction(falling, 50.0)
    assert p.crossing_ms is None and p.direction == "falls below"
    assert ex.prediction_table([p], NOW)["vs target"][0] == "stays above target 50% for the next 7 days"
    rising = stored("Completion rate %", [80 + 0.7 * d for d in range(28)])  # 98.9 yesterday, climbing
    up = ex.prediction(rising, 99.5)
    assert up.predicted is not None and up.upper is not None and up.upper <= 100 and up.predicted > 98.5
    assert up.direction == "reaches"


def test_too_little_history_says_so_instead_of_predicting():
    p = ex.prediction(stored("SLA adherence %", [90, 91, 92, 90, 91]), 95.0)
    assert p.predicted is None and p.message == "need at least 12 values (have 5)"
    assert ex.prediction_table([p], NOW)["vs target"][0] == "need at least 12 values (have 5)"


def test_predictions_take_each_named_kpi_in_order(falling):
    short = stored("SLA adherence %", [90, 91])
    found = ex.predictions(
        [falling, short], {"SLA adherence %": 95.0, "Quality score %": 85.0, "Completion rate %": 90}
    )
    assert [p.kpi for p in found] == ["SLA adherence %", "Quality score %"]  # no stored completion forecast
    assert found[0].target == 95.0 and found[0].predicted is None


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
