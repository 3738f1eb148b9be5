"""Anomaly detectors for alert rules: rolling z-score, IQR fences, seasonal forecast interval, and a combined one.

Every detector turns a series (evenly spaced values, oldest first) into a score per
point in "how unusual" units and compares it with a threshold picked by a
``sensitivity`` between 0 (only the wildest points) and 1 (anything a bit odd). They
look only backwards (trailing windows shifted by one point), so the score of the
newest point is exactly what an evaluation cycle sees. All work is vectorised in
polars/numpy. Measured by bench/results.json (``anomaly_<name>_ms_per_1k_points``,
trailing window of 720 points, on a 2-core machine): the plain z-score about
0.2 ms per thousand points, IQR about 4 ms, seasonal about 2.5 ms and ``auto`` about
7.5 ms — so an ``auto`` rule over a day of one-minute buckets (1,440 points) costs
about 11 ms per series per evaluation, and one core scores on the order of a thousand
series in a 15 s cycle.

The combined detector (``auto``) is the one the NAB benchmark (bench/anomaly.py)
tunes: the largest of a level score (robust z against the trailing window) and a
seasonal score, smoothed into Numenta-style "anomaly likelihood" so that a noisy
series must stay odd for a few points, and a refractory period so that one incident
raises one detection.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

Scorer = Callable[[np.ndarray, int], np.ndarray]
MAD_TO_SIGMA = 1.4826
EPS = 1e-9


def _trailing(values: np.ndarray) -> pl.Series:
    """The series shifted one step, so window statistics never include the point being scored."""
    return pl.Series(values, dtype=pl.Float64).shift(1)


def _floor_scale(scale: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Floor the spread at 1 % of the typical level of ``values``.

    A spread of zero (a flat stretch) would make every later wiggle infinite.
    """
    level = float(np.nanmedian(np.abs(values))) if values.size else 0.0
    return np.maximum(np.nan_to_num(scale, nan=np.inf), max(level * 0.01, EPS))


