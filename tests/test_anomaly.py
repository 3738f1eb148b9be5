"""Anomaly detectors on crafted series (forecasts: tests/test_forecast.py)."""

from __future__ import annotations

import numpy as np
import pytest

from core.analytics.anomaly import DETECTORS, detector, infer_period, refractory

DAY = 288  # five-minute points


def seasonal_series(days: int = 6, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    return 50 + 20 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 1.0, t.size)


@pytest.mark.parametrize("name", [d.name for d in DETECTORS])
def test_each_detector_flags_a_spike_and_little_else(name: str) -> None:
    values = seasonal_series()
    spike = 5 * DAY + 100
    values[spike] += 80
    found = detector(name)
    flags = found.flags(values, DAY, 0.5, DAY)
    assert flags[spike], f"{name} missed the spike"
    assert flags[DAY * 2 :].mean() < 0.02, f"{name} flags too much of a normal seasonal series"


def test_sensitivity_moves_the_threshold_monotonically() -> None:
    for found in DETECTORS:
        assert found.threshold(0.0) > found.threshold(0.5) > found.threshold(1.0)


def test_seasonal_detector_expects_the_daily_pattern_that_a_plain_zscore_flags() -> None:
    values = seasonal_series()
    values[5 * DAY + 72] += 12  # small for the whole day's spread, large for that time of day
    seasonal = detector("seasonal").score(values, DAY, DAY)
    zscore = detector("zscore").score(values, DAY, DAY)
    assert seasonal[5 * DAY + 72] > 6 > zscore[5 * DAY + 72]


def test_refractory_keeps_one_detection_per_incident() -> None:
    flags = np.zeros(100, dtype=bool)
    flags[[10, 11, 12, 40, 80, 81]] = True
    assert np.flatnonzero(refractory(flags, 20)).tolist() == [10, 40, 80]


def test_infer_period() -> None:
    assert infer_period(np.arange(4 * DAY) * 300_000) == DAY
    assert infer_period(np.arange(100) * 300_000) is None
