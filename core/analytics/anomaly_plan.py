"""Anomaly detector parameters as durations, turned into points for one series.

A detector that counts in points silently assumes one sampling step: a one-day
refractory of 288 points is a day at five minutes but twelve days at one hour. Here
every parameter is a duration (:class:`Timing`) and :func:`plan_series` converts it with
the series' own median step into a :class:`Plan` in points, clipped so that it stays
sensible from 10 s to 1 h steps and never asks for more history than the input holds.
Seasonality is not assumed from the step either: a daily or weekly period is used only
when the data shows it (:func:`seasonal_period`). The value resolution (:func:`resolution`)
lets the detectors floor their spread at one quantum of a discrete series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
MIN_WINDOW = 16  # fewer trailing points cannot give a median and a spread worth comparing with
MAX_WINDOW = 10_000  # a day at 10 s is 8,640 points; beyond this the window is cut (rolling cost stays linear)
MIN_WARMUP = 8
SEASONS = 3  # same-phase points the seasonal forecast takes the median of (and periods of history it needs)
SEASONAL_MIN_CORRELATION = 0.5  # autocorrelation at the period, once the slow level is removed, to call it seasonal


@dataclass(frozen=True)
class Timing:
    """The detector's parameters in seconds, independent of the sampling step.

    * ``window``: history that defines "normal" (median and spread): one day, the
      dominant cycle of operational metrics, so a level that is normal at some hour of
      yesterday is in it. Fixed on principle: bench/anomaly.py shows that choosing it on
      the labelled data as well (12 h … 4 d) raises the in-sample score but lowers the
      cross-validated one.
    * ``warmup``: history needed before any point is scored: a quarter of the window.
    * ``refractory``: six hours, an incident and its aftershocks.
    * ``refractory``: after an alarm, quieter alarms are merged into it for this long
      (one incident, one alarm); a clearly stronger one re-arms it (:func:`refractory`).
    * ``periods``: candidate seasonal periods, daily and weekly.
    """

    window: float = DAY_S
    warmup: float = DAY_S / 4
    refractory: float = 6 * 3600.0
    periods: tuple[float, ...] = (DAY_S, WEEK_S)


TIMING = Timing()


@dataclass(frozen=True)
class Plan:
    """One series' parameters in points: trailing window, warm-up, refractory gap and the seasonal period (or None)."""

    step_s: float
    window: int
    warmup: int
    refractory: int
    period: int | None = None
    resolution: float | None = None  # the value quantum (:func:`resolution`); None: measure it from the values scored

    @staticmethod
    def fixed(window: int, period: int | None = None, *, step_s: float = 300.0) -> Plan:
        """A plan from a window in points (tests and callers that already work in points)."""
        window = max(int(window), 4)
        return Plan(step_s, window, max(MIN_WARMUP, window // 4), window // 4, period)


def median_step_s(ts_ms: np.ndarray) -> float | None:
    """The median spacing of ``ts_ms`` in seconds (None with fewer than two distinct times)."""
    if len(ts_ms) < 2:
        return None
    step = float(np.median(np.diff(np.asarray(ts_ms, dtype=np.float64)))) / 1000.0
    return step if step > 0 else None


def _points(seconds: float, step_s: float) -> int:
    return max(1, round(seconds / step_s))


def plan_series(ts_ms: np.ndarray, values: np.ndarray | None = None, timing: Timing = TIMING) -> Plan:
    """Convert ``timing`` into points with the median step of ``ts_ms``.

    The window is at least :data:`MIN_WINDOW` points and at most half the input (so a
    short lookback still leaves history to learn from) or :data:`MAX_WINDOW`; the
    warm-up at most half the window (so a rule's lookback of four windows leaves most of
    it scored). With ``values``, a daily or weekly period is added when
    :func:`seasonal_period` finds one, and the value resolution is measured once.
    """
    n = len(ts_ms)
    step = median_step_s(ts_ms) or 60.0
    window = int(np.clip(_points(timing.window, step), MIN_WINDOW, max(MIN_WINDOW, min(MAX_WINDOW, n // 2))))
    warmup = int(np.clip(_points(timing.warmup, step), MIN_WARMUP, max(MIN_WARMUP, window // 2)))
    refractory = _points(timing.refractory, step)
    if values is None:
        return Plan(step, window, warmup, refractory)
    values = np.asarray(values, dtype=np.float64)
    candidates = [_points(p, step) for p in timing.periods]
    period = seasonal_period(values, [p for p in candidates if p >= 4])
    return Plan(step, window, warmup, refractory, period, resolution(values))


def _autocorrelation(values: np.ndarray, lag: int) -> float:
    """Pearson correlation of the series with itself ``lag`` points back, outliers clipped at robust bounds."""
    low, high = np.nanquantile(values, [0.01, 0.99])
    clipped = np.clip(values, low, high)
    a, b = clipped[lag:], clipped[:-lag]
    if np.nanstd(a) == 0 or np.nanstd(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def seasonal_period(values: np.ndarray, periods: list[int]) -> int | None:
    """The candidate period (points) the data shows most strongly, or None when none shows.

    A period needs :data:`SEASONS` periods of history. The slow level (a trailing mean
    over one period) is removed first, so a drifting or trending series does not pass
    for a seasonal one; what is left must correlate with itself one period back by at
    least :data:`SEASONAL_MIN_CORRELATION`.
    """
    best, best_r = None, SEASONAL_MIN_CORRELATION
    finite = values[np.isfinite(values)]
    for period in periods:
        if len(finite) < SEASONS * period:
            continue
        cumulative = np.concatenate([[0.0], np.cumsum(finite)])
        level = (cumulative[period:] - cumulative[:-period]) / period  # mean of the period ending at each point
        detrended = finite[period - 1 :] - level
        r = _autocorrelation(detrended, period) if len(detrended) > period + 2 else 0.0
        if r >= best_r:
            best, best_r = period, r
    return best


def resolution(values: np.ndarray) -> float:
    """The quantum of a discrete series: the typical (5th percentile) gap between distinct values, 0 if it has one.

    Counts give 1, a percentage rounded to one decimal 0.1; a continuous series gives a
    gap far below its spread, so the floor it sets never binds there.
    """
    distinct = np.unique(np.round(values[np.isfinite(values)], 9))
    if len(distinct) < 2:
        return 0.0
    return float(np.quantile(np.diff(distinct), 0.05))
