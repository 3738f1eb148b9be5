"""core.analytics.forecast on series whose answer is known: trend and season recovered, a ramp's crossing time,
flat and constant series, too little data, bounds, and the served model.

Each Prophet fit costs a few tenths of a second, so every fit here is a module fixture shared by the checks.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.analytics import forecast as fc

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
STEP = 5 * MIN
T0 = 1_755_388_800_000  # 2025-08-17 00:00 UTC


def grid(hours: float, step: int = STEP) -> np.ndarray:
    return T0 + np.arange(int(hours * HOUR / step), dtype=np.int64) * step


def seasonal(ts: np.ndarray) -> np.ndarray:
    """40 + 2 a day + 8 · sin(time of day): the signal under the noise."""
    return 40 + 2 * (ts - T0) / DAY + 8 * np.sin(2 * np.pi * (ts % DAY) / DAY)


@pytest.fixture(scope="module")
def week() -> tuple[np.ndarray, np.ndarray, fc.Forecast]:
    ts = grid(7 * 24)
    values = seasonal(ts) + np.random.default_rng(1).normal(0, 1, len(ts))
    return ts, values, fc.forecast(ts, values, 86_400, bounds=fc.COUNT, step_ms=STEP)


def test_a_known_trend_and_daily_season_are_recovered(week):
    ts, _, found = week
    assert found.ok and found.model == "prophet" and found.seasonalities == ("daily",)  # 7 days: no weekly yet
    assert found.points == len(ts) and found.last_ms == ts[-1] and found.ts[0] == ts[-1] + STEP
    truth = seasonal(found.ts)
    assert np.abs(found.yhat - truth).mean() < 0.8  # noise sd 1: the curve itself is found
    assert (found.yhat.max() - found.yhat.min()) / 2 == pytest.approx(8, abs=1.0)  # amplitude
    assert found.yhat.mean() - seasonal(ts[-288:]).mean() == pytest.approx(2, abs=0.5)  # +2 a day
    fresh = truth + np.random.default_rng(2).normal(0, 1, len(truth))
    covered = ((fresh >= found.q[0.1]) & (fresh <= found.q[0.9])).mean()
    assert 0.65 <= covered <= 0.95
    assert (found.q[0.025] <= found.q[0.1]).all() and (found.q[0.9] <= found.q[0.975]).all()


def test_the_stored_form_round_trips(week):
    found = week[2]
    back = fc.Forecast.from_json(found.to_json())
    assert back.ok and back.model == "prophet" and back.ts.tolist() == found.ts.tolist()
    assert np.allclose(back.q[0.9], found.q[0.9], rtol=1e-5) and back.frame().height == len(found.ts)
    # without the simulated futures the crossing reads the stored quantiles: same answer, coarser probability
    assert fc.crossing(back, 60, ">").when_ms == fc.crossing(found, 60, ">").when_ms


@pytest.fixture(scope="module")
def ramp() -> tuple[np.ndarray, np.ndarray]:
    """A disk filling at 2 %/h for 12 h from 40 %, with a little noise: 64 % at the end, 80 % eight hours later."""
    ts = grid(12)
    return ts, 40 + 2 * (ts - T0) / HOUR + np.random.default_rng(3).normal(0, 0.1, len(ts))


def test_a_linear_ramp_says_when_it_crosses(ramp):
    ts, values = ramp
    now = int(ts[-1] + STEP)
    found = fc.will_cross(ts, values, 80, 86_400, bounds=fc.FILL, now_ms=now)
    expected = T0 + 20 * HOUR  # 40 + 2 · 20
    assert found.ok and found.when_ms is not None and abs(found.when_ms - expected) <= 20 * MIN
    assert found.earliest_ms is not None and found.latest_ms is not None
    assert found.earliest_ms <= found.when_ms <= found.latest_ms
    assert found.probability >= 0.95 and not found.now_past
    assert found.projected == pytest.approx(100.0)  # a fill level is clipped at 100 %, never 130


def test_a_flat_series_does_not_cross(ramp):
    ts, _ = ramp
    flat = 26 + np.random.default_rng(4).normal(0, 0.3, len(ts))  # a disk 26 % full, not growing
    found = fc.will_cross(ts, flat, 95, 86_400, bounds=fc.FILL)
    assert found.ok and found.when_ms is None and found.earliest_ms is None
    assert found.probability < 0.05 and found.projected == pytest.approx(26, abs=1.5)


def test_a_constant_series_is_its_own_forecast():
    ts = grid(12)
    found = fc.forecast(ts, np.full(len(ts), 26.0), 86_400, bounds=fc.FILL)
    assert found.ok and found.model == "constant" and set(found.yhat) == {26.0}
    assert all((found.q[k] == 26.0).all() for k in fc.QUANTILES)  # zero-width interval
    crossing = fc.crossing(found, 80)
    assert crossing.when_ms is None and crossing.probability == 0.0 and crossing.projected == 26.0


def test_too_little_data_says_how_much_is_needed_and_never_projects():
    ts = grid(0.25)  # fifteen minutes after a fresh start
    steep = 26 + 10 * np.arange(len(ts))
    found = fc.forecast(ts, steep, 86_400, bounds=fc.FILL)
    assert found.status == "insufficient" and not found.ok
    assert found.message == "need at least 6 hours of data (have 0.2)"
    assert not len(found.ts) and found.frame().is_empty() and found.at(int(ts[-1])) is None
    crossing = fc.will_cross(ts, steep, 95, 86_400, bounds=fc.FILL)
    assert not crossing.ok and crossing.probability == 0.0 and crossing.when_ms is None
    assert crossing.message == found.message
    hourly = fc.forecast(grid(10, HOUR), np.arange(10.0), 86_400, step_ms=HOUR)  # enough hours, too few values
    assert hourly.message == "need at least 12 values (have 10)"


def test_plans_and_seasonalities_follow_the_horizon_and_span():
    steps = [fc.plan_for(h * 3600).step_ms for h in (1, 24, 7 * 24, 30 * 24)]
    assert steps == [MIN, STEP, HOUR, HOUR]
    assert fc.plan_for(86_400).history_s == 7 * 86_400 and fc.plan_for(86_400).min_history_s == 6 * 3600
    assert fc.plan_for(600).min_history_s == 3600  # never less than an hour
    assert fc.seasonalities_for(1.9 * 86_400, STEP) == ()
    assert fc.seasonalities_for(2 * 86_400, STEP) == ("daily",)
    assert fc.seasonalities_for(14 * 86_400, STEP) == ("daily", "weekly")
    assert fc.seasonalities_for(30 * 86_400, DAY) == ("weekly",)  # daily values have no time of day


def test_utilisation_bends_towards_its_cap_and_fill_levels_keep_their_pace():
    assert fc.bounds_for("system_cpu_percent") == fc.PERCENT
    assert fc.bounds_for("system_filesystem_used_percent") == fc.FILL
    assert fc.bounds_for("qms_queue_depth", np.array([0.0, 3.0])) == fc.COUNT
    ts = grid(6)
    climb = 70 + 10 * (ts - T0) / HOUR  # 10 points an hour: 130 % "tomorrow" on a straight line
    found = fc.forecast(ts, climb, 86_400, bounds=fc.PERCENT, step_ms=STEP)
    assert found.ok and found.growth == "logistic"
    assert found.yhat.max() <= 100 and found.q[0.975].max() <= 100 and found.yhat[-1] > 95


def test_seasonal_naive_serves_where_it_backtests_better():
    """A square daily load (0 at night, 50 by day) is what a smooth Fourier curve rounds off and 'same time
    yesterday' gets exactly: the backtest on the series' own last two days picks seasonal-naive and says so."""
    ts = grid(9 * 24, 15 * MIN)
    hour = (ts % DAY) // HOUR
    values = np.where((hour >= 8) & (hour < 18), 50.0, 0.0) + np.random.default_rng(5).normal(0, 0.5, len(ts))
    found = fc.served(ts, values, 86_400, bounds=fc.COUNT, step_ms=15 * MIN)
    assert found.ok and found.model == "seasonal_naive"
    assert found.backtest["seasonal_naive"] < found.backtest["prophet"]
    assert found.yhat.tolist() == fc.seasonal_naive(ts, values.clip(0), 86_400).tolist()
    assert (found.q[0.1] <= found.yhat).mean() > 0.5 and (found.q[0.9] >= found.yhat).mean() > 0.5


def test_the_daily_shape_has_as_many_fourier_terms_as_its_buckets_can_show_up_to_the_cap():
    assert fc.daily_order(HOUR) == 12  # 24 buckets a day draw at most 12 harmonics
    assert fc.daily_order(15 * MIN) == fc.daily_order(STEP) == fc.daily_order(MIN) == fc.DAILY_ORDER_MAX == 24


@pytest.fixture(scope="module")
def queue() -> tuple[np.ndarray, np.ndarray, fc.Forecast]:
    """A review queue: empty outside 09:00-12:00, a Poisson(6) backlog inside; three quarters of buckets are 0."""
    ts = grid(7 * 24)
    hour = (ts % DAY) // HOUR
    busy = (hour >= 9) & (hour < 12)
    values = np.where(busy, np.random.default_rng(6).poisson(6, len(ts)), 0).astype(np.float64)
    return ts, values, fc.forecast(ts, values, 86_400, bounds=fc.COUNT, step_ms=STEP)


def test_a_zero_heavy_queue_is_forecast_empty_when_it_is_usually_empty_and_at_its_median_when_busy(queue):
    _, values, found = queue
    assert fc.zero_heavy(values, fc.COUNT) and not fc.zero_heavy(values + 1, fc.COUNT)
    assert found.ok and found.model == "prophet"
    hour = (found.ts % DAY) // HOUR
    busy, quiet = (hour >= 10) & (hour < 11), (hour < 8) | (hour >= 13)  # an hour clear of the edges each side
    assert (found.yhat[quiet] == 0).all()  # a least-squares curve rings above 0 here, and runs below 6 when busy
    assert np.median(found.yhat[busy]) == pytest.approx(6, abs=1.0)
    assert (found.q[0.025] >= 0).all() and (found.q[0.1][quiet] == 0).all() and (found.q[0.9][busy] >= 8).all()
    fresh = np.where(busy, np.random.default_rng(7).poisson(6, len(found.ts)), 0)
    covered = ((fresh >= found.q[0.1]) & (fresh <= found.q[0.9]))[busy].mean()
    assert 0.65 <= covered <= 0.97


def test_rare_events_forecast_zero_but_keep_a_chance_of_passing_a_threshold():
    ts = grid(7 * 24)
    rng = np.random.default_rng(8)
    values = np.where(rng.random(len(ts)) < 0.1, rng.poisson(20, len(ts)) + 1, 0).astype(np.float64)
    found = fc.forecast(ts, values, 86_400, bounds=fc.COUNT, step_ms=STEP, keep_paths=True)
    assert found.ok and (found.yhat == 0).all()
    assert (found.q[0.975] > 10).mean() > 0.6  # the upper bound keeps the events where their chance is over 2.5 %
    assert 0.05 < fc.crossing(found, 15).probability < 0.4  # one bucket in ten has an event, nine in ten past 15


def test_a_zero_heavy_queue_with_a_backlog_now_is_forecast_to_drain_from_its_current_length():
    """A queue busy 09:00-12:00 whose length drifts (a long queue stays long for a while) and empty otherwise,
    seen at the end of a busy spell with 25 waiting, far above its usual 6."""
    ts = grid(7 * 24 - 12)  # ends at 12:00
    hour = (ts % DAY) // HOUR
    rng = np.random.default_rng(9)
    drift = np.zeros(len(ts))
    for i in range(1, len(ts)):
        drift[i] = 0.9 * drift[i - 1] + rng.normal(0, 0.15)
    values = np.where((hour >= 9) & (hour < 12), np.round(6 * np.exp(drift)).clip(1), 0.0)
    values[-6:] = 25.0
    found = fc.forecast(ts, values, 86_400, bounds=fc.COUNT, step_ms=STEP)
    assert fc.zero_heavy(values, fc.COUNT)
    assert found.yhat[0] > 12  # still long in five minutes, not the usual size of a busy bucket
    eta = fc.crossing(found, 0.5, "<=")
    assert eta.when_ms is not None and eta.when_ms - ts[-1] <= 6 * HOUR  # then empty, as every day at noon