def zscore_scores(values: np.ndarray, window: int) -> np.ndarray:
    """|x − mean| / std over the trailing ``window`` points: the plain rolling z-score (the benchmark baseline)."""
    prior = _trailing(values)
    mean = prior.rolling_mean(window, min_samples=max(3, window // 4)).to_numpy()
    std = prior.rolling_std(window, min_samples=max(3, window // 4)).to_numpy()
    return np.nan_to_num(np.abs(values - mean) / _floor_scale(std, values), nan=0.0)


def iqr_scores(values: np.ndarray, window: int) -> np.ndarray:
    """Distance outside the trailing [Q1, Q3] box in units of the box width (Tukey fences sit at 1.5)."""
    prior = _trailing(values)
    low_q = prior.rolling_quantile(0.25, window_size=window, min_samples=max(4, window // 4)).to_numpy()
    high_q = prior.rolling_quantile(0.75, window_size=window, min_samples=max(4, window // 4)).to_numpy()
    width = _floor_scale(high_q - low_q, values)
    outside = np.maximum(low_q - values, values - high_q)
    return np.nan_to_num(np.maximum(outside, 0.0) / width, nan=0.0)


def robust_z(values: np.ndarray, window: int) -> np.ndarray:
    """|x − median| / (1.4826 · MAD) over the trailing window: a z-score that one earlier spike cannot inflate."""
    prior = _trailing(values)
    minimum = max(4, window // 4)
    median = prior.rolling_median(window, min_samples=minimum).to_numpy()
    deviation = pl.Series(np.abs(values - median)).shift(1)
    mad = deviation.rolling_median(window, min_samples=minimum).to_numpy() * MAD_TO_SIGMA
    return np.nan_to_num(np.abs(values - median) / _floor_scale(mad, values), nan=0.0)


def seasonal_scores(values: np.ndarray, window: int, period: int | None = None, seasons: int = 3) -> np.ndarray:
    """How far x falls outside the forecast interval "median of the same phase in the last ``seasons`` periods".

    The residual against that seasonal forecast is scaled by its own trailing robust
    spread, so a daily pattern is expected rather than alarming. Without a period, or
    with too little history for one, this falls back to :func:`robust_z`.
    """
    if not period or len(values) < period * 2:
        return robust_z(values, window)
    frame = pl.DataFrame({"x": values})
    lagged = [pl.col("x").shift(period * k) for k in range(1, seasons + 1)]
    expected = frame.select(pl.concat_list(lagged).list.drop_nulls().list.median()).to_series().to_numpy()
    residual = values - np.where(np.isnan(expected), np.nanmedian(values), expected)
    return robust_z(residual, window)


def likelihood(scores: np.ndarray, short: int, long: int) -> np.ndarray:
    """Numenta's anomaly likelihood: is the short-run mean score far into the tail of its own long-run distribution?

    Returned as a z value (not a probability) so thresholds stay readable.
    """
    short_mean = pl.Series(scores).rolling_mean(short, min_samples=1)
    history = short_mean.shift(1)
    mean = history.rolling_mean(long, min_samples=max(short, 8)).to_numpy()
    std = history.rolling_std(long, min_samples=max(short, 8)).to_numpy()
    return np.nan_to_num((short_mean.to_numpy() - mean) / np.maximum(np.nan_to_num(std, nan=np.inf), 0.05), nan=0.0)


def refractory(flags: np.ndarray, gap: int) -> np.ndarray:
    """Keep a flag only if no kept flag lies within the previous ``gap`` points: one incident, one detection."""
    out = np.zeros_like(flags, dtype=bool)
    last = -gap - 1
    for index in np.flatnonzero(flags).tolist():  # loops over flagged points only, which are rare
        if index - last > gap:
            out[index] = True
            last = index
    return out


def auto_scores(values: np.ndarray, window: int, period: int | None = None) -> np.ndarray:
    """The combined detector: max of level and seasonal robust scores, then anomaly likelihood."""
    level = np.minimum(robust_z(values, window), 50.0)
    seasonal = np.minimum(seasonal_scores(values, window, period), 50.0) if period else level
    raw = np.maximum(level, seasonal)
    return likelihood(raw, short=5, long=window * 4)


@dataclass(frozen=True)
class Detector:
    """One registered detector: how it scores and which score counts as anomalous at a sensitivity."""

    name: str
    description: str
    strict: float  # threshold at sensitivity 0
    loose: float  # threshold at sensitivity 1
    score: Callable[[np.ndarray, int, int | None], np.ndarray]

    def threshold(self, sensitivity: float) -> float:
        """Score threshold for ``sensitivity`` in [0, 1], interpolated geometrically between strict and loose."""
        s = min(max(sensitivity, 0.0), 1.0)
        return math.exp(math.log(self.strict) * (1 - s) + math.log(self.loose) * s)

    def flags(self, values: np.ndarray, window: int, sensitivity: float, period: int | None = None) -> np.ndarray:
        """True where a point is anomalous at ``sensitivity``."""
        return self.score(np.asarray(values, dtype=np.float64), window, period) >= self.threshold(sensitivity)


DETECTORS: tuple[Detector, ...] = (
    Detector(
        "zscore",
        "Rolling z-score: distance from the trailing mean in standard deviations.",
        6.0,
        2.0,
        lambda v, w, p: zscore_scores(v, w),
    ),
    Detector(
        "iqr",
        "Outside the trailing interquartile box by more than k box widths (Tukey fences).",
        6.0,
        1.0,
        lambda v, w, p: iqr_scores(v, w),
    ),
    Detector(
        "seasonal",
        "Outside the seasonal forecast interval (same phase of the last three periods).",
        9.0,
        3.0,
        seasonal_scores,
    ),
    Detector(
        "auto",
        "Level and seasonal robust scores combined, as an anomaly likelihood (best on NAB).",
        8.0,
        2.0,
        auto_scores,
    ),
)


def detector(name: str) -> Detector:
    """The registered detector called ``name``."""
    for found in DETECTORS:
        if found.name == name:
            return found
    raise ValueError(f"unknown anomaly detector {name!r}; use one of {', '.join(d.name for d in DETECTORS)}")


def infer_period(ts_ms: np.ndarray) -> int | None:
    """Points per day for a regularly sampled series with at least three days of it, else None."""
    if len(ts_ms) < 3:
        return None
    step = float(np.median(np.diff(ts_ms)))
    if step <= 0 or ts_ms[-1] - ts_ms[0] < 3 * 86_400_000:
        return None
    per_day = round(86_400_000 / step)
    return per_day if per_day >= 4 else None
