"""Anomaly detectors on crafted series at 10 s, 5 min and 1 h steps (forecasts: tests/test_forecast.py).

What the ``auto`` detector at its default (``medium``) sensitivity must show, each with
the delay it is held to (from the first anomalous point to the first alarm):

* a spike (one point, +15 σ): the spike itself;
* a level shift (+6 σ, held): within 15 minutes (one point at hourly steps);
* a variance change (σ × 6): within 30 minutes (one point at hourly steps);
* a burst in a sparse count series (Poisson 0.05 per step, then Poisson 8 for 15
  minutes or three points): within 15 minutes (one point at hourly steps);
* a seasonal break (a daily pattern of ±20 σ whose value drops to the daily mean at
  the peak of the day and stays there, a value that is ordinary for the day as a
  whole): within 30 minutes (one point at hourly steps);

while a daily job's spike whose start drifts by minutes from day to day stops alarming
once it has recurred, and the same spike at another time of day still alarms, and a short job that
wobbles by minutes around the same time on a daily pattern does not make the calm points
beside it alarm;

with at most two alarms, or one per 5,000 points, in the stretch before the change; and
on 10,000 points of pure noise, fewer than five alarms (one per 2,000 points).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.analytics.anomaly import (
    DETECTORS,
    Plan,
    detector,
    parse_sensitivity,
    plan_series,
    refractory,
    robust_z,
    threshold_for,
)
from core.analytics.anomaly_plan import resolution, seasonal_period

DAY_S = 86_400
STEPS = (10, 300, 3600)
DAYS = {10: 4, 300: 8, 3600: 24}  # enough history for a weekly-free daily pattern at each step
DELAY_S = {"spike": 0, "level": 900, "variance": 1800, "burst": 900, "seasonal": 1800}
MAX_FALSE_BEFORE, FALSE_BEFORE_PER_POINTS = 2, 5_000
NOISE_POINTS, NOISE_MAX_ALARMS = 10_000, 5


def synthetic(kind: str, step: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """(timestamps in ms, values, index of the first anomalous point) for one crafted case."""
    rng = np.random.default_rng(seed)
    n = DAYS[step] * DAY_S // step
    t = np.arange(n) * step
    onset = int(n * 0.8)
    if kind == "spike":
        x = 50 + rng.normal(0, 1, n)
        x[onset] += 15
    elif kind == "level":
        x = 50 + rng.normal(0, 1, n)
        x[onset:] += 6
    elif kind == "variance":
        x = 50 + rng.normal(0, 1, n)
        x[onset:] = 50 + rng.normal(0, 6, n - onset)
    elif kind == "burst":
        x = rng.poisson(0.05, n).astype(float)
        width = max(3, 900 // step)
        x[onset : onset + width] = rng.poisson(8, width)
    elif kind == "seasonal":
        x = 50 + 20 * np.sin(2 * np.pi * t / DAY_S) + rng.normal(0, 1, n)
        per_day = DAY_S // step
        onset = int(n * 0.8) // per_day * per_day + per_day // 4  # 06:00 of that day: the top of the sine
        x[onset:] = 50 + rng.normal(0, 1, n - onset)
    else:
        raise AssertionError(kind)
    return t * 1000, x, onset


def alarms(values: np.ndarray, plan: Plan, sensitivity: str | float = "medium") -> np.ndarray:
    """Alarm indices of ``auto``: flagged points merged by the refractory period."""
    found = detector("auto")
    score = found.score(values, plan)
    return np.flatnonzero(refractory(score >= found.threshold(sensitivity), plan.refractory, score))


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("kind", list(DELAY_S))
def test_auto_detects_each_kind_of_change_within_its_delay(kind: str, step: int) -> None:
    ts, values, onset = synthetic(kind, step)
    plan = plan_series(ts, values)
    found = alarms(values, plan)
    after = found[found >= onset]
    assert len(after), f"{kind} at {step} s steps was not detected"
    allowed = max(math.ceil(DELAY_S[kind] / step), 1 if step >= 3600 and DELAY_S[kind] else 0)
    assert after[0] - onset <= allowed, f"{kind} at {step} s: detected {(after[0] - onset) * step} s after onset"
    before = found[(found < onset) & (found >= 2 * plan.warmup)]
    bound = max(MAX_FALSE_BEFORE, (onset - 2 * plan.warmup) // FALSE_BEFORE_PER_POINTS)
    assert len(before) <= bound, f"{kind} at {step} s: {len(before)} alarms before the change (bound {bound})"


@pytest.mark.parametrize("step", STEPS)
def test_pure_noise_raises_few_alarms_at_the_default_sensitivity(step: int) -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(50, 2, NOISE_POINTS)
    plan = plan_series(np.arange(NOISE_POINTS) * step * 1000, values)
    assert plan.period is None
    assert len(alarms(values, plan)) < NOISE_MAX_ALARMS


def test_seasonal_break_is_caught_only_because_the_pattern_is_expected() -> None:
    """The broken value (the daily mean) is ordinary for the day: a level-only robust z barely moves."""
    ts, values, onset = synthetic("seasonal", 300)
    plan = plan_series(ts, values)
    assert plan.period == DAY_S // 300
    level = robust_z(values, plan).score[onset : onset + 6]
    assert level.max() < 2 < detector("auto").score(values, plan)[onset]


def test_parameters_are_durations_converted_with_the_median_step() -> None:
    for step, window, refractory_points in ((10, 8640, 2160), (300, 288, 72), (3600, 24, 6)):
        ts = np.arange(DAYS[step] * DAY_S // step) * step * 1000
        plan = plan_series(ts)
        assert (plan.step_s, plan.window, plan.refractory) == (step, window, refractory_points)
        assert 8 <= plan.warmup <= plan.window // 2
    irregular = np.cumsum(np.random.default_rng(2).choice([240_000, 300_000, 360_000], 3000))
    assert plan_series(irregular).step_s == 300
    short = plan_series(np.arange(120) * 60_000)  # a rule's 2 h lookback at one-minute buckets
    assert short.window == 60 and short.warmup <= 30


def test_seasonality_is_used_only_when_the_data_shows_it() -> None:
    rng = np.random.default_rng(3)
    ts = np.arange(8 * 288) * 300_000
    daily = 50 + 20 * np.sin(2 * np.pi * np.arange(ts.size) / 288) + rng.normal(0, 1, ts.size)
    noise = 50 + rng.normal(0, 1, ts.size)
    trend = np.linspace(0, 100, ts.size) + rng.normal(0, 1, ts.size)
    walk = np.cumsum(rng.normal(0, 1, ts.size))
    assert plan_series(ts, daily).period == 288
    assert plan_series(ts, noise).period is None
    assert plan_series(ts, trend).period is None
    assert plan_series(ts, walk).period is None
    assert seasonal_period(daily[:400], [288]) is None  # less than three periods of history


def test_sparse_counts_have_a_spread_of_at_least_one_count() -> None:
    rng = np.random.default_rng(4)
    counts = rng.poisson(0.05, 3000).astype(float)
    assert resolution(counts) == 1.0
    plan = plan_series(np.arange(counts.size) * 60_000, counts)
    scores = robust_z(counts, plan).score
    routine = scores[plan.warmup :][counts[plan.warmup :] == 1]
    assert routine.size and routine.max() <= 1.0 + 1e-9  # one ordinary event: about one spread, not infinity
    counts[2500] = 9
    assert robust_z(counts, plan).score[2500] >= 8


def test_scores_are_continuous_and_uncapped() -> None:
    rng = np.random.default_rng(5)
    base = 50 + rng.normal(0, 1, 2000)
    plan = plan_series(np.arange(2000) * 300_000, base)
    at = []
    for size in (10, 100, 1_000, 10_000):
        values = base.copy()
        values[1500] += size
        at.append(detector("auto").score(values, plan)[1500])
    assert at == sorted(at) and at[-1] > 5 * at[-2] > 25 * at[-3]


def test_refractory_keeps_one_alarm_per_incident_but_rearms_on_a_stronger_one() -> None:
    flags = np.zeros(100, dtype=bool)
    flags[[10, 11, 12, 40, 80, 81]] = True
    assert np.flatnonzero(refractory(flags, 20)).tolist() == [10, 40, 80]
    scores = np.zeros(100)
    scores[[10, 11, 12, 40, 80, 81]] = [4.0, 5.0, 9.0, 4.0, 6.0, 30.0]
    # 12 scores over twice the alarm at 10: the weak early alarm does not swallow it; 81 likewise re-arms
    assert np.flatnonzero(refractory(flags, 20, scores)).tolist() == [10, 12, 40, 80, 81]


def test_a_daily_job_whose_start_drifts_is_routine_but_the_same_spike_at_another_time_is_not() -> None:
    """A 03:00 job spike (+20 σ) starting 5 minutes later each day: only the first days alarm; 15:00 does."""
    rng = np.random.default_rng(6)
    per_day = DAY_S // 300
    values = 50 + rng.normal(0, 1, 8 * per_day)
    jobs = [day * per_day + per_day // 8 + day for day in range(8)]  # 03:00 + 5 min per day
    values[jobs] += 20
    odd = 6 * per_day + per_day * 5 // 8  # 15:00 on day 6
    values[odd] += 20
    ts = np.arange(values.size) * 300_000
    plan = plan_series(ts, values)
    found = set(alarms(values, plan).tolist())
    assert odd in found
    assert not found & set(jobs[3:]), f"routine job spikes alarmed: {sorted(found & set(jobs))}"
    scored = detector("auto").scores(values, plan)
    threshold = detector("auto").threshold("medium")
    low, high = scored.band(threshold)
    scoring = np.arange(2 * plan.warmup, values.size)
    inside = (low[scoring] <= values[scoring]) & (values[scoring] <= high[scoring])
    assert np.array_equal(inside, scored.score[scoring] < threshold)  # the band widens where a job recurs


@pytest.mark.parametrize("seed", range(6))
def test_a_short_daily_job_that_wobbles_by_minutes_does_not_make_the_calm_points_beside_it_alarm(seed: int) -> None:
    """A 10-minute +30 σ job at 03:00 ± 10 min on a daily pattern: after its first days no alarm; 15:00 still does.

    Reading each earlier day at exactly the same phase, two days on which the job sat on one
    phase made the calm point there look low today (the seasonal forecast is read ± a quarter hour).
    """
    rng = np.random.default_rng(seed)
    per_day = DAY_S // 300
    t = np.arange(10 * per_day) * 300
    values = 50 + 10 * np.sin(2 * np.pi * t / DAY_S) + rng.normal(0, 1, t.size)
    for day in range(10):
        start = day * per_day + per_day // 8 + int(rng.integers(-2, 3))
        values[start : start + 2] += 30
    odd = 8 * per_day + per_day * 5 // 8  # 15:00 on day 8
    values[odd] += 30
    plan = plan_series(t * 1000, values)
    assert plan.period == per_day
    found = alarms(values, plan)
    assert found[found >= 4 * per_day].tolist() == [odd]


def test_band_holds_normal_points_and_not_the_anomaly() -> None:
    ts, values, onset = synthetic("spike", 300)
    plan = plan_series(ts, values)
    found = detector("auto")
    threshold = found.threshold("medium")
    scored = found.scores(values, plan)
    low, high = scored.band(threshold)
    assert not low[onset] <= values[onset] <= high[onset]
    normal = np.arange(2 * plan.warmup, onset)
    inside = (low[normal] <= values[normal]) & (values[normal] <= high[normal])
    assert np.array_equal(inside, scored.score[normal] < threshold)


def test_presets_come_from_the_calibration_and_numbers_interpolate_through_them() -> None:
    for found in DETECTORS:
        low, medium, high = (found.threshold(p) for p in ("low", "medium", "high"))
        assert low > medium > high > 0
        assert found.threshold(0.5) == pytest.approx(medium)
        assert found.threshold(0.25) == pytest.approx(low) and found.threshold(0.75) == pytest.approx(high)
        assert found.threshold(0.0) > low and found.threshold(1.0) < high
        assert found.threshold(0.1) > found.threshold(0.4) > found.threshold(0.9)
    assert threshold_for("auto", " Medium ") == threshold_for("auto", "medium")


@pytest.mark.parametrize("bad", ["extreme", "", 1.5, -0.1, True, None, [0.5]])
def test_bad_sensitivities_are_refused_with_the_accepted_forms(bad: object) -> None:
    with pytest.raises(ValueError, match="low, medium, high or a number between 0 and 1"):
        parse_sensitivity(bad)


@pytest.mark.parametrize("name", [d.name for d in DETECTORS])
def test_each_detector_flags_a_spike_and_little_else(name: str) -> None:
    ts, values, onset = synthetic("spike", 300)
    values[onset] += 65  # +80 σ: far out for every detector
    found = detector(name)
    plan = plan_series(ts, values)
    flags = found.flags(values, plan, "medium")
    assert flags[onset], f"{name} missed the spike"
    assert flags[plan.window :].mean() < 0.02, f"{name} flags too much of a normal series"


def test_unknown_detector_is_named() -> None:
    with pytest.raises(ValueError, match="unknown anomaly detector 'crystal'"):
        detector("crystal")
